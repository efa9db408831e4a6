"""Training data: aligned blurry/sharp pairs, synthetic degradations, patches, splits.

Three sources of training pairs, all ending in the same place (``Pair``: an input and a
target plane, float32 ``(C, Y, X)``, in *model units*):

(a) :func:`pairs_from_arrays` -- two arrays of the same shape, blurry and sharp, paired plane
    by plane (the axes other than Y, X and the channel axis are looped over);
(b) :func:`pairs_from_stack` -- one z-stack and its in-focus plane (given, or found with
    :func:`find_focus_plane`); every plane within ``max_distance`` of it is paired to it
    (as paper 001 does with BBBC006: every z paired to z = 17);
(c) :class:`SyntheticData` -- sharp images plus a degradation: a protocol ``"A"``, ``"B"``,
    ``"C"`` of EVALUATION.md, or ``"mix"``: random Gaussian / defocus-disk / astigmatic PSFs
    with Gaussian and Poisson noise over the ranges of :class:`DegradationRanges`, drawn
    afresh for every patch from a seeded generator.

Model units and normalisation
-----------------------------
Networks see an image normalised as inference normalises it
(``inference.compute_normalization(kind="percentile", low=0.1, high=99.9)`` over the whole
image, all channels together): ``x = (image - p0.1) / (p99.9 - p0.1)``. The output is mapped
back with the *input's* numbers, so the target of a pair must be expressed in the same frame
as its input. Hence:

* the input of every pair is its blurry plane normalised by its own percentiles, exactly as
  at inference (:data:`NORMALIZATION` is what a model card records);
* synthetic targets are the sharp image mapped with the blurry image's numbers (blur and
  noise keep intensity units, so this is exact);
* real pairs (a defocused plane against an in-focus one) differ in exposure and bleaching:
  the target, normalised by its own percentiles, is intensity-matched to the input by a
  least-squares affine fit computed on Gaussian-smoothed copies of both (``lowpass_sigma``),
  so that the fit measures gain and offset rather than the blur itself.

Each pair also carries ``to_reference = (scale, offset)``, the map from model units to the
reference scale of EVALUATION.md (synthetic: ``metrics.reference_scale`` of the sharp image;
real pairs: the target's own percentile normalisation), so validation PSNR/SSIM use
``data_range = 1`` on the scale the project reports.

Alignment: each input plane is registered to its target by subpixel translation (phase
correlation, :func:`skimage.registration.phase_cross_correlation`, then
:func:`scipy.ndimage.shift`); both are cropped to the region the shift leaves valid.

Patches are sampled away from empty background: a crop whose target standard deviation is
below ``background`` times the whole target's is redrawn (paper 000 removes background-heavy
crops). Augmentation: the 8 flips / 90-degree rotations, the same for input and target.
Validation splits are by whole images or planes (:func:`split_validation`), never by
neighbouring crops.

Every constructor checks its input before any training: arrays of different shapes, a stack
with one plane, a focus plane outside the stack, images smaller than the patch, constant
images, NaN or infinite pixels raise ``ValueError`` naming the argument.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage, signal

from . import degrade as _degrade
from .focus import best_focus_plane, focus_scores
from .inference import check_axes, compute_normalization
from .metrics import reference_scale
from .psf import astigmatic_psf, disk_psf, gaussian_psf

__all__ = [
    "NORMALIZATION",
    "DegradationParams",
    "DegradationRanges",
    "Pair",
    "PairedData",
    "SyntheticData",
    "UnpairedImages",
    "as_training_data",
    "find_focus_plane",
    "focus_scores",
    "pairs_from_arrays",
    "pairs_from_stack",
    "split_validation",
    "validation_crops",
]

#: The normalisation every network is trained with (and inference applies): a model card field.
NORMALIZATION: dict[str, Any] = {"kind": "percentile", "low": 0.1, "high": 99.9}

#: Tries to find a patch that is not background before the busiest of them is taken.
_BACKGROUND_TRIES = 10


# ----------------------------------------------------------------------------- small helpers


def _as_array(a, name: str) -> np.ndarray:
    if not all(hasattr(a, attr) for attr in ("shape", "dtype", "__getitem__")):
        raise TypeError(f"{name} is a {type(a).__name__}; accepted: an array (numpy, dask, zarr)")
    a = np.asarray(a)
    if a.dtype.kind not in "uif":
        raise TypeError(f"{name} has dtype {a.dtype}; accepted: integer or float pixels")
    return a


def _split_axes(axes: str) -> tuple[list[str], str | None]:
    """Loop axes (not Y, X or the channel axis) and the channel axis of an axes string."""
    channel = next((a for a in axes if a in "CS"), None)
    loop = [a for a in axes if a not in "YX" and a != channel]
    return loop, channel


def _planes(image: np.ndarray, axes: str) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """``[(index over the loop axes, plane as float32 (C, Y, X))]`` of an image with ``axes``."""
    loop, channel = _split_axes(axes)
    order = loop + ([channel] if channel else []) + ["Y", "X"]
    moved = np.transpose(image, [axes.index(a) for a in order])
    n_loop = len(loop)
    lead = moved.shape[:n_loop]
    out = []
    for idx in np.ndindex(*lead) if n_loop else [()]:
        plane = moved[idx]
        if channel is None:
            plane = plane[None]
        out.append((tuple(int(i) for i in idx), np.ascontiguousarray(plane, dtype=np.float32)))
    return out


def _check_plane(plane: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(plane)):
        raise ValueError(f"{what} holds NaN or infinite pixels; replace them (np.nan_to_num)")
    if float(plane.max()) == float(plane.min()):
        raise ValueError(
            f"{what} is constant (every pixel {float(plane.min())}); accepted: an image with "
            "structure to learn from"
        )


def _normalise(plane: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Percentile-normalise a (C, Y, X) plane as inference does; returns (x, offset, scale)."""
    norm = compute_normalization(
        plane, "CYX", "percentile", low=NORMALIZATION["low"], high=NORMALIZATION["high"]
    )
    return norm.apply(plane), float(norm.offset), float(norm.scale)


