"""Whether a TIFF given as a PSF is clearly an ordinary image instead (an EM tile, a cell
image): deblurring with one runs, warns about its size and writes a meaningless output.

A PSF is the light of one point: after its background (the median of its edge pixels) is
subtracted, its light lies in one blob around its maximum, with a single clear peak, and its
edges are dark background (a computed PSF is cut where it falls below 1e-3 of its peak; a bead
image has background round the bead). An image has texture up to its edges and many objects,
with several maxima and no symmetry about its centre (a defocused PSF's rings are several
maxima, point-symmetric).
Measured on the Y/X plane (a 3D PSF's maximum over Z), lightly smoothed so that the noise of
a bead average does not count. An array under ``MIN_SIDE`` pixels in Y or X is not judged: a
model PSF cut to its support (a disk fills its array) cannot be told from an image crop.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_SIDE", "not_a_psf"]

#: smaller PSFs are not judged (they are cut tightly; an image this small is rare as a PSF)
MIN_SIDE = 64
_EDGE_SIGMAS = 5.0  # a PSF's peak stands this many edge-noise sigmas above its edges
_BLOB_LEVEL = 0.02  # of the peak (above background): the light that counts as the PSF's
_PROMINENCE = 0.25  # of the peak: a second maximum this prominent is a second object
_MAX_OBJECTS = 2  # beyond this many prominent maxima, asymmetric, it is an image
_SYMMETRY = 0.6  # PSFs measured 0.96-1 (0.68: a bead cut by the edge); images 0.3-0.5


def not_a_psf(data) -> str | None:
    """Why ``data`` (a 2D or 3D array of values >= 0) is clearly no PSF, in words for a one-line
    error; None where it may be one (and for arrays under ``MIN_SIDE`` px in Y or X)."""
    from scipy import ndimage
    from skimage.morphology import h_maxima

    plane = np.asarray(data, dtype=np.float64)
    plane = plane.max(axis=0) if plane.ndim == 3 else plane
    if min(plane.shape) < MIN_SIDE:
        return None
    smooth = ndimage.gaussian_filter(plane, 1.0)
    edges = np.concatenate([smooth[0], smooth[-1], smooth[:, 0], smooth[:, -1]])
    background = float(np.median(edges))
    noise = 1.4826 * float(np.median(np.abs(edges - background)))
    light = smooth - background
    peak = float(light.max())
    if peak <= _EDGE_SIGMAS * noise:
        if noise == 0:
            return None  # flat: a box kernel cut to itself, not judged
        return ("nothing in it stands out from its edges, which vary as much as its inside "
                "(an image's texture; a PSF's edges are dark background)")
    kept = np.where(light > max(_BLOB_LEVEL * peak, _EDGE_SIGMAS * noise), light, 0.0)
    labels, _ = ndimage.label(kept > 0)
    blob = labels == labels[np.unravel_index(int(np.argmax(light)), light.shape)]
    share = float(kept[blob].sum() / kept.sum())
    # a defocused PSF's rings are other blobs and maxima too, but symmetric about its centre
    symmetric = _point_symmetry(kept) >= _SYMMETRY
    if share < 0.5 and not symmetric:
        return (f"only {share:.0%} of its light lies in the spot around its maximum, the rest "
                "in other objects (a PSF is one spot)")
    maxima = ndimage.label(h_maxima(np.clip(light, 0.0, None) / peak, _PROMINENCE))[1]
    if maxima > _MAX_OBJECTS and not symmetric:
        return f"it holds {maxima} separate bright objects (a PSF is one spot)"
    return None


def _point_symmetry(kept: np.ndarray) -> float:
    """The share of the light that its reflection through its centroid matches: about 1 for a
    PSF (a spot, an ellipse, defocus rings), 0.3-0.5 for cells or filaments."""
    from scipy import ndimage

    centre = np.rint(ndimage.center_of_mass(kept)).astype(int)
    half = [min(c, n - 1 - c) for c, n in zip(centre, kept.shape)]
    crop = kept[tuple(slice(c - h, c + h + 1) for c, h in zip(centre, half))]
    return float(np.minimum(crop, crop[::-1, ::-1]).sum() / kept.sum())
