"""The Deblur and Focus QC docks at 1366 x 768 (driven in a real viewer under Xvfb): the PSF box
starts empty and says what empty means, an empty box where a PSF is required is refused before
the run, the model card is folded so that Run and its status line are in view, four docks fit
a 768-px screen, greyed PSF controls say why, and Focus below says 'auto' at 0."""

from __future__ import annotations

import numpy as np
import pytest

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms
DOCKS = ("Deblur", "Compare & QC", "Fine-tune", "Focus QC")


def image(shape=(96, 96), seed=0):
    return (np.random.default_rng(seed).random(shape) * 200).astype(np.float32)


def open_dock(viewer, data, dock="Deblur"):
    layer = viewer.add_image(data, name="cells")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, dock)
    widget.layer_combo.set_value(layer)
    return layer, widget


def wait_preview(qtbot, w):
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)


def test_deblur_psf_box_starts_empty_and_an_empty_required_psf_is_refused(
        make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer, w = open_dock(viewer, image())
    assert w.psf_edit.text() == ""
    w.set_modality("fluorescence")
    w.use_psf_check.setChecked(True)
    wait_preview(qtbot, w)
    assert w.psf_edit.placeholderText().startswith("required: e.g. gaussian:1.6")
    assert "PSF box is empty" in w.psf_preview.error  # the preview says so before Run
    assert "nothing until the PSF is fixed" in w.method.auto_label.text()
    before = layer.data.copy()
    assert w.run() is None
    status = w.status_label.text()
    assert "PSF box is empty" in status and "untick Use a PSF" in status
    assert "\n" not in status
    assert [la.name for la in viewer.layers] == ["cells"]
    np.testing.assert_array_equal(layer.data, before)
    # a classical method names itself; what the user types is kept across methods and layers
    w.set_method("wiener")
    assert w.run() is None and "wiener needs a PSF" in w.status_label.text()
    w.psf_edit.setText("gaussian:2")
    w.set_method("richardson_lucy")
    viewer.add_image(image(seed=1), name="other")
    w.layer_combo.set_value(viewer.layers["other"])
    assert w.psf_edit.text() == "gaussian:2"
    wait_preview(qtbot, w)
    assert w.psf_preview.error is None
    assert w.method.spec().psf == "gaussian:2"


def test_deblur_empty_psf_on_em_is_the_estimate_it_says(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, w = open_dock(viewer, image())
    w.set_modality("em")
    w.use_psf_check.setChecked(True)
    wait_preview(qtbot, w)
    assert w.psf_edit.placeholderText().startswith("empty: estimated from the image")
    assert w.method.psf_missing() == "" and w.method.spec().psf is None
    assert w.psf_preview.error is None


def test_greyed_psf_controls_say_to_tick_use_a_psf(make_napari_viewer):
    viewer = make_napari_viewer()
    _, w = open_dock(viewer, image())
    greyed = (w.psf_edit, w.psf_box.psf_browse, w.beads_button, w.estimate_button)
    assert not any(c.isEnabled() for c in greyed)
    assert all(c.toolTip().endswith("(tick Use a PSF first)") for c in greyed)
    w.use_psf_check.setChecked(True)
    assert all(c.isEnabled() and "tick Use a PSF" not in c.toolTip() for c in greyed)


def test_focus_qc_psf_box_starts_empty_and_focus_below_says_auto(make_napari_viewer):
    viewer = make_napari_viewer()
    _, w = open_dock(viewer, image(), dock="Focus QC")
    assert w.psf_edit.text() == ""
    assert w.threshold_spin.value() == 0 and w.threshold_spin.text() == "auto"
    w.threshold_spin.lineEdit().setText("2e-3")
    w.threshold_spin.interpretText()
    assert w.threshold_spin.value() == pytest.approx(0.002) and w.threshold_spin.text() == "0.002"
    w.threshold_spin.lineEdit().setText("auto")
    w.threshold_spin.interpretText()
    assert w.threshold_spin.value() == 0
    w.method.set_name("wiener")
    assert w.psf_edit.placeholderText().startswith("required:")
    with pytest.raises(ValueError, match="wiener needs a PSF: type one in the PSF box"):
        w.method.spec()
    w.psf_edit.setText("gaussian:1.2")
    assert w.method.spec().psf == "gaussian:1.2"


def below_view(w, widget) -> int:
    """How far (px) ``widget``'s bottom is below the visible part of the dock's scroll area."""
    view = w.scroll_area.viewport()
    return widget.mapTo(view, widget.rect().bottomLeft()).y() - view.height()


def wait(qtbot, ms=300):
    qtbot.wait(ms)


def test_deblur_run_and_status_in_view_at_1366_by_768(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(1366, 768)
    layer = viewer.add_image(image((256, 256)), name="cells")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    w.set_modality("fluorescence")
    window.resize(1366, 768)
    wait(qtbot)
    card = w.method.card_view
    # folded: one line; Details shows the summary and the whole card
    assert card.headline_label.isVisible() and "c2f_unet" in card.headline_label.text()
    assert not card.summary_label.isVisible() and not card.details_label.isVisible()
    assert "licence" in w.card_label.text()  # the summary is there, folded
    assert below_view(w, w.run_button) < 0 and below_view(w, w.status_label) <= 0
    w.details_button.click()
    assert card.summary_label.isVisible() and card.details_label.isVisible()


def test_four_docks_fit_a_768_px_screen(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    for name in DOCKS:
        viewer.window.add_plugin_dock_widget(PLUGIN, name)
    window.resize(1366, 768)
    wait(qtbot)
    assert window.minimumSizeHint().height() <= 768
