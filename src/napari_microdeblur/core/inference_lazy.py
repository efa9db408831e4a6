"""A lazy image's reads for one deblur: the normalisation's sample and the plane the tiles read.

A lazy (dask, zarr, compressed TIFF) image decodes every chunk a read touches, a strided read
too: the normalisation's sample (every 10th pixel of a 20000 px plane) decoded the whole plane,
then the tiles (``tiling.read_once``) decoded it again: a dask plane's 100 chunks were computed
200 times. An image of one plane that the run would hold anyway (``tiling.holds_plane``: up to
``tiling.READ_ONCE_MAX_BYTES`` and an eighth of the memory available) is read whole once
(``read_whole``): the sample is taken from it and the run's tiles slice it
(``PreparedDeblur.held``, released when the run starts). A plane over that size is read twice
(a strided sample, then tile by tile): holding it would take memory without bound, so reading
again is the price. In a stack of planes, the planes the sample reads (``max_planes`` at most)
are read again by the run, which holds one plane at a time.
"""

from __future__ import annotations

import math

import numpy as np

from . import tiling


def sample_key(image, axes: str, max_elements: int, max_planes: int) -> tuple:
    """The index of ``stats_sample``'s read of ``image``: at most ``max_planes`` planes of a lazy
    stack (evenly strided over Z and T), each strided in Y, X to about ``max_elements`` values."""
    shape = tuple(int(n) for n in image.shape)
    steps = [1] * len(shape)
    # a lazy stack (dask, zarr) is read chunk by chunk: a stride in Y, X alone still read every
    # plane (a 'current slice' deblur of a 4 GB stack read all 2000); numpy and uncompressed
    # TIFFs (cheap_regions) keep every plane, as before
    lazy = not isinstance(image, np.ndarray) and not getattr(image, "cheap_regions", False)
    plane_axes = [i for i, a in enumerate(axes) if a not in "YXSC"] if lazy else []

    def kept(i: int) -> int:
        return -(-shape[i] // steps[i])

    while plane_axes and math.prod(kept(i) for i in plane_axes) > max_planes:
        steps[max(plane_axes, key=kept)] *= 2
    total = math.prod(kept(i) if i in plane_axes else n for i, n in enumerate(shape))
    stride = max(1, math.ceil((total / max_elements) ** (1 / 2)))
    return tuple(slice(None, None, stride) if a in "YX" else slice(None, None, steps[i])
                 for i, a in enumerate(axes))


def stats_sample(image, axes: str, max_elements: int, max_planes: int,
                 whole: np.ndarray | None = None) -> np.ndarray:
    """A strided subsample of at most ~``max_elements`` values (``sample_key``), read without
    loading it all; taken from ``whole`` (``image`` read whole) where given: the same values."""
    key = sample_key(image, axes, max_elements, max_planes)
    sample = np.asarray((image if whole is None else whole)[key])
    # other axes (Z, T, C) may still be long: thin them too
    while sample.size > 4 * max_elements and sample.shape[0] > 1:
        sample = sample[::2]
    return sample


def read_whole(image, layout) -> np.ndarray | None:
    """``image`` read whole, where it is one plane (``layout``) that the run would hold anyway
    (``tiling.holds_plane``: a lazy one of bounded size); else None, and nothing is read."""
    if len(layout.planes) != 1 or not tiling.holds_plane(image, layout.spatial_shape,
                                                         layout.channels):
        return None
    return np.asarray(image[(slice(None),) * len(image.shape)])
