"""What an OME-Zarr (NGFF 0.4, or 0.5 with its attributes under "ome") says besides the pixels,
read for ``io.read_zarr`` and written by ``io_write.open_zarr_output``.

Read: the image group (a bioformats2raw layout's first series; an HCS plate or well is refused
naming a field to give instead), channel names (``omero.channels[].label``), channel colours
and the time interval (the ``t`` axis's scale in a time unit, in seconds), under the keys
``tiff_metadata.tiff_extras`` uses, so a TIFF output keeps them as it does a TIFF input's.
Its position: the level-0 translation (``POSITION_KEY``), as napari-ome-zarr places the image.
Written: NGFF 0.4 multiscales with each axis's unit and scale (t in seconds), the input's or
layer's position as a translation after the scale (none where it is 0) and, where the
input named its channels, an ``omero`` block, so napari-ome-zarr shows the input's names; the
axes given in NGFF order (``io_write.open_zarr_output`` stores them so: ``zarr_order``).
"""

from __future__ import annotations

import math
import re
import warnings

from .notes import DeblurNote, DeblurWarning
from .pixel_units import pixel_size_from_ome_zarr
from .provenance import RECORD_KEY, parse_record
from .shown import shown_path

# seconds per time unit: UDUNITS-2 names (what NGFF asks for) and common abbreviations
S_PER_UNIT = {
    "nanosecond": 1e-9, "ns": 1e-9, "microsecond": 1e-6, "us": 1e-6, "µs": 1e-6,
    "millisecond": 1e-3, "ms": 1e-3, "second": 1.0, "s": 1.0, "sec": 1.0,
    "minute": 60.0, "min": 60.0, "hour": 3600.0, "h": 3600.0, "day": 86400.0,
}
# RGB samples (S, after X) have no type: NGFF 0.4 allows one channel axis, before the space
# axes, and ome-zarr-py (napari-ome-zarr) refuses the image otherwise; one untyped axis it takes
KINDS = {"T": "time", "C": "channel", "Z": "space", "Y": "space", "X": "space"}
# colours for channels the input gave none for (napari-ome-zarr builds a colormap per colour)
DEFAULT_COLORS = ("FF00FF", "00FF00", "00FFFF", "FF0000", "0000FF", "FFFF00")
HEX_COLOR = re.compile(r"^[0-9A-Fa-f]{6}$")
#: ``ImageData.metadata`` key of where the image sits (an OME-Zarr's level-0 translation, a
#: napari layer's translate): {axis: offset of its first pixel} on the axes of ``POSITIONED``
#: where it is not 0, in the image's units: um where it has a pixel size, s on T with an
#: interval, else pixels (the step an output's scale and the plugin's reader give each axis)
POSITION_KEY = "position"
POSITIONED = "TZYX"


def ome_attrs(attrs) -> dict:
    """The OME metadata of a group's attributes: NGFF 0.5 nests it under "ome"."""
    attrs = dict(attrs)
    ome = attrs.get("ome")
    return ome if isinstance(ome, dict) else attrs


def refuse_empty_chunks(array, path) -> None:
    """Refuse a Zarr array whose metadata declares chunks of 0 px on some axis: zarr divides
    by the chunk size (a ZeroDivisionError traceback from deblur, focus and the reader)."""
    chunks = tuple(getattr(array, "chunks", ()) or ())
    if any(int(n) <= 0 for n in chunks):
        raise ValueError(f"cannot read {shown_path(path)}: its Zarr metadata declares chunks of "
                         f"0 px ({list(chunks)}): the store is damaged; write it again")


def image_group(group, path):
    """The group holding the image: ``group``, or a bioformats2raw layout's first series (a
    warning when there are several). An HCS plate or well is refused with the path of its
    first field, which can be given instead (a whole plate is no one image)."""
    ome = ome_attrs(group.attrs)
    if "bioformats2raw.layout" in ome and not ome.get("multiscales"):
        series = sorted((k for k in group.group_keys() if k.isdigit()), key=int)
        if not series:
            raise ValueError(f"{shown_path(path)} is a bioformats2raw layout without images")
        if len(series) > 1:
            warnings.warn(f"{path}: the file holds {len(series)} images (series); only the "
                          f"first is read: give {path}/N to process series N", DeblurWarning,
                          stacklevel=4)
        return group[series[0]]
    if "plate" in ome or "well" in ome:
        kind, field = ("plate", _first_field(group, ome)) if "plate" in ome else \
            ("well", _well_field(ome))
        where = f"; give one field's image, e.g. {shown_path(f'{path}/{field}')}" if field else ""
        raise ValueError(f"{shown_path(path)} is an HCS {kind}, not one image{where}")
    return group


def _well_field(ome: dict) -> str | None:
    images = (ome.get("well") or {}).get("images") or []
    return str(images[0]["path"]) if images and isinstance(images[0], dict) else None


def _first_field(group, ome: dict) -> str | None:
    try:
        well = str(ome["plate"]["wells"][0]["path"])
        field = _well_field(ome_attrs(group[well].attrs))
    except Exception:  # noqa: BLE001 - a plate without wells: the error names none
        return None
    return f"{well}/{field}" if field else None


