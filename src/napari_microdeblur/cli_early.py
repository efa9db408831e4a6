"""The checks of deblur, train and finetune that need no torch, made before they import it
(1.6-8 s): a missing input, an output that exists, a bad --tile or --device, a checkpoint
folder that is a file, a missing --weights file had been said seconds after the command was
typed. Each is a case of a check that runs again later with the rest, said in its words
(--minutes and --val-fraction are checked here only), so a command
without such a mistake runs as before; one with two mistakes may name another first (the
missing input before a bad PSF, say)."""

from __future__ import annotations

import glob
import math
import warnings
from pathlib import Path

from .cli import UserError
from .core.shown import shown_path


def missing_input(spec) -> None:
    """``spec`` (a file, a folder or a quoted glob, as ``core.files.find_inputs`` takes it)
    refused in its words where it is a plain path to nothing; a glob is listed later, once."""
    if not glob.has_magic(str(spec)) and not Path(spec).exists():
        raise FileNotFoundError(f"input file {shown_path(spec)} does not exist")


def deblur_checked_early(args) -> None:
    """deblur's checks without torch: --iterations' cap, --tile, --overlap (and the two
    together), --batch-size, --output-dtype, the device's form ('gpu'), the input, and one
    input's output as the deblur checks it (exists, is the input, its folder missing ...)."""
    from .cli_options import check_iterations_cap
    from .core.io_write import check_name_length, check_output_path
    from .core.psf import is_psf_model
    from .core.tiling_spec import TilingSpec

    check_iterations_cap(args.iterations)
    TilingSpec(tile=args.tile, overlap=args.overlap, window=args.window,
               batch_size=args.batch_size, device=args.device,
               output_dtype=args.output_dtype).check(form_only=True)  # overlap < tile too
    missing_input(args.input)
    output = Path(args.output)
    check_name_length(output)  # as cmd_deblur: is_dir() raised 'File name too long' alone
    if getattr(args, "output_dtype_given", False) and not output.is_dir():
        from .core.png_output_dtype import refuse_float32_png

        refuse_float32_png(output, args.output_dtype, "--output-dtype float32", "--output-dtype")
    # a folder (or a Zarr store) as output, a cluster, --focus-below and --json (whose line
    # says the failed file) take their own ways to the output's check; a PSF or weights file
    # is checked with the output too ('is a file this run reads'), later
    if (not Path(args.input).is_file() or output.is_dir() or args.scheduler or args.json
            or getattr(args, "focus_below", None) is not None or args.weights
            or (args.psf and not is_psf_model(args.psf))):
        return
    check_output_path(output, overwrite=args.overwrite, inputs=(args.input,), png=True)


def check_val_fraction(value: float, *, zero_allowed: bool = False) -> None:
    """train's and finetune's --val-fraction."""
    if not (0 <= value < 1 if zero_allowed else 0 < value < 1):
        accepted = ("from 0 (no validation) up to, not including, 1" if zero_allowed
                    else "strictly between 0 and 1")
        raise UserError(f"--val-fraction {value}: give a share {accepted} (e.g. 0.2)")


def check_bounds(args) -> None:
    """--minutes and --resume (train and finetune word them alike)."""
    if args.minutes is not None and not (math.isfinite(args.minutes) and args.minutes > 0):
        raise UserError(f"--minutes {args.minutes}: give a time limit > 0 minutes")
    if args.resume and not args.checkpoint_dir:
        raise UserError("--resume continues the run in --checkpoint-dir DIR; give that folder")


def weights_refused(weights, error: Exception) -> UserError:
    """train's line for --weights that cannot be read: the core's reason, the path once."""
    why = str(error).removeprefix(f"{weights}: ")
    return UserError(f"--weights {shown_path(weights)}: {why}")


def _found(spec) -> None:
    """``find_inputs``' refusal of ``spec`` (torch-free: ``core.input_files``)."""
    from .core.input_files import find_inputs

    with warnings.catch_warnings():  # files left out of a folder: said when it is read
        warnings.simplefilter("ignore")
        find_inputs(spec)


def training_checked_early(args, images=(), psf: str | None = None) -> None:
    """train's and finetune's checks of paths without torch: the device's form, --checkpoint-dir
    (``core.run_paths``), --weights (a bundled name or a file: ``checkpoint.load_model``'s
    words; train's --config takes its place), ``images`` (finetune's --blurry, --sharp, --stack
    or --self: file, folder or glob, said as when they are read) and the ``psf`` text of --self
    (parsed as ``psf_aware.plane_kernel`` parses it; a model's PSF is cached). With --resume
    the run it continues is checked before the weights and images, as it was (reading its
    last.pt takes torch). train's images are checked later, after its options (torch)."""
    from .core.bundled_table import live_table
    from .core.psf import parse_psf
    from .core.psf_estimate import is_estimate
    from .core.run_paths import check_checkpoint_dir, missing_weights
    from .core.tiling_spec import device_form

    device_form(args.device)  # resolve_device's words ('gpu'); a missing GPU: said later
    if args.checkpoint_dir:
        try:  # as cli_runs.checkpoint_folder says it
            check_checkpoint_dir(args.checkpoint_dir, resume=args.resume)
        except ValueError as error:
            raise UserError(str(error)) from None
    if args.resume:
        return
    weights, train = args.weights, args.command == "train"
    if weights and not (train and args.config) and weights not in live_table():
        try:
            missing_weights(weights, sorted(live_table()))
        except ValueError as error:
            if train:
                raise weights_refused(weights, error) from None
            raise
    for spec in images:
        _found(spec)
    if psf is not None and not is_estimate(psf):
        parse_psf(psf)
