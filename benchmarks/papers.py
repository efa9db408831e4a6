"""Each paper's own experiment, reproduced on this CPU at a small scale (issue 15, figures).

    sgpn  SGPN (paper 004): 10 % of the EM training images as labelled pairs, the other 90 %
          as blurry images without targets; the semi-supervised regime against supervised-only
          (L1) training on the same 10 %, and against the paper's own ablation baseline: the
          same regime's losses (content, perceptual, adversarial with differentiable
          augmentation) on the 10 % alone, its unsupervised term off and no unlabelled image.
          Same network, same minutes (``--steps N``: the same number of steps instead).
          Scored on the EM test sets under protocol A.
    grab  GRAN (paper 000): GRAN with and without its GRAB block (use_grab), same config
          otherwise, same data (all EM training images, protocol A), same minutes.
    c2f   C2F U-Net (paper 001): the shipped c2f_unet.fluorescence_v2 per defocus level on the
          real-defocus data (light-sheet single shots 0.3/0.5/0.7 um either side of focus, the
          BBBC006 z00 / near-focus pair) and under protocol B's noise with disk PSFs of growing
          radius (radius 3 is protocol B), against the input and RL / Wiener with the best
          Gaussian: its sigma and their settings tuned on training data, never on the test image.
    psf   PSF-CycleGAN (paper 003): benchmarks/papers_psf.py's ``run(minutes, quick)``.

Training data: training splits only (docs/evaluation.md section 6): em_epfl_hippocampus_fibsem
train/ (slices 0161-0164 held out for validation) and em_sem_axondeepseg_rat_spinalcord train/.
Test images: centre crops of the EM sets' test splits. Each training runs one thread for
``--minutes`` (a wall-clock budget; the steps done are in the JSON) at a constant learning rate.

    OMP_NUM_THREADS=1 python benchmarks/papers.py --part sgpn --minutes 6
    python benchmarks/papers.py --part c2f --quick    # a shape check in about a minute

Writes (merging parts) benchmarks/results/papers.json and papers.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import generalization as gen  # noqa: E402
import provenance  # noqa: E402

from napari_microdeblur.core import checkpoint, data, training  # noqa: E402
from napari_microdeblur.core.degradations import DegradationParams  # noqa: E402
from napari_microdeblur.core.degrade import degrade  # noqa: E402
from napari_microdeblur.core.inference import deblur  # noqa: E402
from napari_microdeblur.core.method import MethodSpec  # noqa: E402
from napari_microdeblur.core.metrics import evaluate  # noqa: E402
from napari_microdeblur.core.psf import disk_psf, gaussian_psf  # noqa: E402
from napari_microdeblur.core.registry import build_model  # noqa: E402

SHARED = gen.SHARED
RESULTS = Path(__file__).parent / "results"
PARTS = ("sgpn", "grab", "c2f", "psf")
EPFL = SHARED / "em_epfl_hippocampus_fibsem"
AXON = SHARED / "em_sem_axondeepseg_rat_spinalcord"
EPFL_VALIDATION = {f"training{i:04d}.png" for i in (161, 162, 163, 164)}
#: EM test splits (the non-commercial sets serve for scoring only)
EM_TESTS = {
    "em_epfl_hippocampus_fibsem": ["test/testing0000.png", "test/testing0001.png",
                                   "test/testing0002.png"],
    "em_sem_axondeepseg_rat_spinalcord": gen.HELD_OUT["em"]["test"],
    "em_isbi2012_drosophila_vnc_sstem": ["test/0.png", "test/10.png"],
    "em_drosophila_vnc_sstem_gerhard2013": ["test/stack2_00.tif", "test/stack2_10.tif"],
}
TEST_CROP = 256
LABELLED_SHARE = 0.1
SGPN_SMALL = {"encoder_channels": [16, 32, 48, 64, 96], "decoder_channels": [16, 16, 24, 32, 48],
              "encoder_blocks": 1, "decoder_blocks": 1}
GRAN_SMALL = {"n_feats": 32, "n_resblocks": 6}
LR = 3e-4
DISK_RADII = (1.0, 2.0, 3.0, 4.0, 6.0)
PROTOCOL_B_NOISE = DegradationParams("disk", {}, 0.01, 200.0)  # Poisson 200 + read noise 0.01
C2F = "c2f_unet.fluorescence_v2"
GAUSS_GRID = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)


# ----------------------------------------------------------------------------- EM data


def em_training_files() -> tuple[list[Path], list[Path]]:
    """(training files, validation files): EPFL train (less 4 slices) + AxonDeepSeg train."""
    epfl = sorted((EPFL / "train").glob("training*.png"))
    train = [f for f in epfl if f.name not in EPFL_VALIDATION]
    train += sorted((AXON / "train").glob("*.png"))
    return train, [f for f in epfl if f.name in EPFL_VALIDATION]


def em_training_images() -> tuple[list[np.ndarray], list[np.ndarray]]:
    train, val = em_training_files()
    return [gen.read(f, False) for f in train], [gen.read(f, False) for f in val]


def em_test_pairs(quick: bool) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, protocol-A input, sharp) centre crops of the EM test splits."""
    pairs = []
    for set_name, files in EM_TESTS.items():
        for i, f in enumerate(files[:1] if quick else files):
            sharp = gen.centre_crop(gen.read(SHARED / set_name / f, False),
                                    96 if quick else TEST_CROP)
            pairs.append((f"{set_name}/{f}", degrade(sharp, "A", seed=gen.SEED + i), sharp))
    return pairs


