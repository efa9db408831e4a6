"""What a file's header declares, checked against what the file holds before anything is
allocated for it: a hostile or damaged header of a few hundred bytes can declare an image of
exabytes.

``refuse_short``: the bytes an uncompressed TIFF's or a .npy's pixels need, in Python ints
(``np.prod`` wrapped around int64: a 230-byte TIFF declaring (2^32-1)^2 px passed the check
and read as 'empty or a single pixel', or numpy's 'array is too big' without the file's name).
``refuse_impossible_ome``: an OME-TIFF declaring more planes than its file can hold pages,
before tifffile builds its series (a 33 KB file declaring 100000 x 100000 x 1000 px took
9.4 GB there, in a list of one entry per missing plane)."""

from __future__ import annotations

import math
import os
import re
from html import unescape
from pathlib import Path

import numpy as np

from .shown import shown_path


def refuse_short(path: Path, offset: int, shape, dtype) -> None:
    """Refuse ``path`` when its pixels, ``shape`` of ``dtype`` from byte ``offset`` on as its
    header declares them, need more bytes than the file holds (or a size is negative)."""
    if any(int(n) < 0 for n in shape):  # a .npy's header can say (-8, 8)
        raise ValueError(f"cannot read {shown_path(path)}: its header declares the shape "
                         f"{tuple(shape)}: the file is damaged; save or copy the image again")
    declared = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
    needed, held = int(offset) + declared, path.stat().st_size
    if held < needed:
        raise ValueError(f"cannot read {shown_path(path)}: the file is truncated or its header "
                         f"damaged (it declares {needed} bytes, the file holds {held}); save "
                         "or copy the image again")


#: a Pixels element's attributes (a regular expression: a parse of a long OME-XML took seconds,
#: and ``ome_first_image`` parses its first Image only); the tag is the match after '<' or a
#: prefix's ':' (a literal start: 0.06 s on 30 MB, a pattern with the '<' first took 0.2 s)
_PIXELS = re.compile(r"Pixels\b([^>]*)>")
_SIZE = re.compile(r"""\bSize([XYZCT])\s*=\s*["']\s*(\d+)\s*["']""")
_FILE_NAME = re.compile(r"""FileName\s*=\s*["']([^"']*)["']""")
#: declared planes beyond which the check applies (tifffile's list of them: 8 MB)
PLANES_CHECKED = 1_000_000


def refuse_impossible_ome(tif, path) -> None:
    """Refuse the open ``tifffile.TiffFile`` ``tif`` of ``path`` when its OME-XML declares more
    planes than the bytes of the file and the dataset files it names could hold pages (a page
    takes 30 bytes at the least): tifffile would list each missing one first. The first Image's
    planes are its pixels over the first page's (the page it starts at: a 33 KB bomb declared
    100000 x 100000 px on 128 x 128 px pages), every other Image's its Z x C x T planes of its
    own size (counted on the first page, a 16 x 16 thumbnail before a 20000 x 20000 slide had
    been refused). A partial file (planes not written yet) is said by ``tiff_complete``; only a
    declaration no file could fulfil is refused."""
    if not tif.is_ome:
        return
    xml = tif.ome_metadata or ""
    first = tif.pages.first
    page = int(first.imagewidth) * int(first.imagelength)
    declared, sizes = 0, None
    for match in _PIXELS.finditer(xml):
        if xml[match.start() - 1:match.start()] not in ("<", ":"):
            continue  # 'Pixels' in an attribute or text
        found = dict(_SIZE.findall(match.group(1)))
        image = [int(found.get(axis, 1)) for axis in "XYZCT"]
        declared += -(-math.prod(image) // max(page, 1)) if sizes is None else \
            math.prod(image[2:])
        sizes = sizes or image
    planes = declared
    if planes <= PLANES_CHECKED:
        return
    path = Path(path)
    held = tif.filehandle.size + _other_files_bytes(path, xml)
    if planes > held:
        x, y, *rest = sizes
        raise ValueError(
            f"cannot read {shown_path(path)}: its OME-XML declares {math.prod(rest)} planes of "
            f"{x} x {y} px ({planes} pages in all, at {first.imagewidth} x {first.imagelength} "
            "px for its first image), "
            f"more than its {held} bytes can hold: the OME-XML is damaged; save the image "
            "again (e.g. in Fiji)")


def _other_files_bytes(path: Path, xml: str) -> int:
    """The bytes of the files other than ``path`` that its OME-XML names in its folder."""
    names = {unescape(name) for name in _FILE_NAME.findall(xml)} - {path.name}
    held = 0
    for name in names:
        try:
            held += os.path.getsize(path.parent / Path(name).name)
        except OSError:  # a missing file: said by ome_datasets where it is read
            continue
    return held
