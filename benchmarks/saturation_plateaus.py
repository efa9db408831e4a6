"""Saturated plateaus: how much of real images sits at the maximum in flat patches, and how
much harm deblurring takes from them; the measurement behind ``core.plateaus.PLATEAU_SHARE``.

Part 1 ("real"): ``plateaus.plateau_share`` of every TIFF/PNG/JPEG image under
../shared/data (all splits, so every test split is in it; each file as ``io.read_image`` reads
it, its statistics sample as a deblur takes it), per file and the largest per set.

Part 2 ("clipped"): grayscale test-split images (ht29 nuclei, NEUBIAS bacteria cords, ISBI
and SEM axon EM), a centre crop of 256 px scaled to [0, 1], blurred by a Gaussian PSF of
sigma 2 px, Gaussian noise of 0.01 added, then clipped at the level that leaves a chosen
share of pixels at the top (0: not clipped). Each is deblurred by Wiener (true PSF, balance
'auto') and by the network 'auto' (c2f_unet.fluorescence_v2). Harm: the mean absolute change
the clipping made to the result (clipped run against the unclipped run) in the ring 1-3 px
around the plateaus, and over the whole image outside the plateaus, each divided by the
unclipped run's own mean error against the sharp image; and whether a warning blaming the PSF
fired.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/saturation_plateaus.py \
        --json benchmarks/results/saturation_plateaus.json
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage

from napari_microdeblur.core import inference, io, plateaus

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARES = (0.0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05)
CLIPPED = ("fluorescence_2d/cellprofiler_ExampleHuman_ht29/AS_09125_050116030001_D03f00d0.tif",
           "fluorescence_neubias_training_resources/test/xy_16bit__bacteria_cords_thin.tif",
           "em_isbi2012_drosophila_vnc_sstem/test/0.png",
           "em_sem_axondeepseg_rat_spinalcord/test/sub-rat6_sample-data15_SEM.png")
PSF_WORDS = ("PSF looks wider", "frequencies the PSF blocks", "PSF may be wider")


def real_shares() -> list[dict]:
    rows = []
    for path in sorted(DATA.rglob("*")):
        if path.suffix.lower() not in (".tif", ".tiff", ".png", ".jpg", ".jpeg"):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data = io.read_image(path, lazy=False)
            array = np.asarray(data.array)
            sample = inference.inference_lazy.stats_sample(
                array, data.axes, inference.STATS_MAX_ELEMENTS, inference.STATS_MAX_PLANES, None)
        except Exception as error:  # noqa: BLE001 - a file this reader refuses is listed
            rows.append(dict(file=str(path.relative_to(DATA)), error=str(error)[:100]))
            continue
        share, top = plateaus.plateau_share(sample, data.axes)
        rows.append(dict(file=str(path.relative_to(DATA)), axes=data.axes, dtype=str(array.dtype),
                         max=top, at_max=float(np.mean(sample == sample.max())),
                         plateau_share=share,
                         note=bool(plateaus.plateau_note(sample, data.axes, "x"))))
    return rows


def sharp_crop(name: str) -> np.ndarray:
    data = io.read_image(DATA / name, lazy=False)
    image = np.asarray(data.array, np.float64)
    if image.ndim > 2:  # first plane or channel
        image = image.reshape(-1, *image.shape[-2:])[0]
    h, w = image.shape
    crop = image[(h - 256) // 2:(h + 256) // 2, (w - 256) // 2:(w + 256) // 2]
    lo, hi = np.percentile(crop, [0.1, 99.9])
    return np.clip((crop - lo) / (hi - lo), 0, 1)


def run(image, method) -> tuple[np.ndarray, list[str]]:
    kw = dict(psf="gaussian:2") if method == "wiener" else dict(modality="fluorescence")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = inference.deblur(image.astype(np.float32), method=method, axes="YX", **kw)
    return out.astype(np.float64), [str(w.message) for w in caught]


def clipped_harm() -> list[dict]:
    rows = []
    for index, name in enumerate(CLIPPED):
        sharp = sharp_crop(name)
        blurred = ndimage.gaussian_filter(sharp, 2.0, mode="reflect")
        blurred += np.random.default_rng(index).normal(0, 0.01, blurred.shape)
        for method in ("wiener", "auto"):
            plain, _ = run(blurred, method)
            own = float(np.mean(np.abs(plain - sharp)))
            for share in SHARES:
                level = np.quantile(blurred, 1 - share) if share else np.inf
                image = np.minimum(blurred, level)
                out, said = run(image, method)
                measured, _ = plateaus.plateau_share(image, "YX")
                top = image == image.max() if share else np.zeros(image.shape, bool)
                near = ndimage.binary_dilation(top, iterations=3) & ~top
                change = np.abs(out - plain)
                rows.append(dict(
                    image=name, method=method, share_set=share, plateau_share=measured,
                    note=bool(plateaus.plateau_note(image, "YX", method)),
                    ring_harm=float(change[near].mean() / own) if near.any() else 0.0,
                    image_harm=float(change[~top].mean() / own),
                    psf_blamed=any(w in s for s in said for w in PSF_WORDS
                                   if "flat plateaus" not in s)))  # not the note
                print(f"{name[:40]:40s} {method:6s} {share:7.4f} share {measured:.4f} "
                      f"ring {rows[-1]['ring_harm']:6.2f} image {rows[-1]['image_harm']:6.3f} "
                      f"psf-blamed {rows[-1]['psf_blamed']}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json")
    args = parser.parse_args()
    start = time.time()
    real = real_shares()
    ok = [r for r in real if "error" not in r]
    print(f"{len(ok)} real images; plateau share > 0.1 %: "
          f"{sum(r['plateau_share'] > 0.001 for r in ok)}, > {plateaus.PLATEAU_SHARE:.2%}: "
          f"{sum(r['note'] for r in ok)}")
    for r in sorted(ok, key=lambda r: -r["plateau_share"])[:12]:
        print(f"  {r['file'][:70]:70s} at max {r['at_max']:.4f} plateaus {r['plateau_share']:.4f}")
    clipped = clipped_harm()
    result = dict(rule=dict(plateau_pixels=plateaus.PLATEAU_PIXELS,
                            plateau_share=plateaus.PLATEAU_SHARE),
                  real=real, clipped=clipped, seconds=round(time.time() - start, 1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
