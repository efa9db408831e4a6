"""`microdeblur deblur` on a folder: which files it reads (its subfolders' with --recursive,
else counted and said), where each output goes, and the output folder checked once."""

from __future__ import annotations

import sys
from pathlib import Path

from .cli import UserError
from .core.shown import shown_path


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
