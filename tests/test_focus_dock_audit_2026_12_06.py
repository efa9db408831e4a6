"""Focus QC dock audit (2026-12-06), as a biologist uses it: sparse fluorescence calibrated
per tile (background tiles of noise only put the threshold among themselves), the sharpest
slice of a z-stack, a camera offset, RGB, NaN and tiny layers. Driven in a real viewer
(make_napari_viewer, under Xvfb)."""

from __future__ import annotations

import numpy as np
import pytest
from _sparse_cells import cells, half_blurred, noisy
from scipy import ndimage as ndi
from test_focus_audit_2026_12_04 import dock, score, wait_idle  # noqa: F401

from napari_microdeblur.core.focus import calibrate_threshold, focus_score, structure_tiles

TILE = 64


@pytest.fixture(scope="module")
def sparse():
    """(good layer data, image whose right half is blurred, content tiles, blurred tiles)."""
    image, content, blurred = half_blurred(TILE)
    return noisy(cells(1), 2), noisy(image, 4), content, blurred


def test_structure_tiles_tell_background_from_cells(sparse):
    good, image, content, _ = sparse
    has = structure_tiles(image, axes="YX", tile=TILE)
    assert has.shape == focus_score(image, axes="YX", tile=TILE).shape
    np.testing.assert_array_equal(has, content)  # 27 cell tiles, 37 of noise only
    # a stack and an RGB layer: one mask per plane, RGB on its luminance
    stack = np.stack([image, good])
    np.testing.assert_array_equal(structure_tiles(stack, axes="ZYX", tile=TILE)[0], has)
    rgb = np.repeat(image[..., None], 3, axis=-1)
    np.testing.assert_array_equal(structure_tiles(rgb, axes="YXS", tile=TILE), has)


def test_sparse_calibration_leaves_background_tiles_out(make_napari_viewer, qtbot, sparse):
    """Calibrated on all tiles, the threshold fell among the background's noise scores: at
    percentile 25 none of 11 blurred cell tiles was selected, 13 of 37 background tiles were."""
    good, image, content, blurred = sparse
    viewer = make_napari_viewer()
    layer = viewer.add_image(image, name="cells", scale=(0.2, 0.2), translate=(5.0, 1.0))
    viewer.add_image(good, name="in focus")
    before = layer.data.copy()
    w = dock(viewer)
    w.layer_combo.set_value(layer)
    w.good_combo.set_value(viewer.layers["in focus"])
    w.tile_spin.setValue(TILE)
    w.percentile_spin.setValue(25.0)
    assert w.calibrate() is not None
    wait_idle(qtbot, w)
    good_has = structure_tiles(good, axes="YX", tile=TILE)
    expected = calibrate_threshold(focus_score(good, axes="YX", tile=TILE)[good_has],
                                   percentile=25)
    assert w.threshold == pytest.approx(expected, rel=1e-6)
    blank = int((~good_has).sum())
    assert f"{blank} background tiles left out" in w.status_label.text()
    score(qtbot, w)
    mask = w.soft_mask()
    assert not (mask & ~content).any()  # no tile of background noise
    assert (mask & blurred).sum() >= 0.8 * blurred.sum()  # 10 of 11 blurred cell tiles
    assert "37 tiles of background noise only, left out" in w.count_label.text()
    assert "37 tiles of background noise only" in w.status_label.text()
    assert w.outline_layer.nshapes == int(mask.sum())
    # the deblur gets no score for them, so the core never selects them
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")
    _, selection = w.build_request()
    selected = w._selective.select_below(selection.scores, selection.threshold)
    np.testing.assert_array_equal(selected, mask)
    np.testing.assert_array_equal(layer.data, before)  # the user's layer is untouched


def test_default_threshold_from_the_tiles_with_structure(make_napari_viewer, qtbot, sparse):
    """Half the median of all tiles was half a background tile's noise score: no tile of a
    sparse image fell below it, blurred or not."""
    _, image, content, _ = sparse
    viewer = make_napari_viewer()
    viewer.add_image(image, name="cells")
    w = dock(viewer)
    w.tile_spin.setValue(TILE)
    score(qtbot, w)
    scores = focus_score(image, axes="YX", tile=TILE)
    assert w.threshold == pytest.approx(0.5 * np.median(scores[content]), rel=1e-6)
    assert 0 < int(w.soft_mask().sum())


def test_stack_status_names_the_sharpest_slice(make_napari_viewer, qtbot, focus_stack):
    viewer = make_napari_viewer()
    viewer.add_image(focus_stack, name="stack")
    w = dock(viewer)
    score(qtbot, w)
    best = int(np.argmax(focus_score(focus_stack, axes="ZYX")))
    assert abs(best - 7) <= 1  # the stack is in focus at plane 7 (tests/data/README.md)
    assert f"sharpest: Z {best}" in w.status_label.text()


def test_score_tooltip_warns_about_a_camera_offset(make_napari_viewer):
    image = ndi.gaussian_filter(np.random.default_rng(0).standard_normal((128, 128)), 1.5)
    image = (image - image.min()) / (image.max() - image.min()) * 0.8 + 0.1
    ratio = focus_score(image) / focus_score(image + 1)
    assert 8 < ratio < 10  # what the tooltip says: about 9x lower
    w = dock(make_napari_viewer())
    assert "offset" in w.score_button.toolTip() and "9x" in w.score_button.toolTip()


def test_nan_tiny_and_rgb_layers(make_napari_viewer, qtbot, he_rgb):
    viewer = make_napari_viewer()
    nan = np.ones((64, 64), dtype=np.float32)
    nan[3, 3] = np.nan
    viewer.add_image(nan, name="with nan")
    w = dock(viewer)
    assert w.score() is not None  # found plane by plane, in the worker
    wait_idle(qtbot, w)
    assert "NaN" in w.status_label.text() and w.scores is None
    viewer.add_image(np.ones((6, 40), dtype=np.float32), name="tiny")
    w.layer_combo.set_value(viewer.layers["tiny"])
    assert w.score() is None and "too small" in w.status_label.text()
    rgb = viewer.add_image(he_rgb, name="he", rgb=True)
    w.layer_combo.set_value(rgb)
    w.tile_spin.setValue(32)
    score(qtbot, w)
    np.testing.assert_allclose(w.scores, focus_score(he_rgb, axes="YXS", tile=32), rtol=1e-6)
    assert w.heatmap_layer.name == "he focus [tile 32]" and w.heatmap_layer.data.shape == (3, 3)
    assert [la.name for la in viewer.layers][:3] == ["with nan", "tiny", "he"]
