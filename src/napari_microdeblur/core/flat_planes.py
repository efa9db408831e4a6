"""Planes of one value (an empty plane of a z-stack, a blank image, an RGB plane of one
colour) pass through a deblur unchanged, bit for bit, whatever the method.

A network given a flat plane returned it with small non-zero values (its bias: an all-zero
float32 plane came back at up to 0.0012, c2f_unet.fluorescence_v2; an RGB plane of one colour
0.5 off), and Richardson-Lucy's float32 arithmetic moved a plane of 300 by 3e-4. A plane of
one value holds no blur to undo, so its value is written as it is (per channel where the
method takes the channels whole) and one ``DeblurNote`` says how many planes were."""

from __future__ import annotations

import numpy as np

__all__ = ["STRIP_ROWS", "flat_note", "flat_values", "write_flat"]

#: rows (of the first spatial axis) read at a time while looking for a second value: a plane
#: that is not flat usually shows it in its first strip, so a lazily read image (TIFF, zarr)
#: is rarely read more than once
STRIP_ROWS = 64


def flat_values(read, spatial_shape) -> np.ndarray | None:
    """The value of each channel of a plane where each channel of it holds one value, else
    None. ``read(slices)`` gives the plane's (C, *spatial) block at spatial ``slices``; it is
    read strip by strip and stops at the first strip holding a second value."""
    rest = tuple(slice(0, n) for n in spatial_shape[1:])
    values = None
    for start in range(0, spatial_shape[0], STRIP_ROWS):
        block = np.asarray(read((slice(start, min(start + STRIP_ROWS, spatial_shape[0])),
                                 *rest)))
        block = block.reshape(block.shape[0], -1)
        if values is None:
            values = block[:, :1].copy()
        if not np.array_equal(block, np.broadcast_to(values, block.shape)):
            return None  # NaN never equals itself: such a plane goes on to its error
    return None if values is None else values[:, 0]


def write_flat(layout, out, plane, values: np.ndarray, dtype, out_channels: int) -> None:
    """``values`` (one per channel, in the image's units) written over the whole ``plane`` of
    ``out`` as ``dtype`` (an integer one as ``Normalization.undo`` does: rounded, clipped)."""
    dtype = np.dtype(dtype)
    values = np.asarray(values)
    if dtype.kind in "iu" and values.dtype != dtype:
        info = np.iinfo(dtype)
        values = np.clip(np.rint(values.astype(np.float64)), info.min, info.max)
    spatial = tuple(layout.shape[layout.axes.index(a)] for a in layout.spatial_axes)
    shape = (out_channels, *spatial)
    block = np.broadcast_to(values.astype(dtype).reshape(-1, *(1,) * len(spatial)), shape)
    layout.write(out, plane, tuple(slice(0, n) for n in spatial), block)


def flat_note(count: int, total: int, planes: str = "planes") -> str:
    """The line a deblur gives when ``count`` of its ``total`` planes held one value ('' for
    none); ``planes``: what they are to the user ('channels' where it loops over colours)."""
    if count == 0:
        return ""
    if count == total and (total == 1 or planes == "channels"):
        each = " in each channel" if planes == "channels" else ""
        return (f"the image holds a single value{each} everywhere: there is no blur to undo, "
                "so it was passed through unchanged")
    verb = "holds" if count == 1 else "hold"
    return (f"{count} of {total} {planes} {verb} a single value everywhere (empty "
            f"{planes}?): there is no blur to undo in them, so they were passed through "
            "unchanged, not deblurred")
