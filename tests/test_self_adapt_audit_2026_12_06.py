"""Audit of adaptation without a reference (core.self_adapt, `finetune --self`) as a
biologist uses it: sparse fluorescence images, interrupting the CLI, --seed, bad recipes."""

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.self_adapt import (
    SelfAdaptConfig,
    _batch,
    _crop_side,
    _plane,
    iter_self_adapt,
    self_adapt,
)

PSF = gaussian_psf(1.6, size=13)


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return registry.build_model("c2f_unet", {**registry.get_arch("c2f_unet").tiny_config,
                                             "global_skip": True})


def quick(**changes):
    return SelfAdaptConfig(**{"minutes": 30.0, "patch": 32, "batch_size": 4, "lr": 1e-3,
                              "device": "cpu", "max_steps": 5, **changes})


def sparse_cells(seed=0, shape=(512, 512), right=200):
    """A uint16 fluorescence image with a camera offset: six blurred cells, all left of
    column ``right``, on a dark background with Poisson noise."""
    rng = np.random.default_rng(seed)
    sharp = np.zeros(shape)
    for _ in range(6):
        y, x = rng.integers(40, shape[0] - 40), rng.integers(40, right)
        sharp[y - 15:y + 15, x - 15:x + 15] = 1
    return rng.poisson(ndimage.convolve(sharp, PSF) * 2000 + 100).astype(np.uint16)


def dense_scene(seed=0, shape=(128, 160)):
    rng = np.random.default_rng(seed)
    sharp = (ndimage.gaussian_filter(rng.random(shape), 2.5) > 0.5) * 0.8 + 0.1
    return (ndimage.convolve(sharp, PSF) + rng.normal(0, 0.01, shape)).astype(np.float32)


def test_training_crops_of_a_mostly_empty_image_show_its_cells():
    # uniform draws gave 27% crops with a cell on this image: the rest was background
    image = sparse_cells().astype(np.float32)
    y = ((image - np.percentile(image, 0.1)) / np.ptp(image))[None].astype(np.float32)
    cfg = quick(batch_size=8)
    plane = _plane("cells", y, PSF.shape, cfg, 1)
    plane.prior = plane.y
    side = _crop_side(cfg.patch, PSF.shape, 1)
    rng = np.random.default_rng(0)
    crops = torch.cat([_batch([plane], rng, cfg, side, torch.from_numpy(PSF), "cpu")[0][0]
                       for _ in range(25)])
    with_cell = float((crops.amax(dim=(1, 2, 3)) > 0.3).float().mean())
    assert with_cell > 0.8, with_cell


def test_a_held_out_strip_of_background_only_is_said_once_before_work():
    job = iter_self_adapt(tiny_model(), sparse_cells(), PSF, axes="YX", config=quick())
    said = [n for n in next(job).notes if "held-out columns" in n]
    job.close()
    assert len(said) == 1 and "right edge" in said[0]
    job = iter_self_adapt(tiny_model(), dense_scene(), PSF, axes="YX", config=quick())
    assert not [n for n in next(job).notes if "held-out columns" in n]
    job.close()


def test_a_huge_learning_rate_returns_the_starting_weights_unchanged():
    model = tiny_model()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    result = self_adapt(model, dense_scene(), PSF, axes="YX",
                        config=quick(max_steps=20, lr=1.0))
    assert not result.improved and result.best_step == 0
    assert all(torch.equal(v, start[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("image,axes,psf,planes", [
    (np.stack([dense_scene(s) for s in range(5)]), "ZYX", PSF, 5),  # every plane
    (np.stack([dense_scene(), dense_scene(1), dense_scene(2)], -1), "YXS", PSF, 3),
    (dense_scene(), "YX", np.stack([gaussian_psf(s, size=13) for s in (2.5, 1.6, 2.5)]), 1),
    ((dense_scene() * 3000 + 100).astype(np.uint16), "YX", "gaussian:1.6", 1),
    (dense_scene(), "YX", "estimate", 1),
])
def test_what_a_biologist_gives_adapts(image, axes, psf, planes):
    job = iter_self_adapt(tiny_model(), image, psf, axes=axes, config=quick())
    assert next(job).get("planes") == planes
    job.close()


@pytest.fixture
def base_weights(tmp_path):
    path = tmp_path / "base.safetensors"
    save_weights(tiny_model(), path, {"license": "CC0-1.0", "normalization": {
        "kind": "percentile", "low": 1.0, "high": 99.0}})
    return path


def run_self(tmp_path, base_weights, *extra, name="adapted.safetensors"):
    image = tmp_path / "blurry.tif"
    tifffile.imwrite(image, dense_scene())
    out = tmp_path / name
    code = main(["finetune", "--self", str(image), "--psf", "gaussian:1.6", "--weights",
                 str(base_weights), "--out", str(out), "--steps", "3", "--patch", "32",
                 "--batch", "2", "--device", "cpu", "-q", *extra])
    return code, out


def test_cli_self_interrupted_weights_keep_the_base_normalization(base_weights):
    # a stop before any gain writes nothing (2026-12-17); weights a stop keeps get this card
    from napari_microdeblur.core.self_adapt import interrupted_card

    model, card = load_model(base_weights)
    fields = interrupted_card(model, card, "base", stopped="interrupted (Ctrl-C) at step 1 of 3")
    # the old card dropped it: the weights then ran at percentiles 0.1-99.9
    assert fields["normalization"] == {"kind": "percentile", "low": 1.0, "high": 99.0}
    assert fields["metrics"]["stopped"] == "interrupted (Ctrl-C) at step 1 of 3"


def test_cli_self_seed_repeats_and_changes_the_run(tmp_path, base_weights):
    weights = []
    for i, seed in enumerate(("5", "5", "6")):
        code, out = run_self(tmp_path, base_weights, "--seed", seed, name=f"a{i}.safetensors")
        assert code == 0
        weights.append(load_model(out)[0].state_dict())
    assert all(torch.equal(v, weights[1][k]) for k, v in weights[0].items())
    assert not all(torch.equal(v, weights[2][k]) for k, v in weights[0].items())
