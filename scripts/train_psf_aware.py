#!/usr/bin/env python
"""Train the PSF-aware Wiener U-Net (``wiener_unet``) on broad content, on this machine's CPU.

The network is given the PSF, so it is trained on many PSFs and many kinds of images at once:
patches from the *training splits* of six permissively licensed (or licence-unstated, see
below) sets in ``../shared/data``, grayscale (RGB sets channel by channel), each blurred with a
PSF drawn afresh and given the same PSF:

* Gaussian (sigma 0.6-3.0 px), defocus disk (radius 1-4 px), astigmatic Gaussian (major
  1-3.5 px, minor/major 0.2-0.8) -- ``core.data.DegradationRanges`` -- and, with probability
  ``--p-protocol``, exactly one of protocols A, B, C of docs/evaluation.md (their families are
  in training; the benchmark's cross-dataset sets are not);
* optics PSFs from ``psfmodels`` (vectorial model, Aguet et al. 2009) in a TRAINING range:
  widefield or confocal (excitation at 0.9 x emission, pinhole closed: PSF_ex x PSF_em),
  NA 0.7-1.2 (air below 0.95 or water, n = 1.0 / 1.33, sample index = immersion index, so no
  spherical aberration), emission wavelength 0.45-0.56 um, pixel 0.06-0.15 um, defocus 0-1 um.
  The benchmark's held-out optics PSFs use NA 1.3-1.45 oil immersion, wavelength 0.6-0.7 um
  and spherical aberration, a range no training run draws from.

Noise: Gaussian sigma 0-0.03; with probability 0.4 Poisson at a peak of 30-1000 photons
(log-uniform) plus that Gaussian read noise; intensities on the reference [0, 1] scale of
docs/evaluation.md, then a random gain in [0.6, 1.2] (the network must not rely on a range).

Never used: the test splits, the held-out sets (fluorescence_cellprofiler_examples_extra,
em_sem_axondeepseg_rat_spinalcord, brightfield_bccd_blood_smear), the non-commercial sets (ISBI
2012, Gerhard 2013, sephace), the real-defocus sets, and images that ship in Python packages.

The learning rate follows a cosine over the wall-clock budget (``--minutes``), so a busy CPU
shortens the run rather than cutting the schedule. A few whole training-split images set aside
for validation (protocols A, B, C and one training-range widefield PSF, 128 px crops) pick the
best weights. ``runs/psf_aware/last.pt`` is written every ``--checkpoint-minutes``; the same
command resumes from it. The result is written with ``core.weights.save_weights`` with a model
card (data and licences, PSF ranges, noise, steps, minutes, seed, command).

    nohup python scripts/train_psf_aware.py --minutes 75 \\
        --out src/napari_microdeblur/weights/wiener_unet.psf_v1.safetensors \\
        > runs/psf_aware.log 2>&1 &
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO / "src"))

PSF_SIDE = 33  # every training PSF is zero-padded (or cropped) to this side
LOSS_MARGIN = PSF_SIDE // 2  # pixels per side of a patch the loss and validation leave out
WARMUP_STEPS = 50  # linear learning-rate warm-up
# 16 channels at full resolution and three levels: about 3 MP/s for the U-Net alone in bf16 on
# an idle 2-core CPU (1024 x 1024), so the whole method with its tile overlap stays >= 0.5 MP/s.
MODEL_CONFIG = {"base_channels": 16, "levels": 3, "wiener_gains": (10.0, 100.0, 1000.0)}

# Training-range optics; the benchmark's held-out range is in benchmarks/generalization.py.
TRAIN_ABERRATED = {"na": (0.9, 1.2), "sample_index": (1.38, 1.45), "depth_um": (2.0, 15.0)}
# --p-halo: a narrow core with wide wings, as measured bead PSFs of widefield microscopes have
# (a Gaussian halo of this sigma in px carrying this share of the energy)
HALO = {"sigma_px": (3.0, 6.0), "share": (0.1, 0.4)}
MISMATCH_ZOOM = (0.8, 1.25)  # --p-mismatch: the network is given the PSF stretched by this
TRAIN_OPTICS = {
    "na": (0.7, 1.2),
    "wavelength_um": (0.45, 0.56),
    "pixel_um": (0.06, 0.15),
    "defocus_um": (0.0, 1.0),
    "immersion": "air (n 1.0) below NA 0.95 half the time, else water (n 1.33); ns = ni",
    "confocal": "excitation 0.9 x emission wavelength, PSF_ex * PSF_em",
}

TRAINING_DATA = (
    "Training splits only (per each set's PROVENANCE.md), grayscale, RGB as separate channels: "
    "fluorescence_2d (CellProfiler ExampleFly POS002, POS076; ExampleSpeckles; BSD-3-Clause), "
    "fluorescence_neubias_training_resources train/ (CC BY 4.0), histology_brightfield_rgb "
    "Kather 2016 tiles, all but the last tile of each class (CC BY 4.0), "
    "brightfield_cellprofiler_worms_phase train/ (BSD-3-Clause), em_epfl_hippocampus_fibsem "
    "train/ (Lucchi et al. 2012; dataset licence NOT STATED, research use with citation), "
    "em_neubias_tem_sem_volume train/ without c_elegans z0013 (CC BY 4.0 / EMPIAR CC0). "
    "Validation: fluorescence_2d POS076_D, EPFL training0161, NEUBIAS nuclei_PLK1_control, "
    "Kather 01_TUMOR second tile, worms C16_w1, C. elegans EM z0012 (all training split, not "
    "trained on). Never: test splits, the sets fluorescence_cellprofiler_examples_extra, "
    "em_sem_axondeepseg_rat_spinalcord, brightfield_bccd_blood_smear (held out for the "
    "cross-dataset benchmark), non-commercial and real-defocus sets, package sample images."
)


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


# ----------------------------------------------------------------------------- data


def _to01(a: np.ndarray) -> np.ndarray:
    """Reference [0, 1] scale of docs/evaluation.md: uint8 / 255, other integers / max."""
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    a = a.astype(np.float32)
    if a.dtype.kind == "f" and a.min() < 0:
        a = a - a.min()
    return a / max(float(a.max()), 1e-6)


def _read(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".png":
        import imageio.v3 as iio

        return np.asarray(iio.imread(path))
    import tifffile

    return np.asarray(tifffile.imread(path))


def _planes(path: Path, kind: str) -> list[np.ndarray]:
    """Grayscale [0, 1] planes of one file. kind: 'gray', 'la' (take L), 'rgb', 'cyx', 'zyx'."""
    a = _read(path)
    if kind == "la":
        return [_to01(a[..., 0] if a.ndim == 3 else a)]
    if kind == "rgb":
        return [_to01(a[..., c]) for c in range(3)]
    if kind == "cyx":
        return [_to01(c) for c in a]
    if kind == "zyx":
        return [_to01(a[z]) for z in range(0, a.shape[0], 3)]
    return [_to01(a)]


def _kind(path: Path) -> str:
    name = path.name
    if name.startswith("xyc_"):
        return "cyx"
    if name.startswith("xyz_"):
        return "zyx"
    return "gray"


def training_files(root: Path) -> tuple[dict[str, list[tuple[Path, str]]], set[str]]:
    """{set: [(path, kind)]} of the training splits and the file names kept for validation."""
    fl = root / "fluorescence_2d"
    fly = fl / "cellprofiler_ExampleFly_kc167"
    sp = fl / "cellprofiler_ExampleSpeckles_h2ax"
    nb = root / "fluorescence_neubias_training_resources" / "train"
    kath = root / "histology_brightfield_rgb" / "kather2016_crc_he_tiles"
    worms = root / "brightfield_cellprofiler_worms_phase" / "train"
    epfl = root / "em_epfl_hippocampus_fibsem" / "train"
    emn = root / "em_neubias_tem_sem_volume" / "train"
    val_names = {
        "01_POS076_D.TIF", "training0161.png", "xy_8bit__nuclei_PLK1_control.tif",
        "101210OranePlt1_C16_w1.tif", "c_elegans_em_z0012.tif",
    }
    files: dict[str, list[tuple[Path, str]]] = {
        "fluorescence_2d": [(fly / f"01_POS{p}_{c}.TIF", "gray") for p in ("002", "076")
                            for c in "DFR"]
        + [(sp / "1-162hrh2ax2.tif", "gray"), (sp / "1-162hrhoe2.tif", "gray")],
        "fluorescence_neubias": [(p, _kind(p)) for p in sorted(nb.glob("*.tif"))],
        "histology_kather": [],
        "brightfield_worms_phase": [
            (worms / "oilredO_worms" / "WT_orig.png", "rgb"),
            (worms / "celegans_worms_brightfield" / "C01_w1.tif", "gray"),
            (worms / "celegans_worms_brightfield" / "101210OranePlt1_C16_w1.tif", "gray"),
            (worms / "phase_contrast_wound" / "DMSO_B5_t0_crop1024.png", "rgb"),
        ],
        "em_epfl_fibsem": [(p, "la") for p in sorted(epfl.glob("training*.png"))],
        "em_neubias": [(emn / "xy_8bit__em_mitochondria_er.tif", "gray")]
        + [(p, "gray") for p in sorted((emn / "c_elegans_em_volume").glob("*.tif"))
           if not p.name.endswith("z0013.tif")],  # z0013 neighbours the test block
    }
    for cls in sorted(p for p in kath.iterdir() if p.is_dir()):
        tiles = sorted(cls.glob("*.tif"))[:-1]  # the alphabetically last tile is the test tile
        files["histology_kather"] += [(t, "rgb") for t in tiles]
        if cls.name == "01_TUMOR":
            val_names.add(tiles[1].name)
    for entries in files.values():
        for path, _ in entries:
            if not path.is_file():
                raise SystemExit(f"missing training file {path} (is --data-root right?)")
    return files, val_names


def training_sets(root: Path) -> tuple[dict[str, list], list]:
    """{set: [(name, plane)]} for training and [(name, plane)] for validation."""
    files, val_names = training_files(root)
    train: dict[str, list] = {k: [] for k in files}
    val = []
    for key, entries in files.items():
        for path, kind in entries:
            planes = _planes(path, kind)
            if path.name in val_names:
                val.append((path.name, planes[1 if len(planes) == 3 else 0]))
            else:
                train[key] += [(f"{path.name}[{i}]", p) for i, p in enumerate(planes)]
    return train, val


# ----------------------------------------------------------------------------- PSFs


def optics_psf(kind, na, wavelength, pixel, defocus, ni, ns=None, depth=0.0, side=None):
    """A 2D widefield or confocal PSF (float32, sums to 1) from psfmodels' vectorial model."""
    import psfmodels

    side = side or PSF_SIDE

    def one(wvl):
        p = psfmodels.make_psf(
            [float(defocus)], nx=side, dxy=float(pixel), NA=float(na), wvl=float(wvl),
            ni=float(ni), ni0=float(ni), ns=float(ns if ns is not None else ni), pz=float(depth),
            model="vectorial",
        )[0]
        return p / p.sum()

    psf = one(wavelength)
    if kind == "confocal":
        psf = psf * one(0.9 * wavelength)
    psf = np.clip(psf, 0, None)
    return (psf / psf.sum()).astype(np.float32)


