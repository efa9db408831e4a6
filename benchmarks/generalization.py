"""Cross-dataset benchmark (issue 13): every row is a set no compared network was trained on.

For each modality a HELD-OUT set of ../shared/data (never trained on, never tuned on):

    fluorescence  fluorescence_cellprofiler_examples_extra   test/: 3 images
    em            em_sem_axondeepseg_rat_spinalcord          test/: 3 images (rat spinal cord SEM)
    brightfield   brightfield_bccd_blood_smear (RGB)         test/: 3 images

and, as row groups of their own, the EM sets no network saw either (``UNSEEN_SETS``: the ssTEM
sets ISBI 2012, 3 test sections, and Gerhard 2013, its 2 test sections; evaluation only),
each test image cut to its centre 512 x 512 (or smaller side), degraded by protocols A, B, C of
docs/evaluation.md and by two optics PSFs at HELD-OUT parameters (``HELD_OUT_OPTICS``: NA 1.35-1.4
oil immersion, emission 0.62-0.65 um, spherical aberration from a water-like sample 5-8 um deep; no
training run of ``wiener_unet`` drew NA above 1.2 or wavelengths above 0.56 um, and the aberration
``wiener_unet.psf_v2`` and later drew was water immersion into samples of index 1.38-1.45, never
oil into a water-like sample: ``NETWORKS_SAW``). Plus real defocus: light-sheet mitochondria single
shots against the in-focus shot, the BBBC006 z00 / near-focus pair, and the NEUBIAS widefield
stack's planes 3-4 away from its best focus (z 19); their PSF is unknown, so every method gets the
same Gaussian, fitted as described in each row; real pairs are percentile-normalised and affine-
fitted to the reference (docs/evaluation.md).

Baselines in every row: the degraded input; Richardson-Lucy and Wiener with the true PSF (an
oracle), iterations (1-500) and balance (1e-4 to 100) of core/tuning.py's wide grids tuned on two
images of the same set's TRAINING split under the same degradation (never on the test images;
``at_grid_edge`` says where a value is an end of its grid); the blind default of the image type
(what ``deblur --modality M`` runs without a PSF: for EM and brightfield the PSF-aware network with
a PSF estimated from the image, for fluorescence the blind network) and the image type's blind
network (v2, and v1); and the PSF-aware ``wiener_unet`` given the same PSF. Which sets each network
saw is in ``NETWORKS_SAW``. Figures: PSNR / SSIM with the 16 px border excluded and on the whole
image, and per row the number of images a method scores below the input (border-excluded PSNR).

    python benchmarks/generalization.py [--parallel] [--psf-aware wiener_unet.psf_v1]

writes benchmarks/results/generalization.json (with command, git commit, machine) and .md.
``--only GROUP,... --merge-into RESULT.json --out NEW.json`` runs some row groups and writes
RESULT's other rows untouched beside them (each merged part's command under "merged").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402
import splits  # noqa: E402

from napari_microdeblur.core import optics, tuning  # noqa: E402
from napari_microdeblur.core.bundled import auto_label, auto_psf, default_for_modality  # noqa: E402
from napari_microdeblur.core.data import DegradationParams  # noqa: E402
from napari_microdeblur.core.degrade import degrade, protocol_psf  # noqa: E402
from napari_microdeblur.core.inference import deblur  # noqa: E402
from napari_microdeblur.core.method import MethodSpec  # noqa: E402
from napari_microdeblur.core.metrics import evaluate, psnr, reference_scale, ssim  # noqa: E402
from napari_microdeblur.core.psf import gaussian_psf  # noqa: E402
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE, NOISE_SCALE_GRID  # noqa: E402
from napari_microdeblur.core.psf_estimate import ESTIMATE  # noqa: E402

SHARED = splits.SHARED
RESULTS = Path(__file__).parent / "results"
BORDER = 16
CROP = 512
TUNE_CROP = 256  # side of the training-split crops RL / Wiener are tuned on
SEED = 0
# the PSF-aware network's one setting (MethodSpec.noise_scale), tuned like RL's iterations and
# Wiener's balance on the same images; its default (1) is scored in a column of its own. The
# grid fine-tuning calibrates on (0.5-2) and the high values real defocus with a fitted PSF
# wanted (4-16)
NOISE_SCALES = tuple(sorted({*NOISE_SCALE_GRID, 4.0, 8.0, 16.0}))
# core/tuning's wide grids: the short ones' ends (RL 5, Wiener 0.1 or 1) were chosen on most rows
GRIDS = {"richardson_lucy": tuning.WIDE_RL_ITERATIONS, "wiener": tuning.WIDE_WIENER_BALANCES,
         "psf_aware": NOISE_SCALES}

HELD_OUT = {
    "fluorescence": {
        "set": "fluorescence_cellprofiler_examples_extra",
        "test": ["test/sbs_transfluor_gfp/AS_09047_050428030001_O13f00d2.TIF",
                 "test/vitra_translocation/Channel_2-12-A-12-00.tif",
                 "test/celegans_worms_gfp/C20_w2.tif"],
        "train": ["train/sbs_transfluor_gfp/AS_09047_050428030001_O01f00d2.TIF",
                  "train/vitra_translocation/Channel_2-01-A-01-00.tif"],
        "blind_v1": "gran.fluo_v1",
        "papers": ["psf_cyclegan.fluo_v1"],
    },
    "em": {
        "set": "em_sem_axondeepseg_rat_spinalcord",
        "test": ["test/sub-rat6_sample-data15_SEM.png", "test/sub-rat7_sample-Maxo03img60_SEM.png",
                 "test/sub-rat8_sample-V915_SEM.png"],
        "train": ["train/sub-rat1_sample-data1_SEM.png", "train/sub-rat3_sample-data9_SEM.png"],
        "blind_v1": "gran.em_v1",
        # the papers' shipped weights that are neither a default nor blind v1 (issue 15)
        "papers": ["gran.gan_em_v1", "sgpn.em_supervised_v1"],
    },
    "brightfield": {
        "set": "brightfield_bccd_blood_smear",
        "test": ["test/BloodImage_00007.png", "test/BloodImage_00075.png",
                 "test/BloodImage_00180.png"],
        "train": ["train/BloodImage_00001.png", "train/BloodImage_00052.png"],
        "blind_v1": "gran.hist_v1",
        "rgb": True,
    },
}

# More test sets no compared network saw (NETWORKS_SAW), a row group each (its name is the set's):
# their image type's networks, blind v1 and papers' weights as in HELD_OUT[modality]. The
# ssTEM sets are non-commercial (PROVENANCE.md): evaluation only, never training
UNSEEN_SETS = {
    "em_isbi2012_drosophila_vnc_sstem": {
        "modality": "em", "set": "em_isbi2012_drosophila_vnc_sstem",
        # the test volume's first, middle and last sections (neighbours are ~50 nm apart)
        "test": ["test/0.png", "test/15.png", "test/29.png"],
        "train": ["train/0.png", "train/15.png"],
    },
    "em_drosophila_vnc_sstem_gerhard2013": {
        "modality": "em", "set": "em_drosophila_vnc_sstem_gerhard2013",
        "test": ["test/stack2_00.tif", "test/stack2_10.tif"],  # all its test split holds
        "train": ["train/stack1_00.tif", "train/stack1_12.tif"],
    },
}

NETWORKS_SAW = {
    "gran.fluo_v1": "fluorescence_2d training split (CellProfiler ExampleFly, ExampleSpeckles)",
    "gran.em_v1": "em_epfl_hippocampus_fibsem training split",
    "gran.hist_v1": "histology_brightfield_rgb Kather 2016 training tiles",
    "c2f_unet.*_v2 (blind v2 networks; fluorescence's blind default)": "the training splits "
    "and PSF families "
    "wiener_unet.psf_v1 saw (below), half the patches from the modality's own sets",
    "gran.gan_em_v1": "gran.em_v1 continued with the GRAN_GAN regime on the same "
    "em_epfl_hippocampus_fibsem training split",
    "sgpn.em_supervised_v1": "em_epfl_hippocampus_fibsem training split (SGPN's network, "
    "supervised)",
    "psf_cyclegan.fluo_v1": "unpaired: half the grayscale training planes of fluorescence_2d "
    "and fluorescence_neubias_training_resources blurred by protocol A's Gaussian PSF (no "
    "noise added), the other half sharp",
    "wiener_unet.psf_v1": "training splits of fluorescence_2d, "
    "fluorescence_neubias_training_resources, histology_brightfield_rgb (Kather), "
    "brightfield_cellprofiler_worms_phase, em_epfl_hippocampus_fibsem, "
    "em_neubias_tem_sem_volume; PSFs: Gaussian, disk, astigmatic, protocols A/B/C, optics "
    "NA 0.7-1.2, 0.45-0.56 um, no aberration",
    "wiener_unet.psf_v2": "wiener_unet.psf_v1 continued for 75 min on the same sets and PSFs "
    "plus, on 20 % of the optics PSFs, spherical aberration (water NA 0.9-1.2 into a sample of "
    "index 1.38-1.45 at 2-15 um) and, on 20 % of all PSFs, a wide Gaussian halo; with its "
    "data-consistency step",
    "wiener_unet.psf_v3": "wiener_unet.psf_v2 continued for 60 min on the "
    "same sets and PSFs with a learned flat term in its Wiener estimates' regulariser and "
    "spherical aberration on 30 % of the optics PSFs",
    "wiener_unet.psf_v4 (PSF-aware default)": "the weight average of two runs from "
    "wiener_unet.psf_v3 with the blurred input left out of its U-Net, on the same sets: 80 min "
    "with halos on 30 % of the PSFs, then 52 min more with PSFs on 49 px, wider halos and "
    "aberration on 40 % of the optics PSFs",
}

# Optics PSFs outside every training range (see scripts/train_psf_aware.py's TRAIN_OPTICS).
HELD_OUT_OPTICS = {
    "widefield_heldout": {
        # centre="source": defocus from the nominal depth, as these PSFs were first defined
        # (core.optics now counts it from the brightest plane); the benchmark keeps its PSFs
        "psf": lambda: optics.widefield_psf(1.4, 0.65, 0.08, ni=1.515, ns=1.33, depth=8.0,
                                            defocus=0.3, centre="source"),
        "na": 1.4, "wavelength": 0.65, "aberrated": True,
        "text": "widefield NA 1.4 oil, 0.65 um, 0.08 um px, sample n 1.33 at 8 um depth "
                "(spherical aberration), defocus 0.3 um; Gaussian noise 2/255",
        "noise": DegradationParams("optics", {}, 2.0 / 255.0, None),
    },
    "confocal_heldout": {
        "psf": lambda: optics.confocal_psf(1.35, 0.62, 0.06, excitation_wavelength=0.56,
                                           ni=1.515, ns=1.33, depth=5.0, defocus=0.2,
                                           centre="source"),
        "na": 1.35, "wavelength": 0.62, "aberrated": True,
        "text": "confocal NA 1.35 oil, em 0.62 / ex 0.56 um, pinhole 1 AU, 0.06 um px, sample "
                "n 1.33 at 5 um depth, defocus 0.2 um; Poisson peak 200 + read noise 0.01",
        "noise": DegradationParams("optics", {}, 0.01, 200.0),
    },
}
DEGRADATIONS = ["A", "B", "C", *HELD_OUT_OPTICS]


def row_groups(modalities=tuple(HELD_OUT)) -> list[str]:
    """The row groups in table order: each modality's held-out set, then its UNSEEN_SETS."""
    return [g for m in modalities
            for g in [m, *(k for k, v in UNSEEN_SETS.items() if v["modality"] == m)]]


