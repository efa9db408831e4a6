"""Training and test splits of ../shared/data, as each set's PROVENANCE.md suggests.

Used by benchmarks/quality.py and scripts/train_default.py so both read the same images.
The data folder is ``MICRODEBLUR_SHARED_DATA``, else ``shared/data`` beside the clone
(docs/contributing.md). ``files`` lists what is there (nothing where the folder is missing:
tests probe it); ``check_data`` refuses a missing folder or set in one line.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

VARIABLE = "MICRODEBLUR_SHARED_DATA"
SHARED = Path(os.environ.get(VARIABLE, Path(__file__).parents[2] / "shared" / "data"))

# modality -> set name -> (train files, test files), relative to SHARED
def _glob(pattern: str) -> list[Path]:
    return sorted(SHARED.glob(pattern))


def _kather(split: str) -> list[Path]:
    files = []
    root = SHARED / "histology_brightfield_rgb" / "kather2016_crc_he_tiles"
    for cls in sorted(root.iterdir() if root.is_dir() else ()):
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


def check_data(modality: str) -> None:
    """Exit with one line where the data folder, or a split of one of ``modality``'s sets, is
    missing (the run ended in core.tuning's 'sharp_images is empty')."""
    where = f"{VARIABLE}={os.environ[VARIABLE]}" if VARIABLE in os.environ else \
        f"{VARIABLE} unset"
    if not SHARED.is_dir():
        raise SystemExit(f"benchmark data folder {SHARED} does not exist ({where}): set "
                         f"{VARIABLE} to the folder that holds the sets")
    for set_name in SETS[modality]:
        empty = [split for split in ("train", "test") if not files(modality, set_name, split)]
        if empty:
            raise SystemExit(f"no {' or '.join(empty)} images of set {set_name!r} under "
                             f"{SHARED} ({where}): add them, or set {VARIABLE} to a folder "
                             "that holds them")


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