def draw_optics(rng: np.random.Generator, p_aberrated: float = 0.0) -> tuple[np.ndarray, dict]:
    if p_aberrated and rng.random() < p_aberrated:
        # a water objective focused into a denser sample (spherical aberration), in a
        # range disjoint from the benchmark's held-out one (oil, NA 1.3-1.45, 0.6-0.7 um)
        params = {
            "kind": "confocal" if rng.random() < 0.4 else "widefield",
            "na": float(rng.uniform(*TRAIN_ABERRATED["na"])),
            "wavelength": float(rng.uniform(*TRAIN_OPTICS["wavelength_um"])),
            "pixel": float(rng.uniform(*TRAIN_OPTICS["pixel_um"])),
            "defocus": float(rng.uniform(*TRAIN_OPTICS["defocus_um"])),
            "ni": 1.33,
            "ns": float(rng.uniform(*TRAIN_ABERRATED["sample_index"])),
            "depth": float(rng.uniform(*TRAIN_ABERRATED["depth_um"])),
        }
        return optics_psf(**params), params
    na = float(rng.uniform(*TRAIN_OPTICS["na"]))
    ni = 1.0 if (na < 0.95 and rng.random() < 0.5) else 1.33
    params = {
        "kind": "confocal" if rng.random() < 0.4 else "widefield",
        "na": na,
        "wavelength": float(rng.uniform(*TRAIN_OPTICS["wavelength_um"])),
        "pixel": float(rng.uniform(*TRAIN_OPTICS["pixel_um"])),
        "defocus": float(rng.uniform(*TRAIN_OPTICS["defocus_um"])),
        "ni": ni,
    }
    return optics_psf(**params), params


