"""Aligned training pairs (input, target) in model units, from real images, and validation
splits. See ``core.data`` for the normalisation every pair follows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from .axes import channel_letter, check_axes, loop_axes, stack_planes
from .focus import best_focus_plane
from .inference import compute_normalization
from .metrics import reference_scale
from .pair_checks import (
    BAND_GAP,
    SWAP_MAX_BLUR,
    check_band_fits,
    check_not_swapped,
    check_same_field,
    detail_ratio,
    inverted_message,
    shown_pair,
)
from .pair_matching import (  # noqa: F401  (gray: interface)
    affine_fit,
    gray,
    register,
    shift_confirmed,
    structure_count,
    structure_table,
)

#: The normalisation every network is trained with (and inference applies): a model card field.
NORMALIZATION: dict[str, Any] = {"kind": "percentile", "low": 0.1, "high": 99.9}

#: Tries to find a patch that is not background before the busiest of them is taken.
BACKGROUND_TRIES = 10


# ----------------------------------------------------------------------------- small helpers


def as_array(a, name: str) -> np.ndarray:
    if not all(hasattr(a, attr) for attr in ("shape", "dtype", "__getitem__")):
        raise TypeError(f"{name} is a {type(a).__name__}; accepted: an array (numpy, dask, zarr)")
    a = np.asarray(a)
    if a.dtype.kind not in "uif":
        raise TypeError(f"{name} has dtype {a.dtype}; accepted: integer or float pixels")
    return a


def float_planes(image: np.ndarray, axes: str) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """``[(index over the loop axes, plane as float32 (C, Y, X))]`` of an image with ``axes``."""
    stack, loop_shape, plane_axes = stack_planes(np.asarray(image), axes)
    if len(plane_axes) == 2:  # no channel axis: one channel
        stack = stack[:, None]
    return [(tuple(int(i) for i in index), np.ascontiguousarray(plane, dtype=np.float32))
            for index, plane in zip(np.ndindex(*loop_shape), stack)]


def check_plane(plane: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(plane)):
        raise ValueError(f"{what} holds NaN or infinite pixels; replace them (np.nan_to_num)")
    if float(plane.max()) == float(plane.min()):
        raise ValueError(
            f"{what} is constant (every pixel {float(plane.min())}); accepted: an image with "
            "structure to learn from"
        )


def normalise_plane(plane: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Percentile-normalise a (C, Y, X) plane as inference does; returns (x, offset, scale)."""
    norm = compute_normalization(
        plane, "CYX", "percentile", low=NORMALIZATION["low"], high=NORMALIZATION["high"]
    )
    return norm.apply(plane), float(norm.offset), float(norm.scale)


# ----------------------------------------------------------------------------- pairs


