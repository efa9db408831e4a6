"""Audit of the Deblur, Focus QC and Fine-tune docks as a biologist uses them (2026-12-04,
fourth pass): "PSF from beads" pressed twice, a custom tile below the network's reach, the
input layer renamed or removed while a run goes on, and the Focus QC dock's status line (one
tile, a failed calibration, every tile soft, pixels edited in place). Driven in a real viewer
under Xvfb; runs are classical or tiny and tests wait on conditions, never on fixed delays."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from test_beads import bead_image
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
    gran_file,
    tiny_session_model,
    wait_idle,
    wait_run,
)

from napari_microdeblur._widgets._layers import unwrap
from napari_microdeblur.core.beads import psf_from_beads
from napari_microdeblur.core.focus import focus_score


@pytest.fixture
def notes():
    """(severity, message) of the notifications napari receives during the test."""
    from napari.utils.notifications import notification_manager

    start = len(notification_manager.records)
    return lambda: [(str(n.severity).lower(), str(n.message))
                    for n in notification_manager.records[start:]]


def deblur_dock(viewer, data, name="cells"):
    layer = viewer.add_image(data, name=name)
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(layer)
    return layer, w


def wait_preview(qtbot, w):
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)


def names(viewer):
    return [la.name for la in viewer.layers]


# ----------------------------------------------------------------------------- PSF from beads

def test_psf_from_the_same_beads_twice_updates_the_psf_layer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    w = dock(viewer, "Deblur")
    beads = viewer.add_image(bead_image((128, 128), (1.5, 1.5))[0], name="beads")
    w.psf_from_beads(beads)
    wait_idle(qtbot, w)
    first = unwrap(viewer.layers["PSF from beads"])
    # the user re-acquires the beads in the same layer and measures again
    beads.data = bead_image((128, 128), (2.0, 2.0), seed=1)[0]
    w.psf_from_beads(beads)
    wait_idle(qtbot, w)
    # was: a second layer 'PSF from beads [1]'
    assert names(viewer) == ["beads", "PSF from beads"]
    assert unwrap(viewer.layers["PSF from beads"]) is first
    np.testing.assert_allclose(first.data, psf_from_beads(np.asarray(beads.data))[0])
    assert w.psf_edit.text() == "layer:PSF from beads"
    assert "'PSF from beads'" in w.status_label.text()
    # another bead layer gets its own PSF layer
    other = viewer.add_image(bead_image((96, 96), (1.5, 1.5), seed=2)[0], name="beads 2")
    w.psf_from_beads(other)
    wait_idle(qtbot, w)
    assert names(viewer) == ["beads", "PSF from beads", "beads 2", "PSF from beads 2"]
    assert w.psf_edit.text() == "layer:PSF from beads 2"


def test_psf_from_beads_again_never_overwrites_a_layer_it_did_not_make(make_napari_viewer,
                                                                       qtbot):
    viewer = make_napari_viewer()
    w = dock(viewer, "Deblur")
    beads = viewer.add_image(bead_image((128, 128), (1.5, 1.5))[0], name="beads")
    w.psf_from_beads(beads)
    wait_idle(qtbot, w)
    viewer.layers.remove("PSF from beads")  # removed: the next run adds a new one
    mine = viewer.add_image(np.ones((5, 5), np.float32), name="PSF from beads")
    w.psf_from_beads(beads)
    wait_idle(qtbot, w)
    assert len(viewer.layers) == 3 and np.all(mine.data == 1)  # the user's layer untouched
    made = unwrap(viewer.layers[-1])
    assert made.metadata["microdeblur"]["psf_from_beads"] == "beads"
    assert w.psf_edit.text() == f"layer:{made.name}"


# ----------------------------------------------------------------------------- custom tile

@pytest.mark.parametrize(("method", "words"), [
    ("auto", "tile=16 is smaller than the receptive field of 'c2f_unet.fluorescence_v2' "
             "(129 px); use a tile of at least 128"),
    ("tiny_gran", "tile=16 is smaller than the receptive field of 'tiny_gran' (33 px); with "
                  "an overlap of 32 px, tiles below 64 take over 3x the default tiling's work: "
                  "use a tile of at least 64"),
])
@pytest.mark.usefixtures("tiny_session_model")
def test_a_custom_tile_below_the_networks_reach_is_refused_before_the_run(
        make_napari_viewer, qtbot, notes, method, words):
    viewer = make_napari_viewer()
    layer, w = deblur_dock(viewer, (np.random.default_rng(0).random((128, 128)) * 200)
                           .astype(np.float32))
    w.set_modality("fluorescence")
    w.set_method(method)
    w.tile_mode.setCurrentText("custom")
    w.tile_spin.setValue(16)
    wait_preview(qtbot, w)
    assert w.run() is None  # was: the run started, then failed in its worker
    assert w.last_run is None and not w.busy
    assert w.status_label.text() == words
    errors = [m for s, m in notes() if s == "error"]
    assert errors == [words]
    assert names(viewer) == ["cells"]
    if method == "tiny_gran":  # the tile the message asks for runs
        w.tile_spin.setValue(64)
        run = w.run()
        assert run is not None
        wait_run(qtbot, run)
        assert run.layer is not None and run.layer.metadata["microdeblur"]["tile"] == (64, 64)


def test_a_custom_tile_below_a_psf_layers_reach_is_refused_before_the_run(
        make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer()
    yy, xx = np.mgrid[-12:13, -12:13]
    viewer.add_image(np.exp(-(yy ** 2 + xx ** 2) / 18.0).astype(np.float32), name="psf")
    layer, w = deblur_dock(viewer, (np.random.default_rng(0).random((96, 96)) * 200)
                           .astype(np.float32))
    w.set_method("richardson_lucy")
    w.psf_edit.setText("layer:psf")
    w.tile_mode.setCurrentText("custom")
    w.tile_spin.setValue(16)
    wait_preview(qtbot, w)
    assert w.run() is None
    assert w.status_label.text() == (
        "tile=16 is smaller than the receptive field of 'richardson_lucy' (25 px); tiles "
        "below 64 leave no room for the 32 px overlap 'richardson_lucy' needs between tiles: "
        "use a tile of at least 64")
    assert w.last_run is None and names(viewer) == ["psf", "cells"]


# ----------------------------------------------------------------------------- input layer
# renamed or removed during a run: the rename or removal happens before control returns to
# the event loop, so always before the run's result arrives

def wiener_dock(viewer):
    layer, w = deblur_dock(viewer, (np.random.default_rng(0).random((64, 64)) * 200)
                           .astype(np.float32))
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")
    return layer, w


def test_a_layer_renamed_during_the_run_names_the_result(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer, w = wiener_dock(viewer)
    wait_preview(qtbot, w)
    run = w.run()
    layer.name = "cells 2025-01-07"
    wait_run(qtbot, run)
    # was: 'cells deblurred [...]', after a layer that no longer has that name
    assert run.layer.name == "cells 2025-01-07 deblurred [wiener, PSF gaussian:1.6]"
    assert run.layer.metadata["microdeblur"]["source_layer"] == "cells 2025-01-07"
    assert "removed" not in w.status_label.text()


def test_a_layer_removed_during_the_run_still_gets_its_result(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer, w = wiener_dock(viewer)
    wait_preview(qtbot, w)
    run = w.run()
    viewer.layers.remove(layer)
    wait_run(qtbot, run)
    assert names(viewer) == ["cells deblurred [wiener, PSF gaussian:1.6]"]  # nothing is lost
    status = w.status_label.text()
    assert status.startswith("added 'cells deblurred [wiener, PSF gaussian:1.6]'")
    assert "input layer 'cells' was removed during the run" in status


def test_focus_dock_names_the_result_after_the_renamed_layer(make_napari_viewer, qtbot,
                                                              fluo_u8):
    viewer = make_napari_viewer()
    layer = viewer.add_image(fluo_u8, name="nuclei")
    w = dock(viewer, "Focus QC")
    w.layer_combo.set_value(layer)
    w.tile_spin.setValue(32)
    w.score()
    wait_idle(qtbot, w)
    w.set_threshold(float(np.median(w.scores)))
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")
    run = w.run()
    assert run is not None
    layer.name = "nuclei fixed"
    wait_run(qtbot, run)
    assert run.layer.name.startswith("nuclei fixed deblurred [wiener, PSF gaussian:1.6] (focus < ")
    # and removed: the result is still added, the status says why it has the old name
    run = w.run()
    viewer.layers.remove(layer)
    wait_run(qtbot, run)
    assert run.layer is not None and run.layer in viewer.layers
    assert run.layer.name.startswith("nuclei fixed deblurred [wiener, PSF gaussian:1.6]")
    assert "input layer 'nuclei fixed' was removed during the run" in w.status_label.text()


@pytest.mark.usefixtures("tiny_session_model")
def test_finetune_preview_is_named_after_the_renamed_layer(make_napari_viewer, qtbot,
                                                           focus_stack):
    viewer = make_napari_viewer()
    stack = viewer.add_image(focus_stack, name="stack")
    viewer.dims.set_current_step(0, 4)
    w = dock(viewer, "Fine-tune")
    w.mode_combo.setCurrentIndex(1)
    w.stack_combo.set_value(stack)
    w.set_base("tiny_gran")
    w.steps_spin.setValue(100_000)
    w.patch_spin.setValue(32)
    w.batch_spin.setValue(2)
    w.device_combo.setCurrentText("cpu")
    w.start_button.click()
    qtbot.waitUntil(lambda: w._last_step >= 1, timeout=TIMEOUT)
    w.preview_button.click()
    # connected after the preview's own handler: runs once its request is built
    w.worker.paused.connect(lambda: setattr(stack, "name", "stack renamed"))
    qtbot.waitUntil(lambda: w.preview_layer is not None, timeout=TIMEOUT)
    w.stop_button.click()
    wait_idle(qtbot, w)
    # was: 'stack preview [...]'
    assert w.preview_layer.name.startswith("stack renamed preview [tiny_gran fine-tuning")


# ----------------------------------------------------------------------------- Focus QC

def focus_dock(viewer, data, name="nuclei", tile=32):
    layer = viewer.add_image(data, name=name)
    w = dock(viewer, "Focus QC")
    w.layer_combo.set_value(layer)
    w.tile_spin.setValue(tile)
    return layer, w


def score(qtbot, w):
    assert w.score() is not None
    wait_idle(qtbot, w)
    assert w.scores_fresh()


def test_one_tile_is_one_tile(make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    layer, w = focus_dock(viewer, fluo_u8, tile=256)  # a 128 px image: one tile
    score(qtbot, w)
    # was: '1 tiles of 256 px', then '1 tile of 256 px' (the tile, not the image)
    assert ("scored nuclei: 1 tile of 128 x 128 px (the whole plane: the tile, 256 px, is "
            "larger than the image), scores") in w.status_label.text()
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")
    w.set_threshold(10.0)
    run = w.run()
    assert w.status_label.text() == "deblurring 1 soft tile of nuclei with wiener..."
    wait_run(qtbot, run)
    assert w.status_label.text().startswith(
        f"added {run.layer.name!r}: 1 of 1 tile deblurred in ")


def test_a_failed_calibration_shows_in_the_status(make_napari_viewer, qtbot, notes, fluo_u8):
    viewer = make_napari_viewer()
    layer, w = focus_dock(viewer, fluo_u8)
    bad = fluo_u8.astype(np.float32)
    bad[5, 5] = np.nan
    good = viewer.add_image(bad, name="good")
    w.good_combo.set_value(good)
    w.calibrate()
    wait_idle(qtbot, w)
    errors = [m for s, m in notes() if s == "error"]
    assert len(errors) == 1 and "NaN or Inf pixels" in errors[0]
    # was: only the notification, which goes away
    assert w.status_label.text() == errors[0]
    assert w.status_label.text().startswith("Calibration on 'good' failed:")


def test_pixels_edited_in_place_then_refreshed_make_the_scores_stale(make_napari_viewer,
                                                                    qtbot, fluo_u8):
    viewer = make_napari_viewer()
    layer, w = focus_dock(viewer, fluo_u8.copy())
    score(qtbot, w)
    layer.data[:32, :32] = 0  # edited in place: napari sends no data event
    layer.refresh()
    # was: the count still said '... of 16 tiles below threshold' for the old pixels
    qtbot.waitUntil(lambda: "press Score again" in w.count_label.text(), timeout=TIMEOUT)
    assert not w.scores_fresh()
    score(qtbot, w)
    layer.refresh()  # nothing changed: the scores stay fresh
    qtbot.waitUntil(lambda: not w.data_watch.pending, timeout=TIMEOUT)
    assert w.scores_fresh()
    np.testing.assert_allclose(w.scores, focus_score(layer.data, axes="YX", tile=32))
    # edited in place without refresh: Run still notices, and asks for a new score
    layer.data[32:64, 32:64] = 0
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")
    w.set_threshold(float(np.median(w.scores)))
    assert w.run() is None
    assert "score 'nuclei' first (press Score)" in w.status_label.text()


# ----------------------------------------------------------------------------- gray + alpha

def gray_alpha():
    rng = np.random.default_rng(3)
    gray = ndimage.gaussian_filter(rng.random((64, 64)), 2) * 200
    alpha = np.full((64, 64), 200.0)
    alpha[:8] = 0
    return np.stack([gray, alpha], -1).astype(np.float32)


def test_deblur_dock_passes_a_gray_alpha_layers_alpha_through(make_napari_viewer, qtbot):
    """The core deblurs gray + alpha as gray, alpha copied; the dock said nothing of it."""
    from napari_microdeblur.core.inference import GRAY_ALPHA_NOTE, deblur

    viewer = make_napari_viewer()
    image = gray_alpha()
    layer, w = deblur_dock(viewer, image)
    w.axes_edit.setText("YXS")  # napari shows (64, 64, 2) as a stack: the user says so
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")
    wait_preview(qtbot, w)
    run = w.run()
    assert run is not None and GRAY_ALPHA_NOTE in w.status_label.text()
    wait_run(qtbot, run)
    out = np.asarray(run.layer.data)
    np.testing.assert_array_equal(out[..., 1], image[..., 1])
    expected = deblur(image, axes="YXS", method="wiener", psf="gaussian:1.6", device="cpu")
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-3)


def test_focus_dock_refuses_a_gray_alpha_layer_saying_what_to_do(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer, w = focus_dock(viewer, gray_alpha())
    w.axes_edit.setText("YXS")
    assert w.score() is None  # was: the alpha scored as a second channel
    text = w.status_label.text()
    assert "gray + alpha" in text and "layer.data[..., 0]" in text


def test_compare_dock_stack_summary_leaves_out_a_slice_equal_to_the_truth(make_napari_viewer,
                                                                         qtbot):
    """One slice of the deblurred stack equal to the truth made the summary 'PSNR inf dB'."""
    from napari_microdeblur.core.metrics import evaluate

    viewer = make_napari_viewer()
    rng = np.random.default_rng(4)
    truth = (ndimage.gaussian_filter(rng.random((4, 64, 64)), (0, 2, 2)) * 250).astype(np.uint8)
    deblurred = np.clip(truth + rng.normal(0, 4, truth.shape), 0, 255).astype(np.uint8)
    deblurred[1] = truth[1]
    blurred = np.clip(truth + rng.normal(0, 8, truth.shape), 0, 255).astype(np.uint8)
    viewer.add_image(blurred, name="cells blurred")
    viewer.add_image(deblurred, name="cells deblurred")
    viewer.add_image(truth, name="cells truth")
    w = dock(viewer, "Compare & QC")
    w.stack_button.click()
    qtbot.waitUntil(lambda: w.stack_results is not None, timeout=TIMEOUT)
    text = w.summary_label.text()
    assert "inf" not in text
    expected = evaluate(deblurred, truth, border=16)["psnr"]
    assert f"deblurred: PSNR {expected:.2f} dB" in text
