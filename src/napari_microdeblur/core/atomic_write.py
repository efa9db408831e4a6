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

With ``overwrite=False`` the rename refuses a file that appeared at ``path`` while ``write`` ran
(another run writing the same name): ``move_into_place`` links the temporary file to ``path``,
which fails if anything is there, atomically, where a rename would have replaced it silently
(on Windows a plain rename, which refuses an existing file there: a link failed on FAT32,
exFAT and SMB drives). That file is left as it is, the temporary removed, and
``OutputExistsError`` raised.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
import sys
from collections.abc import Callable
from pathlib import Path

from .claims import user_name
from .partials import fresh_temporary_name, temporary_name
from .shown import shown_path

__all__ = ["FOLDER", "READ_ONLY", "WINDOWS_PATH_MAX", "OutputExistsError", "check_not_an_input",
           "check_target", "discard", "exists_error", "kept_reason", "make_folder_for",
           "move_into_place", "not_yours", "same_file", "windows_hint", "write_atomically",
           "write_error"]


class OutputExistsError(FileExistsError):
    """An output that exists where the caller did not ask to replace it; ``path``: that output,
    as given. ``appeared``: it was not there when the run began (another run wrote it)."""

    def __init__(self, message: str, path, appeared: bool = False):
        super().__init__(message)
        self.path = Path(path)
        self.appeared = appeared


def exists_error(path) -> OutputExistsError:
    """The refusal of an output ``path`` that exists where the caller did not ask to replace
    it: 'choose another name or overwrite=True', or, where it is a file this user may not
    replace (``not_yours``: another user's) or that is read-only (or a link to one, followed
    as ``check_target`` follows it), why, as overwrite would be refused too."""
    why = None
    with contextlib.suppress(OSError, ValueError):  # gone meanwhile: the plain words
        if os.path.isfile(path):
            why = not_yours(Path(path)) or (READ_ONLY_WORDS if _read_only(os.stat(path))
                                            else None)
    return OutputExistsError(f"output {shown_path(path)} exists; "
                             + (why or "choose another name or overwrite=True"), path)


def appeared_error(path: Path) -> OutputExistsError:
    """The refusal of an output that another run (or program) wrote while this one ran."""
    return OutputExistsError(
        f"output {shown_path(path)} appeared while this run wrote it (another run wrote it); "
        "it was left as it is and this run's result not kept: choose another name, or "
        "overwrite=True to replace it", path, appeared=True)


def _fail(exc_type: type[OSError], code: int | None, path: Path, why: str) -> OSError:
    """One line: the file, why it cannot be written, what to do (the system's own text has the
    temporary name in it, or two paths, and no advice)."""
    try:
        error = exc_type(f"cannot write {shown_path(path)}: {why}")
    except TypeError:  # a subclass with another constructor
        error = OSError(f"cannot write {shown_path(path)}: {why}")
    error.errno = code  # str() stays the one line: it has no strerror
    error.worded = True  # write_error leaves it as it is
    return error


def check_target(path: Path) -> None:
    """Refuse, before anything is written, a target that is a folder, a read-only file, a file
    this user may not write (another user's), or that lies under a file."""
    if path.is_dir():
        raise _fail(IsADirectoryError, errno.EISDIR, path,
                    "it is a folder; give a file name (inside it or elsewhere)")
    if path.is_file() and not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        # rename would replace it even so (only the folder's permission counts): the user
        # marked it read-only, so it is kept
        raise _fail(PermissionError, errno.EACCES, path,
                    "the file is read-only; save under another name, or make it writable "
                    "to replace it")
    if path.is_file() and (why := not_yours(path)) is not None:
        raise _fail(PermissionError, errno.EACCES, path, why)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise _fail(NotADirectoryError, errno.ENOTDIR, path,
                            f"{shown_path(parent)} is a file, not a folder; choose a folder")
            return


