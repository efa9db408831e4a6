"""Temporary outputs (``.<name>.<host>.<pid>.partial``) that a killed run left behind.

An output is written under a hidden temporary name and renamed into place on success
(:mod:`.io`); a run killed outright (SIGKILL, power loss) cannot remove its own, so the next
run writing the same output removes those whose process is gone. A process id only means
something on its own machine, so the name carries the host: one written on another host
(a cluster's worker on a shared folder), one whose process still runs (another run writing the
same name now), or one whose process cannot be told, is kept. A name without a host
(``.<name>.<pid>.partial``, written by versions before the host was named) is judged as
before, as this machine's.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path


def host_tag() -> str:
    """This machine's name as it appears in a temporary name (letters, digits, - and _)."""
    return re.sub(r"[^A-Za-z0-9-]", "_", socket.gethostname()) or "_"


def temporary_name(path: Path) -> Path:
    """The hidden name ``path`` is written under by this process until it is complete."""
    return path.with_name(f".{path.name}.{host_tag()}.{os.getpid()}.partial")


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
    target = Path(output)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(?:([A-Za-z0-9_-]+)\.)?(\d+)\.partial")
    host = host_tag()
    removed = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:  # an output folder that does not exist (or cannot be listed) has none
        return removed
    for path in entries:
        found = pattern.fullmatch(path.name)
        if (not found or found.group(1) not in (None, host) or path.is_symlink()
                or not process_is_gone(int(found.group(2)))):
            continue
        try:
            if path.is_dir():  # a Zarr store
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:  # another run removed it first
            pass
        except OSError:  # not ours to remove after all (permissions): left, the run goes on
            continue
        removed.append(path)
    return removed


def fresh_temporary_name(path: str | os.PathLike) -> Path:
    """``temporary_name(path)``, after removing what killed runs left for ``path``."""
    path = Path(path)
    remove_stale_partials(path)
    return temporary_name(path)
