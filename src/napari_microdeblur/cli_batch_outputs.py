"""`microdeblur deblur` on a folder: the files of its scan that microdeblur made from others
of it (``core.scan_outputs``) left out of the inputs, in one line. A second run into another
folder had deblurred the first run's outputs again, as raw inputs (``-r -o IN/out2`` after
``-r -o IN/out1``: IN/out2/out1/*_deblurred_deblurred.tif; ``-o OUT`` after ``-o IN``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .core.shown import shown_path


def nested_images(given: Path, output: Path) -> int:
    """The images directly in ``given``'s subfolders (not in ``output``) that --recursive
    would deblur: outputs microdeblur made from files found there or in ``given`` left out."""
    from .core.files import folder_images
    from .core.scan_outputs import split_made

    found = folder_images(given, recursive=True, skip=output, depth=1)
    # the records of the subfolders' files only: ``given``'s own are read by the batch's
    return len(split_made([p for p in found if p.parent != given], among=found)[0])


def without_made(inputs: list[Path], given: Path, output: Path, recursive: bool) -> list[Path]:
    """``inputs``, the scan of the folder ``given``, without the files microdeblur made from
    others of them, said in one line with how to deblur them anyway. This batch's own output
    names are not read: ``files.batch_pairs`` leaves those out as before (a rerun into the
    inputs' folder skips them unsaid, and refuses one that no run made)."""
    from .core.files import output_name
    from .core.scan_outputs import split_made

    def target(source: Path) -> str:
        folder = output / source.parent.relative_to(given) if recursive else output
        return os.path.normcase(os.path.abspath(output_name(source, folder)))

    # only a batch into its inputs' own folder (its twin of each subfolder with -r) has them
    own = ({target(s) for s in inputs}
           if os.path.realpath(output) == os.path.realpath(given) else ())
    read = [p for p in inputs if os.path.normcase(os.path.abspath(p)) not in own] if own else inputs
    _, made = split_made(read, among=inputs)
    if not made:
        return inputs
    print(f"microdeblur: warning: {made_words(made, given)}", file=sys.stderr, flush=True)
    gone = set(made)
    return [p for p in inputs if p not in gone]


def made_words(made: list[Path], given: Path) -> str:
    """The line saying the files of ``made`` are left out, naming the first, its input and
    how to deblur them anyway: their folder (one inside ``given``) or, beside their inputs,
    by name (``given`` again would leave them out again)."""
    from .core.files import image_stem
    from .core.scan_outputs import made_from

    first, many = made[0], len(made) > 1
    them = "them" if many else "it"
    if first.parent != given:
        how = f"give {'their' if many else 'its'} folder as the input ({shown_path(first.parent)})"
    else:
        stem = image_stem(first)  # a batch's output names: <input>_deblurred.tif
        glob = (f", e.g. {shown_path(given / ('*' + first.name[len(stem) - 10:]))}"
                if stem.endswith("_deblurred") and many else "")
        how = f"give {them} as the input by name (or a quoted glob{glob})"
    return (f"{len(made)} file{'s' * many} in {shown_path(given)} {'are' if many else 'is'} "
            f"left out: microdeblur made {them} from other files found there (e.g. "
            f"{shown_path(os.path.relpath(first, given))}, from {made_from(first)}); to "
            f"deblur {them} again, {how}")


def checked_single(inputs: list[Path], output: Path, args) -> list[Path]:
    """``inputs``; where they are one input deblurred into the file ``output`` (not into a
    folder), refused before any work where that output cannot fit on its disk (not checked
    with --no-space-check), its drop of the input's position said
    (``core.batch_outputs.outputs_that_fit``). An output that
    exists without --overwrite, or in no folder, is left to the write's own refusal."""
    from .core import io
    from .core.batch_outputs import outputs_that_fit

    if len(inputs) != 1:
        return inputs
    try:
        if (output.is_dir() and not io.is_zarr(output)) or not output.parent.is_dir() or (
                output.exists() and not args.overwrite):
            return inputs
    except OSError:  # a name too long: said by the write's own check
        return inputs
    outputs_that_fit([(inputs[0], output)], args.output_dtype, args.overwrite,
                     space_check=not getattr(args, "no_space_check", False))
    return inputs
