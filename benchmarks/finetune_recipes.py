"""Small-data fine-tuning recipes: which defaults `microdeblur finetune` takes (issue 14).

One small case: start from --base (a bundled name or file, or "tiny": the tests' tiny GRAN
with a zeroed output layer, i.e. the identity), fine-tune on --train crops (--crop px) of
training images of --set degraded by protocol A (docs/evaluation.md), for --seconds each, with
the job's own validation (a held-out band); score same-sized crops of the NEXT --test training
images of the set (never its test split: choosing defaults is tuning), protocol A, PSNR on the
reference scale. Recipes: augmentation, intensity jitter, L2-SP toward the starting weights,
and the learning rate / step bound (--recipes picks some by name).

  nice -n 5 python benchmarks/finetune_recipes.py --seconds 45 --lr 1e-3 --json out.json
  python benchmarks/finetune_recipes.py --base c2f_unet.em_v2 \
      --set em_sem_axondeepseg_rat_spinalcord --train 3 --crop 512 --seconds 300 \
      --recipes "default: 200 steps lr 1e-4,time-boxed lr 1e-4,time-boxed lr 5e-4"
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402
import splits  # noqa: E402

from napari_microdeblur.core.checkpoint import load_model  # noqa: E402
from napari_microdeblur.core.degrade import degrade01  # noqa: E402
from napari_microdeblur.core.finetune import FinetuneRequest, iter_finetune  # noqa: E402
from napari_microdeblur.core.inference import deblur  # noqa: E402
from napari_microdeblur.core.job_defaults import PAIRED_LR, PAIRED_STEPS  # noqa: E402
from napari_microdeblur.core.metrics import psnr  # noqa: E402
from napari_microdeblur.core.progress import drive  # noqa: E402
from napari_microdeblur.core.psf_aware import psf_aware_method  # noqa: E402

SET = "em_isbi2012_drosophila_vnc_sstem"
CROP = 256
RECIPES = {
    "no augmentation": dict(augment=False, intensity_jitter=0.0, anchor_weight=0.0),
    "flips/rotations": dict(augment=True, intensity_jitter=0.0, anchor_weight=0.0),
    "flips + jitter 0.1": dict(augment=True, intensity_jitter=0.1, anchor_weight=0.0),
    "flips + jitter 0.1 + L2-SP 1e-3": dict(augment=True, intensity_jitter=0.1,
                                            anchor_weight=1e-3),
    "flips + jitter 0.1 + L2-SP 1e-2": dict(augment=True, intensity_jitter=0.1,
                                            anchor_weight=1e-2),
    # the job's defaults until measured here (the name is kept so that the command in
    # benchmarks/results/finetune_recipes_em.json reruns), and runs bounded by --seconds only
    "default: 200 steps lr 1e-4": dict(steps=200, lr=1e-4),
    "time-boxed lr 1e-4": dict(steps=100_000, lr=1e-4),
    "time-boxed lr 5e-4": dict(steps=100_000, lr=5e-4),
    "time-boxed lr 1e-3": dict(steps=100_000, lr=1e-3),
    "time-boxed lr 3e-4": dict(steps=100_000, lr=3e-4),
    "time-boxed lr 3e-3": dict(steps=100_000, lr=3e-3),
    # issue 14's regularisers toward the start, at the job's defaults otherwise: L2-SP, only
    # part of the weights trained, replay of the start's synthetic mixture (on the training
    # targets, or on --replay-set images like those the start was trained on)
    **{f"defaults + L2-SP {w:g}": dict(steps=PAIRED_STEPS, lr=PAIRED_LR, anchor_weight=w)
       for w in (1e-4, 1e-3, 1e-2)},
    **{f"defaults + train {mode}": dict(steps=PAIRED_STEPS, lr=PAIRED_LR, trainable=mode)
       for mode in ("late", "norm-bias")},
    "defaults + replay 25% on the targets": dict(steps=PAIRED_STEPS, lr=PAIRED_LR, replay=0.25),
    "defaults + replay 25% on images like the start's": dict(
        steps=PAIRED_STEPS, lr=PAIRED_LR, replay=0.25, replay_images="replay set"),
    "defaults": dict(steps=PAIRED_STEPS, lr=PAIRED_LR),
    # mixed precision on a CPU with bfloat16 units: more steps in the same minutes
    "time-boxed lr 1e-3 float32": dict(steps=100_000, lr=1e-3, amp="off"),
    "time-boxed lr 1e-3 bfloat16": dict(steps=100_000, lr=1e-3, amp="bf16"),
    # a PSF-aware --base at the job's defaults, its noise scale calibrated on the held-out band
    # never, after training, or before and after (core.finetune)
    **{f"defaults with noise scale calibration {when}": dict(
        steps=PAIRED_STEPS, lr=PAIRED_LR, noise_scale_calibration=when)
       for when in ("off", "after", "before and after")},
    # ... and with more patience (the calibrated start is hard to beat early on)
    "defaults with patience 20": dict(steps=PAIRED_STEPS, lr=PAIRED_LR, patience=20),
    "defaults with lr 3e-4 and patience 20": dict(steps=PAIRED_STEPS, lr=3e-4, patience=20),
}
AUGMENT_RECIPES = list(RECIPES)[:5]


def base_model(name: str):
    """(model, card) of --base; "tiny" is the identity tiny GRAN (global residual, zero tail)."""
    if name != "tiny":
        return load_model(name)
    import torch

    from napari_microdeblur.core import registry

    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    with torch.no_grad():
        model.tail.weight.zero_()
        model.tail.bias.zero_()
    return model, None


def crop01(path: Path, crop: int) -> np.ndarray:
    image = splits.load(path, rgb=False)
    return (image[:crop, :crop].astype(np.float32) / 255.0)


def training_images(set_name: str) -> list[Path]:
    folder = splits.SHARED / set_name / "train"
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".tif", ".tiff"))


def test_psnr(model, blurry: list[np.ndarray], sharp: list[np.ndarray], psf=None,
              card=None) -> float:
    """Mean PSNR of ``model`` on the test crops; a PSF-aware model runs with ``psf`` as the
    method users run (``psf_aware_method``)."""
    method = model if psf is None else psf_aware_method(model, psf, card)
    scores = [psnr(np.clip(deblur(b, method=method, device="cpu"), 0, 1), s, data_range=1.0)
              for b, s in zip(blurry, sharp, strict=True)]
    return float(np.mean(scores))


def run_recipe(name: str, options: dict, train: tuple, args) -> dict:
    model, card = base_model(args.base)
    options = {"steps": args.steps, "lr": args.lr, **options}
    if options.get("replay_images") == "replay set":
        options["replay_images"] = args.replay_images
    if args.max_steps:  # a step budget: the same for every recipe, whatever the CPU's load
        options["steps"] = min(options["steps"], args.max_steps)
    req = FinetuneRequest(
        mode="pair", layer_name="train-crops", axes="ZYX", model=model,
        base_label=args.base, base_card=card, blurry=train[0], sharp=train[1],
        match_intensity=False, align=False, patch=64, batch_size=8,
        val_every=args.val_every, minutes=args.seconds / 60, device="cpu", psf=args.psf,
        **options)
    shown = {k: v for k, v in options.items() if k != "replay_images"}
    if "replay_images" in options:
        shown["replay_images"] = f"{args.replay_set}: {len(options['replay_images'])} crops"
    return {"recipe": name, **shown, **fit_row(name, req)}  # steps: those done, not the bound


def fit_row(name: str, req: FinetuneRequest) -> dict:
    """Run the fine-tuning ``req``; its row: steps, seconds, validation at the start and of the
    kept weights, and the kept model and card (popped before the row is written)."""
    t0 = time.perf_counter()
    outcome = drive(iter_finetune(req))
    fit = outcome.result
    return {"recipe": name, "steps": fit.steps_done,
            "seconds": round(time.perf_counter() - t0, 1),
            "val_start": fit.history[0]["val_psnr"], "val_kept": outcome.card.metrics["val_psnr"],
            "kept_step": outcome.card.metrics["step"], "model": outcome.model,
            "card": outcome.card}


def report(rows: list[dict], args, script: str) -> None:
    """Print the rows as a Markdown table and write them to ``args.json`` (when given)."""
    print("\n| recipe | steps | validation band: start -> kept (step) | test PSNR | "
          "forgetting set |")
    print("|---|---|---|---|---|")
    for r in rows:
        val = (f"{r['val_start']:.2f} -> {r['val_kept']:.2f} ({r['kept_step']})"
               if "val_start" in r else "")
        forget = f"{r['forget_psnr']:.2f}" if "forget_psnr" in r else ""
        print(f"| {r['recipe']} | {r.get('steps', '')} | {val} | {r['test_psnr']:.2f} | "
              f"{forget} |")
    if args.json:
        command = f"python benchmarks/{script} " + shlex.join(sys.argv[1:])
        given = {k: v for k, v in vars(args).items() if k != "replay_images"}
        Path(args.json).write_text(json.dumps({"command": command, "args": given,
                                               "provenance": provenance.record(),
                                               "rows": rows}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="tiny", help="tiny, a bundled name or a file")
    parser.add_argument("--seconds", type=float, default=40.0, help="per recipe")
    parser.add_argument("--steps", type=int, default=400, help="upper bound; time ends it")
    parser.add_argument("--val-every", type=int, default=None,
                        help="default: the job's own rule (steps/10, at most 50)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--test", type=int, default=3, help="scored training images")
    parser.add_argument("--set", default=SET, help="a set of ../shared/data (training split)")
    parser.add_argument("--train", type=int, default=1, help="training images fine-tuned on")
    parser.add_argument("--crop", type=int, default=CROP)
    parser.add_argument("--recipes", default=",".join(AUGMENT_RECIPES),
                        help="comma-separated names of RECIPES")
    parser.add_argument("--psf", default=None,
                        help="for a PSF-aware --base: the PSF it is given (protocol A's is "
                             "gaussian:1.6); fine-tuned and scored with it")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="every recipe's step bound (--seconds then only a safety limit)")
    parser.add_argument("--replay-set", default=None,
                        help="replay images: --replay-count crops of this set's training "
                             "images (the start's own training data), from the 11th on")
    parser.add_argument("--replay-count", type=int, default=3)
    parser.add_argument("--forget-set", default=None,
                        help="also score each model on --test crops of this set's training "
                             "images (21st on; data the start was trained on): forgetting")
    parser.add_argument("--json")
    args = parser.parse_args()
    names = args.recipes.split(",")
    if unknown := set(names) - set(RECIPES):
        parser.error(f"unknown recipes {sorted(unknown)}; accepted: {list(RECIPES)}")

    images = training_images(args.set)
    train_sharp = np.stack([crop01(p, args.crop) for p in images[: args.train]])
    train = (np.stack([degrade01(s, "A", seed=i) for i, s in enumerate(train_sharp)]),
             train_sharp)
    test_sharp = [crop01(p, args.crop) for p in images[args.train: args.train + args.test]]
    test_blurry = [degrade01(s, "A", seed=1 + i) for i, s in enumerate(test_sharp)]
    args.replay_images = ([crop01(p, args.crop)[None] for p in training_images(
        args.replay_set)[10: 10 + args.replay_count]] if args.replay_set else None)
    forget = None
    if args.forget_set:
        sharp = [crop01(p, args.crop) for p in training_images(args.forget_set)[20: 20 + args.test]]
        forget = ([degrade01(s, "A", seed=1 + i) for i, s in enumerate(sharp)], sharp)
    base, base_card = base_model(args.base)
    rows = [{"recipe": "input (protocol A)", "test_psnr": float(np.mean(
        [psnr(b, s, data_range=1.0) for b, s in zip(test_blurry, test_sharp, strict=True)]))},
        {"recipe": f"{args.base} (start)", "test_psnr": test_psnr(
            base, test_blurry, test_sharp, args.psf, base_card)}]
    if forget:
        rows[0]["forget_psnr"] = float(np.mean([psnr(b, s, data_range=1.0)
                                                for b, s in zip(*forget, strict=True)]))
        rows[1]["forget_psnr"] = test_psnr(base, *forget, args.psf, base_card)
    for name in names:
        row = run_recipe(name, RECIPES[name], train, args)
        model, card = row.pop("model"), row.pop("card")
        row["test_psnr"] = test_psnr(model, test_blurry, test_sharp, args.psf, card)
        if forget:
            row["forget_psnr"] = test_psnr(model, *forget, args.psf, card)
        rows.append(row)
        print(json.dumps(row), flush=True)
    report(rows, args, "finetune_recipes.py")


if __name__ == "__main__":
    main()
