"""The npe2 writer and the Zarr output keep what a layer's units and types say: 64-bit integers
as tifffile reads them ('Q'/'q') in a .zarr, a T scale in any of napari's time units, a
first axis settled as Z by its length unit, Y/X sizes and gray photometry in a .tif saved
without axes, and the name of one channel split from a named file."""

import importlib
import re
import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core.io import read_image


def _write(path, layer):
    writer = importlib.import_module("napari_microdeblur._writer")
    data, meta, _ = layer.as_layer_data_tuple()
    return writer.write_image_layer(str(path), data, meta)


def _notes(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


# 1. uint64 / int64 as tifffile gives them: numpy's 'Q' / 'q', which zarr 3 did not match


@pytest.mark.parametrize("kind", [np.ulonglong, np.longlong])
def test_a_64_bit_integer_array_of_tifffiles_kind_is_saved_as_zarr(tmp_path, kind):
    from napari_microdeblur._writer import write_image_layer

    data = np.arange(16).astype(kind).reshape(4, 4)
    assert data.dtype.char in "Qq"  # what tifffile.imread returns for a 64-bit TIFF
    path = tmp_path / "x.zarr"
    assert write_image_layer(str(path), data, {"name": "x"}) == [str(path)]
    back = np.asarray(read_image(path).array)
    assert back.dtype == np.dtype(data.dtype.str)
    np.testing.assert_array_equal(back, data)


def test_the_cli_zarr_output_takes_a_64_bit_integer_of_tifffiles_kind(tmp_path):
    """The CLI's --output-dtype input writes its input's dtype through ``open_output``."""
    from napari_microdeblur.core.io_write import open_output

    tifffile.imwrite(tmp_path / "u64.tif", np.arange(64, dtype=np.uint64).reshape(8, 8))
    data = tifffile.imread(tmp_path / "u64.tif")
    assert data.dtype.char == "Q"
    with open_output(tmp_path / "x.zarr", data.shape, data.dtype, axes="YX") as target:
        target[:] = data
    np.testing.assert_array_equal(np.asarray(read_image(tmp_path / "x.zarr").array), data)


# 2. a T scale in ms or us (napari keeps pint's names: 'millisecond')


@pytest.mark.parametrize("unit, seconds", [("ms", 5e-3), ("us", 5e-6), ("min", 300.0),
                                           ("nanosecond", 5e-9)])
@pytest.mark.parametrize("name", ["t.tif", "t.ome.tif", "t.zarr"])
def test_a_time_interval_in_any_napari_time_unit_is_kept(tmp_path, unit, seconds, name):
    from napari.layers import Image

    layer = Image(np.zeros((3, 8, 8), np.uint16), scale=(5, 0.1, 0.1), units=(unit, "um", "um"),
                  axis_labels=("t", "y", "x"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _write(tmp_path / name, layer)
    assert _notes(caught) == []
    back = read_image(tmp_path / name)
    assert back.axes == "TYX"
    assert back.metadata["time_interval"] == pytest.approx(seconds)
    assert back.pixel_size == pytest.approx({"Y": 0.1, "X": 0.1})


def test_a_labelled_time_series_with_no_viewer_is_not_saved_as_z_planes(tmp_path):
    """A script's layer of 10 time points labelled t: its labels name its axes, as in the
    viewer (the shape alone reads ZYX, and its 5 ms was then saved as a 5 um Z step)."""
    from napari.layers import Image

    layer = Image(np.zeros((10, 8, 8), np.uint16), scale=(5, 0.1, 0.1),
                  units=("millisecond", "um", "um"), axis_labels=("t", "y", "x"))
    _write(tmp_path / "t.tif", layer)
    back = read_image(tmp_path / "t.tif")
    assert back.axes == "TYX"
    assert back.metadata["time_interval"] == pytest.approx(5e-3)
    assert "Z" not in back.pixel_size


def test_a_time_interval_in_ms_is_kept_from_the_viewer(make_napari_viewer, tmp_path):
    """The walkthrough's layer: napari holds its unit as pint's 'millisecond'."""
    from napari_microdeblur._writer import save_calibrated

    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((3, 8, 8), np.uint16), scale=(5, 0.1, 0.1),
                             units=("ms", "um", "um"), axis_labels=("t", "y", "x"))
    assert str(layer.units[0]) == "millisecond"
    for name in ("t.tif", "t.ome.tif"):
        save_calibrated(layer, tmp_path / name)
        back = read_image(tmp_path / name)
        assert back.axes == "TYX"
        assert back.metadata["time_interval"] == pytest.approx(5e-3)


def test_a_t_scale_in_no_time_unit_is_said_not_dropped_silently(tmp_path):
    from napari.layers import Image

    layer = Image(np.zeros((3, 8, 8), np.uint16), scale=(5, 0.1, 0.1),
                  units=("meter", "um", "um"), axis_labels=("t", "y", "x"), name="movie")
    with pytest.warns(UserWarning, match=r"'movie': scale of T \(5 meter\) has no time unit"):
        _write(tmp_path / "t.tif", layer)
    assert "time_interval" not in read_image(tmp_path / "t.tif").metadata


# 3. a 3-plane stack whose first axis has a length unit: Z planes, not channels


@pytest.mark.parametrize("name", ["z.tif", "z.ome.tif"])
def test_a_first_axis_in_a_length_unit_is_z_not_in_doubt(tmp_path, name):
    from napari.layers import Image

    data = (np.arange(3 * 16 * 16) % 1000).astype(np.uint16).reshape(3, 16, 16)
    layer = Image(data, scale=(300, 65, 65), units="nm", name="stack")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _write(tmp_path / name, layer)
    assert not [n for n in _notes(caught) if "may be" in n or "assumed" in n]
    assert not [w for w in caught if "RGB" in str(w.message)]  # tifffile's photometric notice
    back = read_image(tmp_path / name)
    assert back.axes == "ZYX"
    assert back.pixel_size == pytest.approx({"Z": 0.3, "Y": 0.065, "X": 0.065})
    np.testing.assert_array_equal(np.asarray(back.array), data)


def test_a_first_axis_labelled_z_is_z(tmp_path):
    """A label z on the first dim (the others unnamed, so no axes from the labels) settles it."""
    from napari.layers import Image

    layer = Image(np.zeros((3, 16, 16), np.uint16), scale=(1, 0.1, 0.1),
                  units=("pixel", "um", "um"), axis_labels=("z", "row", "col"))
    _write(tmp_path / "z.tif", layer)
    assert read_image(tmp_path / "z.tif").axes == "ZYX"


def test_a_stack_still_in_doubt_keeps_its_yx_size_and_is_not_tagged_rgb(tmp_path):
    """No unit on the first dim: saved without axes, but Y and X in um are sure, and the
    3 planes are gray planes, not one RGB image (tifffile's default for that shape)."""
    from napari.layers import Image

    data = (np.arange(3 * 16 * 16) % 1000).astype(np.uint16).reshape(3, 16, 16)
    layer = Image(data, scale=(1, 0.065, 0.065), units=("pixel", "um", "um"), name="three")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _write(tmp_path / "three.tif", layer)
    notes = _notes(caught)
    assert any("may be ZYX or CYX: saved without axes," in n for n in notes), notes
    assert not [w for w in caught if "RGB" in str(w.message)]
    with tifffile.TiffFile(tmp_path / "three.tif") as tif:
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.MINISBLACK
        assert not tif.is_imagej and not tif.is_ome
    back = read_image(tmp_path / "three.tif")
    assert back.pixel_size == pytest.approx({"Y": 0.065, "X": 0.065})
    np.testing.assert_array_equal(np.asarray(back.array), data)


# 4. one channel split from a named multi-channel file keeps its name


@pytest.mark.parametrize("name", ["ch.ome.tif", "ch.zarr"])
def test_one_named_channel_without_a_c_axis_keeps_its_name(tmp_path, name):
    """What the writer hands the core for a layer of one channel of a named file."""
    import json

    from napari_microdeblur.core.io_write import write_image

    data = np.zeros((2, 3, 8, 8), np.uint16)
    extras = {"channel_names": ["GFP"], "time_interval": 2.0}
    path = tmp_path / name
    if name.endswith(".zarr"):
        from napari_microdeblur.core.io_write import open_output

        with open_output(path, data.shape, data.dtype, axes="TZYX", metadata=extras) as target:
            target[:] = data
        omero = json.loads((path / ".zattrs").read_text())["omero"]
        assert [c["label"] for c in omero["channels"]] == ["GFP"]
    else:
        write_image(path, data, axes="TZYX", metadata=extras)
        assert read_image(path).metadata["channel_names"] == ["GFP"]


def test_a_channel_split_from_a_named_ome_tiff_is_saved_with_its_name(make_napari_viewer,
                                                                     tmp_path):
    import json

    from napari_microdeblur._writer import save_calibrated

    data = (np.arange(2 * 2 * 8 * 8) % 500).astype(np.uint16).reshape(2, 2, 8, 8)
    tifffile.imwrite(tmp_path / "two.ome.tif", data, metadata={
        "axes": "TCYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2,
        "Channel": {"Name": ["DAPI", "GFP"]}})
    viewer = make_napari_viewer()
    layers = viewer.open(str(tmp_path / "two.ome.tif"), plugin="napari-microdeblur")
    gfp = [la for la in layers if "GFP" in la.name][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_calibrated(gfp, tmp_path / "gfp.ome.tif")
        save_calibrated(gfp, tmp_path / "gfp.zarr")
    with tifffile.TiffFile(tmp_path / "gfp.ome.tif") as tif:
        assert re.findall(r'<Channel [^>]*Name="([^"]*)"', tif.ome_metadata) == ["GFP"]
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "gfp.ome.tif"), data[:, 1])
    omero = json.loads((tmp_path / "gfp.zarr" / ".zattrs").read_text())["omero"]
    assert [c["label"] for c in omero["channels"]] == ["GFP"]


def test_a_first_axis_in_seconds_is_t_whatever_its_step_and_settling_is_said(tmp_path):
    """A time unit settles T even at a step of 1 (a 1 s series had been saved as Z planes in
    an .ome.tif, its interval lost); a length needs a step other than 1 (units='um' puts one
    on a channel axis too). Either way one line says how the first axis was read."""
    from napari.layers import Image

    data = np.zeros((3, 16, 16), np.uint16)
    series = Image(data, scale=(1, 0.1, 0.1), units=("s", "um", "um"), name="series")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _write(tmp_path / "t.ome.tif", series)
    assert any("saved as TYX, as its first axis's napari label or unit says" in n
               for n in _notes(caught)), _notes(caught)
    back = read_image(tmp_path / "t.ome.tif")
    assert back.axes == "TYX" and back.metadata["time_interval"] == pytest.approx(1.0)
    planes = Image(data, scale=(1, 0.1, 0.1), units="um", name="planes")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _write(tmp_path / "p.tif", planes)
    said = " ".join(_notes(caught))
    assert "saved without axes" in said and "layer.scale[0] = 0.3" in said  # advice that works
