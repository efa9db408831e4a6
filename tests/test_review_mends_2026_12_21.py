"""Mends from the reviews of 2026-12-07's changes: a Python method with no normalisation still
turned float16 ringing into inf; a big-endian input refused its own dtype as output_dtype; a
'~name' path whose home folder is not there (Windows expands any '~name') was refused; a
damaged TIFF tag claiming a long text made the folder scan read that much."""

from __future__ import annotations

import os
import struct
import warnings

import numpy as np
import pytest
import tifffile

import napari_microdeblur as md


def test_a_method_without_normalisation_clips_float16_output():
    from napari_microdeblur.core.method import Method

    double = Method("double", forward=lambda t: t * 2, normalization="none")
    image = np.full((32, 32), 40000, np.float16)
    image[0, 0] = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = md.deblur(image, method=double, output_dtype="input")
    assert out.dtype == np.float16 and not np.isinf(out).any()
    assert float(out.max()) == float(np.finfo(np.float16).max)
    assert any("65504" in str(w.message) for w in caught)  # said and counted


@pytest.mark.parametrize("order", [">u2", "<u2"])
def test_an_input_of_either_byte_order_takes_its_own_dtype_as_output(order):
    from napari_microdeblur.core.image_settings import output_dtype_word

    assert output_dtype_word(np.uint16, np.dtype(order)) == "input"
    assert output_dtype_word(np.dtype(">u2"), np.dtype(order)) == "input"
    with pytest.raises(ValueError, match="neither float32 nor"):
        output_dtype_word(np.uint8, np.dtype(order))


def test_a_tilde_name_whose_home_folder_is_not_there_is_taken_as_it_is(monkeypatch, tmp_path):
    from napari_microdeblur import cli_paths

    # as Windows does: '~out.tif' -> C:\Users\out.tif, whether or not that folder exists
    monkeypatch.setattr(os.path, "expanduser",
                        lambda p: str(tmp_path / "Users" / p[1:]) if p.startswith("~") else p)
    assert cli_paths._tilde_prefix("~out.tif") is None  # a new file's name, not a home
    (tmp_path / "Users" / "ana").mkdir(parents=True)
    assert cli_paths._tilde_prefix("~ana/x.tif") == "~ana"  # a home that is there


def test_a_damaged_description_tag_is_not_read_past_the_file(tmp_path, monkeypatch):
    from napari_microdeblur.core import scan_outputs

    path = tmp_path / "damaged.tif"
    tifffile.imwrite(path, np.ones((8, 8), np.uint8), description="x" * 64)
    data = bytearray(path.read_bytes())
    first = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[first:first + 2])[0]
    for i in range(count):  # the description's length: 200 MB, past the file's end
        at = first + 2 + 12 * i
        if struct.unpack("<H", data[at:at + 2])[0] == 270:
            data[at + 4:at + 8] = struct.pack("<I", 200 << 20)
    path.write_bytes(bytes(data))
    asked = []
    real = scan_outputs._read
    monkeypatch.setattr(scan_outputs, "_read",
                        lambda fd, size, offset, head=b"": asked.append(size)
                        or real(fd, size, offset, head))
    assert not scan_outputs.may_hold_record(path)
    assert max(asked) < 1 << 20


def test_out_overlapping_the_input_in_another_layout_gives_the_fresh_result():
    """out=image itself was right; out=image[::-1] overwrote planes before they were read."""
    rng = np.random.default_rng(0)
    plane = rng.random((48, 48)).astype(np.float32)
    stack = np.stack([plane, plane * 2])
    options = dict(axes="ZYX", method="richardson_lucy", psf="gaussian:1.5", iterations=10)
    fresh = md.deblur(stack.copy(), **options)
    shared = stack.copy()
    md.deblur(shared, out=shared[::-1], **options)
    np.testing.assert_array_equal(shared[::-1], fresh)
    same = stack.copy()
    md.deblur(same, out=same, **options)  # the very same view: written in place, as before
    np.testing.assert_array_equal(same, fresh)


def test_a_meta_tensor_is_refused_without_advice_that_fails():
    import torch

    with pytest.raises(TypeError, match="meta device, which holds no values") as caught:
        md.deblur(torch.empty(64, 64, device="meta"), method="wiener", psf="gaussian:1.5")
    assert ".cpu()" not in str(caught.value)  # .cpu() on a meta tensor raises


def test_an_empty_channel_given_estimate_is_recorded_as_estimate(tmp_path, capsys):
    """Its record named 'gaussian:1', the stand-in it was prepared with, as if estimated on
    it; info --command repeated that made-up PSF."""
    from scipy.ndimage import gaussian_filter

    from napari_microdeblur.cli import main
    from napari_microdeblur.core import io

    rng = np.random.default_rng(0)
    image = np.stack([gaussian_filter(rng.random((80, 80)) * 500, 1.6), np.zeros((80, 80)),
                      gaussian_filter(rng.random((80, 80)) * 300, 2.4)]).astype(np.uint16)
    tifffile.imwrite(tmp_path / "cyx.tif", image, imagej=True, metadata={"axes": "CYX"})
    assert main(["deblur", str(tmp_path / "cyx.tif"), "-o", str(tmp_path / "out.tif"), "-q",
                 "--psf", "estimate"]) == 0
    record = io.read_image(tmp_path / "out.tif").metadata["microdeblur"]
    assert record["psf"].split(";")[1] == "estimate"
    capsys.readouterr()
    assert main(["info", "--command", str(tmp_path / "out.tif")]) == 0
    assert ";estimate;" in capsys.readouterr().out and "gaussian:1;" not in record["psf"]
