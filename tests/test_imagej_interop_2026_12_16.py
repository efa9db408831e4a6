"""Fiji interop walkthrough of 2026-12-16: ImageJ's zunit= / yunit= were ignored (a Z step of
300 nm read as 300 um, then refused as "no Z step"); plural units ('nanometers') gave no pixel
size without a word; a one-channel file's LUT was not read; the reader opened red / green
LUT channels magenta / green; the writer dropped a layer's colours; a composite without LUTs
came out grayscale; ImageJ's display range was dropped even where the output keeps its dtype."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core.io import read_image

PLUGIN = "napari-microdeblur"


def _ramp(end) -> np.ndarray:
    return np.rint(np.outer(end, np.arange(256))).astype(np.uint8)


RED, GREEN, ORANGE = _ramp((1, 0, 0)), _ramp((0, 1, 0)), _ramp((1, 0.5, 0))
FIRE = np.stack([np.clip(np.arange(256) * 2, 0, 255), np.clip(np.arange(256) * 2 - 255, 0, 255),
                 np.zeros(256)]).astype(np.uint8)


def _warned(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [str(w.message) for w in caught]


def _ij(path, data, **metadata):
    tifffile.imwrite(path, data, imagej=True, resolution=metadata.pop("resolution", None),
                     metadata=metadata)
    return str(path)


def test_zunit_and_yunit_set_the_z_and_y_units(tmp_path):
    stack = np.zeros((4, 16, 16), np.uint8)
    path = _ij(tmp_path / "z.tif", stack, axes="ZYX", unit="micron", spacing=300.0,
               zunit="nm", resolution=(10, 10))
    assert read_image(path).pixel_size == pytest.approx({"Z": 0.3, "Y": 0.1, "X": 0.1})
    path = _ij(tmp_path / "y.tif", stack, axes="ZYX", unit="nm", yunit="micron",
               spacing=200.0, resolution=(0.02, 10))
    assert read_image(path).pixel_size == pytest.approx({"Z": 0.2, "Y": 0.1, "X": 0.05})


@pytest.mark.parametrize("unit, um", [("nanometers", 0.005), ("micrometers", 5.0),
                                      ("Nanometres", 0.005), ("microns", 5.0)])
def test_plural_unit_names_are_read(tmp_path, unit, um):
    path = _ij(tmp_path / "p.tif", np.zeros((16, 16), np.uint8), unit=unit, resolution=(0.2, 0.2))
    image, said = _warned(lambda: read_image(path))
    assert image.pixel_size == pytest.approx({"Y": um, "X": um})
    assert not [m for m in said if "not understood" in m]


def test_an_unknown_unit_is_said_once_and_pixel_or_none_is_not(tmp_path):
    path = _ij(tmp_path / "f.tif", np.zeros((16, 16), np.uint8), unit="furlongs",
               resolution=(0.2, 0.2))
    image, said = _warned(lambda: read_image(path))
    assert image.pixel_size == {}
    assert [m for m in said if "unit 'furlongs' not understood: pixel size not read" in m]
    path = _ij(tmp_path / "px.tif", np.zeros((16, 16), np.uint8), unit="pixel",
               resolution=(1, 1))
    image, said = _warned(lambda: read_image(path))
    assert image.pixel_size == {} and not [m for m in said if "not understood" in m]


def test_an_implausible_z_step_is_not_called_no_z_step():
    from napari_microdeblur.core.psf_fit import uncalibrated

    text = uncalibrated("widefield:na=1.2,wavelength=0.52,nz=5,pixel=0.1",
                        {"Z": 300.0, "Y": 0.1, "X": 0.1}, "ZYX")
    assert "states no Z step" not in text and "Z step of 300 um" in text
    assert "states no Z step" in uncalibrated("widefield:na=1.2,wavelength=0.52,nz=5,pixel=0.1",
                                              {"Y": 0.1, "X": 0.1}, "ZYX")


def test_a_one_channel_lut_is_read_and_opened_in_its_colour(tmp_path):
    from napari_microdeblur._reader import layer_data

    path = _ij(tmp_path / "one.tif", np.zeros((3, 16, 16), np.uint16), axes="ZYX",
               LUTs=[ORANGE])
    image = read_image(path)
    assert len(image.metadata["luts"]) == 1
    _, kwargs, _ = layer_data(image, path)[0]
    assert kwargs["colormap"]["name"] == "ImageJ #ff8000"


def test_the_reader_gives_each_channel_its_file_s_lut(tmp_path):
    from napari_microdeblur._reader import layer_data

    data = np.zeros((2, 3, 16, 16), np.uint16)
    path = _ij(tmp_path / "lut.tif", data, axes="ZCYX", mode="composite",
               LUTs=[RED, GREEN, FIRE])
    _, kwargs, _ = layer_data(read_image(path), path)[0]
    red, green, fire = kwargs["colormap"]
    assert (red, green) == ("red", "green")
    assert fire["name"].startswith("ImageJ LUT #000000-#ffff00") and len(fire["colors"]) == 256
    plain = _ij(tmp_path / "plain.tif", data, axes="ZCYX")
    assert "colormap" not in layer_data(read_image(plain), plain)[0][1]  # napari's own


def _shown(colormap) -> dict:
    """The colormap as napari hands it to a writer (``as_layer_data_tuple``)."""
    from napari.layers import Image

    return Image(np.zeros((2, 2)), colormap=colormap).as_layer_data_tuple()[1]["colormap"]


def test_luts_and_colormaps_round_trip():
    from napari_microdeblur.core.imagej_luts import colormap_from_lut, lut_from_colormap

    for lut in (RED, GREEN, ORANGE, FIRE, 255 - _ramp((1, 1, 1))):
        colormap = colormap_from_lut(lut)
        assert np.abs(lut_from_colormap(colormap).astype(int) - lut).max() <= 1
        assert np.abs(lut_from_colormap(_shown(colormap)).astype(int) - lut).max() <= 1
    for name in ("gray", "red", "green", "blue", "magenta", "cyan", "yellow"):
        assert np.array_equal(lut_from_colormap(_shown(name)),
                              lut_from_colormap(name))
    viridis = lut_from_colormap(_shown("viridis"))
    assert viridis.shape == (3, 256) and tuple(viridis[:, 0]) == (68, 1, 84)


def _saved_luts(path):
    ij = tifffile.TiffFile(path).imagej_metadata
    luts = ij.get("LUTs")
    luts = [luts] if luts is not None and np.ndim(luts) == 2 else luts
    return ij.get("mode"), [tuple(int(v) for v in lut[:, 255]) for lut in luts or ()]


def test_the_writer_saves_a_layer_s_colormap_as_its_lut(tmp_path):
    from napari.layers import Image

    from napari_microdeblur._writer import write_image_layer

    one = Image(np.zeros((16, 16), np.uint16), colormap="magenta")
    path = write_image_layer(str(tmp_path / "m.tif"), *one.as_layer_data_tuple()[:2])[0]
    assert _saved_luts(path)[1] == [(255, 0, 255)]
    # a layer with a C axis, shown one channel at a time: that colour on each, 'color' mode
    both = Image(np.zeros((2, 16, 16), np.uint16), colormap="cyan",
                 metadata={"microdeblur": {"axes": "CYX"}})
    path = write_image_layer(str(tmp_path / "c.tif"), *both.as_layer_data_tuple()[:2])[0]
    assert _saved_luts(path) == ("color", [(0, 255, 255), (0, 255, 255)])
    gray = Image(np.zeros((16, 16), np.uint16))
    path = write_image_layer(str(tmp_path / "g.tif"), *gray.as_layer_data_tuple()[:2])[0]
    assert _saved_luts(path)[1] == []  # ImageJ's default


def test_channel_layers_opened_and_saved_keep_the_file_s_colours(make_napari_viewer, tmp_path):
    data = np.random.default_rng(0).integers(0, 999, (2, 2, 16, 16), dtype=np.uint16)
    path = _ij(tmp_path / "rg.tif", data, axes="ZCYX", mode="composite", LUTs=[RED, GREEN])
    viewer = make_napari_viewer()
    layers = viewer.open(path, plugin=PLUGIN)
    assert [la.colormap.name for la in layers] == ["red", "green"]  # was magenta, green
    saved = layers[0].save(str(tmp_path / "red.tif"), plugin=PLUGIN)[0]
    assert _saved_luts(saved)[1] == [(255, 0, 0)]
    viewer.layers.clear()
    whole = viewer.open(path, plugin="napari")[0]  # one gray layer with a C axis
    saved = whole.save(str(tmp_path / "whole.tif"), plugin=PLUGIN)[0]
    assert _saved_luts(saved) == ("composite", [(255, 0, 0), (0, 255, 0)])


def _cli(source, out, dtype):
    from napari_microdeblur.cli import main

    assert main(["deblur", str(source), "-o", str(out), "--method", "wiener", "--psf",
                 "gaussian:1.2", "--balance", "0.05", "--device", "cpu", "--output-dtype",
                 dtype, "--overwrite", "-q"]) == 0
    return tifffile.TiffFile(out).imagej_metadata


def test_composite_mode_and_display_ranges_carry_over(tmp_path):
    data = np.random.default_rng(1).integers(0, 3000, (3, 2, 16, 16), dtype=np.uint16)
    source = _ij(tmp_path / "in.tif", data, axes="ZCYX", mode="composite",
                 Ranges=(100.0, 2000.0, 50.0, 1500.0))
    same = _cli(source, tmp_path / "same.tif", "input")
    assert same["mode"] == "composite"  # was grayscale: mode kept only beside LUTs
    assert tuple(same["Ranges"]) == (100.0, 2000.0, 50.0, 1500.0)
    floats = _cli(source, tmp_path / "float.tif", "float32")
    assert floats["mode"] == "composite" and "Ranges" not in floats  # uint16's range
