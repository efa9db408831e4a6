"""Richardson-Lucy with ``iterations='auto'`` against fixed and tuned counts, on the
cross-dataset rows of benchmarks/generalization.py.

``iterations='auto'`` (``inference.iterations_for``) hides a random tenth of the pixels of a
central 256 px crop, runs Richardson-Lucy on the rest and keeps the count at which its blurred
estimate best predicts the hidden pixels (``classical.held_out_iterations``, at most 100). It
uses no reference and nothing tuned: its only settings (the share hidden, the crop, the cap of
100) were fixed before this benchmark first ran. Each row: the held-out sets, test images and
degradations of the generalization benchmark (true PSF), scored as there (PSNR / SSIM, 16 px
border excluded), with

- ``rl_30``: the default count;
- ``rl_tuned``: the count of ``tuning.RL_ITERATIONS`` (5-50) best on two training-split crops
  of the set, as the generalization benchmark tunes its RL baseline;
- ``rl_oracle``: the fixed count of 5-100 best on the row's own test images (tuned on the
  answer);
- ``rl_auto``: ``iterations='auto'``, the counts it chose and the seconds its check took.

RGB images: the check runs on the first channel and every channel gets that count.

  python benchmarks/rl_iterations_auto.py --json benchmarks/results/rl_iterations_auto.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import generalization as gen  # noqa: E402
import provenance  # noqa: E402

from napari_microdeblur.core.inference import deblur, iterations_for  # noqa: E402
from napari_microdeblur.core.method import MethodSpec  # noqa: E402
from napari_microdeblur.core.metrics import evaluate  # noqa: E402

ORACLE_GRID = (5, 10, 20, 30, 50, 100)


def rl(blurred, psf, axes, iterations):
    return deblur(blurred, method=MethodSpec("richardson_lucy", psf=psf, iterations=iterations),
                  axes=axes, device="cpu")


def row(modality: str, cfg: dict, name: str, n_test: int) -> dict:
    rgb = cfg.get("rgb", False)
    axes, channel_axis = ("YXS", -1) if rgb else ("YX", None)
    psf = gen.row_psf(name)
    tests = [gen.centre_crop(gen.read(gen.SHARED / cfg["set"] / f, rgb), gen.CROP)
             for f in cfg["test"][:n_test]]

    def score(pred, ref):
        m = evaluate(pred, ref, border=gen.BORDER, channel_axis=channel_axis)
        return {"psnr": float(m["psnr"]), "ssim": float(m["ssim"])}

    pairs = gen.tuning_pairs(gen.training_crops(cfg), name, psf, rgb)
    tuned, _ = gen.tune("richardson_lucy", pairs, psf, axes, lambda p, s: score(p, s)["psnr"])
    scores = {k: [] for k in ("input", "rl_30", "rl_tuned", "rl_auto",
                              *(f"rl_{n}" for n in ORACLE_GRID))}
    chosen, seconds = [], []
    for i, sharp in enumerate(tests):
        blurred = gen.degrade_with(sharp, name, psf, gen.SEED + i, rgb)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the line giving the count
            spec = iterations_for(MethodSpec("richardson_lucy", psf=psf, iterations="auto"),
                                  blurred, axes)
        seconds.append(time.perf_counter() - t0)
        chosen.append(spec.iterations)
        scores["input"].append(score(blurred, sharp))
        scores["rl_auto"].append(score(rl(blurred, psf, axes, spec.iterations), sharp))
        for n in ORACLE_GRID:
            scores[f"rl_{n}"].append(score(rl(blurred, psf, axes, n), sharp))
        scores["rl_tuned"].append(score(rl(blurred, psf, axes, tuned), sharp))
    mean = {k: {m: float(np.mean([s[m] for s in v])) for m in ("psnr", "ssim")}
            for k, v in scores.items()}
    best = max(ORACLE_GRID, key=lambda n: mean[f"rl_{n}"]["psnr"])
    out = {"modality": modality, "set": cfg["set"], "degradation": name, "n": len(tests),
           "input": mean["input"], "rl_30": mean["rl_30"],
           "rl_tuned": {**mean["rl_tuned"], "iterations": tuned},
           "rl_oracle": {**mean[f"rl_{best}"], "iterations": best},
           "rl_auto": {**mean["rl_auto"], "iterations": chosen,
                       "check_seconds": round(float(np.mean(seconds)), 2)},
           "rl_auto_per_image_psnr": [s["psnr"] for s in scores["rl_auto"]],
           "rl_tuned_per_image_psnr": [s["psnr"] for s in scores["rl_tuned"]]}
    print(f"{modality} {name}: input {mean['input']['psnr']:.2f} | RL30 "
          f"{mean['rl_30']['psnr']:.2f} | tuned ({tuned}) {mean['rl_tuned']['psnr']:.2f} | "
          f"oracle ({best}) {mean[f'rl_{best}']['psnr']:.2f} | auto {chosen} "
          f"{mean['rl_auto']['psnr']:.2f} [{np.mean(seconds):.2f} s]", flush=True)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--test", type=int, default=3, help="test images per row")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows = [row(modality, cfg, name, args.test)
            for modality, cfg in gen.HELD_OUT.items() for name in gen.DEGRADATIONS]
    gaps = [r["rl_auto"]["psnr"] - r["rl_tuned"]["psnr"] for r in rows]
    summary = {"auto_minus_tuned_db": {"min": round(min(gaps), 3), "max": round(max(gaps), 3),
                                       "mean": round(float(np.mean(gaps)), 3)},
               "auto_at_or_above_tuned_rows": int(sum(g >= 0 for g in gaps)),
               "auto_above_30_rows": int(sum(r["rl_auto"]["psnr"] > r["rl_30"]["psnr"]
                                             for r in rows)),
               "rows": len(rows), "minutes": round((time.perf_counter() - t0) / 60, 1)}
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps({"provenance": provenance.record(),
                                         "results": {"rows": rows, "summary": summary}},
                                        indent=1) + "\n")


if __name__ == "__main__":
    main()
