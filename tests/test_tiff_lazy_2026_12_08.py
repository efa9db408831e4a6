"""Compressed TIFFs read lazily (core/tiff_lazy.py): plane by plane through tifffile's Zarr
store, equal pixel for pixel to tifffile's whole read; small ones and a missing zarr read
whole, as before."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core import io
from napari_microdeblur.core.files import deblur_file

pytest.importorskip("zarr")
pytest.importorskip("imagecodecs")  # LZW, zstd


def _threshold(monkeypatch, nbytes: int) -> None:
    """Lower (or raise) the size above which a compressed TIFF is read lazily; nothing to
    change in a version without tiff_lazy (its compressed TIFFs are read whole)."""
    try:
        from napari_microdeblur.core import tiff_lazy
    except ImportError:
        return
    monkeypatch.setattr(tiff_lazy, "LAZY_MIN_BYTES", nbytes)


def _stack(shape=(5, 70, 90), dtype=np.uint16, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 4000, shape).astype(dtype)


@pytest.mark.parametrize("kwargs", [
    {"compression": "zlib"},
    {"compression": "zlib", "tile": (32, 48)},
    {"compression": "lzw", "byteorder": ">"},
    {"compression": "zstd", "rowsperstrip": 7},
])
def test_compressed_stack_is_lazy_and_equal(tmp_path, monkeypatch, kwargs):
    data = _stack()
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data, metadata={"axes": "ZYX"}, resolution=(2.0, 2.0), **kwargs)
    _threshold(monkeypatch, 1)
    read = io.read_image(path)
    assert not isinstance(read.array, np.ndarray)
    assert read.array.shape == data.shape and read.array.dtype == np.dtype(np.uint16)
    expected = tifffile.imread(path)
    for z in range(data.shape[0]):
        np.testing.assert_array_equal(read.array[z], expected[z])
    np.testing.assert_array_equal(np.asarray(read.array), expected)
    # the regions the tiler and the samplers ask for, numpy's way
    for key in [(2, slice(10, 40), slice(5, 77)), (slice(None, None, 2), slice(None, None, 3)),
                (slice(None, None, -1), 3), (Ellipsis, slice(80, 5, -7)), (-1, -2, -3),
                (slice(3, 3), 0)]:
        np.testing.assert_array_equal(read.array[key], expected[key])
    # the same axes, pixel sizes, metadata as the whole read
    _threshold(monkeypatch, 1 << 62)
    whole = io.read_image(path)
    assert isinstance(whole.array, np.ndarray)
    assert (read.axes, read.pixel_size, read.metadata, read.note) == \
        (whole.axes, whole.pixel_size, whole.metadata, whole.note)


def test_small_compressed_file_is_read_whole(tmp_path):
    path = tmp_path / "small.tif"
    tifffile.imwrite(path, _stack(), compression="zlib")
    assert isinstance(io.read_image(path).array, np.ndarray)  # 63 kB: one decode is faster
    assert isinstance(io.read_image(path, lazy=False).array, np.ndarray)


def test_rgba_alpha_dropped_reads_whole_kept_reads_lazily(tmp_path, monkeypatch):
    rgba = _stack((40, 50, 4), np.uint8, seed=3)
    path = tmp_path / "rgba.tif"
    tifffile.imwrite(path, rgba, photometric="rgb", extrasamples=[2], compression="zlib")
    _threshold(monkeypatch, 1)
    kept = io.read_image(path, keep_alpha=True)
    assert not isinstance(kept.array, np.ndarray) and kept.axes == "YXS"
    np.testing.assert_array_equal(np.asarray(kept.array), rgba)
    with pytest.warns(UserWarning, match="alpha channel dropped"):
        dropped = io.read_image(path)
    np.testing.assert_array_equal(dropped.array, rgba[..., :3])


def test_deblur_of_compressed_stack_equals_uncompressed_and_never_decodes_it_whole(
        tmp_path, monkeypatch):
    data = _stack((4, 96, 130), seed=1)
    plain, packed = tmp_path / "plain.tif", tmp_path / "packed.tif"
    tifffile.imwrite(plain, data, metadata={"axes": "ZYX"}, photometric="minisblack")
    tifffile.imwrite(packed, data, metadata={"axes": "ZYX"}, photometric="minisblack",
                    compression="zlib")
    options = dict(method="wiener", psf="gaussian:1.5", balance=0.01, tile=64, overlap=16)
    deblur_file(plain, tmp_path / "from_plain.tif", **options)
    _threshold(monkeypatch, 1)

    def whole_read(*args, **kwargs):
        raise AssertionError("the compressed stack was decoded whole")

    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", whole_read)
    deblur_file(packed, tmp_path / "from_packed.tif", **options)
    monkeypatch.undo()
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "from_packed.tif"),
                                  tifffile.imread(tmp_path / "from_plain.tif"))


def test_without_zarr_a_compressed_tiff_still_reads_whole(tmp_path, monkeypatch):
    data = _stack()
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data, compression="zlib")
    _threshold(monkeypatch, 1)
    monkeypatch.setitem(sys.modules, "zarr", None)  # import zarr: ImportError
    read = io.read_image(path)
    assert isinstance(read.array, np.ndarray)
    np.testing.assert_array_equal(read.array, data)


def test_a_store_zarr_cannot_open_reads_whole(tmp_path, monkeypatch):
    import zarr

    data = _stack()
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data, compression="zlib")
    _threshold(monkeypatch, 1)

    def refuse(*args, **kwargs):  # a tifffile too old for the installed zarr, say
        raise TypeError("unsupported store")

    monkeypatch.setattr(zarr, "open", refuse)
    read = io.read_image(path)
    assert isinstance(read.array, np.ndarray)
    np.testing.assert_array_equal(read.array, data)
