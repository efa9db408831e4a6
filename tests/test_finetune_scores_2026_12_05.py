"""What fine-tuning validation scores against, and the same-units check of pairs given without
intensity matching (walkthrough "tlapse2", 2026-12-05: a blurry time-lapse with a camera
offset of 168 and its simulated truth, means 333 and 148)."""

import numpy as np
import pytest
from scipy import ndimage

from napari_microdeblur.core import pairs, registry
from napari_microdeblur.core.finetune import FinetuneRequest, iter_finetune


def offset_pair(shape=(2, 64, 64), offset=168.0):
    """(blurry uint16 with a camera offset, its dim uint16 truth with none), axes TYX."""
    rng = np.random.default_rng(0)
    truth = ndimage.gaussian_filter(rng.random(shape), (0, 2, 2))
    truth = (np.clip(truth - truth.mean(), 0, None) * 6000).astype(np.uint16)
    blurry = ndimage.gaussian_filter(truth.astype(float), (0, 1.5, 1.5)) + offset
    return blurry.astype(np.uint16), truth


def test_a_dim_truth_under_a_camera_offset_is_in_the_same_units():
    """The blurry plane's floor (the offset) was subtracted from both means: the truth's went
    negative and the pair was refused as other units (-0.167x in the walkthrough)."""
    blurry, truth = offset_pair()
    ratio = truth.mean() / blurry.mean()
    assert 0.25 < ratio < 1  # raw means: the same units
    found = pairs.pairs_from_arrays(blurry, truth, axes="TYX", align=False,
                                    match_intensity=False)
    assert len(found) == 2


def test_other_units_are_still_refused_and_the_plane_named_by_its_axes():
    blurry, truth = offset_pair()
    with pytest.raises(ValueError, match=r"'pair' at T 0: the sharp plane's mean intensity is "
                                         r"[0-9.]+x the blurry plane's, so they are not in the "
                                         "same units"):
        pairs.pairs_from_arrays(blurry, truth.astype(np.uint16) * 60, axes="TYX",
                                align=False, match_intensity=False)


def request(tmp_path, blurry, sharp, **options):
    model = registry.build_model("c2f_unet", registry.get_arch("c2f_unet").tiny_config, seed=0)
    return FinetuneRequest(mode="pair", layer_name="pair", axes="YX", model=model,
                           base_label="tiny", base_card=None, blurry=blurry, sharp=sharp,
                           patch=32, batch_size=2, lr=1e-3, device="cpu",
                           checkpoint_dir=str(tmp_path / "ck"), **options)


def shifted_pair(shape=(96, 128)):
    rng = np.random.default_rng(1)
    sharp = ndimage.gaussian_filter(rng.random(shape), 2.0) * 1000 + 100
    blurry = ndimage.shift(ndimage.gaussian_filter(sharp, 1.5), (0, 1.4), mode="nearest")
    return blurry.astype(np.float32), sharp.astype(np.float32)


def test_the_holdout_note_names_the_band_the_layers_show(tmp_path):
    """Alignment cropped the pair by its border: the note gave the band in the cropped pair's
    coordinates ("X 101-126") where val_region and the band layers say "X 102-127"."""
    blurry, sharp = shifted_pair()
    job = iter_finetune(request(tmp_path, blurry, sharp, steps=1))
    notes = next(job)
    job.close()
    axis, lo, hi = notes.get("val_region")
    assert lo > 0 and f"({axis} {lo}-{hi}," in notes.get("holdout")
    assert "intensity-matched sharp planes" in notes.get("val_scored")


@pytest.mark.parametrize("match", [True, False])
def test_the_summary_says_what_validation_psnr_is_against(tmp_path, match):
    """37.8 dB on validation read as evaluate's scale, where evaluate gave the band 21.2 dB."""
    blurry, sharp = shifted_pair()
    job = iter_finetune(request(tmp_path, blurry, sharp, steps=2, val_every=1,
                                match_intensity=match))
    try:
        while True:
            next(job)
    except StopIteration as done:
        outcome = done.value
    against = ("intensity-matched sharp planes" if match
               else "sharp planes in the blurry planes' units")
    assert f"(validation PSNR is against the {against}, each plane on its own reference " \
           "scale" in outcome.summary
