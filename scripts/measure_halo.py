#!/usr/bin/env python
"""Measure how many pixels per side a network's tiles must overlap, and write it into its card.

A deep U-Net's theoretical receptive field is hundreds of pixels (439 for the C2F U-Net at
N = 4), and the tiler would overlap tiles by twice that. What the output really depends on is
far smaller. This script deblurs a training-split image (blurred by protocol A) once whole and
once tiled at ``--tile`` with each candidate halo (overlap = 2 x halo), in float32, and keeps the
smallest halo whose tiled result is at least ``--min-psnr`` dB from the whole one (55 dB: an
error below 0.2 % of the range, confined to the seams).

    python scripts/measure_halo.py src/napari_microdeblur/weights/c2f_unet.em_v2.safetensors \\
        --image ../shared/data/em_epfl_hippocampus_fibsem/train/training0000.png --write
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

CANDIDATES = (8, 16, 24, 32, 48, 64, 96, 128)


def psnr_between(a: np.ndarray, b: np.ndarray) -> float:
    span = float(b.max() - b.min()) or 1.0
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(span**2 / mse)


def measure(weights: Path, image: np.ndarray, tile: int, min_psnr: float) -> dict:
    from napari_microdeblur.core.checkpoint import load_model
    from napari_microdeblur.core.inference import deblur
    from napari_microdeblur.core.method import network_method

    model, card = load_model(weights)
    base = network_method(model, name=weights.name, precision="float32")
    side = max(image.shape[:2])
    whole_tile = -(-side // base.size_divisor) * base.size_divisor
    whole = deblur(image, method=dataclasses.replace(base, halo=0), tile=whole_tile, overlap=0,
                   device="cpu")
    scores = {}
    for halo in CANDIDATES:
        if 2 * halo >= tile:
            break
        method = dataclasses.replace(base, halo=halo)
        tiled = deblur(image, method=method, tile=tile, overlap=2 * halo, device="cpu")
        scores[halo] = round(psnr_between(tiled, whole), 2)
        print(f"halo {halo:4d}: tiled vs whole {scores[halo]:.2f} dB", flush=True)
        if scores[halo] >= min_psnr:
            return {"halo": halo, "tile": tile, "scores": scores, "card": card}
    raise SystemExit(f"no halo up to {max(scores)} reaches {min_psnr} dB: {scores}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("weights", type=Path)
    p.add_argument("--image", type=Path, required=True, help="a training-split image")
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--min-psnr", type=float, default=55.0)
    p.add_argument("--write", action="store_true", help="write halo and tile into the card")
    args = p.parse_args(argv)

    from napari_microdeblur.core.checkpoint import load_model, save_weights
    from napari_microdeblur.core.degrade import degrade
    from napari_microdeblur.core.io import read_image

    data = read_image(args.image, lazy=False)
    image, axes = np.asarray(data.array, dtype=np.float32), data.axes
    if axes.endswith("S"):  # a colour image: keep the colour, drop alpha
        image = image[..., :3]
    elif image.ndim > 2:
        raise SystemExit(f"--image {args.image}: give a 2D image (axes {axes})")
    # sides a multiple of 32: the whole-image reference then needs no padding, whose effect
    # reaches as far as the theoretical receptive field and would hide the seams
    h, w = (image.shape[0] // 32) * 32, (image.shape[1] // 32) * 32
    image = image[:h, :w]
    blurred = degrade(image, "A", seed=0, channel_axis=-1 if axes.endswith("S") else None)
    if max(image.shape[:2]) <= args.tile:
        raise SystemExit(f"--image {args.image}: {image.shape[:2]} fits in one tile of "
                         f"{args.tile}; give a larger image (tiles must meet)")
    found = measure(args.weights, blurred, args.tile, args.min_psnr)
    print(json.dumps({"halo": found["halo"], "tile": found["tile"], "scores": found["scores"]}))
    if args.write:
        model, card = load_model(args.weights)
        fields = card.model_dump(exclude={"sha256", "source"})
        fields["tiling"] = {"halo": found["halo"], "tile": found["tile"]}
        fields["metrics"] = {**fields["metrics"], "tiling_measured": (
            f"scripts/measure_halo.py --tile {args.tile} on {args.image.name} (protocol A): "
            f"tiled vs whole {found['scores'][found['halo']]} dB at halo {found['halo']}")}
        save_weights(model, args.weights, fields)
        print(f"wrote tiling {fields['tiling']} into {args.weights}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
