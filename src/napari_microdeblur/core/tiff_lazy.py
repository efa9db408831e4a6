"""Compressed TIFFs read lazily: plane by plane through tifffile's Zarr store.

``io.read_tiff`` reads an uncompressed TIFF with positioned reads (``io.TiffArray``); a
compressed one (zlib, LZW, zstd; striped or tiled) was decoded whole into memory, so a
file-to-file deblur of a compressed stack of several GB needed it all in RAM before its
first tile. Here its series is opened with ``series.aszarr()`` and zarr (an optional
dependency): the tiler then decodes the strips or tiles of one plane at a time
(``tiling.read_once``; an image of one such plane once per run, the normalisation's sample
taken from the same read: ``inference_lazy``). Small images (``LAZY_MIN_BYTES`` decoded) stay
whole reads: one decode, no per-chunk overhead. Without zarr, or where the store does not open
as the same array (a tifffile too old for the installed zarr), the caller reads the image whole,
as before.
"""

from __future__ import annotations

import contextlib

import numpy as np

#: below this many decoded bytes a compressed TIFF is read whole: plane by plane through zarr
#: took 0.25 s for 64 MB against 0.05 s whole, 0.16 against 0.02 s for 16 MB, and the
#: process holds some 430 MB anyway (benchmarks/compressed_tiff_memory.py)
LAZY_MIN_BYTES = 64 << 20


class TiffZarrArray:
    """Read-only, array-like view of a compressed TIFF series (a zarr array over tifffile's
    store). Indexing with ints and slices (any step) returns a numpy array, as numpy would;
    only the strips or tiles a region touches are decoded."""

    def __init__(self, store, array, path: str):
        self._store = store
        self._array = array
        self.path = path
        self.shape = tuple(int(n) for n in array.shape)
        self.dtype = np.dtype(array.dtype).newbyteorder("=")
        self.ndim = len(self.shape)
        self.size = int(np.prod(self.shape))

    def __del__(self):
        with contextlib.suppress(Exception):
            self._store.close()

    def __array__(self, dtype=None, copy=None):
        data = self[(slice(None),) * self.ndim]
        return data if dtype is None else data.astype(dtype)

    def __getitem__(self, key) -> np.ndarray:
        from .io import normalise_key

        ranges, drop = normalise_key(key, self.shape)
        # zarr takes positive steps only: read the same elements ascending, then flip
        box = tuple(slice(min(r[0], r[-1]), max(r[0], r[-1]) + 1, abs(r.step)) if len(r)
                    else slice(0, 0) for r in ranges)
        block = np.asarray(self._array[box])
        flip = tuple(slice(None, None, -1) if r.step < 0 else slice(None) for r in ranges)
        block = block[flip].astype(self.dtype, copy=False)
        return np.ascontiguousarray(block).reshape(
            [len(r) for i, r in enumerate(ranges) if i not in drop])


def open_compressed(series, path) -> TiffZarrArray | None:
    """``series`` (of an open tifffile.TiffFile) as a lazy array, or None where it should be
    read whole: small, zarr not installed, or a store that does not open as ``series``'s
    array (same shape and dtype as ``series.asarray()``)."""
    nbytes = int(np.prod(series.shape, dtype=np.int64)) * np.dtype(series.dtype).itemsize
    if nbytes < LAZY_MIN_BYTES:
        return None
    try:
        import zarr
    except ImportError:  # optional: read whole, as before
        return None
    store = None
    try:
        store = series.aszarr(level=0)  # a pyramid's full resolution, as series.asarray()
        array = zarr.open(store, mode="r")
        same = (tuple(array.shape) == tuple(series.shape)
                and np.dtype(array.dtype).newbyteorder("=")
                == np.dtype(series.dtype).newbyteorder("="))
    except Exception:  # noqa: BLE001 - tifffile and zarr of mismatched versions: read whole
        same = False
    if not same:
        if store is not None:
            with contextlib.suppress(Exception):
                store.close()
        return None
    return TiffZarrArray(store, array, str(path))