def with_halo(psf: np.ndarray, rng: np.random.Generator,
              sigma_px: tuple[float, float] | None = None) -> np.ndarray:
    """``psf`` (odd, square) with a share of its energy moved into a wide Gaussian halo (sigma
    drawn from ``sigma_px``, default ``HALO['sigma_px']``)."""
    from napari_microdeblur.core.psf import gaussian_psf

    sigma = float(rng.uniform(*(sigma_px or HALO["sigma_px"])))
    halo = gaussian_psf(sigma, size=psf.shape[0])
    share = float(rng.uniform(*HALO["share"]))
    out = (1 - share) * psf / psf.sum() + share * halo / halo.sum()
    return (out / out.sum()).astype(np.float32)


def fit_side(psf: np.ndarray, side: int | None = None) -> np.ndarray:
    """Centre-pad or centre-crop an odd-sided PSF to side x side, renormalised."""
    side = side or PSF_SIDE
    out = np.zeros((side, side), np.float32)
    h, w = psf.shape
    cy, cx, c = h // 2, w // 2, side // 2
    r = min(c, cy, cx, h - 1 - cy, w - 1 - cx)
    out[c - r : c + r + 1, c - r : c + r + 1] = psf[cy - r : cy + r + 1, cx - r : cx + r + 1]
    return out / out.sum()


