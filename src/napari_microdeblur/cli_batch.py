"""`microdeblur deblur` on a folder: which files it reads (its subfolders' with --recursive,
else counted and said), where each output goes, and the output folder checked once."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .cli import UserError
from .cli_progress import FilesBar, say
from .core.shown import first_line, shown_path


def batch_inputs(args, output: Path) -> list[Path]:
    """The input files; a folder's subfolders with --recursive, else their images counted
    and said in one line (a batch that left out 7 of 8 images said nothing)."""
    from .core import io
    from .core.files import find_inputs, folder_images

    given = Path(args.input)
    if not given.is_dir() or io.is_zarr(given):
        return find_inputs(args.input)
    if args.recursive:  # outputs written inside the input folder are not inputs
        return find_inputs(given, recursive=True, skip=output)
    found = folder_images(given)
    # one level down only: walking a whole tree (a chunked volume of millions of files) to
    # count what is left out would cost more than the batch's own listing
    nested = len(folder_images(given, recursive=True, skip=output, depth=1)) - len(found)
    files = f"{nested} image file{'s' * (nested > 1)} directly in them, deeper ones not counted"
    recurse = ("--recursive deblurs them too, each output in the same subfolder of the output "
               "folder")
    if nested and not found:
        raise UserError(f"input directory {shown_path(given)} holds no image file itself, but "
                        f"its subfolders do ({files}): {recurse}")
    if nested:
        print(f"microdeblur: warning: images in subfolders of {shown_path(given)} are left out "
              f"({files}): {recurse}", file=sys.stderr, flush=True)
    return find_inputs(given)


def folder_pairs(inputs: list[Path], output: Path, args) -> list[tuple[Path, Path]]:
    """(input, output) of a batch into the folder ``output``, refused once where the folder
    cannot be written in (each file said so, one line per file)."""
    from .core import io, io_write
    from .core.files import batch_pairs

    io_write.check_output_path(output / "microdeblur-write-check.tif", overwrite=True)
    given = Path(args.input)
    root = given if args.recursive and given.is_dir() and not io.is_zarr(given) else None
    return batch_pairs(inputs, output, root)


def deblur_in_batch(source: Path, target: Path, args, models, log) -> None:
    """One file of a batch into a folder: its failure said and logged, not raised."""
    from .cli import memory_words, warnings_naming
    from .cli_words import error_words

    t0 = time.perf_counter()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)  # --recursive's subfolders
        with warnings_naming(source, log):
            method = deblur_file_as_asked(source, target, args, models)
    except BrokenPipeError:  # the output's reader went away (| head): not this file's
        raise
    except (ValueError, TypeError, OSError, RuntimeError) as error:
        why = memory_words(error, args) or error_words(error, args)
        say(f"microdeblur: error: {source}: {why}", sys.stderr)
        log.add(source, target, "failed", seconds=time.perf_counter() - t0, error=why)
        return
    log.add(source, target, "ok", method=method, seconds=time.perf_counter() - t0)


def deblur_file_as_asked(source: Path, target: Path, args, models=None) -> str:
    """The whole file (``cli.deblur_one``), or with --focus-below its soft slices or tiles
    only (``cli_selective.deblur_soft``); the label of the method that ran."""
    if getattr(args, "focus_below", None) is not None:
        from .cli_selective import deblur_soft

        return deblur_soft(source, target, args, models)
    from .cli import deblur_one

    return deblur_one(source, target, args, models)


def once_a_run(message, category, said: set):
    """A hint about the output (``io_write.OutputHint``) in the command line's words, the
    first time this run (``said``: the categories said); None after that. Other warnings as
    they are."""
    from .cli_words import in_cli_words
    from .core.io_write import OutputHint

    if not issubclass(category, OutputHint):
        return message
    if category in said:
        return None
    said.add(category)
    return in_cli_words(str(message), {"output_dtype": "--output-dtype"})


def deblur_single(source: Path, output: Path, args) -> int:
    """One file (no folder): an error ends the command (said by cli._run); with --json, its
    object is printed first, as a batch's file's would be."""
    from .cli import memory_words
    from .cli_words import error_words

    t0 = time.perf_counter()
    try:
        method = deblur_file_as_asked(source, output, args)
    except (ValueError, TypeError, OSError, RuntimeError, MemoryError) as error:
        if args.json and not isinstance(error, BrokenPipeError):
            why = memory_words(error, args) or error_words(error, args)
            print(json.dumps(file_object(source, output, "failed",
                                         seconds=time.perf_counter() - t0, error=why)),
                  flush=True)
        raise
    if args.json:
        print(json.dumps(file_object(source, output, "ok", method,
                                     time.perf_counter() - t0)), flush=True)
    return 0


#: a word holding a digit (a sigma, a count, a PSF written with them: 'astig:1.54,1.2,30' and
#: 'gaussian:1.7'): masked to tell a warning that repeats from file to file with only those
#: details changed
_WITH_DIGITS = re.compile(r"\S*\d\S*")


@dataclass
class BatchLog:
    """What a batch into a folder did, file by file: each file's --json line as it ends, the
    failed files listed beside the folder (as ``core.cluster.write_failures`` lists them) and
    one closing line on stderr. Under -q, a warning that repeats from file to file with only
    its details changed (the PSF estimated from each EM tile: 100k lines) is said for the
    first file and counted in one line before the closing one."""

    output: Path
    quiet: bool
    json: bool
    records: list = field(default_factory=list)
    #: a warning, details masked -> [the first file it was said for, its opening words,
    #: how many other files had it, the last of them]
    repeats: dict = field(default_factory=dict)
    #: the folder the files are named under (``name``); None: by their whole path
    root: Path | None = None
    bar: FilesBar | None = None

    def begin(self, sources) -> BatchLog:
        """The batch's files (``sources``): the folder they are named under, and their bar."""
        sources = [Path(s) for s in sources]
        self.root = common_folder(sources)
        self.bar = FilesBar(len(sources), quiet=self.quiet)
        return self

    @contextlib.contextmanager
    def bar_closed_on_error(self):
        """The files bar closed before an error (a refused scheduler) is printed."""
        try:
            yield
        except BaseException:
            if self.bar is not None:
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
            error: str | None = None) -> None:
        """One file's outcome: ``status`` 'ok', 'skipped' or 'failed' (with ``error``)."""
        record = {"input": str(source), "output": str(target), "status": status}
        if error is not None:  # write_failures lists the records that hold an error
            record["error"] = error
        self.records.append(record)
        if self.bar is not None:
            self.bar.skipped() if status == "skipped" else self.bar.done()
        if self.json:  # one object a line, as each file ends (jq reads JSON lines)
            say(json.dumps(file_object(source, target, status, method, seconds, error)))

    def repeated(self, message: str, file: str) -> bool:
        """Whether ``message``, said for ``file``, is to be counted, not said: under -q, the
        same warning as one said for an earlier file, numbers aside."""
        if not self.quiet:
            return False
        message = without_file(message, file).strip(" :'\"")
        # the whole warning, details masked, is the key ('colour R: 30 iterations' and
        # 'colour R: balance ...' are two warnings)
        key = _WITH_DIGITS.sub("#", message)
        seen = self.repeats.get(key)
        if seen is None:
            self.repeats[key] = [file, message.split(": ")[0], 0, file]
            return False
        if file == seen[0]:
            return False
        if file != seen[3]:  # a batch's files come one after another: counted once each
            seen[2], seen[3] = seen[2] + 1, file
        return True

    def close(self, interrupted: bool = False) -> int:
        """The repeated warnings counted, the failures listed, the closing line; the exit
        code (2 where a file failed, as a single file's failure). ``interrupted`` (Ctrl-C):
        what was done so far, and that a rerun finishes it (no line, and an earlier run's
        failures list left in place, had said nothing of the run)."""
        from .cli import EXIT_ERROR

        if self.bar is not None:  # the lines below print after it, not through it
            self.bar.close()
        for file, words, more, _ in self.repeats.values():
            if more:
                print(f"microdeblur: warning: {words}: also for {more} more "
                      f"file{'s' * (more > 1)}, each with its own details (said above for "
                      f"{file}; without -q each is said)", file=sys.stderr, flush=True)
        counts = {s: sum(r["status"] == s for r in self.records)
                  for s in ("ok", "skipped", "failed")}
        list_failures(self.output, self.records, counts["failed"])
        # said with -q too: one line whatever the batch's size, and the one scripts grep
        print(f"microdeblur: {shown_path(self.output)}: {counts['ok']} done, "
              f"{counts['skipped']} skipped (output exists), {counts['failed']} failed"
              + ("; interrupted: the same command again finishes the rest" if interrupted
                 else ""), file=sys.stderr, flush=True)
        return EXIT_ERROR if counts["failed"] else 0


