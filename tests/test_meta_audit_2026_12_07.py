"""Metadata audit: what a deblurred TIFF keeps of its input (axes for Fiji, pixel sizes in um,
channel names, time interval, ImageJ channel colours), and that the input is never touched."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io, io_write


def without_record(metadata: dict) -> dict:
    """An output's metadata less the record of how it was made (core.provenance)."""
    return {k: v for k, v in metadata.items() if k != "microdeblur"}


RL = ["--method", "richardson_lucy", "--psf", "gaussian:1.2", "--iterations", "2", "-q"]


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _imagej_stack(path, dtype=np.uint16, **extra):
    data = (np.random.default_rng(0).random((2, 3, 2, 24, 24)) * 900 + 50).astype(dtype)
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / 0.2, 1 / 0.2),
                     metadata={"axes": "TZCYX", "spacing": 0.5, "unit": "um", **extra})
    return data


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_an_imagej_hyperstack_stays_a_hyperstack_fiji_opens_at_its_scale(tmp_path, dtype):
    source, out = tmp_path / "ij.tif", tmp_path / "out.tif"
    _imagej_stack(source, dtype)
    before = _digest(source)
    assert main(["deblur", str(source), "-o", str(out), *RL]) == 0
    assert _digest(source) == before  # the input is never written
    with tifffile.TiffFile(out) as tif:
        # a JSON-described TIFF before: Fiji showed 12 flat slices in cm
        assert tif.is_imagej
        ij = tif.imagej_metadata
        assert (ij["frames"], ij["slices"], ij["channels"]) == (2, 3, 2)
        assert ij["unit"] == "um" and ij["spacing"] == pytest.approx(0.5)
        x_num, x_den = tif.pages[0].tags["XResolution"].value
        assert x_den / x_num == pytest.approx(0.2)  # in the stated unit, as ImageJ reads it
        assert tif.series[0].dtype == np.float32  # the documented default output dtype
    back = io.read_image(out)
    assert back.axes == "TZCYX" and back.array.shape == (2, 3, 2, 24, 24)
    assert back.pixel_size == pytest.approx({"X": 0.2, "Y": 0.2, "Z": 0.5})


def test_a_plain_tif_output_states_um_not_cm(tmp_path):
    source, out = tmp_path / "p.tif", tmp_path / "p_out.tif"
    tifffile.imwrite(source, (np.arange(32 * 32) % 251).astype(np.uint8).reshape(32, 32),
                     resolution=(1e4 / 0.065, 1e4 / 0.065), resolutionunit="CENTIMETER")
    assert main(["deblur", str(source), "-o", str(out), *RL]) == 0
    with tifffile.TiffFile(out) as tif:
        assert tif.is_imagej and tif.imagej_metadata["unit"] == "um"
    assert io.read_image(out).pixel_size == pytest.approx({"X": 0.065, "Y": 0.065})


def test_ome_channel_names_and_time_increment_are_kept(tmp_path):
    source, out = tmp_path / "in.ome.tif", tmp_path / "out.ome.tif"
    data = np.random.default_rng(1).random((3, 2, 16, 16)).astype(np.float32)
    tifffile.imwrite(source, data, ome=True, metadata={
        "axes": "TCYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1,
        "Channel": {"Name": ["DAPI", "GFP"]}, "TimeIncrement": 1500.0,
        "TimeIncrementUnit": "ms"})
    read = io.read_image(source)
    assert read.metadata == {"channel_names": ["DAPI", "GFP"],
                             "time_interval": pytest.approx(1.5)}
    with io_write.open_output(out, data.shape, np.float32, axes=read.axes,
                              pixel_size=read.pixel_size, metadata=read.metadata) as target:
        target[...] = data
    with tifffile.TiffFile(out) as tif:
        pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
    assert [c["Name"] for c in pixels["Channel"]] == ["DAPI", "GFP"]
    assert pixels["TimeIncrement"] == pytest.approx(1.5)
    assert pixels["PhysicalSizeX"] == pytest.approx(0.1)
    assert io.read_image(out).metadata == read.metadata


