"""Registration and intensity matching of one blurry/sharp plane pair (``core.pairs``).

:func:`register` finds the subpixel translation of a blurry plane onto its sharp plane;
:func:`affine_fit` the gain and offset that put the sharp plane on the blurry plane's
intensity scale; :func:`structure_table` which pixels of a plane rise above its background
(so patches of pure background noise are not trained on). All work on (C, Y, X) float planes
through their channel means.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.optimize import minimize_scalar

#: Gaussian smoothing (px) of both planes before they are cross-correlated: the pixel noise of
#: the sharp plane otherwise moves the peak (sparse nuclei at a peak SNR of 3: worst error
#: 1.25 px unsmoothed, 0.2 px smoothed); the blurry plane has no detail finer than this.
REGISTER_SIGMA = 2.0

#: The largest blur (Gaussian sigma, px) :func:`affine_fit` models between the two planes.
MAX_BLUR_SIGMA = 24.0

#: Planes with more pixels than this are mean-binned for :func:`affine_fit` (speed only: a
#: gain and offset are low-frequency numbers).
FIT_PIXELS = 512 * 512


def gray(plane: np.ndarray) -> np.ndarray:
    return plane.mean(axis=0, dtype=np.float64)


def _cross_correlation_shift(reference: np.ndarray, moving: np.ndarray, upsample: int):
    from skimage.registration import phase_cross_correlation

    w = np.outer(np.hanning(reference.shape[0]), np.hanning(reference.shape[1]))
    a = (reference - reference.mean()) * w
    b = (moving - moving.mean()) * w
    shift, _, _ = phase_cross_correlation(a, b, upsample_factor=upsample, normalization=None)
    return np.asarray(shift, dtype=np.float64)


def register(moving: np.ndarray, reference: np.ndarray, upsample: int, refine: int = 2):
    """Subpixel shift that registers ``moving`` onto ``reference`` (both (C, Y, X)).

    Cross-correlation (the phase correlation of skimage without whitening, which a blurred
    and noisy plane does not survive: the OTF of a defocus disk changes sign) of the
    Hann-windowed, mean-free channel means smoothed by :data:`REGISTER_SIGMA`, upsampled
    ``upsample`` times; the window pulls the peak towards zero shift, so the estimate is
    refined ``refine`` times on the shifted plane. Measured on the test crops with protocols
    A-C and shifts up to 3 px: mean error 0.04-0.13 px, worst 0.20 px (light-sheet, B).
    """
    ref = ndimage.gaussian_filter(gray(reference), REGISTER_SIGMA)
    mov = ndimage.gaussian_filter(gray(moving), REGISTER_SIGMA)
    total = _cross_correlation_shift(ref, mov, upsample)
    for _ in range(refine):
        moved = ndimage.shift(mov, total, order=3, mode="nearest")
        total = total + _cross_correlation_shift(ref, moved, upsample)
    return total


def _binned(a: np.ndarray, f: int) -> np.ndarray:
    if f == 1:
        return a
    ny, nx = a.shape[0] // f * f, a.shape[1] // f * f
    return a[:ny, :nx].reshape(ny // f, f, nx // f, f).mean(axis=(1, 3))


def _noise_sigma(g: np.ndarray) -> float:
    """Robust sigma of a plane's white noise, from its neighbour differences."""
    diff = np.diff(g, axis=-1).ravel()
    return 1.4826 * float(np.median(np.abs(diff - np.median(diff)))) / np.sqrt(2)