def group_config(group: str) -> tuple[str, dict]:
    """(modality, set config) of a synthetic row group."""
    if group in HELD_OUT:
        return group, HELD_OUT[group]
    extra = UNSEEN_SETS[group]
    return extra["modality"], {**HELD_OUT[extra["modality"]], **extra}


def row_group(row: dict) -> str:
    if "real" in row["modality"]:
        return "real"
    return row["set"] if row["set"] in UNSEEN_SETS else row["modality"]


# ----------------------------------------------------------------------------- images


def read(path: Path, rgb: bool) -> np.ndarray:
    if path.suffix.lower() == ".png":
        import imageio.v3 as iio

        img = np.asarray(iio.imread(path))
    else:
        import tifffile

        img = np.asarray(tifffile.imread(path))
    if rgb:
        return img[..., :3]
    return img[..., 0] if img.ndim == 3 else img  # LA / RGBA grayscale: the L channel


def centre_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    sy, sx = min(size, h), min(size, w)
    y0, x0 = (h - sy) // 2, (w - sx) // 2
    return img[y0 : y0 + sy, x0 : x0 + sx]


def degrade_with(image: np.ndarray, name: str, psf: np.ndarray, seed: int, rgb: bool):
    """Protocols A-C through core.degrade; optics rows: the same reference scale, 'reflect'
    boundary and clipping as degrade01, with that row's PSF and noise."""
    channel_axis = -1 if rgb else None
    if name in "ABC":
        return degrade(image, name, seed=seed, channel_axis=channel_axis)
    from scipy import ndimage

    offset, scale = reference_scale(image)
    x01 = np.clip((image.astype(np.float64) - offset) / scale, 0, 1)
    kernel = psf.astype(np.float64)[..., None] if rgb else psf.astype(np.float64)
    blurred = ndimage.convolve(x01, kernel, mode="reflect")
    noisy = HELD_OUT_OPTICS[name]["noise"].noise(blurred, np.random.default_rng(seed))
    return (noisy.astype(np.float64) * scale + offset).astype(np.float32)