def _gray(plane: np.ndarray) -> np.ndarray:
    return plane.mean(axis=0, dtype=np.float64)


# ----------------------------------------------------------------------------- focus

# the sharpest plane of a stack is found by core.focus; the name finetune and the docks use
find_focus_plane = best_focus_plane


# ----------------------------------------------------------------------------- pairs


@dataclass(frozen=True, eq=False)
class Pair:
    """One aligned training pair in model units.

    ``input`` and ``target`` are float32 ``(C, Y, X)`` of the same shape. ``group`` names the
    image or plane it came from (validation splits keep groups whole). ``to_reference`` is
    ``(scale, offset)``: ``reference = model_units * scale + offset`` is the reference scale
    of EVALUATION.md, on which PSNR/SSIM use data_range 1. ``info`` holds what was done
    (shift, intensity gain, focus distance, ...).
    """

    input: np.ndarray
    target: np.ndarray
    group: str
    to_reference: tuple[float, float] = (1.0, 0.0)
    info: dict = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return int(self.input.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.input.shape[1]), int(self.input.shape[2])


def _cross_correlation_shift(reference: np.ndarray, moving: np.ndarray, upsample: int):
    from skimage.registration import phase_cross_correlation

    w = np.outer(np.hanning(reference.shape[0]), np.hanning(reference.shape[1]))
    a = (reference - reference.mean()) * w
    b = (moving - moving.mean()) * w
    shift, _, _ = phase_cross_correlation(a, b, upsample_factor=upsample, normalization=None)
    return np.asarray(shift, dtype=np.float64)


def _register(moving: np.ndarray, reference: np.ndarray, upsample: int, refine: int = 2):
    """Subpixel shift that registers ``moving`` onto ``reference`` (both (C, Y, X)).

    Cross-correlation (the phase correlation of skimage without whitening, which a blurred
    and noisy plane does not survive: the OTF of a defocus disk changes sign) of the
    Hann-windowed, mean-free channel means, upsampled ``upsample`` times; the window pulls the
    peak towards zero shift, so the estimate is refined ``refine`` times on the shifted plane.
    Measured on the test crops with protocols A-C and shifts up to 3 px: mean error 0.07-0.14
    px, worst 0.43 px (sparse 96 x 96 nuclei).
    """
    ref = _gray(reference)
    mov = _gray(moving)
    total = _cross_correlation_shift(ref, mov, upsample)
    for _ in range(refine):
        moved = ndimage.shift(mov, total, order=3, mode="nearest")
        total = total + _cross_correlation_shift(ref, moved, upsample)
    return total


def _affine_fit(source: np.ndarray, dest: np.ndarray, sigma: float) -> tuple[float, float]:
    """(a, b) minimising ||G(dest) - (a G(source) + b)||^2, G a Gaussian low-pass."""
    s = _gray(source)
    d = _gray(dest)
    if sigma > 0:
        s = ndimage.gaussian_filter(s, sigma)
        d = ndimage.gaussian_filter(d, sigma)
    s = s - s.mean()
    var = float((s * s).mean())
    a = float((s * (d - d.mean())).mean()) / var if var > 0 else 0.0
    b = float(_gray(dest).mean() - a * _gray(source).mean())
    return a, b


def _make_pair(
    blurry: np.ndarray,
    sharp: np.ndarray,
    group: str,
    *,
    align: bool,
    match_intensity: bool,
    max_shift: float | None,
    lowpass_sigma: float,
    sharp_dtype: np.dtype | type = np.float32,
    upsample: int = 20,
    info: dict | None = None,
) -> Pair:
    """Align, normalise and intensity-match one (C, Y, X) plane pair."""
    info = dict(info or {})
    _check_plane(blurry, f"the blurry plane {group!r}")
    _check_plane(sharp, f"the sharp plane {group!r}")
    x, lo, scale = _normalise(blurry)
    shift = np.zeros(2)
    if align:
        shift = _register(blurry, sharp, upsample)
        limit = max_shift if max_shift is not None else 0.1 * min(blurry.shape[1:])
        if np.max(np.abs(shift)) > limit:
            info["alignment"] = f"rejected shift {shift.tolist()} (over {limit:.1f} px)"
            shift = np.zeros(2)
        elif np.max(np.abs(shift)) >= 0.05:
            x = np.stack([ndimage.shift(c, shift, order=3, mode="nearest") for c in x])
            x = x.astype(np.float32)
    info["shift"] = [float(s) for s in shift]
    margin = int(math.ceil(float(np.max(np.abs(shift))))) if np.any(shift) else 0
    if margin:
        crop = (slice(None), slice(margin, -margin), slice(margin, -margin))
        x, sharp = x[crop], sharp[crop]
        if min(x.shape[1:]) < 2:
            raise ValueError(f"{group!r}: the alignment shift {shift.tolist()} leaves no image")
    if match_intensity:
        t_ref, _, _ = _normalise(sharp)
        a, b = _affine_fit(t_ref, x, lowpass_sigma)
        if not a > 0:
            raise ValueError(
                f"{group!r}: the blurry and sharp planes are not positively correlated "
                f"(fitted gain {a:.3g}); are they the same field of view?"
            )
        target = (a * t_ref + b).astype(np.float32)
        to_ref = (1.0 / a, -b / a)
        info.update(gain=a, offset=b)
    else:
        target = ((sharp - lo) / scale).astype(np.float32)
        r_off, r_scale = _reference_scale(sharp, sharp_dtype, group)
        to_ref = (scale / r_scale, (lo - r_off) / r_scale)
    return Pair(
        np.ascontiguousarray(x, dtype=np.float32),
        np.ascontiguousarray(target),
        group,
        (float(to_ref[0]), float(to_ref[1])),
        info,
    )


