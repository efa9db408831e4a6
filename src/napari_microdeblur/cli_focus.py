"""`microdeblur focus IMAGE [IMAGE ...] [-r] [--tile N] [--camera-offset ADU] [--json]`
(cli.build_parser): the focus (sharpness) score of an image, of each of its slices, or of its
tiles (``core.focus``). Several files (folders, with -r their subfolders, quoted globs, as
deblur takes them) print one line, or one JSON object, per file; an unreadable one is one
error line, the others still scored (exit 2). A plane or tile with no structure
(``focus.structure_planes``, ``structure_tiles``: blank, or background noise only) is labelled
BLANK: its score (0 for a blank section) ranked it softest, though it holds nothing to
deblur."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .cli import EXIT_ERROR
from .core.shown import first_line, shown_path

BLANK = "blank (no structure)"


def _scores(path: str, args):
    """(the scores of ``path``, its axes, whether each plane or tile has structure)."""
    import numpy as np

    from .core import io

    # lazy where the format allows (uncompressed or large compressed TIFF, Zarr): read and
    # scored a plane at a time, its scores and structure from one read; read whole, a
    # (7, 16384, 16384) 8-bit stack peaked at 10.5 GB. Read before core.files and core.focus
    # import torch: a missing or unreadable file is said without its 2-3 s
    data = io.read_image(readable(path))
    from .core.axes import iter_planes
    from .core.files import image_axes
    from .core.focus import iter_focus_scores, score_shape

    axes = image_axes(data, args.axes)
    image = data.array
    shape = tuple(int(n) for n in image.shape)
    # the image's dtype and plane size are refused here, before a plane is read
    iter_focus_scores(image, axes=axes, tile=args.tile, camera_offset=args.camera_offset)
    scores = np.zeros(score_shape(shape, axes, args.tile), dtype=np.float64)
    structure = np.zeros(scores.shape, dtype=bool)
    plane_axes = "".join(a for a in axes if a in "YXS")
    nonfinite, peak = 0, -np.inf
    for index, plane in iter_planes(image, axes, "YXS"):
        plane = np.asarray(plane)
        if plane.dtype.kind == "f":
            nonfinite += plane.size - int(np.count_nonzero(np.isfinite(plane)))
        if not nonfinite:  # else only counted, for the error
            scores[index], structure[index] = _plane_scores(plane, plane_axes, args)
            peak = max(peak, float(plane.max())) if plane.size else peak
    if nonfinite:
        raise ValueError(_nonfinite_words(path, nonfinite, int(np.prod(shape))))
    if args.camera_offset and peak <= args.camera_offset:
        _offset_above_all(path, args.camera_offset, peak)
    return (float(scores) if scores.ndim == 0 else scores), axes, structure


def _plane_scores(plane, plane_axes: str, args):
    """The score (or tile scores) of one plane and whether it (or each tile) has structure."""
    from .core.focus import focus_score, structure_planes, structure_tiles

    score = focus_score(plane, axes=plane_axes, tile=args.tile,
                        camera_offset=args.camera_offset)
    found = (structure_planes(plane, axes=plane_axes) if args.tile is None
             else structure_tiles(plane, axes=plane_axes, tile=args.tile))
    return score, found


def _nonfinite_words(path: str, count: int, size: int) -> str:
    """``cli_evaluate.nonfinite_words`` of an image counted plane by plane: the whole image
    is never in memory to count at once."""
    import numpy as np

    from .cli_evaluate import nonfinite_words

    # core.focus's words suit a Python caller; the CLI names the file and what to do there
    words = nonfinite_words(np.array([np.nan]), "")
    advice = words.partition("; ")[2] or words  # what to do: its words, as the other commands
    return (f"image {shown_path(path)} holds {count} NaN or Inf pixel{'s' if count > 1 else ''}"
            f" (of {size}); {advice}")


def _offset_above_all(path: str, offset: float, peak: float) -> None:
    """Every pixel at or below the offset scores 0 'blank': it said so of a uint8 image (at
    most 200) given --camera-offset 1000, with no word of the offset."""
    import warnings

    from .core.notes import DeblurWarning

    warnings.warn(f"--camera-offset {offset:g} is at or above every pixel of {shown_path(path)} "
                  f"(its brightest: {peak:g}), so nothing is left to score: give the camera's "
                  f"dark level, below {peak:g} (or leave --camera-offset out)", DeblurWarning,
                  stacklevel=2)


def _json_object(scores, axes: str, args, structure) -> dict:
    import numpy as np

    key = "score" if np.ndim(scores) == 0 else "scores"
    # 'structure' is shaped as the scores: false for a blank plane or tile
    return {key: np.asarray(scores).tolist(), "structure": structure.tolist(), "axes": axes,
            "tile": args.tile, "camera_offset": args.camera_offset}


def _said(score, structure) -> str:
    """'focus score 0.0021', or 'focus score 0 blank (no structure)'."""
    return f"focus score {score:.6g}{'' if structure else ' ' + BLANK}"


def _blank_note(structure) -> str:
    """'; blank (no structure): (26,), (30,)' for a stack's one line, '' when none is."""
    import numpy as np

    blank = [str(tuple(int(i) for i in index)) for index in np.argwhere(~structure)]
    return f"; {BLANK}: {', '.join(blank)}" if blank else ""


