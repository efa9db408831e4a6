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
#: the NCC of a strided sample (``SAMPLES`` pixels) a pair must reach to be compared whole: a
#: registration shift moves the input's pixels by under a pixel
PREFILTER = 0.8
SAMPLES = 4096


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


def _same_image(image: np.ndarray, pair: Pair) -> int | None:
    """Which side of ``pair`` ``image`` (a set's, normalised (C, Y, X)) is: 0 its input, 1 its
    target (None: neither); the input may be shifted by its registration, both cropped by
    ``info['border']``."""
    from scipy import ndimage

    info = pair.info or {}
    border = int(info.get("border") or 0)
    if image.shape[0] != pair.channels or \
            tuple(n - 2 * border for n in image.shape[1:]) != pair.shape:
        return None
    inner = (slice(None), *(slice(border, n - border) for n in image.shape[1:]))
    step = max(1, int(np.sqrt(pair.shape[0] * pair.shape[1] / SAMPLES)))
    sample = (slice(None), slice(None, None, step), slice(None, None, step))
    for side, is_input in ((pair.target, False), (pair.input, True)):
        if _ncc(image[inner][sample], side[sample]) < PREFILTER:
            continue
        seen = image
        shift = np.asarray(info.get("shift") or (0.0, 0.0), np.float64)
        if is_input and np.max(np.abs(shift)) >= 0.05:  # as pairs._make_pair moved it
            seen = np.stack([ndimage.shift(c, shift, order=3, mode="nearest") for c in image])
        if _ncc(seen[inner], side) >= SAME_IMAGE:
            return 0 if is_input else 1
    return None


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
    found: list[str] = []
    for pair in pairs:
        sides = {_same_image(x, pair) for x in images} - {None}
        found += [name for name in (_file(pair.group, side) for side in sorted(sides))
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
