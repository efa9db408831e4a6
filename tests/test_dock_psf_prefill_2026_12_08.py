"""An optics PSF model's pixel= and dz= in the Deblur dock's PSF box follow the image layer's
scale (``_psf_sources.PsfScalePrefill``): filled where the model lacks them, following another
layer, a scale of 1 (unknown) leaving the text as it is, a value the user typed kept, and the
run taking the filled value (no PSF-scale warning). Driven in a real viewer under Xvfb."""

from __future__ import annotations

import numpy as np
import pytest

from napari_microdeblur._widgets import _deblur

PLUGIN = "napari-microdeblur"
MODEL = "widefield:na=1.4,wavelength=0.52,size=9"
MODEL_3D = "widefield:na=1.4,wavelength=0.52,size=9,nz=5"


def attached(w):
    """The dock's prefill (its PSF box follows the image panel)."""
    assert w.psf_prefill is not None
    return w.psf_prefill


@pytest.fixture
def dock(make_napari_viewer):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    a = viewer.add_image(rng.random((3, 40, 40)).astype(np.float32), name="A",
                         scale=(1, 0.1, 0.1))
    b = viewer.add_image(rng.random((3, 40, 40)).astype(np.float32), name="B",
                         scale=(0.3, 0.065, 0.065))
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.set_method("richardson_lucy")
    w.layer_combo.set_value(a)
    prefill = attached(w)
    return viewer, w, prefill, a, b


def values(text):
    model = text.partition(":")[2]
    return dict(item.split("=") for item in model.split(","))


def test_pixel_comes_from_the_layer_scale_and_follows_another_layer(dock):
    viewer, w, prefill, a, b = dock
    w.psf_edit.setText(MODEL)
    assert values(w.psf_edit.text())["pixel"] == "0.1"
    assert "dz" not in values(w.psf_edit.text())  # A's Z at 1: unknown; a 2D model anyway
    assert prefill.hint.text() == "pixel=0.1 from layer 'A' scale"
    w.psf_edit.setText(MODEL_3D)
    assert values(w.psf_edit.text())["pixel"] == "0.1"
    w.layer_combo.set_value(b)
    got = values(w.psf_edit.text())
    assert (got["pixel"], got["dz"], got["na"]) == ("0.065", "0.3", "1.4")
    assert prefill.hint.text() == "pixel=0.065, dz=0.3 from layer 'B' scale"


def test_a_scale_of_1_leaves_the_text_as_it_is(dock):
    viewer, w, prefill, a, b = dock
    c = viewer.add_image(np.zeros((40, 40), np.float32), name="C")  # scale (1, 1)
    w.layer_combo.set_value(c)
    typed = "widefield:na=1.4,wavelength=0.52,pixel=0.065"
    w.psf_edit.setText(typed)
    assert w.psf_edit.text() == typed and not prefill.hint.text()
    w.psf_edit.setText(MODEL)  # nothing to fill it with: the model still lacks pixel=
    assert w.psf_edit.text() == MODEL


def test_a_value_the_user_typed_survives_a_layer_switch(dock, qtbot):
    viewer, w, prefill, a, b = dock
    w.psf_edit.setText(MODEL_3D)
    assert values(w.psf_edit.text())["pixel"] == "0.1"
    # the user types another pixel size over the filled one
    w.psf_edit.setText(w.psf_edit.text().replace("pixel=0.1", "pixel=0.08"))
    w.layer_combo.set_value(b)
    got = values(w.psf_edit.text())
    assert got["pixel"] == "0.08" and got["dz"] == "0.3"  # dz was not typed: filled
    assert prefill.hint.text() == "dz=0.3 from layer 'B' scale"
    w.layer_combo.set_value(a)  # A says nothing of Z: B's dz stays, and says where it is from
    assert values(w.psf_edit.text())["pixel"] == "0.08"
    assert prefill.hint.text() == "dz=0.3 from layer 'B' scale"


