"""`microdeblur deblur` on a folder: which files it reads (its subfolders' with --recursive,
else counted and said), where each output goes, and the output folder checked once."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .cli import UserError
from .cli_batch_lines import ExistingOutputs, RepeatedWarnings, warning_head  # noqa: F401
from .cli_batch_stale import CHECKED_AT_MOST, StaleOutputs, requested
from .cli_changed_inputs import ChangedInputs
from .cli_progress import FilesBar, say
from .core.shown import first_line, shown_path


def batch_inputs(args, output: Path) -> list[Path]:
    """The input files; a folder's subfolders with --recursive, else their images counted
    and said in one line (a batch that left out 7 of 8 images said nothing). A folder's files
    that microdeblur made from others of it are left out, said in one line
    (``cli_batch_outputs``: an earlier run's outputs were deblurred again)."""
    from .cli_batch_outputs import checked_single, nested_images, without_made
    from .core import io
    from .core.input_files import find_inputs, folder_images, nested_words

    given, args.dataset_parts = Path(args.input), []  # counted by BatchLog: find_inputs
    if not given.is_dir() or io.is_zarr(given):
        return checked_single(find_inputs(args.input, parts=args.dataset_parts), output, args)
    if args.recursive:  # outputs written inside the input folder are not inputs
        found = find_inputs(given, recursive=True, skip=output, parts=args.dataset_parts)
        return without_made(found, given, output, recursive=True)
    # one level down only: walking a whole tree (a chunked volume of millions of files) to
    # count what is left out would cost more than the batch's own listing
    nested = nested_images(given, output)
    recurse = ("--recursive deblurs them too, each output in the same subfolder of the output "
               "folder")
    if nested and not folder_images(given):
        raise UserError(f"input directory {shown_path(given)} holds no image file itself, but "
                        f"its subfolders do ({nested_words(nested)}): {recurse}")
    if nested:
        print(f"microdeblur: warning: images in subfolders of {shown_path(given)} are left out "
              f"({nested_words(nested)}): {recurse}", file=sys.stderr, flush=True)
    return without_made(find_inputs(given, parts=args.dataset_parts), given, output, False)


def folder_pairs(inputs: list[Path], output: Path, args) -> list[tuple[Path, Path]]:
    """(input, output) of a batch into the folder ``output``, refused once where the folder
    cannot be written in (each file said so, one line per file). Inputs left out as earlier
    outputs (a rerun into the inputs' folder) go to ``args.earlier_outputs``: the records of
    the first ``READ_AT_MOST`` read here, the rest where --overwrite would replace one
    (``deblur_in_batch``), else said unread in one line; a cluster's workers check none, so
    with --overwrite all are read here."""
    from .core import io, io_write
    from .core.batch_outputs import READ_AT_MOST, EarlierOutputs, outputs_that_fit
    from .core.files import batch_pairs

    io_write.check_output_path(output / "microdeblur-write-check.tif", overwrite=True)
    given = Path(args.input)
    root = given if args.recursive and given.is_dir() and not io.is_zarr(given) else None
    cluster = bool(getattr(args, "scheduler", None))
    earlier = EarlierOutputs(None if cluster and args.overwrite else READ_AT_MOST)
    pairs = batch_pairs(inputs, output, root, earlier=earlier)
    args.earlier_outputs = earlier
    if not args.overwrite and (words := earlier.unread_words()):
        print(f"microdeblur: warning: {words}", file=sys.stderr, flush=True)
    return outputs_that_fit(pairs, args.output_dtype, args.overwrite,  # fit, before any work
                            space_check=not getattr(args, "no_space_check", False))


def deblur_in_batch(source: Path, target: Path, args, models, log) -> None:
    """One file of a batch into a folder: its failure said and logged, not raised. Without
    --overwrite its output is claimed first (``core.output_claims``): one that another live run
    is writing (the same command started twice) or wrote meanwhile is skipped, as it would have
    been had it been there first (the caller skips those that exist before the file)."""
    from .cli import warnings_naming
    from .core.atomic_write import OutputExistsError, make_folder_for
    from .core.io_write import check_name_length
    from .core.output_claims import claim_output, skip_words

    t0, claim = time.perf_counter(), None
    earlier = getattr(args, "earlier_outputs", None)
    try:
        check_name_length(target)  # its length said, not 'File name too long' alone
        if earlier is not None:  # an input left out as an earlier output, its record unread
            earlier.check_replaced(target)
        make_folder_for(target)  # --recursive's subfolders; a file in the way said so
        if not args.overwrite:  # in the output's folder, so made first; another run's: skipped
            claim = claim_output(target)
        with warnings_naming(source, log, target):
            method, fields = deblur_file_as_asked(source, target, args, models)
    except BrokenPipeError:  # the output's reader went away (| head): not this file's
        raise
    except OutputExistsError as error:
        if args.overwrite or not same_path(error.path, target):
            return say_failed(source, target, error, args, log, t0)
        if not args.quiet and not args.json:  # another run writes it, or wrote it meanwhile
            say(f"{target}: {skip_words(error)}")
        log.add(source, target, "skipped", seconds=time.perf_counter() - t0)
        log.records[-1]["claimed"] = getattr(error, "holder", None) is not None  # no output yet
        return None
    # UserError: this file refused (a single plane under --focus-below auto), the others
    # may be deblurred; MemoryError: this file too big. Both had ended the batch, unsummed.
    except (UserError, ValueError, TypeError, OSError, RuntimeError, MemoryError) as error:
        from .core.batch_outputs import full_disk_cause, full_disk_stop

        # a full disk stops the batch (BatchLog closes it): the rest would fail the same way
        full = full_disk_cause(error)
        stop = full_disk_stop(source, full and full.errno, first_line(error))
        if stop is not None:
            raise stop from None
        return say_failed(source, target, error, args, log, t0)
    finally:  # done, failed or interrupted: the claim goes (a killed run's is taken over)
        if claim is not None:
            claim.release()
    log.add(source, target, "ok", method=method, seconds=time.perf_counter() - t0, **fields)


def say_failed(source, target, error, args, log, t0: float) -> None:
    """A batch file's failure: said in one line and logged (the batch goes on)."""
    from .cli_words import error_words, memory_words

    why = memory_words(error, args) or error_words(error, args)
    say(f"microdeblur: error: {source}: {why}", sys.stderr)
    log.add(source, target, "failed", seconds=time.perf_counter() - t0, error=why)


def same_path(one, other) -> bool:
    return os.path.abspath(one) == os.path.abspath(other)


def deblur_file_as_asked(source: Path, target: Path, args, models=None):
    """The whole file (``cli.deblur_one``), or with --focus-below its soft slices or tiles
    only (``cli_selective.deblur_soft``): (the label of the method that ran, None where
    nothing was below T; the fields its --json line adds: what --focus-below decided)."""
    if getattr(args, "focus_below", None) is not None:
        from .cli_selective import deblur_soft

        return deblur_soft(source, target, args, models)
    from .cli import deblur_one

    return deblur_one(source, target, args, models), {}


#: the options the core's warnings about an output name (``once_a_run``)
OUTPUT_OPTIONS = {"output_dtype": "--output-dtype"}


def once_a_run(message, category, said: set):
    """A hint about the output (``io_write.OutputHint``) in the command line's words, the
    first time this run (``said``: the categories said); None after that. Other warnings as
    they are, but a setting the dock and Python share ('set the output dtype to float32',
    ``core.output_cast.KEEP``) named as its option."""
    from .cli_words import in_cli_words, settings_in_cli_words
    from .core.io_write import OutputHint

    if not issubclass(category, OutputHint):
        return settings_in_cli_words(str(message), OUTPUT_OPTIONS)
    if category in said:
        return None
    said.add(category)
    return in_cli_words(str(message), OUTPUT_OPTIONS)


def deblur_single(source: Path, output: Path, args) -> int:
    """One file (no folder): an error ends the command (said by cli._run); with --json, its
    object is printed first, as a batch's file's would be, its own warnings in it."""
    from .cli import warnings_naming
    from .cli_words import error_words, memory_words

    t0 = time.perf_counter()
    log = OneFileLog(output, quiet=args.quiet, json=args.json)
    try:
        with warnings_naming(source, log, output):
            method, fields = deblur_file_as_asked(source, output, args)
    except (UserError, ValueError, TypeError, OSError, RuntimeError, MemoryError) as error:
        if args.json and not isinstance(error, BrokenPipeError):
            why = memory_words(error, args) or error_words(error, args)
            log.add(source, output, "failed", seconds=time.perf_counter() - t0, error=why)
        raise
    if args.json:
        log.add(source, output, "ok", method=method, seconds=time.perf_counter() - t0,
                **fields)
    return 0


@dataclass
class BatchLog:
    """What a batch into a folder did, file by file: each file's --json line as it ends, the
    failed files listed beside the folder (``list_failures``), one closing line on stderr. A
    warning that repeats from file to file with only its details changed (the PSF estimated
    from each EM tile: 100k lines) is said in full for the first file, then in one short line
    per file (with -q counted at the closing); an output that exists is said for the first,
    the others counted at the closing (``cli_batch_lines``). Each file's warnings are in its
    --json object."""

    output: Path
    quiet: bool
    json: bool
    records: list = field(default_factory=list)
    #: warnings repeated file after file, names and numbers aside: said short, or counted
    folded: RepeatedWarnings = field(default_factory=RepeatedWarnings)
    #: the output of the file whose warnings are said (``cli.warnings_naming``): its name is
    #: masked in them as the file's is
    target: Path | None = None
    #: the warnings of the file being deblurred, for its --json object (``add``)
    warned: list = field(default_factory=list)
    existing: ExistingOutputs = field(default_factory=ExistingOutputs)
    #: the folder the files are named under (``name``); None: by their whole path
    root: Path | None = None
    bar: FilesBar | None = None
    #: this run's settings (``requested``) that a skipped output's record is compared with;
    #: None: not compared
    request: dict | None = None
    stale: StaleOutputs = field(default_factory=StaleOutputs)
    #: skipped outputs whose input changed since they were written (a rerun)
    changed: ChangedInputs = field(default_factory=ChangedInputs)
    #: --overwrite: a rerun redoes every file (``rest_words``); the batch's file count
    overwrite: bool = False
    total: int = 0
    #: --scheduler: a task running at a Ctrl-C still finishes its file (``rest_words``)
    cluster: bool = False
    parts: int = 0  # inputs left out as files of multi-file OME-TIFFs read whole from another
    closed: bool = False  # its closing line said (once: Ctrl-C closes it where it is caught)

    def begin(self, sources, args=None) -> BatchLog:
        """The batch's files (``sources``): the folder they are named under, and their bar;
        ``args``: the command's, whose settings a skipped output's record is compared with."""
        if args is not None:
            self.request = requested(args)
            self.overwrite = bool(getattr(args, "overwrite", False))
            self.cluster = bool(getattr(args, "scheduler", None))
            self.stale.begin(args, CHECKED_AT_MOST)  # as set here when the batch begins
            self.parts = len(getattr(args, "dataset_parts", ()))  # ``batch_inputs``
            self.changed.quiet = self.quiet
        sources = [Path(s) for s in sources]
        self.total = len(sources)
        self.root = common_folder(sources)
        self.bar = FilesBar(len(sources), quiet=self.quiet)
        return self

    @contextlib.contextmanager
    def bar_closed_on_error(self):
        """The files bar closed before an error (a refused scheduler) is printed; an error
        that stops a batch after some files were done (one not a file's own), or a full disk,
        closes it with its summary line too, saying it stopped (the error follows): it had
        ended with the error alone, what was done not said. Ctrl-C closes it as interrupted
        (a cluster run had said only 'interrupted')."""
        from .core.batch_outputs import DiskFullError

        try:
            yield
        except KeyboardInterrupt:
            self.close(interrupted=True)
            raise
        except BrokenPipeError:  # no one reads
            if self.bar is not None:
                self.bar.close()
            raise
        except BaseException as error:
            if self.records or isinstance(error, DiskFullError):
                self.close(stopped=True)
            elif self.bar is not None:
                self.bar.close()
            raise

    def name(self, source) -> str:
        """``source`` as the batch's lines name it: its path under the folder of all the
        batch's files (one name in many folders, 'tile_0_0.tif', told apart; one folder's
        files by their names), else its whole path."""
        source = Path(source)
        if self.root is None:
            return str(source)
        try:
            return str(Path(os.path.abspath(source)).relative_to(self.root))
        except ValueError:  # not under it (a file added after ``begin``)
            return str(source)

    def add(self, source, target, status: str, *, method=None, seconds=None,
            error: str | None = None, **fields) -> None:
        """One file's outcome: ``status`` 'ok', 'skipped' or 'failed' (with ``error``);
        ``fields``: more for its --json line (what --focus-below decided, allocator_tuned).
        A skipped output made with other settings than ``request``'s is counted (and its
        line says which differ)."""
        record = {"input": str(source), "output": str(target), "status": status}
        # its own warnings, as raised: the lines on stderr shorten or count repeats
        fields = {**fields, "warnings": self.warned}
        self.warned = []
        if error is not None:  # write_failures lists the records that hold an error
            record["error"] = error
        self.records.append(record)
        if status == "skipped" and self.request is not None:  # settings_differ and others
            fields = {**fields, **self.stale.compared(source, target, self.request,
                                                      self.changed, self.name(source))}
        if self.bar is not None:
            self.bar.skipped() if status == "skipped" else self.bar.done()
        if self.json:  # one object a line, as each file ends (jq reads JSON lines)
            say(json.dumps(file_object(source, target, status, method, seconds, error,
                                       **fields)))

    def exists(self, source, target) -> None:
        """An output that exists, skipped: the first said (not with -q, nor --json, whose
        stdout is JSON only), the others counted at the closing; each one's --json line."""
        if not self.quiet and not self.json:
            self.existing.skipped(target)
        self.add(source, target, "skipped")

    def warning(self, message: str, file: str, words: str) -> str | None:
        """The words to say after 'microdeblur: warning: ' for ``message``, raised for
        ``file`` (``words``: in full, naming it), kept for its --json object: a kind said in
        full for an earlier file in one short line, or with -q none (``RepeatedWarnings``;
        300 EM tiles had said 300 of ~230 characters, each file's own numbers in them)."""
        self.warned.append(message)
        return self.folded.line(message, file, words, self.names(file), self.quiet)

    def repeated(self, message: str, file: str) -> bool:
        """Whether ``message``, said for ``file``, repeats a warning said in full for an
        earlier file, its names and numbers aside (shortened, or with -q counted)."""
        return self.folded.seen(message, file, self.names(file))[0] is not None

    def names(self, file: str) -> tuple:
        """The names a warning of ``file`` may hold: its own and its output's."""
        return (file, self.target.name) if self.target is not None else (file,)

    @property
    def repeats(self) -> dict:
        return self.folded.repeats

    def close(self, interrupted: bool = False, stopped: bool = False) -> int:
        """The repeated warnings counted, the failures listed, the closing line; the exit
        code (2 where a file failed, as a single file's failure). ``interrupted`` (Ctrl-C):
        what was done so far, and that a rerun finishes it (no line had said anything of the
        run); ``stopped``: as interrupted, by the error printed next."""
        from .cli import EXIT_ERROR

        counts = {s: sum(r["status"] == s for r in self.records)
                  for s in ("ok", "skipped", "failed")}
        if self.closed:  # said where Ctrl-C was first caught
            return EXIT_ERROR if counts["failed"] else 0
        self.closed = True
        if self.bar is not None:  # the lines below print after it, not through it
            self.bar.close()
        self.existing.say(self.output)
        if self.quiet:  # without -q each file's was said, shortened
            self.folded.say()
        self.stale.say()
        list_failures(self.output, self.records, counts["failed"])
        # said with -q too: one line whatever the batch's size, and the one scripts grep
        claimed = sum(bool(r.get("claimed")) for r in self.records)  # not there: not 'exists'
        print(f"microdeblur: {shown_path(self.output)}: {counts['ok']} done, "
              f"{counts['skipped'] - claimed} skipped (output exists), "
              + f"{claimed} skipped (being written by another run), " * bool(claimed)
              + f"{self.parts} left out (part of a multi-file OME-TIFF), " * bool(self.parts)
              + f"{counts['failed']} failed" + self.changed.words()
              + (self.rest_words("interrupted") if interrupted
                 else self.rest_words("stopped by the error below") if stopped else ""),
              file=sys.stderr, flush=True)
        return EXIT_ERROR if counts["failed"] else 0

    def rest_words(self, how: str) -> str:
        """How to finish a batch ended early (``how``). A rerun skips every output that
        exists: the rest, without --overwrite; with it, the same command redoes every file,
        and one without it would keep the old outputs this run did not reach, so which were
        redone is said. A cluster's tasks running at a Ctrl-C finish their files unsaid."""
        if self.cluster and how == "interrupted":
            how += " (files the workers were deblurring still finish, unlisted here)"
        if not self.overwrite:
            return f"; {how}: the same command again finishes the rest"
        done = [r for r in self.records if r["status"] == "ok"]
        if not done:
            return f"; {how} before an output was redone: the same command again redoes them all"
        total = max(self.total, len(self.records))
        return (f"; {how}: this run redid {len(done)} of {total} outputs (the last for "
                f"{self.name(done[-1]['input'])}); the same command again redoes all {total}, "
                "and without --overwrite it would skip every output that exists, the old ones "
                "not redone too")


class OneFileLog(BatchLog):
    """One file (no folder, ``deblur_single``): its warnings kept for its --json object as a
    batch's file's are (``cli.warnings_naming``), their lines naming no file, as before."""

    def name(self, source) -> str:
        return ""  # the one file: its warnings say it in full, unprefixed


def common_folder(sources: list[Path]) -> Path | None:
    """The deepest folder holding all ``sources`` (absolute), or None where there is none
    but the file system's root (or another drive): their whole paths name them then."""
    if not sources:
        return None
    try:
        root = Path(os.path.commonpath([os.path.abspath(s.parent) for s in sources]))
    except ValueError:  # Windows: files on two drives
        return None
    return None if root == root.parent else root


#: tifffile's log lines while a file is read in a batch (``tifffile_held``); None: none held
_held: list[str] | None = None


def tifffile_words(text: str) -> str:
    """A tifffile log line without its object ("<tifffile.TiffFile 'tile_0_0.tif'> ImageJ
    series metadata invalid ..."), whose name is the bare file name: the CLI names the file."""
    if text.startswith("<tifffile.") and "> " in text:
        text = text.split("> ", 1)[1]
    return f"tifffile: {text}"


class _TifffileLines(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        text = tifffile_words(record.getMessage())
        if _held is not None:
            _held.append(text)
        else:  # said now, as the CLI's warnings are (a raw line had passed -q, unprefixed)
            warnings.showwarning(text, UserWarning, "", 0)


@contextlib.contextmanager
def tifffile_as_warnings():
    """tifffile's log lines (those ``quiet_tifffile`` lets through) as the command line's
    warnings, not as raw lines on stderr; restored on return."""
    log = logging.getLogger("tifffile")
    handler, before = _TifffileLines(), log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.propagate = before


@contextlib.contextmanager
def tifffile_held():
    """tifffile's log lines while one file is deblurred: said as its warnings (naming it)
    when it is done; left out when it fails, whose error line says what is wrong with it."""
    global _held
    outer, _held = _held, []
    try:
        yield
        held = _held
    finally:
        _held = outer
    for text in held:
        warnings.showwarning(text, UserWarning, "", 0)


def file_object(source, target, status: str, method=None, seconds=None,
                error: str | None = None, **fields) -> dict:
    """The --json object of one file of deblur (one, or each of a batch); ``fields`` after
    the six every line has (what --focus-below decided, a cluster's allocator_tuned)."""
    return {"input": str(source), "output": str(target),
            "seconds": None if seconds is None else round(float(seconds), 3),
            "method": method, "status": status, "error": error, **fields}


def list_failures(output: Path, records: list[dict], failed: int) -> None:
    """A batch into a folder: its failed files listed beside it, said in one line; a list an
    earlier run left keeps the rows of files this run did not touch (``write_failures``)."""
    from .core.cluster import failures_path, write_failures

    try:
        listed, kept = write_failures(output, records)
    except OSError as error:  # the failures were printed: an unwritable list stops nothing
        print(f"microdeblur: warning: the failed files could not be listed in "
              f"{shown_path(failures_path(output))} ({first_line(error)}); copy them from the "
              "error lines above", file=sys.stderr, flush=True)
        return
    more = f", with {kept} earlier failed file{'s' * (kept > 1)} this run did not redo"
    if listed is not None:  # said with kept rows alone too: they are not this run's failures
        print(f"microdeblur: {failed} of {len(records)} files failed; listed in "
              f"{shown_path(listed)}{more if kept else ''}", file=sys.stderr, flush=True)
