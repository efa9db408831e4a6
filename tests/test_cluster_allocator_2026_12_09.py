"""A dask worker started with dask's MALLOC_TRIM_THRESHOLD_=65536 has glibc mmap every block
over 128 KiB (the EM default's PSF estimate ran 10x slower there): the cluster tasks tune the
allocator in such a worker, unless MICRODEBLUR_MALLOC_TUNING=0 or the user chose the values."""

import ctypes
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
import tifffile

distributed = pytest.importorskip("distributed")

from napari_microdeblur.core.cluster import deblur_files_on_cluster  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"),
    reason="mallopt tuning is glibc's")


def _big_block_is_mmapped() -> bool:
    """Runs on the worker: whether glibc serves a 1 MiB block by mmap (mallinfo2's hblks)."""

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = Mallinfo2
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    before = libc.mallinfo2().hblks
    block = libc.malloc(1 << 20)
    mapped = libc.mallinfo2().hblks > before
    libc.free(block)
    return mapped


def _set_opt_out(value):
    if value is None:
        os.environ.pop("MICRODEBLUR_MALLOC_TUNING", None)
    else:
        os.environ["MICRODEBLUR_MALLOC_TUNING"] = value


def test_a_file_task_tunes_a_worker_started_with_dasks_trim_threshold(tmp_path, monkeypatch):
    import dask

    # a nanny started by an earlier test set it in this process; the worker gets dask's value
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    rng = np.random.default_rng(0)
    pairs = []
    for i in range(2):
        tifffile.imwrite(tmp_path / f"{i}.tif", rng.random((64, 64), dtype=np.float32))
        pairs.append((tmp_path / f"{i}.tif", tmp_path / f"out{i}.tif"))
    options = dict(method="wiener", psf="gaussian:1.4", device="cpu")
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 65536}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                     host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        env = client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_")
        assert list(env.values()) == ["65536"]
        # the documented opt-out leaves dask's allocator as it is
        client.run(_set_opt_out, "0")
        [first] = deblur_files_on_cluster(pairs[:1], scheduler=client, **options)
        assert "error" not in first, first
        assert list(client.run(_big_block_is_mmapped).values()) == [True]
        assert not first.get("allocator_tuned")
        # without it, the task tunes the worker: a 1 MiB block comes from the heap
        client.run(_set_opt_out, None)
        [second] = deblur_files_on_cluster(pairs[1:], scheduler=client, **options)
        assert "error" not in second, second
        assert list(client.run(_big_block_is_mmapped).values()) == [False]
        assert second["allocator_tuned"] is True


@pytest.mark.parametrize("env, tuned", [
    ({"MALLOC_TRIM_THRESHOLD_": "65536"}, True),  # dask's nanny default
    ({"MALLOC_TRIM_THRESHOLD_": "65536", "MICRODEBLUR_MALLOC_TUNING": "0"}, False),
    ({"MALLOC_TRIM_THRESHOLD_": "1000000"}, False),  # the user's own value
    ({"MALLOC_TRIM_THRESHOLD_": "65536", "MALLOC_MMAP_MAX_": "65536"}, False),
    ({}, False),  # glibc as it comes: its own mmap threshold adapts
])
def test_worker_tuning_only_for_dasks_own_setting(env, tuned):
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("MALLOC_") and k != "MICRODEBLUR_MALLOC_TUNING"}
    code = ("from napari_microdeblur.core.allocator import tune_dask_worker as t; "
            "import os; os.environ.pop('MALLOC_TRIM_THRESHOLD_', None); print(t())")
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, check=True,
                         capture_output=True, text=True).stdout.strip()
    # what counts is the environment the process started with (what glibc read), not os.environ
    assert out == str(tuned)