def pairs_from_arrays(
    blurry,
    sharp,
    *,
    axes: str | None = None,
    align: bool = True,
    match_intensity: bool = True,
    max_shift: float | None = None,
    lowpass_sigma: float = 2.0,
    name: str = "pair",
) -> list[Pair]:
    """Pairs from two arrays of the same shape, blurry and sharp, plane by plane.

    ``axes`` (e.g. ``"YX"``, ``"ZYX"``, ``"YXS"``) is guessed as inference guesses it when
    not given. With ``align`` each blurry plane is registered to its sharp plane by subpixel
    translation (shifts over ``max_shift`` pixels, default 10 % of the shorter side, are
    treated as a failed registration and not applied; ``info['alignment']`` says so). With
    ``match_intensity`` the target is affine-matched to the input (real pairs); without it the
    target uses the input's normalisation (pairs already in the same intensity units).
    """
    blurry = _as_array(blurry, "blurry")
    sharp = _as_array(sharp, "sharp")
    if blurry.shape != sharp.shape:
        raise ValueError(
            f"blurry has shape {blurry.shape} but sharp has {sharp.shape}; accepted: arrays of "
            "the same shape and axes"
        )
    axes = check_axes(axes, blurry.shape)
    if not lowpass_sigma >= 0:
        raise ValueError(f"lowpass_sigma={lowpass_sigma!r}; accepted: a number >= 0 (pixels)")
    pairs = []
    for (idx, b), (_, s) in zip(_planes(blurry, axes), _planes(sharp, axes), strict=True):
        group = name + "".join(f":{i}" for i in idx)
        pairs.append(
            _make_pair(
                b,
                s,
                group,
                align=align,
                match_intensity=match_intensity,
                max_shift=max_shift,
                lowpass_sigma=lowpass_sigma,
                sharp_dtype=sharp.dtype,
                info={"plane": list(idx)},
            )
        )
    return pairs


def pairs_from_stack(
    stack,
    *,
    focus_plane: int | str = "auto",
    max_distance: int | None = None,
    axes: str | None = "ZYX",
    include_focus: bool = False,
    align: bool = True,
    match_intensity: bool = True,
    max_shift: float | None = None,
    lowpass_sigma: float = 2.0,
    name: str = "stack",
) -> list[Pair]:
    """Pair every plane within ``max_distance`` planes of the in-focus plane to it.

    ``focus_plane`` is an index or ``"auto"`` (:func:`find_focus_plane`). ``max_distance``
    None pairs every plane. ``include_focus`` adds the in-focus plane paired with itself (an
    identity example: teaches the model to leave sharp images alone). Each pair's group is
    its plane, so :func:`split_validation` holds out whole planes.
    """
    stack = _as_array(stack, "stack")
    axes = check_axes(axes, stack.shape)
    loop, _ = _split_axes(axes)
    if loop != ["Z"]:
        raise ValueError(
            f"axes={axes!r}: pairs_from_stack takes one z-stack (axes Z, Y, X and optionally "
            "one channel axis C or S)"
        )
    nz = stack.shape[axes.index("Z")]
    if nz < 2:
        raise ValueError(
            f"stack has {nz} plane along Z (shape {stack.shape}); accepted: at least 2 planes "
            "(the in-focus plane and defocused ones)"
        )
    if isinstance(focus_plane, str):
        if focus_plane != "auto":
            raise ValueError(f"focus_plane={focus_plane!r}; accepted: 'auto' or a plane index")
        focus = find_focus_plane(stack, axes)
    elif isinstance(focus_plane, (int, np.integer)) and not isinstance(focus_plane, bool):
        focus = int(focus_plane)
        if not 0 <= focus < nz:
            raise ValueError(
                f"focus_plane={focus_plane} is outside the stack's {nz} planes; accepted: "
                f"0 to {nz - 1} or 'auto'"
            )
    else:
        raise ValueError(f"focus_plane={focus_plane!r}; accepted: 'auto' or a plane index")
    if max_distance is not None and (
        isinstance(max_distance, bool)
        or not isinstance(max_distance, (int, np.integer))
        or max_distance < 1
    ):
        raise ValueError(f"max_distance={max_distance!r}; accepted: None or an integer >= 1")
    planes = _planes(stack, axes)
    sharp = planes[focus][1]
    pairs = []
    for idx, plane in planes:
        z = idx[0]
        dist = abs(z - focus)
        if (dist == 0 and not include_focus) or (max_distance is not None and dist > max_distance):
            continue
        pairs.append(
            _make_pair(
                plane,
                sharp,
                f"{name}:z{z}",
                align=align and dist > 0,
                match_intensity=match_intensity,
                max_shift=max_shift,
                lowpass_sigma=lowpass_sigma,
                sharp_dtype=stack.dtype,
                info={"z": z, "focus_plane": focus, "distance": z - focus},
            )
        )
    if not pairs:
        raise ValueError(
            f"no plane lies within max_distance={max_distance} of the focus plane {focus}"
        )
    return pairs


# ----------------------------------------------------------------------------- degradations


def _range(v, name: str, lo_bound: float = 0.0) -> tuple[float, float]:
    try:
        a, b = (float(x) for x in v)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={v!r}; accepted: a (min, max) pair of numbers") from None
    if not (math.isfinite(a) and math.isfinite(b)) or a < lo_bound or b < a:
        raise ValueError(f"{name}={v!r}; accepted: {lo_bound} <= min <= max, finite")
    return a, b


