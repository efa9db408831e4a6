"""Issue 14's small-data recipes beside L2-SP: training only part of the weights
(``trainable``: late, norm-bias) and replay of the starting network's synthetic mixture
(``replay``), in the Python job and `microdeblur finetune`."""

import json

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage
from torch import nn

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.data import DegradationRanges
from napari_microdeblur.core.finetune import FinetuneRequest, iter_finetune
from napari_microdeblur.core.finetune_data import JitteredPairs, card_mixture, replay_source
from napari_microdeblur.core.pairs import pairs_from_arrays
from napari_microdeblur.core.progress import drive
from napari_microdeblur.core.training.checkpoints import check_same_settings
from napari_microdeblur.core.training.trainable import trainable_parameters


def texture(seed: int, shape=(96, 96)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 2.0).astype(np.float32)


def tiny_gran():
    return registry.build_model("gran", registry.get_arch("gran").tiny_config, seed=0)


MIX_CARD = {"degradation": "mix: " + json.dumps(DegradationRanges().to_dict())}


class Card:
    def __init__(self, degradation):
        self.degradation = degradation


# ----------------------------------------------------------------------------- which weights


class BackwardsRegistered(nn.Module):
    """Registers the layer that runs last first: registration order is not forward order."""

    def __init__(self):
        super().__init__()
        self.last = nn.Conv2d(4, 1, 3, padding=1)  # 36 + 1 weights
        self.first = nn.Conv2d(1, 4, 3, padding=1)  # 36 + 4
        self.middle = nn.Conv2d(4, 4, 3, padding=1)  # 144 + 4

    def forward(self, x):
        return self.last(self.middle(self.first(x)))


def test_late_trains_the_layers_nearest_the_output_in_forward_order():
    model = BackwardsRegistered()
    late = {id(p) for p in trainable_parameters(model, "late", torch.zeros(1, 1, 8, 8))}
    # from the output back until half of the 225 weights: last (37), then middle (148)
    assert late == {id(p) for m in (model.last, model.middle) for p in m.parameters()}
    assert model.training  # the probe ran in eval mode and the mode is restored
    assert {id(p) for p in trainable_parameters(model, "all")} == {id(p) for p in
                                                                   model.parameters()}
    biases = {id(m.bias) for m in (model.first, model.middle, model.last)}
    assert {id(p) for p in trainable_parameters(model, "norm-bias")} == biases
    with pytest.raises(ValueError, match="accepted"):
        trainable_parameters(model, "encoder")


def pair_request(model, card=None, **options) -> FinetuneRequest:
    sharp = texture(3)
    blurry = ndimage.gaussian_filter(sharp, 1.5)
    opts = dict(steps=6, patch=32, batch_size=4, lr=1e-2, device="cpu", val_fraction=0,
                min_gain_db=0.0, align=False, match_intensity=False)
    opts.update(options)
    return FinetuneRequest(mode="pair", layer_name="pair", axes="YX", model=model,
                           base_label="tiny", base_card=card, blurry=blurry, sharp=sharp, **opts)


def test_norm_bias_changes_only_one_dimensional_weights_and_leaves_the_flags():
    model = tiny_gran()
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    outcome = drive(iter_finetune(pair_request(model, trainable="norm-bias")))
    moved = {n for n, p in outcome.model.named_parameters() if not torch.equal(p, start[n])}
    assert moved and all(start[n].ndim == 1 for n in moved)
    assert all(p.requires_grad for p in model.parameters())  # the caller's network as it was
    assert outcome.card.training["trainable"] == "norm-bias"


def test_frozen_weights_neither_collect_gradients_nor_enter_the_clipped_norm(monkeypatch):
    from napari_microdeblur.core import training
    from napari_microdeblur.core.training import loop

    clipped, frozen_grads = [], []
    clip_norm = torch.nn.utils.clip_grad_norm_
    model = tiny_gran()
    frozen = [p for p in model.parameters() if p.ndim > 1]

    def clip(params, limit):
        clipped.append({id(p) for p in params})
        frozen_grads.append(max(float(p.grad.abs().sum()) for p in frozen))  # this step's only
        return clip_norm(params, limit)

    monkeypatch.setattr(loop.nn.utils, "clip_grad_norm_", clip)
    sharp = texture(3)
    pairs = pairs_from_arrays(ndimage.gaussian_filter(sharp, 1.5), sharp, axes="YX",
                              align=False, match_intensity=False)
    training.fit(model, {"steps": 6, "patch": 32, "batch_size": 2, "lr": 1e-7,
                         "grad_clip": 1.0, "trainable": "norm-bias", "device": "cpu"},
                 JitteredPairs(pairs, jitter=0.0))
    one_d = {id(p) for p in model.parameters() if p.ndim == 1}
    assert len(clipped) == 6 and all(ids == one_d for ids in clipped)
    # cleared before every backward pass, not summed over the steps (the weights hardly move
    # at this lr: each step's gradient is about the last one)
    assert max(frozen_grads) < 1.5 * min(frozen_grads)


