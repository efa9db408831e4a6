"""Compare & QC roles (2026-12-09 workshop walkthrough), in a real viewer under Xvfb.

(1) After the student deblurred the sample's SHARP layer (the active one), the dock took
'nuclei sharp (ground truth)' as Blurry and 'nuclei blurred (protocol A)' as Ground truth
and scored a gain of -1.32 dB without a word: a layer marked blurred (or a deblur input, or a
result) is never guessed as the ground truth while a sharp reference exists, and a line says
when the deblurred layer was made from the sharp reference.
(2) The dock never noticed layers added after it opened: opened before the deblur, Deblurred
stayed '(none)'; opened before the sample, every role stayed empty. Added layers now fill the
roles still empty, and a new result of the blurry layer becomes Deblurred (said in the roles
line) unless the user chose Deblurred by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms


def dock(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def roles(w) -> tuple:
    return (w.blurry_combo.value, w.deblurred_combo.value, w.truth_combo.value)


def pair(viewer):
    """The nuclei sample's (blurred, sharp) layers, whatever order the sample opens in."""
    viewer.open_sample(PLUGIN, "nuclei_pair")
    blurred = next(la for la in viewer.layers if "blurred" in la.name)
    sharp = next(la for la in viewer.layers if "sharp" in la.name)
    return blurred, sharp


def run_wiener(qtbot, deblur_dock, layer, balance=0.05):
    """A Wiener deblur of ``layer`` through the Deblur dock (the result records its input)."""
    deblur_dock.layer_combo.set_value(layer)
    deblur_dock.set_method("wiener")
    deblur_dock.psf_edit.setText("gaussian:1.6")
    deblur_dock.balance_spin.setValue(balance)
    run = deblur_dock.run()
    assert run is not None, deblur_dock.status_label.text()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.layer is not None
    return run.layer


def pick_by_hand(combo, layer) -> None:
    """What choosing ``layer`` in the combo's list does (Qt's ``activated`` signal)."""
    i = combo.findText(layer.name if layer is not None else combo.itemText(0))
    combo.setCurrentIndex(i)
    combo.activated.emit(i)


# ----------------------------------------------------------------------------- (1)


def test_a_deblurred_sharp_reference_keeps_the_reference_as_ground_truth(
        make_napari_viewer, qtbot):
    """The walkthrough's swap: the sharp layer deblurred, Compare opened after. The sharp
    reference stays the ground truth, the blurred layer is Blurry, the result is shown as
    Deblurred and one line says it was made from the sharp reference; the table scores the
    blurred layer against the sharp one (as ``evaluate`` does), not the other way round."""
    from napari_microdeblur.core.metrics import evaluate

    viewer = make_napari_viewer()
    blurred, sharp = pair(viewer)
    result = run_wiener(qtbot, dock(viewer, "Deblur"), sharp)
    w = dock(viewer, "Compare & QC")
    assert roles(w) == (blurred, result, sharp)
    line = w.roles_label.text()
    assert "made from the sharp reference 'nuclei sharp (ground truth)'" in line
    assert "deblurred sharp image" in line and repr(blurred.name) in line
    assert w.roles_label.isVisible() or not w.isVisible()
    qtbot.waitUntil(lambda: w.last_result is not None, timeout=TIMEOUT)
    ref = evaluate(blurred.data, sharp.data, border=16)
    assert w.last_result["psnr_blurry"] == pytest.approx(ref["psnr"], abs=1e-9)
    # a result of the blurry layer chosen instead: the line goes
    own = run_wiener(qtbot, dock(viewer, "Deblur"), blurred)
    pick_by_hand(w.deblurred_combo, own)
    assert roles(w) == (blurred, own, sharp)
    assert "sharp reference" not in w.roles_label.text()


def test_the_ground_truth_guess_follows_metadata_and_is_never_a_blurred_layer(
        make_napari_viewer, qtbot):
    """Roles by the layers' records: a 'role' in the metadata, a deblur result's input. A
    second deblur with no sharp reference in the viewer took the first result as the ground
    truth; a layer whose metadata says 'blurred' was taken as one when named neutrally."""
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    image = rng.random((64, 64)).astype(np.float32)
    cells = viewer.add_image(image, name="cells")
    d = dock(viewer, "Deblur")
    run_wiener(qtbot, d, cells)
    second = run_wiener(qtbot, d, cells, balance=0.1)
    w = dock(viewer, "Compare & QC")
    assert roles(w) == (cells, second, None)  # no layer fits as the ground truth
    viewer.window.remove_dock_widget(w)
    # marked by metadata, not by name: 'img b' is the blurred one, 'img a' the reference
    viewer.layers.clear()
    a = viewer.add_image(image, name="img a", metadata={"role": "ground truth"})
    b = viewer.add_image(image * 0.5, name="img b", metadata={"role": "blurred"})
    w2 = dock(viewer, "Compare & QC")
    assert (w2.blurry_combo.value, w2.truth_combo.value) == (b, a)


