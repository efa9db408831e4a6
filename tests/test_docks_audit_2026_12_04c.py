"""Audit of the Fine-tune dock, the Compare & QC dock and "PSF from beads..." as a biologist
uses them (2026-12-04, third pass): a bead cut by the image border, layers in other intensity
units, a second Start while a run is queued, a layer removed during a run, a bead image with a
pixel size. Driven in a real viewer under Xvfb with a tiny GRAN and runs of a few steps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from test_beads import bead_image, gaussian
from test_widget_finetune import finetune_dock, tiny_session_model  # noqa: F401 - fixture
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
    snapshot,
    wait_idle,
)

from napari_microdeblur.core import pairs, plane_metrics
from napari_microdeblur.core.beads import psf_from_beads

pytestmark = pytest.mark.usefixtures("tiny_session_model")  # the Fine-tune dock's base model


def beads_with_one_cut_by_the_border(shape=(128, 128)):
    """Two isolated beads and a brighter one whose peak sits on the top row."""
    clean = np.full(shape, 100.0)
    for centre, amplitude in (((1, 60), 20000), ((60, 60), 4000), ((90, 90), 4000)):
        clean += amplitude * gaussian(shape, centre, (1.5, 1.5))
    return np.random.default_rng(0).poisson(clean).astype(np.uint16)


# ----------------------------------------------------------------------------- PSF from beads

def test_a_bead_cut_by_the_border_does_not_refuse_the_others():
    # was: the cut bead never fell to half maximum, the radius became 85 px and every bead
    # was refused as "near the border"
    psf, report = psf_from_beads(beads_with_one_cut_by_the_border())
    assert report.used == 2 and report.rejected["near the border"] == 1
    assert report.radius == (11, 11)  # 2.5 FWHM of sigma 1.5
    assert report.fwhm == pytest.approx((3.53, 3.53), rel=0.03)


def test_psf_from_beads_in_the_dock_with_a_bead_on_the_border(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    w = dock(viewer, "Deblur")
    beads = viewer.add_image(beads_with_one_cut_by_the_border(), name="beads")
    w.psf_from_beads(beads)
    wait_idle(qtbot, w)
    assert "PSF from beads" in viewer.layers
    assert "2 of 3 beads averaged" in w.status_label.text()


def test_the_psf_layer_keeps_the_bead_pixel_size(make_napari_viewer, qtbot):
    # was: the PSF layer had scale 1, so next to images in micrometres it looked 15x too big
    viewer = make_napari_viewer()
    w = dock(viewer, "Deblur")
    beads = viewer.add_image(bead_image((128, 128), (1.5, 1.5))[0], name="beads",
                             scale=(0.065, 0.065), translate=(5.0, 7.0))
    w.psf_from_beads(beads)
    wait_idle(qtbot, w)
    np.testing.assert_allclose(viewer.layers["PSF from beads"].scale, (0.065, 0.065))
    assert tuple(beads.scale) == (0.065, 0.065)  # the bead layer is untouched


# ----------------------------------------------------------------------------- Compare & QC

def test_unit_mismatch_flags_planes_far_from_the_truths_mean():
    truth = np.random.default_rng(0).random((32, 32))
    assert plane_metrics.unit_mismatch({"truth": truth, "blurry": truth * 1.5,
                                        "deblurred": truth}) == {}
    found = plane_metrics.unit_mismatch({"truth": truth, "blurry": truth / 257})
    assert list(found) == ["blurry"] and found["blurry"] == pytest.approx(1 / 257)


def test_compare_says_when_layers_are_in_other_intensity_units(make_napari_viewer, qtbot):
    # was: a uint8 blurry and a 0-1 float deblurred scored against a uint16 truth showed
    # PSNR 4.9 dB and SSIM 0.0002, silently
    viewer = make_napari_viewer()
    truth = (np.random.default_rng(0).random((64, 64)) * 60000).astype(np.uint16)
    b = viewer.add_image((truth / 257).astype(np.uint8), name="blurry")
    d = viewer.add_image(truth.astype(np.float32) / 65535, name="deblurred")
    g = viewer.add_image(truth, name="truth")
    # copies of the truth in its units (one layer in several roles is refused)
    b_same = viewer.add_image(truth.copy(), name="blurry, same units")
    d_same = viewer.add_image(truth.copy(), name="deblurred, same units")
    before = snapshot(viewer)
    w = dock(viewer, "Compare & QC")
    with qtbot.waitSignal(w.table_updated, timeout=TIMEOUT):
        w.set_layers(b, d, g)
    message = w.message_label.text()
    assert "blurry layer is" in message and "deblurred layer is" in message
    assert "not the same intensity units" in message and "'truth'" in message
    assert "rescaled" in message
    # in the same units the line goes away
    with qtbot.waitSignal(w.table_updated, timeout=TIMEOUT):
        w.set_layers(blurry=b_same, deblurred=d_same)
    assert w.message_label.text() == ""
    wait_idle(qtbot, w)
    assert snapshot(viewer) == before


# ----------------------------------------------------------------------------- Fine-tune

def test_pairs_in_other_units_without_matching_are_refused(fluo_u8):
    blurry = ndimage.gaussian_filter(fluo_u8, 1.5)
    sharp16 = fluo_u8.astype(np.uint16) * 250
    # was: the target was 250x the input and the network was taught to rescale
    with pytest.raises(ValueError, match="not in the same units; tick 'match intensities'"):
        pairs.pairs_from_arrays(blurry, sharp16, align=False, match_intensity=False)
    # in the same units, or with matching, nothing changes
    assert pairs.pairs_from_arrays(blurry, fluo_u8, align=False, match_intensity=False)
    assert pairs.pairs_from_arrays(blurry, sharp16, align=False, match_intensity=True)


def pair_dock(viewer, blurry, sharp, steps=3):
    w = finetune_dock(viewer, 0, blurry, steps=steps)
    w.sharp_combo.set_value(sharp)
    w.minutes_spin.setValue(0)
    return w


def test_finetune_without_matching_on_other_units_fails_in_one_line(
        make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    sharp = viewer.add_image(fluo_u8.astype(np.uint16) * 250, name="sharp")
    blurry = viewer.add_image(ndimage.gaussian_filter(fluo_u8, 1.5), name="blurry")
    w = pair_dock(viewer, blurry, sharp)
    w.match_check.setChecked(False)
    w.start()
    wait_idle(qtbot, w)
    assert w.outcome is None
    assert "not in the same units; tick 'match intensities'" in w.status_label.text()


def test_a_second_start_while_the_first_is_queued_starts_nothing(
        make_napari_viewer, qtbot, fluo_u8):
    from napari_microdeblur._widgets._methods import SESSION_MODELS

    viewer = make_napari_viewer()
    sharp = viewer.add_image(fluo_u8, name="sharp")
    blurry = viewer.add_image(ndimage.gaussian_filter(fluo_u8, 1.5), name="blurry")
    w = pair_dock(viewer, blurry, sharp)
    # the run waits in Qt's thread pool (one thread, held by a gate) as on a busy machine
    import threading

    from napari.qt.threading import create_worker
    from qtpy.QtCore import QThreadPool

    pool, gate = QThreadPool.globalInstance(), threading.Event()
    threads = pool.maxThreadCount()
    pool.setMaxThreadCount(1)
    try:
        blocker = create_worker(gate.wait, 30, _start_thread=True)
        qtbot.waitUntil(lambda: blocker.is_running, timeout=TIMEOUT)
        first = w.start()
        assert not first.is_running
        assert w.start() is None  # was: a second run, and a second method '... (2)'
        assert w.worker is first
    finally:
        gate.set()
        pool.setMaxThreadCount(threads)
    wait_idle(qtbot, w)
    tuned = [name for name in SESSION_MODELS.labels() if "fine-tuned on blurry" in name]
    assert tuned == ["tiny_gran fine-tuned on blurry"]


def test_a_layer_removed_during_the_run_is_named_when_compare_is_not_filled(
        make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    sharp = viewer.add_image(fluo_u8, name="sharp")
    blurry = viewer.add_image(ndimage.gaussian_filter(fluo_u8, 1.5), name="blurry")
    w = pair_dock(viewer, blurry, sharp)
    w.start()
    viewer.layers.remove(sharp)
    wait_idle(qtbot, w)
    assert w.outcome is not None and w.outcome.model is not None  # the run itself is kept
    status = w.status_label.text()
    assert "Compare & QC not filled: layer 'sharp' was removed during the run." in status
    assert [la.name for la in viewer.layers] == ["blurry"]  # no comparison layers
