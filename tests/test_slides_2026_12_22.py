"""Whole-slide histology (a walkthrough, 2026-12-22): a planar RGB (SYX) image written as
OME-TIFF (refused by tifffile as 'shape does not match stored shape'), Aperio .svs and
Hamamatsu .ndpi slides read as the TIFFs they are (pixel size, thumbnail/label/macro left out
in one note), a float RGB output of an 8-bit input reopened at 0-255 as the dock shows it,
and a pyramid's 'a deblurred output holds this level only' said only where one is written."""

from __future__ import annotations

import shutil
import struct
import warnings

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur._reader import get_reader
from napari_microdeblur.cli import main
from napari_microdeblur.core import io, io_write
from napari_microdeblur.core.files import deblur_file
from napari_microdeblur.core.input_files import find_inputs

PSF = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu"]
APERIO = "Aperio Image Library v12.0.0 \n"


def _rgb8(shape=(32, 32), seed=0) -> np.ndarray:
    image = ndimage.gaussian_filter(np.random.default_rng(seed).random((*shape, 3)), (2, 2, 0))
    image = (image - image.min()) / (image.max() - image.min())
    return (30 + 200 * image).astype(np.uint8)


def _said(caught) -> list[str]:
    return [str(w.message) for w in caught]


def _read(path, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = io.read_image(path, **kwargs)
    return data, _said(caught)


# ----------------------------------------------------------------------- planar RGB OME-TIFF


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_planar_rgb_written_as_ome_tiff_reads_back_as_rgb(tmp_path, dtype):
    image = np.moveaxis(_rgb8(), -1, 0).astype(dtype)  # S, Y, X
    whole, regions = tmp_path / "whole.ome.tif", tmp_path / "regions.ome.tif"
    io_write.write_image(whole, image, axes="SYX", pixel_size={"Y": 0.25, "X": 0.25})
    with io_write.open_output(regions, image.shape, dtype, axes="SYX",
                              pixel_size={"Y": 0.25, "X": 0.25}) as out:
        out[:, :16] = image[:, :16]
        out[:, 16:] = image[:, 16:]
    for path in (whole, regions):
        data, _ = _read(path)
        assert data.axes == "SYX" and data.pixel_size == pytest.approx({"Y": 0.25, "X": 0.25})
        np.testing.assert_array_equal(np.asarray(data.array), image)
        with tifffile.TiffFile(path) as tif:  # colour to any viewer, not 3 gray planes
            assert tif.is_ome and tif.pages.first.photometric == tifffile.PHOTOMETRIC.RGB
            assert tif.pages.first.planarconfig == tifffile.PLANARCONFIG.SEPARATE


def test_planar_rgb_tiff_deblurs_to_ome_tiff_on_the_command_line(tmp_path):
    source = tmp_path / "syx.tif"
    tifffile.imwrite(source, np.moveaxis(_rgb8(), -1, 0), photometric="rgb",
                     planarconfig="separate", resolution=(1e4 / 0.5, 1e4 / 0.5),
                     resolutionunit="CENTIMETER")
    for name, dtype in (("u8.ome.tif", "input"), ("f32.ome.tif", "float32")):
        out = tmp_path / name
        assert main(["deblur", str(source), "-o", str(out), *PSF, "-q",
                     "--output-dtype", dtype]) == 0
        data, _ = _read(out)
        assert data.axes == "SYX" and data.array.shape == (3, 32, 32)
        assert data.array.dtype == (np.uint8 if dtype == "input" else np.float32)
        assert data.pixel_size == pytest.approx({"Y": 0.5, "X": 0.5})


# ----------------------------------------------------------------------------- .svs / .ndpi


def _svs(path, image, mpp="0.4990") -> None:
    """An Aperio-style slide as tifffile writes one: a tiled baseline whose description holds
    the MPP, a thumbnail, a lower level, a label and a macro image."""
    h, w = image.shape[:2]
    options = {"photometric": "rgb", "metadata": None}
    with tifffile.TiffWriter(path) as tif:
        tif.write(image, tile=(16, 16), **options,
                  description=f"{APERIO}{w}x{h} [0,0 {w}x{h}] (16x16) RAW|AppMag = 20"
                              f"|MPP = {mpp}")
        tif.write(image[::4, ::4], description=f"{APERIO}{w}x{h} -> {w // 4}x{h // 4}",
                  **options)
        tif.write(image[::2, ::2], tile=(16, 16), **options,
                  description=f"{APERIO}{w}x{h} -> {w // 2}x{h // 2}")
        tif.write(image[:8, :16], subfiletype=1, description=f"{APERIO}label 16x8", **options)
        tif.write(image[:8, :24], subfiletype=9, description=f"{APERIO}macro 24x8", **options)


def _as_ndpi(path) -> None:
    """A little-endian classic TIFF's IFD chain rewritten in NDPI's layout (8-byte offsets,
    each tag's 4 high offset bytes after the IFD), as tifffile reads a .ndpi file."""
    data = bytearray(path.read_bytes())
    offset, ifds = struct.unpack_from("<I", data, 4)[0], []
    while offset:
        count = struct.unpack_from("<H", data, offset)[0]
        ifds.append(bytes(data[offset + 2:offset + 2 + 12 * count]))
        offset = struct.unpack_from("<I", data, offset + 2 + 12 * count)[0]
    starts = []
    for entries in ifds:
        starts.append(len(data))
        data += struct.pack("<H", len(entries) // 12) + entries + bytes(8 + len(entries) // 3)
    for start, entries, following in zip(starts, ifds, [*starts[1:], 0]):
        struct.pack_into("<Q", data, start + 2 + len(entries), following)
    struct.pack_into("<Q", data, 4, starts[0])
    path.write_bytes(bytes(data))


def _ndpi(path, image) -> None:
    def tags(magnification):
        return [(271, "s", 0, "Hamamatsu", True), (65420, "I", 1, 1, True),
                (65421, "f", 1, magnification, True)]

    with tifffile.TiffWriter(path) as tif:
        tif.write(image, photometric="rgb", metadata=None, extratags=tags(20.0),
                  resolution=(1e4 / 0.23, 1e4 / 0.23), resolutionunit="CENTIMETER")
        tif.write(image[:8, :16], photometric="rgb", metadata=None, extratags=tags(-1.0))
    _as_ndpi(path)


def test_svs_slide_read_with_its_pixel_size_and_one_note_on_its_other_images(tmp_path):
    image = _rgb8((64, 64))
    _svs(tmp_path / "slide.svs", image)
    data, said = _read(tmp_path / "slide.svs")
    assert data.axes == "YXS" and data.pixel_size == pytest.approx({"Y": 0.499, "X": 0.499})
    np.testing.assert_array_equal(np.asarray(data.array), image)
    assert any("the slide's main image is read (64 x 64 x 3); its thumbnail, label and macro "
               "images are left out" in line for line in said), said
    assert not any("save each image as its own file" in line for line in said), said


def test_ndpi_slide_read_with_its_pixel_size(tmp_path):
    image = _rgb8()
    _ndpi(tmp_path / "slide.ndpi", image)
    data, said = _read(tmp_path / "slide.ndpi")
    assert data.axes == "YXS" and data.pixel_size == pytest.approx({"Y": 0.23, "X": 0.23})
    np.testing.assert_array_equal(np.asarray(data.array), image)
    assert any("its macro image is left out" in line for line in said), said


def test_slides_deblurred_from_a_folder_to_tiff_never_written_as_slides(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _svs(folder / "a.svs", _rgb8((64, 64)))
    _ndpi(folder / "b.ndpi", _rgb8(seed=1))
    assert [p.name for p in find_inputs(folder)] == ["a.svs", "b.ndpi"]
    out = tmp_path / "a.ome.tif"
    assert main(["deblur", str(folder / "a.svs"), "-o", str(out), *PSF, "-q"]) == 0
    assert _read(out)[0].pixel_size == pytest.approx({"Y": 0.499, "X": 0.499})
    for name in ("out.svs", "out.NDPI"):
        with pytest.raises(ValueError, match=r"slides are read, not written; name the output "
                                             r"\.tif, \.ome\.tif"):
            io_write.check_output_path(tmp_path / name)


# ------------------------------------------------------------- reader: float RGB contrast


def test_float_rgb_output_of_8bit_input_opens_at_0_255(tmp_path):
    source = tmp_path / "he.tif"
    tifffile.imwrite(source, _rgb8(), photometric="rgb")
    out = tmp_path / "he_deblurred.tif"
    deblur_file(source, out, method="wiener", psf="gaussian:1.5", balance=0.01, device="cpu")
    (_, kwargs, _), = get_reader(str(out))(str(out))
    assert kwargs["rgb"] and kwargs["contrast_limits"] == (0.0, 255.0)
    # a float input of 0-1 keeps napari's limits (its own range), as the dock's source did
    unit = tmp_path / "unit.tif"
    tifffile.imwrite(unit, _rgb8().astype(np.float32) / 255, photometric="rgb")
    out = tmp_path / "unit_deblurred.tif"
    deblur_file(unit, out, method="wiener", psf="gaussian:1.5", balance=0.01, device="cpu",
                axes="YXS")
    (_, kwargs, _), = get_reader(str(out))(str(out))
    assert kwargs["rgb"] and "contrast_limits" not in kwargs
    # nor one of 0-10 (review: it was shown at 0-255, near black)
    tens = tmp_path / "tens.tif"
    tifffile.imwrite(tens, _rgb8().astype(np.float32) / 25.5, photometric="rgb")
    out = tmp_path / "tens_deblurred.tif"
    deblur_file(tens, out, method="wiener", psf="gaussian:1.5", balance=0.01, device="cpu",
                axes="YXS")
    (_, kwargs, _), = get_reader(str(out))(str(out))
    assert kwargs["rgb"] and "contrast_limits" not in kwargs


# -------------------------------------------------------- pyramid note: an output or none


def test_pyramid_note_names_an_output_only_where_one_is_written(tmp_path):
    source = tmp_path / "pyr.ome.tif"
    image = _rgb8((64, 64))
    with tifffile.TiffWriter(source, ome=True) as tif:
        tif.write(image, subifds=1, metadata={"axes": "YXS"}, photometric="rgb")
        tif.write(image[::2, ::2], subfiletype=1, photometric="rgb")
    level = "full resolution read (level 0 of 2, 64 x 64 x 3)"
    clause = "a deblurred output holds this level only"
    _, said = _read(source)  # `evaluate`, `info`, napari's File > Open: no output
    assert any(line.endswith(level) for line in said) and not any(clause in s for s in said)
    _, said = _read(source, for_output=True)  # a deblur's read
    assert any(f"{level}; {clause}" in line for line in said), said
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        get_reader(str(source))
    assert not any(clause in line for line in _said(caught))


def test_svs_copy_keeps_the_slide_read(tmp_path):
    """A slide renamed .tif is still a slide: its other images left out in the same note."""
    _svs(tmp_path / "slide.svs", _rgb8((64, 64)))
    shutil.copy(tmp_path / "slide.svs", tmp_path / "slide.tif")
    data, said = _read(tmp_path / "slide.tif")
    assert data.pixel_size == pytest.approx({"Y": 0.499, "X": 0.499})
    assert any("the slide's main image is read" in line for line in said), said


def test_a_deblur_of_a_pyramid_says_its_output_holds_one_level(tmp_path):
    """The deblur path reads with ``for_output``: its line keeps the clause the other reads
    leave out (``io.read_image(..., for_output=True)`` in ``core.files``)."""
    import tifffile

    from napari_microdeblur.core.files import deblur_file

    src = tmp_path / "pyramid.ome.tif"
    image = np.random.default_rng(4).integers(0, 255, (64, 64)).astype(np.uint8)
    with tifffile.TiffWriter(src) as tif:
        tif.write(image, subifds=1, metadata={"axes": "YX"})
        tif.write(image[::2, ::2], subfiletype=1)
    with pytest.warns(UserWarning, match="a deblurred output holds this level only"):
        deblur_file(src, tmp_path / "out.tif", method="wiener", psf="gaussian:1",
                    balance=0.01)


def test_info_says_an_svs_slides_pixel_size_from_its_header(tmp_path, capsys):
    """``info`` reads headers only (``core.tiff_header``): it had said 'pixel size: not stated'
    for a slide whose pixels were read with Aperio's MPP."""
    src = tmp_path / "slide.svs"
    _svs(src, _rgb8((64, 64)))
    assert main(["info", str(src)]) == 0
    said = capsys.readouterr().out
    assert "0.499" in said and "not stated" not in said
