"""Paired fine-tuning of the PSF-aware network on RGB pairs: in the colour space it runs in
(luminance and chroma planes, the job's way) against on the R, G and B planes (issue 14).

The network deconvolves RGB as luminance and chroma (``psf_aware.OPPONENT``), so the job
fine-tunes it on those planes. The alternative a user had before RGB pairs were accepted is to
fine-tune on the three colour channels as grayscale planes. Both start from --base, run the
job's defaults (the CLI's) for --minutes on --train crops of a brightfield set's *training*
images degraded by protocol A, and are scored on the NEXT --test training images (never the
test split: this chooses how the job works), each deblurred as users run RGB with the PSF
(``psf_aware_method(rgb=True)``), PSNR on the [0, 1] scale over the three channels.

  python benchmarks/finetune_psf_aware_rgb.py --json benchmarks/results/finetune_psf_aware_rgb.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import splits  # noqa: E402
from finetune_recipes import fit_row, report  # noqa: E402

from napari_microdeblur.core.checkpoint import load_model  # noqa: E402
from napari_microdeblur.core.degrade import degrade01  # noqa: E402
from napari_microdeblur.core.finetune import FinetuneRequest  # noqa: E402
from napari_microdeblur.core.inference import deblur  # noqa: E402
from napari_microdeblur.core.metrics import psnr  # noqa: E402
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE, psf_aware_method  # noqa: E402

SET = "brightfield_bccd_blood_smear"
PSF = "gaussian:1.6"  # protocol A's PSF (docs/evaluation.md)
#: how each recipe hands the RGB training crops (N, Y, X, 3) to the job
RECIPES = {
    "luminance and chroma planes (the job)": lambda a: (a, "ZYXS"),
    "R, G and B planes as grayscale": lambda a: (np.moveaxis(a, -1, 1).reshape(-1, *a.shape[1:3]),
                                                 "ZYX"),
}


def rgb_crop01(path: Path, crop: int) -> np.ndarray:
    return splits.load(path, rgb=True)[:crop, :crop].astype(np.float32) / 255.0


def test_psnr(model, card, blurry: list[np.ndarray], sharp: list[np.ndarray]) -> float:
    method = psf_aware_method(model, PSF, card, rgb=True)
    return float(np.mean([
        psnr(np.clip(deblur(b, method=method, axes="YXS", device="cpu"), 0, 1), s,
             data_range=1.0) for b, s in zip(blurry, sharp, strict=True)]))


def run_recipe(name: str, train: tuple[np.ndarray, np.ndarray], args) -> dict:
    model, card = load_model(args.base)
    (blurry, axes), (sharp, _) = (RECIPES[name](a) for a in train)
    req = FinetuneRequest(mode="pair", layer_name="train-crops", axes=axes, model=model,
                          base_label=args.base, base_card=card, blurry=blurry, sharp=sharp,
                          match_intensity=False, align=False, minutes=args.minutes,
                          device="cpu", psf=PSF, seed=args.seed)
    return fit_row(name, req)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=DEFAULT_PSF_AWARE)
    parser.add_argument("--set", default=SET, help="an RGB set of ../shared/data (training split)")
    parser.add_argument("--train", type=int, default=3, help="training images fine-tuned on")
    parser.add_argument("--test", type=int, default=3, help="next training images, scored")
    parser.add_argument("--crop", type=int, default=384)
    parser.add_argument("--minutes", type=float, default=5.0, help="per recipe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()

    folder = splits.SHARED / args.set / "train"
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".tif"))
    train_sharp = np.stack([rgb_crop01(p, args.crop) for p in images[: args.train]])
    train = (np.stack([degrade01(s, "A", seed=i, channel_axis=-1)
                       for i, s in enumerate(train_sharp)]), train_sharp)
    test_sharp = [rgb_crop01(p, args.crop) for p in images[args.train : args.train + args.test]]
    test_blurry = [degrade01(s, "A", seed=100 + i, channel_axis=-1)
                   for i, s in enumerate(test_sharp)]
    base, base_card = load_model(args.base)
    rows = [{"recipe": "input (protocol A)", "test_psnr": float(np.mean(
        [psnr(b, s, data_range=1.0) for b, s in zip(test_blurry, test_sharp, strict=True)]))},
        {"recipe": f"{args.base} (start)", "test_psnr": test_psnr(base, base_card, test_blurry,
                                                                   test_sharp)}]
    for name in RECIPES:
        row = run_recipe(name, train, args)
        row["test_psnr"] = test_psnr(row.pop("model"), row.pop("card"), test_blurry, test_sharp)
        rows.append(row)
        print(json.dumps(row), flush=True)
    report(rows, args, "finetune_psf_aware_rgb.py")

if __name__ == "__main__":
    main()
