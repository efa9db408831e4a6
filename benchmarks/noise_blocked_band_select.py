"""Whether the PSF-aware network's noise estimate is checked against the frequencies the PSF
blocks (``wiener_unet.BLOCKED_OTF``), and at which threshold.

The diagonal Haar band that ``noise_sigma`` measures holds the noise, but in a textured image
(EM above all) also detail and the sample's own noise, both blurred: on the EM sets'
training-split crops under protocol A it read 1.06-1.18 x the noise added, and the network
scored 0.04-0.11 dB higher when told a lower level. Where the PSF passes almost nothing, a
blurred image holds only the noise added after the blur; the check scales the estimate down to
the level measured there, never up.

Each threshold is judged against no check (the estimate since noise_estimate_select.py) by the
rule that decides the PSF-aware default (``select_psf_aware_default.verdict``), on the same
validation data: the 54 synthetic validation cases and the DFNN microtubule real-defocus planes,
through ``deblur`` with the default PSF-aware weights; no benchmark test image is used. Not
part of the rule, and reported beside it: the cross-dataset sets' training-split crops that
generalization.py tunes its baselines on, under each of its degradations (true PSF).

    python benchmarks/noise_blocked_band_select.py [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import generalization  # noqa: E402
import provenance  # noqa: E402
from noise_estimate_select import candidate_lines, judge  # noqa: E402

from napari_microdeblur.core.archs import wiener_unet  # noqa: E402
from napari_microdeblur.core.metrics import evaluate  # noqa: E402
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE  # noqa: E402

NONE = "no blocked-band check"
THRESHOLDS = (0.001, 0.01, 0.05)


def label(threshold: float | None) -> str:
    return NONE if threshold is None else f"blocked band |OTF| < {threshold:g}"


def training_split_crops(threshold: float | None) -> dict:
    """{modality: {degradation: mean border-excluded PSNR}} of the default PSF-aware weights
    on the cross-dataset sets' training-split crops (generalization.py's tuning pairs)."""
    G = generalization
    saved, wiener_unet.BLOCKED_OTF = wiener_unet.BLOCKED_OTF, threshold
    try:
        out = {}
        for modality, cfg in G.HELD_OUT.items():
            rgb = cfg.get("rgb", False)
            crops = G.training_crops(cfg)
            out[modality] = {}
            for name in ("A", "B", "C", *G.HELD_OUT_OPTICS):
                psf = G.row_psf(name)
                scores = [evaluate(G.run("psf_aware", b, psf, "YXS" if rgb else "YX",
                                         psf_aware=DEFAULT_PSF_AWARE), s, border=G.BORDER,
                                   channel_axis=-1 if rgb else None)["psnr"]
                          for b, s in G.tuning_pairs(crops, name, psf, rgb)]
                out[modality][name] = float(sum(scores) / len(scores))
    finally:
        wiener_unet.BLOCKED_OTF = saved
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=Path(__file__).parent / "results" /
                   "noise_blocked_band_select.json")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    candidates = {label(t): t for t in (None, *THRESHOLDS)}
    synthetic, real, winner, reasons = judge(
        {name: {"BLOCKED_OTF": t} for name, t in candidates.items()}, NONE)
    crops = {name: training_split_crops(t) for name, t in candidates.items()}
    lines = candidate_lines(NONE, synthetic, real, reasons) + [
        f"{name}, cross-dataset training-split crops against no check: " + "; ".join(
            f"{m} " + ", ".join(f"{d} {v - crops[NONE][m][d]:+.3f}" for d, v in row.items())
            for m, row in crops[name].items())
        for name in candidates if name != NONE]
    print("\n".join(lines) + f"\nchosen: {winner} (BLOCKED_OTF = {candidates[winner]})")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "provenance": provenance.record(), "weights": DEFAULT_PSF_AWARE,
        "what": __doc__.split("\n\n")[0].replace("\n", " "),
        "synthetic": synthetic, "real": real, "reasons": reasons,
        "cross_dataset_training_split_crops": crops,
        "chosen_threshold": candidates[winner],
        "minutes": round((time.perf_counter() - t0) / 60, 1),
    }, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
