"""`microdeblur watch`: process files as they appear in a folder (registered by
cli.build_parser). Each file is scored for focus; the soft ones are deblurred, the rest copied,
and a CSV row logs each (``cli_watch_log``), so a restarted watch continues where it stopped.
A file that failed (or could not be read) is tried again once it changes, and one processed is
processed again once it changes, its output replaced: the row keeps its size and mtime.
A file is judged by its softest plane among those with structure (``judged_score``); one
with no structure at all (background noise only) is copied and logged 'blank'. Files still
being written are waited for (``cli_watch_wait``); the folders and --recursive:
``cli_watch_folders``; the threshold and the checks of files unlike the calibration images:
``cli_watch_calibration``; Ctrl-C or SIGTERM mid-file: ``cli_watch_stop``.
Each deblurred output records why (``focus`` in its ``core.provenance`` record: the score, the
threshold and where it came from, the decision, the soft planes); a copied file is left as it
was, byte for byte (nothing was done to it)."""

from __future__ import annotations

import contextlib
import csv
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from .cli import check_tile_reach, deblur_one, method_specs, warnings_naming
from .cli_paths import TEXT, output_exists
from .cli_watch_calibration import Threshold, image_profile, watch_threshold
from .cli_watch_folders import SubfolderHint, UnreadHint, WatchedFiles, check_folders
from .cli_watch_log import (
    NOT_DONE,
    WATCH_COLUMNS,
    WATCH_LOG,
    WatchState,
    case_key,
    end_last_line,
    other_thresholds,
    read_log,
    say_damaged,
    stamp,
    targets,
    upgrade_log,
    write_row,
)
from .cli_watch_options import add_watch_arguments, check_watch_options
from .cli_watch_stop import FinishCurrentFile
from .cli_watch_wait import complete, settled, still_written, waited_row
from .core.shown import shown_path

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


def _clash_row(name: str, target: Path, owner: str, score: float) -> dict:
    # a.png and a.tif both make a_deblurred.tif: the second was logged 'exists', never done
    print(f"microdeblur: {name} and {owner} would both be written to {target.name}, which "
          f"holds {owner}'s result; {name} was skipped: rename it in the watched folder "
          "and the watch takes it as a new file", file=sys.stderr, flush=True)
    return {"name": name, "score": f"{score:.6g}", "decision": "name clash", "method": "",
            "seconds": ""}


def _write_output(path: Path, name: str, target: Path, replaced: bool, args, models, data,
                  focus: dict) -> str:
    """Deblur ``path`` into ``target`` (``replaced``: the output the watch wrote for an earlier
    version of the file, replaced through the same temporary file and rename); the method."""
    target.parent.mkdir(parents=True, exist_ok=True)  # --recursive: OUT_DIR's sub-folder
    overwrite = args.overwrite
    args.overwrite = overwrite or replaced
    try:
        with warnings_naming(path):
            # the method that ran, not --method: 'auto' said nothing about which network
            return deblur_one(path, target, args, models, axes=data.axes, data=data,
                              record_extra={"focus": focus})
    finally:
        args.overwrite = overwrite


def _drop_earlier(name: str, target: Path, state: WatchState) -> None:
    """A file processed again whose output is now another (copied, now deblurred): the
    earlier one, of a version of the file that is gone, is removed, and said."""
    earlier = state.wrote.get(name)
    if earlier is None or earlier == state.output(target) or state.owners.get(earlier) != name:
        return
    (state.out_dir / earlier).unlink(missing_ok=True)
    print(f"microdeblur: {name}: its earlier output {earlier} was removed (now written to "
          f"{state.output(target)})", file=sys.stderr, flush=True)


