"""One PSF per channel against one shared PSF, on a synthetic two-channel widefield image.

Two different sharp 128 px images, each blurred by a widefield PSF from optics (NA 1.4,
pixel 0.065 um) at its own emission wavelength (0.46 and 0.61 um), Poisson noise at a peak of
1000 photons plus Gaussian noise of sigma 3; deblurred with Richardson-Lucy (30 iterations)
and Wiener (balance 0.01), once with the per-channel PSFs ('A;B') and once with one PSF at
0.52 um for both. PSNR per channel (peak-to-peak of the truth), over several noise seeds.

    python benchmarks/channel_psfs.py [--seeds 4] [--out benchmarks/results/channel_psfs.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import warnings
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.signal import fftconvolve

from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.psf import parse_psf

W = "widefield:na=1.4,wavelength={},pixel=0.065"
METHODS = {"richardson_lucy": {"iterations": 30}, "wiener": {"balance": 0.01}}


def two_channels(noise_seed: int, n: int = 128):
    truth = []
    for seed in (1, 2):
        f = gaussian_filter(np.random.default_rng(seed).normal(size=(n, n)), 1.5)
        f = np.clip(f / f.std() - 0.5, 0, None)
        truth.append(f / f.max() * 1000 + 20)
    image = []
    for c, (img, wavelength) in enumerate(zip(truth, (0.46, 0.61))):
        rng = np.random.default_rng(1000 * noise_seed + c)
        b = fftconvolve(img, parse_psf(W.format(wavelength)), mode="same")
        image.append(rng.poisson(np.clip(b, 0, None)) + rng.normal(0, 3, b.shape))
    return np.stack(image).astype(np.float32), np.stack(truth)


def psnr(x, ref) -> float:
    return float(10 * np.log10(np.ptp(ref) ** 2 / np.mean((x - ref) ** 2)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" /
                   "channel_psfs.json")
    args = p.parse_args(argv)
    per = f"{W.format(0.46)};{W.format(0.61)}"
    rows = []
    for seed in range(args.seeds):
        image, truth = two_channels(seed)
        for method, options in METHODS.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                own = deblur(image, method=method, axes="CYX", psf=per, device="cpu", **options)
                shared = deblur(image, method=method, axes="CYX", psf=W.format(0.52),
                                device="cpu", **options)
            for c in range(2):
                row = {"seed": seed, "method": method, "channel": c + 1,
                       "input": psnr(image[c], truth[c]),
                       "per_channel": psnr(own[c], truth[c]),
                       "shared_0.52": psnr(shared[c], truth[c])}
                row["gain_db"] = row["per_channel"] - row["shared_0.52"]
                rows.append(row)
                print(f"seed {seed} {method} channel {c + 1}: per-channel "
                      f"{row['per_channel']:.2f}, shared {row['shared_0.52']:.2f} "
                      f"({row['gain_db']:+.2f} dB)", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).parent).stdout.strip()
    summary = {f"{m} channel {c}": [round(min(g), 2), round(max(g), 2)]
               for m in METHODS for c in (1, 2)
               for g in [[r["gain_db"] for r in rows if r["method"] == m and r["channel"] == c]]}
    result = {"command": "python benchmarks/channel_psfs.py" + (
        f" --seeds {args.seeds}" if args.seeds != 4 else ""), "git_commit": commit,
        "psfs": {"per_channel": per, "shared": W.format(0.52)},
        "gain_range_db": summary, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
