"""Classical deconvolution settings chosen on images other than the ones scored.

Richardson-Lucy and Wiener given the true PSF are the oracles the networks are compared with;
at untuned defaults they understate what the classical methods can do. ``tune_classical``
picks the iteration count and the balance with the best mean PSNR on training images degraded
with the same protocol (noise seeds from 1000 on, apart from the seeds the scored images use),
as ``benchmarks/quality.py`` and ``microdeblur demo`` do.

A value at either end of its grid may only be where the grid stopped, not the best setting:
every result says so (``at_grid_edge``). ``microdeblur demo`` keeps the short grids below; the
benchmarks that report a "best tuned classical" bar pass the wide ones, whose ends were not
chosen on their rows.
"""

from __future__ import annotations

import numpy as np

from .degrade import degrade, protocol_psf
from .inference import deblur
from .metrics import evaluate

__all__ = ["RL_ITERATIONS", "WIENER_BALANCES", "WIDE_RL_ITERATIONS", "WIDE_WIENER_BALANCES",
           "TUNING_SEED", "at_grid_edge", "tune_classical"]

RL_ITERATIONS = (5, 10, 20, 30, 50)
WIENER_BALANCES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
# the benchmarks' grids: the short ones' ends were chosen on noisy (RL 5, Wiener 0.1) and
# clean EM rows (RL 50, Wiener 0.001), so those settings were only where the grid stopped;
# clean serial-section EM under protocol A tunes to RL 300
WIDE_RL_ITERATIONS = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500)
WIDE_WIENER_BALANCES = (1e-4, 2e-4, 5e-4, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
                        1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
TUNING_SEED = 1000  # image i is degraded with seed TUNING_SEED + i


def run_classical(blurred, protocol: str, method: str, value, *, axes=None, device="cpu"):
    """Richardson-Lucy (``value`` iterations) or Wiener (``value`` balance), true PSF."""
    setting = {"richardson_lucy": "iterations", "wiener": "balance"}
    if method not in setting:
        raise ValueError(f"method is {method!r}; accepted: {sorted(setting)}")
    return deblur(blurred, method=method, psf=protocol_psf(protocol), axes=axes, device=device,
                  **{setting[method]: value})


def at_grid_edge(value, grid) -> bool:
    """Whether ``value`` is the smallest or largest of ``grid`` (the best may lie beyond it)."""
    return value in (min(grid), max(grid))


def tune_classical(sharp_images, protocol: str, *, channel_axis=None, axes=None,
                   border: int = 16, device: str = "cpu", rl_iterations=RL_ITERATIONS,
                   balances=WIENER_BALANCES) -> dict[str, dict]:
    """Best Richardson-Lucy iterations and Wiener balance on ``sharp_images`` (mean PSNR).

    Returns ``{"richardson_lucy": {"value": 20, "psnr": {5: ..., 10: ...}, "at_grid_edge":
    False}, "wiener": ...}``: the chosen value, the mean PSNR of every value tried and whether
    the value is an end of its grid (``rl_iterations``, ``balances``)."""
    images = list(sharp_images)
    if not images:
        raise ValueError("sharp_images is empty; accepted: one or more sharp training images")
    blurred = [degrade(s, protocol, seed=TUNING_SEED + i, channel_axis=channel_axis)
               for i, s in enumerate(images)]
    tuned = {}
    for method, values in (("richardson_lucy", tuple(rl_iterations)),
                           ("wiener", tuple(balances))):
        if not values:
            raise ValueError(f"the {method} grid is empty; accepted: one or more values")
        psnr = {}
        for value in values:
            scores = [evaluate(run_classical(b, protocol, method, value, axes=axes,
                                             device=device), s, border=border,
                               channel_axis=channel_axis)["psnr"]
                      for b, s in zip(blurred, images)]
            psnr[value] = float(np.mean(scores))
        best = max(psnr, key=psnr.get)
        tuned[method] = {"value": best, "psnr": psnr, "at_grid_edge": at_grid_edge(best, values)}
    return tuned
