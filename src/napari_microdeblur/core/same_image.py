"""Blurry and sharp given as one image, refused before any training.

A pair of an image with itself teaches a network to change nothing: a walkthrough ran
`microdeblur finetune --blurry base/GT --sharp base/GT` (and the same layer as blurry and sharp
from Python) to its end, and heard only then that the weights were below the input. Files are
compared by path (``same_files``: the command line's, before they are read), arrays by their
pixels (``same_pixels``); ``data.pairs_from_arrays`` marks the pairs of one image
(``mark_same``) and ``data.as_training_data``, which every training and fine-tuning run goes
through, refuses them (``check_pairs_differ``). A stack's in-focus plane paired with itself on
purpose (``pairs_from_stack(include_focus=True)``) is not marked.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

#: ``Pair.info`` key of a pair whose blurry and sharp were one image
SAME_KEY = "same_image"
#: pixels compared first, spread over the image: two different images differ there at once
SAMPLE = 4096

SAME_WORDS = ("trained on it, a network learns to change nothing; give the blurry image as "
              "blurry and its sharp (in-focus) counterpart as sharp")


def same_pixels(blurry, sharp) -> bool:
    """Whether two arrays hold the same pixels (one shape, equal values whatever the dtype):
    a strided sample first, then the whole."""
    if blurry is sharp:
        return True
    b, s = np.asarray(blurry), np.asarray(sharp)
    if b.shape != s.shape or b.size == 0:
        return False
    b, s = b.reshape(-1), s.reshape(-1)
    step = max(1, b.size // SAMPLE)
    return bool(np.array_equal(b[::step], s[::step]) and np.array_equal(b, s))


def same_files(blurry: str | os.PathLike, sharp: str | os.PathLike) -> bool:
    """Whether two paths name one file (the same path, or a link to it)."""
    from .atomic_write import same_file  # a file missing: False, said where it is read

    return Path(blurry) == Path(sharp) or same_file(Path(blurry), sharp)


def mark_same(made: list, blurry, sharp) -> list:
    """``made``, the pairs of ``blurry`` and ``sharp``, each marked (``SAME_KEY``) where the
    two hold the same pixels."""
    if made and same_pixels(blurry, sharp):
        for pair in made:
            pair.info[SAME_KEY] = True
    return made


def pair_words(group: str) -> str:
    """A pair's image as messages name it, from its group without the plane indices (':0:3'):
    "blurry 'b.tif' and sharp 's.tif'" (the command line's 'b.tif~s.tif'), else
    "blurry and sharp of 'name'"."""
    name = re.sub(r"(?::\d+)+$", "", group)
    if "~" in name[1:-1]:
        blurry, sharp = name.split("~", 1)
        return f"blurry {blurry!r} and sharp {sharp!r}"
    return f"blurry and sharp of {name!r}"


def check_pairs_differ(source):
    """``source`` (a patch source), refused in one line where pairs it trains on are one
    image given as blurry and sharp (``mark_same``)."""
    marked = [p.group for p in getattr(source, "pairs", None) or () if p.info.get(SAME_KEY)]
    if marked:
        named = list(dict.fromkeys(map(pair_words, marked)))
        more = f" (and {len(named) - 1} more pairs)" if len(named) > 1 else ""
        raise ValueError(f"{named[0]}{more} are the same image (identical pixels): "
                         f"{SAME_WORDS}")
    return source