def affine_fit(source: np.ndarray, dest: np.ndarray, sigma: float) -> tuple[float, float, float]:
    """(a, b, blur): ``dest ~ a * B(source) + b`` with B a Gaussian blur of ``blur`` px.

    ``dest`` is the blurry plane, ``source`` the sharp one. A least-squares fit of the blurry
    plane on the sharp one itself measures the blur as a loss of gain (the sharp plane's
    extra contrast is unexplained variance): at a blur of sigma 2 px the fitted gain was 0.80
    of the true one, at 4 px 0.50, and a network trained on that target learns to lower the
    contrast. So the sharp plane is first blurred by the Gaussian that best explains the
    blurry one (both then smoothed by ``sigma`` against noise); the gain and offset of that
    fit are the intensity difference alone; the variance of the sharp plane's own noise (from
    neighbour differences) is left out of the gain, which it would lower (halving the gain at
    most). Blur keeps the mean, so b is fixed by the means.
    """
    s_full, d_full = gray(source), gray(dest)
    f = max(1, int(np.ceil(np.sqrt(s_full.size / FIT_PIXELS))))
    s, d = _binned(s_full, f), _binned(d_full, f)
    d = ndimage.gaussian_filter(d, sigma / f) if sigma > 0 else d
    d = d - d.mean()

    noise = _noise_sigma(s)

    def fit(blur: float, unbiased: bool = False) -> tuple[float, float]:
        total = float(np.hypot(blur, sigma)) / f
        g = ndimage.gaussian_filter(s, total) if total > 0 else s
        g = g - g.mean()
        var = float((g * g).mean())
        a = float((g * d).mean()) / var if var > 0 else 0.0
        residual = float(((d - a * g) ** 2).mean())
        if unbiased:  # the sharp plane's own noise lowers a fit gain: leave its variance out
            noise_var = noise**2 / max(1.0, 4 * np.pi * total**2)
            a = a * var / max(var - noise_var, 0.5 * var) if var > 0 else 0.0
        return a, residual

    best = minimize_scalar(lambda b: fit(b)[1], bounds=(0.0, MAX_BLUR_SIGMA), method="bounded",
                           options={"xatol": 0.05})
    blur = float(best.x) if fit(float(best.x))[1] <= fit(0.0)[1] else 0.0
    a = fit(blur, unbiased=True)[0]
    b = float(d_full.mean() - a * s_full.mean())
    return a, b, blur


def structure_table(plane: np.ndarray) -> np.ndarray:
    """Summed-area table (int64, (Y + 1, X + 1)) of the pixels of a (C, Y, X) plane that hold
    structure (``focus.structure_mask`` of its channel mean: smoothed, more than 6 noise
    sigmas from the median, brighter or darker).

    A standard deviation alone does not tell a sparse fluorescence image's background from
    its cells: the pixel noise of an empty patch exceeds a quarter of the whole image's
    standard deviation when the cells are few. Darker counts too: a brightfield image's cells
    lie below its bright background (counting only brighter pixels had its background gaps
    taken for the structure)."""
    from .focus import structure_mask

    mask = structure_mask(gray(plane))
    table = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    table[1:, 1:] = mask.cumsum(0).cumsum(1)
    return table


def structure_count(table: np.ndarray, y0: int, x0: int, ny: int, nx: int) -> int:
    """Pixels holding structure in the crop [y0:y0+ny, x0:x0+nx] (``structure_table``)."""
    return int(table[y0 + ny, x0 + nx] - table[y0, x0 + nx] - table[y0 + ny, x0]
               + table[y0, x0])


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two arrays of one shape; 0 where either holds one value."""
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / den if den > 0 else 0.0


def shift_confirmed(moving: np.ndarray, reference: np.ndarray, shift, *, min_corr: float = 0.5,
                    min_gain: float = 0.2) -> bool:
    """Whether a shift larger than registration is trusted with is nonetheless real: the
    smoothed planes correlate at least ``min_corr`` after it and ``min_gain`` more than
    without it (a failed registration of a plane without structure correlates near 0 either
    way). Both (C, Y, X); the margin the shift uncovers is left out of both correlations."""
    m = int(np.ceil(float(np.max(np.abs(shift)))))
    if min(reference.shape[1:]) - 2 * m < 8:
        return False
    ref = ndimage.gaussian_filter(gray(reference), REGISTER_SIGMA)
    mov = ndimage.gaussian_filter(gray(moving), REGISTER_SIGMA)
    moved = ndimage.shift(mov, shift, order=1, mode="nearest")
    inner = (slice(m, -m), slice(m, -m)) if m else (slice(None), slice(None))
    before, after = correlation(ref[inner], mov[inner]), correlation(ref[inner], moved[inner])
    return after >= min_corr and after - before >= min_gain
