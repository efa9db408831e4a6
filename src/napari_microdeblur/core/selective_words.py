"""What a selective deblur (``core.selective``) settled for each plane, in the words and record
fields the command line (``cli_selective``) and the Focus QC dock both use, so the two cannot
drift apart."""

from __future__ import annotations

import numpy as np

__all__ = ["found_settings", "settled_entries", "settled_words", "unit_word"]


def unit_word(result) -> str:
    """What one unit of ``result`` is: 'slice', 'tile', or 'plane' (a single-plane file)."""
    if result.focus_tile is not None:
        return "tile"
    return "plane" if np.ndim(result.scores) == 0 else "slice"


def settled_entries(result, spec) -> list[dict]:
    """What each plane's deblurred units ran with and where it was found, as the record's
    ``focus.settled`` and the --json line's ``settled_on`` give it: 'from' (the plane, and the
    box of its soft tiles read), 'plane', 'box', 'method', the PSF, iterations and balance
    it ran with, and ``found``: those of them settled on that part ('estimate' or 'auto')."""
    from .selective import part_words, score_axes

    loop = score_axes(result.axes)
    yx = tuple(result.image.shape[result.axes.index(a)] for a in "YX")
    return [{"from": part_words(loop, part.plane, part.box, yx), "plane": list(part.plane),
             "box": [int(b) for b in part.box], "method": part.method.name, **part.settings,
             "found": found_settings(spec, part.settings)} for part in result.settled]


def found_settings(spec, settings: dict) -> list[str]:
    """Which of ``settings`` the image settled: a PSF where none or 'estimate' was given,
    iterations or balance where 'auto' was."""
    from .psf_estimate import is_estimate

    given = {"psf": spec.psf, "iterations": spec.iterations, "balance": spec.balance}
    return [k for k in settings if k in given and (
        given[k] == "auto" or (k == "psf" and (given[k] is None or is_estimate(given[k]))))]


def settled_words(result, spec) -> str:
    """', settings found on each soft slice (Z 2: PSF astig:...; Z 5: PSF gaussian:1.20)':
    where the image settled a setting (4 planes named; the record lists all); '' where not."""
    from .selective import settings_words

    entries = [e for e in settled_entries(result, spec) if e["found"]]
    if not entries:
        return ""
    shown = "; ".join(f"{e['from']}: {settings_words({k: e[k] for k in e['found']})}"
                      for e in entries[:4])
    more = f"; {len(entries) - 4} more in the record" if len(entries) > 4 else ""
    where = ("each plane's soft tiles" if result.focus_tile is not None
             else f"each soft {unit_word(result)}" if len(entries) > 1
             else f"the soft {unit_word(result)}")
    return f", settings found on {where} ({shown}{more})"
