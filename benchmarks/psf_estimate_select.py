"""Is a PSF estimated from the image (``core.psf_estimate``) good enough to give the PSF-aware
network? Measured on validation data only, never on a benchmark test set.

The planes are the ones ``scripts/train_psf_aware.py`` sets aside for validation (training
splits, never trained on), as 384 px centre crops scaled to [0, 1], each blurred by protocols A,
B and C of docs/evaluation.md (seeded) and, with ``--optics``, by three training-range optics
PSFs of the PSF-aware training script (one plain, one with spherical aberration, one with a
halo; protocol A's noise): never the cross-dataset benchmark's held-out optics. Per case: the
input, the PSF-aware network given the true PSF, the same network given the PSF estimated from
the blurred image, and the blind network of the plane's image type. Border-excluded PSNR; the
summary also per image type (what decides ``bundled.ESTIMATED_PSF_MODALITIES``).

    python benchmarks/psf_estimate_select.py --optics \
        --json benchmarks/results/psf_estimate_select.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import psf_aware_data as D  # noqa: E402

from napari_microdeblur.core.bundled import default_for_modality  # noqa: E402
from napari_microdeblur.core.degrade import degrade, protocol_psf  # noqa: E402
from napari_microdeblur.core.inference import deblur  # noqa: E402
from napari_microdeblur.core.method import MethodSpec  # noqa: E402
from napari_microdeblur.core.metrics import evaluate  # noqa: E402
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE  # noqa: E402
from napari_microdeblur.core.psf_estimate import estimate_psf  # noqa: E402

CROP = 384
# the image type of each validation plane's set (what 'auto' would guess for a grayscale
# plane is fluorescence; the benchmark uses each set's own type, as a user would choose it)
MODALITY = {"fluorescence_2d": "fluorescence", "fluorescence_neubias": "fluorescence",
            "histology_kather": "brightfield", "brightfield_worms_phase": "brightfield",
            "em_epfl_fibsem": "em", "em_neubias": "em"}


def validation_planes(root: Path) -> list[tuple[str, str, np.ndarray]]:
    """(set, name, plane in [0, 1]) for every validation plane of the training script."""
    files, val_names = D.training_files(root)
    _, val = D.training_sets(root)
    set_of = {path.name: key for key, entries in files.items() for path, _ in entries}
    out = []
    for name, plane in val:
        h, w = plane.shape
        c = min(CROP, h, w)
        crop = plane[(h - c) // 2 : (h - c) // 2 + c, (w - c) // 2 : (w - c) // 2 + c]
        lo, hi = np.percentile(crop, (0.1, 99.9))
        out.append((set_of.get(name, "histology_kather"), name,
                    np.clip((crop - lo) / (hi - lo), 0, 1).astype(np.float32)))
    return out


def optics_degradations(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Three training-range optics PSFs (plain, aberrated, with a halo), drawn from ``rng``."""
    return {"optics": D.fit_side(D.draw_optics(rng)[0]),
            "aberrated": D.fit_side(D.draw_optics(rng, 1.0)[0]),
            "halo": D.with_halo(D.fit_side(D.draw_optics(rng)[0]), rng)}


def blur_with(sharp: np.ndarray, psf: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``sharp`` convolved with ``psf`` (reflected borders), then protocol A's noise."""
    from scipy import ndimage

    from napari_microdeblur.core.data import PROTOCOL_PARAMS

    blurred = ndimage.convolve(sharp.astype(np.float64), psf[::-1, ::-1], mode="reflect")
    return PROTOCOL_PARAMS["A"].noise(blurred, rng)


def summarise(cases: list[dict]) -> dict:
    methods = ("psf_aware_true_psf", "psf_aware_estimated_psf", "blind_default")
    summary = {m: {"mean_gain_over_input_db": round(float(np.mean(
                       [c[m] - c["input"] for c in cases])), 3),
                   "least_gain_over_input_db": round(float(np.min(
                       [c[m] - c["input"] for c in cases])), 3),
                   "below_input": int(sum(c[m] < c["input"] for c in cases))}
               for m in methods}
    summary["estimated_beats_blind"] = int(sum(
        c["psf_aware_estimated_psf"] > c["blind_default"] for c in cases))
    summary["estimated_minus_blind_mean_db"] = round(float(np.mean(
        [c["psf_aware_estimated_psf"] - c["blind_default"] for c in cases])), 3)
    summary["cases"] = len(cases)
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--psf-aware", default=DEFAULT_PSF_AWARE)
    p.add_argument("--optics", action="store_true",
                   help="also three training-range optics PSFs per plane (plain, aberrated, halo)")
    p.add_argument("--data-root", type=Path, default=D.DEFAULT_DATA)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    cases = []
    rng = np.random.default_rng(5)
    for set_name, name, sharp in validation_planes(args.data_root):
        blind = default_for_modality(MODALITY[set_name], False)
        degradations = {protocol: (degrade(sharp, protocol=protocol, seed=3),
                                   protocol_psf(protocol)) for protocol in "ABC"}
        if args.optics:
            degradations |= {label: (blur_with(sharp, psf, rng), psf)
                             for label, psf in optics_degradations(rng).items()}
        for protocol, (blurred, true_psf) in degradations.items():
            est = estimate_psf(blurred)

            def score(out, sharp=sharp):
                return float(evaluate(out, sharp)["psnr"])

            row = {
                "set": set_name, "modality": MODALITY[set_name], "plane": name,
                "protocol": protocol, "estimated": est.spec,
                "input": score(blurred),
                "psf_aware_true_psf": score(deblur(blurred, method=MethodSpec(
                    args.psf_aware, psf=true_psf), device="cpu")),
                "psf_aware_estimated_psf": score(deblur(blurred, method=MethodSpec(
                    args.psf_aware, psf=est.kernel), device="cpu")),
                "blind_default": score(deblur(blurred, method=blind, device="cpu")),
                "blind_network": blind,
            }
            cases.append(row)
            print(f"{name[:24]:24s} {protocol:9s} {est.spec:22s} " + " ".join(
                f"{k} {row[k]:.2f}" for k in ("input", "psf_aware_true_psf",
                                              "psf_aware_estimated_psf", "blind_default")),
                flush=True)
    summary = summarise(cases)
    summary["by_image_type"] = {m: summarise([c for c in cases if c["modality"] == m])
                                for m in dict.fromkeys(MODALITY.values())}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=REPO).stdout.strip()
    result = {"command": "python benchmarks/psf_estimate_select.py "
                         + " ".join(sys.argv[1:] if argv is None else argv),
              "git_commit": commit, "psf_aware": args.psf_aware, "crop": CROP,
              "minutes": round((time.perf_counter() - t0) / 60, 1),
              "summary": summary, "cases": cases}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
