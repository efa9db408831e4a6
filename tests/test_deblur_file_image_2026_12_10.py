"""deblur_file's result image is the written file (a Python-API walkthrough of 2026-12-10):
it was the run's temporary writer, closed for a TIFF (np.asarray gave a 0-d object array) and
renamed away for a .zarr, whose image then read as zeros."""

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core import io
from napari_microdeblur.core.files import deblur_file


@pytest.mark.parametrize("name", ["out.tif", "out.ome.tif", "out.zarr", "out.png"])
def test_the_result_image_is_what_was_written(tmp_path, fluo_u16, name):
    if name.endswith(".zarr"):
        pytest.importorskip("zarr")
    source = tmp_path / "cells.tif"
    tifffile.imwrite(source, fluo_u16[:64, :64])
    out = tmp_path / name
    result = deblur_file(source, out, method="wiener", psf="gaussian:1.6", balance=0.05,
                         device="cpu")
    written = np.asarray(io.read_image(out).array)
    image = np.asarray(result.image)
    assert image.shape == written.shape == (64, 64)
    np.testing.assert_array_equal(image, written)
    assert float(image.mean()) > 0  # a .zarr result read as zeros
