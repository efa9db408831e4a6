"""A boolean (mask) image is refused saying how to make a deblurrable copy (it said only
"give real-valued intensities")."""

from __future__ import annotations

import numpy as np
import pytest

from napari_microdeblur.core.inference import deblur


def test_the_core_says_how_to_convert_a_mask():
    with pytest.raises(TypeError, match=r"convert a copy first, e\.g\. image\.astype\(np\.uint8\)"):
        deblur(np.zeros((32, 32), bool), method="wiener", psf="gaussian:1.5")


def test_the_dock_says_how_to_add_an_8_bit_copy():
    from napari.layers import Image

    from napari_microdeblur._widgets._layers import check_image_layer

    with pytest.raises(ValueError, match="add a copy as 8-bit"):
        check_image_layer(Image(np.zeros((32, 32), bool), name="mask"), "image")
