"""The axis order of an OME-Zarr output, and an array that stores in it while its writers index
it in their image's order.

NGFF 0.4 orders the axes by type: time, channel, space ("axes MUST be ordered by type"), and
ome-zarr-py (napari-ome-zarr) refuses other orders. An ImageJ hyperstack is TZCYX (Z before
C), so a .zarr output in its input's order was no valid OME-Zarr. ``open_zarr_output`` stores
in ``ngff_axes`` order and hands the run a ``Reordered`` view of the stored array, indexed as
the input is: the inference (``Layout.write``) and a dask ``store`` (tuple-of-slices keys, on
the cluster) need not know. RGB samples (S, untyped) stay last, as ``zarr_metadata`` writes.
"""

from __future__ import annotations

import numpy as np

#: NGFF order: time, channel, space (z, y, x); RGB samples after them (``zarr_metadata.KINDS``)
NGFF_ORDER = "TCZYXS"


def ngff_axes(axes: str, order: str = NGFF_ORDER) -> str:
    """``axes`` in NGFF order (or another ``order``: ImageJ's is "TZCYXS"); as given where a
    letter is not in ``order``."""
    if any(a not in order for a in axes):
        return axes
    return "".join(sorted(axes, key=order.index))


def permuted(values, axes: str, order: str) -> tuple:
    """``values`` (one per letter of ``axes``) in the order of ``order``'s letters."""
    return tuple(values[axes.index(a)] for a in order)


def _is_int(where) -> bool:
    return isinstance(where, (int, np.integer)) and not isinstance(where, bool)


class Reordered:
    """``array`` (stored with axes ``stored``) read and written as an array with ``axes``: a
    key (ints and slices, an Ellipsis) and the value assigned are permuted into the stored
    order. Has shape, dtype, ndim and chunks in ``axes`` order, as a dask ``store`` target."""

    def __init__(self, array, axes: str, stored: str):
        if sorted(axes) != sorted(stored) or len(axes) != len(array.shape):
            raise ValueError(f"axes {axes!r} are not a reordering of the stored {stored!r}")
        self.array, self.axes, self.stored = array, axes, stored
        self.shape = permuted(tuple(int(n) for n in array.shape), stored, axes)
        self.ndim = len(self.shape)
        self.dtype = np.dtype(array.dtype)

    @property
    def chunks(self):
        chunks = getattr(self.array, "chunks", None)
        return None if chunks is None else permuted(chunks, self.stored, self.axes)

    def _full(self, where) -> tuple:
        where = where if isinstance(where, tuple) else (where,)
        if any(w is Ellipsis for w in where):
            i = where.index(Ellipsis)
            where = where[:i] + (slice(None),) * (self.ndim - len(where) + 1) + where[i + 1:]
        where = where + (slice(None),) * (self.ndim - len(where))
        if len(where) != self.ndim or not all(_is_int(w) or isinstance(w, slice)
                                              for w in where):
            raise IndexError(f"index {where!r}: give ints and slices, one per axis of "
                             f"{self.axes}")
        return where

    def _kept(self, where: tuple, order: str) -> list[str]:
        """The axes of ``order`` that a region indexed by ``where`` keeps (not ints)."""
        return [a for a in order if not _is_int(where[self.axes.index(a)])]

    def __getitem__(self, where):
        where = self._full(where)
        block = np.asarray(self.array[permuted(where, self.axes, self.stored)])
        stored = self._kept(where, self.stored)
        return block.transpose([stored.index(a) for a in self._kept(where, self.axes)])

    def __setitem__(self, where, value) -> None:
        where = self._full(where)
        value = np.asarray(value)
        if value.ndim:  # numpy's broadcasting is against the region in ``axes`` order
            region = tuple(len(range(n)[w]) for n, w in zip(self.shape, where)
                           if not _is_int(w))
            value = np.broadcast_to(value, region)
            kept = self._kept(where, self.axes)
            value = value.transpose([kept.index(a) for a in self._kept(where, self.stored)])
        self.array[permuted(where, self.axes, self.stored)] = value

    def __array__(self, dtype=None, copy=None):
        data = self[...]
        return data if dtype is None else data.astype(dtype)
