"""Focus calibration, from a walkthrough of the focus pipeline: calibrated in the Focus QC dock
on a sparse fluorescence image (BBBC006 a03), the threshold landed at the pixel noise (4.8e-6),
under all 30 tiles of a defocused field: its tiles of faint glow (a few structure pixels, the
rest background) counted as structure and scored as noise. `watch` restarted with another
--threshold said nothing of the files its log had decided by the old one; and `watch
--calibrate GOOD --camera-offset 5000` blamed every good image as background noise."""

import csv

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur import cli_watch
from napari_microdeblur.cli import main
from napari_microdeblur.core.focus import calibrate_threshold, focus_score, structure_tiles

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000
TILE = 64  # the dock's automatic tile for a 256 px plane
WIENER = ["--method", "wiener", "--psf", "gaussian:1", "--device", "cpu"]
GLOW_AT = ((32, 160), (96, 224), (160, 32), (224, 96), (200, 200))


def sparse_field(blur: float = 0.0, seed: int = 0, cells: bool = True) -> np.ndarray:
    """uint16, 256 px: nuclei in the top-left 2 x 2 tiles, faint wide glow (9 counts over a
    background of 100, noise sd 4) in five other tiles, background noise in the rest."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:256, :256]
    nuclei = np.zeros((256, 256))
    for cy, cx in rng.integers(8, 120, (12, 2)) if cells else ():
        nuclei += 1500 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 3.0**2))
    nuclei = ndimage.gaussian_filter(nuclei, blur) if blur else nuclei
    glow = sum(9 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 10.0**2))
               for cy, cx in GLOW_AT)
    return (100 + nuclei + glow + rng.normal(0, 4, (256, 256))).clip(0).astype(np.uint16)


GOOD, SOFT = sparse_field(), sparse_field(blur=4.0)  # the same nuclei, blurred
CELLS = np.zeros((4, 4), dtype=bool)
CELLS[:2, :2] = True  # the tiles with nuclei


def test_faint_glow_tiles_are_left_out_of_the_calibration():
    from napari_microdeblur.core.focus_calibration import good_units, noise_note

    structure = structure_tiles(GOOD, axes="YX", tile=TILE)
    soft = focus_score(SOFT, axes="YX", tile=TILE)
    before = calibrate_threshold(focus_score(GOOD, axes="YX", tile=TILE)[structure])
    assert not (soft[CELLS] < before).any()  # the bug: no blurred nucleus tile below it
    units = good_units(GOOD, axes="YX", tile=TILE)
    np.testing.assert_array_equal(units.structure, structure)  # the dock's count, as before
    assert units.faint >= 5 and not (units.kept & ~CELLS).any()
    threshold = calibrate_threshold(units.scores[units.kept])
    assert (soft[CELLS] < threshold).all()
    # the old threshold is said to lie at the noise, the new one not
    assert "noise alone" in noise_note(before, units, "'good'")
    assert noise_note(threshold, units, "'good'") == ""


def test_dense_tiles_and_whole_planes_with_content_are_all_kept():
    from napari_microdeblur.core.focus_calibration import good_units

    rng = np.random.default_rng(3)  # dense texture (EM-like): every tile has structure
    dense = ndimage.gaussian_filter(rng.normal(0, 1, (256, 256)), 1.5) * 400 + 1000
    units = good_units(dense.astype(np.float32), axes="YX", tile=TILE)
    assert units.kept.all() and units.faint == 0
    stack = np.stack([GOOD, sparse_field(cells=False), np.full_like(GOOD, 100)])
    planes = good_units(stack, axes="ZYX")  # a watch calibrates on whole planes
    np.testing.assert_array_equal(planes.structure, [True, True, False])
    np.testing.assert_array_equal(planes.kept, [True, False, False])  # glow alone: noise


@pytest.fixture
def dirs(tmp_path):
    made = [tmp_path / d for d in ("in", "out", "good")]
    for d in made:
        d.mkdir()
    return made


def test_watch_calibration_leaves_a_glow_only_good_image_out(dirs, capsys):
    src, out, good = dirs
    for seed in (0, 1, 2):
        tifffile.imwrite(good / f"g{seed}.tif", sparse_field(seed=seed))
    tifffile.imwrite(good / "glow.tif", sparse_field(cells=False, seed=4))
    tifffile.imwrite(src / "soft.tif", sparse_field(blur=4.0, seed=5))
    assert main(["watch", str(src), str(out), "--calibrate", str(good), "--once",
                 "--settle", "0", *WIENER, "-q"]) == 0
    said = capsys.readouterr()
    assert "glow.tif" in said.err and "faint structure scoring as noise" in said.err
    threshold = float(said.out.split("threshold ")[1].split(":")[0])
    assert threshold > 10 * focus_score(sparse_field(cells=False, seed=4))  # was at its score
    with open(out / cli_watch.WATCH_LOG, newline="", encoding="utf-8") as f:
        assert [r["decision"] for r in csv.DictReader(f)] == ["deblurred"]  # was 'copied'


def test_watch_calibration_names_a_camera_offset_above_every_pixel(dirs, capsys):
    src, out, good = dirs
    tifffile.imwrite(good / "g0.tif", GOOD)
    tifffile.imwrite(good / "g1.tif", sparse_field(seed=1))
    assert main(["watch", str(src), str(out), "--calibrate", str(good), "--once",
                 "--camera-offset", "5000", *WIENER]) == 2
    err = capsys.readouterr().err
    assert "--camera-offset 5000 is at or above every pixel of every image" in err, err
    assert f"(their brightest: {max(GOOD.max(), sparse_field(seed=1).max())})" in err
    assert "background noise only" not in err


def _watch(src, out, threshold, *more):
    return main(["watch", str(src), str(out), "--threshold", str(threshold), "--once",
                 "--settle", "0", *WIENER, *more])


def _rows(out) -> list[dict]:
    with open(out / cli_watch.WATCH_LOG, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_restart_with_another_threshold_says_how_many_decisions_stand(dirs, capsys):
    src, out, _ = dirs
    tifffile.imwrite(src / "a.tif", GOOD)
    tifffile.imwrite(src / "b.tif", SOFT)
    assert _watch(src, out, 1e-9, "-q") == 0  # both copied
    assert [r["threshold"] for r in _rows(out)] == ["1e-09", "1e-09"]
    capsys.readouterr()
    tifffile.imwrite(src / "c.tif", SOFT)
    assert _watch(src, out, 1) == 0
    err = capsys.readouterr().err
    assert "2 files already logged (skipped), 1 new or changed" in err
    assert ("2 logged files were deblurred or copied by threshold 1e-09, not this run's 1"
            in err), err
    assert "new, empty output folder" in err
    assert _rows(out)[-1]["threshold"] == "1"
    tifffile.imwrite(src / "d.tif", SOFT)
    assert _watch(src, out, 1, "-q") == 0  # -q: no count line; the warning stays
    err = capsys.readouterr().err
    assert "already logged" not in err and "2 logged files were" in err


def test_a_log_from_before_the_threshold_column_is_read_without_a_warning(dirs, capsys):
    src, out, _ = dirs
    tifffile.imwrite(src / "a.tif", GOOD)
    info = (src / "a.tif").stat()
    old = ("name", "score", "decision", "method", "seconds", "size", "mtime_ns", "logged_utc")
    with open(out / cli_watch.WATCH_LOG, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=old)
        writer.writeheader()
        writer.writerow({"name": "a.tif", "score": "1.5", "decision": "copied", "method": "",
                         "seconds": "0.01", "size": info.st_size, "mtime_ns": info.st_mtime_ns,
                         "logged_utc": ""})
    assert _watch(src, out, 1) == 0
    err = capsys.readouterr().err
    assert "1 file already logged (skipped), 0 new or changed" in err
    assert "deblurred or copied by threshold" not in err
    assert [(r["name"], r["threshold"]) for r in _rows(out)] == [("a.tif", "")]


# ----------------------------------------------------------------------------- the dock


def test_the_dock_calibrated_on_a_sparse_layer_flags_the_blurred_nuclei(make_napari_viewer,
                                                                        qtbot):
    viewer = make_napari_viewer()
    good = viewer.add_image(GOOD, name="good")
    soft = viewer.add_image(SOFT, name="defocused")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Focus QC")
    w.layer_combo.set_value(soft)
    assert w.score() is not None
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)
    assert int(w.tile_spin.value()) == TILE
    w.good_combo.set_value(good)
    assert w.calibrate() is not None
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)
    assert w.soft_mask()[CELLS].all(), w.count_label.text()  # was 0 of them
    text = w.status_label.text()
    assert "4 background tiles and 8 tiles of faint structure scoring as noise left out" \
        in text, text
