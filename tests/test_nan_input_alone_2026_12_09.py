"""Walkthrough 2026-12-09: an image with a NaN pixel given to Wiener with balance 'auto' printed
the balance it had found (on NaNs) before its error; the error now comes alone."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_microdeblur.core.inference import deblur


def test_a_nan_image_gives_its_error_without_the_settled_balance():
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    image[3, 3] = np.nan
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="NaN or Inf pixel"):
            deblur(image, method="wiener", psf="gaussian:1.5", axes="YX", device="cpu")
    assert [str(w.message) for w in seen if "balance" in str(w.message)] == []
