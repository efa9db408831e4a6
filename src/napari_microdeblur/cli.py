"""`microdeblur`: the command line over the same core the napari docks use.

argv -> core calls -> files and an exit code. Errors print one line and exit 2; a run that
fails or is interrupted leaves no partial output file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
import warnings
from pathlib import Path

from .cli_allocator import tune_allocator
from .cli_progress import ProgressBar, say, say_interrupted
from .cli_words import memory_words
from .core.shown import shown_path

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a process it ended
#: the reader of the output went away (`| head`): the shell's code for a process that
#: SIGPIPE ended, so `set -o pipefail` scripts see what they see from cat or grep
EXIT_BROKEN_PIPE = 141


class UserError(Exception):
    """A problem the user can fix; printed as one line."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (`timeout`, a cluster's time limit or scancel, kill), raised as Ctrl-C is: every
    cleanup Ctrl-C runs (the hidden partial output removed, a batch log closed) runs for it."""


def _raise_terminated(signum, frame):
    raise Terminated


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises ``Terminated`` within the block; Python's default ended the process at
    once and left the partial output (432 MB for a 6k image). Only the main thread may set a
    handler: elsewhere SIGTERM keeps its own."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread
        previous = _raise_terminated
    try:
        yield
    finally:
        if previous is not _raise_terminated:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _fail(message: str) -> int:
    print(f"microdeblur: error: {message}", file=sys.stderr)
    return EXIT_ERROR


#: The file of a batch being deblurred, as its lines name it (``BatchLog.name``: its path
#: under the input folder; 1000 tiles, 1000 lines, many of them of one name)
_batch_file: str | None = None
#: the batch's cli_batch.BatchLog, which shortens a warning repeated file after file
_batch_log = None

#: warning categories said once per run (``core.io_write.OutputHint``), not once per file
_said_once: set = set()


def _warn_in_one_line(message, category, filename, lineno, file=None, line=None) -> None:
    from .cli_batch import once_a_run

    message = once_a_run(message, category, _said_once)
    if message is None:
        return
    where = f"{_batch_file}: " if _batch_file and _batch_file not in str(message) else ""
    words = f"{where}{message}"
    if _batch_log is not None:  # a repeat shortened (counted under -q), kept for --json
        words = _batch_log.warning(str(message), _batch_file or "", words)
    if words is not None:
        say(f"microdeblur: warning: {words}", sys.stderr)


@contextlib.contextmanager
def warnings_naming(source: Path, log=None, target=None):
    """Warnings raised inside name ``source`` (in a batch, ``log``'s name for it: its path
    under the input folder), tifffile's log lines with them (``cli_batch.tifffile_held``);
    ``target``: its output, whose name ``log`` masks as the file's in a repeated warning."""
    from .cli_batch import tifffile_held

    global _batch_file, _batch_log
    _batch_file, _batch_log = log.name(source) if log else source.name, log
    if log is not None:
        log.target = None if target is None else Path(target)
    try:
        with tifffile_held():
            yield
    finally:
        _batch_file, _batch_log = None, None


def file_label(source: Path) -> str:
    """How a progress bar names ``source``: as its warnings do in a batch, else its name."""
    return _batch_file or source.name


# ----------------------------------------------------------------------------- commands