def test_imagej_frame_interval_and_channel_colours_are_kept(tmp_path):
    source, out = tmp_path / "ij.tif", tmp_path / "out.tif"
    green = np.zeros((3, 256), np.uint8)
    green[1] = np.arange(256)
    magenta = np.zeros((3, 256), np.uint8)
    magenta[[0, 2]] = np.arange(256)
    data = _imagej_stack(source, finterval=2.0, LUTs=[green, magenta], mode="composite")
    read = io.read_image(source)
    assert read.metadata["time_interval"] == pytest.approx(2.0)
    io_write.write_image(out, np.asarray(data, np.float32), axes=read.axes,
                         pixel_size=read.pixel_size, metadata=read.metadata)
    with tifffile.TiffFile(out) as tif:
        ij = tif.imagej_metadata
    assert ij["finterval"] == pytest.approx(2.0) and ij["mode"] == "composite"
    np.testing.assert_array_equal(ij["LUTs"][0], green)
    np.testing.assert_array_equal(ij["LUTs"][1], magenta)


@pytest.mark.parametrize(("axes", "shape", "dtype"), [
    ("YXC", (16, 16, 2), np.float32),        # channels last: the planes' layout is kept
    ("ZYX", (1, 16, 16), np.float32),        # ImageJ drops an axis of 1
    ("YX", (16, 16), np.float64),            # ImageJ has no float64
    ("YXS", (16, 16, 4), np.uint8),          # alpha
    ("YXS", (16, 16, 3), np.float32),        # ImageJ's RGB is 8-bit
])
def test_outputs_imagej_cannot_hold_keep_their_shape_and_axes(tmp_path, axes, shape, dtype):
    out = tmp_path / "o.tif"
    data = (np.random.default_rng(2).random(shape) * 200).astype(dtype)
    io_write.write_image(out, data, axes=axes, pixel_size={"X": 0.3, "Y": 0.3, "Z": 1.0})
    with tifffile.TiffFile(out) as tif:
        assert not tif.is_imagej
    back = io.read_image(out, keep_alpha=True)
    assert back.axes == axes and back.array.shape == shape
    assert back.pixel_size["X"] == pytest.approx(0.3)
    np.testing.assert_array_equal(np.asarray(back.array), data)


def test_cli_deblur_keeps_channel_names_interval_and_colours(tmp_path):
    """`microdeblur deblur` passes what it read to the writer: an OME-TIFF keeps its channel
    names and time increment, an ImageJ hyperstack its frame interval and LUTs."""
    source, out = tmp_path / "in.ome.tif", tmp_path / "out.ome.tif"
    data = np.random.default_rng(3).random((2, 2, 24, 24)).astype(np.float32)
    tifffile.imwrite(source, data, ome=True, metadata={
        "axes": "TCYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1,
        "Channel": {"Name": ["DAPI", "GFP"]}, "TimeIncrement": 2.0, "TimeIncrementUnit": "s"})
    assert main(["deblur", str(source), "-o", str(out), *RL]) == 0
    assert without_record(io.read_image(out).metadata) == {
        "channel_names": ["DAPI", "GFP"], "time_interval": pytest.approx(2.0)}
    green = np.zeros((3, 256), np.uint8)
    green[1] = np.arange(256)
    ij_in, ij_out = tmp_path / "ij.tif", tmp_path / "ij_out.tif"
    _imagej_stack(ij_in, finterval=3.0, LUTs=[green, green], mode="composite")
    assert main(["deblur", str(ij_in), "-o", str(ij_out), *RL]) == 0
    with tifffile.TiffFile(ij_out) as tif:
        ij = tif.imagej_metadata
    assert ij["finterval"] == pytest.approx(3.0)
    np.testing.assert_array_equal(ij["LUTs"][1], green)


def test_a_malformed_ome_description_still_opens_the_image(tmp_path):
    """OME-XML that does not parse (a bare '&' in a channel name) lost only its extras: it
    raised ParseError and the file could not be deblurred at all."""
    path = tmp_path / "bad.ome.tif"
    data = np.arange(256, dtype=np.uint16).reshape(16, 16)
    tifffile.imwrite(path, data, description=(
        '<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
        '<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint16" '
        'SizeX="16" SizeY="16" SizeC="1" SizeZ="1" SizeT="1"><Channel ID="Channel:0" '
        'Name="DAPI & GFP"/></Pixels></Image></OME>'))
    read = io.read_image(path)
    np.testing.assert_array_equal(np.asarray(read.array), data)
    assert "channel_names" not in read.metadata
