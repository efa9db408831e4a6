"""Apple MPS has no float64: every tensor the deblur puts on the compute device must do without.

No MPS device here, so the test makes the CPU stand in for one: ``devices.has_float64`` says
no, and a torch function mode fails any torch operation whose result is float64 or complex128
(host-side constants computed with numpy do not pass through torch and are allowed). Before the
fix, the PSF-aware network's border fade (``fft_domain.extend``) and the classical methods'
cosine tables and PSF normalisation were computed in float64 on the image's device.
"""

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from napari_microdeblur.core import devices
from napari_microdeblur.core.inference import deblur


class NoFloat64(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for o in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(o, torch.Tensor) and o.dtype in (torch.float64, torch.complex128):
                raise AssertionError(f"{getattr(func, '__name__', func)} made a {o.dtype} tensor")
        return out


def test_wide_dtype_is_float32_on_mps_only():
    assert devices.wide_dtype("cpu") == torch.float64
    assert devices.wide_dtype(torch.device("cuda")) == torch.float64
    assert devices.wide_dtype(torch.device("mps")) == torch.float32
    assert not devices.has_float64("mps")


def _image(shape, seed=0):
    rng = np.random.default_rng(seed)
    smooth = rng.random(shape)
    for axis in range(len(shape)):
        smooth = (smooth + np.roll(smooth, 1, axis) + np.roll(smooth, -1, axis)) / 3
    return (smooth * 200).astype(np.uint8)


CASES = {
    "psf-aware network given a PSF": (lambda: _image((96, 96)), "YX",
                                      dict(method="auto", psf="gaussian:1.6")),
    "EM default (PSF estimated)": (lambda: _image((96, 96)), "YX",
                                   dict(method="auto", modality="em")),
    "RGB default": (lambda: _image((96, 96, 3)), "YXS", dict(method="auto")),
    "Richardson-Lucy, auto iterations": (lambda: _image((96, 96)), "YX",
                                         dict(method="richardson_lucy", psf="gaussian:1.6")),
    "Wiener": (lambda: _image((96, 96)), "YX", dict(method="wiener", psf="gaussian:1.6")),
    "Richardson-Lucy 3D": (lambda: _image((6, 64, 64)), "ZYX", dict(
        method="richardson_lucy", psf="widefield:na=1.2,wavelength=0.52,pixel=0.1,dz=0.3,nz=5")),
}


@pytest.mark.parametrize("case", CASES)
def test_deblur_makes_no_float64_tensor_on_a_device_without_it(case, monkeypatch):
    make, axes, options = CASES[case]
    image = make()
    expected = deblur(image, axes=axes, device="cpu", **options)
    monkeypatch.setattr(devices, "has_float64", lambda device: False)
    with NoFloat64():
        result = deblur(image, axes=axes, device="cpu", **options)
    # float32 accumulators instead of float64: the same image within float32 rounding
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-4 * float(np.abs(expected).max()))
