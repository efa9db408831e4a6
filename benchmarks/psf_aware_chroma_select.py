"""How much more the PSF-aware network regularises the chroma channels of an RGB image
(``psf_aware.CHROMA_NOISE_SCALE``: their noise level is the shared estimate times this).

RGB runs as luminance and two chroma channels (``psf_aware.OPPONENT``). In a stained sample the
chroma channels hold far less signal than the luminance at every frequency, and a Wiener filter
regularises a channel with less signal more for the same noise; the network, trained on
grayscale images, is told the same level for all three.

Chosen on validation data only, the Kather 2016 H&E tiles of the *training* split that chose
the opponent space (``psf_aware_colour.py``: 16 tiles of 150 px, protocols A, B and C, one seed
per tile), through ``deblur`` with the default PSF-aware weights, given the true PSF and with
the PSF estimated from the image (what the brightfield default runs). The rule, set after a
first look at these numbers: a scale is eligible if it raises the mean PSNR under every
protocol, both ways; the eligible scale with the best mean over the six is chosen, else 1.
Outside the rule, and reported beside it: the BCCD blood-smear training-split crops that
generalization.py tunes its baselines on, under each of its degradations (true PSF).

    python benchmarks/psf_aware_chroma_select.py [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generalization  # noqa: E402
import provenance  # noqa: E402
import psf_aware_colour  # noqa: E402
import splits  # noqa: E402

from napari_microdeblur.core.degrade import PROTOCOLS, degrade, protocol_psf  # noqa: E402
from napari_microdeblur.core.metrics import evaluate  # noqa: E402
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE  # noqa: E402

SCALES = (1.0, 1.15, 1.3, 1.5)
WAYS = {"true PSF": True, "PSF estimated": False}


def kather_rows() -> dict:
    """{protocol: {way: {scale: mean PSNR}}} on the Kather training-split tiles."""
    tiles = splits.files("hist", "histology_kather2016", "train")
    refs = [splits.load(t, rgb=True).astype(np.float32) / 255 for t in tiles]
    rows = {}
    for protocol in PROTOCOLS:
        psf = protocol_psf(protocol)
        scores = {way: {s: [] for s in SCALES} for way in WAYS}
        for seed, ref in enumerate(refs):
            blurred = degrade(ref, protocol, seed=seed, channel_axis=-1)
            for way, given in WAYS.items():
                for s in SCALES:
                    out = psf_aware_colour.run(blurred, psf if given else None, "YXS",
                                               {"CHROMA_NOISE_SCALE": s})
                    scores[way][s].append(evaluate(out, ref, channel_axis=-1)["psnr"])
        rows[protocol] = {way: {str(s): float(np.mean(v)) for s, v in by.items()}
                          for way, by in scores.items()}
        print(protocol, json.dumps(rows[protocol]), flush=True)
    return rows


def bccd_rows() -> dict:
    """{degradation: {scale: mean border-excluded PSNR}} on the BCCD training-split crops."""
    G = generalization
    crops = G.training_crops(G.HELD_OUT["brightfield"])
    rows = {}
    for name in ("A", "B", "C", *G.HELD_OUT_OPTICS):
        psf = G.row_psf(name)
        pairs = G.tuning_pairs(crops, name, psf, True)
        rows[name] = {str(s): float(np.mean([evaluate(
            psf_aware_colour.run(b, psf, "YXS", {"CHROMA_NOISE_SCALE": s}), ref,
            border=G.BORDER, channel_axis=-1)["psnr"] for b, ref in pairs])) for s in SCALES}
    return rows


def choose(rows: dict) -> tuple[float, dict]:
    """(the chosen scale, {scale: why not} for those not eligible) by the rule above."""
    gains = {s: [rows[p][w][str(s)] - rows[p][w]["1.0"] for p in rows for w in WAYS]
             for s in SCALES[1:]}
    why = {s: f"{min(g):+.3f} dB under one protocol" for s, g in gains.items() if min(g) <= 0}
    eligible = [s for s in gains if s not in why]
    return max(eligible, key=lambda s: np.mean(gains[s]), default=1.0), why


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=HERE / "results" /
                   "psf_aware_chroma_select.json")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    kather = kather_rows()
    chosen, why = choose(kather)
    bccd = bccd_rows()
    for name, row in bccd.items():
        print(f"BCCD {name}: " + ", ".join(f"x{s} {v - row['1.0']:+.3f}" for s, v in row.items()))
    print(f"chosen: CHROMA_NOISE_SCALE = {chosen}; not eligible: {why or 'none'}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "provenance": provenance.record(), "weights": DEFAULT_PSF_AWARE,
        "what": __doc__.split("\n\n")[0].replace("\n", " "),
        "kather_training_tiles": kather, "not_eligible": {str(k): v for k, v in why.items()},
        "chosen_scale": chosen, "bccd_training_split_crops": bccd,
        "minutes": round((time.perf_counter() - t0) / 60, 1),
    }, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
