"""A few saturated / hot pixels no longer wreck a network's whole tile (core.saturation)."""

import warnings

import numpy as np
import pytest
import torch

from napari_microdeblur.core.inference import MethodSpec, deblur, prepare_deblur
from napari_microdeblur.core.provenance import deblur_record
from napari_microdeblur.core.saturation import NETWORK_INPUT_RANGE, clipped_forward

HOT = [(10, 100), (64, 64), (100, 20), (100, 21), (100, 22)]


def hot_image(value=65535):
    """A dim 128 px uint16 crop (103-120) with 5 pixels at ``value``, as a camera gives."""
    image = np.random.default_rng(0).integers(103, 121, (128, 128)).astype(np.uint16)
    for p in HOT:
        image[p] = value
    return image


def background(image):
    mask = np.ones(image.shape, bool)
    for y, x in HOT:
        mask[max(0, y - 8):y + 9, max(0, x - 8):x + 9] = False
    return mask


@pytest.mark.parametrize("name", ["c2f_unet.fluorescence_v2", "c2f_unet.em_v2"])
def test_hot_pixels_leave_the_background_alone(name):
    image = hot_image()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deblur(image, axes="YX", method=name, output_dtype="float32")
    far = background(image)
    ratio = out[far] / image[far]
    # before: median 17x (fluorescence_v2), 47x (em_v2)
    assert 0.9 < np.median(ratio) < 1.1 and ratio.max() < 2
    hot = np.array([out[p] for p in HOT])
    assert np.all(np.abs(hot - 65535) < 0.01 * 65535)  # kept, not boosted to 80000+
    lines = [str(w.message) for w in caught if "clipped" in str(w.message)]
    assert len(lines) == 1 and lines[0].startswith("5 pixels lie outside")


def test_clipped_pixels_are_recorded():
    prepared = prepare_deblur(hot_image(), "YX", MethodSpec(name="c2f_unet.fluorescence_v2"))
    record = deblur_record(prepared)
    clipped = record["parameters"]["input_clipped"]
    assert clipped["pixels"] == 5
    low, high = clipped["range"]
    assert low < 103 and 120 < high < 1000


def test_ordinary_image_is_not_clipped_and_unchanged():
    """Bright puncta well above the 99.9th percentile (2.5x its span, the most 238 test-split
    images reached) are within the range: no line, no record, the network's own output."""
    image = hot_image(value=110)
    image[HOT[1]] = 103 + int(2.5 * 17)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepared = prepare_deblur(image, "YX", MethodSpec(name="c2f_unet.em_v2"))
    assert not [w for w in caught if "clipped" in str(w.message)]
    assert "input_clipped" not in prepared.method.parameters


def test_classical_methods_are_not_clipped():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = prepare_deblur(hot_image(), "YX", MethodSpec(name="wiener", psf="gaussian:1.5",
                                                              balance=0.01)).run()
    assert not [w for w in caught if "clipped" in str(w.message)]
    assert "input_clipped" not in result.parameters


def test_clipped_forward_adds_the_excess_back():
    seen = []

    def forward(x):
        seen.append(x)
        return 0.5 * x

    low, high = NETWORK_INPUT_RANGE
    inside = torch.tensor([[[[0.0, 1.0, high]]]])
    assert torch.equal(clipped_forward(forward)(inside), 0.5 * inside)
    assert seen[-1] is inside  # a batch within range reaches the network unchanged
    x = torch.tensor([[[[low - 10, 0.5, high + 100]]]])
    y = clipped_forward(forward)(x)
    assert seen[-1].tolist() == [[[[low, 0.5, high]]]]
    assert y.tolist() == [[[[0.5 * low - 10, 0.25, 0.5 * high + 100]]]]


def test_clipped_forward_with_other_channel_count_returns_the_network_output():
    def forward(x):
        return x.sum(1, keepdim=True)

    x = torch.tensor([[[[100.0]], [[1.0]]]])
    assert clipped_forward(forward)(x).item() == NETWORK_INPUT_RANGE[1] + 1.0
