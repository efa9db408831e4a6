#!/usr/bin/env python
"""Train the PSF-aware Wiener U-Net (``wiener_unet``) on broad content, on this machine's CPU.

The network is given the PSF, so it is trained on many PSFs and many kinds of images at once:
patches from the *training splits* of six permissively licensed (or licence-unstated, see
below) sets in ``../shared/data``, grayscale (RGB sets channel by channel), each blurred with a
PSF drawn afresh and given the same PSF:

* Gaussian (sigma 0.6-3.0 px), defocus disk (radius 1-4 px), astigmatic Gaussian (major
  1-3.5 px, minor/major 0.2-0.8) -- ``core.data.DegradationRanges`` -- and, with probability
  ``--p-protocol``, exactly one of protocols A, B, C of docs/evaluation.md (their families are
  in training; the benchmark's cross-dataset sets are not);
* optics PSFs from ``psfmodels`` (vectorial model, Aguet et al. 2009) in a TRAINING range:
  widefield or confocal (excitation at 0.9 x emission, pinhole closed: PSF_ex x PSF_em),
  NA 0.7-1.2 (air below 0.95 or water, n = 1.0 / 1.33, sample index = immersion index, so no
  spherical aberration), emission wavelength 0.45-0.56 um, pixel 0.06-0.15 um, defocus 0-1 um.
  The benchmark's held-out optics PSFs use NA 1.3-1.45 oil immersion, wavelength 0.6-0.7 um
  and spherical aberration, a range no training run draws from.

Noise: Gaussian sigma 0-0.03; with probability 0.4 Poisson at a peak of 30-1000 photons
(log-uniform) plus that Gaussian read noise; intensities on the reference [0, 1] scale of
docs/evaluation.md, then a random gain in [0.6, 1.2] (the network must not rely on a range).

Never used: the test splits, the held-out sets (fluorescence_cellprofiler_examples_extra,
em_sem_axondeepseg_rat_spinalcord, brightfield_bccd_blood_smear), the non-commercial sets (ISBI
2012, Gerhard 2013, sephace), the real-defocus sets, and images that ship in Python packages.

The learning rate follows a cosine over the wall-clock budget (``--minutes``), so a busy CPU
shortens the run rather than cutting the schedule. A few whole training-split images set aside
for validation (protocols A, B, C and one training-range widefield PSF, 128 px crops) pick the
best weights. ``runs/psf_aware/last.pt`` is written every ``--checkpoint-minutes``; the same
command resumes from it. The result is written with ``core.weights.save_weights`` with a model
card (data and licences, PSF ranges, noise, steps, minutes, seed, command).

    nohup python scripts/train_psf_aware.py --minutes 75 \\
        --out src/napari_microdeblur/weights/wiener_unet.psf_v1.safetensors \\
        > runs/psf_aware.log 2>&1 &
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from psf_aware_data import (  # noqa: E402
    DEFAULT_DATA,
    HALO,
    LOSS_MARGIN,
    MISMATCH_ZOOM,
    REPO,
    RGB_PLANES,
    TRAIN_ABERRATED,
    TRAIN_OPTICS,
    TRAINING_DATA,
    PatchSampler,
    log,
    set_probabilities,
    training_sets,
    validation_batch,
    validation_planes,
)
from widen_wiener_unet import widen_state  # noqa: E402

WARMUP_STEPS = 50  # linear learning-rate warm-up
# 16 channels at full resolution and three levels: about 3 MP/s for the U-Net alone in bf16 on
# an idle 2-core CPU (1024 x 1024), so the whole method with its tile overlap stays >= 0.5 MP/s.
MODEL_CONFIG = {"base_channels": 16, "levels": 3, "wiener_gains": (10.0, 100.0, 1000.0)}

# ----------------------------------------------------------------------------- training


def set_schedule_lr(opt, base_lr: float, step: int, fraction: float) -> float:
    """Linear warm-up over WARMUP_STEPS, then a cosine over the wall-clock budget (``fraction``
    of it spent) down to 2 % of ``base_lr``; sets and returns the learning rate."""
    cosine = 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * fraction))
    lr = base_lr * min(1.0, (step + 1) / WARMUP_STEPS) * cosine
    for g in opt.param_groups:
        g["lr"] = lr
    return lr


def optimiser_step(model, opt, loss) -> float:
    """Backward, clip the gradient norm to 1, step; returns the loss value."""
    import torch

    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


def psnr(a, b, margin: int | None = None) -> float:
    import torch

    margin = margin or LOSS_MARGIN
    a, b = a[..., margin:-margin, margin:-margin], b[..., margin:-margin, margin:-margin]
    mse = torch.mean((a.float().clamp(0, 1) - b.float()) ** 2, dim=(1, 2, 3))
    return float(torch.mean(10 * torch.log10(1.0 / mse.clamp_min(1e-12))))


def evaluate(model, vx, vy, vk, amp: bool) -> float:
    import torch

    model.eval()
    outs = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        for i in range(0, len(vx), 8):
            outs.append(model(vx[i : i + 8], vk[i : i + 8]).float())
    model.train()
    return psnr(torch.cat(outs), vy)


def cpu_speed(model, amp: bool, side: int = 1024) -> float:
    """Megapixels/s of the PSF-aware method on a side x side image through the tiler
    (its default tile), for protocol A's PSF."""
    from napari_microdeblur.core.inference import deblur
    from napari_microdeblur.core.psf import gaussian_psf
    from napari_microdeblur.core.psf_aware import psf_aware_method

    img = np.random.default_rng(0).random((side, side)).astype(np.float32)
    method = psf_aware_method(model, gaussian_psf(1.6, size=25),
                              precision="bfloat16" if amp else "float32")
    deblur(img[:256, :256], method=method, device="cpu")
    t = time.perf_counter()
    deblur(img, method=method, device="cpu")
    return side * side / (time.perf_counter() - t) / 1e6