@dataclass(frozen=True, eq=False)
class Pair:
    """One aligned training pair in model units: ``input`` and ``target`` are float32
    ``(C, Y, X)`` of the same shape. ``group`` names the image or plane it came from
    (validation splits keep groups whole). ``to_reference`` is ``(scale, offset)``:
    ``reference = model_units * scale + offset`` is the reference scale of docs/evaluation.md,
    on which PSNR/SSIM use data_range 1. ``info`` holds what was done (shift, intensity gain,
    focus distance, ...)."""

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
    where: str | None = None,
    same_field: bool = False,
) -> Pair:
    """Align, normalise and intensity-match one (C, Y, X) plane pair (``where``: messages').
    ``same_field``: refuse planes that do not correlate once aligned (``check_same_field``;
    a stack's planes are one field by construction, and a plane far from focus may be blank),
    and measure ``info['detail_ratio']`` where little blur fits (``check_not_swapped``)."""
    info = dict(info or {})
    where = where or repr(group)
    check_plane(blurry, f"the blurry plane of {where}")
    check_plane(sharp, f"the sharp plane of {where}")
    x, lo, scale = normalise_plane(blurry)
    shift = np.zeros(2)
    if align:
        shift = register(blurry, sharp, upsample)
        limit = max_shift if max_shift is not None else 0.1 * min(blurry.shape[1:])
        # over the limit: a failed registration unless the planes confirm it (a real stage
        # shift of 15 px on a 128 px field was dropped, training a misaligned pair)
        if np.max(np.abs(shift)) > limit and not shift_confirmed(blurry, sharp, shift):
            info["alignment"] = f"rejected shift {shift.tolist()} (over {limit:.1f} px)"
            shift = np.zeros(2)
        elif np.max(np.abs(shift)) >= 0.05:
            x = np.stack([ndimage.shift(c, shift, order=3, mode="nearest") for c in x])
            x = x.astype(np.float32)
    info["shift"] = [float(s) for s in shift]
    if same_field:  # before training: a pair turned or of another field was trained and saved
        info["field_correlation"] = check_same_field(blurry, sharp, shift, where,
                                                     sigma=lowpass_sigma)
    # the scale Compare & QC and `microdeblur evaluate` score the sharp image on, uncropped
    # (pairs in the same units keep their refusal of negative integers)
    scale_of = evaluation_scale if match_intensity else dtype_reference_scale
    r_off, r_scale = scale_of(sharp, sharp_dtype, group)
    margin = int(math.ceil(float(np.max(np.abs(shift))))) if np.any(shift) else 0
    info["border"] = margin  # cropped from every side: split_band works in image coordinates
    if margin:
        crop = (slice(None), slice(margin, -margin), slice(margin, -margin))
        x, sharp = x[crop], sharp[crop]
        if min(x.shape[1:]) < 2:
            raise ValueError(f"{where}: the alignment shift {shift.tolist()} leaves no image")
    if match_intensity:
        t_ref, s_lo, s_scale = normalise_plane(sharp)
        target, (a, b) = _matched_target(t_ref, x, lowpass_sigma, where, info)
        # model units -> the sharp plane's own percentiles (1/a, -b/a) -> its raw values ->
        # this plane's evaluation scale (its percentile scale read 11 dB low on an 8-bit
        # brightfield pair). The target is matched onto the input: scored as evaluate --match
        to_ref = (s_scale / (a * r_scale), (s_lo - r_off - b * s_scale / a) / r_scale)
    else:
        target = ((sharp - lo) / scale).astype(np.float32)
        _check_same_units(x, target, where)
        # the sign check of matched pairs: an inverted pair in the same units was trained on
        gain, _, info["blur_sigma"] = affine_fit(target, x, lowpass_sigma)
        if not gain > 0:
            raise ValueError(inverted_message(where, gain, info))
        to_ref = (scale / r_scale, (lo - r_off) / r_scale)
    if same_field and info["blur_sigma"] <= SWAP_MAX_BLUR:  # the planes as read: noise white
        info["detail_ratio"] = detail_ratio(blurry, sharp)
    return Pair(np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(target), group,
                (float(to_ref[0]), float(to_ref[1])), info)


def _matched_target(t_ref: np.ndarray, x: np.ndarray, sigma: float, where: str, info: dict):
    """(target, (a, b)): the sharp plane ``t_ref`` (normalised by its own percentiles) put on
    the scale of the input ``x`` by ``affine_fit`` (``target = a * t_ref + b``); ``info`` gets
    what was fitted.

    Several channels get a gain and offset each (two acquisitions of RGB differ in white
    balance, of fluorescence channels in exposure; one gain left a channel 18-20 % off, a
    colour change the network would learn); a channel whose own fit is not positive (nearly
    empty) keeps the one of all channels together, which is the (a, b) returned."""
    a, b, blur = affine_fit(t_ref, x, sigma)
    if not a > 0:
        raise ValueError(inverted_message(where, a, info))
    fits = [(a, b)] * len(t_ref)
    if len(t_ref) > 1:
        own = [affine_fit(t_ref[c : c + 1], x[c : c + 1], sigma)[:2] for c in range(len(t_ref))]
        fits = [f if f[0] > 0 else (a, b) for f in own]
        info["channel_gains"] = [[float(g), float(o)] for g, o in fits]
    target = np.stack([g * t + o for (g, o), t in zip(fits, t_ref, strict=True)])
    info.update(gain=a, offset=b, blur_sigma=blur)
    return target.astype(np.float32), (a, b)


