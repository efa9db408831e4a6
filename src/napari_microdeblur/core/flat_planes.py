"""Planes of one value (an empty plane of a z-stack, a blank image, an RGB plane of one
colour) pass through a deblur unchanged, bit for bit, whatever the method.

A network given a flat plane returned it with small non-zero values (its bias: an all-zero
float32 plane came back at up to 0.0012, c2f_unet.fluorescence_v2; an RGB plane of one colour
0.5 off), and Richardson-Lucy's float32 arithmetic moved a plane of 300 by 3e-4. A plane of
one value holds no blur to undo, so its value is written as it is (per channel where the
method takes the channels whole) and one ``DeblurNote`` says how many planes were."""

from __future__ import annotations

import numpy as np

__all__ = ["STRIP_ROWS", "STRIP_VALUES", "chunk_edges", "every_plane_flat", "flat_note",
           "flat_values", "write_flat"]

#: rows (of the first spatial axis) read at least at a time while looking for a second value:
#: a plane that is not flat usually shows it in its first strip
STRIP_ROWS = 64
#: values (per channel) a strip holds at most before it is cut into bands along the second
#: spatial axis (64 MiB of float32): a 1024-row chunk of a 100k px wide plane is 400 MB
STRIP_VALUES = 1 << 24


def chunk_edges(image, axes: list[int]) -> list[list[int] | None]:
    """For each axis of ``axes`` (positions in ``image``), where ``image``'s chunks end along
    it (dask ``.chunks``: sizes; zarr ``.chunks``: one size; also a view's ``.array``'s), or
    None where it has no chunks there: a strip cut inside a chunk decodes that chunk again."""
    chunks = getattr(image, "chunks", None)
    if chunks is None:  # an ``axes.AxisView`` (RGBA's colours) keeps its array's axes
        chunks = getattr(getattr(image, "array", None), "chunks", None)
    shape = tuple(int(n) for n in image.shape)
    if not isinstance(chunks, tuple) or len(chunks) != len(shape):
        return [None] * len(axes)
    edges = []
    for axis in axes:
        sizes = chunks[axis]
        if not isinstance(sizes, tuple):  # zarr, h5py: one size, the last chunk cut short
            sizes = (int(sizes),) * -(-shape[axis] // max(1, int(sizes)))
        ends = [min(int(e), shape[axis]) for e in np.cumsum(sizes)]
        edges.append(ends if all(int(c) > 0 for c in sizes) else None)
    return edges


def _spans(n: int, least: int, edges: list[int] | None):
    """(start, stop) covering 0..n, each at least ``least`` long (but the last) and ending on
    a chunk edge where ``edges`` gives them."""
    start = 0
    while start < n:
        stop = min(n, start + max(1, least))
        if edges is not None:
            stop = min([e for e in edges if e >= stop] + [n])
        yield start, stop
        start = stop


def flat_values(read, spatial_shape, edges=None) -> np.ndarray | None:
    """The value of each channel of a plane where each channel of it holds one value, else
    None. ``read(slices)`` gives the plane's (C, *spatial) block at spatial ``slices`` (2 or 3
    spatial axes); it is read strip by strip along the first spatial axis (a strip over
    ``STRIP_VALUES`` in bands along the second) and stops at the first block holding a second
    value. ``edges`` (``chunk_edges``, per spatial axis): strips and bands end on chunk edges,
    so a lazy image's chunks are each decoded once."""
    shape = tuple(int(n) for n in spatial_shape)
    edges = list(edges or ()) + [None] * len(shape)
    values = None
    for start, stop in _spans(shape[0], STRIP_ROWS, edges[0]):
        per_line = (stop - start) * int(np.prod(shape[2:], dtype=np.int64))
        for low, high in _spans(shape[1], STRIP_VALUES // max(1, per_line), edges[1]):
            block = np.asarray(read((slice(start, stop), slice(low, high),
                                     *(slice(0, n) for n in shape[2:]))))
            block = block.reshape(block.shape[0], -1)
            if values is None:
                values = block[:, :1].copy()
            if not np.array_equal(block, np.broadcast_to(values, block.shape)):
                return None  # NaN never equals itself: such a plane goes on to its error
    return None if values is None else values[:, 0]


def every_plane_flat(image, axes: str, spatial: str = "YX") -> bool:
    """Whether every plane of ``image`` (of ``axes``) over its ``spatial`` axes ('YX', or 'ZYX'
    for a run in 3D) holds one value, so the run passes each through (``flat_values``, strip
    by strip); stops at the first plane that does not."""
    where = [i for i, a in enumerate(axes) if a in spatial]
    others = [i for i in range(len(axes)) if i not in where]
    shape = tuple(int(n) for n in image.shape)
    edges = chunk_edges(image, where)
    for index in np.ndindex(*(shape[i] for i in others)):
        def read(slices, index=index):
            key = [None] * len(shape)
            for i, at in zip(others, index):
                key[i] = at
            for i, sl in zip(where, slices):
                key[i] = sl
            return np.asarray(image[tuple(key)])[None]

        if flat_values(read, [shape[i] for i in where], edges) is None:
            return False
    return True


def write_flat(layout, out, plane, values: np.ndarray, dtype, out_channels: int) -> None:
    """``values`` (one per channel, in the image's units) written over the whole ``plane`` of
    ``out`` as ``dtype`` (an integer one as ``Normalization.undo`` does: rounded, clipped)."""
    values = np.asarray(values)
    dtype = _passed_type(out, values, np.dtype(dtype))
    if dtype.kind in "iu" and values.dtype != dtype:
        info = np.iinfo(dtype)
        values = np.clip(np.rint(values.astype(np.float64)), info.min, info.max)
    spatial = tuple(layout.shape[layout.axes.index(a)] for a in layout.spatial_axes)
    shape = (out_channels, *spatial)
    block = np.broadcast_to(values.astype(dtype).reshape(-1, *(1,) * len(spatial)), shape)
    layout.write(out, plane, tuple(slice(0, n) for n in spatial), block)


def _passed_type(out, values: np.ndarray, dtype: np.dtype) -> np.dtype:
    """The type ``values`` are written in: an integer ``out``'s own where the run writes its
    float result, as an edge fill's (``edge_fill.fill_type``), when they are whole and in its
    range (the input's own values, passed through, are not rounded and counted); else
    ``dtype``."""
    from .edge_fill import fill_type

    own = fill_type(out, dtype)
    if own == dtype:
        return dtype
    info = np.iinfo(own)
    whole = (values == np.rint(values)) & (values >= info.min) & (values <= info.max)
    return own if whole.all() else dtype


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