def without_blurred_input(state: dict, mid: int) -> dict:
    """A blurred_input=True wiener_unet state for a blurred_input=False model: the first
    convolution's weights on the blurred input move onto the middle Wiener estimate, which
    matches the input where the PSF passes everything, so training starts near the old model."""
    state = dict(state)
    w = state["enc.0.0.weight"]
    moved = w[:, 1:].clone()
    moved[:, mid] += w[:, 0]
    state["enc.0.0.weight"] = moved
    return state


def trained_width(degradation: str, start_card=None) -> float:
    """The half-maximum width (px) of the widest PSF the weights have been trained on, for the
    card (``psf_safeguard.TRAINED_WIDTH_KEY``): this run's PSFs (``degradation``, its card's
    JSON) or, when it continued ``start_card``'s weights, that start's, whichever is wider."""
    from types import SimpleNamespace

    from napari_microdeblur.core.psf_safeguard import trained_half_max_width

    own = trained_half_max_width(SimpleNamespace(degradation=degradation, metrics={}))
    start = trained_half_max_width(start_card) if start_card is not None else 0.0
    return round(max(own, start), 2)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, required=True, help="wall-clock training budget")
    p.add_argument("--out", type=Path, required=True, help="output .safetensors")
    p.add_argument("--checkpoint-dir", type=Path, default=REPO / "runs" / "psf_aware")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--no-resume", action="store_true", help="start afresh even if last.pt exists")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=96)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--loss", choices=("l1", "mse"), default="l1",
                   help="l1 (psf_v1-v4), or mse: what PSNR measures, for a last phase from "
                        "L1-trained weights")
    p.add_argument("--p-protocol", type=float, default=0.2)
    p.add_argument("--p-optics", type=float, default=0.35,
                   help="probability that a patch's PSF comes from optics instead of the ranges")
    p.add_argument("--amp", choices=["bf16", "off"], default="bf16",
                   help="bfloat16 autocast for the U-Net (the FFT part stays float32)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--config", default=None, help="JSON overrides of the wiener_unet config")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--psf-side", type=int, default=33,
                   help="side every training PSF is padded or cropped to (odd)")
    p.add_argument("--p-mismatch", type=float, default=0.0,
                   help="probability that the network is given the PSF stretched by 0.8-1.25x "
                        "(robustness to the imperfect PSFs users have)")
    p.add_argument("--p-aberrated", type=float, default=0.0,
                   help="share of optics PSFs with spherical aberration (water NA 0.9-1.2 into "
                        "n 1.38-1.45 at 2-15 um)")
    p.add_argument("--p-halo", type=float, default=0.0,
                   help="probability that a patch's PSF gets a wide Gaussian halo (sigma "
                        "--halo-sigma px, 10-40 %% of the energy), as widefield bead PSFs have; "
                        "validation then adds one optics PSF with a halo per plane")
    p.add_argument("--halo-sigma", type=float, nargs=2, default=HALO["sigma_px"],
                   metavar=("LOW", "HIGH"),
                   help="range of the halo's Gaussian sigma in px (default 3 6; keep HIGH "
                        "below --psf-side / 5 so the halo fits the PSF)")
    p.add_argument("--val-aberrated", action="store_true",
                   help="validate on one training-range aberrated optics PSF more per plane")
    p.add_argument("--p-gaussian-fit", type=float, default=0.0,
                   help="probability that the network is given a Gaussian fitted to the PSF "
                        "(its core's moments) instead of the PSF itself: robustness to the "
                        "fitted PSFs users have for real defocus")
    p.add_argument("--set-weights", default=None, metavar="SET=W,...",
                   help="relative sampling weights of training sets (a modality-specialised "
                        "run: 'em_epfl_fibsem=3,em_neubias=3'); sets not named weigh 1")
    p.add_argument("--val-sets", default=None, metavar="SET,...",
                   help="keep the checkpoint that is best on the validation planes of these "
                        "sets only (default: all validation planes)")
    p.add_argument("--keep", choices=("best", "last"), default="best",
                   help="weights to write: the best on the validation planes (never worse than "
                        "--init's), or the last (a run whose aim its validation does not "
                        "measure, such as --p-gaussian-fit; benchmarks/"
                        "select_psf_aware_default.py then decides)")
    p.add_argument("--init", type=Path, default=None,
                   help="start from these weights (a wiener_unet .safetensors)")
    p.add_argument("--rgb-planes", choices=RGB_PLANES, default="channels",
                   help="what an RGB training image gives: its R, G and B channels, or the "
                        "luminance and chroma planes the network runs RGB as (validation "
                        "keeps the green channel either way)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    global PSF_SIDE, LOSS_MARGIN
    if args.psf_side < 3 or args.psf_side % 2 == 0:
        raise SystemExit(f"--psf-side {args.psf_side}: must be odd and >= 3")
    PSF_SIDE, LOSS_MARGIN = args.psf_side, args.psf_side // 2
    low, high = args.halo_sigma
    if not 0 < low <= high:
        raise SystemExit(f"--halo-sigma {low} {high}: must be 0 < LOW <= HIGH")
    HALO["sigma_px"] = (low, high)
    from napari_microdeblur.core import weights
    from napari_microdeblur.core.archs.wiener_unet import BRIGHT_QUANTILE
    from napari_microdeblur.core.data import DegradationRanges
    from napari_microdeblur.core.psf_safeguard import TRAINED_WIDTH_KEY
    from napari_microdeblur.core.registry import build_model

    torch.set_num_threads(args.threads)
    if args.out.suffix != ".safetensors":
        raise SystemExit(f"--out {args.out}: must end in .safetensors")
    if args.minutes <= 0:
        raise SystemExit(f"--minutes {args.minutes}: must be > 0")
    amp = args.amp == "bf16"
    t0 = time.perf_counter()
    train, val = training_sets(args.data_root, args.rgb_planes)
    ranges = DegradationRanges(
        gaussian_sigma=(0.6, 3.0), disk_radius=(1.0, 4.0), astig_sigma_major=(1.0, 3.5),
        gaussian_noise=(0.0, 0.03), poisson_peak=(30.0, 1000.0), p_poisson=0.4,
        p_protocol=args.p_protocol,
    )
    set_p = set_probabilities(train, args.set_weights)
    val = validation_planes(args.data_root, val, args.val_sets)
    sampler = PatchSampler(train, ranges, args.p_optics, args.seed, set_p=set_p,
                           p_mismatch=args.p_mismatch, p_aberrated=args.p_aberrated,
                           p_halo=args.p_halo, p_gaussian_fit=args.p_gaussian_fit)
    vx, vy, vk = (torch.from_numpy(a) for a in validation_batch(val, aberrated=args.val_aberrated,
                                                                halo=args.p_halo > 0))
    n_planes = sum(len(v) for v in train.values())
    log(f"{n_planes} training planes in {len(train)} sets "
        f"({', '.join(f'{k}: {len(v)}' for k, v in train.items())}); {len(val)} validation "
        f"planes x {len(vx) // max(len(val), 1)} degradations "
        f"({time.perf_counter() - t0:.1f} s to load)")

    config = dict(MODEL_CONFIG)
    if args.config:
        config.update(json.loads(args.config))
    torch.manual_seed(args.seed)
    start_card = None
    if args.init is not None:
        from napari_microdeblur.core.checkpoint import load_model

        start_model, start_card = load_model(args.init, arch="wiener_unet")
        config = dict(start_model.config.model_dump())
        if args.config:  # e.g. '{"data_step": 30}': a part the start lacks begins at its init
            config.update(json.loads(args.config))
        model = build_model("wiener_unet", config)
        state = start_model.state_dict()
        if start_model.config.blurred_input and not model.config.blurred_input:
            state = without_blurred_input(state, model.mid)
        if model.config.base_channels != start_model.config.base_channels:
            if model.config.base_channels < start_model.config.base_channels:
                raise SystemExit("--config base_channels narrower than the start's: only "
                                 "widening keeps what the start learned")
            state = widen_state(state, start_model, model)  # same output, more channels
        keys = model.load_state_dict(state, strict=False)
        if keys.unexpected_keys:
            raise SystemExit(f"--config {args.config} drops weights of {args.init}: "
                             f"{keys.unexpected_keys}")
        model.train()
        log(f"starting from {args.init}" + (f" (new: {', '.join(keys.missing_keys)})"
                                             if keys.missing_keys else ""))
    else:
        model = build_model("wiener_unet", config)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"wiener_unet {json.dumps(config)}: {n_params:,} parameters")

    ckdir = args.checkpoint_dir
    ckdir.mkdir(parents=True, exist_ok=True)
    last = ckdir / "last.pt"
    step, elapsed, best, best_state = 0, 0.0, -math.inf, None
    baseline = evaluate(model, vx, vy, vk, amp)  # the untrained model: its mid Wiener estimate
    input_psnr = psnr(vx, vy)
    if args.init is not None:  # never return weights worse on validation than the start
        best, best_state = baseline, copy.deepcopy(model.state_dict())
    if last.is_file() and not args.no_resume:
        ck = torch.load(last, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed, best, best_state = ck["step"], ck["elapsed"], ck["best"], ck["best_state"]
        sampler.rng = np.random.default_rng([args.seed, step])
        log(f"resumed from {last}: step {step}, {elapsed / 60:.1f} min spent, best {best:.2f} dB")
    start_name = "starting weights" if args.init is not None else "untrained (Wiener)"
    log(f"validation: input {input_psnr:.2f} dB, {start_name} {baseline:.2f} dB")

    budget = args.minutes * 60
    start = time.perf_counter() - elapsed
    last_ck = last_log = time.perf_counter()
    losses = []
    while True:
        elapsed = time.perf_counter() - start
        if elapsed >= budget or (args.max_steps is not None and step >= args.max_steps):
            break
        lr = set_schedule_lr(opt, args.lr, step, elapsed / budget)
        x, y, k = (torch.from_numpy(a) for a in sampler.sample(args.batch, args.patch))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            out = model(x, k)
        # the centre only: a patch's blurred border mixes in pixels outside the patch, which the
        # network cannot see (at inference the tiler drops a tile's border the same way)
        c = LOSS_MARGIN
        error = (out.float() - y)[..., c:-c, c:-c]
        loss = torch.mean(error ** 2 if args.loss == "mse" else torch.abs(error))
        losses.append(optimiser_step(model, opt, loss))
        step += 1
        now = time.perf_counter()
        if now - last_log >= 60:
            last_log = now
            log(f"step {step} loss {np.mean(losses[-100:]):.4f} lr {lr:.2e} "
                f"{step / max(elapsed, 1e-9):.2f} steps/s, "
                f"{elapsed / 60:.1f} of {args.minutes:g} min")
        if now - last_ck >= args.checkpoint_minutes * 60:
            last_ck = now
            v = evaluate(model, vx, vy, vk, amp)
            if v > best:
                best, best_state = v, copy.deepcopy(model.state_dict())
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "elapsed": time.perf_counter() - start, "best": best,
                        "best_state": best_state}, last)
            weights.save_weights(model, ckdir / "latest.safetensors",
                                 {"normalization": {"kind": "percentile", "low": 0.1,
                                                    "high": 99.9}})
            log(f"step {step}: validation {v:.2f} dB (best {best:.2f}); checkpoint {last}")
    v = evaluate(model, vx, vy, vk, amp)
    if v > best or best_state is None:
        best, best_state = v, copy.deepcopy(model.state_dict())
    if args.keep == "best":
        model.load_state_dict(best_state)
    kept = best if args.keep == "best" else v
    minutes = (time.perf_counter() - start) / 60
    log(f"done: {step} steps in {minutes:.1f} min; best validation {best:.2f} dB, kept the "
        f"{args.keep} weights ({kept:.2f} dB; input {input_psnr:.2f}, untrained Wiener "
        f"{baseline:.2f})")
    speed = cpu_speed(model, amp)
    log(f"speed: {speed:.2f} MP/s on 1024 x 1024 (default tile, {args.threads} threads)")
    given = sys.argv[1:] if argv is None else argv
    command = "python scripts/train_psf_aware.py " + " ".join(given)
    card = weights.save_weights(
        model,
        args.out,
        {
            "normalization": {"kind": "percentile", "low": 0.1, "high": 99.9},
            "training_data": TRAINING_DATA if args.rgb_planes == "channels" else
            TRAINING_DATA.replace("RGB as separate channels", "RGB as luminance and chroma "
                                  "planes (the opponent colour space it runs RGB in)"),
            "degradation": (degradation := json.dumps({
                "psf_ranges": {k: v for k, v in ranges.to_dict().items()
                               if k not in ("gaussian_noise", "p_poisson", "poisson_peak")},
                "optics_training_range": TRAIN_OPTICS,
                "p_optics": args.p_optics,
                "psf_side": args.psf_side,
                "p_mismatch": args.p_mismatch, "mismatch_zoom": MISMATCH_ZOOM,
                "p_gaussian_fit": args.p_gaussian_fit,
                "p_aberrated": args.p_aberrated, "aberrated_training_range": TRAIN_ABERRATED,
                "p_halo": args.p_halo, "halo": HALO,
                "set_weights": args.set_weights,
                "rgb_planes": args.rgb_planes,
                "init": str(args.init) if args.init else None,
                # the noise level the network was told (wiener_unet.noise_sigma); None: the
                # whole-image median only, as psf_v1 to psf_v4 were trained
                "noise_estimate_bright_quantile": BRIGHT_QUANTILE,
                "noise": "Gaussian sigma 0-0.03; p 0.4 Poisson peak 30-1000 (log-uniform) + "
                         "that Gaussian; reference [0, 1] scale, then gain 0.6-1.2",
                "held_out_optics_for_benchmark": "NA 1.3-1.45 oil (n 1.515), wavelength "
                                                 "0.6-0.7 um, spherical aberration",
            })),
            "metrics": {
                TRAINED_WIDTH_KEY: trained_width(degradation, start_card),
                "val_psnr": round(kept, 3), "kept": args.keep,
                "val_psnr_input": round(input_psnr, 3),
                "val_psnr_untrained_wiener": round(baseline, 3),
                "validation": f"{len(val)} training-split planes not trained on, centre 128 px "
                              "crops scored without 16 px per side, protocols A, B, C + one "
                              "training-range optics PSF"
                              + (" + one training-range aberrated optics PSF"
                                 if args.val_aberrated else "")
                              + (" + one optics PSF with a halo" if args.p_halo > 0 else "")
                              + (f"; planes of {args.val_sets} only" if args.val_sets else ""),
                "steps": step, "minutes": round(minutes, 2), "batch": args.batch,
                "patch": args.patch, "lr": args.lr, "loss": args.loss, "seed": args.seed,
                "amp": args.amp,
                "threads": args.threads, "cpu_megapixels_per_s_1024": round(speed, 3),
                "command": command,
            },
            "license": "NOASSERTION",
            "description": (
                "PSF-aware deep Wiener deconvolution (wiener_unet): give it the PSF. Trained "
                "on six microscopy sets (fluorescence, brightfield, histology, EM); one of "
                "them (EPFL FIB-SEM) states no licence, hence NOASSERTION. Reproduce: "
                + command
            ),
        },
    )
    log(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB), sha256 "
        f"{weights.sha256_file(args.out)}; card arch {card.arch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
