"""The first image series of an OME-TIFF as tifffile reads it, without parsing all of its
OME-XML: tifffile parses the whole description in one call that holds Python's lock (1.2 s for
40 MB of per-plane metadata and annotations), where a header needs the first Image only.

``first_ome_series(tif)`` gives tifffile (its ``omexml=`` option) a document of the root and
the first Image only, so the series is tifffile's own reading of that Image. A fault in a later
Image that makes tifffile's full parse fail (Channels of differing SamplesPerPixel) is not seen
here: the header shows the first Image, and reading the file fails as before. None, where it
could read otherwise than the whole document does (the caller then reads ``tif.series``): a
description under ``LONG_OME_XML``, a format tifffile tries before OME, a modulo annotation
anywhere (annotations after the Images change their axes), a BinaryOnly before the Image, XML
that does not parse up to the end of that Image, a first Image without pixels in this file
(tifffile then starts at the next one) or with pages in other files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

#: characters of OME-XML from which the first Image is cut out (below: tifffile parses it all,
#: as it always did; its parse of 1 MB takes some 30 ms)
LONG_OME_XML = 1_000_000
CHUNK = 1 << 18  # characters per feed: each feed holds Python's lock for a few ms only
# the elements of an Image that tifffile's OME series reads (it matches tag endings)
_READ = ("Pixels", "Channel", "TiffData", "UUID", "AnnotationRef")


def first_image_xml(ome_xml: str, chunk: int = CHUNK) -> str | None:
    """OME-XML of the root element of ``ome_xml`` and its first Image, parsed up to the end of
    that Image only and without the elements tifffile does not read (Planes, Descriptions),
    or None: no Image, a BinaryOnly before it, or XML that does not parse so far."""
    from xml.etree.ElementTree import Element, ParseError, XMLPullParser, tostring

    parser = XMLPullParser(events=("start", "end"))
    stack: list = []  # the open elements, the root first
    try:
        for start in range(0, len(ome_xml), chunk):
            parser.feed(ome_xml[start:start + chunk])
            for event, elem in parser.read_events():
                if event == "start":
                    stack.append(elem)
                    continue
                stack.pop()
                if len(stack) == 1 and elem.tag.endswith("Image"):  # tifffile's test
                    # a new root: the parsed one holds what its chunk had after the Image
                    root = Element(stack[0].tag, stack[0].attrib)
                    root.append(elem)
                    return tostring(root, encoding="unicode")
                if len(stack) == 1 and elem.tag.endswith("BinaryOnly"):
                    return None  # tifffile reads no series past it
                if not stack:
                    return None  # the document ended without an Image
                inside_image = len(stack) > 1 and stack[1].tag.endswith("Image")
                if not (inside_image and elem.tag.endswith(_READ)):
                    stack[-1].remove(elem)  # unread: the kept document stays small
    except (ParseError, ValueError):
        return None
    return None


def _first_image_only(tif) -> str | None:
    """``first_image_xml`` of an open ``tifffile.TiffFile`` whose OME series tifffile reads
    first, of a long description without modulo annotations; else None."""
    if not tif.is_ome or tif.is_shaped or tif.is_lsm or tif.is_mmstack:
        return None  # tifffile reads these formats before OME
    handle = tif.filehandle
    try:  # the whole of a file on disk, which a second TiffFile opens alike
        whole = handle.is_file and os.path.getsize(handle.path) == handle.size
    except OSError:
        return None
    xml = tif.ome_metadata
    if not whole or not xml or len(xml) < LONG_OME_XML or "modulo" in xml:
        return None
    return first_image_xml(xml)


@contextmanager
def first_ome_series(tif) -> Iterator:
    """Within: the first image series of the open ``tifffile.TiffFile`` ``tif`` as
    ``tif.series[0]`` reads it, from its first Image's OME-XML only (read from a second
    TiffFile of the same file, closed on exit), or None: see the module."""
    import tifffile

    small = _first_image_only(tif)
    if small is None:
        yield None
        return
    try:
        other = tifffile.TiffFile(tif.filehandle.path, omexml=small)
    except Exception:  # noqa: BLE001 - tifffile raises several types: tif.series says why
        yield None
        return
    try:
        try:
            series = other.series
        except Exception:  # noqa: BLE001 - as above
            series = []
        first = series[0] if series else None
        if first is not None and (first.kind != "ome" or first.is_multifile):
            first = None  # not the first Image's series, or pages in other files
        yield first
    finally:
        other.close()
