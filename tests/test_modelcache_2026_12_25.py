"""``checkpoint.ModelCache`` is shared by a dask worker's threads (``core.cluster``): two
threads loading the same weights at once each built a copy of the network (3 copies in a
stress run), holding that much more memory, on a GPU too. Loading is now one at a time."""

from __future__ import annotations

import threading
import time

from napari_microdeblur.core import checkpoint


def test_threads_loading_the_same_weights_at_once_share_one_network(monkeypatch):
    built = []

    def slow_load(path_or_name, *, arch=None):
        time.sleep(0.2)  # a real load reads, verifies and builds: long enough to overlap
        built.append(object())
        return built[-1], None

    monkeypatch.setattr(checkpoint, "load_model", slow_load)
    cache = checkpoint.ModelCache()
    start = threading.Barrier(3)
    got = []

    def load():
        start.wait()
        got.append(cache.load("gran.em_v1")[0])

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(built) == 1 and len(got) == 3 and all(model is got[0] for model in got), built
