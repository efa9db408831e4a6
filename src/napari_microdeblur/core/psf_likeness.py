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
A file over ``MAX_PSF_SIDE`` px a side or ``MAX_PSF_PIXELS`` in all is refused from its header,
before its pixels are decoded (``psf_series``): its checks and cleaning work on float64 copies
(a 10000 x 10000 file of 440 KB compressed ran a deblur out of memory at 6.9 GB).
"""

from __future__ import annotations

import math

import numpy as np

from .declared_sizes import refuse_impossible_ome

__all__ = ["MAX_PSF_PIXELS", "MAX_PSF_SIDE", "MIN_SIDE", "PsfFileRefused", "not_a_psf",
           "psf_series"]

#: the largest PSF file read (read, checked and cleaned, one of 4096 x 4096 px peaked at
#: 2.6 GB, one of 256 x 512 x 512 at 3.0 GB): a PSF is cut to its support before use anyway
MAX_PSF_SIDE, MAX_PSF_PIXELS = 4096, 1 << 26

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


class PsfFileRefused(ValueError):
    """A PSF file refused from its header (``psf_series``): said as it is, not as unreadable."""


def psf_series(tif, path, where: str):
    """The first series of the open ``tifffile.TiffFile`` ``tif`` of the PSF file ``path``
    (``where``: 'the PSF in FILE'), refused (``PsfFileRefused``) before its pixels are decoded
    where it is larger than a PSF can sensibly be, or its OME-XML declares more planes than
    the file can hold (``declared_sizes``)."""
    try:
        refuse_impossible_ome(tif, path)
    except ValueError as error:
        raise PsfFileRefused(str(error)) from None
    series = tif.series[0]
    shape = tuple(int(n) for n in series.shape)
    if max(shape, default=0) > MAX_PSF_SIDE or math.prod(shape) > MAX_PSF_PIXELS:
        raise PsfFileRefused(
            f"{where} is {' x '.join(map(str, shape))} px; accepted: at most {MAX_PSF_SIDE} px a "
            f"side and {MAX_PSF_PIXELS >> 20} Mpx in all: a PSF is cut to its support (its spot "
            "and a dark border) before use, so crop it to that (e.g. in Fiji) and save it, or "
            "give a model such as 'gaussian:1.6'")
    return series


def _point_symmetry(kept: np.ndarray) -> float:
    """The share of the light that its reflection through its centroid matches: about 1 for a
    PSF (a spot, an ellipse, defocus rings), 0.3-0.5 for cells or filaments."""
    from scipy import ndimage

    centre = np.rint(ndimage.center_of_mass(kept)).astype(int)
    half = [min(c, n - 1 - c) for c, n in zip(centre, kept.shape)]
    crop = kept[tuple(slice(c - h, c + h + 1) for c, h in zip(centre, half))]
    return float(np.minimum(crop, crop[::-1, ::-1]).sum() / kept.sum())
