"""`microdeblur watch`: process files as they appear in a folder (registered by
cli.build_parser). Each file is scored for focus; the soft ones are deblurred, the rest copied,
and a CSV row logs each, so a restarted watch continues where it stopped. A file that failed
(or could not be read) is tried again once it changes: the row keeps its size and mtime.
A file is judged by its softest plane among those with structure (``judged_score``); one
with no structure at all (background noise only) is copied and logged 'blank'. A TIFF that
holds fewer planes than its metadata declares (a stack still being written, with pauses longer
than --settle: ``core.tiff_complete``) is waited for, and logged 'incomplete' (neither deblurred
nor copied) once unchanged for --incomplete-after seconds; it is looked at again if it changes.
A file that cannot be read and changed within READ_RETRY_SETTLES x --settle is taken as still
being written too (read again when it changes). The threshold and the checks of files unlike
the calibration images: ``cli_watch_calibration``; Ctrl-C mid-file: ``cli_watch_stop``.
Each deblurred output records why (``focus`` in its ``core.provenance`` record: the score, the
threshold and where it came from, the decision, the soft planes); a copied file is left as it
was, byte for byte (nothing was done to it)."""

from __future__ import annotations

import csv
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .cli import UserError, check_tile_reach, deblur_one, method_specs, warnings_naming
from .cli_watch_calibration import DEFAULT_MARGIN, Threshold, image_profile, watch_threshold
from .cli_watch_stop import FinishCurrentFile
from .core.shown import shown_path

WATCH_LOG = "microdeblur_watch.csv"
WATCH_COLUMNS = ("name", "score", "decision", "method", "seconds", "size", "mtime_ns")
#: the columns printed per file (the last two are for the retry, ``_stamp``)
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
#: a stack with more planes than this records its plane counts in 'focus', not each plane
MAX_RECORDED_PLANES = 512


def judged_score(array, axes: str, threshold: float | None = None,
                 camera_offset: float = 0.0) -> tuple[float, float | None]:
    """(the softest plane's score, the softest plane's among those with structure above the
    background noise, or None when none has any). A stack is judged by the second: a plane
    of noise only (beyond the sample, a shutter glitch) scored near 0 and had every stack that
    held one deblurred, whatever the focus of its other planes. With ``threshold``, a file
    whose every plane scores at or above it is not checked for structure (it is copied either
    way; the check costs ~0.15 s per 2048 px plane, 4x the score: 81 -> 65 tiles/min).
    ``camera_offset``: the dark level subtracted before scoring (``core.focus``)."""
    return _judged(*plane_scores(array, axes, threshold, camera_offset))


