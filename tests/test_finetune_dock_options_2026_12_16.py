"""Issue 14, items 2 and 7: the Fine-tune dock's "Small-data options" (which weights train,
replay, L2-SP, jitter, flips and rotations, min gain), as `microdeblur finetune` has them:
folded by default, paired runs only, their values in the request and the card, bad ones
refused in the status line by the core's own checks before any training."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from _finetune_docks import any_gain_counts
from scipy import ndimage
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    CARD,
    TIMEOUT,
    _clean_session,
    dock,
    tiny_gran,
    wait_idle,
)

from napari_microdeblur.cli import main
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.data import DegradationRanges
from napari_microdeblur.core.finetune import FinetuneRequest

MIX_CARD = {**CARD, "degradation": "mix: " + json.dumps(DegradationRanges().to_dict())}


def texture(seed: int, shape=(96, 96)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 2.0).astype(np.float32)


def session_model(tmp_path, name: str, card: dict, channels: int = 1) -> str:
    from napari_microdeblur._widgets._methods import SESSION_MODELS, SessionModel

    path = tmp_path / f"{name}.safetensors"
    save_weights(tiny_gran(channels), path, card)
    SESSION_MODELS.add(SessionModel(name, *load_model(path), "loaded"))
    return name


def paired_dock(viewer, base: str, *, rgb: bool = False):
    """The dock on a 96-px blurry/sharp pair, 3 fast steps of 4 patches of 32 px."""
    sharp = np.stack([texture(3), texture(4), texture(5)], -1) if rgb else texture(3)
    blurry = ndimage.gaussian_filter(sharp, (1.5, 1.5, 0)[: sharp.ndim])
    w = dock(viewer, "Fine-tune")
    w.mode_combo.setCurrentIndex(0)
    w.blurry_combo.set_value(viewer.add_image(blurry, name="blurry", rgb=rgb))
    w.sharp_combo.set_value(viewer.add_image(sharp, name="sharp", rgb=rgb))
    w.set_base(base)
    for spin, value in ((w.steps_spin, 3), (w.patch_spin, 32), (w.batch_spin, 4),
                        (w.minutes_spin, 0)):
        spin.setValue(value)
    w.device_combo.setCurrentText("cpu")
    return w


def test_untouched_options_are_the_defaults_folded_and_paired_only(make_napari_viewer,
                                                                   tmp_path):
    viewer = make_napari_viewer()
    w = paired_dock(viewer, session_model(tmp_path, "tiny_mix", MIX_CARD))
    assert w.options.isVisibleTo(w) and not w.options.body.isVisibleTo(w)  # folded
    req = w.build_request()
    defaults = {f.name: f.default for f in dataclasses.fields(FinetuneRequest)}
    for name in ("trainable", "replay", "replay_images", "anchor_weight", "intensity_jitter",
                 "augment", "min_gain_db"):
        assert getattr(req, name) == defaults[name], name
    w.options.toggle.click()
    assert w.options.body.isVisibleTo(w)
    assert "defaults did best" in w.options.toggle.toolTip()
    w.mode_combo.setCurrentIndex(2)  # adapt to this image: `finetune --self` refuses them
    assert not w.options.isVisibleTo(w)
    w.mode_combo.setCurrentIndex(1)
    assert w.options.isVisibleTo(w)


def test_late_weights_and_replay_reach_the_card(make_napari_viewer, qtbot, tmp_path, capsys):
    viewer = make_napari_viewer()
    w = paired_dock(viewer, session_model(tmp_path, "tiny_mix", MIX_CARD))
    w.options.toggle.click()
    w.options.trainable_combo.setCurrentIndex(w.options.trainable_combo.findData("late"))
    w.options.replay_spin.setValue(0.25)
    w.options.jitter_spin.setValue(0.0)
    w.options.augment_check.setChecked(False)
    any_gain_counts(w)
    w.start()
    req = w.request
    assert (req.trainable, req.replay, req.intensity_jitter, req.augment) == ("late", 0.25,
                                                                            0.0, False)
    wait_idle(qtbot, w, TIMEOUT)
    outcome = w.outcome
    assert outcome is not None and not outcome.kept_start, w.status_label.text()
    assert outcome.card.training["trainable"] == "late"
    assert outcome.card.training["replay"] == 0.25
    # the recipe whole: the card had said neither (None in the dock's run)
    assert (outcome.card.training["intensity_jitter"], outcome.card.training["augment"]) == (
        0.0, False)
    assert "replayed in 1 of each batch's 4 patches" in outcome.card.training_data
    saved = w.save(tmp_path / "tuned.safetensors")
    capsys.readouterr()
    assert main(["info", str(saved)]) == 0
    said = capsys.readouterr().out
    assert "weights trained: late" in said
    assert "replay: 0.25 of each batch (images: the training targets)" in said
    assert "augmentation: intensity jitter off, flips and rotations off" in said


def refused(w, qtbot, *words: str) -> None:
    """Start is refused in the status line with ``words``; no run, no method, no layer."""
    from napari_microdeblur._widgets._methods import SESSION_MODELS

    methods, layers = list(SESSION_MODELS.labels()), len(w.viewer.layers)
    assert w.start() is None
    line = w.status_label.text()
    for word in words:
        assert word in line, line
    assert w.request is None and w.outcome is None and not w._workers
    assert list(SESSION_MODELS.labels()) == methods and len(w.viewer.layers) == layers


def test_bad_replay_settings_are_refused_before_training(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    w = paired_dock(viewer, session_model(tmp_path, "tiny_mix", MIX_CARD))
    opts = w.options
    opts.replay_spin.setValue(0.25)
    w.batch_spin.setValue(1)
    refused(w, qtbot, "Replay share 0.25 with Batch size 1", "give Batch size 2 or more")
    w.batch_spin.setValue(4)
    small = viewer.add_image(texture(7, (20, 20)), name="small")
    opts.replay_combo.set_value(small)
    refused(w, qtbot, "Replay images: Patch size 32 is larger than 1 replay plane")
    opts.replay_spin.setValue(0.0)
    opts.replay_combo.set_value(viewer.add_image(texture(8), name="like the start's"))
    refused(w, qtbot, "Replay images is chosen but Replay share is off: set Replay share "
            "(e.g. 0.25), or choose no Replay images")
    opts.replay_combo.setCurrentIndex(0)  # the training targets
    assert opts.replay_combo.value is None
    w.set_base(session_model(tmp_path, "tiny_none", CARD))  # its card records no mixture
    opts.replay_spin.setValue(0.25)
    refused(w, qtbot, "records no synthetic training mixture")


def test_replay_images_of_other_channels_are_refused(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    w = paired_dock(viewer, session_model(tmp_path, "tiny_rgb", MIX_CARD, 3), rgb=True)
    w.options.replay_spin.setValue(0.25)
    w.options.replay_combo.set_value(viewer.add_image(texture(8), name="gray"))
    refused(w, qtbot, "Replay images: 1 channel(s) per image, the pairs 3")


@pytest.mark.parametrize(("field", "value", "words"), [
    ("anchor_weight", float("nan"), "Anchor weight nan; accepted: a finite number"),
    ("anchor_weight", -1.0, "Anchor weight -1.0; accepted: a finite number >= 0"),
    ("min_gain_db", -0.5, "Min gain (dB): Input should be greater than or equal to 0"),
    ("intensity_jitter", float("nan"), "Intensity jitter nan; accepted"),
])
def test_nan_and_negative_numbers_are_refused_in_the_fields_words(make_napari_viewer,
                                                                  tmp_path, field, value, words):
    """The spin boxes hold no such number; a request given one otherwise (a script's) is
    refused by the check Start makes, in the fields' names."""
    from napari_microdeblur._widgets._finetune_options import check_options

    viewer = make_napari_viewer()
    w = paired_dock(viewer, session_model(tmp_path, "tiny_mix", MIX_CARD))
    req = w.build_request()
    with pytest.raises(ValueError) as error:
        check_options(dataclasses.replace(req, **{field: value}))
    assert words in str(error.value)
