"""Tried, not shipped: two ways to keep a strongly blurred image's deblurred range inside the
range the PSF-aware network was trained on. The input is normalised by its 0.1/99.9
percentiles, so where the PSF's wide wings flatten the contrast, the sharp image reaches far
outside [0, 1] (to -0.26 and 1.33 on the EM widefield row's first image, where the network
ended 0.5 dB below its own Wiener estimate; a normalisation 15 % wider each side gained
+0.45 dB there). Runs one part of benchmarks/generalization.py (its --part option) with the
variant patched in for the PSF-aware column only:

- ``--variant wiener-range``: normalise to the wider of the image's percentiles and those of a
  Wiener estimate with the row's PSF (balance 0.05);
- ``--variant two-pass``: run once; where the output's 0.1/99.9 percentiles reach more than
  10 % of the input's range outside it, run again normalised to the output's range.

    OMP_NUM_THREADS=1 python benchmarks/psf_aware_range_tried.py --variant two-pass \\
        --part em --part-out F.json

Results: benchmarks/results/psf_aware_range_tried_<variant>.json (the verdicts are there).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import generalization as gen  # noqa: E402

from napari_microdeblur.core import inference  # noqa: E402

WIENER_BALANCE = 0.05
TWO_PASS_MARGIN = 0.1  # of the input's percentile range, outside which the output reruns
_default_normalization = inference.compute_normalization
_default_run = gen.run
_psf = [None]  # wiener-range: the PSF of the PSF-aware run under way
_range = [None]  # two-pass: the (low, high) the second pass normalises to


def normalization(image, axes, kind, low=0.1, high=99.9):
    norm = _default_normalization(image, axes, kind, low, high)
    if norm.kind != "percentile" or (_psf[0] is None and _range[0] is None):
        return norm
    if _range[0] is not None:
        lo, hi = _range[0]
    else:
        psf, _psf[0] = _psf[0], None  # the Wiener run inside normalises as usual
        try:
            estimate = _default_run("wiener", np.asarray(image), psf, axes, WIENER_BALANCE)
        finally:
            _psf[0] = psf
        lo_w, hi_w = np.percentile(estimate, [low, high])
        lo, hi = min(norm.offset, lo_w), max(norm.offset + norm.scale, hi_w)
    return inference.Normalization(lo, hi - lo, kind=norm.kind, low=norm.low, high=norm.high)


def wiener_range_run(method, blurred, psf, axes, value=None, psf_aware=None, precision="auto"):
    _psf[0] = psf if method == "psf_aware" else None
    try:
        return _default_run(method, blurred, psf, axes, value, psf_aware, precision)
    finally:
        _psf[0] = None


def two_pass_run(method, blurred, psf, axes, value=None, psf_aware=None, precision="auto"):
    out = _default_run(method, blurred, psf, axes, value, psf_aware, precision)
    if method != "psf_aware":
        return out
    norm = _default_normalization(np.asarray(blurred), axes, "percentile")
    lo, hi = norm.offset, norm.offset + norm.scale
    out_lo, out_hi = np.percentile(out, [0.1, 99.9])
    margin = TWO_PASS_MARGIN * (hi - lo)
    if out_lo >= lo - margin and out_hi <= hi + margin:
        return out
    _range[0] = (min(lo, out_lo), max(hi, out_hi))
    try:
        return _default_run(method, blurred, psf, axes, value, psf_aware, precision)
    finally:
        _range[0] = None


VARIANTS = {"wiener-range": wiener_range_run, "two-pass": two_pass_run}

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--variant" not in argv or argv.index("--variant") + 1 >= len(argv):
        print(__doc__)  # --help too: the other options are generalization.py's (its --help)
        sys.exit(0 if {"-h", "--help"} & set(argv) else 2)
    variant = argv.pop(argv.index("--variant") + 1)
    argv.remove("--variant")
    if variant not in VARIANTS:
        sys.exit(f"--variant {variant!r}: one of {', '.join(VARIANTS)}")
    inference.compute_normalization = normalization
    gen.run = VARIANTS[variant]
    sys.exit(gen.main(argv))