UNITS_FACTOR = 4.0  # mean intensities further apart than this: not the same units


def _check_same_units(x: np.ndarray, target: np.ndarray, where: str) -> None:
    """Without intensity matching the sharp plane must be in the blurry plane's units. Blur
    keeps the mean, so means differing by over ``UNITS_FACTOR`` mean other units (uint8
    against uint16, 0-1 against counts): training would teach the network to rescale. Means
    are above the lower floor (0.1th percentile) of the two: the blurry one's alone made a
    dim sharp plane's mean negative (camera offset 168, none in the truth: -0.167x)."""
    low = NORMALIZATION["low"]
    floor = min(float(np.percentile(x, low)), float(np.percentile(target, low)))
    blurry_mean, sharp_mean = float(np.mean(x)) - floor, float(np.mean(target)) - floor
    if blurry_mean <= 1e-3:
        return  # a plane of almost nothing but its floor: no mean to compare
    ratio = sharp_mean / blurry_mean
    if not 1 / UNITS_FACTOR <= ratio <= UNITS_FACTOR:
        raise ValueError(
            f"{where}: the sharp plane's mean intensity is {ratio:.3g}x the blurry plane's, "
            "so they are not in the same units; tick 'match intensities' (match_intensity="
            "True) or rescale one of them"
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
    treated as a failed registration and not applied unless the planes correlate clearly
    better after it, ``pair_matching.shift_confirmed``; ``info['alignment']`` says so). Planes
    that barely correlate once aligned are refused (``pair_checks.check_same_field``), and so
    are blurry and sharp given the other way round (``pair_checks.check_not_swapped``). With
    ``match_intensity`` the target is affine-matched to the input (real pairs); without it the
    target uses the input's normalisation (pairs already in the same intensity units).
    """
    blurry = as_array(blurry, "blurry")
    sharp = as_array(sharp, "sharp")
    if blurry.shape != sharp.shape:
        raise ValueError(
            f"blurry has shape {blurry.shape} but sharp has {sharp.shape}; accepted: arrays of "
            "the same shape and axes"
        )
    axes = check_axes(axes, blurry.shape)
    loop = loop_axes(axes, "YX" + (channel_letter(axes) or ""))
    if not lowpass_sigma >= 0:
        raise ValueError(f"lowpass_sigma={lowpass_sigma!r}; accepted: a number >= 0 (pixels)")
    pairs = []
    for (idx, b), (_, s) in zip(float_planes(blurry, axes), float_planes(sharp, axes), strict=True):
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
                where=plane_label(name, loop, idx),
                same_field=True,
            )
        )
    check_not_swapped(shown_pair(name), [p.info for p in pairs])
    return pairs


def plane_label(name: str, loop: str, idx: Sequence[int]) -> str:
    """``'name' at T 0, Z 3``: the group's ``name:0:3`` does not say which axes."""
    where = ", ".join(f"{a} {i}" for a, i in zip(loop, idx, strict=True))
    return f"{shown_pair(name)} at {where}" if where else shown_pair(name)


