"""Whether PSF-CycleGAN's blurry set is measurably sharper than its sharp set (the two swapped).

The Gaussian fitted to the two sets' power spectra (``spectrum_match``) told swapped sets from
right ones on clean float sets only: the walkthrough's 8-bit set the right way round fitted a
point (0.011 px) and was refused, BBBC006 swapped fitted 1.2-1.3 px and trained. This compares
the sharpness of the sets directly: per image (percentile-normalised, channels averaged) the
energy of the band between Gaussians of ``FINE`` px over that of the next octave (``COARSE``),
so neither the gain nor the offset of an acquisition counts, and the band stays above the
noise and 8-bit rounding that the finest frequencies hold; a set's sharpness is the median
over its images. A blurry set ``MIN_SWAP_RATIO`` times sharper than the sharp set is warned of
(``cycle.warn_if_swapped``), not refused: two halves of one set read up to 3.39 below.

Measured (benchmarks/cycle_swap_check.py, results/cycle_swap_check.json): ratio of the blurry
set's sharpness to the sharp set's, right way round / swapped

=======================================  =========  =======  ============
sets (blurry / sharp)                    right way  swapped  halves S / B
=======================================  =========  =======  ============
walkthrough cg (HT29 8-bit, sigma 2)       0.77      1.29     1.05 / 1.32
walkthrough cg2 (float, sigma 2)           0.75      1.33     0.95 / 1.06
walkthrough cg3 (8-bit, sigma 2)           0.75      1.33     0.95 / 1.06
BBBC006 real defocus (z00 / near focus)    0.29      3.44     1.12 / 0.99
Fly KC167 sigma 3, 16-bit, Poisson         0.59      1.68     0.86 / 0.94
Fly KC167 sigma 1, 8-bit, Poisson          0.93      1.08     0.84 / 0.82
H2AX sigma 1, 16-bit, clean                0.85      1.18     3.39 / 2.06
H2AX sigma 2, 8-bit, Poisson               0.80      1.25     3.27 / 1.83
DSB nuclei sigma 1.5, 8-bit (2 crops)      1.11      0.90     1.07 / 2.25
=======================================  =========  =======  ============

"halves": two halves of one set, no blur between them (H2AX's halves are its two stains,
DSB's one crop each). So a blur of 1-1.5 px, or a few images of unlike content, is within the
spread of the content: those swapped runs are not warned of here (the export's point-PSF
warning, ``psf_quality``, still speaks of them), and two sets of one blur can be, which is
why it is a warning.
"""

from __future__ import annotations

import numpy as np

#: sigmas (px) of the Gaussians whose difference is the band compared ...
FINE = (2.0, 4.0)
#: ... against the next octave's
COARSE = (4.0, 8.0)
#: a blurry set this many times sharper than the sharp set is warned of as swapped: above the
#: right-way ratios measured (0.29-1.11), under the swapped ones of sigma >= 2 (1.25-3.44) and
#: the walkthrough's cg swapped with the image train holds out for validation (1.19)
MIN_SWAP_RATIO = 1.15
#: images larger than this (px along an axis) are scored on their centre: the score is a
#: median of energy ratios, and a 4k-px image would take seconds per Gaussian
MAX_SIDE = 1024
#: ... and images shorter than this along an axis are not scored: the coarse band's Gaussian
#: (8 px) would see mostly the mirrored border (two 20 x 24 x 24 stacks of one texture read
#: 1.44, measured)
MIN_SIDE = 4 * int(COARSE[1])


def _planes(source) -> list[np.ndarray] | None:
    """The normalised images of an unpaired set ((C, *spatial) arrays), or None for a source
    without them (training pairs: their inputs are not compared)."""
    images = getattr(source, "images", None)
    if images is None:
        images = getattr(source, "volumes", None)
    return list(images) if images else None


def image_sharpness(image: np.ndarray) -> float | None:
    """Band energy at ``FINE`` over that at ``COARSE`` of one (C, *spatial) image (channels
    averaged); None where the coarse band holds nothing (a constant image) or the image is
    under ``MIN_SIDE`` along an axis."""
    from ...pair_checks import band_energies, central_crop

    x = np.asarray(image, dtype=np.float64).mean(axis=0)
    if min(x.shape) < MIN_SIDE:
        return None
    fine, coarse = band_energies(central_crop(x, MAX_SIDE), FINE, COARSE)
    return fine / coarse if coarse > 0 else None


def set_sharpness(images) -> float | None:
    """Median ``image_sharpness`` of a set's images; None where none could be scored."""
    scores = [s for s in (image_sharpness(a) for a in images) if s is not None]
    return float(np.median(scores)) if scores else None


def swap_ratio(blurry_source, sharp_source) -> float | None:
    """The blurry set's sharpness over the sharp set's (under 1: the blurry set is blurrier),
    or None where either set holds no images to score (the training pairs stand in)."""
    blurry, sharp = _planes(blurry_source), _planes(sharp_source)
    if blurry is None or sharp is None:
        return None
    b, s = set_sharpness(blurry), set_sharpness(sharp)
    if b is None or s is None or s <= 0:
        return None
    return b / s


def looks_swapped(ratio: float | None) -> bool:
    """Whether a ``swap_ratio`` says the blurry set is measurably sharper than the sharp one."""
    return ratio is not None and ratio >= MIN_SWAP_RATIO
