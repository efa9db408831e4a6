"""What a TIFF output says about its image besides the pixels, and what an input's metadata
carries over to it (channel names, time interval, ImageJ channel colours).

A plain .tif output is an ImageJ hyperstack where ImageJ can hold it (axes in TZCYXS order,
uint8 / uint16 / float32, RGB as uint8, no alpha, no axis of 1 but Y and X, under 2 GB), so
Fiji opens it with its axes, Z spacing and unit; a JSON-described ("shaped") TIFF, which
Fiji reads as one flat stack in cm, otherwise. An .ome.tif output is OME-TIFF.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np

from .provenance import RECORD_KEY, parse_record, with_record


@contextlib.contextmanager
def quiet_tifffile(level: int = logging.ERROR):
    """tifffile's log lines below ``level`` left out while the block runs: a broken file's
    details ('invalid offset to first page ...') repeat what an error line already says, and
    a file still being written gives them at every poll."""
    log = logging.getLogger("tifffile")
    before = log.level
    log.setLevel(level)
    try:
        yield
    finally:
        log.setLevel(before)

# seconds per unit, for OME's TimeIncrementUnit and ImageJ's tunit
S_PER_UNIT = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3, "µs": 1e-6,
              "us": 1e-6, "min": 60.0, "minute": 60.0, "minutes": 60.0, "h": 3600.0,
              "hour": 3600.0, "hours": 3600.0}
IMAGEJ_MAX_BYTES = 2**31  # larger outputs are BigTIFF, which ImageJ's format is not


def _seconds(value, unit) -> float | None:
    factor = S_PER_UNIT.get(str(unit or "s").strip().lower())
    try:
        seconds = float(value) * factor if factor is not None else None
    except (TypeError, ValueError):
        return None
    return seconds if seconds and np.isfinite(seconds) and seconds > 0 else None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]  # 'Pixels' of '{http://www.openmicroscopy.org/...}Pixels'


def _first_image(ome_xml: str, chunk: int = 1 << 20):
    """(the first Image's Description text, its Pixels element with its Channel children)
    of OME-XML, parsed up to the end of that Image only: a time-lapse's thousands of Planes
    and the StructuredAnnotations after it (tens of MB) took seconds as a whole dict. Elements
    read are cleared as they end but Description and Channel. Raises ParseError, ValueError."""
    from xml.etree.ElementTree import XMLPullParser

    parser = XMLPullParser(events=("start", "end"))
    depth, image, description, pixels = 0, False, None, None
    for start in range(0, len(ome_xml), chunk):
        parser.feed(ome_xml[start:start + chunk])
        for event, elem in parser.read_events():
            name = _local(elem.tag)
            if event == "start":
                depth += 1
                if depth == 1 and name != "OME":
                    raise ValueError("not OME-XML")
                image = image or (depth == 2 and name == "Image")
                continue
            depth -= 1
            if image and depth == 1:  # the first Image ended: nothing after it is needed
                return description, pixels
            if image and depth == 2 and name == "Description" and description is None:
                description = elem.text
            elif image and depth == 2 and name == "Pixels" and pixels is None:
                pixels = elem
            elif not (image and depth == 3 and name == "Channel"):
                elem.clear()
    parser.close()
    return description, pixels


def _ome_extras(ome_xml: str) -> dict:
    try:
        description, pixels = _first_image(ome_xml)
    except Exception:  # noqa: BLE001 - malformed OME-XML (ParseError): the pixels still read
        return {}
    if pixels is None:  # no Image, or an Image without Pixels
        return {}
    extras: dict = {}
    record = parse_record(description)
    if record:  # how the file was made (``provenance``)
        extras[RECORD_KEY] = record
    names = [c.get("Name") or "" for c in pixels if _local(c.tag) == "Channel"]
    if any(names):
        extras["channel_names"] = names
    interval = _seconds(pixels.get("TimeIncrement"), pixels.get("TimeIncrementUnit"))
    if interval:
        extras["time_interval"] = interval
    return extras


def _imagej_extras(ij: dict, dtype=None) -> dict:
    extras: dict = {}
    record = parse_record(ij.get("Info"))
    if record:  # how the file was made (``provenance``)
        extras[RECORD_KEY] = record
    interval = _seconds(ij.get("finterval"), ij.get("tunit"))
    if interval:
        extras["time_interval"] = interval
    luts = ij.get("LUTs")
    if luts is not None and np.shape(luts) == (3, 256):  # tifffile gives one LUT unlisted
        luts = [luts]
    if luts is not None and all(np.shape(lut) == (3, 256) for lut in luts):
        extras["luts"] = [np.asarray(lut, dtype=np.uint8) for lut in luts]
    if ij.get("mode") in ("composite", "color", "grayscale"):
        extras["imagej_mode"] = ij["mode"]  # how Fiji shows the channels, LUTs or none
    shown = _display_ranges(ij, dtype)
    if shown:
        extras["imagej_ranges"] = shown
    return extras


def _display_ranges(ij: dict, dtype) -> dict | None:
    """ImageJ's display range ('min'/'max', a composite's 'Ranges': low, high per channel),
    with the dtype of the pixels it was set for: an output keeps it only in that dtype (a
    uint16 range on a float32 output shows it black or white)."""
    found: dict = {}
    ranges = ij.get("Ranges")
    if isinstance(ranges, (list, tuple)) and ranges and len(ranges) % 2 == 0:
        found["Ranges"] = [float(v) for v in ranges]
    for key in ("min", "max"):
        if isinstance(ij.get(key), (int, float)):
            found[key] = float(ij[key])
    if not found or dtype is None or not all(np.isfinite(v) for v in [
            *found.get("Ranges", ()), found.get("min", 0.0), found.get("max", 0.0)]):
        return None
    return {**found, "dtype": np.dtype(dtype).name}


def tiff_extras(tif) -> dict:
    """Channel names (OME), time interval in seconds (OME, ImageJ), channel colours (ImageJ
    LUTs) and the deblur record (``provenance``, under 'microdeblur') of an open
    ``tifffile.TiffFile``; what is absent or malformed is left out."""
    if tif.is_ome and tif.ome_metadata:
        return _ome_extras(tif.ome_metadata)
    if tif.is_imagej and tif.imagej_metadata:
        return _imagej_extras(tif.imagej_metadata, _first_dtype(tif))
    try:
        shaped = tif.shaped_metadata or ()
    except Exception:  # noqa: BLE001 - a malformed JSON description: the pixels still read
        shaped = ()
    record = parse_record(shaped[0].get(RECORD_KEY)) if shaped and isinstance(
        shaped[0], dict) else None
    return {RECORD_KEY: record} if record else {}


def _first_dtype(tif):
    """The dtype of the file's first page, what ImageJ's display range was set for."""
    try:
        return tif.pages.first.dtype
    except Exception:  # noqa: BLE001 - an odd page: no display range kept
        return None


def imagej_fits(shape, dtype, axes: str) -> bool:
    """Whether ImageJ's hyperstack format holds this image as it is (see the module note)."""
    dtype = np.dtype(dtype)
    order = ["TZCYXS".find(a) for a in axes]
    samples = int(shape[-1]) if axes.endswith("S") else 0
    return (
        bool(axes) and -1 not in order and order == sorted(order)
        and dtype.char in ("BHf" if not samples else "B") and samples in (0, 3)
        and all(int(n) > 1 for a, n in zip(axes, shape) if a not in "YX")
        and int(np.prod(shape)) * dtype.itemsize <= IMAGEJ_MAX_BYTES
    )