def _is_count(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def check_focus_stack(shape, axes: str | None, focus_plane: int | str = "auto", *,
                      option: str = "focus_plane=") -> str:
    """What ``pairs_from_stack`` refuses before any work, from the stack's shape and axes alone
    (the Fine-tune dock asks before it starts; ``option`` names the focus setting in the
    message): axes other than one Z besides Y, X and a channel, one plane, a focus plane that
    is neither 'auto' nor in the stack. Returns the checked axes."""
    shape = tuple(int(s) for s in shape)
    axes = check_axes(axes, shape)
    if loop_axes(axes, "YX" + (channel_letter(axes) or "")) != "Z":
        why = "no Z axis" if "Z" not in axes else "axes besides Z, Y, X and a channel"
        raise ValueError(f"stack with axes {axes!r} has {why}; accepted: a z-stack (axes Z, Y, X "
                         "and optionally one channel axis C or S)")
    nz = shape[axes.index("Z")]
    if nz < 2:
        raise ValueError(
            f"stack has {nz} plane along Z (shape {shape}); accepted: at least 2 planes "
            "(the in-focus plane and defocused ones)"
        )
    if focus_plane == "auto":
        return axes
    if not _is_count(focus_plane):
        raise ValueError(f"{option}{focus_plane!r}; accepted: 'auto' or a plane index")
    if not 0 <= int(focus_plane) < nz:
        raise ValueError(f"{option}{focus_plane} is outside the stack's {nz} planes; accepted: "
                         f"0 to {nz - 1} or 'auto'")
    return axes


def _check_counts(max_distance, target_neighbours) -> None:
    if max_distance is not None and not (_is_count(max_distance) and max_distance >= 1):
        raise ValueError(f"max_distance={max_distance!r}; accepted: None or an integer >= 1")
    if not (_is_count(target_neighbours) and target_neighbours >= 0):
        raise ValueError(f"target_neighbours={target_neighbours!r}; accepted: an integer >= 0")


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
    target_neighbours: int = 0,
    name: str = "stack",
) -> list[Pair]:
    """Pair every plane within ``max_distance`` planes of the in-focus plane to it.

    ``focus_plane`` is an index or ``"auto"`` (:func:`focus.best_focus_plane`). ``max_distance``
    None pairs every plane. ``include_focus`` adds the in-focus plane paired with itself (an
    identity example: teaches the model to leave sharp images alone). Each pair's group is
    its plane, so :func:`split_validation` holds out whole planes. ``target_neighbours`` k > 0
    makes the target the mean of the planes focus - k .. focus + k other than the input's own
    (k cut to what the nearer end of the stack has: ``neighbours_kept``): a noise-aware target
    where the planes next to focus are nearly as sharp (the noise of one in-focus plane is not
    learned, and no input is its own target)."""
    stack = as_array(stack, "stack")
    axes = check_focus_stack(stack.shape, axes, focus_plane)
    nz = stack.shape[axes.index("Z")]
    focus = best_focus_plane(stack, axes) if focus_plane == "auto" else int(focus_plane)
    _check_counts(max_distance, target_neighbours)
    each_side = neighbours_kept(nz, focus, target_neighbours)
    near = list(range(focus - each_side, focus + each_side + 1))
    planes = float_planes(stack, axes)
    pairs = []
    for idx, plane in planes:
        z = idx[0]
        dist = abs(z - focus)
        if (dist == 0 and not include_focus) or (max_distance is not None and dist > max_distance):
            continue
        if target_neighbours:
            target_planes = [k for k in near if k != z]
            sharp = np.mean([planes[k][1] for k in target_planes], axis=0, dtype=np.float32)
        else:
            target_planes, sharp = near, planes[focus][1]
        pairs.append(_make_pair(
            plane, sharp, f"{name}:z{z}", align=align and dist > 0,
            match_intensity=match_intensity, max_shift=max_shift, lowpass_sigma=lowpass_sigma,
            sharp_dtype=stack.dtype, info={"z": z, "focus_plane": focus, "distance": z - focus,
                                           "target_planes": target_planes}))
    if not pairs:
        raise ValueError(f"no plane lies within max_distance={max_distance} of the focus plane "
                         f"{focus}")
    return pairs


def neighbours_kept(nz: int, focus: int, k: int) -> int:
    """The planes each side of ``focus`` (of ``nz``) that a target of ``target_neighbours`` k
    averages: no more than the nearer end of the stack leaves, so the mean stays centred on
    focus (k = 10 of 9 planes took 0-8, said as 10 each side; off focus, more on one side)."""
    if k and not 0 < focus < nz - 1:
        raise ValueError(f"target_neighbours={k}: the focus plane {focus} of {nz} planes has no "
                         "plane on one side to average with; give 0 or move the focus away from "
                         "the end")
    return min(k, focus, nz - 1 - focus)


