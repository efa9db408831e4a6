"""The edge fill's continuation (core.edge_fill.filled) is lean on big planes (float32
push-pull, no plane-sized int64 index arrays) and smooth at the fill's edge."""

import tracemalloc

import numpy as np
import pytest
from scipy import ndimage

from napari_microdeblur.core.edge_fill import edge_fill_mask, filled


def _textured(shape, seed=0, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random(shape), 2.0)
    x = (x - x.min()) / np.ptp(x) * 200 + 30
    return np.rint(x).astype(dtype)


def test_filling_a_big_plane_stays_within_a_few_bytes_a_pixel():
    x = _textured((1024, 1024))
    x[:, :300] = 0  # a wide black stripe: an aligned image's fill
    mask = edge_fill_mask(x)
    assert mask is not None
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        out = filled(x, mask)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    # measured 6.6 x the uint8 plane's bytes with its output (before: 72 x, float64 copies and
    # the distance transform's int64 indices over the whole plane)
    assert peak < 16 * x.nbytes, f"peak {peak / x.nbytes:.1f} x the plane"
    assert out.dtype == x.dtype and np.array_equal(out[~mask], x[~mask])


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
def test_the_fill_continues_the_image_without_a_step_at_its_edge(dtype):
    x = _textured((131, 97), seed=1, dtype=dtype)  # odd sizes: the pyramid's last pixels
    yy, xx = np.mgrid[: x.shape[0], : x.shape[1]]
    mask = yy < (xx - 20) * 0.9  # a slanted wedge, its edge on no grid
    x[mask] = 0
    out = filled(x, mask).astype(np.float64)
    ref = x.astype(np.float64)
    assert np.array_equal(out[~mask], ref[~mask])
    valid = ref[~mask]
    assert valid.min() <= out[mask].min() and out[mask].max() <= valid.max()
    # no step across the fill's edge, nor inside the fill, larger than the image's own
    # between neighbours (the nearest pixel's value made 44 for 37 inside the fill here)
    for a in (0, 1):
        step = np.abs(np.diff(out, axis=a))
        image = ~(np.delete(mask, 0, axis=a) | np.delete(mask, -1, axis=a))
        assert 0 < step[~image].max() <= step[image].max()
    # next to the edge the fill is the image next to it (its local mean), not a far mean
    edge = mask & ndimage.binary_dilation(~mask)
    near = ndimage.uniform_filter(np.where(mask, 0, ref), 7) / np.maximum(
        ndimage.uniform_filter((~mask).astype(float), 7), 1e-9)
    assert np.abs(out - near)[edge].mean() < 0.5 * np.abs(ref[~mask] - ref[~mask].mean()).mean()


def test_a_fill_with_one_image_pixel_takes_its_value():
    x = np.zeros((37, 50), np.float32)
    x[20, 30] = 5.0
    mask = x == 0
    assert np.all(filled(x, mask) == 5.0)
    assert np.array_equal(filled(x, np.zeros_like(mask)), x)  # nothing to fill
    assert np.array_equal(filled(x, np.ones_like(mask)), x)  # nothing to continue it from
