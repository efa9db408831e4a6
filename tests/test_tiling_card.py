"""A weights card's measured tiling (halo, tile) is what the tiler uses."""

import numpy as np
import torch

from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.method import MethodSpec, network_method
from napari_microdeblur.core.registry import build_model


def _tiny_c2f():
    torch.manual_seed(0)
    return build_model("c2f_unet", {"levels": 2, "depth": 3, "base_channels": 4,
                                    "global_skip": True}).eval()


def test_card_tiling_overrides_the_theoretical_receptive_field(tmp_path):
    model = _tiny_c2f()
    plain = tmp_path / "plain.safetensors"
    measured = tmp_path / "measured.safetensors"
    save_weights(model, plain)
    save_weights(model, measured, {"tiling": {"halo": 6, "tile": 64}})
    m_plain = MethodSpec("auto", weights=str(plain)).resolve()
    m_measured = MethodSpec("auto", weights=str(measured)).resolve()
    assert m_plain.halo == model.receptive_field > 6
    assert m_plain.default_tile is None
    assert (m_measured.halo, m_measured.default_tile) == (6, 64)
    # the card round-trips
    assert load_model(measured)[1].tiling == {"halo": 6, "tile": 64}


def test_global_skip_tiles_exactly_at_the_theoretical_halo():
    model = _tiny_c2f()
    image = np.random.default_rng(0).random((200, 200)).astype(np.float32)
    method = network_method(model, precision="float32")
    halo = method.halo
    whole = deblur(image, method=method, tile=208, overlap=0, device="cpu")
    tiled = deblur(image, method=method, tile=2 * halo + 32, overlap=2 * halo, device="cpu")
    assert np.abs(tiled - whole).max() < 1e-4


def test_border_mirror_is_a_reflect_pad_around_the_same_network():
    mirrored = build_model("c2f_unet", {"levels": 2, "depth": 3, "base_channels": 4,
                                        "global_skip": True, "border_mirror": 4}).eval()
    bare = _tiny_c2f()
    bare.load_state_dict(mirrored.state_dict())
    x = torch.rand(1, 1, 32, 48)
    with torch.no_grad():
        expected = bare(torch.nn.functional.pad(x, (4, 4, 4, 4), mode="reflect"))[..., 4:-4, 4:-4]
        assert torch.allclose(mirrored(x), expected, atol=1e-6)
        # the coarse level is cropped by half as much and keeps the half-size shape
        assert [tuple(y.shape[-2:]) for y in mirrored.forward_pyramid(x)] == [(16, 24), (32, 48)]
        # an input too small for the mirror gets it reflected again, never an error
        assert mirrored(torch.rand(1, 1, 4, 4)).shape[-2:] == (4, 4)


def test_border_mirror_must_crop_back_exactly():
    import pytest

    with pytest.raises(ValueError, match="multiple of 2"):
        build_model("c2f_unet", {"levels": 2, "depth": 3, "border_mirror": 3})