def method_specs(args):
    """The method and tiling options as (MethodSpec, TilingSpec), checked before any work;
    worked out once per command (kept on ``args``), a PSF file read once."""
    from .cli_info_weights import psf_given
    from .cli_options import check_iterations_cap
    from .core.method import MethodSpec, PsfArray
    from .core.psf import is_psf_model
    from .core.psf_fit import check_spec_before_image
    from .core.tiling_spec import TilingSpec

    if getattr(args, "method_specs", None) is not None:
        return args.method_specs
    check_iterations_cap(args.iterations)
    method = MethodSpec(args.method, psf=args.psf, iterations=args.iterations,
                        balance=args.balance, tv_weight=args.tv_weight, weights=args.weights,
                        precision=args.precision, modality=args.modality,
                        noise_scale=args.noise_scale)
    tiling = TilingSpec(tile=args.tile, overlap=args.overlap, window=args.window,
                        batch_size=args.batch_size, device=args.device,
                        output_dtype=args.output_dtype)
    # an optics PSF lacking pixel= (or dz=) is completed from each file's calibration
    # on a cluster a GPU name is the workers' to resolve: the submitting laptop may have none
    method = psf_given(check_spec_before_image(method))
    tiling = tiling.check(on_workers=bool(getattr(args, "scheduler", None)))
    # the PSF read once: a bad PSF file is the option's fault, said once, not once per image
    kernel = None if is_psf_model(method.psf) else method.psf_kernel()
    if kernel is not None and isinstance(method.psf, str):
        # a file's values carried on, so that no check or image of the batch reads it again
        # (with its path: each image's pixel size is checked against the file's voxel size)
        method = method.replace(psf=PsfArray.from_array(kernel, origin=method.psf))
    args.method_specs = (method, tiling)
    return method, tiling


def check_tile_reach(args, models=None) -> None:
    """--tile (and --overlap) against the method before a run that has no image yet (watch):
    a tile below the receptive field failed every file, one by one. The method for 'auto' is
    the image's (grayscale or RGB): the tile is refused only if too small for each; an estimated
    PSF stands in as a small Gaussian, so only a tile certain to fail is refused."""
    from .core import tiling
    from .core.bundled import auto_psf
    from .core.method import CLASSICAL_METHODS, FIXED_BALANCE, FIXED_ITERATIONS
    from .core.tile_options import tile_advice

    method, tiling_spec = method_specs(args)
    tile, overlap = tiling_spec.tile, tiling_spec.overlap
    if tile is None:
        return
    if overlap is not None and overlap >= tile:
        raise UserError(f"--overlap {overlap} must be smaller than --tile {tile}")
    resolved = []
    for rgb in ((False, True) if method.name == "auto" and method.weights is None else (False,)):
        spec = method.replace(psf="gaussian:1") if auto_psf(method, rgb) else method
        if spec.name in CLASSICAL_METHODS:  # their reach is the PSF's, whatever the setting
            spec = spec.replace(iterations=FIXED_ITERATIONS, balance=FIXED_BALANCE)
        try:
            with warnings.catch_warnings():  # each file's deblur says them
                warnings.simplefilter("ignore")
                resolved.append(spec.resolve(rgb=rgb, models=models))
        except (ValueError, TypeError, ImportError, OSError):
            return  # only an image settles the method (a PSF lacking pixel=): checked per file
    reach = min(resolved, key=lambda m: m.halo)
    step = reach.size_divisor
    if (tiling.rounded_tile(tile, step) or tile) <= 2 * reach.halo:
        advice = tile_advice(reach, None, overlap)
        raise UserError(f"--tile {tile} is smaller than the receptive field of {reach.name!r} "
                        f"({2 * reach.halo + 1} px), so every file larger than the tile would "
                        f"fail; {advice}")


def deblur_one(source: Path, output: Path, args, models=None, axes: str | None = None,
               data=None, record_extra: dict | None = None) -> str:
    """``axes``: those a caller already settled for ``source`` (its guess already noted),
    else --axes; ``data``: ``source`` as the caller read it (alpha kept), else it is read;
    ``record_extra``: fields added to the output's record (watch: why it was deblurred).
    Returns the label of the method that ran (what ``auto`` became for this file)."""
    from .core.files import iter_deblur_file
    from .core.io import shape_in_axes
    from .core.progress import drive

    t0 = time.perf_counter()
    method, tiling = method_specs(args)
    run = iter_deblur_file(source, output, axes=axes or args.axes, overwrite=args.overwrite,
                           method=method, tiling=tiling, models=models, data=data,
                           record_extra=record_extra)
    with ProgressBar(quiet=args.quiet, label=file_label(source)) as bar:
        result = drive(run, bar)
    if not args.quiet and not getattr(args, "json", False):  # --json: stdout is JSON only
        shape = shape_in_axes(output, result.axes, result.image.shape)  # the file's is ImageJ's
        say(f"{output}: {result.method} on {result.axes} {shape} ({result.device}, tile "
            f"{result.tile}, overlap {result.overlap}) in {time.perf_counter() - t0:.1f} s")
        _say_modality(args, method, result.axes, shape, source)
    return str(result.method)