# ----------------------------------------------------------------------------- (2)


def test_roles_fill_as_layers_come_and_deblurred_follows_new_results(
        make_napari_viewer, qtbot):
    """Compare opened on an empty viewer: the sample fills Blurry and Ground truth, a deblur
    fills Deblurred, a second deblur of the blurry layer moves Deblurred to it (the roles
    line says so); a result of another layer does not; once the user picked Deblurred in the
    list, new results leave it; a role chosen by hand is never filled."""
    viewer = make_napari_viewer()
    w = dock(viewer, "Compare & QC")
    d = dock(viewer, "Deblur")
    assert roles(w) == (None, None, None)
    blurred, sharp = pair(viewer)
    qtbot.waitUntil(lambda: roles(w) == (blurred, None, sharp), timeout=TIMEOUT)
    assert [w.truth_combo.itemText(i) for i in range(w.truth_combo.count())][1:] == [
        la.name for la in viewer.layers]  # the lists follow the layers
    first = run_wiener(qtbot, d, blurred)
    qtbot.waitUntil(lambda: w.deblurred_combo.value == first, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: w.last_result is not None
                    and np.isfinite(w.last_result.get("psnr_deblurred", np.nan)),
                    timeout=TIMEOUT)
    second = run_wiener(qtbot, d, blurred, balance=0.1)
    qtbot.waitUntil(lambda: w.deblurred_combo.value == second, timeout=TIMEOUT)
    assert f"Deblurred is now {second.name!r}" in w.roles_label.text()
    other = run_wiener(qtbot, d, sharp)  # not a result of the blurry layer: not taken
    qtbot.wait(50)
    assert roles(w) == (blurred, second, sharp)
    pick_by_hand(w.deblurred_combo, first)
    assert "Deblurred is now" not in w.roles_label.text()
    run_wiener(qtbot, d, blurred, balance=0.2)
    qtbot.wait(50)
    assert roles(w) == (blurred, first, sharp)  # the user's pick stays
    assert other in viewer.layers


def test_a_role_chosen_by_hand_as_none_stays_empty(make_napari_viewer, qtbot):
    """The user set Ground truth to '(choose a ground truth)' in the list: a sample opened
    later fills Blurry, not Ground truth."""
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.float32), name="scratch")
    w = dock(viewer, "Compare & QC")
    pick_by_hand(w.truth_combo, None)
    blurred, _sharp = pair(viewer)
    qtbot.waitUntil(lambda: w.blurry_combo.value == blurred, timeout=TIMEOUT)
    qtbot.wait(50)
    assert w.truth_combo.value is None


def test_added_layers_never_fill_a_role_the_table_would_refuse(make_napari_viewer, qtbot):
    """Fine-tuning's comparison hands Compare its crops (64 x 64) with no ground truth; the
    sample's 256 x 256 sharp layer is not filled in beside them, and a result of another
    shape (a field-of-view crop of the blurry layer) does not become Deblurred."""
    viewer = make_napari_viewer()
    blurred, sharp = pair(viewer)
    w = dock(viewer, "Compare & QC")
    crop = np.asarray(blurred.data[:64, :64])
    base = viewer.add_image(crop, name="crop: [base]", metadata={"microdeblur": {}})
    tuned = viewer.add_image(crop, name="crop: [tuned]", metadata={"microdeblur": {}})
    w.set_layers(blurry=base, deblurred=tuned)
    w.truth_combo.setCurrentIndex(0)  # as _finetune_compare does: no reference
    qtbot.wait(100)
    assert roles(w) == (base, tuned, None)
    # back to the sample pair, Deblurred empty: a 64 x 64 'result' of the blurry layer
    viewer.window.remove_dock_widget(w)
    w2 = dock(viewer, "Compare & QC")
    w2.set_layers(blurry=blurred, truth=sharp)
    viewer.add_image(crop, name="nuclei fov deblurred [wiener]",
                     metadata={"microdeblur": {"source_layer": blurred.name}})
    qtbot.wait(100)
    assert roles(w2) == (blurred, None, sharp)


def test_renamed_sample_layers_keep_their_roles(make_napari_viewer, qtbot):
    """The samples mark their layers with metadata['sample_role'] (not 'role'): renamed,
    the reference was no longer found and the blurred layer stood as the ground truth."""
    viewer = make_napari_viewer()
    viewer.open_sample("napari-microdeblur", "nuclei_pair")
    truth, blurred = viewer.layers
    truth.name, blurred.name = "cells 1", "cells 2"
    w = dock(viewer, "Compare & QC")
    assert (w.blurry_combo.value, w.truth_combo.value) == (blurred, truth)
