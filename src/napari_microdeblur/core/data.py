"""Training data: aligned blurry/sharp pairs, synthetic degradations, patches, splits.

Three sources of training pairs, all ending in the same place (``Pair``: an input and a
target plane, float32 ``(C, Y, X)``, in *model units*):

(a) :func:`pairs_from_arrays` -- two arrays of the same shape, blurry and sharp, paired plane
    by plane (the axes other than Y, X and the channel axis are looped over);
(b) :func:`pairs_from_stack` -- one z-stack and its in-focus plane (given, or found with
    :func:`find_focus_plane`); every plane within ``max_distance`` of it is paired to it
    (as Wang & Han's coarse-to-fine defocus network is trained on BBBC006: every z paired
    to z = 17);
(c) :class:`SyntheticData` -- sharp images plus a degradation: a protocol ``"A"``, ``"B"``,
    ``"C"`` of docs/evaluation.md, or ``"mix"``: random Gaussian / defocus-disk / astigmatic PSFs
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
  least-squares affine fit of the input on the target blurred by the Gaussian that best
  explains the input (both smoothed by ``lowpass_sigma``), so that the fit measures gain
  and offset rather than the blur itself (``pair_matching.affine_fit``).

Each pair also carries ``to_reference = (scale, offset)``, the map from model units to the
reference scale of docs/evaluation.md (synthetic: ``metrics.reference_scale`` of the sharp image;
real pairs: the same scale of the sharp plane's raw values, through the inverse of the intensity
match: ``pairs.evaluation_scale``), so validation PSNR/SSIM use ``data_range = 1`` on the scale
the project reports: the numbers Compare & QC and ``microdeblur evaluate`` give the same pixels
(the target's own percentile scale, used before, read 11 dB lower on an 8-bit brightfield pair).

Alignment: each input plane is registered to its target by subpixel translation (cross-
correlation of smoothed copies, :func:`skimage.registration.phase_cross_correlation`, then
:func:`scipy.ndimage.shift`); both are cropped to the region the shift leaves valid.

Patches are sampled away from empty background: a crop whose target standard deviation is
below ``background`` times the whole target's, or that holds no pixel rising above the
image's background noise (``pair_matching.structure_table``: the standard deviation alone
lets the noise of a sparse image's empty patches pass), is redrawn (the GRAN paper, Zhang et
al., removes background-heavy crops too). Augmentation: the 8 flips / 90-degree rotations, the
same for input and target.
Validation splits are by whole images or planes (:func:`split_validation`), never by
neighbouring crops.

Every constructor checks its input before any training: arrays of different shapes, a stack
with one plane, a focus plane outside the stack, images smaller than the patch, constant
images, NaN or infinite pixels raise ``ValueError`` naming the argument.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence

import numpy as np

from . import degrade as degrade_module
from . import pairs as pairs_module
from .axes import check_axes
from .degradations import (  # noqa: F401  (part of this module's interface)
    PROTOCOL_PARAMS,
    DegradationParams,
    DegradationRanges,
    blur_valid,
    degradation_spec,
)
from .focus import best_focus_plane, focus_scores
from .pair_matching import structure_count, structure_table
from .pairs import (  # noqa: F401  (part of this module's interface)
    BACKGROUND_TRIES,
    NORMALIZATION,
    Pair,
    as_array,
    check_plane,
    float_planes,
    normalise_plane,
    pairs_from_stack,
    reference01,
    split_validation,
    validation_crops,
)
from .same_image import check_pairs_differ, mark_same


@functools.wraps(pairs_module.pairs_from_arrays)
def pairs_from_arrays(blurry, sharp, **options) -> list[Pair]:
    # its pairs marked where blurry and sharp are one image: training on them is refused
    # (``as_training_data``), pairs of them built alone (a test's, say) are not
    blurry, sharp = as_array(blurry, "blurry"), as_array(sharp, "sharp")  # read once
    made = pairs_module.pairs_from_arrays(blurry, sharp, **options)
    return mark_same(made, blurry, sharp)


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



# the sharpest plane of a stack is found by core.focus; the name finetune and the docks use
find_focus_plane = best_focus_plane


# ----------------------------------------------------------------------------- patch sources


def _dihedral(a: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips / 90-degree rotations of a (..., Y, X) array."""
    if k >= 4:
        a = a[..., ::-1]
    return np.rot90(a, k % 4, axes=(-2, -1))


