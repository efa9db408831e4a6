"""Focus QC kept a threshold calibrated per slice after the unit was switched to per tile: on the
same in-focus light-sheet image, "19 of 28 tiles below threshold 0.3391", with no word that it
was calibrated in another mode. A calibration now remembers its unit, tile side and camera
offset; a Score with other settings uses the automatic threshold and says why (the calibration
comes back once the settings match again). A typed threshold stays the user's."""

from __future__ import annotations

import numpy as np
import pytest

from napari_microdeblur.core.focus import calibrate_threshold, focus_score, structure_tiles

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000


def dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Focus QC")
    return widget


def idle(qtbot, w):
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)


def score(qtbot, w):
    assert w.score() is not None
    idle(qtbot, w)
    assert w.scores_fresh()


def set_unit(w, unit):
    w.unit_combo.setCurrentIndex(w.unit_combo.findData(unit))
    assert w.unit == unit


@pytest.fixture
def calibrated_per_slice(make_napari_viewer, qtbot, fluo_u8):
    """The walkthrough's steps: an image and its in-focus copy, calibrated per slice."""
    viewer = make_napari_viewer()
    viewer.add_image(fluo_u8, name="ON")
    good = viewer.add_image(fluo_u8.copy(), name="ON_copy")
    w = dock(viewer)
    w.layer_combo.set_value(viewer.layers["ON"])
    set_unit(w, "slices")
    w.good_combo.set_value(good)
    assert w.calibrate() is not None
    idle(qtbot, w)
    calibrated = calibrate_threshold(np.atleast_1d(focus_score(fluo_u8)), percentile=5)
    assert w.threshold == pytest.approx(calibrated, rel=1e-6)
    return w, calibrated


def automatic(image, tile):
    """Half the median score of the tiles with structure (the dock's automatic threshold)."""
    scores = focus_score(image, tile=tile)
    return 0.5 * float(np.median(scores[structure_tiles(image, axes="YX", tile=tile)]))


def test_a_per_slice_calibration_is_not_applied_per_tile_and_the_status_says_so(
        calibrated_per_slice, qtbot, fluo_u8):
    w, calibrated = calibrated_per_slice
    set_unit(w, "tiles")
    score(qtbot, w)
    tile = int(w.tile_spin.value())
    # was: the per-slice value kept, most in-focus tiles called soft, nothing said
    assert w.threshold == pytest.approx(automatic(fluo_u8, tile), rel=1e-6)
    assert w.threshold != pytest.approx(calibrated, rel=1e-3)
    line = w.status_label.text()
    assert "half the median score (automatic)" in line
    assert (f"not the {calibrated:.4g} calibrated on 'ON_copy' per slice, now per tile: "
            "calibrate again") in line
    # back per slice, the calibration holds again and is applied (and said)
    set_unit(w, "slices")
    score(qtbot, w)
    assert w.threshold == pytest.approx(calibrated, rel=1e-6)
    assert f"threshold {calibrated:.4g}: calibrated on 'ON_copy'" in w.status_label.text()


def test_another_camera_offset_or_tile_makes_a_calibration_stale(make_napari_viewer, qtbot,
                                                                  fluo_u8):
    viewer = make_napari_viewer()
    viewer.add_image(fluo_u8, name="ON")
    good = viewer.add_image(fluo_u8.copy(), name="ON_copy")
    w = dock(viewer)
    w.layer_combo.set_value(viewer.layers["ON"])
    set_unit(w, "tiles")
    w.tile_spin.setValue(32)
    w.offset_spin.setValue(5)
    w.good_combo.set_value(good)
    assert w.calibrate() is not None
    idle(qtbot, w)
    calibrated = w.threshold
    score(qtbot, w)  # the settings it was calibrated with: applied
    assert w.threshold == calibrated
    w.offset_spin.setValue(0)
    score(qtbot, w)
    assert w.threshold == pytest.approx(automatic(fluo_u8, 32), rel=1e-6)
    assert ("calibrated on 'ON_copy' with camera offset 5, now with no camera offset: "
            "calibrate again") in w.status_label.text()
    w.offset_spin.setValue(5)
    w.tile_spin.setValue(64)
    score(qtbot, w)
    assert w.threshold != calibrated
    assert ("calibrated on 'ON_copy' with 32 px tiles, now with 64 px tiles: calibrate again"
            in w.status_label.text())


def test_a_typed_threshold_stays_across_settings(calibrated_per_slice, qtbot):
    w, calibrated = calibrated_per_slice
    w.threshold_spin.setValue(0.0123)  # typed after the calibration: the user's
    set_unit(w, "tiles")
    score(qtbot, w)
    assert w.threshold == pytest.approx(0.0123)
    assert "calibrat" not in w.status_label.text()
    assert "automatic" not in w.status_label.text()
    assert "below threshold 0.0123" in w.count_label.text()
