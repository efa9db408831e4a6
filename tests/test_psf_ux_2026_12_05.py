"""A new user's review of PSF handling (2026-12-05): an optics PSF without pixel= takes the
pixel size the image file states; an ordinary image given as the PSF is refused in one line;
a 3D PSF's size message names the PSF's own size and the image's; a layer deblurred in napari
and saved with the plugin's writer reads back in ``microdeblur info`` as a CLI output does."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur.core import io
from napari_microdeblur.core.files import deblur_file
from napari_microdeblur.core.io_write import write_image
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.psf import disk_psf, gaussian_psf, read_psf

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _deblur(tmp_path, image, axes, pixel_size, method):
    source, out = tmp_path / "in.tif", tmp_path / "out.tif"
    write_image(source, image, axes=axes, pixel_size=pixel_size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur_file(source, out, method=method)
    return [str(w.message) for w in caught], io.read_image(out).metadata["microdeblur"]


# ----------------------------------------------------------------------------- pixel= from file


def test_an_optics_psf_without_pixel_takes_the_file_s_pixel_size(tmp_path):
    pytest.importorskip("psfmodels")
    image = np.random.default_rng(0).random((48, 48)).astype(np.float32)
    said, record = _deblur(tmp_path, image, "YX", {"Y": 0.1132, "X": 0.1132},
                           MethodSpec("wiener", psf="widefield:na=1.4,wavelength=0.52"))
    assert "widefield PSF: pixel=0.1132 um from the file's calibration" in said
    used = "widefield:na=1.4,wavelength=0.52,pixel=0.1132"
    assert record["psf"] == used and record["method_spec"]["psf"] == used
    assert not any("sampled at" in s for s in said)  # no scale mismatch with itself


def test_a_3d_optics_psf_takes_the_stack_s_z_step_too(tmp_path):
    pytest.importorskip("psfmodels")
    stack = np.random.default_rng(1).random((7, 40, 40)).astype(np.float32)
    said, record = _deblur(tmp_path, stack, "ZYX", {"Z": 0.3, "Y": 0.1, "X": 0.1},
                           MethodSpec("richardson_lucy", iterations=2,
                                      psf="confocal:na=1.2,wavelength=0.52,nz=5"))
    assert "confocal PSF: pixel=0.1 um and dz=0.3 um from the file's calibration" in said
    assert record["psf"] == "confocal:na=1.2,wavelength=0.52,nz=5,pixel=0.1,dz=0.3"


def test_without_a_stated_pixel_size_the_refusal_stays(tmp_path):
    """Guard: a file that states no pixel size gives none to the PSF."""
    image = np.random.default_rng(2).random((48, 48)).astype(np.float32)
    with pytest.raises(ValueError, match="lacks pixel"):
        _deblur(tmp_path, image, "YX", None,
                MethodSpec("wiener", psf="widefield:na=1.4,wavelength=0.52"))


def test_each_channel_s_optics_psf_takes_the_file_s_pixel_size():
    from napari_microdeblur.core.psf_fit import psf_from_calibration

    spec = MethodSpec("wiener", psf="widefield:na=1.4,wavelength=0.46;gaussian:2")
    with pytest.warns(UserWarning, match="channel 1: widefield PSF: pixel=0.2 um"):
        got = psf_from_calibration(spec, {"Y": 0.2, "X": 0.2})
    assert got.psf == "widefield:na=1.4,wavelength=0.46,pixel=0.2;gaussian:2"


def test_the_spec_is_checked_before_any_file_but_its_pixel():
    from napari_microdeblur.core.psf_fit import check_spec_before_image

    spec = MethodSpec("wiener", psf="widefield:na=1.4,wavelength=0.52")
    assert check_spec_before_image(spec) is spec
    with pytest.raises(ValueError, match="not KEY=VALUE with a known key"):
        check_spec_before_image(spec.replace(psf="widefield:na=1.4,wavelength=0.52,pixle=1"))
    with pytest.raises(ValueError, match="balance"):
        check_spec_before_image(spec.replace(balance=-1.0))


def test_an_array_has_no_file_so_the_refusal_stays():
    """Guard: ``inference.deblur`` of an array has no calibration to take pixel= from."""
    from napari_microdeblur.core.inference import deblur

    with pytest.raises(ValueError, match="lacks pixel"):
        deblur(np.zeros((32, 32), np.float32), method="wiener",
               psf="widefield:na=1.4,wavelength=0.52")


# ----------------------------------------------------------------------------- not a PSF


def _as_psf_file(tmp_path, array, name="psf.tif"):
    path = tmp_path / name
    tifffile.imwrite(path, np.asarray(array, dtype=np.float32))
    return path


def _textured(shape, seed=0):
    """A synthetic image with texture everywhere (membranes, say), as an EM tile."""
    noise = np.random.default_rng(seed).random(shape)
    return 1000 + 400 * ndimage.gaussian_filter(noise, 3) / 0.05


def _cells(shape, seed=0):
    """A synthetic fluorescence image: a dozen blurred cells of different brightness."""
    rng = np.random.default_rng(seed)
    image = np.full(shape, 100.0)
    for _ in range(12):
        y, x = rng.integers(20, np.array(shape) - 20)
        image[y - 6:y + 6, x - 8:x + 8] += rng.uniform(500, 2000)
    return rng.poisson(ndimage.gaussian_filter(image, 2)).astype(np.float64)


@pytest.mark.parametrize("make", [_textured, _cells])
def test_an_ordinary_image_given_as_the_psf_is_refused(tmp_path, make):
    path = _as_psf_file(tmp_path, make((256, 256)))
    with pytest.raises(ValueError, match=r"psf\.tif' does not look like a PSF: .*accepted"):
        read_psf(path)


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data")
@pytest.mark.parametrize("name, crop", [
    ("em_isbi2012_drosophila_vnc_sstem/test/15.png", np.s_[:256, :256]),
    ("em_drosophila_vnc_sstem_gerhard2013/test/stack2_10.tif", np.s_[:, :]),
    ("fluorescence_2d/cellprofiler_ExampleSpeckles_h2ax/1-162hrhoe2.tif", np.s_[:, :]),
    ("fluorescence_neubias_training_resources/test/xy_16bit__bacteria_cords_thick.tif",
     np.s_[:256, :256]),
    ("brightfield_bccd_blood_smear/test/BloodImage_00007.png", np.s_[:256, :256]),
])
def test_real_images_given_as_the_psf_are_refused(tmp_path, name, crop):
    import imageio.v3 as iio

    image = np.asarray(iio.imread(DATA / name), dtype=np.float64)
    image = image[..., :3].mean(axis=-1) if image.ndim == 3 else image  # RGB: its gray
    path = _as_psf_file(tmp_path, image[crop])
    with pytest.raises(ValueError, match="does not look like a PSF"):
        read_psf(path)


def _real_psfs():
    rng = np.random.default_rng(5)
    bead = gaussian_psf(2.0)
    whole = np.full((512, 512), 100.0)  # a whole bead image, the bead far off centre
    whole[60:77, 400:417] += 3000 * bead / bead.max()
    stack = np.full((14, 224, 305), 100.0)  # a bead stack as large as the image
    z, y, x = np.mgrid[:14, :224, :305]
    stack += 2000 * np.exp(-((z - 7) ** 2 / 8 + (y - 112) ** 2 / 6 + (x - 150) ** 2 / 6))
    psfs = {"disk-100": disk_psf(100), "gaussian-16": gaussian_psf(16),
            "whole-bead-image": rng.poisson(whole), "bead-stack": rng.poisson(stack)}
    try:
        from napari_microdeblur.core.optics import confocal_psf, widefield_psf
    except ImportError:
        return psfs
    infocus = widefield_psf(1.4, 0.52, 0.065, size=129)  # measured: wings, noise, offset
    psfs.update({
        "widefield-noisy-wings": rng.poisson(2000 * infocus / infocus.max() + 50),
        "widefield-defocused": widefield_psf(1.4, 0.52, 0.065, defocus=2),
        "widefield-rings": widefield_psf(1.4, 0.52, 0.065, defocus=1),  # 4 prominent maxima
        "widefield-na0.8-rings": widefield_psf(0.8, 0.6, 0.1, defocus=2),
        "widefield-aberrated": widefield_psf(1.4, 0.52, 0.065, defocus=1, ns=1.33, depth=10),
        "widefield-3d": widefield_psf(1.4, 0.52, 0.1, nz=31, dz=0.2, size=81),
        "confocal-off-centre": np.roll(confocal_psf(1.4, 0.52, 0.065, size=99), 30, axis=1),
    })
    return psfs


def test_real_psfs_are_read(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_beads import bead_image

    from napari_microdeblur.core.beads import psf_from_beads

    psfs = _real_psfs()
    beads, _ = bead_image((256, 256), (1.5, 1.5))
    psfs["psf-from-beads"] = psf_from_beads(beads)[0]
    for name, psf in psfs.items():
        got = read_psf(_as_psf_file(tmp_path, psf, f"{name}.tif"))
        assert got.ndim == np.ndim(psf), name


# ----------------------------------------------------------------------------- 3D size words


def test_a_3d_psf_file_is_named_with_its_own_size_and_the_image_s(tmp_path, capsys):
    from napari_microdeblur.cli import main

    psf = np.full((14, 224, 305), 10.0)
    psf[7, 112, 152] = 5000.0
    tifffile.imwrite(tmp_path / "bead14.tif", ndimage.gaussian_filter(psf, 1.5))
    write_image(tmp_path / "plane.tif", np.ones((224, 305), np.float32), axes="YX")
    code = main(["deblur", str(tmp_path / "plane.tif"), "-o", str(tmp_path / "o.tif"),
                 "--psf", str(tmp_path / "bead14.tif"), "--method", "wiener"])
    said = capsys.readouterr().err
    assert code == 2
    assert "bead14.tif' is 3D (14 x 224 x 305 px)" in said
    assert "has no Z axis (axes YX); choose a 2D PSF or a z-stack (the image: 224 x 305 px)" \
        in said


# ----------------------------------------------------------------------------- napari's save


def _dock_record():
    """A record as the Deblur dock makes it (``_layer_data.deblur_metadata``)."""
    return {
        "source_layer": "cells", "method": "richardson_lucy",
        "method_spec": {"name": "richardson_lucy", "psf": "gaussian:1.6", "iterations": 20},
        "weights_sha256": None, "weights_source": None, "arch": None,
        "parameters": {"iterations": 20}, "axes": "YX", "scope": "whole", "offset": [0, 0],
        "tile": [64, 64], "overlap": [0, 0], "window": "cosine", "device": "cpu",
        "output_dtype": "float32",
        "normalization": {"kind": "percentile", "offset": 0.0, "scale": 1.0},
        "seconds": 0.5, "pixel_size": {"Y": 0.1, "X": 0.1},
    }


def test_a_layer_saved_from_napari_reads_back_like_a_cli_output(tmp_path, capsys):
    from napari_microdeblur import __version__
    from napari_microdeblur._writer import write_image_layer
    from napari_microdeblur.cli import main

    path = tmp_path / "out.tif"
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    write_image_layer(str(path), image, {"name": "cells deblurred", "scale": (0.1, 0.1),
                                         "units": ("um", "um"),
                                         "metadata": {"microdeblur": _dock_record()}})
    record = io.read_image(path).metadata["microdeblur"]
    assert record["psf"] == "gaussian:1.6" and record["software_version"] == __version__
    assert main(["info", str(path)]) == 0
    said = capsys.readouterr().out
    assert "deblurred: richardson_lucy, PSF gaussian:1.6, iterations 20" in said
    assert "made from napari layer 'cells', saved 20" in said
    assert f"microdeblur {__version__}" in said and "None" not in said


def test_info_reads_the_psf_of_a_layer_saved_before_from_its_method_spec():
    from napari_microdeblur.cli_info import text_block

    info = {"file": "old.tif", "shape": [8, 8], "dtype": "float32", "axes": "YX",
            "axes_stated": True, "axes_note": None, "pixel_size_um": {},
            "microdeblur": _dock_record()}
    said = text_block(info)
    assert "PSF gaussian:1.6" in said and "from napari layer 'cells'" in said
    assert "None" not in said


def test_a_tiff_s_72_dpi_default_is_no_calibration():
    from napari_microdeblur.core.psf import with_calibration

    spec = "widefield:na=1.4,wavelength=0.52"
    assert with_calibration(spec, {"Y": 352.8, "X": 352.8}) == (spec, None)
    assert with_calibration(spec, {"Y": 0.1, "X": 0.2}) == (spec, None)  # not square
    assert with_calibration(spec + ",pixel=0.1", {"Y": 0.2, "X": 0.2}) == (spec + ",pixel=0.1",
                                                                          None)


def test_a_flat_box_kernel_is_still_read(tmp_path):
    """Guard: a uniform box as large as its array has no background edge but is a kernel."""
    got = read_psf(_as_psf_file(tmp_path, np.ones((101, 101))))
    assert got.shape == (101, 101)


def test_a_psf_file_cut_to_the_image_is_named_with_its_own_size(tmp_path, capsys):
    """A 14 x 224 x 305 bead stack on a stack of that size: the note said 'the PSF (15, 225,
    305)', the size read_psf pads it to."""
    from napari_microdeblur.cli import main

    psf = np.full((14, 224, 305), 10.0)
    psf[7, 112, 152] = 5000.0
    tifffile.imwrite(tmp_path / "bead14.tif", ndimage.gaussian_filter(psf, 1.5))
    write_image(tmp_path / "stack.tif", np.ones((14, 224, 305), np.float32), axes="ZYX")
    code = main(["deblur", str(tmp_path / "stack.tif"), "-o", str(tmp_path / "o.tif"), "-q",
                 "--psf", str(tmp_path / "bead14.tif"), "--method", "wiener"])
    said = capsys.readouterr().err
    assert code == 0
    assert ("bead14.tif' (14 x 224 x 305 px) is as large as or larger than the image "
            "(14 x 224 x 305 px): cut to (") in said


