"""A new user's first steps in the docks (review 2026-12-05, napari 0.9, 1920 x 1080 screen):

- the docks scroll (``_dock_scroll``): Deblur + Fine-tune made the main window 1733 px tall at
  least, the four docks 2943 px, with the bottom controls and notifications off screen;
- after File > Open Sample > the nuclei pair, Deblur's Image is the blurred layer (it was the
  ground truth, the layer selected last), Fine-tune's Blurry and Sharp are the blurred and the
  sharp layer (both were the ground truth), and its base model is the default for the image
  type (it was the EM network for a fluorescence sample);
- the PSF box's pixel= follows the chosen layer's file, also when it changed while the box had
  the focus or while the header was read, and a pixel= off the layer's is said before the run
  and in the dock's status line when it runs.

Driven in a real viewer under Xvfb."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import tifffile

from napari_microdeblur._widgets import _deblur
from napari_microdeblur.core import tiff_header

PLUGIN = "napari-microdeblur"
DOCKS = ("Deblur", "Fine-tune", "Compare & QC", "Focus QC")
BLURRED, SHARP = "nuclei blurred (protocol A)", "nuclei sharp (ground truth)"
MODEL = "widefield:na=1.4,wavelength=0.52"
SCREEN_HEIGHT = 1080


def values(text):
    return dict(item.split("=") for item in text.partition(":")[2].split(","))


# ----------------------------------------------------------------------------- dock heights

def test_all_docks_together_fit_a_1080_px_screen(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "nuclei_pair")
    for name in DOCKS:
        dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
        assert dock.minimumSizeHint().height() < 300, name
    window = viewer.window._qt_window
    qtbot.wait(50)
    assert window.minimumSizeHint().height() < SCREEN_HEIGHT - 80  # room for a title bar
    window.resize(1920, SCREEN_HEIGHT)
    qtbot.waitUntil(lambda: window.height() <= SCREEN_HEIGHT, timeout=5_000)


def test_a_dock_scrolls_its_content_without_a_sideways_scroll_bar(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "nuclei_pair")
    viewer.window._qt_window.resize(1920, SCREEN_HEIGHT)
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.use_psf_check.setChecked(True)
    w.psf_edit.setText(MODEL)  # the sample states no pixel size: the long error shows
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=30_000)
    assert "lacks pixel" in w.psf_preview.caption.text()
    area = w.scroll_area
    assert area.widgetResizable()
    # the layout settles after a few events (0.15-0.17 s under load)
    qtbot.waitUntil(lambda: not area.horizontalScrollBar().isVisible(), timeout=5_000)
    caption = w.psf_preview.caption  # wrapped whole: as tall as its text needs at its width
    assert caption.wordWrap()
    card = w.card_label
    qtbot.waitUntil(lambda: caption.height() >= caption.heightForWidth(caption.width())
                    and card.height() >= card.heightForWidth(card.width()), timeout=5_000)


# ----------------------------------------------------------------------------- default layers

def test_the_sample_pair_opens_on_the_blurred_layer_and_the_sharp_reference(
        make_napari_viewer):
    from napari_microdeblur.core.bundled import default_for_modality

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei_pair")
    assert viewer.layers.selection.active.name == BLURRED  # napari selects the last added
    _, deblur = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    _, focus = viewer.window.add_plugin_dock_widget(PLUGIN, "Focus QC")
    _, tune = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    assert deblur.layer_combo.value.name == BLURRED
    assert focus.layer_combo.value.name == BLURRED
    assert (tune.blurry_combo.value.name, tune.sharp_combo.value.name) == (BLURRED, SHARP)
    assert tune.base.name == default_for_modality("auto", False)  # grayscale: fluorescence
    assert tune.base.name != "gran.em_v1"


def test_docks_opened_before_the_sample_take_its_layers_apart(make_napari_viewer):
    viewer = make_napari_viewer()
    _, deblur = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    _, tune = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    viewer.open_sample(PLUGIN, "nuclei_pair")
    assert deblur.layer_combo.value.name == BLURRED
    assert (tune.blurry_combo.value.name, tune.sharp_combo.value.name) == (BLURRED, SHARP)


def test_two_layers_named_alike_are_not_both_blurry_and_sharp(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.float32), name="cells 1")
    viewer.add_image(np.zeros((32, 32), np.float32), name="cells 2")
    _, tune = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    assert tune.blurry_combo.value.name == "cells 2"  # the selected layer, as before
    assert tune.sharp_combo.value.name == "cells 1"


def test_a_layer_the_user_chose_is_kept(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei_pair")
    _, deblur = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    _, tune = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    sharp = viewer.layers[SHARP]
    deblur.layer_combo.set_value(sharp)  # deblurring the reference on purpose
    tune.set_base("gran.em_v1")
    viewer.add_image(np.zeros((32, 32), np.float32), name="more blurred input")
    assert deblur.layer_combo.value is sharp
    tune.blurry_combo.set_value(viewer.layers["more blurred input"])
    assert tune.base.name == "gran.em_v1"


def test_the_base_model_follows_the_image_type_of_the_blurry_layer(make_napari_viewer):
    from napari_microdeblur.core.bundled import default_for_modality

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "histology_pair")  # RGB: brightfield
    _, tune = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    assert tune.blurry_combo.value.name == "H&E blurred (protocol A)"
    assert tune.base.name == default_for_modality("brightfield", True)
    em = viewer.add_image(np.zeros((32, 32), np.uint8), name="em blurred",
                          metadata={"modality": "em"})  # a layer's metadata may say it
    tune.blurry_combo.setCurrentIndex(tune.blurry_combo.findText(em.name))
    assert tune.base.name == default_for_modality("em", False)


# ----------------------------------------------------------------------------- PSF pixel size

SIZES = {"za.tif": 0.1, "zc.tif": 0.5119, "zd.tif": 0.2271}


@pytest.fixture
def three_files(make_napari_viewer, tmp_path):
    """Three TIFFs, each stating its pixel size (ImageJ resolution, OME PhysicalSizeX), opened
    by napari's reader (scale 1), and a Deblur dock with an optics PSF on the first."""
    rng = np.random.default_rng(0)
    for name, pixel in SIZES.items():
        data = rng.integers(0, 255, (48, 48), dtype=np.uint8)
        if name == "zc.tif":
            tifffile.imwrite(tmp_path / name, data, ome=True, metadata={
                "axes": "YX", "PhysicalSizeX": pixel, "PhysicalSizeY": pixel})
        else:
            tifffile.imwrite(tmp_path / name, data, imagej=True,
                             resolution=(1 / pixel, 1 / pixel),
                             metadata={"axes": "YX", "unit": "um"})
    viewer = make_napari_viewer()
    layers = [viewer.open(str(tmp_path / name), plugin="napari")[0] for name in SIZES]
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.set_method("wiener")
    w.layer_combo.set_value(layers[0])
    w.psf_edit.setText(MODEL)
    assert values(w.psf_edit.text())["pixel"] == "0.1"
    return viewer, w, layers


