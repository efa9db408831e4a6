"""Device fixes from a code review: the Fourier steps (Wiener, Richardson-Lucy, the PSF-aware
networks, their safeguard) failed on Apple MPS before torch 2.3 / macOS 14, which 'auto' picks
("Trying to convert ComplexFloat to the MPS backend"); ``cuda_has_bf16`` read the current GPU,
not the chosen one (cuda:1 a V100 beside an Ampere cuda:0 got bfloat16); the out-of-memory
retry emptied the CUDA cache inside its ``except`` block, whose traceback kept the failed
attempt's tensors alive.

No GPU or MPS here. "A device without FFTs" is the CPU reported so by ``devices.fft_works``,
with the input held in ``NoFFT``: a tensor whose FFTs raise as MPS's did and which holds no
complex values, until it is copied to the host (``.to('cpu')``, ``.cpu()``)."""

from __future__ import annotations

import types
import warnings
import weakref

import numpy as np
import pytest
import torch
from test_python_api_2026_12_10 import blobs

from napari_microdeblur.core import devices
from napari_microdeblur.core.notes import DeblurNote

MPS_ERROR = ("Trying to convert ComplexFloat to the MPS backend but it does not have support "
             "for that dtype.")


def _to_host(func, args, kwargs) -> bool:
    if func not in (torch.Tensor.to, torch.Tensor.cpu):
        return False
    if func is torch.Tensor.cpu:
        return True
    targets = [*args[1:], kwargs.get("device")]
    return any(isinstance(t, (str, torch.device)) and torch.device(t).type == "cpu"
               for t in targets)


