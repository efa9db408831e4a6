"""Device names and devices without autocast, from a review walkthrough: a malformed CUDA name
('cuda:x', 'cuda:-1') gave torch's traceback, 'cuda:N' past the last GPU failed only at the
first tile, 'cpu:0' and 'mps:0' were refused; ``torch.autocast(device, enabled=False)`` raised
on MPS under torch 2.1-2.4 (no MPS autocast there); the dock offered only 'cuda' and devices
absent here; ``finetune`` without a pair refused ``steps=`` and its result had no summary.

No GPU or MPS here: their presence is monkeypatched, and "a device whose autocast this torch
lacks" is the CPU with ``devices.autocast_supported`` saying no and ``torch.autocast`` raising
as torch 2.1 did for 'mps'."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from napari_microdeblur.core import devices
from napari_microdeblur.core.notes import DeblurNote


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=None: f"Fake GPU {i}")


@pytest.fixture
def fake_mps(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)


@pytest.mark.parametrize("name", ["cuda:x", "cudax", "cuda:-1", "cuda:0:1", "cuda 0"])
def test_malformed_cuda_name_is_refused_in_one_line(two_gpus, name):
    with pytest.raises(ValueError, match=r"is not one of 'auto', 'cpu', 'cuda', 'cuda:N'") as e:
        devices.resolve_device(name)
    assert "\n" not in str(e.value)


def test_cli_says_one_line_for_a_malformed_cuda_name(tmp_path):
    """The walkthrough's repro: CUDA faked in a subprocess, 'cuda:x' through the CLI."""
    script = (
        "import sys, numpy as np, tifffile, torch\n"
        "torch.cuda.is_available = lambda: True\n"
        "from napari_microdeblur.cli import main\n"
        f"tifffile.imwrite({str(tmp_path / 'in.tif')!r}, np.ones((32, 32), np.uint8))\n"
        f"sys.argv = ['microdeblur', 'deblur', {str(tmp_path / 'in.tif')!r}, '-o', "
        f"{str(tmp_path / 'o.tif')!r}, '--method', 'wiener', '--psf', 'gaussian:1.6', "
        "'--device', 'cuda:x']\n"
        "sys.exit(main())\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr and "Invalid device string" not in run.stderr
    assert "--device 'cuda:x' is not one of" in run.stderr
    assert not (tmp_path / "o.tif").exists()


def test_whitespace_around_a_cuda_name_is_ignored(two_gpus):
    assert devices.resolve_device("cuda:0 ") == torch.device("cuda", 0)
    assert devices.resolve_device(" CUDA:1") == torch.device("cuda", 1)
    assert devices.resolve_device("cuda") == torch.device("cuda")


@pytest.mark.parametrize("device", ["cuda:2", "cuda:17", torch.device("cuda", 2)])
def test_gpu_past_the_last_is_refused_naming_the_gpus_there_are(two_gpus, device):
    with pytest.raises(ValueError, match=r"there is no GPU \d+; this machine has 2: "
                       r"cuda:0 \(Fake GPU 0\), cuda:1 \(Fake GPU 1\)") as e:
        devices.resolve_device(device)
    assert "\n" not in str(e.value)


def test_cpu0_and_mps0_are_accepted_as_cpu_and_mps(fake_mps):
    assert devices.resolve_device("cpu:0") == torch.device("cpu")
    assert devices.resolve_device("mps:0") == torch.device("mps")
    assert str(devices.resolve_device("mps:0")) == "mps"  # one name per device (provenance)
    for name in ("cpu:1", "mps:1"):
        with pytest.raises(ValueError, match=r"there is one (CPU|MPS) device; use"):
            devices.resolve_device(name)


def test_autocast_supported_asks_torch_for_mps(monkeypatch):
    assert devices.autocast_supported("cpu") and devices.autocast_supported("cuda")
    monkeypatch.setattr(torch.amp, "is_autocast_available", lambda d: d != "mps",
                        raising=False)
    assert not devices.autocast_supported("mps")
    monkeypatch.setattr(torch.amp, "is_autocast_available", lambda d: True)
    assert devices.autocast_supported("mps")
    monkeypatch.delattr(torch.amp, "is_autocast_available")  # torch < 2.4
    assert not devices.autocast_supported("mps")


def test_full_precision_turns_autocast_off_where_there_is_one():
    a = torch.ones(4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert (a @ a).dtype == torch.bfloat16
        with devices.full_precision("cpu"):
            assert (a @ a).dtype == torch.float32


class Torch21Autocast:
    """torch.autocast as torch 2.1 answered 'mps': refused even with enabled=False."""

    def __init__(self, device_type, *args, **kwargs):
        raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")


@pytest.fixture
def no_autocast_here(monkeypatch):
    monkeypatch.setattr(devices, "autocast_supported", lambda device_type: False,
                        raising=False)
    monkeypatch.setattr(torch, "autocast", Torch21Autocast)


def test_full_precision_is_a_no_op_without_autocast(no_autocast_here):
    assert isinstance(devices.full_precision("mps"), contextlib.nullcontext)


def _blobs(size=64):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:size, :size]
    img = np.zeros((size, size), np.float32)
    for cy, cx in rng.integers(8, size - 8, (6, 2)):
        img += 100 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 8.0)
    return img + 5 + rng.normal(0, 1, img.shape).astype(np.float32)


