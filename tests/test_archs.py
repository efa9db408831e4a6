"""Architectures and registry: tiny configs on CPU, paper parameter counts, GRAB, PSF layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from napari_microdeblur.core import registry
from napari_microdeblur.core.registry import (
    build_model,
    get_arch,
    list_archs,
    list_presets,
    preset_config,
)

ARCHS = list_archs()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: OpenMP hand-offs dominate on a shared 2-core machine (x100 slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


PAPER_ARCHS = {"gran", "c2f_unet", "sgpn", "psf_cyclegan"}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_model(name: str, config=None) -> torch.nn.Module:
    """Build without allocating or initialising real memory (for parameter counts)."""
    with torch.device("meta"):
        return build_model(name, config)


def forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model on x; a PSF-aware model gets a small Gaussian PSF (sigma 1)."""
    if getattr(model, "needs_psf", False):
        r = torch.arange(-2, 3, dtype=torch.float32)
        g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / 2)
        return model(x, g / g.sum())
    return model(x)


def tiny(name: str, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, {**get_arch(name).tiny_config, **overrides})


def test_all_paper_archs_registered():
    assert PAPER_ARCHS <= set(ARCHS)
    assert ARCHS == sorted(ARCHS)


@pytest.mark.parametrize("name", ARCHS)
def test_every_arch_has_tiny_config_description_and_presets(name):
    rec = get_arch(name)
    assert rec.tiny_config, f"{name} registered without a tiny config"
    assert rec.description
    assert {"paper", "tiny"} <= set(list_presets(name))
    if name in PAPER_ARCHS:  # the papers' networks are too big for a CPU: each has a small one
        assert "cpu_small" in list_presets(name)
    assert preset_config(name, "paper") == {}
    assert preset_config(name, "tiny") == rec.tiny_config
    cfg_cls = rec.config_cls
    assert cfg_cls.model_config.get("extra") == "forbid"
    assert all(f.description for f in cfg_cls.model_fields.values())
    assert {"in_channels", "out_channels"} <= set(cfg_cls.model_fields)
    assert rec.module_cls.__doc__ and len(rec.module_cls.__doc__) > 20


def test_register_arch_refuses_missing_tiny_config_and_duplicates():
    class DummyConfig(BaseModel):
        model_config = ConfigDict(extra="forbid")
        in_channels: int = Field(1, description="in")

    class Dummy(torch.nn.Module):
        pass

    with pytest.raises(ValueError, match="tiny_config"):
        registry.register_arch("dummy_arch", Dummy, DummyConfig, tiny_config={}, description="d")
    with pytest.raises(ValueError, match="already registered"):
        registry.register_arch(
            "gran", Dummy, DummyConfig, tiny_config={"in_channels": 1}, description="d"
        )

    class Loose(BaseModel):
        in_channels: int = Field(1, description="in")

    with pytest.raises(ValueError, match="extra"):
        registry.register_arch(
            "loose_arch", Dummy, Loose, tiny_config={"in_channels": 1}, description="d"
        )
    assert "dummy_arch" not in list_archs() and "loose_arch" not in list_archs()


def test_build_model_errors_name_field_and_arch():
    with pytest.raises(ValueError, match=r"unknown architecture 'nope'.*gran"):
        build_model("nope")
    with pytest.raises(ValueError, match=r"'gran'.*unknown field 'bogus'"):
        build_model("gran", {"bogus": 1})
    with pytest.raises(ValueError, match=r"'c2f_unet'.*levels"):
        build_model("c2f_unet", {"levels": 7})
    with pytest.raises(ValueError, match="no preset"):
        preset_config("gran", "huge")
    cfg = get_arch("gran").config_cls(**get_arch("gran").tiny_config)
    assert build_model("gran", cfg).config == cfg


@pytest.mark.parametrize("name", ARCHS)
def test_tiny_forward_backward_keeps_shape(name):
    model = tiny(name)
    for attr in (
        "size_divisor",
        "receptive_field",
        "in_channels",
        "out_channels",
        "spatial_dims",
        "config",
    ):
        assert hasattr(model, attr), attr
    assert isinstance(model.exact_tiling, bool)
    assert model.receptive_field > 0
    side = 2 * model.size_divisor if model.size_divisor >= 16 else 4 * model.size_divisor
    shape = (2, model.in_channels) + (side,) * model.spatial_dims
    x = torch.rand(shape)
    y = forward(model, x)
    assert y.shape == (2, model.out_channels) + shape[2:]
    if hasattr(model, "forward_pyramid"):  # multi-scale content loss (c2f_unet, eq. 5)
        outs = model.forward_pyramid(x)
        loss = sum((o - t).abs().mean() for o, t in zip(outs, model.input_pyramid(x), strict=True))
    else:
        loss = (y - x).abs().mean()
    loss.backward()
    for pname, p in model.named_parameters():
        if pname.startswith("psf."):  # G_BA is not used by the deblurring forward
            continue
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name", ARCHS)
def test_odd_size_through_reflect_padding(name):
    model = tiny(name).eval()
    d = model.size_divisor
    spatial = (37, 29) if model.spatial_dims == 2 else (11, 13, 9)
    x = torch.rand((1, model.in_channels) + spatial)
    pads = []
    for s in reversed(spatial):
        pads += [0, (-s) % d]
    mode = "reflect" if model.spatial_dims == 2 else "replicate"
    with torch.no_grad():
        y = forward(model, F.pad(x, pads, mode=mode))
    y = y[(slice(None), slice(None)) + tuple(slice(0, s) for s in spatial)]
    assert y.shape == (1, model.out_channels) + spatial


