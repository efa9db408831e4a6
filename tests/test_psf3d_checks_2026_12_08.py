"""A 3D PSF's depth against the image only where the run deconvolves over Z.

``psf_fit.check_psf_model_fits`` compared a 3D optics model's planes with the image's for every
method, so a 'current slice' run of the Deblur dock (one plane of a stack) or a short stack was
refused even for the PSF-aware network, which uses the PSF's in-focus plane only. A classical
method on one plane is still refused, in the words the run itself uses. And ``microdeblur
deblur --psf 'A;B'`` judged whether Z mattered from channel 1's run alone: a channel 2 run in
3D at another z-step was not said, and one run plane by plane was said when channel 1's was 3D.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
from test_modality import V1, tiny_weights

from napari_microdeblur.cli import main
from napari_microdeblur.core import bundled
from napari_microdeblur.core.bundled import auto_runs_in_3d
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.psf import parse_psf
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE
from napari_microdeblur.core.psf_fit import check_psf_model_fits

DEEP = "widefield:na=1.4,wavelength=0.52,pixel=0.1,nz=31,dz=0.2,size=9"  # 31 planes
OPTICS = "widefield:na=1.4,wavelength=0.52,size=9"
PLANAR = f"{OPTICS},pixel=0.1,nz=3,dz=1.5"  # 0.84 in focus: auto keeps the PSF-aware network
WIDEFIELD = f"{OPTICS},pixel=0.1,nz=7,dz=0.2"  # 'auto' runs it in 3D
ONE_PLANE = "a 3D PSF needs the stack's planes: give the whole stack, or a 2D PSF"


@pytest.fixture(autouse=True)
def tiny_bundled(monkeypatch, tmp_path):
    """The bundled names as tiny random networks."""
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", tmp_path)
    table = {name: tiny_weights(name, tmp_path) for name in (*V1, DEFAULT_PSF_AWARE)}
    monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS", table)


@pytest.mark.parametrize(("name", "shape"), [
    ("auto", (1, 48, 48)), (DEFAULT_PSF_AWARE, (1, 48, 48)), (DEFAULT_PSF_AWARE, (5, 48, 48))])
def test_a_network_run_takes_a_3d_model_deeper_than_the_stack(name, shape):
    """One plane (the dock's 'current slice'), or a short stack for the network by name: the
    network runs plane by plane with the in-focus plane; it was refused as '31 x 9 x 9 px,
    larger than the image' (auto on a short stack recomputes the model: the test below)."""
    spec = MethodSpec(name, psf=DEEP).check()
    assert not auto_runs_in_3d(spec, "ZYX", shape)
    check_psf_model_fits(spec, "ZYX", shape, image="layer 'stack'")
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        out = deblur(image, axes="ZYX", method=spec, device="cpu")
    assert out.shape == image.shape and np.isfinite(out).all()
    assert any("in-focus plane" in str(w.message) for w in said)


def test_per_channel_models_on_one_plane_are_checked_per_plane():
    """'auto' runs each channel plane by plane on one plane (in-focus only): not refused, where
    Richardson-Lucy, which would need the planes, is (for its first channel)."""
    spec = MethodSpec("auto", psf=f"{DEEP};{DEEP}").check()
    assert check_psf_model_fits(spec, "CZYX", (2, 1, 48, 48)) is None
    with pytest.raises(ValueError, match="channel 1 of psf"):
        check_psf_model_fits(MethodSpec("richardson_lucy", psf=f"{DEEP};{DEEP}"), "CZYX",
                             (2, 1, 48, 48))


def test_auto_in_3d_computes_a_deep_model_at_the_stack_depth():
    """'auto' that becomes Richardson-Lucy in 3D deconvolves over Z: a model deeper than the
    stack (it was refused) is computed at the stack's depth, nz=19 on 20 planes; a method
    chosen by name is still refused it, with the nz to give."""
    spec = MethodSpec("auto", psf=DEEP).check()
    assert auto_runs_in_3d(spec, "ZYX", (20, 48, 48))
    assert check_psf_model_fits(spec, "ZYX", (20, 48, 48)) is None
    with pytest.raises(ValueError, match=r"31 x 9 x 9 px, larger than the image"):
        check_psf_model_fits(MethodSpec("richardson_lucy", psf=DEEP).check(), "ZYX",
                             (20, 48, 48))


@pytest.mark.parametrize("method", ["richardson_lucy", "wiener"])
def test_a_classical_method_on_one_plane_is_told_to_give_the_stack(method, tmp_path):
    with pytest.raises(ValueError) as caught:
        check_psf_model_fits(MethodSpec(method, psf=DEEP), "ZYX", (1, 48, 48),
                             image="layer 'stack'")
    message = str(caught.value)
    assert "layer 'stack' has one plane" in message and ONE_PLANE in message
    assert "\n" not in message
    # a PSF file: refused before the run too, in the same words (the run said it only later)
    path = tmp_path / "psf3d.tif"
    tifffile.imwrite(path, parse_psf(WIDEFIELD))
    with pytest.raises(ValueError, match=r"psf3d.tif. is 3D .* has one plane; a 3D PSF needs"):
        check_psf_model_fits(MethodSpec(method, psf=str(path)), "ZYX", (1, 48, 48))
    # a stack of planes is still deconvolved in 3D, a 2D image still refused
    check_psf_model_fits(MethodSpec(method, psf=str(path)), "ZYX", (9, 48, 48))
    with pytest.raises(ValueError, match="no Z axis"):
        check_psf_model_fits(MethodSpec(method, psf=DEEP), "YX", (48, 48))


def _two_channel_stack(path):
    """ZCYX ImageJ TIFF: 9 planes 0.3 um apart, pixels 0.1 um, two channels."""
    data = np.random.default_rng(0).integers(100, 200, (9, 2, 32, 32), dtype=np.uint16)
    tifffile.imwrite(path, data, imagej=True, resolution=(10, 10),
                     metadata={"axes": "ZCYX", "spacing": 0.3, "unit": "um"})
    return path


@pytest.mark.parametrize("psfs, in_3d", [
    (f"{PLANAR};{WIDEFIELD}", 2),  # channel 1 plane by plane, channel 2 Richardson-Lucy in 3D
    (f"{WIDEFIELD};{PLANAR}", 1),
])
def test_cli_compares_each_channels_z_step_where_its_run_is_3d(tmp_path, capsys, psfs, in_3d):
    """Both PSFs have another z-step than the stack's 0.3 um; only the channel deconvolved in
    3D is said (the other uses its in-focus plane), whichever channel it is."""
    source = _two_channel_stack(tmp_path / "zcyx.tif")
    out = tmp_path / "out.tif"
    code = main(["deblur", str(source), "-o", str(out), "--psf", psfs, "--method", "auto",
                 "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert code == 0 and out.is_file(), err
    assert "Richardson-Lucy in 3D" in err
    assert f"channel {in_3d}: psf" in err and "give dz=0.3" in err
    assert f"channel {3 - in_3d}: psf" not in err


@pytest.mark.parametrize("planes, nz", [(5, 5), (6, 5)])
def test_a_model_deeper_than_the_stack_is_told_to_take_fewer_planes(planes, nz):
    """Richardson-Lucy on a 5- or 6-plane stack with a 31-plane optics model was told to
    'choose a narrower PSF model (e.g. a smaller sigma)', which an optics model has no sigma
    for: it is told the nz= that fits (odd: a middle plane), or a 2D model."""
    with pytest.raises(ValueError) as caught:
        check_psf_model_fits(MethodSpec("richardson_lucy", psf=DEEP), "ZYX", (planes, 48, 48),
                             image="layer 'stack'")
    message = str(caught.value)
    assert f"give nz={nz} or fewer in it" in message and "a 2D PSF model" in message
    assert "sigma" not in message and "\n" not in message
    # per channel: that channel's, in the same words
    with pytest.raises(ValueError, match=r"^channel 2 of psf: .* give nz=5 or fewer in it"):
        check_psf_model_fits(MethodSpec("wiener", psf=f"{PLANAR};{DEEP}"), "CZYX",
                             (2, planes, 48, 48))


def test_a_model_too_wide_still_says_narrower_and_two_planes_say_2d():
    with pytest.raises(ValueError, match=r"a smaller sigma\) or a larger image or region$"):
        check_psf_model_fits(MethodSpec("richardson_lucy", psf="gaussian:5"), "YX", (20, 48))
    with pytest.raises(ValueError, match=r"choose a 2D PSF model \(no nz\), or a deeper stack$"):
        check_psf_model_fits(MethodSpec("richardson_lucy", psf=DEEP), "ZYX", (2, 48, 48))
