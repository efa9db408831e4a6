"""What a layer's napari units, labels and steps tell the writer (``_writer``): the first
axis of a (2-4, Y, X) layer whose shape leaves Z planes or channels open, Y and X sizes that
hold whatever that axis is, and seconds per time unit in any spelling napari holds."""

from __future__ import annotations

import math


def settled_axes(shape: tuple, axes: str, meta: dict) -> tuple[str, str]:
    """(axes, note): the reading of a guess in doubt (Z planes or channels?) that the first
    dim's napari label ('z', 't', 'c') or unit settles (a time: T; a length with a step other
    than 1: Z), and one line saying so; ('', '') where none does."""
    from ._widgets._layers import LABEL_LETTERS
    from .core.axes import other_readings
    from .core.pixel_units import um_per_unit

    label, unit = (meta.get("axis_labels") or ("",))[0], (meta.get("units") or (None,))[0]
    # a length with a step of 1 settles nothing: units='um' puts one on a channel axis too
    step = float((list(meta.get("scale") or ()) or [1.0])[0])
    letter = LABEL_LETTERS.get(str(label).strip().lower()) or (
        "T" if seconds_per(unit) else "Z" if step != 1 and um_per_unit(unit_name(unit)) else "")
    if meta.get("rgb") or not other_readings(shape, axes) or letter not in ("Z", "T", "C") \
            or letter in axes[1:]:
        return "", ""
    settled = letter + axes[1:]
    return settled, (f"layer {meta.get('name')!r}: shape {tuple(shape)} saved as {settled}, "
                     f"as its first axis's napari label or unit says")


def certain_yx(meta: dict) -> dict[str, float]:
    """{'Y': um, 'X': um} where napari's last two dims (Y, X) have a length unit; else {}."""
    from .core.pixel_units import um_per_unit

    scale, units = list(meta.get("scale") or ())[-2:], list(meta.get("units") or ())[-2:]
    sizes = [float(step) * (um_per_unit(unit_name(u)) or math.nan)
             for step, u in zip(scale, units)]
    ok = len(sizes) == 2 and all(0 < s < math.inf for s in sizes)  # NaN: no length unit
    return dict(zip("YX", sizes)) if ok else {}


def unit_name(unit) -> str:
    """A napari unit (a pint Unit, a string or None) as lower-case text."""
    return "" if unit is None else str(unit).strip().lower()


def seconds_per(unit) -> float | None:
    """Seconds per ``unit``: any time unit napari holds (pint's: 'millisecond'), or a file's
    spelling ('ms', ``tiff_metadata.S_PER_UNIT``); None for no time unit."""
    from .core.tiff_metadata import S_PER_UNIT

    if getattr(unit, "dimensionality", None) == {"[time]": 1}:  # a pint Unit
        return float((1 * unit).to("second").magnitude)
    name = unit_name(unit)
    return S_PER_UNIT.get(name) or {"millisecond": 1e-3, "microsecond": 1e-6}.get(name)
