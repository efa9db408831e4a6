"""Acquisition walkthrough (2026-12-09), as a biologist runs it on a folder of fields:

- ``deblur FOLDER --focus-below T`` on single-plane files stopped at the first one ("no slices
  to choose from"): each 2D file is now its one slice, deblurred when its score is below T,
  else written unchanged, as ``watch --once`` decides; said once a run; ``auto`` (half the
  median of one score: never below it) is refused naming what to give;
- the Focus QC dock calibrated per slice said "1 background tile left out";
- ``focus`` / ``deblur`` on a folder saved at 72 dpi repeated the print-resolution note for
  every file: said for the first, then counted in one line;
- ``watch`` with its output in a log file wrote the tile bar's every redraw there: bars only
  where stderr is a terminal."""

from __future__ import annotations

import csv
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
from _sparse_cells import cells, noisy
from scipy import ndimage as ndi

from napari_microdeblur.cli import main
from napari_microdeblur.cli_progress import ProgressBar
from napari_microdeblur.core.focus import focus_score

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5"]
NOTE = "single-plane files"
PRINT_NOTE = "pixels per inch ignored"


def _field(seed: int, blur: float = 0.0) -> np.ndarray:
    """A 128 px fluorescence field as uint16, blurred by ``blur`` px."""
    sharp = noisy(cells(seed, size=128, n=6), seed)
    image = ndi.gaussian_filter(sharp, blur) if blur else sharp
    return np.clip(np.rint(image * 20), 0, 65535).astype(np.uint16)


@pytest.fixture()
def fields(tmp_path):
    """A folder of two single-plane fields (one sharp, one blurred) and a 3-plane stack whose
    middle plane is blurred; the threshold between the sharp and blurred scores."""
    folder = tmp_path / "in"
    folder.mkdir()
    sharp, soft = _field(1), _field(2, blur=2.5)
    tifffile.imwrite(folder / "a_sharp.tif", sharp)
    tifffile.imwrite(folder / "b_soft.tif", soft)
    tifffile.imwrite(folder / "c_stack.tif", np.stack([_field(3), _field(4, 2.5), _field(5)]),
                     photometric="minisblack", metadata={"axes": "ZYX"})
    hi, lo = float(focus_score(sharp, axes="YX")), float(focus_score(soft, axes="YX"))
    assert lo < hi / 3  # the blur tells them apart
    return folder, float(np.sqrt(hi * lo))


def test_a_folder_of_single_planes_is_gated_file_by_file(fields, tmp_path, capsys):
    folder, threshold = fields
    out = tmp_path / "out"
    out.mkdir()
    code = main(["deblur", str(folder), "-o", str(out), *WIENER, "--output-dtype", "input",
                 "--focus-below", f"{threshold:.6g}"])
    captured = capsys.readouterr()
    assert code == 0, captured.err  # was 2: "a single plane (YX): ... no slices"
    assert captured.err.count(NOTE) == 1, captured.err  # once a run, not once a file
    assert "watch --once" in captured.err
    kept = tifffile.imread(out / "a_sharp_deblurred.tif")
    np.testing.assert_array_equal(kept, tifffile.imread(folder / "a_sharp.tif"))
    done = tifffile.imread(out / "b_soft_deblurred.tif")
    assert not np.array_equal(done, tifffile.imread(folder / "b_soft.tif"))
    assert "0 of 1 plane below" in captured.out and "1 of 1 plane below" in captured.out
    # the stack is judged per slice, as before: only its blurred middle plane
    assert "1 of 3 slices below" in captured.out, captured.out
    stack_in, stack_out = (tifffile.imread(p) for p in (folder / "c_stack.tif",
                                                        out / "c_stack_deblurred.tif"))
    np.testing.assert_array_equal(stack_out[[0, 2]], stack_in[[0, 2]])
    assert not np.array_equal(stack_out[1], stack_in[1])
    # the same decision watch --once makes on the single planes
    watched, watch_in = tmp_path / "watched", tmp_path / "watch_in"
    watched.mkdir()
    watch_in.mkdir()
    for name in ("a_sharp.tif", "b_soft.tif"):
        (watch_in / name).write_bytes((folder / name).read_bytes())
    assert main(["watch", str(watch_in), str(watched), "--threshold", f"{threshold:.6g}",
                 "--once", *WIENER]) == 0
    with open(watched / "microdeblur_watch.csv", encoding="utf-8") as log:
        decisions = {row["name"]: row["decision"] for row in csv.DictReader(log)}
    assert decisions == {"a_sharp.tif": "copied", "b_soft.tif": "deblurred"}, decisions