def _say_modality(args, method, axes: str, shape, source) -> None:
    """Once per command, where --modality auto took a grayscale image (``axes``, ``shape``)
    for fluorescence (by design): an EM image got it and nothing said EM has its own. Rule and
    words are the Python note's (``gray_auto``); the core does not note it on this path. Three
    8-bit channels of a TIFF ``source`` (an H&E image Fiji saved as a composite) get the hint
    that --axes with S reads them as colour (its dtype read from the header, once a command).
    An RGB image is said likewise (``rgb_auto``): a fluorescence composite ran as brightfield."""
    from .core import image_settings as rules  # the Python note's rules and words

    if rules.rgb_auto(method, axes, shape) and not getattr(args, "rgb_modality_said", False):
        args.rgb_modality_said = True  # once a command, apart from the grayscale line
        say(f"  ({rules.rgb_auto_words('--modality {}'.format)})")
    if rules.gray_auto(method, axes, shape) and not getattr(args, "modality_said", False):
        args.modality_said = True
        colour = ""
        if axes.endswith("CYX") and str(source).lower().endswith((".tif", ".tiff")):
            from .core.tiff_header import read_tiff_header

            with contextlib.suppress(OSError, ValueError):
                dtype = read_tiff_header(source).dtype
                colour = rules.colour_channels_words(axes, shape, dtype,
                                                     "give --axes {}".format)
        say(f"  ({rules.gray_auto_words('--modality {}'.format, colour)})")


def _deblur_on_cluster(inputs: list[Path], output: Path, args) -> int:
    """--scheduler: a Zarr volume chunk by chunk, or one task per file. Into a folder, outputs
    that exist are skipped (as on one machine; --overwrite redoes them), so rerunning an
    interrupted run redoes only what is missing; the failed files are listed beside it."""
    from .cli_batch import BatchLog, file_object, folder_pairs
    from .core import io
    from .core.cluster import deblur_files_on_cluster, deblur_zarr_on_cluster

    method, tiling = method_specs(args)
    options = dict(axes=args.axes, overwrite=args.overwrite, method=method, tiling=tiling)
    t0 = time.perf_counter()
    # an existing Zarr output is a file to replace (--overwrite) or refuse, not a folder: a
    # batch's TIFFs had been written into it
    folder = output.is_dir() and not io.is_zarr(output)
    if len(inputs) == 1 and io.is_zarr(inputs[0]) and not folder:
        deblur_zarr_on_cluster(inputs[0], output, scheduler=args.scheduler, **options)
        if args.json:  # the method that ran, as its record says ('auto' says nothing)
            ran = (io.read_image(output).metadata.get("microdeblur") or {}).get("method")
            print(json.dumps(file_object(inputs[0], output, "ok", ran,
                                         time.perf_counter() - t0)), flush=True)
        elif not args.quiet:
            print(f"{output}: done on {args.scheduler} in {time.perf_counter() - t0:.1f} s")
        return 0
    if len(inputs) == 1 and not folder:
        pairs = [(inputs[0], output)]  # an existing output is refused, as on one machine
    elif folder:
        pairs = folder_pairs(inputs, output, args)
        for folder_made in {target.parent for _, target in pairs}:  # --recursive's subfolders
            folder_made.mkdir(parents=True, exist_ok=True)
    else:
        raise UserError(several_need_a_folder(len(inputs), output))
    log = BatchLog(output, quiet=args.quiet, json=args.json).begin((s for s, _ in pairs), args)
    # each file said as its task ends, as one machine says it (all had waited for the last)
    with log.bar_closed_on_error():
        records = deblur_files_on_cluster(
            pairs, scheduler=args.scheduler, skip_existing=folder,
            on_record=lambda record: _say_cluster_record(record, args, method, log if folder
                                                         else None), **options)
    skipped = [r["output"] for r in records if r.get("skipped")]
    if skipped and not args.quiet and not args.json:  # one line: a rerun may skip millions
        from .cli_batch_lines import kept_count, kept_words

        say(f"{output}: {len(skipped)} of {len(records)} outputs exist, skipped"
            + kept_words(len(skipped), kept_count(skipped)))
    if folder:
        return log.close()
    return EXIT_ERROR if any("error" in r for r in records) else 0


