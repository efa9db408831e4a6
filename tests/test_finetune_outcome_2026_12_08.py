"""From a walkthrough (2026-12-08): the Fine-tune outcome words. A psf_cyclegan run stopped
before its first validation said "kept the last step" and added nothing; weights scoring far
below the unprocessed input were announced as any other; "prior: ..." of Adapt to this image
came as a warning; a second run on a layer added comparison layers napari numbered "[1]".
Core runs are a few steps of a tiny GRAN; the dock is driven in a real viewer (Xvfb).

Two dock checks share a run of another test (a run is the expensive part): the warning of a
kept psf_cyclegan below the input is checked on test_widget_finetune.py's one-step
psf_cyclegan run (test_psf_cyclegan_from_the_dock_with_unpaired_layers), and the second run's
comparison names on test_finetune_dock_2026_12_09.py's run again
(test_a_run_then_a_run_again)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from test_widget_finetune import finetune_dock, tiny_session_model  # noqa: F401
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    notes,
    wait_idle,
    write_tiny_gran,
)

from napari_microdeblur.core.checkpoint import load_model


def gan_request(tmp_path, focus_stack, **options):
    """gran_gan (an adversarial regime: it keeps its last checkpoint) on a tiny GRAN."""
    from napari_microdeblur.core.finetune import FinetuneRequest

    model, card = load_model(write_tiny_gran(tmp_path))
    return FinetuneRequest(model=model, base_label="tiny", base_card=card, patch=64,
                           val_fraction=0.1,  # room for 64-px patches in 96 px
                           batch_size=2, device="cpu", mode="stack", layer_name="s",
                           axes="ZYX", stack=focus_stack, focus=7, regime="gran_gan",
                           checkpoint_dir=tmp_path / "ck", **options)


def test_keep_last_stopped_before_its_first_validation_says_so(tmp_path, focus_stack):
    from napari_microdeblur.core.finetune import iter_finetune

    req = gan_request(tmp_path, focus_stack, steps=1000, val_every=10)
    job = iter_finetune(req)
    next(job)  # the notes
    assert next(job).step == 1
    req.stop.set()
    with pytest.raises(StopIteration) as done:
        next(job)
    outcome = done.value.value
    assert outcome.kept_start and outcome.improved is False and outcome.unvalidated
    assert "kept the last step" not in outcome.summary
    assert ("the run ended at step 1, before its first validation after the start (every 10 "
            "steps; validation PSNR") in outcome.summary
    assert "steps; validation PSNR" in outcome.summary
    assert "the starting weights are returned" in outcome.summary


def test_kept_weights_below_the_input_are_said_to_make_images_worse(tmp_path, focus_stack):
    from napari_microdeblur.core.finetune import iter_finetune, scores_below_input

    job = iter_finetune(gan_request(tmp_path, focus_stack, steps=2, val_every=1))
    with pytest.raises(StopIteration) as done:
        while True:
            next(job)
    outcome = done.value.value
    kept = outcome.card.metrics["val_psnr"]
    unprocessed = outcome.result.baseline["val_psnr"]
    assert not outcome.kept_start and "kept the last step" in outcome.summary
    assert kept < unprocessed  # two adversarial steps of a tiny GRAN: 23.9 vs 34.3 dB
    assert scores_below_input(outcome) == (pytest.approx(kept), pytest.approx(unprocessed))
    assert (f"below the unprocessed input ({kept:.2f} dB vs {unprocessed:.2f} dB on "
            "validation): these weights make images worse") in outcome.summary
    # either way round, on figures given
    card = SimpleNamespace(metrics={"val_psnr": 20.0})
    below = replace(outcome, card=card, input_val_psnr=25.5)
    assert scores_below_input(below) == (20.0, 25.5)
    assert scores_below_input(replace(below, input_val_psnr=19.0)) is None
    assert scores_below_input(replace(below, input_val_psnr=None)) is None  # no validation


def test_a_stopped_run_below_the_input_is_said_to_make_images_worse(tmp_path, focus_stack):
    """A stopped run returns no FitResult: the input's figure is read back from its last.pt."""
    from napari_microdeblur.core.finetune import iter_finetune, scores_below_input

    req = gan_request(tmp_path, focus_stack, steps=1000, val_every=1)
    job = iter_finetune(req)
    next(job)  # the notes
    while next(job).step < 2:
        pass
    req.stop.set()
    with pytest.raises(StopIteration) as done:
        next(job)
    outcome = done.value.value
    assert outcome.stopped and outcome.result is None and not outcome.unvalidated
    kept = outcome.card.metrics["val_psnr"]
    assert outcome.input_val_psnr is not None and kept < outcome.input_val_psnr
    assert scores_below_input(outcome) == (pytest.approx(kept),
                                           pytest.approx(outcome.input_val_psnr))
    assert "these weights make images worse" in outcome.summary


def psf_cyclegan_dock(viewer, fluo_u8, steps: int):
    from scipy import ndimage

    sharp = fluo_u8.astype(np.float32)
    blurry = viewer.add_image(ndimage.gaussian_filter(sharp, 1.5), name="blurry")
    target = viewer.add_image(sharp, name="sharp")
    w = finetune_dock(viewer, 0, blurry, steps=steps)
    w.sharp_combo.set_value(target)
    w.patch_spin.setValue(64)  # its default discriminator needs 64-px patches
    w.regimes.set_start("psf_cyclegan", "tiny")
    w.regimes.set_regime("psf_cyclegan")
    return w


def test_dock_keep_last_stopped_early_says_it_ended_before_validating(
        make_napari_viewer, qtbot, notes, tiny_session_model, fluo_u8):  # noqa: F811
    from napari_microdeblur._widgets._methods import SESSION_MODELS

    viewer = make_napari_viewer()
    w = psf_cyclegan_dock(viewer, fluo_u8, steps=100_000)  # validates every 50 steps
    methods = SESSION_MODELS.labels()
    w.start_button.click()
    qtbot.waitUntil(lambda: w._last_step >= 1, timeout=TIMEOUT)
    w.stop_button.click()
    wait_idle(qtbot, w)
    assert w.outcome.kept_start and SESSION_MODELS.labels() == methods
    status = w.status_label.text()
    assert "kept the last step" not in status and "Nothing was added" in status
    assert "before its first validation after the start (every 50 steps" in status
    assert "let the run go past its first validation" in status
    said = [m for _, m in notes.all() if m.startswith("fine-tuning stopped")]
    assert said == ["fine-tuning stopped: it ended before its first validation after the "
                    "start, so 'new psf_cyclegan (tiny)' is unchanged; nothing was added to "
                    "the Deblur dock"]


def test_adapting_sends_the_prior_note_as_info(
        make_napari_viewer, qtbot, notes, tiny_session_model, fluo_u8):  # noqa: F811
    viewer = make_napari_viewer()
    blurry = viewer.add_image(fluo_u8.astype(np.float32), name="blurry")
    w = finetune_dock(viewer, 2, blurry, steps=2)
    w.psf_panel.psf_edit.setText("gaussian:1.5")
    w.minutes_spin.setValue(0.05)
    w.patch_spin.setValue(16)
    w.start_button.click()
    wait_idle(qtbot, w)
    infos = [m for s, m in notes.all() if s.lower() == "info"]
    assert any(m.startswith("prior: ") for m in infos)
    assert not any(m.startswith("prior: ") for m in notes.warnings())
