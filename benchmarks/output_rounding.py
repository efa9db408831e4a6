"""What rounding a deblurred result to the input's integer type costs, against the result's span
in levels: the measurement behind ``core.output_cast.ROUNDING_SPAN``.

Four fluorescence images (256 px crops, scaled 0-1 between their 0.1 and 99.9 percentiles) are
scaled to a peak of 5 to 640 counts, blurred (Gaussian sigma 2), given Poisson noise and stored
as uint16, as a low-light camera would. Each is deblurred by Richardson-Lucy and Wiener (PSF
gaussian:2, iterations and balance 'auto') with output_dtype 'float32' and 'input'. For each:
the PSNR of both results against the clean image (scaled likewise, its range as the peak), the
loss rounding costs (float32 minus rounded, dB) and the rounded result's span in levels (its
0.1-99.9 percentiles, as ``output_cast`` measures it).

    python benchmarks/output_rounding.py --json benchmarks/results/output_rounding.json
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from provenance import write_json  # noqa: E402

from napari_microdeblur.core.inference import deblur  # noqa: E402
from napari_microdeblur.core.output_cast import ROUNDING_SPAN, OutputCast  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fluorescence_2d"
IMAGES = ("cellprofiler_ExampleHuman_ht29/AS_09125_050116030001_D03f00d0.tif",
          "cellprofiler_ExampleHuman_ht29/AS_09125_050116030001_D03f00d1.tif",
          "cellprofiler_ExampleFly_kc167/01_POS002_D.TIF",
          "cellprofiler_ExampleSpeckles_h2ax/1-162hrh2ax2.tif")
PEAKS = (5, 10, 20, 40, 80, 160, 320, 640)
METHODS = {"richardson_lucy": {"iterations": "auto"}, "wiener": {"balance": "auto"}}
SIDE = 256


def clean_images() -> list[tuple[str, np.ndarray]]:
    import tifffile

    images = []
    for name in IMAGES:
        a = tifffile.imread(DATA / name).astype(np.float64)
        a = a.reshape(-1, *a.shape[-2:])[0] if a.ndim > 2 else a
        y, x = (a.shape[0] - SIDE) // 2, (a.shape[1] - SIDE) // 2
        a = a[y : y + SIDE, x : x + SIDE]
        lo, hi = np.percentile(a, (0.1, 99.9))
        images.append((name, np.clip((a - lo) / (hi - lo), 0, 1)))
    return images


def psnr(result: np.ndarray, clean: np.ndarray) -> float:
    mse = float(np.mean((result.astype(np.float64) - clean) ** 2))
    return 10 * np.log10((clean.max() - clean.min()) ** 2 / mse)


def span_of(rounded: np.ndarray) -> int:
    tally = OutputCast()
    tally.count(rounded.astype(np.float64), rounded.dtype, 0, 65535)
    lo, hi = tally.span()
    return hi - lo


def measure() -> list[dict]:
    from scipy import ndimage

    rng = np.random.default_rng(0)
    rows = []
    for name, clean01 in clean_images():
        blurred01 = ndimage.gaussian_filter(clean01, 2.0)
        for peak in PEAKS:
            image = rng.poisson(blurred01 * peak).astype(np.uint16)
            clean = clean01 * peak
            for method, options in METHODS.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    kept = deblur(image, method=method, psf="gaussian:2", **options)
                    rounded = deblur(image, method=method, psf="gaussian:2",
                                     output_dtype="input", **options)
                exact, cast = psnr(kept, clean), psnr(rounded, clean)
                rows.append({"image": name, "peak": peak, "method": method,
                             "psnr_float32": round(float(exact), 2),
                             "psnr_rounded": round(float(cast), 2),
                             "loss_db": round(float(exact - cast), 2),
                             "span_levels": span_of(rounded)})
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """The loss by span band: the rule's threshold sits where it passes about 0.5 dB."""
    bands = ((0, 20), (20, ROUNDING_SPAN), (ROUNDING_SPAN, 100), (100, 1 << 16))
    out = []
    for lo, hi in bands:
        losses = [r["loss_db"] for r in rows if lo <= r["span_levels"] < hi]
        if losses:
            out.append({"span_levels": f"{lo}-{hi - 1}", "runs": len(losses),
                        "loss_db_min": float(min(losses)),
                        "loss_db_median": round(float(np.median(losses)), 2),
                        "loss_db_max": float(max(losses))})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    rows = measure()
    bands = summary(rows)
    for r in rows:
        print(f"{r['image'][-30:]:>30} peak {r['peak']:4d} {r['method']:16s} span "
              f"{r['span_levels']:5d} float32 {r['psnr_float32']:6.2f} rounded "
              f"{r['psnr_rounded']:6.2f} loss {r['loss_db']:5.2f} dB")
    for b in bands:
        print(b)
    if args.json:
        write_json(args.json, {"rounding_span": ROUNDING_SPAN, "bands": bands, "runs": rows})


if __name__ == "__main__":
    main()
