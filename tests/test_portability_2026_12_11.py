"""What runs on other hardware than this CPU: Apple MPS (no float64, autocast dtypes by torch
version), CUDA GPUs without bfloat16 units (T4, V100), and the device names the focus score
takes. No GPU here: the device's limits are emulated (a torch function mode refusing what MPS
refuses, a torch.autocast as an older torch's, a patched ``torch.cuda``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from napari_microdeblur.core import devices, registry
from napari_microdeblur.core.notes import DeblurNote

WIDE = torch.float64


class MpsCopies(TorchFunctionMode):
    """Refuses what MPS refuses: a ``Tensor.to`` that moves between devices and widens to (or
    narrows from) float64 in one call does the cast on the device side, where MPS has no
    float64 ('Cannot convert a MPS Tensor to float64 dtype')."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") == "to" and args and isinstance(args[0], torch.Tensor):
            rest = list(args[1:]) + list(kwargs.values())
            moves = any(isinstance(a, (str, torch.device)) for a in rest)
            dtype = next((a for a in rest if isinstance(a, torch.dtype)), args[0].dtype)
            if moves and WIDE in (dtype, args[0].dtype) and dtype != args[0].dtype:
                raise RuntimeError("Cannot convert a MPS Tensor to float64 dtype")
        return func(*args, **kwargs)


def _patches(seed: int, sigma: float) -> torch.Tensor:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random((4, 1, 32, 32)), (0, 0, sigma, sigma))
    return torch.from_numpy(x.astype(np.float32))


def test_spectrum_match_moves_then_widens_and_the_gradient_reaches_the_kernel():
    from napari_microdeblur.core.training.regimes.spectrum_match import SpectrumMatch

    match = SpectrumMatch(2)
    kernel = torch.rand(5, 5, requires_grad=True)
    with MpsCopies():
        match.update(_patches(0, 1.5), _patches(1, 0.3))
        loss = match.loss(kernel / kernel.sum())
        loss.backward()
    assert loss.dtype == torch.float32 and bool(torch.isfinite(loss))
    assert kernel.grad is not None and float(kernel.grad.abs().sum()) > 0


