"""`microdeblur deblur --focus-below T|auto`: deblur only the soft (out-of-focus) slices of a
stack, or tiles of each plane (``--focus-unit tile``), of each file; the rest is written
unchanged (bit-identical with ``--output-dtype input``). The Focus QC dock's rules, for files:

- scores: ``core.focus`` per plane, or per ``--focus-tile`` square (default: the dock's, the
  largest of 256/128/64/32 px that cuts the shorter side into 4 or more);
- units without structure are never deblurred, as in the dock: tiles of background noise only
  (``focus.structure_tiles``) and blank planes (no structure, or a constant plane scoring 0,
  as ``microdeblur watch`` judges them): their score is noise's, often below any threshold;
- ``auto``: half the median score of the units with structure (the dock's automatic threshold),
  of each channel's own units where the image has a C axis (channels score on their own levels:
  DAPI 1.4-1.8e-4 beside GFP 2.5-7.1e-4; half the median of both pooled judged neither), as the
  dock sets it; a typed number is one threshold for all channels (said);
- ``--camera-offset``: the dark level subtracted before scoring, as ``focus`` and ``watch`` (and
  the dock's Camera offset) take it, so a threshold found with one carries over;
- the output records the selection under ``focus``, with the fields the dock's layer records
  and the camera offset.

The deblurring is ``core.selective.iter_deblur_selected``'s; the output is written whole once
done (it holds the result in memory, as the dock does)."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cli import UserError
from .cli_progress import ProgressBar, say
from .core.selective_words import settled_entries, settled_words, unit_word

FOCUS_UNITS = ("slice", "tile")
AUTO_WORDS = "half the median score of the units with structure"
AUTO_RULE = f"auto: {AUTO_WORDS}"
CHANNEL_WORDS = "half the median score of each channel's units with structure"
#: Why a 3D PSF gives its in-focus plane here (``psf_aware.PLANES_ALONE``)
PLANES_WHY = ("--focus-below deblurs the soft planes one by one (each alone), so auto runs the "
              "PSF-aware network with the PSF's in-focus plane, not Richardson-Lucy in 3D")
#: why not tiles for single planes (auto deblurred 22/48 tiles of a sharp field, 0/48 of a soft)
PLANE_TILES = ("--focus-unit tile compares the tiles of one plane, whose scores follow their "
               "content as much as their focus: only for focus that varies within one field")


def focus_below(text: str):
    """--focus-below: a number, or 'auto'; anything else reaches ``check_focus_options`` as
    it is, which refuses it in one line (argparse would print its usage too)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        return text


def add_focus_options(p) -> None:
    """deblur's options for deblurring only the soft slices or tiles."""
    p.add_argument("--focus-below", type=focus_below, metavar="T|auto",
                   help="deblur only the slices (or tiles, --focus-unit tile) whose focus score "
                   "(as `microdeblur focus` prints it) is below T; the rest is written "
                   "unchanged (bit-identical with --output-dtype input). auto: half the median "
                   "score, as the Focus QC dock (per channel where the image has channels; T "
                   "is one for all). Units of background noise only are never "
                   "deblurred; the output's record lists what was")
    p.add_argument("--focus-unit", choices=FOCUS_UNITS,
                   help="with --focus-below: score and deblur whole slices (default; a "
                   "single-plane file is its one slice: deblurred below T, else written "
                   "unchanged, as `watch --once` decides) or square tiles of each plane")
    p.add_argument("--focus-tile", type=int, metavar="N",
                   help="with --focus-unit tile: the tile side in px (default: the largest of "
                   "256, 128, 64, 32 that cuts the shorter side of a plane into 4 or more)")
    # as focus and watch take it: a threshold set with an offset (the Focus QC dock's Camera
    # offset) deblurred 14 of 14 slices here instead of 3, scored without it
    p.add_argument("--camera-offset", type=float, metavar="ADU",
                   help="with --focus-below: the camera's dark level, subtracted before every "
                   "focus score, as `microdeblur focus --camera-offset` and the Focus QC "
                   "dock's Camera offset do (e.g. 100 for many sCMOS cameras; default 0); "
                   "give the value T was found with. Recorded under focus.camera_offset")


