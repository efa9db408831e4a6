#!/usr/bin/env python
"""Reproduce a default model of napari-microdeblur from scratch, on this machine's CPU.

Each shipped model was trained in rounds, each continuing from the last (``--init``); the
exact commands are in the model card (``description`` and ``metrics.rounds``). For the
shipped files:

    gran.hist_v1, gran.em_v1:  --lr 3e-4 (round 1), then --init ... --lr 1e-4 (round 2),
                               then --init ... --lr 1e-4 --p-protocol 0.5 (round 3)
    gran.fluo_v1:              --lr 3e-4 (round 1), then --init ... --lr 1e-4 --p-protocol 0.5
                               (round 2), then --init ... --lr 1e-4 --p-protocol 0.6
                               --protocol-weights 1,1,2 --seed 1 (round 3)

    python scripts/train_default.py --name gran.fluo_v1 --steps 3675 --minutes 37 \
        --lr 3e-4 --no-resume --out runs/fluo_r1.safetensors
    python scripts/train_default.py --name gran.fluo_v1 --steps 8500 --minutes 45 \
        --lr 1e-4 --p-protocol 0.5 --init runs/fluo_r1.safetensors --no-resume \
        --out runs/fluo_r2.safetensors
    python scripts/train_default.py --name gran.fluo_v1 --steps 5000 --minutes 27 \
        --lr 1e-4 --p-protocol 0.6 --protocol-weights 1,1,2 --seed 1 \
        --init runs/fluo_r2.safetensors --no-resume \
        --out src/napari_microdeblur/weights/gran.fluo_v1.safetensors

Each recipe trains GRAN (Zhang et al., "High-throughput microscopy image deblurring with
graph reasoning attention network") in the supervised regime (L1) on the *training split* of
one set in ``../shared/data`` (per its PROVENANCE.md),
with the degradation ``"mix"`` of ``core.data.DegradationRanges`` (Gaussian, defocus-disk and
astigmatic PSFs and Gaussian / Poisson noise, ranges spanning protocols A, B and C of
docs/evaluation.md and beyond), drawn afresh for every patch; with ``--p-protocol P`` a fraction P
of the patches gets exactly one of protocols A, B or C instead. A few whole images of the
training split are held out for validation, degraded once with each of protocols A, B and C;
the weights with the best validation PSNR are kept.

The run is bounded by ``--minutes``: unless ``--steps`` is given, the number of steps is set
from the measured speed of the first steps so that the cosine learning-rate schedule ends on
time (other processes on the CPU fool that probe: give ``--steps`` then), and training stops
at the limit in any case. Checkpoints go to ``--checkpoint-dir`` every few minutes; running
the same command again resumes from ``last.pt`` there (same step count, the time already
spent counts against ``--minutes``). At the end the best weights are written with
``core.checkpoint.save_weights`` and a full model card (architecture, config, normalisation,
training data and its licence, degradation, steps, minutes, validation metrics, CPU speed,
the rounds so far). Progress lines go to stdout.
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
DEFAULT_DATA = REPO.parent / "shared" / "data"

# The model: GRAN with GRAB, narrower than the "cpu_small" preset (64 features, 8 blocks,
# 0.39 MP/s here): 48 features and 8 residual blocks run at >= 0.5 megapixels/s on this CPU
# and the file is ~1.9 MB.
MODEL_CONFIG = {"n_feats": 48, "n_resblocks": 8}

FLUO = "fluorescence_2d"
FLY = f"{FLUO}/cellprofiler_ExampleFly_kc167"
SPECKLES = f"{FLUO}/cellprofiler_ExampleSpeckles_h2ax"
EM = "em_epfl_hippocampus_fibsem"
HIST = "histology_brightfield_rgb/kather2016_crc_he_tiles"


def _fluo_split(root: Path):
    train = [root / FLY / f"01_POS002_{c}.TIF" for c in "DFR"]
    train += [root / SPECKLES / "1-162hrh2ax2.tif", root / SPECKLES / "1-162hrhoe2.tif"]
    val = [root / FLY / f"01_POS076_{c}.TIF" for c in "DFR"]  # a whole field, all channels
    return train, val


def _em_split(root: Path):
    files = sorted((root / EM / "train").glob("training*.png"))
    held = {f"training{i:04d}.png" for i in (161, 162, 163, 164)}  # one cluster of neighbours
    return [f for f in files if f.name not in held], [f for f in files if f.name in held]


def _hist_split(root: Path):
    train, val = [], []
    for cls in sorted(p for p in (root / HIST).iterdir() if p.is_dir()):
        tiles = sorted(cls.glob("*.tif"))[:-1]  # the alphabetically last tile is the test tile
        if cls.name in ("01_TUMOR", "04_LYMPHO", "06_MUCOSA"):
            train.append(tiles[0])
            val.append(tiles[1])
        else:
            train += tiles
    return train, val


RECIPES = {
    "gran.fluo_v1": {
        "channels": 1,
        "split": _fluo_split,
        "training_data": (
            "fluorescence_2d training split (PROVENANCE.md): CellProfiler ExampleFly Kc167 "
            "field POS002 (DAPI, FITC, rhodamine) and ExampleSpeckles (gammaH2AX, Hoechst); "
            "validation: ExampleFly field POS076 (3 channels); never the test split "
            "(POS218, ExampleHuman, stardist img2d). Data licence: CellProfiler/examples "
            "repository BSD-3-Clause, no image-specific statement."
        ),
        "license": "BSD-3-Clause",
        "description": "GRAN deblurring of widefield fluorescence (grayscale).",
    },
    "gran.em_v1": {
        "channels": 1,
        "split": _em_split,
        "training_data": (
            "em_epfl_hippocampus_fibsem train/ (27 FIB-SEM slices of the EPFL CA1 training "
            "volume, Lucchi et al. 2012), slices 0161-0164 held out for validation; never the "
            "test volume. Dataset licence not stated (research use with citation)."
        ),
        "license": "NOASSERTION",
        "description": (
            "GRAN deblurring of electron micrographs (grayscale). Trained on the EPFL FIB-SEM "
            "set, whose dataset licence is not stated: check before redistribution."
        ),
    },
    "gran.hist_v1": {
        "channels": 3,
        "split": _hist_split,
        "training_data": (
            "histology_brightfield_rgb Kather 2016 H&E tiles, training split per PROVENANCE.md "
            "(first two tiles of each of 8 classes; the last tile of each class is the test "
            "split), the second tile of 01_TUMOR, 04_LYMPHO and 06_MUCOSA held out for "
            "validation. Data licence: CC BY 4.0 (Kather et al., Sci. Rep. 6:27988, 2016, "
            "Zenodo 53169)."
        ),
        "license": "CC-BY-4.0",
        "description": "GRAN deblurring of RGB brightfield histology (H&E).",
    },
}


def read_image(path: Path, channels: int) -> np.ndarray:
    """A training image: grayscale (Y, X) or RGB (Y, X, 3) in its stored dtype."""
    if path.suffix.lower() == ".png":
        import imageio.v3 as iio

        img = iio.imread(path)
        if img.ndim == 3 and channels == 1:
            img = img[..., 0]  # LA / RGBA with identical colour channels (PROVENANCE.md)
    else:
        import tifffile

        img = tifffile.imread(path)
    img = np.asarray(img)
    if channels == 3 and (img.ndim != 3 or img.shape[-1] < 3):
        raise SystemExit(f"{path}: expected an RGB image, got shape {img.shape}")
    if channels == 3:
        img = img[..., :3]
    if channels == 1 and img.ndim != 2:
        raise SystemExit(f"{path}: expected a grayscale image, got shape {img.shape}")
    return img


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def cpu_inference_speed(model, channels: int, repeats: int = 3) -> float:
    """Megapixels per second of a 512 x 512 forward pass under torch.inference_mode (CPU)."""
    import torch

    model = model.to("cpu").eval()
    x = torch.rand(1, channels, 512, 512)
    with torch.inference_mode():
        model(x)
        t = time.perf_counter()
        for _ in range(repeats):
            model(x)
        dt = (time.perf_counter() - t) / repeats
    return 512 * 512 / dt / 1e6


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--name", required=True, choices=sorted(RECIPES))
    p.add_argument("--minutes", type=float, required=True, help="wall-clock training budget")
    p.add_argument("--out", type=Path, required=True, help="output .safetensors")
    p.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        help="default: runs/train_default/<name> in the repository",
    )
    p.add_argument("--no-resume", action="store_true", help="start afresh even if last.pt exists")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--steps", type=int, default=None, help="default: from the measured speed")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--amp",
        default=None,
        choices=["auto", "off", "bf16", "fp16"],
        help="mixed precision; default bf16 on the CPU (about 1.9x faster than float32 on this "
        "AVX512-BF16 CPU, validation PSNR within 0.04 dB after 600 steps), auto elsewhere",
    )
    p.add_argument("--config", default=None, help="JSON overrides of the GRAN config")
    p.add_argument("--init", default=None,
                   help="start from these weights (e.g. a first run's file) instead of random")
    p.add_argument(
        "--p-protocol",
        type=float,
        default=0.0,
        help="probability that a patch gets exactly one of protocols A, B, C instead of a random "
        "draw from the mixture (DegradationRanges.p_protocol)",
    )
    p.add_argument(
        "--protocol-weights",
        default="1,1,1",
        help="relative weights of protocols A,B,C among the --p-protocol patches (e.g. 1,1,2)",
    )
    p.add_argument("--log-every", type=float, default=30.0, help="seconds between log lines")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    sys.path.insert(0, str(REPO / "src"))
    from napari_microdeblur.core import bundled, checkpoint, data, training
    from napari_microdeblur.core.registry import build_model

    recipe = RECIPES[args.name]
    out = args.out
    if out.suffix != ".safetensors":
        raise SystemExit(f"--out {out}: must end in .safetensors")
    if not out.parent.is_dir():
        if out.parent.resolve() == bundled.WEIGHTS_DIR.resolve():
            out.parent.mkdir(parents=True)  # the package's weights folder, created on first use
        else:
            raise SystemExit(f"--out {out}: the folder {out.parent} does not exist")
    if args.minutes <= 0:
        raise SystemExit(f"--minutes {args.minutes}: must be > 0")
    ckdir = args.checkpoint_dir or REPO / "runs" / "train_default" / args.name
    channels = recipe["channels"]

    # ---- data
    train_files, val_files = recipe["split"](args.data_root)
    missing = [f for f in train_files + val_files if not f.is_file()]
    if missing:
        raise SystemExit(f"missing data files (is --data-root right?): {missing[:3]}")
    axes = "YXS" if channels == 3 else "YX"
    t0 = time.perf_counter()
    train_imgs = [read_image(f, channels) for f in train_files]
    val_imgs = [read_image(f, channels) for f in val_files]
    try:
        protocol_weights = tuple(float(w) for w in args.protocol_weights.split(","))
        ranges = data.DegradationRanges(
            p_protocol=args.p_protocol, protocol_weights=protocol_weights
        )
    except ValueError as err:
        raise SystemExit(f"--p-protocol / --protocol-weights: {err}") from None
    train = data.SyntheticData(
        train_imgs,
        ranges,
        axes=axes,
        names=[f.name for f in train_files],
        seed=args.seed,
        description=recipe["training_data"],
    )
    val_pairs = []
    for protocol in "ABC":
        src = data.SyntheticData(
            val_imgs,
            protocol,
            axes=axes,
            seed=args.seed,
            names=[f"{f.name}:{protocol}" for f in val_files],
        )
        val_pairs += src.validation_pairs()
    log(
        f"{args.name}: {len(train_imgs)} training images, {len(val_imgs)} validation images "
        f"x protocols A, B, C ({time.perf_counter() - t0:.1f} s to load)"
    )

    # ---- model
    config = {"in_channels": channels, "out_channels": channels, **MODEL_CONFIG}
    if args.config:
        config.update(json.loads(args.config))
    torch.manual_seed(args.seed)
    model = build_model("gran", config)
    rounds = []  # the training history the card carries: one entry per run of this script
    if args.init:  # continue from earlier weights (a second, shorter schedule)
        start, start_card = checkpoint.load_model(args.init)
        rounds = list(start_card.metrics.get("rounds", []))
        if start_card.config != model.config.model_dump():
            raise SystemExit(f"--init {args.init}: its config differs from {config}")
        model.load_state_dict(start.state_dict())
        log(f"starting from {args.init} (val PSNR {start_card.metrics.get('val_psnr')})")
    n_params = sum(p.numel() for p in model.parameters())
    log(
        f"model gran {json.dumps(config)}: {n_params:,} parameters "
        f"({n_params * 4 / 1e6:.2f} MB float32)"
    )

    common = dict(
        batch_size=args.batch,
        patch=args.patch,
        lr=args.lr,
        device=args.device,
        amp=args.amp or ("bf16" if args.device == "cpu" else "auto"),
        seed=args.seed,
        val_crops=24,
        val_size=128,
    )
    resume = None
    last = ckdir / "last.pt"
    if last.is_file() and not args.no_resume:
        info = training.read_checkpoint_info(last)
        steps = int(info["steps"])
        resume = last
        log(
            f"resuming from {last}: step {info['step']} of {steps}, "
            f"{info['elapsed'] / 60:.1f} min already spent"
        )
    elif args.steps:
        steps = args.steps
    else:  # measure the speed of a few steps on a throwaway copy, then size the schedule
        probe = build_model("gran", config)
        probe.load_state_dict(model.state_dict())
        gen = training.iter_fit(
            probe, training.TrainingConfig(steps=12, restore_best=False, **common), train
        )
        next(gen), next(gen)  # warm-up steps are slower
        t = time.perf_counter()
        for _ in gen:
            pass
        per_step = (time.perf_counter() - t) / 10
        budget = args.minutes * 60 * 0.97  # leave time for validation and the final save
        steps = max(10, int(budget / per_step))
        log(
            f"measured {1 / per_step:.2f} steps/s -> {steps} steps in {args.minutes:g} min "
            "(the run stops at the time limit whatever the speed later)"
        )
    val_every = max(20, steps // 40)
    checkpoint_every = max(20, steps // 16)

    state = {"last_log": 0.0, "t0": time.perf_counter()}

    def progress(r: training.FitProgress) -> None:
        now = time.perf_counter()
        if r.message:
            log(f"note: {r.message}")
        if r.validated or now - state["last_log"] >= args.log_every or r.step == r.steps:
            state["last_log"] = now
            val = (
                f"val {r.val_psnr:.2f} dB / SSIM {r.val_ssim:.4f}"
                if r.val_psnr is not None
                else "val -"
            )
            log(
                f"step {r.step}/{r.steps} loss {r.loss:.4f} lr {r.lr:.2e} {val} "
                f"left {r.seconds_left / 60:.1f} min"
            )

    config = training.TrainingConfig(
        steps=steps,
        checkpoint_dir=ckdir,
        checkpoint_every=checkpoint_every,
        val_every=val_every,
        time_limit=args.minutes * 60,
        restore_best=True,
        card={"license": recipe["license"], "description": recipe["description"]},
        **common,
    )
    result = training.fit(
        model, config, train, val_pairs, resume_from=resume, callback=progress
    )
    base, best = result.baseline, result.best_metrics
    nan = float("nan")
    log(
        f"done ({result.stopped}): {result.steps_done} steps in {result.seconds / 60:.1f} min; "
        f"best step {best.get('step')}: val {best.get('val_psnr', nan):.2f} dB / SSIM "
        f"{best.get('val_ssim') or nan:.4f} (input {base.get('val_psnr', nan):.2f} dB / "
        f"{base.get('val_ssim') or nan:.4f})"
    )

    speed = cpu_inference_speed(model, channels)
    log(f"inference: {speed:.2f} megapixels/s (512 x 512, CPU, inference_mode)")
    if speed < 0.5:
        log("warning: below the 0.5 megapixels/s target of issue 4")
    metrics = {
        "val_psnr": best.get("val_psnr"),
        "val_ssim": best.get("val_ssim"),
        "val_psnr_input": base.get("val_psnr"),
        "val_ssim_input": base.get("val_ssim"),
        "validation": "held-out training-split images, protocols A, B and C, 24 crops of 128 px, "
        "reference scale, data_range 1, whole crop",
        "best_step": best.get("step"),
        "steps": result.steps_done,
        "minutes": round(result.seconds / 60, 2),
        "batch_size": args.batch,
        "patch": args.patch,
        "lr": args.lr,
        "seed": args.seed,
        "amp": common["amp"],
        "cpu_inference_megapixels_per_s": round(speed, 3),
    }
    this_round = {
        "init": Path(args.init).name if args.init else None,
        "schedule_steps": steps,
        "steps_done": result.steps_done,
        "minutes": round(result.seconds / 60, 2),
        "lr": args.lr,
        "p_protocol": args.p_protocol,
        "protocol_weights": list(protocol_weights),
        "seed": args.seed,
        "best_step": best.get("step"),
        "val_psnr": best.get("val_psnr"),
    }
    metrics["rounds"] = rounds + [this_round]
    metrics["minutes_total"] = round(sum(r["minutes"] for r in metrics["rounds"]), 2)
    reproduce = " then ".join(
        f"python scripts/train_default.py --name {args.name} --steps {r['schedule_steps']} "
        f"--minutes {math.ceil(r['minutes'])} --lr {r['lr']:g} "
        f"--p-protocol {r.get('p_protocol', 0):g}"
        + (
            f" --protocol-weights {','.join(f'{w:g}' for w in r['protocol_weights'])}"
            if len(set(r.get("protocol_weights", [1]))) > 1
            else ""
        )
        + (f" --seed {r['seed']}" if r.get("seed") else "")
        + (" --init <previous file>" if r.get("init") else "")
        + " --no-resume --out <file>"
        for r in metrics["rounds"]
    )
    card = checkpoint.save_weights(
        model.to("cpu"),
        out,
        {
            "normalization": result.normalization,
            "training_data": recipe["training_data"],
            "degradation": train.degradation,
            "metrics": {k: v for k, v in metrics.items() if v is not None},
            "license": recipe["license"],
            "description": recipe["description"] + f" Reproduce: {reproduce}.",
            "training": config.for_card(),
        },
    )
    size = out.stat().st_size
    log(f"wrote {out} ({size / 1e6:.2f} MB), sha256 {checkpoint.sha256_file(out)}")
    log(f"card: arch {card.arch}, licence {card.license}, metrics {json.dumps(card.metrics)}")
    if size > 5e6:
        log("warning: the file is larger than the 5 MB limit of issue 4")
    return 0


if __name__ == "__main__":
    sys.exit(main())
