"""`microdeblur psf-from-beads` (a PSF measured from an image of fluorescent beads),
`microdeblur psf-estimate` (a PSF estimated from the blurred image itself) and
`microdeblur psf-from-weights` (the PSF a psf_cyclegan weights file learned)."""

from __future__ import annotations

import argparse
import math
import warnings

from .cli import UserError
from .core.shown import shown_path

#: the largest --radius, as core.beads accepts it
MAX_BEAD_RADIUS = 256


def _check_psf_output(path: str) -> None:
    """After io_write.check_output_path: a PSF written as Zarr could not be given to --psf, which
    reads a PSF from a TIFF only."""
    if not path.lower().endswith((".tif", ".tiff")):
        raise UserError(f"output {shown_path(path)}: write the PSF as a .tif (what --psf reads)")


def _check_beads_options(args) -> None:
    """--threshold and --radius in the command's words (the core names its Python arguments)."""
    if args.threshold is not None and not (math.isfinite(args.threshold) and args.threshold > 0):
        raise UserError(f"--threshold {args.threshold:g}: give a bead height > 0 above the "
                        "local background, in image units (or leave it out: 8 noise sigmas)")
    radii = args.radius if isinstance(args.radius, tuple) else (args.radius,)
    if args.radius is not None and not all(1 <= r <= MAX_BEAD_RADIUS for r in radii):
        raise UserError(f"--radius {','.join(map(str, radii))}: give pixels from 1 to "
                        f"{MAX_BEAD_RADIUS}, one value or one per axis (e.g. 7 or 12,7,7)")


def _check_radius_count(radius, image_ndim: int, axes: str | None) -> None:
    """One value per axis of the bead image (YX: 2, ZYX: 3), said before the beads are sought."""
    if not isinstance(radius, tuple) or len(radius) == image_ndim:
        return
    if image_ndim in (2, 3) and (axes is None or set(axes) <= set("ZYX")):
        raise UserError(f"--radius {','.join(map(str, radius))} gives {len(radius)} values but "
                        f"the bead image is {'ZYX'[-image_ndim:]}: give one value or "
                        f"{image_ndim}, in {'ZYX'[-image_ndim:]} order")


