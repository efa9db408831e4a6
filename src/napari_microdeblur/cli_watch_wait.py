"""Files `microdeblur watch` (``cli_watch``) waits for: written less than --settle ago, TIFFs
holding fewer planes than their metadata declares (``core.tiff_complete``), files of a
multi-file OME-TIFF whose other files are not all there yet (``core.ome_datasets``: the main
file arrives first, its second file seconds later), and files that cannot be read yet and
changed recently (still being written), or that another program holds (Windows: the
acquisition software's lock, a PermissionError; read as soon as it is let go). Each is said once,
and logged 'incomplete' or 'unreadable' once unchanged for its time; a dataset's file changes
when any of its files does.

How long a file has been unchanged for --settle (``STAMP_AGES``): the age of its modification
time by this computer's clock, or, where longer, how long this process has seen its size and
modification time unchanged (``time.monotonic``). A file server or microscope whose clock is
ahead gives modification times in the future: such files waited silently forever (--once
processed nothing); they are now taken as written once unchanged for --settle seconds as this
computer counts, said once. Files already old when the watch starts are done at once, as before.

A file waited for (``Waiting``) is timed by the watch alone: from when it first saw the file and
its dataset's files as they are now (a file arriving or growing starts the wait again), never by
modification times. A copy keeps the original times (cp -p, rsync -a, Explorer): a dataset's
main file made an hour ago was logged 'incomplete' at the first scan, "unchanged for 600 s"
after 0.1 s watched, before its second file could come. A dataset's part whose main file waits
waits with it, and one whose main file was logged 'incomplete' (or failed) says so: both had
said "processed with that file" of a file never processed (``_parts_follow``)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

from .cli_watch_log import WatchState, stamp

#: a file that cannot be read while it changed less than this many --settle ago (capped by
#: --incomplete-after) is taken as still being written: a PNG or TIFF copied in chunks 4 s
#: apart (--settle 2) was logged 'unreadable' twice, then done (two wrong rows)
READ_RETRY_SETTLES = 5
#: a modification time more than this many seconds ahead of this computer's clock is said
#: (FAT keeps times to 2 s, a network share's clock may be off by a second)
AHEAD_SAID_S = 2.0
#: a file not looked at for this long is forgotten (looked at again: judged afresh)
FORGET_S = 3600.0
#: how the reasons a file of a multi-file OME-TIFF waits for its dataset's files begin
#: (here, and ``core.tiff_complete``'s for a short one)
DATASET_WHY = "its dataset's file"
#: the decision of a dataset's part that waits with the file that reads it (and its row when
#: that file is logged 'incomplete', 'failed' or 'unreadable')
PART = "dataset part"
#: Windows' errors of a file another program holds: ERROR_SHARING_VIOLATION (opened without
#: sharing), ERROR_LOCK_VIOLATION (a byte-range lock); access denied by the file's rules is
#: no lock (had waited --incomplete-after, then said to touch it)
WINDOWS_HELD = (32, 33)


class Waiting(NamedTuple):
    """A file waited for (``WatchState.waiting``: name -> this): the stamp it was judged by, why
    it waits ('' for a dataset's part complete itself), its row's decision if it waits too
    long, after how many seconds, ((each other file of its dataset, its stamp or None), ...) (a
    change of one is its change), since when (``time.monotonic``) the watch has seen it and
    them as they are, the file that reads it where it is a dataset's part (``_parts_follow``),
    and the line said of it ('incomplete', or 'with' its main file)."""

    stamp: tuple
    why: str
    decision: str
    seconds: float
    others: tuple = ()
    since: float = 0.0
    reader: Path | None = None
    said: str = ""


class StampAges:
    """How long each file has been unchanged: ``age(path, stamp)`` (module docstring). Keyed
    by the file's absolute path: what this process saw of a file holds for any watch of it."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple] = {}  # path -> (stamp, first seen, last looked at)
        self.ahead_said = False  # a clock ahead is said once per process
        self._swept = time.monotonic()

    def age(self, path: Path, now_stamp: tuple[int, int], settle: float | None = None) -> float:
        """Seconds ``path`` has been unchanged with ``now_stamp`` (size, mtime in ns): by its
        modification time, or, where longer, since this process first saw that stamp.
        ``settle``: the watch's --settle, named where the clock is found ahead."""
        wall, mono, key = time.time(), time.monotonic(), os.path.abspath(path)
        known = self.seen.get(key)
        first = known[1] if known is not None and known[0] == now_stamp else mono
        self.seen[key] = (now_stamp, first, mono)
        by_mtime = wall - now_stamp[1] / 1e9
        if settle is not None and -by_mtime > AHEAD_SAID_S and not self.ahead_said:
            self.ahead_said = True
            print(f"microdeblur: {Path(path).name}: modified {-by_mtime:.0f} s ahead of this "
                  "computer's clock (the clock of the computer or microscope that wrote it is "
                  f"ahead); files are taken as written once unchanged for --settle {settle:g} "
                  "s as this computer counts", file=sys.stderr, flush=True)
        if mono - self._swept > FORGET_S:
            self._swept = mono
            self.seen = {k: v for k, v in self.seen.items() if mono - v[2] < FORGET_S}
        return max(by_mtime, mono - first)


STAMP_AGES = StampAges()


def settled(pending: list[Path], settle: float) -> list[Path]:
    """The files of ``pending`` unchanged for ``settle`` seconds (completely written,
    ``StampAges``); one gone since the folder was listed is left out (its stat stopped the
    whole watch)."""
    stamps = [(p, stamp(p)) for p in pending]
    return [p for p, s in stamps if s is not None and STAMP_AGES.age(p, s, settle) >= settle]


def complete(ready: list[Path], state: WatchState, after: float) -> tuple[list, list]:
    """(the settled files that are complete, [(path, (why, stamp, decision))] of those waited
    for that have not changed for their time: TIFFs holding fewer planes than their metadata
    declares or whose multi-file dataset's files are not all there, unchanged for ``after``
    seconds ('incomplete'), files that could not be read yet ('unreadable', ``still_written``),
    and a dataset's parts whose main file is given up on ('dataset part', ``_parts_follow``)).
    The others wait in ``state.waiting`` (``Waiting``; looked at again only once they or their
    dataset's files change), each said once. The time is the watch's own (module docstring)."""
    waiting, done, given_up, now = state.waiting, [], [], time.monotonic()
    parts = []  # (path, its Waiting) of a dataset's parts: as the file that reads them
    for path in ready:
        name, now_stamp = state.name(path), stamp(path)
        if now_stamp is None:  # gone since it was listed
            continue
        known = waiting.get(name)
        now_others = tuple((other, stamp(other)) for other, _ in known.others) if known else ()
        if known and known.stamp == now_stamp and now_others == known.others:
            # held by another program: read as soon as it is let go, logged once its time is
            # up however the hold shows (a lock on reading, the file opened fine: read again
            # and waited for again on every poll, never logged, --once never ended)
            let_go = (known.said == "held" and now - known.since < known.seconds
                      and not _still_held(path))
            entry = None if let_go else known
        else:  # the second file of a dataset arriving is a change of its first
            entry = _judged(path, now_stamp, after, now, known)
        if entry is not None and entry.reader is not None:
            parts.append((path, entry))
        elif entry is None:
            if not known or known.decision != "unreadable":  # kept: said once, while it changes
                waiting.pop(name, None)
            done.append(path)
        else:
            _wait(path, entry, state, after, now, given_up)
    _parts_follow(parts, done, given_up, state, after, now)
    return done, given_up


def _judged(path: Path, now_stamp: tuple, after: float, now: float,
            known: Waiting | None) -> Waiting | None:
    """The ``Waiting`` of ``path`` (new, or changed since ``known``): None where it is complete
    and no dataset's part."""
    from .core.io import is_tiff
    from .core.ome_datasets import reading_file

    why, others = _waited_for(path) if is_tiff(path) else (None, ())
    reader = reading_file(path) if others else None  # only a multi-file dataset has parts
    if why is None and reader is None:
        return None
    return Waiting(now_stamp, why or "", "incomplete", after, others, now, reader,
                   known.said if known else "")


def _wait(path: Path, entry: Waiting, state: WatchState, after: float, now: float,
          given_up: list) -> None:
    """``path``, waited for as ``entry`` says: given up on (into ``given_up``) once unchanged
    for its time, else kept waiting ('incomplete' said once)."""
    name = state.name(path)
    if now - entry.since >= entry.seconds:
        state.waiting.pop(name, None)
        given_up.append((path, (entry.why, entry.stamp, entry.decision)))
        return
    if entry.decision == "incomplete":  # 'unreadable': said by still_written
        if entry.said != "incomplete":
            print(f"microdeblur: {name}: incomplete, {entry.why}; waiting for the rest "
                  f"(logged 'incomplete' if unchanged for {after:g} s: --incomplete-after)",
                  file=sys.stderr, flush=True)
        entry = entry._replace(said="incomplete")
    state.waiting[name] = entry


def _parts_follow(parts: list, done: list, given_up: list, state: WatchState, after: float,
                  now: float) -> None:
    """Each dataset's part of ``parts`` ((path, its ``Waiting``)) follows the file that reads it
    (its ``reader``): done with it; waiting while it waits (said once); logged 'dataset part',
    saying so, where it is given up on now or was logged 'incomplete', 'failed' or
    'unreadable' and has not changed since (not processed until it changes). Otherwise (that
    file done earlier, or not settled yet) the part is done, or waits on its own where it is
    incomplete itself (as any file). Parts had said "processed with that file" of a file
    logged 'incomplete', never processed."""
    done_names = {state.name(p) for p in done}
    given = {state.name(p): seen[2] for p, seen in given_up}
    for path, entry in parts:
        name, reader = state.name(path), entry.reader
        reader_name = state.name(reader)
        head = f"part of the multi-file OME-TIFF dataset read from {reader.name}"
        waits = state.waiting.get(reader_name)
        logged = given.get(reader_name) or _logged_not_done(reader_name, reader, state)
        if reader_name in done_names or (logged is None and waits is None and not entry.why):
            state.waiting.pop(name, None)
            done.append(path)
        elif waits is not None and waits.reader is None and logged is None:
            if entry.said != "with":
                print(f"microdeblur: {name}: {head}, which is waited for: waits with it "
                      "(processed with it once it is complete, logged with it if it is not)",
                      file=sys.stderr, flush=True)
            state.waiting[name] = entry._replace(said="with")
        elif logged is not None:
            state.waiting.pop(name, None)
            given_up.append((path, (f"{head}, which was logged {logged}: not processed on its "
                                    f"own, nor with {reader.name} until that file changes (touch "
                                    "it or copy it again once the dataset's files are all "
                                    "there)", entry.stamp, PART)))
        else:  # incomplete itself, the file that reads it not looked at now
            _wait(path, entry, state, after, now, given_up)


def _logged_not_done(name: str, path: Path, state: WatchState) -> str | None:
    """The decision ('incomplete', 'failed or unreadable') ``path`` was last logged with where
    it is not done and has not changed since (it is not looked at until it changes); None
    otherwise."""
    if name not in state.failed or state.failed[name] != stamp(path):
        return None
    if name in state.incomplete:
        return "incomplete"
    return state.not_done.get(name, "failed or unreadable")


def _waited_for(path: Path) -> tuple[str | None, tuple]:
    """(why the TIFF ``path`` is not complete yet, or None; ((each other file of its
    multi-file OME-TIFF dataset, its stamp or None where it is not there), ...)). A dataset's
    file missing is waited for as a file being written: its reader refuses it, and the
    watch had logged a main file arriving before its second file 'unreadable' for good."""
    from .core.ome_datasets import MISSING_NAMED, dataset_others
    from .core.tiff_complete import incomplete_reason

    why = incomplete_reason(path)
    others = tuple((other, stamp(other)) for other in dataset_others(path))
    missing = [other.name for other, seen in others if seen is None]
    if why is None and missing:
        named = ", ".join(missing[:MISSING_NAMED]) + (
            f" and {len(missing) - MISSING_NAMED} more" if len(missing) > MISSING_NAMED else "")
        why = (f"its dataset's file {named} is not in its folder yet" if len(missing) == 1
               else f"its dataset's files {named} are not in its folder yet")
    return why, others


def still_written(path: Path, when, error: BaseException, args, state: WatchState) -> bool:
    """Whether ``path``, which could not be read (``when``: its stamp), changed so recently that
    it is taken as still being written, or is held by another program (``_held``), (put in
    ``state.waiting``, said once) rather than logged 'unreadable'."""
    from .cli_words import error_words

    if when is not None and _held(path, error):
        return _wait_held(path, when, error_words(error, args), args, state)
    seconds = min(args.incomplete_after, READ_RETRY_SETTLES * args.settle)
    if when is None or STAMP_AGES.age(path, when) >= seconds:
        return False
    why, name = error_words(error, args), state.name(path)
    if name not in state.waiting:  # said once per file, however many chunks it comes in
        print(f"microdeblur: {name}: cannot be read yet ({why}); taken as still being "
              f"written: read again when it changes, logged 'unreadable' if unchanged for "
              f"{seconds:g} s ({READ_RETRY_SETTLES} x --settle)", file=sys.stderr, flush=True)
    state.waiting[name] = Waiting(when, why, "unreadable", seconds, (), time.monotonic(),
                                  said="unreadable")
    return True


def _held(path: Path, error: BaseException) -> bool:
    """Whether reading ``path`` failed as it does while another program holds the file (the
    acquisition software on Windows: a PermissionError, 'being used by another process'),
    not for want of permission to read it (said at once, as before)."""
    while error is not None and not isinstance(error, PermissionError):
        error = error.__cause__ or error.__context__
    if error is None:
        return False
    if sys.platform == "win32":  # os.access reads only the read-only attribute there
        return getattr(error, "winerror", None) in WINDOWS_HELD
    try:  # a lock is no permission: the file is readable to this user
        return os.access(path, os.R_OK)
    except (OSError, ValueError):
        return False


def _still_held(path: Path) -> bool:
    """Whether ``path``, waited for as held by another program, still cannot be opened (one
    open per poll: the lock ending ends the wait, its size and time unchanged)."""
    try:
        with open(path, "rb"):
            return False
    except PermissionError:
        return True
    except OSError:  # gone, or another error: read now, and said as it is
        return False


def _wait_held(path: Path, when: tuple, why: str, args, state: WatchState) -> bool:
    """``path``, which another program holds (``_held``), waited for as a file being written:
    read again once it is let go or changes, logged 'unreadable' (saying to touch it) once held
    for --incomplete-after as this watch counts; said once. A file locked past 5 x --settle
    had been logged 'unreadable', never retried after the lock ended (unchanged), no word of
    how to have it read."""
    name, after, now = state.name(path), args.incomplete_after, time.monotonic()
    known = state.waiting.get(name)
    held_before = known is not None and known.said == "held"
    if not held_before:
        print(f"microdeblur: {name}: locked by another program ({why}); waiting for it to let "
              f"go (logged 'unreadable' if still locked after {after:g} s: --incomplete-after)",
              file=sys.stderr, flush=True)
    logged = (f"{why}; locked by another program for {after:g} s (--incomplete-after): once "
              "it is let go, touch the file (or copy it again) to have it processed")
    since = known.since if held_before and known.stamp == when else now  # a change: anew
    state.waiting[name] = Waiting(when, logged, "unreadable", after, (), since, said="held")
    return True


def waited_row(name: str, seen: tuple, args) -> dict:
    """The row of a file waited for too long ('incomplete' or 'unreadable'), or of a dataset's
    part whose main file was ('dataset part', ``_parts_follow``); ``seen``: (why,
    the stamp it was judged by: a change since then is a change, and brings it back, the
    decision)."""
    why, when, decision = seen
    if decision == PART:  # its main file was given up on (``_parts_follow``)
        print(f"microdeblur: {name}: {why}", file=sys.stderr, flush=True)
    elif decision == "incomplete":
        # logged, it is looked at again when it changes, not when its dataset's files do
        again = ("once its dataset's files are all there, touch it or copy it again to have "
                 "it processed" if why.startswith(DATASET_WHY)
                 else "it is looked at again once it changes")
        print(f"microdeblur: {name}: incomplete, {why}, unchanged for "
              f"{args.incomplete_after:g} s: not deblurred or copied; {again} (a longer "
              "pause: raise --incomplete-after)", file=sys.stderr, flush=True)
    else:
        print(f"microdeblur: {name}: unreadable, skipped: {why}", file=sys.stderr, flush=True)
    return {"name": name, "score": "", "decision": decision, "method": "",
            "seconds": "", "size": when[0], "mtime_ns": when[1]}
