"""Which tiles hold structure on real-like fluorescence, `deblur --focus-below --camera-offset`,
blank stacks, and the Focus QC heatmap (a walkthrough on real acquisitions, 2026-12-13).

- A fluorescence background a few counts under the plane's median (shading) counted as
  structure (the test was two-sided, for brightfield): the cell-free tiles of a light-sheet
  mitochondria stack were selected and 'deblurred', and a threshold calibrated on an in-focus
  image fell among the background's scores (no blurred cell tile below it).
- `deblur --focus-below` had no --camera-offset, so a threshold found with one (the dock's
  Camera offset) deblurred 14 of 14 slices instead of 3; the records lacked the offset.
- A blank stack said 'sharpest: Z 0' and 'threshold 0 ... (automatic)'.
- The heatmap: a second layer's stacked over the first; choosing the first again asked to
  press Score again; partial edge tiles drawn whole past the image; most tiles black.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import tifffile
from scipy.ndimage import gaussian_filter

from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.focus import (
    calibrate_threshold,
    focus_score,
    structure_mask,
    structure_tiles,
)
from napari_microdeblur.core.focus_defaults import default_threshold

TILE = 32
CELLS = [(32, 96), (96, 160), (160, 96), (224, 160), (32, 160), (160, 160)]
WIENER = ["--method", "wiener", "--psf", "gaussian:2", "--balance", "0.05", "--device", "cpu",
          "--output-dtype", "input"]
TIMEOUT = 60_000


def sparse_field(seed: int = 0, blur: float = 0.0) -> np.ndarray:
    """A 256 x 256 camera image: dark level about 100, the left half's background 3 counts
    under the right's (shading, as the light-sheet stack's 99 beside 101.5), noise sigma 4,
    and 6 cells of fine bright texture (blurred by ``blur`` px) in the middle columns."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:256, :256]
    texture = gaussian_filter(rng.random((256, 256)), 1.0)
    texture = (texture - texture.min()) / np.ptp(texture)
    cells = sum(((yy - cy) ** 2 + (xx - cx) ** 2 < 20**2) * (150 + 300 * texture)
                for cy, cx in CELLS)
    if blur:
        cells = gaussian_filter(cells, blur)
    background = np.where(xx < 128, 98.0, 101.0)
    return np.clip(background + cells + rng.normal(0, 4, (256, 256)), 0, None).astype(np.uint16)


def cell_tiles() -> np.ndarray:
    """(8, 8) bool: the TILE px tiles a cell reaches into."""
    yy, xx = np.mgrid[:256, :256]
    inside = np.zeros((256, 256), dtype=bool)
    for cy, cx in CELLS:
        inside |= (yy - cy) ** 2 + (xx - cx) ** 2 < 20**2
    starts = range(0, 256, TILE)
    return np.logical_or.reduceat(np.logical_or.reduceat(inside, starts, 0), starts, 1)


# ----------------------------------------------------------------------------- structure


def test_a_fluorescence_background_under_the_median_is_no_structure():
    image = sparse_field()
    has, cells = structure_tiles(image, axes="YX", tile=TILE), cell_tiles()
    # was: all 24 background tiles of the darker left half had 'structure'
    assert not (has & ~cells).any()
    assert has[cells].all()  # every tile with a cell in it
    assert not structure_mask(image)[:, :60].any()  # the cell-free left columns


def test_the_automatic_threshold_selects_no_background_tile():
    image = sparse_field()
    scores, has = focus_score(image, axes="YX", tile=TILE), structure_tiles(image, axes="YX",
                                                                            tile=TILE)
    soft = (scores < default_threshold(scores[has])) & has
    assert not (soft & ~cell_tiles()).any()  # was: the 24 background tiles, on a sharp image


