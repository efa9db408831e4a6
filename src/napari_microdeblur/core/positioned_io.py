"""Reads and writes at a byte offset of a file descriptor, on every platform.

``os.pread`` and ``os.pwrite`` exist on Linux and macOS only; on Windows the region reader and
writer of uncompressed TIFFs (:mod:`.io`, :mod:`.io_write`) fell over on the first read. There a
seek and a read (or write) under one lock stand in, so threads sharing a descriptor do not move
each other's position. Files open in binary mode (Windows' default for ``os.open`` is text, which
would translate line endings inside the pixels).
"""

from __future__ import annotations

import os
import threading

_SEEK_LOCK = threading.Lock()
_BINARY = getattr(os, "O_BINARY", 0)  # Windows only; 0 elsewhere


def open_fd(path: str | os.PathLike, *, writable: bool = False) -> int:
    """A descriptor of ``path`` in binary mode, read-only or read-write."""
    return os.open(path, (os.O_RDWR if writable else os.O_RDONLY) | _BINARY)


def pread(fd: int, size: int, offset: int) -> bytes:
    """``size`` bytes at ``offset`` (fewer only at the end of the file)."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    parts, got = [], 0
    with _SEEK_LOCK:
        os.lseek(fd, offset, os.SEEK_SET)
        while got < size:
            part = os.read(fd, size - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
    return b"".join(parts)


def pwrite(fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset``."""
    view = memoryview(data)
    if hasattr(os, "pwrite"):
        while view:
            view = view[os.pwrite(fd, view, offset + len(data) - len(view)):]
        return
    with _SEEK_LOCK:
        os.lseek(fd, offset, os.SEEK_SET)
        while view:
            view = view[os.write(fd, view):]
