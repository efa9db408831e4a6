#!/usr/bin/env python
"""Train a v2 blind default (a small C2F U-Net, paper 001) on broad content, on this CPU.

The v1 blind defaults (GRAN) learned one training set each and a few synthetic PSF families;
on sets they never saw they fall behind deconvolution with the true PSF and sometimes below
their input. A v2 default is trained on the *same broad content and PSF mixture* as the
PSF-aware network (``scripts/train_psf_aware.py``: six training splits, Gaussian, disk,
astigmatic, protocols A/B/C and training-range optics PSFs, Poisson/Gaussian noise), without
being given the PSF. ``--modality`` only weights the content: half the patches come from that
modality's sets, half from all the others; the held-out sets of the cross-dataset benchmark
and images shipped in Python packages are never used.

Architecture: ``c2f_unet`` (Wang & Han, coarse-to-fine U-Nets with feature interaction) at
half the paper's width (``cpu_small``: N = 4 levels, base width 8, 0.64 M parameters, ~5 MP/s
in bf16 on 512 px tiles here) with ``global_skip`` (each level predicts a correction to its
input, so an unsure network stays near its input), grayscale; colour images run channel by
channel. Loss: the paper's multi-scale L1 (eq. 5) on the patch centre.

    nohup python scripts/train_blind.py --modality em --minutes 70 \\
        --out src/napari_microdeblur/weights/c2f_unet.em_v2.safetensors > runs/blind_em.log 2>&1 &

``runs/blind_<modality>/last.pt`` is written every ``--checkpoint-minutes`` and the same command
resumes from it.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "scripts"))

import psf_aware_data as D  # noqa: E402  (the content, PSF and noise pipeline)
import train_psf_aware as T  # noqa: E402  (the optimiser step and its schedule)

MODEL_CONFIG = {"levels": 4, "depth": 5, "base_channels": 8, "global_skip": True,
                "border_mirror": 32}  # the loss leaves out the patch margin: see the config
LOSS_MARGIN = D.LOSS_MARGIN

# Which training sets count as each modality's own (the rest is the "broad" half).
MODALITY_SETS = {
    "em": ("em_epfl_fibsem", "em_neubias"),
    "fluorescence": ("fluorescence_2d", "fluorescence_neubias"),
    "brightfield": ("histology_kather", "brightfield_worms_phase"),
}


def set_probabilities(names: list[str], modality: str, p_own: float = 0.5) -> np.ndarray:
    own = [n in MODALITY_SETS[modality] for n in names]
    n_own, n_other = sum(own), len(own) - sum(own)
    p = np.array([p_own / n_own if o else (1 - p_own) / n_other for o in own])
    return p / p.sum()


def multiscale_center_l1(outs, y, margin: int):
    """Eq. 5 of the C2F paper on the patch centre: L1 per level, coarse to fine, each level's
    target the average-pooled sharp patch and its margin scaled with it."""
    import torch.nn.functional as F

    targets = [y]
    for _ in range(len(outs) - 1):
        targets.append(F.avg_pool2d(targets[-1], 2))
    loss = 0.0
    for o, t in zip(outs, targets[::-1], strict=True):
        m = max(1, margin * o.shape[-1] // y.shape[-1])
        loss = loss + F.l1_loss(o.float()[..., m:-m, m:-m], t[..., m:-m, m:-m])
    return loss


def evaluate(model, vx, vy, amp: bool) -> float:
    import torch

    model.eval()
    outs = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        for i in range(0, len(vx), 8):
            outs.append(model(vx[i : i + 8]).float())
    model.train()
    return T.psnr(torch.cat(outs), vy)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modality", choices=sorted(MODALITY_SETS), required=True)
    p.add_argument("--minutes", type=float, required=True, help="wall-clock training budget")
    p.add_argument("--out", type=Path, required=True, help="output .safetensors")
    p.add_argument("--checkpoint-dir", type=Path, default=None,
                   help="default runs/blind_<modality>")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--no-resume", action="store_true")
    p.add_argument("--data-root", type=Path, default=D.DEFAULT_DATA)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=96, help="multiple of 16")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--p-protocol", type=float, default=0.25)
    p.add_argument("--p-optics", type=float, default=0.35)
    p.add_argument("--amp", choices=["bf16", "off"], default="bf16")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--p-own", type=float, default=0.5,
                   help="share of patches from the modality's own sets")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from napari_microdeblur.core import weights
    from napari_microdeblur.core.data import DegradationRanges
    from napari_microdeblur.core.registry import build_model

    torch.set_num_threads(args.threads)
    if args.out.suffix != ".safetensors":
        raise SystemExit(f"--out {args.out}: must end in .safetensors")
    if args.patch % 16:
        raise SystemExit(f"--patch {args.patch}: must be a multiple of 16")
    amp = args.amp == "bf16"
    t0 = time.perf_counter()
    train, val = D.training_sets(args.data_root)
    ranges = DegradationRanges(
        gaussian_sigma=(0.6, 3.0), disk_radius=(1.0, 4.0), astig_sigma_major=(1.0, 3.5),
        gaussian_noise=(0.0, 0.03), poisson_peak=(30.0, 1000.0), p_poisson=0.4,
        p_protocol=args.p_protocol,
    )
    names = [k for k, v in train.items() if v]
    sampler = D.PatchSampler(train, ranges, args.p_optics, args.seed,
                                  set_p=set_probabilities(names, args.modality, args.p_own))
    vx, vy, _ = (torch.from_numpy(a) for a in D.validation_batch(val))
    D.log(f"{args.modality}: sets {names}, probabilities "
               f"{np.round(sampler.set_p, 3).tolist()} ({time.perf_counter() - t0:.1f} s)")

    torch.manual_seed(args.seed)
    model = build_model("c2f_unet", MODEL_CONFIG)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    D.log(f"c2f_unet {json.dumps(MODEL_CONFIG)}: "
               f"{sum(p.numel() for p in model.parameters()):,} parameters")

    ckdir = args.checkpoint_dir or REPO / "runs" / f"blind_{args.modality}"
    ckdir.mkdir(parents=True, exist_ok=True)
    last = ckdir / "last.pt"
    step, elapsed, best, best_state = 0, 0.0, -math.inf, None
    input_psnr = T.psnr(vx, vy)
    if last.is_file() and not args.no_resume:
        ck = torch.load(last, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed, best, best_state = ck["step"], ck["elapsed"], ck["best"], ck["best_state"]
        sampler.rng = np.random.default_rng([args.seed, step])
        D.log(f"resumed from {last}: step {step}, {elapsed / 60:.1f} min, best {best:.2f}")
    D.log(f"validation input {input_psnr:.2f} dB")

    budget = args.minutes * 60
    start = time.perf_counter() - elapsed
    last_ck = last_log = time.perf_counter()
    losses = []
    while True:
        elapsed = time.perf_counter() - start
        if elapsed >= budget or (args.max_steps and step >= args.max_steps):
            break
        lr = T.set_schedule_lr(opt, args.lr, step, elapsed / budget)
        x, y, _ = (torch.from_numpy(a) for a in sampler.sample(args.batch, args.patch))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            outs = model.forward_pyramid(x)
        loss = multiscale_center_l1(outs, y, LOSS_MARGIN)
        losses.append(T.optimiser_step(model, opt, loss))
        step += 1
        now = time.perf_counter()
        if now - last_log >= 60:
            last_log = now
            D.log(f"step {step} loss {np.mean(losses[-100:]):.4f} lr {lr:.2e} "
                       f"{step / max(elapsed, 1e-9):.2f} steps/s, {elapsed / 60:.1f} of "
                       f"{args.minutes:g} min")
        if now - last_ck >= args.checkpoint_minutes * 60:
            last_ck = now
            v = evaluate(model, vx, vy, amp)
            if v > best:
                best, best_state = v, copy.deepcopy(model.state_dict())
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "elapsed": time.perf_counter() - start, "best": best,
                        "best_state": best_state}, last)
            D.log(f"step {step}: validation {v:.2f} dB (best {best:.2f}); saved {last}")
    v = evaluate(model, vx, vy, amp)
    if v > best or best_state is None:
        best, best_state = v, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    minutes = (time.perf_counter() - start) / 60
    D.log(f"done: {step} steps in {minutes:.1f} min; best validation {best:.2f} dB "
               f"(input {input_psnr:.2f})")
    given = sys.argv[1:] if argv is None else argv
    command = "python scripts/train_blind.py " + " ".join(given)
    description = {
        "em": "Blind default for grayscale electron micrographs",
        "fluorescence": "Blind default for grayscale fluorescence",
        "brightfield": "Blind default for brightfield and histology (RGB channel by channel)",
    }[args.modality]
    card = weights.save_weights(
        model,
        args.out,
        {
            "normalization": {"kind": "percentile", "low": 0.1, "high": 99.9},
            "training_data": D.TRAINING_DATA
            + f" A share {args.p_own:g} of the patches from the {args.modality} "
            f"sets ({', '.join(MODALITY_SETS[args.modality])}), the rest from the others.",
            "degradation": json.dumps({
                "psf_ranges": {k: v for k, v in ranges.to_dict().items()
                               if k not in ("gaussian_noise", "p_poisson", "poisson_peak")},
                "optics_training_range": D.TRAIN_OPTICS,
                "p_optics": args.p_optics,
                "noise": "Gaussian sigma 0-0.03; p 0.4 Poisson peak 30-1000 (log-uniform) + "
                         "that Gaussian; reference [0, 1] scale, then gain 0.6-1.2",
            }),
            "metrics": {
                "val_psnr": round(best, 3), "val_psnr_input": round(input_psnr, 3),
                "validation": "6 training-split planes not trained on, centre 128 px crops "
                              "scored without 16 px per side, protocols A, B, C + one "
                              "training-range optics PSF",
                "steps": step, "minutes": round(minutes, 2), "batch": args.batch,
                "patch": args.patch, "lr": args.lr, "seed": args.seed, "amp": args.amp,
                "threads": args.threads, "command": command,
            },
            "license": "NOASSERTION",
            "description": f"{description} (v2: C2F U-Net, blind, trained on six microscopy "
            "sets and many PSFs; one set, EPFL FIB-SEM, states no licence, hence NOASSERTION). "
            "Reproduce: " + command,
        },
    )
    D.log(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB), sha256 "
               f"{weights.sha256_file(args.out)}; card arch {card.arch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