def test_calibrated_on_the_sharp_field_the_blurred_cells_fall_below():
    sharp, blurred = sparse_field(), sparse_field(blur=3.0)
    scores = focus_score(sharp, axes="YX", tile=TILE)
    threshold = calibrate_threshold(scores[structure_tiles(sharp, axes="YX", tile=TILE)],
                                    percentile=5)
    has = structure_tiles(blurred, axes="YX", tile=TILE)
    soft = (focus_score(blurred, axes="YX", tile=TILE) < threshold) & has
    cells = cell_tiles()
    # was: the threshold among the background's scores (7e-06): 2 background tiles soft
    assert soft[cells].all() and not (soft & ~cells).any()


def test_dark_structure_on_a_bright_background_counts_its_dark_side_only():
    image = (700 - sparse_field().astype(np.int32)).astype(np.uint16)  # brightfield-like
    has = structure_tiles(image, axes="YX", tile=TILE)
    np.testing.assert_array_equal(has, cell_tiles())


def test_texture_both_ways_counts_both_sides_as_before():
    """EM-like: structure brighter and darker than the median; every tile holds some."""
    rng = np.random.default_rng(1)
    image = (gaussian_filter(rng.random((256, 256)), 2.0) * 4000).astype(np.uint16)
    assert structure_tiles(image, axes="YX", tile=TILE).all()


# ----------------------------------------------------------------------------- command line


@pytest.fixture
def offset_stack(tmp_path):
    """A uint16 ZYX stack of 6 textured planes over a camera offset of 100, planes 2 and 4
    blurred."""
    rng = np.random.default_rng(0)
    planes = [gaussian_filter(rng.random((96, 96)) * 200, 1.0) for _ in range(6)]
    for z, sigma in ((2, 3.0), (4, 2.5)):
        planes[z] = gaussian_filter(planes[z], sigma)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, (np.stack(planes) + 100).astype(np.uint16), imagej=True,
                     metadata={"axes": "ZYX"})
    return path


def test_deblur_focus_below_takes_the_camera_offset_and_records_it(tmp_path, offset_stack,
                                                                   capsys):
    scores = focus_score(tifffile.imread(offset_stack), axes="ZYX", camera_offset=100)
    threshold = float(np.sort(scores)[2])  # above the two soft planes' scores, less 100
    assert (focus_score(tifffile.imread(offset_stack), axes="ZYX") < threshold).all()
    out = tmp_path / "out.tif"
    assert main(["deblur", str(offset_stack), "-o", str(out), "--focus-below", str(threshold),
                 "--camera-offset", "100", *WIENER]) == 0
    assert f"2 of 6 slices below {threshold:.4g} deblurred" in capsys.readouterr().out
    focus = io.read_image(out).metadata["microdeblur"]["focus"]
    assert focus["selected"] == [[2], [4]] and focus["camera_offset"] == 100.0


def test_camera_offset_without_focus_below_is_refused(tmp_path, offset_stack, capsys):
    assert main(["deblur", str(offset_stack), "-o", str(tmp_path / "o.tif"),
                 "--camera-offset", "100", *WIENER]) != 0
    assert "--camera-offset needs --focus-below" in capsys.readouterr().err
    assert not (tmp_path / "o.tif").exists()


def test_a_blank_stack_has_no_automatic_threshold_on_the_command_line(tmp_path, capsys):
    path, out = tmp_path / "blank.tif", tmp_path / "out.tif"
    tifffile.imwrite(path, np.zeros((3, 64, 64), np.uint16), imagej=True,
                     metadata={"axes": "ZYX"})
    assert main(["deblur", str(path), "-o", str(out), "--focus-below", "auto", *WIENER]) == 0
    said = capsys.readouterr().out
    assert "none holds structure" in said and "auto has no threshold" in said
    assert "below 0 (" not in said  # was: '0 of 3 slices below 0 (auto: ...)'
    origin = io.read_image(out).metadata["microdeblur"]["focus"]["threshold_from"]["option"]
    assert "no slice holds structure" in origin


# ----------------------------------------------------------------------------- the dock


def dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Focus QC")
    return widget


