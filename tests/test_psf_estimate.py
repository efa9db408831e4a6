"""A PSF estimated from the blurred image (core.psf_estimate) and ``psf='estimate'`` everywhere
a PSF is taken: the API, the CLI and its psf-estimate command."""

import warnings

import numpy as np
import pytest
import tifffile
from scipy import ndimage, signal

from napari_microdeblur.cli import main
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.psf import astigmatic_psf, gaussian_psf, parse_psf
from napari_microdeblur.core.psf_estimate import (
    EstimatedPsf,
    estimate_psf,
    estimation_plane,
    is_estimate,
)


def _texture(seed: int = 0, side: int = 256) -> np.ndarray:
    """Blobs and edges at several scales: the kind of content blur identification needs."""
    rng = np.random.default_rng(seed)
    x = sum(ndimage.gaussian_filter(rng.random((side, side)), s) * s for s in (1, 3, 8))
    return (x - x.min()) / np.ptp(x)


def _blurred(kernel: np.ndarray, seed: int = 0, noise: float = 0.003) -> np.ndarray:
    sharp = np.pad(_texture(seed), 40, mode="symmetric")
    out = signal.fftconvolve(sharp, kernel, mode="same")[40:-40, 40:-40]
    return out + np.random.default_rng(seed + 1).normal(0, noise, out.shape)


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_a_gaussian_blur_is_recovered(sigma):
    est = estimate_psf(_blurred(gaussian_psf(sigma)))
    assert abs(np.sqrt(est.sigma_major * est.sigma_minor) - sigma) < 0.2 * sigma
    assert est.sigma_minor > 0.7 * est.sigma_major  # isotropic enough
    assert est.kernel.shape[0] % 2 == 1 and np.isclose(est.kernel.sum(), 1)


@pytest.mark.parametrize("angle", [30.0, 150.0])
def test_an_astigmatic_blur_keeps_its_orientation(angle):
    est = estimate_psf(_blurred(astigmatic_psf(2.5, 0.8, angle)))
    assert abs((est.angle_deg - angle + 90) % 180 - 90) < 10
    assert 2.0 < est.sigma_major < 3.0 and est.sigma_minor < 1.2
    assert est.spec.startswith("astig:")
    # the spec string is the same PSF again, for reuse with --psf
    np.testing.assert_allclose(parse_psf(est.spec), est.kernel, atol=1e-7)


def test_a_sharper_image_gets_a_narrower_psf():
    narrow = estimate_psf(_blurred(gaussian_psf(0.8)))
    wide = estimate_psf(_blurred(gaussian_psf(2.5)))
    assert narrow.sigma_major < wide.sigma_minor


def test_estimation_plane_reads_the_middle_plane_and_averages_colour():
    rng = np.random.default_rng(0)
    stack = rng.random((5, 300, 400))
    plane = estimation_plane(stack, "ZYX")
    np.testing.assert_array_equal(plane, stack[2, 22:278, 72:328])
    rgb = rng.random((100, 120, 3))
    np.testing.assert_allclose(estimation_plane(rgb, "YXS"), rgb.mean(axis=-1))
    with pytest.raises(ValueError, match="YX planes"):
        estimation_plane(stack, "ZY")


@pytest.mark.parametrize("plane, match", [
    (np.zeros((64, 64)), "constant"),
    (np.ones((16, 64)), "too small"),
    (np.full((64, 64), np.nan), "NaN"),
    (np.ones((4, 64, 64)), "2D plane"),
])
def test_planes_that_carry_no_estimate_are_refused(plane, match):
    with pytest.raises(ValueError, match=match):
        estimate_psf(plane)


def test_deblur_with_psf_estimate_says_which_psf_and_uses_it():
    image = (_blurred(gaussian_psf(1.6)) * 1000).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deblur(image, method=MethodSpec("richardson_lucy", psf="estimate", iterations=10))
    notes = [str(w.message) for w in caught if "estimated from the image" in str(w.message)]
    assert len(notes) == 1 and "reuse it as the PSF 'gaussian:" in notes[0]
    kernel = estimate_psf(image).kernel
    same = deblur(image, method=MethodSpec("richardson_lucy", psf=kernel, iterations=10))
    np.testing.assert_allclose(out, same, rtol=1e-5, atol=1e-3)
    assert np.abs(out - image).mean() > 1  # it did deblur


def test_estimate_is_accepted_by_the_spec_and_refused_where_there_is_no_image():
    assert is_estimate(" Estimate ") and not is_estimate("gaussian:1.6")
    MethodSpec("auto", psf="estimate").check()
    with pytest.raises(ValueError, match="estimated from the image being deblurred"):
        parse_psf("estimate")


