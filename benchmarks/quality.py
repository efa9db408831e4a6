"""Deblurring quality per docs/evaluation.md: degraded input, tuned Richardson-Lucy and Wiener
with the true PSF (oracles), and networks (bundled names or weights files), on each modality's
test split.

Classical settings are tuned on (up to --tune-images of) the training split, then fixed for the
test split. PSNR/SSIM exclude a 16-px border; whole-image figures are kept beside them.
Prints a table and, with --json FILE, writes every number.

  python benchmarks/quality.py --modality all --protocols A,B,C --model default
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import splits  # noqa: E402
from provenance import record  # noqa: E402

from napari_microdeblur.core.degrade import degrade  # noqa: E402
from napari_microdeblur.core.inference import deblur  # noqa: E402
from napari_microdeblur.core.metrics import evaluate  # noqa: E402
from napari_microdeblur.core.tuning import run_classical, tune_classical  # noqa: E402

DEFAULT_MODELS = {"em": "gran.em_v1", "fluo": "gran.fluo_v1", "hist": "gran.hist_v1"}


def crop(image: np.ndarray, size: int | None) -> np.ndarray:
    if not size:
        return image
    y0 = max(0, (image.shape[0] - size) // 2)
    x0 = max(0, (image.shape[1] - size) // 2)
    return image[y0 : y0 + size, x0 : x0 + size]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modality", default="all", choices=["em", "fluo", "hist", "all"])
    parser.add_argument("--protocols", default="A,B,C")
    parser.add_argument("--model", action="append", default=[],
                        help="bundled name (gran.em_v1), weights file, or 'default' (the "
                        "modality's v1 GRAN of the in-distribution table, DEFAULT_MODELS; "
                        "not the package's v2 default); repeatable")
    parser.add_argument("--max-images", type=int, default=None, help="test images per set")
    parser.add_argument("--tune-images", type=int, default=3)
    parser.add_argument("--crop", type=int, default=None, help="centre crop size (speed)")
    parser.add_argument("--json", help="write all results to this file")
    args = parser.parse_args()
    modalities = ["em", "fluo", "hist"] if args.modality == "all" else [args.modality]
    results = []
    for modality in modalities:
        rgb = modality == "hist"
        axes = "YXS" if rgb else "YX"
        channel_axis = -1 if rgb else None
        for protocol in args.protocols.split(","):
            for set_name in splits.SETS[modality]:
                # each set's classical settings are tuned on its own training split
                tune_files = splits.files(modality, set_name, "train")[: args.tune_images]
                tune_images = [crop(splits.load(p, rgb=rgb), args.crop or 256)
                               for p in tune_files]
                tuned = tune_classical(tune_images, protocol, channel_axis=channel_axis,
                                       axes=axes)
                best = {name: t["value"] for name, t in tuned.items()}
                test = splits.files(modality, set_name, "test")[: args.max_images]
                rows: dict[str, list] = {}
                seconds: dict[str, float] = {}
                for i, path in enumerate(test):
                    sharp = crop(splits.load(path, rgb=rgb), args.crop)
                    blurred = degrade(sharp, protocol, seed=i, channel_axis=channel_axis)
                    outputs = {"degraded input": blurred}
                    for name, value in best.items():
                        t0 = time.perf_counter()
                        outputs[f"{name} ({value})"] = run_classical(
                            blurred, protocol, name, value, axes=axes)
                        seconds[name] = seconds.get(name, 0) + time.perf_counter() - t0
                    models = [DEFAULT_MODELS[modality] if m == "default" else m
                              for m in args.model]
                    for model in models:
                        t0 = time.perf_counter()
                        outputs[model] = deblur(blurred, method=model, axes=axes, device="auto")
                        seconds[model] = seconds.get(model, 0) + time.perf_counter() - t0
                    for label, out in outputs.items():
                        rows.setdefault(label, []).append(
                            evaluate(out, sharp, channel_axis=channel_axis))
                for label, scores in rows.items():
                    results.append({
                        "modality": modality, "set": set_name, "protocol": protocol,
                        "method": label, "images": len(scores),
                        **{k: float(np.mean([s[k] for s in scores]))
                           for k in ("psnr", "ssim", "psnr_whole", "ssim_whole")},
                    })
                print(f"\n{set_name}, protocol {protocol}, {len(test)} test images"
                      f" (classical tuned on {len(tune_images)} training crops)")
                base = next(r for r in results[-len(rows):] if r["method"] == "degraded input")
                for r in results[-len(rows):]:
                    gain = r["psnr"] - base["psnr"]
                    print(f"  {r['method']:<28} PSNR {r['psnr']:6.2f} ({gain:+.2f})"
                          f"  SSIM {r['ssim']:.4f}  whole image: PSNR {r['psnr_whole']:6.2f}"
                          f"  SSIM {r['ssim_whole']:.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"provenance": record(), "results": results},
                                              indent=1))
    print(json.dumps({"results": len(results)}))


if __name__ == "__main__":
    main()