def dtype_reference_scale(plane: np.ndarray, dtype: np.dtype, group: str) -> tuple[float, float]:
    """(offset, scale) of docs/evaluation.md's reference scale by the image's original dtype:
    uint8 /255, other integers / their maximum, floats min-max."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" and plane.min() < 0:
        raise ValueError(f"image {group!r} has negative pixels; accepted: >= 0")
    if dtype == np.uint8:
        return 0.0, 255.0
    if dtype.kind in "iu":
        return 0.0, float(plane.max())
    return reference_scale(plane)


def evaluation_scale(plane: np.ndarray, dtype: np.dtype, group: str) -> tuple[float, float]:
    """(offset, scale) ``metrics.reference_scale`` gives the plane in its original ``dtype``
    (what Compare & QC and ``evaluate`` score it on): ``dtype_reference_scale``, and min-max
    for integers holding negative values instead of a refusal, as metrics does."""
    if np.dtype(dtype).kind in "iu" and float(plane.min()) < 0:
        return reference_scale(plane)  # a float plane: min-max
    return dtype_reference_scale(plane, dtype, group)


def reference01(plane: np.ndarray, dtype: np.dtype, group: str) -> np.ndarray:
    """A plane on the reference [0, 1] scale of docs/evaluation.md, by its original dtype."""
    off, scale = dtype_reference_scale(plane, dtype, group)
    return np.clip((plane - off) / scale, 0.0, 1.0).astype(np.float32)


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


def split_band(
    pairs: Sequence[Pair],
    *,
    val_fraction: float = 0.2,
    gap: int = BAND_GAP,
    min_train: int = 1,
    min_band: int = 8,
) -> tuple[list[Pair], list[Pair]]:
    """Hold out a band of every plane: (training pairs, validation pairs), cut from each pair.
    The band is the last ``val_fraction`` of the plane's longer axis (X when square), in the
    image's coordinates before alignment cropped the pair (every plane holds out the same
    pixels); ``gap`` pixels before it are dropped. No training patch shares a pixel with the
    band: unlike whole planes of one stack (which share the one in-focus target), it can see a
    network memorise its targets. ``ValueError``: ``check_band_fits``."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction!r}; accepted: within (0, 1)")
    train, val = [], []
    for p in pairs:
        border = int(p.info.get("border", 0))
        axis, stop_train, start_val = check_band_fits(
            p.group, p.shape, val_fraction=val_fraction, gap=gap, min_train=min_train,
            min_band=min_band, border=border)
        for region, lo, hi in (("train", 0, stop_train),
                               ("validation", max(start_val, 0), p.input.shape[axis])):
            sl = [slice(None)] * 3
            sl[axis] = slice(lo, hi)
            part = Pair(np.ascontiguousarray(p.input[tuple(sl)]),
                        np.ascontiguousarray(p.target[tuple(sl)]), p.group, p.to_reference,
                        {**p.info, "region": region, "band": ["YX"[axis - 1], lo, hi]})
            (train if region == "train" else val).append(part)
    return train, val


def validation_crops(
    pairs: Sequence[Pair],
    *,
    size: int,
    size_divisor: int = 1,
    max_crops: int = 16,
    background: float = 0.25,
    seed: int = 0,
) -> list[Pair]:
    """Fixed crops of validation pairs (deterministic for a seed), sides multiples of the
    divisor: pairs no larger than ``size`` whole (cut to a multiple of ``size_divisor``), larger
    ones up to ``max(1, max_crops // len(pairs))`` crops of ``size`` x ``size`` away from
    background (target std at least ``background`` times the whole target's, and some pixel of
    structure in it: ``pair_matching.structure_table``)."""
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
        # as training patches: a crop of background noise alone does not count as busy
        table = structure_table(p.target) if thr > 0 and not whole else None
        for _ in range(n):
            best, best_std = (0, 0), -1.0
            for _ in range(BACKGROUND_TRIES):
                y0 = int(rng.integers(0, ny - cy + 1))
                x0 = int(rng.integers(0, nx - cx + 1))
                s = float(p.target[:, y0 : y0 + cy, x0 : x0 + cx].std())
                if table is not None:
                    s = min(s, thr * structure_count(table, y0, x0, cy, cx))
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
