"""A deblurred layer's name says which PSF the user gave, so that runs of one layer with other
PSFs are told apart (napari only numbered them: 'em deblurred [wiener_unet.psf_v4] [1]')."""

import pytest

from napari_microdeblur._widgets._layer_data import PSF_NAME_CHARS, psf_label, result_name


@pytest.mark.parametrize(("typed", "shown"), [
    ("", ""),
    ("  ", ""),
    ("gaussian:2", "gaussian:2"),
    ("/data/beads/psf_488.tif", "psf_488.tif"),
    (r"C:\scope\psf 561.tiff", "psf 561.tiff"),
    ("layer:beads psf", "layer:beads psf"),
    ("estimate", "estimated"),
])
def test_the_psf_as_a_name_shows_it(typed, shown):
    assert psf_label(typed) == shown


def test_a_long_psf_text_is_cut():
    text = "widefield:na=1.4,wavelength=0.52,pixel=0.065,ni=1.515,defocus=0.3"
    shown = psf_label(text)
    assert len(shown) == PSF_NAME_CHARS and shown.endswith("...")
    assert shown.startswith("widefield:na=1.4,wavelength=0.52")


def test_result_names_with_and_without_a_psf():
    assert result_name("em", "gran.em_v1") == "em deblurred [gran.em_v1]"
    assert (result_name("em", "richardson_lucy", "gaussian:1.6")
            == "em deblurred [richardson_lucy, PSF gaussian:1.6]")
    assert (result_name("em", "richardson_lucy", "gaussian:1.6")
            != result_name("em", "richardson_lucy", "gaussian:2"))
