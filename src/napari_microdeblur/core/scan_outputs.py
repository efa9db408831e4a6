"""The files of a folder scan that microdeblur made from other files of the same scan.

A batch writing into a folder inside its input folder (``deblur IN -o IN/out1 -r``) found the
first run's outputs there on the next run (``-o IN/out2``) and deblurred them again, as raw
inputs; so did one writing its outputs beside the inputs (``-o IN``), then elsewhere. An
output's record (``core.provenance``) names its input file (``source_file``): a scanned file
whose record names another file of the scan is left out (``split_made``). Outputs whose input
is not in the scan (a folder of outputs given to deblur again) stay inputs.

The records are read as every other reader of them reads them (``batch_outputs.
header_record``: 0.5-1 ms a file), and only where a first look at the header finds the
record's key (``may_hold_record``: the first IFD's description and ImageJ tags of a TIFF, the
text before a PNG's pixels), some 30 us a file: a scan of 500 raw TIFFs took 9 ms, and would
have taken 230 ms more reading them all. The key found elsewhere than a record is kept (an
ImageJ label, an OME annotation quoting another file's metadata): ``header_record`` decides."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from pathlib import Path

#: the record's key (``provenance.RECORD_KEY``) as a header holds it: ASCII (a TIFF's
#: description, a PNG's tEXt chunk), UTF-16 either way round (ImageJ's Info)
_KEYS = (b"microdeblur", "microdeblur".encode("utf-16-be"), "microdeblur".encode("utf-16-le"))
#: ImageDescription, IJMetadata: where a TIFF output holds its record
_TEXT_TAGS = (270, 50839)
#: a text past this size is not looked through, its record (if any) read the usual way; a
#: microscope's OME-XML of 3 MB is read and searched in 3 ms, where tifffile took 125-157 ms
_LOOKED_AT_MOST = 1 << 28
#: a file's first bytes, read at once: a TIFF's first IFD and texts are there where its
#: writer put them before the pixels, as tifffile does; a PNG output's tEXt chunk too
_HEAD = 1 << 13


def may_hold_record(path: Path) -> bool:
    """Whether ``path``'s header may hold microdeblur's record: False where it cannot (not a
    TIFF or PNG, no key in the texts a record is kept in, unreadable), so that most raw files'
    headers are not parsed: the texts a record is kept in are searched for its key (a TIFF's
    description and ImageJ tags, a PNG's first bytes); one too long to search
    (``_LOOKED_AT_MOST``) may hold it."""
    suffix = path.suffix.lower()
    if suffix not in (".png", ".tif", ".tiff"):
        return False  # the only formats whose record is read (``header_record``)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError:  # a folder (.zarr is none of these), gone, unreadable
        return False
    try:
        head = _read(fd, _HEAD, 0)
        if suffix == ".png":
            return b"tEXt" + _KEYS[0] + b"\0" in head
        return _tiff_holds_key(fd, head)
    except (OSError, ValueError, struct.error):  # a short or odd file: no record read
        return False
    finally:
        os.close(fd)


def _read(fd: int, size: int, offset: int, head: bytes = b"") -> bytes:
    """``size`` bytes at ``offset``: from ``head`` (the file's first bytes) where it holds
    them, else read (one call: most headers are in the first few KB)."""
    if offset + size <= len(head):
        return head[offset:offset + size]
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows
    return os.read(fd, size)


def _tiff_holds_key(fd: int, head: bytes) -> bool:
    """``may_hold_record`` of the TIFF open as ``fd`` (its first bytes ``head``): its first
    IFD's description and ImageJ tags."""
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None:
        return False
    if struct.unpack(order + "H", head[2:4])[0] == 43:  # BigTIFF: 8-byte counts, offsets
        first, count, entry, size = struct.unpack(order + "Q", head[8:16])[0], "Q", "HHQQ", 20
    else:
        first, count, entry, size = struct.unpack(order + "I", head[4:8])[0], "H", "HHII", 12
    at = struct.calcsize(count)
    n = min(struct.unpack(order + count, _read(fd, at, first, head))[0], 4096)
    table = _read(fd, n * size, first + at, head)
    inline = 8 if size == 20 else 4
    for i in range(len(table) // size):
        tag, kind, length, offset = struct.unpack_from(order + entry, table, i * size)
        if tag not in _TEXT_TAGS or kind not in (1, 2, 7) or length <= inline:
            continue  # a text held in the entry itself is too short for a record
        if length > _LOOKED_AT_MOST:
            return True  # read the usual way
        if offset + length > os.fstat(fd).st_size:  # a damaged tag: no 256 MB read for it
            continue
        text = _read(fd, length, offset, head)
        if any(key in text for key in _KEYS):
            return True
    return False


def made_from(path: Path) -> str | None:
    """The name of the file microdeblur made ``path`` from, as its record says; None where it
    holds no record (or one naming no file). Read as ``batch_outputs.header_record`` reads it,
    only where its header holds the record's key (``may_hold_record``)."""
    from .batch_outputs import header_record

    if not may_hold_record(path):
        return None
    record = header_record(path)
    source = record.get("source_file") if isinstance(record, dict) else None
    return source if isinstance(source, str) and source else None


def split_made(files: list[Path], among: Iterable[Path] | None = None
               ) -> tuple[list[Path], list[Path]]:
    """(``files`` kept, those left out): the files that microdeblur made from another file of
    ``among`` (default ``files``: one scan's), that file named by their record, are left out."""
    names: dict[str, list[Path]] = {}
    for other in files if among is None else among:
        names.setdefault(other.name, []).append(other)
    kept, made = [], []
    for path in files:
        source = made_from(path)
        # another file of that name: a.tif -> deb/a.tif has its input's name, not itself
        if source and any(not _same(other, path) for other in names.get(source, ())):
            made.append(path)
        else:
            kept.append(path)
    return kept, made


def _same(one: Path, other: Path) -> bool:
    return os.path.normcase(os.path.abspath(one)) == os.path.normcase(os.path.abspath(other))
