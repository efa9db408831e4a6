"""ImageJ channel colours (LUTs: 3 x 256 uint8, red, green and blue rows) to and from napari
colormaps, without napari: a colormap is napari's name of a standard one ('red') or the dict
napari's ``Colormap`` takes and ``layer.as_layer_data_tuple()`` gives ({'colors', 'controls',
'interpolation', 'name'}).

The reader shows a channel in its file's LUT; the writer saves a layer's colormap as its LUT,
so Fiji opens a file saved from napari in the colours napari showed.
"""

from __future__ import annotations

import hashlib

import numpy as np

#: napari's colormaps that are ImageJ's standard LUTs: black to this colour, linearly
STANDARD = {"gray": (1, 1, 1), "red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1),
            "magenta": (1, 0, 1), "cyan": (0, 1, 1), "yellow": (1, 1, 0)}
_RAMP = np.arange(256, dtype=np.float64)


def ramp_lut(end) -> np.ndarray:
    """ImageJ's LUT from black to ``end`` (r, g, b in 0-1), as its 'Red', 'Green'... LUTs."""
    return np.rint(np.outer(np.asarray(end, dtype=np.float64), _RAMP)).astype(np.uint8)


def _hex(rgb) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


def colormap_from_lut(lut) -> str | dict:
    """The napari colormap of an ImageJ ``lut``: a standard one by its napari name ('red';
    'gray_r' for ImageJ's inverted grays), a ramp from black to another colour as a two-colour
    colormap named 'ImageJ #rrggbb', any other LUT (Fire, say) as its 256 colours, named
    'ImageJ LUT #first-#last #hash'. napari gives a name taken by other colours a number."""
    lut = np.asarray(lut, dtype=np.uint8)
    end = lut[:, 255].astype(np.float64) / 255
    # within 1: ImageJ rounds some ramps down (i * 128 / 255), tifffile's users round them
    if np.abs(lut.astype(np.int16) - ramp_lut(end)).max() <= 1:
        for name, colour in STANDARD.items():
            if np.array_equal(end, colour):
                return name
        return {"colors": [[0, 0, 0, 1], [*end, 1]], "name": f"ImageJ {_hex(lut[:, 255])}",
                "interpolation": "linear"}
    if np.array_equal(lut, 255 - ramp_lut((1, 1, 1))):
        return "gray_r"
    colours = np.concatenate([lut.T / 255.0, np.ones((256, 1))], axis=1)
    digest = hashlib.sha1(lut.tobytes()).hexdigest()[:6]  # two LUTs of the same ends differ
    return {"colors": colours.tolist(), "controls": np.linspace(0, 1, 256).tolist(),
            "name": f"ImageJ LUT {_hex(lut[:, 0])}-{_hex(lut[:, 255])} {digest}",
            "interpolation": "linear"}


def lut_name(lut) -> str:
    """A LUT in words, as ``colormap_from_lut`` names it ('red', 'ImageJ #ff8000', 'ImageJ LUT
    #000000-#ffffff 1a2b3c'), for ``microdeblur info``."""
    colormap = colormap_from_lut(lut)
    return colormap if isinstance(colormap, str) else colormap["name"]