def test_a_resume_with_other_trainable_weights_is_refused():
    with pytest.raises(ValueError, match="trainable='all'"):
        check_same_settings({"trainable": "all"}, {"trainable": "late"}, "the run")


# ----------------------------------------------------------------------------- replay


def test_the_mixture_is_read_from_v1_and_v2_cards_and_none_from_others():
    v1, what = card_mixture(Card(MIX_CARD["degradation"]))
    assert v1 == DegradationRanges() and "optics" not in what
    v2 = json.dumps({"psf_ranges": {"kind_weights": {"gaussian": 1.0}, "gaussian_sigma": [1, 2],
                                    "p_protocol": 0.25}, "p_optics": 0.35})
    ranges, what = card_mixture(Card(v2))
    assert ranges.gaussian_sigma == (1, 2) and ranges.kind_weights == (("gaussian", 1.0),)
    assert "optics-computed PSFs are not replayed" in what
    for words in ("the blurry domain: protocol A's PSF", "", None):
        assert card_mixture(Card(words))[0] is None
    with pytest.raises(ValueError, match="records no synthetic training mixture"):
        replay_source(Card("protocol A"), [texture(1)[None]], seed=0, channels=1, patch=16)


def test_colour_replay_images_are_planes_for_single_plane_pairs_and_refused_for_colour():
    rgb = [np.stack([texture(2), texture(3), texture(4)])]
    planes, words = replay_source(Card(MIX_CARD["degradation"]), rgb, seed=0, channels=1,
                                  patch=16)
    assert planes.channels == 1 and len(planes.sharp01) == 3 and "3 sharp plane(s)" in words
    with pytest.raises(ValueError, match="1 channel.s. per image, the pairs 3"):
        replay_source(Card(MIX_CARD["degradation"]), [texture(2)[None]], seed=0, channels=3,
                      patch=16)


def test_replay_puts_its_share_of_each_batch_from_the_mixture():
    pairs = pairs_from_arrays(np.zeros((64, 64), np.float32) + texture(1, (64, 64)),
                              texture(1, (64, 64)), axes="YX", align=False,
                              match_intensity=False)
    replay, _ = replay_source(Card(MIX_CARD["degradation"]), [texture(9, (64, 64))[None]],
                              seed=0, channels=1, patch=16)
    marked = JitteredPairs(pairs, jitter=0.0, replay=replay, replay_share=0.25)
    rng = np.random.default_rng(0)
    x, y = marked.sample(rng, 8, 16)
    assert x.shape == y.shape == (8, 1, 16, 16)
    own = JitteredPairs(pairs, jitter=0.0).sample(np.random.default_rng(0), 6, 16)
    np.testing.assert_array_equal(x[:6], own[0])  # 6 of the user's pairs, then 2 replayed
    assert not np.array_equal(x[6:], y[6:])  # replayed inputs are blurred targets


def test_replay_is_refused_before_training_where_it_cannot_apply():
    with pytest.raises(ValueError, match="records no synthetic training mixture"):
        drive(iter_finetune(pair_request(tiny_gran(), Card("protocol A"), replay=0.25)))
    with pytest.raises(ValueError, match="replay=1"):
        drive(iter_finetune(pair_request(tiny_gran(), Card(MIX_CARD["degradation"]),
                                         replay=1)))
    mix = Card(MIX_CARD["degradation"])
    with pytest.raises(ValueError, match="batch_size=1: a batch of one patch"):
        drive(iter_finetune(pair_request(tiny_gran(), mix, replay=0.25, batch_size=1)))
    with pytest.raises(ValueError, match="replay_images: patch=32 is larger than 1 replay "
                                         "plane"):  # before training, not in its first step
        drive(iter_finetune(pair_request(tiny_gran(), mix, replay=0.25,
                                         replay_images=[texture(2, (20, 20))[None]])))
    with pytest.raises(ValueError, match="replay_images: a list of sharp .C, Y, X. images"):
        drive(iter_finetune(pair_request(tiny_gran(), mix, replay=0.25,
                                         replay_images=texture(2)[None])))
    with pytest.raises(ValueError, match="only in the supervised regime"):
        drive(iter_finetune(pair_request(tiny_gran(), trainable="late", regime="gran_gan")))
    with pytest.raises(ValueError, match="trainable='decoder'"):
        drive(iter_finetune(pair_request(tiny_gran(), trainable="decoder")))


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture
def files(tmp_path):
    """A base whose card records a mixture, a blurry/sharp pair and a sharp replay image."""
    model = tiny_gran()
    save_weights(model, tmp_path / "base.safetensors",
                 {"arch": "gran", "config": model.config.model_dump(), "in_channels": 1,
                  "out_channels": 1, **MIX_CARD})
    sharp = texture(10)
    tifffile.imwrite(tmp_path / "b.tif", ndimage.gaussian_filter(sharp, 1.5))
    tifffile.imwrite(tmp_path / "s.tif", sharp)
    tifffile.imwrite(tmp_path / "like_training.tif", (texture(11) * 200).astype(np.uint8))
    return tmp_path


