"""The plugin's npe2 writer: File > Save Selected Layer(s)... keeps a layer's calibration, axes
and the plugin's provenance record (napari's builtin .tif writer keeps the pixels only)."""

import importlib
import json

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core.io import read_image

PLUGIN = "napari-microdeblur"
RECORD = {"method": "richardson_lucy", "weights_sha256": "ab" * 32, "axes": "CYX",
          "parameters": {"iterations": 20, "psf": "array(9, 9)"}, "offset": [0, 0, 0]}


def _write(path, layer):
    writer = importlib.import_module("napari_microdeblur._writer")  # absent on old code
    data, meta, _ = layer.as_layer_data_tuple()
    return writer.write_image_layer(str(path), data, meta)


def _stack(**kwargs):
    """Two channels the plugin recorded as CYX (the shape alone would be guessed as ZYX),
    sampled at 65 nm."""
    from napari.layers import Image

    data = np.arange(2 * 12 * 10, dtype=np.uint16).reshape(2, 12, 10)
    kwargs.setdefault("metadata", {"microdeblur": dict(RECORD)})
    return Image(data, scale=(1.0, 65.0, 65.0), units=("pixel", "nm", "nm"), **kwargs)


@pytest.mark.parametrize("name", ["out.tif", "out.ome.tif", "out.zarr"])
def test_saved_file_keeps_pixel_size_in_um_and_the_recorded_axes(tmp_path, name):
    layer = _stack()
    assert _write(tmp_path / name, layer) == [str(tmp_path / name)]
    back = read_image(tmp_path / name)
    assert back.axes == "CYX"
    assert back.pixel_size["X"] == pytest.approx(0.065)
    assert back.pixel_size["Y"] == pytest.approx(0.065)
    assert "Z" not in back.pixel_size
    np.testing.assert_array_equal(np.asarray(back.array), layer.data)


def test_plain_tif_is_an_imagej_hyperstack_in_um(tmp_path):
    _write(tmp_path / "out.tif", _stack())
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert tif.is_imagej
        assert tif.imagej_metadata["unit"] == "um"
        assert tif.imagej_metadata["channels"] == 2


def _stored_record(path):
    if path.suffix == ".zarr":
        import zarr

        return dict(zarr.open_group(str(path), mode="r").attrs)["microdeblur"]
    with tifffile.TiffFile(path) as tif:
        if tif.is_imagej:
            return json.loads(tif.imagej_metadata["Info"])["microdeblur"]
        if tif.is_ome:
            image = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]
            return json.loads(image["Description"])["microdeblur"]
        return tif.shaped_metadata[0]["microdeblur"]


@pytest.mark.parametrize("name", ["out.tif", "out.ome.tif", "out.zarr", "float64.tif"])
def test_provenance_record_is_in_the_file(tmp_path, name):
    layer = _stack()
    if name.startswith("float64"):  # not an ImageJ type: tifffile's JSON description
        layer = _stack()
        layer.data = layer.data.astype(np.float64)
    layer.metadata["microdeblur"]["parameters"]["iterations"] = np.int64(20)  # numpy values
    _write(tmp_path / name, layer)
    assert _stored_record(tmp_path / name) == RECORD


def test_rgb_layer_round_trips_as_rgb(tmp_path):
    from napari.layers import Image

    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (14, 11, 3), dtype=np.uint8)
    layer = Image(data, rgb=True, scale=(0.5, 0.5), units=("um", "um"))
    _write(tmp_path / "rgb.tif", layer)
    back = read_image(tmp_path / "rgb.tif")
    assert back.axes == "YXS"
    assert back.pixel_size == pytest.approx({"X": 0.5, "Y": 0.5})
    np.testing.assert_array_equal(np.asarray(back.array), data)
    with tifffile.TiffFile(tmp_path / "rgb.tif") as tif:
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.RGB


def test_zarr_output_is_ome_zarr_with_its_scale(tmp_path):
    import zarr
    from napari.layers import Image

    data = np.arange(3 * 8 * 9, dtype=np.float32).reshape(3, 8, 9)
    layer = Image(data, scale=(0.3, 0.1, 0.1), units=("um", "um", "um"))
    _write(tmp_path / "vol.zarr", layer)
    attrs = dict(zarr.open_group(str(tmp_path / "vol.zarr"), mode="r").attrs)
    scale = attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == pytest.approx([0.3, 0.1, 0.1])
    back = read_image(tmp_path / "vol.zarr")
    assert back.axes == "ZYX"
    assert back.pixel_size == pytest.approx({"Z": 0.3, "Y": 0.1, "X": 0.1})
    np.testing.assert_array_equal(np.asarray(back.array), data)