def multiscale_sizes(multiscale: dict, axes: str) -> tuple[dict, float | None]:
    """Pixel sizes in um (``pixel_units``) and the time interval in s of the full-resolution
    level: its scale, times the multiscale's own scale where NGFF 0.4 gives one."""
    level = multiscale["datasets"][0]
    scale = _level_transform(multiscale, axes)[0]
    found = any(t.get("type") == "scale" for t in level.get("coordinateTransformations") or [])
    pixel_size = pixel_size_from_ome_zarr(multiscale, axes, scale) if found else {}
    return pixel_size, _time_interval(multiscale, axes, scale)


def _level_transform(multiscale: dict, axes: str) -> tuple[list[float], list[float]]:
    """(scale, offset) of the full-resolution level's pixels: its transforms, then those of
    the multiscale (NGFF 0.4), applied in order (a scale after a translation scales it)."""
    scale, offset = [1.0] * len(axes), [0.0] * len(axes)
    for transforms in (multiscale["datasets"][0].get("coordinateTransformations") or [],
                       multiscale.get("coordinateTransformations") or []):
        for transform in transforms:
            if transform.get("type") == "scale" and len(transform["scale"]) == len(axes):
                scale = [a * float(b) for a, b in zip(scale, transform["scale"])]
                offset = [a * float(b) for a, b in zip(offset, transform["scale"])]
            elif transform.get("type") == "translation":
                moved = _numbers(transform.get("translation"), len(axes))
                offset = [a + b for a, b in zip(offset, moved)] if moved else offset
    return scale, offset


def _numbers(values, count: int) -> list[float] | None:
    """``values`` as ``count`` finite floats; None where they are not (a malformed transform
    is left out, not a refusal of the image)."""
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count and all(map(math.isfinite, numbers)) else None


def level_position(multiscale: dict, axes: str, pixel_size: dict,
                   interval: float | None) -> dict[str, float]:
    """``POSITION_KEY``'s value of an OME-Zarr: where its level 0's first pixel sits, on the
    axes that are not 0, in the units its pixel size and interval are read in (the NGFF
    translation in pixels, times them; pixels on an axis of unknown size)."""
    scale, offset = _level_transform(multiscale, axes)
    position = {}
    for axis, step, moved in zip(axes, scale, offset):
        if axis in POSITIONED and moved and step and math.isfinite(step):
            position[axis] = _rounded(moved / step * _unit_step(axis, pixel_size, interval))
    return {a: v for a, v in position.items() if v and math.isfinite(v)}


def _unit_step(axis: str, pixel_size: dict, interval: float | None) -> float:
    """The step of ``axis`` an image's calibration gives: what an output's scale holds and
    the plugin's reader gives napari (s on T with an interval, um where sized, else 1 px)."""
    return float(interval if axis == "T" and interval else pixel_size.get(axis, 1.0))


def _rounded(value: float) -> float:
    return float(f"{value:.12g}")  # 30.8 / 0.65 * 0.65 is 30.8, not 30.800000000000004


def translate_position(dims: str, translate, steps, pixel_size: dict,
                       interval: float | None) -> dict[str, float]:
    """``POSITION_KEY``'s value of a napari layer of ``dims`` (no S) at ``translate`` and
    ``steps`` (its scale), saved with ``pixel_size`` (um) and ``interval`` (s): its offset in
    pixels, times the saved step of each axis; {} where it sits at 0."""
    moved = _numbers(translate, len(dims)) if translate is not None else None
    steps = _numbers(steps, len(dims)) if steps is not None else [1.0] * len(dims)
    if not moved or not steps:
        return {}
    position = {a: _rounded(t / s * _unit_step(a, pixel_size, interval))
                for a, t, s in zip(dims, moved, steps) if a in POSITIONED and t and s > 0}
    return {a: v for a, v in position.items() if v and math.isfinite(v)}


def position_lines(info: dict) -> list[str]:
    """``microdeblur info``'s line of a file's ``POSITION_KEY`` (its ``--json`` dict holds it
    beside 'pixel_size_um' and 'time_interval'); none where the image sits at 0."""
    position = info.get(POSITION_KEY)
    if not isinstance(position, dict) or not position:
        return []
    words = position_words(position, info.get("pixel_size_um") or {}, info.get("time_interval"))
    return [f"  position: {words}"]


def position_words(position: dict, pixel_size: dict, interval: float | None) -> str:
    """``position`` in words, as `info` gives pixel sizes: 'Y 10, X 20 um'; each axis with its
    unit where they differ ('T 5 s, Y 10 um'; px: an axis of no known size)."""
    def unit(axis: str) -> str:
        return "s" if axis == "T" and interval else "um" if axis in pixel_size else "px"

    axes = [a for a in POSITIONED if a in position]
    units = {unit(a) for a in axes}
    words = [f"{a} {float(position[a]):g}" + ("" if len(units) == 1 else f" {unit(a)}")
             for a in axes]
    return ", ".join(words) + (f" {units.pop()}" if len(units) == 1 else "")


