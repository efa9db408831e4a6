"""The numeric options a ``MethodSpec`` carries, and their checks: each names the option and
what it accepts. Richardson-Lucy's ``iterations`` and Wiener's ``balance`` may be 'auto', which
the deblur settles per image (``image_settings.spec_for_image``), and 'auto' is their default; a
Method built without an image needs numbers (``FIXED_ITERATIONS``, ``FIXED_BALANCE``)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["AUTO_BALANCE", "AUTO_ITERATIONS", "FIXED_BALANCE", "FIXED_ITERATIONS",
           "TV_WEIGHT_MAX", "check_balance", "check_iterations", "check_noise_scale",
           "check_tv_weight"]


#: Richardson-Lucy's iterations where no image settles them: a Method built without one
#: (``method.classical_method``, ``resolve_method``) and an image too small for the check below.
FIXED_ITERATIONS = 30
#: ``iterations`` for Richardson-Lucy that the deblur decides per image, the default: the count
#: a check on held-out pixels finds (``image_settings.held_out_count``). Against 30 iterations on
#: the training-split images of benchmarks/classical_defaults.py it scored +0.2 to +16.5 dB on
#: 15 of 15 rows, and 30 iterations left 6 of the 30 images below the blurred input, 'auto' none.
AUTO_ITERATIONS = "auto"


def check_iterations(iterations, *, auto: bool = True) -> None:
    if auto and iterations == AUTO_ITERATIONS:
        return
    accepted = "an integer >= 1" + (" or 'auto'" if auto else "")
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)):
        if iterations == AUTO_ITERATIONS:  # a Method built without its image
            raise TypeError("iterations='auto' is decided per image when the image is deblurred "
                            "(deblur, the CLI, the docks); to build a Method here, give a number")
        raise TypeError(f"iterations={iterations!r} must be {accepted}")
    if int(iterations) < 1:
        raise ValueError(f"iterations={iterations} must be {accepted}")


#: Wiener's balance where no image settles it (as ``FIXED_ITERATIONS``), and for a 3D PSF.
FIXED_BALANCE = 0.01
#: ``balance`` for Wiener that the deblur decides per image, by generalised cross-validation
#: (``image_settings.balance_for``), the default: against 0.01 on the same rows +0.2 to +15.3 dB on
#: 15 of 15, and 0.01 left 8 of the 30 images below the input, 'auto' none.
AUTO_BALANCE = "auto"


def check_balance(balance, *, auto: bool = True) -> None:
    if auto and balance == AUTO_BALANCE:
        return
    if balance == AUTO_BALANCE:  # a Method built without its image
        raise TypeError("balance='auto' is decided per image when the image is deblurred "
                        "(deblur, the CLI, the docks); to build a Method here, give a number")
    if not (isinstance(balance, (int, float, np.floating)) and not isinstance(balance, bool)
            and math.isfinite(balance) and balance > 0):
        raise ValueError(f"balance={balance!r} must be > 0" + (" or 'auto'" if auto else ""))


#: The largest Richardson-Lucy total-variation weight accepted. RL (30 iterations, gaussian:2,
#: noise 0.01) on three crops was best at 0.002-0.02 (0 on EM); from 0.05 it lost 1-2 dB to that,
#: and at 0.1 its output held 1.1-1.7x the truth's total variation (it roughens, not smooths)
#: and fell below the blurred input on two of the three; the solver allows up to 0.25 (2D).
TV_WEIGHT_MAX = 0.1


def check_tv_weight(tv_weight) -> None:
    if not (isinstance(tv_weight, (int, float, np.floating)) and not isinstance(tv_weight, bool)
            and math.isfinite(tv_weight) and 0 <= tv_weight <= TV_WEIGHT_MAX):
        raise ValueError(f"tv_weight={tv_weight} must be a number from 0 to {TV_WEIGHT_MAX:g} "
                         "(around 0.002-0.02 smooths noise; larger roughens the output)")


def check_noise_scale(noise_scale) -> None:
    if not (isinstance(noise_scale, (int, float, np.floating))
            and not isinstance(noise_scale, bool) and math.isfinite(noise_scale)
            and noise_scale > 0):
        raise ValueError(f"noise_scale={noise_scale!r} must be a number > 0 (1: the noise "
                         "level the network estimates; about 2 for a fitted or guessed PSF)")
