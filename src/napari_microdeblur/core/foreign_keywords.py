"""CSBDeep/CARE and CAREamics keywords given to ``deblur`` (``n_tiles=(2, 2)``,
``normalizer=``) and a normalisation given as CARE gives it (``"percentile"``, ``(1, 99.8)``):
said in one line with the keyword that does it here. They had been Python's bare 'unexpected
keyword argument' and 'must be a Normalization, not <class 'tuple'>'. Only these names: any
other unknown keyword is still Python's own TypeError (a typo is not hidden)."""

from __future__ import annotations

import functools
from numbers import Real

#: how ``compute_normalization`` is reached (not a top-level name of the package)
COMPUTE = "from napari_microdeblur.core.inference import compute_normalization"
#: CARE's (csbdeep's PercentileNormalizer) default percentiles
CARE_PERCENTILES = (1, 99.8)

#: another tool's keyword -> what to give here instead
FOREIGN = {
    "n_tiles": ("CSBDeep's count of tiles; here tile= takes pixels per tile side (an int, or "
                "one per axis) and tile=None, the default, picks the method's own size, within "
                "memory: leave n_tiles out"),
    "normalizer": ("CSBDeep's; here give normalization=compute_normalization(image, axes, "
                   f"'percentile', {CARE_PERCENTILES[0]}, {CARE_PERCENTILES[1]}) for CARE's "
                   f"percentiles ({COMPUTE}), or leave it out: None normalises as the method "
                   "expects"),
    "resizer": ("CSBDeep's; deblur pads and crops tiles itself (the output has the input's "
                "shape): leave it out"),
    "tile_size": "CAREamics'; here give tile= (pixels per tile side, an int or one per axis)",
    "tile_overlap": "CAREamics'; here give overlap= (pixels shared by neighbouring tiles)",
}
#: normalisation kinds ``compute_normalization`` takes
KINDS = ("percentile", "scale", "shift", "none")


def foreign_keywords_said(function):
    """``function`` refusing ``FOREIGN``'s keywords in one line each, before it runs (its
    signature and help unchanged: ``inspect.signature`` follows ``__wrapped__``)."""

    @functools.wraps(function)
    def checked(*args, **kwargs):
        foreign = next((name for name in kwargs if name in FOREIGN), None)
        if foreign is not None:
            raise TypeError(f"{function.__name__}() got an unexpected keyword argument "
                            f"{foreign!r}: {foreign} is {FOREIGN[foreign]}")
        return function(*args, **kwargs)

    return checked


def check_normalization(value) -> None:
    """``TypeError`` in one line for a ``normalization`` that is not a ``Normalization``,
    naming the ``compute_normalization`` call that makes the one meant (a kind's name, or
    CARE's percentile pair)."""
    from .inference import Normalization  # imports this module

    if isinstance(value, Normalization):
        return
    head = f"normalization must be a Normalization or None, not {type(value).__name__}"
    if isinstance(value, str) and value.lower() in KINDS:
        call = f"compute_normalization(image, axes, {value.lower()!r})"
    elif (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, Real) and not isinstance(v, bool) for v in value)):
        call = f"compute_normalization(image, axes, 'percentile', {value[0]}, {value[1]})"
    else:
        low, high = CARE_PERCENTILES
        call = f"compute_normalization(image, axes, 'percentile', {low}, {high})"
    shown = f" {value!r}" if len(repr(value)) <= 40 else ""  # not an array's whole repr
    raise TypeError(f"{head}{shown}: give normalization={call} ({COMPUTE}), or None to "
                    "normalise as the method expects")