def imagej_axes(shape, dtype, axes: str) -> str:
    """The axes a plain .tif output stores: ``axes`` where ImageJ holds them as they are, or
    the same axes in ImageJ's TZCYXS order where only that order keeps it from being a
    hyperstack (a CZYX stack read through bioio or from OME-Zarr: Fiji opened it flat). Only
    the axes before Y and X move: an image's planes keep their layout (a (Y, X, 2) array stays
    YXC, as scripts reading the output expect)."""
    if imagej_fits(shape, dtype, axes) or any(a not in "TZCYXS" for a in axes) \
            or not axes.replace("S", "").endswith("YX"):
        return axes
    ordered = "".join(sorted(axes, key="TZCYXS".index))
    shape = tuple(shape[axes.index(a)] for a in ordered)
    return ordered if imagej_fits(shape, dtype, ordered) else axes


def _channel_count(shape, axes: str) -> int:
    return int(shape[axes.index("C")]) if "C" in axes else 1


def _imagej_metadata(shape, dtype, axes: str, pixel_size: dict, extras: dict) -> dict:
    metadata: dict = {"axes": axes}
    if pixel_size.get("X") and pixel_size.get("Y"):
        metadata["unit"] = "um"
    if pixel_size.get("Z") and "Z" in axes:
        metadata["spacing"] = float(pixel_size["Z"])
    if extras.get("time_interval") and "T" in axes:
        metadata["finterval"] = float(extras["time_interval"])
    luts = extras.get("luts")
    channels = _channel_count(shape, axes)
    if luts is not None and len(luts) == channels and "S" not in axes:
        metadata["LUTs"] = list(luts)
    if channels > 1 and "S" not in axes and (extras.get("imagej_mode") or luts is not None):
        # a composite without LUTs stays one (ImageJ's default colours), as it was
        metadata["mode"] = extras.get("imagej_mode", "composite")
    metadata.update(_kept_ranges(extras.get("imagej_ranges"), dtype, channels, axes))
    return metadata