def _time_interval(multiscale: dict, axes: str, scale) -> float | None:
    named = multiscale.get("axes") or []
    if "T" not in axes or len(named) != len(axes):
        return None
    axis = named[axes.index("T")]
    # a time scale without a unit is no interval: ome-zarr-py writes 1 there by default
    unit = axis.get("unit") if isinstance(axis, dict) else None
    factor = S_PER_UNIT.get(str(unit).strip().lower()) if unit else None
    seconds = float(scale[axes.index("T")]) * factor if factor else None
    return seconds if seconds and math.isfinite(seconds) and seconds > 0 else None


def zarr_extras(ome: dict, axes: str, shape, interval: float | None,
                pixel_size: dict | None = None) -> dict:
    """Channel names and colours (``omero``) when they are as many as the C axis's channels,
    the time interval in seconds, the position (``level_position``; ``pixel_size``: the
    image's, um) and the deblur record (``provenance``: the group attribute 'microdeblur');
    what is absent or malformed is left out."""
    extras: dict = {}
    record = parse_record(ome.get(RECORD_KEY))
    if record:
        extras[RECORD_KEY] = record
    if interval:
        extras["time_interval"] = interval
    if pixel_size is not None and (position := level_position(
            ome["multiscales"][0], axes, pixel_size, interval)):
        extras[POSITION_KEY] = position
    omero = ome.get("omero")
    channels = omero.get("channels") if isinstance(omero, dict) else None
    if "C" not in axes or not isinstance(channels, list):
        return extras
    if len(channels) != int(shape[axes.index("C")]):
        return extras  # not this image's channels
    channels = [c if isinstance(c, dict) else {} for c in channels]
    names = [str(c.get("label") or "") for c in channels]
    if any(names):
        extras["channel_names"] = names
    colors = [str(c.get("color") or "") for c in channels]
    if all(HEX_COLOR.match(c) for c in colors):
        extras["channel_colors"] = [c.upper() for c in colors]
    return extras


def note_levels(path, multiscale: dict, shape, for_output: bool = False) -> None:
    """One line where a pyramid's full resolution (level 0) is read and the rest left out;
    ``for_output`` (a deblur's read): that its output holds this level only."""
    levels = len(multiscale.get("datasets") or [])
    if levels > 1:
        size = " x ".join(map(str, shape))
        # the output named only where one is written: `info`, `evaluate` and napari's File >
        # Open write none, and their users asked which output
        said = "; a deblurred output holds this level only" if for_output else ""
        warnings.warn(f"{path}: full resolution read (level 0 of {levels}, {size}){said}",
                      DeblurNote, stacklevel=4)


def output_attrs(axes: str, shape, pixel_size: dict, metadata: dict | None,
                 record: dict | None = None) -> dict:
    """NGFF 0.4 attributes of a one-level output: multiscales with the axes' units and scales
    (um, t in seconds where the input gave an interval) and the input's position (a
    translation), the input's channel names, and this output's deblur ``record``
    (``provenance``; never the input's own)."""
    metadata = metadata or {}
    interval = metadata.get("time_interval")
    scale, entries = [], []
    for a in axes:
        entry = {"name": a.lower(), **({"type": KINDS[a]} if a in KINDS else {})}
        # a known size's unit named, as readers otherwise cannot tell um from EM's nm (an
        # unknown size, written as 1, gets none: it is not 1 um)
        if a in pixel_size:
            entry["unit"] = "micrometer"
        if a == "T" and interval:
            entry["unit"] = "second"
        scale.append(float(interval if a == "T" and interval else pixel_size.get(a, 1.0)))
        entries.append(entry)
    transforms = [{"type": "scale", "scale": scale}]
    position = metadata.get(POSITION_KEY)
    moved = [float(position.get(a, 0.0)) if a in POSITIONED else 0.0 for a in axes] \
        if isinstance(position, dict) else []
    if any(moved):  # in the units of the scale (``POSITION_KEY``); none at 0: as before
        transforms.append({"type": "translation", "translation": moved})
    attrs: dict = {"multiscales": [{
        "version": "0.4", "axes": entries,
        "datasets": [{"path": "0", "coordinateTransformations": transforms}],
    }]}
    omero = _omero(axes, shape, metadata)
    if omero:
        attrs["omero"] = omero
    if record:  # where the napari writer puts it: one reader for both
        attrs[RECORD_KEY] = record
    return attrs


def _omero(axes: str, shape, metadata: dict) -> dict | None:
    names, colors = metadata.get("channel_names"), metadata.get("channel_colors")
    count = int(shape[axes.index("C")]) if "C" in axes else 0
    names = names if names and len(names) == count else None
    colors = colors if colors and len(colors) == count else None
    if not (names or colors):
        return None
    defaults = DEFAULT_COLORS if count > 1 else ("FFFFFF",)
    return {"channels": [
        {"label": str(names[i]) if names else f"channel {i}", "active": True,
         "color": colors[i] if colors else defaults[i % len(defaults)]}
        for i in range(count)]}
