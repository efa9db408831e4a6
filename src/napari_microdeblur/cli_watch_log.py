"""The log of `microdeblur watch` (``cli_watch``): one CSV row per file, appended as each is
logged; a restarted watch continues from it. Each row keeps the file's size and mtime as they
were when it was read: a failed file is tried again, and a processed one processed again, once
they differ (a name written twice, or a plain TIFF appended to a page at a time after its first
page was processed, had been passed over for good). ``logged_utc`` says when the row was logged
(ISO 8601, UTC), so a script can measure the delay after its file was written; ``threshold``
the threshold the file was judged by, so a watch restarted with another one can say how many
logged decisions stand on the old one (``other_thresholds``). A log written before a column
existed is rewritten with it when the watch starts (an old row's threshold left empty; its stamp
the file's as it is now, unless the file was modified after the row was logged: ``upgrade_log``)."""

from __future__ import annotations

import csv
import io
import os
import sys
from collections import UserDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .cli_paths import TEXT, output_exists

WATCH_LOG = "microdeblur_watch.csv"
WATCH_COLUMNS = ("name", "score", "decision", "method", "seconds", "size", "mtime_ns",
                 "logged_utc", "threshold")
#: the columns printed per file (size and mtime_ns are for the retry, ``stamp``)
SHOWN_COLUMNS = WATCH_COLUMNS[:5]
#: the decisions tried again when the file changes (replaced by a fixed one, or finished;
#: 'incomplete': a stack whose writer resumed after --incomplete-after)
RETRIED = ("failed", "unreadable", "incomplete")
#: the decisions whose file failed: --once exits 2 when this run logged one ('incomplete'
#: too: given up on after --incomplete-after, its output is missing as a failed file's is, and
#: a script must not move on without it; a 'name clash' is a skip said at once, as 'exists')
NOT_DONE = RETRIED
#: the decisions whose file was copied to OUT_DIR under its own name ('blank': every plane
#: background noise only, copied as is; logs written before it have no such rows)
COPIED = ("copied", "blank")
#: the decisions whose output the watch wrote itself: processed again, that output replaced,
#: once the file changes ('exists' and 'name clash' wrote nothing, and are not)
WROTE = ("deblurred", *COPIED)
#: the decisions the threshold made (a 'blank' file is copied whatever it is)
JUDGED = ("deblurred", "copied")
#: every decision a row may hold: a row with another (cut off by power loss or a full disk,
#: or two rows run together) is not counted as logged (``read_log``)
#: 'dataset part': a file of a multi-file OME-TIFF whose dataset another file reads (it is
#: deblurred or copied with that one), said at once as a 'name clash' is
DECISIONS = (*WROTE, *RETRIED, "exists", "name clash", "dataset part")


def targets(name: str, out_dir: Path) -> tuple[Path, Path]:
    """(where a soft file is deblurred to, where a sharp one is copied to); ``name``: the file's
    path under the watched folder (with --recursive, a sub-folder's file goes to that
    sub-folder of ``out_dir``)."""
    from .core.files import output_name

    return output_name(Path(name), out_dir / Path(name).parent), out_dir / name


