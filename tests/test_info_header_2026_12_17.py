"""`microdeblur info` of a TIFF from its header says what deblur's read says: the other images
of a compressed multi-series file and the levels of a tiled pyramid (said of uncompressed files
only), and a colour-palette TIFF's shape and axes as read (RGB, YXS: the header said YX)."""

import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.cli_info import describe
from napari_microdeblur.core import io
from napari_microdeblur.core.io import read_image
from napari_microdeblur.core.tiff_header import read_tiff_header


def _plane(shape=(32, 40), dtype=np.uint8):
    return (np.arange(np.prod(shape)).reshape(shape) * 7 % 251).astype(dtype)


def _palette(path, **options):
    """A colour palette of 16 hues in no order (not a one-hue ramp): read as RGB."""
    colormap = (np.random.default_rng(3).random((3, 256)) * 255).astype(np.uint16) * 257
    tifffile.imwrite(path, _plane() % 16, photometric="palette", colormap=colormap, **options)


def _grays(path):
    """Grays in no order (Pillow's adaptive palette of a gray image): read as gray values."""
    gray = np.random.default_rng(4).permutation(256).astype(np.uint16) * 257
    tifffile.imwrite(path, _plane(), photometric="palette", colormap=np.stack([gray] * 3),
                     compression="zlib")


def _imagej_lut(path):
    fire = (np.random.default_rng(1).random((3, 256)) * 65535).astype(np.uint16)
    tifffile.imwrite(path, _plane(), imagej=True, photometric="palette", colormap=fire)


def _ycbcr(path):
    tifffile.imwrite(path, np.stack([_plane()] * 3, axis=-1), photometric="ycbcr",
                     subsampling=(1, 1), compression="zlib")


def _multi_series(path):
    """3 positions, zlib-compressed: info takes the header path."""
    with tifffile.TiffWriter(path, ome=True) as tw:
        for i in range(3):
            tw.write(_plane((2, 32, 40), np.uint16) + i, compression="zlib",
                     metadata={"axes": "ZYX"})


def _pyramid(path):
    """A tiled OME-TIFF of 3 levels."""
    big = _plane((128, 128), np.uint16)
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(big, subifds=2, tile=(32, 32), metadata={"axes": "YX"})
        tw.write(big[::2, ::2], subfiletype=1, tile=(32, 32))
        tw.write(big[::4, ::4], subfiletype=1, tile=(32, 32))


FILES = {
    "palette.tif": _palette,
    "palette_zlib.tif": lambda p: _palette(p, compression="zlib"),
    "grays_zlib.tif": _grays,
    "imagej_lut.tif": _imagej_lut,
    "ycbcr.tif": _ycbcr,
    "multi.ome.tif": _multi_series,
    "pyramid.ome.tif": _pyramid,
}


def _said(call) -> tuple[object, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = call()
    return found, [str(w.message) for w in caught]


@pytest.mark.parametrize("name", list(FILES))
def test_info_and_the_header_give_the_shape_and_axes_read_image_gives(tmp_path, name):
    path = tmp_path / name
    FILES[name](path)
    image, _ = _said(lambda: read_image(path, keep_alpha=True))
    info, _ = _said(lambda: describe(str(path)))
    read = (list(image.array.shape), image.axes, str(np.dtype(image.array.dtype)))
    assert (info["shape"], info["axes"], info["dtype"]) == read, name
    header = read_tiff_header(path)  # the docks' look-up of a layer's file
    assert (list(header.shape), header.axes, str(header.dtype)) == read, name


def test_a_colour_palette_header_is_rgb_of_the_tables_dtype(tmp_path):
    path = tmp_path / "palette_zlib.tif"
    _palette(path, compression="zlib")
    header = read_tiff_header(path)
    assert (header.shape, header.axes, header.dtype) == ((32, 40, 3), "YXS", np.uint8)


@pytest.mark.parametrize(("name", "said"), [
    ("multi.ome.tif", "the file holds 3 images; only the first (2 x 32 x 40) is read"),
    ("pyramid.ome.tif", "full resolution read (level 0 of 3, 128 x 128)"),
])
def test_info_of_a_compressed_or_tiled_file_says_what_its_read_says(
        tmp_path, name, said, capsys, monkeypatch):
    path = tmp_path / name
    FILES[name](path)
    _, read_lines = _said(lambda: read_image(path, keep_alpha=True))
    assert any(said in line for line in read_lines)

    def refuse(*args, **kwargs):
        raise AssertionError("info read the pixels")

    monkeypatch.setattr(io.TiffArray, "__getitem__", refuse)
    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", refuse)
    _, info_lines = _said(lambda: describe(str(path)))
    assert info_lines == read_lines  # the same lines, without decoding a pixel
    assert main(["info", str(path)]) == 0
    err = capsys.readouterr().err
    assert said in err and err.count(said) == 1
