"""PSF recovery by the PSF-CycleGAN (paper 003, issue 15): does the learned PSF converge to the
true one from unpaired data?

2D: blurry images = em_isbi2012_drosophila_vnc_sstem train/ (30 ssTEM sections, 512^2)
blurred by a KNOWN PSF plus Gaussian noise (sigma 1 grey level); sharp images = ANOTHER set,
em_drosophila_vnc_sstem_gerhard2013 train/ (4 ssTEM sections, 1024^2, same modality, other
volume), resampled from its 4.6 nm pixels to ISBI's 4 nm (cubic spline, x 1.15: the cycle
assumes both sets share a pixel size; measured, this alone did not change the learned PSF's
FWHM, 15.7 against 15.2 % error). Training splits only. Two PSFs: a Gaussian (sigma 1.5 px) and an
astigmatic Gaussian (sigmas 2.2 / 1.1 px, 30 degrees). Held out: em_isbi2012 test/ (first
``HELD_OUT`` images) blurred by the same PSF and noise, deblurred by Richardson-Lucy (30
iterations) with the learned and with the true PSF.

3D: synthetic z-stacks (random beads and filaments, seeded, 48 x 64 x 64), blurry ones blurred
by a known anisotropic 3D Gaussian PSF (sigma z 2.0, y/x 1.2 px) WITHOUT noise (the noise-free
sharp stacks would let the discriminator tell the sets apart by noise alone), sharp ones drawn
with another seed; half the 2D time.

Figures per case: FWHM error (% along each principal axis of the half-maximum region, the
largest reported), normalised cross-correlation of the learned PSF with the true one, RL PSNR
with the learned vs the true PSF. Targets (issue 15): FWHM within 10 %, NCC >= 0.95, RL within
0.3 dB.

    OMP_NUM_THREADS=1 python benchmarks/papers_psf.py [--minutes 20] [--quick] [--json F]

``run(minutes, quick) -> dict`` is what benchmarks/papers.py imports. Licences: ISBI 2012
challenge terms (non-commercial), Gerhard 2013 CC BY-NC-SA 3.0 (see their PROVENANCE.md).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from napari_microdeblur.core import registry, training
from napari_microdeblur.core.archs.psf_cyclegan import export_psf
from napari_microdeblur.core.checkpoint import save_weights
from napari_microdeblur.core.classical import richardson_lucy
from napari_microdeblur.core.data import UnpairedImages
from napari_microdeblur.core.data_volumes import UnpairedVolumes
from napari_microdeblur.core.io import read_image
from napari_microdeblur.core.metrics import psnr
from napari_microdeblur.core.psf import astigmatic_psf, gaussian_psf, read_psf

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
BLURRY_SET = "em_isbi2012_drosophila_vnc_sstem"
SHARP_SET = "em_drosophila_vnc_sstem_gerhard2013"
HELD_OUT = 6
#: nm per pixel of the two EM sets (their PROVENANCE.md)
PIXEL_NM = {BLURRY_SET: 4.0, SHARP_SET: 4.6}
#: seconds a training step takes on one thread (measured: 2D 0.19, 3D 0.30), to plan the
#: learning-rate schedule over the budget; the time limit stops a slower run
SECONDS_PER_STEP = {2: 0.21, 3: 0.33}
NOISE = 1.0  # grey levels of 255
PSF_SIZE = 21
TRUE_PSFS = {
    "gaussian": lambda: gaussian_psf(1.5, size=PSF_SIZE),
    "astigmatic": lambda: astigmatic_psf(2.2, 1.1, 30.0, size=PSF_SIZE),
}
#: the 2D network and training (one CPU thread: ~0.5 s a step)
MODEL_2D = {"spatial_dims": 2, "base_channels": 16, "depth": 3, "psf_size": PSF_SIZE,
            "psf_init_sigma": 3.0, "residual": True, "psf_symmetry": "point"}
TRAIN_2D = {"batch_size": 8, "patch": 64, "lr": 2e-4, "psf_lr": 0.01,
            "discriminator": {"base_channels": 16, "n_layers": 3}}
MODEL_3D = {"spatial_dims": 3, "base_channels": 8, "depth": 2, "psf_size": 11,
            "psf_init_sigma": 2.5, "residual": True}
TRAIN_3D = {"batch_size": 2, "patch": 24, "lr": 2e-4, "psf_lr": 0.01,
            "discriminator": {"base_channels": 8, "n_layers": 3}}
TRUE_3D_SIGMA = (2.0, 1.2, 1.2)


def read_gray(path: Path) -> np.ndarray:
    a = np.asarray(read_image(path, lazy=False).array, dtype=np.float64)
    return a[..., 0] if a.ndim == 3 else a  # EM PNGs may carry an alpha channel


def blur(image: np.ndarray, psf: np.ndarray, rng: np.random.Generator,
         noise: float = NOISE) -> np.ndarray:
    out = ndimage.convolve(image, psf.astype(np.float64), mode="reflect")
    return out + rng.normal(0.0, noise, out.shape) if noise else out


def files(name: str, split: str) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(str(DATA / name / split / "*"))
                  if p.endswith((".png", ".tif")))


# ----------------------------------------------------------------------------- PSF figures


def fwhm_axes(psf: np.ndarray, zoom: int = 8) -> np.ndarray:
    """FWHM (pixels) along the principal axes of the region above half maximum, largest first
    (the region of a Gaussian is an ellipse(oid) whose axes are the FWHMs)."""
    fine = np.clip(ndimage.zoom(psf.astype(np.float64), zoom, order=3), 0, None)
    mask = fine >= 0.5 * fine.max()
    coords = np.argwhere(mask).astype(np.float64) / zoom
    cov = np.atleast_2d(np.cov(coords.T, bias=True)) + 1.0 / (12 * zoom**2)
    d = psf.ndim  # variance along an axis of a uniform d-ellipsoid: a^2 / (d + 2)
    return np.sort(2 * np.sqrt((d + 2) * np.linalg.eigvalsh(cov)))[::-1]


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def psf_figures(learned: np.ndarray, true: np.ndarray) -> dict:
    fl, ft = fwhm_axes(learned), fwhm_axes(true)
    err = np.abs(fl - ft) / ft * 100
    return {"fwhm_true_px": ft.round(3).tolist(), "fwhm_learned_px": fl.round(3).tolist(),
            "fwhm_error_pct": float(err.max()), "ncc": ncc(learned, true)}


def rl_figures(blurry: list[np.ndarray], sharp: list[np.ndarray], learned: np.ndarray,
               true: np.ndarray, iterations: int = 30) -> dict:
    """Mean PSNR (data range 1 on [0, 255] / 255) of RL with each PSF on the held-out images."""
    scores = {"input": [], "rl_learned_psf": [], "rl_true_psf": []}
    for b, s in zip(blurry, sharp, strict=True):
        x = torch.from_numpy(np.clip(b, 0, None) / 255.0)[None, None]
        ref = s / 255.0
        scores["input"].append(psnr(np.clip(b / 255.0, 0, 1), ref, data_range=1.0))
        for name, psf in (("rl_learned_psf", learned), ("rl_true_psf", true)):
            out = richardson_lucy(x, psf, iterations=iterations)[0, 0].numpy()
            scores[name].append(psnr(np.clip(out, 0, 1), ref, data_range=1.0))
    means = {f"psnr_{k}": float(np.mean(v)) for k, v in scores.items()}
    means["rl_gap_db"] = means["psnr_rl_true_psf"] - means["psnr_rl_learned_psf"]
    return means


# ----------------------------------------------------------------------------- training


def train(model, options: dict, blurry_source, sharp_source, seconds: float, steps: int):
    config = training.TrainingConfig.from_options(
        {"regime": "psf_cyclegan", "steps": steps, "device": "cpu", "seed": 0,
         "time_limit": seconds, **options})
    t0 = time.perf_counter()
    result = training.fit(model, config, sharp_source, None, unpaired=blurry_source,
                          unpaired_sharp=sharp_source)
    return {"steps_done": result.steps_done, "steps_planned": steps,
            "train_seconds": round(time.perf_counter() - t0, 1), "stopped": result.stopped}


def case_2d(kind: str, minutes: float, quick: bool, out_dir: Path | None) -> dict:
    rng = np.random.default_rng(0)
    true = TRUE_PSFS[kind]()
    blurry = [blur(read_gray(f), true, rng) for f in files(BLURRY_SET, "train")]
    zoom = PIXEL_NM[SHARP_SET] / PIXEL_NM[BLURRY_SET]
    sharp = [ndimage.zoom(read_gray(f), zoom, order=3) for f in files(SHARP_SET, "train")]
    torch.manual_seed(0)
    model = registry.build_model("psf_cyclegan", MODEL_2D)
    steps = 60 if quick else int(minutes * 60 / SECONDS_PER_STEP[2])
    info = train(model, TRAIN_2D, UnpairedImages(blurry, axes="YX", augment=False),
                 UnpairedImages(sharp, axes="YX"), minutes * 60, steps)
    learned = model.psf.kernel().detach().double().numpy()
    held = files(BLURRY_SET, "test")[:2 if quick else HELD_OUT]
    held_sharp = [read_gray(f) for f in held]
    held_blurry = [blur(s, true, rng) for s in held_sharp]
    result = {"case": f"2d_{kind}", **info, **psf_figures(learned, true),
              **rl_figures(held_blurry, held_sharp, learned, true)}
    if out_dir is not None:
        export_psf(model, out_dir / f"learned_psf_2d_{kind}.tif")
        runs = ROOT / "runs" / "psf_cyclegan"
        runs.mkdir(parents=True, exist_ok=True)
        save_weights(model, runs / f"bench_2d_{kind}.safetensors", {
            "description": f"PSF-CycleGAN, benchmarks/papers_psf.py 2D {kind} case",
            "training_data": f"{BLURRY_SET} train blurred ({kind}) ~ {SHARP_SET} train",
            "license": "CC-BY-NC-SA-3.0 (training data: ISBI 2012 terms and Gerhard 2013)"})
        result["psf_read_back_ok"] = bool(np.allclose(
            read_psf(out_dir / f"learned_psf_2d_{kind}.tif"), learned, atol=1e-6))
    return result


def synthetic_volume(rng: np.random.Generator, shape=(48, 64, 64)) -> np.ndarray:
    """Dense beads and straight filaments, slightly smoothed (sigma 0.7), on a dim background
    (dense, so that every patch has structure: sparse stacks left the PSF drifting wider)."""
    vol = np.zeros(shape)
    idx = tuple(rng.integers(0, n, 2000) for n in shape)
    vol[idx] = rng.uniform(0.5, 1.0, 2000)
    for _ in range(40):
        start = rng.uniform(0, 1, 3) * shape
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        for t in np.arange(0, 60, 0.5):
            p = np.round(start + t * direction).astype(int)
            if all(0 <= p[i] < shape[i] for i in range(3)):
                vol[tuple(p)] = 0.6
    return ndimage.gaussian_filter(vol, 0.7) * 255 + 10


def case_3d(minutes: float, quick: bool) -> dict:
    rng = np.random.default_rng(1)
    true = gaussian_psf(TRUE_3D_SIGMA, size=MODEL_3D["psf_size"], ndim=3)
    n = 2 if quick else 6
    blurry = [blur(synthetic_volume(rng), true, rng, noise=0.0) for _ in range(n)]
    sharp = [synthetic_volume(rng) for _ in range(n)]
    torch.manual_seed(0)
    model = registry.build_model("psf_cyclegan", MODEL_3D)
    steps = 20 if quick else int(minutes * 60 / SECONDS_PER_STEP[3])
    info = train(model, TRAIN_3D, UnpairedVolumes(blurry, augment=False), UnpairedVolumes(sharp),
                 minutes * 60, steps)
    learned = model.psf.kernel().detach().double().numpy()
    held_sharp = [synthetic_volume(rng) for _ in range(2)]
    held_blurry = [blur(s, true, rng, noise=0.0) for s in held_sharp]
    return {"case": "3d_gaussian", "noise": 0.0, "true_sigma_zyx": TRUE_3D_SIGMA,
            "volume_shape": [48, 64, 64], "volumes_each_side": n, **info,
            **psf_figures(learned, true), **rl_figures(held_blurry, held_sharp, learned, true)}


def meets_targets(row: dict) -> bool:
    return row["fwhm_error_pct"] <= 10 and row["ncc"] >= 0.95 and row["rl_gap_db"] <= 0.3


CASES = ("2d_gaussian", "2d_astigmatic", "3d")


def run(minutes: float = 20.0, quick: bool = False, out_dir: Path | None = None,
        cases: tuple[str, ...] = CASES) -> dict:
    """The cases asked for: 2D Gaussian and astigmatic (``minutes`` each), 3D (half of it)."""
    rows = [case_2d(kind, minutes, quick, out_dir) for kind in TRUE_PSFS
            if f"2d_{kind}" in cases]
    if "3d" in cases:
        rows.append(case_3d(minutes / 2, quick))
    for row in rows:
        row["meets_targets"] = meets_targets(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return {"figure": "PSF recovery (PSF-CycleGAN, paper 003)", "minutes_per_2d_run": minutes,
            "minutes_3d": minutes / 2, "quick": quick, "blurry_set": BLURRY_SET,
            "sharp_set": SHARP_SET,
            "sharp_resampled_by": PIXEL_NM[SHARP_SET] / PIXEL_NM[BLURRY_SET],
            "noise_grey_levels": NOISE, "model_2d": MODEL_2D,
            "train_2d": TRAIN_2D, "model_3d": MODEL_3D, "train_3d": TRAIN_3D, "rows": rows,
            "targets": "FWHM error <= 10 %, NCC >= 0.95, RL gap <= 0.3 dB"}


def keep_rows(result: dict, earlier: dict) -> dict:
    """Add to ``result`` the rows of ``earlier`` whose cases it lacks, each marked with the
    command, commit and model of the run that produced it."""
    ran = {row["case"] for row in result["rows"]}
    for row in earlier["rows"]:
        if row["case"] not in ran:
            result["rows"].append({**row, "from_run": row.get("from_run") or {
                "command": earlier["command"], "commit": earlier["commit"],
                "model": earlier.get("model_3d" if row["case"].startswith("3d") else "model_2d")}})
    return result


def merge_main(argv: list[str]) -> int:
    """``--merge NEW.json --keep-rows-from OLD.json --json OUT.json``: only the merge."""
    p = argparse.ArgumentParser(description="merge two results of this benchmark")
    p.add_argument("--merge", type=Path, required=True)
    p.add_argument("--keep-rows-from", type=Path, required=True)
    p.add_argument("--json", type=Path, required=True)
    args = p.parse_args(argv)
    result = keep_rows(json.loads(args.merge.read_text()),
                       json.loads(args.keep_rows_from.read_text()))
    result["merged_by"] = "python benchmarks/papers_psf.py " + " ".join(argv)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def main(argv=None) -> int:
    given = sys.argv[1:] if argv is None else list(argv)
    if "--merge" in given:
        return merge_main(given)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=20.0, help="CPU minutes per 2D run")
    p.add_argument("--quick", action="store_true", help="a few steps each (a smoke test)")
    p.add_argument("--json", help="write the result here")
    p.add_argument("--loss-weights", type=json.loads, default=None,
                   help='JSON overrides of the psf_cyclegan loss weights, e.g. \'{"psf": 0}\'')
    p.add_argument("--cases", default=",".join(CASES),
                   help=f"comma-separated subset of {', '.join(CASES)}")
    p.add_argument("--keep-rows-from", type=Path,
                   help="an earlier result whose rows of the cases not run now are kept, each "
                        "marked with that run's command and commit")
    args = p.parse_args(argv)
    cases = tuple(c.strip() for c in args.cases.split(","))
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        p.error(f"--cases {', '.join(unknown)}: accepted: {', '.join(CASES)}")
    if args.loss_weights:
        for options in (TRAIN_2D, TRAIN_3D):
            options["loss_weights"] = dict(args.loss_weights)
    out_dir = Path(args.json).parent if args.json else None
    result = run(args.minutes, args.quick, out_dir, cases)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    result.update(command="OMP_NUM_THREADS=1 python benchmarks/papers_psf.py "
                  + " ".join(argv if argv is not None else sys.argv[1:]),
                  commit=commit, machine=platform.processor() or platform.machine(),
                  threads=torch.get_num_threads(), omp=os.environ.get("OMP_NUM_THREADS"))
    if args.keep_rows_from:
        keep_rows(result, json.loads(args.keep_rows_from.read_text()))
    text = json.dumps(result, indent=1)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
