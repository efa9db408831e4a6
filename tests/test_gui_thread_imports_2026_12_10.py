"""From a walkthrough (2026-12-10): choosing Scope 'current slice' in the Deblur dock (and the
Fine-tune Preview) froze napari for 1.6 s the first time, importing dask on the GUI thread to
slice a plain numpy layer (``_layers.lazy_part``). numpy data is now sliced without dask."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from napari_microdeblur._widgets._layers import lazy_part

CHECK = """
import sys
import numpy as np
from napari_microdeblur._widgets._layers import lazy_part
part = lazy_part(np.arange(24).reshape(2, 3, 4), (1,))
assert part.base is not None and part.shape == (3, 4), part
print(sorted(m for m in sys.modules if m == 'dask' or m.startswith('dask.')))
"""


def test_a_numpy_layer_is_sliced_without_importing_dask():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]"


def test_an_array_read_when_indexed_is_still_wrapped_in_dask():
    class ReadsWhenIndexed:  # zarr/h5py-like: indexing reads pixels
        shape, dtype, ndim, chunks = (2, 3, 4), np.dtype("uint16"), 3, (1, 3, 4)

        def __init__(self):
            self.reads = 0

        def __getitem__(self, key):
            self.reads += 1
            return np.ones(self.shape, self.dtype)[key]

    source = ReadsWhenIndexed()
    part = lazy_part(source, (1,))
    assert source.reads == 0 and type(part).__module__.startswith("dask")
    assert np.asarray(part).shape == (3, 4) and source.reads >= 1