def _crop_corner(rng: np.random.Generator, shape, patch: int, ratio=None) -> tuple[int, int]:
    """A random crop corner; with ``ratio`` (corner -> crop std / threshold) redraw crops below
    the threshold up to ``BACKGROUND_TRIES`` times and keep the busiest."""
    ny, nx = shape
    best, best_r = None, -1.0
    for _ in range(BACKGROUND_TRIES if ratio is not None else 1):
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


def _ratio(image: np.ndarray, patch: int, threshold: float, table: np.ndarray | None = None):
    """Crop std / threshold as a function of the crop corner (None when no threshold); with a
    ``pair_matching.structure_table``, 0 for a crop without structure (only background noise)."""
    if threshold <= 0:
        return None

    def ratio(y0: int, x0: int) -> float:
        r = float(image[:, y0 : y0 + patch, x0 : x0 + patch].std()) / threshold
        if table is not None:  # a count >= 1 passes; none fails whatever the noise std
            r = min(r, structure_count(table, y0, x0, patch, patch))
        return r

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


class PatchSource:
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
        small = [i for i, s in enumerate(self.shapes) if min(s) < patch]
        if not small:
            return
        # planes, not images: it said "larger than 4 of the training images" of 1 file
        groups = getattr(self, "groups", None) or [p.group for p in getattr(self, "pairs", ())]
        ny, nx = self.shapes[min(small, key=lambda i: min(self.shapes[i]))]
        planes = f"{len(small)} training plane{'s' * (len(small) > 1)} (smallest {ny} x {nx})"
        if len(groups) == len(self.shapes):
            images = sorted({re.sub(r"(:\d+)+$", "", str(groups[i])) for i in small})
            names = f": {', '.join(map(repr, images))}" if len(images) <= 3 else ""
            planes += f" of {len(images)} image{'s' * (len(images) > 1)}{names}"
        raise ValueError(f"patch={patch} is larger than {planes}; give patch={self.min_side} "
                         "or smaller, or larger images")

    def _pick(self, rng: np.random.Generator) -> int:
        areas = np.array([s[0] * s[1] for s in self.shapes], dtype=np.float64)
        return int(rng.choice(len(areas), p=areas / areas.sum()))


class PairedData(PatchSource):
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
        self._tables: dict[tuple[int, str], np.ndarray] = {}  # structure, made when first used
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
        table = None
        if thr > 0:
            if (i, which) not in self._tables:
                self._tables[i, which] = structure_table(ref)
            table = self._tables[i, which]
        y0, x0 = _crop_corner(rng, p.shape, patch, _ratio(ref, patch, thr, table))
        sl = (slice(None), slice(y0, y0 + patch), slice(x0, x0 + patch))
        k = int(rng.integers(8)) if self.augment else 0
        return i, sl, k

    def _sample_side(self, rng: np.random.Generator, n: int, patch: int, which: str):
        out = []
        for _ in range(n):
            i, sl, k = self._corner(rng, patch, which)
            out.append(_dihedral(getattr(self.pairs[i], which)[sl], k))
        return np.ascontiguousarray(np.stack(out))

    def sample_inputs(self, rng: np.random.Generator, n: int, patch: int) -> np.ndarray:
        """Blurry patches only (an unpaired source for the GAN regimes)."""
        return self._sample_side(rng, n, patch, "input")

    def sample_targets(self, rng: np.random.Generator, n: int, patch: int) -> np.ndarray:
        """Sharp patches only (an unpaired source for the PSF-CycleGAN)."""
        return self._sample_side(rng, n, patch, "target")

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
        img = as_array(img, f"{name}[{i}]")
        ax = check_axes(axes, img.shape)
        for idx, plane in float_planes(img, ax):
            out.append((f"{name}[{i}]" + "".join(f":{j}" for j in idx), plane, img.dtype))
    channels = {p.shape[0] for _, p, _ in out}
    if len(channels) != 1:
        raise ValueError(f"{name}: images have different channel counts {sorted(channels)}")
    return out


