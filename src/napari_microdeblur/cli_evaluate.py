"""`microdeblur evaluate`: PSNR and SSIM of a prediction against a reference (registered by
cli.build_parser), as docs/evaluation.md computes them (``core.metrics.evaluate``); an image
with channels (C, not RGB) also per channel (``core.channel_metrics``)."""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np

from .cli import UserError
from .core.notes import DeblurWarning
from .core.shown import shown_path

#: --border left at its default (docs/evaluation.md): ``default_border`` narrows it for a thin image
DEFAULT_BORDER = 16
JSON_HELP = ("print one JSON object; a PSNR with no difference to measure (identical pixels: "
             "infinite, which JSON cannot hold) is null, and 'identical' says whether the two "
             "images are equal; a stack's per-slice lists come with 'slice_labels' (their T/Z "
             "indices), and an image with channels (C) adds 'channels' (each scored on its own "
             "reference range) and 'per_slice' (every T, C, Z slice, labelled)")


def scale_warning(prediction: np.ndarray, reference: np.ndarray, channel_axis=None,
                  dark: float = 0.0) -> str | None:
    """One line when the two images look like two intensity scales
    (``plane_metrics.scale_mismatch``: a uint8 prediction of a uint16 reference scored 4.8 dB
    as if it were a result; a widefield stack and its RL output against a confocal one
    rewarded a wrong PSF), with what to do; None otherwise."""
    from .core.plane_metrics import SCALE_SIGMA, scale_mismatch

    ratio = scale_mismatch(prediction, reference, channel_axis=channel_axis, dark=dark)
    if ratio is None:
        return None
    plo, phi = np.percentile(prediction, (0.1, 99.9))
    rlo, rhi = np.percentile(reference, (0.1, 99.9))
    return (f"the prediction's intensities span {plo:.4g} to {phi:.4g} ({prediction.dtype}) and "
            f"the reference's {rlo:.4g} to {rhi:.4g} ({reference.dtype}); their contrast over "
            f"{SCALE_SIGMA:g} px (or mean), which blurring and deblurring keep, differs "
            f"{max(ratio, 1 / ratio):.3g}x, as if on two intensity scales; both are scored as "
            "they are on the reference's: save both at the same bit depth and scale (deblur's "
            "float32 output keeps its input's), or for a pair recorded apart (real defocus, "
            "another exposure or microscope) add --match")


def nonfinite_words(array: np.ndarray, what: str) -> str | None:
    """``what`` holds how many NaN or Inf pixels, and what to do about them on the command line
    (one line), or None when every pixel is finite."""
    if array.dtype.kind not in "fc":
        return None
    count = int(array.size - np.count_nonzero(np.isfinite(array)))
    if not count:
        return None
    return (f"{what} holds {count} NaN or Inf pixel{'s' if count > 1 else ''} (of "
            f"{array.size}); scores need finite intensities: replace them in the file "
            "(e.g. with np.nan_to_num in Python) and save it again")

MATCH_HELP = ("a real pair (a reference recorded apart: real defocus, another exposure or "
              "microscope): register the reference onto the prediction by a subpixel "
              "translation (in Y, X and Z of 8 planes or more; planes the shift uncovers are "
              "left out, the border widened to the shift), fit the prediction's gain and "
              "offset onto it by least squares, then score on the reference's scale; prints "
              "the shift and gain; a shift that fits worse than none is not kept. Score the "
              "input and every result alike, in one command: the shift registered on the "
              "first is shared by all (docs/evaluation.md)")


EVALUATE_DESCRIPTION = (
    "PSNR and SSIM of each prediction against a reference (docs/evaluation.md). Exit status: "
    "0 every prediction scored; 1 some scored and some not (each one not scored is said on "
    "its own line); 2 nothing scored (one prediction that cannot be scored, or every one of "
    "several), or bad options or reference.")


def _finite_or_none(value):
    """JSON has no Infinity: a PSNR without a difference to measure is null."""
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value if value is None or math.isfinite(value) else None  # None: no SSIM


def _db(value: float) -> str:
    return f"{value:.2f} dB" if math.isfinite(value) else "infinite (no difference)"


