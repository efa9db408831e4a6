"""From a new-user walkthrough (2026-12-08): a Fine-tune dock run whose validation never beat
the starting weights announced "'<base> fine-tuned on <layer>' is available in the Deblur dock"
and added that copy of the base as a method; a model card made from files said "layer". Driven
in a real viewer (headless under Xvfb) with a tiny GRAN; tests wait on conditions."""

from __future__ import annotations

import numpy as np
import pytest
from test_widget_finetune import finetune_dock, tiny_session_model  # noqa: F401
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    notes,
    snapshot,
    wait_idle,
    write_tiny_gran,
)

from napari_microdeblur.core.checkpoint import load_model


def test_a_stack_run_that_learns_nothing_adds_no_method(
        make_napari_viewer, qtbot, notes, tiny_session_model, focus_stack,  # noqa: F811
        tmp_path):
    """Learning rate 1e-6 for 3 steps cannot gain the 0.1 dB margin: the starting weights
    come back, so nothing is added, announced, compared or offered for saving."""
    from napari_microdeblur._widgets._methods import SESSION_MODELS

    viewer = make_napari_viewer()
    stack = viewer.add_image(focus_stack, name="ls_stack")
    w = finetune_dock(viewer, 1, stack, steps=3)
    w.lr_spin.setValue(1e-6)
    w.focus_spin.setValue(7)
    before, methods = snapshot(viewer), SESSION_MODELS.labels()
    w.start_button.click()
    wait_idle(qtbot, w)
    assert SESSION_MODELS.labels() == methods and w.session_label is None
    assert w.outcome.improved is False and w.outcome.kept_start
    assert w.comparison == {} and snapshot(viewer) == before  # Compare & QC is not filled
    status = w.status_label.text()
    assert "finished after 3 step(s)" in status and "no step beat the starting weights" in status
    assert "Nothing was added to the Deblur dock" in status and "Added method" not in status
    assert "the starting weights are returned" not in status and "To try again: more" in status
    said = [m for _, m in notes.all() if m.startswith("fine-tuning finished")]
    assert said == ["fine-tuning finished: no validation beat the starting weights of "
                    "'tiny_gran'; nothing was added to the Deblur dock"]
    assert not w.save_button.isEnabled()
    assert w.save(tmp_path / "copy.safetensors") is None
    assert "kept the starting weights" in notes.errors()[-1]
    assert not (tmp_path / "copy.safetensors").exists()


def test_adapting_stopped_before_its_first_step_adds_no_method(
        make_napari_viewer, qtbot, notes, tiny_session_model, fluo_u8):  # noqa: F811
    from napari_microdeblur._widgets._methods import SESSION_MODELS

    viewer = make_napari_viewer()
    blurry = viewer.add_image(fluo_u8.astype(np.float32), name="blurry")
    w = finetune_dock(viewer, 2, blurry, steps=4)
    w.psf_panel.psf_edit.setText("gaussian:1.5")
    w.minutes_spin.setValue(0.05)
    w.patch_spin.setValue(16)
    methods = SESSION_MODELS.labels()
    assert w.start() is not None
    w.stop()  # before the worker's first step: the starting weights come back
    wait_idle(qtbot, w)
    assert SESSION_MODELS.labels() == methods and w.comparison == {}
    assert w.outcome.improved is False and w.outcome.kept_start
    status = w.status_label.text()
    assert status.startswith("stopped after 0 step(s)")
    assert "Nothing was added" in status and "more Minutes, or another Learning rate" in status
    assert any("nothing was added" in m for _, m in notes.all())


def stack_request(tmp_path, focus_stack, **options):
    from napari_microdeblur.core.finetune import FinetuneRequest

    model, card = load_model(write_tiny_gran(tmp_path))
    return FinetuneRequest(model=model, base_label="tiny", base_card=card, patch=32,
                           batch_size=2, steps=1, device="cpu", **options)


def run(req):
    from napari_microdeblur.core.finetune import iter_finetune

    job = iter_finetune(req)
    try:
        while True:
            next(job)
    except StopIteration as done:
        return done.value


def test_the_card_says_file_for_files_and_layer_for_layers(tmp_path, focus_stack):
    from napari_microdeblur.core.finetune import PairField, StackField

    field = StackField("ls_stack.tif", focus_stack, "ZYX", 7)
    made = run(stack_request(tmp_path, focus_stack, mode="stack", layer_name="ls_stack.tif",
                             axes="ZYX", fields=[field], source_kind="file"))
    assert "fine-tuned on file 'ls_stack.tif': stack" in made.card.training_data
    assert "layer" not in made.card.training_data
    # a blurry/sharp pair of files is two files; the dock's words stay "layer"
    pair = PairField("b.tif~s.tif", focus_stack[3], focus_stack[7], "YX")
    made = run(stack_request(tmp_path / "p", focus_stack, mode="pair", axes="YX",
                             layer_name="b.tif~s.tif", fields=[pair], source_kind="file"))
    assert "fine-tuned on files 'b.tif~s.tif': blurry/sharp pair" in made.card.training_data
    made = run(stack_request(tmp_path / "d", focus_stack, mode="stack", layer_name="ls_stack",
                             axes="ZYX", stack=focus_stack, focus=7))
    assert "fine-tuned on layer 'ls_stack': stack" in made.card.training_data
    with pytest.raises(ValueError, match="source_kind='folder'; accepted: 'layer', 'file'"):
        run(stack_request(tmp_path / "e", focus_stack, mode="stack", layer_name="x",
                          axes="ZYX", stack=focus_stack, source_kind="folder"))


def test_a_psf_aware_start_at_a_calibrated_noise_scale_is_not_the_base(tmp_path):
    """No step beats the start, but the returned weights run at the noise scale calibrated on
    validation (0.5, not the base's 1): that is a gain the dock must offer, not hide."""
    from test_finetune_psf_aware import blurred_pair, request, tiny_wiener_unet

    from napari_microdeblur.core.psf_aware import CALIBRATED_NOISE_SCALE_KEY

    blurry, sharp = blurred_pair(3, (120, 120))
    outcomes = {}
    for calibration in ("before and after", "off"):
        folder = tmp_path / calibration.replace(" ", "_")
        folder.mkdir()
        outcomes[calibration] = run(request(
            tiny_wiener_unet(), blurry, sharp, folder, psf="gaussian:1.6", lr=1e-6, steps=3,
            min_gain_db=0.1, noise_scale_calibration=calibration))
    calibrated, off = outcomes["before and after"], outcomes["off"]
    assert calibrated.improved is False and off.improved is False
    assert calibrated.card.metrics[CALIBRATED_NOISE_SCALE_KEY] == 0.5
    assert not calibrated.kept_start
    assert off.card.metrics[CALIBRATED_NOISE_SCALE_KEY] == 1.0 and off.kept_start