def score(qtbot, w):
    assert w.score() is not None
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)
    assert w.scores_fresh()


def test_sharpest_note_says_there_is_none_on_a_blank_stack():
    from napari_microdeblur._widgets._focus_data import sharpest_note

    zeros = np.zeros(3)
    assert "no sharpest slice" in sharpest_note(zeros, "Z", np.zeros(3, bool))
    assert sharpest_note([1.0, 3.0, 2.0], "Z", [True, False, True]) == "; sharpest: Z 2"


def test_dock_says_a_blank_stack_has_no_sharpest_slice_nor_threshold(make_napari_viewer,
                                                                    qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((3, 64, 64), np.uint16), name="blank")
    w = dock(viewer)
    score(qtbot, w)
    status = w.status_label.text()
    assert "no sharpest slice" in status and "sharpest: Z" not in status
    assert "no automatic threshold" in status and "threshold 0:" not in status
    assert w.run() is None
    assert "holds structure" in w.status_label.text()


def test_dock_records_the_camera_offset_and_where_the_threshold_came_from(
        make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    viewer.add_image(fluo_u8, name="nuclei")
    w = dock(viewer)
    w.tile_spin.setValue(TILE)
    w.offset_spin.setValue(3.0)
    score(qtbot, w)
    w.set_threshold(1.0)
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")
    run = w.run()
    assert run is not None
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    focus = run.layer.metadata["microdeblur"]["focus"]
    # `microdeblur info` read 'threshold 1 (from an unrecorded origin)'
    assert focus["camera_offset"] == 3.0 and focus["threshold_from"] == "Focus QC, typed"
    score(qtbot, w)  # the typed threshold stays
    assert w.threshold_origin() == "Focus QC, typed"


def test_heatmap_edge_tiles_end_at_the_image_edge(make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    image = viewer.add_image(fluo_u8[:100, :80], name="crop", scale=(0.5, 0.5))
    w = dock(viewer)
    w.tile_spin.setValue(TILE)
    score(qtbot, w)
    heat = w.heatmap_layer
    rows, cols = heat.data.shape
    # its last square's outer corner is the image's (one pixel a tile reached 28 and 16 px
    # past it)
    np.testing.assert_allclose(heat.data_to_world((rows - 0.5, cols - 0.5)),
                               image.data_to_world((99.5, 79.5)))
    np.testing.assert_allclose(heat.data_to_world((-0.5, -0.5)), image.data_to_world((-0.5, -0.5)))
    assert heat.data[-1, -1] == pytest.approx(w.scores[-1, -1], rel=1e-6)
    assert heat.name == "crop focus [tile 32]"


def test_heatmap_of_the_layer_shown_only_and_kept_scores_shown_again(make_napari_viewer, qtbot,
                                                                    fluo_u8):
    viewer = make_napari_viewer()
    first = viewer.add_image(fluo_u8, name="first")
    second = viewer.add_image(fluo_u8[::-1].copy(), name="second")
    w = dock(viewer)
    w.layer_combo.set_value(first)
    w.tile_spin.setValue(16)
    score(qtbot, w)
    heat_first = w.heatmap_layer
    scores = w.scores.copy()
    # focus scores span decades: a gamma for them (0.5 left most tiles black)
    positive = scores[scores > 0]
    assert heat_first.gamma == pytest.approx(
        max(0.2, 2 * math.log(2) / math.log(positive.max() / positive.min())))
    assert heat_first.gamma < 0.5
    w.layer_combo.set_value(second)
    score(qtbot, w)
    heat_second = w.heatmap_layer
    assert heat_second.visible and not heat_first.visible  # were both shown, one over the other
    w.layer_combo.set_value(first)  # its scores again, without a Score: was 'press Score again'
    assert w.scores_fresh() and "press Score" not in w.count_label.text()
    np.testing.assert_array_equal(w.scores, scores)
    assert w.heatmap_layer is heat_first and heat_first.visible and not heat_second.visible