def test_the_cli_takes_an_optics_pixel_from_the_file(tmp_path, capsys):
    """`deblur IMG --psf widefield:na=..,wavelength=..` without pixel= was refused ('lacks
    pixel') although the file states its pixel size; the file's is taken and recorded."""
    pytest.importorskip("psfmodels")
    from napari_microdeblur.cli import main
    from napari_microdeblur.core import io
    from napari_microdeblur.core.io_write import write_image

    write_image(tmp_path / "big16.tif", np.random.default_rng(0).random((48, 48)).astype(
        np.float32), axes="YX", pixel_size={"Y": 0.1132, "X": 0.1132})
    code = main(["deblur", str(tmp_path / "big16.tif"), "-o", str(tmp_path / "o.tif"), "-q",
                 "--method", "wiener", "--psf", "widefield:na=1.4,wavelength=0.52"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "widefield PSF: pixel=0.1132 um from the file's calibration" in err
    record = io.read_image(tmp_path / "o.tif").metadata["microdeblur"]
    assert record["psf"] == "widefield:na=1.4,wavelength=0.52,pixel=0.1132"


def test_an_unknown_psf_spec_names_the_optional_keys_in_its_one_line():
    """The one-line error said '(optional keys below)' with nothing below it."""
    from napari_microdeblur.core.psf import parse_psf

    with pytest.raises(ValueError) as caught:
        parse_psf("nonsense:1")
    message = str(caught.value)
    assert "below" not in message and "\n" not in message
    assert "ni, ns, depth, defocus, size, nz, dz" in message


def test_a_far_defocused_widefield_psf_is_not_taken_for_an_image():
    """At 8 um defocus (NA 1.4) most of a widefield PSF's light is in its rings, outside the
    spot at its maximum: it was refused ('only 30 % of its light ...'); its symmetry shows it
    is one point's light."""
    pytest.importorskip("psfmodels")
    from napari_microdeblur.core.psf import parse_psf
    from napari_microdeblur.core.psf_likeness import not_a_psf

    for defocus in (4, 8):
        kernel = parse_psf(f"widefield:na=1.4,wavelength=0.52,pixel=0.065,defocus={defocus},"
                           "size=129")
        assert not_a_psf(kernel) is None, defocus