def without_file(message: str, file: str) -> str:
    """``message`` without the words naming ``file``, its whole path with them ('in/b.tif:
    ...' had left 'in/'), a name holding spaces too; by string search, not a regex per file
    name, which re caches (a batch of millions of names grew it:
    tests/test_batch_stability_2026_12_09.py)."""
    kept, rest = [], message
    while file and file in rest:
        before, rest = rest.split(file, 1)
        kept.append(before.rsplit(" ", 1)[0] if " " in before else "")  # 'in/', "'"
        rest = rest.split(" ", 1)[1] if " " in rest else ""  # "':", ':'
    return " ".join(w for w in [*kept, rest] if w)


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
                error: str | None = None) -> dict:
    """The --json object of one file of deblur (one, or each of a batch)."""
    return {"input": str(source), "output": str(target),
            "seconds": None if seconds is None else round(float(seconds), 3),
            "method": method, "status": status, "error": error}


def list_failures(output: Path, records: list[dict], failed: int) -> None:
    """A batch into a folder: its failed files listed beside it, said in one line; a list an
    earlier run left is replaced, or removed when none failed (``write_failures``)."""
    from .core.cluster import failures_path, write_failures

    try:
        listed = write_failures(output, records)
    except OSError as error:  # the failures were printed: an unwritable list stops nothing
        print(f"microdeblur: warning: the failed files could not be listed in "
              f"{shown_path(failures_path(output))} ({first_line(error)}); copy them from the "
              "error lines above", file=sys.stderr, flush=True)
        return
    if listed is not None:
        print(f"microdeblur: {failed} of {len(records)} files failed; listed in "
              f"{shown_path(listed)}", file=sys.stderr, flush=True)
