"""Uncompressed TIFFs are read and written region by region with os.pread / os.pwrite, which
Windows lacks: every lazy read there failed with AttributeError. Without them (as on Windows)
a seek and a read or write under a lock stand in (core/positioned_io.py)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core import io, io_write


@pytest.fixture
def no_positioned_calls(monkeypatch):
    """This machine as Windows sees it: no os.pread, no os.pwrite."""
    monkeypatch.delattr(os, "pread", raising=False)
    monkeypatch.delattr(os, "pwrite", raising=False)


def _stack(shape=(3, 70, 90), dtype=np.uint16):
    return np.random.default_rng(0).integers(0, 60000, shape).astype(dtype)


def test_a_lazy_tiff_reads_without_pread(tmp_path, no_positioned_calls):
    data = _stack()
    tifffile.imwrite(tmp_path / "a.tif", data)
    image = io.read_image(tmp_path / "a.tif")
    assert isinstance(image.array, io.TiffArray)
    np.testing.assert_array_equal(image.array[1, 5:40, 7:61], data[1, 5:40, 7:61])
    # threads sharing the descriptor (the tiler reads in a worker) do not move each other
    boxes = [(z, y, x) for z in range(3) for y in (0, 20, 41) for x in (0, 33, 60)]
    with ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(lambda b: image.array[b[0], b[1]:b[1] + 29, b[2]:b[2] + 30],
                              boxes))
    for (z, y, x), part in zip(boxes, parts):
        np.testing.assert_array_equal(part, data[z, y:y + 29, x:x + 30])


def test_a_tiff_output_is_written_region_by_region_without_pwrite(tmp_path,
                                                                 no_positioned_calls):
    data = _stack((2, 40, 50, 3), np.uint8)  # RGB: a colour at a time reads the row back
    with io_write.open_tiff_output(tmp_path / "out.tif", data.shape, data.dtype,
                                   axes="ZYXS") as out:
        for z in range(2):
            for c in range(3):
                out[z, :, :, c] = data[z, :, :, c]
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), data)
