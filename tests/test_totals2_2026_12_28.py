"""Each totals note says its own part (``total_check``, ``output_cast``): the network's change
is that of its float result, the rounding note's that of rounding alone; a camera offset and a
dim channel of a multi-channel pass no longer hide a network's change."""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from test_totals_2026_12_28 import _lines

from napari_microdeblur.core.inference import Normalization


class Scaled(torch.nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


class Smoothing(torch.nn.Module):
    """Keeps the total, spreads counts into fractions under 0.5 (which round to 0)."""

    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, 5, stride=1, padding=2, count_include_pad=False)


def _counts(mean: float, shape=(96, 96), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sharp = gaussian_filter(rng.random(shape), 3) ** 4
    return rng.poisson(gaussian_filter(sharp * (mean / sharp.mean()), 1.7)).astype(np.uint16)


def test_network_note_is_the_float_results_and_rounding_does_not_repeat_it():
    image = _counts(3.0, (128, 128))
    floats, _ = _lines(image=image, method=Scaled(0.5), axes="YX")
    out, lines = _lines(image=image, method=Scaled(0.5), axes="YX", output_dtype="input")
    before, result = image.sum(dtype=np.float64), floats.sum(dtype=np.float64)
    network = [line for line in lines if line.startswith("the network changed")]
    assert len(network) == 1 and f"-50 % ({before:.6g} -> {result:.6g})" in network[0]
    rounding = [line for line in lines if "rounded to uint16" in line]
    assert rounding and "total intensity" not in rounding[0]  # rounding lost ~0 of it
    # the output written by way of the float result is as it was, bit for bit
    assert np.array_equal(out, np.clip(np.rint(floats), 0, 65535).astype(np.uint16))


def test_rounding_note_says_the_float_results_total_against_the_outputs():
    image = _counts(0.3, (128, 128))
    floats, lines = _lines(image=image, method=Smoothing(), axes="YX",
                           normalization=Normalization(0.0, 1.0))
    assert not any("total intensity" in line for line in lines)  # the network kept it
    out, lines = _lines(image=image, method=Smoothing(), axes="YX", output_dtype="input",
                        normalization=Normalization(0.0, 1.0))
    result, after = floats.sum(dtype=np.float64), out.sum(dtype=np.float64)
    assert after / result - 1 < -0.05
    rounding = [line for line in lines if "rounded to uint16" in line]
    assert len(rounding) == 1
    assert f"by rounding and clipping its total intensity went {result:.6g} -> {after:.6g}" \
        in rounding[0]
    assert not any(line.startswith("the network changed") for line in lines)


def test_a_change_above_a_camera_offset_is_said():
    image = _counts(3.0, (128, 128)).astype(np.float32) + 100  # offset 100, signal ~3
    out, lines = _lines(image=image, method=Scaled(0.7), axes="YX",
                        normalization=Normalization(100.0, 1.0))
    above = (out - 100).sum(dtype=np.float64) / (image - 100).sum(dtype=np.float64) - 1
    assert above < -0.2 and abs(out.sum() / image.sum() - 1) < 0.02  # hidden in the whole
    said = [line for line in lines if "total intensity" in line]
    assert len(said) == 1 and "above the offset (the input's minimum" in said[0]
    assert f"by {100 * above:+.2g} %" in said[0]


def test_ordinary_offset_image_kept_by_the_network_says_nothing():
    image = _counts(3.0, (128, 128)).astype(np.float32) + 100
    _, lines = _lines(image=image, method=Scaled(1.0), axes="YX",
                      normalization=Normalization(100.0, 1.0))
    assert not any("total intensity" in line for line in lines)


def test_a_dim_channel_of_one_pass_is_said():
    class DimmingChannelOne(torch.nn.Module):  # one pass of both channels
        def forward(self, x):
            y = x.clone()
            y[:, 1] *= 0.7
            return y

    image = np.stack([_counts(3.0, seed=1) * 20, _counts(3.0, seed=2)]).astype(np.float32)
    _, lines = _lines(image=image, method=DimmingChannelOne(), axes="CYX",
                      normalization=Normalization(0.0, 100.0))
    said = [line for line in lines if "total intensity" in line]
    assert len(said) == 1 and "the total intensity of channel C=1 by -30 %" in said[0]