class SyntheticData(PatchSource):
    """Patches of sharp images degraded on the fly (source c).

    ``images``: one array or a list (any real dtype; axes as ``axes`` or guessed; leading
    axes such as Z are split into planes, each its own image). Each is mapped to the
    reference [0, 1] scale of docs/evaluation.md (``metrics.reference_scale``), then for every
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
        self.protocol, self.ranges = degradation_spec(degradation)
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
            else degrade_module.protocol_psf(self.protocol).shape[0] // 2
        )
        self.groups, self.sharp01, self._padded, self.norms, self._std = [], [], [], [], []
        self._tables = []
        rng = np.random.default_rng(seed)
        for i, (group, plane, dtype) in enumerate(planes):
            check_plane(plane, f"image {group!r}")
            s01 = reference01(plane, dtype, group)
            m = self.margin
            self.groups.append(names[i] if names is not None else group)
            self.sharp01.append(s01)
            self._padded.append(np.pad(s01, ((0, 0), (m, m), (m, m)), mode="symmetric"))
            once = self._degrade_whole(s01, rng)
            _, lo, sc = normalise_plane(once)
            self.norms.append((lo, sc))
            self._std.append(float(s01.std()))
            self._tables.append(structure_table(s01) if self.background > 0 else None)
        self.channels = self.sharp01[0].shape[0]
        self.shapes = [s.shape[1:] for s in self.sharp01]
        self.seed = int(seed)
        self.description = description or f"{len(self.sharp01)} sharp images"
        if self.ranges is None:
            self.degradation = f"protocol {self.protocol} (docs/evaluation.md)"
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
            return degrade_module.degrade01(s01, self.protocol, seed=seed, channel_axis=0)
        params = self.draw(rng)
        psf = params.psf()
        r = max(psf.shape) // 2
        padded = np.pad(s01, ((0, 0), (r, r), (r, r)), mode="symmetric") if r else s01
        blurred = blur_valid(padded, psf, r) if r else s01.copy()
        return params.noise(blurred, rng)

    # -- sampling -------------------------------------------------------------------------

    def _corner(self, rng, patch):
        i = self._pick(rng)
        thr = self.background * self._std[i]
        ratio = _ratio(self.sharp01[i], patch, thr, self._tables[i])
        y0, x0 = _crop_corner(rng, self.shapes[i], patch, ratio)
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
            blurry = params.noise(blur_valid(region, params.psf(), m), rng)
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
            x, lo, sc = normalise_plane(blurry)
            target = ((s01 - lo) / sc).astype(np.float32)
            pairs.append(Pair(x, target, group, (sc, lo), {"degradation": self.degradation}))
        return pairs


class UnpairedImages(PatchSource):
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
        self.images, self.groups, self._std, self._tables = [], [], [], []
        for group, plane, _ in planes:
            check_plane(plane, f"image {group!r}")
            x, _, _ = normalise_plane(plane)
            self.images.append(x)
            self.groups.append(group)
            self._std.append(float(x.std()))
            self._tables.append(structure_table(x) if self.background > 0 else None)
        self.channels = self.images[0].shape[0]
        self.shapes = [x.shape[1:] for x in self.images]
        self.description = description or f"{len(self.images)} unpaired images"

    def sample_inputs(self, rng: np.random.Generator, n: int, patch: int) -> np.ndarray:
        out = []
        for _ in range(n):
            i = self._pick(rng)
            img = self.images[i]
            thr = self.background * self._std[i]
            ratio = _ratio(img, patch, thr, self._tables[i])
            y0, x0 = _crop_corner(rng, self.shapes[i], patch, ratio)
            k = int(rng.integers(8)) if self.augment else 0
            out.append(_dihedral(img[:, y0 : y0 + patch, x0 : x0 + patch], k))
        return np.ascontiguousarray(np.stack(out))

    sample_targets = sample_inputs


def as_training_data(obj, name: str = "train"):
    """A patch source from a PairedData / SyntheticData / UnpairedImages, a list of Pair, or a
    ``(blurry, sharp)`` tuple of arrays."""
    if isinstance(obj, PatchSource):  # one image given as blurry and sharp: refused
        return check_pairs_differ(obj)
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(p, Pair) for p in obj):
        return check_pairs_differ(PairedData(obj))
    if isinstance(obj, tuple) and len(obj) == 2:
        return check_pairs_differ(PairedData(pairs_from_arrays(obj[0], obj[1], name=name)))
    raise ValueError(
        f"{name} is a {type(obj).__name__}; accepted: PairedData, SyntheticData, a list of "
        "data.Pair, or a (blurry, sharp) tuple of arrays"
    )