def test_cli_psf_estimate_and_deblur_with_it(tmp_path, capsys):
    src = tmp_path / "blurred.tif"
    tifffile.imwrite(src, (_blurred(astigmatic_psf(2.5, 0.8, 30)) * 60000).astype(np.uint16))
    psf_path = tmp_path / "psf.tif"
    assert main(["psf-estimate", str(src), "-o", str(psf_path)]) == 0
    line = capsys.readouterr().out
    assert "astig:" in line and str(psf_path) in line
    psf = tifffile.imread(psf_path)
    assert psf.ndim == 2 and np.isclose(psf.sum(), 1, atol=1e-4)
    # nothing written over an existing file without --overwrite
    before = psf_path.read_bytes()
    assert main(["psf-estimate", str(src), "-o", str(psf_path)]) != 0
    assert psf_path.read_bytes() == before
    out = tmp_path / "out.tif"
    assert main(["deblur", str(src), "-o", str(out), "--method", "wiener", "--psf", "estimate",
                 "--balance", "0.01"]) == 0
    assert "estimated from the image" in capsys.readouterr().err
    assert tifffile.imread(out).shape == (256, 256)


def test_estimated_psf_describes_itself():
    est = EstimatedPsf(1.6, 1.6, 0.0, 0.01)
    assert est.spec == "gaussian:1.60"
    np.testing.assert_allclose(est.kernel, gaussian_psf(1.6))
    # one wording for the CLI, Python and the docks (a dock has no --psf option)
    assert "reuse it as the PSF 'gaussian:1.60'" in est.describe()
    assert "--psf" not in est.describe()


def test_a_selective_deblur_estimates_the_psf_of_each_plane_it_deblurs():
    """Each selected plane gets the PSF estimated from itself: one estimate from the middle
    plane (the rule before 2026-12-10) was a sharp plane's blur where --focus-below picks the
    soft ones."""
    from napari_microdeblur.core.selective import deblur_selected

    sigmas = (0.6, 1.6, 2.0)
    stack = np.stack([_blurred(gaussian_psf(s), seed=i) for i, s in enumerate(sigmas)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = deblur_selected(stack.astype(np.float32), "wiener", threshold=1e30,
                                 axes="ZYX", psf="estimate", balance=0.01)
    assert [part.plane for part in result.settled] == [(0,), (1,), (2,)]
    specs = [part.method.parameters["psf"] for part in result.settled]
    widths = [float(spec.split(":")[1]) for spec in specs]
    assert widths == sorted(widths) and abs(widths[1] - 1.6) < 0.3  # each plane's own blur
    assert sum("settled on the soft part of each plane" in str(w.message) for w in caught) == 1
    for z, spec in enumerate(specs):
        expected = deblur(stack[z].astype(np.float32), method="wiener", psf=spec, balance=0.01)
        np.testing.assert_allclose(result.image[z], expected, rtol=1e-5, atol=1e-4)


def test_a_blind_network_given_a_psf_says_it_is_not_used_and_estimates_nothing(monkeypatch):
    from napari_microdeblur.core import inference

    def no_estimate(*_):
        raise AssertionError("estimated a PSF for a blind network")

    monkeypatch.setattr("napari_microdeblur.core.psf_estimate.estimate_psf", no_estimate)
    image = _blurred(gaussian_psf(1.6)).astype(np.float32)
    for psf in ("estimate", "gaussian:1.6"):
        with pytest.warns(UserWarning, match="blind network .* the PSF given is not used"):
            out = inference.deblur(image, method=MethodSpec("c2f_unet.em_v2", psf=psf),
                                   device="cpu")
        np.testing.assert_array_equal(
            out, inference.deblur(image, method="c2f_unet.em_v2", device="cpu"))


def test_an_image_without_structure_reaches_the_widest_blur_and_says_so():
    est = estimate_psf(np.random.default_rng(0).random((128, 128)))  # white noise
    assert est.sigma_minor <= est.sigma_major <= 8.0
    assert "too little structure" in est.describe()
    assert "too little structure" not in estimate_psf(_blurred(gaussian_psf(1.6))).describe()


def test_an_estimate_wider_than_a_small_image_is_not_used():
    from napari_microdeblur.core.inference import spec_for_image

    noise = np.random.default_rng(0).random((64, 64)).astype(np.float32)  # reaches sigma 8
    with pytest.raises(ValueError, match=r"65 x 65 px, larger than the image \(64 x 64 px\)"):
        spec_for_image(MethodSpec("wiener", psf="estimate"), noise, "YX")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = spec_for_image(MethodSpec("auto", modality="em"), noise, "YX")  # EM estimates
    assert spec.psf is None  # the blind network, with the reason
    assert any("larger than the image" in str(w.message) and "blind network" in str(w.message)
               for w in caught)
