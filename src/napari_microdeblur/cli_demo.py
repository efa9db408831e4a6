"""`microdeblur demo`: the bundled sample degraded by protocol A, deblurred by the classical
oracles and the networks, with PSNR/SSIM of each (the README's first command)."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from .cli_options import ITERATIONS_MAX

SAMPLE = Path(__file__).parent / "samples" / "ht29_nuclei_hoechst.tif"
# rows 320:512 of the same field (the sample is rows 64:320): where the demo tunes the oracles
TUNING_SAMPLE = SAMPLE.with_name("ht29_nuclei_hoechst_tuning.tif")


def cmd_demo(args) -> int:
    """Degrade the bundled sample (protocol A), deblur it with the classical oracles (true PSF,
    settings tuned on another region of the same field unless given), the default network and
    the PSF-aware network given the same PSF; print PSNR/SSIM of each (--json: one object)."""
    import tifffile

    from .core.degrade import degrade, protocol_psf
    from .core.inference import deblur
    from .core.metrics import evaluate

    if args.method is not None:  # before the tuning, which takes seconds
        _check_demo_network(args.method)
    sharp = tifffile.imread(SAMPLE)
    blurred = degrade(sharp, "A", seed=0)
    runs, tuned, network = _demo_runs(args, protocol_psf("A"))
    rows = [dict(row="degraded", label="degraded input (protocol A)", method=None,
                 **_scores(evaluate(np.asarray(blurred), sharp, border=16)), seconds=0.0)]
    for key, label, options, setting in runs:
        # timed on a second run: the first also reads the weights and sets the network up
        # (0.8 s of psf_v4's first call against 0.03 s for the next, measured here)
        deblur(blurred, device=args.device, **options)
        t0 = time.perf_counter()
        out = deblur(blurred, device=args.device, **options)
        seconds = time.perf_counter() - t0
        method = options["method"]
        rows.append(dict(row=key, label=label, method=getattr(method, "name", method),
                         **_scores(evaluate(np.asarray(out), sharp, border=16)),
                         seconds=seconds, **setting))
    for row in rows:
        row["gain_db"] = row["psnr"] - rows[0]["psnr"]
    if args.json:  # one object, keyed by what each row is, not by its label
        print(json.dumps(dict(sample=SAMPLE.name, shape=list(sharp.shape), protocol="A",
                              border=16, tuned_on=TUNING_SAMPLE.name if tuned else None,
                              rows=rows)))
        return 0
    _print_table(sharp, rows, tuned, network)
    return 0


def _scores(scores: dict) -> dict:
    return {k: float(scores[k]) for k in ("psnr", "ssim", "psnr_whole")}


def _demo_runs(args, psf) -> tuple[list, bool, str | None]:
    """(row key, label, deblur options, settings) of each method; whether the classical
    settings were tuned; the network shown (None: no bundled network installed)."""
    import tifffile

    from .core.bundled import default_weights_name, is_installed
    from .core.method import MethodSpec
    from .core.psf_aware import DEFAULT_PSF_AWARE
    from .core.tuning import tune_classical

    tuned = {}
    if args.balance is None or args.iterations is None:
        tuned = tune_classical([tifffile.imread(TUNING_SAMPLE)], "A")
    balance = args.balance if args.balance is not None else tuned["wiener"]["value"]
    iterations = (args.iterations if args.iterations is not None
                  else tuned["richardson_lucy"]["value"])
    runs = [
        ("wiener", f"Wiener, true PSF, balance {balance}"
         f" ({'given' if args.balance is not None else 'tuned'})",
         dict(method="wiener", psf=psf, balance=balance),
         dict(balance=float(balance), tuned=args.balance is None)),
        ("richardson_lucy", f"Richardson-Lucy, true PSF, {iterations} it."
         f" ({'given' if args.iterations is not None else 'tuned'})",
         dict(method="richardson_lucy", psf=psf, iterations=iterations),
         dict(iterations=int(iterations), tuned=args.iterations is None)),
    ]
    network = args.method or default_weights_name(rgb=False)
    if network and MethodSpec(network).takes_psf():  # a PSF-aware network: the oracles' PSF
        runs.append(("network", f"{network} (given the true PSF)",
                     dict(method=network, psf=psf), dict(psf_given=True)))
    elif network:
        runs.append(("network", f"{network} (network, no PSF given)", dict(method=network),
                     dict(psf_given=False)))
    if args.method is None and is_installed(DEFAULT_PSF_AWARE):
        # what `deblur --psf` runs: the learned method given the same PSF as the oracles
        runs.append(("auto_psf", f"{DEFAULT_PSF_AWARE} (auto given the true PSF)",
                     dict(method=MethodSpec("auto", psf=psf)),
                     dict(psf_given=True, network=DEFAULT_PSF_AWARE)))
    return runs, bool(tuned), network


def _print_table(sharp, rows: list[dict], tuned: bool, network: str | None) -> None:
    print(f"sample: {SAMPLE.name} {sharp.shape} {sharp.dtype} (HT29 nuclei, CC-0)")
    print("metrics as in docs/evaluation.md: 8-bit scale /255, data_range 1, "
          "16-px border excluded")
    if tuned:
        print(f"classical settings tuned on {TUNING_SAMPLE.name} (another region of the same "
              "field), protocol A with other noise seeds")
    print(f"{'':<50} {'PSNR dB':>8} {'SSIM':>7} {'PSNR whole':>11} {'seconds':>8}")
    for row in rows:
        gain = f"  ({row['gain_db']:+.2f} dB)" if row["row"] != "degraded" else ""
        print(f"{row['label']:<50} {row['psnr']:>8.2f} {row['ssim']:>7.4f} "
              f"{row['psnr_whole']:>11.2f} {row['seconds']:>8.2f}{gain}")
    print("seconds: a second run of each method (the first also loads its network)")
    if not network:
        print("no bundled network is installed: only the classical methods ran")


def _check_demo_network(name: str) -> None:
    """``demo --method`` shows one bundled network beside the classical rows, which always run."""
    from .core import registry
    from .core.method import CLASSICAL_METHODS

    if name in CLASSICAL_METHODS or name == "auto":
        raise ValueError(f"demo --method takes a bundled network name (see microdeblur methods); "
                         f"{name!r} is not one (the classical rows always run, tuned)")
    if name in registry.list_archs():
        raise ValueError(f"demo --method takes a bundled network name (see microdeblur methods); "
                         f"{name!r} is an architecture: run your weights with microdeblur deblur "
                         "--weights FILE")
    # list what demo can run, not deblur's classical and architecture names
    networks = _grayscale_networks()
    if name not in networks:
        raise ValueError(f"demo --method takes a bundled network name for its grayscale sample; "
                         f"{name!r} is not one: choose one of {', '.join(networks)}")


def _grayscale_networks() -> list[str]:
    """The installed bundled networks that take one channel, as the demo's sample has."""
    from .core.bundled import WEIGHTS_DIR, is_installed, list_bundled_weights
    from .core.checkpoint import read_card

    return [name for name, entry in list_bundled_weights().items()
            if is_installed(name) and read_card(WEIGHTS_DIR / entry.file).in_channels == 1]