def test_the_run_builds_the_psf_at_the_filled_pixels_without_a_scale_warning(
        dock, qtbot, monkeypatch):
    viewer, w, prefill, a, b = dock
    warned = []
    monkeypatch.setattr(_deblur, "notify_warning", warned.append)
    w.psf_edit.setText("widefield:na=1.4,wavelength=0.52,size=9,pixel=0.1")  # as typed for A
    w.layer_combo.set_value(b)
    assert values(w.psf_edit.text())["pixel"] == "0.1"  # typed: kept
    w.psf_edit.setText(MODEL)
    w.layer_combo.set_value(b)
    w.axes_edit.setText("ZYX")
    w.iterations_spin.setValue(2)
    w.device_combo.setCurrentText("cpu")
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=60_000)
    req = w.build_request()
    assert "pixel=0.065" in req.method.psf
    run = w.run()
    assert run is not None
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=60_000)
    assert warned == []
    # the old way, a pixel size typed for another layer, is warned about (the check is live)
    w.psf_edit.setText("widefield:na=1.4,wavelength=0.52,size=9,pixel=0.1")
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=60_000)
    assert w.run() is not None
    qtbot.waitUntil(lambda: w.last_run.done, timeout=60_000)
    assert warned and "pixel=0.065" in warned[0]


def test_each_channel_s_optics_model_is_filled_and_other_sources_are_left_alone():
    from napari_microdeblur._widgets._psf_sources import with_sampling

    text = ("widefield:na=1.4,wavelength=0.46,nz=5;gaussian:1.6;"
            "confocal:na=1.4,wavelength=0.61,pixel=0.2")
    got = with_sampling(text, {"pixel": "0.065", "dz": "0.3"}, {})
    assert got == ("widefield:na=1.4,wavelength=0.46,nz=5,pixel=0.065,dz=0.3;gaussian:1.6;"
                   "confocal:na=1.4,wavelength=0.61,pixel=0.2")  # 2D confocal: no dz
    # a model still being typed is not touched
    assert with_sampling("widefield:na=1.4,wav", {"pixel": "0.1"}, {}) == "widefield:na=1.4,wav"


def test_the_fine_tune_psf_panel_follows_the_blurry_layer(make_napari_viewer):
    viewer = make_napari_viewer()
    a = viewer.add_image(np.zeros((40, 40), np.float32), name="A", scale=(0.1, 0.1))
    b = viewer.add_image(np.zeros((40, 40), np.float32), name="B", scale=(0.065, 0.065))
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    w.mode_combo.setCurrentIndex(2)  # adapt to this image
    w.self_page.layer_combo.set_value(a)
    combo = w.self_page.layer_combo
    panel = w.psf_panel
    assert panel.prefill is not None  # the dock follows its source layer
    panel.psf_edit.setText(MODEL)
    assert values(panel.psf_edit.text())["pixel"] == "0.1"
    combo.set_value(b)
    assert values(panel.psf_edit.text())["pixel"] == "0.065"
    assert panel.prefill.hint.text() == "pixel=0.065 from layer 'B' scale"


# ----------------------------------------------------------------------------- audit 2026-12-09

def typing_in(edit, monkeypatch, focused=True):
    """The user is in the PSF box (Xvfb gives a hidden window no real focus)."""
    monkeypatch.setattr(edit, "hasFocus", lambda: focused)


def test_a_layer_change_while_the_user_types_waits_for_the_end_of_the_editing(
        dock, monkeypatch):
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    viewer, w, prefill, a, b = dock
    c = viewer.add_image(np.zeros((3, 40, 40), np.float32), name="C", scale=(1, 0.2, 0.2))
    w.psf_edit.setText("")
    typing_in(w.psf_edit, monkeypatch)
    QTest.keyClicks(w.psf_edit, "widefield:na=1")
    viewer.layers.remove(a)  # the chosen layer goes while the user types
    assert w.layer_combo.value is not a
    assert w.psf_edit.text() == "widefield:na=1"  # nothing put under the cursor
    w.layer_combo.set_value(c)
    QTest.keyClicks(w.psf_edit, ".4,wavelength=0.52")
    assert w.psf_edit.text() == "widefield:na=1.4,wavelength=0.52"
    QTest.keyClick(w.psf_edit, Qt.Key_Return)  # editing ends: filled now
    assert w.psf_edit.text() == "widefield:na=1.4,wavelength=0.52,pixel=0.2"
    assert prefill.hint.text() == "pixel=0.2 from layer 'C' scale"


