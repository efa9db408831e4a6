"""Per-channel thresholds of the Focus QC dock. Channels of one layer (a C axis; RGB samples
are S, averaged into one score) score on their own levels (DAPI 1.4-1.8e-4 beside GFP
2.5-7.1e-4 in one time-lapse), so one threshold, or half the median of both pooled, judges
neither: the automatic threshold is taken per channel, from each channel's scores with
structure, and so are the selection and the sharpest slice. A typed threshold is one value for
all channels (said); a calibration on a known-good layer with the same channels is per
channel too."""

from __future__ import annotations

import numpy as np

from ..core.focus_defaults import channel_thresholds


def channel_axis(axes: str, loop: str) -> int | None:
    """Index of C among the score axes ``loop`` (tile scores add their row and column after
    them), or None without a C axis."""
    return loop.index("C") if "C" in loop and "C" in axes else None


def along(values, axis: int, c: int):
    """Channel ``c`` of ``values`` (scores or structure) along score axis ``axis``."""
    return np.take(np.asarray(values), c, axis=axis)


def auto_thresholds(scores, structure, axis: int) -> np.ndarray:
    """Half the median score of each channel's units with structure, as the CLI's
    ``--focus-below auto`` takes it (``core.focus_defaults.channel_thresholds``)."""
    return np.array(channel_thresholds(scores, structure, axis), dtype=np.float64)


def calibrated_thresholds(scores, structure, axis: int, calibrate, name: str) -> np.ndarray:
    """``calibrate(kept scores)`` for each channel of a known-good layer; a channel with no
    structure is refused, naming it."""
    values = []
    for c in range(np.asarray(scores).shape[axis]):
        kept = along(scores, axis, c)[along(structure, axis, c)]
        if kept.size == 0:
            raise ValueError(f"channel {c} of {name!r} holds no structure above its background "
                             "noise; calibrate on an in-focus layer with content in every "
                             "channel")
        values.append(calibrate(kept))
    return np.asarray(values, dtype=np.float64)


def limits(thresholds, ndim: int, axis: int) -> np.ndarray:
    """``thresholds`` shaped to compare with scores of ``ndim`` dims, channel along ``axis``."""
    shape = [1] * ndim
    shape[axis] = len(thresholds)
    return np.asarray(thresholds, dtype=np.float64).reshape(shape)


def below(scores, structure, thresholds, axis: int) -> np.ndarray:
    """The units with structure scoring strictly below their channel's threshold (NaN never)."""
    values = np.asarray(scores, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        soft = np.less(values, limits(thresholds, values.ndim, axis))
    return soft & np.isfinite(values) & np.asarray(structure, dtype=bool)


def listed(thresholds) -> str:
    """'C 0: 8.07e-05, C 1: 0.000213'."""
    return ", ".join(f"C {c}: {t:.4g}" for c, t in enumerate(thresholds))


def counts_words(mask, thresholds, axis: int, unit: str) -> str:
    """'3 of 96 slices below their channel's threshold (C 0: 1 of 48 below 8.07e-05; C 1: ...)'."""
    parts = [f"C {c}: {int(along(mask, axis, c).sum())} of {along(mask, axis, c).size} below "
             f"{t:.4g}" for c, t in enumerate(thresholds)]
    return (f"{int(mask.sum())} of {mask.size} {unit} below their channel's threshold "
            f"({'; '.join(parts)})")


def sharpest_words(scores, structure, loop: str, axis: int) -> str:
    """'; sharpest per channel: C 0 at T 7, Z 3; C 1 at T 2, Z 3' (slices with structure)."""
    rest = loop[:axis] + loop[axis + 1:]
    parts = []
    for c in range(np.asarray(scores).shape[axis]):
        values = np.where(along(structure, axis, c), along(scores, axis, c), np.nan)
        values = np.where(np.isfinite(values), values, np.nan)
        if not np.isfinite(values).any():
            parts.append(f"C {c}: no slice with structure")
            continue
        best = np.unravel_index(int(np.nanargmax(values)), values.shape)
        at = ", ".join(f"{a} {int(i)}" for a, i in zip(rest, best, strict=True))
        parts.append(f"C {c} at {at}" if at else f"C {c}")
    return "; sharpest per channel: " + "; ".join(parts)


def for_core(scores, mask) -> tuple[np.ndarray, float]:
    """(scores, threshold) for ``core.selective``, which takes one threshold: the units of
    ``mask`` keep their scores, the others none (never selected), and the threshold is the
    highest of the channels' (every unit of ``mask`` is below it)."""
    values = np.where(mask, np.asarray(scores, dtype=np.float64), np.nan)
    finite = values[np.isfinite(values)]
    return values, float(np.nextafter(finite.max(), np.inf)) if finite.size else 0.0


def per_channel_layer(make_layer, thresholds, how: str):
    """``make_layer`` (``focus_deblurred_layer``) naming and recording the channels'
    thresholds instead of the one the core was given."""
    values = [float(f"{t:.6g}") for t in thresholds]

    def made(req, outcome):
        data, kwargs, kind = make_layer(req, outcome)
        name = kwargs["name"]
        cut = name.rfind(" (focus < ")
        kwargs["name"] = (name[:cut] if cut >= 0 else name) + \
            f" (focus < {', '.join(f'{t:.3g}' for t in values)} per channel)"
        focus = kwargs["metadata"]["microdeblur"]["focus"]
        focus["threshold"] = values
        focus["threshold_from"] = f"one per channel (C 0 to C {len(values) - 1}), {how}"
        return data, kwargs, kind

    return made