def check_focus_options(args) -> None:
    """The --focus-* options, refused in one line before any file is read."""
    from .core.focus import MIN_TILE

    given = args.focus_below
    if given is None:
        for dest in ("focus_unit", "focus_tile", "camera_offset"):
            if getattr(args, dest) is not None:
                option = "--" + dest.replace("_", "-")
                raise UserError(f"{option} needs --focus-below T (a focus score) or "
                                "--focus-below auto")
        return
    if given != "auto" and (isinstance(given, str) or not math.isfinite(given) or given <= 0):
        raise UserError(f"--focus-below {given} is not a focus score: give a number > 0 (as "
                        "`microdeblur focus` prints them, e.g. 0.002) or auto")
    if args.focus_tile is not None and args.focus_unit != "tile":
        raise UserError("--focus-tile sets the side of the tiles scored: give --focus-unit "
                        "tile with it")
    if args.focus_tile is not None and args.focus_tile < MIN_TILE:
        # check_focus_tile's 'tile=7 must be ...' was said as deblur's own --tile
        raise UserError(f"--focus-tile {args.focus_tile}: give a side of at least {MIN_TILE} "
                        "px (focus scores need it)")
    if args.scheduler:
        raise UserError("--focus-below runs on this machine only: leave out --scheduler")
    offset = getattr(args, "camera_offset", None)
    if offset is not None:
        from .core.focus import check_camera_offset

        try:
            check_camera_offset(offset)
        except ValueError:
            raise UserError(f"--camera-offset {offset:g}: give the camera's dark "
                            "level, a number >= 0 (e.g. 100 for many sCMOS cameras)") from None
    if given == "auto" and args.focus_unit != "tile":
        _refuse_auto_of_planes(args)


def _refuse_auto_of_planes(args) -> None:
    """--focus-below auto (slices) of a folder or glob whose images are all single planes,
    refused in one line before any work: each file failed alone (88 lines alike, exit 2).
    Their headers only are read (lazily), stopping at the first stack; one file is left to
    ``_plane_as_slice``, which names it, and unreadable ones to the batch, which says them."""
    import warnings

    from .core import io
    from .core.axes import loop_axes
    from .core.files import find_inputs, image_axes
    from .core.shown import shown_path

    given = getattr(args, "input", None)
    if given is None:
        return
    try:
        with warnings.catch_warnings():  # the batch's listing says them, once
            warnings.simplefilter("ignore")
            inputs = find_inputs(given, recursive=bool(getattr(args, "recursive", False)),
                                 skip=getattr(args, "output", None))
    except (OSError, ValueError):
        return  # the batch's listing says why
    planes = 0
    for path in inputs if len(inputs) > 1 else ():
        try:
            with warnings.catch_warnings():  # its notes are said when it is deblurred
                warnings.simplefilter("ignore")
                axes = image_axes(io.read_image(path), args.axes)
        except (OSError, ValueError, TypeError, RuntimeError):
            continue
        if loop_axes(axes, "YXS"):
            return
        planes += 1
    if planes:
        recursive = " -r" if getattr(args, "recursive", False) else ""
        raise UserError(f"--focus-below auto is half the median score of one image's own "
                        f"slices, and {'all ' * (planes == len(inputs))}{planes} images of "
                        f"{shown_path(given)} are single planes (one score each, never below "
                        f"it): give a number below the in-focus ones' scores (`microdeblur focus "
                        f"{shown_path(given)}{recursive}` prints them; `watch --calibrate "
                        f"GOOD_DIR` sets one), e.g. --focus-below 0.002 ({PLANE_TILES})")


def camera_offset(args) -> float:
    """--camera-offset as given, 0 where it was not."""
    return float(getattr(args, "camera_offset", None) or 0.0)


def channel_axis(axes: str, tile: int | None) -> int | None:
    """Index of C among the axes of the unit scores (tile scores add a row and a column after
    the others), or None without a C axis (RGB samples are S: scored as one)."""
    from .core.selective import score_axes

    loop = score_axes(axes)
    return loop.index("C") if "C" in loop else None


def thresholds_for(given, scores, kept, axis: int | None) -> float | tuple[float, ...]:
    """--focus-below's threshold: a typed number for all channels; auto: one per channel
    (``focus_defaults.channel_thresholds``) with a C axis, else one over every unit."""
    from .core.focus_defaults import channel_thresholds

    if given != "auto":
        return float(given)
    if axis is None:
        return auto_threshold(scores, kept)
    return channel_thresholds(scores, kept, axis)


