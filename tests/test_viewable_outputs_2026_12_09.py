"""Outputs ordinary viewers open (a histology walkthrough): a .png output of the input's 8 or
16 bits, JPEG refused saying why, a hint once per run where 8-bit RGB is written as float32
TIFF, and a pyramidal TIFF input said to be read at its full-resolution level."""

from __future__ import annotations

import warnings

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core import io, io_write
from napari_microdeblur.core.files import deblur_file

PSF = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu"]
HINT = "8-bit RGB written as float32 TIFF"


def _rgb8(seed=0, shape=(64, 64)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = ndimage.gaussian_filter(rng.random((*shape, 3)), (2, 2, 0))
    image = (image - image.min()) / (image.max() - image.min())
    return (30 + 200 * image).astype(np.uint8)


def _edge(dtype=np.uint8) -> np.ndarray:
    """A blurred step from 0 to the type's top: a deblur overshoots both ends."""
    top = np.iinfo(dtype).max
    step = np.zeros((64, 64))
    step[:, 32:] = top
    return np.clip(ndimage.gaussian_filter(step, 1.5), 0, top).astype(dtype)


def test_png_output_keeps_8bit_rgb_and_pixel_size(tmp_path, capsys):
    source = tmp_path / "slide.ome.tif"
    tifffile.imwrite(source, _rgb8(), photometric="rgb",
                     metadata={"axes": "YXS", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
    out = tmp_path / "slide.png"
    assert main(["deblur", str(source), "-o", str(out), *PSF, "-q"]) == 0
    with Image.open(out) as image:  # what an ordinary viewer opens
        assert image.mode == "RGB" and image.size == (64, 64)
    read = io.read_image(out)
    assert read.array.dtype == np.uint8 and read.axes == "YXS"
    assert read.pixel_size == pytest.approx({"X": 0.5, "Y": 0.5}, rel=1e-6)
    assert HINT not in capsys.readouterr().err


def test_png_output_counts_clipped_pixels_and_matches_the_float_run(tmp_path, capsys):
    source = tmp_path / "edge.tif"
    tifffile.imwrite(source, _edge())
    assert main(["deblur", str(source), "-o", str(tmp_path / "f.tif"), *PSF, "-q"]) == 0
    assert main(["deblur", str(source), "-o", str(tmp_path / "e.png"), *PSF, "-q"]) == 0
    float_run = tifffile.imread(tmp_path / "f.tif")
    clipped = int(np.count_nonzero((np.rint(float_run) < 0) | (np.rint(float_run) > 255)))
    assert clipped > 0
    err = capsys.readouterr().err
    assert f"{clipped} of {64 * 64} pixels" in err and "clipped to 0-255" in err
    png = np.asarray(Image.open(tmp_path / "e.png"))
    np.testing.assert_array_equal(png, np.clip(np.rint(float_run), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("samples", [2, 3, 4])
def test_16bit_colour_png_reads_with_its_16_bits(tmp_path, samples):
    values = np.random.default_rng(1).integers(0, 65535, (9, 11, samples)).astype(np.uint16)
    path = tmp_path / "c16.png"
    path.write_bytes(imagecodecs.png_encode(values))
    read = io.read_image(path, keep_alpha=True)
    assert read.array.dtype == np.uint16
    np.testing.assert_array_equal(read.array, values)
    # and the package's own 16-bit PNG is one libpng reads back
    io_write.write_png(tmp_path / "own.png", values.astype(np.float32), axes="YXS",
                       dtype=np.uint16)
    decoded = imagecodecs.png_decode((tmp_path / "own.png").read_bytes())
    np.testing.assert_array_equal(decoded, values)


def test_png_refusals_in_one_line(tmp_path, capsys):
    floats = tmp_path / "f32.tif"
    tifffile.imwrite(floats, np.random.default_rng(0).random((32, 32), dtype=np.float32))
    stack = tmp_path / "z.tif"
    tifffile.imwrite(stack, np.zeros((3, 32, 32), np.uint8), photometric="minisblack",
                     metadata={"axes": "ZYX"})
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, _rgb8(), photometric="rgb")
    cases = [(floats, "out.png", "PNG holds 8- or 16-bit values and the input is float32"),
             (stack, "out.png", "PNG holds one gray or RGB(A) plane"),
             (rgb, "out.jpg", "JPEG is lossy"), (rgb, "out.jpeg", "write .png or .tif")]
    for source, name, words in cases:
        assert main(["deblur", str(source), "-o", str(tmp_path / name), *PSF, "-q"]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / name).exists()


def test_float32_rgb_tif_hint_said_once_per_run(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i in range(2):
        tifffile.imwrite(src / f"s{i}.tif", _rgb8(i), photometric="rgb")
    assert main(["deblur", str(src), "-o", str(out), *PSF]) == 0
    err = capsys.readouterr().err
    assert err.count(HINT) == 1 and "--output-dtype" in err, err
    assert main(["deblur", str(src / "s0.tif"), "-o", str(tmp_path / "i.tif"), *PSF,
                 "--output-dtype", "input"]) == 0
    assert HINT not in capsys.readouterr().err
    with Image.open(tmp_path / "i.tif") as image:  # the hint's advice opens in Pillow
        assert image.mode == "RGB"


def _pyramid(path) -> None:
    image = _rgb8(shape=(128, 128))
    options = {"photometric": "rgb", "tile": (64, 64), "compression": "zlib"}
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(image, subifds=2, metadata={"axes": "YXS"}, **options)
        tif.write(image[::2, ::2], subfiletype=1, **options)
        tif.write(image[::4, ::4], subfiletype=1, **options)


def test_pyramidal_tiff_said_read_at_full_resolution(tmp_path, capsys):
    source = tmp_path / "pyr.ome.tif"
    _pyramid(source)
    assert main(["deblur", str(source), "-o", str(tmp_path / "cli.tif"), *PSF, "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count("full resolution read (level 0 of 3, 128 x 128 x 3)") == 1, err
    assert tifffile.imread(tmp_path / "cli.tif").shape == (128, 128, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur_file(source, tmp_path / "api.tif", method="wiener", psf="gaussian:1.5",
                    balance=0.01, device="cpu")
    assert any("full resolution read (level 0 of 3" in str(w.message) for w in caught)


def test_a_planar_rgb_tiff_writes_a_png(tmp_path):
    """Review 2026-12-09: a planar RGB TIFF (read SYX) was refused as 'one gray or RGB(A)
    plane ... SYX 3 x 64 x 64'."""
    planar = (np.random.default_rng(0).random((3, 64, 64)) * 200).astype(np.uint8)
    source = tmp_path / "planar.tif"
    tifffile.imwrite(source, planar, photometric="rgb", planarconfig="separate")
    options = ["--method", "wiener", "--psf", "gaussian:1.2", "--balance", "0.01", "-q"]
    assert main(["deblur", str(source), "-o", str(tmp_path / "x.png"), *options]) == 0
    assert main(["deblur", str(source), "-o", str(tmp_path / "x.tif"), *options,
                 "--output-dtype", "input"]) == 0
    png = np.asarray(Image.open(tmp_path / "x.png"))
    tif = tifffile.imread(tmp_path / "x.tif")
    assert png.shape == (64, 64, 3)
    np.testing.assert_array_equal(png, tif if tif.shape == png.shape else np.moveaxis(tif, 0, -1))
