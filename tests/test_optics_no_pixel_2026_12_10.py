"""An optics PSF on a layer without a pixel size, and the samples' units (new-user walkthrough
of 2026-12-10). The README's `widefield:na=1.4,wavelength=0.52` on a bundled sample at scale 1
was refused with the core's "lacks pixel; accepted: '...pixel=0.065'", which read as the value
to use and never said the layer states no pixel size: the dock now says so under the PSF box.
The H&E sample opened in um beside the other samples' napari default unit, and napari warned
"Inconsistent units across layers" for every layer added; its scale, which is RGB, also never
reached the optics PSF (the dock's axes YXS against napari's two scale values)."""

from __future__ import annotations

import numpy as np

from napari_microdeblur._widgets._psf_sources import psf_scale_note

PLUGIN = "napari-microdeblur"
OPTICS = "widefield:na=1.4,wavelength=0.52"  # the README's quick-start text
SAMPLE_KEYS = ("nuclei_pair", "em_pair", "fluo_stack_pair", "histology_pair")
NUCLEI = "nuclei blurred (protocol A)"
HE = "H&E blurred (protocol A)"


def deblur_dock(viewer, layer_name):
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.use_psf_check.setChecked(True)
    w.layer_combo.set_value(viewer.layers[layer_name])
    return w


def test_an_optics_psf_on_a_sample_at_scale_1_says_the_layer_states_no_pixel_size(
        make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei_pair")
    w = deblur_dock(viewer, NUCLEI)
    w.psf_edit.setText(OPTICS)
    hint = w.psf_prefill.hint
    assert w.psf_edit.text() == OPTICS  # nothing to fill it from
    # was: no line said that the layer has no pixel size, only "accepted: ...pixel=0.065"
    assert hint.isVisibleTo(w), hint.text()
    line = hint.text()
    assert f"layer {NUCLEI!r} states no pixel size (scale 1)" in line
    assert "add pixel= (um per pixel)" in line and "layer.scale" in line
    assert "0.065" not in line and "\n" not in line
    assert w.psf_prefill.missing_pixel() == line  # what Run can say too

    # once the layer has a scale, the prefill fills pixel= and the line is gone
    viewer.layers[NUCLEI].scale = (0.1, 0.1)
    assert w.psf_edit.text() == f"{OPTICS},pixel=0.1"
    assert "states no pixel size" not in hint.text()
    assert w.psf_prefill.missing_pixel() == ""


def test_a_scale_that_gives_no_pixel_size_is_said_as_it_is(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.float32), name="uneven", scale=(0.1, 0.3))
    w = deblur_dock(viewer, "uneven")
    w.psf_edit.setText(OPTICS)
    line = w.psf_prefill.hint.text()
    assert "states Y 0.1 and X 0.3 um, no pixel size (unequal" in line, line


def test_samples_share_napari_default_units_so_adding_a_layer_raises_no_units_warning(
        make_napari_viewer):
    """napari warns "Inconsistent units across layers" where ``layers.extent.units`` is None
    (napari/_vispy/canvas.py ``_update_world_units``): the H&E sample's 'um' beside the
    others' 'pixel' made it None."""
    viewer = make_napari_viewer()
    for key in SAMPLE_KEYS:
        viewer.open_sample(PLUGIN, key)
    viewer.add_image(np.zeros((16, 16), np.uint8), name="dragged in")
    assert viewer.layers.extent.units is not None  # was: None
    he = viewer.layers[HE]
    assert tuple(he.scale) == (0.495, 0.495)  # the tile set's stated size is kept


def test_the_he_samples_pixel_size_reaches_an_optics_psf(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "histology_pair")
    w = deblur_dock(viewer, HE)
    assert w.axes_edit.text() == "YXS"
    w.psf_edit.setText(OPTICS)
    assert w.psf_edit.text() == f"{OPTICS},pixel=0.495"  # was: left without pixel=
    assert w.psf_prefill.hint.text() == f"pixel=0.495 from layer {HE!r} scale"
    # and Run's check compares an RGB layer's pixels with the PSF's (it compared none)
    note = psf_scale_note(viewer, f"{OPTICS},pixel=0.2", viewer.layers[HE], "YXS")
    assert note is not None and "0.495" in note, note


def test_run_says_the_layer_states_no_pixel_size_not_the_example_value(make_napari_viewer,
                                                                        qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei_pair")
    w = deblur_dock(viewer, NUCLEI)
    w.psf_edit.setText(OPTICS)
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=20000)
    assert w.run() is None  # refused before anything starts
    status = w.status_label.text()
    # was: the core's "lacks pixel; accepted: '...pixel=0.065'"
    assert f"layer {NUCLEI!r} states no pixel size (scale 1)" in status, status
    assert "0.065" not in status and len(viewer.layers) == 2
