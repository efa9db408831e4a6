"""A batch removes killed runs' temporaries with one listing of its output folder, not one per
file (a folder of N outputs listed before each write made a batch quadratic)."""

import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import partials


@pytest.fixture
def dead_pid():
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def _stale(folder, name, pid, host=None):
    host = partials.host_tag() if host is None else host
    path = folder / (f".{name}.{host}.{pid}.partial" if host else f".{name}.{pid}.partial")
    path.write_bytes(b"left by a killed run")
    return path


def test_a_batch_lists_its_output_folder_once_and_still_removes_what_killed_runs_left(
        tmp_path, monkeypatch, dead_pid):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        tifffile.imwrite(inputs / f"t{i}.tif", (rng.random((40, 40)) * 255).astype(np.uint8))
    stale = _stale(out, "t2_deblurred.tif", dead_pid)
    other_host = _stale(out, "t1_deblurred.tif", dead_pid, host="another-machine")
    listings = []
    iterdir = type(out).iterdir

    def counted(self):
        if self == out:
            listings.append(self)
        return iterdir(self)

    monkeypatch.setattr(type(out), "iterdir", counted)
    assert main(["deblur", str(inputs), "-o", str(out), "--method", "wiener", "--psf",
                 "gaussian:1", "--balance", "0.05", "-q"]) == 0
    assert len(listings) == 1
    assert not stale.exists() and other_host.exists()
    assert sorted(p.name for p in out.glob("*.tif")) == [f"t{i}_deblurred.tif" for i in range(4)]


def test_outside_a_batch_each_write_still_removes_its_own(tmp_path, dead_pid):
    stale = _stale(tmp_path, "x.tif", dead_pid)
    with partials.swept_once([tmp_path / "a.tif"]):
        assert stale.exists()  # not one of the batch's outputs: untouched
        # written in the batch's folder but not one of its outputs: still looked for
        partials.fresh_temporary_name(tmp_path / "x.tif")
        assert not stale.exists()
    stale = _stale(tmp_path, "x.tif", dead_pid)
    partials.fresh_temporary_name(tmp_path / "x.tif")
    assert not stale.exists()


@pytest.mark.parametrize("names, removed", [
    ({"a"}, False),        # '.a.tif.<pid>.partial' read as output 'a' on host 'tif': not ours
    ({"a.tif"}, True),     # ... or as output 'a.tif' from a version that named no host
    ({"a", "a.tif"}, True),
])
def test_each_reading_of_a_temporary_name_is_judged_as_the_one_output_test_judged_it(
        tmp_path, dead_pid, names, removed):
    stale = _stale(tmp_path, "a.tif", dead_pid, host="")
    one_by_one = tmp_path / "copy"
    one_by_one.mkdir()
    copy = _stale(one_by_one, "a.tif", dead_pid, host="")
    partials.remove_stale_partials_of([tmp_path / n for n in names])
    for name in names:
        partials.remove_stale_partials(one_by_one / name)
    assert stale.exists() is not removed
    assert copy.exists() is not removed


def test_a_name_with_a_newline_is_judged_as_any_other(tmp_path, dead_pid):
    # the per-output test took any character of the name; '.' in the readings must too
    stale = _stale(tmp_path, "a\nb.tif", dead_pid)
    partials.remove_stale_partials_of([tmp_path / "a\nb.tif"])
    assert not stale.exists()