def finetune(tmp, *extra):
    return main(["finetune", "--weights", str(tmp / "base.safetensors"), "--out",
                 str(tmp / "o.safetensors"), "--blurry", str(tmp / "b.tif"), "--sharp",
                 str(tmp / "s.tif"), "--patch", "32", "--batch", "4", "--device", "cpu",
                 "--steps", "4", "--min-gain", "0", "-q", *extra])


def test_cli_trains_part_of_the_weights_with_replay_and_the_card_says_so(files):
    assert finetune(files, "--trainable", "late", "--replay", "0.25", "--replay-images",
                    str(files / "like_training.tif")) == 0
    _, card = load_model(files / "o.safetensors")
    assert "replayed in 1 of each batch's 4 patches" in card.training_data
    assert "on the replay images: 1 sharp plane(s)" in card.training_data
    assert card.training["trainable"] == "late" and card.training["replay"] == 0.25


def test_cli_refuses_a_resume_that_would_replay_otherwise(files, capsys):
    ck = str(files / "ck")
    assert finetune(files, "--checkpoint-dir", ck) == 0
    capsys.readouterr()
    assert main(["finetune", "--weights", str(files / "base.safetensors"), "--out",
                 str(files / "o2.safetensors"), "--blurry", str(files / "b.tif"), "--sharp",
                 str(files / "s.tif"), "--patch", "32", "--batch", "4", "--device", "cpu",
                 "--steps", "8", "--min-gain", "0", "-q", "--checkpoint-dir", ck, "--resume",
                 "--replay", "0.5"]) == 2
    assert "--replay 0.0, not --replay 0.5" in capsys.readouterr().err
    assert not (files / "o2.safetensors").exists()


def test_cli_refuses_replay_images_without_replay_and_replay_with_self(files, capsys):
    assert finetune(files, "--replay-images", str(files / "like_training.tif")) == 2
    assert "--replay 0.25" in capsys.readouterr().err
    assert not (files / "o.safetensors").exists()
    code = main(["finetune", "--weights", str(files / "base.safetensors"), "--out",
                 str(files / "o.safetensors"), "--self", str(files / "b.tif"), "--psf",
                 "gaussian:1.5", "--trainable", "late", "-q"])
    assert code == 2 and "--trainable" in capsys.readouterr().err


def test_cli_resume_refuses_other_replay_images_and_info_shows_the_recipe(files, capsys):
    ck = str(files / "ck")
    assert finetune(files, "--checkpoint-dir", ck, "--trainable", "late", "--replay", "0.25",
                    "--replay-images", str(files / "like_training.tif")) == 0
    out = main(["info", str(files / "o.safetensors")])
    said = capsys.readouterr().out
    assert out == 0 and "weights trained: late" in said
    assert "replay: 0.25 of each batch (images: 1 replay image(s), sha256 " in said
    _, card = load_model(files / "o.safetensors")
    assert "the replay images: 1 sharp plane(s)" in card.training_data
    # the same run resumed without its replay images would replay on the targets
    assert main(["finetune", "--weights", str(files / "base.safetensors"), "--out",
                 str(files / "o2.safetensors"), "--blurry", str(files / "b.tif"), "--sharp",
                 str(files / "s.tif"), "--patch", "32", "--batch", "4", "--device", "cpu",
                 "--steps", "8", "--min-gain", "0", "-q", "--checkpoint-dir", ck, "--resume",
                 "--trainable", "late", "--replay", "0.25"]) == 2
    assert "the training targets" in capsys.readouterr().err
    assert not (files / "o2.safetensors").exists()


def test_cli_names_the_replay_file_too_small_and_the_option_of_a_missing_path(files, capsys):
    tifffile.imwrite(files / "tiny.tif", texture(12, (20, 20)))
    assert finetune(files, "--replay", "0.25", "--replay-images", str(files / "tiny.tif")) == 2
    assert "--replay-images tiny.tif: 20 px on its shorter side, smaller than --patch 32" in \
        capsys.readouterr().err
    assert finetune(files, "--replay", "0.25", "--replay-images", str(files / "nowhere")) == 2
    assert "--replay-images: " in capsys.readouterr().err
    assert not (files / "o.safetensors").exists()
