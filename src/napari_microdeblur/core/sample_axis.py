"""S, the colour samples of a pixel (RGB, RGBA), told apart from CARE's sample axis.

CSBDeep/CARE name a stack of separate images S (``axes='SYX'`` for 3 crops); here S is the
samples of one colour pixel, so such a stack ran without a word as one RGB image through the
luminance/chroma path (3 EM crops: up to 39.6 counts from axes='ZYX', 0.3-0.6 dB lower
each), with 2 or 4 images its last passed through as alpha. ``sample_axis_refusal`` refuses
given axes whose S is evidently no colour: not last, for a grayscale image type or network
(a planar RGB TIFF, read SYX, stays valid with 'auto' or brightfield). ``both_c_and_s`` words
the refusal of C beside S with what S is here. No torch: checked before any work.
"""

from __future__ import annotations

from .axes import check_axes

#: image types whose images have no colour (``MethodSpec.modality``, ``bundled`` networks'),
#: as a network's are named
GRAYSCALE_TYPES = {"em": "an EM", "fluorescence": "a fluorescence"}


def _as_stack(axes: str) -> str | None:
    """``axes`` with S read as a stack of separate images: Z, else T; None with both."""
    letter = next((a for a in "ZT" if a not in axes), None)
    return None if letter is None else axes.replace("S", letter)


def both_c_and_s(axes) -> str | None:
    """The refusal of ``axes`` naming both C and S (CARE's 'SCYX'), saying what S is here and
    what a stack of separate images is; None where they do not."""
    if not isinstance(axes, str) or not {"C", "S"} <= set(axes.upper()):
        return None
    axes = axes.upper()
    stack = _as_stack(axes)
    example = f", e.g. axes={stack!r}" if stack else ""
    return (f"axes={axes!r} has both C and S; use one channel axis: S is colour samples here "
            "(RGB, RGBA) and C channels; for a stack of separate images (CARE's sample axis S) "
            f"give Z or T{example}")


def grayscale_reason(method) -> str | None:
    """Why ``method`` (a ``MethodSpec``) takes no colour ("modality='em' is grayscale"), or
    the grayscale image type of the network it names (bundled, or weights whose card states
    one and takes one channel); None where it may take colour, or is no MethodSpec."""
    modality = getattr(method, "modality", None)
    if not isinstance(modality, str) or not hasattr(method, "weights"):
        return None
    if modality in GRAYSCALE_TYPES:
        return f"modality={modality!r} is grayscale"
    if method.weights is not None:
        kind = _weights_type(method.weights)
        return (f"weights={str(method.weights)!r} are {GRAYSCALE_TYPES[kind]} network "
                "(grayscale)" if kind else None)
    from .inference_settings import network_modality

    kind = network_modality(str(method.name))
    return (f"method={method.name!r} is {GRAYSCALE_TYPES[kind]} network (grayscale)"
            if kind in GRAYSCALE_TYPES else None)


def _weights_type(weights) -> str | None:
    """The grayscale image type of a one-channel weights file's card; None where unknown."""
    from pathlib import Path

    if not str(weights).lower().endswith(".safetensors") or not Path(weights).is_file():
        return None
    from .catalog import card_modality
    from .checkpoint import read_card

    try:
        card = read_card(weights)
    except (OSError, ValueError):  # no card: the load says what is wrong
        return None
    kind = card_modality(card)
    return kind if kind in GRAYSCALE_TYPES and card.in_channels == 1 else None


def sample_axis_refusal(axes: str, method) -> str | None:
    """One line refusing given ``axes`` whose S (colour samples here) is not the last axis
    while ``method`` is grayscale (``grayscale_reason``): CARE's stack of separate images,
    which would run as one colour image; None where S may be colour."""
    if "S" not in axes or axes.endswith("S"):
        return None
    reason = grayscale_reason(method)
    if reason is None:
        return None
    stack = _as_stack(axes)
    return (f"axes {axes!r}: S is colour samples (RGB, RGBA) here, and {reason}; for a stack "
            "of separate images (CARE's sample axis) give Z or T"
            + (f" (axes={stack!r})" if stack else ""))


def given_axes(axes: str | None, shape, method) -> str:
    """``check_axes(axes, shape)`` (which words C beside S by ``both_c_and_s``), then given
    axes whose S is no colour for ``method`` refused (``sample_axis_refusal``); before any
    work."""
    checked = check_axes(axes, shape)
    if axes is not None and (refusal := sample_axis_refusal(checked, method)):
        raise ValueError(refusal)
    return checked
