"""PSF-aware weights on RGB brightfield, scored on validation images only: the BCCD blood-smear
*training* split (the held-out brightfield set of benchmarks/generalization.py, whose test
images are never used here; its training images are where the classical baselines and the
self-adaptation recipes are tuned too).

Each training image (centre crop, --crop px) is degraded as in the cross-dataset benchmark
(protocols A, B, C and the held-out widefield and confocal optics PSFs, seed = image index) and
deblurred as RGB (luminance and chroma, ``psf_aware.OPPONENT``) by each weights file given the
true PSF, and under protocol A also given no PSF (estimated from the image, what the
brightfield blind default runs; reported, not part of the rule). Scores: border-excluded PSNR /
SSIM (16 px), mean per degradation; the mean over degradations decides, with no degradation
more than ``psf_aware_select.MAX_CLASS_DROP_DB`` lower than the first weights' (the rule
``psf_aware_select.py`` applies to the grayscale validation planes).

    python benchmarks/psf_aware_rgb_select.py wiener_unet.psf_v4 \
        runs/wiener_unet.psf_v14.safetensors --json benchmarks/results/psf_aware_rgb_select.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generalization as gen  # noqa: E402
import provenance  # noqa: E402
from psf_aware_select import MAX_CLASS_DROP_DB  # noqa: E402

from napari_microdeblur.core.metrics import evaluate  # noqa: E402


def images(crop: int) -> list[np.ndarray]:
    cfg = gen.HELD_OUT["brightfield"]
    folder = gen.SHARED / cfg["set"] / "train"
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    return [gen.centre_crop(gen.read(p, rgb=True), crop) for p in paths]


def degraded(sharp: list[np.ndarray], degradations: list[str]) -> dict:
    """{degradation: (its PSF, the blurred images)}, protocol A always (the estimated-PSF
    column): degraded once and scored by every weights file."""
    out = {}
    for name in dict.fromkeys([*degradations, "A"]):
        psf = gen.row_psf(name)
        out[name] = psf, [gen.degrade_with(s, name, psf, seed=i, rgb=True)
                          for i, s in enumerate(sharp)]
    return out


def score(weights: str, sharp: list[np.ndarray], blurred: dict, degradations: list[str]) -> dict:
    def scores(psf, images) -> list[dict]:
        return [evaluate(gen.run("psf_aware", b, psf, "YXS", psf_aware=weights), s,
                         border=gen.BORDER, channel_axis=-1)
                for b, s in zip(images, sharp, strict=True)]

    per = {}
    for name in degradations:
        rows = scores(*blurred[name])
        per[name] = {"psnr": float(np.mean([r["psnr"] for r in rows])),
                     "ssim": float(np.mean([r["ssim"] for r in rows]))}
    per["mean_psnr"] = float(np.mean([per[n]["psnr"] for n in degradations]))
    # what the brightfield blind default runs: the PSF estimated from the image (protocol A)
    rows = scores(gen.ESTIMATE, blurred["A"][1])
    per["A, PSF estimated"] = float(np.mean([r["psnr"] for r in rows]))
    return per


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("weights", nargs="+", help="bundled names or .safetensors files; the first "
                                             "is the reference of the rule")
    p.add_argument("--crop", type=int, default=448)
    p.add_argument("--degradations", default=",".join(gen.DEGRADATIONS))
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    degradations = args.degradations.split(",")
    sharp = images(args.crop)
    t0 = time.perf_counter()
    blurred = degraded(sharp, degradations)
    results = {w: score(w, sharp, blurred, degradations) for w in args.weights}
    ref = results[args.weights[0]]
    print(f"\n{len(sharp)} BCCD training images, {args.crop} px; PSNR (dB), border 16 px\n")
    print("| weights | " + " | ".join(degradations) + " | mean | passes the rule | "
          "A, PSF estimated |")
    print("|---|" + "---|" * (len(degradations) + 3))
    for w, r in results.items():
        drops = [ref[n]["psnr"] - r[n]["psnr"] for n in degradations]
        r["passes_rule"] = max(drops) <= MAX_CLASS_DROP_DB
        cells = " | ".join(f"{r[n]['psnr']:.2f}" for n in degradations)
        print(f"| {w} | {cells} | {r['mean_psnr']:.3f} | {r['passes_rule']} | "
              f"{r['A, PSF estimated']:.2f} |")
    if args.json:
        command = "python benchmarks/psf_aware_rgb_select.py " + " ".join(
            sys.argv[1:] if argv is None else argv)
        args.json.write_text(json.dumps({
            "command": command, "images": len(sharp), "crop": args.crop,
            "seconds": round(time.perf_counter() - t0, 1), "provenance": provenance.record(),
            "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
