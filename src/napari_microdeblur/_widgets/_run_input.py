"""What became of a run's input layer while the run went on, and the latest deblur's (input,
result) pair that Compare & QC opens on.

A run reads its input layer's array at its start (``DeblurRun`` keeps it: ``read_data``). When
it returns, the layer may have been renamed (the result takes the new name), removed (the
result keeps the old one) or given other data (``layer.data = other``): the result is then of
the data the layer had at the start, its record says so (``replaced_fields``) and it is not
remembered as the layer's pair, which Compare & QC would score against the new data.
"""

from __future__ import annotations

import weakref

from ._layer_data import source_now
from ._layers import layer_data

#: what a result's record (``input_replaced``) and its dock's status line say
REPLACED = ("the data of input layer {name!r} was replaced during the run; the result is of "
            "the data it had at the start")


def read_data(viewer, placement: dict):
    """The array of the input layer of ``placement`` as a run starting now reads it (None
    without a layer in ``viewer``)."""
    layer = source_now(viewer, placement)
    return None if layer is None else layer_data(layer)


def data_replaced(layer, read) -> bool:
    """Whether ``layer`` holds another array than ``read``, the one its run read at the start.
    Pixels edited in place are not told apart (the array is the same)."""
    return read is not None and layer is not None and layer_data(layer) is not read


def replaced_fields(run) -> dict:
    """``{'input_replaced': line}`` for the record of a run whose input got other data."""
    if not getattr(run, "source_replaced", False):
        return {}
    return {"input_replaced": REPLACED.format(name=run.req.source_name)}


def removed_note(run) -> str:
    """What a dock adds to its status when the run's input layer was removed during it, or
    given other data (then the result is not paired with it in Compare & QC)."""
    if run.source_removed:
        return (f"; input layer {run.req.source_name!r} was removed during the run (the result "
                "is named after it)")
    if fields := replaced_fields(run):
        return f"; {fields['input_replaced']} (Compare & QC does not pair them)"
    return ""


# ----------------------------------------------------------------------------- the last deblur

_LAST_DEBLUR: dict = {}  # "source" and "result": weak references to the layers
#: result layer -> a weak reference to the array its run read from its input layer
_READ_BY_RESULT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def remember_deblur(source, result, read=None) -> None:
    """Record the input and result layers of the latest deblur (for Compare & QC), and the
    array ``read`` the run read from the input (weakly: the layer holds it, not this)."""
    _LAST_DEBLUR["source"] = weakref.ref(source) if source is not None else None
    _LAST_DEBLUR["result"] = weakref.ref(result)
    try:
        _READ_BY_RESULT[result] = weakref.ref(read) if read is not None else None
    except TypeError:  # an array type without weak references: not told apart
        _READ_BY_RESULT[result] = None


def holds_what_was_read(source, result) -> bool:
    """Whether the layer ``source`` still holds the array ``result``'s run read from it: given
    other data after the run (``layer.data = next_field``), the pair would score the old
    field's result against the new one. True where that is not known (a result opened from
    a file, an array type without weak references)."""
    ref = _READ_BY_RESULT.get(result)
    return ref is None or layer_data(source) is ref()


def last_deblur(viewer) -> tuple | None:
    """(input layer, result layer) of the latest deblur, when both are still in ``viewer``."""
    refs = (_LAST_DEBLUR.get("source"), _LAST_DEBLUR.get("result"))
    layers = tuple(ref() if ref is not None else None for ref in refs)
    if any(layer is None or layer not in viewer.layers for layer in layers):
        return None
    return layers if holds_what_was_read(*layers) else None
