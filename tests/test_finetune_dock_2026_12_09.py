"""From a walkthrough of the Fine-tune dock (2026-12-09):

1. the fine-tuned weights lived only in the run's temporary folder, deleted at exit: they are
   now copied to a per-user folder (``MICRODEBLUR_FINETUNED_DIR`` here) named in the status;
2. the final status put its outcome after a long parenthetical, doubled 'stopped', left out
   the start's PSNR on a stopped run, called a run that did all its steps an early stop, and
   the progress line did not label the starting weights' validation as 'start';
3. 'Run again' starts from the base model: the status says so, and offers the last run;
4. Minutes much shorter than Steps' warm-up: a hint says how many steps fit.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace

import pytest
from _finetune_docks import any_gain_counts
from test_widget_finetune import (
    finetune_dock,
    tiny_session_model,  # noqa: F401 - the fixture
)
from test_widgets import TIMEOUT, _clean_session, dock, wait_idle  # noqa: F401 - fixture

from napari_microdeblur.core.training.records import FitProgress

#: every test starts from a tiny GRAN loaded as 'tiny_gran'
pytestmark = pytest.mark.usefixtures("tiny_session_model")


@pytest.fixture
def kept_dir(tmp_path, monkeypatch):
    folder = tmp_path / "kept"
    monkeypatch.setenv("MICRODEBLUR_FINETUNED_DIR", str(folder))
    return folder


def _stack_dock(viewer, stack, steps):
    layer = viewer.add_image(stack, name="stack")
    w = finetune_dock(viewer, 1, layer, steps=steps)
    w.focus_spin.setValue(7)
    any_gain_counts(w)
    return w


def test_a_run_then_a_run_again(make_napari_viewer, qtbot, focus_stack, kept_dir):
    """One dock, two runs (each run is the expensive part; these checks were five tests of
    one run or two each): 1. the kept weights outlive the run's folder; 2. the final status
    puts the outcome first; 4. no warm-up hint when the Steps fit the Minutes; 3. 'Run again'
    starts from the base model; and (2026-12-08, test_finetune_outcome_2026_12_08) the second
    run's comparison layers are named after the run, never napari's '[1]'."""
    from napari_microdeblur._widgets._finetune_status import TIMED_STEPS
    from napari_microdeblur._widgets._methods import SESSION_MODELS

    viewer = make_napari_viewer()
    # 7 steps: the hint is decided once TIMED_STEPS steps after the first record are timed
    steps = 7
    assert steps >= TIMED_STEPS + 2
    w = _stack_dock(viewer, focus_stack, steps=steps)
    assert w.minutes == 5  # the steps fit in the time limit: no hint
    seen = []
    shown = w._yielded
    w._yielded = lambda record: (shown(record), seen.append(w.status_label.text()))
    w.start_button.click()
    assert "(starting from the base model 'tiny_gran')" in w.status_label.text()
    wait_idle(qtbot, w)
    # 4. no warm-up hint
    assert len(seen) >= steps and not any("warm-up" in text for text in seen)
    # 2. the final status puts the outcome first
    text = w.status_label.text()
    step = w.outcome.card.metrics["step"]
    start = next(h["val_psnr"] for h in w.outcome.result.history if h["step"] == 0)
    kept_psnr = w.outcome.card.metrics["val_psnr"]
    assert text.startswith(
        f"finished after {steps} step(s) (all {steps} steps done): kept step {step}, "
        f"val PSNR {start:.2f} -> {kept_psnr:.2f} dB. Added method 'tiny_gran fine-tuned on "
        "stack'")
    assert "stopped early" not in text
    assert text.index("Details:") > text.index("Added method")
    # 1. the kept weights outlive the run folder
    kept = w.outcome.file
    assert kept.parent == kept_dir and kept.name.endswith(
        "_tiny_gran_fine-tuned_on_stack.safetensors")
    assert str(kept) in w.status_label.text()
    assert SESSION_MODELS.get(w.session_label).extra["file"] == str(kept)
    # the run's folder goes at exit; the kept copy, the one layers' sha256 names, stays
    shutil.rmtree(w.request.checkpoint_dir)
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == w.outcome.card.sha256
    saved = w.save(kept_dir.parent / "mine")
    assert saved.read_bytes() == kept.read_bytes()
    first = _comparison_names(w)
    # 3. run again: from the base model, the last run offered as the next base
    last = w.session_label
    assert last in w.base.choices()  # the last run's weights can be the next base
    w.steps_spin.setValue(3)
    w.start_button.click()
    assert (f"starting from the base model 'tiny_gran'; to go on from the last run, choose "
            f"{last!r} as Base model") in w.status_label.text()
    wait_idle(qtbot, w)
    second = _comparison_names(w)
    # the second run's comparison layers are named after the run (2026-12-08)
    axis, lo, hi = w._notes["val_region"]
    assert first["input"] == f"stack held-out band {axis} {lo}-{hi}: input"
    assert second["input"] == f"stack held-out band {axis} {lo}-{hi}, run 2: input"
    assert second["target"] == f"stack held-out band {axis} {lo}-{hi}, run 2: sharp target"
    assert second["tuned"].endswith(", run 2: [tiny_gran fine-tuned on stack (2)]")
    assert not any(layer.name.endswith(" [1]") for layer in viewer.layers)


def _comparison_names(w) -> dict[str, str]:
    assert set(w.comparison) == {"input", "base", "tuned", "target", "auto"}
    return {role: layer.name for role, layer in w.comparison.items()}


def test_stopped_status_says_stopped_once_and_gives_the_start(
        make_napari_viewer, qtbot, focus_stack, kept_dir):
    w = _stack_dock(make_napari_viewer(), focus_stack, steps=100_000)
    build = w.build_request  # step 1 carries the start's validation, step 2 a trained one
    w.build_request = lambda: replace(build(), val_every=2)
    w.start_button.click()
    qtbot.waitUntil(lambda: w._last_step >= 3, timeout=TIMEOUT)
    w.stop_button.click()
    wait_idle(qtbot, w)
    text = w.status_label.text()
    assert w.outcome.stopped and not w.outcome.kept_start
    assert text.startswith(f"stopped after {w._last_step} step(s): kept step ")
    assert "; stopped" not in text
    start = float(text.split("val PSNR ")[1].split(" -> ")[0])  # the start, from step 1
    assert start == pytest.approx(w.outcome.card.metrics["val_psnr_start"], abs=0.01) \
        if "val_psnr_start" in w.outcome.card.metrics else start > 0


def test_progress_labels_the_starting_validation(make_napari_viewer, focus_stack):
    w = _stack_dock(make_napari_viewer(), focus_stack, steps=10)
    w.request = w.build_request()

    def record(step, psnr, validated):
        return FitProgress(step=step, steps=10, loss=0.1, lr=1e-3, val_psnr=psnr,
                           val_ssim=None, val_loss=None, seconds_left=5.0, validated=validated)

    w._yielded(record(1, 32.12, False))
    assert "val PSNR 32.12 dB (start)" in w.status_label.text()
    w._yielded(record(2, 33.0, True))
    assert "val PSNR 33.00 dB ·" in w.status_label.text()
    w._yielded(record(3, 33.0, False))  # the latest validation, of trained weights
    assert "(start)" not in w.status_label.text()


def test_minutes_that_fit_little_more_than_the_warm_up_say_so(
        make_napari_viewer, qtbot, focus_stack, kept_dir):
    # 10000 steps plan a 500-step warm-up; 3 s fit far fewer than 1500 tiny steps
    w = _stack_dock(make_napari_viewer(), focus_stack, steps=10_000)
    w.minutes_spin.setValue(0.05)
    w.start_button.click()
    qtbot.waitUntil(lambda: "warm-up is 500 steps" in w.status_label.text(), timeout=TIMEOUT)
    line = w.status_label.text().splitlines()[-1]
    assert line.startswith("about ") and "steps fit in 0.05 min at this speed" in line
    fit = int(line.split()[1])
    assert 0 < fit < 1500 and f"give fewer Steps (e.g. {fit}) or more minutes" in line
    w.stop_button.click()
    wait_idle(qtbot, w)
