"""Fine-tuning on real defocus (issue 4's figure), measured per docs/evaluation.md.

Start from a bundled model (gran.fluo_v1), fine-tune for at most --minutes of this CPU on the
left half (columns 0-255) of the light-sheet mitochondria focus stack, every plane paired to
the in-focus plane Abs0051; evaluate on the right half (columns 256-511) of the mitochondria
single shots (+-0.3, 0.5, 0.7 um) against the in-focus shot ...ON.tif. Real pairs: each image
is normalised by its 0.1/99.9 percentiles, then the prediction is fitted to the reference by a
least-squares affine map (docs/evaluation.md, real pairs); 16-px border excluded.

Controls fitted with the reference (oracles): Gaussian smoothing and Gaussian Richardson-Lucy,
each with the sigma (and iteration count) that scores best on the evaluation shots.

  python benchmarks/finetune_real.py --base gran.fluo_v1 --minutes 5 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).parent))
import splits  # noqa: E402

from napari_microdeblur.core import data, training  # noqa: E402
from napari_microdeblur.core.checkpoint import load_model  # noqa: E402
from napari_microdeblur.core.inference import deblur  # noqa: E402
from napari_microdeblur.core.metrics import psnr, ssim  # noqa: E402

ROOT = splits.SHARED / "focus_stack_lightsheet_dfnn"
BORDER = 16


def normalise(image: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(image, [0.1, 99.9])
    return ((image - lo) / (hi - lo)).astype(np.float64)


def score(prediction: np.ndarray, reference: np.ndarray) -> dict:
    """docs/evaluation.md for real pairs: percentile-normalise both, fit the prediction to the
    reference with a least-squares affine map, crop the border, PSNR/SSIM at data range 1."""
    p, r = normalise(prediction), normalise(reference)
    a, b = np.polyfit(p.ravel(), r.ravel(), 1)
    p = a * p + b
    crop = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    return {"psnr": psnr(p[crop], r[crop], data_range=1.0),
            "ssim": ssim(p[crop], r[crop], data_range=1.0)}


def deblurred_scores(method, images: list[np.ndarray], reference: np.ndarray) -> dict:
    """Mean scores of ``images`` deblurred by ``method`` (a name or a model)."""
    return mean_scores([deblur(x, method=method) for x in images], reference)


def mean_scores(outputs: list[np.ndarray], reference: np.ndarray) -> dict:
    scores = [score(o, reference) for o in outputs]
    return {k: float(np.mean([s[k] for s in scores])) for k in ("psnr", "ssim")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="gran.fluo_v1")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=2000, help="upper bound; time ends it")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--loss", default="l1", choices=["l1", "mse", "multiscale"])
    parser.add_argument("--amp", default="off", choices=["off", "bf16", "auto"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--include-focus", action="store_true",
                        help="also pair the in-focus plane with itself")
    parser.add_argument("--train-only", default=None,
                        help="comma-separated parameter-name prefixes to train (e.g. tail,up); "
                        "the rest stays frozen")
    parser.add_argument("--stack-control", action="store_true",
                        help="also score the right half of the stack's planes within 0.7 um "
                        "of focus against the right half of Abs0051 (same acquisition as "
                        "the training planes, unseen pixels)")
    parser.add_argument("--no-oracles", action="store_true", help="skip the two oracle rows")
    parser.add_argument("--json")
    args = parser.parse_args()

    files = sorted((ROOT / "mitochondria_cell2_stack").glob("*.tif"))
    z = [int(re.search(r"Abs00(\d\d)", f.name).group(1)) for f in files]
    stack = np.stack([tifffile.imread(f)[:, :256] for f in files])  # left half
    focus = z.index(51)
    shots = ROOT / "mitochondria_cell2_single_shots"
    reference = tifffile.imread(shots / "cell2G2Dz0p3umON.tif")[:, 256:].astype(np.float32)
    inputs = [tifffile.imread(f)[:, 256:].astype(np.float32)
              for f in sorted(shots.glob("*Off*.tif"))]

    rows = {"input (defocused shot)": mean_scores(inputs, reference)}
    model, card = load_model(args.base)
    rows[f"{args.base} (default)"] = deblurred_scores(args.base, inputs, reference)
    if args.stack_control:  # planes 0.15-0.7 um from focus (0.05 um steps), right half
        right = [tifffile.imread(f)[:, 256:].astype(np.float32) for f, k in zip(files, z)
                 if 3 <= abs(k - 51) <= 14]
        right_ref = tifffile.imread(files[focus])[:, 256:].astype(np.float32)
        rows["control: stack planes, right half, input"] = mean_scores(right, right_ref)
        rows[f"control: stack planes, right half, {args.base}"] = deblurred_scores(
            args.base, right, right_ref)

    # fine-tune: planes of the left half paired to the in-focus plane; validation: 20 % of
    # the planes (3 of 14)
    pairs = data.pairs_from_stack(stack, focus_plane=focus, axes="ZYX", name="mito-left",
                                  include_focus=args.include_focus)
    train_pairs, val = data.split_validation(pairs, val_fraction=0.2, seed=0)
    if args.train_only:
        prefixes = tuple(args.train_only.split(","))
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(prefixes))
    t0 = time.perf_counter()
    config = training.TrainingConfig(
        steps=args.steps, batch_size=args.batch, patch=args.patch, lr=args.lr, device="cpu",
        loss=args.loss, amp=args.amp, time_limit=args.minutes * 60,
        val_every=max(10, args.steps // 20),
    )
    train = data.PairedData(train_pairs, description="mitochondria stack, left half")
    result = training.fit(model, config, train, val)
    tuned_minutes = (time.perf_counter() - t0) / 60
    rows[f"{args.base} fine-tuned ({result.steps_done} steps, {tuned_minutes:.1f} min)"] = \
        deblurred_scores(model, inputs, reference)
    if args.stack_control:
        rows["control: stack planes, right half, fine-tuned"] = deblurred_scores(
            model, right, right_ref)

    print(f"fine-tune: best checkpoint at step {result.best_metrics.get('step')}, validation "
          f"PSNR {result.best_metrics.get('val_psnr')} dB (the input: "
          f"{result.baseline.get('val_psnr')} dB)")
    if args.no_oracles:
        return _report(rows, inputs, args.json)
    # oracles: best Gaussian smoothing and best Gaussian Richardson-Lucy on these shots
    best = max(((s, mean_scores([ndimage.gaussian_filter(x, s) for x in inputs], reference))
                for s in (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)), key=lambda t: t[1]["psnr"])
    rows[f"oracle: Gaussian smoothing, sigma {best[0]}"] = best[1]
    best_rl = max((((s, n), mean_scores([deblur(x, method="richardson_lucy",
                                                 psf=f"gaussian:{s}", iterations=n)
                                          for x in inputs], reference))
                   for s in (0.75, 1.0, 1.5, 2.0, 3.0) for n in (5, 10, 20)),
                  key=lambda t: t[1]["psnr"])
    (s, n), scores = best_rl
    rows[f"oracle: Richardson-Lucy, Gaussian sigma {s}, {n} it."] = scores
    _report(rows, inputs, args.json)


def _report(rows: dict, inputs: list, json_path) -> None:
    print(f"mitochondria single shots (right half), {len(inputs)} defocused shots vs ON; "
          "percentile-normalised, affine-fitted to the reference, 16-px border excluded")
    for name, r in rows.items():
        print(f"  {name:<58} PSNR {r['psnr']:6.2f}  SSIM {r['ssim']:.4f}")
    if json_path:
        Path(json_path).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