def _tiny(arch: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return registry.build_model(arch, registry.get_arch(arch).tiny_config)


@pytest.fixture
def t4(monkeypatch):
    """A CUDA GPU whose bfloat16 is emulated only (T4, V100): torch's is_bf16_supported()
    says yes unless asked without emulation."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: including_emulation)


def test_amp_auto_trains_gran_in_float32_on_a_gpu_without_bf16(t4):
    from napari_microdeblur.core.training.setup import resolve_amp

    gpu = torch.device("cuda")
    assert devices.float16_overflows(_tiny("gran"))
    assert resolve_amp("auto", gpu, _tiny("gran")) == "off"  # fp16 overflows in GRAB
    assert resolve_amp("auto", gpu, _tiny("c2f_unet")) == "fp16"
    assert resolve_amp("auto", torch.device("cpu"), _tiny("c2f_unet")) == "off"


def test_amp_auto_is_bf16_on_a_gpu_with_bf16_units(monkeypatch):
    from napari_microdeblur.core.training.setup import resolve_amp

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert resolve_amp("auto", torch.device("cuda"), _tiny("gran")) == "bf16"


def test_the_run_says_why_amp_auto_chose_float32(t4):
    from napari_microdeblur.core import training
    from napari_microdeblur.core.training.setup import prepare

    rng = np.random.default_rng(0)
    sharp = rng.random((64, 64)).astype(np.float32)
    config = training.TrainingConfig(regime="supervised", steps=1, patch=32, device="cuda",
                                     perceptual_features="none")
    setup = prepare(_tiny("gran"), config, (sharp * 0.9, sharp), None, {}, None)
    assert setup.amp == "off"
    assert any(n.startswith("amp auto: float32") and "GRAB" in n for n in setup.notes)
    plain = prepare(_tiny("c2f_unet"), config, (sharp * 0.9, sharp), None, {}, None)
    assert plain.amp == "fp16" and not any(n.startswith("amp") for n in plain.notes)


def _blobs(size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:size, :size]
    img = np.zeros((size, size), np.float32)
    for cy, cx in rng.integers(8, size - 8, (6, 2)):
        img += 100 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 8.0)
    return img + 5 + rng.normal(0, 1, img.shape).astype(np.float32)


def test_focus_score_takes_the_device_names_deblur_takes(monkeypatch):
    from napari_microdeblur.core.focus import focus_score

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    img = _blobs()
    assert focus_score(img, axes="YX", device="auto") == focus_score(img, axes="YX")
    assert focus_score(img, axes="YX", device="cpu:0") == focus_score(img, axes="YX")
    with pytest.raises(ValueError, match="CUDA is not available here"):
        focus_score(img, axes="YX", device="cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"Fake GPU {i}")
    with pytest.raises(ValueError, match="there is no GPU 5; this machine has 2"):
        focus_score(img, axes="YX", device="cuda:5")


class Torch25MpsAutocast(torch.autocast):
    """torch.autocast as torch 2.5 ran on MPS: float16 only; bfloat16 switched off with a
    warning, so the body ran in float32 (here on the CPU, which has no MPS)."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if enabled and dtype is not None and dtype != torch.float16:
            warnings.warn("In MPS autocast, but the target dtype is not supported. Disabling "
                          "autocast.", stacklevel=2)
            enabled = False
        super().__init__(device_type, dtype=dtype, enabled=enabled,
                         cache_enabled=cache_enabled)


def test_the_installed_torch_is_asked_which_dtypes_autocast_on_mps():
    # torch 2.13 (installed) autocasts bfloat16 and float16 on MPS, float32 never
    assert devices.autocasts_to("mps", torch.bfloat16)
    assert devices.autocasts_to("mps", torch.float16)
    assert not devices.autocasts_to("mps", torch.float32)
    assert devices.runs_in("mps", "bfloat16") == "bfloat16"


def test_bf16_that_autocast_switches_off_runs_float32_with_a_note(monkeypatch):
    from napari_microdeblur.core.training.setup import resolve_amp

    monkeypatch.setattr(torch, "autocast", Torch25MpsAutocast)
    assert not devices.autocasts_to("cpu", torch.bfloat16)
    assert devices.runs_in("cpu", "bfloat16") == "float32"
    assert devices.runs_in("cpu", "float16") == "float16"
    conv = torch.nn.Conv2d(1, 1, 3, padding=1)
    x = torch.randn(1, 1, 16, 16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = devices.forward_in(conv, x, "bfloat16")
    notes = [w for w in caught if issubclass(w.category, DeblurNote)]
    assert len(notes) == 1 and "computed in float32" in str(notes[0].message)
    assert torch.equal(y, conv(x))
    with pytest.raises(ValueError, match="amp='bf16' needs autocast on cpu to bfloat16"):
        resolve_amp("bf16", torch.device("cpu"))


def test_cuda_has_bf16_means_bf16_units_not_emulation(t4):
    assert not devices.cuda_has_bf16()
    assert devices.cuda_auto_precision(_tiny("gran")) == "float32"
    assert devices.cuda_auto_precision(_tiny("c2f_unet")) == "float16"


def test_an_rgb_only_network_gets_a_grey_rgb_image_as_rgb():
    from napari_microdeblur.core.grey_rgb import GREY_RGB_NOTE
    from napari_microdeblur.core.inference import deblur

    grey = np.clip(_blobs(), 0, 255).astype(np.uint8)
    rgb = np.stack([grey] * 3, axis=-1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deblur(rgb, method="gran.hist_v1", axes="YXS", device="cpu")
    assert out.shape == rgb.shape and np.isfinite(out).all()
    assert not any(GREY_RGB_NOTE in str(w.message) for w in caught)
    with warnings.catch_warnings(record=True) as caught:  # a grey network still runs it grey
        warnings.simplefilter("always")
        grey_out = deblur(rgb, method="c2f_unet.brightfield_v2", axes="YXS", device="cpu")
    assert any(GREY_RGB_NOTE in str(w.message) for w in caught)
    assert np.array_equal(grey_out[..., 0], grey_out[..., 2])


def test_training_batches_copy_asynchronously_only_to_cuda(monkeypatch):
    """A non-blocking host-to-MPS copy can read a batch after it is freed (pytorch#139550):
    the trainer's batches go asynchronously to CUDA only."""
    from napari_microdeblur.core.training.loop import Trainer

    asked = []
    real_to = torch.Tensor.to

    def spy(self, *args, **kwargs):
        asked.append(kwargs.get("non_blocking"))
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", spy)
    trainer = object.__new__(Trainer)  # only the device matters to tensor()
    for device, expected in (("cpu", False), ("meta", False)):
        trainer.device = torch.device(device)
        asked.clear()
        out = trainer.tensor(np.zeros((2, 3), np.float32))
        assert out.device.type == device and asked == [expected]


def test_network_auto_precision_on_cuda_counts_only_real_bf16_units(monkeypatch):
    """A T4 or V100 only emulates bf16 (torch.cuda.is_bf16_supported() says yes): a network
    left to choose runs float16 there, float32 where it overflows in float16."""
    from napari_microdeblur.core import method

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(devices, "cuda_has_bf16", lambda: False)
    small = torch.nn.Conv2d(1, 1, 3)
    assert method.auto_precision(torch.device("cuda"), small) == "float16"
    monkeypatch.setattr(devices, "float16_overflows", lambda model: True)
    assert method.auto_precision(torch.device("cuda"), small) == "float32"
    monkeypatch.setattr(devices, "cuda_has_bf16", lambda: True)
    assert method.auto_precision(torch.device("cuda"), small) == "bfloat16"


def test_the_record_says_float32_where_torch_has_no_autocast_to_the_precision(monkeypatch):
    from napari_microdeblur.core.method import NetworkRunner

    monkeypatch.setattr(devices, "autocasts_to", lambda device_type, dtype: False)
    runner = NetworkRunner(torch.nn.Conv2d(1, 1, 3), precision="bfloat16")
    assert runner.resolved_precision(torch.device("mps")) == "float32"
    assert runner.resolved_precision(torch.device("cpu")) == "float32"
    monkeypatch.setattr(devices, "autocasts_to", lambda device_type, dtype: True)
    assert runner.resolved_precision(torch.device("cpu")) == "bfloat16"
