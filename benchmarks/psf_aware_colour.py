"""How the PSF-aware network runs RGB: channel by channel, or in an opponent colour space.

Chosen on validation data only: the Kather 2016 H&E tiles of the *training* split (two per
tissue class, 16 tiles of 150 px; never a benchmark test image), each degraded by protocols
A, B and C (one seed per tile), deblurred through ``deblur`` with the default PSF-aware weights
given the true PSF. Candidates:

- ``channel by channel``: the image given with a C axis (``axes='YXC'``), what RGB ran as before;
- ``opponent``: the image given as RGB (``axes='YXS'``), ``psf_aware.OPPONENT`` with the
  luminance scaled to the mean of R, G and B (``OPPONENT_GAIN``);
- ``opponent, luminance unscaled``: the same with ``OPPONENT_GAIN = 1`` (the orthonormal mix as
  it is: the luminance spans 0 to sqrt(3) in model units);
- ``opponent, noise level per channel``: each opponent channel with its own noise estimate
  (``SHARE_NOISE_LEVEL = False``) instead of the lowest of the three.

Each candidate is also run as the brightfield blind default runs it, given no PSF (``PSF
estimated``: the PSF estimated from the image). Scores: border-excluded PSNR / SSIM (16 px) by
``metrics.evaluate``, means per protocol. Speed: seconds for a 1024 x 1024 RGB mosaic of the
tiles under protocol A, each way (best of two).

    python benchmarks/psf_aware_colour.py [--json benchmarks/results/psf_aware_colour.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import warnings
from pathlib import Path
from unittest import mock

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import provenance  # noqa: E402
import splits  # noqa: E402

from napari_microdeblur.core import psf_aware  # noqa: E402
from napari_microdeblur.core.degrade import PROTOCOLS, degrade, protocol_psf  # noqa: E402
from napari_microdeblur.core.inference import deblur  # noqa: E402
from napari_microdeblur.core.method import MethodSpec  # noqa: E402
from napari_microdeblur.core.metrics import evaluate  # noqa: E402

#: name -> (axes, changes to core.psf_aware's settings for that run)
CANDIDATES = {
    "channel by channel": ("YXC", {}),
    "opponent": ("YXS", {}),
    "opponent, luminance unscaled": ("YXS", {"OPPONENT_GAIN": 1.0}),
    "opponent, noise level per channel": ("YXS", {"SHARE_NOISE_LEVEL": False}),
}


def run(blurred: np.ndarray, psf, axes: str, settings: dict) -> np.ndarray:
    """The PSF-aware network given ``psf``; ``psf=None``: what ``auto`` runs on a brightfield
    image given no PSF (the same network with the PSF estimated from the image)."""
    spec = (MethodSpec("auto", psf=psf) if psf is not None
            else MethodSpec("auto", modality="brightfield"))
    patched = mock.patch.multiple(psf_aware, **settings) if settings else contextlib.nullcontext()
    with patched, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return deblur(blurred, method=spec, axes=axes, device="cpu")


def seconds(refs: list, psf: np.ndarray) -> dict:
    """Best of two wall times per candidate on a 1024 x 1024 RGB mosaic of the tiles."""
    side = 1024
    n = -(-side // refs[0].shape[0])
    rows = [np.concatenate([refs[(i * n + j) % len(refs)] for j in range(n)], axis=1)
            for i in range(n)]
    mosaic = degrade(np.concatenate(rows, axis=0)[:side, :side], "A", seed=0, channel_axis=-1)
    times = {}
    for name, (axes, settings) in list(CANDIDATES.items())[:2]:
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            run(mosaic, psf, axes, settings)
            best = min(best, time.perf_counter() - start)
        times[name] = round(best, 2)
    return times


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=HERE / "results" / "psf_aware_colour.json")
    args = p.parse_args(argv)
    started = time.time()
    tiles = splits.files("hist", "histology_kather2016", "train")
    refs = [splits.load(t, rgb=True).astype(np.float32) / 255 for t in tiles]
    rows = {}
    for protocol in PROTOCOLS:
        psf = protocol_psf(protocol)
        per = {"input": []} | {name: [] for name in CANDIDATES}
        for seed, ref in enumerate(refs):
            blurred = degrade(ref, protocol, seed=seed, channel_axis=-1)
            per["input"].append(evaluate(blurred, ref, channel_axis=-1))
            for name, (axes, settings) in CANDIDATES.items():
                per[name].append(evaluate(run(blurred, psf, axes, settings), ref,
                                          channel_axis=-1))
                per.setdefault(f"{name}, PSF estimated", []).append(evaluate(
                    run(blurred, None, axes, settings), ref, channel_axis=-1))
        rows[protocol] = {
            name: {"psnr": float(np.mean([s["psnr"] for s in scores])),
                   "ssim": float(np.mean([s["ssim"] for s in scores])),
                   "psnr_per_tile": [round(s["psnr"], 3) for s in scores]}
            for name, scores in per.items()}
        line = ", ".join(f"{k} {v['psnr']:.3f} / {v['ssim']:.4f}"
                         for k, v in rows[protocol].items())
        print(f"{protocol}: {line}", flush=True)
    result = {
        "provenance": provenance.record(),
        "results": {
            "data": f"{len(tiles)} Kather 2016 H&E training-split tiles (150 px), RGB / 255",
            "weights": psf_aware.DEFAULT_PSF_AWARE,
            "scores": "border-excluded (16 px) PSNR dB / SSIM, mean over tiles",
            "rows": rows,
            "seconds_1024_rgb": seconds(refs, protocol_psf("A")),
            "minutes": round((time.time() - started) / 60, 2),
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
