"""Where the PSF-aware network gains or loses on one cross-dataset row: its own Wiener
estimates (the U-Net's inputs) against its output, Richardson-Lucy and Wiener.

For each test image of a row of benchmarks/generalization.py (same sets, crops, degradations,
PSFs and seeds): border-excluded PSNR of the input, of each Wiener estimate W_k the network
computes (its learned balances at the estimated noise level, on the percentile-normalised
image), of the network's output (the full method, as `deblur --psf` runs it), and of RL and
Wiener at fixed settings. When the output falls below its own best W_k, the learned U-Net
correction is what costs (the PSF and noise handling are not).

    python benchmarks/psf_aware_parts.py --modality em --degradation widefield_heldout \
        [--weights wiener_unet.psf_v1] [--rl-iterations 50] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import generalization as gen  # noqa: E402

from napari_microdeblur.core.archs.wiener_unet import Fourier, noise_sigma  # noqa: E402
from napari_microdeblur.core.checkpoint import load_model  # noqa: E402
from napari_microdeblur.core.metrics import evaluate  # noqa: E402
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE  # noqa: E402


def parts(modality: str, degradation: str, weights: str, rl_iterations: int,
          balances: tuple[float, ...]) -> list[dict]:
    cfg = gen.HELD_OUT[modality]
    rgb = cfg.get("rgb", False)
    model, _ = load_model(weights)
    model.eval()
    psf = gen.row_psf(degradation)
    kernel = torch.from_numpy(psf.astype(np.float32))
    rows = []
    for i, name in enumerate(cfg["test"]):
        sharp = gen.centre_crop(gen.read(gen.SHARED / cfg["set"] / name, rgb), gen.CROP)
        if rgb:  # one channel (green) is enough to see where the network stands
            sharp = np.ascontiguousarray(sharp[..., 1])
        blurred = gen.degrade_with(sharp, degradation, psf, gen.SEED + i, False)

        def score(out, sharp=sharp):
            return float(evaluate(out, sharp, border=gen.BORDER)["psnr"])

        lo, hi = np.percentile(blurred, [0.1, 99.9])
        x = torch.from_numpy(((blurred - lo) / (hi - lo)).astype(np.float32))[None, None]
        with torch.no_grad():
            sigma = noise_sigma(x)
            estimates = model.wiener_estimates(Fourier(x, kernel[None]), sigma)[0].numpy()
        row = {"image": name, "input": score(blurred), "noise_sigma": float(sigma),
               "wiener_estimates": [score(w * (hi - lo) + lo) for w in estimates],
               "network": score(gen.run("psf_aware", blurred, psf, "YX", psf_aware=weights)),
               f"richardson_lucy_{rl_iterations}": score(
                   gen.run("richardson_lucy", blurred, psf, "YX", rl_iterations))}
        for b in balances:
            row[f"wiener_{b:g}"] = score(gen.run("wiener", blurred, psf, "YX", b))
        row["network_minus_best_estimate_db"] = row["network"] - max(row["wiener_estimates"])
        rows.append(row)
        print(json.dumps({k: (round(v, 2) if isinstance(v, float) else v)
                          for k, v in row.items() if k != "wiener_estimates"}
                         | {"wiener_estimates": [round(v, 2) for v in
                                                 row["wiener_estimates"]]}), flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modality", choices=list(gen.HELD_OUT), required=True)
    p.add_argument("--degradation", choices=gen.DEGRADATIONS, required=True)
    p.add_argument("--weights", default=DEFAULT_PSF_AWARE)
    p.add_argument("--rl-iterations", type=int, default=50)
    p.add_argument("--balances", default="0.001,0.005,0.02",
                   help="Wiener balances to report (comma-separated)")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    balances = tuple(float(b) for b in args.balances.split(","))
    rows = parts(args.modality, args.degradation, args.weights, args.rl_iterations, balances)
    if args.json:
        argv_used = sys.argv[1:] if argv is None else list(argv)
        args.json.write_text(json.dumps({
            "command": "python benchmarks/psf_aware_parts.py " + " ".join(argv_used),
            "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
