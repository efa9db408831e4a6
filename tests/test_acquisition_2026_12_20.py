"""The acquisition pipeline (score focus, deblur only the soft files): a rerun of `deblur` that
skips an output whose input changed since it was made (still being written the first time)
says so and counts it; the advice for single planes under --focus-below auto leads with a
threshold from in-focus images, not tiles (tile scores follow content: sharp fields had their
sparse tiles deblurred); --focus-below's --json lines carry the scores and whether the file
was blank; a watch restart counts the files still incomplete, whose rows hold the threshold."""

import csv
import json
import os
import time

import numpy as np
import pytest
import tifffile
from scipy.ndimage import gaussian_filter

import napari_microdeblur.cli_batch as cli_batch
from napari_microdeblur import cli_watch
from napari_microdeblur.cli import main

WIENER = ["--method", "wiener", "--psf", "gaussian:1", "--balance", "0.05", "--device", "cpu"]


def _plane(path, seed=0, blur=1.0):
    rng = np.random.default_rng(seed)
    tifffile.imwrite(path, gaussian_filter(rng.random((48, 48)) * 200, blur).astype(np.uint8))
    return path


@pytest.fixture
def done(tmp_path):
    """A folder of two planes deblurred into ``out``."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    _plane(src / "a.tif")
    _plane(src / "b.tif", seed=1)
    assert main(["deblur", str(src), "-o", str(out), "-q", *WIENER]) == 0
    return src, out


def _rewrite(path, seed):
    """The input written again with other pixels (the rest of a file still being written the
    first time), its modification time later than its output's."""
    _plane(path, seed=seed)
    later = time.time_ns() + 5 * 10**9
    os.utime(path, ns=(later, later))


