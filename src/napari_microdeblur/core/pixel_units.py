"""Physical pixel sizes from file metadata, always in micrometres (um per pixel).

OME-TIFF, ImageJ and OME-Zarr files state a length unit next to their pixel sizes; EM files
often use nanometres. Every size is converted to um here (what the outputs write), and a size
in a unit we do not know (OME's "pixel", say) is left out rather than read as um.
"""

from __future__ import annotations

import contextlib
import math
import re

from .notes import DeblurNote, DeblurWarning

# the spellings OME (its UnitsLength), ImageJ and OME-Zarr (UDUNITS-2 names) use
UM_PER_UNIT = {
    "pm": 1e-6, "picometer": 1e-6,
    "å": 1e-4, "angstrom": 1e-4,
    "nm": 1e-3, "nanometer": 1e-3, "nanometre": 1e-3,
    "µm": 1.0, "μm": 1.0, "um": 1.0, "\\u00b5m": 1.0, "micron": 1.0, "microns": 1.0,
    "micrometer": 1.0, "micrometre": 1.0,
    "mm": 1e3, "millimeter": 1e3, "millimetre": 1e3,
    "cm": 1e4, "centimeter": 1e4, "centimetre": 1e4,
    "m": 1e6, "meter": 1e6, "metre": 1e6,
    "inch": 25400.0, "in": 25400.0,
}
# the plurals people type into ImageJ's Properties ('nanometers'; ImageJ's Calibration keeps
# any text, and itself says 'microns', 'inches'), and ImageJ's 'A' for angstrom ('a' here)
_PLURALS = ("picometer", "angstrom", "nanometer", "nanometre", "micrometer", "micrometre",
            "millimeter", "millimetre", "centimeter", "centimetre", "meter", "metre")
UM_PER_UNIT.update({name + "s": UM_PER_UNIT[name] for name in _PLURALS})
UM_PER_UNIT.update({"inches": 25400.0, "a": 1e-4, "µ": 1.0, "micra": 1.0})
#: units that say a file is not calibrated (ImageJ's default 'pixel'), said nothing of
NO_UNITS = ("", "pixel", "pixels", "px", "reference frame")

#: pixel sizes a light microscope has, in um: a unit-less scale outside is no such size (a
#: scale of 65 is nm), and the docks and the writer leave it alone
PLAUSIBLE_UM = (0.001, 10.0)


#: the units of a print or screen resolution (72 dpi, 300 dpi, 150 pixels per cm)
PRINT_UNITS_UM = {25400.0: "inch", 10000.0: "cm"}


def is_print_resolution(sizes: dict[str, float], unit_um) -> bool:
    """Whether resolution tags in inches or cm give pixels larger than a light microscope's
    (``PLAUSIBLE_UM``: over 10 um, what 2400 dpi and any coarser print or screen resolution
    give): a print resolution an image editor wrote (72 dpi: 352.8 um), no calibration."""
    return unit_um in PRINT_UNITS_UM and any(v > PLAUSIBLE_UM[1] for v in sizes.values())


#: (file, line) already said: a file's header is read more than once (``info`` reads it twice)
_SAID: set[tuple[str, str]] = set()


@contextlib.contextmanager
def said_later():
    """Lines met in the block are not marked said: a header read that silences its warnings
    (the free-space check sizing outputs) leaves them to the read that follows, whose batch
    says a folder's repeated print resolution once."""
    before = set(_SAID)
    try:
        yield
    finally:
        _SAID.intersection_update(before)


def _say_ignored(tif, sizes: dict[str, float], unit_um: float) -> None:
    """One warning line, once per file and process, naming what was ignored and why."""
    import warnings

    per_unit = unit_um / max(sizes.values())
    name = getattr(tif, "filename", "") or "the file"
    line = (f"{name}: resolution {per_unit:.4g} pixels per {PRINT_UNITS_UM[unit_um]} ignored: a "
            f"print resolution (a pixel of {max(sizes.values()):.4g} um), not a microscope's "
            "pixel size")
    key = (str(getattr(getattr(tif, "filehandle", None), "path", name)), line)
    if key not in _SAID:
        _SAID.add(key)
        warnings.warn(line, DeblurNote, stacklevel=4)


def um_per_unit(unit) -> float | None:
    """Micrometres per ``unit``; None for a unit that is not a length we know."""
    return UM_PER_UNIT.get(str(unit).strip().lower())


def _ome_sizes(ome_metadata: str) -> dict[str, float]:
    sizes: dict[str, float] = {}
    for axis in "XYZ":
        m = re.search(rf'PhysicalSize{axis}="([0-9.eE+-]+)"', ome_metadata)
        if not m:
            continue
        # OME's default unit is um; the XML may spell the micro sign as an entity
        unit = re.search(rf'PhysicalSize{axis}Unit="([^"]*)"', ome_metadata)
        factor = um_per_unit(unit.group(1).replace("&#181;", "µ")) if unit else 1.0
        if factor is not None:
            sizes[axis] = float(m.group(1)) * factor
    return sizes


