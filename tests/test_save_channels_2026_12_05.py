"""The calibrated save (File > IO Utilities > Save image layer with calibration..., napari's
save through the plugin's writer) keeps the channel names and time interval of the layer's
source, as the CLI keeps its input's: a layer napari opened from an OME-TIFF (its reader drops
both) from that file's headers, a deblurred layer from its record. They were dropped."""

import importlib

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core.io import read_image

PLUGIN = "napari-microdeblur"
NAMES = ["DAPI", "GFP"]
SHAPE = (3, 2, 4, 16, 16)  # TCZYX


def _writer():
    return importlib.import_module("napari_microdeblur._writer")


def _time_lapse(path):
    """A TCZYX OME-TIFF naming its channels, 60 s between time points (as a microscope's)."""
    data = np.arange(np.prod(SHAPE), dtype=np.uint16).reshape(SHAPE)
    tifffile.imwrite(path, data, ome=True, photometric="minisblack", resolution=(5.0, 5.0),
                     metadata={"axes": "TCZYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2,
                               "PhysicalSizeZ": 0.5, "Channel": {"Name": NAMES},
                               "TimeIncrement": 60.0, "TimeIncrementUnit": "s"})
    return data


def _kept(path) -> tuple[list | None, float | None]:
    metadata = read_image(path).metadata
    return metadata.get("channel_names"), metadata.get("time_interval")


@pytest.mark.parametrize("target", ["out.ome.tif", "out.zarr"])
def test_a_file_opened_in_napari_and_saved_keeps_its_channel_names_and_interval(
        make_napari_viewer, tmp_path, target):
    data = _time_lapse(tmp_path / "tl.ome.tif")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(tmp_path / "tl.ome.tif"), plugin="napari")
    assert layer.data.shape == SHAPE and list(layer.scale) == [1] * 5  # napari drops them
    viewer.layers.selection = {layer}
    out = tmp_path / target
    assert viewer.layers.save(str(out), selected=True, plugin=PLUGIN) == [str(out)]
    assert _kept(out) == (NAMES, pytest.approx(60.0))
    back = read_image(out)
    assert back.axes == "TCZYX" and back.pixel_size == pytest.approx(
        {"Z": 0.5, "Y": 0.2, "X": 0.2})
    np.testing.assert_array_equal(np.asarray(back.array), data)
    # the dialog's route (no viewer lookup), and an ImageJ .tif: its interval (no names)
    _writer().save_calibrated(layer, str(tmp_path / "dock"), "OME-TIFF")
    assert _kept(tmp_path / "dock.ome.tif") == (NAMES, pytest.approx(60.0))
    _writer().save_calibrated(layer, str(tmp_path / "ij.tif"))
    assert _kept(tmp_path / "ij.tif")[1] == pytest.approx(60.0)


def test_a_layer_cropped_from_such_a_file_is_saved_without_them(make_napari_viewer, tmp_path):
    data = _time_lapse(tmp_path / "tl.ome.tif")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(tmp_path / "tl.ome.tif"), plugin="napari")
    layer.data = data[:, :1]  # one channel left: 'DAPI, GFP' would misname it
    viewer.layers.selection = {layer}
    viewer.layers.save(str(tmp_path / "out.ome.tif"), selected=True, plugin=PLUGIN)
    assert _kept(tmp_path / "out.ome.tif") == (None, None)


@pytest.mark.parametrize("target", ["res.ome.tif", "res.zarr"])
def test_a_deblurred_layer_keeps_the_channel_names_and_interval_its_record_holds(
        tmp_path, target):
    from napari.layers import Image

    data = np.zeros(SHAPE, np.float32)
    record = {"source_layer": "tl.ome", "method": "wiener", "axes": "TCZYX",
              "pixel_size": {"Z": 0.5, "Y": 0.2, "X": 0.2},
              "channel_names": NAMES, "time_interval": 60.0}
    layer = Image(data, name="tl.ome deblurred", metadata={"microdeblur": record})
    _writer().save_calibrated(layer, str(tmp_path / target))
    assert _kept(tmp_path / target) == (NAMES, pytest.approx(60.0))
    assert read_image(tmp_path / target).metadata["microdeblur"]["method"] == "wiener"


def test_the_layer_s_time_scale_wins_over_its_record_s_interval(tmp_path):
    from napari.layers import Image

    record = {"method": "wiener", "axes": "TCZYX", "channel_names": NAMES,
              "time_interval": 60.0}
    layer = Image(np.zeros(SHAPE, np.float32), name="r", scale=(2, 1, 0.5, 0.2, 0.2),
                  units=("minute", "pixel", "um", "um", "um"),
                  metadata={"microdeblur": record})
    _writer().save_calibrated(layer, str(tmp_path / "r.ome.tif"))
    assert _kept(tmp_path / "r.ome.tif") == (NAMES, pytest.approx(120.0))


def test_a_layer_deblurred_in_the_dock_is_saved_with_its_inputs_names_and_interval(
        make_napari_viewer, qtbot, tmp_path):
    """The Deblur dock's result records its input's channel names and interval (read from the
    file napari opened it from), so Save writes them with the result, as the CLI does."""
    _time_lapse(tmp_path / "tl.ome.tif")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(tmp_path / "tl.ome.tif"), plugin="napari")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    w.device_combo.setCurrentText("cpu")
    w.axes_edit.setText("TCZYX")
    w.scope_combo.setCurrentText("whole stack")
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.2")
    run = w.run()
    assert run is not None, w.status_label.text()
    qtbot.waitUntil(lambda: run.done, timeout=60_000)
    assert run.layer is not None, w.status_label.text()
    record = run.layer.metadata["microdeblur"]
    assert record["channel_names"] == NAMES and record["time_interval"] == pytest.approx(60.0)
    _writer().save_calibrated(run.layer, str(tmp_path / "result"), "OME-TIFF")
    assert _kept(tmp_path / "result.ome.tif") == (NAMES, pytest.approx(60.0))
