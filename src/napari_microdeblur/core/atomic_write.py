"""Writing a file so that a failed or interrupted write leaves nothing behind.

``write_atomically(path, write)`` lets ``write`` fill a temporary file ``.NAME.<random>.tmp``
in the target's folder and renames it onto ``path`` only once complete (same folder, so the
rename is atomic). An error, Ctrl-C or a full disk leaves the file that was at ``path``
untouched and removes the temporary file and any folder made for it. A failure to write is one
``OSError`` line (same class and errno as the system's) naming the file and what to change: a
folder in the way, a read-only folder or file, a full disk. A process killed outright (SIGKILL,
power loss) can still leave the temporary file; its leading dot hides it and no ``*.safetensors``
listing picks it up.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from .shown import shown_path

__all__ = ["write_atomically"]


def _fail(exc_type: type[OSError], code: int | None, path: Path, why: str) -> OSError:
    """One line: the file, why it cannot be written, what to do (the system's own text has the
    temporary name in it, or two paths, and no advice)."""
    try:
        error = exc_type(f"cannot write {shown_path(path)}: {why}")
    except TypeError:  # a subclass with another constructor
        error = OSError(f"cannot write {shown_path(path)}: {why}")
    error.errno = code  # str() stays the one line: it has no strerror
    return error


def _check_target(path: Path) -> None:
    """Refuse, before anything is written, a target that is a folder, a read-only file, or
    that lies under a file."""
    if path.is_dir():
        raise _fail(IsADirectoryError, errno.EISDIR, path,
                    "it is a folder; give a file name (inside it or elsewhere)")
    if path.is_file() and not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        # rename would replace it even so (only the folder's permission counts): the user
        # marked it read-only, so it is kept
        raise _fail(PermissionError, errno.EACCES, path,
                    "the file is read-only; save under another name, or make it writable "
                    "to replace it")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise _fail(NotADirectoryError, errno.ENOTDIR, path,
                            f"{shown_path(parent)} is a file, not a folder; choose a folder")
            return


def _why(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{text} (a read-only or someone else's folder); choose a folder you can write to"
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"{text}; free some space or choose another disk (nothing was written)"
    if exc.errno == errno.ENAMETOOLONG:
        return f"{text}; choose a shorter name or folder"
    return f"{text} (nothing was written)"


def write_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``; on any failure remove what was made
    and leave ``path`` as it was (module docstring)."""
    path = Path(path)
    _check_target(path)
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]  # deepest first
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        for folder in made:  # only folders this call made, and only if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(exc, OSError):
            raise _fail(type(exc), exc.errno, path, _why(exc)) from None
        raise
