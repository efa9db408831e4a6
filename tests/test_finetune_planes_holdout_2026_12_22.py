"""One blurry/sharp pair of stacks (CARE's training patches: each plane a field of its own)
fine-tunes with whole planes held out, as `microdeblur train` holds them out; a 2D pair keeps
its band and a stack with its in-focus plane its region (core.finetune_split)."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_microdeblur.core import registry
from napari_microdeblur.core.finetune import FinetuneRequest, check_field_sizes, iter_finetune
from napari_microdeblur.core.pairs import split_validation
from napari_microdeblur.core.progress import Notes


def identity_gran():
    """A tiny GRAN whose output is its input (global residual, zero tail)."""
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config, seed=0)
    with torch.no_grad():
        model.tail.weight.zero_()
        model.tail.bias.zero_()
    return model


def patch_stacks(n=6, size=40):
    """(blurry, sharp) of ``n`` unrelated planes, as CARE patches are."""
    rng = np.random.default_rng(0)
    sharp = np.stack([ndimage.gaussian_filter(rng.random((size, size)), 1.5)
                      for _ in range(n)]).astype(np.float32)
    blurry = np.stack([ndimage.gaussian_filter(p, 1.5) for p in sharp]).astype(np.float32)
    return blurry, sharp


def request(tmp_path, blurry, sharp, axes, **options):
    opts = dict(steps=2, patch=32, batch_size=2, lr=1e-4, device="cpu", val_fraction=0.2,
                checkpoint_dir=str(tmp_path / "ck"))
    opts.update(options)
    return FinetuneRequest(mode="pair", layer_name="X3", axes=axes, model=identity_gran(),
                           base_label="tiny", base_card=None, blurry=blurry, sharp=sharp,
                           **opts)


def test_one_pair_of_patch_stacks_holds_out_whole_planes(tmp_path):
    blurry, sharp = patch_stacks()
    req = request(tmp_path, blurry, sharp, "ZYX")
    check_field_sizes(req)  # 40 px planes have no room for a band beside a 32 px patch
    gen = iter_finetune(req)
    notes = next(gen)
    assert isinstance(notes, Notes)
    # round(0.2 x 6) = 1 plane, drawn as split_validation draws planes (train's rule)
    assert notes.get("val") == 1 and notes.get("train") == 5
    assert notes.get("val_region") is None
    assert "1 of 6 whole planes of X3" in notes.get("holdout")
    for _ in gen:
        pass


def test_the_planes_held_out_are_train_s_draw(tmp_path):
    blurry, sharp = patch_stacks(n=10)
    req = request(tmp_path, blurry, sharp, "ZYX", val_fraction=0.3, seed=3)
    from napari_microdeblur.core.finetune_split import split_pairs
    from napari_microdeblur.core.pairs import pairs_from_arrays

    made = pairs_from_arrays(blurry, sharp, axes="ZYX", name="X3")
    train, val, _ = split_pairs([made], req, 1)
    expected = split_validation(made, val_fraction=0.3, seed=3)[1]
    assert [p.group for p in val] == [p.group for p in expected] and len(val) == 3
    assert len(train) == 7


def test_a_single_2d_pair_still_holds_out_a_band(tmp_path):
    blurry, sharp = patch_stacks(n=1, size=96)
    req = request(tmp_path, blurry[0], sharp[0], "YX")
    notes = next(iter_finetune(req))
    assert notes.get("holdout").startswith("a band of every plane")
    with pytest.raises(ValueError, match="too small to hold out validation"):
        check_field_sizes(request(tmp_path, blurry[0, :40, :40], sharp[0, :40, :40], "YX"))


def test_a_pair_of_stacks_with_room_for_a_band_keeps_the_band(tmp_path):
    """A blurry and a sharp z-stack of one field: neighbouring planes would validate each
    other, so a band of every plane is held out where it fits (as before); planes only where
    it does not (the pair had been refused)."""
    blurry, sharp = patch_stacks(n=6, size=128)
    notes = next(iter_finetune(request(tmp_path, blurry, sharp, "ZYX")))
    assert notes.get("holdout").startswith("a band of every plane")
