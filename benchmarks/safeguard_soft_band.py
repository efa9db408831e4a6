"""The PSF safeguard's tile switch, all-or-nothing against the soft band (issue 13 / 14).

A tile whose correction at frequencies the PSF blocks holds more than the limit times the
input's energy there (``core.psf_safeguard``) used to be replaced whole by a conservative
Wiener; with the soft band it keeps a share of the network's result that falls from 1 at the
limit to 0 at ``SOFT_BAND`` x the limit. Where it matters: tiles just over the limit, which a
PSF-aware network run below its default noise scale produces on ssTEM. Scored on the first
--images training crops of each --set (never a test split), protocol A with its true PSF,
PSNR per image for the network unguarded ("none"), the switch ("hard", SOFT_BAND = 1) and the
soft band ("soft", the shipped SOFT_BAND).

  python benchmarks/safeguard_soft_band.py --json benchmarks/results/safeguard_soft_band.json
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402
from finetune_recipes import crop01, training_images  # noqa: E402

from napari_microdeblur.core import psf_safeguard  # noqa: E402
from napari_microdeblur.core.checkpoint import load_model  # noqa: E402
from napari_microdeblur.core.degrade import degrade01  # noqa: E402
from napari_microdeblur.core.inference import deblur  # noqa: E402
from napari_microdeblur.core.metrics import psnr  # noqa: E402
from napari_microdeblur.core.psf_aware import psf_aware_method  # noqa: E402

SETS = "em_isbi2012_drosophila_vnc_sstem,em_drosophila_vnc_sstem_gerhard2013"
SHIPPED_BAND = psf_safeguard.SOFT_BAND


def scores(model, card, blurry, sharp, scale: float, mode: str) -> list[float]:
    """PSNR of each image deblurred with the safeguard off ("none"), all-or-nothing ("hard")
    or with the shipped soft band ("soft")."""
    psf_safeguard.SOFT_BAND = 1.0 if mode == "hard" else SHIPPED_BAND
    method = psf_aware_method(model, "gaussian:1.6", card, noise_scale=scale,
                              safeguard=mode != "none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fallback's warning line, once per image
        out = [np.clip(deblur(b, method=method, device="cpu"), 0, 1) for b in blurry]
    psf_safeguard.SOFT_BAND = SHIPPED_BAND
    return [round(psnr(o, s, data_range=1.0), 3) for o, s in zip(out, sharp, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="wiener_unet.psf_v4")
    parser.add_argument("--sets", default=SETS, help="comma-separated; training splits")
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--crop", type=int, default=512)
    parser.add_argument("--scales", default="0.3,0.35,0.4,0.45,1",
                        help="noise scales the network runs at")
    parser.add_argument("--json")
    args = parser.parse_args()
    model, card = load_model(args.base)
    rows = []
    for set_name in args.sets.split(","):
        sharp = [crop01(p, args.crop) for p in training_images(set_name)[: args.images]]
        blurry = [degrade01(s, "A", seed=i) for i, s in enumerate(sharp)]
        for scale in map(float, args.scales.split(",")):
            row = {"set": set_name, "noise_scale": scale, "images": len(sharp)}
            for mode in ("none", "hard", "soft"):
                row[mode] = scores(model, card, blurry, sharp, scale, mode)
                row[f"{mode}_mean"] = round(float(np.mean(row[mode])), 3)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| set | noise scale | none | hard switch | soft band | images soft < hard |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        worse = sum(s < h - 1e-3 for s, h in zip(r["soft"], r["hard"], strict=True))
        print(f"| {r['set']} | {r['noise_scale']:g} | {r['none_mean']:.2f} | "
              f"{r['hard_mean']:.2f} | {r['soft_mean']:.2f} | {worse} of {r['images']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "command": "python benchmarks/safeguard_soft_band.py " + " ".join(sys.argv[1:]),
            "args": vars(args), "soft_band": SHIPPED_BAND, "provenance": provenance.record(),
            "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