def _ssim_words(value) -> str:
    """An SSIM as text: 'n/a' where the area scored is under its window (None)."""
    return "n/a" if value is None else f"{value:.4f}"


def ssim_gap_line(scores: dict) -> str | None:
    """The one line said under scores with no SSIM (an image under its window)."""
    from .core.plane_metrics import MIN_SIDE

    return None if scores["ssim"] is not None else (
        f"SSIM: not defined below {MIN_SIDE} px (its window)")


def planned_border(args, shape, axes: str) -> int:
    """The border an image of ``shape`` is scored with, unsaid (a folder's header tells it
    before scoring): --border as given, or left at its default the widest that fits."""
    from .core.metrics_axes import fitting_border
    from .core.plane_metrics import MIN_SIDE

    if getattr(args, "border_given", True):
        return args.border  # a border the user gave is checked, and refused, by evaluate
    ny, nx = (int(shape[axes.index(a)]) for a in "YX")
    return fitting_border(ny, nx, args.border, MIN_SIDE)


def default_border(args, shape, axes: str, label: str = "") -> int:
    """--border as given; left at its default on an image too thin for it, the widest border
    that fits (``planned_border``), said on one line: an 8 x 1024 strip had been refused."""
    border = planned_border(args, shape, axes)
    if border != args.border:
        ny, nx = (int(shape[axes.index(a)]) for a in "YX")
        print(f"microdeblur: note: {label}the image is {ny} x {nx} px, too small for the "
              f"default {args.border}-px border: a {border}-px border is used (--border sets "
              "another)", file=sys.stderr, flush=True)
    return border


def _in_reference_layout(prediction: np.ndarray, file_axes: str, reference: np.ndarray,
                         axes: str, args) -> np.ndarray:
    """The prediction in the reference's axis order when only the order differs (a planar RGB
    TIFF against an RGB PNG); else ``UserError`` saying how the two differ."""
    from .core.axes import check_axes, is_rgb, to_order

    pred_axes = args.axes or file_axes or None
    try:
        pred_axes = check_axes(pred_axes, prediction.shape)
    except ValueError as error:
        raise UserError(f"prediction {shown_path(args.prediction)}: {error}") from None
    if sorted(pred_axes) == sorted(axes):
        moved = to_order(prediction, pred_axes, axes)
        if moved.shape == reference.shape:
            return moved
    rgb = is_rgb(pred_axes, prediction.shape), is_rgb(axes, reference.shape)
    pred, ref = shown_path(args.prediction), shown_path(args.reference)
    if rgb[0] != rgb[1]:
        raise UserError(f"prediction {pred} {_layout_words(pred_axes, prediction.shape)}, "
                        f"but reference {ref} {_layout_words(axes, reference.shape)}; "
                        + _colour_advice(*((pred_axes, prediction.shape, "prediction")
                                           if rgb[1] else (axes, reference.shape, "reference"))))
    raise UserError(f"prediction {pred} has shape {prediction.shape} (axes "
                    f"{pred_axes}) but reference {ref} has {reference.shape} (axes "
                    f"{axes}); score images of the same field, size and planes")


def _layout_words(axes: str, shape) -> str:
    """'is RGB (axes YXS)', 'has 3 channels (C, axes CYX), not RGB colour samples' or 'is
    single-channel (axes YX)': an ImageJ file's 3 channels had been called single-channel."""
    from .core.axes import is_rgb

    if is_rgb(axes, shape):
        return f"is RGB (axes {axes})"
    if "C" in axes:
        return (f"has {shape[axes.index('C')]} channels (C, axes {axes}), not RGB colour "
                "samples (S)")
    return f"is single-channel (axes {axes})"


def _colour_advice(axes: str, shape, what: str) -> str:
    """What to do when ``what`` (the image that is not RGB, of ``axes``) is scored against an
    RGB one: a C axis of 3 may be a colour image saved as channels (ImageJ's CYX)."""
    if "C" in axes and shape[axes.index("C")] == 3:
        c = axes.index("C")
        return (f"if the {what}'s 3 channels are the red, green and blue of a colour image, save "
                f"it as RGB (in Python: tifffile.imwrite(path, numpy.moveaxis(image, {c}, -1), "
                "photometric='rgb')); otherwise score images of the same channels")
    return ("score an RGB image against an RGB one, or a single-channel image against a "
            "single-channel one")


