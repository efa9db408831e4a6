"""Focus QC dock audit (2026-12-04): stale scores after the layer's data changed, a layer
removed while it is scored, calibration on a layer of another pixel size, and the heatmap of an
image smaller than the tile. Driven in a real viewer (make_napari_viewer, under Xvfb)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from napari_microdeblur.core import focus as core_focus
from napari_microdeblur.core.focus import calibrate_threshold, focus_score

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms
PSF = "gaussian:1.6"


@pytest.fixture
def notes():
    """(severity, message) of the notifications napari receives during the test."""
    from napari.utils.notifications import notification_manager

    start = len(notification_manager.records)
    return lambda: [(str(n.severity).lower(), str(n.message))
                    for n in notification_manager.records[start:]]


def dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Focus QC")
    return widget


def wait_idle(qtbot, widget):
    qtbot.waitUntil(lambda: not widget._workers, timeout=TIMEOUT)


def score(qtbot, widget):
    assert widget.score() is not None
    wait_idle(qtbot, widget)
    assert widget.scores_fresh()


def slow_scores(monkeypatch, seconds=0.2):
    """Score planes slowly (in the worker thread) so the GUI acts while planes remain."""
    real = core_focus.iter_focus_scores

    def slow(*args, **kwargs):
        gen = real(*args, **kwargs)

        def body():
            while True:
                try:
                    record = next(gen)
                except StopIteration as stop:
                    return stop.value
                time.sleep(seconds)
                yield record

        return body()

    monkeypatch.setattr(core_focus, "iter_focus_scores", slow)


def test_scores_go_stale_when_the_layers_data_changes(make_napari_viewer, qtbot, notes,
                                                      fluo_u8):
    """A live view that writes each new frame into the layer's array (and announces it with
    layer.data = layer.data) kept the same array id: the old frame's scores stayed 'fresh' and
    the new frame was deblurred where the old one was soft."""
    viewer = make_napari_viewer()
    layer = viewer.add_image(fluo_u8.astype(np.float32), name="live")
    w = dock(viewer)
    w.tile_spin.setValue(32)
    score(qtbot, w)
    w.set_threshold(float(np.median(w.scores)))
    # 8 of 16 below the median, 6 of them background noise only (left out)
    assert w.count_label.text().startswith("2 of 16 tiles")
    following = fluo_u8[::-1].astype(np.float32)
    layer.data[:] = following  # the next frame, into the same buffer
    layer.data = layer.data
    assert not w.scores_fresh()
    assert "press Score again" in w.count_label.text()
    n_layers = len(viewer.layers)
    assert w.run() is None
    assert any("first (press Score)" in m for s, m in notes() if s == "error")
    assert len(viewer.layers) == n_layers
    score(qtbot, w)  # scoring again makes them fresh, with the new frame's scores
    np.testing.assert_allclose(w.scores, focus_score(following, axes="YX", tile=32),
                               rtol=1e-6)
    layer.data = fluo_u8[:64, :64].astype(np.float32)  # a replaced array: stale too
    assert not w.scores_fresh() and "press Score again" in w.count_label.text()


def test_removing_the_layer_while_it_is_scored_stops_and_says_so(make_napari_viewer, qtbot,
                                                                 monkeypatch, focus_stack):
    """The status kept saying 'scoring stack...' forever, and the stack was scored to its
    last plane for nothing."""
    slow_scores(monkeypatch)
    viewer = make_napari_viewer()
    stack = viewer.add_image(focus_stack, name="stack")
    viewer.add_image(focus_stack[7], name="other")
    w = dock(viewer)
    w.layer_combo.set_value(stack)
    planes = []
    worker = w.score()
    worker.yielded.connect(lambda rec: (planes.append(rec.done),
                                        stack in viewer.layers and viewer.layers.remove(stack)))
    wait_idle(qtbot, w)
    assert 1 <= len(planes) < 14
    assert w.status_label.text().startswith("scoring stopped: layer 'stack' was removed")
    assert w.progress_bar.maximum() == 1 and not w.cancel_button.isEnabled()
    assert w.scores is None and [la.name for la in viewer.layers] == ["other"]


def test_calibrating_on_a_layer_of_another_pixel_size_warns(make_napari_viewer, qtbot, notes,
                                                            focus_stack):
    """The threshold from a known-good layer at another pixel size was used silently, although
    the band-pass (2-4 px) scores structures by their size in pixels."""
    viewer = make_napari_viewer()
    viewer.add_image(focus_stack[:4], name="soft", scale=(2.0, 0.2, 0.2))
    good = focus_stack[5:10]
    # another dtype and intensity scale, same pixels: the score ignores exposure, no warning
    same = viewer.add_image(good.astype(np.float32) / 65535, name="good float",
                            scale=(1.0, 0.2, 0.2))
    w = dock(viewer)
    w.layer_combo.set_value(viewer.layers["soft"])
    w.good_combo.set_value(same)
    assert w.calibrate() is not None
    wait_idle(qtbot, w)
    expected = calibrate_threshold(focus_score(good, axes="ZYX"), percentile=5)
    assert w.threshold == pytest.approx(expected, rel=1e-5)
    assert "note" not in w.status_label.text()
    assert not [m for s, m in notes() if s == "warning"]

    finer = viewer.add_image(good, name="good 100x", scale=(1.0, 0.1, 0.1))
    w.good_combo.set_value(finer)
    w.calibrate()
    wait_idle(qtbot, w)
    assert w.threshold == pytest.approx(expected, rel=1e-5)  # set, and said
    warnings = [m for s, m in notes() if s == "warning"]
    assert len(warnings) == 1
    assert "'good 100x' has pixels of 0.1 x 0.1 but 'soft' of 0.2 x 0.2" in warnings[0]
    assert "same pixel size" in warnings[0]
    assert "note: 'good 100x' has pixels" in w.status_label.text()


def test_heatmap_of_an_image_smaller_than_the_tile_stays_on_it(make_napari_viewer, qtbot,
                                                               fluo_u8):
    """A 50 x 100 image scored in 256 px tiles (one tile: the whole plane) got a heatmap pixel
    256 px wide, reaching far past the image."""
    viewer = make_napari_viewer()
    image = viewer.add_image(fluo_u8[:50, :100], name="small", scale=(0.5, 0.25),
                             translate=(10.0, -4.0))
    w = dock(viewer)
    w.tile_spin.setValue(256)
    score(qtbot, w)
    heat = w.heatmap_layer
    assert heat.data.shape == (1, 1)
    np.testing.assert_allclose(heat.data_to_world((0, 0)), image.data_to_world((24.5, 49.5)))
    for corner in (-0.5, 0.5):  # the heatmap pixel's edges are the image's
        np.testing.assert_allclose(heat.data_to_world((corner, corner)),
                                   image.data_to_world((24.5 + 50 * corner, 49.5 + 100 * corner)))
    # and where only one side is smaller: 50 rows, two 64 px columns
    wide = viewer.add_image(fluo_u8[:50, :128], name="wide")
    w.layer_combo.set_value(wide)
    w.tile_spin.setValue(64)
    score(qtbot, w)
    assert w.heatmap_layer.data.shape == (1, 2)
    np.testing.assert_allclose(w.heatmap_layer.data_to_world((0, 1)), (24.5, 95.5))
    w.set_threshold(10.0)
    w.set_method("wiener")
    w.psf_edit.setText(PSF)
    run = w.run()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.layer.data.shape == (50, 128)


def test_a_2d_image_per_slice_and_a_stack_with_nothing_soft(make_napari_viewer, qtbot, notes,
                                                            fluo_u16, focus_stack):
    """What already worked, kept: a 2D uint16 layer scored 'per slice' is one unit and its
    deblurred layer keeps scale and translate; a stack with nothing below the threshold adds
    no layer and says so."""
    viewer = make_napari_viewer()
    image = viewer.add_image(fluo_u16, name="u16", scale=(0.3, 0.3), translate=(5.0, 6.0))
    w = dock(viewer)
    w.unit_combo.setCurrentIndex(w.unit_combo.findData("slices"))
    score(qtbot, w)
    assert np.ndim(w.scores) == 0
    w.set_threshold(float(w.scores) * 2)
    assert w.count_label.text().startswith("1 of 1 slices")
    w.set_method("wiener")
    w.psf_edit.setText(PSF)
    run = w.run()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    out = run.layer
    assert tuple(out.scale) == tuple(image.scale) and tuple(out.translate) == (5.0, 6.0)
    assert out.data.dtype == np.float32 and out.data.shape == fluo_u16.shape

    stack = viewer.add_image(focus_stack[5:10], name="sharp")
    w.layer_combo.set_value(stack)
    score(qtbot, w)
    w.set_threshold(float(np.min(w.scores)) * 0.5)
    n_layers = len(viewer.layers)
    assert w.run() is None and len(viewer.layers) == n_layers
    assert any("nothing to deblur" in m for s, m in notes() if s == "info")