def row_psf(name: str) -> np.ndarray:
    return protocol_psf(name) if name in "ABC" else HELD_OUT_OPTICS[name]["psf"]()


# ----------------------------------------------------------------------------- methods


def run(method: str, blurred, psf, axes, value=None, psf_aware: str | None = None,
        precision: str = "auto"):
    if method == "richardson_lucy":
        return deblur(blurred, method=method, psf=psf, iterations=value, axes=axes, device="cpu")
    if method == "wiener":
        return deblur(blurred, method=method, psf=psf, balance=value, axes=axes, device="cpu")
    if method == "psf_aware":
        scale = 1.0 if value is None else value
        spec = (MethodSpec(psf_aware, psf=psf, precision=precision, noise_scale=scale)
                if not psf_aware.endswith(".safetensors")
                else MethodSpec("auto", psf=psf, weights=psf_aware, precision=precision,
                                noise_scale=scale))
        return deblur(blurred, method=spec, axes=axes, device="cpu")
    return deblur(blurred, method=method, axes=axes, device="cpu")  # a blind network


def run_default(blurred, modality: str, axes: str):
    """What ``deblur --modality MODALITY`` runs given no PSF (method 'auto')."""
    return deblur(blurred, method=MethodSpec("auto", modality=modality), axes=axes, device="cpu")


def blind_outputs(blurred, modality: str, network: str, axes: str) -> dict:
    """The blind default of the image type ('blind') and its blind network ('blind_v2'),
    run once where they are the same."""
    default = run_default(blurred, modality, axes)
    estimates = auto_psf(MethodSpec("auto", modality=modality), "S" in axes) is not None
    return {"blind": default,
            "blind_v2": run(network, blurred, None, axes) if estimates else default}


def tune(method: str, pairs, psf, axes, score, psf_aware: str | None = None
         ) -> tuple[float, dict]:
    """Best iterations / balance / noise scale by mean score over (blurred, sharp) pairs."""
    means = {v: float(np.mean([score(run(method, b, psf, axes, v, psf_aware=psf_aware), s)
                               for b, s in pairs]))
             for v in GRIDS[method]}
    return max(means, key=means.get), means