def _channel_report(pred, ref, prediction, reference, axes, border, match, whole,
                    label: str = "") -> dict:
    """{'channels': per-channel scores, 'per_slice': labelled (T, C, Z) rows} of a
    multichannel (C) image, each channel on its own reference range; {} for other images."""
    from .core.channel_metrics import channel_names, channel_scores, is_multichannel, per_slice_rows

    if not is_multichannel(axes, reference.shape):
        return {}
    count = int(reference.shape[axes.index("C")])
    names = channel_names(count, ref.metadata, pred.metadata)
    theirs = channel_names(count, pred.metadata)
    if theirs != channel_names(count) and theirs != names:
        # a channel order that differs between the files scores DAPI against GFP
        print(f"microdeblur: warning: {label}the prediction names its channels {', '.join(theirs)} "
              f"and the reference {', '.join(names)}; scored in file order under the "
              "reference's names: save both with their channels in one order", file=sys.stderr,
              flush=True)
    starts, source = {}, reference
    if match is not None:
        starts = {a: s.start or 0 for a, s in zip(axes, match["keep"]) if a not in "YXC"}
        prediction, reference = match["image"][match["keep"]], match["reference"][match["keep"]]
    channels = channel_scores(prediction, reference, axes, border=border, names=names,
                              scale_source=source,
                              whole_scale=whole)
    return {"channels": channels,
            "per_slice": per_slice_rows(axes, reference.shape, channels, starts)}


def channel_label(name: str, index: int, full: bool = False) -> str:
    """A channel as text output names it: numbered from 1, as info and deblur number channels
    ('channel 1'), a name the file gave first ('DAPI', ``full``: 'DAPI (channel 1)'); --json
    keeps the index and the name (C0 for an unnamed channel) as they are."""
    number = f"channel {index + 1}"
    if name == f"C{index}":  # channel_names' stand-in: the file named none
        return number
    return f"{name} ({number})" if full else name


def _print_channels(report: dict, axes: str, border: int) -> None:
    """The per-channel lines and the labelled per-slice table of ``_channel_report``."""
    print("Per channel, each on its own range (docs/evaluation.md's rule applied to that "
          "channel of the reference; data_range 1):")
    for ch in report["channels"]:
        print(f"  {channel_label(ch['name'], ch['index'], full=True)}: PSNR {_db(ch['psnr'])}, "
              f"SSIM {_ssim_words(ch['ssim'])} (whole image: PSNR {_db(ch['psnr_whole'])}, "
              f"SSIM {_ssim_words(ch['ssim_whole'])}); "
              f"{ch['scale_rule']}")
    rows = report["per_slice"]
    if not rows:
        return
    letters = [a for a in axes if a in rows[0]]
    width = max(len(channel_label(ch["name"], ch["index"])) for ch in report["channels"])
    print(f"Per slice, each channel on its own range ({border}-px border excluded):")
    print("  " + "  ".join(a.ljust(width) if a == "C" else a.rjust(3) for a in letters)
          + "  PSNR (dB)    SSIM")
    for row in rows:
        cells = [channel_label(row["channel"], row["C"]).ljust(width) if a == "C"
                 else str(row[a]).rjust(3)
                 for a in letters]
        psnr = f"{row['psnr']:.2f}" if np.isfinite(row["psnr"]) else "inf"
        print("  " + "  ".join(cells) + f"  {psnr:>9}  {_ssim_words(row['ssim'])}")


