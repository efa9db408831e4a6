"""A deblurred layer's name says which PSF the user gave, so that runs of one layer with other
PSFs are told apart (napari only numbered them: 'em deblurred [wiener_unet.psf_v4] [1]')."""

import re

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


def test_a_long_psf_text_is_cut_with_a_tag_of_the_whole():
    text = "widefield:na=1.4,wavelength=0.52,pixel=0.065,ni=1.515,defocus=0.3"
    shown = psf_label(text)
    assert len(shown) <= PSF_NAME_CHARS and re.search(r"\.\.\. #[0-9a-f]{4}$", shown)
    assert shown.startswith("widefield:na=1.4,wavelength=0.5")
    # texts that differ past the cut keep apart (they had one name: napari added [1])
    assert psf_label(text.replace("defocus=0.3", "defocus=0.5")) != shown


def test_result_names_with_and_without_a_psf():
    assert result_name("em", "gran.em_v1") == "em deblurred [gran.em_v1]"
    assert (result_name("em", "richardson_lucy", "gaussian:1.6")
            == "em deblurred [richardson_lucy, PSF gaussian:1.6]")
    assert (result_name("em", "richardson_lucy", "gaussian:1.6")
            != result_name("em", "richardson_lucy", "gaussian:2"))
