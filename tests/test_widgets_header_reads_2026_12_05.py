"""A layer's file header is read in a worker, not on napari's GUI thread (``_header_reads``): a
TIFF with tens of MB of OME-XML froze the viewer for seconds the first time its layer was
chosen in a dock. Until the header arrives the dock shows the shape's axes and the layer's
scale; then the file's axes and pixel sizes, unless another layer was chosen meanwhile (the
stale answer is dropped) or the user typed other axes (kept). A long OME-XML, which tifffile
parses in one call holding the GIL (a worker thread stalled the GUI as much), is parsed by a
helper process."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import tifffile
from _slow_header import SLOW_S
from test_ome_large_xml_2026_12_09 import _ome_xml

from napari_microdeblur.core.axes import guess_axes

PLUGIN = "napari-microdeblur"
MODEL = "widefield:na=1.4,wavelength=0.52,size=9"


def values(text):
    return dict(item.split("=") for item in text.partition(":")[2].split(","))


def imagej_zcyx(path):
    """3 planes of 2 channels, ImageJ order ZCYX (the shape says CZYX), 0.1 um pixels."""
    data = np.zeros((3, 2, 24, 24), np.float32)
    tifffile.imwrite(path, data, imagej=True, resolution=(10.0, 10.0),
                     metadata={"axes": "ZCYX", "unit": "um", "spacing": 0.4})
    return path




@pytest.fixture
def deblur(make_napari_viewer, tmp_path):
    """A Deblur dock on layer 'other' (no file), with cells.tif opened by napari's reader (scale
    1: its axes and pixel size come from its file only)."""
    viewer = make_napari_viewer()
    layer = viewer.open(str(imagej_zcyx(tmp_path / "cells.tif")), plugin="napari")[0]
    other = viewer.add_image(np.zeros((4, 24, 24), np.float32), name="other")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.set_method("richardson_lucy")
    w.layer_combo.set_value(other)
    w.psf_edit.setText(MODEL)
    assert "pixel" not in values(w.psf_edit.text())
    return viewer, w, layer, other


def test_choosing_a_layer_does_not_wait_for_its_file_header(deblur, slow_reads, qtbot):
    viewer, w, layer, other = deblur
    start = time.perf_counter()
    w.layer_combo.set_value(layer)
    blocked = time.perf_counter() - start
    assert blocked < SLOW_S / 4, f"the GUI thread waited {blocked:.2f} s for the header"
    assert w.axes_edit.text() == guess_axes(layer.data.shape) == "CZYX"  # the shape's, meanwhile
    qtbot.waitUntil(lambda: w.axes_edit.text() == "ZCYX", timeout=4 * SLOW_S * 1000)
    qtbot.waitUntil(lambda: values(w.psf_edit.text()).get("pixel") == "0.1", timeout=5_000)
    assert w.psf_prefill.hint.text() == "pixel=0.1 from file cells.tif"
    assert "file cells.tif" in w.image.axes_assumed
    # read once, in a worker
    assert threading.main_thread() not in slow_reads and len(slow_reads) == 1
    # a header read already answers at once (one test with the above: each read takes SLOW_S)
    w.layer_combo.set_value(other)
    w.layer_combo.set_value(layer)  # cached: as it always was, with no worker
    assert w.axes_edit.text() == "ZCYX" and values(w.psf_edit.text())["pixel"] == "0.1"
    assert len(slow_reads) == 1


def test_an_answer_for_a_layer_no_longer_chosen_is_dropped(deblur, slow_reads, qtbot):
    viewer, w, layer, other = deblur
    w.layer_combo.set_value(layer)
    w.layer_combo.set_value(other)
    qtbot.waitUntil(lambda: not w.image.axes_prefill.reads.busy and len(slow_reads) == 1,
                    timeout=4 * SLOW_S * 1000)
    qtbot.wait(int(SLOW_S * 1000))  # the worker's answer has come and gone
    assert w.layer_combo.value is other and w.axes_edit.text() == "ZYX"
    assert "pixel" not in values(w.psf_edit.text()) and not w.psf_prefill.hint.text()


def test_axes_typed_while_the_header_is_read_are_kept(deblur, slow_reads, qtbot):
    viewer, w, layer, other = deblur
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("TCYX")
    qtbot.waitUntil(lambda: values(w.psf_edit.text()).get("pixel") == "0.1",
                    timeout=4 * SLOW_S * 1000)
    assert w.axes_edit.text() == "TCYX" and not w.image.axes_assumed


def test_the_fine_tune_dock_does_not_wait_either(make_napari_viewer, tmp_path, slow_reads, qtbot):
    viewer = make_napari_viewer()
    layer = viewer.open(str(imagej_zcyx(tmp_path / "cells.tif")), plugin="napari")[0]
    other = viewer.add_image(np.zeros((4, 24, 24), np.float32), name="other")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    w.mode_combo.setCurrentIndex(2)  # adapt to this image: the PSF panel follows the layer
    w.self_page.layer_combo.set_value(other)
    w.psf_panel.psf_edit.setText(MODEL)
    slow_reads.clear()
    start = time.perf_counter()
    w.self_page.layer_combo.set_value(layer)
    assert time.perf_counter() - start < SLOW_S / 4
    qtbot.waitUntil(lambda: w.axes_edit.text() == "ZCYX", timeout=4 * SLOW_S * 1000)
    qtbot.waitUntil(lambda: values(w.psf_panel.psf_edit.text()).get("pixel") == "0.1",
                    timeout=5_000)
    assert threading.main_thread() not in slow_reads


def test_a_long_ome_xml_is_parsed_by_a_helper_process(make_napari_viewer, tmp_path, slow_reads,
                                                      qtbot):
    path = tmp_path / "timelapse.ome.tif"
    xml = _ome_xml(3, 1000, names=("GFP",))  # 3 time points, 1.2 MB of annotations
    assert len(xml) > 1_000_000
    tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint8), contiguous=True,
                     description=xml.encode(), metadata=None)
    viewer = make_napari_viewer()
    layer = viewer.open(str(path), plugin="napari")[0]
    other = viewer.add_image(np.zeros((4, 8, 8), np.uint8), name="other")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(other)
    start = time.perf_counter()
    w.layer_combo.set_value(layer)
    assert time.perf_counter() - start < SLOW_S / 4
    assert w.axes_edit.text() == "ZYX"  # the shape's guess, until the file's axes come
    qtbot.waitUntil(lambda: w.axes_edit.text() == "TYX", timeout=60_000)
    assert slow_reads == []  # parsed by another process: this one's reader never ran