def _say_cluster_record(record: dict, args, method, log) -> None:
    """One file of a cluster run, in the words of one machine: its error, or its warnings
    (naming the file in a batch, whose BatchLog is ``log``) and, unless --quiet, its line."""
    from .cli_words import in_cli_words

    source, target = record["input"], record["output"]
    if "error" in record:  # every file was tried; each failure said as one machine says it
        why = memory_words(record["error"], args) or in_cli_words(record["error"],
                                                                    args.cli_options)
        say(f"microdeblur: error: {source}: {why}", sys.stderr)
        _cluster_outcome(log, args, source, target, "failed", error=why)
        return
    if record.get("skipped"):  # counted in one line at the end
        _cluster_outcome(log, args, source, target, "skipped")
        return
    from .cli_batch import OneFileLog

    # raised on the worker, said as one machine's warnings_naming says them; one file's
    # kept for its --json object, as a batch's are (``cli_batch.deblur_single``)
    one = None if log else OneFileLog(Path(target), quiet=args.quiet, json=False)
    with warnings_naming(Path(source), log or one, target):
        for note in record["notes"]:
            _warn_in_one_line(note, UserWarning, "", 0)
    _cluster_outcome(log, args, source, target, "ok", method=str(record["method"]),
                     seconds=record["seconds"], allocator_tuned=record.get("allocator_tuned"),
                     **({} if log else {"warnings": one.warned}))
    if not args.quiet and not args.json:
        say(f"{record['output']}: {record['method']} on {record['axes']} "
            f"{tuple(record['shape'])} ({record['device']}, tile {tuple(record['tile'])}, "
            f"overlap {tuple(record['overlap'])}) in {record['seconds']:.1f} s")
        _say_modality(args, method, record["axes"], record["shape"], source)


def _cluster_outcome(log, args, source, target, status: str, **fields) -> None:
    """A cluster file's outcome to the batch's ``log``; one file (no log): its --json line."""
    from .cli_batch import file_object

    if log is not None:
        log.add(source, target, status, **fields)
    elif args.json:  # its own warnings (``_say_cluster_record``), else none
        print(json.dumps(file_object(source, target, status, **{"warnings": [], **fields})),
              flush=True)


def several_need_a_folder(count: int, output: Path) -> str:
    """Why ``output`` cannot take ``count`` inputs: a missing folder is not made (a typo
    would scatter a batch into a new folder), as a single file's missing folder is not."""
    if not output.exists():
        return (f"{count} inputs need an output directory; {shown_path(output)} does not "
                "exist; create it first")
    return f"{count} inputs need an output directory; {shown_path(output)} is not one"


def cmd_deblur(args) -> int:
    from .cli_early import deblur_checked_early
    from .cli_paths import output_exists

    deblur_checked_early(args)  # what needs no torch, said before its 2 s import
    from .cli_batch import BatchLog, batch_inputs, deblur_in_batch, deblur_single, folder_pairs
    from .cli_selective import check_focus_options
    from .core.checkpoint import ModelCache
    from .core.partials import swept_once

    method_specs(args)  # a bad option fails here, before any file is read or written
    check_focus_options(args)
    output = Path(args.output)
    inputs = batch_inputs(args, output)
    if args.scheduler:
        return _deblur_on_cluster(inputs, output, args)
    from .core import io
    from .core.io_write import check_name_length

    check_name_length(output)  # is_dir() raised 'File name too long' naming no limit
    # an existing Zarr store is an output to replace (--overwrite) or refuse, not a folder:
    # a TIFF had been written into the user's store
    folder = output.is_dir() and not io.is_zarr(output)
    if len(inputs) == 1 and not folder:
        return deblur_single(inputs[0], output, args)
    if not folder:
        raise UserError(several_need_a_folder(len(inputs), output))
    models = ModelCache()  # a network is loaded once for the batch, not once per file
    pairs = folder_pairs(inputs, output, args)
    log = BatchLog(output, quiet=args.quiet, json=args.json).begin((s for s, _ in pairs), args)
    try:
        # swept_once: one listing of the folder
        with log.bar_closed_on_error(), swept_once(target for _, target in pairs):
            for source, target in pairs:
                if output_exists(target) and not args.overwrite:  # too long: failed below
                    log.exists(source, target)  # the first said, the others counted
                    continue
                deblur_in_batch(source, target, args, models, log)
    except KeyboardInterrupt:
        log.close(interrupted=True)
        raise
    return log.close()


