"""A run that moves the image's total intensity says so: a blind network's (``total_check``),
an output rounded to the input's integer type (``output_cast``'s rounding note); and the clip
note's share of lone pixels is that of the count beside it (``saturation.clip_note``)."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from napari_microdeblur.core.inference import Normalization, deblur
from napari_microdeblur.core.saturation import clip_note


class Scaled(torch.nn.Module):
    """A stand-in network: its input times ``factor`` (0.8: a total lowered by 20 %)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def _photon_counts(mean: float, shape=(96, 96), seed=0) -> np.ndarray:
    """A blurred low-count frame (many zeros, so the percentile offset is 0)."""
    rng = np.random.default_rng(seed)
    sharp = gaussian_filter(rng.random(shape), 3) ** 4
    blurred = gaussian_filter(sharp * (mean / sharp.mean()), 1.7)
    return rng.poisson(blurred).astype(np.uint16)


def _lines(**kwargs) -> tuple[np.ndarray, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deblur(device="cpu", **kwargs)
    return out, [str(w.message) for w in caught]


def test_network_lowering_the_total_says_by_how_much_and_what_keeps_it():
    image = _photon_counts(0.3).astype(np.float32)
    out, lines = _lines(image=image, method=Scaled(0.8), axes="YX")
    moved = out.sum(dtype=np.float64) / image.sum(dtype=np.float64) - 1
    assert abs(moved + 0.2) < 0.01  # the stand-in did lower it by 20 %
    said = [line for line in lines if "total intensity" in line]
    assert len(said) == 1 and "the image's total intensity by -20 %" in said[0]
    assert "Richardson-Lucy" in said[0] and "Wiener" in said[0] and "PSF-aware" in said[0]


def test_stack_total_and_a_plane_alone_are_said():
    planes = np.stack([_photon_counts(3.0, seed=s) for s in range(3)]).astype(np.float32)
    _, lines = _lines(image=planes, method=Scaled(0.9), axes="ZYX")
    assert any("the stack's total intensity by -10 %" in line for line in lines)

    class DimmingTheDimPlane(torch.nn.Module):  # lowers one plane by 10 %, the stack by 1 %
        def forward(self, x):
            return x * 0.9 if float(x.mean()) < 10 else x

    planes = np.stack([_photon_counts(30.0), _photon_counts(3.0, seed=1)]).astype(np.float32)
    _, lines = _lines(image=planes, method=DimmingTheDimPlane(), axes="ZYX",
                      normalization=Normalization(0.0, 1.0))  # model units: the image's
    total = [line for line in lines if "total intensity" in line]
    assert len(total) == 1 and "the total intensity of plane Z=1 by -" in total[0]


def test_network_keeping_the_total_and_a_signed_image_say_nothing():
    image = _photon_counts(3.0).astype(np.float32)
    _, lines = _lines(image=image, method=Scaled(1.0), axes="YX")
    assert not any("total intensity" in line for line in lines)
    signed = image - image.mean()  # background-subtracted: a total near 0, no percentage
    _, lines = _lines(image=signed, method=Scaled(0.8), axes="YX")
    assert not any("total intensity" in line for line in lines)


def test_write_only_output_is_summed_as_written():
    image = _photon_counts(0.3).astype(np.float32)
    store = np.zeros(image.shape, np.float32)

    class WriteOnly:  # as io_write.TiffWriteArray: written region by region, never read
        shape, dtype, ndim = image.shape, np.dtype(np.float32), 2

        def __setitem__(self, key, value):
            store[key] = value

    target = WriteOnly()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = deblur(image, method=Scaled(0.8), axes="YX", device="cpu", out=target)
    assert result is target  # the caller's array, not the summing wrapper
    assert any("total intensity by -20 %" in str(w.message) for w in caught)


def test_rounding_note_says_the_total_it_lost():
    image = _photon_counts(0.3, shape=(128, 128))
    out, lines = _lines(image=image, method="wiener", psf="gaussian:1.7", axes="YX",
                        output_dtype="input")
    before, after = image.sum(dtype=np.float64), out.sum(dtype=np.float64)
    assert after / before - 1 < -0.05  # background values under 0.5 rounded to 0
    rounding = [line for line in lines if "rounded to uint16" in line]
    assert len(rounding) == 1 and "total intensity went" in rounding[0]
    assert f"{before:.6g} -> {after:.6g}" in rounding[0]


def test_rounding_of_a_float32_run_says_no_total():
    image = _photon_counts(0.3, shape=(128, 128))
    _, lines = _lines(image=image, method="wiener", psf="gaussian:1.7", axes="YX")
    assert not any("total intensity" in line for line in lines)  # Wiener keeps it


def test_clip_note_share_is_that_of_the_count_beside_it():
    # EMCCD at 0.01 photons/px: 5 of 65 536 pixels alone, the percentiles left out 0.23 %
    norm = Normalization(100.0, 150.0, isolated=0.0023)
    line = clip_note(5, 65536, 65536, norm)
    assert "5 of them stand alone" in line
    assert "0.0076 % of the image" in line and "0.23 %" not in line
    assert "single photon events" in line
