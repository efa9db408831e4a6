"""A camera offset (an sCMOS's ~100 ADU dark level) lowered every focus score by
(mean / (mean - offset))^2, so a threshold calibrated on one acquisition did not carry to
another of other brightness (the light-sheet mitochondria stack at half the signal and +100
offset: a 14x lower threshold). ``camera_offset`` is subtracted first (clipped at 0); the
Focus dock has a "Camera offset" field for it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_microdeblur.core.focus import (
    band_pass_energy_map,
    calibrate_threshold,
    focus_score,
    iter_focus_scores,
    structure_tiles,
)

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000


def cells(shape=(3, 64, 64), seed=0):
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.random(shape), (0,) * (len(shape) - 2) + (1.5, 1.5))
    return (smooth * 1000).astype(np.float32)


def _formula(planes, tile=None) -> np.ndarray:
    """Scores by their formula: the band-pass energy over each plane's squared mean, averaged
    over the plane or over each ``tile`` px square."""
    energy = band_pass_energy_map(torch.from_numpy(np.asarray(planes, np.float32))).numpy()
    if tile is None:
        return energy.mean(axis=(1, 2))
    n, ny, nx = energy.shape
    return energy.reshape(n, ny // tile, tile, nx // tile, tile).mean(axis=(2, 4))


def test_offset_0_gives_todays_scores_bit_for_bit():
    image = cells()
    for tile in (None, 16):
        today = focus_score(image, axes="ZYX", tile=tile)
        assert np.array_equal(focus_score(image, axes="ZYX", tile=tile, camera_offset=0.0),
                              today)
        np.testing.assert_allclose(today, _formula(image, tile), rtol=1e-4)
    # a plane with negative pixels is scored as it is at 0 (no clipping)
    signed = cells((64, 64)) - 450
    assert signed.min() < 0 < signed.mean()
    assert focus_score(signed, camera_offset=0) == pytest.approx(_formula([signed])[0],
                                                                 rel=1e-4)
    assert focus_score(signed, camera_offset=0) != pytest.approx(
        focus_score(np.maximum(signed, 0)), rel=1e-3)


def test_the_offset_is_subtracted_before_the_normalisation():
    image = cells()
    for tile in (None, 16):
        plain = focus_score(image, axes="ZYX", tile=tile)
        lifted = image + np.float32(100)
        # was: every score lower by (mean / (mean - 100))^2
        assert np.all(focus_score(lifted, axes="ZYX", tile=tile) < 0.9 * plain)
        np.testing.assert_allclose(focus_score(lifted, axes="ZYX", tile=tile,
                                               camera_offset=100), plain, rtol=1e-4)
    # an integer image of a camera: half the signal and another offset, same threshold
    raw = (cells() + 100).astype(np.uint16)
    dim = ((raw.astype(np.float32) - 100) / 2 + 200).astype(np.float32)
    t = calibrate_threshold(focus_score(raw, axes="ZYX", camera_offset=100))
    t_dim = calibrate_threshold(focus_score(dim, axes="ZYX", camera_offset=200))
    assert t_dim == pytest.approx(t, rel=1e-4)


def test_pixels_below_the_offset_are_clipped_and_a_dark_plane_scores_0():
    image = cells((64, 64))
    low = float(np.percentile(image, 30))
    clipped = np.maximum(image - low, 0)
    assert focus_score(image, camera_offset=low) == pytest.approx(focus_score(clipped),
                                                                  rel=1e-6)
    assert focus_score(image, camera_offset=float(image.max()) + 1) == 0.0


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_a_bad_offset_is_refused_when_called(bad):
    with pytest.raises(ValueError, match="camera_offset"):
        iter_focus_scores(cells(), axes="ZYX", camera_offset=bad)
    with pytest.raises(TypeError, match="camera_offset"):
        iter_focus_scores(cells(), axes="ZYX", camera_offset="100")


def test_selective_scores_computed_in_the_core_use_the_offset():
    from napari_microdeblur.core.selective import deblur_selected

    image = cells((64, 64)) + np.float32(100)
    sharp = focus_score(image, tile=32, camera_offset=100)
    threshold = float(np.median(sharp))
    result = deblur_selected(image, "wiener", psf="gaussian:1.0", axes="YX",
                             threshold=threshold, tile=32, halo=8, camera_offset=100,
                             skip_background=False)
    np.testing.assert_allclose(result.scores, sharp, rtol=1e-6)


def test_the_dock_scores_and_calibrates_less_its_camera_offset(make_napari_viewer, qtbot):
    image, good = cells((64, 64), seed=1) + 100, cells((64, 64)) + 100
    viewer = make_napari_viewer()
    layer = viewer.add_image(image, name="soft")
    viewer.add_image(good, name="good")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Focus QC")
    assert w.offset_spin.value() == 0 and "calibrat" in w.offset_spin.toolTip().lower()
    w.layer_combo.set_value(layer)
    w.tile_spin.setValue(32)
    w.offset_spin.setValue(100)
    assert w.score() is not None
    qtbot.waitUntil(lambda: not w._workers and w.scores_fresh(), timeout=TIMEOUT)
    np.testing.assert_allclose(w.scores, focus_score(image - 100, tile=32), rtol=1e-6)
    w.good_combo.set_value(viewer.layers["good"])
    assert w.calibrate() is not None
    qtbot.waitUntil(lambda: w.status_label.text().startswith("threshold "), timeout=TIMEOUT)
    has = structure_tiles(good, axes="YX", tile=32)
    expected = calibrate_threshold(focus_score(good - 100, tile=32)[has], percentile=5)
    assert w.threshold == pytest.approx(expected, rel=1e-5)
    assert "less camera offset 100" in w.status_label.text()
    w.offset_spin.setValue(50)  # scores of another offset no longer hold
    assert not w.scores_fresh()
    assert "press Score again" in w.count_label.text()
