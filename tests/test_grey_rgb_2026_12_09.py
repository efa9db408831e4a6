"""A grey image saved as RGB (R = G = B) is deblurred as one grey channel, written back as RGB;
Wiener's normalisation keeps a small signal on a large offset."""

import warnings

import numpy as np
import zarr

from napari_microdeblur.core import inference
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.notes import DeblurNote

IDENTICAL = "the three colour channels are identical"
EM = dict(method="auto", psf="gaussian:1.5", modality="em")


def _grey(seed=0, shape=(96, 80)):
    rng = np.random.default_rng(seed)
    return (rng.random(shape) * 200 + 20).astype(np.uint8)


def _run(image, axes, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = inference.drain(inference.iter_deblur(image, axes=axes, **options))
    return result, [str(w.message) for w in caught if issubclass(w.category, DeblurNote)]


def test_identical_rgb_is_deblurred_as_grey_and_written_back_as_rgb():
    grey = _grey()
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    result, said = _run(rgb, "YXS", **EM)
    alone = inference.deblur(grey, axes="YX", **EM)
    assert result.image.shape == rgb.shape
    for c in range(3):  # as colour (opponent), R differed from the grey result
        np.testing.assert_array_equal(result.image[..., c], alone)
    assert sum(IDENTICAL in line for line in said) == 1
    assert result.parameters["colour"] == "identical channels, deblurred as grey"
    assert "chroma_noise_scale" not in result.parameters
    assert result.axes == "YXS"


def test_record_of_identical_rgb_says_so():
    from napari_microdeblur.core.provenance import deblur_record

    rgb = np.repeat(_grey(1)[..., None], 3, axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = inference.prepare_deblur(rgb, "YXS", MethodSpec("auto", psf="gaussian:1.5",
                                                                   modality="em"))
    record = deblur_record(prepared)
    assert record["parameters"]["colour"] == "identical channels, deblurred as grey"
    assert prepared.shape == rgb.shape and prepared.axes == "YXS"


def test_method_resolved_for_rgb_runs_its_grey_twin():
    """The docks resolve the method for RGB (the opponent colour path) before the core."""
    grey = _grey(7)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    spec = MethodSpec("auto", psf="gaussian:1.5", modality="em")
    method = spec.resolve(rgb=True)
    assert method.parameters["colour"] == "opponent"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = inference.prepare_deblur(rgb, "YXS", method).run()
    alone = inference.deblur(grey, axes="YX", **EM)
    for c in range(3):
        np.testing.assert_array_equal(result.image[..., c], alone)
    assert result.parameters["colour"] == "identical channels, deblurred as grey"
    assert sum(IDENTICAL in str(w.message) for w in caught) == 1


def test_identical_rgba_keeps_alpha_and_runs_grey():
    grey = _grey(2)
    alpha = np.full_like(grey, 77)
    rgba = np.concatenate([np.repeat(grey[..., None], 3, axis=-1), alpha[..., None]], axis=-1)
    result, said = _run(rgba, "YXS", output_dtype="input", **EM)
    alone = inference.deblur(grey, axes="YX", output_dtype="input", **EM)
    assert result.image.shape == rgba.shape and result.image.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(result.image[..., c], alone)
    np.testing.assert_array_equal(result.image[..., 3], alpha)
    assert any(IDENTICAL in line for line in said)


def test_lazy_planar_rgb_in_and_out():
    """A zarr input and output, S first (SYX) and a z-stack: read and written through views."""
    stack = np.stack([_grey(3, (40, 48)), _grey(4, (40, 48))])
    image = zarr.array(np.repeat(stack[:, None], 3, axis=1))  # ZSYX
    out = zarr.zeros(image.shape, dtype=np.float32)
    options = dict(method="wiener", psf="gaussian:1.2")
    result, said = _run(image, "ZSYX", out=out, **options)
    alone = inference.deblur(stack, axes="ZYX", **options)
    got = np.asarray(out[:])
    for c in range(3):
        np.testing.assert_allclose(got[:, c], alone, rtol=0, atol=0)
    assert any(IDENTICAL in line for line in said)


def test_colour_image_differing_in_one_pixel_stays_colour(monkeypatch):
    from napari_microdeblur.core import grey_rgb

    rgb = np.repeat(_grey(5)[..., None], 3, axis=-1)
    rgb[1, 1, 2] += 1  # off the strided sample: only the full comparison sees it
    monkeypatch.setattr(grey_rgb, "SAMPLE_ELEMENTS", 100)
    assert not grey_rgb.identical_channels(rgb, "YXS")
    result, said = _run(rgb, "YXS", **EM)
    assert result.parameters["colour"] == "opponent"
    assert not any(IDENTICAL in line for line in said)


def test_modality_auto_on_identical_rgb_runs_the_grey_default():
    rgb = np.repeat(_grey(6, (64, 64))[..., None], 3, axis=-1)
    result, said = _run(rgb, "YXS", method="auto")
    alone = inference.deblur(rgb[..., 0], axes="YX", method="auto")
    np.testing.assert_array_equal(result.image[..., 0], alone)
    line = next(line for line in said if IDENTICAL in line)
    assert f"method 'auto' ran {result.method}" in line and "modality='em'" in line


# ----------------------------------------------------------------------------- Wiener offset


def test_wiener_keeps_a_small_signal_on_a_large_offset():
    b = _grey(8, (64, 64)).astype(np.float64) / 255
    options = dict(method="wiener", psf="gaussian:1.6", balance=0.02, output_dtype="input")
    got = inference.deblur(1e6 + 0.05 * b, **options) - 1e6
    ref = inference.deblur(0.05 * b, **options)
    # divided by the maximum (1e6) in float32 it came out in 5 distinct values, 0.2 off
    assert np.abs(got - ref).max() < 1e-6 * np.ptp(ref)
    assert len(np.unique(got)) > 1000


def test_only_wiener_shifts_by_the_minimum():
    from napari_microdeblur.core.method import classical_method

    assert classical_method("wiener", "gaussian:1.6").normalization_kind == "shift"
    # Richardson-Lucy is not shift-invariant: its normalisation stays a division by the maximum
    assert classical_method("richardson_lucy", "gaussian:1.6").normalization_kind == "scale"
    image = _grey(9, (48, 48)) + np.uint8(30)
    wiener = inference.drain(inference.iter_deblur(image, method="wiener", psf="gaussian:1.6",
                                                   balance=0.02))
    assert wiener.normalization.kind == "shift"
    assert wiener.normalization.offset == float(image.min())
    rl = inference.drain(inference.iter_deblur(image, method="richardson_lucy",
                                               psf="gaussian:1.6", iterations=5))
    assert (rl.normalization.kind, rl.normalization.offset) == ("scale", 0.0)
