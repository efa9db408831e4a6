"""The Compare & QC dock given a deblurred layer with NaN pixels (driven in a real viewer
under Xvfb)."""

from __future__ import annotations

import numpy as np

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms


def test_a_deblurred_layer_with_nan_pixels_shows_nan_not_a_perfect_score(make_napari_viewer,
                                                                         qtbot):
    truth = (np.random.default_rng(0).random((64, 64)) * 200).astype(np.float32)
    result = truth + 1
    result[32, 32] = np.nan  # inside the border the metrics exclude
    viewer = make_napari_viewer()
    blurry = viewer.add_image(truth + 3, name="blurry")
    deblurred = viewer.add_image(result, name="deblurred")
    gt = viewer.add_image(truth, name="truth")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Compare & QC")
    with qtbot.waitSignal(w.table_updated, timeout=TIMEOUT):
        w.set_layers(blurry, deblurred, gt)
    cells = [[w.table.item(r, c).text() for c in range(2)] for r in range(3)]
    assert cells[1] == ["\u2013", "\u2013"]  # was "inf": a perfect score; then "NaN"
    assert cells[2] == ["\u2013", "\u2013"]
    assert cells[0][0] not in ("", "NaN", "inf", "\u2013")  # the blurry row is unaffected
    assert "deblurred layer holds NaN or Inf pixels" in w.message_label.text()
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)


def test_a_ground_truth_with_nan_pixels_is_named_in_the_message(make_napari_viewer, qtbot):
    truth = (np.random.default_rng(0).random((64, 64)) * 200).astype(np.float32)
    bad_truth = truth.copy()
    bad_truth[3, 3] = np.nan
    viewer = make_napari_viewer()
    blurry = viewer.add_image(truth + 3, name="blurry")
    deblurred = viewer.add_image(truth + 1, name="deblurred")
    gt = viewer.add_image(bad_truth, name="sharp reference")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Compare & QC")
    w.set_layers(blurry, deblurred, gt)
    qtbot.waitUntil(lambda: "NaN or Inf" in w.message_label.text(), timeout=TIMEOUT)
    assert "the ground-truth layer 'sharp reference'" in w.message_label.text()
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)
