"""File > Open Sample: a blurred / sharp pair of real fluorescence nuclei (numpy only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).parent / "samples"


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