def _refuse_a_shift_that_leaves_too_little(match: dict, args) -> None:
    """``UserError`` when --match widened the border to a shift that leaves less than SSIM's
    window: an anti-correlated brightfield pair 10 um from focus registered by a spurious
    136 px shift in a 256 px crop, and evaluate said '--border 136 leaves -16 x -16 pixels',
    a border the user never gave."""
    from .core.plane_metrics import MIN_SIDE, match_reason

    wide, sizes = match["border"], [match["field"].get(a, 0) for a in "YX"]
    left = [n - 2 * wide for n in sizes]
    if wide <= args.border or min(left) >= MIN_SIDE:
        return  # a border the user gave is checked, and said, by metrics.evaluate
    shift = ", ".join(f"{a.lower()} {v:+.1f} px" for a, v in match["shift"].items())
    reason = match_reason(match)
    raise UserError(f"--match: {shown_path(args.reference)} registers onto "
                    f"{shown_path(args.prediction)} only by a shift of {shift}, too wide to "
                    f"leave SSIM's {MIN_SIDE} x {MIN_SIDE} window of {sizes[0]} x {sizes[1]} "
                    "pixels to score"
                    + (f" ({reason})" if reason else "")
                    + "; check that the two images show one field at nearly one focus, or "
                    "score without --match")


def cmd_evaluate(args) -> int:
    """Each prediction against the one reference; with --match one registration, made on
    the first prediction, is shared by all (each keeps its own gain and offset): registered
    apart, part of a method's gain over its input was registration (RL +2.63 dB matched,
    +1.83 dB with one shared shift). A folder (or glob) of references scores folders of
    results by name (``cli_evaluate_folders``)."""
    import argparse

    from .cli_evaluate_folders import evaluate_folders, is_batch
    from .core import io

    # left at its default, a border too wide for a thin image gives way (``default_border``)
    args.border_given = args.border is not None
    args.border = DEFAULT_BORDER if args.border is None else args.border
    if args.border < 0:
        raise UserError(f"--border {args.border}: give a number of pixels >= 0")
    paths = args.prediction if isinstance(args.prediction, list) else [args.prediction]
    if is_batch(args.reference):
        return evaluate_folders(args, paths)
    ref = io.read_image(args.reference, lazy=False)
    for path in paths:
        if is_batch(path):  # read_image said 'is a directory; give an image file'
            raise UserError(f"{shown_path(path)} is a folder or glob but --reference "
                            f"{shown_path(args.reference)} is one file: give --reference the "
                            "folder (or quoted glob) of the references, paired by name")
    if len(paths) > 1:
        return _evaluate_several(args, paths, ref)
    _evaluate_one(argparse.Namespace(**{**vars(args), "prediction": paths[0]}), ref, {}, False)
    return 0


def _evaluate_several(args, paths: list, ref) -> int:
    """Each of ``paths`` against the read reference ``ref``: a prediction that cannot be
    scored (NaN pixels, another shape, unreadable) is said on one line, 'not scored', and the
    others are scored; exit code 1 then, as a folder's pairs (it stopped at the first, exit
    2, and with a bad file first scored nothing), 2 where none is scored (as one bad
    prediction alone; two bad of two had exited 1). What every prediction would be refused
    for (the reference's NaN pixels, its axes) is refused first, once."""
    import argparse

    from .cli_words import error_words
    from .core.files import image_axes

    image_axes(ref, args.axes)  # raises, said once, where every prediction would fail
    bad = nonfinite_words(np.asarray(ref.array), f"reference {shown_path(args.reference)}")
    if bad:
        raise UserError(bad)
    shared, failed = {}, 0
    for path in paths:
        if not args.json:
            print(f"{shown_path(path)}:", flush=True)
        try:
            _evaluate_one(argparse.Namespace(**{**vars(args), "prediction": path}), ref,
                          shared, True)
        except (UserError, ValueError, OSError) as error:
            failed += 1
            words = error_words(error, args)
            # the file named once ("'nan.tif': prediction 'nan.tif' holds..." named it twice)
            named = "" if shown_path(path) in words else f"{shown_path(path)}: "
            print(f"microdeblur: error: {named}{words}; not scored", file=sys.stderr,
                  flush=True)
            if args.json:  # one object per prediction still
                print(json.dumps({"prediction": str(path), "error": words}), flush=True)
    if failed == len(paths):  # nothing scored: as one bad prediction alone
        print(f"microdeblur: error: none of the {len(paths)} predictions scored (said above)",
              file=sys.stderr, flush=True)
        return 2
    if failed:
        print(f"microdeblur: error: {failed} of {len(paths)} predictions not scored (said "
              "above)", file=sys.stderr, flush=True)
        return 1
    return 0


