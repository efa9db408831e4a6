"""Inference speed of each bundled model (and the classical methods) on this machine.

For every method: megapixels per second through `deblur` on a --size x --size real-content
image (a mosaic of the bundled HT29 sample) at tile 256 and 512, in float32 and in the
precision `auto` picks; and, in the same run, the machine's peak convolution throughput (one
64-channel 3x3 convolution, batch 4 at 256 x 256, float32 and bfloat16) with the fraction of it
each network achieves (its multiply-adds from torch's FLOP counter). Prints a table and JSON.

  python benchmarks/speed.py [--size 2048] [--models gran.em_v1,gran.fluo_v1,gran.hist_v1]
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import numpy as np
import tifffile
import torch

from napari_microdeblur.core.bundled import BUNDLED_WEIGHTS
from napari_microdeblur.core.checkpoint import load_model
from napari_microdeblur.core.inference import auto_precision, deblur

SAMPLE = (
    Path(__file__).parents[1] / "src" / "napari_microdeblur" / "samples" / "ht29_nuclei_hoechst.tif"
)


def mosaic(size: int, rgb: bool) -> np.ndarray:
    tile = tifffile.imread(SAMPLE)
    image = np.tile(tile, (size // tile.shape[0] + 1,) * 2)[:size, :size]
    return np.stack([image, image[::-1], image[:, ::-1]], axis=-1) if rgb else image


def timed(fn, repeats: int = 1) -> float:
    fn()  # warm-up: allocations, kernel selection
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def conv_peak(precision: str) -> float:
    """GMAC/s of one 64-channel 3x3 convolution (batch 4, 256 x 256), channels-last."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(memory_format=torch.channels_last).eval()
    x = torch.rand(4, 64, 256, 256).contiguous(memory_format=torch.channels_last)
    macs = 4 * 64 * 64 * 9 * 256 * 256

    def run():
        with torch.inference_mode():
            if precision == "float32":
                conv(x)
            else:
                with torch.autocast("cpu", dtype=getattr(torch, precision)):
                    conv(x)

    return macs / timed(run, 3) / 1e9


def model_gmacs_per_mp(model, channels: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, channels, 256, 256)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(x)
    return counter.get_total_flops() / 2 / 1e9 / (256 * 256 / 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--models", default=",".join(BUNDLED_WEIGHTS))
    parser.add_argument("--json")
    args = parser.parse_args()
    device = torch.device("cpu")
    fast = auto_precision(device)
    peaks = {p: conv_peak(p) for p in sorted({"float32", fast})}
    rows = []
    for name in [m for m in args.models.split(",") if m]:
        model, card = load_model(name)
        rgb = card.in_channels == 3
        image = mosaic(args.size, rgb)
        axes = "YXS" if rgb else "YX"
        gmacs = model_gmacs_per_mp(model, card.in_channels)
        for tile in (256, 512):
            for precision in sorted({"float32", fast}):
                seconds = timed(functools.partial(deblur, image, method=model, axes=axes,
                                                  tile=tile, precision=precision, device="cpu"))
                mps = args.size**2 / 1e6 / seconds
                rows.append({"method": name, "tile": tile, "precision": precision,
                             "seconds": round(seconds, 2), "megapixels_per_s": round(mps, 3),
                             "gmac_per_megapixel": round(gmacs, 2),
                             "fraction_of_conv_peak": round(mps * gmacs / peaks[precision], 3)})
    for name, options in (("richardson_lucy", dict(psf="gaussian:1.6", iterations=20)),
                          ("wiener", dict(psf="gaussian:1.6"))):
        image = mosaic(args.size, False)
        seconds = timed(functools.partial(deblur, image, method=name, device="cpu", **options))
        rows.append({"method": name, "tile": "default", "precision": "float32",
                     "seconds": round(seconds, 2),
                     "megapixels_per_s": round(args.size**2 / 1e6 / seconds, 3)})
    print(f"image {args.size} x {args.size}; conv peak GMAC/s: "
          + ", ".join(f"{p} {v:.1f}" for p, v in peaks.items()))
    for r in rows:
        frac = r.get("fraction_of_conv_peak")
        print(f"  {r['method']:<16} tile {str(r['tile']):<7} {r['precision']:<8} "
              f"{r['megapixels_per_s']:7.3f} MP/s  {r['seconds']:7.2f} s"
              + (f"  {100 * frac:5.1f} % of peak" if frac is not None else ""))
    result = {"size": args.size, "conv_peak_gmac_s": peaks, "rows": rows,
              "torch_threads": torch.get_num_threads()}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
