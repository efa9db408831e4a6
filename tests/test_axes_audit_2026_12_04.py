"""Results of images with a time axis, channels or alpha that were wrong rather than refused
(the audit after focus_scores flattened (Z, C) scores): each test compares a multi-axis result
with the one computed plane by plane."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_microdeblur.core import self_adapt
from napari_microdeblur.core.focus import focus_score, focus_scores
from napari_microdeblur.core.inference import compute_normalization
from napari_microdeblur.core.psf_estimate import estimation_plane


def _textured(n: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random((n, n)), 1.0)


def test_focus_scores_refuses_a_time_series_of_stacks_rather_than_flattening_it():
    # TZYX scores came back as one list of T * Z, so an index past Z read as a plane
    stack = np.stack([np.stack([_textured(seed=t * 5 + z) * 1000 + 10 for z in range(3)])
                      for t in range(2)]).astype(np.float32)
    with pytest.raises(ValueError, match="one Z axis.*each time point"):
        focus_scores(stack, "TZYX")
    assert focus_scores(stack[1], "ZYX").shape == (3,)


@pytest.mark.parametrize("axes", ["YXS", "ZYXS"])
def test_focus_score_leaves_alpha_out_as_deblurring_does(axes):
    # an opaque alpha averaged in as intensity scored an RGBA plane ~3x below its RGB
    rgb = np.stack([_textured(seed=s) * 200 + 20 for s in range(3)], -1).astype(np.uint8)
    if axes == "ZYXS":
        rgb = np.stack([rgb, rgb[::-1]])
    alpha = np.full(rgb.shape[:-1] + (1,), 255, np.uint8)
    rgba = np.concatenate([rgb, alpha], -1)
    gray_alpha = np.concatenate([rgb[..., :1], alpha], -1)
    np.testing.assert_allclose(focus_score(rgba, axes=axes, tile=32),
                               focus_score(rgb, axes=axes, tile=32), rtol=1e-6)
    np.testing.assert_allclose(focus_score(gray_alpha, axes=axes),
                               focus_score(rgb[..., 0], axes=axes[:-1]), rtol=1e-6)


class _Net(torch.nn.Module):
    in_channels = 1
    size_divisor = 1

    def forward(self, x):
        return x


class _Seen(Exception):
    pass


@pytest.mark.parametrize("axes", ["TZYX", "CZYX"])
def test_self_adapt_estimates_the_psf_from_the_middle_plane_as_deblur_does(monkeypatch, axes):
    # the middle of the flattened plane list was (t=1, z=0), the top plane, for T=2, Z=5, and
    # one channel (c=1) of a 2-channel stack, not their mean
    image = np.stack([np.stack([ndimage.gaussian_filter(_textured(seed=7), 1 + z) * 1000
                                + 50 * a + 5 * z for z in range(5)])
                      for a in range(2)]).astype(np.float32)
    seen = {}

    def record(plane):
        seen["plane"] = np.asarray(plane)
        raise _Seen

    monkeypatch.setattr(self_adapt, "estimate_psf", record)
    with pytest.raises(_Seen):
        next(self_adapt.iter_self_adapt(_Net(), image, "estimate", axes=axes))
    # in model units, as the planes it adapts to
    expected = compute_normalization(image, axes, "percentile").apply(
        estimation_plane(image, axes))
    np.testing.assert_allclose(seen["plane"], expected, atol=1e-6)
