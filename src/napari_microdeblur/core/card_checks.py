"""Checks of a model card read from a weights file, made before anything is built from it.

A card is text anyone can edit, so every number in it that sizes work is bounded here or in
the architecture's config class (``core.archs``): the nesting of its JSON (a card nested
100,000 deep printed a 40-line ``RecursionError``), its ``tiling`` (a halo of a million pixels
was blamed on ``--tile 64``, a negative tile on ``--overlap``) and its ``normalization`` (a
percentile 'x' or NaN failed deep in the run, in numpy's words). Each refusal is one line that
names the card field; ``core.checkpoint`` adds the file. :func:`shown_text` escapes control
characters of card or record text the CLI prints (a description holding terminal escapes
cleared the screen of ``microdeblur info``).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any

from pydantic import ValidationError

__all__ = ["CARD_DEPTH_LIMIT", "EDITED", "HALO_LIMIT", "NORMALIZATION_KINDS", "TILE_LIMITS",
           "card_json", "card_problem", "checked_degradation", "checked_normalization",
           "checked_tiling", "nesting_depth", "one_line", "shown_text", "shown_values"]

#: what to do with a card that does not hold together
EDITED = "; the model card was edited or damaged: use the original file, or save it again"
#: levels of nested lists and objects a card may have (ours have 4; json stops near 1000)
CARD_DEPTH_LIMIT = 32
#: a card's measured halo, pixels each side (the bundled weights measure 64)
HALO_LIMIT = 1024
#: a card's default tile edge, smallest and largest (the bundled weights use 1024)
TILE_LIMITS = (16, 16384)
#: the normalisations ``core.inference`` computes
NORMALIZATION_KINDS = ("percentile", "scale", "shift", "none")
_NORMALIZATION_KEYS = ("kind", "low", "high")
_PERCENTILE_DEFAULTS = {"low": 0.1, "high": 99.9}  # core.method.network_method's


def nesting_depth(data: Any) -> int:
    """Levels of nested lists and dicts in ``data`` (0 for a plain value), counted without
    recursion, so a hostile depth cannot exhaust Python's stack here."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, (list, tuple)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def card_json(raw: str) -> Any:
    """The card's JSON as Python; ``ValueError`` (one line, no file) for text that is not
    JSON or nests deeper than ``CARD_DEPTH_LIMIT`` levels."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the model card in the metadata is not valid JSON "
                         f"({_clipped(exc)}){EDITED}") from None
    except RecursionError:  # json gives up near 1000 levels, in a 40-line traceback
        raise ValueError(_too_deep("the model card in the metadata")) from None
    if nesting_depth(data) > CARD_DEPTH_LIMIT:
        raise ValueError(_too_deep("the model card in the metadata"))
    return data


def _too_deep(what: str) -> str:
    return (f"{what} nests lists or objects more than {CARD_DEPTH_LIMIT} levels deep, "
            f"which no napari-microdeblur card does{EDITED}")


def _clipped(text: object, limit: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit].rstrip() + "..."


# --------------------------------------------------------------------- card field validators


def checked_degradation(text: str) -> str:
    """A card's ``degradation`` (free text, or the JSON of the training degradation that
    ``core.psf_safeguard`` reads): JSON in it must nest no deeper than a card may."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            depth = nesting_depth(json.loads(text))
        except RecursionError:
            depth = CARD_DEPTH_LIMIT + 1
        except ValueError:  # free text that starts with a bracket: not read as JSON anywhere
            return text
        if depth > CARD_DEPTH_LIMIT:
            raise ValueError(f"its JSON nests more than {CARD_DEPTH_LIMIT} levels deep")
    return text


def checked_tiling(tiling: dict[str, int]) -> dict[str, int]:
    """A card's ``tiling``: ``halo`` from 0 to ``HALO_LIMIT``, ``tile`` within ``TILE_LIMITS``
    and more than twice the halo, no other key. Checked here, not first when a run tiles (a
    huge halo was blamed on the --tile the user never gave)."""
    unknown = sorted(set(tiling) - {"halo", "tile"})
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))} (known: halo, tile)")
    halo, tile = tiling.get("halo"), tiling.get("tile")
    if halo is not None and not 0 <= halo <= HALO_LIMIT:
        raise ValueError(f"its halo, {halo} px, is outside 0 to {HALO_LIMIT} (the pixels each "
                         "side a tile's output depends on)")
    low, high = TILE_LIMITS
    if tile is not None and not low <= tile <= high:
        # not 'tile is ...': the CLI reads that as its --tile option (cli_words)
        raise ValueError(f"its tile, {tile} px, is outside {low} to {high} (the default tile "
                         "edge)")
    if tile is not None and halo is not None and tile <= 2 * halo:
        raise ValueError(f"its tile, {tile} px, is not larger than twice its halo, {halo} px: "
                         "no tile would keep a pixel")
    return tiling


