"""Synthetic degradations for training: one drawn PSF and noise (``DegradationParams``), the
protocols A, B, C of docs/evaluation.md as such draws, and the ranges a ``"mix"`` draws from.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from . import degrade as degrade_module
from .psf import astigmatic_psf, disk_psf, gaussian_psf

# ----------------------------------------------------------------------------- degradations


def checked_range(v, name: str, lo_bound: float = 0.0) -> tuple[float, float]:
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
            return degrade_module.protocol_psf(self.kind[-1])
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
    "A": DegradationParams(
        "protocol_A", {"sigma": 1.6, "size": 25}, degrade_module.GAUSS_NOISE, None
    ),
    "B": DegradationParams(
        "protocol_B", {"radius": 3.0}, degrade_module.READ_NOISE, degrade_module.PEAK_PHOTONS
    ),
    "C": DegradationParams(
        "protocol_C",
        {"sigma_major": 2.5, "sigma_minor": 0.8, "angle": 30.0},
        degrade_module.GAUSS_NOISE,
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
    B (disk 3, Poisson 200 + 0.01) and C (astigmatic 2.5 / 0.8, noise 2/255) of docs/evaluation.md
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
        checked_range(self.gaussian_sigma, "gaussian_sigma", 1e-3)
        checked_range(self.disk_radius, "disk_radius", 0.5)
        checked_range(self.astig_sigma_major, "astig_sigma_major", 1e-3)
        r = checked_range(self.astig_ratio, "astig_ratio", 1e-3)
        if r[1] > 1:
            raise ValueError(f"astig_ratio={self.astig_ratio!r}; accepted: within (0, 1]")
        checked_range(self.gaussian_noise, "gaussian_noise")
        checked_range(self.poisson_peak, "poisson_peak", 1.0)
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
        radii = [degrade_module.protocol_psf(p).shape[0] // 2 for p in "ABC"]
        radii.append(math.ceil(4 * self.gaussian_sigma[1]))
        radii.append(math.ceil(self.disk_radius[1]))
        radii.append(math.ceil(4 * self.astig_sigma_major[1]))
        return int(max(radii))

    def covers(self, protocol: str) -> bool:
        """Whether a draw can give the protocol's PSF and noise: exactly (``p_protocol``) or
        from inside the ranges."""
        p = PROTOCOL_PARAMS[protocol.upper()]
        if self.p_protocol > 0 and self.protocol_weights["ABC".index(protocol.upper())] > 0:
            return True
        if self.p_protocol >= 1:  # every draw is a protocol: the ranges are never drawn from
            return False
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
        else:  # Gaussian noise alone: p_poisson = 1 puts Poisson noise on every draw
            noise_ok = noise_ok and self.p_poisson < 1
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


def degradation_spec(degradation) -> tuple[str, DegradationRanges | None]:
    if isinstance(degradation, DegradationRanges):
        return "mix", degradation
    if isinstance(degradation, str):
        d = degradation.strip()
        if d.upper() in PROTOCOL_PARAMS:
            return d.upper(), None
        if d.lower() == "mix":
            return "mix", DegradationRanges()
    raise ValueError(
        f"degradation={degradation!r}; accepted: 'A', 'B', 'C' (docs/evaluation.md protocols), "
        "'mix', or a DegradationRanges"
    )


def blur_valid(padded: np.ndarray, psf: np.ndarray, margin: int) -> np.ndarray:
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
    from scipy import signal  # here: ~1 s of import that every train/finetune start paid

    out = np.stack([signal.fftconvolve(c, psf.astype(np.float64), mode="valid") for c in sub])
    return out.astype(np.float32)