class PatchSampler:
    """Degraded / clean patch pairs with their PSFs, drawn with one numpy generator."""

    def __init__(self, train: dict[str, list], ranges, p_optics: float, seed: int,
                 set_p: np.ndarray | None = None, p_mismatch: float = 0.0,
                 p_aberrated: float = 0.0, p_halo: float = 0.0, p_gaussian_fit: float = 0.0):
        self.sets = [v for v in train.values() if v]
        self.p_gaussian_fit = p_gaussian_fit
        self.set_p = set_p  # None: every set equally likely
        self.p_mismatch = p_mismatch
        self.p_aberrated = p_aberrated
        self.p_halo = p_halo
        self.weights = [np.array([p.size for _, p in s], np.float64) for s in self.sets]
        self.weights = [w / w.sum() for w in self.weights]
        self.margin = PSF_SIDE // 2
        self.padded = [[np.pad(p, self.margin, mode="symmetric") for _, p in s] for s in self.sets]
        self.ranges = ranges
        self.p_optics = p_optics
        self.rng = np.random.default_rng(seed)

    def draw_psf(self):
        params = self.ranges.sample(self.rng)
        if self.rng.random() < self.p_optics:
            psf, _ = draw_optics(self.rng, self.p_aberrated)
        else:
            psf = params.psf()
        psf = fit_side(psf)
        if self.p_halo and self.rng.random() < self.p_halo:
            psf = with_halo(psf, self.rng)
        return psf, params

    def sample(self, batch: int, patch: int):
        from scipy import signal

        rng, m = self.rng, self.margin
        xs, ys, ks = [], [], []
        for _ in range(batch):
            if self.set_p is None:
                s = int(rng.integers(len(self.sets)))
            else:
                s = int(rng.choice(len(self.sets), p=self.set_p))
            i = int(rng.choice(len(self.sets[s]), p=self.weights[s]))
            img = self.padded[s][i]
            side = min(patch, img.shape[0] - 2 * m, img.shape[1] - 2 * m)
            y0 = int(rng.integers(0, img.shape[0] - side - 2 * m + 1))
            x0 = int(rng.integers(0, img.shape[1] - side - 2 * m + 1))
            region = img[y0 : y0 + side + 2 * m, x0 : x0 + side + 2 * m].astype(np.float64)
            if side < patch:  # a small image (Kather tiles are 150 px): mirror up to the patch
                extra = patch - side
                region = np.pad(region, ((0, extra), (0, extra)), mode="symmetric")
            psf, params = self.draw_psf()
            blurred = signal.fftconvolve(region, psf.astype(np.float64), mode="valid")
            clean = region[m : m + patch, m : m + patch]
            noisy = params.noise(blurred, rng)
            if self.p_gaussian_fit and rng.random() < self.p_gaussian_fit:
                psf = gaussian_fit(psf)  # a Gaussian fitted to the true PSF, as users have
            if self.p_mismatch and rng.random() < self.p_mismatch:
                psf = zoomed(psf, float(rng.uniform(*MISMATCH_ZOOM)))  # the PSF the user has
            gain = rng.uniform(0.6, 1.2)
            k = int(rng.integers(8))
            xs.append(_dihedral(noisy * gain, k))
            ys.append(_dihedral(clean * gain, k))
            ks.append(_dihedral(psf, k))
        return (np.stack(xs)[:, None].astype(np.float32), np.stack(ys)[:, None].astype(np.float32),
                np.stack(ks).astype(np.float32))


def gaussian_fit(psf: np.ndarray, floor: float = 0.01) -> np.ndarray:
    """The Gaussian with the centroid and covariance of ``psf``'s pixels at or above ``floor``
    x its peak (its core and shoulders, not the faint wings), on the same grid, summing to 1:
    the PSF a user who fits a Gaussian to a bead or a defocused pair gives instead of the
    true one."""
    p = np.where(psf >= floor * psf.max(), psf, 0.0).astype(np.float64)
    p /= p.sum()
    yy, xx = np.mgrid[: psf.shape[0], : psf.shape[1]].astype(np.float64)
    cy, cx = (p * yy).sum(), (p * xx).sum()
    dy, dx = yy - cy, xx - cx
    cov = np.array([[(p * dy * dy).sum(), (p * dy * dx).sum()],
                    [(p * dy * dx).sum(), (p * dx * dx).sum()]]) + 1e-3 * np.eye(2)
    inv = np.linalg.inv(cov)
    g = np.exp(-0.5 * (inv[0, 0] * dy * dy + 2 * inv[0, 1] * dy * dx + inv[1, 1] * dx * dx))
    return (g / g.sum()).astype(np.float32)


def zoomed(psf: np.ndarray, factor: float) -> np.ndarray:
    """The PSF stretched by ``factor`` about its centre (same shape, sums to 1): a PSF that is
    a little too narrow or too wide, as a measured or fitted one is."""
    from scipy import ndimage

    c = (np.array(psf.shape) - 1) / 2
    out = ndimage.affine_transform(psf.astype(np.float64), np.eye(2) / factor,
                                   offset=c - c / factor, order=1)
    out = np.clip(out, 0, None)
    return (out / out.sum()).astype(np.float32)


def _dihedral(a: np.ndarray, k: int) -> np.ndarray:
    if k >= 4:
        a = a[..., ::-1]
    return np.ascontiguousarray(np.rot90(a, k % 4, axes=(-2, -1)))


