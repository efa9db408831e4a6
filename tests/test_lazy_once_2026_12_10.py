"""A lazy plane up to the held size is decoded once per run (README 'How tiling works'): the
normalisation's sample and the tiles read one decode (a 20000 px dask plane's 100 chunks were
computed 200 times: once for the sample, once for the tiles)."""

import numpy as np
import pytest

from napari_microdeblur.core import tiling
from napari_microdeblur.core.inference import deblur, prepare_deblur, split_options

da = pytest.importorskip("dask.array")

N, CHUNK = 1024, 256  # 16 chunks
WIENER = dict(method="wiener", psf="gaussian:1.6", balance=0.01, axes="YX")


def _values(y0, y1, x0, x1):
    yy, xx = np.mgrid[y0:y1, x0:x1]
    return (128 + 60 * np.sin(yy / 7.0) * np.cos(xx / 5.0)).astype(np.uint8)


def counting_plane(shape=(N, N), chunk=CHUNK):
    """A lazy plane whose chunks count how often they are computed, by their origin."""
    counts: dict = {}

    def chunk_of(block_info=None):
        if not block_info or None not in block_info:  # dask's guess of the output type
            return np.zeros((0, 0), np.uint8)
        (y0, y1), (x0, x1) = block_info[None]["array-location"]
        counts[(y0, x0)] = counts.get((y0, x0), 0) + 1
        return _values(y0, y1, x0, x1)

    image = da.map_blocks(chunk_of, dtype=np.uint8, chunks=tuple(
        (chunk,) * (n // chunk) for n in shape))
    return image, counts


@pytest.mark.parametrize("tile", [256, None])
def test_each_chunk_of_a_lazy_plane_is_computed_once_per_run(tile):
    image, counts = counting_plane()
    result = deblur(image, tile=tile, **WIENER)
    assert len(counts) == 16
    assert set(counts.values()) == {1}, counts  # was 2 each: the sample, then the tiles
    expected = deblur(_values(0, N, 0, N), tile=tile, **WIENER)  # numpy: read as before
    np.testing.assert_array_equal(result, expected)


def test_a_lazy_plane_into_a_given_out_is_computed_once():
    image, counts = counting_plane()
    out = np.full((N, N), np.nan, np.float32)
    deblur(image, tile=256, out=out, **WIENER)
    assert set(counts.values()) == {1}
    np.testing.assert_array_equal(out, deblur(_values(0, N, 0, N), tile=256, **WIENER))


def test_the_held_plane_is_released_when_the_run_starts():
    image, counts = counting_plane()
    spec, tiling_spec = split_options("wiener", psf="gaussian:1.6", balance=0.01, tile=256)
    prepared = prepare_deblur(image, "YX", spec, tiling_spec)
    assert set(counts.values()) == {1}  # the normalisation read the plane once
    first = prepared.run().image
    assert prepared.held is None  # a kept PreparedDeblur holds no plane after its run
    assert set(counts.values()) == {1}
    again = prepared.run().image  # a second run reads the image again, tile by tile
    assert set(counts.values()) == {2}
    np.testing.assert_array_equal(first, again)


def test_a_plane_over_the_held_size_is_read_twice_not_held(monkeypatch):
    """Over ``READ_ONCE_MAX_BYTES`` memory stays bounded: nothing held, the plane read by a
    strided sample and then tile by tile (each chunk as often as its tiles touch it)."""
    monkeypatch.setattr(tiling, "READ_ONCE_MAX_BYTES", N * N - 1)
    image, counts = counting_plane()
    spec, tiling_spec = split_options("wiener", psf="gaussian:1.6", balance=0.01, tile=256)
    prepared = prepare_deblur(image, "YX", spec, tiling_spec)
    assert prepared.held is None
    result = prepared.run().image
    assert min(counts.values()) >= 2
    np.testing.assert_array_equal(result, deblur(_values(0, N, 0, N), tile=256, **WIENER))


def test_a_given_normalization_reads_no_plane_before_the_run():
    image, counts = counting_plane()
    norm = prepare_deblur(_values(0, N, 0, N), "YX", *split_options(
        "wiener", psf="gaussian:1.6", balance=0.01)).normalization
    spec, tiling_spec = split_options("wiener", psf="gaussian:1.6", balance=0.01, tile=256)
    prepared = prepare_deblur(image, "YX", spec, tiling_spec, normalization=norm)
    assert counts == {} and prepared.held is None
    prepared.run()
    assert set(counts.values()) == {1}  # the run holds the plane itself (tiling.read_once)


def test_a_lazy_rgba_plane_gives_the_numpy_result():
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 255, (256, 256, 4), dtype=np.uint8)
    options = dict(method="wiener", psf="gaussian:1.6", balance=0.01, axes="YXS", tile=128)
    with pytest.warns(Warning):  # the alpha copied note
        lazy = deblur(da.from_array(rgba, chunks=(64, 64, 4)), **options)
    with pytest.warns(Warning):
        expected = deblur(rgba, **options)
    np.testing.assert_array_equal(lazy, expected)


def test_a_compressed_tiff_plane_is_decoded_once(tmp_path, monkeypatch):
    """A compressed TIFF read lazily (``tiff_lazy``; any size here) is decoded by one read per
    run: the normalisation's sample and the tiles share it (it was two whole reads)."""
    tifffile = pytest.importorskip("tifffile")
    pytest.importorskip("zarr")
    from napari_microdeblur.core import io, tiff_lazy

    monkeypatch.setattr(tiff_lazy, "LAZY_MIN_BYTES", 0)
    plane = _values(0, 512, 0, 512)
    tifffile.imwrite(tmp_path / "a.tif", plane, compression="zlib", tile=(128, 128))
    image = io.read_image(tmp_path / "a.tif").array
    assert isinstance(image, tiff_lazy.TiffZarrArray)
    reads = []
    read = tiff_lazy.TiffZarrArray.__getitem__
    monkeypatch.setattr(tiff_lazy.TiffZarrArray, "__getitem__",
                        lambda self, key: reads.append(key) or read(self, key))
    result = deblur(image, tile=128, **WIENER)
    assert len(reads) == 1, reads  # was 2: a strided sample, then the plane for the tiles
    np.testing.assert_array_equal(result, deblur(plane, tile=128, **WIENER))
