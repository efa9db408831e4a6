"""Half precision on GPUs without bfloat16, and the free-memory query behind the dock's auto tile.

No GPU here: CUDA is mocked, and float16 runs under CPU autocast, which casts the same
operations (convolutions, matmuls) to float16 as CUDA autocast does. GRAN's GRAB block sums
over every position of a tile before dividing by their number: under float16 that sum is inf
from 384 px tiles (gran.em_v1), so ``auto_precision`` must not pick float16 for it.
"""

import numpy as np
import pytest
import tifffile
import torch

from napari_microdeblur.core import devices, memory
from napari_microdeblur.core.archs.c2f_unet import C2FUNet
from napari_microdeblur.core.archs.gran import GRAN, TINY_CONFIG
from napari_microdeblur.core.checkpoint import load_model
from napari_microdeblur.core.method import NetworkRunner, auto_precision

CUDA = torch.device("cuda")
SAMPLE = "src/napari_microdeblur/samples/em_celegans_empiar10982_z0017_protocolC.tif"


@pytest.fixture
def cuda_without_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)


def test_auto_is_float32_for_gran_on_cuda_without_bf16(cuda_without_bf16):
    assert auto_precision(CUDA, GRAN(**TINY_CONFIG)) == "float32"
    assert auto_precision(CUDA, C2FUNet(base_channels=4, levels=2, depth=3)) == "float16"
    assert auto_precision(CUDA) == "float16"  # no model: as before


def test_auto_keeps_bf16_for_gran_where_cuda_has_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert auto_precision(CUDA, GRAN(**TINY_CONFIG)) == "bfloat16"


def test_float16_overflows_is_what_float16_does_to_gran_em():
    """The rule holds only while GRAB overflows: at a 384 px tile float16 gives inf/NaN where
    bfloat16 and float32 stay finite (a GRAB that sums in float32 sets float16_safe)."""
    model, _card = load_model("gran.em_v1")
    a = tifffile.imread(SAMPLE).astype(np.float32)
    lo, hi = np.percentile(a, [0.1, 99.9])
    a = np.pad((a - lo) / (hi - lo), ((0, 128), (0, 128)), mode="symmetric").astype(np.float32)
    x = torch.from_numpy(a)[None, None]
    assert torch.isfinite(NetworkRunner(model, "bfloat16")(x)).all()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.float16):
        half = model.eval()(x)  # the network itself: the runner computes an overflow again
    half_finite = bool(torch.isfinite(half).all())
    assert devices.float16_overflows(model) == (not half_finite)


def test_free_memory_on_cuda_counts_torch_cached_blocks(monkeypatch):
    gib = 1 << 30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (3 * gib, 16 * gib))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 5 * gib)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 1 * gib)
    assert memory.free_memory_bytes(CUDA) == 7 * gib


def test_free_memory_on_cuda_when_the_driver_cannot_say(monkeypatch):
    def fail(device=None):
        raise RuntimeError("CUDA error: unknown error")

    monkeypatch.setattr(torch.cuda, "mem_get_info", fail)
    free = memory.free_memory_bytes(CUDA)
    assert free == memory.UNKNOWN_FREE  # a guess, not the host's RAM
    gran = type("M", (), {"parameters": {"card": {"config": {"n_feats": 48}}},
                          "normalization": "percentile", "halo": 40, "size_divisor": 2})()
    assert memory.auto_tile_size(gran, CUDA) == 590  # sqrt(2 GiB / 4 / (4 * 8 * 48)), even


def test_free_memory_on_mps(monkeypatch):
    monkeypatch.setattr(torch.mps, "recommended_max_memory", lambda: 10 << 30, raising=False)
    monkeypatch.setattr(torch.mps, "driver_allocated_memory", lambda: 4 << 30, raising=False)
    assert memory.free_memory_bytes("mps") == 6 << 30


def test_the_runner_asks_auto_about_its_own_model(cuda_without_bf16):
    """auto_precision took the model, but NetworkRunner asked without it: GRAN still got
    float16 on such GPUs."""
    assert NetworkRunner(GRAN(**TINY_CONFIG)).resolved_precision(CUDA) == "float32"
    assert NetworkRunner(GRAN(**TINY_CONFIG), "float16").resolved_precision(CUDA) == "float16"


def test_a_float16_overflow_is_computed_again_in_float32():
    """A network whose float16 output is inf (chosen by the user, or one not in the list)
    gave a blank tile; it is computed again in float32, with one warning."""
    conv = torch.nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1e5)  # 1e5 > float16's 65504
    x = torch.ones(1, 1, 8, 8)
    with pytest.warns(RuntimeWarning, match="overflowed in float16"):
        y = devices.forward_in(conv, x, "float16")
    assert torch.isfinite(y).all() and float(y.max()) == pytest.approx(1e5)
    assert torch.equal(devices.forward_in(conv, x, "float32"), conv(x))