def _watch_one(path: Path, threshold: Threshold, args, models, state: WatchState) -> dict:
    """Score, then deblur or copy one file; ``state.owners`` (output -> the input whose result
    it holds) keeps a second input from taking over another's output."""
    from .cli_batch import same_path
    from .core import io
    from .core.atomic_write import OutputExistsError
    from .core.files import copy_atomically, image_axes
    from .core.ome_datasets import dataset_files, reading_file

    t0 = time.perf_counter()
    name = state.name(path)
    if (reader := reading_file(path)) is not None:  # read, deblurred or copied with it
        print(f"microdeblur: {name}: part of the multi-file OME-TIFF dataset read from "
              f"{reader.name}: processed with that file, not on its own",
              file=sys.stderr, flush=True)
        return {"name": name, "score": "", "decision": "dataset part", "method": "",
                "seconds": ""}
    deblurred, copied = targets(name, state.out_dir)
    theirs = {t: owner for t in (deblurred, copied)
              if (owner := state.owner(state.output(t), name)) is not None}
    # written for an earlier version of this file (or of the name it was renamed from in
    # case only: ``WatchState.renamed_from``): replaced
    earlier = state.earlier_outputs(name)

    def mine(target: Path) -> bool:
        return case_key(state.output(target)) in earlier

    # output_exists: an output name too long is no file there; refused when written (failed)
    if not args.overwrite and any(output_exists(t) for t in (deblurred, copied)
                                  if t not in theirs and not mine(t)):
        # written by an earlier run that stopped before logging it
        return {"name": name, "score": "", "decision": "exists", "method": "", "seconds": ""}
    try:  # read as the deblur reads it (alpha kept), so the axes settled here fit it
        data = io.read_image(path, lazy=False, keep_alpha=True, for_output=True)
    except (ValueError, TypeError, OSError, RuntimeError) as error:
        raise _Unreadable(error) from error
    axes = image_axes(data, args.axes)  # settled (and a guess in doubt noted) once per file
    # ... and said once: the deblur below takes them as the file's own
    data = replace(data, axes=axes, note=None)
    # a file unlike the calibration images: said once per kind, and kept in its record
    unlike = (threshold.profile.warn(name, image_profile(data.array, axes))
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
        return _clash_row(name, target, theirs[target], score)
    try:
        if target is deblurred:
            focus = focus_entry(scores, kept, axes, threshold, judged)
            if unlike:
                focus["unlike_calibration"] = unlike
            method = _write_output(path, name, target, mine(target), args, models, data,
                                   focus)
            decision = "deblurred"
        else:
            target.parent.mkdir(parents=True, exist_ok=True)  # --recursive: a sub-folder
            copy_atomically(path, copied, overwrite=args.overwrite or mine(copied))
            for part in dataset_files(path)[1:]:  # a copy of a dataset is of all its files
                with contextlib.suppress(OutputExistsError):  # copied already
                    copy_atomically(part, copied.parent / part.name, overwrite=args.overwrite)
            decision, method = ("copied" if judged is not None else "blank"), ""
    except OutputExistsError as error:
        if args.overwrite or not same_path(error.path, target):
            raise
        return _raced_row(name, target, score)
    if decision == "blank":
        print(f"microdeblur: {name}: blank (every plane is background noise only), "
              "copied, not deblurred; check the acquisition if it should hold a sample",
              file=sys.stderr, flush=True)
    _drop_earlier(name, target, state)
    return {"name": name, "score": f"{score:.6g}", "decision": decision, "method": method,
            "seconds": f"{time.perf_counter() - t0:.2f}"}


def _watch_one_claimed(path: Path, threshold: Threshold, args, models,
                       state: WatchState) -> dict | None:
    """``_watch_one`` under a claim on the file's output name (``core.output_claims``): a file
    another live watch (or deblur) is processing is left to it, not done twice: None, not
    logged (said once), looked at again later, when its output is there (logged 'exists') or
    its claim a dead run's (taken over). The claim goes when the file ends. Not with
    --overwrite, as `deblur`."""
    from .core.output_claims import OutputClaimed, claim_output

    if args.overwrite:
        return _watch_one(path, threshold, args, models, state)
    name = state.name(path)
    deblurred, _ = targets(name, state.out_dir)  # one claim for either output of the file
    deblurred.parent.mkdir(parents=True, exist_ok=True)  # --recursive: the claim goes there
    try:  # replacing: a changed file's output this watch wrote is there
        claim = claim_output(deblurred, replacing=True)
    except OutputClaimed as error:
        # not logged 'exists': had that run been killed, its file was left undone for good
        if name not in state.elsewhere:
            state.elsewhere.add(name)
            print(f"microdeblur: {name}: {shown_path(deblurred)} {error.skip_words} (looked "
                  "at again later)", file=sys.stderr, flush=True)
        return None
    try:
        return _watch_one(path, threshold, args, models, state)
    finally:
        claim.release()


def _raced_row(name: str, target: Path, score: float) -> dict:
    """An output another run (a second watch on the same folders) wrote while this one made
    it: kept and this file skipped, as `deblur` does, not logged 'failed' (exit 2)."""
    print(f"microdeblur: {name}: {shown_path(target)} written by another run while this one "
          "ran; kept, skipped", file=sys.stderr, flush=True)
    return {"name": name, "score": f"{score:.6g}", "decision": "exists", "method": "",
            "seconds": ""}


def _failed_row(name: str, decision: str, error: BaseException, args) -> dict:
    """Print why ``name`` was skipped ('unreadable' or 'failed') and return its log row."""
    from .cli_words import error_words

    print(f"microdeblur: {name}: {decision}, skipped: {error_words(error, args)}",
          file=sys.stderr, flush=True)
    return {"name": name, "score": "", "decision": decision, "method": "", "seconds": ""}


def _read_log(log_path: Path, out_dir: Path, incomplete: set | None = None) -> tuple[set, dict,
                                                                                  dict]:
    """(names logged, output -> the logged input whose result it holds, name -> the logged
    stamp of a file last logged failed, unreadable or incomplete): ``read_log``'s state in
    brief (``incomplete`` gets the names last logged 'incomplete')."""
    state = read_log(log_path, out_dir, out_dir)
    if incomplete is not None:
        incomplete.update(state.incomplete)
    return state.done, state.owners, state.failed


def _pending(state: WatchState, args, unread: list | None = None,
             listing: WatchedFiles | None = None) -> list[Path]:
    """The image files to process: those not logged yet, and those logged that changed since
    (size or mtime not the logged ones): failed, unreadable or incomplete ones are tried again,
    processed ones processed again (an unchanged one is never redone). ``unread`` gets the
    files of a format no reader reads; ``listing``: the watch's, kept between scans (an idle
    scan looks again at no file already handled: ``WatchedFiles``)."""
    if listing is None:
        listing = WatchedFiles(state.root, state.out_dir, args.recursive, args.follow_links)
    return listing.pending(state, unread)


def _process(path: Path, threshold: Threshold, args, models, state: WatchState) -> dict | None:
    """The log row of one file (its stamp taken first: a change during the run is a change),
    saying so when it is a retry or a redo, or None for a file that cannot be read yet and
    changed recently (``still_written``) or that another live run is processing now."""
    name, when = state.name(path), stamp(path)
    if name in state.waiting:  # still being written: said when it was first seen changed
        pass
    elif name in state.failed:
        since = ("it was logged incomplete" if name in state.incomplete
                 else "its last try failed")
        print(f"microdeblur: {name}: changed since {since}; retried",
              file=sys.stderr, flush=True)
    elif name in state.processed:
        print(f"microdeblur: {name}: changed since it was processed (its size or modification "
              f"time differ from its logged row); processed again, its output replaced",
              file=sys.stderr, flush=True)
    elif (old := state.renamed_owner(name)) is not None:
        print(f"microdeblur: {name}: taken as {old} renamed ({old} is no longer in the watched "
              f"folder): processed under its new name (its output replaces {old}'s where the "
              "disk ignores case)", file=sys.stderr, flush=True)
    try:
        row = _watch_one_claimed(path, threshold, args, models, state)
        if row is None:  # another live run's: looked at again later
            return None
    # one bad file (or a failed run on it) must not stop the watch
    except BrokenPipeError:  # the output's reader went away (| head): not this file's fault
        raise
    except _Unreadable as error:
        if still_written(path, when, error.__cause__, args, state):
            return None
        row = _failed_row(name, "unreadable", error.__cause__, args)
    except (ValueError, TypeError, OSError, RuntimeError) as error:
        row = _failed_row(name, "failed", error, args)
    row["size"], row["mtime_ns"] = when or ("", "")
    row["threshold"] = f"{threshold.value:.6g}"  # what it was judged by (a restart compares)
    return row


def _scan(state: WatchState, threshold: Threshold, args, models, write,
          stopper: FinishCurrentFile, unread_hint: UnreadHint | None = None,
          listing: WatchedFiles | None = None) -> bool:
    """One look at the folder: every file ready is processed and logged (``write(row)``);
    returns whether each pending file got a row (--once may end). A Ctrl-C or SIGTERM during
    a file lets it finish and be logged, then stops (``FinishCurrentFile``). Files of a format
    no reader reads are said by ``unread_hint`` (not logged: they are not watched)."""
    unread: list[Path] = []
    pending = _pending(state, args, unread, listing)
    if unread_hint is not None:
        unread_hint.say(unread)
    ready, given_up = complete(settled(pending, args.settle), state, args.incomplete_after)
    logged = 0
    for path, why in [(p, None) for p in ready] + given_up:
        name = state.name(path)
        with stopper.file(name):
            if why is None:
                row = _process(path, threshold, args, models, state)
            else:  # waited for too long: logged, nothing read or written
                row = waited_row(name, why, args)
                row["threshold"] = f"{threshold.value:.6g}"  # the run's, as every row's
            if row is not None:  # None: still being written, or another run's now
                state.waiting.pop(name, None)
                write(row)
                state.record(row)
                logged += 1
                if row["decision"] in NOT_DONE:
                    state.not_done[name] = row["decision"]
                else:  # retried and done
                    state.not_done.pop(name, None)
        if stopper.requested:
            stopper.finished = name if row is not None else None
            raise stopper.stop()
    return logged == len(pending)


def cmd_watch(args) -> int:
    """Process files as they appear: score, deblur the soft ones, copy the rest (and the blank
    ones), log a CSV row; a file that failed is tried again when it changes, a processed one
    processed again, a file still being written is waited for."""
    from .core.checkpoint import ModelCache

    in_dir, out_dir = Path(args.input_dir), Path(args.output_dir)
    check_watch_options(args)  # a bad option fails here, before anything is written
    method_specs(args)  # a bad PSF file is the option's fault, not every image's
    check_folders(in_dir, out_dir)
    log_path = out_dir / WATCH_LOG
    check_log_writable(log_path)  # another user's log: said before any file is processed
    models = ModelCache()  # the network is loaded at the first soft file, then kept
    check_tile_reach(args, models)  # a tile too small would fail every file
    threshold = watch_threshold(args)
    has_header = upgrade_log(log_path, in_dir)
    state = read_log(log_path, out_dir, in_dir)  # restart where we left off
    say_damaged(state, log_path)  # a row cut off: its file is processed again
    end_last_line(log_path)  # ... and the next row written on a line of its own
    # kept: listed again on a change
    listing = WatchedFiles(in_dir, out_dir, args.recursive, args.follow_links)
    _start_lines(state, threshold, args, listing)
    hint, stopper = SubfolderHint(in_dir, out_dir, args.follow_links), FinishCurrentFile()
    unread_hint = UnreadHint(in_dir)  # .mrc, .h5, .n5: said, never logged
    # UTF-8 whatever the locale: a name outside a Windows code page stopped the watch; one
    # not valid UTF-8 kept as its bytes (``TEXT``)
    try:
        log = open(log_path, "a", newline="", **TEXT)  # noqa: SIM115 - closed by the with
    except PermissionError:  # made another user's since it was checked
        raise log_not_writable(log_path) from None
    with log:
        writer = csv.DictWriter(log, fieldnames=WATCH_COLUMNS)
        if not has_header:
            writer.writeheader()
            log.flush()
        try:
            while True:
                if not args.recursive:
                    hint.say()
                if (_scan(state, threshold, args, models,
                          lambda row: write_row(writer, log, row, args.quiet), stopper,
                          unread_hint, listing)
                        and args.once):
                    return _once_code(state.not_done, log_path)
                time.sleep(args.poll)
        except KeyboardInterrupt as stop:  # SIGTERM too (cli.Terminated)
            return stopper.closing(stop, log_path)


def check_log_writable(log_path: Path) -> None:
    """Refuse a watch log this user may not read and append to (another user's, made under a
    umask of 022 in a shared output folder): its open for appending had failed with '[Errno
    13] Permission denied' and no advice."""
    if log_path.exists() and not os.access(log_path, os.R_OK | os.W_OK):
        raise log_not_writable(log_path)


def log_not_writable(log_path: Path) -> PermissionError:
    """The one line that says the watch log cannot be appended to, whose it is and what to do."""
    from .core.claims import user_name

    try:
        uid = log_path.stat().st_uid
    except OSError:
        uid = None
    shown = shown_path(log_path)
    me = getattr(os, "geteuid", lambda: None)()
    if uid is None or me is None or uid == me:  # Windows (no geteuid): no owners to tell
        return PermissionError(f"the watch log {shown} is not writable by you: make it "
                               "writable (chmod u+rw), or watch into another output folder")
    owner = user_name(uid)
    return PermissionError(
        f"the watch log {shown} belongs to another user ({owner}) and is not writable by you: "
        f"watch into another output folder, or ask {owner} to make it group-writable (chmod "
        f"g+rw {shown}); to share a folder, both of you run with umask 002")


def _start_lines(state: WatchState, threshold: Threshold, args,
                 listing: WatchedFiles | None = None) -> None:
    """A restart's lines: how many files are logged and skipped, how many new (unless -q);
    and a warning where logged files were decided with another threshold: unchanged, they are
    not processed again, so their decisions stand (a restart with another --threshold had
    said nothing)."""
    if not state.done:
        return
    pending = {state.name(p) for p in _pending(state, args, listing=listing)}
    skipped = [n for n in state.done if n not in pending and (state.root / n).exists()]
    if not args.quiet:
        # files logged incomplete stay so until they change: said, not passed for done
        still = sum(n in state.incomplete for n in skipped)
        print(f"microdeblur: {len(skipped)} file{'s' * (len(skipped) != 1)} already logged "
              f"(skipped{f', {still} still incomplete' if still else ''}), {len(pending)} new "
              "or changed", file=sys.stderr, flush=True)
    other = other_thresholds(state, threshold.value, skipped)
    if other:
        count = sum(other.values())
        print(f"microdeblur: warning: {count} logged file{'s were' if count > 1 else ' was'} "
              f"deblurred or copied by threshold {' or '.join(other)}, not this run's "
              f"{threshold.value:.6g}; unchanged files are not processed again, so those "
              "decisions stand: to decide every file by this threshold, watch into a new, "
              "empty output folder", file=sys.stderr, flush=True)


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
    from .cli_options import psf_epilog

    p = sub.add_parser(
        "watch", help="deblur files as they appear in a folder, only those out of focus",
        description="Give exactly one of --threshold or --calibrate.", **psf_epilog())
    add_watch_arguments(p)
    p.set_defaults(func=cmd_watch)