def auto_threshold(scores, kept) -> float:
    """The dock's automatic threshold (``core.focus_defaults.default_threshold``) over the
    units with structure (``kept``)."""
    from .core.focus_defaults import default_threshold

    return default_threshold(np.asarray(scores, dtype=np.float64)[np.asarray(kept, dtype=bool)])


def unit_scores(image, axes: str, tile: int | None, offset: float = 0.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """(each unit's score, less the camera ``offset``, and whether it holds structure): planes
    judged as watch judges them (a constant plane scores 0 and holds none), tiles as the dock
    judges them."""
    from .cli_watch import plane_scores
    from .core.focus import focus_score, structure_tiles

    if tile is None:
        scores, kept = plane_scores(image, axes, camera_offset=offset)
        return scores, np.asarray(kept, dtype=bool)
    scores = np.asarray(focus_score(image, axes=axes, tile=tile, camera_offset=offset),
                        dtype=np.float64)
    return scores, np.asarray(structure_tiles(image, axes=axes, tile=tile), dtype=bool)


#: How many times the median slice's the dark level's effect on one slice's score (of its
#: channel) may be before auto is told of it (``dark_level``)
DARK_SPREAD = 4.0
DARK_PERCENTILE = 0.1
DARK_SAMPLES = 1 << 20  # pixels the percentile is taken of (a stride through the image)


def dark_level(image, axes: str, kept) -> float | None:
    """The dark level the slices sit on (the image's 0.1th percentile) where it, not their
    focus, decides --focus-below auto: a level L lowers a slice's score by (mean / (mean -
    L))^2 (``core.focus``), so slices of unequal brightness on a large level (a bleaching
    time-lapse on a camera offset of 100) are picked for being dim. Returned where that factor
    of one slice with structure (``kept``) is ``DARK_SPREAD`` x or more its channel's median
    (auto is per channel), else None. Measured: a bleaching time-lapse on an offset of 100,
    12.7 (11 of 30 equally blurred frames picked; 0 with the offset); real stacks <= 1.33."""
    image = np.asarray(image)
    flat = image.reshape(-1)
    level = float(np.percentile(flat[::max(1, flat.size // DARK_SAMPLES)], DARK_PERCENTILE))
    if not level > 0:
        return None
    plane = tuple(i for i, a in enumerate(axes) if a in "YXS")
    means = image.mean(axis=plane, dtype=np.float64)  # in the order of the slice scores
    kept = np.asarray(kept, dtype=bool)
    loop = "".join(a for a in axes if a not in "YXS")
    if "C" in loop:
        groups = [(np.take(means, c, axis=loop.index("C")), np.take(kept, c, axis=loop.index("C")))
                  for c in range(means.shape[loop.index("C")])]
    else:
        groups = [(means, kept)]
    for m, k in groups:
        m = m[k]
        if m.size < 2 or (m <= level).any():
            continue
        factor = (m / (m - level)) ** 2
        if factor.max() >= DARK_SPREAD * np.median(factor):
            return level
    return None


def _warn_dark_level(source: Path, image, axes: str, kept) -> None:
    import warnings

    from .core.notes import DeblurWarning

    level = dark_level(image, axes, kept)
    if level is not None:
        units = slice_words(axes, 2)
        warnings.warn(f"{source.name}: its {units} sit on a dark level of {level:g} (0.1th "
                      f"percentile), which lowers the focus score of the dim {units} far more "
                      f"than of the bright ones, so --focus-below auto picks dim {units} rather "
                      f"than soft ones: give the camera's dark level, e.g. --camera-offset "
                      f"{math.floor(level):d}", DeblurWarning, stacklevel=2)


def slice_words(axes: str, count: int) -> str:
    """What a file's slices are, for ``count`` of them: 'time points' along T alone (a channel
    axis beside it aside), else 'slices' (the --focus-unit word, which lines of z-stacks keep)."""
    loop = "".join(a for a in axes if a not in "YXSC")
    word = "time point" if loop == "T" else "slice"
    return word + "s" * (count != 1)


def _units(result, total: int) -> str:
    """'slices', 'time points', 'planes', 'tiles (64 px)' for the lines of ``total`` units."""
    if result.focus_tile is not None:
        return "tile" + "s" * (total != 1) + f" ({result.focus_tile} px)"
    if unit_word(result) == "slice":
        return slice_words(result.axes, total)
    return unit_word(result) + "s" * (total != 1)


def _unit_tile(args, source: Path, axes: str, shape) -> int | None:
    """The focus tile (None for slices); a single plane is its one slice
    (``_plane_as_slice``)."""
    from .core.axes import loop_axes

    if args.focus_unit != "tile":
        if not loop_axes(axes, "YXS"):
            _plane_as_slice(args, source, axes)
        return None
    if args.focus_tile is not None:
        return int(args.focus_tile)
    from .core.focus_defaults import auto_focus_tile

    return auto_focus_tile(shape[axes.index("Y")], shape[axes.index("X")])


def _plane_as_slice(args, source: Path, axes: str) -> None:
    """A single plane under --focus-unit slice is the one slice: deblurred below T, else written
    unchanged, as `watch --once` decides (a folder of one field per file stopped at its first
    file). Said once a run; auto is refused: half the median of one score is never above it."""
    if args.focus_below == "auto":
        raise UserError(f"{source.name} is a single plane ({axes}): --focus-below auto is half "
                        "the median score of a file's own slices, which one plane is never "
                        "below; give a number below the scores of in-focus images (`microdeblur "
                        f"focus`, or `microdeblur watch --calibrate GOOD_DIR`; {PLANE_TILES})")
    if getattr(args, "plane_as_slice_said", False) or args.quiet:
        return
    args.plane_as_slice_said = True  # args is this run's: once a run, however many files
    say(f"microdeblur: single-plane files ({source.name} first) have no slices: each is scored "
        f"whole, deblurred when below {args.focus_below:g}, else written unchanged, as "
        f"`microdeblur watch --once` decides ({PLANE_TILES})", sys.stderr)


def deblur_soft(source: Path, output: Path, args, models=None) -> tuple[str | None, dict]:
    """Deblur the soft units of ``source`` into ``output``; prints its line; returns the label
    of the method that ran (None: no unit below T, the file written unchanged, no method
    settled) and the selection as the --json line gives it (``json_fields``). ``models``: a
    batch's ``checkpoint.ModelCache`` (None: ``inference.RECENT_MODELS``, the last networks)."""
    from .cli import file_label, method_specs
    from .core import io, io_write
    from .core.files import files_read, image_axes
    from .core.progress import drive
    from .core.psf_aware import PLANES_ALONE
    from .core.psf_fit import psf_from_calibration
    from .core.selective import iter_deblur_selected

    t0 = time.perf_counter()
    spec, tiling = method_specs(args)
    # its PSF and weights files too (--psf mypsf.tif -o mypsf.tif --overwrite replaced it)
    io_write.check_output_path(output, overwrite=args.overwrite, inputs=files_read(source, spec),
                               png=True)
    data = io.read_image(source, lazy=False, for_output=True)
    axes = image_axes(data, args.axes)
    image = np.asarray(data.array)
    tile = _unit_tile(args, source, axes, image.shape)
    png = (io_write.png_dtype(output, image.dtype, axes, image.shape)
           if io_write.is_png(output) else None)
    spec = psf_from_calibration(spec, data.pixel_size, axes)
    scores, kept = unit_scores(image, axes, tile, camera_offset(args))
    threshold = thresholds_for(args.focus_below, scores, kept, channel_axis(axes, tile))
    if args.focus_below == "auto" and tile is None and not camera_offset(args):
        _warn_dark_level(source, image, axes, kept)
    # units without structure get no score, so the core never selects them (the dock's way)
    scores = np.where(kept, scores, np.nan)
    none = nothing_below(image, axes, scores, threshold, tile, tiling.output_dtype)
    if none is not None:  # no PSF estimate, no network: they cost a deblur's time for nothing
        _write_unchanged(none, output, spec, source, data, kept, args, png, t0)
        return None, json_fields(none, args.focus_below)
    # the spec, not a Method: its PSF estimate and 'auto' settings are settled on the soft
    # part of each plane it deblurs (``selective.settled_parts``), not on the whole image
    why = PLANES_ALONE.set(PLANES_WHY)
    try:
        run = iter_deblur_selected(image, spec, threshold=threshold, axes=axes, scores=scores,
                                   tile=tile, tiling=tiling, models=models)
        with ProgressBar(quiet=args.quiet, label=file_label(source)) as bar:
            result = drive(run, bar)
    finally:
        PLANES_ALONE.reset(why)
    seconds = time.perf_counter() - t0
    record = selective_record(result, result.settled[0].method, spec, source, data, kept,
                              args.focus_below, seconds, window=tiling.window,
                              offset=camera_offset(args))
    _write(output, result.image, axes, data, record, png, args.overwrite)
    if not args.quiet and not getattr(args, "json", False):
        say(soft_line(output, result, kept, args.focus_below, seconds, spec))
    return str(result.method), {**json_fields(result, args.focus_below),
                                "settled_on": settled_entries(result, spec)}


@dataclass(frozen=True)
class Unchanged:
    """A file none of whose units is below T: what ``focus_entry`` and the lines read of a
    ``SelectiveResult``, with the input (cast to the output dtype) as its image."""

    image: np.ndarray
    axes: str
    unit_axes: str
    scores: np.ndarray
    threshold: float | tuple[float, ...]
    focus_tile: int | None
    mask: np.ndarray
    selected: tuple = ()
    boxes: tuple = ()
    halo: int = 0

    @property
    def mode(self) -> str:
        return "slices" if self.focus_tile is None else "tiles"


def nothing_below(image, axes: str, scores, threshold, tile, output_dtype: str):
    """An ``Unchanged`` where no unit of ``scores`` (NaN: no structure) is below
    ``threshold``, found as ``core.selective`` selects; None where one is."""
    from .core.selective import check_thresholds, score_axes, selection_mask

    threshold = check_thresholds(threshold, axes, image.shape)
    unit_axes = score_axes(axes) + ("" if tile is None else "yx")
    mask = selection_mask(scores, threshold, None, unit_axes)
    if mask.any():
        return None
    dtype = np.float32 if output_dtype == "float32" else image.dtype
    return Unchanged(image=image.astype(dtype, copy=False), axes=axes, unit_axes=unit_axes,
                     scores=np.asarray(scores, dtype=np.float64), threshold=threshold,
                     focus_tile=tile, mask=mask)


def _write_unchanged(none: Unchanged, output: Path, spec, source: Path, data, kept, args,
                     png, t0: float) -> None:
    seconds = time.perf_counter() - t0
    why = unchanged_words(none, args.focus_below, data.array.dtype)
    record = unchanged_record(none, spec, source, data, kept, args.focus_below, seconds, why,
                              camera_offset(args))
    _write(output, none.image, none.axes, data, record, png, args.overwrite)
    if not args.quiet and not getattr(args, "json", False):
        blank = int(np.size(kept) - np.count_nonzero(kept))
        # all without structure: ``why`` says so already
        more = (f" ({blank} without structure, never deblurred)"
                if 0 < blank < np.size(kept) else "")
        say(f"{output}: {why}{more}, in {time.perf_counter() - t0:.1f} s")


def unchanged_words(none: Unchanged, given, input_dtype) -> str:
    """'0 of 1 plane below 1e-05: written unchanged (copied as is, as float32; nothing
    deblurred, no PSF estimated)'."""
    total = int(none.scores.size)
    unit = _units(none, total)
    cast = "" if np.dtype(input_dtype) == none.image.dtype else f", as {none.image.dtype}"
    # none with structure: auto had no score to halve ('below 0 (auto: ...)' was said)
    no_auto = ", so --focus-below auto has no threshold" if given == "auto" else ""
    below = (f"deblurred: none holds structure (blank or background noise only){no_auto}"
             if not np.isfinite(none.scores).any() else below_words(none, given))
    return (f"0 of {total} {unit} {below}: written unchanged (copied as is{cast}; nothing "
            "deblurred, no PSF estimated)")


def unchanged_record(none: Unchanged, spec, source: Path, data, kept, given, seconds: float,
                     why: str, offset: float = 0.0) -> dict:
    """The record of a file written unchanged: no method (``method`` None), ``unchanged``
    saying why, the method asked for under ``method_spec`` (`microdeblur info --rerun`
    remakes it), and ``focus`` as a selective run's."""
    from .core.provenance import RECORD_KEY, run_record

    fields = {"method": None, "parameters": {}, "device": "cpu"}
    record = run_record(fields, spec, source=source, axes=none.axes,
                        output_dtype=none.image.dtype, pixel_size=data.pixel_size,
                        previous=data.metadata.get(RECORD_KEY),
                        extra={"unchanged": why, "seconds": round(float(seconds), 3),
                               "focus": focus_entry(none, kept, given, offset)})
    for key in ("device", "device_name"):  # nothing ran anywhere
        record.pop(key, None)
    return record


def json_fields(result, given) -> dict:
    """What --focus-below decided for one file, on its --json line: the threshold as given
    (a number or 'auto') and as taken (one per channel: a list), the unit, the units and those
    deblurred (0: output = input), the lowest score with structure (the record's ``focus.score``),
    each unit's (over ``score_axes``; None: no structure) and ``blank`` (none has any)."""
    threshold, scores = result.threshold, np.asarray(result.scores, dtype=np.float64)
    finite = np.isfinite(scores)
    six = [float(f"{v:.6g}") if ok else None for v, ok in zip(scores.flat, finite.flat)]
    return {"focus_below": given if given == "auto" else float(given),
            "threshold": ([float(t) for t in threshold] if isinstance(threshold, tuple)
                          else float(threshold)),
            # the option's word: a single plane is its one slice ('plane' is no --focus-unit)
            "focus_unit": "slice" if result.focus_tile is None else "tile",
            "units": int(np.size(result.scores)), "deblurred_units": len(result.selected),
            "score": float(scores[finite].min()) if finite.any() else None,
            "scores": np.array(six, dtype=object).reshape(scores.shape or (1,)).tolist(),
            "score_axes": result.unit_axes, "no_structure": int(finite.size - finite.sum()),
            "blank": not finite.any()}


def _write(output: Path, image, axes: str, data, record: dict, png, overwrite: bool) -> None:
    from .core import io_write
    from .core.batch_outputs import full_disk_named  # a full disk said with its advice
    if png is not None:
        # without --overwrite a PNG another run wrote meanwhile is kept (write_png replaced it)
        io_write.write_png(output, image, axes=axes, dtype=png, pixel_size=data.pixel_size,
                           record=record, overwrite=overwrite)
        return
    with full_disk_named(output), io_write.open_output(
            output, image.shape, image.dtype, axes=axes, pixel_size=data.pixel_size,
            overwrite=overwrite, metadata=data.metadata, record=record) as target:
        target[tuple(slice(None) for _ in image.shape)] = image


def channel_counts(result) -> str:
    """'channel 1: 1 of 48 below 3.76e-05, channel 2: 2 of 48 below 0.000103' (per-channel
    thresholds; numbered from 1, as info numbers channels)."""
    axis = result.unit_axes.index("C")
    mask = result.mask
    return ", ".join(f"channel {c + 1}: {int(np.take(mask, c, axis=axis).sum())} of "
                     f"{np.take(mask, c, axis=axis).size} below {t:.4g}"
                     for c, t in enumerate(result.threshold))


def below_words(result, given) -> str:
    """What the units were compared with: 'below 0.00115 (auto: ...)', 'below 0.002 (one
    threshold for all 2 channels)' or 'below their channel's threshold (auto per channel: ...;
    channel 1: ...)'."""
    if isinstance(result.threshold, tuple):
        return (f"below their channel's threshold (auto per channel: {CHANNEL_WORDS}; "
                f"{channel_counts(result)})")
    if given == "auto":
        return f"below {result.threshold:.4g} ({AUTO_RULE})"
    if "C" in result.unit_axes:
        channels = result.scores.shape[result.unit_axes.index("C")]
        return f"below {result.threshold:.4g} (one threshold for all {channels} channels)"
    return f"below {result.threshold:.4g}"


def soft_line(output: Path, result, kept, given, seconds: float, spec=None) -> str:
    """'OUT: 2 of 34 slices below 0.00115 (auto: ...) deblurred with M (cpu), settings found
    on each soft slice (Z 2: PSF ...; Z 5: PSF ...), 32 unchanged (1 without structure, never
    deblurred), in 4.2 s' (the settings where ``spec`` left them to the image)."""
    total, done = int(result.scores.size), len(result.selected)
    unit = _units(result, total)
    found = settled_words(result, spec) if spec is not None else ""
    line = (f"{output}: {done} of {total} {unit} {below_words(result, given)} deblurred with "
            f"{result.method} ({result.device}){found}, {total - done} unchanged")
    blank = int(np.size(kept) - np.count_nonzero(kept))
    if blank:
        line += f" ({blank} without structure, never deblurred)"
    return f"{line}, in {seconds:.1f} s"


def selective_record(result, method, spec, source: Path, data, kept, given, seconds: float,
                     *, window: str, offset: float = 0.0) -> dict:
    """The output's record: how the deblurred units were made, with the fields a deblur's
    record has (``provenance.run_record``; ``method``: the Method that ran, its precision
    resolved; ``window``: the blend window), and ``focus``: the selection, with the fields
    the Focus QC dock's layers record."""
    from .core.provenance import RECORD_KEY, run_fields, run_record

    fields = run_fields(method, result.normalization, tile=result.tile,
                        overlap=result.overlap, window=window, device=result.device)
    settled = settled_entries(result, spec)
    varied = {k for e in settled for k in e["found"] if e.get(k) != settled[0].get(k)}
    for k in varied:  # each plane's own, under focus.settled; a rerun settles them again
        fields["parameters"].pop(k, None)
    focus = focus_entry(result, kept, given, offset)
    if settled:
        focus["settled"] = settled
    record = run_record(fields, spec, source=source, axes=result.axes,
                        output_dtype=result.image.dtype, pixel_size=data.pixel_size,
                        previous=data.metadata.get(RECORD_KEY),
                        extra={"seconds": round(float(seconds), 3), "focus": focus})
    if "psf" in varied:  # `info --rerun` gives --psf estimate: each plane estimated again
        record["psf"] = "estimate"
        record.pop("psf_estimated", None)
    return record


def focus_entry(result, kept, given, offset: float = 0.0) -> dict:
    """The record's ``focus``: the dock's fields, and those `microdeblur info` prints of a
    watch's (the softest score with structure, where the threshold came from, the decision,
    the camera ``offset`` subtracted before scoring: a threshold holds for that offset)."""
    kept = np.asarray(kept, dtype=bool)
    finite = result.scores[kept & np.isfinite(result.scores)]
    total, done = int(result.scores.size), len(result.selected)
    units = unit_word(result) + "s" * (total != 1)
    per_channel = isinstance(result.threshold, tuple)
    return {
        "score": float(finite.min()) if finite.size else None,
        # per channel: C 0's first, 6 digits as the Focus QC dock records them
        "threshold": ([float(f"{t:.6g}") for t in result.threshold] if per_channel
                      else float(result.threshold)),
        "threshold_from": {"option": threshold_origin(result, given)},
        "decision": (f"{done} of {total} {units} deblurred (below their channel's threshold: "
                     f"{channel_counts(result)})" if per_channel else
                     f"{done} of {total} {units} deblurred (below the threshold)")
                    + f", {total - done} unchanged",
        "mode": result.mode, "score_axes": result.unit_axes,
        "focus_tile": result.focus_tile, "halo": int(result.halo),
        "units": int(result.scores.size), "deblurred": len(result.selected),
        "no_structure": int(kept.size - np.count_nonzero(kept)),
        "camera_offset": float(offset),
        "selected": [list(u) for u in result.selected],
        "boxes": [list(b) for b in result.boxes],
    }


def threshold_origin(result, given) -> str:
    """Where the recorded threshold came from, as `microdeblur info` prints it."""
    if given == "auto" and not np.isfinite(result.scores).any():
        return f"--focus-below auto: no {unit_word(result)} holds structure, so no threshold"
    if isinstance(result.threshold, tuple):
        return (f"--focus-below auto, one per channel (channels 1 to {len(result.threshold)}): "
                f"{CHANNEL_WORDS}")
    if given == "auto":
        return f"--focus-below auto ({AUTO_WORDS})"
    if "C" in result.unit_axes:
        channels = result.scores.shape[result.unit_axes.index("C")]
        return f"--focus-below, one for all {channels} channels"
    return "--focus-below"
