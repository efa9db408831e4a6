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

A claim whose run is gone is taken over (``claims.live_owner``: this host, its process not
running, or a process started after the claim, its id reused). One from another host (a run on
another machine writing to a shared folder) cannot be judged so: it counts as live for
``ELSEWHERE_S`` after it was made, then is taken over; so does one of this host whose process
cannot be judged (``UNDECIDED_S``: Windows without psutil), and one this user cannot read
(another user's run, made under a umask such as 077 by an earlier release: it had passed for
one released meanwhile, and each output was computed twice, the second result discarded). The
skip line names the claim, to remove sooner where that run is over. A claim only spares work:
a run that computes an output anyway (a contested claim, a folder that takes none) still never
replaces one another run wrote (``atomic_write``'s no-replace rename).

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
from dataclasses import dataclass
from pathlib import Path

from . import claims
from .atomic_write import OutputExistsError
from .claims import Owner
from .partials import host_tag, name_digest, name_max
from .shown import shown_path

__all__ = ["ELSEWHERE_S", "FAILURES_HEADER", "RACED", "OutputClaim", "OutputClaimed",
           "claim_name", "claim_output", "failure_row", "untouched_rows"]

#: seconds a claim made on another host counts as live (its process cannot be asked): a day,
#: longer than one file takes
ELSEWHERE_S = 24 * 3600.0
#: seconds a claim made on this host counts as live where whether its process runs cannot be
#: told (Windows without psutil; a process id whose start cannot be read): as another host's
UNDECIDED_S = ELSEWHERE_S
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


#: the run holding a claim (``claims.Owner``): its host, process id, when it claimed, the file
Holder = Owner


def holder_words(holder: Owner) -> str:
    """'another run (pid N)', or a run on another host, with how to free its claim."""
    if holder.user:  # its claim unreadable: its host and process unknown
        return (f"another user's run (its claim is unreadable: made by {holder.user} at "
                f"{holder.since}; if that run is over, remove {shown_path(holder.path)}, or ask "
                f"{holder.user} to)")
    if not holder.host:  # its claim being filled now
        return "another run"
    if holder.host == host_tag():
        return f"another run (pid {holder.pid})"
    return (f"a run on {holder.host} (pid {holder.pid}, since {holder.since}; if it is over, "
            f"remove {shown_path(holder.path)})")


class OutputClaimed(OutputExistsError):
    """An output claimed by another live run (``holder``), or written meanwhile (None): skipped
    as an output that exists is; ``skip_words`` say so, naming the claim to remove if that run
    is over (a killed run's whose end cannot be told, or whose process id another process
    holds now, had been said 'pid N' alone, and its file skipped by every run after)."""

    def __init__(self, target, holder: Owner | None):
        self.holder = holder
        if holder is None:
            self.skip_words = RACED
        elif holder.user or holder.host and holder.host != host_tag():  # they name the claim
            self.skip_words = f"being written by {holder_words(holder)}; skipped"
        else:
            self.skip_words = (f"being written by {holder_words(holder)}; skipped (if that run "
                               f"is over, remove {shown_path(holder.path)})")
        why = ("was written by another run while this one ran" if holder is None
               else f"is being written by {holder_words(holder)}")
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
        if self.text is not None and claims.same_claim(claims.read(self.path), self.text):
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
    path, text = claim_name(target), claims.owner_text()

    def dead(raw: bytes) -> bool:
        holder = claims.live_owner(path, raw, other_host_for=ELSEWHERE_S, own_pid_is_live=True,
                                   undecided_for=UNDECIDED_S)
        if holder is not None:
            raise OutputClaimed(target, holder)
        return False

    def unreadable(found: Path) -> bool:
        holder = claims.unreadable_owner(found, live_for=ELSEWHERE_S)
        if holder is not None:
            raise OutputClaimed(target, holder)
        return False

    try:
        made = claims.take(path, text, dead, unreadable=unreadable)
    except OutputClaimed:
        raise
    except OSError:  # no claim can be made here; writing the output says why
        return OutputClaim(path)
    # None: contested by other runs taking it now: computed unclaimed
    return OutputClaim(path, text=text if made else None)


def failure_row(*fields) -> str:
    """One row of a failures list: ``fields`` tab-separated, a tab or line break inside one
    (which would break its row) made a space."""
    return "\t".join(re.sub(r"[\t\r\n]", " ", str(field)) for field in fields)


def untouched_rows(path: str | os.PathLike, records) -> list[str]:
    """The rows of the failures list ``path`` that an earlier run left whose input this run's
    ``records`` did not touch, that is still there, and whose output was not written since
    (its failure still stands; one redone by hand or by another run does not). Touched: done,
    failed, or skipped as its output exists; one skipped with no output there (a run that holds
    its claim is still writing it) is that run's to list. A list saved with Windows line ends
    (CRLF, by an editor) is read too. [] where there is no list, or one this cannot read
    (replaced then, as before)."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
            listed = os.fstat(f.fileno()).st_mtime
            lines = [line.removesuffix("\r") for line in f.read().split("\n")]
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
    return [line for line in rows.values() if os.path.lexists(line.split("\t")[0])
            and not _redone(line.split("\t")[1], listed)]


def _redone(output: str, listed: float) -> bool:
    """Whether ``output`` was written since its failure was listed (at ``listed``): redone,
    by hand or by another run (an --overwrite run's failed file keeps its older output)."""
    try:
        return bool(output) and os.stat(output).st_mtime >= listed
    except (OSError, ValueError):  # not there; a NUL in the row
        return False


def _key(path: str) -> str:
    """A path as rows and records are matched: absolute, in the system's case rule."""
    return os.path.normcase(os.path.abspath(path))
