"""Which default Richardson-Lucy and Wiener should run with: a fixed setting (30 iterations,
balance 0.01) or the setting found per image (``iterations='auto'``, ``balance='auto'``), on
training-split images only.

benchmarks/classical_auto.py compares the two on the cross-dataset *test* images; choosing a
default there would be choosing on the answer. This benchmark makes the choice on the two
*training-split* images of each held-out set of benchmarks/generalization.py (centre crops of
512 px), under the same degradations (protocols A, B, C and the two held-out optics PSFs), with
noise seeds of their own (2000 +), true PSF, scored as there (PSNR / SSIM, 16 px border
excluded). Nothing here is trained or tuned: the auto settings use no reference.

The rule, fixed before the first run: the default of a method becomes 'auto' when, over the 15
rows, 'auto' scores at least the fixed setting's PSNR less 0.05 dB on at least 12 rows and puts
no more images below the input than the fixed setting does.

  python benchmarks/classical_defaults.py --json benchmarks/results/classical_defaults.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import classical_auto as ca  # noqa: E402
import generalization as gen  # noqa: E402
import provenance  # noqa: E402

from napari_microdeblur.core.metrics import evaluate  # noqa: E402

FIXED = {"richardson_lucy": 30, "wiener": 0.01}
NOISE_SEED = 2000  # neither the test images' (0 +) nor the tuning crops' (1000 +)
TOLERANCE_DB = 0.05
MIN_ROWS = 12


def row(modality: str, cfg: dict, name: str) -> dict:
    rgb = cfg.get("rgb", False)
    axes, channel_axis = ("YXS", -1) if rgb else ("YX", None)
    psf = gen.row_psf(name)
    sharp = [gen.centre_crop(gen.read(gen.SHARED / cfg["set"] / f, rgb), gen.CROP)
             for f in cfg["train"]]
    blurred = [gen.degrade_with(s, name, psf, NOISE_SEED + i, rgb) for i, s in enumerate(sharp)]

    def score(pred, ref):
        m = evaluate(pred, ref, border=gen.BORDER, channel_axis=channel_axis)
        return {"psnr": float(m["psnr"]), "ssim": float(m["ssim"])}

    inputs = [score(b, s) for s, b in zip(sharp, blurred)]
    out = {"modality": modality, "set": cfg["set"], "images": list(cfg["train"]),
           "degradation": name, "input": mean(inputs)}
    for method, fixed in FIXED.items():
        chosen = [ca.auto_setting(method, b, psf, axes)[0] for b in blurred]
        runs = {"fixed": [score(ca.classical(method, b, psf, axes, fixed), s)
                          for s, b in zip(sharp, blurred)],
                "auto": [score(ca.classical(method, b, psf, axes, v), s)
                         for s, b, v in zip(sharp, blurred, chosen)]}
        out[method] = {key: {**mean(scores), "below_input": sum(
            r["psnr"] < i["psnr"] for r, i in zip(scores, inputs))}
            for key, scores in runs.items()}
        out[method]["fixed"]["value"] = fixed
        out[method]["auto"]["values"] = chosen
    rl, wi = out["richardson_lucy"], out["wiener"]
    print(f"{modality} {name}: input {out['input']['psnr']:.2f} | RL 30 {rl['fixed']['psnr']:.2f}"
          f", auto {rl['auto']['values']} {rl['auto']['psnr']:.2f} | Wiener 0.01 "
          f"{wi['fixed']['psnr']:.2f}, auto {wi['auto']['psnr']:.2f}", flush=True)
    return out


def mean(scores: list[dict]) -> dict:
    return {m: float(np.mean([s[m] for s in scores])) for m in ("psnr", "ssim")}


def decide(rows: list[dict]) -> dict:
    """Per method: the rows where 'auto' holds, images below the input, and the rule's answer."""
    out = {}
    for method in FIXED:
        gaps = [r[method]["auto"]["psnr"] - r[method]["fixed"]["psnr"] for r in rows]
        holds = int(sum(g >= -TOLERANCE_DB for g in gaps))
        below = {k: int(sum(r[method][k]["below_input"] for r in rows)) for k in ("fixed", "auto")}
        out[method] = {"rows": len(rows), "auto_holds_rows": holds,
                       "auto_minus_fixed_db": {"min": round(min(gaps), 3),
                                               "max": round(max(gaps), 3),
                                               "mean": round(float(np.mean(gaps)), 3)},
                       "images_below_input": below,
                       "default_auto": holds >= MIN_ROWS and below["auto"] <= below["fixed"]}
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows = [row(modality, cfg, name)
            for modality, cfg in gen.HELD_OUT.items() for name in gen.DEGRADATIONS]
    result = {"rule": f"'auto' at least the fixed setting less {TOLERANCE_DB} dB on at least "
                      f"{MIN_ROWS} of the rows, and no more images below the input",
              "rows": rows, "decision": decide(rows),
              "minutes": round((time.perf_counter() - t0) / 60, 1)}
    print(json.dumps(result["decision"]))
    if args.json:
        provenance.write_json(args.json, result)


if __name__ == "__main__":
    main()
