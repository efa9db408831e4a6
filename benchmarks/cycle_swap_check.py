"""PSF-CycleGAN's swapped-sets check (core/training/regimes/swap_check.py): the blurry set's
sharpness over the sharp set's, right way round and swapped, and between two halves of one set,
on the walkthrough's HT29 sets, BBBC006's real defocus and public sets blurred here (Gaussian
sigma 1-3 px, 8- and 16-bit, with and without Poisson + read noise). Also the widest sigma of
the Gaussian fitted to the sets' spectra (what the run starts from). Writes
benchmarks/results/cycle_swap_check.json.

    PYTHONPATH=src python benchmarks/cycle_swap_check.py
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import tifffile
import torch
from scipy.ndimage import gaussian_filter

from napari_microdeblur.core.data import UnpairedImages
from napari_microdeblur.core.training.regimes.cycle import kernel_sigmas
from napari_microdeblur.core.training.regimes.spectrum_match import SpectrumMatch
from napari_microdeblur.core.training.regimes.swap_check import MIN_SWAP_RATIO, swap_ratio

DATA = "/work/shared/data/"
OUT = os.path.join(os.path.dirname(__file__), "results", "cycle_swap_check.json")


def read(path):
    if path.lower().endswith(".png"):
        import imageio.v3 as iio

        return iio.imread(path)
    return tifffile.imread(path)


def folder(path):
    return [read(f) for f in sorted(glob.glob(path + "/*")) if f.lower().endswith((".tif", ".png"))]


def crops(a, side=192):
    return [a[y:y + side, x:x + side] for y in range(0, a.shape[0] - side + 1, side)
            for x in range(0, a.shape[1] - side + 1, side)]


def walkthrough_cg():
    """The walkthrough's cg/ (mkcg.py): 192-px HT29 crops, every other one blurred (sigma 2),
    cast to 8 bits."""
    blurry, sharp = [], []
    files = sorted(glob.glob(DATA + "fluorescence_2d/cellprofiler_ExampleHuman_ht29/*.tif"))
    corners = [(0, 0), (0, 256), (256, 0), (256, 256)]
    for k, (f, (y, x)) in enumerate((f, c) for f in files for c in corners):
        c = tifffile.imread(f).astype(np.float32)[y:y + 192, x:x + 192]
        (sharp if k % 2 == 0 else blurry).append(
            c.astype(np.uint8) if k % 2 == 0 else gaussian_filter(c, 2).astype(np.uint8))
    return blurry, sharp


def synthetic(files, sigma, dtype, photons, peak, seed=0):
    """Crops of ``files``: odd ones blurred by ``sigma``, even ones kept; both scaled to
    ``peak``, given Poisson noise of ``photons`` per unit and 1 % read noise (photons 0: none),
    rounded to ``dtype``."""
    rng = np.random.default_rng(seed)
    blurry, sharp = [], []
    planes = [read(f) for f in files]
    planes = [(p if p.ndim == 2 else p[..., 0]).astype(np.float64) for p in planes]
    for i, c in enumerate(c for p in planes for c in crops(p)):
        c = (c - c.min()) / (np.ptp(c) + 1e-9) * peak
        x = gaussian_filter(c, sigma) if i % 2 else c
        if photons:
            x = rng.poisson(np.clip(x, 0, None) * photons) / photons
            x = x + rng.normal(0, 0.01 * peak, x.shape)
        x = np.clip(np.round(x), 0, np.iinfo(dtype).max).astype(dtype)
        (blurry if i % 2 else sharp).append(x)
    return blurry, sharp


def fitted_sigma(blurry, sharp, seed=0):
    a, b = UnpairedImages(blurry, augment=False), UnpairedImages(sharp)
    rng, match = np.random.default_rng(seed), SpectrumMatch(2)
    for _ in range(32):
        match.update(torch.from_numpy(a.sample_inputs(rng, 8, 64)),
                     torch.from_numpy(b.sample_targets(rng, 8, 64)))
    return float(kernel_sigmas(match.fit_gaussian(21)).max())


def ratio(blurry, sharp):
    return swap_ratio(UnpairedImages(blurry, augment=False), UnpairedImages(sharp))


def sets():
    fly = sorted(glob.glob(DATA + "fluorescence_2d/cellprofiler_ExampleFly_kc167/*"))
    h2ax = sorted(glob.glob(DATA + "fluorescence_2d/cellprofiler_ExampleSpeckles_h2ax/*"))
    dsb = [DATA + "fluorescence_2d/stardist_dsb2018_nuclei/img2d.tif"]
    bbbc = DATA + "bbbc006_u2os_hoechst_realdefocus/"
    out = {"walkthrough cg (HT29 8-bit, sigma 2)": walkthrough_cg()}
    for name in ("cg2", "cg3"):  # the walkthrough's scratch sets, where still there
        if os.path.isdir(f"/tmp/wt_today2/{name}"):
            out[f"walkthrough {name}"] = (folder(f"/tmp/wt_today2/{name}/blurry"),
                                          folder(f"/tmp/wt_today2/{name}/sharp"))
    out["BBBC006 real defocus (z00 / near focus)"] = (folder(bbbc + "defocused_z00"),
                                                      folder(bbbc + "nearfocus_z_aligned"))
    out["Fly KC167 sigma 3, 16-bit, noisy"] = synthetic(fly, 3, np.uint16, 0.05, 3000)
    out["Fly KC167 sigma 1, 8-bit, noisy"] = synthetic(fly, 1, np.uint8, 0.3, 200)
    out["H2AX sigma 1, 16-bit, clean"] = synthetic(h2ax, 1, np.uint16, 0, 4000)
    out["H2AX sigma 2, 8-bit, noisy"] = synthetic(h2ax, 2, np.uint8, 1.0, 120)
    out["DSB nuclei sigma 1.5, 8-bit, noisy"] = synthetic(dsb, 1.5, np.uint8, 0.5, 230)
    return out


def main():
    rows = []
    for name, (blurry, sharp) in sets().items():
        hs, hb = len(sharp) // 2, len(blurry) // 2
        row = {"sets": name, "images": [len(blurry), len(sharp)],
               "right": ratio(blurry, sharp), "swapped": ratio(sharp, blurry),
               "sharp_halves": ratio(sharp[:hs], sharp[hs:]),
               "blurry_halves": ratio(blurry[:hb], blurry[hb:]),
               "fit_sigma_right": fitted_sigma(blurry, sharp),
               "fit_sigma_swapped": fitted_sigma(sharp, blurry)}
        row["warned_right"] = row["right"] >= MIN_SWAP_RATIO
        row["warned_swapped"] = row["swapped"] >= MIN_SWAP_RATIO
        rows.append(row)
        print(f"{name:42s} right {row['right']:.2f} swapped {row['swapped']:.2f} halves "
              f"{row['sharp_halves']:.2f}/{row['blurry_halves']:.2f} fit sigma "
              f"{row['fit_sigma_right']:.2f}/{row['fit_sigma_swapped']:.2f}", flush=True)
    with open(OUT, "w") as f:
        json.dump({"min_swap_ratio": MIN_SWAP_RATIO, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
