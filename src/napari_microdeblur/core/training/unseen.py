"""The regime's extra image sets, named as the user gave them, against the run's pairs.

An image of a set that a loss term trains on (SGPN's unlabelled blurry images: the
``unseen_sources`` of the regime) that is also a validation pair's input or target makes the
validation score one of an image the network has seen, while the card says it was held out:
refused, naming the image (its group: the file the CLI read) and the set (its description:
the option and folder). The same image among the training pairs is a warning only: it is
trained on already, so the set adds nothing new there, but nothing is scored on it.

Images are compared by content, not by path (the set and the pairs are arrays here): a set's
image is the pair's when their normalised cross-correlation, channel by channel, is at least
``SAME_IMAGE`` after the pair's own registration shift and border crop. Two readings of one
file give 1 to float32 rounding; two acquisitions of one field differ by their noise.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ..notes import DeblurWarning
from ..pairs import Pair

__all__ = ["SAME_IMAGE", "check_unseen", "set_refusal", "set_words", "shared_groups"]

#: channel-wise NCC at or above which a set's image is a pair's image
SAME_IMAGE = 0.9999
#: the NCC of a sample of about ``SAMPLES`` points a pair's side must reach to be compared
#: whole. The set's image is sampled where the pair's registration shift, rounded to whole
#: pixels, moved it (a shift of 3 px left a textured field at NCC 0: never found), and both
#: are smoothed around each point (``_TAPS``, sigma 1 px) so that the rest of the shift, up
#: to half a pixel per axis, keeps the NCC of the same image well above this
PREFILTER = 0.8
SAMPLES = 4096
#: binomial weights of the smoothing around each sample point
_TAPS = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def set_words(src, name: str) -> str:
    """'the unpaired set (--unlabelled DIR)': the set as the user gave it (the CLI's
    description), else its keyword (``unpaired=``)."""
    given = getattr(src, "description", "")
    return f"the {name.replace('_', ' ')} set ({given})" if given else f"{name}="


def set_refusal(src, name: str, error: Exception) -> str:
    """``error`` of a check of the set ``name`` (its patch size) naming that set: 'larger than
    6 training planes' of an unlabelled set named neither the set nor its option."""
    said = str(error)
    if said.startswith(f"{name}="):
        return said
    return f"{set_words(src, name)}: {said.replace(' training plane', ' plane', 1)}"


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    """The lowest channel-wise NCC of two (C, Y, X) arrays of one shape (0 for a flat one)."""
    found = 1.0
    for x, y in zip(a, b, strict=True):
        x = np.asarray(x, np.float64).ravel() - float(np.mean(x))
        y = np.asarray(y, np.float64).ravel() - float(np.mean(y))
        den = float(np.sqrt((x @ x) * (y @ y)))
        found = min(found, float(x @ y) / den if den > 0 else 0.0)
    return found


def _grid(pair: Pair, is_input: bool) -> tuple:
    """Where ``pair``'s side is sampled in a set's image of the pair's full size: (channels,
    image shape, first point, side shape, step). ``pairs._make_pair`` moved the input by its
    registration shift (``ndimage.shift``: out[y] = in[y - shift]) and cropped ``border``."""
    info = pair.info or {}
    border = int(info.get("border") or 0)
    shift = np.asarray(info.get("shift") or (0.0, 0.0), np.float64)
    moved = np.rint(shift).astype(int) if is_input else np.zeros(2, int)
    start = tuple(int(np.clip(border - m, 0, 2 * border)) for m in moved)
    step = max(1, int(np.sqrt(pair.shape[0] * pair.shape[1] / SAMPLES)))
    full = tuple(n + 2 * border for n in pair.shape)
    return pair.channels, full, start, pair.shape, step


def _sample(image: np.ndarray, start: tuple, size: tuple, step: int) -> np.ndarray:
    """(C, S): ``image`` (C, Y, X) smoothed by ``_TAPS`` at the points ``start + k * step``
    within ``size``, each channel zero-mean and of unit norm (zeros for a flat one)."""
    reach = len(_TAPS) // 2
    rows, cols = (o + np.arange(0, n, step) for o, n in zip(start, size, strict=True))
    x = np.asarray(image, np.float64)
    x = sum(w * x[:, np.clip(rows + d, 0, x.shape[1] - 1)]
            for d, w in zip(range(-reach, reach + 1), _TAPS, strict=True))
    x = sum(w * x[:, :, np.clip(cols + d, 0, x.shape[2] - 1)]
            for d, w in zip(range(-reach, reach + 1), _TAPS, strict=True))
    x = x.reshape(x.shape[0], -1)
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def _is_side(image: np.ndarray, pair: Pair, is_input: bool) -> bool:
    """Whether ``image`` (a set's, normalised (C, Y, X) of the pair's full size) is the
    pair's input (moved by its registration shift as ``pairs._make_pair`` moved it) or
    target, both cropped by ``info['border']``: the whole-image NCC."""
    from scipy import ndimage

    info = pair.info or {}
    border = int(info.get("border") or 0)
    inner = (slice(None), *(slice(border, n - border) for n in image.shape[1:]))
    shift = np.asarray(info.get("shift") or (0.0, 0.0), np.float64)
    if is_input and np.max(np.abs(shift)) >= 0.05:
        image = np.stack([ndimage.shift(c, shift, order=3, mode="nearest") for c in image])
    return _ncc(image[inner], pair.input if is_input else pair.target) >= SAME_IMAGE


