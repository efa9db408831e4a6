"""Tried, not shipped: the PSF-aware network with its input normalised to the range of a Wiener
estimate (the wider of the blurred image's 0.1/99.9 percentiles and those of a Wiener estimate
with the row's PSF, balance 0.05), so that a strongly blurred image's deblurred range is not
pushed outside [0, 1]. Runs one part of benchmarks/generalization.py (its --part option) with
that normalisation patched in for the PSF-aware column only:

    OMP_NUM_THREADS=1 python benchmarks/psf_aware_wiener_range_tried.py --part em --part-out F.json

Result: benchmarks/results/psf_aware_wiener_range_tried.json (the verdict is there).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import generalization as gen  # noqa: E402

from napari_microdeblur.core import inference  # noqa: E402

WIENER_BALANCE = 0.05
_default_normalization = inference.compute_normalization
_default_run = gen.run
_psf = [None]  # the PSF of the PSF-aware run under way (None: normalise as usual)


def wiener_range_normalization(image, axes, kind, low=0.1, high=99.9):
    norm = _default_normalization(image, axes, kind, low, high)
    if norm.kind != "percentile" or _psf[0] is None:
        return norm
    psf, _psf[0] = _psf[0], None  # the Wiener run inside normalises as usual
    try:
        estimate = _default_run("wiener", np.asarray(image), psf, axes, WIENER_BALANCE)
    finally:
        _psf[0] = psf
    lo_w, hi_w = np.percentile(estimate, [low, high])
    lo, hi = min(norm.offset, lo_w), max(norm.offset + norm.scale, hi_w)
    return inference.Normalization(lo, hi - lo, kind=norm.kind, low=norm.low, high=norm.high)


def run(method, blurred, psf, axes, value=None, psf_aware=None, precision="auto"):
    _psf[0] = psf if method == "psf_aware" else None
    try:
        return _default_run(method, blurred, psf, axes, value, psf_aware, precision)
    finally:
        _psf[0] = None


if __name__ == "__main__":
    inference.compute_normalization = wiener_range_normalization
    gen.run = run
    sys.exit(gen.main(sys.argv[1:]))