def test_auto_on_a_single_plane_is_refused_saying_what_to_give(fields, tmp_path, capsys):
    folder, _ = fields
    output = tmp_path / "one.tif"
    code = main(["deblur", str(folder / "b_soft.tif"), "-o", str(output), *WIENER,
                 "--focus-below", "auto"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--focus-below auto" in err and "give a number" in err, err
    assert "--focus-unit tile" in err
    assert not output.exists()


def _print_resolution_folder(tmp_path, n: int = 4):
    folder = tmp_path / "dpi"
    folder.mkdir()
    for i in range(n):  # as an image editor saves them: 72 pixels per inch
        tifffile.imwrite(folder / f"f{i}.tif", _field(i), resolution=(72, 72),
                         resolutionunit="INCH")
    return folder


def test_focus_on_a_72_dpi_folder_says_the_print_resolution_once(tmp_path, capsys):
    folder = _print_resolution_folder(tmp_path)
    assert main(["focus", str(folder)]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if PRINT_NOTE in line]
    assert len(lines) == 2, captured.err  # was 4: one per file
    assert "f0.tif: resolution 72 pixels per inch ignored" in lines[0]
    assert "for 3 more files too (said above for f0.tif)" in lines[1]
    assert captured.out.count("focus score") == 4  # every file still scored


def test_info_on_a_72_dpi_folder_says_the_print_resolution_once(tmp_path, capsys):
    folder = _print_resolution_folder(tmp_path, n=3)
    assert main(["info", str(folder)]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if PRINT_NOTE in line]
    assert len(lines) == 2, captured.err  # was 3
    assert "for 2 more files too" in lines[1]
    assert captured.out.count("shape (") == 3  # every file still described


def test_deblur_on_a_72_dpi_folder_says_the_print_resolution_once(tmp_path, capsys):
    folder = _print_resolution_folder(tmp_path, n=3)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["deblur", str(folder), "-o", str(out), *WIENER]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if PRINT_NOTE in line]
    assert len(lines) == 2, err  # was 3
    assert "for 2 more files too" in lines[1]
    assert len(list(out.glob("*_deblurred.tif"))) == 3


def _bar_text(monkeypatch, capsys, terminal: bool) -> str:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    with ProgressBar(quiet=False, label="stack.tif") as bar:
        for _ in range(5):
            bar(SimpleNamespace(total=5))
    return capsys.readouterr().err


def test_tile_bars_only_on_a_terminal(monkeypatch, capsys):
    assert _bar_text(monkeypatch, capsys, terminal=False) == ""  # was the bar's redraws
    assert "stack.tif:" in _bar_text(monkeypatch, capsys, terminal=True)


def test_a_watch_logged_to_a_file_has_no_tile_bar(tmp_path, monkeypatch, capsys):
    watch_in = tmp_path / "in"
    watch_in.mkdir()
    (tmp_path / "out").mkdir()
    tifffile.imwrite(watch_in / "stack.tif", np.stack([_field(1), _field(2, 2.5)]),
                     photometric="minisblack", metadata={"axes": "ZYX"})
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    args = ["watch", str(watch_in), str(tmp_path / "out"), "--threshold", "1", "--once",
            *WIENER, "--tile", "64"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "tile/s" not in err, err  # was the bar of its 18 tiles, redrawn
    assert (tmp_path / "out" / "stack_deblurred.tif").exists()


# ----------------------------------------------------------------------------- the dock


def test_per_slice_calibration_says_slices_left_out(make_napari_viewer, qtbot):
    from test_focus_audit_2026_12_04 import dock, wait_idle

    viewer = make_napari_viewer()
    # two planes of cells and one of camera noise only (beyond the sample)
    good = np.stack([noisy(cells(1, size=256, n=10), 2), noisy(cells(2, size=256, n=10), 3),
                     noisy(np.zeros((256, 256)), 4)])
    viewer.add_image(good, name="in focus")
    image = viewer.add_image(good[:2], name="stack")
    w = dock(viewer)
    w.layer_combo.set_value(image)
    w.good_combo.set_value(viewer.layers["in focus"])
    w.unit_combo.setCurrentIndex([w.unit_combo.itemData(i) for i in
                                  range(w.unit_combo.count())].index("slices"))
    assert w.unit == "slices"
    assert w.calibrate() is not None
    wait_idle(qtbot, w)
    text = w.status_label.text()
    assert "1 background slice left out" in text, text  # was '1 background tile'
    assert "background tile" not in text
