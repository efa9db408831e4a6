#!/usr/bin/env python
"""Train the shipped weights of two papers' regimes on this machine's CPU (issue 15, item 5).

    sgpn.em_v1      SGPN (Cheng et al., paper 004) in its semi-supervised regime, from scratch:
                    labelled pairs = the EPFL FIB-SEM training split blurred on the fly
                    ("mix" degradation), unlabelled blurry images = the NEUBIAS EM training
                    images and EPFL training slices blurred once by protocols A, B and C (no
                    targets given); a small SGPN config (a few MB).
    gran_gan.em_v1  (ships as gran.gan_em_v1: names are arch.tag) GRAN_GAN (Zhang et al., paper
                    000): continues the shipped gran.em_v1 in the
                    adversarial regime on the same data gran.em_v1 was trained on (EPFL
                    training split, slices 0161-0164 held out), constant learning rate.

Both keep the *last* checkpoint (the rule of the adversarial regimes: the best validation PSNR
would pick the least adversarial weights). Run one at a time, one thread, e.g.

    OMP_NUM_THREADS=1 nice -n 5 python scripts/train_papers.py --name sgpn.em_v1 \
        --minutes 20 --out src/napari_microdeblur/weights/sgpn.em_v1.safetensors

Checkpoints go to runs/train_papers/<name>/ every few minutes; the same command resumes there.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_default import DEFAULT_DATA, EM, cpu_inference_speed, log, read_image  # noqa: E402

NEUBIAS = "em_neubias_tem_sem_volume"
EM_HELD_OUT = {f"training{i:04d}.png" for i in (161, 162, 163, 164)}  # as gran.em_v1
#: small enough to ship and to train on one CPU thread
SGPN_CONFIG = {"encoder_channels": [16, 32, 48, 64, 96], "decoder_channels": [16, 16, 24, 32, 48],
               "encoder_blocks": 1, "decoder_blocks": 1}
#: the discriminator trained alongside (not shipped): narrower than SRGAN's
GRAN_DISCRIMINATOR = {"base_channels": 32, "fc_channels": 256}
EPFL_TEXT = ("em_epfl_hippocampus_fibsem train/ (EPFL CA1 FIB-SEM training volume, Lucchi et "
             "al. 2012), slices 0161-0164 held out for validation; never the test volume; "
             "dataset licence not stated (research use with citation)")
RECIPES = {
    "sgpn.em_v1": {
        "regime": "sgpn",
        "lr": 3e-4,
        "schedule": "cosine",
        "training_data": EPFL_TEXT + ", as labelled pairs (synthetic 'mix' blur); unlabelled "
        "blurry images: em_neubias_tem_sem_volume train/ (CC BY 4.0; C. elegans slices from "
        "EMPIAR-10982, CC0) and the EPFL training slices, each blurred once by protocols A, B "
        "and C, given without targets",
        "license": "NOASSERTION",
        "description": "SGPN (Cheng et al.) for grayscale electron micrographs, semi-supervised "
        "regime (LSGAN + unsupervised consistency, no perceptual loss: no VGG weights offline). "
        "The EPFL FIB-SEM set states no licence: check before redistribution.",
    },
    # SGPN's network trained supervised (L1 on the labelled pairs): shipped as the SGPN
    # weights, since the semi-supervised regime, from random weights or continuing these
    # (--init), ended below its input on the EM test crops on this CPU budget
    "sgpn.em_supervised_v1": {
        "regime": "supervised",
        "lr": 1e-3,
        "schedule": "cosine",
        "training_data": EPFL_TEXT + ", as labelled pairs (synthetic 'mix' blur)",
        "license": "NOASSERTION",
        "description": "SGPN's network (Cheng et al., progressive decoding with hybrid feature "
        "extractors) for grayscale electron micrographs, trained supervised (L1 on the labelled "
        "pairs; not the paper's semi-supervised regime, which ended below its input here). The "
        "EPFL FIB-SEM set states no licence: check before redistribution.",
    },
    "gran_gan.em_v1": {
        "regime": "gran_gan",
        "lr": 5e-5,
        "schedule": "constant",
        "training_data": EPFL_TEXT + " (the data of gran.em_v1, which it starts from)",
        "license": "NOASSERTION",
        "description": "GRAN_GAN (Zhang et al.) for grayscale electron micrographs: gran.em_v1 "
        "continued in the adversarial regime (relativistic GAN, adversarial weight 1e-3, no "
        "perceptual loss: no VGG weights offline). The EPFL FIB-SEM set states no licence.",
    },
}


def em_split(root: Path) -> tuple[list[Path], list[Path]]:
    """The EPFL training files and the held-out validation slices (as gran.em_v1)."""
    files = sorted((root / EM / "train").glob("training*.png"))
    held = [f for f in files if f.name in EM_HELD_OUT]
    return [f for f in files if f.name not in EM_HELD_OUT], held


def unlabelled_em(root: Path, epfl: list[np.ndarray]) -> list[np.ndarray]:
    """Blurry EM images without targets: NEUBIAS train and EPFL training slices, A/B/C."""
    from napari_microdeblur.core.degrade import degrade

    neubias = [read_image(f, 1) for f in sorted((root / NEUBIAS / "train").rglob("*.tif"))]
    sharp = neubias + epfl[::3]
    return [degrade(img, p, seed=i) for i, img in enumerate(sharp) for p in "ABC"]


def build(name: str, root: Path, init: Path | None = None):
    """(model, train, val pairs, extra sources) of a recipe; ``init``: weights to continue."""
    from napari_microdeblur.core import bundled, checkpoint, data
    from napari_microdeblur.core.registry import build_model

    train_files, val_files = em_split(root)
    train_imgs = [read_image(f, 1) for f in train_files]
    val = []
    for protocol in "ABC":
        val += data.SyntheticData([read_image(f, 1) for f in val_files], protocol, axes="YX",
                                  seed=0).validation_pairs()
    ranges = data.DegradationRanges(p_protocol=0.5)
    train = data.SyntheticData(train_imgs, ranges, axes="YX", names=[f.name for f in train_files],
                               seed=0, description=RECIPES[name]["training_data"])
    if init is not None:
        model, _ = checkpoint.load_model(init)
    elif name.startswith("sgpn."):
        model = build_model("sgpn", {"in_channels": 1, "out_channels": 1, **SGPN_CONFIG})
    if name == "sgpn.em_v1":
        extra = {"unpaired": data.UnpairedImages(unlabelled_em(root, train_imgs), axes="YX",
                                                 description="unlabelled blurry EM")}
        return model, train, val, extra
    if name.startswith("sgpn."):
        return model, train, val, {}
    if init is None:
        model, _ = bundled.load_bundled("gran.em_v1")
    return model, train, val, {}


def earlier_rounds(card) -> list[dict]:
    """The rounds recorded in the card of the weights a run continues (a first round's card
    holds its figures at the top level)."""
    m = card.metrics
    if "rounds" in m:
        return list(m["rounds"])
    return [{"init": None, "steps": m["steps"], "schedule_steps": card.training["steps"],
             "minutes": m["minutes"], "lr": m["lr"], "schedule": card.training["schedule"],
             "patch": m["patch"], "batch_size": m["batch_size"], "val_psnr": m["val_psnr"]}]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--name", required=True, choices=sorted(RECIPES))
    p.add_argument("--minutes", type=float, required=True, help="wall-clock training budget")
    p.add_argument("--steps", type=int, required=True, help="schedule length (the run also "
                   "stops at --minutes)")
    p.add_argument("--out", type=Path, required=True, help="output .safetensors")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--init", type=Path, default=None,
                   help="continue these weights (an earlier round's file); its rounds are kept")
    p.add_argument("--lr", type=float, default=None, help="default: the recipe's")
    p.add_argument("--schedule", choices=["cosine", "constant"], default=None,
                   help="default: the recipe's")
    p.add_argument("--checkpoint-dir", type=Path, default=None,
                   help="default: runs/train_papers/<name> (a run there is resumed)")
    p.add_argument("--perceptual", choices=["microscopy", "none"], default=None,
                   help="the perceptual loss's offline features (default: TrainingConfig's)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from napari_microdeblur.core import checkpoint, training

    recipe = RECIPES[args.name]
    if args.out.suffix != ".safetensors" or not args.out.parent.is_dir():
        raise SystemExit(f"--out {args.out}: a .safetensors file in an existing folder")
    torch.manual_seed(0)
    model, train, val, extra = build(args.name, args.data_root, args.init)
    lr, schedule = args.lr or recipe["lr"], args.schedule or recipe["schedule"]
    rounds = earlier_rounds(checkpoint.read_card(args.init)) if args.init else []
    ckdir = args.checkpoint_dir or REPO / "runs" / "train_papers" / args.name
    ckdir.mkdir(parents=True, exist_ok=True)
    last = ckdir / "last.pt"
    config = training.TrainingConfig(
        regime=recipe["regime"], steps=args.steps, batch_size=args.batch, patch=args.patch,
        lr=lr, schedule=schedule, device="cpu", amp="bf16", seed=0,
        val_crops=24, val_size=128, val_every=max(20, args.steps // 20),
        checkpoint_dir=ckdir, checkpoint_every=max(20, args.steps // 16),
        time_limit=args.minutes * 60,
        **({"perceptual_features": args.perceptual} if args.perceptual else {}),
        discriminator=GRAN_DISCRIMINATOR if recipe["regime"] == "gran_gan" else None,
        card={"license": recipe["license"], "description": recipe["description"]})
    state = {"t": 0.0}

    def progress(r) -> None:
        if r.message:
            log(f"note: {r.message}")
        if r.validated or time.perf_counter() - state["t"] > 60:
            state["t"] = time.perf_counter()
            val_text = f"val {r.val_psnr:.2f} dB" if r.val_psnr is not None else "val -"
            log(f"step {r.step}/{r.steps} loss {r.loss:.4f} {val_text} "
                f"left {r.seconds_left / 60:.1f} min")

    result = training.fit(model, config, train, val, callback=progress,
                          resume_from=last if last.is_file() else None, **extra)
    best, base = result.best_metrics, result.baseline
    speed = cpu_inference_speed(model, 1)
    metrics = {
        "val_psnr": best.get("val_psnr"), "val_psnr_input": base.get("val_psnr"),
        "validation": "EPFL slices 0161-0164, protocols A, B and C, 24 crops of 128 px",
        "checkpoint": training.get_regime(recipe["regime"]).checkpoint_criterion,
        "steps": result.steps_done,
        "minutes": round(result.seconds / 60, 2), "batch_size": args.batch,
        "patch": args.patch, "lr": lr, "threads": torch.get_num_threads(),
        "cpu_inference_megapixels_per_s": round(speed, 3),
        "start": ("gran.em_v1" if args.name == "gran_gan.em_v1" else
                  args.init.name if args.init else "random (seed 0)"),
    }
    metrics["rounds"] = rounds + [{
        "init": args.init.name if args.init else None, "steps": result.steps_done,
        "schedule_steps": args.steps, "minutes": metrics["minutes"], "lr": lr,
        "schedule": schedule, "patch": args.patch, "batch_size": args.batch,
        "val_psnr": best.get("val_psnr")}]
    metrics["minutes_total"] = round(sum(r["minutes"] for r in metrics["rounds"]), 2)
    log(f"done ({result.stopped}): {json.dumps(metrics)}")
    for note in result.notes:
        log(f"note: {note}")
    checkpoint.save_weights(model.to("cpu"), args.out, {
        "normalization": result.normalization, "training_data": recipe["training_data"],
        "degradation": train.degradation, "metrics": {k: v for k, v in metrics.items()
                                                      if v is not None},
        "license": recipe["license"], "training": config.for_card(),
        "description": recipe["description"] + " Reproduce (one thread): " + " then ".join(
            f"python scripts/train_papers.py --name {args.name} --steps {r['schedule_steps']} "
            f"--minutes {math.ceil(r['minutes'])} --lr {r['lr']:g} --schedule {r['schedule']} "
            f"--patch {r['patch']} --batch {r['batch_size']}"
            + (" --init <previous file>" if r["init"] else "") + " --out <file>"
            for r in metrics["rounds"]) + "."})
    log(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB), sha256 "
        f"{checkpoint.sha256_file(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