def score_one(args, ref, shared: dict, several: bool, label: str = "") -> dict:
    """The scores of ``args.prediction`` against the read reference ``ref``
    (``args.reference`` its path), as the single-file form prints them: 'scores', 'report'
    (per channel), 'identical', 'ref_scale', 'match', 'axes', 'shape', 'border', 'dtype'.
    ``label`` goes before its warnings (a folder's file)."""
    import argparse

    from .core import io

    pred = io.read_image(args.prediction, lazy=False)  # a missing file: said before torch
    from .core.axes import channel_index
    from .core.files import image_axes
    from .core.metrics import evaluate, reference_scale
    from .core.plane_metrics import flat_lines, match_doubt, match_to_reference

    prediction, reference = np.asarray(pred.array), np.asarray(ref.array)
    for array, what, path in ((prediction, "prediction", args.prediction),
                              (reference, "reference", args.reference)):
        # NaN would print 'PSNR nan dB' and exit 0, as if it were a result
        bad = nonfinite_words(array, f"{what} {shown_path(path)}")
        if bad:
            raise UserError(bad)
    axes = image_axes(ref, args.axes)
    # a .tif output may store its axes in ImageJ's order (CZYX as ZCYX): with as many
    # channels as planes only the file's axes tell
    reordered = (bool(pred.axes) and not args.axes and pred.axes != axes
                 and sorted(pred.axes) == sorted(axes))
    if prediction.shape != reference.shape or reordered:
        prediction = _in_reference_layout(prediction, pred.axes, reference, axes, args)
    # the narrowed border said once the pair is known to be scored (a refused pair had two
    # lines: the note, then why it was refused)
    args = argparse.Namespace(**{**vars(args), "border": default_border(
        args, reference.shape, axes, label)})
    # the figures depend on it (uint16 by its maximum, not 65535 as skimage's default): say it
    offset, scale_ = reference_scale(reference, name="reference")
    channel_axis = channel_index(axes)
    border, match = args.border, None
    # one value in every pixel: nothing to register or fit a gain to (the fit had read it as
    # anti-correlated, at a made-up shift)
    flat = flat_lines(prediction, reference)
    if args.match and not flat:
        match = match_to_reference(prediction, reference, axes=axes, border=args.border,
                                   shift=shared.get("shift"))
        if several:
            shared.setdefault("shift", match["shift"])
            shared.setdefault("on", shown_path(args.prediction))
            match["registered_on"] = shared["on"]
        _refuse_a_shift_that_leaves_too_little(match, args)
        doubt = match_doubt(match)
        if doubt:
            print(f"microdeblur: warning: {Path(args.prediction).name}: {doubt}", file=sys.stderr,
                  flush=True)
        border = match["border"]
        keep = match["keep"]
        scores = evaluate(match["image"][keep], match["reference"][keep], border=border,
                          channel_axis=channel_axis, ref_scale=(offset, scale_))
    else:
        with warnings.catch_warnings():  # said below, with --match as the remedy
            warnings.simplefilter("ignore", DeblurWarning)
            scores = evaluate(prediction, reference, border=border, channel_axis=channel_axis)
        # one value in every pixel has no scale to compare: that line alone (found above)
        warning = ("; ".join(flat) if flat
                   else scale_warning(prediction, reference, channel_axis, dark=offset))
        if warning and args.match and flat:
            warning += "; --match is left out (scored as it is)"
        if warning:
            print(f"microdeblur: warning: {label}{warning}", file=sys.stderr, flush=True)
    report = _channel_report(pred, ref, prediction, reference, axes, border, match,
                             (offset, scale_), label)
    shape = reference.shape if match is None else match["reference"][match["keep"]].shape
    return {"scores": scores, "report": report,
            "identical": bool(np.array_equal(prediction, reference)),
            "ref_scale": (offset, scale_), "match": match, "axes": axes, "shape": shape,
            "border": border, "dtype": reference.dtype}


