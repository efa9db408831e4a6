"""Temporary outputs (``.<name>.<host>.<pid>.partial``) that a killed run left behind.

An output is written under a hidden temporary name and renamed into place on success
(:mod:`.io_write`); a run killed outright (SIGKILL, power loss) cannot remove its own, so the next
run writing the same output removes those whose process is gone. A process id only means
something on its own machine, so the name carries the host: one written on another host
(a cluster's worker on a shared folder), one whose process still runs (another run writing the
same name now), or one whose process cannot be told, is kept. A name without a host
(``.<name>.<pid>.partial``, written by versions before the host was named) is judged as
before, as this machine's.

A name that would pass the file system's limit on a name's length (an output name of 237 to 255
bytes) is written shortened, ``.<start of name>~<hash of name>.<host>.<pid>.partial``
(``temporary_name``); the sweep reads it as the output whose name starts so and has that hash.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import re
import shutil
import socket
from pathlib import Path


def host_tag() -> str:
    """This machine's name as it appears in a temporary name (letters, digits, - and _)."""
    return re.sub(r"[^A-Za-z0-9-]", "_", socket.gethostname()) or "_"


def name_max(folder: str | os.PathLike) -> int:
    """The longest file name ``folder``'s file system takes, in bytes (255 where unknown)."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (AttributeError, OSError, ValueError):  # Windows, a folder not there yet
        return 255


def name_digest(name: str) -> str:
    """The hash a shortened temporary name carries of the output name it stands for."""
    return hashlib.sha256(os.fsencode(name)).hexdigest()[:16]


def temporary_name(path: Path) -> Path:
    """The hidden name ``path`` is written under by this process until it is complete; where
    the full one would pass the file system's limit, its start and a hash of ``path.name`` (an
    output name of 240 characters failed with 'File name too long' on its temporary name)."""
    tail = f".{host_tag()}.{os.getpid()}.partial"
    full = f".{path.name}{tail}"
    limit = name_max(path.parent)
    if len(os.fsencode(full)) <= limit:
        return path.with_name(full)
    tail = f"~{name_digest(path.name)}{tail}"
    stem = path.name
    while stem and len(os.fsencode(f".{stem}{tail}")) > limit:
        stem = stem[:-1]
    return path.with_name(f".{stem}{tail}")


def process_is_gone(pid: int) -> bool:
    """True only when no process ``pid`` runs on this machine; False when unsure."""
    try:
        import psutil
    except ImportError:
        psutil = None
    try:
        if psutil is not None:
            return not psutil.pid_exists(pid)
        if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows
            return False
        os.kill(pid, 0)  # signal 0: nothing sent, only whether the process exists
    except ProcessLookupError:
        return True
    except (OSError, OverflowError, ValueError):  # PermissionError: it runs as another user
        return False
    return False


def remove_stale_partials(output: str | os.PathLike) -> list[Path]:
    """Remove the temporary outputs of ``output`` written on this host whose writing process
    is gone; the paths removed. Only names of exactly this output's pattern are touched, never
    a link."""
    return remove_stale_partials_of([output])


def remove_stale_partials_of(outputs) -> list[Path]:
    """``remove_stale_partials`` for each path of ``outputs``, listing each folder once (a
    listing per output made a batch into a folder of N outputs cost N listings of it)."""
    return remove_if_stale(partials_of(outputs))


def partials_of(outputs) -> dict[Path, set[str]]:
    """The temporaries in the folders of ``outputs`` named for one of them, written on any host
    by any process, each with the names of ``outputs`` it reads as; one listing per folder.
    Whether one is stale only its own host can tell (``remove_if_stale`` there): a cluster
    lists a folder once and has each worker judge what was found, not list it again."""
    names_by_folder: dict[Path, set[str]] = {}
    for output in outputs:
        target = Path(output)
        names_by_folder.setdefault(target.parent, set()).add(target.name)
    found = {}
    for folder, names in names_by_folder.items():
        try:
            entries = list(folder.iterdir())
        except OSError:  # an output folder that does not exist (or cannot be listed) has none
            continue
        for path in entries:
            readings = _output_names(path, names)
            if readings:
                found[path] = readings
    return found


def remove_if_stale(found: dict[Path, set[str]]) -> list[Path]:
    """Of temporaries ``partials_of`` found (path: output names it reads as), remove those
    written on this host by a process that is gone; the paths removed. Lists no folder."""
    return [path for path, names in found.items() if _is_stale(path, names) and _removed(path)]


#: a temporary name ``.<name>.<host>.<pid>.partial`` or ``.<name>.<pid>.partial``, read both
#: ways (a name may end in what looks like a host: 'a.tif' + '.123.partial')
_SPLITS = (re.compile(r"\.(.+)\.([A-Za-z0-9_-]+)\.(\d+)\.partial", re.DOTALL),
           re.compile(r"\.(.+)\.()(\d+)\.partial", re.DOTALL))  # a name may hold a newline
#: the name part of a shortened temporary name: the output name's start, ~, its hash
_SHORTENED = re.compile(r"(.*)~([0-9a-f]{16})", re.DOTALL)


def _reads_as(stem: str, names: set[str]) -> set[str]:
    """Which of ``names`` the name part ``stem`` of a temporary name stands for: itself, or the
    one a shortened name starts and hashes as (``temporary_name``)."""
    found = {stem} & names
    short = _SHORTENED.fullmatch(stem)
    if short:
        found |= {n for n in names
                  if n.startswith(short.group(1)) and name_digest(n) == short.group(2)}
    return found


def _output_names(path: Path, names: set[str]) -> set[str]:
    """Which of ``names`` a temporary name ``path`` reads as (none for any other name)."""
    if not path.name.endswith(".partial"):
        return set()
    return {name for split in _SPLITS if (found := split.fullmatch(path.name))
            for name in _reads_as(found.group(1), names)}


def _is_stale(path: Path, names: set[str]) -> bool:
    """Whether ``path`` is a temporary of one of ``names`` written on this host by a process
    that is gone (what the per-output prefix test gave: every reading of the name is tried)."""
    if not path.name.endswith(".partial") or path.is_symlink():
        return False
    host = host_tag()
    for split in _SPLITS:
        found = split.fullmatch(path.name)
        # no host: written before the host was named, judged as this machine's
        if (found and _reads_as(found.group(1), names) and found.group(2) in ("", host)
                and process_is_gone(int(found.group(3)))):
            return True
    return False


def _removed(path: Path) -> bool:
    """Remove ``path`` (a file, or a Zarr store's folder); False where it is not ours to remove
    after all (permissions): left, the run goes on."""
    try:
        if path.is_dir():  # a Zarr store
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:  # another run removed it first
        pass
    except OSError:
        return False
    return True


#: outputs whose killed temporaries were removed up front (``swept_once``), by folder
_SWEPT: contextvars.ContextVar[dict | None] = contextvars.ContextVar("microdeblur_swept",
                                                                    default=None)


@contextlib.contextmanager
def swept_once(outputs):
    """Remove the killed runs' temporaries of ``outputs`` (a batch's output paths) once, here;
    within the block, writing one of them does not list its folder again (any other output
    still does). Listing a folder of N outputs before each write made a batch quadratic: 17 ms
    per output at 20 000 (benchmarks/results/output_folder_scan.json)."""
    outputs = [Path(o) for o in outputs]
    remove_stale_partials_of(outputs)
    with already_swept(outputs):
        yield


@contextlib.contextmanager
def already_swept(outputs):
    """Within the block, writing one of ``outputs`` does not list its folder for what killed
    runs left: the caller removed that (``swept_once``; on a cluster, ``core.cluster`` before
    and after the run), and listing it per output is what made a run quadratic."""
    outputs = [Path(o) for o in outputs]
    swept = {folder: set(names) for folder, names in (_SWEPT.get() or {}).items()}
    resolved = {folder: folder.resolve() for folder in {o.parent for o in outputs}}
    for output in outputs:
        swept.setdefault(resolved[output.parent], set()).add(output.name)
    token = _SWEPT.set(swept)
    try:
        yield
    finally:
        _SWEPT.reset(token)


def fresh_temporary_name(path: str | os.PathLike) -> Path:
    """``temporary_name(path)``, after removing what killed runs left for ``path``."""
    path = Path(path)
    swept = _SWEPT.get() or {}
    if path.name not in swept.get(path.parent.resolve(), ()):  # else removed up front
        remove_stale_partials(path)
    return temporary_name(path)
