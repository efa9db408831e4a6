"""One PSF per colour of an RGB image (core.channel_psfs): brightfield blur differs by
wavelength, so psf='R;G;B' deblurs each colour of an S axis of 3 (RGBA: its 3 colours, the
alpha copied) with its own PSF for richardson_lucy and wiener, exactly as that colour alone;
a wrong count, gray + alpha and a network are refused in one line before any work."""

import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.inference import deblur, prepare_deblur
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.psf import parse_psf

# the walkthrough's histology PSFs: a brightfield objective at the colours' wavelengths
W = "widefield:na=0.75,wavelength={},pixel=0.25"
RGB_PSFS = [W.format(0.61), W.format(0.54), W.format(0.46)]
W3D = "widefield:na=1.0,wavelength={},pixel=0.1,nz=5,dz=0.3,size=11"


def _blurred_rgb(shape=(64, 64), seed=0) -> np.ndarray:
    """Dots blurred by a different gaussian per colour, a little noise: (Y, X, 3) float32."""
    rng = np.random.default_rng(seed)
    scene = np.zeros(shape, dtype=np.float32)
    scene[tuple(rng.integers(4, n - 4, 25) for n in shape)] = 200.0
    from scipy.ndimage import gaussian_filter

    colours = [gaussian_filter(scene, s) + 10 for s in (1.0, 1.4, 1.8)]
    return (np.stack(colours, -1) + rng.normal(0, 0.5, (*shape, 3))).astype(np.float32)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.mark.parametrize("method, options", [
    ("richardson_lucy", {"iterations": 10}),
    ("richardson_lucy", {"iterations": "auto"}),  # settled per colour, as per channel
    ("wiener", {"balance": "auto"}),
])
def test_each_colour_is_deblurred_with_its_own_psf_as_that_colour_alone(method, options):
    image = _blurred_rgb()
    got = _quiet(deblur, image, method=method, axes="YXS", psf=";".join(RGB_PSFS),
                 device="cpu", **options)
    assert got.shape == image.shape
    for i, psf in enumerate(RGB_PSFS):
        alone = _quiet(deblur, image[..., i], method=method, axes="YX", psf=psf, device="cpu",
                       **options)
        np.testing.assert_allclose(got[..., i], alone, rtol=1e-5, atol=1e-4)
    # not one PSF for all: the blue colour differs from a deblur with the red's PSF
    red_psf = _quiet(deblur, image[..., 2], method=method, axes="YX", psf=RGB_PSFS[0],
                     device="cpu", **options)
    assert np.abs(got[..., 2] - red_psf).max() > 1e-2


def test_rgba_deblurs_its_three_colours_and_passes_the_alpha_through():
    rgb = _blurred_rgb(seed=1)
    alpha = np.linspace(0, 255, rgb[..., 0].size, dtype=np.float32).reshape(rgb.shape[:2])
    image = np.concatenate([rgb, alpha[..., None]], -1)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        got = deblur(image, method="wiener", axes="YXS", psf=";".join(RGB_PSFS), balance=0.01,
                     device="cpu")
    assert got.shape == image.shape
    np.testing.assert_array_equal(got[..., 3], alpha)
    assert any("alpha channel (4th sample) is passed through" in str(w.message) for w in said)
    for i, psf in enumerate(RGB_PSFS):
        alone = deblur(rgb[..., i], method="wiener", axes="YX", psf=psf, balance=0.01,
                       device="cpu")
        np.testing.assert_allclose(got[..., i], alone, rtol=1e-5, atol=1e-4)


def test_estimate_and_3d_psfs_run_per_colour():
    image = _blurred_rgb(seed=2)
    sources = ["estimate", "gaussian:1.4", "estimate"]
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        got = deblur(image, method="wiener", axes="YXS", psf=";".join(sources), balance=0.01,
                     device="cpu")
    estimated = [str(w.message) for w in said if "PSF estimated" in str(w.message)]
    assert [line.split(":")[0] for line in estimated] == ["colour R", "colour B"]
    for i in (0, 2):
        alone = _quiet(deblur, image[..., i], method="wiener", axes="YX", psf="estimate",
                       balance=0.01, device="cpu")
        np.testing.assert_allclose(got[..., i], alone, rtol=1e-5, atol=1e-4)
    # a z-stack of RGB planes with a 3D PSF per colour: 3D RL per colour
    stack = np.stack([_blurred_rgb((32, 32), seed=s) for s in range(6)])
    psfs = [W3D.format(w) for w in (0.61, 0.54, 0.46)]
    got = _quiet(deblur, stack, method="richardson_lucy", axes="ZYXS", psf=";".join(psfs),
                 iterations=5, device="cpu")
    for i, psf in enumerate(psfs):
        alone = _quiet(deblur, stack[..., i], method="richardson_lucy", axes="ZYX", psf=psf,
                       iterations=5, device="cpu")
        np.testing.assert_allclose(got[..., i], alone, rtol=1e-5, atol=1e-4)


