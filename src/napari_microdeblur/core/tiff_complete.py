"""Whether a TIFF holds every plane its metadata declares. Acquisition software writes a
z-stack or time series page by page into one file, with pauses (stage moves, time-lapse
intervals) longer than any settle time, so a file unchanged for a while may still be partial:
an ImageJ file says ``images=10`` and holds 4 pages; an OME-TIFF's planes 5-10 are missing
(tifffile fills them with zeros); the last page's data may be cut short; a multi-file
OME-TIFF's other files may be missing or short (``ome_datasets``). Only the IFD chains, the
last pages' tags and the first page's description are read (no pixels), so a watch can ask
at every poll."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from .ome_datasets import OmeDatasetError, dataset_gaps, dataset_xml, parsed
from .tiff_metadata import quiet_tifffile


def incomplete_reason(path: str | os.PathLike) -> str | None:
    """Why the TIFF at ``path`` is not completely written yet, in words ('it holds 4 of the 10
    planes its ImageJ metadata declares'); None when it is complete, and when that cannot be
    told (not a TIFF, or unreadable: the reader says so when it reads the file). None too for
    a file of a multi-file OME-TIFF missing another file, or BinaryOnly: the reader refuses it
    (``ome_datasets.dataset_gaps``); a short one of its other files: why."""
    import tifffile

    path = Path(path)
    # a partial file is expected here: tifffile's lines about it would repeat at every poll
    with quiet_tifffile(logging.CRITICAL):
        try:
            tif = tifffile.TiffFile(path)
        except Exception:  # tifffile raises several types for broken files
            return None
        with tif:
            try:
                return open_incomplete_reason(tif, path)
            except OmeDatasetError:  # the reader refuses it, naming the files: a watch logs
                return None  # that at once (waiting: only a change to this file is seen)


def open_incomplete_reason(tif, path: str | os.PathLike) -> str | None:
    """``incomplete_reason`` of ``tif``, the open ``tifffile.TiffFile`` of ``path`` (the reader
    asks of the file it opened: no second opening, no pixels read). tifffile's log lines while
    it looks are said only where the file is complete: a partial file's refusal says it all.
    Raises ``OmeDatasetError`` for a file of a multi-file OME-TIFF whose other files are not
    in its folder, and for a BinaryOnly one (``ome_datasets.dataset_gaps``)."""
    log = logging.getLogger("tifffile")
    held = _Held()
    log.addFilter(held)
    try:
        why = _reason(tif, Path(path))
    except OmeDatasetError:
        raise
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
    count, why = _pages_held(tif, path)
    if why:
        return why
    root = None
    if tif.is_ome:
        root = parsed(tif.ome_metadata)
        declared, where = _ome_planes(root, path, _first_samples(tif))
    elif tif.is_imagej:
        declared, where = _imagej_planes(tif.imagej_metadata or {}), "ImageJ metadata declares"
    else:
        return None
    if declared is not None and declared > count:
        return f"it holds {count} of the {declared} planes its {where}"
    if root is None:
        return None
    # its own planes all there: those of the dataset's other files
    dataset = dataset_xml(root, path, _first_samples(tif))
    dataset_gaps(dataset, path)  # raises where a file is missing, or for a BinaryOnly one
    return _other_files_reason(dataset, path)


def _pages_held(tif, path: Path) -> tuple[int, str | None]:
    """(the planes the open TIFF ``tif`` of ``path`` holds, why its last one is cut short or
    None)."""
    size = path.stat().st_size
    count = len(tif.pages)  # follows the IFD chain; stops at a page not written yet
    last = tif.pages[count - 1]
    ends = [o + n for o, n in zip(last.dataoffsets, last.databytecounts) if n]
    if ends and max(ends) > size:
        return count, (f"its last page (plane {count}) is cut short: the file holds {size} of "
                       f"the {max(ends)} bytes it needs")
    first = tif.pages.first
    if count == 1 and first.is_contiguous and first.nbytes:
        # ImageJ files over 4 GB hold one IFD, the other planes' data follows the first's
        count = max(1, (size - first.dataoffsets[0]) // first.nbytes)
    return count, None


def _other_files_reason(dataset, path: Path) -> str | None:
    """Why a multi-file OME-TIFF's other files, all there (``dataset_gaps``), do not hold the
    planes its OME-XML puts in them (tifffile gave the missing ones as zeros); None if they do.
    Each is opened for its IFD chain only, as tifffile opens it to read the image."""
    import tifffile

    for name, (needed, _) in dataset.files.items():
        if name == path.name or not needed:
            continue
        other = path.parent / name
        try:
            with tifffile.TiffFile(other) as tif:
                count, why = _pages_held(tif, other)
        except Exception:  # tifffile raises several types for broken files
            return f"its dataset's file {name} cannot be read as TIFF"
        if why:
            return f"its dataset's file {name}: {why}"
        if count < needed:
            return (f"its dataset's file {name} holds {count} of the {needed} planes its "
                    "OME-XML puts there")
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


def _ome_planes(root, path: Path, samples_default: int = 1) -> tuple[int | None, str]:
    """(how many IFDs this file's OME-XML (``root``, parsed; None: none) says this file holds,
    the words for it). For one file of a multi-file dataset, only the TiffData that name this
    file (by UUID or FileName). ``samples_default``: samples per pixel where a Channel does not
    say (the OME schema makes SamplesPerPixel optional: an RGB file's SizeC 3 is one IFD)."""
    where = "OME-XML declares"
    if root is None:
        return None, where
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
