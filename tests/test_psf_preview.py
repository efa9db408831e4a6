"""core.psf.psf_preview: the image and one-line description the Deblur dock shows of a PSF."""

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core.beads import fwhm
from napari_microdeblur.core.psf import gaussian_psf, psf_preview


def test_a_gaussian_model_shows_its_plane_on_a_log_scale_with_size_and_fwhm():
    image, text = psf_preview("gaussian:1.6")
    psf = gaussian_psf(1.6)
    assert image.dtype == np.uint8 and image.shape == psf.shape == (15, 15)
    assert image[7, 7] == 255 and np.unravel_index(np.argmax(image), image.shape) == (7, 7)
    # log scale over 3 decades: 1e-1 of the peak is two thirds up, 1e-2 one third, 1e-3 black
    relative = np.maximum(psf / psf.max(), 1e-3)
    expected = 255 * (1 + np.log10(relative) / 3)
    assert np.abs(image - expected).max() <= 0.5 + 1e-6
    assert image[0, 0] == 0
    width = fwhm(psf)[0]
    assert text == f"2D PSF 15 x 15 px, FWHM {width:.2g} x {width:.2g} px (log scale, 3 decades)"
    assert abs(width - 2.3548 * 1.6) < 0.1


def test_a_3d_psf_shows_its_in_focus_plane(tmp_path):
    psf = np.stack([gaussian_psf(s, size=15) for s in (3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 5.0)])
    before = psf.copy()
    image, text = psf_preview(psf)
    np.testing.assert_array_equal(psf, before)
    assert image.shape == (15, 15) and "3D PSF 7 x 15 x 15 px" in text
    assert "in-focus plane z=2 shown (14% of the light)" in text  # 7 planes of sum 1 each
    path = tmp_path / "psf.tif"
    tifffile.imwrite(path, psf)
    assert psf_preview(str(path))[1] == text  # a TIFF path shows the same


def test_the_wings_show_where_a_linear_scale_would_hide_them():
    psf = 0.7 * gaussian_psf(1.0, size=31) + 0.3 * gaussian_psf(5.0, size=31)
    image, _ = psf_preview(psf)
    # the wing 8 px out is ~5e-3 of the peak: 1 of 255 on a linear scale, a fifth up on this one
    assert round(255 * psf[15, 23] / psf.max()) <= 1
    assert image[15, 23] > 50


@pytest.mark.parametrize(
    "source, error, words",
    [
        ("gaussian:-1", ValueError, r"psf='gaussian:-1': sigma is -1.0"),
        ("nothing:3", ValueError, "is not understood"),
        ("missing.tif", FileNotFoundError, "not found"),
        (np.zeros((9, 9)), ValueError, "no positive values"),
        (np.full((9, 9), np.nan), ValueError, "NaN"),
        (-gaussian_psf(1.0), ValueError, "no positive values"),
        (gaussian_psf(1.0) - 0.01, ValueError, "negative values"),
        (np.ones(9), ValueError, r"2D \(YX\) or 3D \(ZYX\)"),
    ],
)
def test_a_psf_that_cannot_be_used_gives_the_deblurs_one_line_error(source, error, words):
    with pytest.raises(error, match=words) as info:
        psf_preview(source)
    assert "\n" not in str(info.value)


def test_decades_must_be_positive():
    with pytest.raises(ValueError, match="decades"):
        psf_preview("gaussian:1.6", decades=0)
