"""Method settings given to a method that does not read them (walkthrough, 2026-12-11): Wiener
ran with --iterations, --tv-weight and --weights, Richardson-Lucy with --balance, a network
with all three, and a weights file or a named network with --modality em, without a word,
and the output's record kept them (`info --command` gave a rerun carrying them). Each is now
refused before any work, in one line naming the setting, the method and what to do, from
Python and the command line alike; the defaults never are, nor what 'auto' settles itself."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scipy.ndimage import gaussian_filter

from napari_microdeblur import deblur
from napari_microdeblur.cli import main
from napari_microdeblur.core.bundled import WEIGHTS_DIR
from napari_microdeblur.core.image_settings import spec_for_image
from napari_microdeblur.core.inference import prepare_deblur
from napari_microdeblur.core.inference_settings import unused
from napari_microdeblur.core.method import MethodSpec

WEIGHTS = str(WEIGHTS_DIR / "gran.fluo_v1.safetensors")
PSF = "gaussian:1.6"
# five planes, 0.205 of its light in focus: 'auto' deconvolves a 6-plane stack in 3D with it
PSF_3D = "widefield:na=1.4,wavelength=0.46,pixel=0.1,nz=5,dz=0.3"


def _image(shape=(40, 40), seed=0):
    rng = np.random.default_rng(seed)
    return gaussian_filter(rng.random(shape), 1.5).astype(np.float32)


@pytest.mark.parametrize("name,given,words", [
    ("wiener", dict(iterations=5), "iterations=5 applies to richardson_lucy, not to "
     "method='wiener' (which reads balance=): drop iterations= or choose "
     "method='richardson_lucy'"),
    ("wiener", dict(tv_weight=0.05), "tv_weight=0.05 applies to richardson_lucy"),
    ("richardson_lucy", dict(balance=0.1), "balance=0.1 applies to wiener, not to "
     "method='richardson_lucy'"),
    ("wiener", dict(weights=WEIGHTS), "applies to networks, not to method='wiener'"),
    ("richardson_lucy", dict(weights=WEIGHTS), "drop weights= or choose method='auto'"),
])
def test_a_classical_method_refuses_the_other_methods_settings(name, given, words):
    image = _image()
    with pytest.raises(ValueError) as caught:
        deblur(image, method=name, psf=PSF, device="cpu", **given)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_the_walkthroughs_python_call_is_refused_naming_both():
    with pytest.raises(ValueError, match=r"iterations=5 applies to richardson_lucy, weights="):
        deblur(_image(), method="wiener", psf=PSF, iterations=5, weights=WEIGHTS)


@pytest.mark.parametrize("given", [dict(iterations=3), dict(balance=0.1),
                                   dict(tv_weight=0.01)])
def test_a_network_refuses_classical_settings(given):
    for spec in (MethodSpec("gran.fluo_v1", **given), MethodSpec("auto", weights=WEIGHTS,
                                                                 **given)):
        with pytest.raises(ValueError, match=r"applies to (richardson_lucy|wiener), not to "):
            spec.check()


def test_modality_is_refused_with_weights_or_a_network_of_another_image_type():
    with pytest.raises(ValueError, match=r"modality='em' applies to method 'auto' without "
                       r"weights .* not to method='auto' with weights= \(a network\)"):
        MethodSpec("auto", weights=WEIGHTS, modality="em").check()
    with pytest.raises(ValueError, match=r"not to method='gran.fluo_v1' \(a fluorescence "
                       r"network\): drop modality= or choose method='auto'"):
        MethodSpec("gran.fluo_v1", modality="em").check()


def test_modality_that_fits_the_network_stays_accepted():
    # what `info --command` writes for an 'auto' run: the network that ran and the modality
    specs = [MethodSpec("gran.em_v1", modality="em"),
             MethodSpec("c2f_unet.fluorescence_v2", modality="fluorescence"),
             MethodSpec("wiener_unet.psf_v4", psf=PSF, modality="em"),  # any image type
             MethodSpec("auto", psf=PSF, modality="em")]  # the PSF-aware network for any
    for spec in specs:
        assert unused(spec) == [] and spec.check().modality == spec.modality
        assert spec.without_unused() == spec  # nothing to reset either


@pytest.mark.parametrize("name", ["auto", "wiener", "richardson_lucy", "gran.fluo_v1"])
def test_the_defaults_never_count_as_given(name):
    psf = None if name == "gran.fluo_v1" else PSF
    MethodSpec(name, psf=psf).check()
    MethodSpec(name, psf=psf, iterations="auto", balance="auto", tv_weight=0, modality="auto",
               weights=None).check()
    MethodSpec("auto", weights=WEIGHTS).check()


def test_auto_refuses_balance_and_iterations_without_a_psf():
    with pytest.raises(ValueError, match=r"balance=0.1 applies to wiener, not to method='auto'"):
        MethodSpec("auto", psf=PSF, balance=0.1).check()
    with pytest.raises(ValueError, match=r"not to method='auto' without a PSF \(it runs a "
                       r"network\): drop iterations= or choose method='richardson_lucy'"):
        MethodSpec("auto", iterations=10).check()


def test_auto_iterations_with_a_3d_psf_on_a_plane_is_refused_for_the_image_before_any_work():
    # a 3D PSF could make 'auto' run in 3D: the image (one plane) says it runs the network
    with pytest.raises(ValueError, match=r"iterations=12 applies to richardson_lucy, not to "
                       r"method='auto' on this image \(it runs wiener_unet\.psf_v4; "):
        prepare_deblur(_image(), "YX", MethodSpec("auto", psf=PSF_3D, iterations=12))


def test_auto_iterations_with_a_3d_psf_on_a_z_stack_runs_richardson_lucy_with_them():
    with pytest.warns(Warning):  # the line saying 'auto' runs Richardson-Lucy in 3D
        prepared = prepare_deblur(_image((6, 40, 40)), "ZYX",
                                  MethodSpec("auto", psf=PSF_3D, iterations=3))
    assert prepared.method.name == "richardson_lucy"
    assert prepared.method.parameters["iterations"] <= 3


def test_selective_deblurring_plane_by_plane_refuses_auto_iterations():
    from napari_microdeblur.core.progress import drive
    from napari_microdeblur.core.selective import iter_deblur_selected

    # the same stack and PSF as above: plane by plane 'auto' runs the network
    with pytest.raises(ValueError, match=r"iterations=3 applies to richardson_lucy, not to "
                       r"method='auto' on this image"):
        drive(iter_deblur_selected(_image((6, 40, 40)), MethodSpec("auto", psf=PSF_3D,
                                                                   iterations=3),
                                   threshold=1e9, axes="ZYX"))


def test_what_auto_settles_passes_the_check_again():
    # the cluster path checks the settled spec again: 'auto' in 3D keeps the modality given
    spec = MethodSpec("auto", psf=PSF_3D, modality="fluorescence", iterations=3)
    with pytest.warns(Warning):
        settled = spec_for_image(spec.check(), _image((6, 40, 40)), "ZYX")
    assert settled.name == "richardson_lucy"
    settled.check()
    # where no PSF can be estimated, 'auto' for EM runs its blind network, the modality kept
    MethodSpec("c2f_unet.em_v2", modality="em").check()


def test_without_unused_drops_what_a_caller_filled_in():
    spec = MethodSpec("wiener", psf=PSF, iterations=40, tv_weight=0.01, balance=0.2)
    kept = spec.without_unused()
    assert (kept.iterations, kept.tv_weight, kept.balance) == ("auto", 0.0, 0.2)
    kept.check()
    network = MethodSpec("gran.fluo_v1", modality="em", iterations=4).without_unused()
    assert (network.modality, network.iterations) == ("auto", "auto")
    same = MethodSpec("richardson_lucy", psf=PSF, iterations=7)
    assert same.without_unused() is same


@pytest.mark.parametrize("options,words", [
    (["--method", "wiener", "--iterations", "5", "--tv-weight", "0.05"],
     "--iterations 5 and --tv-weight 0.05 apply to richardson_lucy, not to --method 'wiener' "
     "(which reads --balance): drop --iterations and --tv-weight or choose --method "
     "'richardson_lucy'"),
    (["--method", "richardson_lucy", "--balance", "0.1"], "--balance 0.1 applies to wiener"),
    (["--method", "wiener", "--weights", WEIGHTS], "drop --weights or choose --method 'auto'"),
    (["--method", "gran.fluo_v1", "--modality", "em"], "drop --modality or choose --method"),
    (["--weights", WEIGHTS, "--modality", "em"], "not to --method 'auto' with --weights"),
])
def test_the_command_line_refuses_them_before_any_output(tmp_path, capsys, options, words):
    source, output = tmp_path / "blur.tif", tmp_path / "out.tif"
    tifffile.imwrite(source, (_image() * 200).astype(np.uint8))
    assert main(["deblur", str(source), "-o", str(output), "--psf", PSF, "--device", "cpu",
                 *options]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert not output.exists()


@pytest.mark.parametrize("psf", ["gaussian:2", "disk:3", "astig:2,1,30", "gaussian:1;gaussian:2"])
def test_auto_with_a_one_plane_psf_refuses_iterations_before_any_image(psf):
    """A one-plane PSF never makes 'auto' run Richardson-Lucy in 3D: iterations are refused
    at once (a watch had accepted them and then failed every file it was given)."""
    spec = MethodSpec("auto", psf=psf, iterations=5)
    with pytest.raises(ValueError, match="with a one-plane PSF .it runs a network."):
        spec.check()


def test_auto_with_a_psf_that_may_be_3d_waits_for_the_image(tmp_path):
    tifffile.imwrite(tmp_path / "psf.tif", np.ones((3, 5, 5), np.float32))
    for psf in ("widefield:na=1.4,wavelength=0.52,pixel=0.065", str(tmp_path / "psf.tif")):
        MethodSpec("auto", psf=psf, iterations=5).check()  # the image decides


def test_watch_refuses_iterations_with_auto_and_a_plane_psf_before_any_file(tmp_path, capsys):
    from napari_microdeblur.cli import main

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    tifffile.imwrite(src / "a.tif", np.zeros((32, 32), np.uint8))
    assert main(["watch", str(src), str(out), "--threshold", "1e9", "--once", "--psf",
                 "gaussian:2", "--iterations", "5"]) == 2
    assert "--iterations 5 applies to richardson_lucy" in capsys.readouterr().err
    assert list(out.iterdir()) == []  # no log: nothing was tried, nothing to retry