def train_network(arch: str, config: dict, regime: str, train, val, minutes: float,
                  unpaired=None, steps: int | None = None,
                  loss_weights: dict | None = None, seed: int = 0) -> tuple[Path, dict]:
    """Train one arm for ``minutes`` (or exactly ``steps`` steps, however long they take); the
    kept weights (the regime's rule) as a temporary .safetensors file, and the run's
    figures."""
    model = build_model(arch, {"in_channels": 1, "out_channels": 1, **config})
    options = dict(regime=regime, steps=steps or 100_000, batch_size=8, patch=64, lr=LR,
                   warmup=20, schedule="constant", device="cpu", amp="bf16", seed=seed,
                   val_crops=12, val_size=128, val_every=25,
                   time_limit=None if steps else minutes * 60, loss_weights=loss_weights or {})
    result = training.fit(model, options, train, val,
                          **({"unpaired": unpaired} if unpaired is not None else {}))
    tag = regime + ("_" + "_".join(f"{k}{v:g}" for k, v in loss_weights.items())
                    if loss_weights else "")
    path = Path(tempfile.mkdtemp(prefix="papers-")) / f"{arch}_{tag}.safetensors"
    checkpoint.save_weights(model.to("cpu"), path, {"normalization": result.normalization,
                                                   "license": "NOASSERTION"})
    figures = {"regime": regime, "arch": arch, "config": config, "steps": result.steps_done,
               "minutes": round(result.seconds / 60, 2), "kept": training.get_regime(
                   regime).checkpoint_criterion.split(" (")[0],
               "val_psnr": result.best_metrics.get("val_psnr"),
               "val_psnr_input": result.baseline.get("val_psnr")}
    print(f"  {arch} {regime}: {json.dumps(figures)}", flush=True)
    return path, figures


def score_em(weights: Path | None, pairs) -> dict:
    """Mean border-excluded and whole-image PSNR over the test pairs (None: the input)."""
    rows = []
    for name, blurred, sharp in pairs:
        out = blurred if weights is None else deblur(
            blurred, method=MethodSpec("auto", weights=str(weights)), axes="YX", device="cpu")
        m = evaluate(out, sharp, border=gen.BORDER)
        rows.append({"image": name, "psnr": float(m["psnr"]), "psnr_whole": float(m["psnr_whole"]),
                     "ssim": float(m["ssim"])})
    return {"psnr": float(np.mean([r["psnr"] for r in rows])),
            "psnr_whole": float(np.mean([r["psnr_whole"] for r in rows])),
            "ssim": float(np.mean([r["ssim"] for r in rows])), "per_image": rows}


def validation(val_images: list[np.ndarray]) -> list:
    return data.SyntheticData(val_images, "A", axes="YX", seed=0).validation_pairs()


# ----------------------------------------------------------------------------- parts


