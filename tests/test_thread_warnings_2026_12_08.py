"""2026-12-08: ``warnings.catch_warnings`` swaps the process's showwarning and filters, so two
threads catching at once (the tasks of one dask worker, a dock's deblur) took each other's
warnings, lost some and left a recorder in place. ``thread_warnings.caught()`` is per thread."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core import files as core_files
from napari_microdeblur.core.deblur_notes import warnings_after_success
from napari_microdeblur.core.thread_warnings import caught


def interleaved(capture) -> tuple[dict, list, bool]:
    """Threads A and B each inside ``capture()`` at once: A enters, B enters, A warns, B warns,
    A leaves, B warns again, B leaves. What each list held, what reached showwarning, and
    whether showwarning and the filters were as before once both had left."""
    shown = []
    lists: dict = {}
    steps = [threading.Event() for _ in range(5)]

    def a():
        with capture() as held:
            steps[0].set()
            steps[1].wait(10)
            warnings.warn("A 0", UserWarning, stacklevel=1)
            steps[2].set()
            steps[3].wait(10)
        lists["A"] = [str(w.message) for w in held]
        steps[4].set()

    def b():
        steps[0].wait(10)
        with capture() as held:
            steps[1].set()
            steps[2].wait(10)
            warnings.warn("B 0", UserWarning, stacklevel=1)
            steps[3].set()
            steps[4].wait(10)
            warnings.warn("B 1", UserWarning, stacklevel=1)
        lists["B"] = [str(w.message) for w in held]

    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *args: shown.append(str(message))
        before = (warnings.showwarning, warnings.filters, list(warnings.filters))
        threads = [threading.Thread(target=a), threading.Thread(target=b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        after = (warnings.showwarning, warnings.filters, list(warnings.filters))
        warnings.warn("after both", UserWarning, stacklevel=1)  # shown as before either
    restored = after[0] is before[0] and after[1] is before[1] and after[2] == before[2]
    return lists, shown, restored


def test_each_thread_holds_its_own_warnings_and_the_state_comes_back():
    lists, shown, restored = interleaved(caught)
    assert lists == {"A": ["A 0"], "B": ["B 0", "B 1"]}
    assert shown == ["after both"]
    assert restored


def test_a_thread_catching_nothing_keeps_the_filters_of_before():
    inside, leave = threading.Event(), threading.Event()
    held: list = []

    def catching():
        with caught() as mine:
            inside.set()
            leave.wait(10)
        held.extend(str(w.message) for w in mine)

    shown = []
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *args: shown.append(str(message))
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("error", message="refused")
        warnings.filterwarnings("once", message="said once")
        worker = threading.Thread(target=catching)
        worker.start()
        assert inside.wait(10)
        warnings.warn("main thread", UserWarning, stacklevel=1)
        warnings.warn("old API", DeprecationWarning, stacklevel=1)  # ignored before: not shown now
        for _ in range(2):
            warnings.warn("said once", UserWarning, stacklevel=1)
        with pytest.raises(UserWarning, match="refused"):
            warnings.warn("refused", UserWarning, stacklevel=1)
        leave.set()
        worker.join(10)
    assert shown == ["main thread", "said once"]
    assert held == []


def test_nested_the_innermost_holds_and_held_warnings_reach_the_outer():
    with caught() as outer:
        warnings.warn("outer 0", UserWarning, stacklevel=1)
        with caught() as inner:
            warnings.warn("inner", UserWarning, stacklevel=1)
        warnings.warn("outer 1", UserWarning, stacklevel=1)
        with warnings_after_success():  # held, then given again in this thread
            warnings.warn("settled", UserWarning, stacklevel=1)
        with pytest.raises(ValueError), warnings_after_success():
            warnings.warn("dropped with the error", UserWarning, stacklevel=1)
            raise ValueError("refused")
    assert [str(w.message) for w in inner] == ["inner"]
    assert [str(w.message) for w in outer] == ["outer 0", "outer 1", "settled"]


@pytest.fixture(scope="module")
def two_threads():
    """One in-process worker running two tasks at once, in two threads of this process."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as local:
        yield local.scheduler_address


def test_cluster_notes_of_two_files_at_once_stay_with_their_file(two_threads, tmp_path,
                                                                 monkeypatch):
    from napari_microdeblur.core.cluster import deblur_files_on_cluster

    rng = np.random.default_rng(0)
    pairs = []
    for name in ("one", "two"):
        tifffile.imwrite(tmp_path / f"{name}.tif", (rng.random((32, 32)) * 200).astype(np.uint8))
        pairs.append((tmp_path / f"{name}.tif", tmp_path / f"{name}_out.tif"))
    together = threading.Barrier(2, timeout=20)
    real = core_files.deblur_file

    def deblur_file(source, output, **kwargs):
        together.wait()  # both tasks inside their capture
        warnings.warn(f"note for {source}", UserWarning, stacklevel=1)
        together.wait()  # neither leaves before both warned
        return real(source, output, **kwargs)

    monkeypatch.setattr(core_files, "deblur_file", deblur_file)
    records = deblur_files_on_cluster(pairs, scheduler=two_threads, method="richardson_lucy",
                                      psf="gaussian:1.4", iterations=2, device="cpu")
    for record in records:
        assert "error" not in record, record
        assert [n for n in record["notes"] if n.startswith("note for")] == \
            [f"note for {record['input']}"]
