"""Training and test splits of ../shared/data, as each set's PROVENANCE.md suggests.

Used by benchmarks/quality.py and scripts/train_default.py so both read the same images.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

SHARED = Path(
    os.environ.get("MICRODEBLUR_SHARED_DATA", Path(__file__).parents[2] / "shared" / "data")
)

# modality -> set name -> (train files, test files), relative to SHARED
def _glob(pattern: str) -> list[Path]:
    return sorted(SHARED.glob(pattern))


def _kather(split: str) -> list[Path]:
    files = []
    for cls in sorted((SHARED / "histology_brightfield_rgb" / "kather2016_crc_he_tiles").iterdir()):
        tiles = sorted(cls.glob("*.tif"))
        files += tiles[:-1] if split == "train" else tiles[-1:]  # test: the alphabetically last
    return files


def _fluo(split: str) -> list[Path]:
    root = "fluorescence_2d/"
    if split == "train":
        return (_glob(root + "cellprofiler_ExampleFly_kc167/01_POS002_*.TIF")
                + _glob(root + "cellprofiler_ExampleFly_kc167/01_POS076_*.TIF")
                + _glob(root + "cellprofiler_ExampleSpeckles_h2ax/*.tif"))
    return (_glob(root + "cellprofiler_ExampleFly_kc167/01_POS218_*.TIF")
            + _glob(root + "cellprofiler_ExampleHuman_ht29/*.tif")
            + _glob(root + "stardist_dsb2018_nuclei/*.tif"))


SETS = {
    "em": {
        # only EPFL may be used for shipped weights (its licence is not stated: say so);
        # ISBI 2012 and Gerhard 2013 are non-commercial: evaluation only
        "em_epfl_hippocampus_fibsem": (lambda s: _glob(f"em_epfl_hippocampus_fibsem/{s}/*.png")),
        "em_isbi2012_drosophila_vnc_sstem": (
            lambda s: _glob(f"em_isbi2012_drosophila_vnc_sstem/{s}/*.png")),
        "em_drosophila_vnc_sstem_gerhard2013": (
            lambda s: _glob(f"em_drosophila_vnc_sstem_gerhard2013/{s}/*.tif")),
    },
    "fluo": {"fluorescence_2d": _fluo},
    "hist": {"histology_kather2016": _kather},
}
TRAINABLE = {"em": ["em_epfl_hippocampus_fibsem"], "fluo": ["fluorescence_2d"],
             "hist": ["histology_kather2016"]}


def files(modality: str, set_name: str, split: str) -> list[Path]:
    return SETS[modality][set_name](split)


def load(path: Path, *, rgb: bool) -> np.ndarray:
    """A 2D grayscale image (first channel of gray PNGs saved as LA/RGBA) or an RGB image."""
    if path.suffix.lower() in (".png",):
        import imageio.v3 as iio

        image = np.asarray(iio.imread(path))
    else:
        import tifffile

        image = tifffile.imread(path)
    if rgb:
        return image[..., :3]
    return image[..., 0] if image.ndim == 3 else image
