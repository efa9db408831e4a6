"""JPEG-compressed brightfield input: the PSF estimate and Wiener's balance 'auto' before and
after ``psf_estimate.JPEG_BAND`` (GCV reads only frequencies below it on a plane that shows
JPEG's 8x8 blocks, ``core.jpeg_blocks``).

Images: the brightfield sets of ../shared/data, split as their PROVENANCE.md files say (Kather
2016 H&E tiles: the alphabetically last tile of each class is test; BCCD blood smears: train/
and test/; CellProfiler worms and wound: train/ and test/), a centre crop of at most 300 px
scaled to [0, 1], blurred by protocols A and C of docs/evaluation.md (seed = image index),
rounded to uint8 and saved losslessly or as JPEG by PIL at quality 75, 85 and 95 (PIL's default
4:2:0 chroma). The rule was chosen on the training split; the test split was run once with it.

Per case: the blockiness score; the estimate (sigmas; error = RMS of the two sigmas' errors
against the protocol's) before and after; border-excluded PSNR of the input, of Wiener given
the estimated PSF with balance 'auto' (``gcv_balance`` on the first channel, as
``image_settings.balance_for``) and of Wiener given the true PSF with balance 'auto'. "Before"
is the same code with JPEG detection switched off.

    python benchmarks/jpeg_input.py --split train --json benchmarks/results/jpeg_input.json
    python benchmarks/jpeg_input.py --split test --json benchmarks/results/jpeg_input.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

import napari_microdeblur.core.psf_estimate as pe
from napari_microdeblur.core.classical import wiener
from napari_microdeblur.core.degrade import degrade01, protocol_psf
from napari_microdeblur.core.jpeg_blocks import blockiness, looks_jpeg
from napari_microdeblur.core.metrics import evaluate

SHARED = Path(os.environ.get("MICRODEBLUR_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))
TRUE_SIGMAS = {"A": (1.6, 1.6), "C": (2.5, 0.8)}
CODECS = ("lossless", "q75", "q85", "q95")
CROP = 300


def files(split: str) -> list[Path]:
    out = []
    for cls in sorted((SHARED / "histology_brightfield_rgb" / "kather2016_crc_he_tiles").iterdir()):
        tiles = sorted(cls.glob("*.tif"))
        out += tiles[:-1] if split == "train" else tiles[-1:]
    out += sorted((SHARED / "brightfield_bccd_blood_smear" / split).glob("*.png"))
    out += sorted(p for p in (SHARED / "brightfield_cellprofiler_worms_phase" / split).rglob("*")
                  if p.is_file())
    return out


def load01(path: Path) -> np.ndarray:
    import imageio.v3 as iio
    import tifffile

    a = tifffile.imread(path) if path.suffix.lower() in (".tif", ".tiff") else iio.imread(path)
    a = np.asarray(a)
    a = a[..., :3] if a.ndim == 3 else a
    a = a.astype(np.float64) / (255.0 if a.max() <= 255 else float(a.max()))
    h, w = a.shape[:2]
    c = min(CROP, h, w)
    y0, x0 = (h - c) // 2, (w - c) // 2
    return a[y0 : y0 + c, x0 : x0 + c].astype(np.float32)


def encoded(u8: np.ndarray, codec: str) -> np.ndarray:
    from PIL import Image

    if codec == "lossless":
        return u8
    buffer = io.BytesIO()
    Image.fromarray(u8).save(buffer, format="JPEG", quality=int(codec[1:]))
    buffer.seek(0)
    return np.asarray(Image.open(buffer))


def deblurred(image01: np.ndarray, psf: np.ndarray) -> np.ndarray:
    """Wiener with balance 'auto' (GCV on the first channel), every channel."""
    first = image01 if image01.ndim == 2 else image01[..., 0]
    balance = pe.gcv_balance(first, psf)
    ch = image01[None] if image01.ndim == 2 else np.moveaxis(image01, -1, 0)
    out = wiener(torch.from_numpy(np.ascontiguousarray(ch))[:, None], psf, balance=balance)
    out = out[:, 0].numpy()
    return out[0] if image01.ndim == 2 else np.moveaxis(out, 0, -1)


def run_case(clean, u8, protocol, detect: bool) -> dict:
    pe.looks_jpeg = looks_jpeg if detect else (lambda plane: False)
    image01 = u8.astype(np.float32) / 255.0
    axes = "YXS" if u8.ndim == 3 else "YX"
    est = pe.estimate_psf(pe.estimation_plane(u8, axes))
    t = TRUE_SIGMAS[protocol]
    err = float(np.sqrt(((est.sigma_major - t[0]) ** 2 + (est.sigma_minor - t[1]) ** 2) / 2))
    ch = None if u8.ndim == 2 else -1

    def score(x):
        return evaluate(x, clean, channel_axis=ch)["psnr"]

    return {"spec": est.spec, "error_px": round(err, 3), "jpeg_like": est.jpeg_like,
            "psnr_estimated_psf": round(score(deblurred(image01, est.kernel)), 3),
            "psnr_true_psf": round(score(deblurred(image01, protocol_psf(protocol))), 3)}


def summary(rows: list[dict]) -> dict:
    groups = defaultdict(list)
    for r in rows:
        groups[f"{r['codec']} {r['protocol']}"].append(r)
        groups[f"{r['codec']} all"].append(r)
    out = {}
    for key, rs in sorted(groups.items()):
        entry = {"n": len(rs), "detected_jpeg": sum(r["after"]["jpeg_like"] for r in rs),
                 "psnr_input": round(float(np.mean([r["psnr_input"] for r in rs])), 2)}
        for when in ("before", "after"):
            entry[when] = {k: round(float(np.mean([r[when][k] for r in rs])), 3)
                           for k in ("error_px", "psnr_estimated_psf", "psnr_true_psf")}
            entry[when]["error_px_max"] = max(r[when]["error_px"] for r in rs)
        out[key] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("train", "test"), default="train")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows, start = [], time.time()
    for index, path in enumerate(files(args.split)):
        clean = load01(path)
        for protocol in ("A", "C"):
            blurred = degrade01(clean, protocol, seed=index,
                                channel_axis=-1 if clean.ndim == 3 else None)
            u8 = np.round(blurred * 255).astype(np.uint8)
            for codec in CODECS:
                image = encoded(u8, codec)
                plane = pe.estimation_plane(image, "YXS" if image.ndim == 3 else "YX")
                rows.append({
                    "image": str(path.relative_to(SHARED)), "protocol": protocol, "codec": codec,
                    "blockiness": round(blockiness(plane), 4),
                    "blockiness_off_grid": round(blockiness(plane[3:, 5:]), 4),
                    "psnr_input": round(evaluate(image.astype(np.float32) / 255, clean,
                                                 channel_axis=None if image.ndim == 2 else -1)
                                        ["psnr"], 3),
                    "before": run_case(clean, image, protocol, detect=False),
                    "after": run_case(clean, image, protocol, detect=True)})
    pe.looks_jpeg = looks_jpeg
    result = {"split": args.split, "seconds": round(time.time() - start, 1),
              "summary": summary(rows), "rows": rows}
    print(json.dumps(result["summary"], indent=1))
    if args.json:
        saved = json.loads(args.json.read_text()) if args.json.exists() else {}
        saved[args.split] = result
        saved["doc"] = __doc__
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(saved, indent=1))


if __name__ == "__main__":
    main()