def tuned_settings(pairs, psf, axes, score, psf_aware: str) -> tuple[dict, dict]:
    """(tuned value per method, the row's "tuned" record: the values, and at_grid_edge)."""
    settings = {m: tune(m, pairs, psf, axes, score, psf_aware)[0] for m in GRIDS}
    edge = {m: tuning.at_grid_edge(v, GRIDS[m]) for m, v in settings.items()}
    return settings, {"richardson_lucy_iterations": settings["richardson_lucy"],
                      "wiener_balance": settings["wiener"],
                      "psf_aware_noise_scale": settings["psf_aware"], "at_grid_edge": edge}


def tuned_psf_aware(outputs: dict, blurred, psf, axes, scale: float, psf_aware: str):
    """The PSF-aware result at the tuned noise scale (the default run's when that is 1)."""
    if scale == 1.0:
        return outputs["psf_aware"]
    return run("psf_aware", blurred, psf, axes, scale, psf_aware=psf_aware)


# ----------------------------------------------------------------------------- rows


def summarise(per_image: dict[str, list[dict]]) -> dict:
    """Mean figures per method and how many images score below the input."""
    inputs = [r["psnr"] for r in per_image["input"]]
    out = {}
    for method, rows in per_image.items():
        out[method] = {k: float(np.mean([r[k] for r in rows]))
                       for k in ("psnr", "ssim", "psnr_whole", "ssim_whole")}
        out[method]["below_input"] = int(sum(r["psnr"] < i for r, i in zip(rows, inputs)))
        out[method]["n"] = len(rows)
    return out


def training_crops(cfg: dict) -> list[np.ndarray]:
    """The TUNE_CROP px centre crops of a held-out set's training-split images."""
    rgb = cfg.get("rgb", False)
    return [centre_crop(read(SHARED / cfg["set"] / f, rgb), TUNE_CROP) for f in cfg["train"]]


def tuning_pairs(crops: list, name: str, psf: np.ndarray, rgb: bool) -> list[tuple]:
    """(blurred, sharp) pairs the baselines are tuned on: the crops under degradation
    ``name``, with noise seeds other than the test images'."""
    return [(degrade_with(s, name, psf, 1000 + i, rgb), s) for i, s in enumerate(crops)]