def _kept_ranges(shown, dtype, channels: int, axes: str) -> dict:
    """The input's ImageJ display range where the output has the dtype it was set for
    (``--output-dtype input``) and the same number of channels; {} otherwise."""
    if not isinstance(shown, dict) or shown.get("dtype") != np.dtype(dtype).name or "S" in axes:
        return {}
    kept = {k: shown[k] for k in ("min", "max") if k in shown}
    ranges = shown.get("Ranges")
    if isinstance(ranges, list) and len(ranges) == 2 * channels:
        kept["Ranges"] = tuple(ranges)
    return kept


def _ome_metadata(shape, axes: str, pixel_size: dict, extras: dict) -> dict:
    metadata: dict = {"axes": axes}
    sized = "XYZ" if pixel_size.get("X") and pixel_size.get("Y") else "Z"
    for axis in sized:
        if pixel_size.get(axis):
            metadata[f"PhysicalSize{axis}"] = float(pixel_size[axis])
            metadata[f"PhysicalSize{axis}Unit"] = "µm"
    names = extras.get("channel_names")
    if names and len(names) == _channel_count(shape, axes) and "C" in axes:
        metadata["Channel"] = {"Name": [str(n) for n in names]}
    if extras.get("time_interval") and "T" in axes:
        metadata.update(TimeIncrement=float(extras["time_interval"]), TimeIncrementUnit="s")
    return metadata


def tiff_write_kwargs(shape, dtype, axes: str, pixel_size: dict[str, float], ome: bool,
                      extras: dict | None = None, record: dict | None = None) -> dict:
    """tifffile.imwrite keywords for an output of this shape, dtype and axes: pixel sizes in
    um, the input's ``extras`` (``tiff_extras``) that the format can hold, and this output's
    deblur ``record`` (``provenance``; an input's own record in ``extras`` is not written)."""
    extras = extras or {}
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    kwargs: dict = {"bigtiff": size > IMAGEJ_MAX_BYTES}
    samples = int(shape[-1]) if axes.endswith("S") else 0
    # planar samples (a planar RGB TIFF reads SYX): OME's writer takes S before Y, X only
    # as planar colour, a gray-tagged SYX it refused ('shape does not match stored shape')
    planar = ome and axes.endswith("SYX")
    if planar:
        samples = int(shape[-3])
    kwargs["photometric"] = "rgb" if samples in (3, 4) else "minisblack"
    if samples in (2, 4):  # the core's alpha (axes.has_alpha), marked so it reads back so
        kwargs.update(planarconfig="contig", extrasamples=("unassalpha",))
    if planar and samples > 1:
        kwargs["planarconfig"] = "separate"
    imagej = not ome and imagej_fits(shape, dtype, axes)
    has_xy = bool(pixel_size.get("X") and pixel_size.get("Y"))
    if imagej:
        kwargs["imagej"] = True
        metadata = _imagej_metadata(shape, dtype, axes, pixel_size, extras)
        if has_xy:  # in the metadata's unit (um), as ImageJ reads it
            kwargs["resolution"] = (1 / pixel_size["X"], 1 / pixel_size["Y"])
    else:
        if has_xy:
            kwargs["resolution"] = (1e4 / pixel_size["X"], 1e4 / pixel_size["Y"])
            kwargs["resolutionunit"] = "CENTIMETER"
        if ome:
            metadata = _ome_metadata(shape, axes, pixel_size, extras)
        else:
            metadata = {"axes": axes}
            if pixel_size.get("Z") and "Z" in axes:  # a plain .tif lost the Z spacing
                metadata["spacing"] = float(pixel_size["Z"])
    kwargs["metadata"] = metadata
    kwargs["ome"] = ome
    return with_record(kwargs, record, ome)
