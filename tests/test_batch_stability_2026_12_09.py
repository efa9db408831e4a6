"""A long batch stays flat: after a warm-up, further files leave no Python memory, objects or
open file descriptors behind (benchmarks/batch_stability.py measures the same over thousands
of files, as RSS and fds of the running process)."""

from __future__ import annotations

import gc
import os
import tracemalloc
import warnings
from pathlib import Path

import pytest
from _scripts import load_script

from napari_microdeblur import cli
from napari_microdeblur.core.checkpoint import ModelCache
from napari_microdeblur.core.files import deblur_file

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(),
                                reason="open file descriptors are counted in /proc")

# what 80 further Wiener files may leave behind: measured 48-62 kB and -33 to -9 objects
# (120 files: 62-70 kB); with core.partials compiling a regex per output name again (filling
# re's cache, as before db1c8a7), 135-142 kB and 47-70 objects, and a kept 1 kB per file
# 139 kB. A leak of 1 kB or one object per file exceeds these
FILES_AFTER_WARM_UP = 80
MAX_BYTES_LEFT = 95_000
MAX_OBJECTS_LEFT = 40


def _benchmark():
    return load_script("benchmarks/batch_stability.py", "batch_stability_benchmark",
                       on_path=False)


@pytest.fixture(scope="module")
def tiles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiles")
    return _benchmark().write_tiles(folder, 20 + FILES_AFTER_WARM_UP, size=64)


def _left_behind(run_one, paths, warm_up: int = 20) -> tuple[int, int, int]:
    """(bytes still allocated, objects, open fds) that the files after ``warm_up`` added."""
    for path in paths[:warm_up]:  # caches and lazily imported modules fill here
        run_one(path)
    gc.collect()
    objects, fds = len(gc.get_objects()), len(os.listdir("/proc/self/fd"))
    tracemalloc.start()
    try:
        for path in paths[warm_up:]:
            run_one(path)
        gc.collect()
        left, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return left, len(gc.get_objects()) - objects, len(os.listdir("/proc/self/fd")) - fds


def _check(left: tuple[int, int, int]) -> None:
    nbytes, objects, fds = left
    files = FILES_AFTER_WARM_UP
    assert nbytes < MAX_BYTES_LEFT, f"{nbytes} bytes left behind by {files} files"
    assert objects < MAX_OBJECTS_LEFT, f"{objects} objects left behind by {files} files"
    assert fds <= 0, f"{fds} file descriptors left open by {files} files"


def test_deblur_file_loop_leaves_nothing_behind(tiles, tmp_path):
    models = ModelCache()

    def run_one(path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # balance 'auto' says its value for each file
            deblur_file(path, tmp_path / f"{path.stem}_deblurred.tif", method="wiener",
                        psf="gaussian:1.6", models=models)

    _check(_left_behind(run_one, tiles))


def test_cli_batch_leaves_nothing_behind(tiles, tmp_path, capsys):
    """What `microdeblur deblur DIR -o OUT` runs for each file (cli.deblur_one), one batch:
    one folder per 20 files, so the batch command runs as a user would run it."""
    groups = [tiles[i:i + 20] for i in range(0, len(tiles), 20)]
    folders = []
    for i, group in enumerate(groups):
        folder = tmp_path / f"in{i}"
        folder.mkdir()
        for path in group:
            (folder / path.name).symlink_to(path)
        folders.append(folder)
    out = tmp_path / "out"
    out.mkdir()

    def run_one(folder):
        assert cli.main(["deblur", str(folder), "-o", str(out), "-q", "--method", "wiener",
                         "--psf", "gaussian:1.6"]) == 0

    _check(_left_behind(run_one, folders, warm_up=1))
    assert len(list(out.glob("*_deblurred.tif"))) == len(tiles)
    capsys.readouterr()


def test_the_check_sees_a_small_leak(tiles, tmp_path):
    """The bounds above are tight enough to catch 1 kB kept per file."""
    kept = []

    def leaky(path):
        deblur_file(path, tmp_path / f"{path.stem}_deblurred.tif", method="wiener",
                    psf="gaussian:1.6", balance=0.01)
        kept.append(bytearray(1024))

    with pytest.raises(AssertionError, match="bytes left behind"):
        _check(_left_behind(leaky, tiles))