def _demo_iterations(text: str) -> int:
    """--iterations of demo: deblur's check said "or 'auto'", which demo refused (its default
    is tuned on another region, not deblur's 'auto')."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= ITERATIONS_MAX:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give an integer from 1 to {ITERATIONS_MAX}, or leave --iterations out "
            "to tune it on another region of the sample")
    return value


def _demo_balance(text: str) -> float:
    """--balance of demo: a finite number > 0 (see ``_demo_iterations``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a number > 0 (e.g. 0.01), or leave --balance out to tune it on "
            "another region of the sample")
    return value


def add_demo_command(sub) -> None:
    p = sub.add_parser("demo", help="degrade the bundled sample, deblur it, print PSNR/SSIM")
    p.add_argument("--method", help="network to show (default: the bundled blind default and "
                   "the PSF-aware network given the true PSF)")
    p.add_argument("--iterations", type=_demo_iterations, default=None,
                   help=f"Richardson-Lucy iterations, 1 to {ITERATIONS_MAX} (default: tuned on "
                   "another region)")
    p.add_argument("--balance", type=_demo_balance, default=None,
                   help="Wiener balance, a number > 0 (default: tuned on another region)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object instead of the table: sample, shape, protocol, "
                   "border, tuned_on (null when --balance and --iterations are given) and rows, "
                   "a list of {row: degraded, wiener, richardson_lucy, network or auto_psf, "
                   "label (the table's), method, psnr, ssim, psnr_whole, seconds, gain_db "
                   "(over the degraded input)} plus the row's balance/iterations and tuned, "
                   "or psf_given")
    p.set_defaults(func=cmd_demo)
