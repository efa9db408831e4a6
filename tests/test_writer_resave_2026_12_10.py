"""A deblurred result saved with the plugin's writer, opened in napari with napari's own reader
(no record in layer.metadata, scale 1) and saved again through the writer keeps the file's
record, as it was, with an entry under 'resaved'; a layer whose data is no longer the file's
image is saved without it, and one line says so."""

import importlib
import os
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core.io import read_image

PLUGIN = "napari-microdeblur"
FORMATS = ["res.tif", "res.ome.tif", "res.zarr"]
#: a dock result's record (``_layer_data.deblur_metadata``): the writer adds psf and 'saved'
RECORD = {"source_layer": "cells", "method": "wiener", "axes": "ZYX",
          "method_spec": {"method": "wiener", "psf": "gaussian:1.6"},
          "parameters": {"balance": 0.01}, "pixel_size": {"Z": 0.3, "Y": 0.1, "X": 0.1}}
SIZES = {"Z": 0.3, "Y": 0.1, "X": 0.1}


def _writer():
    return importlib.import_module("napari_microdeblur._writer")


def _stored_record(path):
    return read_image(path).metadata.get("microdeblur")


def _result(path):
    """A deblurred (3, 12, 10) result at 0.3 / 0.1 um saved by the writer, as the dock saves
    it (no viewer); its record as the file holds it."""
    from napari.layers import Image

    data = np.arange(3 * 12 * 10, dtype=np.uint16).reshape(3, 12, 10)
    layer = Image(data, name="cells deblurred", scale=(0.3, 0.1, 0.1), units="um",
                  metadata={"microdeblur": dict(RECORD)})
    _writer().save_calibrated(layer, str(path))
    record = _stored_record(path)
    assert record["method"] == "wiener" and "saved" in record
    return data, record


def _opened(viewer, path):
    (layer,) = viewer.open(str(path), plugin="napari")
    assert "microdeblur" not in layer.metadata and list(layer.scale) == [1, 1, 1]
    viewer.layers.selection = {layer}
    return layer


def _same_but_resaved(saved: dict, original: dict, name: str, times: int = 1) -> None:
    assert {k: v for k, v in saved.items() if k != "resaved"} == original
    assert len(saved["resaved"]) == times
    assert saved["resaved"][-1]["from_file"] == name
    assert "not recorded" in saved["resaved"][-1]["note"]


@pytest.mark.parametrize("source", FORMATS)
def test_a_result_opened_by_napari_and_saved_again_keeps_its_record(make_napari_viewer,
                                                                    tmp_path, source):
    data, original = _result(tmp_path / source)
    viewer = make_napari_viewer()
    layer = _opened(viewer, tmp_path / source)
    for target in ["again.tif", "again.ome.tif", "again.zarr"]:
        out = tmp_path / target
        assert viewer.layers.save(str(out), selected=True, plugin=PLUGIN) == [str(out)]
        _same_but_resaved(_stored_record(out), original, source)
        back = read_image(out)
        assert back.axes == "ZYX" and back.pixel_size == pytest.approx(SIZES)
        np.testing.assert_array_equal(np.asarray(back.array), data)
    # the dock's Save result... / File > IO Utilities path (no viewer lookup)
    _writer().save_calibrated(layer, str(tmp_path / "dock"), "OME-TIFF")
    _same_but_resaved(_stored_record(tmp_path / "dock.ome.tif"), original, source)
    # nothing the user had is changed: the layer's metadata, the file's record
    assert "microdeblur" not in layer.metadata
    assert _stored_record(tmp_path / source) == original


def test_a_resaved_file_saved_again_keeps_each_save(make_napari_viewer, tmp_path):
    _, original = _result(tmp_path / "res.tif")
    viewer = make_napari_viewer()
    _opened(viewer, tmp_path / "res.tif")
    viewer.layers.save(str(tmp_path / "a.ome.tif"), selected=True, plugin=PLUGIN)
    viewer.layers.clear()
    _opened(viewer, tmp_path / "a.ome.tif")
    viewer.layers.save(str(tmp_path / "b.zarr"), selected=True, plugin=PLUGIN)
    saved = _stored_record(tmp_path / "b.zarr")
    _same_but_resaved(saved, original, "a.ome.tif", times=2)
    assert saved["resaved"][0]["from_file"] == "res.tif"


@pytest.mark.parametrize("change", ["crop", "dtype"])
def test_a_layer_that_no_longer_holds_the_file_s_pixels_is_saved_without_its_record(
        make_napari_viewer, tmp_path, change):
    data, _ = _result(tmp_path / "res.tif")
    viewer = make_napari_viewer()
    layer = _opened(viewer, tmp_path / "res.tif")
    layer.data = data[:, :8] if change == "crop" else data.astype(np.float32)
    with pytest.warns(UserWarning, match="saved without the deblur record of file res.tif"):
        viewer.layers.save(str(tmp_path / "out.tif"), selected=True, plugin=PLUGIN)
    assert _stored_record(tmp_path / "out.tif") is None


def test_the_layer_s_own_record_wins_over_its_file_s(make_napari_viewer, tmp_path):
    _result(tmp_path / "res.tif")
    viewer = make_napari_viewer()
    layer = _opened(viewer, tmp_path / "res.tif")
    layer.metadata = {"microdeblur": {"method": "richardson_lucy", "axes": "ZYX"}}
    viewer.layers.save(str(tmp_path / "out.zarr"), selected=True, plugin=PLUGIN)
    saved = _stored_record(tmp_path / "out.zarr")
    assert saved["method"] == "richardson_lucy" and "resaved" not in saved


def test_the_file_s_record_is_read_from_its_headers_only(tmp_path, monkeypatch):
    data, original = _result(tmp_path / "res.ome.tif")
    from napari_microdeblur._widgets._layer_file import file_record_of

    def no_pixels(*args, **kwargs):
        raise AssertionError("pixels read")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", no_pixels)
    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", no_pixels)
    layer = SimpleNamespace(data=data, multiscale=False,
                            source=SimpleNamespace(path=str(tmp_path / "res.ome.tif")))
    assert file_record_of(layer) == (original, "res.ome.tif", "")
    layer.source.path = os.fspath(tmp_path / "gone.tif")
    assert file_record_of(layer) is None
