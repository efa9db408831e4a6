"""`microdeblur focus` and core.focus hold about one plane's working set, with the same scores.

A (7, 16384, 16384) 8-bit stack peaked at 10.5 GB: the CLI read the whole file, and each plane
built its DCT transfer function whole in float64 (8 GB at 16384 x 16384), a squared and a
divided copy of the band-pass map, a padded and a reordered copy for the tile means, and the
structure test three more float planes. Peaks are measured with tracemalloc (numpy's
allocations) in float32 planes of the image; the scores are compared bit for bit with the
computation as it was (the whole-plane transfer function, the whole-map tile means).
"""

from __future__ import annotations

import json
import math
import tracemalloc

import numpy as np
import pytest
import tifffile
import torch
from scipy import fft, ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core.focus import focus_score, structure_planes, structure_tiles


def _image(shape, seed=0) -> np.ndarray:
    """Smooth structure plus noise, 8-bit, nothing at the min or max along the edge."""
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.random(shape, dtype=np.float32),
                                     [0] * (len(shape) - 2) + [3, 3])
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    noisy = 30 + 180 * smooth + rng.normal(0, 4, shape).astype(np.float32)
    return np.clip(noisy, 31, 220).astype(np.uint8)


def _peak_planes(run, plane_pixels: int) -> float:
    """Peak numpy memory of ``run()`` above what was held before, in float32 planes."""
    tracemalloc.start()
    try:
        run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / (4 * plane_pixels)


def _taps(sigma: float) -> np.ndarray:
    x = np.arange(-math.ceil(3 * sigma), math.ceil(3 * sigma) + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return taps / taps.sum()


def _transfer(taps: np.ndarray, n: int) -> np.ndarray:
    r = len(taps) // 2
    t = np.arange(-r, r + 1, dtype=np.float64)
    return np.cos(np.pi * np.arange(n, dtype=np.float64)[:, None] * t / n) @ taps


def _reference_band(plane: np.ndarray) -> tuple[np.ndarray, float]:
    """The band-pass DCT coefficients as they were made: the whole (Y, X) transfer function in
    float64, then float32."""
    ny, nx = plane.shape
    fine, extra = _taps(2.0), _taps(math.sqrt(12.0))
    h = np.outer(_transfer(fine, ny), _transfer(fine, nx)) * (
        1.0 - np.outer(_transfer(extra, ny), _transfer(extra, nx)))
    coeffs = fft.dctn(plane, type=2, norm="ortho", workers=1)
    mean = float(coeffs[0, 0]) / math.sqrt(plane.size)
    return coeffs * h.astype(np.float32), mean


def _reference_score(plane: np.ndarray) -> float:
    coeffs, mean = _reference_band(plane.astype(np.float32))
    energy = float(np.einsum("ij,ij->", coeffs, coeffs, dtype=np.float64)) / plane.size
    return energy / max(mean, 1e-12) ** 2


def _reference_tiles(plane: np.ndarray, tile: int) -> np.ndarray:
    coeffs, mean = _reference_band(plane.astype(np.float32))
    band = fft.idctn(coeffs, type=2, norm="ortho", workers=1)
    energy = torch.from_numpy(band * band / max(mean, 1e-12) ** 2)
    ny, nx = math.ceil(plane.shape[0] / tile), math.ceil(plane.shape[1] / tile)
    padded = torch.nn.functional.pad(
        energy, (0, nx * tile - plane.shape[1], 0, ny * tile - plane.shape[0]), value=math.nan)
    blocks = padded.reshape(ny, tile, nx, tile).permute(0, 2, 1, 3).reshape(ny, nx, -1)
    return torch.nanmean(blocks, dim=-1).numpy()


def test_the_cli_scores_a_stack_a_plane_at_a_time_with_the_same_scores(tmp_path, capsys):
    # planes above TRANSFER_CACHE_PX: one transfer function kept, not 8 shapes' worth
    stack = _image((3, 2304, 2300))
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, metadata={"axes": "ZYX"})
    peak = _peak_planes(lambda: main(["focus", str(path), "--json"]), 2304 * 2300)
    got = json.loads(capsys.readouterr().out)
    # read whole and scored as before: 8.9 planes (the transfer function's float64 arrays,
    # the whole stack); now 3.7: the transfer function (kept for the next plane), a float32
    # copy of the plane, the structure test's mask and subsampled differences, the 8-bit plane
    assert peak < 4.5, f"peak {peak:.2f} float32 planes"
    assert got["scores"] == focus_score(stack, axes="ZYX").tolist()  # bit for bit
    assert got["scores"] == [_reference_score(p) for p in stack]
    assert got["structure"] == structure_planes(stack, axes="ZYX").tolist() == [True] * 3