def part_sgpn(minutes: float, quick: bool, steps: int | None = None, seed: int = 0) -> dict:
    images, val_images = em_training_images()
    order = np.random.default_rng(0).permutation(len(images))
    n_labelled = max(1, int(round(LABELLED_SHARE * len(images))))
    labelled = [images[i] for i in order[:n_labelled]]
    # the other 90 %: blurred once by protocol A (seeded), given without their targets
    unlabelled = [degrade(images[i], "A", seed=100 + int(i)) for i in order[n_labelled:]]
    # the same labelled and unlabelled images for every seed; the seed varies the training
    train = data.SyntheticData(labelled, "A", axes="YX", seed=seed)
    val, tests = validation(val_images), em_test_pairs(quick)
    semi, semi_fig = train_network("sgpn", SGPN_SMALL, "sgpn", train, val, minutes,
                                   data.UnpairedImages(unlabelled, axes="YX"), steps, seed=seed)
    sup, sup_fig = train_network("sgpn", SGPN_SMALL, "supervised", train, val, minutes,
                                 steps=steps, seed=seed)
    # the paper's ablation baseline (its Table 6, the row before "+ semisupervised learning"):
    # the regime's losses on the labelled pairs alone; its "unlabelled" images are the
    # labelled inputs themselves, so the discriminator sees nothing the pairs do not hold
    labelled_inputs = [degrade(image, "A", seed=100 + int(i))
                       for i, image in zip(order[:n_labelled], labelled)]
    adv, adv_fig = train_network("sgpn", SGPN_SMALL, "sgpn", train, val, minutes,
                                 data.UnpairedImages(labelled_inputs, axes="YX"), steps,
                                 loss_weights={"unsupervised": 0.0}, seed=seed)
    scores = {"input": score_em(None, tests), "supervised": score_em(sup, tests),
              "adversarial_labelled_only": score_em(adv, tests),
              "semi_supervised": score_em(semi, tests)}
    return {
        "claim": "paper 004: the semi-supervised regime beats supervised training on the same "
                 "labelled pairs",
        "labelled_images": n_labelled, "unlabelled_images": len(unlabelled),
        "degradation": "protocol A (training pairs, unlabelled images, test)",
        "runs": {"semi_supervised": semi_fig, "supervised": sup_fig,
                 "adversarial_labelled_only": adv_fig},
        "scores": scores,
        "margin_db": scores["semi_supervised"]["psnr"] - scores["supervised"]["psnr"],
        "ablation_margin_db": (scores["semi_supervised"]["psnr"]
                               - scores["adversarial_labelled_only"]["psnr"]),
        "test_images": len(tests), "crop": 96 if quick else TEST_CROP,
        "budget": f"{steps} steps per arm" if steps else f"{minutes:g} minutes per arm",
        "seed": seed,
    }


def part_grab(minutes: float, quick: bool) -> dict:
    images, val_images = em_training_images()
    train = data.SyntheticData(images, "A", axes="YX", seed=0)
    val, tests = validation(val_images), em_test_pairs(quick)
    with_grab, with_fig = train_network("gran", {**GRAN_SMALL, "use_grab": True}, "supervised",
                                        train, val, minutes)
    without, without_fig = train_network("gran", {**GRAN_SMALL, "use_grab": False},
                                         "supervised", train, val, minutes)
    scores = {"input": score_em(None, tests), "gran_without_grab": score_em(without, tests),
              "gran_with_grab": score_em(with_grab, tests)}
    return {
        "claim": "paper 000: GRAB (graph reasoning attention) improves GRAN over its EDSR-like "
                 "baseline",
        "training_images": len(images), "degradation": "protocol A (training and test)",
        "runs": {"with_grab": with_fig, "without_grab": without_fig}, "scores": scores,
        "difference_db": scores["gran_with_grab"]["psnr"] - scores["gran_without_grab"]["psnr"],
        "test_images": len(tests), "crop": 96 if quick else TEST_CROP,
    }


