"""A TIFF's first image as ``io.read_tiff`` describes it, from its headers only: no pixel is
decoded (``io.read_image`` decodes a small or, without zarr, any compressed TIFF whole).

Read by ``microdeblur info`` and by the docks for a layer napari opened from a file
(``_widgets/_layer_file``: its pixel sizes and stated axes).

A position's file of a multi-position OME-TIFF (Pos1.ome.tif, each position in files of its
own, every file with every position's OME-XML) is its own position (``ome_datasets.own_series``),
not Image 0: ``open_own_image`` opens it with the OME-XML of its own Images only, so its shape,
pixel sizes, channel names and time interval are its position's (all were Pos0's) and tifffile
opens no other position's files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .declared_sizes import refuse_impossible_ome
from .ome_datasets import names_others, open_tiff_file, own_series


@dataclass
class TiffHeader:
    axes: str  # as read_tiff names them ('' where tifffile cannot name them all)
    shape: tuple[int, ...]
    dtype: np.dtype
    pixel_size: dict[str, float]  # um
    stated: bool  # ImageJ, OME or tifffile's description names every axis (no Q, no I)
    contiguous: bool  # uncompressed, one block: io.read_tiff reads it lazily itself
    metadata: dict = field(default_factory=dict)  # tiff_metadata.tiff_extras: see extras=


def tiff_series_axes(series) -> str:
    """A tifffile series' axes as this package names them: tifffile's unknown axes I and Q
    as Z; "" where the result is no axes string it accepts (a letter twice, say)."""
    from .io import AXES_PATTERN  # here: io imports this module

    axes = series.axes.replace("I", "Z").replace("Q", "Z")
    return axes if AXES_PATTERN.match(axes) and len(set(axes)) == len(axes) else ""


def states_axes(tif, series) -> bool:
    """Whether the file names every axis of ``series`` itself: ImageJ, OME or tifffile's own
    description, with no axis tifffile could not name (Q unknown, I a page sequence)."""
    described = tif.is_ome or tif.is_imagej or "axes" in ((tif.shaped_metadata or ({},))[0])
    return bool(described) and not set(series.axes) & set("QI")


def read_tiff_header(path, *, extras: bool = False) -> TiffHeader:
    """The header of the image ``path`` is read as (``tiff_header``; a position's file: its
    own, ``open_own_image``); of a long OME-XML, from its first Image's part only
    (``ome_first_image``: tifffile's parse of all of it held Python's lock for 1.2 s on 41 MB).
    Raises what tifffile raises for a file it cannot read."""
    from .ome_first_image import first_ome_series

    with open_own_image(path) as tif:  # a position's file: its own position, not Image 0
        refuse_impossible_ome(tif, path)  # before tifffile builds any series
        with first_ome_series(tif) as first:
            series = first if first is not None else own_series(tif)[0]
            return series_header(tif, series, extras=extras)


def tiff_header(tif, *, extras: bool = False) -> TiffHeader:
    """The header of the image an open ``tifffile.TiffFile`` is read as (its first own
    series, ``ome_datasets.own_series``; opened by ``open_own_image``: a position's pixel
    sizes and channels too); ``extras``: its channel names, time interval and record too
    (``tiff_metadata.tiff_extras``) where its pixels are not contiguous (a contiguous file is
    read lazily by io.read_tiff, which reads them itself: parsing them here too took seconds
    on a large OME-XML). Its whole OME-XML is parsed, as
    io.read_tiff of the same ``tif`` parses it (``read_tiff_header`` parses less). Raises what
    tifffile raises for a file it cannot read."""
    refuse_impossible_ome(tif, tif.filehandle.path)  # before tifffile builds its series
    return series_header(tif, own_series(tif)[0], extras=extras)


def series_header(tif, series, *, extras: bool = False) -> TiffHeader:
    """``tiff_header`` of the image ``series`` of the open ``tifffile.TiffFile`` ``tif``.
    Unmarked extra samples (2 or 4) are channels, as io.read_tiff keeps them."""
    from .io import marks_alpha, samples_as_channels
    from .pixel_units import pixel_size_from_tiff
    from .slide_tiff import aperio_pixel_size
    from .tiff_colour import palette_table
    from .tiff_metadata import tiff_extras

    axes = tiff_series_axes(series)
    sizes = aperio_pixel_size(tif, series) or pixel_size_from_tiff(tif, series.pages[0], axes)
    stated = bool(axes) and states_axes(tif, series)
    if axes.endswith("S") and not marks_alpha(series):
        axes = samples_as_channels(axes, series.shape)
    shape, dtype = tuple(int(n) for n in series.shape), np.dtype(series.dtype)
    if (table := palette_table(tif, series, axes)) is not None:  # as io.read_tiff reads it
        dtype = table.dtype
        if not (table == table[:1]).all():  # colours: RGB samples last
            axes, shape = axes + "S", (*shape, 3)
    contiguous = series.dataoffset is not None
    return TiffHeader(axes, shape, dtype, sizes, stated, contiguous,
                      tiff_extras(tif) if extras and not contiguous else {})


def open_own_image(path):
    """``tifffile.TiffFile`` of ``path`` as its own image is read: a BinaryOnly position's file
    with its dataset's OME-XML (``ome_datasets.open_tiff_file``, as io.read_tiff opens it),
    and reopened with the OME-XML of its own Images only where that names other files' Images
    too (``with_own_images``). Raises what tifffile raises."""
    return with_own_images(open_tiff_file(path), path)


def with_own_images(tif, path):
    """The open ``tifffile.TiffFile`` ``tif`` of ``path``, or, where its OME-XML describes
    Images of other files too (a position's file), ``path`` opened again with ``own_images_xml``
    of it (``tif`` closed): tifffile then gives its own Images only, and the pixel sizes and
    channels read from its OME-XML (the first Image's) are its position's."""
    import tifffile

    if not tif.is_ome or tif.is_shaped or tif.is_lsm or tif.is_mmstack:
        return tif  # not read from its OME-XML (tifffile reads these formats before OME)
    xml, name = tif.ome_metadata, Path(path).name
    # one Image, or none of another file (a string search each: an image's OME-XML may be
    # tens of MB; ``names_others`` took 0.2 s on 47 MB)
    if not xml or _image_tags(xml) < 2 or not names_others(xml, name):
        return tif
    own = own_images_xml(xml, name)
    if own is None:
        return tif
    try:
        reopened = tifffile.TiffFile(path, omexml=own)
    except Exception:  # noqa: BLE001 - tifffile raises several types: read as it was
        return tif
    tif.close()
    return reopened


def _image_tags(xml: str, most: int = 2) -> int:
    """The Image start tags in OME-XML ``xml`` ('<Image ', '<ome:Image>'), counted up to
    ``most``; a search for the word, not a parse (the word in text may count too)."""
    found, at = 0, xml.find("Image")
    while at != -1 and found < most:
        if xml[at - 1:at] in ("<", ":") and xml[at + 5:at + 6] in (" ", ">", "\t", "\n", "\r"):
            found += 1
        at = xml.find("Image", at + 5)
    return found


def own_images_xml(xml: str, name: str, chunk: int = 1 << 20) -> str | None:
    """OME-XML ``xml`` of the file ``name`` with the Images ``own_series`` reads of it only:
    those whose first planes lie in it (a position's), else the first with planes in it (a
    part: read whole), and the StructuredAnnotations where they hold a modulo (tifffile's
    axes; no other is read); its root and UUID kept, so tifffile finds this file and the other
    files of its own Images. None where that is every Image, none, a BinaryOnly file, or XML
    that does not parse. Parsed in chunks (Python's lock let go between them) up to the last
    Image, each Image dropped or kept as it ends."""
    from xml.etree.ElementTree import Element, ParseError, XMLPullParser, tostring

    modulo = "modulo" in xml
    # the annotations after the Images (tens of MB) are parsed for a modulo only
    end = len(xml) if modulo else xml.rfind("Image>") + len("Image>")
    parser = XMLPullParser(events=("start", "end"))
    root, depth, images = None, 0, 0
    kept: list = []  # (element, 'first' / 'part' / 'annotations'), in the XML's order
    try:
        for start in range(0, end, chunk):
            parser.feed(xml[start:min(start + chunk, end)])
            for event, elem in parser.read_events():
                if event == "start":
                    root = elem if root is None else root
                    depth += 1
                    continue
                depth -= 1
                if depth != 1:
                    continue
                root.remove(elem)  # a child of the root ended: kept apart, or dropped
                tag = _local(elem.tag)
                if tag == "BinaryOnly":
                    return None
                if tag == "StructuredAnnotations" and modulo:
                    kept.append((elem, "annotations"))
                elif tag == "Image":
                    images += 1
                    if role := _role_of(elem, root.get("UUID"), name):
                        kept.append((elem, role))
    except (ParseError, ValueError):
        return None
    firsts = [e for e, role in kept if role == "first"]
    own = firsts or [next((e for e, role in kept if role == "part"), None)]
    if root is None or own[0] is None or len(own) == images:
        return None
    cut = Element(root.tag, root.attrib)
    cut.extend(e for e, role in kept if role == "annotations" or e in own)
    return tostring(cut, encoding="unicode")


def _role_of(image, own_uuid: str | None, name: str) -> str | None:
    """'first' where the file ``name`` holds the OME ``image``'s first planes (its first
    TiffData's), 'part' where it holds others of its planes, None where none. A TiffData
    without UUID, or with the file's own (``own_uuid``), is this file's, as tifffile and
    ``ome_datasets`` read it; else its UUID's FileName."""
    files = []
    for data in (e for e in image.iter() if _local(e.tag) == "TiffData"):
        uuid = next((e for e in data if _local(e.tag) == "UUID"), None)
        mine = uuid is None or (uuid.text or "").strip() == own_uuid
        files.append(name if mine else uuid.get("FileName"))
    if files and files[0] == name:
        return "first"
    return "part" if name in files else None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