def synthetic_rows(modality: str, cfg: dict, names: list[str], psf_aware: str, n_test: int,
                   crop: int) -> list[dict]:
    rgb = cfg.get("rgb", False)
    blind = default_for_modality(modality, rgb)  # the image type's blind network
    axes = "YXS" if rgb else "YX"
    channel_axis = -1 if rgb else None
    root = SHARED / cfg["set"]
    tests = [centre_crop(read(root / f, rgb), crop) for f in cfg["test"][:n_test]]
    trains = training_crops(cfg)

    def score(pred, ref):
        return evaluate(pred, ref, border=BORDER, channel_axis=channel_axis)["psnr"]

    rows = []
    for name in names:
        t0 = time.perf_counter()
        psf = row_psf(name)
        tune_pairs = tuning_pairs(trains, name, psf, rgb)
        settings, tuned = tuned_settings(tune_pairs, psf, axes, score, psf_aware)
        papers = [f"paper:{name}" for name in cfg.get("papers", [])]
        per_image: dict[str, list[dict]] = {k: [] for k in (
            "input", "richardson_lucy", "wiener", "blind", "blind_v2", "blind_v1", "psf_aware",
            "psf_aware_tuned", "psf_aware_estimated", *papers)}
        precision_check = None
        for i, sharp in enumerate(tests):
            blurred = degrade_with(sharp, name, psf, SEED + i, rgb)
            outputs = {
                "input": blurred,
                "richardson_lucy": run("richardson_lucy", blurred, psf, axes,
                                       settings["richardson_lucy"]),
                "wiener": run("wiener", blurred, psf, axes, settings["wiener"]),
                **blind_outputs(blurred, modality, blind, axes),
                "blind_v1": run(cfg["blind_v1"], blurred, psf, axes),
                "psf_aware": run("psf_aware", blurred, psf, axes, psf_aware=psf_aware),
                # no PSF given: the PSF estimated from the blurred image itself (GCV)
                "psf_aware_estimated": run("psf_aware", blurred, ESTIMATE, axes,
                                           psf_aware=psf_aware),
                **{k: run(k.split(":", 1)[1], blurred, psf, axes) for k in papers},
            }
            outputs["psf_aware_tuned"] = tuned_psf_aware(outputs, blurred, psf, axes,
                                                         settings["psf_aware"], psf_aware)
            if name == "A" and i == 0:  # bfloat16 (auto on this CPU) against float32
                outputs["psf_aware_float32"] = run("psf_aware", blurred, psf, axes,
                                                   psf_aware=psf_aware, precision="float32")
            for method, out in outputs.items():
                m = evaluate(out, sharp, border=BORDER, channel_axis=channel_axis)
                scores = {k: float(m[k]) for k in ("psnr", "ssim", "psnr_whole", "ssim_whole")}
                if method == "psf_aware_float32":
                    precision_check = {"float32_psnr": scores["psnr"],
                                       "auto_psnr": per_image["psf_aware"][0]["psnr"]}
                    continue
                per_image[method].append(scores)
        row = {
            "modality": modality, "set": cfg["set"], "degradation": name,
            "kind": "protocol (its PSF family is in wiener_unet's training)" if name in "ABC"
            else "held-out optics PSF", "psf_shape": list(psf.shape), "tuned": tuned,
            "blind_default": auto_label(MethodSpec("auto", modality=modality), rgb),
            "blind_network": blind, "blind_v1_network": cfg["blind_v1"], "images": len(tests),
            "crop": crop,
            "methods": summarise(per_image), "per_image": per_image,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        if precision_check:
            row["psf_aware_precision"] = precision_check
        rows.append(row)
        print(_row_line(row), flush=True)
    return rows


# ----------------------------------------------------------------------------- real defocus


def _normalise(image: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(image, [0.1, 99.9])
    return ((image - lo) / max(hi - lo, 1e-12)).astype(np.float64)


def real_score(prediction: np.ndarray, reference: np.ndarray) -> dict:
    """Real pairs (docs/evaluation.md): percentile-normalise both, affine-fit the prediction."""
    p, r = _normalise(prediction), _normalise(reference)
    a, b = np.polyfit(p.ravel(), r.ravel(), 1)
    p = a * p + b
    c = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    return {"psnr": psnr(p[c], r[c], data_range=1.0), "ssim": ssim(p[c], r[c], data_range=1.0),
            "psnr_whole": psnr(p, r, data_range=1.0), "ssim_whole": ssim(p, r, data_range=1.0)}


def fit_gaussian_sigma(pairs, grid=(0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)) -> float:
    """The Gaussian sigma whose blur of each reference best matches its defocused image."""
    from scipy import ndimage

    def err(s):
        return np.mean([-real_score(ndimage.gaussian_filter(ref.astype(np.float64), s), blurred)
                        ["psnr"] for blurred, ref in pairs])

    return float(min(grid, key=err))


def real_rows(psf_aware: str) -> list[dict]:
    import tifffile

    rows = []
    # light-sheet mitochondria: tune on the shots on one side of focus, test on the other
    shots = SHARED / "focus_stack_lightsheet_dfnn" / "mitochondria_cell2_single_shots"
    if shots.is_dir():
        ref = tifffile.imread(shots / "cell2G2Dz0p3umON.tif").astype(np.float32)
        side = {s: [tifffile.imread(f).astype(np.float32)
                    for f in sorted(shots.glob(f"*Off{s}*.tif"))] for s in "MP"}
        folds = [(side["P"], side["M"], "shots below focus (M), PSF and settings fitted on "
                  "the shots above (P)"),
                 (side["M"], side["P"], "shots above focus (P), fitted on the shots below (M)")]
        for tune_imgs, test_imgs, text in folds:
            rows.append(_real_row("lightsheet_mitochondria", text,
                                  [(x, ref) for x in tune_imgs], [(x, ref) for x in test_imgs],
                                  psf_aware))
    # BBBC006: one real pair; its PSF fitted on the pair itself (an oracle PSF, as a user with
    # a measured PSF would have); RL / Wiener tuned on near-focus images of other wells
    # blurred with that Gaussian (Gaussian noise 2/255), never on the pair
    bb = SHARED / "bbbc006_u2os_hoechst_realdefocus"
    if bb.is_dir():
        import imageio.v3 as iio

        pair_dir = bb / "pair_a01_s1"
        sharp = np.asarray(iio.imread(next(pair_dir.glob("*.png")))).astype(np.float32)
        blurred = tifffile.imread(next(pair_dir.glob("*.tif"))).astype(np.float32)
        sigma = fit_gaussian_sigma([(blurred, sharp)], grid=(8.0, 12.0, 16.0, 20.0))
        others = [np.asarray(iio.imread(f)).astype(np.float32)
                  for f in sorted((bb / "nearfocus_z_aligned").glob("*.png"))[:2]]
        psf = gaussian_psf(sigma)
        from scipy import ndimage

        tune_pairs = []
        for i, o in enumerate(others):
            b = ndimage.convolve(o.astype(np.float64), psf.astype(np.float64), mode="reflect")
            b = b + np.random.default_rng(1000 + i).normal(0, 2 / 255 * o.max(), b.shape)
            tune_pairs.append((b.astype(np.float32), o))
        rows.append(_real_row("bbbc006_pair", f"z00 vs near focus, Gaussian sigma {sigma:g} "
                              "fitted on the pair (oracle PSF); RL/Wiener tuned on 2 near-focus "
                              "images of other wells blurred synthetically",
                              tune_pairs, [(blurred, sharp)], psf_aware, sigma=sigma,
                              tune_score="synthetic"))
    # NEUBIAS widefield stack: planes 3-4 from the best focus (z 19) against z 19
    cw = SHARED / "focus_pair_confocal_widefield_neubias" / "test" / "xyzc_16bit__dna_conf_wf.tif"
    if cw.is_file():
        wf = tifffile.imread(cw)[:, 1].astype(np.float32)
        ref = wf[19]
        below, above = [(wf[z], ref) for z in (15, 16)], [(wf[z], ref) for z in (22, 23)]
        rows.append(_real_row("neubias_widefield_stack", "planes 22, 23 vs 19; fitted on 15, 16",
                              below, above, psf_aware))
        rows.append(_real_row("neubias_widefield_stack", "planes 15, 16 vs 19; fitted on 22, 23",
                              above, below, psf_aware))
    return rows


def _real_row(name, text, tune_pairs, test_pairs, psf_aware, sigma=None, tune_score="real"):
    t0 = time.perf_counter()
    if sigma is None:
        sigma = fit_gaussian_sigma(tune_pairs)
    psf = gaussian_psf(sigma)

    def score(pred, ref):
        if tune_score == "synthetic":
            return evaluate(pred, ref, border=BORDER)["psnr"]
        return real_score(pred, ref)["psnr"]

    settings, tuned = tuned_settings(tune_pairs, psf, "YX", score, psf_aware)
    blind = default_for_modality("fluorescence", False)
    per_image: dict[str, list[dict]] = {k: [] for k in (
        "input", "richardson_lucy", "wiener", "blind", "blind_v2", "blind_v1", "psf_aware",
        "psf_aware_tuned", "psf_aware_estimated")}
    for blurred, ref in test_pairs:
        outputs = {
            "input": blurred,
            "richardson_lucy": run("richardson_lucy", blurred, psf, "YX",
                                   settings["richardson_lucy"]),
            "wiener": run("wiener", blurred, psf, "YX", settings["wiener"]),
            **blind_outputs(blurred, "fluorescence", blind, "YX"),
            "blind_v1": run("gran.fluo_v1", blurred, psf, "YX"),
            "psf_aware": run("psf_aware", blurred, psf, "YX", psf_aware=psf_aware),
            "psf_aware_estimated": run("psf_aware", blurred, ESTIMATE, "YX",
                                       psf_aware=psf_aware),
        }
        outputs["psf_aware_tuned"] = tuned_psf_aware(outputs, blurred, psf, "YX",
                                                     settings["psf_aware"], psf_aware)
        for method, out in outputs.items():
            per_image[method].append({k: float(v) for k, v in real_score(out, ref).items()})
    row = {
        "modality": "fluorescence (real defocus)", "set": name, "degradation": text,
        "kind": "real defocus, PSF unknown: Gaussian fitted as stated; scores after percentile "
                "normalisation and an affine fit to the reference",
        "psf_shape": list(psf.shape), "gaussian_sigma": sigma, "tuned": tuned,
        "blind_default": auto_label(MethodSpec("auto", modality="fluorescence"), False),
        "blind_network": blind, "blind_v1_network": "gran.fluo_v1", "images": len(test_pairs),
        "crop": None,
        "methods": summarise(per_image), "per_image": per_image,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(_row_line(row), flush=True)
    return row


# ----------------------------------------------------------------------------- speed


def speed(psf_aware: str, side: int = 1024) -> dict:
    """Megapixels/s on a side x side 2D image (CPU, default tiles, auto precision): one timed
    run after a warm-up on a 256 x 256 crop. The image is a mosaic of the bundled HT29 sample
    (speed.py's) under protocol A: the EM default estimates its PSF from it (on noise the
    estimate would be the widest blur, which the safeguard hands to a fast Wiener), and the
    PSF-aware network given protocol A's PSF fits it (no safeguard fallback)."""
    import warnings

    from speed import mosaic

    img = degrade(mosaic(side, rgb=False).astype(np.float32) / 255.0, "A", seed=SEED)
    psf = protocol_psf("A")
    out = {}
    blinds = [default_for_modality(m, False) for m in ("fluorescence", "em")]
    em_default = auto_label(MethodSpec("auto", modality="em"), False)

    def one(label, method, image):
        if label == em_default:  # the PSF estimated from the image, then the network
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return run_default(image, "em", "YX")
        return run(method or label, image, psf, "YX", psf_aware=psf_aware)

    for label, method in [("psf_aware " + psf_aware, "psf_aware"),
                          *[(b, None) for b in dict.fromkeys(blinds)],
                          *([(em_default, None)] if em_default not in blinds else []),
                          ("gran.fluo_v1", None), ("gran.em_v1", None)]:
        one(label, method, img[:256, :256])
        t = time.perf_counter()
        one(label, method, img)
        out[label] = round(side * side / (time.perf_counter() - t) / 1e6, 3)
    return out


# ----------------------------------------------------------------------------- report


def _row_line(row: dict) -> str:
    m = row["methods"]
    best = max(m["richardson_lucy"]["psnr"], m["wiener"]["psnr"])
    return (f"{row['set']} {row['degradation'][:40]}: input {m['input']['psnr']:.2f}, RL "
            f"{m['richardson_lucy']['psnr']:.2f}, Wiener {m['wiener']['psnr']:.2f}, blind "
            f"{m['blind']['psnr']:.2f}, PSF-aware {m['psf_aware']['psnr']:.2f} "
            f"({m['psf_aware']['psnr'] - best:+.2f} dB vs best classical), noise scale "
            f"{row['tuned']['psf_aware_noise_scale']:g} {m['psf_aware_tuned']['psnr']:.2f} "
            f"({m['psf_aware_tuned']['psnr'] - best:+.2f} dB) [{row['seconds']} s]")


def markdown(result: dict) -> str:
    lines = [
        "# Cross-dataset benchmark (issue 13)", "",
        f"Command: `{result['command']}`; commit {result['git_commit']}; {result['machine']}; "
        f"{result['minutes']} min.", "",
        "Every row's set was never trained on by either network (held-out sets; what each "
        "network saw: below). PSNR (dB) / SSIM with the 16 px border excluded; whole-image PSNR "
        "in brackets; 'below' = images scoring below the input. RL / Wiener: true PSF, tuned on "
        f"{TUNE_CROP} px crops of two images of the set's training split (real rows: as "
        "stated); the PSF-aware network's noise scale is tuned the same way in its own "
        f"column (values {', '.join(f'{v:g}' for v in NOISE_SCALES)}), its default (1) in "
        f"another. Synthetic rows: centre crops of {result['crop']} px, "
        f"{result['images_per_set']} test images per set (fewer where a test split has fewer: "
        "'below ... of N').", "",
        *[f"Rows of {', '.join(m['groups'])} merged in from `{m['command']}`; commit "
          f"{m['git_commit']}; {m['machine']}; {m['minutes']} min." for m in result.get("merged",
                                                                                    [])],
        *([""] if result.get("merged") else []),
        "| modality | set | degradation | input | RL (it.) | Wiener (bal.) | blind default | "
        "blind network v2 | blind v1 | PSF-aware | PSF-aware - best classical | PSF-aware, noise "
        "scale tuned (scale) | tuned - best classical | blind default - best classical | "
        "PSF-aware, PSF estimated from the image | estimated - best classical | "
        "below input (blind default / PSF-aware / tuned / estimated) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        m = row["methods"]

        def cell(k, m=m):
            return f"{m[k]['psnr']:.2f} / {m[k]['ssim']:.3f} ({m[k]['psnr_whole']:.2f})"

        best = max(m["richardson_lucy"]["psnr"], m["wiener"]["psnr"])
        best_ssim = max(m["richardson_lucy"]["ssim"], m["wiener"]["ssim"])
        t = row["tuned"]
        lines.append(
            f"| {row['modality']} | {row['set']} | {row['degradation']} | {cell('input')} | "
            f"{cell('richardson_lucy')} ({t['richardson_lucy_iterations']}) | "
            f"{cell('wiener')} ({t['wiener_balance']:g}) | {cell('blind')} "
            f"[{row['blind_default']}] | {cell('blind_v2')} [{row['blind_network']}] | "
            f"{cell('blind_v1')} [{row['blind_v1_network']}] | "
            f"{cell('psf_aware')} | {m['psf_aware']['psnr'] - best:+.2f} dB, SSIM "
            f"{m['psf_aware']['ssim'] - best_ssim:+.3f} | {cell('psf_aware_tuned')} "
            f"({t['psf_aware_noise_scale']:g}) | {m['psf_aware_tuned']['psnr'] - best:+.2f} dB, "
            f"SSIM {m['psf_aware_tuned']['ssim'] - best_ssim:+.3f} | "
            f"{m['blind']['psnr'] - best:+.2f} dB | {cell('psf_aware_estimated')} | "
            f"{m['psf_aware_estimated']['psnr'] - best:+.2f} dB | {m['blind']['below_input']} / "
            f"{m['psf_aware']['below_input']} / {m['psf_aware_tuned']['below_input']} / "
            f"{m['psf_aware_estimated']['below_input']} of {m['input']['n']} |")
    lines += papers_markdown(result["rows"])
    checks = [(r["set"], r["psf_aware_precision"]) for r in result["rows"]
              if "psf_aware_precision" in r]
    if checks:
        lines += ["", "PSF-aware precision (first image, protocol A, border-excluded PSNR): "
                  + "; ".join(f"{s}: auto (bfloat16 here) {c['auto_psnr']:.3f} dB, float32 "
                              f"{c['float32_psnr']:.3f} dB" for s, c in checks)]
    lines += ["", "Held-out optics PSFs:"]
    lines += [f"- {k}: {v['text']}" for k, v in HELD_OUT_OPTICS.items()]
    lines += ["", "What each network was trained on:"]
    lines += [f"- {k}: {v}" for k, v in NETWORKS_SAW.items()]
    lines += ["", "Speed (megapixels/s, 1024 x 1024 2D image, this CPU, default tiles and "
              "precision): " + ", ".join(f"{k} {v}" for k, v in result["speed"].items())]
    return "\n".join(lines) + "\n"


def papers_markdown(rows: list[dict]) -> list[str]:
    """The papers' other shipped weights (``paper:NAME`` methods) on the rows that ran them."""
    lines = []
    for row in rows:
        m = row["methods"]
        best = max(m["richardson_lucy"]["psnr"], m["wiener"]["psnr"])
        for key in (k for k in m if k.startswith("paper:")):
            lines.append(
                f"| {row['set']} | {row['degradation']} | `{key[6:]}` | {m[key]['psnr']:.2f} / "
                f"{m[key]['ssim']:.3f} ({m[key]['psnr_whole']:.2f}) | "
                f"{m[key]['psnr'] - m['blind_v1']['psnr']:+.2f} dB | "
                f"{m[key]['psnr'] - m['blind_v2']['psnr']:+.2f} dB | "
                f"{m[key]['psnr'] - best:+.2f} dB | {m[key]['below_input']} of {m['input']['n']} |")
    if not lines:
        return []
    return ["", "The papers' other shipped weights on the same rows:", "",
            "| set | degradation | weights | PSNR / SSIM (whole) | - blind v1 | - blind network v2 "
            "| - best classical | below input |", "|---|---|---|---|---|---|---|---|", *lines]


def _part_rows(part: str, args) -> list[dict]:
    if part == "real":
        return real_rows(args.psf_aware)
    modality, cfg = group_config(part)
    return synthetic_rows(modality, cfg, args.degradations.split(","), args.psf_aware,
                          args.images, args.crop)


def _parts(args, parser) -> list[str]:
    """The row groups to run: --only's, in table order, or every group of --modalities."""
    groups = row_groups(args.modalities.split(",")) + ([] if args.no_real else ["real"])
    if not args.only:
        return groups
    known = row_groups() + ["real"]
    if unknown := [g for g in args.only.split(",") if g not in known]:
        parser.error(f"--only {','.join(unknown)}: give some of {', '.join(known)}")
    return [g for g in known if g in args.only.split(",")]


def merge_into(base: dict, part: dict, groups: list[str]) -> dict:
    """``base`` (a run's result) with the rows of ``groups`` replaced by ``part``'s (added where
    base had none), rows in table order; base's other rows and fields are kept as they are, and
    the part's command, commit and machine are listed under "merged" with its groups."""
    order = row_groups() + ["real"]
    rows = [r for r in base["rows"] if row_group(r) not in groups] + part["rows"]
    rows.sort(key=lambda r: order.index(row_group(r)))  # stable: each group keeps its order
    record = {"groups": groups, **{k: part[k] for k in (
        "command", "git_commit", "tree_differs_from_commit", "machine", "minutes",
        "images_per_set", "crop")}}
    earlier = [m for m in base.get("merged", []) if not set(m["groups"]) <= set(groups)]
    return {**base, "rows": rows, "merged": [*earlier, record]}


def _parallel_rows(parts: list[str], args, argv: list[str]) -> list[dict]:
    """Each part in its own one-thread process (the machine's cores are shared: one process per
    part keeps them busy), rows gathered in the order of ``parts``."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="generalization_"))
    procs = []
    for part in parts:
        out = folder / f"{part}.json"
        cmd = [sys.executable, __file__, *argv, "--part", part, "--part-out", str(out)]
        procs.append((out, subprocess.Popen(cmd)))
    rows = []
    for out, proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"part {out.stem} failed (exit {proc.returncode})")
        rows += json.loads(out.read_text())
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--psf-aware", default=DEFAULT_PSF_AWARE,
                   help="bundled name or a .safetensors file of a PSF-aware network")
    p.add_argument("--images", type=int, default=3, help="test images per held-out set")
    p.add_argument("--crop", type=int, default=CROP)
    p.add_argument("--modalities", default="fluorescence,em,brightfield")
    p.add_argument("--degradations", default=",".join(DEGRADATIONS))
    p.add_argument("--no-real", action="store_true", help="skip the real-defocus rows")
    p.add_argument("--only", help="run only these row groups (comma-separated: a modality, a set "
                   "of UNSEEN_SETS, real); overrides --modalities and --no-real")
    p.add_argument("--merge-into", type=Path, help="a result JSON whose rows of the groups run "
                   "are replaced (or added) by this run's, the rest kept; written to --out, "
                   "without the speed run")
    p.add_argument("--parallel", action="store_true",
                   help="run each modality and the real rows in a process of its own")
    p.add_argument("--part", help=argparse.SUPPRESS)
    p.add_argument("--part-out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=RESULTS / "generalization.json")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    if args.part:  # a worker of --parallel
        torch.set_num_threads(1)
        args.part_out.write_text(json.dumps(_part_rows(args.part, args)))
        return 0
    t0 = time.perf_counter()
    load = os.getloadavg()[0]  # how busy the machine was before this run started
    parts = _parts(args, p)
    if args.parallel:
        rows = _parallel_rows(parts, args, [a for a in argv if a != "--parallel"])
    else:
        torch.set_num_threads(2)
        rows = [r for part in parts for r in _part_rows(part, args)]
    torch.set_num_threads(2)
    made = provenance.record()  # the commit, and whether src/ or benchmarks/ differed from it
    result = {
        "command": "python benchmarks/generalization.py " + " ".join(argv),
        "git_commit": made["commit"][:7],
        "tree_differs_from_commit": made["tree_differs_from_commit"],
        "machine": f"{platform.machine()} {provenance.cpu_model()}, "
                   f"{os.cpu_count()} CPU cores (1-min load average {load:.1f} at the start), "
                   f"torch {torch.__version__}"
                   + (", one process and torch thread per part" if args.parallel else
                      ", 2 torch threads"),
        "images_per_set": args.images,
        "crop": args.crop,
        "rows": rows,
        "networks_saw": NETWORKS_SAW,
        "held_out_optics": {k: v["text"] for k, v in HELD_OUT_OPTICS.items()},
    }
    if args.merge_into:
        result["minutes"] = round((time.perf_counter() - t0) / 60, 1)
        result = merge_into(json.loads(args.merge_into.read_text()), result, parts)
    else:
        result["speed"] = speed(args.psf_aware)
        result["minutes"] = round((time.perf_counter() - t0) / 60, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
