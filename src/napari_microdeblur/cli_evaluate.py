"""`microdeblur evaluate`: PSNR and SSIM of a prediction against a reference (registered by
cli.build_parser), as docs/evaluation.md computes them (``core.metrics.evaluate``)."""

from __future__ import annotations

import json
import math
import sys

import numpy as np

from .cli import UserError
from .core.shown import shown_path

#: robust intensity ranges (0.1-99.9th percentile) further apart than this factor are taken
#: for two intensity scales (uint8 against uint16: 257x); a deblurred image's own ringing
#: stays well within it
SCALE_FACTOR = 4.0

JSON_HELP = ("print one JSON object; a PSNR with no difference to measure (identical pixels: "
             "infinite, which JSON cannot hold) is null, and 'identical' says whether the two "
             "images are equal")


def _robust_range(array: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(array, (0.1, 99.9))
    return float(lo), float(hi)


def scale_warning(prediction: np.ndarray, reference: np.ndarray) -> str | None:
    """One line when the two images look saved on different intensity scales (a uint8
    prediction of a uint16 reference scored 4.8 dB as if it were a result); None otherwise."""
    (plo, phi), (rlo, rhi) = _robust_range(prediction), _robust_range(reference)
    spread, ref_spread = phi - plo, rhi - rlo
    if spread <= 0 or ref_spread <= 0:  # a constant image has no scale to compare
        return None
    ratio = ref_spread / spread
    if 1 / SCALE_FACTOR <= ratio <= SCALE_FACTOR:
        return None
    wider = f"{ratio:.3g}x wider" if ratio > 1 else f"{1 / ratio:.3g}x narrower"
    return (f"the prediction's intensities span {plo:.4g} to {phi:.4g} ({prediction.dtype}) but "
            f"the reference's {rlo:.4g} to {rhi:.4g} ({reference.dtype}), {wider}, as if saved "
            "on two intensity scales; both are scored on the reference's as they are: save both "
            "at the same bit depth and scale (deblur's float32 output keeps its input's)")


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


def _finite_or_none(value):
    """JSON has no Infinity: a PSNR without a difference to measure is null."""
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value if math.isfinite(value) else None


def _db(value: float) -> str:
    return f"{value:.2f} dB" if math.isfinite(value) else "infinite (no difference)"


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
    what = {True: "RGB", False: "single-channel"}
    rgb = is_rgb(pred_axes, prediction.shape), is_rgb(axes, reference.shape)
    pred, ref = shown_path(args.prediction), shown_path(args.reference)
    if rgb[0] != rgb[1]:
        raise UserError(f"prediction {pred} is {what[rgb[0]]} (axes {pred_axes}) "
                        f"but reference {ref} is {what[rgb[1]]} (axes {axes}); "
                        "score an RGB image against an RGB one, or a single-channel image "
                        "against a single-channel one")
    raise UserError(f"prediction {pred} has shape {prediction.shape} (axes "
                    f"{pred_axes}) but reference {ref} has {reference.shape} (axes "
                    f"{axes}); score images of the same field, size and planes")


def cmd_evaluate(args) -> int:
    from .core import io
    from .core.axes import channel_index
    from .core.files import image_axes
    from .core.metrics import evaluate, reference_scale
    from .core.plane_metrics import describe_scale

    if args.border < 0:
        raise UserError(f"--border {args.border}: give a number of pixels >= 0")
    pred = io.read_image(args.prediction, lazy=False)
    ref = io.read_image(args.reference, lazy=False)
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
    scores = evaluate(prediction, reference, border=args.border,
                      channel_axis=channel_index(axes))
    warning = scale_warning(prediction, reference)
    if warning:
        print(f"microdeblur: warning: {warning}", file=sys.stderr, flush=True)
    identical = bool(np.array_equal(prediction, reference))
    # the figures depend on it (uint16 by its maximum, not 65535 as skimage's default): say it
    offset, scale_ = reference_scale(reference, name="reference")
    if args.json:
        print(json.dumps({**{k: _finite_or_none(v) for k, v in scores.items()},
                          "identical": identical, "reference_offset": offset,
                          "reference_scale": scale_, "data_range": 1.0}))
        return 0
    scale = describe_scale(reference.dtype, offset, scale_)  # 'Intensity scale: ...'
    if identical:
        print(f"identical: the prediction equals the reference (PSNR infinite, SSIM "
              f"{scores['ssim']:.4f}). {scale}")
        return 0
    print(f"PSNR {_db(scores['psnr'])}, SSIM {scores['ssim']:.4f} ({args.border}-px border "
          f"excluded; whole image: PSNR {_db(scores['psnr_whole'])}, SSIM "
          f"{scores['ssim_whole']:.4f}). {scale}")
    return 0


def add_evaluate_command(sub) -> None:
    p = sub.add_parser("evaluate", help="PSNR and SSIM of a prediction against a reference")
    p.add_argument("prediction", help="the image to score, e.g. a deblurred output; the same "
                   "shape as the reference, on the same intensity scale (a warning says when "
                   "it is not)")
    p.add_argument("--reference", required=True,
                   help="the ground-truth image; it sets the intensity scale both are scored "
                   "on: uint8 0-255, other integers 0 to its maximum, floats (and integers "
                   "holding negative values) their min-max range")
    p.add_argument("--axes", help="axes of both images (default: from the reference)")
    p.add_argument("--border", type=int, default=16, help="pixels excluded at the border")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(func=cmd_evaluate)
