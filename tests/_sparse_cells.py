"""A synthetic sparse fluorescence field shared by the focus and selective-deblur tests."""

import numpy as np
from scipy import ndimage as ndi


def cells(seed, size=512, n=30):
    """Sparse fluorescence: round cells with a filament each, all in the top half."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size))
    yy, xx = np.mgrid[:size, :size]
    for _ in range(n):
        cy, cx = rng.integers(20, size // 2 - 20), rng.integers(20, size - 20)
        img += 200 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 4.0**2))
        img[cy - 10:cy + 10, cx] += 150
    return img


def noisy(img, seed):
    """``img`` on a background of 10 with Gaussian camera noise of sd 3, as float32."""
    return (img + 10 + np.random.default_rng(seed).normal(0, 3, img.shape)).astype(np.float32)


def half_blurred(tile):
    """(cells(3) with its right half blurred by a Gaussian of 3 px, which tiles of ``tile`` px
    hold a cell, which of those lie in the blurred half)."""
    sharp = cells(3)
    image = sharp.copy()
    image[:, 256:] = ndi.gaussian_filter(sharp, 3.0)[:, 256:]
    n = 512 // tile
    content = (sharp > 20).reshape(n, tile, n, tile).any(axis=(1, 3))
    right = np.zeros((n, n), dtype=bool)
    right[:, n // 2:] = True
    return image, content, content & right
