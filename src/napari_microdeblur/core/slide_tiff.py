"""Whole-slide images that are TIFFs under their scanner's suffix (Aperio .svs, Hamamatsu
.ndpi), read through ``io.read_tiff`` as tifffile reads them: the slide's main image (its
full resolution), its pixel size from Aperio's description ('MPP = 0.4990', um per pixel;
NDPI's resolution tags are read as any TIFF's), and its thumbnail, label and macro images
left out in one note, not in the warning that asks to split a file of several images.
They are read only: an output is a .tif, .ome.tif or .zarr (``io_write.check_output_suffix``).
"""

from __future__ import annotations

import re
import warnings

from .notes import DeblurNote

#: slide scanners' TIFF suffixes that tifffile reads (``io.TIFF_SUFFIXES`` holds them)
SLIDE_SUFFIXES = (".svs", ".ndpi")
#: the names tifffile gives a slide's associated images, lowercased
ASSOCIATED = ("thumbnail", "label", "macro", "map", "overview")
#: tifffile's series kinds of slide formats whose associated images it names
SLIDE_KINDS = ("svs", "ndpi", "philips", "bif", "scn", "qpi", "avs")
_MPP = re.compile(r"\|\s*MPP\s*=\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?:\||$)")


def is_slide(path) -> bool:
    """Whether ``path`` is named as a slide scanner's TIFF (read only, never written)."""
    return str(path).lower().endswith(SLIDE_SUFFIXES)


def aperio_pixel_size(tif, series) -> dict[str, float]:
    """{'Y', 'X': um per pixel} from the Aperio description of ``series``'s first page
    ('... |MPP = 0.4990|...'); {} for another file, or a missing or implausible MPP. Aperio
    writes no resolution tags (or unit-less ones): without it a slide had no pixel size."""
    if not getattr(tif, "is_svs", False):
        return {}
    try:
        description = series.pages[0].description or ""
    except Exception:  # noqa: BLE001 - an odd first page: no size, the pixels still read
        return {}
    found = _MPP.search(description)
    mpp = float(found.group(1)) if found else 0.0
    return {"Y": mpp, "X": mpp} if 0.0 < mpp < 1000.0 else {}


def associated_names(tif) -> list[str] | None:
    """The names of a slide's associated images (thumbnail, label, macro ...), where every
    image of the file but its first is one, as tifffile names them; None otherwise."""
    series = tif.series
    if len(series) < 2 or getattr(series[0], "kind", "") not in SLIDE_KINDS:
        return None
    names = [str(getattr(s, "name", "") or "").lower() for s in series[1:]]
    return names if all(n in ASSOCIATED for n in names) else None


def note_slide_images(tif, path, stacklevel: int = 5) -> bool:
    """Say that a slide's main image was read and its associated images left out; False
    where the file's other images are not a slide's associated ones (nothing said)."""
    names = associated_names(tif)
    if names is None:
        return False
    shape = " x ".join(map(str, tif.series[0].shape))
    left = list(dict.fromkeys(names))  # each kind once, in the file's order
    said = ", ".join(left[:-1]) + (" and " if len(left) > 1 else "") + left[-1]
    several = len(names) > 1
    warnings.warn(f"{path}: the slide's main image is read ({shape}); its {said} "
                  f"image{'s are' if several else ' is'} left out", DeblurNote,
                  stacklevel=stacklevel)
    return True
