"""Audit of the Python API (2026-12-04, d): a grayscale + alpha image (2 samples, a PNG in mode
'LA') has its gray deblurred and its alpha passed through, as RGBA does, instead of its alpha
deblurred as a second channel; the readers keep an alpha for a deblur; a stack's PSNR is
finite when only some of its planes equal the reference (the mean over the others)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from test_api_audit_2026_12_04b import caught

from napari_microdeblur.core import io, io_write
from napari_microdeblur.core.axes import colour_part, has_alpha
from napari_microdeblur.core.inference import (
    ALPHA_NOTE,
    GRAY_ALPHA_NOTE,
    MethodSpec,
    deblur,
    prepare_deblur,
)
from napari_microdeblur.core.metrics import evaluate, stack_psnr

WIENER = dict(method="wiener", psf="gaussian:1.5", balance=0.01, device="cpu")


def gray_alpha(shape=(64, 64), seed=0) -> np.ndarray:
    """A uint8 gray + alpha image whose alpha varies (a third of it half transparent)."""
    gray = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), 1.5)
    gray = ((gray - gray.min()) / np.ptp(gray) * 200 + 20).astype(np.uint8)
    alpha = np.full(shape, 255, np.uint8)
    alpha[:, : shape[1] // 3] = 40
    return np.stack([gray, alpha], -1)


# ----------------------------------------------------------------------------- gray + alpha


@pytest.mark.parametrize("output_dtype", ["float32", "input"])
def test_gray_alpha_array_deblurs_its_gray_and_passes_alpha_through(output_dtype):
    image = gray_alpha()
    before = image.copy()
    out, lines = caught(lambda: deblur(image, axes="YXS", output_dtype=output_dtype, **WIENER))
    assert out.shape == image.shape
    np.testing.assert_array_equal(out[..., 1], image[..., 1])  # was: deblurred as a channel
    alone = deblur(np.ascontiguousarray(image[..., 0]), axes="YX", output_dtype=output_dtype,
                   **WIENER)
    np.testing.assert_allclose(out[..., 0], alone, rtol=1e-5, atol=1e-3)  # alpha not in stats
    assert GRAY_ALPHA_NOTE in lines and ALPHA_NOTE not in lines
    np.testing.assert_array_equal(image, before)


def test_gray_alpha_auto_runs_what_auto_runs_on_its_gray():
    image = gray_alpha((96, 96))
    prepared, _ = caught(lambda: prepare_deblur(image, "YXS", MethodSpec()))
    gray, _ = caught(lambda: prepare_deblur(np.ascontiguousarray(image[..., 0]), "YX",
                                            MethodSpec()))
    assert prepared.method.name == gray.method.name
    assert prepared.shape == image.shape


def test_gray_alpha_lazy_tiff_into_a_tiff_output_passes_alpha_through(tmp_path):
    image = gray_alpha()
    io_write.write_image(tmp_path / "la.tif", image, axes="YXS")
    data = io.read_image(tmp_path / "la.tif", keep_alpha=True)
    assert isinstance(data.array, io.TiffArray) and data.axes == "YXS"
    prepared, lines = caught(lambda: prepare_deblur(data.array, data.axes, MethodSpec(
        "wiener", psf="gaussian:1.5", balance=0.01)))
    with io_write.open_tiff_output(tmp_path / "out.tif", prepared.shape, prepared.output_dtype,
                                   axes="YXS") as target:
        prepared.run(out=target)
    out = tifffile.imread(tmp_path / "out.tif")
    np.testing.assert_array_equal(out[..., 1], image[..., 1])
    assert GRAY_ALPHA_NOTE in lines


def test_colour_part_of_gray_alpha_is_its_gray_sample():
    image = gray_alpha((8, 8))
    assert has_alpha("YXS", image.shape) and not has_alpha("YXC", image.shape)
    view = colour_part(image, "YXS")
    assert view.shape == (8, 8, 1)
    np.testing.assert_array_equal(np.asarray(view), image[..., :1])
    assert colour_part(image, "YXC") is image  # channels are not a pixel's samples


# ----------------------------------------------------------------------------- readers


def test_readers_keep_alpha_for_a_deblur_and_drop_it_otherwise(tmp_path):
    import imageio.v3 as iio

    image = gray_alpha()
    iio.imwrite(tmp_path / "la.png", image)
    kept = io.read_image(tmp_path / "la.png", keep_alpha=True)
    assert kept.axes == "YXS"
    np.testing.assert_array_equal(np.asarray(kept.array), image)
    with pytest.warns(UserWarning, match="alpha channel dropped"):
        dropped = io.read_image(tmp_path / "la.png")
    assert dropped.axes == "YX"


def test_unmarked_extra_samples_read_for_a_deblur_are_channels(tmp_path):
    """Two channels saved (Y, X, 2) without an alpha mark: channels, not gray + alpha."""
    image = gray_alpha()
    tifffile.imwrite(tmp_path / "c2.tif", image, photometric="minisblack",
                     planarconfig="contig")
    assert io.read_image(tmp_path / "c2.tif", keep_alpha=True).axes == "YXC"
    assert io.read_image(tmp_path / "c2.tif").axes == "YXS"  # as before, for scores


# ----------------------------------------------------------------------------- stack PSNR


def _stack(planes=3, shape=(48, 48)):
    rng = np.random.default_rng(1)
    reference = (rng.random((planes, *shape)) * 200 + 20).astype(np.uint8)
    prediction = reference.astype(np.float32)
    prediction[1:] += rng.normal(0, 6, (planes - 1, *shape)).astype(np.float32)
    return prediction, reference


def test_a_stack_with_one_plane_equal_to_the_reference_has_a_finite_psnr():
    prediction, reference = _stack()
    scores = evaluate(prediction, reference, border=8)
    assert math.isinf(scores["psnr_per_slice"][0])  # that plane alone has no difference
    assert math.isfinite(scores["psnr"]) and math.isfinite(scores["psnr_whole"])  # were inf
    # the mean over the planes that differ, each scored as it is on its own
    planes = [evaluate(prediction[z], reference[z], border=8) for z in (1, 2)]
    assert scores["psnr"] == pytest.approx(np.mean([p["psnr"] for p in planes]), rel=1e-9)
    assert scores["psnr_whole"] == pytest.approx(np.mean([p["psnr_whole"] for p in planes]),
                                                 rel=1e-9)
    assert scores["psnr"] == stack_psnr(scores["psnr_per_slice"])


def test_stack_psnr_is_the_mean_of_the_finite_plane_psnrs():
    assert stack_psnr([30.0, math.inf, 40.0]) == 35.0
    assert stack_psnr([30.0, 40.0]) == 35.0
    assert math.isinf(stack_psnr([math.inf, math.inf]))


def test_a_stack_equal_to_the_reference_has_an_infinite_psnr():
    _, reference = _stack()
    scores = evaluate(reference.astype(np.float32), reference, border=8)
    assert math.isinf(scores["psnr"]) and math.isinf(scores["psnr_whole"])
    assert math.isinf(stack_psnr(scores["psnr_per_slice"]))


def test_a_single_plane_scores_as_before():
    prediction, reference = _stack(planes=2)
    one = evaluate(prediction[1], reference[1], border=8)
    assert one["psnr"] == pytest.approx(evaluate(prediction[1:], reference[1:], border=8)[
        "psnr"], rel=1e-9)
    assert "psnr_per_slice" not in one


def test_spec_before_image_settles_what_it_can_without_the_image():
    """The check a dock runs before a run: the method a run would pick, the PSF-from-image
    cases left to the run."""
    from napari_microdeblur.core.image_settings import spec_before_image
    from napari_microdeblur.core.options import FIXED_ITERATIONS
    from napari_microdeblur.core.psf import gaussian_psf

    # widefield-like: little of the light in the in-focus plane (bundled.auto_runs_in_3d)
    widefield = np.stack([0.45 * gaussian_psf(3.0, size=9), 0.1 * gaussian_psf(0.7, size=9),
                          0.45 * gaussian_psf(3.0, size=9)])
    in_3d = spec_before_image(MethodSpec("auto", psf=widefield), "ZYX", (6, 64, 64))
    assert in_3d.name == "richardson_lucy" and in_3d.iterations == FIXED_ITERATIONS
    plane = spec_before_image(MethodSpec("auto", psf="gaussian:1.6"), "YX", (64, 64))
    assert plane.name == "auto" and plane.psf == "gaussian:1.6"
    assert spec_before_image(MethodSpec("auto", psf="estimate"), "YX", (64, 64)) is None
    assert spec_before_image(MethodSpec("auto", modality="em"), "YX", (64, 64)) is None
    assert spec_before_image(MethodSpec("auto"), "YXS", (64, 64, 3)) is None  # brightfield
