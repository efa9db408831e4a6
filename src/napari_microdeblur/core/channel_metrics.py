"""Per-channel scores of a multichannel fluorescence image (a C axis, not RGB samples):
``metrics.evaluate`` of each channel on that channel's own reference range.

Pooled like RGB colours, a bright DAPI channel and a dim GFP one shared one data range (the
brighter's maximum) and one PSNR, and each stack slice mixed both channels: whether each
channel improved could not be read off. The range rule is docs/evaluation.md's
(``metrics.reference_scale``) applied to each channel of the reference alone."""

from __future__ import annotations

import numpy as np

from .metrics import evaluate, reference_scale

__all__ = ["CONSTANT_RULE", "is_multichannel", "channel_names", "plane_letters", "slice_labels",
           "channel_scale", "channel_scores", "per_slice_rows", "scale_rule"]


#: The rule a channel constant in the reference is scored by (here and in Compare & QC)
CONSTANT_RULE = "constant in the reference: the whole reference's range"


def is_multichannel(axes: str, shape) -> bool:
    """A C axis of two channels or more (RGB is an S axis and stays pooled)."""
    return "C" in axes and int(shape[axes.index("C")]) > 1


def channel_names(count: int, *metadatas: dict) -> list[str]:
    """The first of ``metadatas`` whose 'channel_names' has ``count`` distinct names, else
    C0, C1, ..."""
    for metadata in metadatas:
        names = [str(n) for n in (metadata or {}).get("channel_names") or []]
        if len(names) == count and len(set(names)) == count and all(names):
            return names
    return [f"C{i}" for i in range(count)]


def plane_letters(axes: str) -> str:
    """The axes ``evaluate`` makes planes of (all but the channel axis and the last two)."""
    return "".join(a for a in axes if a not in "CS")[:-2]


def slice_labels(axes: str, shape, starts: dict | None = None) -> list[dict]:
    """One {letter: index} per plane in ``evaluate``'s order (e.g. {'T': 0, 'Z': 3});
    ``starts`` ({letter: first index}) numbers a cropped axis as in the file (--match)."""
    letters = plane_letters(axes)
    sizes = [int(shape[axes.index(a)]) for a in letters]
    starts = starts or {}
    return [{a: int(i) + int(starts.get(a, 0)) for a, i in zip(letters, index)}
            for index in np.ndindex(*sizes)] if letters else []


def scale_rule(dtype, offset: float, scale: float) -> str:
    """How one channel of the reference was mapped to [0, 1] (docs/evaluation.md's table)."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return "divided by 255"
    if dtype.kind in "iu" and offset >= 0:
        return f"divided by this channel's maximum ({scale:g})"
    return f"this channel's min-max [{offset:g}, {offset + scale:g}]"


def channel_scale(ref_channel, whole, *, name: str = "reference channel", scale_of=None):
    """(offset, scale, rule) of one reference channel: ``metrics.reference_scale`` (or
    ``scale_of``, e.g. one that reads a lazy array in slabs) of that channel, else, for a
    channel with no range of its own (constant), the whole reference's ``whole`` (a pair, or
    a function giving it, called only then), said in the rule, rather than failing the other
    channels. The one rule of ``evaluate`` and of the Compare & QC dock."""
    scale_of = scale_of or reference_scale
    try:
        offset, scale = scale_of(ref_channel, name=name)
    except ValueError:
        offset, scale = whole() if callable(whole) else whole
        return offset, scale, CONSTANT_RULE
    return offset, scale, scale_rule(ref_channel.dtype, offset, scale)


def channel_scores(prediction: np.ndarray, reference: np.ndarray, axes: str, *, border: int,
                   names: list[str], scale_source: np.ndarray | None = None,
                   whole_scale: tuple[float, float] | None = None) -> list[dict]:
    """``evaluate`` of each channel (axis C of ``axes``) on its own range: a dict per channel
    with 'index', 'name', the four figures (and the per-slice lists of a stack),
    'reference_offset', 'reference_scale' and 'scale_rule'. ``scale_source``: the reference
    the ranges come from when ``reference`` is a registered copy (--match); ``whole_scale``:
    the whole reference's (offset, scale), for a constant channel."""
    c = axes.index("C")
    source = reference if scale_source is None else scale_source
    whole = whole_scale or reference_scale(source, name="reference")
    out = []
    for i, name in enumerate(names):
        offset, scale, rule = channel_scale(np.take(source, i, axis=c), whole)
        scores = evaluate(np.take(prediction, i, axis=c), np.take(reference, i, axis=c),
                          border=border, ref_scale=(offset, scale))
        out.append({"index": i, "name": name, **scores, "reference_offset": offset,
                    "reference_scale": scale, "scale_rule": rule})
    return out


def per_slice_rows(axes: str, shape, channels: list[dict],
                   starts: dict | None = None) -> list[dict]:
    """Every (channel, plane) of a stack in the file's order (e.g. T, C, Z), each with its
    indices, 'channel' (the name), 'psnr' and 'ssim' (border excluded); [] for a 2D image."""
    labels = slice_labels(axes.replace("C", ""), [s for a, s in zip(axes, shape) if a != "C"],
                          starts)
    if not labels:
        return []
    letters = [a for a in axes if a == "C" or a in plane_letters(axes)]
    sizes = [int(shape[axes.index(a)]) for a in letters]
    others = [a for a in letters if a != "C"]
    flat = {tuple(label[a] for a in others): n for n, label in enumerate(labels)}
    starts = starts or {}
    rows = []
    for index in np.ndindex(*sizes):
        where = dict(zip(letters, (int(i) for i in index)))
        for a in others:
            where[a] += int(starts.get(a, 0))
        channel = channels[where["C"]]
        n = flat[tuple(where[a] for a in others)]
        rows.append({**where, "channel": channel["name"], "psnr": channel["psnr_per_slice"][n],
                     "ssim": channel["ssim_per_slice"][n]})
    return rows