EXACT_TILING_CASES = [
    ("gran", {"use_grab": False}),
    ("c2f_unet", {}),
    ("c2f_unet", {"interaction": "concat"}),
    ("sgpn", {"norm": "none"}),
]


@pytest.mark.parametrize(("name", "overrides"), EXACT_TILING_CASES)
def test_receptive_field_is_enough_for_exact_tiles(name, overrides):
    """A crop with a halo of receptive_field (aligned to size_divisor) gives the same centre.

    The image is tall and narrow and only cropped along Y, so the test stays cheap.
    """
    model = tiny(name, **overrides).eval().double()
    assert model.exact_tiling
    d, rf = model.size_divisor, model.receptive_field
    halo = -(-rf // d) * d  # round up to the divisor, as the tiler does
    core = d
    height, width = 2 * halo + core + 2 * d, 2 * d
    x = torch.rand(1, model.in_channels, height, width, dtype=torch.float64)
    a = d  # crop origin (aligned); rows [a+halo, a+halo+core) are unaffected by the crop's borders
    with torch.no_grad():
        full = model(x)
        crop = model(x[..., a : a + 2 * halo + core, :])
    torch.testing.assert_close(
        crop[..., halo : halo + core, :],
        full[..., a + halo : a + halo + core, :],
        rtol=1e-10,
        atol=1e-10,
    )


def test_non_local_models_say_so():
    assert not tiny("gran").exact_tiling  # GRAB is global
    assert not tiny("psf_cyclegan").exact_tiling  # instance norm
    assert not tiny("sgpn").exact_tiling  # instance norm


# --------------------------------------------------------------------------- GRAN / GRAB


def test_grab_reordered_equals_explicit_oracle():
    from napari_microdeblur.core.archs.gran import grab_explicit, grab_reordered

    g = torch.Generator().manual_seed(0)
    theta, phi = torch.randn(2, 6, 300, generator=g), torch.randn(2, 6, 300, generator=g)
    v = torch.randn(2, 8, 300, generator=g)
    for normalize in (True, False):
        a = grab_reordered(theta, phi, v, normalize)
        b = grab_explicit(theta, phi, v, normalize)
        assert a.shape == (2, 8, 300)
        assert ((a - b).abs().max() / b.abs().max()) < 1e-4


def test_gran_module_reordered_equals_explicit():
    model = tiny("gran").eval()
    x = torch.rand(1, 1, 24, 20)
    with torch.no_grad():
        y_fast = model(x)
        model.grab.explicit = True
        y_oracle = model(x)
    assert ((y_fast - y_oracle).abs().max() / y_oracle.abs().max()) < 1e-4


def test_gran_paper_config_parameter_count():
    ours = n_params(meta_model("gran"))
    assert ours == 3_195_971
    assert abs(ours - 3.20e6) / 3.20e6 < 0.005  # paper Table 3: 3.20 M (rounded to 0.01 M)
    baseline = n_params(meta_model("gran", {"use_grab": False}))
    assert 0 < ours - baseline < 20_000  # GRAB is four 1x1 convolutions


def test_gran_cpu_small_is_about_a_quarter_of_the_compute():
    from torch.utils.flop_counter import FlopCounterMode

    def flops(cfg):
        model = meta_model("gran", cfg)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(torch.empty(1, 3, 64, 64, device="meta"))
        return counter.get_total_flops()

    ratio = flops(preset_config("gran", "cpu_small")) / flops(None)
    assert 0.2 < ratio < 0.3


def test_gran_discriminator():
    from napari_microdeblur.core.archs.gran import GRANDiscriminator

    d = GRANDiscriminator(in_channels=1, base_channels=4, n_blocks=3, fc_channels=8)
    assert d(torch.rand(2, 1, 24, 24)).shape == (2, 1)


# --------------------------------------------------------------------------- c2f U-Net


def test_c2f_unet_parameter_counts_against_paper():
    def count(**cfg):
        return n_params(meta_model("c2f_unet", cfg))

    res4, cat4 = count(), count(interaction="concat")
    assert res4 == 2_567_764  # ours (eq. 3 included); paper Table 1: 2,569,512 (module docstring)
    assert abs(res4 - 2_569_512) / 2_569_512 < 0.001
    assert cat4 - res4 == 2_942_760 - 2_569_512 == 373_248  # concat weights exactly as in the paper
    assert abs(count(levels=1) - 1_942_962) / 1_942_962 < 0.001
    assert abs(count(levels=3) - 2_543_478) / 2_543_478 < 0.001


def test_c2f_unet_pyramid_coarse_to_fine():
    model = tiny("c2f_unet", levels=3, depth=4)
    x = torch.rand(1, 1, 32, 24)
    outs = model.forward_pyramid(x)
    assert [o.shape[-2:] for o in outs] == [(8, 6), (16, 12), (32, 24)]
    assert [t.shape for t in model.input_pyramid(x)] == [o.shape for o in outs]
    torch.testing.assert_close(model(x), outs[-1])


def test_c2f_unet_finer_level_sees_coarser_output():
    """Eq. 3: the finer level's output depends on the coarser level's output."""
    model = tiny("c2f_unet", levels=2, depth=3).eval()
    x = torch.rand(1, 1, 32, 32)
    before = model(x)
    with torch.no_grad():  # change only the coarsest level's output layer
        model.nets[1].out.bias.add_(1.0)
    assert model.nets[0].enc[0][0].in_channels == 2  # x_n plus the upsampled coarser output
    assert not torch.allclose(model(x), before)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape", [(2, 8, 34, 40), (1, 3, 33, 27)])
def test_c2f_inference_max_pool_equals_max_pool2d(dtype, shape):
    """The index-free pooling used without gradients gives max_pool2d's values exactly (odd
    edges dropped alike, channels-last kept); with gradients max_pool2d itself runs."""
    from napari_microdeblur.core.archs.c2f_unet import _max_pool2

    x = torch.randn(shape).to(dtype).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        fast = _max_pool2(x)
    assert torch.equal(fast, F.max_pool2d(x, 2))
    assert fast.is_contiguous(memory_format=torch.channels_last)
    trained = x.float().requires_grad_()
    _max_pool2(trained).sum().backward()
    assert trained.grad.sum() == np.prod(F.max_pool2d(x.float(), 2).shape)  # one max per window


# --------------------------------------------------------------------------- SGPN


def test_sgpn_parameter_count_near_paper_and_discriminator():
    from napari_microdeblur.core.archs.sgpn import PatchDiscriminator

    ours = n_params(meta_model("sgpn"))
    assert abs(ours - 19.34e6) / 19.34e6 < 0.05  # paper Table 7: 19.34 M; widths not published
    d = PatchDiscriminator(in_channels=1, base_channels=4, n_layers=3)
    out = d(torch.rand(2, 1, 64, 64))
    assert out.shape[:2] == (2, 1) and out.shape[-1] > 1  # one score per patch


# --------------------------------------------------------------------------- PSF CycleGAN


@pytest.mark.parametrize("dims", [2, 3])
def test_psf_layer_stays_a_psf_after_gradient_steps(dims, tmp_path):
    import tifffile

    from napari_microdeblur.core.archs.psf_cyclegan import PSFLayer, export_psf

    layer = PSFLayer(spatial_dims=dims, size=5, init_sigma=1.0)
    opt = torch.optim.SGD(layer.parameters(), lr=50.0)
    shape = (1, 1) + (12,) * dims
    sharp, blurry = torch.rand(shape), torch.rand(shape)
    for _ in range(3):
        opt.zero_grad()
        loss = (layer(sharp) - blurry).pow(2).mean() - layer.kernel().max()
        loss.backward()
        opt.step()
    k = layer.kernel()
    assert (k >= 0).all()
    assert abs(float(k.detach().sum()) - 1.0) < 1e-5
    assert layer(sharp).shape == shape
    path = tmp_path / "psf.tif"
    export_psf(layer, path)
    psf = tifffile.imread(path)
    assert psf.dtype == np.float32 and psf.shape == (5,) * dims
    assert abs(psf.sum() - 1.0) < 1e-5 and psf.min() >= 0
    try:  # readable by the PSF reader that Richardson-Lucy uses
        from napari_microdeblur.core.psf import read_psf
    except ImportError:  # pragma: no cover - core.psf is another module's job
        return
    assert read_psf(path).shape == (5,) * dims


def test_psf_cyclegan_parts():
    from napari_microdeblur.core.archs.psf_cyclegan import MultiScalePatchDiscriminator

    model = tiny("psf_cyclegan", spatial_dims=3, psf_size=4)
    x = torch.rand(1, 1, 8, 8, 8)
    assert model(x).shape == x.shape
    assert model.blur(x).shape == x.shape  # even PSF sizes keep the shape too
    disc = MultiScalePatchDiscriminator(spatial_dims=3, base_channels=2)
    # the paper's 64^3 patches: the quarter crop (16^3) still has 2^3 voxels before the last conv
    outs = disc(torch.rand(1, 1, 64, 64, 64), generator=torch.Generator().manual_seed(0))
    assert len(outs) == 3 and all(o.shape[1] == 1 for o in outs)
    disc2 = MultiScalePatchDiscriminator(spatial_dims=2, base_channels=2)
    crops = disc2.crops(torch.rand(1, 1, 32, 32))
    assert [c.shape[-1] for c in crops] == [32, 16, 8]
