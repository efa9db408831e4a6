"""The same weights and model card saved again give the same bytes (walkthrough "repro": two
identical fine-tunes wrote last.safetensors under two sha256s, because safetensors writes its
metadata keys in a random order, and a deblur's record names weights by that sha256)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from napari_microdeblur.core.checkpoint import CARD_KEY, load_model, save_weights
from napari_microdeblur.core.registry import build_model, get_arch

CARD = {"training_data": "ftstack.tif, 20 steps at 0.1 µm/px (Ångström-free)",
        "degradation": "widefield blur\nand noise", "metrics": {"psnr": 31.25, "ssim": 0.9},
        "license": "CC-BY-4.0", "description": "a fine-tune, saved ten times"}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny(arch: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(arch, get_arch(arch).tiny_config)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def header_of(path: Path) -> tuple[int, bytes]:
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    return size, raw[8:8 + size]


@pytest.mark.parametrize("arch", ["gran", "c2f_unet"])
def test_the_same_weights_and_card_saved_ten_times_have_one_sha256(tmp_path, arch):
    model = tiny(arch)
    paths = [tmp_path / f"w{i}.safetensors" for i in range(10)]
    for path in paths:  # each save a fresh HashMap: two metadata keys, two orders
        save_weights(model, path, CARD)
    save_weights(model, paths[0], CARD)  # written again over itself
    hashes = {digest(p) for p in paths}
    assert len(hashes) == 1, f"{len(hashes)} different sha256 for one model and card: {hashes}"


@pytest.mark.parametrize("arch", ["gran", "c2f_unet"])
def test_the_file_keeps_the_safetensors_layout_and_loads_with_its_card(tmp_path, arch):
    model = tiny(arch)
    path = tmp_path / "w.safetensors"
    save_weights(model, path, CARD)
    size, text = header_of(path)
    # the format: u64 little-endian header size, a JSON header padded with spaces, the data
    assert size % 8 == 0 and text.startswith(b"{") and text.rstrip(b" ").endswith(b"}")
    header = json.loads(text)
    assert list(header)[0] == "__metadata__"
    assert list(header["__metadata__"]) == sorted(header["__metadata__"])
    # the data are safetensors' own, byte for byte, at the offsets its header gives
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    own = safetensors_bytes(state)
    assert path.read_bytes()[8 + size:] == own[8 + int.from_bytes(own[:8], "little"):]
    with safe_open(str(path), framework="pt", device="cpu") as f:
        meta = f.metadata()
    assert meta["format"] == "pt" and json.loads(meta[CARD_KEY])["training_data"] == \
        CARD["training_data"]
    loaded = load_file(str(path))
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    again, card = load_model(path)
    assert card.training_data == CARD["training_data"] and card.degradation == CARD["degradation"]
    assert card.metrics == CARD["metrics"] and card.sha256 == digest(path)
    assert all(torch.equal(again.state_dict()[k], state[k]) for k in state)
