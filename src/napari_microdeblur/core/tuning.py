"""Classical deconvolution settings chosen on images other than the ones scored.

Richardson-Lucy and Wiener given the true PSF are the oracles the networks are compared with;
at untuned defaults they understate what the classical methods can do. ``tune_classical``
picks the iteration count and the balance with the best mean PSNR on training images degraded
with the same protocol (noise seeds from 1000 on, apart from the seeds the scored images use),
as ``benchmarks/quality.py`` and ``microdeblur demo`` do.
"""

from __future__ import annotations

import numpy as np

from .degrade import degrade, protocol_psf
from .inference import deblur
from .metrics import evaluate

__all__ = ["RL_ITERATIONS", "WIENER_BALANCES", "TUNING_SEED", "tune_classical"]

RL_ITERATIONS = (5, 10, 20, 30, 50)
WIENER_BALANCES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
TUNING_SEED = 1000  # image i is degraded with seed TUNING_SEED + i


def run_classical(blurred, protocol: str, method: str, value, *, axes=None, device="cpu"):
    """Richardson-Lucy (``value`` iterations) or Wiener (``value`` balance), true PSF."""
    setting = {"richardson_lucy": "iterations", "wiener": "balance"}
    if method not in setting:
        raise ValueError(f"method is {method!r}; accepted: {sorted(setting)}")
    return deblur(blurred, method=method, psf=protocol_psf(protocol), axes=axes, device=device,
                  **{setting[method]: value})


def tune_classical(sharp_images, protocol: str, *, channel_axis=None, axes=None,
                   border: int = 16, device: str = "cpu") -> dict[str, dict]:
    """Best Richardson-Lucy iterations and Wiener balance on ``sharp_images`` (mean PSNR).

    Returns ``{"richardson_lucy": {"value": 20, "psnr": {5: ..., 10: ...}}, "wiener": ...}``:
    the chosen value and the mean PSNR of every value tried."""
    images = list(sharp_images)
    if not images:
        raise ValueError("sharp_images is empty; accepted: one or more sharp training images")
    blurred = [degrade(s, protocol, seed=TUNING_SEED + i, channel_axis=channel_axis)
               for i, s in enumerate(images)]
    tuned = {}
    for method, values in (("richardson_lucy", RL_ITERATIONS), ("wiener", WIENER_BALANCES)):
        psnr = {}
        for value in values:
            scores = [evaluate(run_classical(b, protocol, method, value, axes=axes,
                                             device=device), s, border=border,
                               channel_axis=channel_axis)["psnr"]
                      for b, s in zip(blurred, images)]
            psnr[value] = float(np.mean(scores))
        tuned[method] = {"value": max(psnr, key=psnr.get), "psnr": psnr}
    return tuned
