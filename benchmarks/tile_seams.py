#!/usr/bin/env python
"""The seams an overlap below the method's leaves, and the work of the old tile advice: the
figures ``core.tile_options`` quotes (``SEAMS_MEASURED``, ``tile_advice``) and the README's
"How tiling works" section.

* ``seams``: per method, on 500 x 470 crops (the centre) of two TEST-split images of
  ``splits.py`` (EM for ``gran.em_v1`` and ``c2f_unet.em_v2``, fluorescence for
  ``richardson_lucy`` with ``gaussian:2``), one tile run with overlaps of 0, 1/8, 1/4, 1/2 and
  3/4 of the method's (``overlap_for``, twice its reach or its card's): the max |difference|
  from the run with the method's overlap (same tile), off a 16 px border, as a percentage of
  that run's 0.1-99.9 % range. ``worst_percent``: the largest over methods and images at each
  fraction, what the warning quotes; ``floor_percent``: the same for 1.5x the method's
  overlap, the part that is no seam (a network with global operations differs by tile).
* ``walkthrough``: the 2026-12-16 determinism walkthrough's case (``emC.tif``, 500 x 470,
  ``--psf astig:2.5,0.8,30``: ``wiener_unet.psf_v4``): the work of ``--tile 144`` (the old
  advice, the reach plus one step) with the overlap it runs with, and of the tile advised now,
  relative to the default tiling (``tile_options.work_factor``).

About 90 s of CPU on one thread (a minute unloaded). Makes ``benchmarks/results/tile_seams.json``:

    MICRODEBLUR_SHARED_DATA=/work/shared/data OMP_NUM_THREADS=1 \\
        python benchmarks/tile_seams.py [--json benchmarks/results/tile_seams.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import splits  # noqa: E402

SHAPE = (500, 470)
BORDER = 16
FRACTIONS = (0.0, 0.125, 0.25, 0.5, 0.75)
#: an overlap above the method's: what differs without any seam (GRAN's attention block and
#: instance norms see the whole tile, so tiled output is close to, not equal to, untiled)
ABOVE = 1.5
#: method, PSF, tile (cut into several tiles along each axis), modality, test images
CASES = (
    ("gran.em_v1", None, 128, "em",
     [("em", "em_epfl_hippocampus_fibsem", "testing0001.png"),
      ("em", "em_isbi2012_drosophila_vnc_sstem", "0.png")]),
    ("c2f_unet.em_v2", None, 256, "em",
     [("em", "em_epfl_hippocampus_fibsem", "testing0001.png"),
      ("em", "em_isbi2012_drosophila_vnc_sstem", "0.png")]),
    ("richardson_lucy", "gaussian:2", 128, "auto",
     [("fluo", "fluorescence_2d", "01_POS218_D.TIF"),
      ("fluo", "fluorescence_2d", "AS_09125_050116030001_D03f00d0.tif")]),
)
WALKTHROUGH = Path("/tmp/wt_determinism/emC.tif")


def crop(modality: str, set_name: str, name: str) -> np.ndarray:
    from napari_microdeblur.core.io import read_image

    path = next(p for p in splits.files(modality, set_name, "test") if p.name == name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = np.asarray(read_image(path).array, dtype=np.float32)
    if image.ndim == 3:
        image = image.mean(axis=-1)
    y0, x0 = (image.shape[0] - SHAPE[0]) // 2, (image.shape[1] - SHAPE[1]) // 2
    return np.ascontiguousarray(image[y0:y0 + SHAPE[0], x0:x0 + SHAPE[1]])


def seams(method: str, psf, tile: int, modality: str, images) -> dict:
    from napari_microdeblur.core.inference import deblur, prepare_deblur
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.tile_options import overlap_for
    from napari_microdeblur.core.tiling_spec import TilingSpec

    rows = []
    for where in images:
        image = crop(*where)
        spec = MethodSpec(name=method, psf=psf, modality=modality)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            resolved = prepare_deblur(image, "YX", spec, TilingSpec(tile=tile)).method
            needed = overlap_for(resolved, tile, None)
            kw = dict(method=method, psf=psf, modality=modality, axes="YX", tile=tile,
                      device="cpu")
            t0 = time.perf_counter()
            ref = deblur(image, overlap=needed, **kw).astype(np.float64)
            seconds = time.perf_counter() - t0
            low, high = np.percentile(ref, [0.1, 99.9])
            inner = (slice(BORDER, -BORDER),) * 2
            row = {"image": where[2], "needed": needed, "seconds_at_needed": round(seconds, 2),
                   "percent": {}}
            for fraction in (*FRACTIONS, ABOVE):
                overlap = min(int(round(fraction * needed)), tile - resolved.size_divisor)
                out = deblur(image, overlap=overlap, **kw).astype(np.float64)
                share = np.abs(out - ref)[inner].max() / (high - low) * 100
                row["percent"][f"{fraction:g}"] = {"overlap": overlap,
                                                   "max_diff": float(f"{share:.3g}")}
        rows.append(row)
        print(method, where[2], {k: v["max_diff"] for k, v in row["percent"].items()},
              flush=True)
    return {"method": method, "psf": psf, "tile": tile, "images": rows}


def walkthrough() -> dict:
    """The work of the old advice (--tile 144) and of today's on the walkthrough's image."""
    import tifffile

    from napari_microdeblur.core.inference import prepare_deblur
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.tile_options import tile_advice, work_factor

    # the image itself where the walkthrough's folder is left (only its shape matters)
    image = (tifffile.imread(WALKTHROUGH) if WALKTHROUGH.exists()
             else crop("em", "em_epfl_hippocampus_fibsem", "testing0001.png"))
    shape = image.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        method = prepare_deblur(image, "YX", MethodSpec(psf="astig:2.5,0.8,30",
                                                        modality="em")).method
    old = 2 * method.halo + 2  # 'use a tile of at least 144': the reach plus one step
    advised = int(re.search(r"at least (\d+)", tile_advice(method, shape)).group(1))
    return {"image": str(WALKTHROUGH), "shape": list(shape), "method": method.name,
            "reach_px": 2 * method.halo + 1, "old_advice_tile": old,
            "old_advice_work": round(work_factor(method, shape, 2, old), 1),
            "advised_tile": advised,
            "advised_work": round(work_factor(method, shape, 2, advised), 2)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", default=str(Path(__file__).parent / "results"
                                              / "tile_seams.json"))
    args = parser.parse_args(argv)
    splits.check_data("em")
    splits.check_data("fluo")
    t0 = time.perf_counter()
    runs = [seams(*case) for case in CASES]
    worst = {f"{f:g}": max(row["percent"][f"{f:g}"]["max_diff"] for run in runs
                           for row in run["images"]) for f in FRACTIONS}
    result = {"shape": list(SHAPE), "border_px": BORDER,
              "measure": "max |difference| from the run with the method's overlap, off the "
                         "border, in % of that run's 0.1-99.9 % range",
              "fractions_of_the_methods_overlap": list(FRACTIONS), "runs": runs,
              "worst_percent": worst,
              "floor_percent": {run["method"]: max(row["percent"][f"{ABOVE:g}"]["max_diff"]
                                                   for row in run["images"]) for run in runs},
              "walkthrough": walkthrough(),
              "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps({k: result[k] for k in ("worst_percent", "floor_percent", "walkthrough",
                                             "seconds")},
                     indent=1))
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