def test_a_pending_update_is_made_when_the_box_loses_focus_without_an_edit(dock, monkeypatch):
    from qtpy.QtCore import QEvent, Qt
    from qtpy.QtGui import QFocusEvent
    from qtpy.QtTest import QTest
    from qtpy.QtWidgets import QApplication

    viewer, w, prefill, a, b = dock
    w.psf_edit.setText(MODEL)
    typing_in(w.psf_edit, monkeypatch)  # the user is in the box and pressed Enter
    QTest.keyClick(w.psf_edit, Qt.Key_Return)  # Qt 6: no editingFinished on focus loss now
    w.layer_combo.set_value(b)
    assert values(w.psf_edit.text())["pixel"] == "0.1"
    typing_in(w.psf_edit, monkeypatch, focused=False)
    QApplication.sendEvent(w.psf_edit, QFocusEvent(QEvent.FocusOut, Qt.MouseFocusReason))
    assert values(w.psf_edit.text())["pixel"] == "0.065"


def test_pixel_follows_the_layer_s_scale_and_units_set_after_it_was_chosen(dock):
    viewer, w, prefill, a, b = dock
    w.psf_edit.setText(MODEL)
    assert values(w.psf_edit.text())["pixel"] == "0.1"
    a.scale = (1, 0.065, 0.065)  # the console, or a reader plugin after opening
    assert values(w.psf_edit.text())["pixel"] == "0.065"
    assert prefill.hint.text() == "pixel=0.065 from layer 'A' scale"
    a.scale = (1, 80, 80)  # no pixel in um: the filled value stays
    assert values(w.psf_edit.text())["pixel"] == "0.065"
    a.units = ("nm", "nm", "nm")  # 80 nm
    assert values(w.psf_edit.text())["pixel"] == "0.08"
    assert prefill.hint.text() == "pixel=0.08 from layer 'A' scale"


def prefills_following(layer):
    """The PsfScalePrefill objects connected to ``layer``'s scale and units events."""
    from napari_microdeblur._widgets._psf_sources import PsfScalePrefill

    found = []
    for emitter in (layer.events.scale, layer.events.units):
        for cb in emitter.callbacks:
            obj = cb[0]() if isinstance(cb, tuple) and callable(cb[0]) else (
                cb[0] if isinstance(cb, tuple) else getattr(cb, "__self__", None))
            if isinstance(obj, PsfScalePrefill):
                found.append(obj)
    return found


def test_the_prefill_lets_go_of_a_layer_it_no_longer_follows_and_when_the_dock_closes(dock):
    viewer, w, prefill, a, b = dock
    assert prefills_following(a) == [prefill, prefill]
    w.layer_combo.set_value(b)
    assert prefills_following(a) == [] and prefills_following(b) == [prefill, prefill]
    w.psf_edit.setText(MODEL)
    viewer.window.remove_dock_widget(w)  # the layer lives on
    assert prefills_following(b) == []
    b.scale = (0.3, 0.1, 0.1)
    assert values(w.psf_edit.text())["pixel"] == "0.065"  # the closed dock is left alone


def test_the_fine_tune_panel_lets_go_when_its_dock_closes(make_napari_viewer):
    viewer = make_napari_viewer()
    a = viewer.add_image(np.zeros((40, 40), np.float32), name="A", scale=(0.1, 0.1))
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    w.mode_combo.setCurrentIndex(2)  # adapt to this image
    w.self_page.layer_combo.set_value(a)
    w.psf_panel.psf_edit.setText(MODEL)
    a.scale = (0.065, 0.065)
    assert values(w.psf_panel.psf_edit.text())["pixel"] == "0.065"
    assert prefills_following(a)
    viewer.window.remove_dock_widget(w)
    assert prefills_following(a) == []