def lut_from_colormap(colormap) -> np.ndarray | None:
    """The 256-entry ImageJ LUT of a napari ``colormap``: a name of ``STANDARD`` (or
    'gray_r'), napari's dict of it or a ``Colormap`` (anything with ``colors``, ``controls``
    and ``interpolation``); None for a name alone that is not standard or a malformed one."""
    if isinstance(colormap, str):
        if colormap == "gray_r":
            return 255 - ramp_lut((1, 1, 1))
        return ramp_lut(STANDARD[colormap]) if colormap in STANDARD else None
    get = colormap.get if isinstance(colormap, dict) else (
        lambda key, default=None: getattr(colormap, key, default))
    try:
        colours = np.asarray(get("colors"), dtype=np.float64)[:, :3]
        controls = get("controls")
        controls = (np.linspace(0, 1, len(colours)) if controls is None
                    else np.asarray(controls, dtype=np.float64))
    except (TypeError, ValueError, IndexError):
        return None
    values = _RAMP / 255
    if str(getattr(get("interpolation"), "value", get("interpolation"))) == "zero":
        # napari's 'zero': colour i from control i to i + 1 (one control more than colours)
        index = np.clip(np.searchsorted(controls, values, side="right") - 1, 0, len(colours) - 1)
        mapped = colours[index].T
    elif len(controls) == len(colours) and len(colours) >= 2:
        mapped = np.stack([np.interp(values, controls, colours[:, i]) for i in range(3)])
    else:
        return None
    return np.rint(np.clip(mapped, 0, 1) * 255).astype(np.uint8)


def is_gray(lut) -> bool:
    """Whether ``lut`` is ImageJ's default grays (a file without LUTs shows as much)."""
    return lut is not None and np.array_equal(lut, ramp_lut((1, 1, 1)))


def layer_colours(colormap, channels: int, file_extras: dict | None = None) -> dict:
    """The ImageJ extras (``tiff_metadata``: 'luts', 'imagej_mode') a layer shown in
    ``colormap`` is saved with, its data holding ``channels`` channels. One channel: its
    colormap as its LUT (none for grays, ImageJ's default). Several (a layer with a C axis,
    shown one channel at a time in one colormap): the LUTs and mode of the file it was opened
    from (``file_extras``, its ``tiff_extras``) where it has that many channels and the layer
    is gray (napari's default: the file's colours were never shown), else the colormap on
    each channel, in ImageJ's 'color' mode (one channel at a time, as napari shows it)."""
    lut = lut_from_colormap(colormap) if colormap is not None else None
    file_extras = file_extras or {}
    if channels <= 1:
        return {"luts": [lut]} if lut is not None and not is_gray(lut) else {}
    luts = file_extras.get("luts")
    if lut is None or is_gray(lut):
        found = {"luts": list(luts)} if luts is not None and len(luts) == channels else {}
        if file_extras.get("imagej_mode") and (found or luts is None):
            found["imagej_mode"] = file_extras["imagej_mode"]
        return found
    return {"luts": [lut] * channels, "imagej_mode": "color"}


def file_colours(path, channels: int) -> dict:
    """The ImageJ LUTs and mode (``tiff_metadata.tiff_extras``) of the TIFF ``path`` where its
    image has ``channels`` channels; {} otherwise or where it cannot be read (headers only)."""
    import tifffile

    from .thread_warnings import caught
    from .tiff_header import read_tiff_header
    from .tiff_metadata import tiff_extras

    try:
        with caught():  # its notes were said when it was opened
            header = read_tiff_header(str(path))
            with tifffile.TiffFile(str(path)) as tif:
                extras = tiff_extras(tif)
    except Exception:  # noqa: BLE001 - moved, changed or no TIFF: the layer's colormap only
        return {}
    count = int(header.shape[header.axes.index("C")]) if "C" in header.axes else 1
    if count != channels:
        return {}
    return {k: extras[k] for k in ("luts", "imagej_mode") if k in extras}


def saved_colours(axes: str, shape, meta: dict, source=None) -> dict:
    """The ImageJ LUTs and mode a layer of ``axes`` and ``shape`` (``meta``: its
    ``as_layer_data_tuple`` state) is saved with (``layer_colours``); ``source``: a function
    giving the TIFF it was opened from (or None), asked for a layer of several channels only."""
    if "S" in axes or meta.get("rgb"):
        return {}
    channels = int(shape[axes.index("C")]) if "C" in axes else 1
    path = source() if source is not None and channels > 1 else None
    return layer_colours(meta.get("colormap"), channels,
                         file_colours(path, channels) if path else None)
