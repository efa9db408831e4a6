"""Output units at the edges of a dtype and of float32 (walkthrough, /tmp/wt_edges).

- ``output_dtype='input'`` on uint32/int32/int64/uint64 turned the brightest pixels black: the
  result was clipped at ``iinfo.max`` as float32, which rounds 4294967295 up to 2**32, so the
  cast wrapped (a saturated spot's centre became 0 in uint32, -2**31 in int32).
- A small signal on a large offset was lost: the image was cast to float32 before its offset
  came off (1e6 + 0.05 * x kept steps of 0.0625), and the normalisation undone in float32.
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

import napari_microdeblur as md
from napari_microdeblur.core.inference import Normalization, compute_normalization


def _spots(h: int = 64, w: int = 64) -> np.ndarray:
    """Six Gaussian spots, 0..1."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:h, :w]
    image = np.zeros((h, w))
    for cy, cx in rng.uniform(0, [h, w], size=(6, 2)):
        image += np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 30)
    return image / image.max()


def _deblur(image, method: str, **options) -> np.ndarray:
    psf = {} if method.startswith("c2f") else {"psf": "gaussian:1.6"}
    # float32 networks: bfloat16 (the CPU default where it runs) flips on a 1-ulp input change
    extra = {"balance": 0.02} if method == "wiener" else {"precision": "float32"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return md.deblur(image, method=method, device="cpu", **psf, **extra, **options)


@pytest.mark.parametrize("dtype", [np.uint32, np.int32, np.int64, np.uint64, np.uint16, np.int8])
def test_a_saturated_spot_stays_at_the_top_of_an_integer_dtype(dtype):
    info = np.iinfo(dtype)
    y, x = np.mgrid[:64, :64]
    spot = np.exp(-((y - 32) ** 2 + (x - 32) ** 2) / 30)
    # the spot's top at the dtype's maximum, its background at the minimum
    image = np.clip(np.rint(info.min + spot * (float(info.max) - info.min)), info.min,
                    np.nextafter(np.float64(info.max), 0)).astype(dtype)
    image[32, 32] = info.max
    floats = _deblur(image, "wiener").astype(np.float64)
    assert floats[32, 32] > float(info.max)  # Wiener overshoots the saturated centre
    got = _deblur(image, "wiener", output_dtype="input")
    assert got.dtype == dtype
    # was 0 (uint32), -2**31 (int32), -2**63 (int64); 64-bit tops are the float64 below
    assert info.max - 2048 <= int(got[32, 32]) <= info.max
    expected = np.clip(floats, float(info.min), float(info.max))
    span = float(info.max) - float(info.min)
    assert np.abs(got.astype(np.float64) - expected).max() <= max(1.0, 1e-6 * span)


@pytest.mark.parametrize("dtype", [np.uint32, np.int32, np.int64, np.uint64, np.uint16, np.int8])
def test_undo_into_an_integer_dtype_clips_to_values_it_holds(dtype):
    info = np.iinfo(dtype)
    norm = Normalization(float(info.min), float(info.max) - float(info.min))
    block = np.array([[-0.5, 0.0, 0.5, 1.0, 1.5]], np.float32)
    got = norm.undo(block, dtype)
    assert got.dtype == dtype
    assert got[0, 0] == info.min and got[0, 1] == info.min
    # a float32 (or, for 64 bits, float64) cast of iinfo.max wrapped here; a 64-bit top is
    # the float64 just below 2**63 or 2**64
    assert got[0, 4] == got[0, 3] and info.max - 2048 <= int(got[0, 4]) <= info.max
    if np.dtype(dtype).itemsize < 8:
        assert got[0, 4] == info.max
    assert info.min < got[0, 2] < info.max


def test_the_statistics_keep_the_images_precision():
    signal = 0.05 * _spots()
    norm = compute_normalization(1e6 + signal, "YX", "percentile")
    low, high = np.percentile(signal, [0.1, 99.9])
    # float32 statistics rounded both percentiles to 0.0625 steps (the whole signal's span)
    assert norm.offset == pytest.approx(1e6 + low, abs=1e-6)
    assert norm.scale == pytest.approx(high - low, rel=1e-6)


@pytest.mark.parametrize("image, offset, tolerance", [
    (1e6 + 0.05 * _spots(), 1e6, 1e-3),  # signal span 0.07; it came out in 2-3 values
    ((4_000_000_000 + 1000 * _spots()).astype(np.uint32), 4_000_000_000, 1.0),  # span 1100
], ids=["float64", "uint32"])
@pytest.mark.parametrize("method", ["wiener_unet.psf_v4", "c2f_unet.fluorescence_v2"])
def test_a_small_signal_on_a_large_offset_keeps_its_detail(image, offset, tolerance, method):
    # a network sees (x - low percentile) / span: the offset is no part of what it sees, so
    # the run on the signal alone, plus the offset, is the exact answer
    signal = np.asarray(image, np.float64) - offset
    reference = _deblur(signal, method, output_dtype="input") + offset
    got = _deblur(image, method, output_dtype="input")
    assert got.dtype == image.dtype
    # was off by 0.07 (float64) and 128-800 (uint32), i.e. by the signal's span
    assert np.abs(got.astype(np.float64) - reference).max() <= tolerance


def _peak_bytes(run) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_float64_work_is_piece_by_piece_not_a_copy_of_the_whole_image():
    n = 2048
    image = np.full((n, n), 1e6)
    norm = Normalization(1e6, 10.0)
    piece = 8 << 20  # a float64 piece of 2**20 elements
    # the float32 result, plus at most two float64 pieces (not the 32 MB image)
    assert _peak_bytes(lambda: norm.apply(image)) <= 4 * n * n + 2 * piece
    model = np.zeros((1, n, n), np.float32)
    assert _peak_bytes(lambda: norm.undo(model, np.float64)) <= 8 * n * n + 2 * piece
    assert _peak_bytes(lambda: norm.undo(model, np.uint32)) <= 4 * n * n + 2 * piece
