"""Deblurring quality per docs/evaluation.md: degraded input, tuned Richardson-Lucy and Wiener
with the true PSF (oracles), and networks (bundled names or weights files), on each modality's
test split.

Classical settings are tuned on --tune-images centre crops of the training split, spread over
its fields (``tuning_files``), with the wide grids of core/tuning.py, then fixed for the test
split; each row records the setting and whether it is an end of its grid (``at_grid_edge``).
PSNR/SSIM exclude a 16-px border; whole-image figures are kept beside them.
Prints a table and, with --json FILE, writes every number.

  python benchmarks/quality.py --modality all --protocols A,B,C --model default
"""

from __future__ import annotations

import argparse
import json
import re
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
from napari_microdeblur.core.tuning import (  # noqa: E402
    WIDE_RL_ITERATIONS,
    WIDE_WIENER_BALANCES,
    run_classical,
    tune_classical,
)

DEFAULT_MODELS = {"em": "gran.em_v1", "fluo": "gran.fluo_v1", "hist": "gran.hist_v1"}


def crop(image: np.ndarray, size: int | None) -> np.ndarray:
    if not size:
        return image
    y0 = max(0, (image.shape[0] - size) // 2)
    x0 = max(0, (image.shape[1] - size) // 2)
    return image[y0 : y0 + size, x0 : x0 + size]


def field_of(path: Path) -> str:
    """What one field is (each set's PROVENANCE.md): the channels of an ExampleFly position
    (01_POS002_D/F/R), the one ExampleSpeckles field, a Kather tissue class; else the file."""
    if path.parent.parent.name == "kather2016_crc_he_tiles" or path.parent.name.startswith(
            "cellprofiler_ExampleSpeckles"):
        return path.parent.name
    return re.sub(r"_[A-Z]$", "", path.stem)


def _natural(path: Path) -> list:
    """Sort key reading digit runs as numbers (ISBI's 2.png before 10.png)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def tuning_files(paths: list[Path], n: int) -> list[Path]:
    """``n`` training files, each from another field, evenly spaced over the sorted split (the
    first file of each field): a set's first files are often channels of one field or
    neighbouring, near-identical slices."""
    fields: dict[str, Path] = {}
    for path in sorted(paths, key=_natural):
        fields.setdefault(field_of(path), path)
    firsts = list(fields.values())
    if n >= len(firsts):
        return firsts
    return [firsts[int(i)] for i in np.round(np.linspace(0, len(firsts) - 1, n))]


def run_model(blurred: np.ndarray, model: str, axes: str) -> np.ndarray:
    """``model`` on ``blurred``: a bundled name, or a weights file (its card says the network;
    ``deblur`` takes a file as weights=, not as method=)."""
    if Path(model).is_file():
        return deblur(blurred, method="auto", weights=model, axes=axes, device="auto")
    return deblur(blurred, method=model, axes=axes, device="auto")


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
    for modality in modalities:  # a missing data folder or set: one line, before any work
        splits.check_data(modality)
    results = []
    for modality in modalities:
        rgb = modality == "hist"
        axes = "YXS" if rgb else "YX"
        channel_axis = -1 if rgb else None
        for protocol in args.protocols.split(","):
            for set_name in splits.SETS[modality]:
                # each set's classical settings are tuned on its own training split
                tune_files = tuning_files(splits.files(modality, set_name, "train"),
                                          args.tune_images)
                tune_images = [crop(splits.load(p, rgb=rgb), args.crop or 256)
                               for p in tune_files]
                tuned = tune_classical(tune_images, protocol, channel_axis=channel_axis,
                                       axes=axes, rl_iterations=WIDE_RL_ITERATIONS,
                                       balances=WIDE_WIENER_BALANCES)
                best = {name: t["value"] for name, t in tuned.items()}
                tuning = {"files": [p.name for p in tune_files],
                          **{name: {"value": t["value"], "at_grid_edge": t["at_grid_edge"]}
                             for name, t in tuned.items()}}
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
                        outputs[model] = run_model(blurred, model, axes)
                        seconds[model] = seconds.get(model, 0) + time.perf_counter() - t0
                    for label, out in outputs.items():
                        rows.setdefault(label, []).append(
                            evaluate(out, sharp, channel_axis=channel_axis))
                for label, scores in rows.items():
                    classical = next((t for name, t in tuning.items()
                                      if label.startswith(f"{name} (")), None)
                    results.append({
                        "modality": modality, "set": set_name, "protocol": protocol,
                        "method": label, "images": len(scores),
                        **{k: float(np.mean([s[k] for s in scores]))
                           for k in ("psnr", "ssim", "psnr_whole", "ssim_whole")},
                        **({"tuned": classical["value"], "at_grid_edge": classical["at_grid_edge"],
                            "tuned_on": tuning["files"]} if classical else {}),
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