def _evaluate_one(args, ref, shared: dict, several: bool) -> None:
    one = score_one(args, ref, shared, several)  # imports torch once the prediction is read
    from .core.channel_metrics import is_multichannel
    from .core.plane_metrics import describe_scale, match_words

    scores, report, match, axes = one["scores"], one["report"], one["match"], one["axes"]
    border, (offset, scale_) = one["border"], one["ref_scale"]
    if args.json:
        print(json.dumps(json_fields(one, args.prediction if several else None)))
        return
    if match is not None:
        print(match_words(match))
    scale = describe_scale(one["dtype"], offset, scale_)  # 'Intensity scale: ...'
    if one["identical"]:
        print(f"identical: the prediction equals the reference (PSNR infinite, SSIM "
              f"{_ssim_words(scores['ssim'])}). {scale}")
    else:
        together = ("All channels together, on the whole reference's range: "
                    if is_multichannel(axes, np.asarray(ref.array).shape) else "")
        print(f"{together}PSNR {_db(scores['psnr'])}, SSIM {_ssim_words(scores['ssim'])} "
              f"({border}-px border excluded; whole image: PSNR {_db(scores['psnr_whole'])}, "
              f"SSIM {_ssim_words(scores['ssim_whole'])}). {scale}")
    gap = ssim_gap_line(scores)
    if gap:
        print(gap)
    if one["identical"]:
        return
    if report:
        _print_channels(report, axes, border)


def json_fields(one: dict, path=None) -> dict:
    """The JSON object of one scored pair (``score_one``); ``path``: the prediction, named
    when there are several."""
    from .core.channel_metrics import slice_labels

    scores, report, match, axes = one["scores"], one["report"], one["match"], one["axes"]
    extra = {} if path is None else {"prediction": str(path)}
    if match is not None:
        extra["match"] = {k: match.get(k) for k in ("shift", "gain", "offset", "border",
                                                      "planes", "kept_zero", "registered_on")}
    if "psnr_per_slice" in scores:  # which (T, Z) each pooled entry is
        starts = {} if match is None else {a: s.start or 0 for a, s in zip(axes, match["keep"])}
        extra["slice_labels"] = slice_labels(axes, one["shape"], starts)
    if report:
        extra["channels"] = [{k: _finite_or_none(v) if isinstance(v, (float, list)) else v
                              for k, v in ch.items()} for ch in report["channels"]]
        extra["per_slice"] = [{**row, "psnr": _finite_or_none(row["psnr"])}
                              for row in report["per_slice"]]
    return {**{k: _finite_or_none(v) for k, v in scores.items()},
            # the border it was scored with: a thin image's narrower one, or --match's wider
            "border": one["border"],
            "identical": one["identical"], "reference_offset": one["ref_scale"][0],
            "reference_scale": one["ref_scale"][1], "data_range": 1.0, **extra}


def add_evaluate_command(sub) -> None:
    p = sub.add_parser("evaluate", help="PSNR and SSIM of a prediction against a reference",
                       description=EVALUATE_DESCRIPTION)
    p.add_argument("prediction", nargs="+", help="the image to score (or several: the input and "
                   "deblurred outputs); the same shape as the reference, on the same intensity "
                   "scale (a warning says when it is not); with several, --match registers "
                   "the first (give the input first) and shares that shift with all, and "
                   "--json prints one object per line. With a folder of references: folders "
                   "(or quoted globs), e.g. the inputs and each method's outputs, one column "
                   "each, every file paired by name with its reference (NAME.tif or, as deblur "
                   "writes it, NAME_deblurred.tif with reference NAME.*)")
    p.add_argument("--reference", required=True,
                   help="the ground-truth image; it sets the intensity scale both are scored "
                   "on: uint8 0-255, other integers 0 to its maximum, floats (and integers "
                   "holding negative values) their min-max range. A folder (or quoted glob) of "
                   "references scores folders: one line per reference, a mean per column, "
                   "--json one object")
    p.add_argument("--axes", help="axes of both images (default: from the reference)")
    p.add_argument("--border", type=int, default=None, help="pixels left out along each edge "
                   f"(default {DEFAULT_BORDER}, as docs/evaluation.md; left at it, an image too "
                   "thin for it gets the widest border that fits, said on one line); an image "
                   "under 11 px (SSIM's window) is scored with PSNR alone, SSIM n/a (JSON null)")
    p.add_argument("--match", action="store_true", help=MATCH_HELP)
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(func=cmd_evaluate)