class NoFFT(torch.Tensor):
    """A tensor on a device whose FFTs raise and which holds no complex values (Apple MPS
    before torch 2.3); copied to the host it is a plain tensor."""

    @classmethod
    def __torch_function__(cls, func, types_, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__module__", "") == "torch._C._fft":
            raise RuntimeError(MPS_ERROR)
        if _to_host(func, args, kwargs):
            with torch._C.DisableTorchFunctionSubclass():
                return func(*args, **kwargs).as_subclass(torch.Tensor)
        result = super().__torch_function__(func, types_, args, kwargs)
        if isinstance(result, NoFFT) and result.is_complex():
            raise RuntimeError(MPS_ERROR)
        return result


def _no_fft(t: torch.Tensor) -> NoFFT:
    return t.clone().as_subclass(NoFFT)


@pytest.fixture
def cpu_without_fft(monkeypatch):
    """``fft_works`` says no for the device the test's ``NoFFT`` tensors stand on; nothing
    said of it yet in this process."""
    monkeypatch.setattr(devices, "fft_works", lambda device: False, raising=False)
    monkeypatch.setattr(devices, "_FFT_SAID", set(), raising=False)


def _gaussian(sigma=1.6, half=6, shift=0.0):
    r = torch.arange(-half, half + 1, dtype=torch.float32)
    g = torch.exp(-((r[:, None] - shift) ** 2 + r[None] ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _notes(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, DeblurNote)]


# ----------------------------------------------------------------------------- 1. FFTs


def test_the_fake_device_fails_as_mps_did():
    x = _no_fft(torch.ones(1, 1, 8, 8))
    with pytest.raises(RuntimeError, match="ComplexFloat to the MPS backend"):
        torch.fft.rfft2(x)
    assert type(x.to("cpu")) is torch.Tensor and type(x.float()) is NoFFT


@pytest.mark.parametrize("error", [RuntimeError(MPS_ERROR), NotImplementedError("fft_r2c"),
                                   TypeError("complex")])
def test_fft_works_probes_the_device_once(monkeypatch, error):
    monkeypatch.setattr(devices, "_FFT_WORKS", {}, raising=False)
    calls = []

    def rfftn(*args, **kwargs):
        calls.append(1)
        raise error

    monkeypatch.setattr(torch.fft, "rfftn", rfftn)
    assert devices.fft_works("cpu") is False
    assert devices.fft_works(torch.device("cpu")) is False and len(calls) == 1  # cached
    monkeypatch.undo()
    monkeypatch.setattr(devices, "_FFT_WORKS", {})
    assert devices.fft_works("cpu") is True


@pytest.mark.parametrize("name", ["wiener", "richardson_lucy"])
def test_classical_methods_run_their_ffts_on_the_cpu(cpu_without_fft, name):
    from napari_microdeblur.core import classical

    method = getattr(classical, name)
    x = torch.from_numpy(blobs())[None, None]
    psf = _gaussian(shift=0.7)  # asymmetric: the FFT path, not the CPU's DCT
    options = {"iterations": 5} if name == "richardson_lucy" else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = method(_no_fft(x), psf, **options)
    expected = method(x, psf, **options)
    torch.testing.assert_close(y.as_subclass(torch.Tensor), expected)
    (note,) = _notes(caught)
    assert "run on the CPU" in note and "torch 2.3" in note and "macOS 14" in note


def test_psf_aware_network_runs_its_fourier_steps_on_the_cpu(cpu_without_fft):
    from napari_microdeblur.core import registry

    torch.manual_seed(0)
    config = {**registry.get_arch("wiener_unet").tiny_config, "data_step": 0.05}
    model = registry.build_model("wiener_unet", config)
    x = torch.from_numpy(blobs(32) / 100)[None, None]
    with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = model(_no_fft(x), _gaussian(half=4))
        expected = model(x, _gaussian(half=4))
    torch.testing.assert_close(y.as_subclass(torch.Tensor), expected)
    assert len([w for w in caught if issubclass(w.category, DeblurNote)]) == 1


def test_training_through_the_cpu_fourier_steps_keeps_gradients(cpu_without_fft):
    from napari_microdeblur.core import registry

    torch.manual_seed(0)
    model = registry.build_model("wiener_unet", registry.get_arch("wiener_unet").tiny_config)
    x = torch.from_numpy(blobs(32) / 100)[None, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeblurNote)
        model(_no_fft(x), _gaussian(half=4)).square().mean().backward()
    assert model.log_gain.grad is not None and bool(torch.isfinite(model.log_gain.grad).all())


def test_the_safeguard_runs_its_ffts_on_the_cpu(cpu_without_fft, monkeypatch):
    from napari_microdeblur.core import psf_safeguard
    from napari_microdeblur.core.archs import wiener_unet

    x = torch.from_numpy(blobs(32) / 100)[None, None]
    y = x + 0.01 * torch.randn_like(x)
    psf = _gaussian(sigma=3.0, half=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeblurNote)
        ratio = psf_safeguard.blocked_correction_ratio(_no_fft(x), _no_fft(y), psf)
        fallback = psf_safeguard.conservative_wiener(_no_fft(x), psf)
        monkeypatch.setattr(wiener_unet, "BLOCKED_OTF", 0.1)  # the noise level's optional check
        sigma = wiener_unet.blocked_band_sigma(_no_fft(x), psf)
    torch.testing.assert_close(ratio.as_subclass(torch.Tensor),
                               psf_safeguard.blocked_correction_ratio(x, y, psf))
    torch.testing.assert_close(fallback.as_subclass(torch.Tensor),
                               psf_safeguard.conservative_wiener(x, psf))
    torch.testing.assert_close(sigma.as_subclass(torch.Tensor),
                               wiener_unet.blocked_band_sigma(x, psf), equal_nan=True)


def test_a_tiled_deblur_says_it_once(cpu_without_fft):
    """Many tiles, one line (each tile's, re-said at the caller's line, passed the filters)."""
    from napari_microdeblur.core.inference import deblur

    image = blobs(128)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deblur(image, method="wiener", psf="gaussian:1.6", balance=0.01, axes="YX",
                     tile=64, device="cpu")
    notes = [w for w in caught if "run on the CPU" in str(w.message)]
    assert len(notes) == 1
    expected = deblur(image, method="wiener", psf="gaussian:1.6", balance=0.01, axes="YX",
                      tile=64, device="cpu")
    np.testing.assert_array_equal(out, expected)


def test_a_device_with_ffts_runs_them_there_silently(monkeypatch):
    monkeypatch.setattr(devices, "_FFT_WORKS", {}, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert devices.fft_device("cpu") == torch.device("cpu")


# ----------------------------------------------------------------------------- 2. bfloat16


@pytest.fixture
def ampere_and_v100(monkeypatch):
    """GPU 0 Ampere (the current one), GPU 1 a V100: torch's is_bf16_supported() reads GPU 0."""
    props = {0: types.SimpleNamespace(major=8, minor=0, name="A100"),
             1: types.SimpleNamespace(major=7, minor=0, name="V100")}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d=None: props[
        d if isinstance(d, int) else torch.device(d or "cuda").index or 0])
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    monkeypatch.setattr(torch.version, "hip", None)


def test_bf16_is_asked_of_the_chosen_gpu(ampere_and_v100):
    assert devices.cuda_has_bf16(torch.device("cuda", 1)) is False
    assert devices.cuda_has_bf16("cuda:0") is True
    assert devices.cuda_has_bf16("cuda") and devices.cuda_has_bf16()  # the current GPU


def test_auto_precision_on_a_v100_beside_an_ampere_is_float16(ampere_and_v100):
    assert devices.cuda_auto_precision(None, torch.device("cuda", 1)) == "float16"
    assert devices.cuda_auto_precision(None, torch.device("cuda", 0)) == "bfloat16"
    assert devices.cuda_auto_precision(None) == "bfloat16"


def test_the_run_and_training_ask_the_gpu_they_run_on(ampere_and_v100):
    """Inference's precision 'auto' and training's amp 'auto' on cuda:1 (a V100 beside an
    Ampere GPU 0): float16, as the README promises for GPUs without bf16 units."""
    from napari_microdeblur.core.method import auto_precision
    from napari_microdeblur.core.training.setup import resolve_amp

    assert auto_precision(torch.device("cuda", 1)) == "float16"
    assert auto_precision(torch.device("cuda", 0)) == "bfloat16"
    assert resolve_amp("auto", torch.device("cuda", 1)) == "fp16"


# ----------------------------------------------------------------------------- 3. OOM retry


def test_out_of_memory_retry_frees_the_failed_attempt_first(monkeypatch):
    """A tile above 32 px runs out of memory: the retry at 32 px gives what tile=32 gives, and
    when the cache is emptied the failed attempt's tensor is gone (in the except block its
    traceback held it: nothing was freed)."""
    from napari_microdeblur.core import tiling
    from napari_microdeblur.core.inference import Method, deblur

    held, alive_at_release = [], []

    def forward(x):  # a 3 x 3 mean: the merge of overlapping tiles matters
        activation = torch.empty(x.shape[0], 64, *x.shape[-2:])  # what the failed run held
        held.append(weakref.ref(activation))
        if x.shape[-1] > 32:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1,
                                              count_include_pad=False)

    method = Method("mean3", forward=forward, halo=1, normalization="none")
    image = blobs(96)
    expected = deblur(image, method=method, tile=32, overlap=8, device="cpu")
    held.clear()
    # the run on a CUDA device (the tiles themselves stay on the CPU)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    apply = tiling.iter_tiled_apply
    monkeypatch.setattr(tiling, "iter_tiled_apply",
                        lambda *a, device, **k: apply(*a, device=torch.device("cpu"), **k))
    monkeypatch.setattr(torch.cuda, "empty_cache",
                        lambda: alive_at_release.append([r() is not None for r in held]))
    out = deblur(image, method=method, tile=64, overlap=8, device="cuda")
    np.testing.assert_array_equal(out, expected)
    assert alive_at_release == [[False]]  # one retry, its failed tile's tensor freed


def test_the_mps_cache_is_emptied_too(monkeypatch):
    emptied = []
    monkeypatch.setattr(torch.mps, "empty_cache", lambda: emptied.append(1))
    devices.release_cached(torch.device("mps"))
    devices.release_cached(torch.device("cpu"))
    assert emptied == [1]