def centre_region(plane: np.ndarray, size: int, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """(region, clean): the centre ``size`` crop of ``plane`` with ``margin`` mirrored pixels
    around it for a 'valid' blur (float64), mirrored up to ``size`` where the plane is smaller,
    and the crop itself."""
    h, w = plane.shape
    side = min(size, h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    m = margin
    region = np.pad(plane, m, mode="symmetric")[y0 : y0 + side + 2 * m, x0 : x0 + side + 2 * m]
    region = region.astype(np.float64)
    if side < size:
        region = np.pad(region, ((0, size - side), (0, size - side)), mode="symmetric")
    return region, region[m : m + size, m : m + size]


def validation_batch(val: list, size: int = 128, aberrated: bool = False, halo: bool = False):
    """Centre crops of the validation planes, each under protocols A, B, C and one optics PSF
    (and, with ``aberrated``, one training-range aberrated optics PSF more; with ``halo``, one
    optics PSF with a halo more)."""
    from scipy import signal

    from napari_microdeblur.core.data import PROTOCOL_PARAMS

    rng = np.random.default_rng(1234)
    m = PSF_SIDE // 2
    xs, ys, ks = [], [], []
    for _, plane in val:
        region, clean = centre_region(plane, size, m)
        optics, _ = draw_optics(rng)
        extra = [(draw_optics(rng, 1.0)[0], PROTOCOL_PARAMS["A"])] if aberrated else []
        if halo:
            extra.append((with_halo(fit_side(draw_optics(rng)[0]), rng), PROTOCOL_PARAMS["A"]))
        for psf, params in [(PROTOCOL_PARAMS[p].psf(), PROTOCOL_PARAMS[p]) for p in "ABC"] + [
            (optics, PROTOCOL_PARAMS["A"])
        ] + extra:
            psf = fit_side(psf)
            blurred = signal.fftconvolve(region, psf.astype(np.float64), mode="valid")
            xs.append(params.noise(blurred, rng))
            ys.append(clean)
            ks.append(psf)
    return (np.stack(xs)[:, None].astype(np.float32), np.stack(ys)[:, None].astype(np.float32),
            np.stack(ks).astype(np.float32))


def set_probabilities(train: dict[str, list], spec: str | None) -> np.ndarray | None:
    """Sampling probabilities of the non-empty training sets from 'SET=W,...' (others weigh 1)."""
    if not spec:
        return None
    weights = {}
    for item in spec.split(","):
        name, _, value = item.partition("=")
        if name.strip() not in train:
            raise SystemExit(f"--set-weights: unknown set {name.strip()!r}; sets: "
                             f"{', '.join(train)}")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise SystemExit(f"--set-weights: {item!r} is not SET=WEIGHT") from None
        if not weights[name.strip()] >= 0:
            raise SystemExit(f"--set-weights: {item!r}: the weight must be >= 0")
    p = np.array([weights.get(k, 1.0) for k, v in train.items() if v], np.float64)
    if p.sum() <= 0:
        raise SystemExit("--set-weights: every set weighs 0")
    return p / p.sum()


def validation_planes(root: Path, val: list, spec: str | None) -> list:
    """The validation planes of the sets named in 'SET,...' (all of them without ``spec``)."""
    if not spec:
        return val
    files, _ = training_files(root)
    names = [n.strip() for n in spec.split(",")]
    unknown = [n for n in names if n not in files]
    if unknown:
        raise SystemExit(f"--val-sets: unknown set(s) {', '.join(unknown)}; sets: "
                         f"{', '.join(files)}")
    keep = {path.name for n in names for path, _ in files[n]}
    chosen = [(name, plane) for name, plane in val if name in keep]
    if not chosen:
        raise SystemExit(f"--val-sets {spec}: none of the validation planes is in these sets")
    return chosen


# ----------------------------------------------------------------------------- training


def set_schedule_lr(opt, base_lr: float, step: int, fraction: float) -> float:
    """Linear warm-up over WARMUP_STEPS, then a cosine over the wall-clock budget (``fraction``
    of it spent) down to 2 % of ``base_lr``; sets and returns the learning rate."""
    cosine = 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * fraction))
    lr = base_lr * min(1.0, (step + 1) / WARMUP_STEPS) * cosine
    for g in opt.param_groups:
        g["lr"] = lr
    return lr


def optimiser_step(model, opt, loss) -> float:
    """Backward, clip the gradient norm to 1, step; returns the loss value."""
    import torch

    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


def psnr(a, b, margin: int | None = None) -> float:
    import torch

    margin = margin or LOSS_MARGIN
    a, b = a[..., margin:-margin, margin:-margin], b[..., margin:-margin, margin:-margin]
    mse = torch.mean((a.float().clamp(0, 1) - b.float()) ** 2, dim=(1, 2, 3))
    return float(torch.mean(10 * torch.log10(1.0 / mse.clamp_min(1e-12))))


def evaluate(model, vx, vy, vk, amp: bool) -> float:
    import torch

    model.eval()
    outs = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        for i in range(0, len(vx), 8):
            outs.append(model(vx[i : i + 8], vk[i : i + 8]).float())
    model.train()
    return psnr(torch.cat(outs), vy)