def _methods_row(label: str, sigma: float, settings: dict, tests, score) -> dict:
    """Input, RL / Wiener with the Gaussian of ``sigma`` (tuned ``settings``) and the C2F
    U-Net on (blurred, reference) test pairs, scored by ``score``."""
    psf = gaussian_psf(sigma)
    per_method = {k: [] for k in ("input", "richardson_lucy", "wiener", C2F)}
    for blurred, ref in tests:
        outputs = {"input": blurred,
                   "richardson_lucy": gen.run("richardson_lucy", blurred, psf, "YX",
                                              settings["richardson_lucy"]),
                   "wiener": gen.run("wiener", blurred, psf, "YX", settings["wiener"]),
                   C2F: gen.run(C2F, blurred, psf, "YX")}
        for method, out in outputs.items():
            per_method[method].append(score(out, ref))
    means = {m: {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim")}
             for m, rows in per_method.items()}
    row = {"defocus": label, "gaussian_sigma": sigma, "tuned": settings, "images": len(tests),
           "methods": means}
    print(f"  {label}: " + ", ".join(f"{m} {v['psnr']:.2f}" for m, v in means.items()), flush=True)
    return row


def _tuned(pairs, sigma: float, score) -> dict:
    psf = gaussian_psf(sigma)
    return {m: gen.tune(m, pairs, psf, "YX", score)[0] for m in ("richardson_lucy", "wiener")}


def _best_sigma_synthetic(pairs) -> float:
    """The Gaussian whose RL restores the (blurred, sharp) training pairs best."""
    def score(s):
        psf = gaussian_psf(s)
        return np.mean([evaluate(gen.run("richardson_lucy", b, psf, "YX", 20), r,
                                 border=gen.BORDER)["psnr"] for b, r in pairs])
    return float(max(GAUSS_GRID, key=score))


def lightsheet_rows(quick: bool) -> list[dict]:
    """Each single shot against the in-focus shot; sigma and settings fitted on the shot at the
    same distance on the other side of focus."""
    import tifffile

    shots = SHARED / "focus_stack_lightsheet_dfnn" / "mitochondria_cell2_single_shots"
    ref = tifffile.imread(shots / "cell2G2Dz0p3umON.tif").astype(np.float32)
    crop = (lambda a: gen.centre_crop(a, 128)) if quick else (lambda a: a)
    ref = crop(ref)
    rows = []
    for side, other in (("M", "P"), ("P", "M")):
        for dist in ("0p3", "0p5", "0p7")[:1 if quick else 3]:
            test = crop(tifffile.imread(shots / f"cell2G2Dz0p3umOff{side}{dist}um.tif")
                        .astype(np.float32))
            fit = crop(tifffile.imread(shots / f"cell2G2Dz0p3umOff{other}{dist}um.tif")
                       .astype(np.float32))
            sigma = gen.fit_gaussian_sigma([(fit, ref)])
            settings = _tuned([(fit, ref)], sigma, lambda p, r: gen.real_score(p, r)["psnr"])
            sign = "-" if side == "M" else "+"
            rows.append({"set": "light-sheet mitochondria single shots", **_methods_row(
                f"{sign}{dist.replace('p', '.')} um", sigma, settings, [(test, ref)],
                gen.real_score)})
    return rows


def sharpness(image: np.ndarray) -> float:
    """Mean gradient magnitude over the standard deviation: falls as blur grows."""
    x = image.astype(np.float64)
    gy, gx = np.gradient(x)
    return float(np.mean(np.hypot(gy, gx)) / max(x.std(), 1e-12))


def bbbc006_row(quick: bool) -> dict:
    """The z00 / near-focus pair. Sigma: the Gaussian that brings near-focus images of other
    wells to the sharpness of the z00 images of other wells (no reference used); RL / Wiener
    tuned on those near-focus images blurred by it; the pair itself is only scored."""
    import imageio.v3 as iio
    import tifffile
    from scipy import ndimage

    bb = SHARED / "bbbc006_u2os_hoechst_realdefocus"
    size = 128 if quick else 10_000
    near = [gen.centre_crop(np.asarray(iio.imread(f)).astype(np.float32), size)
            for f in sorted((bb / "nearfocus_z_aligned").glob("*.png"))]
    far = [gen.centre_crop(tifffile.imread(f).astype(np.float32), size)
           for f in sorted((bb / "defocused_z00").glob("*.tif"))]
    target = np.mean([sharpness(f) for f in far])
    grid = (4.0, 8.0, 12.0, 16.0, 20.0, 24.0)
    sigma = float(min(grid, key=lambda s: abs(np.mean(
        [sharpness(ndimage.gaussian_filter(n, s)) for n in near]) - target)))
    psf = gaussian_psf(sigma).astype(np.float64)
    tune_pairs = []
    for i, o in enumerate(near[:2]):
        b = ndimage.convolve(o.astype(np.float64), psf, mode="reflect")
        b = b + np.random.default_rng(1000 + i).normal(0, 2 / 255 * o.max(), b.shape)
        tune_pairs.append((b.astype(np.float32), o))
    settings = _tuned(tune_pairs, sigma,
                      lambda p, r: evaluate(p, r, border=gen.BORDER)["psnr"])
    pair = bb / "pair_a01_s1"
    sharp = gen.centre_crop(np.asarray(iio.imread(next(pair.glob("*.png")))).astype(np.float32),
                            size)
    blurred = gen.centre_crop(tifffile.imread(next(pair.glob("*.tif"))).astype(np.float32), size)
    return {"set": "BBBC006 pair a01 s1", **_methods_row(
        "z00 (32 um below focus)", sigma, settings, [(blurred, sharp)], gen.real_score)}


def protocol_b_rows(quick: bool) -> list[dict]:
    """Held-out fluorescence test images blurred by disks of growing radius with protocol B's
    noise; the Gaussian and RL / Wiener settings tuned on the set's training images."""
    from scipy import ndimage

    from napari_microdeblur.core.metrics import reference_scale

    cfg = gen.HELD_OUT["fluorescence"]
    root = SHARED / cfg["set"]
    crop = 96 if quick else gen.CROP
    tests = [gen.centre_crop(gen.read(root / f, False), crop) for f in cfg["test"][:1 if quick
                                                                                   else 3]]
    trains = [gen.centre_crop(gen.read(root / f, False), 96 if quick else gen.TUNE_CROP)
              for f in cfg["train"]]

    def blur(image, radius, seed):
        offset, scale = reference_scale(image)
        x01 = np.clip((image.astype(np.float64) - offset) / scale, 0, 1)
        b = ndimage.convolve(x01, disk_psf(radius).astype(np.float64), mode="reflect")
        noisy = PROTOCOL_B_NOISE.noise(b, np.random.default_rng(seed))
        return (np.clip(noisy, 0, 1) * scale + offset).astype(np.float32)

    def score(p, r):
        return {k: float(v) for k, v in evaluate(p, r, border=gen.BORDER).items()
                if k in ("psnr", "ssim")}

    rows = []
    for radius in DISK_RADII[2:3] if quick else DISK_RADII:
        tune_pairs = [(blur(s, radius, 1000 + i), s) for i, s in enumerate(trains)]
        sigma = _best_sigma_synthetic(tune_pairs)
        settings = _tuned(tune_pairs, sigma, lambda p, r: score(p, r)["psnr"])
        tests_b = [(blur(s, radius, gen.SEED + i), s) for i, s in enumerate(tests)]
        label = f"disk radius {radius:g} px" + (" (protocol B)" if radius == 3 else "")
        rows.append({"set": cfg["set"], **_methods_row(label, sigma, settings, tests_b, score)})
    return rows


def part_c2f(minutes: float, quick: bool) -> dict:
    del minutes  # no training: the shipped weights are scored
    return {
        "network": C2F,
        "scoring": "real pairs: percentile-normalised, prediction affine-fitted to the "
                   "reference, 16 px border excluded; protocol B rows: reference scale, 16 px "
                   "border excluded (docs/evaluation.md)",
        "rows": lightsheet_rows(quick) + [bbbc006_row(quick)] + protocol_b_rows(quick),
    }


def part_psf(minutes: float, quick: bool) -> dict:
    from papers_psf import run  # benchmarks/papers_psf.py (PSF-CycleGAN's PSF recovery)

    return run(minutes, quick)


RUNNERS = {"sgpn": part_sgpn, "grab": part_grab, "c2f": part_c2f, "psf": part_psf}


# ----------------------------------------------------------------------------- report


def _em_table(scores: dict, labels: dict[str, str]) -> list[str]:
    lines = ["| method | PSNR (16 px border out) | whole-image PSNR | SSIM |", "|---|---|---|---|"]
    for key, label in labels.items():
        s = scores[key]
        lines.append(f"| {label} | {s['psnr']:.2f} | {s['psnr_whole']:.2f} | {s['ssim']:.3f} |")
    return lines


def _runs_line(runs: dict) -> str:
    return "; ".join(f"{name}: {r['steps']} steps in {r['minutes']:.1f} min, kept the {r['kept']}"
                     for name, r in runs.items())


def markdown_part(part: str, r: dict) -> str:
    """One part's figures as Markdown (used for papers.md and the README)."""
    if part == "sgpn":
        lines = [f"SGPN, {r['labelled_images']} labelled EM training images (10 %) + "
                 f"{r['unlabelled_images']} unlabelled, protocol A, {r['test_images']} EM "
                 f"test crops of {r['crop']} px: semi-supervised - supervised = "
                 f"**{r['margin_db']:+.2f} dB**"
                 + (f"; semi-supervised - the paper's ablation baseline (the same losses on "
                    f"the labelled 10 % alone) = **{r['ablation_margin_db']:+.2f} dB**"
                    if "ablation_margin_db" in r else ""), "",
                 *_em_table(r["scores"], {
                     "input": "degraded input", "supervised": "SGPN, supervised (L1) on the 10 %",
                     **({"adversarial_labelled_only": "SGPN regime on the 10 % alone "
                         "(unsupervised term off, no unlabelled images)"}
                        if "adversarial_labelled_only" in r["scores"] else {}),
                     "semi_supervised": "SGPN, semi-supervised"}),
                 "", _runs_line(r["runs"]) + "."]
    elif part == "grab":
        lines = [f"GRAN with and without GRAB, {r['training_images']} EM training images, "
                 f"protocol A, {r['test_images']} EM test crops of {r['crop']} px: with - "
                 f"without = **{r['difference_db']:+.2f} dB**", "",
                 *_em_table(r["scores"], {"input": "degraded input",
                                          "gran_without_grab": "GRAN without GRAB",
                                          "gran_with_grab": "GRAN with GRAB"}),
                 "", _runs_line(r["runs"]) + "."]
    elif part == "c2f":
        lines = [f"{r['network']} per defocus level; PSNR / SSIM ({r['scoring']})", "",
                 "| set | defocus | Gaussian sigma | input | RL (best Gaussian) | "
                 "Wiener (best Gaussian) | C2F U-Net |", "|---|---|---|---|---|---|---|"]
        for row in r["rows"]:
            m = row["methods"]
            cells = " | ".join(f"{m[k]['psnr']:.2f} / {m[k]['ssim']:.3f}"
                               for k in ("input", "richardson_lucy", "wiener", r["network"]))
            lines.append(f"| {row['set']} | {row['defocus']} | {row['gaussian_sigma']:g} | "
                         f"{cells} |")
    else:
        lines = [f"{r['figure']}; targets: {r['targets']}", "",
                 "| case | steps | FWHM true / learned (px) | FWHM error | NCC | input | "
                 "RL learned PSF | RL true PSF | meets targets |", "|---" * 9 + "|"]
        for row in r["rows"]:
            fwhm = (f"{'x'.join(f'{v:.2f}' for v in row['fwhm_true_px'])} / "
                    f"{'x'.join(f'{v:.2f}' for v in row['fwhm_learned_px'])}")
            lines.append(f"| {row['case']} | {row['steps_done']} | {fwhm} | "
                         f"{row['fwhm_error_pct']:.1f} % | {row['ncc']:.3f} | "
                         f"{row['psnr_input']:.2f} | {row['psnr_rl_learned_psf']:.2f} | "
                         f"{row['psnr_rl_true_psf']:.2f} | "
                         f"{'yes' if row['meets_targets'] else 'no'} |")
    return "\n".join(lines) + "\n"


def markdown(result: dict) -> str:
    out = ["# Papers' experiments (benchmarks/papers.py)", ""]
    for part in PARTS:
        if part in result["parts"]:
            entry = result["parts"][part]
            out += [f"## {part}", "", f"`{entry['provenance']['command']}`", "",
                    markdown_part(part, entry["results"])]
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", action="append", choices=PARTS,
                   help="part to run (repeatable; default all)")
    p.add_argument("--minutes", type=float, default=6.0,
                   help="wall-clock minutes per training (at most 8 on this CPU)")
    p.add_argument("--steps", type=int,
                   help="sgpn: train each arm exactly this many steps instead of --minutes "
                   "(the semi-supervised step costs about 3 supervised ones)")
    p.add_argument("--seed", type=int, default=0,
                   help="sgpn: training seed of every arm (the labelled / unlabelled split and "
                   "the test crops stay the same)")
    p.add_argument("--quick", action="store_true",
                   help="shape check: tiny crops, 0.2-minute trainings; results not written")
    p.add_argument("--json", type=Path, default=RESULTS / "papers.json")
    args = p.parse_args(argv)
    if not args.minutes > 0:
        p.error(f"--minutes {args.minutes}: give a budget > 0")
    if args.steps is not None and args.steps < 1:
        p.error(f"--steps {args.steps}: give at least 1")
    minutes = 0.2 if args.quick else args.minutes
    result = {"parts": {}}
    if args.json.exists() and not args.quick:
        result = json.loads(args.json.read_text())
    for part in args.part or PARTS:
        t0 = time.perf_counter()
        print(f"{part}:", flush=True)
        extra = ({"steps": args.steps} if args.steps else {}) | {"seed": args.seed} \
            if part == "sgpn" else {}
        figures = RUNNERS[part](minutes, args.quick, **extra)
        result["parts"][part] = {"provenance": provenance.record(), "results": figures,
                                 "seconds": round(time.perf_counter() - t0, 1)}
        print(markdown_part(part, figures), flush=True)
    if args.quick:
        return 0
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    args.json.with_suffix(".md").write_text(markdown(result))
    print(f"wrote {args.json} and {args.json.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
