"""From a walkthrough of fine-tuning's pair checks (2026-12-18):

1. a blurry image transposed (or flipped, or of another field) was trained on and its weights
   saved: alignment dropped the shift it could not confirm, or took one of a third of a dense
   field, and nothing checked that the planes were alike;
2. "too small to hold out validation" advised values (checked with no alignment crop, and not
   a multiple of the network's size divisor) that were then refused again;
3. ``finetune(..., resume=True)`` without ``checkpoint_dir`` named a temporary folder;
4. a plane too small to adapt to was 'image 0 plane 0', not the file or layer;
5. the dock's "Adapt to this image" started, then failed on ``val_fraction``.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_finetune_safety import identity_gran
from test_widget_finetune import tiny_session_model  # noqa: F401 - fixture
from test_widgets import _clean_session, dock, notes  # noqa: F401 - fixtures

from napari_microdeblur._widgets._feedback import in_dock_words
from napari_microdeblur.cli_words import in_cli_words
from napari_microdeblur.core import pairs
from napari_microdeblur.core.degrade import degrade

# ----------------------------------------------------------------------------- 1. same field


@pytest.mark.parametrize("turn", ["transposed", "flipped"])
def test_a_turned_blurry_image_is_refused_in_one_line(fluo_u8, turn):
    blurry = degrade(fluo_u8, "A", seed=0)
    assert pairs.pairs_from_arrays(blurry, fluo_u8, name="b.tif~s.tif")[0].info[
        "field_correlation"] > 0.9  # the pair as taken
    turned = np.ascontiguousarray(blurry.T if turn == "transposed" else blurry[::-1])
    with pytest.raises(ValueError) as caught:
        pairs.pairs_from_arrays(turned, fluo_u8, name="b.tif~s.tif")
    words = str(caught.value)
    assert words.startswith("'b.tif' with 's.tif': blurry and sharp don't show the same field")
    assert words.endswith("check the pairing or orientation") and "\n" not in words


def test_a_shift_that_makes_a_turned_dense_field_correlate_does_not_pass(fluo_u16):
    # the nuclei crop transposed: alignment took a shift of (24, -20) px that made it
    # correlate 0.79, so the pair was trained on; turned back it correlates 1.00
    blurry = degrade(fluo_u16, "A", seed=0)
    with pytest.raises(ValueError, match=r"\(correlation 0\.\d\d; 1\.00 with blurry transposed\)"):
        pairs.pairs_from_arrays(np.ascontiguousarray(blurry.T), fluo_u16)


def test_a_sharp_image_of_another_field_is_refused(fluo_u8, fluo_u16):
    other = fluo_u8[:96, :96].astype(np.uint16)
    with pytest.raises(ValueError, match="don't show the same field"):
        pairs.pairs_from_arrays(degrade(other, "A", seed=0), fluo_u16)


def test_planes_far_from_focus_still_pair(focus_stack):
    # the stack path pairs every plane with the in-focus one (one field: not checked) ...
    assert len(pairs.pairs_from_stack(focus_stack, focus_plane="auto", axes="ZYX")) == 13
    # ... and the farthest planes given as blurry/sharp pairs pass the check with margin
    for z in (0, 13):
        pair = pairs.pairs_from_arrays(focus_stack[z], focus_stack[7], axes="YX")[0]
        assert pair.info["field_correlation"] > 0.9


def test_a_heavy_blur_passes_on_the_blur_matched_correlation(fluo_u8):
    from scipy import ndimage

    blurry = ndimage.gaussian_filter(fluo_u8.astype(np.float32), 20)  # little detail left
    assert pairs.pairs_from_arrays(blurry, fluo_u8)[0].info["field_correlation"] > 0.2


def test_finetune_writes_nothing_for_a_turned_pair(tmp_path, fluo_u8):
    from napari_microdeblur.core.finetune import finetune

    blurry = degrade(fluo_u8, "A", seed=0)
    out = tmp_path / "x.safetensors"
    with pytest.raises(ValueError, match="don't show the same field"):
        finetune((identity_gran(), None), np.ascontiguousarray(blurry.T), fluo_u8, steps=2,
                 patch=32, batch_size=2, device="cpu", out=out,
                 checkpoint_dir=str(tmp_path / "ck"))
    assert not out.exists()


# ----------------------------------------------------------------------------- 2. band advice


def test_the_advice_for_a_40_px_pair_and_a_divisor_of_16_is_larger_images():
    # it said "give val_fraction=0.4 and patch=8", then, aligned to 38 x 38, "use larger images"
    with pytest.raises(ValueError) as caught:
        pairs.check_band_fits("b40.tif~s40.tif", (40, 40), val_fraction=0.2, min_train=64,
                              min_band=16)
    assert str(caught.value).endswith("; use larger images")


@pytest.mark.parametrize("side", [40, 48, 64, 72, 96])
@pytest.mark.parametrize("min_band", [8, 16])
def test_advised_values_fit_after_any_default_alignment_crop(side, min_band):
    try:
        pairs.check_band_fits("p", (side, side), val_fraction=0.2, min_train=64,
                              min_band=min_band)
        return
    except ValueError as error:
        advice = str(error).rsplit("; ", 1)[1]
    if advice == "use larger images":
        return
    given = dict(part.split("=") for part in advice.removeprefix("give ").split(", or")[0]
                 .replace(" or smaller", "").split(" and "))
    fraction, patch = float(given.get("val_fraction", 0.2)), int(given.get("patch", 64))
    assert patch % max(8, min_band) == 0  # patch=12 was refused for a divisor of 16
    for border in range(0, int(np.ceil(0.1 * side)) + 1):  # alignment's default max_shift
        cropped = (side - 2 * border,) * 2
        pairs.check_band_fits("p", cropped, val_fraction=fraction, min_train=patch,
                              min_band=min_band, border=border)


def test_following_the_advice_splits_a_real_aligned_pair(fluo_u8):
    blurry, sharp = degrade(fluo_u8, "A", seed=0)[:48, :48], fluo_u8[:48, :48]
    with pytest.raises(ValueError) as caught:
        pairs.check_band_fits("p", (48, 48), val_fraction=0.2, min_train=64)
    advice = str(caught.value).rsplit("; ", 1)[1]
    assert advice.startswith("give val_fraction=0.28 and patch=8 or smaller"), advice
    made = pairs.pairs_from_arrays(blurry, sharp)
    assert made[0].info["border"] > 0  # alignment cropped it
    pairs.split_band(made, val_fraction=0.28, min_train=8)


# ----------------------------------------------------------------------------- 3. resume


def test_resume_without_a_checkpoint_dir_is_refused_first(fluo_u8):
    from napari_microdeblur.core.finetune import finetune

    blurry = degrade(fluo_u8, "A", seed=0)
    with pytest.raises(ValueError) as caught:
        finetune((identity_gran(), None), blurry, fluo_u8, resume=True, steps=1)
    assert str(caught.value) == ("resume=True needs checkpoint_dir= (the folder of the run to "
                                 "continue)")


# ----------------------------------------------------------------------------- 4. names


def test_a_self_adaptation_message_names_the_images():
    from napari_microdeblur.core.self_adapt_planes import image_names

    said = image_names("image 1 plane 0 is 12 x 12 px: too small", ["'a.tif'", "'b.tif'"])
    assert said == "'b.tif' plane 0 is 12 x 12 px: too small"


def test_too_small_to_adapt_says_the_options_that_fit():
    from napari_microdeblur.core.self_adapt_planes import check_room, crop_side

    with pytest.raises(ValueError) as caught:
        check_room("layer 'cells'", (60, 60), (13, 13), 64, 0.2)
    words = str(caught.value)
    assert words.startswith("layer 'cells' is 60 x 60 px: too small to hold out validation")
    assert words.endswith("give patch=10 or smaller, or use a larger image"), words
    assert "--patch 10" in in_cli_words(words, {"patch": "--patch"})
    assert "Patch size 10" in in_dock_words(words) and "patch=" not in in_dock_words(words)
    assert crop_side(10, (13, 13), 1) <= 60 - 22
    check_room("layer 'cells'", (60, 60), (13, 13), 10, 0.2)  # the advice fits
    with pytest.raises(ValueError, match="12 x 12 px: .*; use a larger image$"):
        check_room("image 0 plane 0", (12, 12), (1, 1), 64, 0.2)


# ----------------------------------------------------------------------------- 5. the dock


def self_dock(viewer, layer, model_name):
    w = dock(viewer, "Fine-tune")
    w.mode_combo.setCurrentIndex(2)  # adapt to this image
    w.self_page.layer_combo.set_value(layer)
    w.set_base(model_name)
    w.psf_panel.psf_edit.setText("gaussian:1.6")
    w.device_combo.setCurrentText("cpu")
    return w


def test_adapt_to_a_small_layer_is_refused_before_it_starts(
        make_napari_viewer, notes, tiny_session_model):  # noqa: F811 - fixtures
    viewer = make_napari_viewer()
    tiny = viewer.add_image(np.random.default_rng(0).random((12, 12), np.float32), name="tiny")
    w = self_dock(viewer, tiny, tiny_session_model)
    assert w.start() is None and w.worker is None  # it started, then ended "failed: ..."
    error = notes.errors()[-1]
    assert error.startswith("layer 'tiny' is 12 x 12 px: too small to hold out validation")
    assert "Patch size 64" in error and "val_fraction" not in error and "\n" not in error


def test_adapt_names_the_patch_that_fits_with_the_psf(
        make_napari_viewer, notes, fluo_u8, tiny_session_model):  # noqa: F811 - fixtures
    viewer = make_napari_viewer()
    small = viewer.add_image(fluo_u8[:80, :80].astype(np.float32), name="small")
    w = self_dock(viewer, small, tiny_session_model)
    w.patch_spin.setValue(64)
    assert w.start() is None and w.worker is None
    error = notes.errors()[-1]
    assert "layer 'small' is 80 x 80 px" in error
    fits = int(error.split("give Patch size ")[1].split(" ")[0])  # the PSF is 15 px
    w.patch_spin.setValue(fits)
    w.build_request()  # the advice is taken: the PSF's reach counted as the job counts it