def test_psf_aware_network_runs_where_torch_has_no_autocast(no_autocast_here):
    """wiener_unet's and psf_aware's float32 sections (grayscale and RGB) ask full_precision."""
    from napari_microdeblur.core.inference import deblur

    gray = deblur(_blobs(), method="auto", psf="gaussian:1.6", axes="YX", device="cpu",
                  precision="float32")
    assert gray.shape == (64, 64) and np.isfinite(gray).all()
    rgb = np.stack([_blobs(), _blobs()[::-1], _blobs()[:, ::-1]], axis=-1).astype(np.uint8)
    out = deblur(rgb, method="auto", psf="gaussian:1.6", axes="YXS", device="cpu",
                 precision="float32")
    assert out.shape == rgb.shape and np.isfinite(out).all()


def test_the_safeguards_wiener_runs_where_torch_has_no_autocast(no_autocast_here):
    from napari_microdeblur.core.psf_safeguard import conservative_wiener

    x = torch.from_numpy(_blobs())[None, None]
    y = conservative_wiener(x, _gaussian())
    assert y.shape == x.shape and bool(torch.isfinite(y).all())


def test_bf16_training_is_refused_where_torch_has_no_autocast(monkeypatch):
    from napari_microdeblur.core.training.setup import resolve_amp

    assert resolve_amp("bf16", torch.device("cpu")) == "bf16"
    monkeypatch.setattr("napari_microdeblur.core.training.setup.autocast_supported",
                        lambda device_type: False)
    with pytest.raises(ValueError, match="amp='bf16' needs autocast on cpu"):
        resolve_amp("bf16", torch.device("cpu"))


def _gaussian(sigma=1.6, half=6):
    r = torch.arange(-half, half + 1, dtype=torch.float32)
    g = torch.exp(-(r[:, None] ** 2 + r[None] ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def test_reduced_precision_without_autocast_runs_in_float32_with_a_note(no_autocast_here):
    conv = torch.nn.Conv2d(1, 1, 3, padding=1)
    x = torch.randn(1, 1, 16, 16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = devices.forward_in(conv, x, "bfloat16")
    notes = [w for w in caught if issubclass(w.category, DeblurNote)]
    assert len(notes) == 1 and "computed in float32" in str(notes[0].message)
    assert y.dtype == torch.float32 and torch.equal(y, conv(x))


def test_dock_offers_only_devices_that_exist(monkeypatch):
    from napari_microdeblur._widgets import _panels

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert _panels.device_choices() == ("auto", "cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert _panels.device_choices() == ("auto", "cpu", "mps")


def test_dock_offers_each_gpu_when_there_are_several(monkeypatch, two_gpus):
    from napari_microdeblur._widgets import _panels

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert _panels.device_choices() == ("auto", "cpu", "cuda", "cuda:0", "cuda:1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert _panels.device_choices() == ("auto", "cpu", "cuda")  # one GPU: 'cuda' names it


def test_device_row_lists_the_gpus_and_names_them(qtbot, monkeypatch, two_gpus):
    from qtpy.QtCore import Qt

    from napari_microdeblur._widgets._panels import DeviceRow

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    row = DeviceRow("where")
    qtbot.addWidget(row)
    texts = [row.combo.itemText(i) for i in range(row.combo.count())]
    assert texts == ["auto", "cpu", "cuda", "cuda:0", "cuda:1"]
    row.combo.setCurrentText("cuda:1")
    assert row.device == "cuda:1" and "not available" not in row.resolved_label.text()
    tip = row.combo.itemData(texts.index("cuda:1"), Qt.ToolTipRole)
    assert tip == "cuda:1 (Fake GPU 1)"


def _tiny_network():
    from napari_microdeblur.core import registry

    torch.manual_seed(0)
    return registry.build_model("c2f_unet", {**registry.get_arch("c2f_unet").tiny_config,
                                             "global_skip": True})


def test_finetune_without_a_pair_takes_steps_and_has_a_summary():
    from napari_microdeblur.core.finetune import finetune

    result = finetune((_tiny_network(), None), _blobs(96), psf="gaussian:1.6", minutes=30.0,
                      steps=2, patch=32, batch_size=2, device="cpu")
    assert result.steps_done == 2 and result.config.max_steps == 2
    summary = result.summary
    assert isinstance(summary, str) and "\n" not in summary
    assert "for 2 steps" in summary and "step limit reached" in summary
    assert f"{result.start_val_loss:.3f}" in summary and "PSF gaussian:1.6" in summary


def test_finetune_refuses_two_different_step_bounds():
    from napari_microdeblur.core.finetune import finetune

    with pytest.raises(TypeError, match=r"steps=2 and max_steps=3; give one"):
        finetune((_tiny_network(), None), _blobs(96), psf="gaussian:1.6", steps=2,
                 max_steps=3, device="cpu")
