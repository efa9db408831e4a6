"""A PSF taken from a layer ('layer:NAME' in the Deblur dock's PSF box) with values no PSF can
hold is refused with the layer's name (the core's message named only 'psf array' or its shape,
so a user with several PSF layers could not tell which one was wrong)."""

import numpy as np
import pytest
from napari.components import ViewerModel

from napari_microdeblur._widgets._psf_sources import psf_of_text


@pytest.mark.parametrize(("values", "said"), [
    (np.full((9, 9), np.nan, np.float32), "holds NaN or infinite values"),
    (np.zeros((9, 9), np.float32), "has no positive values (all zeros or negative)"),
    (-np.ones((5, 9, 9), np.float32), "has no positive values (all zeros or negative)"),
])
def test_a_bad_psf_layer_is_refused_by_its_name(values, said):
    viewer = ViewerModel()
    layer = viewer.add_image(values.copy(), name="beads 488")
    with pytest.raises(ValueError) as err:
        psf_of_text(viewer, "layer:beads 488")
    assert str(err.value).startswith(f"PSF layer 'beads 488' (shape {values.shape}) {said}")
    assert "choose the layer of a measured PSF" in str(err.value)
    np.testing.assert_array_equal(layer.data, values)  # the user's layer is left as it was


def test_a_good_psf_layer_is_taken_as_it_is():
    viewer = ViewerModel()
    psf = np.zeros((9, 9), np.float32)
    psf[4, 4], psf[4, 5] = 3.0, -0.01  # a small undershoot is the core's to clip, not refused
    viewer.add_image(psf, name="psf")
    np.testing.assert_array_equal(psf_of_text(viewer, "layer:psf"), psf)
