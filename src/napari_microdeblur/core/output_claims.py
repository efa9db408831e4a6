"""Claims on the outputs a batch is about to compute, so that two runs into one folder share
the work instead of each computing every file.

A run claims an output before it reads the input (``claim_output``): a hidden file
``.NAME.claim`` beside it (``claim_name``), made only where there is none (O_CREAT|O_EXCL: of
two runs, one gets it), holding this host, process id and the time. A run that finds another
live run's claim (``OutputClaimed``) skips that file, this process's own too (another thread
of it writes the file); the claim is removed when the file ends, done, failed or
interrupted (``OutputClaim.release``, from a ``finally``). Without claims the hidden temporary
output (``core.partials``) appeared only once writing began, after the compute, and the loser
of each race discarded a finished result.

A claim whose run is gone is taken over, judged as the temporary outputs are
(``partials.process_is_gone``: this host, its process not running, or a process started after
the claim, its id reused). One from another host (a run on another machine writing to a shared
folder) cannot be judged so: it counts as live for ``ELSEWHERE_S`` after it was made, then is
taken over; the skip line names it, to remove sooner. A claim only spares work: a run that
computes an output anyway (a contested claim, a folder that takes none) still never replaces
one another run wrote (``atomic_write``'s no-replace rename).

The leading dot hides a claim from the input scans (``core.input_files``, the watch's), its
suffix is no image's, and the sweep of killed temporaries reads only ``.partial`` names.

The failed files' list beside the folder (``cluster.write_failures``) is shared the same way: a
run replaces only the rows of the inputs it touched (``untouched_rows``); a batch of other
inputs into the folder had deleted an earlier batch's list.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from .atomic_write import OutputExistsError
from .partials import host_tag, name_digest, name_max, process_is_gone
from .shown import shown_path

__all__ = ["ELSEWHERE_S", "FAILURES_HEADER", "RACED", "OutputClaim", "OutputClaimed",
           "claim_name", "claim_output", "failure_row", "untouched_rows"]

#: seconds a claim made on another host counts as live (its process cannot be asked): a day,
#: longer than one file takes
ELSEWHERE_S = 24 * 3600.0
#: seconds after which a claim holding no host and pid (its run killed between making and
#: filling it) counts as a dead run's
UNFILLED_S = 10.0
#: the end of a claim's name
SUFFIX = ".claim"
#: how a batch says an output another run wrote while this one ran (``skip_words``)
RACED = "written by another run while this one ran; kept, skipped"
#: the first line of a failures list (``cluster.write_failures``)
FAILURES_HEADER = "input\toutput\terror"


def claim_name(target: str | os.PathLike) -> Path:
    """The hidden claim file of output ``target``: ``.NAME.claim`` beside it; where that would
    pass the file system's limit on a name, the start of the name and its hash, as a long
    output's temporary name is shortened (``partials.temporary_name``)."""
    target = Path(target)
    full = f".{target.name}{SUFFIX}"
    limit = name_max(target.parent)
    if len(os.fsencode(full)) <= limit:
        return target.with_name(full)
    tail, stem = f"~{name_digest(target.name)}{SUFFIX}", target.name
    while stem and len(os.fsencode(f".{stem}{tail}")) > limit:
        stem = stem[:-1]
    return target.with_name(f".{stem}{tail}")


@dataclass(frozen=True)
class Holder:
    """The live run that holds a claim: its host, process id and when it claimed it."""

    host: str
    pid: int
    since: str
    path: Path  # the claim file

    def words(self) -> str:
        """'another run (pid N)', or a run on another host, with how to free its claim."""
        if not self.host:  # its claim being filled now
            return "another run"
        if self.host == host_tag():
            return f"another run (pid {self.pid})"
        return (f"a run on {self.host} (pid {self.pid}, since {self.since}; if it is over, "
                f"remove {shown_path(self.path)})")


class OutputClaimed(OutputExistsError):
    """An output claimed by another live run (``holder``), or written meanwhile (None): skipped
    as an output that exists is; ``skip_words`` say so."""

    def __init__(self, target, holder: Holder | None):
        self.holder = holder
        self.skip_words = (RACED if holder is None
                           else f"being written by {holder.words()}; skipped")
        why = ("was written by another run while this one ran" if holder is None
               else f"is being written by {holder.words()}")
        super().__init__(f"output {shown_path(target)} {why}", target, appeared=True)


def skip_words(error: OutputExistsError) -> str:
    """How a batch says it skipped an output because of ``error`` (``OutputClaimed``'s, or one
    that appeared while this run wrote it)."""
    return getattr(error, "skip_words", RACED)


@dataclass
class OutputClaim:
    """This run's claim on an output (``claim_output``): ``text`` what it wrote into it (None:
    no claim could be made, the file is computed unclaimed)."""

    path: Path
    text: bytes | None = None

    def release(self) -> None:
        """Remove the claim where it is still this run's (another run may have taken it over
        as another host's past ``ELSEWHERE_S``)."""
        if self.text is not None and _read(self.path) == self.text:
            with contextlib.suppress(OSError):
                self.path.unlink()
        self.text = None