def not_yours(path: Path) -> str | None:
    """Why this user may not replace the existing file ``path``, its mode's write bits aside
    (``check_target``): another user's file not writable by this one (0600 under umask 077, a
    group's 0644 under 022), which a rename in a group-writable folder replaced all the same;
    another user's file in a sticky folder, where only its owner may replace it (the rename
    failed, after the work). None where this user may."""
    try:
        found, folder = path.lstat(), path.parent.stat()
        # a link is replaced, not the file it points to: what that file allows does not count
        writable = path.is_symlink() or os.access(path, os.W_OK)
    except OSError:
        return None
    me = os.geteuid() if hasattr(os, "geteuid") else None
    if me is None or found.st_uid == me:  # Windows has no owners to tell here
        return None if writable else ("it is not writable by you; save under another name, "
                                      "or make it writable to replace it")
    owner = user_name(found.st_uid)
    if me not in (0, folder.st_uid) and folder.st_mode & stat.S_ISVTX:
        # first: there no chmod of the file's lets another user replace it
        return (f"it belongs to another user ({owner}), and in its folder (sticky: chmod +t) "
                "only a file's owner may replace it, so it is kept; save under another name")
    if not writable:
        return (f"it belongs to another user ({owner}) and is not writable by you, so it is "
                f"kept; save under another name, or ask {owner} to make it group-writable "
                "(chmod g+w)")
    return None