def test_the_cli_deblurs_rgb_per_colour_and_records_each_colours_psf(tmp_path, capsys):
    image = (np.clip(_blurred_rgb(seed=3), 0, 255)).astype(np.uint8)
    source, out = tmp_path / "he.tif", tmp_path / "o.tif"
    tifffile.imwrite(source, image, photometric="rgb")
    code = main(["deblur", str(source), "-o", str(out), "--method", "richardson_lucy",
                 "--iterations", "10", "--psf", ";".join(RGB_PSFS), "--device", "cpu",
                 "--output-dtype", "input"])
    assert code == 0, capsys.readouterr().err
    written = io.read_image(out)
    assert written.array.shape == image.shape and written.array.dtype == np.uint8
    record = written.metadata["microdeblur"]
    assert record["psf"] == ";".join(RGB_PSFS)
    assert [c["parameters"]["psf"] for c in record["channels"]] == RGB_PSFS
    expected = _quiet(deblur, image, method="richardson_lucy", axes="YXS",
                      psf=";".join(RGB_PSFS), iterations=10, output_dtype="input")
    np.testing.assert_array_equal(np.asarray(written.array), expected)


@pytest.mark.parametrize("shape, psf, words", [
    ((48, 48, 3), "gaussian:1;gaussian:2",
     "psf gives 2 PSFs (one per colour, separated by ';') but the RGB image (axes YXS) has 3 "
     "colours; give 3 PSFs, in R;G;B order"),
    ((48, 48, 4), "gaussian:1;gaussian:2;gaussian:1;gaussian:2",
     "the RGB image (axes YXS) has 3 colours, its alpha passed through; give 3 PSFs"),
    ((48, 48, 2), "gaussian:1;gaussian:2", "has one colour (gray + alpha); give one PSF"),
])
def test_a_count_other_than_the_colours_is_refused_in_one_line_before_any_work(
        shape, psf, words, monkeypatch):
    from napari_microdeblur.core import inference

    monkeypatch.setattr(inference, "compute_normalization",
                        lambda *a, **k: pytest.fail("a colour was prepared"))
    with pytest.raises(ValueError) as caught:
        prepare_deblur(np.ones(shape, dtype=np.float32), "YXS",
                       MethodSpec("wiener", psf=psf))
    assert words in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("method", ["auto", "wiener_unet.psf_v4", "c2f_unet.brightfield_v2"])
def test_a_network_is_refused_saying_which_methods_take_a_psf_per_colour(method, monkeypatch):
    from napari_microdeblur.core import checkpoint

    monkeypatch.setattr(checkpoint, "load_model",
                        lambda *a, **k: pytest.fail("a network was loaded"))
    with pytest.raises(ValueError) as caught:
        prepare_deblur(np.ones((48, 48, 3), dtype=np.float32), "YXS",
                       MethodSpec(method, psf=";".join(RGB_PSFS)))
    message = str(caught.value)
    assert f"method={method!r} runs a network" in message and "\n" not in message
    assert "only richardson_lucy and wiener take one PSF per colour" in message


def test_the_cli_refuses_a_network_in_one_line_and_writes_nothing(tmp_path, capsys):
    source, out = tmp_path / "he.tif", tmp_path / "o.tif"
    tifffile.imwrite(source, np.zeros((48, 48, 3), np.uint8), photometric="rgb")
    code = main(["deblur", str(source), "-o", str(out), "--psf", ";".join(RGB_PSFS)])
    err = capsys.readouterr().err
    assert code != 0 and not out.exists()
    assert "only richardson_lucy and wiener take one PSF per colour" in err


def test_a_psf_too_large_for_the_image_names_its_colour():
    big = parse_psf("gaussian:9").shape[-1]
    with pytest.raises(ValueError, match=f"colour B of psf: the PSF 'gaussian:9' is {big} x "):
        prepare_deblur(np.ones((32, 32, 3), dtype=np.float32), "YXS",
                       MethodSpec("wiener", psf="gaussian:1;gaussian:1;gaussian:9"))


def test_the_psf_scale_warning_names_colours(tmp_path):
    """Review 2026-12-09: the PSF-scale line said 'channel 1' for RGB's colours."""
    from napari_microdeblur.core.files import deblur_file

    pytest.importorskip("psfmodels")
    rgb = (np.random.default_rng(0).random((96, 96, 3)) * 200).astype(np.uint8)
    source = tmp_path / "rgb.ome.tif"
    tifffile.imwrite(source, rgb, photometric="rgb",
                      metadata={"axes": "YXS", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
    psf = ";".join(f"widefield:na=0.75,wavelength={w},pixel=0.25" for w in (0.61, 0.54, 0.46))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        deblur_file(source, tmp_path / "out.tif", method="wiener", psf=psf, balance=0.05,
                    device="cpu")
    said = [str(w.message) for w in seen if "pixel=0.5" in str(w.message)]
    assert said and "colour R: " in said[0] and "channel 1" not in said[0]
