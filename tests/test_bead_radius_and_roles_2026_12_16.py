"""1. A PSF radius given under the beads' PSF width cut the PSF and said nothing (sigma 1.5,
FWHM 3.5 px: radius 2 gave a FWHM of 2.67, radius 3 3.36): a DeblurWarning now says so, in the
CLI as --radius and in the docks' chooser as PSF radius. 2. check_radius's messages read
'radius is (7, 7, 7); accepted: None ...' in the dock. 3. Compare & QC left Blurry empty beside
'x in-focus' (the Fine-tune dock proposed 'x')."""

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

sys.path.insert(0, str(Path(__file__).parent))
from test_beads import bead_image  # noqa: E402

from napari_microdeblur.cli import main  # noqa: E402
from napari_microdeblur.cli_words import in_cli_words  # noqa: E402
from napari_microdeblur.core.beads import check_radius, fwhm, psf_from_beads  # noqa: E402
from napari_microdeblur.core.notes import DeblurWarning  # noqa: E402


@pytest.fixture(scope="module")
def beads():
    return bead_image((128, 128), (1.5, 1.5), spacing=40)[0]  # 9 beads, FWHM 3.53 px


def _cut_lines(record):
    return [str(w.message) for w in record
            if issubclass(w.category, DeblurWarning) and "cuts the PSF" in str(w.message)]


@pytest.mark.parametrize("radius", [2, 3, (3, 5)])
def test_a_radius_that_cuts_the_psf_is_warned_with_the_radius_to_give(beads, radius):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        psf, report = psf_from_beads(beads, radius=radius)
    lines = _cut_lines(record)
    assert len(lines) == 1 and "\n" not in lines[0]
    given = "3,5" if radius == (3, 5) else str(radius)  # as --radius and PSF radius take it
    assert lines[0].startswith(f"radius={given} cuts the PSF")
    assert "give radius=" + ("11,5" if radius == (3, 5) else "11") in lines[0]
    assert "leaving it out" in lines[0]
    assert lines[0] in report.warning  # the docks show the report's warning
    if radius != (3, 5):
        assert max(fwhm(psf)) < 3.45  # what it warns of: too narrow (3.53 from the beads)


@pytest.mark.parametrize("radius", [None, 4, 6])
def test_a_radius_that_holds_the_psf_is_not_warned(beads, radius):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        psf, report = psf_from_beads(beads, radius=radius)
    assert _cut_lines(record) == [] and "cuts" not in report.warning
    assert fwhm(psf)[-1] == pytest.approx(3.53, rel=0.01)


def test_a_cut_z_radius_is_warned_per_axis():
    stack = bead_image((40, 96, 96), (3.0, 1.5, 1.5), spacing=36, margin=14)[0]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        psf_from_beads(stack, radius=(9, 5, 5))
        assert _cut_lines(record) == []
        psf_from_beads(stack, radius=(5, 5, 5))
    (line,) = _cut_lines(record)
    assert "along Z" in line and "along Y" not in line and "give radius=19,5,5" in line


def test_the_cli_says_the_cut_as_its_option(tmp_path, beads, capsys):
    path = tmp_path / "beads.tif"
    tifffile.imwrite(path, beads)
    assert main(["psf-from-beads", str(path), "-o", str(tmp_path / "psf.tif"),
                 "--radius", "3,5"]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if "cuts the PSF" in ln]
    assert len(err) == 1 and err[0].startswith("microdeblur: warning: --radius 3,5 cuts")
    assert "give --radius 11,5 " in err[0] and "radius=" not in err[0]


def test_the_chooser_says_the_cut_in_its_fields(beads):
    from napari_microdeblur._widgets._bead_chooser import bead_words

    _, report = psf_from_beads(beads, radius=(3, 3))
    said = bead_words(report.warning)
    assert said.startswith("PSF radius 3,3 cuts the PSF") and "give PSF radius 11 " in said
    assert "radius=" not in said


@pytest.mark.parametrize("radius, ndim, words", [
    ((7, 7, 7), 2, "radius=7,7,7 has 3 values for a 2D image: give one value, or 2 of them "
                   "(one per axis, YX), or leave it out for the beads' width"),
    (0, 2, "radius=0: give whole pixels from 1 to 256"),
    ((1, 2, 3, 4), None, "radius=1,2,3,4 has 4 values: give one value, or one per axis"),
])
def test_radius_messages_read_as_the_cli_and_the_chooser_say_it(radius, ndim, words):
    from napari_microdeblur._widgets._bead_chooser import bead_error_words

    with pytest.raises(ValueError) as caught:
        check_radius(radius, ndim)
    text = str(caught.value)
    assert text.startswith(words) and "None" not in text and "accepted" not in text
    cli = in_cli_words(text, {"radius": "--radius"})
    assert cli.startswith("--radius ") and "radius=" not in cli
    dock = bead_error_words(caught.value)
    shown = ",".join(map(str, np.atleast_1d(radius)))
    assert dock.startswith(f"PSF radius {shown}") and "radius=" not in dock


def test_the_dock_says_a_3d_radius_for_2d_beads_in_its_field(beads):
    from napari_microdeblur._widgets._bead_chooser import bead_error_words

    with pytest.raises(ValueError) as caught:
        psf_from_beads(beads, radius=(7, 7, 7))  # the chooser passes 7,7,7 before an image
    assert bead_error_words(caught.value).startswith(
        "PSF radius 7,7,7 has 3 values for a 2D image: give one value, or 2 of them")


@pytest.mark.parametrize("names, blurry", [
    (["x", "x in-focus"], "x"),
    (["x", "x in-focus", "x out-of-focus"], "x out-of-focus"),
    (["x defocused", "x", "x in-focus"], "x defocused"),
])
def test_compare_proposes_a_blurry_layer_beside_the_truth(names, blurry):
    from napari.components import ViewerModel

    from napari_microdeblur._widgets._compare_roles import guess_roles

    viewer = ViewerModel()
    rng = np.random.default_rng(0)
    for name in names:
        viewer.add_image(rng.random((32, 32)).astype(np.float32), name=name)
    viewer.add_image(np.zeros((16, 16), np.float32), name="other shape")
    roles = guess_roles(viewer)
    assert roles["truth"].name == "x in-focus"
    assert roles["blurry"].name == blurry


def test_compare_takes_no_other_shape_result_or_truth_as_blurry():
    from napari.components import ViewerModel

    from napari_microdeblur._widgets._compare_roles import guess_roles

    viewer = ViewerModel()
    viewer.add_image(np.zeros((32, 32), np.float32), name="x in-focus")
    viewer.add_image(np.zeros((16, 16), np.float32), name="small")
    viewer.add_image(np.zeros((32, 32), np.float32), name="y sharp")
    assert "blurry" not in guess_roles(viewer)
