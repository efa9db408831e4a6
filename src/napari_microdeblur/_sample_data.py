"""File > Open Sample: a blurred / sharp pair of real fluorescence nuclei (numpy only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).parent / "samples"
#: pixel size of the Kather et al. 2016 H&E tiles (um per pixel, both axes)
HE_UM_PER_PX = 0.495


def _read(name: str) -> np.ndarray:
    import tifffile

    return tifffile.imread(SAMPLES / name)


def make_nuclei_pair():
    """HT29 nuclei (Hoechst, CC-0): protocol-A blurred input and its sharp reference."""
    sharp = _read("ht29_nuclei_hoechst.tif")
    blurred = _read("ht29_nuclei_hoechst_protocolA.tif")
    contrast = (0.0, 255.0)  # both on the sharp image's 8-bit scale
    return [
        (blurred, {"name": "nuclei blurred (protocol A)", "contrast_limits": contrast}, "image"),
        (sharp, {"name": "nuclei sharp (ground truth)", "contrast_limits": contrast}, "image"),
    ]


def make_em_pair():
    """Volume EM of C. elegans (EMPIAR-10982 via NEUBIAS training resources; CC0 / CC BY 4.0),
    slice 17: protocol-C (astigmatic) blurred input and its sharp reference."""
    sharp = _read("em_celegans_empiar10982_z0017.tif")
    blurred = _read("em_celegans_empiar10982_z0017_protocolC.tif")
    contrast = (0.0, 255.0)
    credit = {"licence": "CC BY 4.0 (NEUBIAS training resources); EMPIAR-10982 data CC0",
              "source": "Tischer et al., doi:10.5281/zenodo.14264885; EMPIAR-10982"}
    return [
        (blurred, {"name": "EM blurred (protocol C)", "contrast_limits": contrast,
                   "metadata": credit}, "image"),
        (sharp, {"name": "EM sharp (ground truth)", "contrast_limits": contrast,
                 "metadata": credit}, "image"),
    ]


def make_fluo_stack_pair():
    """Light-sheet focus series of mitochondria (DFNN, MIT), 14 planes, in focus at plane 7:
    every plane degraded with protocol B (defocus disk, Poisson noise), and the planes as
    recorded."""
    sharp = _read("mito_focus_stack.tif")
    blurred = _read("mito_focus_stack_protocolB.tif")
    contrast = (float(sharp.min()), float(sharp.max()))
    return [
        (blurred, {"name": "mitochondria stack blurred (protocol B)",
                   "contrast_limits": contrast}, "image"),
        (sharp, {"name": "mitochondria stack (ground truth)", "contrast_limits": contrast},
         "image"),
    ]


def make_histology_pair():
    """H&E colorectal mucosa tile (Kather et al. 2016, CC BY 4.0): protocol-A blurred RGB input
    and its sharp reference."""
    sharp = _read("he_kather_mucosa_rgb.tif")
    blurred = _read("he_kather_mucosa_rgb_protocolA.tif")
    contrast = (0.0, 255.0)
    # the tile set's stated pixel size (samples/README.md); the other samples' sources state
    # none usable (the focus stack's planes are unevenly spaced), so they open at scale 1
    physical = {"scale": (HE_UM_PER_PX, HE_UM_PER_PX), "units": ("um", "um")}
    return [
        (blurred, {"name": "H&E blurred (protocol A)", "rgb": True,
                   "contrast_limits": contrast, **physical}, "image"),
        (sharp, {"name": "H&E sharp (ground truth)", "rgb": True, **physical}, "image"),
    ]