def checked_normalization(norm: dict[str, Any]) -> dict[str, Any]:
    """A card's ``normalization``: ``kind`` one of ``NORMALIZATION_KINDS``; ``low`` and
    ``high`` finite percentiles, low below high (the missing one is the default, as a run
    takes it); no other key."""
    unknown = sorted(set(norm) - set(_NORMALIZATION_KEYS))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))} (known: "
                         f"{', '.join(_NORMALIZATION_KEYS)})")
    kind = norm.get("kind", "percentile")
    if kind not in NORMALIZATION_KINDS:
        raise ValueError(f"kind is {_clipped(repr(kind), 40)}, not one of "
                         f"{', '.join(NORMALIZATION_KINDS)}")
    bounds = {**_PERCENTILE_DEFAULTS, **{k: norm[k] for k in ("low", "high") if k in norm}}
    for key, value in bounds.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number and math.isfinite(value) and 0 <= value <= 100):
            raise ValueError(f"{key} is {_clipped(repr(value), 40)}, not a percentile from 0 "
                             "to 100")
    if bounds["low"] >= bounds["high"]:
        raise ValueError(f"low {bounds['low']} is not below high {bounds['high']}")
    return norm


# --------------------------------------------------------------------- why a card is refused


def one_line(exc: ValidationError) -> str:
    """A card's validation errors on one line (pydantic's text spans several)."""
    return "; ".join(f"{'.'.join(map(str, e.get('loc', ()))) or 'card'}: "
                     f"{str(e.get('msg')).removeprefix('Value error, ')}" for e in exc.errors())


def _release(version: Any) -> tuple[int, ...] | None:
    """``'0.2.0'`` as ``(0, 2, 0)``; None for what is no version."""
    found = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version) if isinstance(version, str) else None
    return tuple(int(n or 0) for n in found.groups()) if found else None


def card_problem(exc: ValidationError, data: Any, ours: str) -> str:
    """Why a card is refused: fields a newer napari-microdeblur added (its card says which
    version wrote it) are not called an edit. Refused either way: a field this version
    (``ours``) does not know may change how the weights must be used (pixel size, ...), so
    ignoring it could give a wrong image without a word."""
    writer = data.get("software_version") if isinstance(data, dict) else None
    mine, theirs = _release(ours), _release(writer)
    unknown = [_clipped(repr(e["loc"][0]), 40) for e in exc.errors()
               if e.get("type") == "extra_forbidden" and e.get("loc")]
    only_unknown = bool(unknown) and len(unknown) == len(exc.errors())
    what = (f"does not know its card field(s) {', '.join(unknown)}" if only_unknown
            else f"cannot read its model card ({one_line(exc)})")
    if theirs is not None and mine is not None and theirs > mine:
        return (f"written by napari-microdeblur {_clipped(writer, 20)}, newer than this "
                f"one ({ours}), which {what}: update napari-microdeblur "
                "(pip install -U napari-microdeblur) to use it")
    if only_unknown and theirs == mine:  # a newer development build of the same version
        return (f"this napari-microdeblur ({ours}) {what}: the file was written by a "
                "newer build (update napari-microdeblur), or the model card was edited or "
                "damaged (use the original file, or save it again)")
    return f"invalid model card: {one_line(exc)}{EDITED}"


# --------------------------------------------------------------------- text the CLI prints

#: bidirectional overrides and isolates: they reorder what a terminal shows (U+202A-E, 2066-9)
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def shown_text(text: object, *, newlines: bool = False) -> str:
    """``text`` with control characters escaped as ``repr`` writes them (``\\x1b``, ``\\r``,
    ``\\u202e``), so a weights card or an output's record cannot move the cursor, clear the
    screen or retitle the terminal of ``microdeblur info``; ``newlines`` keeps line breaks
    (a block of lines), else they and tabs are a space (one field: a card's two paragraphs
    had shown a literal '\\n'; a space still makes no fake line)."""
    text = str(text)
    if text.isprintable():  # the usual case: nothing to escape
        return text
    if not newlines:
        text = text.translate(_SPACED)
    return "".join(ch if ch.isprintable() or ch == " " or (newlines and ch == "\n")
                   or not _control(ch) else repr(ch)[1:-1] for ch in text)


_SPACED = str.maketrans({"\t": " ", "\n": " ", "\r": " "})


def _control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI


def shown_values(data: Any, depth: int = 0) -> Any:
    """``data`` (what ``info`` read from a file: lists, dicts, strings) with every string
    :func:`shown_text`, line breaks too (a device name with a newline printed a fake line);
    what nests deeper than a card may is left as read (no line shows it)."""
    if isinstance(data, str):
        return shown_text(data)
    if depth > CARD_DEPTH_LIMIT:
        return data
    if isinstance(data, dict):
        return {shown_values(k, depth + 1): shown_values(v, depth + 1) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(shown_values(v, depth + 1) for v in data)
    return data