def test_a_scale_without_units_is_um_as_the_docks_read_it(tmp_path):
    """napari's default unit is 'pixel': a scale of 1 is unknown (nothing written), a
    light-microscope size is taken as um, as the Deblur dock does, with one line saying so;
    a scale no um size could be (40: nm given without their unit) is left out."""
    from napari.layers import Image

    _write(tmp_path / "plain.tif", Image(np.zeros((8, 9), np.uint8)))
    assert read_image(tmp_path / "plain.tif").pixel_size == {}
    with pytest.warns(UserWarning, match="saved as um"):
        _write(tmp_path / "scaled.tif", Image(np.zeros((8, 9), np.uint8), scale=(0.2, 0.2)))
    assert read_image(tmp_path / "scaled.tif").pixel_size == pytest.approx({"Y": 0.2, "X": 0.2})
    with pytest.warns(UserWarning, match="uncalibrated"):
        _write(tmp_path / "nm.tif", Image(np.zeros((8, 9), np.uint8), scale=(40, 40)))
    assert read_image(tmp_path / "nm.tif").pixel_size == {}


def test_failed_write_keeps_the_file_that_was_there(tmp_path, monkeypatch):
    target = tmp_path / "out.tif"
    target.write_bytes(b"the user's earlier file")

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tifffile, "imwrite", broken)
    with pytest.raises(OSError, match="free some space"):
        _write(target, _stack())
    assert target.read_bytes() == b"the user's earlier file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


def test_save_selected_layer_with_the_plugin_in_a_viewer(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    layer = viewer.add_layer(_stack(name="nuclei deblurred"))
    viewer.layers.selection = {layer}
    path = tmp_path / "saved.tif"
    saved = viewer.layers.save(str(path), selected=True, plugin=PLUGIN)
    assert saved == [str(path)]
    back = read_image(path)
    assert back.axes == "CYX"
    assert back.pixel_size["X"] == pytest.approx(0.065)
    assert _stored_record(path) == RECORD
    # an existing file is replaced, as napari's writers do once its dialog has asked
    viewer.layers.save(str(path), selected=True, plugin=PLUGIN)
    assert read_image(path).axes == "CYX"


def test_save_dialog_lists_the_writer_for_one_image_layer(make_napari_viewer):
    from napari.plugins import _npe2

    viewer = make_napari_viewer()
    layer = viewer.add_layer(_stack())
    filters, writers = _npe2.file_extensions_string_for_layers([layer])
    ours = [w for w in writers if w.command.startswith(PLUGIN)]
    assert len(ours) == 1 and "*.ome.tif" in filters and "*.zarr" in filters


def test_layer_of_six_dims_is_still_saved_as_tiff(tmp_path):
    """The writer is napari's first choice for .tif (before its builtin): a layer past the
    axes model's 5 dims is saved as the builtin saves it, not refused."""
    from napari.layers import Image

    data = np.arange(2 * 2 * 2 * 2 * 4 * 5, dtype=np.uint8).reshape(2, 2, 2, 2, 4, 5)
    _write(tmp_path / "six.tif", Image(data, metadata={"microdeblur": {"method": "x"}}))
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "six.tif"), data)
    with tifffile.TiffFile(tmp_path / "six.tif") as tif:
        assert tif.shaped_metadata[0]["microdeblur"] == {"method": "x"}
    with pytest.raises(ValueError, match="save it as .tif"):
        _write(tmp_path / "six.zarr", Image(data))
    assert not (tmp_path / "six.zarr").exists()


def test_manifest_writer_offers_the_suffixes_the_module_writes():
    from pathlib import Path

    import yaml

    writer = importlib.import_module("napari_microdeblur._writer")
    manifest = yaml.safe_load((Path(writer.__file__).parent / "napari.yaml").read_text())
    (entry,) = manifest["contributions"]["writers"]
    assert entry["layer_types"] == ["image"]
    assert tuple(entry["filename_extensions"]) == writer.EXTENSIONS


def test_a_zcyx_layer_saved_as_zarr_is_stored_in_ngff_order_with_its_record(tmp_path):
    """ImageJ's Z-before-C order is stored as NGFF's C-before-Z; the record still reaches
    the image group (the array handed back is then a reordering view)."""
    import zarr
    from napari.layers import Image

    data = np.arange(3 * 2 * 8 * 9, dtype=np.uint16).reshape(3, 2, 8, 9)
    layer = Image(data, scale=(0.5, 1, 0.1, 0.1), units=("um", "pixel", "um", "um"),
                  metadata={"microdeblur": {"axes": "ZCYX", "method": "wiener"}})
    _write(tmp_path / "z.zarr", layer)
    group = zarr.open_group(str(tmp_path / "z.zarr"), mode="r")
    assert [a["name"] for a in group.attrs["multiscales"][0]["axes"]] == ["c", "z", "y", "x"]
    assert group.attrs["microdeblur"]["method"] == "wiener"
    np.testing.assert_array_equal(np.asarray(group["0"]), data.transpose(1, 0, 2, 3))


