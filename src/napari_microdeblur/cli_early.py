"""deblur's checks that need no torch, made before it imports torch (1.6-2 s): a missing
input, an output that exists, a bad --tile or --device had been said 2-5 s after the command
was typed. Each is a case of a check that runs again later with the rest, said in its words,
so a command without such a mistake runs as before; one with two mistakes may name another
first (the missing input before a bad PSF, say)."""

from __future__ import annotations

import glob
from pathlib import Path

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
    # a folder (or a Zarr store) as output, a cluster, --focus-below and --json (whose line
    # says the failed file) take their own ways to the output's check; a PSF or weights file
    # is checked with the output too ('is a file this run reads'), later
    if (not Path(args.input).is_file() or output.is_dir() or args.scheduler or args.json
            or getattr(args, "focus_below", None) is not None or args.weights
            or (args.psf and not is_psf_model(args.psf))):
        return
    check_output_path(output, overwrite=args.overwrite, inputs=(args.input,), png=True)
