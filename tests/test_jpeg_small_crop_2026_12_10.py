"""README walkthrough of 2026-12-10: a 96 px crop of a PackBits (never JPEG) HT29 TIFF was read as
showing JPEG's 8x8 blocks (blockiness 1.07 over 1.05), so balance 'auto' read only the
frequencies below 0.2 cycles/px; the whole 512 px image was not. The blockiness score grows with
chance as a plane shrinks (fewer blocks average each phase): 75 % of never-JPEG 32-48 px crops
scored over 1.05. core.jpeg_blocks now also asks how likely the grid is by chance
(``grid_chance``, whose scale tightens with the number of blocks)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from napari_microdeblur.core.jpeg_blocks import blockiness, looks_jpeg

HT29 = Path("/work/shared/data/fluorescence_2d/cellprofiler_ExampleHuman_ht29/"
            "AS_09125_050116030001_D03f00d0.tif")
needs_ht29 = pytest.mark.skipif(not HT29.exists(),
                                reason="the walkthrough's shared data is not here")


def _jpeg(u8: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(u8).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer))


def _cells(seed: int, n: int = 256) -> np.ndarray:
    """Blurred discs with a little noise, 8-bit: never JPEG-compressed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    image = np.full((n, n), 0.8)
    for _ in range(120):
        cy, cx, r = rng.uniform(0, n), rng.uniform(0, n), rng.uniform(3, 14)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0.1, 0.7)
    blurred = ndimage.gaussian_filter(image, 1.6)
    blurred = blurred + np.random.default_rng(seed + 1).normal(0, 2 / 255, image.shape)
    return np.round(np.clip(blurred, 0, 1) * 255).astype(np.uint8)


def _tiles(image: np.ndarray, side: int, dy: int = 0, dx: int = 0) -> list[np.ndarray]:
    n = image.shape[0]
    return [image[y + dy : y + side, x + dx : x + side]
            for y in range(0, n - side + 1, side) for x in range(0, n - side + 1, side)]


@needs_ht29
def test_small_crops_of_the_walkthrough_s_never_jpeg_tiff_are_not_jpeg():
    import tifffile

    full = tifffile.imread(HT29)
    for side in (96, 64, 48):
        crop = full[:side, :side]
        assert blockiness(crop) > 1.05  # its content alone looks blocky at this size
        assert not looks_jpeg(crop), side  # was: True at all three sizes


@needs_ht29
def test_balance_auto_on_the_walkthrough_s_96_px_crop_does_not_name_jpeg():
    import tifffile

    from napari_microdeblur.core.inference import deblur

    crop = tifffile.imread(HT29)[:96, :96]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur(crop, method="wiener", psf="gaussian:1.6")
    lines = [str(w.message) for w in caught]
    assert lines and not any("JPEG" in line for line in lines), lines
    # was: "... it shows JPEG's 8x8 blocks, so only frequencies below 0.2 cycles/px were read"


@needs_ht29
@pytest.mark.parametrize("quality, sides", [(75, (96, 64)), (85, (96, 64)), (90, (96,))])
def test_jpeg_versions_of_the_same_image_are_still_found_at_96_and_64_px(quality, sides):
    import tifffile

    full = tifffile.imread(HT29)
    whole = _jpeg(full, quality)  # the file was a JPEG, then cropped (off its grid too)
    for y, x, side in [(0, 0, s) for s in sides] + [(203, 205, 96)]:
        assert looks_jpeg(whole[y : y + side, x : x + side]), (y, x, side)
        assert looks_jpeg(_jpeg(full[y : y + side, x : x + side], quality)), (y, x, side)


def test_never_jpeg_crops_of_48_and_64_px_are_not_jpeg_and_their_jpegs_are():
    images = [_cells(seed) for seed in range(4)]
    for side in (48, 64):
        crops = [c for image in images for c in _tiles(image, side)]
        assert not any(looks_jpeg(c) for c in crops), side  # was: 58 of 100 at 48 px, 8 of 64
    # the same images as JPEG, cropped off the 8 px grid (3, 5)
    for side in (64, 96):
        crops = [c for image in images for c in _tiles(_jpeg(image, 75), side, 3, 5)]
        assert all(looks_jpeg(c) for c in crops), side


def test_grid_chance_is_small_for_a_grid_and_one_where_nothing_can_be_told():
    from napari_microdeblur.core.jpeg_blocks import JPEG_GRID_CHANCE, grid_chance

    rng = np.random.default_rng(0)
    plane = 100 + rng.normal(0, 3, (64, 64))
    plane[:, ::8] += 30  # a step every 8 px along both axes
    plane[::8, :] += 30
    assert grid_chance(plane) < JPEG_GRID_CHANCE and looks_jpeg(plane)
    assert grid_chance(rng.normal(100, 3, (64, 64))) > 1e-3  # noise alone
    assert grid_chance(plane[:24, :24]) == 1.0  # under 25 px: too few blocks to tell
    holed = plane.copy()
    holed[5, 5] = np.nan
    assert grid_chance(holed) == 1.0 and not looks_jpeg(holed)