class _Kept:
    """What ``kept_reason`` answers where --overwrite keeps a file for another reason than its
    owner (for another user's it answers their name): not a string, so no user's name can be
    it."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: ``kept_reason``: a file (or a link to one) with no write bit (chmod a-w), or one of this
#: user's without theirs; and a folder where a file goes (``check_target``: 'it is a folder')
READ_ONLY, FOLDER = _Kept("READ_ONLY"), _Kept("FOLDER")

#: why an existing read-only output is kept, overwrite or not (``exists_error``)
READ_ONLY_WORDS = ("it is read-only, so even overwrite=True keeps it; save under another "
                   "name, or make it writable to replace it")


def _read_only(found: os.stat_result) -> bool:
    """``check_target``'s test: a file with no write bit for anyone (Windows' read-only flag)."""
    return stat.S_ISREG(found.st_mode) and not found.st_mode & (stat.S_IWUSR | stat.S_IWGRP
                                                                | stat.S_IWOTH)


def kept_reason(path):
    """Why --overwrite would keep the existing output ``path`` (``check_target`` and
    ``io_write.check_output_path``, which follow a link): the name of the other user owning it
    where this user may not replace it (``not_yours``); ``READ_ONLY`` where it, or the file a
    link points to, has no write bit (or, this user's, none for them); ``FOLDER`` where it is,
    or points to, a folder (a Zarr store aside, which is replaced). None where --overwrite
    replaces it, or it is gone. One lstat of a file of this user's, and one stat more of a link
    (a rerun skips 10,000 outputs)."""
    try:
        found = os.lstat(path)
        link = stat.S_ISLNK(found.st_mode)
        pointed = os.stat(path) if link else found
    except (OSError, ValueError):  # gone, or a link to nothing: replaced
        return None
    if stat.S_ISDIR(pointed.st_mode):
        from .io import is_zarr  # only for a folder: rare

        return None if is_zarr(path) and not link else FOLDER
    me = os.geteuid() if hasattr(os, "geteuid") else None  # Windows has no owners to tell
    if me is not None and found.st_uid != me and not_yours(Path(path)) is not None:
        return user_name(found.st_uid)
    if _read_only(pointed):  # needs no owner: Windows' read-only flag too
        return READ_ONLY
    if me is None or link or found.st_uid != me or found.st_mode & stat.S_IWUSR:
        return None
    # this user's, with a write bit for the group or others only: the owner's bits count
    return None if os.access(path, os.W_OK) else READ_ONLY


def check_not_an_input(path: Path, inputs: tuple) -> None:
    """Refuse an output that is one of ``inputs`` (the image first), lies inside one (a Zarr
    store: '-o in.ome.zarr/0' made its array a group) or holds one ('-o in.ome.zarr' of its
    own level 'in.ome.zarr/0' replaced the input), even with overwrite."""
    for index, source in enumerate(inputs):
        how = path_relation(path, source, inside=index == 0)
        if how is None:
            continue
        if index == 0:
            raise ValueError(f"output {shown_path(path)} {how} the input; give another name "
                             "(the input is never replaced)")
        # the caller's other inputs: a PSF or weights file the run reads
        raise ValueError(f"output {shown_path(path)} {how} a file this run reads (the PSF or "
                         "weights given); give another name (what a run reads is never "
                         "replaced)")


def path_relation(path: Path, source, inside: bool = True) -> str | None:
    """'is', 'is inside' (where ``inside``: the image, a Zarr store; a PSF or weights folder is
    refused as such) or 'holds' where the output ``path`` is, lies in or contains the file or
    folder ``source`` (resolved: links and '..' followed); None otherwise, and where
    ``source`` is no file or folder here (a URL, a PSF model)."""
    if path.exists() and same_file(path, source):
        return "is"
    try:
        if not isinstance(source, (str, os.PathLike)) or not os.path.exists(source):
            return None
        out, read = path.resolve(), Path(source).resolve()
    except (OSError, ValueError, RuntimeError):  # a NUL in the text, a link loop
        return None
    if inside and out != read and read.is_dir() and out.is_relative_to(read):
        return f"is inside {shown_path(source)},"
    if out != read and read.is_relative_to(out):
        return f"holds {shown_path(source)},"
    return None


def same_file(path: Path, source) -> bool:
    """Whether ``path`` is the file ``source`` names; False where ``source`` is no file here."""
    try:
        return Path(path).samefile(source)
    except (OSError, ValueError, TypeError):  # a URL, gone, a PSF model, a NUL in the text
        return False


#: the longest path Windows opens without the \\?\ prefix (MAX_PATH less its final NUL)
WINDOWS_PATH_MAX = 259


def windows_hint(exc: OSError, path: Path, platform: str | None = None) -> str | None:
    """What a Windows error writing ``path`` most likely means, where its text misleads
    (None elsewhere, or for other errors). ``platform``: ``os.name`` (given in tests)."""
    if (platform or os.name) != "nt":
        return None
    if exc.errno == errno.EACCES and os.path.lexists(path):
        # a sharing violation (the file is open in Fiji, Excel, a viewer) reads as EACCES
        return (f"{exc.strerror or exc} (it may be open in another program: close it there, "
                "or save under another name; else choose a folder you can write to)")
    written = exc.filename or temporary_name(path)
    if exc.errno == errno.ENOENT and len(os.path.abspath(written)) > WINDOWS_PATH_MAX:
        # past MAX_PATH, Windows says 'path not found', not 'name too long'
        return (f"the path is too long for Windows ({len(os.path.abspath(written))} "
                f"characters with its temporary name; at most {WINDOWS_PATH_MAX}); choose a "
                "shorter name or folder, or enable long paths in Windows")
    return None


def _why(exc: OSError, path: Path, platform: str | None = None) -> str:
    hint = windows_hint(exc, path, platform)
    if hint is not None:
        return hint
    text = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{text} (a read-only or someone else's folder); choose a folder you can write to"
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"{text}; free some space or choose another disk (nothing was written)"
    if exc.errno == errno.ENAMETOOLONG:
        return f"{text}; choose a shorter name or folder"
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):  # the rename, after the folder went
        return (f"{text} (its folder was moved, removed or replaced by a file while it was "
                "written; nothing was written)")
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


def write_error(exc: OSError, path: Path, platform: str | None = None) -> OSError:
    """``exc``, raised while ``path`` was written, as one line naming ``path`` (not the hidden
    temporary name the system's text has) and what to change; an ``OutputExistsError`` as it
    is. ``platform``: ``os.name``, whose errors are read (``windows_hint``)."""
    if isinstance(exc, OutputExistsError) or getattr(exc, "worded", False):
        return exc
    return _fail(type(exc), exc.errno, Path(path), _why(exc, Path(path), platform))


def discard(tmp: Path) -> bool:
    """Remove the temporary file or folder ``tmp`` where it can be (a folder made read-only
    meanwhile keeps it); whether it is gone."""
    with contextlib.suppress(OSError):
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp)
        elif os.path.lexists(tmp):
            os.unlink(tmp)
    return not os.path.lexists(tmp)


def make_folder_for(path: Path) -> None:
    """The folder ``path`` goes in, made where missing; a file in its way (the output folder
    replaced by a file mid-batch) or an unwritable parent is one line naming ``path``."""
    check_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, path) from None


#: errors of os.link on a file system without hard links (FAT, exFAT, some network shares;
#: EINVAL: a FUSE or CIFS mount refusing the call). Each falls back to a rename that refuses
#: an existing target (``_place_new``), never to one that replaces it.
_NO_LINKS = {errno.EPERM, errno.ENOSYS, errno.EXDEV, errno.EMLINK, errno.EINVAL,
             getattr(errno, "ENOTSUP", errno.EPERM), getattr(errno, "EOPNOTSUPP", errno.EPERM)}


def _rename_no_replace(tmp: Path, path: Path) -> bool:
    """Linux's renameat2(RENAME_NOREPLACE): a rename that fails if ``path`` exists, for a
    folder (a .zarr) or where hard links are not had. False where the system or the file
    system lacks it (nothing done)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        call = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library before glibc 2.28
        return False
    call.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    here = -100  # AT_FDCWD
    if call(here, os.fsencode(tmp), here, os.fsencode(path), 1) == 0:  # 1: RENAME_NOREPLACE
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS) or code in _NO_LINKS - {errno.EPERM}:
        return False
    raise OSError(code, os.strerror(code), str(tmp))


def _place_new(tmp: Path, path: Path) -> None:
    """``tmp`` onto ``path`` only where nothing is there, atomically where the system can."""
    if os.name == "nt":
        # a rename refuses an existing ``path`` there, atomically, on every file system; a
        # link failed with EINVAL on FAT32, exFAT and SMB shares, and no output was saved
        os.rename(tmp, path)
        return
    if not tmp.is_dir():
        try:
            os.link(tmp, path)  # fails if ``path`` exists, as a rename would not
        except (AttributeError, NotImplementedError):
            pass
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
        else:
            with contextlib.suppress(OSError):  # the caller removes it if it is still there
                os.unlink(tmp)
            return
    if not _rename_no_replace(tmp, path):
        # no atomic way left: checked just before; rename refuses a folder with files anyway
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
        os.rename(tmp, path)


def move_into_place(tmp: Path, path: Path, overwrite: bool = True) -> None:
    """Rename the finished ``tmp`` (a file, or a .zarr folder) onto ``path`` in the same
    folder. ``overwrite``: what is there is replaced (a folder removed first), unless it is a
    file this user may not write (``not_yours``: kept, refused); else an output that appeared
    meanwhile is left as it is and ``OutputExistsError`` raised. Other failures
    are one line naming ``path`` (``write_error``); ``tmp`` is the caller's to remove."""
    tmp, path = Path(tmp), Path(path)
    try:
        if not overwrite:
            _place_new(tmp, path)
            return
        if path.is_file() and (why := not_yours(path)) is not None:
            # a rename in a group-writable folder replaced another user's file all the same
            raise _fail(PermissionError, errno.EACCES, path, why)
        if tmp.is_dir() and os.path.lexists(path) and not path.is_dir():
            # os.replace's 'Not a directory' read as a folder removed while it was written
            raise _fail(NotADirectoryError, errno.ENOTDIR, path, "it is a file, and this "
                        "output is a folder (a .zarr); give another name, or remove the file "
                        "(nothing was written)")
        if tmp.is_dir() and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except OSError as exc:
        if not overwrite and os.path.lexists(path) and os.path.lexists(tmp):
            raise appeared_error(path) from None
        raise write_error(exc, path) from None


def write_atomically(path: str | os.PathLike, write: Callable[[Path], object], *,
                     overwrite: bool = True) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``; on any failure remove what was made
    and leave ``path`` as it was (module docstring). ``overwrite=False``: the caller refused
    an existing output when its run began (``io_write.check_output_path``); one there now, or
    appearing while ``write`` runs, was written since (``OutputExistsError``), and is kept."""
    path = Path(path)
    check_target(path)
    if not overwrite and os.path.lexists(path):  # not worth writing: the rename would refuse
        raise appeared_error(path)
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
        move_into_place(tmp, path, overwrite)
    except BaseException as exc:
        if tmp is not None:
            discard(tmp)
        for folder in made:  # only folders this call made, and only if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(exc, OSError):
            raise write_error(exc, path) from None
        raise
