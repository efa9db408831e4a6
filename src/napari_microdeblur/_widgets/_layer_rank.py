"""Which layer a dock's layer box takes by itself: the roles layer names say (an input to
deblur, a sharp reference, a result), and when the active layer is taken instead."""

from __future__ import annotations

import re

#: words of a layer name that make it a sharp reference, or a blurry input (the samples'
#: "nuclei sharp (ground truth)" and "nuclei blurred (protocol A)"; "mito in-focus" beside its
#: stack: "in focus" is read as one word, "defocus", "unfocused", "out-of-focus" are not it)
REFERENCE_WORDS = ("truth", "sharp", "reference", "gt", "infocus", "focused")
INPUT_WORDS = ("blur", "input", "raw", "degraded")


def name_words(layer) -> list[str]:
    """The words of a layer's name, lower case; "in focus" in any spelling is one word."""
    name = str(getattr(layer, "name", "")).lower()
    # "in focus", "in-focus", "in_focus": the one word "infocus" ("out-of-focus" stays apart)
    name = re.sub(r"(?<![a-z0-9])in[^a-z0-9]*focus", "infocus", name)
    return re.split(r"[^a-z0-9]+", name)


def made_here(layer) -> bool:
    """Whether the plugin made ``layer`` (a result, preview, heatmap...): its metadata holds
    the plugin's 'microdeblur' record."""
    metadata = getattr(layer, "metadata", None)
    return isinstance(metadata, dict) and "microdeblur" in metadata


def _is_result(layer, words: list[str]) -> bool:
    return any(w.startswith("deblur") for w in words) or made_here(layer)


def names_reference(words: list[str]) -> bool:
    """Whether a name's words (``name_words``) say it is a sharp reference."""
    return any(w.startswith(r) if r != "gt" else w == r for w in words for r in REFERENCE_WORDS)


FITTING_RANK = 1  # a rank up to this fits the role; above, a result or the other role


def input_rank(layer) -> int:
    """How well ``layer`` fits as the image to deblur, by its name (lower is better): 0 named
    blurry/input, 1 any other, 2 a deblurred result, 3 a sharp reference (ground truth)."""
    words = name_words(layer)
    if names_reference(words):
        return 3
    if _is_result(layer, words):
        return 2
    return 0 if any(w.startswith(i) for w in words for i in INPUT_WORDS) else 1


def reference_rank(layer) -> int:
    """How well ``layer`` fits as the sharp reference of a pair (lower is better): 0 named
    sharp/ground truth, 1 any other, 2 a deblurred result, 3 named blurry/input."""
    return {3: 0, 1: 1, 2: 2, 0: 3}[input_rank(layer)]


def may_follow(layer, score: int) -> bool:
    """Whether a layer box may take ``layer``, the active one, by itself: not when its rank
    ``score`` says it is a reference, a result or the other role, nor a layer the plugin made,
    nor a PSF (the Fine-tune dock's "learned PSF (...)" layer, a PSF file the user opened to
    give as 'layer:NAME'), nor the alpha of a gray + alpha file (the reader adds it last, so
    napari makes it active: the box had taken the mask): none of them is an image to deblur."""
    if layer is None or score > FITTING_RANK or made_here(layer):
        return False
    words = name_words(layer)
    return not (any(w.startswith("psf") for w in words) or "alpha" in words)


def run_in_progress(widget) -> bool:
    """Whether the dock ``widget`` sits in (a ``RunDockMixin``: Deblur, Focus QC) has a run
    that has not finished: its layer box must not move by itself under that run."""
    from ._workers import RunDockMixin

    while widget is not None:
        if isinstance(widget, RunDockMixin):
            run = widget.run_handle
            return run is not None and not run.done
        widget = widget.parentWidget()
    return False