def _one_line(scores) -> str:
    """Scores of a stack or of tiles on one line, nested as their array is."""
    import numpy as np

    return np.array2string(np.asarray(scores), separator=", ", threshold=sys.maxsize,
                           max_line_width=sys.maxsize,
                           formatter={"float_kind": lambda v: f"{v:.6g}"})


class Unlisted(str):
    """A folder or quoted glob that lists no image, and the error that says why (a folder of
    .mrc files only, or of subfolders' images without -r), raised when it is read
    (``readable``), with the other files' lines: read as an image, it said 'is a directory'."""

    error: OSError

    def __new__(cls, given: str, error: OSError):
        self = super().__new__(cls, given)
        self.error = error
        return self


def readable(path: str) -> str:
    """``path``, or the error of an ``Unlisted`` one."""
    if isinstance(path, Unlisted):
        raise path.error
    return path


def expanded(inputs: list[str], recursive: bool | None = None) -> list[str]:
    """Each argument as ``deblur`` takes it: a folder's images (``recursive``: its subfolders'
    too; False: those left out said, as deblur says them; None: not looked at), a quoted
    glob's matches but folders, else the path itself (a missing file is said when it is read,
    with the others; a folder or glob listing no image is an ``Unlisted``)."""
    import glob

    paths = []
    for given in inputs:
        if Path(given).is_file():
            paths.append(given)
            continue
        try:
            paths += _listed(given, recursive)
        except FileNotFoundError as error:
            listing = Path(given).is_dir() or glob.has_magic(given)
            paths.append(Unlisted(given, error) if listing else given)
    return paths


def _listed(given: str, recursive: bool | None) -> list[str]:
    """The images of one folder or glob (``expanded``)."""
    import glob

    from .core import io
    from .core.input_files import find_inputs  # no torch: core.files' imports it (2-5 s)

    path = Path(given)
    if path.is_dir() and not io.is_zarr(path):
        if recursive is False:
            _subfolders_said(path)
        return [str(p) for p in find_inputs(path, recursive=bool(recursive))]
    found = find_inputs(given)
    if not glob.has_magic(given):
        return [str(p) for p in found]
    # 'tiles/**/*' matches the subfolders too: each had been an error line and exit 2
    kept = [str(p) for p in found if not p.is_dir() or io.is_zarr(p)]
    if not kept:
        raise FileNotFoundError(f"input pattern {shown_path(given)} matches folders only: "
                                "give a folder (with -r/--recursive for its subfolders) or a "
                                "pattern of image files")
    return kept


def _subfolders_said(folder: Path) -> None:
    """Images in the subfolders of ``folder`` left out without -r: counted one level down and
    said, as deblur says them (scored top-level files only, without a word); an error where
    the folder holds none itself."""
    from .core.input_files import nested_words, subfolder_counts

    found, nested = subfolder_counts(folder)
    if not nested:
        return
    files = nested_words(nested)
    if not found:
        raise FileNotFoundError(f"input directory {shown_path(folder)} holds no image file "
                                f"itself, but its subfolders do ({files}): -r/--recursive "
                                "scores them")
    print(f"microdeblur: warning: images in subfolders of {shown_path(folder)} are left out "
          f"({files}): -r/--recursive scores them too", file=sys.stderr, flush=True)


