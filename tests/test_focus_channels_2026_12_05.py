"""Focus QC on a time-lapse with channels (walkthrough 'tlapse', TCZYX DAPI + GFP): the 96
slices got ONE automatic threshold, half the median of both channels pooled (1.08e-4), though
DAPI scored 1.4-1.8e-4 and GFP 2.5-7.1e-4, and "sharpest: T 7, C 1, Z 3" mixed channels. With a
C axis the automatic threshold, the selection and the sharpest slice are now per channel; a
typed threshold is one value for all channels (said); a calibration on a layer with the same
channels is per channel. With a T axis a second plot shows focus against time."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from napari_microdeblur.core.focus import calibrate_threshold, focus_score, structure_planes
from napari_microdeblur.core.selective import select_below

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


@pytest.fixture(scope="module")
def two_channels():
    """(3, 2, 4, 64, 64) TCZYX: channel 0 blurred (sigma 1.5, z0 sigma 4: soft), channel 1
    sharp (sigma 0.5, z3 sigma 1.8: soft within its channel, near channel 0's sharp planes)."""
    rng = np.random.default_rng(7)
    out = np.zeros((3, 2, 4, 64, 64), np.float32)
    for t in range(3):
        spots = (rng.random((64, 64)) > 0.97).astype(np.float32) * 100
        for c, (sigma, soft_z, soft_sigma) in enumerate(((1.5, 0, 4.0), (0.5, 3, 1.8))):
            for z in range(4):
                s = soft_sigma if z == soft_z else sigma
                out[t, c, z] = gaussian_filter(spots, s) + 10 + rng.normal(0, 0.05, (64, 64))
    return out


def expected(data):
    scores = np.asarray(focus_score(data, axes="TCZYX"))
    has = np.asarray(structure_planes(data, axes="TCZYX"), bool)
    per_c = [0.5 * np.median(scores[:, c][has[:, c]]) for c in range(2)]
    return scores, has, np.array(per_c)


def open_dock(make_napari_viewer, data):
    viewer = make_napari_viewer()
    layer = viewer.add_image(data, name="tl")
    w = dock(viewer)
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("TCZYX")
    w.axes_edit.editingFinished.emit()
    assert w.unit == "slices"
    return viewer, w


def test_automatic_threshold_selection_and_sharpest_are_per_channel(
        make_napari_viewer, qtbot, two_channels):
    scores, has, per_c = expected(two_channels)
    # the pooled rule missed channel 1's soft plane (it scores as channel 0's sharp ones)
    pooled = 0.5 * np.median(scores[has])
    assert not (scores[:, 1, 3] < pooled).any() and (scores[:, 1, 3] < per_c[1]).all()
    viewer, w = open_dock(make_napari_viewer, two_channels)
    score(qtbot, w)
    np.testing.assert_allclose(w.channel_thresholds, per_c, rtol=1e-6)
    mask = w.soft_mask()
    want = np.zeros(scores.shape, bool)
    want[:, 0, 0] = want[:, 1, 3] = True  # each channel's own soft plane
    np.testing.assert_array_equal(mask, want)
    status = w.status_label.text()
    assert "thresholds per channel" in status and "sharpest per channel: C 0 at" in status
    assert "C 1 at" in status
    assert "below their channel's threshold" in w.count_label.text()
    # the spin box shows the current channel's threshold
    viewer.dims.set_current_step(1, 1)
    assert w.threshold == pytest.approx(per_c[1], rel=1e-6)
    viewer.dims.set_current_step(1, 0)
    assert w.threshold == pytest.approx(per_c[0], rel=1e-6)
    # the deblur gets exactly these units, and says the thresholds are per channel
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")
    req, selection = w.build_request()
    np.testing.assert_array_equal(select_below(selection.scores, selection.threshold), want)
    run = w.run()
    assert run is not None
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    focus = run.layer.metadata["microdeblur"]["focus"]
    assert focus["selected"] == [list(u) for u in np.argwhere(want)]
    assert focus["threshold"] == pytest.approx(per_c.tolist(), rel=1e-5)
    assert "per channel" in focus["threshold_from"] and run.layer.name.endswith("per channel)")


def test_typed_threshold_is_one_for_all_channels_and_said(
        make_napari_viewer, qtbot, two_channels):
    scores, has, per_c = expected(two_channels)
    _, w = open_dock(make_napari_viewer, two_channels)
    score(qtbot, w)
    w.set_threshold(per_c[1])
    assert w.channel_thresholds is None
    np.testing.assert_array_equal(w.soft_mask(), (scores < per_c[1]) & has)
    assert "(all channels)" in w.count_label.text()
    score(qtbot, w)  # a typed threshold stays, and the status says it covers all channels
    assert "one threshold" in w.status_label.text()
    assert "for all 2 channels" in w.status_label.text()


def test_calibration_on_a_layer_with_the_same_channels_is_per_channel(
        make_napari_viewer, qtbot, two_channels):
    good_data = two_channels.copy()
    good_data[:, 0, 0] = good_data[:, 0, 1]  # in focus everywhere
    good_data[:, 1, 3] = good_data[:, 1, 2]
    viewer, w = open_dock(make_napari_viewer, two_channels)
    score(qtbot, w)
    good = viewer.add_image(good_data, name="good")
    w.layer_combo.set_value(viewer.layers["tl"])
    w.good_combo.set_value(good)
    assert w.calibrate() is not None
    idle(qtbot, w)
    g = np.asarray(focus_score(good_data, axes="TCZYX"))
    per_c = [calibrate_threshold(g[:, c].ravel(), percentile=5) for c in range(2)]
    np.testing.assert_allclose(w.calibration.thresholds, per_c, rtol=1e-6)
    np.testing.assert_allclose(w.channel_thresholds, per_c, rtol=1e-6)
    assert "thresholds per channel" in w.status_label.text()
    score(qtbot, w)  # applies again on the next Score
    assert "calibrated on 'good'" in w.status_label.text()
    np.testing.assert_allclose(w.channel_thresholds, per_c, rtol=1e-6)


def test_time_lapse_gets_a_focus_over_time_plot(make_napari_viewer, qtbot, two_channels):
    scores, has, _ = expected(two_channels)
    viewer, w = open_dock(make_napari_viewer, two_channels)
    score(qtbot, w)
    viewer.dims.set_current_step(1, 1)
    viewer.dims.set_current_step(2, 2)
    assert not w.time_plot.isHidden() and w.plot.xlabel.startswith("Z")
    xs, ys, _ = w.time_plot.series["this slice"]
    assert xs == [0, 1, 2] and ys == pytest.approx(scores[:, 1, 2].tolist())
    best = np.where(has, scores, np.nan)[:, 1].max(axis=1)
    assert w.time_plot.series["best Z"][1] == pytest.approx(best.tolist())
    viewer.dims.set_current_step(0, 2)
    assert w.time_plot.marker == 2


def test_no_time_plot_without_a_t_axis(make_napari_viewer, qtbot, two_channels):
    viewer = make_napari_viewer()
    layer = viewer.add_image(two_channels[0, 0], name="z")
    w = dock(viewer)
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("ZYX")
    w.axes_edit.editingFinished.emit()
    score(qtbot, w)
    assert w.time_plot.isHidden() and w.channel_thresholds is None
    assert "sharpest: Z" in w.status_label.text()
