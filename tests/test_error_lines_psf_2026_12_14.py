"""Error lines of the PSF, bead and axes checks say what to change in the words of the route
the user is on: the Deblur dock's fields (Axes, PSF), the command line's options (--psf,
--threshold, --axes), Python's keywords; a relative PSF path names the folder it was sought in."""

from types import SimpleNamespace

import numpy as np
import pytest
import tifffile

from napari_microdeblur._widgets._feedback import describe_error
from napari_microdeblur.cli import main
from napari_microdeblur.core.axes import Layout, check_axes, given_axes_notes
from napari_microdeblur.core.beads import psf_from_beads
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.psf import fit_psf_to_image, gaussian_psf, read_psf

WIENER = ["--method", "wiener", "--balance", "0.01", "--device", "cpu"]


def _image(tmp_path, shape=(64, 64)):
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "img.tif", (rng.random(shape) * 200).astype(np.float32))
    return str(tmp_path / "img.tif")


def test_a_wrong_axes_in_the_dock_names_the_axes_field_not_a_python_keyword():
    with pytest.raises(ValueError) as caught:
        check_axes("ZYX", (64, 64))
    said = describe_error(caught.value)
    assert said.startswith("Axes 'ZYX' has 3 letters"), said
    assert "axes=" not in said
    assert str(caught.value).startswith("axes='ZYX'")  # Python keeps its keyword


def test_a_missing_psf_file_says_where_it_was_sought_on_every_route(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as caught:
        MethodSpec("wiener", psf="nothere.tif").check()
    python = str(caught.value)
    assert python.startswith("psf='nothere.tif' names no file (looked in "), python
    assert str(tmp_path) in python and "full path" in python
    dock = describe_error(caught.value)
    assert dock.startswith("PSF 'nothere.tif' names no file") and "psf=" not in dock
    # the dock's preview reads the file itself: no 'FileNotFoundError:' and no bare 'path'
    with pytest.raises(FileNotFoundError) as missing:
        read_psf("nothere.tif")
    preview = describe_error(missing.value)
    assert preview.startswith("PSF file 'nothere.tif' not found (looked in "), preview
    assert str(tmp_path) in preview


def test_psf_files_joined_by_a_comma_are_told_the_semicolon(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name in ("a.tif", "b.tif"):
        tifffile.imwrite(tmp_path / name, gaussian_psf(1.5))
    image = _image(tmp_path)
    assert main(["deblur", image, "-o", str(tmp_path / "o.tif"), *WIENER,
                 "--psf", "a.tif,b.tif"]) == 2
    err = capsys.readouterr().err.strip()
    assert "separated by ';', not ','" in err and "--psf 'a.tif;b.tif'" in err, err
    assert "psf=" not in err and len(err.splitlines()) == 1


def test_a_flat_psf_file_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    tifffile.imwrite(tmp_path / "flat.tif", np.ones((101, 101), np.float32))
    with pytest.raises(ValueError, match=r"^the PSF 'flat\.tif' has nothing clearly above"):
        MethodSpec("wiener", psf="flat.tif").psf_for_image("YX", (64, 64))
    image = _image(tmp_path)
    assert main(["deblur", image, "-o", str(tmp_path / "o.tif"), *WIENER,
                 "--psf", "flat.tif"]) == 2
    err = capsys.readouterr().err
    assert "error: the PSF 'flat.tif' " in err and "has nothing clearly above" in err, err
    # an array given from Python has no file: its shape names it
    with pytest.raises(ValueError, match=r"^the PSF array \(shape \(101, 101\)\) has nothing"):
        fit_psf_to_image(np.ones((101, 101)), (64, 64))


def test_no_bead_names_the_threshold_in_noise_sigmas_and_what_to_lower(tmp_path, capsys):
    rng = np.random.default_rng(1)
    noise = rng.normal(100, 1, (64, 64)).astype(np.float32)
    with pytest.raises(ValueError) as caught:
        psf_from_beads(noise)
    said = str(caught.value)
    assert "(the default threshold: 8 noise sigmas of " in said, said
    assert "give a lower threshold=, e.g. threshold=" in said
    tifffile.imwrite(tmp_path / "beads.tif", noise)
    assert main(["psf-from-beads", str(tmp_path / "beads.tif"), "-o", str(tmp_path / "p.tif"),
                 "--threshold", "20"]) == 2
    err = capsys.readouterr().err
    assert "(--threshold 20: " in err and "give a lower --threshold, e.g. --threshold " in err
    assert "threshold=" not in err


def test_no_usable_bead_says_the_radius_was_the_beads_own(tmp_path):
    image = np.random.default_rng(2).normal(100, 1, (64, 64))
    image += 2000 * np.pad(gaussian_psf(1.5, size=9) / gaussian_psf(1.5, size=9).max(),
                           ((0, 55), (0, 55)))  # one bead at the corner: too near the border
    with pytest.raises(ValueError, match=r"px, from the beads' width\).*give a smaller radius="):
        psf_from_beads(image)
    with pytest.raises(ValueError) as caught:
        psf_from_beads(image, radius=6)
    assert "from the beads' width" not in str(caught.value)


def test_a_3d_psf_on_a_2d_image_says_how_to_use_it(tmp_path, capsys):
    psf3d = np.stack([gaussian_psf(s, size=15) for s in (3, 2, 1.5, 2, 3)])
    tifffile.imwrite(tmp_path / "psf3d.tif", psf3d)
    image = _image(tmp_path)
    assert main(["deblur", image, "-o", str(tmp_path / "o.tif"), *WIENER,
                 "--psf", str(tmp_path / "psf3d.tif")]) == 2
    err = capsys.readouterr().err
    assert "choose a 2D PSF or a z-stack" in err
    assert "or the method 'auto', whose PSF-aware network uses the 3D PSF's in-focus plane" in err


def test_an_rgb_network_on_a_gray_image_says_grayscale_not_axes():
    network = SimpleNamespace(name="gran", spatial_dims=2, in_channels=3)
    with pytest.raises(ValueError) as caught:
        Layout.for_method("YX", (64, 64), network)
    said = str(caught.value)
    assert "takes RGB images (3 channels) but the image is grayscale" in said, said
    assert "axes=" not in said
    # an axis that could hold the channels still says which axes to give
    with pytest.raises(ValueError, match=r"has no channel axis.*axes='CYX'"):
        Layout.for_method("ZYX", (3, 64, 64), network)


def test_given_axes_that_differ_from_the_files_are_said_as_the_option():
    notes = given_axes_notes("YXC", "ZYX", True, (4, 48, 48))
    assert notes and all(note.startswith("--axes YXC ") for note in notes), notes
    assert not any("axes=" in note for note in notes)


def test_the_finetune_docks_fields_name_a_region_too_small():
    """The Fine-tune dock said 'give val_fraction=0.34 and patch=16 or smaller', names no field
    of it has ('Validation fraction', 'Patch size')."""
    error = ValueError("'stack3.tif' (48 x 48) is too small to hold out validation; give "
                       "val_fraction=0.34 and patch=16 or smaller, or use larger images")
    assert describe_error(error).endswith(
        "give Validation fraction 0.34 and Patch size 16 or smaller, or use larger images")
