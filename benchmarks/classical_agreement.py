"""Classical baselines under a synthetic protocol: tuning, border behaviour, skimage agreement.

For each real image (a 256 x 256 crop of the EPFL FIB-SEM test slice testing0001 and of the HT29
fluorescence test field) the clean crop is degraded with the protocol (seed 0), then restored by
our Richardson-Lucy (5/10/20/30/50 iterations) and Wiener (balance 0.001 ... 0.1) with the true
PSF. Every result is scored as EVALUATION.md says (16-px border excluded, whole image beside it).
The same settings are scored on a training-split crop, whose best settings are then reported on
the test crop, as the baselines in EVALUATION.md are tuned. scikit-image's richardson_lucy (no
padding) and wiener (circular) are run alongside: their interior agreement with ours and their
whole-image PSNR. Prints one JSON document; with --json it is also written there under its
provenance (provenance.py), as the README's agreement table reads it (readme_tables.py).

    PYTHONPATH=src python benchmarks/classical_agreement.py [--protocol A] [--size 256] \
        [--json benchmarks/results/classical_agreement.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
from skimage import io, restoration

from napari_microdeblur.core import classical, metrics
from napari_microdeblur.core.degrade import PROTOCOLS, degrade, protocol_psf

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ITERATIONS = (5, 10, 20, 30, 50)
BALANCES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
BORDER = 16

# name -> (test image, train image, row, col); crops are size x size from (row, col).
IMAGES = {
    "em_epfl_fibsem": (
        "em_epfl_hippocampus_fibsem/test/testing0001.png",
        "em_epfl_hippocampus_fibsem/train/training0000.png",
        256, 384,
    ),
    "fluo_ht29": (
        "fluorescence_2d/cellprofiler_ExampleHuman_ht29/AS_09125_050116030001_D03f00d0.tif",
        "fluorescence_2d/cellprofiler_ExampleFly_kc167/01_POS002_D.TIF",
        150, 180,
    ),
}


def read_gray(path: Path) -> np.ndarray:
    img = io.imread(path) if path.suffix.lower() == ".png" else tifffile.imread(path)
    # EPFL PNGs are gray + alpha (or RGBA with equal channels): channel 0 is the image.
    return img[..., 0] if img.ndim == 3 else img


def timed(fn, repeats: int = 3):
    """(result, best wall time in s): the best of a few runs is the least disturbed by load."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def scores(pred: np.ndarray, clean: np.ndarray) -> dict:
    res = metrics.evaluate(pred, clean, border=BORDER)
    res = {k: round(v, 4) for k, v in res.items()}
    res["whole_minus_interior_db"] = round(res["psnr_whole"] - res["psnr"], 3)
    return res


def agreement(ours: np.ndarray, theirs: np.ndarray, scale: float) -> dict:
    """Differences on the reference's [0, 1] scale, interior and border frame separately."""
    d = np.abs(ours.astype(np.float64) - theirs) / scale
    inner = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    frame = np.ones(d.shape, bool)
    frame[inner] = False
    return {
        "interior_max_abs": float(d[inner].max()),
        "interior_psnr_db": round(
            metrics.psnr(ours[inner] / scale, theirs[inner] / scale, data_range=1.0), 2
        ),
        "border_max_abs": float(d[frame].max()),
    }


def sweep(clean: np.ndarray, protocol: str, seed: int) -> dict:
    """Degrade, then every RL iteration count and Wiener balance, all scored."""
    psf = protocol_psf(protocol)
    deg = degrade(clean, protocol, seed=seed)
    x = torch.from_numpy(deg)[None, None]
    rl = {}
    for n in ITERATIONS:
        out, t = timed(lambda n=n: classical.richardson_lucy(x, psf, iterations=n)[0, 0].numpy())
        rl[n] = {**scores(out, clean), "seconds": round(t, 4), "_out": out}
    wi = {}
    for b in BALANCES:
        out, t = timed(lambda b=b: classical.wiener(x, psf, balance=b)[0, 0].numpy())
        wi[b] = {**scores(out, clean), "seconds": round(t, 4), "_out": out}
    return {
        "psf": psf, "degraded": deg, "degraded_scores": scores(deg, clean), "rl": rl, "wiener": wi,
    }


