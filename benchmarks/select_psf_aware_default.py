"""The rule that decides whether a PSF-aware candidate replaces the default (issue 13).

Fixed on 2026-12-02 before the candidates it first judged (psf_gfit2, psf_gfit3 and their
soups) had been scored; last session's psf_gfit1 numbers had been seen. It weighs both kinds of
validation data the project may choose on, each scored through ``deblur`` at the default
settings, as users run it:

* the synthetic validation planes: ``psf_aware_select.py ... --as-deblur --json S.json``
  (54 cases, eight PSF classes, the exact PSF given);
* real defocus with a fitted PSF: ``real_defocus_validation.py --weights W --json R.json``
  (the DFNN microtubule planes, one Gaussian fitted per side of focus, default noise scale).

A candidate is eligible when, against the default,

1. on real defocus its mean PSNR is at least ``REAL_MIN_GAIN_DB`` higher and it is below the
   input on fewer planes (on none if the default is on none): the trade is only worth making
   for a clear gain there;
2. on the synthetic planes its mean is at most ``SYNTHETIC_MAX_MEAN_DROP_DB`` lower, no class
   loses more than ``MAX_CLASS_DROP_DB`` and no more cases fall below the input.

Among eligible candidates the one with the highest real-defocus mean wins; with none eligible
the default stays.

A second route, added on 2026-12-02 before any candidate was judged by it (it was meant for a
refinement stage on top of psf_v4, whose run was stopped when its own validation showed no
gain): a candidate that improves the synthetic planes without a trade is eligible
when its synthetic mean is at least ``SYNTHETIC_MIN_GAIN_DB`` higher, no class loses more than
``SYNTHETIC_ROUTE_MAX_CLASS_DROP_DB``, no more cases fall below the input, and on real defocus
its mean is at most ``REAL_MAX_DROP_DB`` lower with no more planes below the input. Such a
candidate wins only where no candidate is eligible by the first route; among several, the
highest synthetic mean wins.

    python benchmarks/select_psf_aware_default.py --synthetic S.json \
        --real wiener_unet.psf_v4=R0.json runs/w.safetensors=R1.json --json OUT.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402
from psf_aware_select import MAX_CLASS_DROP_DB  # noqa: E402

REAL_MIN_GAIN_DB = 0.5
SYNTHETIC_MAX_MEAN_DROP_DB = 0.10
SYNTHETIC_MIN_GAIN_DB = 0.10
SYNTHETIC_ROUTE_MAX_CLASS_DROP_DB = 0.10
REAL_MAX_DROP_DB = 0.10
DEFAULT_SCALE_KEY = "psf_aware_noise_scale_1"
SUMMARY_KEYS = ("mean", "cases below input")  # a psf_aware_select row's keys that are no class


def _differences(default: str, spec: str, synthetic: dict, real: dict) -> dict:
    """What both routes look at: ``spec`` against the default."""
    base_s, row_s = synthetic[default], synthetic[spec]
    base_r, row_r = real[default][DEFAULT_SCALE_KEY], real[spec][DEFAULT_SCALE_KEY]
    return {
        "gain_real": row_r["psnr"] - base_r["psnr"],
        "below": row_r["below_input"], "base_below": base_r["below_input"],
        "gain_synthetic": row_s["mean"] - base_s["mean"],
        "worst": max((base_s[c] - row_s[c], c) for c in base_s if c not in SUMMARY_KEYS),
        "cases_below": row_s["cases below input"],
        "base_cases_below": base_s["cases below input"],
    }


def _planes_below(d: dict) -> str:
    return f"real defocus below the input on {d['below']} planes (default {d['base_below']})"


def _class_and_cases_fails(d: dict, max_class_drop: float) -> list[str]:
    """The synthetic checks both routes make: the worst class, the cases below the input."""
    fails = []
    if d["worst"][0] > max_class_drop:
        fails.append(f"synthetic {d['worst'][1]} -{d['worst'][0]:.2f} dB "
                     f"(at most -{max_class_drop})")
    if d["cases_below"] > d["base_cases_below"]:
        fails.append(f"synthetic cases below the input {d['cases_below']} "
                     f"(default {d['base_cases_below']})")
    return fails


def _real_route_fails(d: dict) -> list[str]:
    fails = []
    if d["gain_real"] < REAL_MIN_GAIN_DB:
        fails.append(f"real defocus {d['gain_real']:+.2f} dB (needs +{REAL_MIN_GAIN_DB})")
    if not (d["below"] < d["base_below"] or d["below"] == d["base_below"] == 0):
        fails.append(_planes_below(d))
    if -d["gain_synthetic"] > SYNTHETIC_MAX_MEAN_DROP_DB:
        fails.append(f"synthetic mean {d['gain_synthetic']:+.3f} dB "
                     f"(at most -{SYNTHETIC_MAX_MEAN_DROP_DB})")
    return fails + _class_and_cases_fails(d, MAX_CLASS_DROP_DB)


def _synthetic_route_fails(d: dict) -> list[str]:
    fails = []
    if d["gain_synthetic"] < SYNTHETIC_MIN_GAIN_DB:
        fails.append(f"synthetic mean {d['gain_synthetic']:+.3f} dB "
                     f"(needs +{SYNTHETIC_MIN_GAIN_DB})")
    fails += _class_and_cases_fails(d, SYNTHETIC_ROUTE_MAX_CLASS_DROP_DB)
    if -d["gain_real"] > REAL_MAX_DROP_DB:
        fails.append(f"real defocus {d['gain_real']:+.2f} dB (at most -{REAL_MAX_DROP_DB})")
    if d["below"] > d["base_below"]:
        fails.append(_planes_below(d))
    return fails


def verdict(default: str, synthetic: dict, real: dict) -> tuple[str, dict]:
    """(the winner, the reasons per candidate: empty where eligible by either route).
    ``synthetic`` maps a candidate to its psf_aware_select row, ``real`` to its
    real_defocus_validation summary; the default is in both."""
    reasons, by_real, by_synthetic = {}, [], []
    for spec in synthetic:
        if spec in (default, "input"):
            continue
        if spec not in real:
            reasons[spec] = ["no real-defocus validation"]
            continue
        d = _differences(default, spec, synthetic, real)
        fails, synthetic_fails = _real_route_fails(d), _synthetic_route_fails(d)
        if not fails:
            by_real.append(spec)
        elif not synthetic_fails:
            by_synthetic.append(spec)
        reasons[spec] = [] if not fails or not synthetic_fails else (
            [f"real-defocus route: {f}" for f in fails]
            + [f"synthetic route: {f}" for f in synthetic_fails])
    if by_real:
        return max(by_real, key=lambda s: real[s][DEFAULT_SCALE_KEY]["psnr"]), reasons
    return max(by_synthetic, key=lambda s: synthetic[s]["mean"], default=default), reasons


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--synthetic", type=Path, required=True,
                   help="psf_aware_select.py --as-deblur JSON; its first candidate is the default")
    p.add_argument("--real", nargs="+", required=True, metavar="CANDIDATE=JSON",
                   help="real_defocus_validation.py JSON of each candidate, the default included")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    s = json.loads(args.synthetic.read_text())
    if s.get("scored") != "through deblur":
        raise SystemExit(f"{args.synthetic} scores the bare network call: rerun "
                         "psf_aware_select.py with --as-deblur")
    rows = {k: v for k, v in s["rows"].items() if k != "input"}
    default = next(iter(rows))
    real = {}
    for item in args.real:
        spec, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"--real {item!r}: give CANDIDATE=JSON")
        real[spec] = json.loads(Path(path).read_text())["summary"]
    if default not in real:
        raise SystemExit(f"--real has no real-defocus validation of the default {default}")
    best, reasons = verdict(default, rows, real)
    for spec, fails in reasons.items():
        r = real.get(spec, {}).get(DEFAULT_SCALE_KEY, {}).get("psnr", float("nan"))
        print(f"{spec}: synthetic {rows[spec]['mean']:.3f} dB, real {r:.2f} dB; "
              f"{'eligible' if not fails else '; '.join(fails)}")
    print(f"default {default}: synthetic {rows[default]['mean']:.3f} dB, real "
          f"{real[default][DEFAULT_SCALE_KEY]['psnr']:.2f} dB\nwinner: {best}")
    if args.json:
        args.json.write_text(json.dumps({
            "provenance": provenance.record(),
            "rule": " ".join(__doc__.split("\n\n")[3:7]).replace("\n", " "),
            "thresholds": {"real_min_gain_db": REAL_MIN_GAIN_DB,
                           "synthetic_max_mean_drop_db": SYNTHETIC_MAX_MEAN_DROP_DB,
                           "max_class_drop_db": MAX_CLASS_DROP_DB,
                           "synthetic_route_min_gain_db": SYNTHETIC_MIN_GAIN_DB,
                           "synthetic_route_max_class_drop_db": SYNTHETIC_ROUTE_MAX_CLASS_DROP_DB,
                           "synthetic_route_real_max_drop_db": REAL_MAX_DROP_DB},
            "default": default, "reasons": reasons, "winner": best}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
