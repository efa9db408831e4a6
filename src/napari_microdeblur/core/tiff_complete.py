"""Whether a TIFF holds every plane its metadata declares. Acquisition software writes a
z-stack or time series page by page into one file, with pauses (stage moves, time-lapse
intervals) longer than any settle time, so a file unchanged for a while may still be partial:
an ImageJ file says ``images=10`` and holds 4 pages; an OME-TIFF's planes 5-10 are missing
(tifffile fills them with zeros); the last page's data may be cut short. Only the IFD chain,
the last page's tags and the first page's description are read (no pixels), so a watch can
ask at every poll."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from .tiff_metadata import quiet_tifffile


def incomplete_reason(path: str | os.PathLike) -> str | None:
    """Why the TIFF at ``path`` is not completely written yet, in words ('it holds 4 of the 10
    planes its ImageJ metadata declares'); None when it is complete, and when that cannot be
    told (not a TIFF, or unreadable: the reader says so when it reads the file)."""
    import tifffile

    path = Path(path)
    # a partial file is expected here: tifffile's lines about it would repeat at every poll
    with quiet_tifffile(logging.CRITICAL):
        try:
            tif = tifffile.TiffFile(path)
        except Exception:  # tifffile raises several types for broken files
            return None
        with tif:
            return open_incomplete_reason(tif, path)


def open_incomplete_reason(tif, path: str | os.PathLike) -> str | None:
    """``incomplete_reason`` of ``tif``, the open ``tifffile.TiffFile`` of ``path`` (the reader
    asks of the file it opened: no second opening, no pixels read). tifffile's log lines while
    it looks are said only where the file is complete: a partial file's refusal says it all."""
    log = logging.getLogger("tifffile")
    held = _Held()
    log.addFilter(held)
    try:
        why = _reason(tif, Path(path))
    except Exception:  # a damaged file, not a partial one: left to the reader
        why = None
    finally:
        log.removeFilter(held)
    if why is None:
        for record in held.records:
            log.handle(record)
    return why


class _Held(logging.Filter):
    """This thread's tifffile log records, held back (a filter, not a swap of the logger's
    handlers: another thread reading a file meanwhile keeps its lines)."""

    def __init__(self):
        super().__init__()
        self.thread = threading.get_ident()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread:
            return True
        self.records.append(record)
        return False


def _reason(tif, path: Path) -> str | None:
    size = path.stat().st_size
    count = len(tif.pages)  # follows the IFD chain; stops at a page not written yet
    last = tif.pages[count - 1]
    ends = [o + n for o, n in zip(last.dataoffsets, last.databytecounts) if n]
    if ends and max(ends) > size:
        return (f"its last page (plane {count}) is cut short: the file holds {size} of the "
                f"{max(ends)} bytes it needs")
    first = tif.pages.first
    if count == 1 and first.is_contiguous and first.nbytes:
        # ImageJ files over 4 GB hold one IFD, the other planes' data follows the first's
        count = max(1, (size - first.dataoffsets[0]) // first.nbytes)
    if tif.is_ome:
        declared, where = _ome_planes(tif.ome_metadata, path, _first_samples(tif))
    elif tif.is_imagej:
        declared, where = _imagej_planes(tif.imagej_metadata or {}), "ImageJ metadata declares"
    else:
        return None
    if declared is not None and declared > count:
        return f"it holds {count} of the {declared} planes its {where}"
    return None


def _imagej_planes(meta: dict) -> int | None:
    """The planes an ImageJ description declares: ``images``, else channels x slices x frames
    (None when it names none of them: a single image)."""
    if meta.get("images"):
        return int(meta["images"])
    keys = [k for k in ("channels", "slices", "frames") if meta.get(k)]
    return int(np.prod([int(meta[k]) for k in keys])) if keys else None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _first_samples(tif) -> int:
    """Samples per pixel of the file's first page (3 for RGB), 1 where it cannot be read."""
    try:
        return max(1, int(tif.pages[0].samplesperpixel))
    except Exception:  # tifffile raises several types for broken files
        return 1


def _ome_planes(xml: str | None, path: Path, samples_default: int = 1) -> tuple[int | None, str]:
    """(how many IFDs this file's OME-XML says this file holds, the words for it). For one file
    of a multi-file dataset, only the TiffData that name this file (by UUID or FileName).
    ``samples_default``: samples per pixel where a Channel does not say (the OME schema makes
    SamplesPerPixel optional: an RGB file's SizeC 3 is one IFD, not three)."""
    import xml.etree.ElementTree as ET

    where = "OME-XML declares"
    if not xml:
        return None, where
    root = ET.fromstring(xml)
    if any(_local(e.tag) == "BinaryOnly" for e in root):
        return None, where  # the metadata lives in a companion file
    own_uuid = root.get("UUID")
    needed, following = 0, 0
    for pixels in (e for e in root.iter() if _local(e.tag) == "Pixels"):
        channels = [e for e in pixels if _local(e.tag) == "Channel"]
        stated = channels[0].get("SamplesPerPixel") if channels else None
        samples = int(stated) if stated else samples_default
        planes = (int(pixels.get("SizeZ", 1)) * int(pixels.get("SizeT", 1))
                  * max(1, int(pixels.get("SizeC", 1)) // samples))
        datas = [e for e in pixels if _local(e.tag) == "TiffData"]
        if not datas:  # planes stored one after another, image after image
            following += planes
            needed = max(needed, following)
        for data in datas:
            uuid = next((e for e in data if _local(e.tag) == "UUID"), None)
            if uuid is not None and not ((uuid.text or "").strip() == own_uuid
                                         or uuid.get("FileName") == path.name):
                continue  # planes of another file of the dataset
            if data.get("PlaneCount") is not None:
                count = int(data.get("PlaneCount"))
            elif data.get("IFD") is not None:
                count = 1
            else:
                continue  # "every IFD of the file": declares no number
            needed = max(needed, int(data.get("IFD") or 0) + count)
    if needed and any(True for e in root.iter() if _local(e.tag) == "UUID" and e.get("FileName")
                      and e.get("FileName") != path.name):
        where = "OME-XML declares for this file"
    return (needed or None), where
