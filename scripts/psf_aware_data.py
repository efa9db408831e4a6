"""The content, PSFs and validation of the PSF-aware network's training
(``scripts/train_psf_aware.py``; ``scripts/train_blind.py`` and ``scripts/train_psf_cyclegan.py``
draw on the same content): which training-split files of ``../shared/data`` are read and how,
the training-range optics PSFs (with halos, wrong widths, Gaussian fits), the patch sampler and
the validation planes. What each range is and why is in ``train_psf_aware``'s docstring.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO / "src"))

PSF_SIDE = 33  # every training PSF is zero-padded (or cropped) to this side
LOSS_MARGIN = PSF_SIDE // 2  # pixels per side of a patch the loss and validation leave out

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
    "Validation: fluorescence_2d POS076 (D, F, R), EPFL training0161-0164, NEUBIAS "
    "nuclei_PLK1_control, Kather 01_TUMOR second tile, worms C16_w1, C. elegans EM z0012 (all "
    "training split, not trained on). Never: test splits, the sets "
    "fluorescence_cellprofiler_examples_extra, "
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


#: How an RGB training file becomes grayscale planes: its R, G and B channels, or the luminance
#: and chroma planes the network deconvolves RGB as (``psf_aware.OPPONENT``: train_psf_aware
#: --rgb-planes opponent).
RGB_PLANES = ("channels", "opponent")


def _planes(path: Path, kind: str, rgb_planes: str = "channels") -> list[np.ndarray]:
    """Grayscale [0, 1] planes of one file. kind: 'gray', 'la' (take L), 'rgb', 'cyx', 'zyx'."""
    a = _read(path)
    if kind == "la":
        return [_to01(a[..., 0] if a.ndim == 3 else a)]
    if kind == "rgb" and rgb_planes == "opponent":
        import torch

        from napari_microdeblur.core.psf_aware import to_opponent

        rgb = torch.from_numpy(np.stack([_to01(a[..., c]) for c in range(3)])[None])
        return list(to_opponent(rgb)[0].numpy())
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
    # a whole field (every channel) and a whole cluster of near-identical slices, as each
    # set's PROVENANCE.md asks and scripts/train_default.py does: validating on POS076_D and
    # training0161 while training on POS076 F, R and training0162-0164 scored what it learned
    val_names = {
        *(f"01_POS076_{c}.TIF" for c in "DFR"), *(f"training{i:04d}.png" for i in range(161, 165)),
        "xy_8bit__nuclei_PLK1_control.tif", "101210OranePlt1_C16_w1.tif", "c_elegans_em_z0012.tif",
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


def training_sets(root: Path, rgb_planes: str = "channels") -> tuple[dict[str, list], list]:
    """{set: [(name, plane)]} for training and [(name, plane)] for validation (an RGB file's
    green channel whatever ``rgb_planes`` says, so that validation figures stay comparable)."""
    if rgb_planes not in RGB_PLANES:
        raise ValueError(f"rgb_planes={rgb_planes!r}; accepted: {', '.join(RGB_PLANES)}")
    files, val_names = training_files(root)
    train: dict[str, list] = {k: [] for k in files}
    val = []
    for key, entries in files.items():
        for path, kind in entries:
            if path.name in val_names:
                planes = _planes(path, kind)
                val.append((path.name, planes[1 if len(planes) == 3 else 0]))
            else:
                planes = _planes(path, kind, rgb_planes)
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