def _sides_held(images: list, pairs: list[Pair]) -> dict[int, set[int]]:
    """{pair index: its sides (0 input, 1 target) that one of ``images`` is}. Each image is
    sampled once per sampling grid (pairs of one size and rounded shift share one) and each
    pair's side once; the pre-check of all of them is a matrix product per grid, and only
    the pairs it passes (``PREFILTER``) are compared whole."""
    by_grid: dict[tuple, list[tuple[int, int]]] = {}
    for p, pair in enumerate(pairs):
        for side in (1, 0):
            by_grid.setdefault(_grid(pair, side == 0), []).append((p, side))
    found: dict[int, set[int]] = {}
    for (channels, full, start, size, step), members in by_grid.items():
        fitting = [i for i, x in enumerate(images) if x.shape == (channels, *full)]
        if not fitting:
            continue
        ours = np.stack([_sample(images[i], start, size, step) for i in fitting])
        theirs = np.stack([_sample(pairs[p].target if side else pairs[p].input, (0, 0), size,
                                   step) for p, side in members])
        ncc = np.min([ours[:, c] @ theirs[:, c].T for c in range(channels)], axis=0)
        for i, m in zip(*np.nonzero(ncc >= PREFILTER), strict=True):
            p, side = members[m]
            if side not in found.get(p, ()) and _is_side(images[fitting[i]], pairs[p], not side):
                found.setdefault(p, set()).add(side)
    return found


def _file(group: str, side: int) -> str:
    """The file of ``side`` of a pair's group: 'b.tif~s.tif' (the CLI's blurry and sharp
    files) gives one of the two, a plane's 'name:3' its file."""
    names = str(group).split("~")
    return re.sub(r"(:\d+)+$", "", names[side] if len(names) == 2 else str(group))


def shared_groups(src, pairs: Iterable[Pair]) -> list[str]:
    """The files (pairs' groups, planes of one file once) of ``pairs`` that ``src`` (a set of
    2D images, ``data.UnpairedImages``) holds; [] for a set of other kind."""
    images = getattr(src, "images", None)
    if not images or any(np.ndim(x) != 3 for x in images):
        return []
    pairs = list(pairs)
    held = _sides_held(list(images), pairs)
    found: list[str] = []
    for p, pair in enumerate(pairs):
        found += [name for name in (_file(pair.group, side) for side in sorted(held.get(p, ())))
                  if name not in found]
    return found


def _training_pairs(train) -> list[Pair]:
    if hasattr(train, "pairs"):
        return list(train.pairs)
    sharp = getattr(train, "sharp01", None) or []  # synthetic blur: its sharp images
    return [Pair(s, s, g) for s, g in zip(sharp, getattr(train, "groups", []), strict=False)]


def _listed(names: list[str]) -> str:
    return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def check_unseen(regime, sources: Mapping[str, Any], train,
                 validation: Callable[[], list[Pair] | None]) -> None:
    """``ValueError`` (one line) where a set of ``regime.unseen_sources`` in ``sources``
    holds a validation image (``validation()``: the run's validation pairs, None for none);
    a ``DeblurWarning`` where it holds training images."""
    named = [(name, sources[name]) for name in getattr(regime, "unseen_sources", ())
             if sources.get(name) is not None]
    if not named:
        return
    held = validation() or []
    for name, src in named:
        seen = shared_groups(src, held)
        if seen:
            them = "them" if len(seen) > 1 else "it"
            raise ValueError(
                f"{set_words(src, name)} holds {_listed(seen)}, held out for validation (the "
                f"same pixels): the run would train on {them}, so the validation score would "
                f"be of images the network has seen; take {them} out of that set")
        trained = shared_groups(src, _training_pairs(train))
        if trained:
            warnings.warn(
                f"{set_words(src, name)} holds {len(trained)} of the training images "
                f"({_listed(trained)}): they are trained on already, so the set adds nothing "
                "new with them; give it images without targets", DeblurWarning, stacklevel=2)