def test_a_result_at_scale_1_is_saved_with_the_pixel_sizes_its_record_keeps(tmp_path):
    """A result of a layer napari opened at scale 1 from a calibrated file records the file's
    sizes (the docks read them from the file); saving it keeps them."""
    from napari.layers import Image

    record = {"axes": "ZYX", "method": "wiener", "pixel_size": {"Z": 0.4, "Y": 0.1, "X": 0.1}}
    _write(tmp_path / "r.tif", Image(np.zeros((3, 8, 9), np.uint16),
                                     metadata={"microdeblur": record}))
    assert read_image(tmp_path / "r.tif").pixel_size == pytest.approx(record["pixel_size"])


def _zcyx_imagej(path):
    """An ImageJ hyperstack of 3 Z planes of 2 channels at 0.3 um / 0.1 um: napari's reader
    opens it as a bare (3, 2, Y, X) array at scale 1 (the shape alone reads CZYX)."""
    data = np.arange(3 * 2 * 12 * 10, dtype=np.uint16).reshape(3, 2, 12, 10)
    tifffile.imwrite(path, data, imagej=True, resolution=(10.0, 10.0),
                     metadata={"axes": "ZCYX", "spacing": 0.3, "unit": "um"})
    return data


def test_a_layer_napari_opened_is_saved_with_its_files_axes_and_sizes(make_napari_viewer,
                                                                      tmp_path):
    """The writer is handed the data, not the layer: it finds the layer in the viewer and
    takes its axes and sizes as the docks do (the file napari opened it from)."""
    data = _zcyx_imagej(tmp_path / "zcyx.tif")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(tmp_path / "zcyx.tif"), plugin="napari")
    viewer.layers.selection = {layer}
    out = tmp_path / "saved.tif"
    assert viewer.layers.save(str(out), selected=True, plugin=PLUGIN) == [str(out)]
    back = read_image(out)
    assert back.axes == "ZCYX"
    assert back.pixel_size == pytest.approx({"Z": 0.3, "Y": 0.1, "X": 0.1})
    np.testing.assert_array_equal(np.asarray(back.array), data)


def test_a_doubtful_shape_with_no_layer_is_saved_without_axes_and_says_so(tmp_path):
    """A script handing the writer a (2, Y, X) array (Z planes or channels?) gets the file
    napari's builtin writer makes, not a guess labelled as fact, and one line saying so."""
    from napari.layers import Image

    data = np.arange(2 * 12 * 10, dtype=np.uint16).reshape(2, 12, 10)
    layer = Image(data, scale=(1.0, 0.1, 0.1), units=("um", "um", "um"), name="two")
    with pytest.warns(UserWarning) as caught:
        _write(tmp_path / "two.tif", layer)
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(notes) == 1 and "saved without axes" in notes[0] and "'CYX'" in notes[0]
    with tifffile.TiffFile(tmp_path / "two.tif") as tif:
        assert not tif.is_imagej and not tif.is_ome
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "two.tif"), data)
    # Y and X in um are napari's last dims whatever the first holds: kept (2026-12-19)
    assert read_image(tmp_path / "two.tif").pixel_size == pytest.approx({"Y": 0.1, "X": 0.1})


def test_a_doubtful_shape_saved_as_ome_keeps_the_guess_and_says_so(tmp_path):
    """OME formats need named axes: the guess is written, with one line on how to give
    others."""
    from napari.layers import Image

    layer = Image(np.zeros((2, 12, 10), np.uint16), scale=(1.0, 0.1, 0.1),
                  units=("um", "um", "um"))
    with pytest.warns(UserWarning, match="if it holds channels.*'CYX'"):
        _write(tmp_path / "two.ome.tif", layer)
    assert read_image(tmp_path / "two.ome.tif").axes == "ZYX"


def test_a_layer_of_six_dims_is_refused_as_ome_tiff(tmp_path):
    """tifffile writes it as a plain TIFF under the .ome.tif name; refused as .zarr is."""
    from napari.layers import Image

    data = np.zeros((2, 2, 2, 2, 4, 5), np.uint8)
    with pytest.raises(ValueError, match="more than OME-TIFF's 5; save it as .tif"):
        _write(tmp_path / "six.ome.tif", Image(data))
    assert not (tmp_path / "six.ome.tif").exists()


def test_a_doubtful_bare_layer_in_the_viewer_is_saved_unlabelled_not_mislabelled(
        make_napari_viewer, tmp_path):
    """A bare (2, Y, X) layer (channels or planes?) in the viewer: napari's writer labels
    nothing; labelling it ZYX could be wrong, so no axes are written and one line says so."""
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((2, 12, 10), np.uint16), name="two")
    with pytest.warns(UserWarning, match="may be ZYX or CYX"):
        viewer.layers.save(str(tmp_path / "two.tif"), selected=True,
                           plugin="napari-microdeblur")
    with tifffile.TiffFile(tmp_path / "two.tif") as tif:
        assert not tif.is_imagej
