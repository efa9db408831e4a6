"""napari's builtin reader opens a hyperstack as a bare array (no axis names): the docks take
the axes its file states (ImageJ, OME) instead of the shape's guess, and say so; a layer given
other data keeps the shape's guess, a layer the plugin made keeps its record, an Axes box the
user edited is kept. A deblurred result records its input's pixel sizes (``pixel_size``), read
back by ``layer_pixel_sizes`` where the result has scale 1 and no file."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_microdeblur._widgets._layer_file import layer_pixel_sizes
from napari_microdeblur._widgets._layers import guess_layer_axes
from napari_microdeblur.core.axes import guess_axes

PLUGIN = "napari-microdeblur"


def imagej_zcyx(path):
    """3 planes of 2 channels, ImageJ order ZCYX, 0.1 um pixels, 0.4 um planes."""
    data = np.random.default_rng(0).random((3, 2, 24, 24)).astype(np.float32)
    tifffile.imwrite(path, data, imagej=True, resolution=(10.0, 10.0),
                     metadata={"axes": "ZCYX", "unit": "um", "spacing": 0.4})
    return path


def ome_czyx(path):
    """5 channels of 3 planes, OME-TIFF (a TCZYX with T=1 would read so too)."""
    data = np.random.default_rng(1).random((5, 3, 24, 24)).astype(np.float32)
    tifffile.imwrite(path, data, ome=True, metadata={"axes": "CZYX"})
    return path


def dock_on(viewer, layer):
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    w.image._guess_axes()  # as a change of layer does
    return w


def test_an_imagej_hyperstack_takes_the_file_s_axes_and_says_so(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    layer = viewer.open(str(imagej_zcyx(tmp_path / "cells.tif")), plugin="napari")[0]
    assert layer.source.reader_plugin == "napari" and layer.data.shape == (3, 2, 24, 24)
    assert guess_axes(layer.data.shape) == "CZYX"  # the shape's guess: channels as planes
    w = dock_on(viewer, layer)
    assert w.axes_edit.text() == "ZCYX"
    assert "file cells.tif" in w.image.axes_assumed and "\n" not in w.image.axes_assumed
    assert w.image.axes_note.isVisibleTo(w.image)
    w.axes_edit.setText("CZYX")  # the user's own: kept, and no note on it
    assert w.image.checked()[1] == "CZYX" and not w.image.axes_assumed


def test_an_ome_tiff_takes_the_file_s_axes(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    layer = viewer.open(str(ome_czyx(tmp_path / "cells.ome.tif")), plugin="napari")[0]
    assert layer.data.shape == (5, 3, 24, 24)
    assert guess_axes(layer.data.shape) == "TZYX"  # 5 on the first axis: time points by the shape
    assert dock_on(viewer, layer).axes_edit.text() == "CZYX"


def test_a_bare_tiff_and_a_layer_given_other_data_keep_the_shape_guess(
        make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    bare = tmp_path / "bare.tif"
    tifffile.imwrite(bare, np.zeros((3, 2, 24, 24), np.float32), metadata=None)
    plain = viewer.open(str(bare), plugin="napari")[0]
    assert guess_layer_axes(plain) == guess_axes(plain.data.shape)
    layer = viewer.open(str(imagej_zcyx(tmp_path / "cells.tif")), plugin="napari")[0]
    assert guess_layer_axes(layer) == "ZCYX"
    layer.data = np.zeros((3, 2, 24, 20), np.float32)  # not the file's pixels any more
    assert guess_layer_axes(layer) == "CZYX"


def test_a_zarr_s_axes_and_a_squeezed_singleton_axis(make_napari_viewer, tmp_path):
    zarr = pytest.importorskip("zarr")
    viewer = make_napari_viewer()
    path = tmp_path / "one.zarr"  # T=1, Z=3, C=2, named by the array's 'axes' attribute
    store = zarr.open(str(path), mode="w", shape=(1, 3, 2, 24, 24), dtype="f4")
    store.attrs["axes"] = list("TZCYX")
    layer = viewer.open(str(path), plugin="napari")[0]
    assert layer.data.shape == (1, 3, 2, 24, 24) and guess_axes(layer.data.shape) == "TCZYX"
    assert guess_layer_axes(layer) == "TZCYX"
    layer.data = np.zeros((3, 2, 24, 24), np.float32)  # T squeezed, as some readers do
    assert guess_layer_axes(layer) == "ZCYX"
    layer.data = np.zeros((3, 2, 1, 24, 24), np.float32)  # a singleton the file lacks
    assert guess_layer_axes(layer) == guess_axes(layer.data.shape)


def test_a_layer_the_plugin_made_keeps_its_recorded_axes(make_napari_viewer):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((3, 2, 24, 24), np.float32),
                             metadata={"microdeblur": {"axes": "ZCYX"}})
    assert guess_layer_axes(layer) == "ZCYX"
    w = dock_on(viewer, layer)
    assert w.axes_edit.text() == "ZCYX" and not w.image.axes_assumed


@pytest.mark.filterwarnings("ignore")
def test_a_result_records_the_pixel_sizes_of_the_file_its_input_came_from(
        make_napari_viewer, tmp_path, qtbot):
    viewer = make_napari_viewer()
    layer = viewer.open(str(imagej_zcyx(tmp_path / "cells.tif")), plugin="napari")[0]
    w = dock_on(viewer, layer)
    w.axes_edit.setText("ZCYX")  # typed: the record's pixel sizes are what is tested here
    w.set_method("richardson_lucy")
    w.psf_edit.setText("widefield:na=1.4,wavelength=0.52,size=9")
    w.iterations_spin.setValue(1)
    w.device_combo.setCurrentText("cpu")
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=60_000)
    assert w.run() is not None
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=60_000)
    result = w.last_run.layer
    record = result.metadata["microdeblur"]
    assert record["axes"] == "ZCYX"
    assert record["pixel_size"] == pytest.approx({"Z": 0.4, "Y": 0.1, "X": 0.1})
    assert list(result.scale) == [1, 1, 1, 1]  # no scale, no file: the record tells
    sizes, origins = layer_pixel_sizes(result, "ZCYX")
    assert sizes == pytest.approx({"Z": 0.4, "Y": 0.1, "X": 0.1})
    assert "record" in origins["Y"]
    assert guess_layer_axes(result) == "ZCYX"