def stamp(path: Path) -> tuple[int, int] | None:
    """(size, mtime in ns) of ``path``: what says a file changed; None when it is gone."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def logged_stamp(row: dict) -> tuple[int, int] | None:
    try:
        return int(row["size"]), int(row["mtime_ns"])
    except (KeyError, TypeError, ValueError):  # a row of a log written before these columns
        return None


def case_key(path: str | os.PathLike) -> str:
    """What tells two outputs apart on every disk: Cell_deblurred.tif and cell_deblurred.tif
    are one file on macOS's and Windows' usual disks (an output folder may be on one)."""
    return os.path.normcase(os.fspath(path)).casefold()


class CaseFoldedOwners(UserDict):
    """output -> the name whose result it holds, an output looked up whatever its case
    (``case_key``): the second of two names differing only in case is a name clash. Keys are
    kept as given (the last one set)."""

    def __init__(self, *args, **kwargs) -> None:
        self._keys: dict[str, str] = {}  # case_key -> the key as given
        super().__init__(*args, **kwargs)

    def __getitem__(self, key):
        return self.data[self._keys.get(case_key(key), key)]

    def __setitem__(self, key, value) -> None:
        given = self._keys.pop(case_key(key), None)
        if given is not None:
            del self.data[given]
        self._keys[case_key(key)] = key
        self.data[key] = value

    def __delitem__(self, key) -> None:
        del self.data[self._keys.pop(case_key(key))]

    def __contains__(self, key) -> bool:
        return case_key(key) in self._keys


@dataclass
class WatchState:
    """What a watch knows of its files (a file's name: its path under ``root``, the watched
    folder): names logged, output (its path under OUT_DIR) -> the name whose result it holds
    (``CaseFoldedOwners``: an output differing only in case is the same output),
    name -> the stamp of a file last logged failed, unreadable or incomplete (``failed``) or
    deblurred, copied or blank (``processed``), name -> the output the watch wrote for it, the
    names last logged 'incomplete', those waited for (``cli_watch_wait``), this run's undone
    ones (name -> decision), name -> (the threshold, score, decision) of a file last logged
    deblurred or copied (``thresholds``; threshold '' in a row of a log from before the
    column)."""

    root: Path
    out_dir: Path
    done: set = field(default_factory=set)
    owners: CaseFoldedOwners = field(default_factory=CaseFoldedOwners)
    failed: dict = field(default_factory=dict)
    processed: dict = field(default_factory=dict)
    wrote: dict = field(default_factory=dict)
    incomplete: set = field(default_factory=set)
    waiting: dict = field(default_factory=dict)
    not_done: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    #: name -> line of its last row where that row was cut off or not understood (not counted)
    damaged: dict = field(default_factory=dict)
    #: names another live run was processing when looked at (said once; not logged)
    elsewhere: set = field(default_factory=set)

    def name(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def output(self, target: Path) -> str:
        """``owners``' and ``wrote``'s key of an output."""
        return target.relative_to(self.out_dir).as_posix()

    def record(self, row: dict) -> None:
        """What a logged row says (read back from the log, or just written)."""
        name, decision = row["name"], row["decision"]
        self.done.add(name)
        if decision == "exists" and name in self.processed \
                and self.processed[name] == logged_stamp(row):
            # a second watch on the same folders skipped this version of the file, which the
            # first one processed: it still counts as processed (redone once it changes)
            return
        self.failed.pop(name, None)
        self.processed.pop(name, None)
        self.thresholds.pop(name, None)
        if decision in JUDGED:  # the score: an older version's row logged no threshold
            self.thresholds[name] = (row.get("threshold") or "", row.get("score") or "",
                                     decision)
        if decision in RETRIED:
            self.failed[name] = logged_stamp(row)
        (self.incomplete.add if decision == "incomplete" else self.incomplete.discard)(name)
        deblurred, copied = targets(name, self.out_dir)
        if decision in WROTE:
            self.processed[name] = logged_stamp(row)
            self.wrote[name] = self.output(deblurred if decision == "deblurred" else copied)
        made = {"deblurred": [deblurred], **{d: [copied] for d in COPIED}}.get(decision, [])
        if decision == "exists":  # looked at for these rows only (a name too long: none)
            made = [t for t in (deblurred, copied) if output_exists(t)]
        self.owners.update({self.output(t): name for t in made})

    def owner(self, output: str, name: str) -> str | None:
        """The other file whose result ``output`` holds; None where none, or ``name``, or the
        name ``name`` was renamed from (``renamed_from``)."""
        owner = self.owners.get(output, name)
        return None if owner == name or self.renamed_from(owner, name) else owner

    def renamed_from(self, old: str, name: str) -> bool:
        """Whether the logged name ``old`` is ``name`` renamed in case only: ``old`` is no
        longer in the watched folder under that very name. On macOS's and Windows' usual disks
        it is the same file (cell.tif renamed Cell.tif had been skipped as a name clash with
        itself); elsewhere a file of that name replaced it: either way processed as a file of
        its own, as a changed file is. Where ``old``'s row has its size and mtime, only the one
        case variant in the folder that has them is (cell.tif renamed Cell.tif beside a new
        CELL.tif: whichever sorted first had been taken); none where none or several do."""
        if old == name or case_key(old) != case_key(name) or _listed(self.root, old):
            return False
        logged = self.processed.get(old) or self.failed.get(old)
        if logged is None:  # a row from before the size and mtime columns
            return True
        return [v for v in _case_variants(self.root, name) if stamp(self.root / v) == logged] \
            == [name]

    def renamed_owner(self, name: str) -> str | None:
        """The logged name ``name`` was renamed from in case only (``renamed_from``) whose result
        one of its outputs holds, or None."""
        for target in targets(name, self.out_dir):
            old = self.owners.get(self.output(target))
            if old is not None and self.renamed_from(old, name):
                return old
        return None

    def earlier_outputs(self, name: str) -> set[str]:
        """The ``case_key`` of the output the watch wrote for an earlier version of ``name``,
        and of the one it wrote for the name it was renamed from (``renamed_owner``): replaced
        when it is processed again."""
        wrote = {self.wrote.get(name)}
        if (old := self.renamed_owner(name)) is not None:
            wrote.add(self.wrote.get(old))
        return {case_key(output) for output in wrote if output is not None}


def read_log(log_path: Path, out_dir: Path, root: Path) -> WatchState:
    """The state a watch restarts from: its log's rows, each name's last row counting. A last
    row without its line end (cut off: power loss, a full disk) or a row of no known decision
    (one cut off, then run together with the next by an earlier version) is not counted: its
    file is processed again (it was taken as done for good), said by ``say_damaged``
    (``state.damaged``: the cut last row always, another where its file is there)."""
    state = WatchState(root, out_dir)
    if not log_path.exists():
        return state
    # streamed, one row ahead (whether a row is the last): a log read whole had doubled the
    # watch's memory at its start (a 33 MB log: 446 -> 857 MB)
    with open(log_path, "rb") as raw, io.TextIOWrapper(raw, newline="", **TEXT) as f:
        reader = csv.DictReader(f)
        ahead = next(reader, None)
        while ahead is not None:
            row, line = ahead, reader.line_num
            ahead = next(reader, None)
            name = row.get("name") or ""
            cut = ahead is None and not _ends_a_line(raw)
            if cut or row.get("decision") not in DECISIONS:
                if cut or _there(root, name):
                    state.damaged[name] = line
                continue
            state.damaged.pop(name, None)  # logged again since
            state.record(row)
    return state


def _ends_a_line(raw) -> bool:
    """Whether the binary file ``raw``, read to its end, ends in a line end (its last byte)."""
    raw.seek(0, os.SEEK_END)
    if raw.tell() == 0:
        return False
    raw.seek(-1, os.SEEK_END)
    return raw.read(1) == b"\n"


def _case_variants(root: Path, name: str) -> list[str]:
    """The names in the folder of ``name`` (its path under ``root``) that differ from it in
    case only, itself included."""
    folder, key = Path(name).parent, case_key(Path(name).name)
    try:
        return [(folder / entry).as_posix() for entry in os.listdir(root / folder)
                if case_key(entry) == key]
    except (OSError, ValueError):
        return [name]


def _listed(root: Path, name: str) -> bool:
    """Whether the watched folder holds ``name`` (its path under it) under that very name,
    each folder on the way too: exists() says so of any case of it on a case-insensitive
    disk."""
    folder = root
    try:
        for part in Path(name).parts:
            if part not in os.listdir(folder):
                return False
            folder = folder / part
    except (OSError, ValueError):  # a folder gone, a NUL
        return False
    return True


def _there(root: Path, name: str) -> bool:
    """Whether the watched folder holds ``name`` (any text, from a damaged row)."""
    try:
        return bool(name) and (root / name).exists()
    except (OSError, ValueError):  # a NUL, a name too long
        return False


def say_damaged(state: WatchState, log_path: Path) -> None:
    """One warning naming the log and the files whose rows were cut off or not understood
    (``read_log``): they are processed again."""
    from .core.shown import shown_path

    if not state.damaged:
        return
    found = sorted(state.damaged.items(), key=lambda item: item[1])
    rows = "; ".join(f"line {line}: {name or '(no name)'}" for name, line in found[:5])
    rows += f"; {len(found) - 5} more" if len(found) > 5 else ""
    print(f"microdeblur: warning: {shown_path(log_path)}: {len(state.damaged)} row"
          f"{'s' * (len(state.damaged) > 1)} cut off or not understood ({rows}; power loss or "
          "a full disk leaves the last row cut off), not counted as logged: "
          f"{'those files are' if len(state.damaged) > 1 else 'that file is'} processed again",
          file=sys.stderr, flush=True)


def end_last_line(log_path: Path) -> None:
    """End a cut-off last row (or header) of the log with a line end before rows are
    appended: the next row had been run together with it, and was lost too."""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return
            f.seek(-1, os.SEEK_END)
            last = f.read(1)
    except FileNotFoundError:
        return
    if last != b"\n":
        with open(log_path, "ab") as f:
            f.write(b"\n" if last == b"\r" else b"\r\n")  # csv's row end
            f.flush()
            os.fsync(f.fileno())


def other_thresholds(state: WatchState, value: float, names) -> dict[str, int]:
    """logged threshold -> how many of ``names`` (files the watch will not process again) were
    deblurred or copied by it, for the thresholds other than ``value`` (as logged, 6 digits);
    last, 'unknown (...)' -> how many rows of an older version, which logged no threshold, hold
    a score that ``value`` decides otherwise (they had been left out: a restart with another
    --threshold over an old log said nothing)."""
    import math

    found: dict[str, int] = {}
    unknown = 0
    for name in names:
        logged, score, decision = state.thresholds.get(name, ("", "", ""))
        if not logged and decision:  # judged, by a threshold not logged: its score tells
            unknown += _decided_otherwise(score, decision, value)
            continue
        try:
            same = math.isclose(float(logged), value, rel_tol=1e-5)
        except ValueError:  # not deblurred or copied, or not a number: unknown
            continue
        if not same:
            found[logged] = found.get(logged, 0) + 1
    if unknown:  # read after 'by threshold ' in the warning
        rows = f"{unknown} row{'s' * (unknown > 1)}"
        found[f"unknown ({rows} of an older version, which logged no threshold, whose "
              f"score this run's threshold decides otherwise)"] = unknown
    return found


def _decided_otherwise(score: str, decision: str, value: float) -> bool:
    """Whether threshold ``value`` decides a file of logged ``score`` otherwise than
    ``decision`` (deblurred below the threshold, copied at or above it); a score not a number
    counts as decided otherwise (it cannot be checked)."""
    try:
        soft = float(score) < value
    except ValueError:
        return True
    return ("deblurred" if soft else "copied") != decision


def upgrade_log(log_path: Path, in_dir: Path) -> bool:
    """A log written before the size, mtime_ns or logged_utc columns, rewritten with them, so
    that new rows line up; a row with no stamp (failed, or processed) gets its file's stamp now
    (it is looked at again once the file changes from this) where the file was not modified
    after the row was logged, and none (processed again) where it was: a file replaced while
    no watch ran had been stamped as replaced, and never retried. Returns whether the log
    holds a header (a new log does not)."""
    from .core.partials import fresh_temporary_name

    if not log_path.exists() or log_path.stat().st_size == 0:
        return False
    log_written_ns = log_path.stat().st_mtime_ns  # every row was logged by then
    with open(log_path, newline="", **TEXT) as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    if tuple(reader.fieldnames or ()) != WATCH_COLUMNS:
        for row in rows:
            if row["decision"] in RETRIED + WROTE and logged_stamp(row) is None:
                row["size"], row["mtime_ns"] = _stamp_if_unchanged(
                    row, in_dir, log_path.parent, log_written_ns) or ("", "")
        tmp = fresh_temporary_name(log_path)
        with open(tmp, "w", newline="", **TEXT) as f:
            writer = csv.DictWriter(f, fieldnames=WATCH_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, log_path)
    return True


def _stamp_if_unchanged(row: dict, in_dir: Path, out_dir: Path,
                        log_written_ns: int) -> tuple[int, int] | None:
    """The stamp of an old row's file as it is now, or None where the file is gone or was
    modified after it was read: after the row's output was put in place (a copy: or of another
    size than it), after the row was logged (``logged_utc``), or after the log was last
    written, whichever is known and earliest."""
    now = stamp(in_dir / row["name"])
    if now is None:
        return None
    read_by = [log_written_ns]  # each: a time at or after the file was read
    with_ms = _utc_ns(row.get("logged_utc") or "")
    if with_ms is not None:
        read_by.append(with_ms + 1_000_000)  # logged to the millisecond, cut
    if row["decision"] in WROTE:
        deblurred, copied = targets(row["name"], out_dir)
        try:
            output = (deblurred if row["decision"] == "deblurred" else copied).stat()
        except (OSError, ValueError):  # moved away, or a name no disk holds
            output = None
        if output is not None:
            if row["decision"] in COPIED and output.st_size != now[0]:
                return None
            # a copy keeps the file's mtime; its ctime is when it was put in place
            read_by.append(max(output.st_mtime_ns, output.st_ctime_ns))
    return None if now[1] > min(read_by) else now


def _utc_ns(text: str) -> int | None:
    """``logged_utc`` (ISO 8601) in ns since the epoch; None where empty or not a time."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    since = when - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (since.days * 86_400 + since.seconds) * 1_000_000_000 + since.microseconds * 1000


def write_row(writer, log, row: dict, quiet: bool) -> None:
    """Append ``row`` to the log (on disk before the next file), and print its first columns
    quoted as the log quotes them (a name with a comma shifted the printed columns)."""
    row["logged_utc"] = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    writer.writerow(row)
    log.flush()
    os.fsync(log.fileno())
    if not quiet:
        line = io.StringIO()
        csv.writer(line, lineterminator="").writerow([row[c] for c in SHOWN_COLUMNS])
        print(line.getvalue(), file=sys.stdout, flush=True)
