"""Writing a file so that a failed or interrupted write leaves nothing behind.

``write_atomically(path, write)`` lets ``write`` fill a temporary file
``.NAME.<host>.<pid>.partial`` (``core.partials``; ``.NAME.<random>.tmp`` when this process is
already writing that name from another thread) in the target's folder and renames it onto
``path`` only once complete (same folder, so the rename is atomic). An error, Ctrl-C or a full
disk leaves the file that was at ``path`` untouched and removes the temporary file and any
folder made for it. A failure to write is one ``OSError`` line (same class and errno as the
system's) naming the file and what to change: a folder in the way, a read-only folder or file,
a full disk. A process killed outright (SIGKILL, power loss) can still leave the temporary
file; its leading dot hides it, and the next write of the same file on this machine removes it
once its process is gone, as outputs do. The file gets the permissions of any new file (the
umask's), not a temporary file's owner-only ones.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from .partials import fresh_temporary_name
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


def _claim_temporary(path: Path) -> Path:
    """Create and return the hidden file to write ``path`` under (module docstring), with the
    permissions of any new file (0o666 less the umask; mkstemp's are the owner's only, and
    saved weights were unreadable to the group on a shared server)."""
    name = fresh_temporary_name(path)  # removes what killed writes of ``path`` left
    while True:
        try:
            os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return name
        except FileExistsError:  # another thread of this process writes the same file now
            name = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def write_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``; on any failure remove what was made
    and leave ``path`` as it was (module docstring)."""
    path = Path(path)
    _check_target(path)
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]  # deepest first
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _claim_temporary(path)
        mode = stat.S_IMODE(tmp.stat().st_mode)  # a new file's: 0o666 less the umask
        write(tmp)
        # a writer that replaces the file keeps its own mode (safetensors: owner-only)
        if stat.S_IMODE(tmp.stat().st_mode) != mode:
            os.chmod(tmp, mode)
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
