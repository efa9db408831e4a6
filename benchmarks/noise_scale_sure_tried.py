"""Choosing the PSF-aware network's noise scale per image by Monte-Carlo SURE: tried, not kept.

The prediction risk of the re-blurred result, E||h * x_hat - h * x||^2, estimated without a
reference (Stein's unbiased risk estimate, the divergence by one perturbed forward pass,
Ramani et al., IEEE TIP 2008), for each noise scale of a grid; the image runs at the scale
with the lowest risk. Two parts:

* ``--part training``: the rule chosen on the first 4 training images (256 px centre crops)
  of sets outside the cross-dataset benchmark, protocols A-C, the network on the whole crop:
  per image the PSNR at each scale and the risk (grid 0.5, 0.7, 1, 1.4, 2; the rule then uses
  0.5, 0.7 and 1, which gave the best mean there).
* ``--part rows``: that fixed rule on the benchmark's grayscale rows (its test crops and
  degradations), against the default scale 1, both through ``deblur``.

  python benchmarks/noise_scale_sure_tried.py --part training --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import generalization as G  # noqa: E402
import provenance  # noqa: E402
import splits  # noqa: E402
from finetune_recipes import training_images  # noqa: E402

from napari_microdeblur.core.archs.wiener_unet import noise_sigma  # noqa: E402
from napari_microdeblur.core.checkpoint import load_model  # noqa: E402
from napari_microdeblur.core.degrade import degrade01, protocol_psf  # noqa: E402
from napari_microdeblur.core.metrics import evaluate, psnr  # noqa: E402
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE, psf_aware_method  # noqa: E402
from napari_microdeblur.core.self_adapt import blur_valid  # noqa: E402

TRAINING_SETS = ("em_isbi2012_drosophila_vnc_sstem", "em_drosophila_vnc_sstem_gerhard2013",
                 "em_epfl_hippocampus_fibsem", "fluorescence_neubias_training_resources",
                 "brightfield_cellprofiler_worms_phase", "em_neubias_tem_sem_volume")
GRID = (0.5, 0.7, 1.0, 1.4, 2.0)
RULE_GRID = (0.5, 0.7, 1.0)
BORDER = 24  # px left out of the risk and the training-part PSNR


def _reblur(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``x`` blurred by ``k`` at its own size, mirror-extended (odd PSF sides)."""
    ky, kx = k.shape[-2:]
    padded = torch.nn.functional.pad(x, (kx // 2, kx // 2, ky // 2, ky // 2), mode="reflect")
    return blur_valid(padded, k)


def risks(model, card, y01: np.ndarray, psf: np.ndarray, scales) -> tuple[dict, dict]:
    """({scale: SURE prediction risk}, {scale: result}) of the network on ``y01`` (model
    units), the noise level fixed at its estimate so the perturbation does not move it."""
    y = torch.from_numpy(np.ascontiguousarray(y01, dtype=np.float32))[None, None]
    k = torch.from_numpy((psf / psf.sum()).astype(np.float32))
    sigma = float(noise_sigma(y, k))
    eps = 0.1 * max(sigma, 1e-3)
    probe = torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    inner = (..., slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    out, results = {}, {}
    for scale in scales:
        method = psf_aware_method(model, k.numpy(), card, precision="float32",
                                  safeguard=False, noise_scale=scale)
        tile = method.forward.model  # the network bound to the PSF, one tile
        with torch.inference_mode():
            x = tile.deconvolve(y, torch.tensor([sigma]))
            x_probe = tile.deconvolve(y + eps * probe, torch.tensor([sigma]))
        reblurred = _reblur(x, k)[inner]
        residual = reblurred - y[inner]
        divergence = float((probe[inner] * (_reblur(x_probe, k)[inner] - reblurred)).sum()
                           ) / eps / residual.numel()
        out[scale] = float((residual**2).mean()) - sigma**2 + 2 * sigma**2 * divergence
        results[scale] = x[0, 0].numpy()
    return out, results


def training_part(model, card) -> list[dict]:
    rows = []
    for set_name in TRAINING_SETS:
        for i, path in enumerate(training_images(set_name)[:4]):
            image = splits.load(path, rgb=False).astype(np.float32)
            if image.ndim > 2:  # a stack: its middle plane
                image = image.reshape(-1, *image.shape[-2:])[image.shape[0] // 2]
            if min(image.shape) < 256:
                continue
            sharp = G.centre_crop(image, 256)
            lo, hi = np.percentile(sharp, [0.1, 99.9])
            sharp = np.clip((sharp - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)
            for protocol in "ABC":
                blurred = degrade01(sharp, protocol, seed=i)
                risk, results = risks(model, card, blurred, protocol_psf(protocol), GRID)
                inner = (slice(BORDER, -BORDER),) * 2
                rows.append({"set": set_name, "image": i, "protocol": protocol, "risk": risk,
                             "psnr": {s: psnr(np.clip(r, 0, 1)[inner], sharp[inner],
                                              data_range=1.0) for s, r in results.items()}})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def rows_part(model, card) -> list[dict]:
    rows = []
    for modality in ("fluorescence", "em"):
        cfg = G.HELD_OUT[modality]
        tests = [G.centre_crop(G.read(G.SHARED / cfg["set"] / f, False), 512)
                 for f in cfg["test"][:3]]
        for name in G.DEGRADATIONS:
            psf = G.row_psf(name)
            for i, sharp in enumerate(tests):
                blurred = G.degrade_with(sharp, name, psf, G.SEED + i, False)
                lo, hi = np.percentile(blurred, [0.1, 99.9])  # deblur's model units
                risk, _ = risks(model, card, (blurred - lo) / (hi - lo), psf, RULE_GRID)
                chosen = min(risk, key=risk.get)
                score = {s: float(evaluate(G.run("psf_aware", blurred, psf, "YX", s,
                                                 psf_aware=DEFAULT_PSF_AWARE), sharp,
                                           border=G.BORDER)["psnr"])
                         for s in dict.fromkeys((1.0, chosen))}
                rows.append({"modality": modality, "degradation": name, "image": i,
                             "chosen": chosen, "psnr_default": score[1.0],
                             "psnr_chosen": score[chosen]})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def summary(part: str, rows: list[dict]) -> list[str]:
    if part == "training":
        gains = [r["psnr"][min(RULE_GRID, key=r["risk"].get)] - r["psnr"][1.0] for r in rows]
        oracle = [max(r["psnr"].values()) - r["psnr"][1.0] for r in rows]
        return [f"{len(rows)} cases: rule {np.mean(gains):+.3f} dB over scale 1 (worst "
                f"{min(gains):+.2f}), best scale per image {np.mean(oracle):+.3f}"]
    lines = []
    for key in dict.fromkeys((r["modality"], r["degradation"]) for r in rows):
        sel = [r for r in rows if (r["modality"], r["degradation"]) == key]
        gain = [r["psnr_chosen"] - r["psnr_default"] for r in sel]
        lines.append(f"{key[0]} {key[1]}: scales {[r['chosen'] for r in sel]}, "
                     f"{np.mean(gain):+.2f} dB (worst {min(gain):+.2f})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("training", "rows"), required=True)
    parser.add_argument("--json")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    model, card = load_model(DEFAULT_PSF_AWARE)
    model.eval()
    rows = (training_part if args.part == "training" else rows_part)(model, card)
    lines = summary(args.part, rows)
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "command": "python benchmarks/noise_scale_sure_tried.py " + " ".join(sys.argv[1:]),
            "provenance": provenance.record(), "summary": lines, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