def test_a_layer_chosen_while_the_psf_box_has_the_focus_runs_with_its_pixel(
        three_files, monkeypatch, qtbot):
    viewer, w, (za, zc, zd) = three_files
    w.layer_combo.set_value(zc)
    assert values(w.psf_edit.text())["pixel"] == "0.5119"
    monkeypatch.setattr(w.psf_edit, "hasFocus", lambda: True)  # the user is in the box
    w.layer_combo.set_value(zd)
    assert values(w.psf_edit.text())["pixel"] == "0.5119"  # nothing under the cursor yet
    note = w.psf_prefill.scale_note.text()
    assert "pixel=0.5119 is from file zc.tif, not file zd.tif (0.2271 um)" in note
    warned = []
    monkeypatch.setattr(_deblur, "notify_warning", warned.append)
    run = w.run()  # Run ends the editing: the chosen layer's pixel size
    assert run is not None and values(run.req.psf_text)["pixel"] == "0.2271"
    assert warned == [] and "Warning" not in w.status_label.text()
    qtbot.waitUntil(lambda: run.done, timeout=60_000)


@pytest.fixture
def slow_headers(monkeypatch):
    read = tiff_header.read_tiff_header

    def slow_read(path, *args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            time.sleep(1.0)  # a long OME-XML, in the worker
        return read(path, *args, **kwargs)

    monkeypatch.setattr(tiff_header, "read_tiff_header", slow_read)


def test_run_before_the_header_arrives_takes_the_chosen_layer_s_pixel(
        three_files, slow_headers, qtbot, tmp_path):
    from napari_microdeblur._widgets._layer_file import file_key_of, header_read

    viewer, w, (za, zc, zd) = three_files
    w.layer_combo.set_value(zc)
    qtbot.waitUntil(lambda: values(w.psf_edit.text())["pixel"] == "0.5119", timeout=10_000)
    tifffile.imwrite(tmp_path / "ze.tif", np.zeros((48, 48), np.uint8), imagej=True,
                     resolution=(1 / 0.2271, 1 / 0.2271), metadata={"axes": "YX", "unit": "um"})
    ze = viewer.open(str(tmp_path / "ze.tif"), plugin="napari")[0]
    assert not header_read(file_key_of(ze))  # read when first chosen
    w.layer_combo.set_value(ze)  # in a worker, slowly
    assert values(w.psf_edit.text())["pixel"] == "0.5119"  # the header is on its way
    run = w.run()
    assert run is not None and values(run.req.psf_text)["pixel"] == "0.2271"
    assert w.psf_prefill.hint.text() == "pixel=0.2271 from file ze.tif"
    qtbot.waitUntil(lambda: run.done, timeout=60_000)


def test_a_typed_pixel_off_the_layer_s_is_said_before_and_in_the_run_status(
        three_files, monkeypatch, qtbot):
    viewer, w, (za, zc, zd) = three_files
    w.layer_combo.set_value(zd)
    w.psf_edit.setText(f"{MODEL},pixel=0.3")  # the user's value: kept
    w.layer_combo.set_value(zd)
    assert values(w.psf_edit.text())["pixel"] == "0.3"
    assert w.psf_prefill.scale_note.text() == (
        "pixel=0.3 differs from file zd.tif (0.2271 um): give pixel=0.2271 unless yours is "
        "right (a PSF at another scale deblurs wrongly)")
    monkeypatch.setattr(_deblur, "notify_warning", lambda note: None)
    run = w.run()
    assert run is not None
    status = w.status_label.text()
    assert "Warning:" in status and "give pixel=0.2271" in status
    qtbot.waitUntil(lambda: run.done, timeout=60_000)
    assert "give pixel=0.2271" in w.status_label.text()  # kept once it finished
    w.psf_edit.setText(f"{MODEL},pixel=0.23")  # within 5 %: nothing to say
    assert not w.psf_prefill.scale_note.text() and not w.psf_prefill.scale_note.isVisible()
