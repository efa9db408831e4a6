"""A Poisson-Gaussian noise model of an image, measured from the image itself (no reference):
what self-supervised adaptation (``core.self_adapt``) weighs its losses by."""

from __future__ import annotations

import numpy as np

__all__ = ["VAR_FLOOR", "estimate_noise"]

VAR_FLOOR = 1e-6  # (0.1 % of the normalised range)^2: a noise-free image still has weights


def estimate_noise(plane: np.ndarray) -> tuple[float, float]:
    """``(gain, variance)`` of a Poisson-Gaussian model ``var = gain * signal + variance`` of a
    2D image, from the spread of its high-pass residual (the pixel minus the mean of its four
    neighbours) in 16 bins of local brightness; robust (MAD) so edges count little."""
    from scipy import ndimage

    p = np.asarray(plane, dtype=np.float64)
    # The residual needs a pixel with four neighbours; NaN would make the model NaN silently.
    if p.ndim != 2 or min(p.shape) < 3:
        raise ValueError(f"plane has shape {p.shape}; accepted: one 2D plane of at least 3 x 3 px")
    if not np.all(np.isfinite(p)):
        raise ValueError("plane holds NaN or Inf pixels; accepted: finite values only (replace "
                         "them first, e.g. with numpy.nan_to_num)")
    neighbours = ndimage.convolve(p, np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]) / 4.0,
                                  mode="reflect")
    residual = (p - neighbours)[1:-1, 1:-1].ravel()  # white noise: variance x 1.25
    level = ndimage.uniform_filter(p, 5, mode="reflect")[1:-1, 1:-1].ravel()
    edges = np.unique(np.quantile(level, np.linspace(0, 1, 17)))
    means, variances, counts = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = residual[(level >= lo) & (level <= hi)]
        if inside.size < 50:
            continue
        mad = np.median(np.abs(inside - np.median(inside)))
        means.append(float(np.median(level[(level >= lo) & (level <= hi)])))
        variances.append((1.4826 * mad) ** 2 / 1.25)
        counts.append(inside.size)
    if len(means) < 2:
        return 0.0, max(float(np.var(residual)) / 1.25, VAR_FLOOR)
    gain, variance = np.polyfit(means, variances, 1, w=np.sqrt(counts))
    if gain < 0:  # brighter is not noisier: a constant variance
        gain, variance = 0.0, float(np.average(variances, weights=counts))
    return float(gain), float(max(variance, VAR_FLOOR))
