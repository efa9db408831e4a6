#!/usr/bin/env python
"""Why our 3D Richardson-Lucy scores higher than RedLionfish's on the same data (peers.py).

On a 32 x 256 x 256 stack built like ``peers.py``'s rl3d case (the HT29 mosaic, a Gaussian z
profile, the same 17 x 25 x 25 psfmodels PSF, Poisson noise), 20 iterations each of:

* ``redlionfish``: its CPU path, ``RLDeconv3DScipy.doRLDeconvolution_DL2_4``;
* ``periodic_centred``: the same periodic (FFT, no padding) RL written here, with the PSF's
  centre put at voxel 0 and the mirrored PSF as ``psf[-i mod N]``;
* ``mirror_padded_centred``: that, on the stack extended by half a PSF per side by mirroring;
* ``mirror_padded_centred_flat_start``: that, started from a flat image (the mean) instead
  of the data, as ours starts;
* ``ours``: ``deblur(..., method="richardson_lucy")``.

The first pair differs only in where the PSF sits: RedLionfish's ``circulify3D`` puts its
peak at index -1 of each axis, and ``np.flip`` of that puts the mirrored peak at index 0, so
its forward model is shifted by one voxel per axis. The second pair differs only in the
boundary, the third only in the starting image (after 20 iterations a flat start is less far
along, so it has amplified less noise). PSNR after a least-squares gain and offset, whole and
with half a PSF excluded (as peers.py). Needs ``pip install redlionfish psfmodels``; prints
and writes JSON.

    python benchmarks/rl_boundary.py [--json benchmarks/results/rl_boundary.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import scipy.fft

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import peers  # noqa: E402

ITERATIONS = 20
DEPTH, SIZE = 32, 256


def make_stack():
    rng = np.random.default_rng(0)
    psf = peers._psf3d()
    z = np.arange(DEPTH, dtype=np.float32)[:, None, None]
    truth = peers._mosaic(SIZE)[None] * np.exp(-0.5 * ((z - DEPTH / 2) / 8.0) ** 2)
    truth = (truth * peers.PEAK_PHOTONS + peers.BACKGROUND).astype(np.float32)
    noisy = rng.poisson(np.clip(peers._blur(truth, psf), 0, None)).astype(np.float32)
    return truth, noisy, psf


def centred_kernel(psf: np.ndarray, shape) -> np.ndarray:
    """The PSF zero-padded to ``shape`` with its centre voxel at index 0 of every axis."""
    kernel = np.zeros(shape, np.float32)
    kernel[tuple(slice(0, n) for n in psf.shape)] = psf / psf.sum()
    return np.roll(kernel, [-(n // 2) for n in psf.shape], axis=tuple(range(psf.ndim)))


def periodic_rl(data: np.ndarray, psf: np.ndarray, iterations: int, flat_start: bool = False
                ) -> np.ndarray:
    kernel = centred_kernel(psf, data.shape)
    mirrored = np.roll(np.flip(kernel), 1, axis=tuple(range(data.ndim)))  # psf[-i mod N]
    otf, otf_mirrored = scipy.fft.rfftn(kernel), scipy.fft.rfftn(mirrored)
    estimate = np.full_like(data, data.mean()) if flat_start else data.copy()
    for _ in range(iterations):
        predicted = scipy.fft.irfftn(scipy.fft.rfftn(estimate) * otf, data.shape)
        ratio = data / np.maximum(predicted, 1e-14)
        estimate *= scipy.fft.irfftn(scipy.fft.rfftn(ratio) * otf_mirrored, data.shape)
    return estimate


def mirror_padded_rl(data: np.ndarray, psf: np.ndarray, iterations: int, flat_start: bool = False
                     ) -> np.ndarray:
    pad = [(n // 2, n // 2) for n in psf.shape]
    restored = periodic_rl(np.pad(data, pad, mode="symmetric"), psf, iterations, flat_start)
    return restored[tuple(slice(a, -a) for a, _ in pad)]


def scores(output: np.ndarray, truth: np.ndarray, psf_shape) -> dict:
    a, b = np.polyfit(output.ravel()[::7], truth.ravel()[::7], 1)
    fitted = a * output + b
    data_range = float(truth.max() - truth.min())
    inner = tuple(slice(n // 2 + 1, -(n // 2 + 1)) for n in psf_shape)

    def psnr(x, y):
        return round(float(10 * np.log10(data_range**2 / np.mean((x - y) ** 2))), 2)

    return {"psnr_whole": psnr(fitted, truth), "psnr_inner": psnr(fitted[inner], truth[inner])}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=HERE / "results" / "rl_boundary.json")
    args = p.parse_args(argv)
    from RedLionfishDeconv import RLDeconv3DScipy
    from RedLionfishDeconv.helperfunctions import change3DSizeTo, circulify3D

    from napari_microdeblur.core.inference import deblur

    truth, noisy, psf = make_stack()
    circular = circulify3D(change3DSizeTo(psf / psf.sum(), noisy.shape))
    outputs = {
        "redlionfish": RLDeconv3DScipy.doRLDeconvolution_DL2_4(noisy, psf, niter=ITERATIONS),
        "periodic_centred": periodic_rl(noisy, psf, ITERATIONS),
        "mirror_padded_centred": mirror_padded_rl(noisy, psf, ITERATIONS),
        "mirror_padded_centred_flat_start": mirror_padded_rl(noisy, psf, ITERATIONS, True),
        "ours": np.asarray(deblur(noisy, method="richardson_lucy", psf=psf,
                                  iterations=ITERATIONS, axes="ZYX", device="cpu")),
    }
    result = {
        "command": "python benchmarks/rl_boundary.py " + " ".join(sys.argv[1:]),
        "stack": f"{DEPTH} x {SIZE} x {SIZE}, PSF {' x '.join(map(str, psf.shape))}",
        "iterations": ITERATIONS,
        "redlionfish_psf_peak_index": [int(i) - n for i, n in zip(
            np.unravel_index(np.argmax(circular), circular.shape), circular.shape)],
        "scores": {name: scores(out, truth, psf.shape) for name, out in outputs.items()},
    }
    for name, s in result["scores"].items():
        print(f"{name:<34} whole {s['psnr_whole']:6.2f} dB   inner {s['psnr_inner']:6.2f} dB")
    print("RedLionfish's circulified PSF peaks at index", result["redlionfish_psf_peak_index"])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