def cmd_degrade(args) -> int:
    from .cli_degrade import cmd_degrade as degrade_command  # its record and checks there

    return degrade_command(args)


# ----------------------------------------------------------------------------- parser


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad option is one error line, like every other error here, naming
    --help instead of printing the whole usage block. Subcommands inherit the class, and each
    keeps its options (dest -> '--option') in ``args.cli_options``, the words its error lines
    use for the core's Python arguments (cli_words)."""

    #: adds this parser's options when they are first needed (``defer``)
    _fill = None

    def __init__(self, *args, **kwargs):
        self.options_by_dest: dict[str, str] = {}  # filled as options are added, -h first
        self.commands: dict = {}  # the top parser's: subcommand name -> its parser
        super().__init__(*args, **kwargs)
        self.set_defaults(cli_options=self.options_by_dest)

    def defer(self, fill) -> None:
        """``fill(self)`` adds the options once they are first needed: the command is parsed,
        its help shown or its options listed. train's are the regimes' (their torch-free
        declarations), which other commands need not build."""
        self._fill = fill

    @property
    def _actions(self) -> list:  # every use of the options by argparse passes here
        if self._fill is not None:
            fill, self._fill = self._fill, None
            fill(self)
        return self.__dict__["_actions"]

    @_actions.setter
    def _actions(self, actions: list) -> None:
        self.__dict__["_actions"] = actions

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        long = [o for o in action.option_strings if o.startswith("--")]
        if long:
            self.options_by_dest.setdefault(action.dest, max(long, key=len))
        return action

    def parse_args(self, args=None, namespace=None):
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:  # said by the subcommand's parser: its --help lists its options, ours not
            where = self.commands.get(getattr(parsed, "command", None), self)
            from .cli_options import unrecognized_words  # a glob the shell expanded: said
            where.error(unrecognized_words(parsed, extras))
        return parsed

    def error(self, message):
        self.exit(EXIT_ERROR, f"microdeblur: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .cli_demo import add_demo_command
    from .cli_evaluate import add_evaluate_command
    from .cli_focus import add_focus_command
    from .cli_info import add_info_command
    from .cli_methods import add_methods_command
    from .cli_options import add_degrade_command, add_method_options, psf_epilog
    from .cli_psf import add_psf_commands
    from .cli_selective import add_focus_options
    from .cli_training import add_training_commands
    from .cli_watch import add_watch_command

    parser = _OneLineParser(
        prog="microdeblur",
        description="Deblur microscopy images with deep networks and classical deconvolution.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.commands = sub.choices

    p = sub.add_parser("deblur", help="deblur image files into new TIFF, OME-Zarr or PNG files",
                       **psf_epilog())
    p.add_argument("input", help="an image (TIFF/OME-TIFF, PNG, JPEG, BMP, NumPy .npy; a Zarr "
                   "array or OME-Zarr image, .zarr, read lazily, with [distributed]; CZI, ND2, "
                   "LIF and other formats with [formats]), a directory of images, or a quoted "
                   "glob such as 'tiles/*.tif'")
    p.add_argument("-o", "--output", required=True,
                   help="output for one input: .tif/.ome.tif, .zarr/.ome.zarr (OME-Zarr, written "
                   "chunk by chunk: for results larger than memory, napari opens it lazily) or "
                   ".png (one plane of an 8/16-bit input); an existing directory for several "
                   "(outputs named <input>_deblurred.tif; existing ones are skipped; the batch "
                   "ends with 'N done, M skipped, K failed' on stderr, -q too, lists the failed "
                   "files in <OUTPUT>.failures.tsv beside it, and exits 2 if any failed)")
    add_method_options(p)
    p.add_argument("-r", "--recursive", action="store_true",
                   help="with a directory: its subfolders' images too, each output in the same "
                   "subfolder of the output directory (created as needed)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object a line per file, as each ends (input, output, seconds, "
                   "method, status ok/skipped/failed, error: null unless failed), instead of "
                   "the lines per file on stdout")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a dask.distributed cluster (tcp://host:8786): one task per "
                   "file, or per chunk of a Zarr volume")
    add_focus_options(p)
    p.set_defaults(func=cmd_deblur)

    add_degrade_command(sub, cmd_degrade)

    add_evaluate_command(sub)
    add_info_command(sub)

    add_focus_command(sub)
    add_watch_command(sub)

    add_training_commands(sub)
    add_psf_commands(sub)

    add_methods_command(sub)
    add_demo_command(sub)
    return parser


def _version() -> str:
    from . import __version__

    return f"microdeblur {__version__}"


@contextlib.contextmanager
def _printable_output():
    """Printing never fails on a character the console cannot show: a file name in Chinese
    on a Windows cp1252/cp437 console, or redirected there, would otherwise raise
    UnicodeEncodeError after the output was written and fail the run. Restored on return."""
    changed = []
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            with contextlib.suppress(ValueError, OSError):  # a closed or detached stream
                stream.reconfigure(errors="backslashreplace")
                changed.append(stream)
    try:
        yield
    finally:
        for stream in changed:
            with contextlib.suppress(ValueError, OSError):
                stream.reconfigure(errors="strict")


def main(argv: list[str] | None = None) -> int:
    # SIGTERM and Ctrl-C are taken from the start: a Ctrl-C while the parser was built printed
    # a 20-line traceback from inside the imports
    try:
        with _printable_output(), _sigterm_as_interrupt():
            code = _run(argv)
            sys.stdout.flush()  # a reader gone (| head) is found here, not at exit
        return code
    except KeyboardInterrupt as stop:
        say_interrupted(terminated := isinstance(stop, Terminated))
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except BrokenPipeError:
        _drop_stdout()
        return EXIT_BROKEN_PIPE


def _drop_stdout() -> None:
    """The rest of the output to nowhere: the interpreter's flush at exit would otherwise
    print 'Exception ignored ... BrokenPipeError' after the command ended."""
    with contextlib.suppress(OSError, ValueError):  # no file descriptor (a captured stream)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _run(argv: list[str] | None) -> int:
    tune_allocator()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    from .cli_batch import tifffile_as_warnings
    from .cli_paths import check_tilde
    from .core.tiff_metadata import quiet_tifffile

    try:  # restored on return
        with warnings.catch_warnings(), quiet_tifffile(), tifffile_as_warnings():
            # the core's warnings (an alpha channel dropped ...) as one line, like errors
            warnings.showwarning = _warn_in_one_line
            _said_once.clear()
            check_tilde(args)  # '~/x.tif' quoted: not 'create the folder ~ first'
            return args.func(args)
    except BrokenPipeError:  # said by main, as nothing: the reader stopped reading
        raise
    # ImportError: an optional extra (psfmodels for --psf widefield:...) is not installed
    except (UserError, ValueError, TypeError, OSError, ImportError) as error:
        from .cli_words import error_words

        return _fail(error_words(error, args))
    except (RuntimeError, MemoryError) as error:
        # out of memory is the user's to fix (--tile, --device); any other RuntimeError is
        # a defect, and keeps its traceback
        words = memory_words(error, args)
        if words is None:
            raise
        return _fail(words)


if __name__ == "__main__":
    # run as the package's module, not as __main__: a second copy of this file would define its
    # own UserError, which the commands' `except UserError` does not catch (a traceback)
    from napari_microdeblur.cli import main as package_main

    sys.exit(package_main())