def cmd_focus(args) -> int:

    from .core.focus_defaults import check_camera_offset, check_focus_tile  # no torch

    check_focus_tile(args.tile)  # bad options fail before the image is read (and torch)
    check_camera_offset(args.camera_offset)
    try:
        paths = expanded(args.input, recursive=args.recursive)
        if len(paths) > 1:
            return _several(paths, args)
        _one(paths[0], args)
        return 0
    except KeyboardInterrupt as stop:  # cli.main's line said 'no partial output was left'
        from .cli_progress import stopped_code

        return stopped_code(stop, "focus writes no file")


def _one(path: str, args) -> None:
    """One file: its lines and its JSON object as they always were."""
    import numpy as np

    scores, axes, structure = _scores(path, args)
    if args.json:
        print(json.dumps(_json_object(scores, axes, args, structure)))
    elif np.ndim(scores) == 0:
        print(f"{path}: {_said(scores, structure)}")
    else:
        heading = _heading(path, axes, args.tile)
        if heading:
            print(heading)
        for index, value in np.ndenumerate(np.asarray(scores)):
            print(f"{index}: {value:.6g}{'' if structure[index] else ' ' + BLANK}")


def _heading(path: str, axes: str, tile: int | None) -> str | None:
    """The line above a stack's index lines naming the file, its axes and what each index
    counts (they read '(0, 0, 0): 1.1e-05' alone); a 2D image's tile lines stay as they were."""
    from .core.axes import loop_axes

    names = list(loop_axes(axes, "YXS"))
    if not names:
        return None
    names += ["tile row", "tile column"] if tile else []
    return f"{path} ({axes}): focus scores, one per ({', '.join(names)}):"


def _several(paths: list[str], args) -> int:
    """One line (or JSON object, a list of one a line) per file, an error line per file that
    cannot be scored; exit 2 when any could not. Ctrl-C or SIGTERM prints the list of the
    files scored before it (130, 143): --json printed nothing, though its lines were said."""
    from .cli_progress import RepeatedNotes, files_said, stopped_code

    objects = []
    try:
        with RepeatedNotes():  # a folder saved at 72 dpi: one line for it, not one per file
            for path in paths:
                objects.append(_file_object(path, args))
    except KeyboardInterrupt as stop:
        _print_list(objects, args)
        return stopped_code(stop, files_said(len(objects), len(paths), "focus", "scored"))
    _print_list(objects, args)
    return EXIT_ERROR if any("error" in o for o in objects) else 0


def _print_list(objects: list[dict], args) -> None:
    """With --json, the files' objects: a list of one a line."""
    if args.json:
        print("[\n" + ",\n".join(json.dumps(o) for o in objects) + "\n]" if objects else "[]",
              flush=True)


def _file_object(path: str, args) -> dict:
    """One file of several: its --json object, its line printed (or its error line)."""
    import numpy as np

    from .cli_words import error_words

    try:
        scores, axes, structure = _scores(path, args)
    except (ValueError, TypeError, OSError, RuntimeError) as error:  # as info's files
        why = first_line(error_words(error, args))
        if shown_path(path) not in why and str(path) not in why:  # io's messages name it
            why = f"{shown_path(path)}: {why}"
        print(f"microdeblur: error: {why}", file=sys.stderr, flush=True)
        return {"file": path, "error": why}
    if not args.json:
        said = (_said(scores, structure) if np.ndim(scores) == 0
                else f"focus scores {_one_line(scores)} ({axes}){_blank_note(structure)}")
        print(f"{path}: {said}", flush=True)
    return {"file": path, **_json_object(scores, axes, args, structure)}


def add_focus_command(sub) -> None:
    p = sub.add_parser("focus", help="focus (sharpness) score of an image, its slices or tiles")
    p.add_argument("input", nargs="+", metavar="IMAGE",
                   help="images, folders of images or quoted globs, as deblur takes them (a "
                   "glob's folders are skipped)")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="score the images in the folders' subfolders too (without it they are "
                   "left out, counted in a warning, as deblur does)")
    p.add_argument("--axes", help="axes of the input (default: from the file, else a guess)")
    p.add_argument("--tile", type=int, help="score square tiles of N px instead of whole planes")
    p.add_argument("--camera-offset", type=float, default=0.0, metavar="ADU",
                   help="the camera's dark level, subtracted before scoring (e.g. 100 for many "
                   "sCMOS cameras; default 0); compare scores made with the same value")
    p.add_argument("--json", action="store_true",
                   help="one JSON object: 'score' (2D) or 'scores' (per slice, in order) and "
                   "'structure' (shaped alike: false where blank); for several files a list "
                   "of them, one a line, each with its 'file'")
    p.set_defaults(func=cmd_focus)