def claim_output(target: str | os.PathLike, *, replacing: bool = False) -> OutputClaim:
    """Claim output ``target``, which is not there yet, for this process (module docstring); a
    dead run's claim is taken over. ``OutputClaimed`` where another live run holds it, or the
    output exists (written since the caller looked; ``replacing``: not checked, a watch redoing
    a changed file replaces its own). A folder that takes no claim (read-only, missing) makes
    none: the write says why."""
    claim = _claimed(target)
    if not replacing and os.path.exists(target):  # the claim of a run that has just ended
        claim.release()
        raise OutputClaimed(target, None)
    return claim


def _claimed(target) -> OutputClaim:
    path = claim_name(target)
    # UTC: a local %z can be a zone name with spaces (Windows), which the reading splits on
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    text = f"{host_tag()} {os.getpid()} {when}\n".encode()
    for _ in range(5):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raw = _read(path)
            if raw is None:  # released meanwhile: try again
                continue
            holder = _live_holder(path, raw)
            if holder is not None:
                raise OutputClaimed(target, holder) from None
            _take_over(path, raw)
            continue
        except OSError:  # no claim can be made here; writing the output says why
            return OutputClaim(path)
        try:
            os.write(fd, text)
        finally:
            os.close(fd)
        return OutputClaim(path, text=text)
    return OutputClaim(path)  # contested by other runs taking it now: computed unclaimed


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:  # FileNotFoundError: released
        return None


def _age(path: Path) -> float | None:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return None


def _live_holder(path: Path, raw: bytes) -> Holder | None:
    """The run holding the claim ``path`` (read as ``raw``) that may still run (this process
    too: another of its threads); None where it is a dead run's."""
    age = _age(path)
    if age is None:  # released meanwhile
        return None
    try:
        host, pid, since = raw.decode("utf-8").split()
        pid = int(pid)
    except ValueError:  # being filled now, or its run killed before it filled it
        return Holder("", 0, "", path) if age < UNFILLED_S else None
    if host != host_tag():
        return Holder(host, pid, since, path) if age < ELSEWHERE_S else None
    if process_is_gone(pid) or _started_since(pid, age):
        return None
    return Holder(host, pid, since, path)


def _started_since(pid: int, age: float) -> bool:
    """Whether process ``pid`` started after a claim made ``age`` seconds ago: its id reused by
    another process after the claiming one was killed. False where it cannot be told."""
    try:
        import psutil

        return psutil.Process(pid).create_time() > time.time() - age + 1.0
    except Exception:  # noqa: BLE001 - no psutil, gone, denied: not told
        return False


def _take_over(path: Path, seen: bytes) -> None:
    """Remove ``path``, a dead run's claim read as ``seen``: moved aside, then removed where it
    is still that one; a claim another run made meanwhile (it took the dead one over first) is
    put back."""
    aside = path.with_name(f".{name_digest(path.name)}.{host_tag()}.{os.getpid()}.stale-claim")
    try:
        os.replace(path, aside)
    except OSError:  # another run removed it first
        return
    try:
        if _read(aside) != seen:  # another run's fresh claim: back in place
            with contextlib.suppress(OSError):
                os.link(aside, path)
    finally:
        with contextlib.suppress(OSError):
            aside.unlink()


def failure_row(*fields) -> str:
    """One row of a failures list: ``fields`` tab-separated, a tab or line break inside one
    (which would break its row) made a space."""
    return "\t".join(re.sub(r"[\t\r\n]", " ", str(field)) for field in fields)


def untouched_rows(path: str | os.PathLike, records) -> list[str]:
    """The rows of the failures list ``path`` that an earlier run left whose input this run's
    ``records`` did not touch and that is still there (its failure still stands). Touched: done,
    failed, or skipped as its output exists; one skipped with no output there (a run that holds
    its claim is still writing it) is that run's to list. [] where there is no list, or one
    this cannot read (replaced then, as before)."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
            lines = f.read().split("\n")
    except (OSError, UnicodeError):
        return []
    rows = {_key(line.split("\t")[0]): line for line in lines[1:] if line.count("\t") == 2}
    if lines[0] != FAILURES_HEADER or not rows:
        return []
    for record in records:  # the rows' inputs only are stat'ed: a batch may hold millions
        key = _key(failure_row(record["input"]))
        if key in rows and (record.get("status") != "skipped"
                            or os.path.lexists(record["output"])):
            del rows[key]
    return [line for line in rows.values() if os.path.lexists(line.split("\t")[0])]


def _key(path: str) -> str:
    """A path as rows and records are matched: absolute, in the system's case rule."""
    return os.path.normcase(os.path.abspath(path))
