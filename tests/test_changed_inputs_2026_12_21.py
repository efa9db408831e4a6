"""A `deblur` rerun of a folder says an input replaced since its output was made even where
the replacement's modification time was set back to before the output (cp -p, rsync -t,
touch -d, a restore from backup): the output's record holds the input's size and modification
time (ns) beside its sha256, and an input whose size or time is not the record's is hashed.
The same bytes written again (a new time) are not a change; an older record (no size or
time) keeps the rule by its creation time."""

import datetime
import json
import os

import numpy as np
import pytest
import tifffile
from scipy.ndimage import gaussian_filter

import napari_microdeblur.cli_batch as cli_batch
from napari_microdeblur.cli import main
from napari_microdeblur.cli_changed_inputs import changed_words
from napari_microdeblur.core import io, provenance
from napari_microdeblur.core.checkpoint import sha256_file

WIENER = ["--method", "wiener", "--psf", "gaussian:1", "--balance", "0.05", "--device", "cpu"]
HOUR_NS = 3600 * 10**9


def _plane(path, seed=0):
    rng = np.random.default_rng(seed)
    tifffile.imwrite(path, gaussian_filter(rng.random((64, 64)) * 200, 1.0).astype(np.uint8))
    return path


@pytest.fixture
def done(tmp_path):
    """A folder of two 64 x 64 planes deblurred into ``out``."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    _plane(src / "a.tif")
    _plane(src / "b.tif", seed=1)
    assert main(["deblur", str(src), "-o", str(out), "-q", *WIENER]) == 0
    return src, out


def _replace_back_in_time(path, seed):
    """``path`` replaced by other pixels (the same size), its modification time set an hour
    before its output was written, as `cp -p` of an older file leaves it."""
    _plane(path, seed=seed)
    back = os.stat(path).st_mtime_ns - HOUR_NS
    os.utime(path, ns=(back, back))


def _rerun(src, out, capsys, *more):
    capsys.readouterr()
    assert main(["deblur", str(src), "-o", str(out), *more, *WIENER]) == 0
    return capsys.readouterr()


def test_the_record_holds_the_size_and_time_of_the_input_it_hashed(done):
    src, out = done
    record = io.read_image(out / "b_deblurred.tif").metadata["microdeblur"]
    info = os.stat(src / "b.tif")
    assert record["input_sha256"] == sha256_file(src / "b.tif")
    assert record["input_size"] == info.st_size
    assert record["input_mtime_ns"] == info.st_mtime_ns  # exact: read back as an int


def test_an_input_replaced_with_its_time_set_back_is_said_and_counted(done, capsys):
    src, out = done
    before = (out / "b_deblurred.tif").read_bytes()
    _replace_back_in_time(src / "b.tif", seed=7)
    captured = _rerun(src, out, capsys, "--json")
    lines = {json.loads(x)["input"]: json.loads(x) for x in captured.out.splitlines()}
    assert lines[str(src / "b.tif")]["input_changed"] is True
    assert lines[str(src / "b.tif")]["status"] == "skipped"
    assert "input_changed" not in lines[str(src / "a.tif")]
    assert (f"b.tif: input changed since '{out / 'b_deblurred.tif'}' was written (its sha256 "
            "differs from the one the output's record holds)") in captured.err
    assert captured.err.strip().splitlines()[-1].endswith(
        "the input of 1 skipped output (b.tif) changed since it was written: give "
        "--overwrite to redo it")
    assert (out / "b_deblurred.tif").read_bytes() == before  # kept: no --overwrite


def test_past_the_records_read_a_replaced_input_is_still_found(done, monkeypatch, capsys):
    # no record read for the settings check: the input's ctime (not its mtime, set back)
    # says its inode changed after the output, so its record is read
    src, out = done
    monkeypatch.setattr(cli_batch, "CHECKED_AT_MOST", 0)
    _replace_back_in_time(src / "a.tif", seed=9)
    err = _rerun(src, out, capsys, "-q").err
    assert "the input of 1 skipped output (a.tif) changed" in err


@pytest.mark.parametrize("shift_ns", [5 * 10**9, -HOUR_NS])
def test_the_same_bytes_written_again_are_not_a_change(done, capsys, shift_ns):
    src, out = done
    path = src / "a.tif"
    data = path.read_bytes()
    path.write_bytes(data)  # a new file's time, and shifted: later, or set back
    when = os.stat(path).st_mtime_ns + shift_ns
    os.utime(path, ns=(when, when))
    assert "changed" not in _rerun(src, out, capsys, "-q").err


def _stat_and_record(path, **fields):
    info = os.stat(path)
    made = datetime.datetime.fromtimestamp(info.st_mtime + 60, datetime.timezone.utc)
    return info, {"input_sha256": sha256_file(path), "created": made.isoformat(), **fields}


def test_a_record_without_size_and_time_keeps_the_rule_by_its_creation_time(tmp_path):
    path = _plane(tmp_path / "a.tif")
    info, old = _stat_and_record(path)
    _, new = _stat_and_record(path, input_size=info.st_size, input_mtime_ns=info.st_mtime_ns)
    assert changed_words(path, info, old, False) is None
    assert changed_words(path, info, new, False) is None
    _plane(path, seed=3)  # replaced: the same size; its time left before the record
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns - 10**9))
    again = os.stat(path)
    assert changed_words(path, again, old, False) is None  # an older record cannot tell
    assert "sha256 differs" in changed_words(path, again, new, False)
    # the size differs, the time is the record's: hashed too
    assert "sha256 differs" in changed_words(
        path, again, {**new, "input_size": again.st_size + 1, "input_mtime_ns":
                      again.st_mtime_ns}, False)


def test_an_input_changing_while_hashed_records_no_size_or_time(tmp_path, monkeypatch):
    path = _plane(tmp_path / "a.tif")
    hashed = provenance.input_sha256

    def still_written(source):
        sha = hashed(source)
        with open(source, "ab") as f:  # more of it written meanwhile
            f.write(b"\0" * 16)
        return sha

    assert set(provenance.input_identity(path)) == {
        "input_sha256", "input_size", "input_mtime_ns"}
    assert provenance.input_identity(tmp_path) == {}  # a Zarr store (a folder): none
    monkeypatch.setattr(provenance, "input_sha256", still_written)
    assert set(provenance.input_identity(path)) == {"input_sha256"}
