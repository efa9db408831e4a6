"""How a fine-tuning run (``core.finetune``) holds out validation: whole fields when there are
enough of them (``val_fraction`` x fields rounds to at least one); otherwise a band of every
plane (``pairs.split_band``): one 2D pair, a pair of stacks (neighbouring planes of one field
would validate one another), or a z-stack and its in-focus plane, whose planes all share the
one noisy target. Where that band does not fit the planes of one blurry/sharp pair of stacks
(two or more Z/T planes too small: CARE's training patches, each a field of its own), whole
planes are held out, drawn as ``microdeblur train`` draws them (``pairs.split_validation``);
that pair had been refused."""

from __future__ import annotations

import numpy as np

from . import pairs
from .axes import channel_letter, check_axes, loop_axes
from .finetune_request import FinetuneRequest, PairField, StackField, request_fields

__all__ = ["band_region", "check_field_sizes", "plane_count", "split_pairs"]


def plane_count(f: PairField | StackField) -> int:
    """The planes (Z, T, ... but not channels) of a blurry/sharp pair; 0 for a stack and its
    in-focus plane, which never holds out planes."""
    if not isinstance(f, PairField):
        return 0
    shape = tuple(int(n) for n in np.shape(f.blurry))
    axes = check_axes(f.axes, shape)
    loop = loop_axes(axes, "YX" + (channel_letter(axes) or ""))
    return int(np.prod([shape[axes.index(a)] for a in loop], dtype=np.int64))


def _planes_held_out(fields, req: FinetuneRequest, divisor: int) -> bool:
    """One blurry/sharp pair of two or more planes with no room for a band: its planes are
    held out, as by `train`."""
    if len(fields) != 1 or plane_count(fields[0]) < 2:
        return False
    f = fields[0]
    shape = tuple(int(n) for n in np.shape(f.blurry))
    axes = check_axes(f.axes, shape)
    try:
        pairs.check_band_fits(f.name, (shape[axes.index("Y")], shape[axes.index("X")]),
                              val_fraction=req.val_fraction, min_train=req.patch,
                              min_band=max(8, divisor))
    except ValueError:
        return True
    return False


def check_field_sizes(req: FinetuneRequest) -> None:
    """The rules that need no pixels, so a job (and the Fine-tune dock, before it starts one)
    refuses a layer before aligning its pairs, which takes a while on a large stack: a stack's
    axes and focus plane (``pairs.check_focus_stack``), then room for the held-out band
    (``pairs.check_band_fits`` with no alignment border; the pairs are checked again, with
    theirs, when they are split)."""
    fields = request_fields(req)
    yx = []
    for f in fields:
        shape = tuple(int(n) for n in np.shape(f.blurry if isinstance(f, PairField) else f.stack))
        axes = (pairs.check_focus_stack(shape, f.axes, f.focus) if isinstance(f, StackField)
                else check_axes(f.axes, shape))
        yx.append((f.name, (shape[axes.index("Y")], shape[axes.index("X")])))
    divisor = int(getattr(req.model, "size_divisor", 1))
    if (req.val_fraction == 0 or round(req.val_fraction * len(fields)) >= 1
            or _planes_held_out(fields, req, divisor)):
        return  # no validation, or whole fields or planes held out
    for name, plane in yx:
        pairs.check_band_fits(name, plane, val_fraction=req.val_fraction, min_train=req.patch,
                              min_band=max(8, divisor))


def split_pairs(per_field: list[list], req: FinetuneRequest, divisor: int, fields=None):
    """(train pairs, validation pairs, what was held out); ``fields`` (the request's, by
    default) tell a pair of stacks, whose planes are held out, from a stack and its focus."""
    fields = request_fields(req) if fields is None else fields
    if req.val_fraction == 0:
        return [p for ps in per_field for p in ps], None, "nothing (val_fraction 0)"
    if (round(req.val_fraction * len(per_field)) < 1 and len(per_field[0]) >= 2
            and _planes_held_out(fields, req, divisor)):
        train, val = pairs.split_validation(per_field[0], val_fraction=req.val_fraction,
                                            seed=req.seed)
        planes = ", ".join(p.group.split(":", 1)[1] for p in val)
        return train, val, (f"{len(val)} of {len(per_field[0])} whole planes of "
                            f"{fields[0].name} (plane {planes})")
    if round(req.val_fraction * len(per_field)) >= 1:
        train_fields, val_fields = pairs.split_validation(
            per_field, val_fraction=req.val_fraction, seed=req.seed)
        held = sorted({p.group.split(":")[0] for ps in val_fields for p in ps})
        return ([p for ps in train_fields for p in ps], [p for ps in val_fields for p in ps],
                f"whole field(s) {', '.join(held)}")
    train, val = pairs.split_band([p for ps in per_field for p in ps],
                                  val_fraction=req.val_fraction, min_train=req.patch,
                                  min_band=max(8, divisor))
    # in the images' coordinates, as val_region and the dock's band layers say (the pair's
    # own, cropped by alignment, read one pixel off them)
    axis, lo, hi = band_region(val)
    return train, val, (f"a band of every plane ({axis} {lo}-{hi}, the last "
                        f"{req.val_fraction:.0%} along {axis}; {pairs.BAND_GAP} px gap)")


def band_region(val) -> tuple[str, int, int] | None:
    """The held-out band in the coordinates of the images as given (before alignment cropped
    the pairs): (axis 'Y' or 'X', start, stop); None when whole fields or planes (or nothing)
    are held out. The Fine-tune dock shows the models' results on it."""
    if not val or "band" not in val[0].info:
        return None
    axis, lo, hi = val[0].info["band"]
    border = int(val[0].info.get("border", 0))
    return axis, lo + border, hi + border
