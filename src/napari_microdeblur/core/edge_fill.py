"""Edge fill: the constant border (black or white) that aligned, registered or stitched images
carry where the field was shifted or rotated out, passed through a deblur unchanged.

The fill's edge is a step no PSF made: every method rang at it (within 8 px of a 40 px black
stripe on a 768 x 1024 EPFL FIB-SEM slice, the PSF-aware network with the true PSF fell from
28.8 to 19.2 dB, input 28.1; the fill came back at -37..+10), and the PSF estimate followed the
wedge's edge (astig:3.1,0.3,30 for gaussian:1.6 on a crop with an 11.7 % wedge). So a plane
with such a border (``focus.constant_border``: solid, touching the plane's edge, outside the
convex hull of the rest), holding at least ``MIN_SHARE`` of it, is deblurred (and its PSF
estimated) with the fill replaced by a continuation of the image next to it (``filled``), and
the fill's own values are written back into the output. Planes without one run as before, bit
for bit."""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_SHARE", "EdgeFills", "edge_fill_mask", "fill_note", "filled"]

#: the least share of a plane in edge fill that is continued and passed through
MIN_SHARE = 0.01
#: px over which the continuation turns from the nearest image pixel into a smoothed copy of
#: it: no step at the fill's edge, no streaks across it. Measured on 4 EM crops with a wedge
#: (the walkthrough's pad2.py): 4 px kept the PSF estimate and the 8 px band nearest the fill
#: best (band 0.2 dB under the unfilled crop); a mirror of the image through the edge (its
#: texture kept) read as a blur across the edge (astig:1.7,0.2 for 1.9,1.4), 16 px likewise
_SMOOTH_PX = 4.0


def edge_fill_mask(plane: np.ndarray) -> np.ndarray | None:
    """(Y, X) bool: the edge fill of a 2D plane (its ``constant_border``, with the pixels of
    that value joined to it that the border's 3 px opening left off: a wedge's thin tip, a
    slanted edge's steps), or None where it has none or it holds under ``MIN_SHARE``."""
    from scipy import ndimage

    from .focus import constant_border  # here: focus imports torch, the PSF estimate does not

    plane = np.asarray(plane)
    if plane.ndim != 2 or plane.size == 0:
        return None
    if plane.dtype.kind == "f" and not np.all(np.isfinite(plane)):  # no plane-sized temporary
        return None  # for integers
    low, high = float(plane.min()), float(plane.max())
    if low == high or (border := constant_border(plane, low, high)) is None:
        return None
    same = (plane == low) | (plane == high)
    mask = ndimage.binary_propagation(border, mask=same)
    return mask if np.count_nonzero(mask) >= MIN_SHARE * mask.size else None


def filled(plane: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``plane`` (2D) with its ``mask`` pixels replaced by a continuation of the rest: the
    nearest unmasked pixel's value, blended over ``_SMOOTH_PX`` into a smoothed copy of that.
    Same dtype (integers rounded)."""
    from scipy import ndimage

    values = np.asarray(plane, dtype=np.float64)
    dist, (iy, ix) = ndimage.distance_transform_edt(mask, return_indices=True)
    nearest = values[iy, ix]
    smooth = ndimage.gaussian_filter(nearest, _SMOOTH_PX / 2, mode="reflect")
    weight = np.clip(dist / _SMOOTH_PX, 0.0, 1.0)
    out = np.where(mask, (1 - weight) * nearest + weight * smooth, values)
    dtype = np.asarray(plane).dtype
    if dtype.kind in "iu":
        out = np.clip(np.rint(out), np.iinfo(dtype).min, np.iinfo(dtype).max)
    return out.astype(dtype)


def fill_note(planes: int, total: int, share: float, values: set[float]) -> str:
    """The line a deblur says where ``planes`` of its ``total`` held an edge fill (at most
    ``share`` of a plane, at ``values``); '' where none did."""
    if not planes:
        return ""
    at = " and ".join(f"{v:.6g}" for v in sorted(values))
    where = "the plane" if total == 1 else f"{planes} of {total} planes"
    return (f"edge fill: {100 * share:.3g} % of {where} is a constant border at {at} touching "
            "the image's edge (an aligned or stitched image's fill): the method ran with it "
            "continued from the image next to it, and the fill was passed through unchanged")


class EdgeFills:
    """The edge fills of the planes of one run (``inference._run``): ``reader`` gives a plane's
    reader with its fill continued, ``restore`` writes the fill's values back into the output,
    ``note`` says it once. Planes not whole in memory (``read_whole`` False and ``image`` not
    numpy), 3D or multichannel, or ``enabled`` False (a Method of one's own): read as they
    are."""

    def __init__(self, layout, enabled: bool, read_whole: bool, image):
        self.layout = layout
        # whole in memory: read whole anyway (``tiling.read_once``) or numpy, not a file's map
        in_memory = read_whole or (isinstance(image, np.ndarray)
                                   and not isinstance(image, np.memmap))
        self.enabled = (enabled and in_memory and len(layout.spatial_shape) == 2
                        and layout.channels == 1)
        self.current: tuple | None = None
        self.planes, self.share, self.values = 0, 0.0, set()

    def reader(self, read):
        """``read`` (slices -> the plane's (1, Y, X) block) for the plane's tiles: over the
        plane with its edge fill continued where it has one."""
        self.current = None
        if not self.enabled:
            return read
        whole = np.asarray(read(tuple(slice(0, n) for n in self.layout.spatial_shape)))
        if (mask := edge_fill_mask(whole[0])) is None:
            return read  # as before, bit for bit (a lazy plane's is read once already)
        self.current = (mask, whole[0][mask])
        self.planes += 1
        self.share = max(self.share, float(np.count_nonzero(mask)) / mask.size)
        self.values.update(float(v) for v in np.unique(self.current[1]))
        whole = filled(whole[0], mask)[None]
        return lambda slices: whole[(slice(None), *slices)]

    def restore(self, out, plane, dtype) -> None:
        """The fill's own values back into ``out``'s ``plane`` (after its tiles)."""
        if self.current is None:
            return
        full = tuple(slice(0, n) for n in self.layout.spatial_shape)
        block = np.array(self.layout.read(out, plane, full))
        block[0][self.current[0]] = self.current[1].astype(dtype)
        self.layout.write(out, plane, full, block)

    def note(self, total: int) -> str:
        return fill_note(self.planes, total, self.share, self.values)