def test_a_rerun_says_an_input_changed_since_its_output_was_written(done, capsys):
    src, out = done
    capsys.readouterr()
    # unchanged (just written: hashed, the same): nothing said
    assert main(["deblur", str(src), "-o", str(out), "-q", *WIENER]) == 0
    err = capsys.readouterr().err
    assert "changed" not in err
    assert err.strip().endswith("0 done, 2 skipped (output exists), 0 failed")
    before = (out / "b_deblurred.tif").read_bytes()
    _rewrite(src / "b.tif", seed=7)
    assert main(["deblur", str(src), "-o", str(out), "--json", *WIENER]) == 0
    captured = capsys.readouterr()
    lines = {json.loads(x)["input"]: json.loads(x) for x in captured.out.splitlines()}
    assert lines[str(src / "b.tif")]["input_changed"] is True
    assert lines[str(src / "b.tif")]["status"] == "skipped"
    assert "input_changed" not in lines[str(src / "a.tif")]
    err = captured.err
    assert (f"b.tif: input changed since '{out / 'b_deblurred.tif'}' was written (its sha256 "
            "differs from the one the output's record holds): give --overwrite to redo it") in err
    assert err.strip().splitlines()[-1].endswith(
        "0 done, 2 skipped (output exists), 0 failed; the input of 1 skipped output (b.tif) "
        "changed since it was written: give --overwrite to redo it")
    assert (out / "b_deblurred.tif").read_bytes() == before  # kept: no --overwrite
    # -q: the closing line only
    assert main(["deblur", str(src), "-o", str(out), "-q", *WIENER]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the input of 1 skipped output (b.tif) changed" in err[0]
    assert main(["deblur", str(src), "-o", str(out), "-q", "--overwrite", *WIENER]) == 0
    capsys.readouterr()
    assert main(["deblur", str(src), "-o", str(out), "-q", *WIENER]) == 0
    assert "changed" not in capsys.readouterr().err  # redone: its record is of this input


def test_an_input_touched_but_unchanged_is_not_said(done, capsys):
    src, out = done
    later = time.time_ns() + 5 * 10**9
    os.utime(src / "a.tif", ns=(later, later))  # modified after its output, same bytes
    capsys.readouterr()
    assert main(["deblur", str(src), "-o", str(out), "-q", *WIENER]) == 0
    assert "changed" not in capsys.readouterr().err


def test_past_the_records_read_an_input_modified_after_its_output_is_still_checked(
        done, monkeypatch, capsys):
    src, out = done
    monkeypatch.setattr(cli_batch, "CHECKED_AT_MOST", 0)  # no record read for the settings
    _rewrite(src / "a.tif", seed=9)
    capsys.readouterr()
    assert main(["deblur", str(src), "-o", str(out), "-q", *WIENER]) == 0
    assert "the input of 1 skipped output (a.tif) changed" in capsys.readouterr().err


def _one_line_after(args, capsys):
    assert main(args) == 2
    return capsys.readouterr().err.strip()


def test_single_planes_under_auto_are_told_to_give_a_threshold_not_tiles(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i in range(2):
        _plane(src / f"t{i}.tif", seed=i)
    for given in (src, src / "t0.tif"):
        target = out if given == src else out / "t0.tif"
        err = _one_line_after(["deblur", str(given), "-o", str(target), "--focus-below", "auto",
                               *WIENER], capsys)
        assert len(err.splitlines()) == 1, err
        assert "give a number below" in err and "microdeblur focus" in err, err
        # tiles come after the threshold, for focus varying within one field only
        assert "give --focus-unit tile" not in err and "or --focus-unit tile" not in err, err
        assert err.index("microdeblur focus") < err.index("--focus-unit tile"), err
        assert "only for focus that varies within one field" in err, err
    # a number: the line said once for single planes no longer offers tiles as the way
    assert main(["deblur", str(src), "-o", str(out), "--focus-below", "1e-9", *WIENER]) == 0
    err = capsys.readouterr().err
    assert "--focus-unit tile deblurs their soft tiles" not in err
    assert "only for focus that varies within one field" in err


def test_the_focus_dock_one_slice_hint_leads_with_a_threshold():
    from napari_microdeblur._widgets._focus_views import one_unit_hint

    hint = one_unit_hint("slices", (64, 64), 32)
    assert "type a threshold" in hint and "score per tile" in hint
    assert hint.index("type a threshold") < hint.index("score per tile"), hint
    assert "score per tile only where focus varies within this one field" in hint
    tile = one_unit_hint("tiles", (64, 64), 32)
    assert "one tile cannot be compared with others" in tile and "smaller tile (e.g. 32 px)" in tile
    assert tile.index("type a threshold") < tile.index("smaller tile"), tile


def test_focus_below_json_lines_carry_the_scores_and_blank(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    _plane(src / "sharp.tif")
    tifffile.imwrite(src / "blank.tif", np.full((48, 48), 10, np.uint8))
    rng = np.random.default_rng(3)
    planes = [gaussian_filter(rng.random((48, 48)) * 200, 1.0) for _ in range(3)]
    tifffile.imwrite(src / "stack.tif", np.stack(planes).astype(np.uint8), imagej=True,
                     metadata={"axes": "ZYX"})
    assert main(["deblur", str(src), "-o", str(out), "--focus-below", "1e-9", "--json", "-q",
                 *WIENER]) == 0
    lines = {os.path.basename(json.loads(x)["input"]): json.loads(x)
             for x in capsys.readouterr().out.splitlines()}
    sharp, blank, stack = lines["sharp.tif"], lines["blank.tif"], lines["stack.tif"]
    assert sharp["deblurred_units"] == blank["deblurred_units"] == 0  # told apart below
    assert sharp["blank"] is False and sharp["score"] > 1e-9 and sharp["no_structure"] == 0
    assert sharp["scores"] == [pytest.approx(sharp["score"], rel=1e-5)]
    assert blank["blank"] is True and blank["score"] is None and blank["scores"] == [None]
    assert blank["no_structure"] == 1
    assert stack["score_axes"] == "Z" and len(stack["scores"]) == 3
    assert stack["score"] == pytest.approx(min(stack["scores"]), rel=1e-5)
    record = tifffile.TiffFile(out / "sharp_deblurred.tif")  # the record's score, the same
    from napari_microdeblur.core.tiff_metadata import tiff_extras

    with record:
        assert tiff_extras(record)["microdeblur"]["focus"]["score"] == sharp["score"]


IMAGEJ_10 = "ImageJ=1.11a\nimages=10\nslices=10\nloop=false\n"
COPY = ["--threshold", "1e-12", "--settle", "0", "--device", "cpu"]


def _incomplete_logged(tmp_path):
    """A watch --once over a stack holding 4 of the 10 planes it declares, unchanged past
    --incomplete-after (logged 'incomplete'), and a complete plane."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    planes = np.random.default_rng(0).integers(1, 255, (4, 24, 24), dtype=np.uint8)
    with tifffile.TiffWriter(src / "stack.tif") as tw:
        for i, plane in enumerate(planes):
            tw.write(plane, description=IMAGEJ_10 if i == 0 else None, metadata=None,
                     contiguous=False, photometric="minisblack")
    _plane(src / "done.tif")
    old = time.time_ns() - 700 * 10**9  # past the default --incomplete-after of 600 s
    os.utime(src / "stack.tif", ns=(old, old))
    assert main(["watch", str(src), str(out), "--once", "-q", "--incomplete-after", "0",
                 *COPY]) == 2
    return src, out


def test_incomplete_watch_rows_hold_the_threshold(tmp_path):
    _, out = _incomplete_logged(tmp_path)
    with open(out / cli_watch.WATCH_LOG, newline="", encoding="utf-8") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert rows["stack.tif"]["decision"] == "incomplete"
    assert rows["stack.tif"]["threshold"] == "1e-12" == rows["done.tif"]["threshold"]


def test_a_watch_restart_counts_the_files_still_incomplete(tmp_path, capsys):
    src, out = _incomplete_logged(tmp_path)
    capsys.readouterr()
    assert main(["watch", str(src), str(out), "--once", *COPY]) == 0
    assert ("2 files already logged (skipped, 1 still incomplete), 0 new or changed"
            in capsys.readouterr().err)


def test_an_output_without_a_record_is_compared_by_modification_times(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    _plane(src / "a.tif")
    _plane(src / "b.tif", seed=1)
    for name in ("a", "b"):  # outputs no run made: no record to compare with
        (out / f"{name}_deblurred.tif").write_bytes(b"")
    later = time.time_ns() + 5 * 10**9
    os.utime(src / "b.tif", ns=(later, later))
    assert main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    err = capsys.readouterr().err
    assert "b.tif: input changed since" in err and "(modified after it)" in err
    assert "a.tif: input changed" not in err  # written just before its output: not said