def test_the_cli_tile_scores_match_the_whole_map_tile_means(tmp_path, capsys):
    stack = _image((2, 1100, 1290), seed=1)
    path = tmp_path / "tiles.tif"
    tifffile.imwrite(path, stack, metadata={"axes": "ZYX"})
    assert main(["focus", str(path), "--tile", "128", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    expected = np.stack([_reference_tiles(p, 128) for p in stack]).astype(np.float64)
    assert np.array_equal(np.asarray(got["scores"]), expected)  # bit for bit
    assert np.array_equal(got["structure"], structure_tiles(stack, axes="ZYX", tile=128))


@pytest.mark.parametrize(("tile", "shape"), [(None, (2310, 2296)), (256, (2306, 2302))])
def test_a_large_plane_is_scored_on_a_float_copy_and_its_transfer_function(tile, shape):
    # above TRANSFER_CACHE_PX, in shapes no other test scores: the transfer function is made
    # (in bands) inside the measured call
    plane = _image(shape, seed=2)
    expected = _reference_score(plane) if tile is None else _reference_tiles(plane, tile)
    peak = _peak_planes(lambda: focus_score(plane, tile=tile), plane.size)
    # was 8.0 planes: the transfer function made whole in float64 (and for tiles, the map's
    # squared, divided, padded and reordered copies); now 2.3: the transfer function (float32,
    # kept for the next plane of this shape) and one float32 copy of the plane
    assert peak < 3.0, f"peak {peak:.2f} float32 planes"
    assert np.array_equal(focus_score(plane, tile=tile), expected)


def test_one_large_transfer_function_is_kept_not_one_per_shape():
    first, second = _image((2200, 2000), seed=7), _image((2100, 2050), seed=8)
    tracemalloc.start()
    try:
        focus_score(first)
        focus_score(second)
        held = tracemalloc.get_traced_memory()[0] / (4 * second.size)
    finally:
        tracemalloc.stop()
    # both shapes' float32 transfer functions stayed cached (2.0 planes; up to 8 shapes)
    assert held < 1.5, f"{held:.2f} float32 planes held after scoring"


def _reference_structure(plane: np.ndarray, tile: int) -> np.ndarray:
    """The structure test as it was computed (copies, an int64 count per tile)."""
    g = np.nan_to_num(np.asarray(plane, dtype=np.float32))
    step = max(1, math.isqrt(g.size // 2**20))
    diff = np.diff(g[::step], axis=-1).ravel()
    mad = float(np.median(np.abs(diff - np.median(diff))))
    smooth = ndimage.gaussian_filter(g, 2.0)
    level = 6.0 * 1.4826 * mad / math.sqrt(2) / (2 * math.sqrt(math.pi) * 2.0)
    distance = np.abs(smooth - float(np.median(smooth[::step, ::step])))
    steps = np.abs(diff[diff != 0])
    if mad == 0 or steps.size == 0 or mad <= 1.5 * float(steps.min()):
        level = max(level, 0.07 * float(np.percentile(distance[::step, ::step], 99.9)))
    mask = distance > level
    rows = np.add.reduceat(mask, np.arange(0, mask.shape[0], tile), axis=0)
    return np.add.reduceat(rows, np.arange(0, mask.shape[1], tile), axis=1) > 0


def test_the_structure_test_of_a_large_plane_keeps_one_float_copy():
    plane = _image((2304, 2300), seed=3)
    plane[:700, :900] = 120  # flat background: tiles without structure
    peak = _peak_planes(lambda: structure_tiles(plane, tile=64), plane.size)
    assert peak < 2.5, f"peak {peak:.2f} float32 planes"  # was 5.5, now 2.0
    found = structure_tiles(plane, tile=64)
    assert np.array_equal(found, _reference_structure(plane, 64))
    assert found.any() and not found.all()


def test_scoring_in_place_leaves_the_callers_pixels_as_they_were():
    image = _image((2, 300, 320), seed=4).astype(np.float32)
    image[0, 5:40, 5:40] = np.float32(250.5)
    rgb = _image((200, 210, 3), seed=5)
    before, rgb_before = image.copy(), rgb.copy()
    focus_score(image, axes="ZYX", camera_offset=20.0)
    focus_score(image, axes="ZYX", tile=64)
    structure_tiles(image, axes="ZYX", tile=64)
    structure_planes(image, axes="ZYX")
    focus_score(rgb, axes="YXS", tile=50, camera_offset=3)
    structure_tiles(rgb, axes="YXS", tile=50)
    assert np.array_equal(image, before) and np.array_equal(rgb, rgb_before)


def test_nan_pixels_of_a_stack_are_counted_over_every_plane(tmp_path, capsys):
    stack = _image((3, 64, 64), seed=6).astype(np.float32)
    stack[0, 1:3, 1:3] = np.nan
    stack[2, 5, 5] = np.inf
    tifffile.imwrite(tmp_path / "nan.tif", stack, metadata={"axes": "ZYX"})
    assert main(["focus", str(tmp_path / "nan.tif")]) == 2
    err = capsys.readouterr().err
    assert "nan.tif' holds 5 NaN or Inf pixels (of 12288); scores need finite" in err
    assert len(err.strip().splitlines()) == 1
