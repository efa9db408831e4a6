"""Claim files: a small file made only where there is none (O_CREAT|O_EXCL: of two runs, one
gets it), holding the claiming run's host, process id and time (UTC), so that two runs do not
work on one thing at once. Shared by the claims on a batch's outputs (``output_claims``,
``.NAME.claim``) and on a training run's checkpoint folder (``run_paths``,
``.microdeblur-run.owner``), which had drifted apart (one had no check of a reused process id,
the other no way to put back a claim on a file system without hard links).

Whether the run of a claim still runs (``live_owner``): on this host its process is asked
(``process_state``); one that started after the claim was made holds the dead run's id, reused
(after a reboot, or the ids wrapped round). When a process started is told by psutil where it
is installed, else on Linux by ``/proc/<pid>/stat``; the claim's time is the one written in it
(this host's clock: a network share's own clock, which dates the file, can be seconds behind,
and a live run's claim had been taken over), or its file's, where that is later. Where it
cannot be told (no psutil, not Linux), a claim counts as live for a given age only.

A claim that is there but cannot be read is another user's (one made by a release before
claims were made readable to all, under a umask such as 077): it had passed for one released
meanwhile, taken again five times, and the output computed unclaimed, twice. Its process
cannot be asked (``unreadable_owner``): like another host's, it counts as live for a given
age after it was last modified, then is taken over where the folder lets this user remove it.
"""

from __future__ import annotations

import calendar
import contextlib
import functools
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .partials import host_tag, name_digest, process_is_gone

#: how the claim's time is written: UTC (a local %z can be a zone's name with spaces, as on
#: Windows, which the reading splits on)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: seconds after which a claim holding no host and pid (its run killed between making and
#: filling it) counts as a dead run's
UNFILLED_S = 10.0
#: seconds a process may seem to have started after its own claim: the claim's time is
#: written in whole seconds, and Linux's boot time too
STARTED_SLACK_S = 2.0
#: how a claim file is made: readable by the other runs that judge it, whatever the umask
#: (it holds a host name, a process id and a time, nothing of the user's data)
MODE = 0o644
#: what ``take`` says: the claim made now, or one this run held already kept
MADE, KEPT = "made", "kept"


@dataclass(frozen=True)
class Owner:
    """The run holding a claim: its host, process id, when it claimed (as written) and the
    claim file; ``undecided``: whether its process runs could not be told (counted live by
    its age). ``host`` empty: a claim being filled now, or one that cannot be read (``user``:
    then the name of the user it belongs to, ``since`` when its file was last modified)."""

    host: str
    pid: int
    since: str
    path: Path
    undecided: bool = False
    user: str = ""


def owner_text() -> bytes:
    """What this process writes into a claim: host, process id and the time, one line."""
    return f"{host_tag()} {os.getpid()} {time.strftime(TIME_FORMAT, time.gmtime())}\n".encode()


def parse(raw: bytes | None) -> tuple[str, int, str] | None:
    """(host, pid, time as written) of a claim's bytes; None where they hold none (being
    filled, or its run killed before it filled it)."""
    try:
        host, pid, since = (raw or b"").decode("utf-8").split()
        return host, int(pid), since
    except ValueError:  # UnicodeDecodeError too
        return None


def same_claim(raw: bytes | None, text: bytes) -> bool:
    """Whether a claim's bytes ``raw`` (as read back) are the claim ``text`` this run wrote,
    its line end aside: an earlier release made claims on Windows in text mode ('\r\n')."""
    return raw is not None and raw.rstrip(b"\r\n") == text.rstrip(b"\r\n")


def read(path: Path) -> bytes | None:
    """A claim's bytes; None where there is none (released meanwhile) or it cannot be read."""
    try:
        return path.read_bytes()
    except OSError:
        return None