def _say_unknown_unit(tif, unit) -> None:
    """One line, once per file and process, for a length unit we do not know: its sizes are
    left out rather than read as um."""
    import warnings

    name = getattr(tif, "filename", "") or "the file"
    line = f"{name}: unit {str(unit).strip()!r} not understood: pixel size not read"
    key = (str(getattr(getattr(tif, "filehandle", None), "path", name)), line)
    if key not in _SAID:
        _SAID.add(key)
        warnings.warn(line, DeblurWarning, stacklevel=4)


def _imagej_units(tif, ij: dict) -> dict[str, float | None]:
    """um per unit of ImageJ's X, Y and Z calibration: 'unit' (X, and Y and Z unless
    'yunit' / 'zunit' name their own, as ImageJ's Calibration and tifffile write them: a
    stack in um with a Z step in nm), 'xunit' where a writer gave one. None: a unit not
    known (said once) or none stated."""
    base = ij.get("xunit", ij.get("unit"))
    names = {"X": base, "Y": ij.get("yunit", base), "Z": ij.get("zunit", base)}
    units = {}
    for axis, unit in names.items():
        units[axis] = None if unit is None else um_per_unit(unit)
        if unit is not None and units[axis] is None and \
                str(unit).strip().lower() not in NO_UNITS:
            _say_unknown_unit(tif, unit)
    return units


def pixel_size_from_tiff(tif, page, axes: str) -> dict[str, float]:
    """Physical pixel size in micrometres, from OME, ImageJ or resolution tags."""
    if tif.is_ome and tif.ome_metadata:
        sizes = _ome_sizes(tif.ome_metadata)
        if sizes:
            return sizes
    sizes = {}
    tags = page.tags
    unit = tags.get("ResolutionUnit")
    tag_um = {2: 25400.0, 3: 10000.0}.get(int(unit.value) if unit else 0)
    ij = tif.imagej_metadata or {}
    # ImageJ's calibration units set the resolution's and the Z spacing's unit (a stack in
    # nm lost X and Y and had its nm spacing read as um); an unknown one ("pixel"): none
    stated = any(k in ij for k in ("unit", "xunit", "yunit", "zunit"))
    units = _imagej_units(tif, ij) if stated else {"X": tag_um, "Y": tag_um, "Z": 1.0}
    for axis, tag in (("X", "XResolution"), ("Y", "YResolution")):
        t = tags.get(tag)
        if t and units[axis]:
            num, den = t.value
            if num:
                sizes[axis] = units[axis] * den / num
    if is_print_resolution(sizes, units["X"]):
        _say_ignored(tif, sizes, units["X"])
        sizes, units["Z"] = {}, None  # an ImageJ Z spacing in inches is as little a calibration
    # ImageJ's spacing, or the one our plain-TIFF outputs keep (in um) in their description
    shaped = (tif.shaped_metadata or ({},))[0] if tif.is_shaped else {}
    spacing = ij.get("spacing", shaped.get("spacing"))
    if spacing and "Z" in axes and units["Z"]:
        sizes["Z"] = float(spacing) * (units["Z"] if "spacing" in ij else 1.0)
    return sizes


def pixel_size_from_ome_zarr(multiscales: dict, axes: str, scale) -> dict[str, float]:
    """The Z, Y, X sizes of an OME-Zarr level's ``scale``, in um by each axis's ``unit``. A
    scale without a unit is taken as um, what our outputs wrote before they named it, except 1
    where it says nothing: where every unit-less size is 1 (writers, ours too, give 1 to an
    axis whose size they do not know), or where other axes name their unit (ours name it for
    each size they know); a legacy Z step of 1 next to Y and X of 0.1 stays 1 um."""
    units = [a.get("unit") if isinstance(a, dict) else None
             for a in multiscales.get("axes", [])]
    units += [None] * (len(axes) - len(units))
    spatial = [(v, u) for a, v, u in zip(axes, scale, units) if a in "ZYX"]
    unknown_ones = any(u is not None for _, u in spatial) or all(
        float(v) == 1.0 for v, u in spatial if u is None)
    sizes = {}
    for axis, value, unit in zip(axes, scale, units):
        factor = 1.0 if unit is None else um_per_unit(unit)
        if unit is None and float(value) == 1.0 and unknown_ones:
            continue
        if axis in "ZYX" and factor is not None:
            sizes[axis] = float(value) * factor
    return sizes


def stated_pixel_size(sizes) -> float | None:
    """The Y/X pixel size (um) that every image of ``sizes`` states (each a dict of um per
    axis, as ``io.ImageData.pixel_size`` or a calibrated layer's scale), for
    ``FinetuneRequest.pixel_size_um``: the geometric mean of Y and X; None where one states
    none, states a size no microscope has (``pixel_units.PLAUSIBLE_UM``: a print resolution)
    or the images differ by more than 5 %."""
    found = []
    for size in sizes:
        y, x = (size or {}).get("Y"), (size or {}).get("X")
        if not all(isinstance(v, (int, float)) and PLAUSIBLE_UM[0] < v < PLAUSIBLE_UM[1]
                   for v in (y, x)):
            return None
        found.append(math.sqrt(y * x))
    if not found or max(found) > 1.05 * min(found):
        return None
    return sum(found) / len(found)