def plane_scores(array, axes: str, threshold: float | None = None, camera_offset: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """(each plane's score, over the axes but Y, X, S; whether each plane has structure and
    scores above 0, or None where every plane scores at or above ``threshold``: not checked,
    as ``judged_score`` says)."""
    from .core.focus import focus_score, structure_tiles

    scores = np.asarray(focus_score(array, axes=axes, camera_offset=camera_offset),
                        dtype=np.float64)
    if threshold is not None and scores.min() >= threshold and scores.min() > 0:
        return scores, None
    plane = max(array.shape[axes.index("Y")], array.shape[axes.index("X")])
    # one tile as large as the plane: whether the plane holds anything at all
    structured = structure_tiles(array, axes=axes, tile=plane).reshape(scores.shape + (-1,))
    return scores, structured.any(axis=-1) & (scores > 0)  # a constant plane scores 0


def _judged(scores: np.ndarray, kept: np.ndarray | None) -> tuple[float, float | None]:
    """``judged_score``'s pair from ``plane_scores``'s."""
    lowest = float(scores.min())
    if kept is None:
        return lowest, lowest
    return lowest, (float(scores[kept].min()) if kept.any() else None)


def focus_entry(scores: np.ndarray, kept: np.ndarray, axes: str, threshold: Threshold,
                score: float) -> dict:
    """The ``focus`` field of a deblurred output's record: why the watch deblurred it, in the
    words of its log (``WATCH_LOG``, the row named by the record's ``source_file``)."""
    entry = {"score": score, "threshold": threshold.value, "threshold_from": threshold.origin,
             "camera_offset": threshold.camera_offset, "decision": "deblurred",
             "rule": "deblurred below the threshold, copied at or above it", "log": WATCH_LOG}
    if scores.ndim == 0:
        return entry
    soft = kept & (scores < threshold.value)
    planes = {"axes": "".join(a for a in axes if a not in "YXS"), "count": int(scores.size),
              "soft_count": int(soft.sum()), "no_structure_count": int((~kept).sum())}
    if scores.size <= MAX_RECORDED_PLANES:
        # plane indices along those axes ([z] for a z-stack, [c, z] ...): the soft planes are
        # those with structure below the threshold; planes without structure were not judged
        flat = scores.ndim == 1
        planes.update(scores=scores.tolist(),
                      soft=[i[0] if flat else i for i in np.argwhere(soft).tolist()],
                      no_structure=[i[0] if flat else i for i in np.argwhere(~kept).tolist()])
    return {**entry, "planes": planes}


class _Unreadable(Exception):
    """The file could not be read as an image (logged 'unreadable'); any later error was the
    scoring's, copying's or deblurring's on an image that was read fine (logged 'failed')."""


def _targets(path: Path, out_dir: Path) -> tuple[Path, Path]:
    """(where a soft file is deblurred to, where a sharp one is copied to)."""
    from .core.files import output_name

    return output_name(path, out_dir), out_dir / path.name


def _clash_row(path: Path, target: Path, owner: str, score: float) -> dict:
    # a.png and a.tif both make a_deblurred.tif: the second was logged 'exists', never done
    print(f"microdeblur: {path.name} and {owner} would both be written to {target.name}, which "
          f"holds {owner}'s result; {path.name} was skipped: rename it in the watched folder "
          "and the watch takes it as a new file", file=sys.stderr, flush=True)
    return {"name": path.name, "score": f"{score:.6g}", "decision": "name clash", "method": "",
            "seconds": ""}


def _watch_one(path: Path, out_dir: Path, threshold: Threshold, args, models, owners) -> dict:
    """Score, then deblur or copy one file; ``owners`` (output name -> the input whose result
    it holds) keeps a second input from taking over another's output."""
    from .core import io
    from .core.files import copy_atomically, image_axes

    t0 = time.perf_counter()
    deblurred, copied = _targets(path, out_dir)
    theirs = {t: owners[t.name] for t in (deblurred, copied)
              if owners.get(t.name, path.name) != path.name}
    if not args.overwrite and any(t.exists() for t in (deblurred, copied) if t not in theirs):
        # written by an earlier run that stopped before logging it
        owners.update({t.name: path.name for t in (deblurred, copied) if t.exists()})
        return {"name": path.name, "score": "", "decision": "exists", "method": "",
                "seconds": ""}
    try:  # read as the deblur reads it (alpha kept), so the axes settled here fit it
        data = io.read_image(path, lazy=False, keep_alpha=True)
    except (ValueError, TypeError, OSError, RuntimeError) as error:
        raise _Unreadable(error) from error
    axes = image_axes(data, args.axes)  # settled (and a guess in doubt noted) once per file
    # ... and said once: the deblur below takes them as the file's own
    data = replace(data, axes=axes, note=None)
    # a file unlike the calibration images: said once per kind, and kept in its record
    unlike = (threshold.profile.warn(path.name, image_profile(data.array, axes))
              if threshold.profile is not None else [])
    # a stack is as good as its softest slice with structure (alpha left out by focus_score)
    scores, kept = plane_scores(np.asarray(data.array), axes, threshold.value,
                                threshold.camera_offset)
    lowest, judged = _judged(scores, kept)
    # a blank file (no plane with structure) has nothing to deblur: copied, logged 'blank'
    # with its noise's score
    score = lowest if judged is None else judged
    target = deblurred if judged is not None and judged < threshold.value else copied
    if target in theirs:
        return _clash_row(path, target, theirs[target], score)
    if target is deblurred:
        with warnings_naming(path):
            # the method that ran, not --method: 'auto' said nothing about which network
            focus = focus_entry(scores, kept, axes, threshold, judged)
            if unlike:
                focus["unlike_calibration"] = unlike
            method = deblur_one(path, deblurred, args, models, axes=axes, data=data,
                                record_extra={"focus": focus})
        decision = "deblurred"
    else:
        copy_atomically(path, copied)
        decision, method = ("copied" if judged is not None else "blank"), ""
        if judged is None:
            print(f"microdeblur: {path.name}: blank (every plane is background noise only), "
                  "copied, not deblurred; check the acquisition if it should hold a sample",
                  file=sys.stderr, flush=True)
    owners[target.name] = path.name
    return {"name": path.name, "score": f"{score:.6g}", "decision": decision, "method": method,
            "seconds": f"{time.perf_counter() - t0:.2f}"}


def _failed_row(path: Path, decision: str, error: BaseException, args) -> dict:
    """Print why ``path`` was skipped ('unreadable' or 'failed') and return its log row."""
    from .cli_words import error_words

    print(f"microdeblur: {path.name}: {decision}, skipped: {error_words(error, args)}",
          file=sys.stderr, flush=True)
    return {"name": path.name, "score": "", "decision": decision, "method": "", "seconds": ""}


def _stamp(path: Path) -> tuple[int, int] | None:
    """(size, mtime in ns) of ``path``: what says a failed file changed; None when it is gone."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def _logged_stamp(row: dict) -> tuple[int, int] | None:
    try:
        return int(row["size"]), int(row["mtime_ns"])
    except (KeyError, TypeError, ValueError):  # a row of a log written before these columns
        return None


def _read_log(log_path: Path, out_dir: Path, incomplete: set | None = None) -> tuple[set, dict,
                                                                                  dict]:
    """(names already logged, output name -> the logged input whose result it holds, name ->
    the logged (size, mtime) of a file whose last row is 'failed', 'unreadable' or
    'incomplete'); ``incomplete`` gets the names whose last row is 'incomplete'."""
    done, owners, failed = set(), {}, {}
    if not log_path.exists():
        return done, owners, failed
    with open(log_path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            name = row["name"]
            done.add(name)
            failed.pop(name, None)
            if row["decision"] in RETRIED:
                failed[name] = _logged_stamp(row)
            if incomplete is not None:
                (incomplete.add if row["decision"] == "incomplete" else incomplete.discard)(name)
            deblurred, copied = _targets(Path(name), out_dir)
            made = {"deblurred": [deblurred], **{d: [copied] for d in COPIED},
                    "exists": [t for t in (deblurred, copied) if t.exists()]}
            owners.update({t.name: name for t in made.get(row["decision"], [])})
    return done, owners, failed


def _upgrade_log(log_path: Path, in_dir: Path) -> bool:
    """A log written before the size and mtime_ns columns, rewritten with them, so that new
    rows line up; a failure in it gets its file's stamp now (it is retried once the file
    changes from this). Returns whether the log holds a header (a new log does not)."""
    from .core.partials import fresh_temporary_name

    if not log_path.exists() or log_path.stat().st_size == 0:
        return False
    with open(log_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    if tuple(reader.fieldnames or ()) != WATCH_COLUMNS:
        for row in rows:
            if row["decision"] in RETRIED:
                row["size"], row["mtime_ns"] = _stamp(in_dir / row["name"]) or ("", "")
        tmp = fresh_temporary_name(log_path)
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=WATCH_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, log_path)
    return True


def _check_watch_options(args) -> None:
    """The watch's own numeric options, before any file is read or written."""
    import math

    from .core.focus import check_camera_offset

    check_camera_offset(args.camera_offset)
    if (args.threshold is None) == (args.calibrate is None):
        raise UserError("give exactly one of --threshold T or --calibrate GOOD_DIR")
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise UserError(f"--threshold {args.threshold:g}: give a finite focus score")
    if args.calibrate_bad is not None and args.calibrate is None:
        raise UserError("--calibrate-bad SOFT_DIR goes with --calibrate GOOD_DIR: give both")
    if args.margin is not None and args.calibrate_bad is not None:
        raise UserError("--margin is not used with --calibrate-bad (the threshold lies between "
                        "the two groups): give one of them")
    if args.margin is not None and not 0 < args.margin <= 1:  # also refuses NaN
        raise UserError(f"--margin {args.margin:g}: give a number > 0 and <= 1")
    if not 0 <= args.percentile <= 100:  # also refuses NaN
        raise UserError(f"--percentile {args.percentile:g}: give a number between 0 and 100")
    # 0 would scan the folder in a busy loop
    if not (math.isfinite(args.poll) and args.poll > 0):
        raise UserError(f"--poll {args.poll:g}: give a number of seconds > 0")
    # NaN would never count a file as settled, so --once would never end
    if not (math.isfinite(args.settle) and args.settle >= 0):
        raise UserError(f"--settle {args.settle:g}: give a number of seconds >= 0")
    if not (math.isfinite(args.incomplete_after) and args.incomplete_after >= 0):
        raise UserError(f"--incomplete-after {args.incomplete_after:g}: give a number of "
                        "seconds >= 0")