@functools.lru_cache(maxsize=256)
def user_name(uid: int) -> str:
    """The name of the user ``uid`` (its number where it has none here, as on a share); kept:
    a uid with no name took 72 us to look up, 0.7 s over a rerun of 10,000 of its outputs."""
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):  # Windows; a uid this host has no name for
        return f"uid {uid}"


def unreadable_owner(path: Path, *, live_for: float | None) -> Owner | None:
    """The run holding the claim ``path`` that is there but cannot be read (another user's):
    its process cannot be asked, so, as another host's, it counts as live for ``live_for``
    seconds after its file was last modified (None: always); None once older, or gone."""
    try:
        found = path.stat()
    except OSError:
        return None
    if live_for is not None and time.time() - found.st_mtime >= live_for:
        return None
    since = time.strftime(TIME_FORMAT, time.gmtime(found.st_mtime))
    return Owner("", 0, since, path, user=user_name(found.st_uid))


def parse_time(since: str) -> float | None:
    """The time a claim says it was made (``TIME_FORMAT``, or an offset such as +0000), as
    seconds since the epoch; None where it says none."""
    with contextlib.suppress(ValueError, OverflowError):
        return float(calendar.timegm(time.strptime(since, TIME_FORMAT)))
    with contextlib.suppress(ValueError, OverflowError):
        return datetime.strptime(since, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    return None


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def live_owner(path: Path, raw: bytes, *, other_host_for: float | None, own_pid_is_live: bool,
               undecided_for: float | None) -> Owner | None:
    """The run holding the claim ``path`` (read as ``raw``) that may still run; None where it
    is a dead run's (or this process's, unless ``own_pid_is_live``: another thread of it).
    ``other_host_for``: seconds a claim made on another host (whose process cannot be asked)
    counts as live, by its file's age (None: always); ``undecided_for``: the same for one of
    this host whose process cannot be judged."""
    made = _mtime(path)
    if made is None:  # released meanwhile
        return None
    now = time.time()
    found = parse(raw)
    if found is None:  # being filled now, or its run killed before it filled it
        return Owner("", 0, "", path) if now - made < UNFILLED_S else None
    owner = Owner(*found, path)
    if owner.host != host_tag():
        live = other_host_for is None or now - made < other_host_for
        return owner if live else None
    if owner.pid == os.getpid() and not own_pid_is_live:
        return None
    runs, started = process_state(owner.pid)
    if runs is False:
        return None
    claimed = claim_time(owner.since, made, now)
    if runs and started is not None:  # a process started after the claim: its id reused
        return None if started > claimed + STARTED_SLACK_S else owner
    if undecided_for is not None and now - claimed >= undecided_for:
        return None
    return Owner(*found, path, undecided=True)


def claim_time(since: str, made: float, now: float) -> float:
    """When a claim was made, to judge its process by: the time written in it (this host's
    clock), or its file's time where that is later (a claim's own time in the future, written
    before this host's clock was set back, is not believed)."""
    written = parse_time(since)
    if written is None or written > now + STARTED_SLACK_S:
        return made
    return max(written, made)


def process_state(pid: int) -> tuple[bool | None, float | None]:
    """(whether process ``pid`` runs on this machine, None where that cannot be told; when it
    started, seconds since the epoch, None where that cannot be told)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            return True, psutil.Process(pid).create_time()
        except psutil.NoSuchProcess:
            return False, None
        except Exception:  # noqa: BLE001 - denied, a pid psutil refuses: asked below
            pass
    if process_is_gone(pid):
        return False, None
    if os.name != "posix":  # Windows without psutil: whether it runs cannot be told
        return None, None
    return True, proc_started(pid)


def proc_started(pid: int) -> float | None:
    """When process ``pid`` started, from Linux's /proc (field 22 of /proc/PID/stat: clock
    ticks since boot; the boot time from /proc/stat): psutil is no dependency of a plain
    install. None elsewhere, or where it cannot be read."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            stat = f.read()
        with open("/proc/stat", "rb") as f:
            boot = next(line for line in f if line.startswith(b"btime "))
        # the name (field 2) may hold spaces and ')': the fields after its last ')' from 3 on
        ticks = int(stat[stat.rindex(b")") + 2:].split()[19])
        return int(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def take(path: Path, text: bytes, judge, *, tries: int = 5, unreadable=None) -> str | None:
    """Make the claim ``path`` holding ``text`` where there is none. Where one is there,
    ``judge(raw)`` is given its bytes: it raises where a live run holds it, says True where it
    is this run's already (kept), False where it is a dead run's (removed, then made again).
    ``unreadable(path)``, where given, judges one that is there but cannot be read (another
    user's) the same way; without it such a claim is tried again, as one released meanwhile.
    ``MADE`` or ``KEPT``; None where other runs took it each time; OSError where no claim can
    be made there (or a dead run's claim cannot be removed)."""
    for _ in range(tries):
        try:
            # binary: Windows' default text mode wrote '\r\n', and the claim read back was
            # no longer this run's (never removed; a watch skipped its own file after)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         MODE)
        except FileExistsError:
            seen = _read_or_stat(path)
            if seen is None:  # released meanwhile: try again
                continue
            if isinstance(seen, os.stat_result):  # another user's claim, not readable here
                if unreadable is None:
                    continue
                if unreadable(path):
                    return KEPT
            elif judge(seen):
                return KEPT
            remove_dead(path, seen)
            continue
        try:
            if hasattr(os, "fchmod"):  # the umask's 077 made it unreadable to the other runs
                with contextlib.suppress(OSError):
                    os.fchmod(fd, MODE)
            os.write(fd, text)
        finally:
            os.close(fd)
        return MADE
    return None


def _read_or_stat(path: Path) -> bytes | os.stat_result | None:
    """A claim's bytes; its ``stat`` where it is there but this user may not read it (another
    user's); None where it is gone (or cannot be read otherwise: tried again, as before). On
    Windows a claim being removed reads as denied too: gone there."""
    try:
        return path.read_bytes()
    except PermissionError:
        if os.name != "posix":
            return None
        try:
            return path.stat()
        except OSError:
            return None
    except OSError:
        return None


def _same_claim_file(path: Path, seen: bytes | os.stat_result) -> bool:
    """Whether ``path`` is still the claim judged as ``seen`` (its bytes, or its ``stat``
    where it could not be read)."""
    if isinstance(seen, bytes):
        return read(path) == seen
    try:
        now = path.stat()
    except OSError:
        return False
    return (now.st_ino, now.st_dev, now.st_mtime_ns, now.st_size) == (
        seen.st_ino, seen.st_dev, seen.st_mtime_ns, seen.st_size)


def remove_dead(path: Path, seen: bytes | os.stat_result) -> None:
    """Remove ``path``, a dead run's claim read as ``seen`` (its bytes, or its ``stat`` where
    it cannot be read): moved aside, then removed where it is still that one; a claim another
    run made meanwhile (it took the dead one over first) is put back. OSError where it cannot
    be moved (no right to: a sticky folder keeps another user's)."""
    aside = path.with_name(f".{name_digest(path.name)}.{host_tag()}.{os.getpid()}.stale-claim")
    try:
        os.replace(path, aside)
    except FileNotFoundError:  # another run removed it first
        return
    try:
        if not _same_claim_file(aside, seen):  # another run's fresh claim: back in place
            _put_back(aside, path)
    finally:
        with contextlib.suppress(OSError):
            aside.unlink()


def _put_back(aside: Path, path: Path) -> None:
    """Put the claim moved to ``aside`` back at ``path``, unless a third run claimed it."""
    try:
        os.link(aside, path)
    except FileExistsError:  # a third run's claim since: that one stands
        pass
    except OSError:  # no hard links on this file system (FAT, some SMB shares): moved back
        if not os.path.lexists(path):
            with contextlib.suppress(OSError):
                os.replace(aside, path)