def _radius(text: str):
    """'7' -> 7, '12,7,7' -> (12, 7, 7) (one per axis, ZYX order)."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an integer or comma-separated integers (pixels, e.g. 7 or 12,7,7)"
        ) from None
    return values[0] if len(values) == 1 else values


def cmd_psf_from_beads(args) -> int:
    import numpy as np

    from .cli_words import in_cli_words
    from .core import io, io_write
    from .core.beads import psf_from_beads
    from .core.notes import DeblurNote, DeblurWarning

    io_write.check_output_path(args.output, overwrite=args.overwrite, inputs=(args.input,),
                               suffixes=(".tif", ".tiff"))  # first; a PSF is a TIFF
    _check_psf_output(args.output)
    _check_beads_options(args)
    data = io.read_image(args.input, lazy=False)
    image = np.asarray(data.array)
    axes = args.axes or data.axes or None
    if axes is not None and len(axes) == image.ndim:
        # a single channel or time point stored as its own axis is not a bead axis
        drop = tuple(i for i, a in enumerate(axes) if a in "CTS" and image.shape[i] == 1)
        image = np.squeeze(image, axis=drop)
        axes = "".join(a for i, a in enumerate(axes) if i not in drop)
    _check_radius_count(args.radius, image.ndim, axes)
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            psf, report = psf_from_beads(image, axes=axes, radius=args.radius,
                                         threshold=args.threshold)
    except ValueError as error:  # the core sees an array: the line names the file
        raise UserError(f"{shown_path(args.input)}: {error}") from None
    for w in said:  # the core's radius= (a radius that cut the PSF) said as --radius
        ours = issubclass(w.category, (DeblurNote, DeblurWarning))
        warnings.warn(in_cli_words(str(w.message), args.cli_options) if ours
                      else w.message, w.category, stacklevel=2)
    io_write.write_image(
        args.output,
        psf,
        axes="YX" if psf.ndim == 2 else "ZYX",
        pixel_size=data.pixel_size,
        overwrite=args.overwrite,
        record=_beads_record(args.input, report, psf.ndim, threshold=args.threshold,
                             input_axes=args.axes),
    )
    if not args.quiet:
        print(f"{args.output}: {report.summary()}; {_voxel_words(data.pixel_size, psf.ndim)}")
    return 0


def _beads_record(source, report, ndim: int, *, threshold=None, input_axes=None) -> dict:
    """The PSF TIFF's record (``microdeblur info`` prints it): the fields the Deblur dock's
    "PSF from beads" layer records, its warning of few or dim beads included, so a PSF made
    from weak beads still says so when it is picked up later; the --threshold and --axes given
    (None: the defaults), so that `info --command` remakes it whole."""
    import datetime
    from pathlib import Path

    from . import __version__

    name = Path(str(source)).name  # records travel in shared files: no folder of the user's
    said = report.summary() + (f"; warning: {report.warning}" if report.warning else "")
    return {"psf_from_beads": name, "bead_file": name, "report": said,
            "axes": "YX" if ndim == 2 else "ZYX", "source_file": name,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "software_version": __version__, "threshold": threshold,
            "input_axes": input_axes}


def _voxel_words(pixel_size: dict, ndim: int) -> str:
    """What the PSF file says of its voxels: a PSF is only right for images sampled alike."""
    axes = "ZYX"[-ndim:]
    known = "".join(a for a in axes if a in pixel_size)
    if "Y" not in known or "X" not in known:
        return ("the bead image gives no pixel size, nor does the PSF: use it only on images "
                "of the same pixel size" + (" and z-step" if ndim == 3 else ""))
    sizes = " x ".join(f"{pixel_size[a]:.4g}" for a in known)
    missing = " (the bead image gives no z-step: use it only on stacks of the same one)" \
        if known != axes else ""
    return f"voxel {known} {sizes} um written with it: use it on images sampled alike{missing}"


def cmd_psf_estimate(args) -> int:
    from .core import io, io_write
    from .core.files import image_axes
    from .core.psf_estimate import estimate_psf, estimation_plane

    io_write.check_output_path(args.output, overwrite=args.overwrite, inputs=(args.input,),
                               suffixes=(".tif", ".tiff"))  # first; a PSF is a TIFF
    _check_psf_output(args.output)
    data = io.read_image(args.input)
    axes = image_axes(data, args.axes)
    estimated = estimate_psf(estimation_plane(data.array, axes))
    io_write.write_image(args.output, estimated.kernel, axes="YX", pixel_size=data.pixel_size,
                         overwrite=args.overwrite,
                         record=_estimate_record(args.input, estimated, data.array.shape, axes,
                                                 input_axes=args.axes))
    if not args.quiet:
        print(f"{args.output}: {estimated.describe()}")
    return 0


def _estimate_record(source, estimated, shape, axes: str, *, input_axes=None) -> dict:
    """The PSF TIFF's record (``microdeblur info`` prints it; ``info --command`` reruns it): the
    image it was estimated from (its name only), the plane read (``estimation_region``), the
    model and what GCV found (the range and JPEG words the command prints included) and the
    --axes given (None: the file's), the one option that changes the estimate."""
    import datetime
    from dataclasses import asdict
    from pathlib import Path

    from . import __version__
    from .core.psf_estimate import estimation_region

    name = Path(str(source)).name  # records travel in shared files: no folder of the user's
    region = estimation_region(shape, axes)
    warning = estimated.flat_warning()
    found = {k: (round(v, 4) if isinstance(v, float) else v)
             for k, v in asdict(estimated).items() if k != "sigma_range"}
    found["balance"] = float(f"{estimated.balance:.4g}")  # 1e-6 .. 1: digits, not places
    found["sigma_range"] = (None if estimated.sigma_range is None
                            else [round(v, 3) for v in estimated.sigma_range])
    return {"psf_estimate": name, "source_file": name, "model": estimated.spec,
            "report": estimated.describe() + (f"; warning: {warning}" if warning else ""),
            "estimate": found, "axes": "YX", "input_axes": input_axes,
            "plane": {"image_axes": axes, "shape": [int(n) for n in shape],
                      "at": {a: i for a, i in zip(axes, region) if isinstance(i, int)},
                      "crop": {a: [i.start, i.stop] for a, i in zip(axes, region) if a in "YX"},
                      "channels_averaged": any(a in "SC" and n > 1
                                               for a, n in zip(axes, shape))},
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "software_version": __version__}


def _weights_run(card) -> tuple[int | None, float | None]:
    """(steps, minutes) a weights file's card records of its training, where it does: a
    bundled card's own figures, else the step of its kept checkpoint and the --minutes limit
    that stopped it."""
    metrics = card.metrics or {}
    steps = metrics.get("steps", metrics.get("step"))
    minutes = metrics.get("minutes")
    limit = (card.training or {}).get("time_limit")
    if minutes is None and limit and str(metrics.get("stopped", "")).startswith("stopped by"):
        minutes = limit / 60
    return (int(steps) if isinstance(steps, (int, float)) else None,
            float(minutes) if isinstance(minutes, (int, float)) else None)


def cmd_psf_from_weights(args) -> int:
    """The PSF layer of a psf_cyclegan weights file, without training: checked
    (``core.psf_quality``: a warning line for a degenerate one) and written with a record of
    where it came from (``microdeblur info`` shows it)."""
    from .core import io_write
    from .core.archs.psf_cyclegan import PSFCycleGAN
    from .core.checkpoint import load_model
    from .core.psf_quality import choose_export, export_record, gaussian_start, write_psf

    io_write.check_output_path(args.output, overwrite=args.overwrite, inputs=(args.weights,))
    _check_psf_output(args.output)
    try:
        model, card = load_model(args.weights)
    except (ValueError, OSError) as error:
        why = str(error).removeprefix(f"{args.weights}: ")
        raise UserError(f"{shown_path(args.weights)}: {why}") from None
    if not isinstance(model, PSFCycleGAN):
        raise UserError(f"{shown_path(args.weights)} is a {card.arch} network, which holds no "
                        "PSF: only psf_cyclegan weights learn one (`microdeblur psf-estimate` "
                        "estimates a PSF from a blurry image)")
    kernel = model.psf.kernel().detach().to("cpu").float().numpy()
    _check_psf_learned(args.weights, card, kernel)
    start = (card.training or {}).get("psf_start")
    start = start if isinstance(start, dict) else {}
    # the check `train --export-psf` makes, against the start the card recorded
    chosen = choose_export(kernel, gaussian_start(start, kernel.shape), start.get("kind"),
                           where=f"the PSF of {shown_path(args.weights)}",
                           start_ncc=_number(start.get("ncc")))
    steps, minutes = _weights_run(card)
    write_psf(args.output, chosen,
              export_record(chosen, weights=str(args.weights), steps=steps, minutes=minutes,
                            start_kind=start.get("kind")),
              overwrite=args.overwrite)
    if not args.quiet:
        what = (f"the PSF of {args.weights}" if chosen.which == "learned" else
                f"the PSF the run of {args.weights} started from (spectral fit; not the "
                "degenerate learned one)")
        print(f"{args.output}: {what}, {'x'.join(map(str, kernel.shape))} px, sum 1; "
              f"learned kernel: {chosen.figures.words()}")
    return 0


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def _check_psf_learned(weights: str, card, kernel) -> None:
    """Weights whose card records a regime that leaves the PSF layer alone, holding the PSF a
    network of their config starts from (``_start_kernel``): refused in the words `train
    --export-psf` refuses that run in. Fine-tuning psf_cyclegan weights (`finetune`, the
    Fine-tune dock, `train --weights`) records its own regime, supervised, and keeps their
    learned PSF: that one is written (the card keeps no record of the earlier run)."""
    import numpy as np

    from .core.training import get_regime, list_regimes
    from .core.training.regime_facts import psf_not_learned

    regime = (card.training or {}).get("regime")
    if regime not in list_regimes() or get_regime(regime).learns_psf:
        return
    start = _start_kernel(card)
    # a layer no step touched gives its start to float32 rounding (fine-tuned: equal)
    if start is not None and start.shape == kernel.shape and \
            np.max(np.abs(kernel - start)) <= 1e-5 * float(np.max(start)):
        raise UserError(f"{shown_path(weights)}: {psf_not_learned(regime, card.arch)} (the "
                        "regime its card records), so the PSF it holds is the untrained "
                        "starting Gaussian; train with --regime psf_cyclegan, or estimate the "
                        "PSF with `microdeblur psf-estimate BLURRY.tif -o est.tif`")


def _start_kernel(card):
    """The PSF a psf_cyclegan network of ``card.config`` starts from (None: a config not
    read)."""
    from .core.archs.psf_cyclegan import PSFCycleGANConfig, PSFLayer

    try:
        cfg = PSFCycleGANConfig(**(card.config or {}))
    except (TypeError, ValueError):
        return None
    layer = PSFLayer(cfg.spatial_dims, cfg.psf_size, cfg.psf_init_sigma, cfg.psf_symmetry)
    return layer.kernel().detach().float().numpy()


def add_psf_commands(sub) -> None:
    """Add `psf-from-beads`, `psf-estimate` and `psf-from-weights` to the subcommands of the
    `microdeblur` parser."""
    p = sub.add_parser(
        "psf-from-beads",
        help="measure a PSF: average the isolated beads of a bead image (2D or a z-stack)",
        description="Find isolated, unsaturated beads, align them to sub-pixel precision, "
        "average them, subtract the background and write the PSF (float32, sum 1, odd sides) "
        "for --psf. Uneven illumination or autofluorescence under the beads is subtracted "
        "before they are sought; when the camera clipped, beads with a pixel at the maximum are "
        "left out as saturated. The bead image should be taken with the same objective, "
        "wavelength and pixel size as the images to deblur.",
    )
    p.add_argument("input", help="bead image: YX or ZYX TIFF, one channel")
    p.add_argument("-o", "--output", required=True, help="the PSF .tif to write")
    p.add_argument(
        "--radius",
        type=_radius,
        help="half the PSF's side in pixels, one value or one per axis (ZYX), e.g. 12,7,7 "
        "(default: 2.5 x the median FWHM of the brightest beads, up to five, that lie "
        "wholly inside the image, measured after the 1-px Gaussian smoothing the beads are "
        "found in, which keeps noise from narrowing it but widens it: beads of FWHM 3.5 px "
        "measure 4.2, radius 11; at least 3; on a z-stack grown to where the beads' light "
        "falls to the noise, along Z limited to what a short stack holds; a bead needs this "
        "radius + 1 px to every border, in Z too)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        help="least bead height above the local background (a running median 31 px wide), "
        "in image units (default: 8 noise sigmas)",
    )
    p.add_argument("--axes", help="axes of the input, YX or ZYX (default: from the file)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no line describing the PSF written; warnings and errors still print")
    p.set_defaults(func=cmd_psf_from_beads)

    p = sub.add_parser(
        "psf-estimate",
        help="estimate a PSF from the blurred image itself (no beads, no optics)",
        description="Estimate the image's blur as a Gaussian, possibly astigmatic (sigmas in "
        "px, angle), by generalised cross-validation (Reeves and Mersereau 1992) on the centre "
        "256 px of the middle plane (colour channels averaged), and write it as a 2D PSF .tif "
        "for --psf, recording the image's name, the plane read and the estimate (`microdeblur "
        "info` shows them; `info --command` gives the command that remakes it). 'deblur --psf "
        "estimate' does the same on the fly. A measured (beads) or optics PSF is better when "
        "you have one.",
    )
    p.add_argument("input", help="the blurred image (any format microdeblur reads)")
    p.add_argument("-o", "--output", required=True, help="the PSF .tif to write")
    p.add_argument("--axes", help="axes of the input, e.g. YX, ZYX, YXS (default: from the file)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no line describing the PSF written; warnings and errors still print")
    p.set_defaults(func=cmd_psf_estimate)

    p = sub.add_parser(
        "psf-from-weights",
        help="write the PSF a psf_cyclegan weights file learned (no training)",
        description="Write the PSF layer of psf_cyclegan weights (a file, or a bundled name "
        "such as psf_cyclegan.fluo_v1) as a PSF .tif for --psf, as `train --export-psf` does "
        "at the end of a run. Its FWHM, peak share, centre offsets and the share of its bright "
        "part in the peak's blob are printed and recorded in the file (`microdeblur info`); a "
        "fragmented kernel, or one far from the PSF its run started from (which `train` "
        "records in the card), gets a warning, and a degenerate one whose run started from "
        "the spectral fit is replaced by that start, as --export-psf does. Weights whose PSF "
        "is still the untrained start, trained in another --regime than psf_cyclegan, are "
        "refused; fine-tuned psf_cyclegan weights (`finetune`, `train --weights`) keep the "
        "learned PSF and are written. "
        "Check a learned PSF against `microdeblur psf-estimate` on a blurry image.",
    )
    p.add_argument("weights", help="psf_cyclegan weights: a .safetensors file or a bundled name")
    p.add_argument("-o", "--output", required=True, help="the PSF .tif to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no line describing the PSF written; warnings and errors still print")
    p.set_defaults(func=cmd_psf_from_weights)
