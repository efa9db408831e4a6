"""From a new-user walkthrough of the Fine-tune dock on real focus stacks (2026-12-10):

1. a z-stack of defocused planes could not be paired with a separately recorded in-focus
   image (the DFNN single-shot case), in the dock ("choose layers of the same shape") or in
   `microdeblur finetune` ("pair images of the same kind");
2. a run ending on its time limit (Minutes) finished its progress bar at a few % (the bar
   counted Steps).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_widget_finetune import tiny_session_model  # noqa: F401 - the fixture
from test_widgets import _clean_session, dock  # noqa: F401 - the same autouse fixture

from napari_microdeblur import cli_training_data
from napari_microdeblur.cli import UserError
from napari_microdeblur.core import axes, data, pairs
from napari_microdeblur.core.training.records import FitProgress


def _stack_and_plane(focus_stack):
    """7 defocused planes of a real stack and its in-focus plane as a separate image."""
    stack = focus_stack[4:11]
    return stack, np.array(focus_stack[7])


# ----------------------------------------------------------------------------- CLI pairing


def test_cli_pairs_a_stack_with_one_in_focus_image(focus_stack):
    stack, plane = _stack_and_plane(focus_stack)
    # was: UserError "pair images of the same kind (or give --axes)"
    target = cli_training_data.check_same_field("b.tif", "ZYX", stack, "s.tif", "YX", plane)
    assert target.shape == stack.shape
    for z in range(len(stack)):
        np.testing.assert_array_equal(target[z], plane)


def test_cli_pairs_an_rgb_stack_with_one_rgb_image():
    rng = np.random.default_rng(0)
    stack, plane = rng.random((3, 32, 40, 3)), rng.random((32, 40, 3))
    target = cli_training_data.check_same_field("b.tif", "ZYXS", stack, "s.tif", "YXS", plane)
    np.testing.assert_array_equal(target[2], plane)


def test_cli_train_refuses_planes_sharing_one_target_and_names_finetune(focus_stack):
    stack, plane = _stack_and_plane(focus_stack)
    with pytest.raises(UserError, match="use microdeblur finetune"):
        cli_training_data.check_same_field("b.tif", "ZYX", stack, "s.tif", "YX", plane,
                                           planes_held_out=True)


def test_cli_plane_of_another_size_says_what_pairs(focus_stack):
    stack, plane = _stack_and_plane(focus_stack)
    with pytest.raises(UserError, match="one in-focus plane of its size"):
        cli_training_data.check_same_field("b.tif", "ZYX", stack, "s.tif", "YX",
                                           plane[:80, :80])


def test_band_hold_out_of_a_repeated_target_shares_no_target_pixel(focus_stack):
    """Every plane's target is the one in-focus image: the band must be the same image pixels
    in every plane, and no training region may reach into it (after alignment crops)."""
    stack, plane = _stack_and_plane(focus_stack)
    target = axes.repeated_target(plane, "YX", stack.shape, "ZYX")
    made = data.pairs_from_arrays(stack, target, axes="ZYX", align=True)
    train, val = pairs.split_band(made, val_fraction=0.25, min_train=16)
    assert len(train) == len(val) == len(stack)

    def image_columns(p):  # the band's columns in the coordinates of the recorded image
        _, lo, hi = p.info["band"]
        border = int(p.info.get("border", 0))
        return lo + border, hi + border

    held = {image_columns(p)[0] for p in val}
    trained_up_to = max(image_columns(p)[1] for p in train)
    assert trained_up_to < min(held)


# ----------------------------------------------------------------------------- the dock


def _pair_dock(make_napari_viewer, base, stack, plane):
    viewer = make_napari_viewer()
    b = viewer.add_image(stack, name="mito blurry stack")
    s = viewer.add_image(plane, name="mito sharp focus")
    w = dock(viewer, "Fine-tune")
    w.mode_combo.setCurrentIndex(0)
    w.blurry_combo.set_value(b)
    w.sharp_combo.set_value(s)
    w.set_base(base)
    w.patch_spin.setValue(32)
    return w


def test_dock_pairs_a_stack_with_one_in_focus_layer(make_napari_viewer, tiny_session_model,  # noqa: F811
                                                    focus_stack):
    stack, plane = _stack_and_plane(focus_stack)
    w = _pair_dock(make_napari_viewer, tiny_session_model, stack, plane)
    req = w.build_request()  # was: ValueError "choose layers of the same shape"
    assert np.shape(req.sharp) == stack.shape
    np.testing.assert_array_equal(np.asarray(req.sharp)[0], plane)


def test_dock_names_what_pairs_for_a_plane_of_another_size(
        make_napari_viewer, tiny_session_model, focus_stack):  # noqa: F811
    stack, plane = _stack_and_plane(focus_stack)
    w = _pair_dock(make_napari_viewer, tiny_session_model, stack, plane[:80, :80])
    with pytest.raises(ValueError, match="z-stack \\+ in-focus plane"):
        w.build_request()


# ----------------------------------------------------------------------------- progress


def test_time_limited_run_shows_time_on_the_bar(make_napari_viewer, tiny_session_model,  # noqa: F811
                                                focus_stack, monkeypatch):
    stack, plane = _stack_and_plane(focus_stack)
    w = _pair_dock(make_napari_viewer, tiny_session_model, stack, stack[3])
    w.minutes_spin.setValue(1.0)
    w.request = w.build_request()
    w.plots.start()
    monkeypatch.setattr(w.plots, "add", lambda record: 45.0)  # 45 s gone, 15 s left
    w._yielded(FitProgress(step=40, steps=2000, loss=0.1, lr=1e-4, val_psnr=None,
                           val_ssim=None, val_loss=None, seconds_left=15.0))
    shown = w.progress_bar.value() / w.progress_bar.maximum()
    assert shown == pytest.approx(0.75, abs=0.01)  # was 40/2000 = 2 %
    w.minutes_spin.setValue(0)  # no limit: the bar counts steps
    w.request = w.build_request()
    w._yielded(FitProgress(step=40, steps=2000, loss=0.1, lr=1e-4, val_psnr=None,
                           val_ssim=None, val_loss=None, seconds_left=15.0))
    assert (w.progress_bar.value(), w.progress_bar.maximum()) == (40, 2000)


def test_finetune_cli_pairs_a_blurry_stack_with_one_in_focus_image(tmp_path, focus_stack,
                                                                  capsys):
    """`microdeblur finetune --blurry stack.tif --sharp focus.tif` runs (was refused: "pair
    images of the same kind"; with only the pairing in place, core's "blurry has shape")."""
    import tifffile

    from napari_microdeblur.cli import main

    stack, plane = _stack_and_plane(focus_stack)
    tifffile.imwrite(tmp_path / "stack.tif", stack, imagej=True, metadata={"axes": "ZYX"})
    tifffile.imwrite(tmp_path / "focus.tif", plane)
    out = tmp_path / "tuned.safetensors"
    rc = main(["finetune", "--weights", "c2f_unet.fluorescence_v2", "--blurry",
               str(tmp_path / "stack.tif"), "--sharp", str(tmp_path / "focus.tif"),
               "--out", str(out), "--steps", "4", "--patch", "32", "--device", "cpu", "-q"])
    said = capsys.readouterr()
    assert rc == 0, said.err
    assert out.exists() and said.out.startswith(f"{out}: ")  # its closing line, no error
