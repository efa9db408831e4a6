"""Which noise estimate the PSF-aware network is given: the whole-image median of the diagonal
Haar band (how wiener_unet.psf_v1 to psf_v4 were trained) or the larger of that and the median
over the image's brightest 2 x 2 blocks (``wiener_unet.BRIGHT_QUANTILE``). Shot noise grows
with brightness, and a fluorescence image that is mostly dark background gives a whole-image
median far below the noise of its bright structures.

Every candidate quantile is judged against the whole-image median by the rule that decides the
PSF-aware default (``select_psf_aware_default.verdict``: at least +0.5 dB on the DFNN
microtubule real-defocus planes and below the input on fewer of them; on the 54 synthetic
validation cases at most 0.10 dB lower on the mean, 0.3 dB on any class, no more cases below
the input). Both validations run through ``deblur`` with the default PSF-aware weights; no
benchmark test image is used.

    python benchmarks/noise_estimate_select.py [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402
import psf_aware_select  # noqa: E402
import real_defocus_validation  # noqa: E402
from select_psf_aware_default import DEFAULT_SCALE_KEY, verdict  # noqa: E402

from napari_microdeblur.core.archs import wiener_unet  # noqa: E402
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE  # noqa: E402

WHOLE = "whole-image median"
QUANTILES = (0.5, 0.75, 0.9, 0.95, 0.98, 0.99)


def label(quantile: float | None) -> str:
    return WHOLE if quantile is None else f"brightest blocks above the {quantile:g} quantile"


def scores(settings: dict, folder: Path) -> tuple[dict, dict]:
    """(synthetic row, real-defocus summary) of the default weights given the noise estimate
    that ``settings`` ({name: value} of wiener_unet's module settings) make."""
    saved = {name: getattr(wiener_unet, name) for name in settings}
    for name, value in settings.items():
        setattr(wiener_unet, name, value)
    try:
        s, r = folder / "synthetic.json", folder / "real.json"
        psf_aware_select.main([DEFAULT_PSF_AWARE, "--as-deblur", "--json", str(s)])
        real_defocus_validation.main(["--json", str(r)])
    finally:
        for name, value in saved.items():
            setattr(wiener_unet, name, value)
    return (json.loads(s.read_text())["rows"][DEFAULT_PSF_AWARE],
            json.loads(r.read_text())["summary"])


def judge(candidates: dict[str, dict], default: str) -> tuple[dict, dict, str, dict]:
    """(synthetic rows, real-defocus summaries, the winner, the reasons per candidate) of the
    candidates ({label: wiener_unet settings}) by the rule, ``default`` the one to beat."""
    synthetic, real = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, settings in candidates.items():
            synthetic[name], real[name] = scores(settings, Path(tmp))
    return synthetic, real, *verdict(default, synthetic, real)


def candidate_lines(default: str, synthetic: dict, real: dict, reasons: dict) -> list[str]:
    """One line per candidate: its validation figures and the rule's verdict on it."""
    lines = []
    for name in synthetic:
        r = real[name][DEFAULT_SCALE_KEY]
        verdict_text = ("the default" if name == default else
                        "eligible" if not reasons[name] else "; ".join(reasons[name]))
        lines.append(f"{name}: synthetic {synthetic[name]['mean']:.3f} dB "
                     f"({synthetic[name]['cases below input']} cases below the input), real "
                     f"{r['psnr']:.2f} dB ({r['below_input']} planes below the input); "
                     f"{verdict_text}")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=Path(__file__).parent / "results" /
                   "noise_estimate_select.json")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    quantiles = {label(q): q for q in (None, *QUANTILES)}
    # as chosen then: before the blocked-band check existed
    synthetic, real, winner, reasons = judge(
        {name: {"BRIGHT_QUANTILE": q, "BLOCKED_OTF": None} for name, q in quantiles.items()},
        WHOLE)
    chosen = quantiles[winner]
    lines = candidate_lines(WHOLE, synthetic, real, reasons)
    print("\n".join(lines) + f"\nchosen: {label(chosen)} (BRIGHT_QUANTILE = {chosen})")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "provenance": provenance.record(), "weights": DEFAULT_PSF_AWARE,
        "what": __doc__.split("\n\n")[0].replace("\n", " "),
        "synthetic": synthetic, "real": real, "reasons": reasons,
        "chosen_quantile": chosen, "minutes": round((time.perf_counter() - t0) / 60, 1),
    }, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