def _check_folders(in_dir: Path, out_dir: Path) -> None:
    from .core import io_write

    for d, what in ((in_dir, "input"), (out_dir, "output")):
        if d.is_file():
            raise UserError(f"{what} folder {shown_path(d)} is a file, not a folder")
    if not in_dir.is_dir():
        raise UserError(f"input directory {shown_path(in_dir)} does not exist")
    # deblur's check of its output folder, in its words ('... does not exist; create it
    # first'); an unwritable folder is said here, not as the log's bare PermissionError
    io_write.check_output_path(out_dir / "microdeblur-write-check.tif", overwrite=True)
    # the watch reads only the input folder's own files (not subfolders), so an output folder
    # inside it is safe; the same folder would be both, and the log would land among the inputs
    if in_dir.resolve() == out_dir.resolve():
        raise UserError(f"output folder {shown_path(out_dir)} is the watched folder; give another "
                        "folder for the outputs")


def _pending(in_dir: Path, done: set, failed: dict) -> list[Path]:
    """The image files of ``in_dir`` to process: those not logged yet, and those logged as
    failed or unreadable that changed since (an unchanged one is not tried again)."""
    from .core.files import IMAGE_SUFFIXES

    return [p for p in sorted(in_dir.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
            and (p.name not in done or (p.name in failed and failed[p.name] != _stamp(p)))]


def _settled(pending: list[Path], settle: float) -> list[Path]:
    """The files of ``pending`` unchanged for ``settle`` seconds (completely written); one gone
    since the folder was listed is left out (its stat stopped the whole watch)."""
    now = time.time()
    stamps = [(p, _stamp(p)) for p in pending]
    return [p for p, stamp in stamps if stamp is not None and now - stamp[1] / 1e9 >= settle]


#: a file that cannot be read while it changed less than this many --settle ago (capped by
#: --incomplete-after) is taken as still being written: a PNG or TIFF copied in chunks 4 s
#: apart (--settle 2) was logged 'unreadable' twice, then done (two wrong rows)
READ_RETRY_SETTLES = 5


def _complete(ready: list[Path], waiting: dict, after: float) -> tuple[list, list]:
    """(the settled files that are complete, [(path, (why, stamp, decision))] of those waited
    for that have not changed for their time: TIFFs holding fewer planes than their metadata
    declares, unchanged for ``after`` seconds ('incomplete'), and files that could not be read
    yet ('unreadable', ``_still_written``)). The others wait in ``waiting`` (name -> (stamp,
    why, decision, seconds); looked at again only once they change), each said once."""
    from .core.io import is_tiff
    from .core.tiff_complete import incomplete_reason

    complete, given_up, now = [], [], time.time()
    for path in ready:
        stamp = _stamp(path)
        if stamp is None:  # gone since it was listed
            continue
        known = waiting.get(path.name)
        if known and known[0] == stamp:
            why, decision, seconds = known[1:]
        else:
            why = incomplete_reason(path) if is_tiff(path) else None
            decision, seconds = "incomplete", after
        if why is None:
            if not known or known[2] != "unreadable":  # kept: said once, while it changes
                waiting.pop(path.name, None)
            complete.append(path)
        elif now - stamp[1] / 1e9 >= seconds:
            waiting.pop(path.name, None)
            given_up.append((path, (why, stamp, decision)))
        else:
            said = path.name in waiting and waiting[path.name][2] == "incomplete"
            if decision == "incomplete" and not said:  # 'unreadable': _still_written said it
                print(f"microdeblur: {path.name}: incomplete, {why}; waiting for the rest "
                      f"(logged 'incomplete' if unchanged for {after:g} s: --incomplete-after)",
                      file=sys.stderr, flush=True)
            waiting[path.name] = (stamp, why, decision, seconds)
    return complete, given_up


def _still_written(path: Path, stamp, error: BaseException, args, waiting: dict) -> bool:
    """Whether ``path``, which could not be read, changed so recently that it is taken as
    still being written (put in ``waiting``, said once) rather than logged 'unreadable'."""
    from .cli_words import error_words

    seconds = min(args.incomplete_after, READ_RETRY_SETTLES * args.settle)
    if stamp is None or time.time() - stamp[1] / 1e9 >= seconds:
        return False
    why = error_words(error, args)
    if path.name not in waiting:  # said once per file, however many chunks it comes in
        print(f"microdeblur: {path.name}: cannot be read yet ({why}); taken as still being "
              f"written: read again when it changes, logged 'unreadable' if unchanged for "
              f"{seconds:g} s ({READ_RETRY_SETTLES} x --settle)", file=sys.stderr, flush=True)
    waiting[path.name] = (stamp, why, "unreadable", seconds)
    return True


def _waited_row(path: Path, seen: tuple, args, failed: dict, incomplete: set) -> dict:
    """The row of a file waited for too long ('incomplete' or 'unreadable'); ``seen``: (why,
    the stamp it was judged by: a change since then is a change, and brings it back, the
    decision)."""
    why, stamp, decision = seen
    if decision == "incomplete":
        print(f"microdeblur: {path.name}: incomplete, {why}, unchanged for "
              f"{args.incomplete_after:g} s: not deblurred or copied; it is looked at again "
              "once it changes (a longer pause: raise --incomplete-after)",
              file=sys.stderr, flush=True)
        incomplete.add(path.name)
    else:
        print(f"microdeblur: {path.name}: unreadable, skipped: {why}", file=sys.stderr,
              flush=True)
    failed[path.name] = stamp
    return {"name": path.name, "score": "", "decision": decision, "method": "",
            "seconds": "", "size": stamp[0], "mtime_ns": stamp[1]}


def _process(path: Path, out_dir: Path, threshold: Threshold, args, models, state
             ) -> dict | None:
    """The log row of one file (its stamp taken first: a change during the run is a change),
    saying so when it is a retry, or None for a file that cannot be read yet and changed
    recently (``_still_written``); ``state``'s failed and incomplete names updated."""
    failed, incomplete = state.failed, state.incomplete
    stamp = _stamp(path)
    if path.name in failed:
        since = "it was logged incomplete" if path.name in incomplete else "its last try failed"
        print(f"microdeblur: {path.name}: changed since {since}; retried",
              file=sys.stderr, flush=True)
    incomplete.discard(path.name)
    try:
        row = _watch_one(path, out_dir, threshold, args, models, state.owners)
    # one bad file (or a failed run on it) must not stop the watch
    except BrokenPipeError:  # the output's reader went away (| head): not this file's fault
        raise
    except _Unreadable as error:
        if _still_written(path, stamp, error.__cause__, args, state.waiting):
            return None
        row = _failed_row(path, "unreadable", error.__cause__, args)
    except (ValueError, TypeError, OSError, RuntimeError) as error:
        row = _failed_row(path, "failed", error, args)
    row["size"], row["mtime_ns"] = stamp or ("", "")
    if row["decision"] in RETRIED:
        failed[path.name] = stamp
    else:
        failed.pop(path.name, None)
    return row


def _write_row(writer, log, row: dict, args) -> None:
    writer.writerow(row)
    log.flush()
    os.fsync(log.fileno())
    if not args.quiet:
        print(",".join(str(row[c]) for c in SHOWN_COLUMNS), flush=True)


@dataclass
class _State:
    """What a watch knows of its files: names logged, output name -> its input, name -> the
    stamp of a file last logged failed, unreadable or incomplete, the names logged
    'incomplete', those waited for (``_complete``), and this run's undone ones."""

    done: set
    owners: dict
    failed: dict
    incomplete: set = field(default_factory=set)
    waiting: dict = field(default_factory=dict)
    not_done: dict = field(default_factory=dict)  # name -> the decision that left it undone


def _scan(in_dir: Path, out_dir: Path, threshold: Threshold, args, models, state: _State,
          write) -> bool:
    """One look at the folder: every file ready is processed and logged (``write(row)``);
    returns whether each pending file got a row (--once may end). A Ctrl-C during a file
    lets it finish and be logged, then stops (``FinishCurrentFile``)."""
    pending = _pending(in_dir, state.done, state.failed)
    ready, given_up = _complete(_settled(pending, args.settle), state.waiting,
                                args.incomplete_after)
    logged, stopper = 0, FinishCurrentFile()
    for path, why in [(p, None) for p in ready] + given_up:
        with stopper.file(path.name):
            if why is None:
                row = _process(path, out_dir, threshold, args, models, state)
            else:  # waited for too long: logged, nothing read or written
                row = _waited_row(path, why, args, state.failed, state.incomplete)
            if row is not None:  # None: still being written, not logged yet
                state.waiting.pop(path.name, None)
                write(row)
                logged += 1
                state.done.add(path.name)
                if row["decision"] in NOT_DONE:
                    state.not_done[path.name] = row["decision"]
                else:  # retried and done
                    state.not_done.pop(path.name, None)
        if stopper.requested:
            raise KeyboardInterrupt
    return logged == len(pending)


def cmd_watch(args) -> int:
    """Process files as they appear: score, deblur the soft ones, copy the rest (and the blank
    ones), log a CSV row; a file that failed is tried again when it changes, a file still being
    written is waited for."""
    from .core.checkpoint import ModelCache

    in_dir, out_dir = Path(args.input_dir), Path(args.output_dir)
    _check_watch_options(args)  # a bad option fails here, before anything is written
    method_specs(args)  # a bad PSF file is the option's fault, not every image's
    _check_folders(in_dir, out_dir)
    models = ModelCache()  # the network is loaded at the first soft file, then kept
    check_tile_reach(args, models)  # a tile too small would fail every file
    threshold = watch_threshold(args)
    log_path = out_dir / WATCH_LOG
    has_header = _upgrade_log(log_path, in_dir)
    incomplete = set()
    # restart where we left off
    state = _State(*_read_log(log_path, out_dir, incomplete), incomplete=incomplete)
    # UTF-8 whatever the locale: a name outside a Windows code page stopped the watch
    with open(log_path, "a", newline="", encoding="utf-8") as log:
        writer = csv.DictWriter(log, fieldnames=WATCH_COLUMNS)
        if not has_header:
            writer.writeheader()
            log.flush()
        try:
            while True:
                if (_scan(in_dir, out_dir, threshold, args, models, state,
                          lambda row: _write_row(writer, log, row, args)) and args.once):
                    return _once_code(state.not_done, log_path)
                time.sleep(args.poll)
        except KeyboardInterrupt:
            print("microdeblur: watch stopped; finished files are logged in "
                  f"{log_path}", file=sys.stderr)
            return 0


def _once_code(not_done: dict, log_path: Path) -> int:
    """--once's exit code: 2 (as deblur's for a failed file) when a file of this run was left
    neither deblurred nor copied, said in one line; 0 otherwise."""
    from .cli import EXIT_ERROR

    if not not_done:
        return 0
    counts = {d: list(not_done.values()).count(d) for d in NOT_DONE if d in not_done.values()}
    print(f"microdeblur: {len(not_done)} file{'s' * (len(not_done) > 1)} not deblurred or "
          f"copied ({', '.join(f'{n} {d}' for d, n in counts.items())}); logged in "
          f"{shown_path(log_path)}", file=sys.stderr, flush=True)
    return EXIT_ERROR


def add_watch_command(sub) -> None:
    from .cli_options import add_method_options, psf_epilog

    p = sub.add_parser(
        "watch", help="deblur files as they appear in a folder, only those out of focus",
        description="Give exactly one of --threshold or --calibrate.", **psf_epilog())
    p.add_argument("input_dir", help="the folder to watch (must exist; its own image files "
                   "only, not its subfolders)")
    p.add_argument("output_dir", help=f"an existing folder, not input_dir: soft files are "
                   f"deblurred into it as <name>_deblurred.tif, in-focus (and blank) ones copied "
                   f"as they are, and each file logged in {WATCH_LOG} there")
    p.add_argument("--threshold", type=float,
                   help="deblur files whose focus score (as `microdeblur focus FILE` prints it; "
                   "relative, no unit) is below T; or give --calibrate")
    p.add_argument("--calibrate", metavar="GOOD_DIR",
                   help="set the threshold from known-good images (see --percentile); or "
                   "give --threshold")
    p.add_argument("--percentile", type=float, default=5.0,
                   help="with --calibrate: this percentile of the good images' scores "
                   "(with --calibrate-bad: and 100 minus it of the soft ones'); default "
                   "%(default)g")
    p.add_argument("--margin", type=float, default=None, metavar="F",
                   help="with --calibrate: the threshold is F x that percentile (0 < F <= 1; "
                   f"default {DEFAULT_MARGIN:g}, the percentile itself); below 1 leaves room "
                   "for in-focus fields scoring below the good images, and copies more soft "
                   "ones")
    p.add_argument("--calibrate-bad", metavar="SOFT_DIR",
                   help="with --calibrate: known out-of-focus images; the threshold is the "
                   "geometric mean of the good images' percentile and the soft ones' 100 - "
                   "percentile (no --margin)")
    p.add_argument("--camera-offset", type=float, default=0.0, metavar="ADU",
                   help="the camera's dark level, subtracted before every focus score (the "
                   "calibration's and the files'), as `microdeblur focus --camera-offset` "
                   "does; default 0")
    p.add_argument("--poll", type=float, default=1.0,
                   help="seconds between folder scans (default %(default)g)")
    p.add_argument("--settle", type=float, default=2.0,
                   help="a file is complete once unchanged for this many seconds (default "
                   "%(default)g)")
    p.add_argument("--incomplete-after", type=float, default=600.0, metavar="SECONDS",
                   help="a TIFF holding fewer planes than its metadata declares (still being "
                   "written) is waited for; unchanged this long, it is logged 'incomplete', "
                   "neither deblurred nor copied, and looked at again once it changes "
                   "(default %(default)g)")
    p.add_argument("--once", action="store_true",
                   help="process what is there, then exit: 2 if this run logged a file "
                   "failed, unreadable or incomplete (neither deblurred nor copied), else 0")
    add_method_options(p)
    p.set_defaults(func=cmd_watch)
