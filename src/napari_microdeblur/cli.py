"""`microdeblur`: the command line over the same core the napari docks use.

argv -> core calls -> files and an exit code. Errors print one line and exit 2; a run that
fails or is interrupted leaves no partial output file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
SAMPLE = Path(__file__).parent / "samples" / "ht29_nuclei_hoechst.tif"


class UserError(Exception):
    """A problem the user can fix; printed as one line."""


def _fail(message: str) -> int:
    print(f"microdeblur: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _channel_axis(axes: str) -> int | None:
    for letter in "SC":
        if letter in axes:
            return axes.index(letter)
    return None


# ----------------------------------------------------------------------------- commands


def cmd_deblur(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from .core import io
    from .core.inference import check_axes, iter_deblur

    io.check_output_path(args.output, overwrite=args.overwrite)
    data = io.read_image(args.input)
    axes = check_axes(args.axes or data.axes or None, tuple(data.array.shape))
    out_dtype = np.float32 if args.output_dtype == "float32" else np.dtype(data.array.dtype)
    t0 = time.perf_counter()
    with io.open_tiff_output(
        args.output, tuple(data.array.shape), out_dtype, axes=axes,
        pixel_size=data.pixel_size, overwrite=args.overwrite,
    ) as target:
        run = iter_deblur(
            data.array, method=args.method, axes=axes, tile=args.tile, overlap=args.overlap,
            window=args.window, device=args.device, psf=args.psf, iterations=args.iterations,
            balance=args.balance, tv_weight=args.tv_weight, weights=args.weights,
            output_dtype=args.output_dtype, batch_size=args.batch_size,
            precision=args.precision, out=target,
        )
        bar = None
        try:
            while True:
                try:
                    step = next(run)
                except StopIteration as stop:
                    result = stop.value
                    break
                if bar is None:
                    bar = tqdm(total=step.total, unit="tile", disable=args.quiet, file=sys.stderr)
                bar.update(1)
        finally:
            if bar is not None:
                bar.close()
    if not args.quiet:
        print(
            f"{args.output}: {result.method} on {axes} {tuple(data.array.shape)} "
            f"({result.device}, tile {result.tile}, overlap {result.overlap}) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
    return 0


def cmd_degrade(args) -> int:
    import numpy as np

    from .core import io
    from .core.degrade import degrade
    from .core.inference import check_axes

    io.check_output_path(args.output, overwrite=args.overwrite)
    data = io.read_image(args.input, lazy=False)
    image = np.asarray(data.array)
    axes = check_axes(args.axes or data.axes or None, image.shape)
    blurred = degrade(image, args.protocol, seed=args.seed, channel_axis=_channel_axis(axes))
    io.write_image(
        args.output, blurred, axes=axes, pixel_size=data.pixel_size, overwrite=args.overwrite
    )
    if not args.quiet:
        print(f"{args.output}: protocol {args.protocol}, seed {args.seed}, float32 {image.shape}")
    return 0


def _evaluate_arrays(prediction, reference, axes: str, border: int) -> dict:
    from .core.metrics import evaluate

    if prediction.shape != reference.shape:
        raise UserError(
            f"prediction has shape {prediction.shape} but reference has {reference.shape}"
        )
    return evaluate(prediction, reference, border=border, channel_axis=_channel_axis(axes))


def cmd_evaluate(args) -> int:
    import numpy as np

    from .core import io
    from .core.inference import check_axes

    pred = io.read_image(args.prediction, lazy=False)
    ref = io.read_image(args.reference, lazy=False)
    prediction, reference = np.asarray(pred.array), np.asarray(ref.array)
    axes = check_axes(args.axes or ref.axes or None, reference.shape)
    scores = _evaluate_arrays(prediction, reference, axes, args.border)
    if args.json:
        print(json.dumps(scores))
    else:
        print(
            f"PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f} "
            f"({args.border}-px border excluded; whole image: PSNR {scores['psnr_whole']:.2f} dB, "
            f"SSIM {scores['ssim_whole']:.4f}); intensity scale from the reference "
            f"({reference.dtype})"
        )
    return 0


def cmd_methods(args) -> int:
    from .core.inference import CLASSICAL_METHODS

    rows = [(name, "classical", "needs --psf") for name in CLASSICAL_METHODS]
    try:
        from .core import registry

        for name in registry.list_archs():
            record = registry.get_arch(name)
            rows.append((name, "architecture", f"needs --weights FILE; {record.description}"))
    except ImportError:
        pass
    try:
        from .core import weights

        for name, entry in weights.BUNDLED_WEIGHTS.items():
            rows.append((name, "bundled weights", entry.description))
    except ImportError:
        pass
    width = max(len(r[0]) for r in rows)
    for name, kind, note in rows:
        print(f"{name:<{width}}  {kind:<15}  {note}")
    return 0


def cmd_demo(args) -> int:
    """Degrade the bundled sample (protocol A), deblur it, print PSNR/SSIM before and after."""
    import numpy as np
    import tifffile

    from .core.degrade import degrade, protocol_psf
    from .core.inference import deblur
    from .core.metrics import evaluate

    sharp = tifffile.imread(SAMPLE)
    blurred = degrade(sharp, "A", seed=0)
    psf = protocol_psf("A")
    rows = [("degraded input (protocol A)", blurred)]
    t0 = time.perf_counter()
    rl = deblur(blurred, method="richardson_lucy", psf=psf, iterations=args.iterations,
                device=args.device)
    rows.append((f"Richardson-Lucy, true PSF, {args.iterations} iterations", rl))
    wi = deblur(blurred, method="wiener", psf=psf, balance=args.balance, device=args.device)
    rows.append((f"Wiener, true PSF, balance {args.balance}", wi))
    elapsed = time.perf_counter() - t0
    print(f"sample: {SAMPLE.name} {sharp.shape} {sharp.dtype} (HT29 nuclei, CC-0)")
    print("metrics per EVALUATION.md: 8-bit scale /255, data_range 1, 16-px border excluded")
    print(f"{'':<44} {'PSNR dB':>8} {'SSIM':>7} {'PSNR whole':>11}")
    base = None
    results = {}
    for name, image in rows:
        s = evaluate(np.asarray(image), sharp, border=16)
        base = s["psnr"] if base is None else base
        gain = f"  ({s['psnr'] - base:+.2f} dB)" if name != rows[0][0] else ""
        print(f"{name:<44} {s['psnr']:>8.2f} {s['ssim']:>7.4f} {s['psnr_whole']:>11.2f}{gain}")
        results[name] = s
    print(f"deblurring took {elapsed:.2f} s")
    if args.json:
        print(json.dumps(results))
    return 0


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="microdeblur",
        description="Deblur microscopy images with deep networks and classical deconvolution.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("deblur", help="deblur an image file into a new TIFF")
    p.add_argument("input", help="input image (TIFF/OME-TIFF; other formats with [formats])")
    p.add_argument("-o", "--output", required=True, help="output .tif/.ome.tif (must not exist)")
    p.add_argument("--method", default="richardson_lucy",
                   help="richardson_lucy, wiener, an architecture with --weights, or arch.tag")
    p.add_argument("--weights", help="weights file for a network method (.safetensors/.pt/.zip)")
    p.add_argument("--psf", help="gaussian:SIGMA | disk:RADIUS | astig:S1,S2,ANGLE | FILE.tif")
    p.add_argument("--iterations", type=int, default=30, help="Richardson-Lucy iterations")
    p.add_argument("--tv-weight", type=float, default=0.0,
                   help="Richardson-Lucy total-variation weight (0 = off, e.g. 0.002)")
    p.add_argument("--balance", type=float, default=0.01, help="Wiener balance (regularisation)")
    p.add_argument("--axes", help="axes of the input, e.g. YX, ZYX, TCZYX, YXS (RGB)")
    p.add_argument("--tile", type=int, help="tile size in pixels (default: from the method)")
    p.add_argument("--overlap", type=int, help="tile overlap (default: the receptive field)")
    p.add_argument("--window", default="cosine", choices=["cosine", "gaussian", "constant"])
    p.add_argument("--batch-size", type=int, default=1, help="tiles per forward call")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--output-dtype", default="float32", choices=["float32", "input"])
    p.add_argument("--precision", default="auto",
                   choices=["auto", "float32", "bfloat16", "float16"],
                   help="network arithmetic; auto: bfloat16 where the CPU/GPU has it")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_deblur)

    p = sub.add_parser("degrade", help="apply a degradation protocol of EVALUATION.md")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--protocol", required=True, choices=["A", "B", "C"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--axes")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_degrade)

    p = sub.add_parser("evaluate", help="PSNR and SSIM of a prediction against a reference")
    p.add_argument("prediction")
    p.add_argument("--reference", required=True)
    p.add_argument("--axes", help="axes of both images (default: from the reference)")
    p.add_argument("--border", type=int, default=16, help="pixels excluded at the border")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("methods", help="list every method and weight this installation offers")
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser("demo", help="degrade the bundled sample, deblur it, print PSNR/SSIM")
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--balance", type=float, default=0.01)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)
    return parser


def _version() -> str:
    from . import __version__

    return f"microdeblur {__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("microdeblur: interrupted; no partial output was left", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UserError, ValueError, TypeError, OSError) as error:
        return _fail(str(error))


if __name__ == "__main__":
    sys.exit(main())