def strip(table: dict) -> dict:
    return {str(k): {kk: vv for kk, vv in v.items() if kk != "_out"} for k, v in table.items()}


def best_key(table: dict):
    return max(table, key=lambda k: table[k]["psnr"])


def run_image(name: str, protocol: str, size: int, seed: int) -> dict:
    test_rel, train_rel, r0, c0 = IMAGES[name]
    crop = (slice(r0, r0 + size), slice(c0, c0 + size))
    clean = read_gray(DATA / test_rel)[crop]
    train = read_gray(DATA / train_rel)[crop]
    offset, scale = metrics.reference_scale(clean)

    test = sweep(clean, protocol, seed)
    tune = sweep(train, protocol, seed)
    n_best, b_best = best_key(tune["rl"]), best_key(tune["wiener"])

    # scikit-image at the settings tuned on the training crop, on the test crop.
    psf64 = test["psf"].astype(np.float64)
    deg01 = (test["degraded"].astype(np.float64) - offset) / scale
    sk_rl01, t_skrl = timed(
        lambda: restoration.richardson_lucy(deg01, psf64, num_iter=n_best, clip=False)
    )
    sk_w01, t_skw = timed(lambda: restoration.wiener(deg01, psf64, b_best, clip=False))
    sk_rl, sk_w = sk_rl01 * scale + offset, sk_w01 * scale + offset

    rl_test, w_test = test["rl"][n_best], test["wiener"][b_best]
    return {
        "image": f"{test_rel} [{r0}:{r0 + size}, {c0}:{c0 + size}]",
        "train_image": f"{train_rel} (same crop)",
        "dtype": str(clean.dtype),
        "reference_scale": [offset, scale],
        "degraded": test["degraded_scores"],
        "richardson_lucy": strip(test["rl"]),
        "wiener": strip(test["wiener"]),
        "best_on_test": {
            "rl_iterations": best_key(test["rl"]),
            "wiener_balance": best_key(test["wiener"]),
        },
        "tuned_on_train": {
            "rl_iterations": n_best,
            "wiener_balance": b_best,
            "train_psnr_rl": tune["rl"][n_best]["psnr"],
            "train_psnr_wiener": tune["wiener"][b_best]["psnr"],
            "test_rl": strip({n_best: rl_test})[str(n_best)],
            "test_wiener": strip({b_best: w_test})[str(b_best)],
            "gain_db_rl": round(rl_test["psnr"] - test["degraded_scores"]["psnr"], 3),
            "gain_db_wiener": round(w_test["psnr"] - test["degraded_scores"]["psnr"], 3),
        },
        "skimage": {
            "richardson_lucy": {
                **scores(sk_rl, clean), "iterations": n_best, "seconds": round(t_skrl, 4),
                "agreement_with_ours": agreement(rl_test["_out"], sk_rl, scale),
            },
            "wiener": {
                **scores(sk_w, clean), "balance": b_best, "seconds": round(t_skw, 4),
                "agreement_with_ours": agreement(w_test["_out"], sk_w, scale),
            },
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="A", choices=PROTOCOLS)
    parser.add_argument("--size", type=int, default=256, help="crop side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", nargs="+", default=list(IMAGES), choices=list(IMAGES))
    parser.add_argument("--json", default=None, help="also write the report here, with its "
                        "provenance (e.g. benchmarks/results/classical_agreement.json)")
    args = parser.parse_args(argv)
    report = {
        "protocol": args.protocol,
        "seed": args.seed,
        "border": BORDER,
        "metric": "EVALUATION.md: reference-scaled, data_range 1; psnr/ssim exclude the border",
        "times": "seconds, best of 3, CPU",
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "machine": platform.machine(),
        },
        "images": {
            name: run_image(name, args.protocol, args.size, args.seed) for name in args.images
        },
    }
    json.dump(report, sys.stdout, indent=1)
    sys.stdout.write("\n")
    if args.json:
        sys.path.insert(0, str(Path(__file__).parent))
        from provenance import write_json

        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