def cpu_speed(model, amp: bool, side: int = 1024) -> float:
    """Megapixels/s of the PSF-aware method on a side x side image through the tiler
    (its default tile), for protocol A's PSF."""
    from napari_microdeblur.core.inference import deblur
    from napari_microdeblur.core.psf import gaussian_psf
    from napari_microdeblur.core.psf_aware import psf_aware_method

    img = np.random.default_rng(0).random((side, side)).astype(np.float32)
    method = psf_aware_method(model, gaussian_psf(1.6, size=25),
                              precision="bfloat16" if amp else "float32")
    deblur(img[:256, :256], method=method, device="cpu")
    t = time.perf_counter()
    deblur(img, method=method, device="cpu")
    return side * side / (time.perf_counter() - t) / 1e6


def without_blurred_input(state: dict, mid: int) -> dict:
    """A blurred_input=True wiener_unet state for a blurred_input=False model: the first
    convolution's weights on the blurred input move onto the middle Wiener estimate, which
    matches the input where the PSF passes everything, so training starts near the old model."""
    state = dict(state)
    w = state["enc.0.0.weight"]
    moved = w[:, 1:].clone()
    moved[:, mid] += w[:, 0]
    state["enc.0.0.weight"] = moved
    return state


def trained_width(degradation: str, start_card=None) -> float:
    """The half-maximum width (px) of the widest PSF the weights have been trained on, for the
    card (``psf_safeguard.TRAINED_WIDTH_KEY``): this run's PSFs (``degradation``, its card's
    JSON) or, when it continued ``start_card``'s weights, that start's, whichever is wider."""
    from types import SimpleNamespace

    from napari_microdeblur.core.psf_safeguard import trained_half_max_width

    own = trained_half_max_width(SimpleNamespace(degradation=degradation, metrics={}))
    start = trained_half_max_width(start_card) if start_card is not None else 0.0
    return round(max(own, start), 2)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, required=True, help="wall-clock training budget")
    p.add_argument("--out", type=Path, required=True, help="output .safetensors")
    p.add_argument("--checkpoint-dir", type=Path, default=REPO / "runs" / "psf_aware")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--no-resume", action="store_true", help="start afresh even if last.pt exists")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=96)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--p-protocol", type=float, default=0.2)
    p.add_argument("--p-optics", type=float, default=0.35,
                   help="probability that a patch's PSF comes from optics instead of the ranges")
    p.add_argument("--amp", choices=["bf16", "off"], default="bf16",
                   help="bfloat16 autocast for the U-Net (the FFT part stays float32)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--config", default=None, help="JSON overrides of the wiener_unet config")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--psf-side", type=int, default=33,
                   help="side every training PSF is padded or cropped to (odd)")
    p.add_argument("--p-mismatch", type=float, default=0.0,
                   help="probability that the network is given the PSF stretched by 0.8-1.25x "
                        "(robustness to the imperfect PSFs users have)")
    p.add_argument("--p-aberrated", type=float, default=0.0,
                   help="share of optics PSFs with spherical aberration (water NA 0.9-1.2 into "
                        "n 1.38-1.45 at 2-15 um)")
    p.add_argument("--p-halo", type=float, default=0.0,
                   help="probability that a patch's PSF gets a wide Gaussian halo (sigma "
                        "--halo-sigma px, 10-40 %% of the energy), as widefield bead PSFs have; "
                        "validation then adds one optics PSF with a halo per plane")
    p.add_argument("--halo-sigma", type=float, nargs=2, default=HALO["sigma_px"],
                   metavar=("LOW", "HIGH"),
                   help="range of the halo's Gaussian sigma in px (default 3 6; keep HIGH "
                        "below --psf-side / 5 so the halo fits the PSF)")
    p.add_argument("--val-aberrated", action="store_true",
                   help="validate on one training-range aberrated optics PSF more per plane")
    p.add_argument("--p-gaussian-fit", type=float, default=0.0,
                   help="probability that the network is given a Gaussian fitted to the PSF "
                        "(its core's moments) instead of the PSF itself: robustness to the "
                        "fitted PSFs users have for real defocus")
    p.add_argument("--set-weights", default=None, metavar="SET=W,...",
                   help="relative sampling weights of training sets (a modality-specialised "
                        "run: 'em_epfl_fibsem=3,em_neubias=3'); sets not named weigh 1")
    p.add_argument("--val-sets", default=None, metavar="SET,...",
                   help="keep the checkpoint that is best on the validation planes of these "
                        "sets only (default: all validation planes)")
    p.add_argument("--keep", choices=("best", "last"), default="best",
                   help="weights to write: the best on the validation planes (never worse than "
                        "--init's), or the last (a run whose aim its validation does not "
                        "measure, such as --p-gaussian-fit; benchmarks/"
                        "select_psf_aware_default.py then decides)")
    p.add_argument("--init", type=Path, default=None,
                   help="start from these weights (a wiener_unet .safetensors)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    global PSF_SIDE, LOSS_MARGIN
    if args.psf_side < 3 or args.psf_side % 2 == 0:
        raise SystemExit(f"--psf-side {args.psf_side}: must be odd and >= 3")
    PSF_SIDE, LOSS_MARGIN = args.psf_side, args.psf_side // 2
    low, high = args.halo_sigma
    if not 0 < low <= high:
        raise SystemExit(f"--halo-sigma {low} {high}: must be 0 < LOW <= HIGH")
    HALO["sigma_px"] = (low, high)
    from napari_microdeblur.core import weights
    from napari_microdeblur.core.archs.wiener_unet import BRIGHT_QUANTILE
    from napari_microdeblur.core.data import DegradationRanges
    from napari_microdeblur.core.psf_safeguard import TRAINED_WIDTH_KEY
    from napari_microdeblur.core.registry import build_model

    torch.set_num_threads(args.threads)
    if args.out.suffix != ".safetensors":
        raise SystemExit(f"--out {args.out}: must end in .safetensors")
    if args.minutes <= 0:
        raise SystemExit(f"--minutes {args.minutes}: must be > 0")
    amp = args.amp == "bf16"
    t0 = time.perf_counter()
    train, val = training_sets(args.data_root)
    ranges = DegradationRanges(
        gaussian_sigma=(0.6, 3.0), disk_radius=(1.0, 4.0), astig_sigma_major=(1.0, 3.5),
        gaussian_noise=(0.0, 0.03), poisson_peak=(30.0, 1000.0), p_poisson=0.4,
        p_protocol=args.p_protocol,
    )
    set_p = set_probabilities(train, args.set_weights)
    val = validation_planes(args.data_root, val, args.val_sets)
    sampler = PatchSampler(train, ranges, args.p_optics, args.seed, set_p=set_p,
                           p_mismatch=args.p_mismatch, p_aberrated=args.p_aberrated,
                           p_halo=args.p_halo, p_gaussian_fit=args.p_gaussian_fit)
    vx, vy, vk = (torch.from_numpy(a) for a in validation_batch(val, aberrated=args.val_aberrated,
                                                                halo=args.p_halo > 0))
    n_planes = sum(len(v) for v in train.values())
    log(f"{n_planes} training planes in {len(train)} sets "
        f"({', '.join(f'{k}: {len(v)}' for k, v in train.items())}); {len(val)} validation "
        f"planes x {len(vx) // max(len(val), 1)} degradations "
        f"({time.perf_counter() - t0:.1f} s to load)")

    config = dict(MODEL_CONFIG)
    if args.config:
        config.update(json.loads(args.config))
    torch.manual_seed(args.seed)
    start_card = None
    if args.init is not None:
        from napari_microdeblur.core.checkpoint import load_model

        start_model, start_card = load_model(args.init, arch="wiener_unet")
        config = dict(start_model.config.model_dump())
        if args.config:  # e.g. '{"data_step": 30}': a part the start lacks begins at its init
            config.update(json.loads(args.config))
        model = build_model("wiener_unet", config)
        state = start_model.state_dict()
        if start_model.config.blurred_input and not model.config.blurred_input:
            state = without_blurred_input(state, model.mid)
        keys = model.load_state_dict(state, strict=False)
        if keys.unexpected_keys:
            raise SystemExit(f"--config {args.config} drops weights of {args.init}: "
                             f"{keys.unexpected_keys}")
        model.train()
        log(f"starting from {args.init}" + (f" (new: {', '.join(keys.missing_keys)})"
                                             if keys.missing_keys else ""))
    else:
        model = build_model("wiener_unet", config)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"wiener_unet {json.dumps(config)}: {n_params:,} parameters")

    ckdir = args.checkpoint_dir
    ckdir.mkdir(parents=True, exist_ok=True)
    last = ckdir / "last.pt"
    step, elapsed, best, best_state = 0, 0.0, -math.inf, None
    baseline = evaluate(model, vx, vy, vk, amp)  # the untrained model: its mid Wiener estimate
    input_psnr = psnr(vx, vy)
    if args.init is not None:  # never return weights worse on validation than the start
        best, best_state = baseline, copy.deepcopy(model.state_dict())
    if last.is_file() and not args.no_resume:
        ck = torch.load(last, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed, best, best_state = ck["step"], ck["elapsed"], ck["best"], ck["best_state"]
        sampler.rng = np.random.default_rng([args.seed, step])
        log(f"resumed from {last}: step {step}, {elapsed / 60:.1f} min spent, best {best:.2f} dB")
    start_name = "starting weights" if args.init is not None else "untrained (Wiener)"
    log(f"validation: input {input_psnr:.2f} dB, {start_name} {baseline:.2f} dB")

    budget = args.minutes * 60
    start = time.perf_counter() - elapsed
    last_ck = last_log = time.perf_counter()
    losses = []
    while True:
        elapsed = time.perf_counter() - start
        if elapsed >= budget or (args.max_steps is not None and step >= args.max_steps):
            break
        lr = set_schedule_lr(opt, args.lr, step, elapsed / budget)
        x, y, k = (torch.from_numpy(a) for a in sampler.sample(args.batch, args.patch))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            out = model(x, k)
        # the centre only: a patch's blurred border mixes in pixels outside the patch, which the
        # network cannot see (at inference the tiler drops a tile's border the same way)
        c = LOSS_MARGIN
        loss = torch.mean(torch.abs(out.float() - y)[..., c:-c, c:-c])
        losses.append(optimiser_step(model, opt, loss))
        step += 1
        now = time.perf_counter()
        if now - last_log >= 60:
            last_log = now
            log(f"step {step} loss {np.mean(losses[-100:]):.4f} lr {lr:.2e} "
                f"{step / max(elapsed, 1e-9):.2f} steps/s, "
                f"{elapsed / 60:.1f} of {args.minutes:g} min")
        if now - last_ck >= args.checkpoint_minutes * 60:
            last_ck = now
            v = evaluate(model, vx, vy, vk, amp)
            if v > best:
                best, best_state = v, copy.deepcopy(model.state_dict())
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "elapsed": time.perf_counter() - start, "best": best,
                        "best_state": best_state}, last)
            weights.save_weights(model, ckdir / "latest.safetensors",
                                 {"normalization": {"kind": "percentile", "low": 0.1,
                                                    "high": 99.9}})
            log(f"step {step}: validation {v:.2f} dB (best {best:.2f}); checkpoint {last}")
    v = evaluate(model, vx, vy, vk, amp)
    if v > best or best_state is None:
        best, best_state = v, copy.deepcopy(model.state_dict())
    if args.keep == "best":
        model.load_state_dict(best_state)
    kept = best if args.keep == "best" else v
    minutes = (time.perf_counter() - start) / 60
    log(f"done: {step} steps in {minutes:.1f} min; best validation {best:.2f} dB, kept the "
        f"{args.keep} weights ({kept:.2f} dB; input {input_psnr:.2f}, untrained Wiener "
        f"{baseline:.2f})")
    speed = cpu_speed(model, amp)
    log(f"speed: {speed:.2f} MP/s on 1024 x 1024 (default tile, {args.threads} threads)")
    given = sys.argv[1:] if argv is None else argv
    command = "python scripts/train_psf_aware.py " + " ".join(given)
    card = weights.save_weights(
        model,
        args.out,
        {
            "normalization": {"kind": "percentile", "low": 0.1, "high": 99.9},
            "training_data": TRAINING_DATA,
            "degradation": (degradation := json.dumps({
                "psf_ranges": {k: v for k, v in ranges.to_dict().items()
                               if k not in ("gaussian_noise", "p_poisson", "poisson_peak")},
                "optics_training_range": TRAIN_OPTICS,
                "p_optics": args.p_optics,
                "psf_side": args.psf_side,
                "p_mismatch": args.p_mismatch, "mismatch_zoom": MISMATCH_ZOOM,
                "p_gaussian_fit": args.p_gaussian_fit,
                "p_aberrated": args.p_aberrated, "aberrated_training_range": TRAIN_ABERRATED,
                "p_halo": args.p_halo, "halo": HALO,
                "set_weights": args.set_weights,
                "init": str(args.init) if args.init else None,
                # the noise level the network was told (wiener_unet.noise_sigma); None: the
                # whole-image median only, as psf_v1 to psf_v4 were trained
                "noise_estimate_bright_quantile": BRIGHT_QUANTILE,
                "noise": "Gaussian sigma 0-0.03; p 0.4 Poisson peak 30-1000 (log-uniform) + "
                         "that Gaussian; reference [0, 1] scale, then gain 0.6-1.2",
                "held_out_optics_for_benchmark": "NA 1.3-1.45 oil (n 1.515), wavelength "
                                                 "0.6-0.7 um, spherical aberration",
            })),
            "metrics": {
                TRAINED_WIDTH_KEY: trained_width(degradation, start_card),
                "val_psnr": round(kept, 3), "kept": args.keep,
                "val_psnr_input": round(input_psnr, 3),
                "val_psnr_untrained_wiener": round(baseline, 3),
                "validation": f"{len(val)} training-split planes not trained on, centre 128 px "
                              "crops scored without 16 px per side, protocols A, B, C + one "
                              "training-range optics PSF"
                              + (" + one training-range aberrated optics PSF"
                                 if args.val_aberrated else "")
                              + (" + one optics PSF with a halo" if args.p_halo > 0 else "")
                              + (f"; planes of {args.val_sets} only" if args.val_sets else ""),
                "steps": step, "minutes": round(minutes, 2), "batch": args.batch,
                "patch": args.patch, "lr": args.lr, "seed": args.seed, "amp": args.amp,
                "threads": args.threads, "cpu_megapixels_per_s_1024": round(speed, 3),
                "command": command,
            },
            "license": "NOASSERTION",
            "description": (
                "PSF-aware deep Wiener deconvolution (wiener_unet): give it the PSF. Trained "
                "on six microscopy sets (fluorescence, brightfield, histology, EM); one of "
                "them (EPFL FIB-SEM) states no licence, hence NOASSERTION. Reproduce: "
                + command
            ),
        },
    )
    log(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB), sha256 "
        f"{weights.sha256_file(args.out)}; card arch {card.arch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
