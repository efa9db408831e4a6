"""Real defocus for *validation*: the light-sheet microtubule focus stack (issue 13).

The DFNN light-sheet set's PROVENANCE suggests its microtubule stack for training and the
mitochondria for testing; the cross-dataset benchmark scores the mitochondria shots, so the
microtubule stack is where settings of the PSF-aware method for real defocus may be chosen.
Each side of focus (planes 36, 41, 46 and 56, 61, 66 against the in-focus plane 51, 0.25-0.75
um away) gets one Gaussian PSF fitted on its three planes against plane 51 (what a user with a
fitted PSF has), and every plane is deblurred by the PSF-aware default at each noise scale of
the benchmark and by the blind fluorescence default. Scores as the benchmark's real rows:
percentile-normalised, affine-fitted to the reference, PSNR / SSIM.

    python benchmarks/real_defocus_validation.py --json \
        benchmarks/results/real_defocus_validation.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import generalization as G  # noqa: E402
import provenance  # noqa: E402

from napari_microdeblur.core.bundled import default_for_modality  # noqa: E402
from napari_microdeblur.core.psf import gaussian_psf  # noqa: E402
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE  # noqa: E402

STACK = G.SHARED / "focus_stack_lightsheet_dfnn" / "microtubules_cell11_stack"
IN_FOCUS = 51
SIDES = {"below focus": (36, 41, 46), "above focus": (56, 61, 66)}


def planes() -> dict[int, np.ndarray]:
    import tifffile

    if not STACK.is_dir():
        raise SystemExit(f"{STACK} is missing (../shared/data)")
    return {int(f.stem[-2:]): tifffile.imread(f).astype(np.float32)
            for f in sorted(STACK.glob("*.tif"))}


def side_rows(stack: dict, zs: tuple, weights: str) -> tuple[float, list[dict]]:
    ref = stack[IN_FOCUS]
    pairs = [(stack[z], ref) for z in zs]
    sigma = G.fit_gaussian_sigma(pairs)
    psf = gaussian_psf(sigma)
    blind = default_for_modality("fluorescence", False)
    rows = []
    for (blurred, _), z in zip(pairs, zs):
        row = {"plane": z, "input": G.real_score(blurred, ref),
               "blind": G.real_score(G.run(blind, blurred, None, "YX"), ref)}
        for scale in G.NOISE_SCALES:
            out = G.run("psf_aware", blurred, psf, "YX", value=scale, psf_aware=weights)
            row[f"psf_aware_noise_scale_{scale:g}"] = G.real_score(out, ref)
        rows.append(row)
        print(z, {k: round(v["psnr"], 2) for k, v in row.items() if isinstance(v, dict)},
              flush=True)
    return sigma, rows


def summary(rows: list[dict]) -> dict:
    methods = [k for k in rows[0] if k != "plane"]
    out = {}
    for m in methods:
        psnrs = np.array([r[m]["psnr"] for r in rows])
        inputs = np.array([r["input"]["psnr"] for r in rows])
        out[m] = {"psnr": float(psnrs.mean()),
                  "ssim": float(np.mean([r[m]["ssim"] for r in rows])),
                  "below_input": int((psnrs < inputs).sum()) if m != "input" else 0}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=DEFAULT_PSF_AWARE)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    stack = planes()
    sides = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the estimate and safeguard lines of every call
        for name, zs in SIDES.items():
            sigma, rows = side_rows(stack, zs, args.weights)
            sides[name] = {"planes": list(zs), "gaussian_sigma": sigma, "rows": rows}
    every = [r for s in sides.values() for r in s["rows"]]
    result = {
        "provenance": provenance.record(), "weights": args.weights,
        "what": __doc__.split("\n\n")[1].replace("\n", " "),
        "sides": sides, "summary": summary(every),
        "minutes": round((time.perf_counter() - t0) / 60, 1),
    }
    for m, v in result["summary"].items():
        print(f"{m:32s} {v['psnr']:.2f} dB / {v['ssim']:.3f}, below the input on "
              f"{v['below_input']} of {len(every)}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
