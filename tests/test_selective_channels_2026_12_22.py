"""Selective deblurring (``core.selective``: `deblur --focus-below`, ``deblur_selected``, the
Focus QC dock) with a grayscale network on an image with channels normalises each channel on
its own, as a plain deblur does (``image_settings.network_per_channel``): a soft plane of a dim
channel beside a bright one comes out as that channel's deblur alone. It had taken the whole
image's range (the bright channel's) and under-restored it. Classical methods, RGB, one
channel, a Method given and a normalisation given run as before."""

import warnings

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from napari_microdeblur.core.inference import Normalization, compute_normalization, prepare_deblur
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.selective import deblur_selected

PSF = "gaussian:1.6"


def _bright_and_dim(n: int = 64, planes: int = 3) -> np.ndarray:
    """CZYX uint16: a bright channel (~1000-4000) and a dim one (~10-90), blurred by ``PSF``
    with Poisson noise, as DAPI beside GFP."""
    rng = np.random.default_rng(1)
    sharp = gaussian_filter(rng.random((2, planes, n, n)), [0, 0, 1, 1])
    sharp = (sharp - sharp.min()) / np.ptp(sharp)
    sharp = np.stack([1000 + 3000 * sharp[0], 10 + 80 * sharp[1]])
    return rng.poisson(gaussian_filter(sharp, [0, 0, 1.6, 1.6])).astype(np.uint16)


def _quiet(run, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run(*args, **kwargs)


def _plain(image, axes, spec):
    return _quiet(lambda: prepare_deblur(image, axes, spec).run().image)


def _selective(image, spec, scores, **kwargs):
    return _quiet(deblur_selected, image, spec, threshold=0.5, axes=kwargs.pop("axes", "CZYX"),
                  scores=scores, device="cpu", **kwargs)


NETWORKS = [MethodSpec(), MethodSpec("gran.fluo_v1"), MethodSpec(psf=PSF)]
NETWORK_IDS = ["blind default", "gran.fluo_v1", "PSF-aware, one PSF"]


@pytest.mark.parametrize("spec", NETWORKS, ids=NETWORK_IDS)
def test_a_soft_plane_of_a_dim_channel_comes_out_as_a_plain_deblur(spec):
    image = _bright_and_dim()
    scores = np.ones((2, 3))
    scores[1, 1] = scores[0, 2] = 0  # the dim channel's Z 1 and the bright one's Z 2
    result = _selective(image, spec, scores)
    assert result.selected == ((0, 2), (1, 1))
    whole = _plain(image, "CZYX", spec)  # each channel normalised on its own
    alone = _plain(image[1], "ZYX", spec)
    np.testing.assert_array_equal(result.image[1, 1], whole[1, 1])
    np.testing.assert_array_equal(result.image[1, 1], alone[1])
    np.testing.assert_array_equal(result.image[0, 2], whole[0, 2])
    # what was not selected is copied as it was
    np.testing.assert_array_equal(result.image[1, 0], image[1, 0])
    # the record's: the first deblurred plane's (channel 1's), as a plain deblur records it
    assert result.normalization == compute_normalization(image[0], "ZYX", "percentile")


def test_a_soft_tile_of_a_dim_channel_comes_out_as_a_plain_deblur():
    image = _bright_and_dim()
    scores = np.ones((2, 3, 2, 2))
    scores[1, 1, 0, 1] = 0  # one 32 px tile of the dim channel
    result = _selective(image, MethodSpec(), scores, tile=32)
    assert result.selected == ((1, 1, 0, 1),)
    whole = _plain(image, "CZYX", MethodSpec())
    np.testing.assert_array_equal(result.image[1, 1, :32, 32:], whole[1, 1, :32, 32:])
    assert result.normalization == compute_normalization(image[1], "ZYX", "percentile")


def test_channel_last_axes_take_each_channel_too():
    image = np.ascontiguousarray(np.moveaxis(_bright_and_dim(), 0, 1))  # ZCYX
    scores = np.ones((3, 2))
    scores[1, 1] = 0
    result = _selective(image, MethodSpec(), scores, axes="ZCYX")
    alone = _plain(image[:, 1], "ZYX", MethodSpec())
    np.testing.assert_array_equal(result.image[1, 1], alone[1])


# ----------------------------------------------------------------------------- as before


def _as_before(image, axes: str, plane, method, normalization):
    """A plane deblurred as selective deblurring did: with the given normalisation."""
    where = tuple(plane) + (slice(None),) * (image.ndim - len(plane))
    plane_axes = "".join(a for a in axes if a in "YXS")
    return _quiet(lambda: prepare_deblur(image[where], plane_axes, method,
                                         normalization=normalization).run().image)


@pytest.mark.parametrize("spec", [MethodSpec("wiener", psf=PSF, balance=0.05),
                                  MethodSpec("wiener", psf=PSF),  # balance 'auto'
                                  MethodSpec("richardson_lucy", psf=PSF, iterations=5)],
                         ids=["wiener", "wiener, balance auto", "richardson-lucy"])
def test_a_classical_method_still_normalises_the_whole_image(spec):
    image = _bright_and_dim()
    scores = np.ones((2, 3))
    scores[1, 1] = 0
    result = _selective(image, spec, scores)
    method = result.settled[0].method
    whole = compute_normalization(image, "CZYX", method.normalization_kind,
                                  *method.percentiles)
    assert result.normalization == whole
    np.testing.assert_array_equal(result.image[1, 1],
                                  _as_before(image, "CZYX", (1, 1), method, whole))


def test_a_normalisation_given_is_used_for_every_channel():
    image = _bright_and_dim()
    scores = np.ones((2, 3))
    scores[1, 1] = 0
    given = Normalization(0.0, 4000.0, kind="percentile", low=0.1, high=99.9)
    result = _selective(image, MethodSpec(), scores, normalization=given)
    assert result.normalization == given
    method = result.settled[0].method
    np.testing.assert_array_equal(result.image[1, 1],
                                  _as_before(image, "CZYX", (1, 1), method, given))


def test_a_method_given_still_normalises_the_whole_image():
    image = _bright_and_dim()
    scores = np.ones((2, 3))
    scores[1, 1] = 0
    method = MethodSpec().check().resolve(rgb=False)  # a network loaded, as the dock's session
    result = _selective(image, method, scores)
    whole = compute_normalization(image, "CZYX", "percentile")
    assert result.normalization == whole
    np.testing.assert_array_equal(result.image[1, 1],
                                  _as_before(image, "CZYX", (1, 1), method, whole))


@pytest.mark.parametrize("axes", ["ZYX", "ZYXS"])
def test_one_channel_and_rgb_normalise_the_whole_image(axes):
    image = _bright_and_dim()[0]  # ZYX, the bright channel
    if axes == "ZYXS":  # RGB: colours of different brightness, one range keeps them balanced
        image = np.stack([image, image // 4, image // 16], axis=-1)
    result = _selective(image, MethodSpec(), np.array([1.0, 0.0, 1.0]), axes=axes)
    assert result.selected == ((1,),)
    method = result.settled[0].method
    whole = compute_normalization(image, axes, method.normalization_kind, *method.percentiles)
    assert result.normalization == whole
    np.testing.assert_array_equal(result.image[1], _as_before(image, axes, (1,), method, whole))
