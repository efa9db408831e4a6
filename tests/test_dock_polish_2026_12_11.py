"""Docks given careless input (2026-12-11): Compare & QC with one layer in two or three roles
(it showed PSNR inf, SSIM 1.0000, a gain of 'NaN' and added an all-zero difference map without
a word), with NaN / Inf pixels (numpy's 'invalid value encountered' warnings popped up as
napari notifications beside the dock's own line, the row read NaN); the Deblur dock's line
for an RGBA layer (the alpha note said twice); Focus QC with a tile larger than the image
('1 tile of 8192 px' on a 64 x 64 image, and an automatic threshold that can never select
anything, unsaid). Driven in a real viewer under Xvfb; tests wait on conditions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
    snapshot,
    wait_idle,
)

DASH = "\u2013"


@pytest.fixture
def notes():
    """The notifications napari receives during the test."""
    from napari.utils.notifications import notification_manager

    start = len(notification_manager.records)
    return SimpleNamespace(
        warnings=lambda: [str(n.message) for n in notification_manager.records[start:]
                          if str(n.severity).lower() == "warning"],
        errors=lambda: [str(n.message) for n in notification_manager.records[start:]
                        if str(n.severity).lower() == "error"])


def image(seed=0, shape=(64, 64)):
    rng = np.random.default_rng(seed)
    return (gaussian_filter(rng.random(shape), 1.5) * 200).astype(np.float32)


def cells(w):
    return [[w.table.item(r, c).text() if w.table.item(r, c) else "" for c in range(2)]
            for r in range(3)]


def numpy_warnings(seen):
    return [m for m in seen.warnings() if "encountered" in m]


# ----------------------------------------------------------------------------- Compare


def test_one_layer_as_blurry_deblurred_and_truth_is_refused_saying_which_roles(
        make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer()
    a = viewer.add_image(image(0), name="in")
    before = snapshot(viewer)
    w = dock(viewer, "Compare & QC")
    w.set_layers(blurry=a, deblurred=a, truth=a)
    qtbot.waitUntil(lambda: "hold the same layer 'in'" in w.message_label.text(),
                    timeout=TIMEOUT)
    message = w.message_label.text()
    assert message.startswith("Blurry, Deblurred and Ground truth hold the same layer")
    assert "Ground truth box" in message and "Deblurred box" in message
    wait_idle(qtbot, w)
    assert all(text == "" for row in cells(w) for text in row)  # was inf / 1.0000 / NaN
    assert w.last_result is None
    w.diff_button.click()  # was: an all-zero layer '|in - in|'
    w.stack_button.click()
    wait_idle(qtbot, w)
    assert snapshot(viewer) == before
    assert any("hold the same layer 'in'" in m for m in notes.errors())
    assert w.stack_results is None and w.summary_label.text() == ""


def test_the_truth_shared_with_one_role_is_refused_and_blurry_as_deblurred_is_said(
        make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    b = viewer.add_image(image(0), name="blurry")
    d = viewer.add_image(image(1), name="result")
    g = viewer.add_image(image(2), name="sharp")
    w = dock(viewer, "Compare & QC")
    w.set_layers(blurry=b, deblurred=g, truth=g)
    qtbot.waitUntil(lambda: "Deblurred and Ground truth hold the same layer 'sharp'"
                    in w.message_label.text(), timeout=TIMEOUT)
    assert "(or the deblur result in the Deblurred box)" in w.message_label.text()
    w.set_layers(blurry=g, deblurred=d, truth=g)
    qtbot.waitUntil(lambda: "Blurry and Ground truth hold the same layer 'sharp'"
                    in w.message_label.text(), timeout=TIMEOUT)
    assert "(or the blurry input in the Blurry box)" in w.message_label.text()
    assert cells(w)[1] == ["", ""]
    # blurry and deblurred the same layer: scored (the rows are right), and said
    with qtbot.waitSignal(w.table_updated, timeout=TIMEOUT):
        w.set_layers(blurry=d, deblurred=d, truth=g)
    assert w.message_label.text().startswith(
        "Blurry and Deblurred hold the same layer 'result'")
    assert "gain is 0" in w.message_label.text()
    assert cells(w)[2] == ["+0.00", "+0.0000"] and cells(w)[0] == cells(w)[1]
    # each role its own layer: no line
    with qtbot.waitSignal(w.table_updated, timeout=TIMEOUT):
        w.set_layers(blurry=b, deblurred=d, truth=g)
    assert w.message_label.text() == ""
    wait_idle(qtbot, w)


def test_nan_and_inf_pixels_raise_no_numpy_warning_and_the_row_shows_a_dash(
        make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer()
    bad = image(0)
    bad[3, 3], bad[30, 30], bad[40, 40] = np.nan, np.inf, -np.inf
    b = viewer.add_image(bad, name="in", contrast_limits=(0, 200))
    d = viewer.add_image(image(1) + np.where(np.isinf(bad), bad, 0), name="result",
                         contrast_limits=(0, 200))
    g = viewer.add_image(image(2), name="truth")
    w = dock(viewer, "Compare & QC")
    with qtbot.waitSignal(w.table_updated, timeout=TIMEOUT):
        w.set_layers(blurry=b, truth=g)
    wait_idle(qtbot, w)
    qtbot.wait(50)  # the workers' warnings reach napari through queued signals
    assert numpy_warnings(notes) == []  # was 'invalid value encountered in subtract'
    assert cells(w)[0] == [DASH, DASH]  # was NaN, NaN
    assert "undefined" in w.table.item(0, 0).toolTip()
    assert "the blurry layer holds NaN or Inf pixels" in w.message_label.text()
    w.stack_button.click()
    qtbot.waitUntil(lambda: w.stack_results is not None, timeout=TIMEOUT)
    w.set_layers(blurry=b, deblurred=d, truth=g)  # Inf - Inf in the difference map too
    wait_idle(qtbot, w)
    w.diff_button.click()
    qtbot.waitUntil(lambda: len(viewer.layers) == 4, timeout=TIMEOUT)
    wait_idle(qtbot, w)
    qtbot.wait(50)
    assert numpy_warnings(notes) == []  # the stack and the difference map too


def test_two_perfect_scores_gain_a_dash_not_nan(make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer()
    g = viewer.add_image(image(2), name="truth")
    b = viewer.add_image(image(2), name="copy one")  # pixel for pixel the truth
    d = viewer.add_image(image(2), name="copy two")
    w = dock(viewer, "Compare & QC")
    with qtbot.waitSignal(w.table_updated, timeout=TIMEOUT):
        w.set_layers(blurry=b, deblurred=d, truth=g)
    assert cells(w)[0][0] == "inf" and cells(w)[1][0] == "inf"
    assert cells(w)[2][0] == DASH  # was 'NaN' (inf - inf)
    assert cells(w)[2][1] == "+0.0000"
    wait_idle(qtbot, w)
    assert numpy_warnings(notes) == []


# ----------------------------------------------------------------------------- Deblur


def test_an_rgba_layers_alpha_note_is_said_once(make_napari_viewer, qtbot):
    rgba = (np.random.default_rng(0).random((64, 64, 4)) * 255).astype(np.uint8)
    viewer = make_napari_viewer()
    viewer.add_image(rgba, rgb=True, name="in")
    w = dock(viewer, "Deblur")
    w.set_method("richardson_lucy")
    w.psf_edit.setText("gaussian:1.5")
    w.iterations_spin.setValue(3)
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    run = w.run()
    assert run is not None
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    status = w.status_label.text()
    assert status.startswith("added ")
    assert status.count("alpha channel (4th sample) is passed through") == 1  # was twice


def test_warnings_note_leaves_out_a_warning_the_line_says_already():
    from napari_microdeblur._widgets._run_status import warnings_note

    run = SimpleNamespace(warnings=["RGBA image: alpha passed through", "other"],
                          outcome=None, req=SimpleNamespace(method=SimpleNamespace(psf=None)))
    assert warnings_note(run) == "; warned: RGBA image: alpha passed through | other"
    assert warnings_note(run, "added x RGBA image: alpha passed through") == "; warned: other"


# ----------------------------------------------------------------------------- Focus QC


def test_a_tile_larger_than_the_image_is_said_as_the_image_and_one_tile_explained(
        make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer = viewer.add_image(image(0), name="in")
    w = dock(viewer, "Focus QC")
    w.layer_combo.set_value(layer)
    w.tile_spin.setValue(100000)  # clamped to the box's 8192
    assert w.score() is not None
    wait_idle(qtbot, w)
    status = w.status_label.text()
    assert "1 tile of 64 x 64 px (the whole plane" in status  # was '1 tile of 8192 px'
    assert "of 8192 px" not in status
    assert "one tile cannot be compared with others" in status
    assert "smaller tile (e.g. 32 px)" in status
    assert w.heatmap_layer.name == "in focus [tile 64]"
    assert w.heatmap_layer.data.shape == (1, 1)
    assert w.run() is None  # nothing below half its own score: said why
    assert "nothing to deblur" in w.status_label.text()
    assert "one tile cannot be compared with others" in w.status_label.text()
    # a typed threshold judges the one tile: no such line
    w.set_threshold(1.0)
    assert w.score() is not None
    wait_idle(qtbot, w)
    assert "cannot be compared" not in w.status_label.text()
    # tiles smaller than the image: as before
    w.tile_spin.setValue(16)
    assert w.score() is not None
    wait_idle(qtbot, w)
    assert "16 tiles of 16 px" in w.status_label.text()
    assert "cannot be compared" not in w.status_label.text()
