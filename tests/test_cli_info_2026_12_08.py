"""`microdeblur info FILE [FILE ...] [--json]` (cli_info): shape, axes and where they come
from, pixel sizes, channel names and the deblur record (core.provenance) of each file, without
reading the pixels of a TIFF (compressed too) or a Zarr; a failure is one line and exit 2,
the other files still printed."""

import json

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.checkpoint import sha256_file


@pytest.fixture
def blurred(tmp_path, fluo_u16):
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, fluo_u16[:64, :64])
    return path


def _deblur(source, out, *options):
    assert main(["deblur", str(source), "-o", str(out), "--device", "cpu", "-q",
                 *options]) == 0
    return out


def _no_pixel_reads(monkeypatch):
    """Any read of a TIFF's pixels (lazy regions or tifffile's decoding) fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("info read the pixels")

    monkeypatch.setattr(io.TiffArray, "__getitem__", refuse)
    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", refuse)
    monkeypatch.setattr(tifffile.TiffFile, "asarray", refuse)


def test_info_shows_the_method_and_weights_sha256_prefix_of_a_deblurred_tif(
        tmp_path, blurred, tiny_gran_weights, capsys, monkeypatch):
    out = _deblur(blurred, tmp_path / "net.tif", "--method", "gran", "--weights",
                  str(tiny_gran_weights), "--tile", "64")
    capsys.readouterr()
    _no_pixel_reads(monkeypatch)
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{out}:")
    assert "shape (64, 64) float32, axes YX (stated by the file)" in text
    assert "deblurred: gran, weights" in text
    assert f"(sha256 {sha256_file(tiny_gran_weights)[:12]})" in text
    assert sha256_file(tiny_gran_weights) not in text  # the prefix only: one short block
    assert "from cells.tif" in text


def test_info_json_round_trips_the_record_and_a_second_run_shows_previous(
        tmp_path, blurred, capsys):
    first = _deblur(blurred, tmp_path / "first.tif", "--method", "richardson_lucy", "--psf",
                    "gaussian:1.6", "--iterations", "7")
    second = _deblur(first, tmp_path / "second.ome.tif", "--method", "wiener", "--psf",
                     "gaussian:1.0", "--balance", "0.1")
    capsys.readouterr()
    assert main(["info", str(second), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["microdeblur"] == io.read_image(second).metadata["microdeblur"]
    assert shown["microdeblur"]["previous"]["parameters"]["iterations"] == 7
    assert shown["shape"] == [64, 64] and shown["dtype"] == "float32"
    assert main(["info", str(second)]) == 0
    text = capsys.readouterr().out
    assert "deblurred: wiener, PSF gaussian:1.0, balance 0.1" in text
    previous = [line for line in text.splitlines() if "previous:" in line]
    assert len(previous) == 1 and "richardson_lucy" in previous[0]
    assert "iterations 7" in previous[0] and "from cells.tif" in previous[0]


def test_info_on_a_plain_png_shows_guessed_axes_and_no_record(tmp_path, capsys):
    png = tmp_path / "plain.png"
    iio.imwrite(png, np.arange(48 * 40, dtype=np.uint8).reshape(48, 40))
    assert main(["info", str(png)]) == 0
    text = capsys.readouterr().out
    assert "shape (48, 40) uint8, axes YX (guessed)" in text
    assert "deblur record: none" in text and "pixel size: not stated" in text
    assert main(["info", str(png), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["axes_stated"] is False and shown["microdeblur"] is None


def test_a_missing_file_is_one_line_and_exit_2_while_the_other_is_printed(
        tmp_path, blurred, capsys):
    missing = tmp_path / "gone.tif"
    assert main(["info", str(missing), str(blurred)]) == 2
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert len(errors) == 1 and "gone.tif" in errors[0] and "does not exist" in errors[0]
    assert errors[0].startswith("microdeblur: error: ")
    assert f"{blurred}:" in captured.out and "shape (64, 64) uint16" in captured.out
    assert main(["info", str(blurred), str(missing), "--json"]) == 2
    listed = json.loads(capsys.readouterr().out)
    assert [entry["file"] for entry in listed] == [str(blurred), str(missing)]
    assert "error" in listed[1] and listed[0]["dtype"] == "uint16"


def test_a_compressed_tiff_is_described_from_its_header(tmp_path, capsys, monkeypatch):
    """io.read_image decodes a compressed TIFF whole (lazy only for uncompressed ones): a
    multi-GB zlib stack would be loaded to print its shape."""
    path = tmp_path / "stack.ome.tif"
    data = np.zeros((3, 5, 32, 32), np.uint16)
    tifffile.imwrite(path, data, compression="zlib", metadata={
        "axes": "CZYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2, "PhysicalSizeZ": 0.5,
        "Channel": {"Name": ["DAPI", "GFP", "RFP"]}})
    _no_pixel_reads(monkeypatch)
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "shape (3, 5, 32, 32) uint16, axes CZYX (stated by the file)" in text
    assert "channels: DAPI, GFP, RFP" in text
    assert "Z 0.5" in text and "X 0.2" in text


def test_axes_guessed_in_doubt_are_said(tmp_path, capsys):
    raw = tmp_path / "planes.tif"
    tifffile.imwrite(raw, np.zeros((3, 40, 40), np.uint16), photometric="minisblack")
    assert main(["info", str(raw)]) == 0
    text = capsys.readouterr().out
    assert "axes ZYX (guessed)" in text and "axes ZYX assumed for shape (3, 40, 40)" in text


def test_a_zarr_output_is_described_without_reading_its_chunks(tmp_path, blurred, capsys,
                                                              monkeypatch):
    zarr = pytest.importorskip("zarr")
    out = _deblur(blurred, tmp_path / "out.zarr", "--method", "wiener", "--psf",
                  "gaussian:1.6", "--balance", "0.1")
    capsys.readouterr()

    def refuse(*args, **kwargs):
        raise AssertionError("info read the chunks")

    monkeypatch.setattr(zarr.Array, "__getitem__", refuse)
    assert main(["info", str(out), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["microdeblur"]["method"] == "wiener" and shown["shape"] == [64, 64]


def test_a_folder_is_described_file_by_file_as_deblur_takes_it(tmp_path, capsys):
    folder = tmp_path / "tiles"
    folder.mkdir()
    for name in ("a.tif", "b.tif"):
        tifffile.imwrite(folder / name, np.zeros((16, 16), np.uint8))
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert str(folder / "a.tif") in out and str(folder / "b.tif") in out


def test_two_unmarked_samples_are_channels_compressed_or_not(tmp_path, capsys):
    """deblur reads (Y, X, 2) without an alpha mark as two channels; info said YXS when the
    file was compressed (its header path) and YXC when not."""
    image = np.zeros((64, 64, 2), np.uint16)
    for name, kwargs in (("plain.tif", {}), ("zlib.tif", {"compression": "zlib"})):
        tifffile.imwrite(tmp_path / name, image, photometric="minisblack",
                         planarconfig="contig", **kwargs)
        assert main(["info", str(tmp_path / name), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["axes"] == "YXC"