@dataclass(frozen=True)
class DegradationParams:
    """One drawn degradation: a PSF and noise on the reference [0, 1] scale."""

    kind: str  # "gaussian", "disk", "astigmatic", "none", or "protocol_A/B/C"
    psf_params: dict
    gaussian_noise: float  # standard deviation added after blur (and after Poisson)
    poisson_peak: float | None  # photons at intensity 1; None: no Poisson noise

    def psf(self) -> np.ndarray:
        p = self.psf_params
        if self.kind.startswith("protocol_"):
            return _degrade.protocol_psf(self.kind[-1])
        if self.kind == "gaussian":
            return gaussian_psf(p["sigma"])
        if self.kind == "disk":
            return disk_psf(p["radius"])
        if self.kind == "astigmatic":
            return astigmatic_psf(p["sigma_major"], p["sigma_minor"], p["angle"])
        return np.ones((1, 1), np.float32)

    def noise(self, blurred: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = blurred.astype(np.float64)
        if self.poisson_peak is not None:
            out = rng.poisson(np.clip(out, 0.0, None) * self.poisson_peak) / self.poisson_peak
        if self.gaussian_noise > 0:
            out = out + rng.normal(0.0, self.gaussian_noise, out.shape)
        return np.clip(out, 0.0, 1.0).astype(np.float32)


PROTOCOL_PARAMS = {
    "A": DegradationParams("protocol_A", {"sigma": 1.6, "size": 25}, _degrade._GAUSS_NOISE, None),
    "B": DegradationParams(
        "protocol_B", {"radius": 3.0}, _degrade._READ_NOISE, _degrade._PEAK_PHOTONS
    ),
    "C": DegradationParams(
        "protocol_C",
        {"sigma_major": 2.5, "sigma_minor": 0.8, "angle": 30.0},
        _degrade._GAUSS_NOISE,
        None,
    ),
}


def _valid_weights(weights) -> bool:
    """Sampling weights: each finite and >= 0, their sum > 0."""
    weights = list(weights)
    return all(w >= 0 and math.isfinite(w) for w in weights) and sum(weights) > 0


@dataclass(frozen=True)
class DegradationRanges:
    """The ranges a ``"mix"`` degradation draws from (all on the reference [0, 1] scale).

    For each patch: a PSF kind by ``kind_weights`` (Gaussian, defocus disk, astigmatic
    Gaussian, or none); its parameters uniformly in their ranges (astigmatic: the minor sigma is
    ``ratio * major``, the angle uniform in [0, 180)); then, with probability ``p_poisson``,
    Poisson noise at a peak drawn log-uniformly in ``poisson_peak`` photons plus Gaussian read
    noise; otherwise Gaussian noise only. The Gaussian sigma is uniform in
    ``gaussian_noise``. The defaults contain protocols A (Gaussian 1.6, noise 2/255),
    B (disk 3, Poisson 200 + 0.01) and C (astigmatic 2.5 / 0.8, noise 2/255) of EVALUATION.md
    (:meth:`covers`) and reach beyond them on every axis. With probability ``p_protocol`` a
    patch instead gets exactly one of protocols A, B or C (in proportion to
    ``protocol_weights``, equal by default): the shapes a user meets most (widefield Gaussian,
    defocus, serial-SEM astigmatism) then weigh more than the rest of the ranges.
    """

    kind_weights: tuple[tuple[str, float], ...] = (
        ("gaussian", 0.35),
        ("disk", 0.3),
        ("astigmatic", 0.3),
        ("none", 0.05),
    )
    gaussian_sigma: tuple[float, float] = (0.5, 3.0)
    disk_radius: tuple[float, float] = (1.0, 4.5)
    astig_sigma_major: tuple[float, float] = (1.0, 3.5)
    astig_ratio: tuple[float, float] = (0.2, 0.8)
    gaussian_noise: tuple[float, float] = (0.0, 0.02)
    p_poisson: float = 0.4
    poisson_peak: tuple[float, float] = (50.0, 1000.0)
    p_protocol: float = 0.0
    protocol_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self):
        kinds = dict(self.kind_weights)
        unknown = set(kinds) - {"gaussian", "disk", "astigmatic", "none"}
        if unknown or not kinds:
            raise ValueError(
                f"kind_weights={self.kind_weights!r}; accepted kinds: gaussian, disk, "
                "astigmatic, none"
            )
        if not _valid_weights(kinds.values()):
            raise ValueError(f"kind_weights={self.kind_weights!r}: weights must be >= 0, sum > 0")
        _range(self.gaussian_sigma, "gaussian_sigma", 1e-3)
        _range(self.disk_radius, "disk_radius", 0.5)
        _range(self.astig_sigma_major, "astig_sigma_major", 1e-3)
        r = _range(self.astig_ratio, "astig_ratio", 1e-3)
        if r[1] > 1:
            raise ValueError(f"astig_ratio={self.astig_ratio!r}; accepted: within (0, 1]")
        _range(self.gaussian_noise, "gaussian_noise")
        _range(self.poisson_peak, "poisson_peak", 1.0)
        if not 0 <= self.p_poisson <= 1:
            raise ValueError(f"p_poisson={self.p_poisson!r}; accepted: a probability in [0, 1]")
        if not 0 <= self.p_protocol <= 1:
            raise ValueError(f"p_protocol={self.p_protocol!r}; accepted: a probability in [0, 1]")
        if len(self.protocol_weights) != 3 or not _valid_weights(self.protocol_weights):
            raise ValueError(
                f"protocol_weights={self.protocol_weights!r}; accepted: three weights (A, B, C), "
                "each >= 0, sum > 0"
            )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["kind_weights"] = dict(self.kind_weights)
        return d

    def max_psf_radius(self) -> int:
        """Largest PSF half-width any draw can have (the margin patches are cut with)."""
        radii = [_degrade.protocol_psf(p).shape[0] // 2 for p in "ABC"]
        radii.append(math.ceil(4 * self.gaussian_sigma[1]))
        radii.append(math.ceil(self.disk_radius[1]))
        radii.append(math.ceil(4 * self.astig_sigma_major[1]))
        return int(max(radii))

    def covers(self, protocol: str) -> bool:
        """Whether the protocol's PSF and noise lie inside these ranges."""
        p = PROTOCOL_PARAMS[protocol.upper()]
        kinds = {k for k, w in self.kind_weights if w > 0}

        def inside(v, r):
            return r[0] <= v <= r[1]

        if protocol.upper() == "A":
            psf_ok = "gaussian" in kinds and inside(1.6, self.gaussian_sigma)
        elif protocol.upper() == "B":
            psf_ok = "disk" in kinds and inside(3.0, self.disk_radius)
        else:
            psf_ok = (
                "astigmatic" in kinds
                and inside(2.5, self.astig_sigma_major)
                and inside(0.8 / 2.5, self.astig_ratio)
            )
        noise_ok = inside(p.gaussian_noise, self.gaussian_noise)
        if p.poisson_peak is not None:
            noise_ok = noise_ok and self.p_poisson > 0 and inside(p.poisson_peak, self.poisson_peak)
        return bool(psf_ok and noise_ok)

    def sample(self, rng: np.random.Generator) -> DegradationParams:
        # Draw the protocol coin only when it can come up, so that p_protocol=0 draws the same
        # sequence as before the field existed (checkpoints resume identically).
        if self.p_protocol > 0 and rng.random() < self.p_protocol:
            pw = np.asarray(self.protocol_weights, dtype=np.float64)
            if np.all(pw == pw[0]):  # equal weights: the draw earlier checkpoints resumed with
                return PROTOCOL_PARAMS["ABC"[int(rng.integers(3))]]
            return PROTOCOL_PARAMS["ABC"[int(rng.choice(3, p=pw / pw.sum()))]]
        names = [k for k, _ in self.kind_weights]
        w = np.array([v for _, v in self.kind_weights], dtype=np.float64)
        kind = names[int(rng.choice(len(names), p=w / w.sum()))]
        if kind == "gaussian":
            params = {"sigma": float(rng.uniform(*self.gaussian_sigma))}
        elif kind == "disk":
            params = {"radius": float(rng.uniform(*self.disk_radius))}
        elif kind == "astigmatic":
            major = float(rng.uniform(*self.astig_sigma_major))
            params = {
                "sigma_major": major,
                "sigma_minor": major * float(rng.uniform(*self.astig_ratio)),
                "angle": float(rng.uniform(0.0, 180.0)),
            }
        else:
            params = {}
        sigma = float(rng.uniform(*self.gaussian_noise))
        peak = None
        if rng.random() < self.p_poisson:
            lo, hi = np.log(self.poisson_peak[0]), np.log(self.poisson_peak[1])
            peak = float(np.exp(rng.uniform(lo, hi)))
        return DegradationParams(kind, params, sigma, peak)


def _degradation_spec(degradation) -> tuple[str, DegradationRanges | None]:
    if isinstance(degradation, DegradationRanges):
        return "mix", degradation
    if isinstance(degradation, str):
        d = degradation.strip()
        if d.upper() in PROTOCOL_PARAMS:
            return d.upper(), None
        if d.lower() == "mix":
            return "mix", DegradationRanges()
    raise ValueError(
        f"degradation={degradation!r}; accepted: 'A', 'B', 'C' (EVALUATION.md protocols), "
        "'mix', or a DegradationRanges"
    )


def _blur_valid(padded: np.ndarray, psf: np.ndarray, margin: int) -> np.ndarray:
    """Blur a (C, Y+2m, X+2m) crop with a PSF; returns the (C, Y, X) centre.

    The crop comes from a symmetric-padded image, so the result equals blurring the whole
    image with scipy's 'reflect' boundary (as ``degrade01`` does) and cutting the patch out.
    """
    r = psf.shape[0] // 2, psf.shape[1] // 2
    if psf.size == 1:
        return padded[:, margin : -margin or None, margin : -margin or None].copy()
    sub = padded[
        :,
        margin - r[0] : padded.shape[1] - margin + r[0],
        margin - r[1] : padded.shape[2] - margin + r[1],
    ]
    out = np.stack([signal.fftconvolve(c, psf.astype(np.float64), mode="valid") for c in sub])
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- patch sources


def _dihedral(a: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips / 90-degree rotations of a (..., Y, X) array."""
    if k >= 4:
        a = a[..., ::-1]
    return np.rot90(a, k % 4, axes=(-2, -1))


def _crop_corner(rng: np.random.Generator, shape, patch: int, ratio=None) -> tuple[int, int]:
    """A random crop corner; with ``ratio`` (corner -> crop std / threshold) redraw crops below
    the threshold up to ``_BACKGROUND_TRIES`` times and keep the busiest."""
    ny, nx = shape
    best, best_r = None, -1.0
    for _ in range(_BACKGROUND_TRIES if ratio is not None else 1):
        y0 = int(rng.integers(0, ny - patch + 1))
        x0 = int(rng.integers(0, nx - patch + 1))
        if ratio is None:
            return y0, x0
        r = ratio(y0, x0)
        if r >= 1.0:
            return y0, x0
        if r > best_r:
            best, best_r = (y0, x0), r
    return best


def _ratio(image: np.ndarray, patch: int, threshold: float):
    """Crop std / threshold as a function of the crop corner (None when no threshold)."""
    if threshold <= 0:
        return None

    def ratio(y0: int, x0: int) -> float:
        return float(image[:, y0 : y0 + patch, x0 : x0 + patch].std()) / threshold

    return ratio


def _check_background(background) -> float:
    if (
        isinstance(background, bool)
        or not isinstance(background, (int, float))
        or not (0 <= background < 1)
    ):
        raise ValueError(
            f"background={background!r}; accepted: a fraction in [0, 1) of the image's standard "
            "deviation below which a patch counts as empty background"
        )
    return float(background)


class _PatchSource:
    """Common parts of the patch sources: channels, sizes, patch checks, sampling weights."""

    channels: int
    shapes: list[tuple[int, int]]
    description: str = ""
    degradation: str = ""

    @property
    def min_side(self) -> int:
        return min(min(s) for s in self.shapes)

    def check_patch(self, patch: int) -> None:
        """``ValueError`` unless every image is at least ``patch`` pixels on each side."""
        small = [s for s in self.shapes if min(s) < patch]
        if small:
            raise ValueError(
                f"patch={patch} is larger than {len(small)} of the training images (smallest "
                f"{min(small, key=min)}); accepted: a patch of at most {self.min_side} pixels, "
                "or larger images"
            )

    def _pick(self, rng: np.random.Generator) -> int:
        areas = np.array([s[0] * s[1] for s in self.shapes], dtype=np.float64)
        return int(rng.choice(len(areas), p=areas / areas.sum()))


class PairedData(_PatchSource):
    """Random patches from aligned :class:`Pair` s (sources a and b)."""

    def __init__(
        self,
        pairs: Sequence[Pair],
        *,
        background: float = 0.25,
        augment: bool = True,
        description: str = "",
        degradation: str = "real blur (paired)",
    ):
        pairs = list(pairs)
        if not pairs or not all(isinstance(p, Pair) for p in pairs):
            raise ValueError("pairs must be a non-empty list of data.Pair")
        channels = {p.channels for p in pairs}
        if len(channels) != 1:
            raise ValueError(f"pairs have different channel counts {sorted(channels)}")
        self.pairs = pairs
        self.channels = channels.pop()
        self.shapes = [p.shape for p in pairs]
        self.background = _check_background(background)
        self.augment = bool(augment)
        self._std = [float(p.target.std()) for p in pairs]
        self._in_std = [float(p.input.std()) for p in pairs]
        groups = sorted({p.group for p in pairs})
        more = ", ..." if len(groups) > 6 else ""
        self.description = description or (
            f"{len(pairs)} paired planes ({', '.join(groups[:6])}{more})"
        )
        self.degradation = degradation

    def sample(self, rng: np.random.Generator, n: int, patch: int):
        """``(inputs, targets)``: float32 arrays (n, C, patch, patch)."""
        xs, ys = [], []
        for _ in range(n):
            i, sl, k = self._corner(rng, patch, "target")
            p = self.pairs[i]
            xs.append(_dihedral(p.input[sl], k))
            ys.append(_dihedral(p.target[sl], k))
        return np.ascontiguousarray(np.stack(xs)), np.ascontiguousarray(np.stack(ys))

    def _corner(self, rng, patch: int, which: str):
        i = self._pick(rng)
        p = self.pairs[i]
        ref = p.target if which == "target" else p.input
        thr = self.background * (self._std[i] if which == "target" else self._in_std[i])
        y0, x0 = _crop_corner(rng, p.shape, patch, _ratio(ref, patch, thr))
        sl = (slice(None), slice(y0, y0 + patch), slice(x0, x0 + patch))
        k = int(rng.integers(8)) if self.augment else 0
        return i, sl, k

    def sample_inputs(self, rng: np.random.Generator, n: int, patch: int) -> np.ndarray:
        """Blurry patches only (an unpaired source for the GAN regimes)."""
        out = []
        for _ in range(n):
            i, sl, k = self._corner(rng, patch, "input")
            out.append(_dihedral(self.pairs[i].input[sl], k))
        return np.ascontiguousarray(np.stack(out))

    def sample_targets(self, rng: np.random.Generator, n: int, patch: int) -> np.ndarray:
        """Sharp patches only (an unpaired source for the PSF-CycleGAN)."""
        out = []
        for _ in range(n):
            i, sl, k = self._corner(rng, patch, "target")
            out.append(_dihedral(self.pairs[i].target[sl], k))
        return np.ascontiguousarray(np.stack(out))

    def validation_pairs(self, seed: int = 0) -> list[Pair]:
        return list(self.pairs)


def _as_images(images, axes: str | None, name: str) -> list[tuple[str, np.ndarray, np.dtype]]:
    """A list of images (or one image with loop axes) -> [(group, float32 (C, Y, X), dtype)]."""
    if isinstance(images, np.ndarray) or hasattr(images, "shape"):
        images = [images]
    elif not isinstance(images, Sequence) or isinstance(images, str) or not images:
        raise ValueError(f"{name} must be an array or a non-empty list of arrays")
    out = []
    for i, img in enumerate(images):
        img = _as_array(img, f"{name}[{i}]")
        ax = check_axes(axes, img.shape)
        for idx, plane in _planes(img, ax):
            out.append((f"{name}[{i}]" + "".join(f":{j}" for j in idx), plane, img.dtype))
    channels = {p.shape[0] for _, p, _ in out}
    if len(channels) != 1:
        raise ValueError(f"{name}: images have different channel counts {sorted(channels)}")
    return out


def _reference_scale(plane: np.ndarray, dtype: np.dtype, group: str) -> tuple[float, float]:
    """(offset, scale) of EVALUATION.md's reference scale by the image's original dtype:
    uint8 /255, other integers / their maximum, floats min-max."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" and plane.min() < 0:
        raise ValueError(f"image {group!r} has negative pixels; accepted: >= 0")
    if dtype == np.uint8:
        return 0.0, 255.0
    if dtype.kind in "iu":
        return 0.0, float(plane.max())
    return reference_scale(plane)


def _reference01(plane: np.ndarray, dtype: np.dtype, group: str) -> np.ndarray:
    """A plane on the reference [0, 1] scale of EVALUATION.md, by its original dtype."""
    off, scale = _reference_scale(plane, dtype, group)
    return np.clip((plane - off) / scale, 0.0, 1.0).astype(np.float32)


class SyntheticData(_PatchSource):
    """Patches of sharp images degraded on the fly (source c).

    ``images``: one array or a list (any real dtype; axes as ``axes`` or guessed; leading
    axes such as Z are split into planes, each its own image). Each is mapped to the
    reference [0, 1] scale of EVALUATION.md (``metrics.reference_scale``), then for every
    patch a region with a margin of the largest PSF radius is cut from the symmetric-padded
    image, blurred (exactly the whole-image 'reflect' blur of ``degrade01``), noised, and
    mapped to model units with the image's normalisation: the 0.1 / 99.9 percentiles of the
    image degraded once (seeded) as the training degradation degrades it. The same
    ``intensity_jitter`` gain and offset then perturb input and target alike, so the network
    does not rely on the exact normalisation (with "mix", the percentiles of each degraded
    image vary with its PSF and noise).
    """

    def __init__(
        self,
        images,
        degradation: str | DegradationRanges = "mix",
        *,
        axes: str | None = None,
        background: float = 0.25,
        augment: bool = True,
        intensity_jitter: float = 0.15,
        names: Sequence[str] | None = None,
        description: str = "",
        seed: int = 0,
    ):
        self.protocol, self.ranges = _degradation_spec(degradation)
        self.background = _check_background(background)
        self.augment = bool(augment)
        if not (0 <= intensity_jitter < 1):
            raise ValueError(f"intensity_jitter={intensity_jitter!r}; accepted: within [0, 1)")
        self.intensity_jitter = float(intensity_jitter)
        planes = _as_images(images, axes, "images")
        if names is not None:
            names = list(names)
            if len(names) != len(planes):
                raise ValueError(f"names has {len(names)} entries for {len(planes)} images")
        self.margin = (
            self.ranges.max_psf_radius()
            if self.ranges is not None
            else _degrade.protocol_psf(self.protocol).shape[0] // 2
        )
        self.groups, self.sharp01, self._padded, self.norms, self._std = [], [], [], [], []
        rng = np.random.default_rng(seed)
        for i, (group, plane, dtype) in enumerate(planes):
            _check_plane(plane, f"image {group!r}")
            s01 = _reference01(plane, dtype, group)
            m = self.margin
            self.groups.append(names[i] if names is not None else group)
            self.sharp01.append(s01)
            self._padded.append(np.pad(s01, ((0, 0), (m, m), (m, m)), mode="symmetric"))
            once = self._degrade_whole(s01, rng)
            _, lo, sc = _normalise(once)
            self.norms.append((lo, sc))
            self._std.append(float(s01.std()))
        self.channels = self.sharp01[0].shape[0]
        self.shapes = [s.shape[1:] for s in self.sharp01]
        self.seed = int(seed)
        self.description = description or f"{len(self.sharp01)} sharp images"
        if self.ranges is None:
            self.degradation = f"protocol {self.protocol} (EVALUATION.md)"
        else:
            self.degradation = "mix: " + json.dumps(self.ranges.to_dict())

    # -- degradations ---------------------------------------------------------------------

    def draw(self, rng: np.random.Generator) -> DegradationParams:
        """One degradation: the protocol's, or a draw from the ranges."""
        return PROTOCOL_PARAMS[self.protocol] if self.ranges is None else self.ranges.sample(rng)

    def _degrade_whole(self, s01: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The whole (C, Y, X) image degraded once (protocols: exactly ``degrade01``)."""
        if self.ranges is None:
            seed = int(rng.integers(2**31))
            return _degrade.degrade01(s01, self.protocol, seed=seed, channel_axis=0)
        params = self.draw(rng)
        psf = params.psf()
        r = max(psf.shape) // 2
        padded = np.pad(s01, ((0, 0), (r, r), (r, r)), mode="symmetric") if r else s01
        blurred = _blur_valid(padded, psf, r) if r else s01.copy()
        return params.noise(blurred, rng)

    # -- sampling -------------------------------------------------------------------------

    def _corner(self, rng, patch):
        i = self._pick(rng)
        thr = self.background * self._std[i]
        y0, x0 = _crop_corner(rng, self.shapes[i], patch, _ratio(self.sharp01[i], patch, thr))
        return i, y0, x0

    def _jitter(self, rng) -> tuple[float, float]:
        j = self.intensity_jitter
        if j <= 0:
            return 1.0, 0.0
        gain = float(np.exp(rng.uniform(np.log(1 - j), -np.log(1 - j))))
        return gain, float(rng.uniform(-j / 2, j / 2))

    def sample(self, rng: np.random.Generator, n: int, patch: int):
        """``(inputs, targets)``: float32 arrays (n, C, patch, patch) in model units."""
        xs, ys = [], []
        m = self.margin
        for _ in range(n):
            i, y0, x0 = self._corner(rng, patch)
            region = self._padded[i][:, y0 : y0 + patch + 2 * m, x0 : x0 + patch + 2 * m]
            sharp = region[:, m : m + patch, m : m + patch]
            params = self.draw(rng)
            blurry = params.noise(_blur_valid(region, params.psf(), m), rng)
            lo, sc = self.norms[i]
            gain, off = self._jitter(rng)
            k = int(rng.integers(8)) if self.augment else 0
            xs.append(_dihedral((blurry - lo) / sc * gain + off, k))
            ys.append(_dihedral((sharp - lo) / sc * gain + off, k))
        return (
            np.ascontiguousarray(np.stack(xs), dtype=np.float32),
            np.ascontiguousarray(np.stack(ys), dtype=np.float32),
        )

    def sample_inputs(self, rng, n, patch) -> np.ndarray:
        return self.sample(rng, n, patch)[0]

    def sample_targets(self, rng, n, patch) -> np.ndarray:
        return self.sample(rng, n, patch)[1]

    def validation_pairs(self, seed: int | None = None) -> list[Pair]:
        """Every image degraded once (seeded) and normalised exactly as inference would."""
        rng = np.random.default_rng(self.seed + 1 if seed is None else seed)
        pairs = []
        for group, s01 in zip(self.groups, self.sharp01, strict=True):
            blurry = self._degrade_whole(s01, rng)
            x, lo, sc = _normalise(blurry)
            target = ((s01 - lo) / sc).astype(np.float32)
            pairs.append(Pair(x, target, group, (sc, lo), {"degradation": self.degradation}))
        return pairs


class UnpairedImages(_PatchSource):
    """Patches of images without partners (blurry or sharp), each percentile-normalised."""

    def __init__(
        self,
        images,
        *,
        axes: str | None = None,
        background: float = 0.25,
        augment: bool = True,
        description: str = "",
    ):
        planes = _as_images(images, axes, "images")
        self.background = _check_background(background)
        self.augment = bool(augment)
        self.images, self.groups, self._std = [], [], []
        for group, plane, _ in planes:
            _check_plane(plane, f"image {group!r}")
            x, _, _ = _normalise(plane)
            self.images.append(x)
            self.groups.append(group)
            self._std.append(float(x.std()))
        self.channels = self.images[0].shape[0]
        self.shapes = [x.shape[1:] for x in self.images]
        self.description = description or f"{len(self.images)} unpaired images"

    def sample_inputs(self, rng: np.random.Generator, n: int, patch: int) -> np.ndarray:
        out = []
        for _ in range(n):
            i = self._pick(rng)
            img = self.images[i]
            thr = self.background * self._std[i]
            y0, x0 = _crop_corner(rng, self.shapes[i], patch, _ratio(img, patch, thr))
            k = int(rng.integers(8)) if self.augment else 0
            out.append(_dihedral(img[:, y0 : y0 + patch, x0 : x0 + patch], k))
        return np.ascontiguousarray(np.stack(out))

    sample_targets = sample_inputs


def as_training_data(obj, name: str = "train"):
    """A patch source from a PairedData / SyntheticData / UnpairedImages, a list of Pair, or a
    ``(blurry, sharp)`` tuple of arrays."""
    if isinstance(obj, _PatchSource):
        return obj
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(p, Pair) for p in obj):
        return PairedData(obj)
    if isinstance(obj, tuple) and len(obj) == 2:
        return PairedData(pairs_from_arrays(obj[0], obj[1], name=name))
    raise ValueError(
        f"{name} is a {type(obj).__name__}; accepted: PairedData, SyntheticData, a list of "
        "data.Pair, or a (blurry, sharp) tuple of arrays"
    )


# ----------------------------------------------------------------------------- splits


def split_validation(
    items: Sequence,
    *,
    val_fraction: float = 0.2,
    val_groups: Sequence[str] | None = None,
    seed: int = 0,
) -> tuple[list, list]:
    """Split pairs (by ``Pair.group``) or images (each its own group) into (train, val).

    Whole groups go to one side: an image or plane is never cut into training and validation
    crops. ``val_groups`` names the validation groups (pairs) or indices (images); otherwise
    ``round(val_fraction * n_groups)`` groups, at least one, drawn with ``seed``.
    """
    items = list(items)
    if isinstance(items, (list, tuple)) and items and all(isinstance(p, Pair) for p in items):
        keys = [p.group for p in items]
    else:
        keys = [str(i) for i in range(len(items))]
    groups = list(dict.fromkeys(keys))
    if len(groups) < 2:
        raise ValueError(
            f"split_validation needs at least two images or planes, got {len(groups)}; give a "
            "separate validation set instead"
        )
    if val_groups is not None:
        val = {str(g) for g in val_groups}
        unknown = val - set(groups)
        if unknown:
            raise ValueError(f"val_groups {sorted(unknown)} are not among {groups}")
        if val == set(groups):
            raise ValueError("val_groups holds every group; nothing would be left to train on")
    else:
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction={val_fraction!r}; accepted: within (0, 1)")
        k = min(len(groups) - 1, max(1, round(val_fraction * len(groups))))
        rng = np.random.default_rng(seed)
        val = {groups[i] for i in rng.choice(len(groups), size=k, replace=False)}
    train = [it for it, g in zip(items, keys, strict=True) if g not in val]
    valid = [it for it, g in zip(items, keys, strict=True) if g in val]
    return train, valid


def validation_crops(
    pairs: Sequence[Pair],
    *,
    size: int,
    size_divisor: int = 1,
    max_crops: int = 16,
    background: float = 0.25,
    seed: int = 0,
) -> list[Pair]:
    """Fixed crops of validation pairs (deterministic for a seed), sides multiples of the divisor.

    Pairs no larger than ``size`` are kept whole (cropped down to a multiple of
    ``size_divisor``); larger ones give up to ``max(1, max_crops // len(pairs))`` crops of
    ``size`` x ``size`` chosen away from background.
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("validation_crops: no validation pairs")
    rng = np.random.default_rng(seed)
    per = max(1, max_crops // len(pairs))
    out = []
    for p in pairs:
        ny, nx = p.shape
        cy = min(size, ny) // size_divisor * size_divisor
        cx = min(size, nx) // size_divisor * size_divisor
        if cy == 0 or cx == 0:
            raise ValueError(
                f"validation pair {p.group!r} ({ny} x {nx}) is smaller than the model's size "
                f"divisor {size_divisor}"
            )
        whole = cy == ny // size_divisor * size_divisor and cx == nx // size_divisor * size_divisor
        n = 1 if whole else per
        thr = background * float(p.target.std())
        for _ in range(n):
            best, best_std = (0, 0), -1.0
            for _ in range(_BACKGROUND_TRIES):
                y0 = int(rng.integers(0, ny - cy + 1))
                x0 = int(rng.integers(0, nx - cx + 1))
                s = float(p.target[:, y0 : y0 + cy, x0 : x0 + cx].std())
                if s > best_std:
                    best, best_std = (y0, x0), s
                if s >= thr:
                    break
            y0, x0 = best
            sl = (slice(None), slice(y0, y0 + cy), slice(x0, x0 + cx))
            out.append(
                Pair(
                    np.ascontiguousarray(p.input[sl]),
                    np.ascontiguousarray(p.target[sl]),
                    p.group,
                    p.to_reference,
                    {**p.info, "crop": [y0, x0, cy, cx]},
                )
            )
    return out
