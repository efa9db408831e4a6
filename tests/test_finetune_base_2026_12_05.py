"""From a walkthrough (rgbft, 2026-12-05): on RGB H&E the Fine-tune dock's base is the blind
network, while the Deblur dock's 'auto' runs the PSF-aware network with an estimated PSF (29.53
dB against the fine-tuned 28.96 dB); Compare & QC showed only base against fine-tuned. The
comparison also warned of PSF estimates for networks that take none; validation on one band
of one image was not said to be thin; `info` showed no image type for fine-tuned weights.
Core runs are a few steps; the dock runs in a real viewer (Xvfb)."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
from test_widget_finetune import colour_pair, finetune_dock, tiny_session_model  # noqa: F401
from test_widgets import TIMEOUT, _clean_session, wait_idle  # noqa: F401

NARROW = "a gain there says little about other samples"


def test_a_session_network_that_takes_no_psf_gets_no_psf_estimate(tiny_session_model):  # noqa: F811
    """The comparison ran the base and fine-tuned networks through method 'auto', so an RGB
    region got 'PSF estimated from the image' (or 'no PSF could be estimated ... ran the blind
    network instead') though neither network takes a PSF."""
    from napari_microdeblur._widgets._jobs import DeblurRequest, with_estimated_psf
    from napari_microdeblur._widgets._methods import SESSION_MODELS
    from napari_microdeblur.core.method import MethodSpec

    network = SESSION_MODELS.get(tiny_session_model)
    blurry, _ = colour_pair()
    req = DeblurRequest(source_name="b", image=blurry, axes="YXS", label=network.label,
                        method=MethodSpec(precision="float32"), network=network)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        ran = with_estimated_psf(req)
    assert [str(w.message) for w in said if "PSF" in str(w.message)] == []
    assert ran.method.psf is None and ran.fallback == "" and ran.label == network.label


def test_a_finetuned_card_carries_its_base_image_type_and_says_validation_is_thin(tmp_path):
    """`info FINETUNED.safetensors` showed no image type and training_sets []; a validation
    band of one pair was not said to say little about other samples."""
    from napari_microdeblur.core.bundled import BUNDLED_WEIGHTS, load_bundled
    from napari_microdeblur.core.catalog import card_image_type, card_training_sets
    from napari_microdeblur.core.checkpoint import read_card
    from napari_microdeblur.core.finetune import FinetuneRequest, iter_finetune

    base = "c2f_unet.brightfield_v2"
    model, card = load_bundled(base)
    blurry, sharp = colour_pair()
    req = FinetuneRequest(mode="pair", layer_name="he", axes="YXS", model=model,
                          base_label=base, base_card=card, blurry=blurry, sharp=sharp,
                          steps=2, val_every=1, patch=32, batch_size=2, device="cpu",
                          checkpoint_dir=str(tmp_path / "ck"), min_gain_db=0)
    job = iter_finetune(req)
    try:
        while True:
            next(job)
    except StopIteration as done:
        outcome = done.value
    assert outcome.model is not None and outcome.file is not None
    saved = read_card(outcome.file)
    assert card_image_type(saved).startswith("brightfield and histology; ")
    sets = card_training_sets(saved)
    assert sets[:-1] == BUNDLED_WEIGHTS[base].training_sets and len(sets) > 1
    assert sets[-1].startswith("fine-tuned on layer 'he'")
    assert f"validation rests on 1 layer: {NARROW}" in outcome.summary
    assert NARROW in saved.description
    # a fine-tune of that fine-tuned network keeps the image type
    again = replace(req, base_card=saved, base_label="mine", checkpoint_dir=str(tmp_path / "2"))
    job = iter_finetune(again)
    try:
        while True:
            next(job)
    except StopIteration as done:
        second = read_card(done.value.file)
    assert card_image_type(second).startswith("brightfield and histology; ")
    assert card_training_sets(second)[:len(sets)] == sets


def test_the_comparison_shows_what_auto_gives(make_napari_viewer, qtbot,
                                             tiny_session_model):  # noqa: F811
    """After a paired run Compare & QC showed only base against fine-tuned: a model below the
    Deblur dock's default was adopted. The region is deblurred by 'auto' too, and the status
    line says the fine-tuned result's PSNR against auto's."""
    from napari.utils.notifications import notification_manager

    from napari_microdeblur.core.metrics import psnr, to_reference_scale

    viewer = make_napari_viewer()
    start = len(notification_manager.records)
    blurry, sharp = colour_pair((128, 128))
    b = viewer.add_image(blurry, name="b", rgb=True)
    viewer.add_image(sharp, name="s", rgb=True)
    w = finetune_dock(viewer, 0, b, steps=2)
    w.sharp_combo.set_value(viewer.layers["s"])
    w.start_button.click()
    wait_idle(qtbot, w)
    qtbot.waitUntil(lambda: w.comparison is not None and "auto" in w.comparison,
                    timeout=TIMEOUT)
    auto = w.comparison["auto"]
    assert auto.name.startswith("b held-out band ") and ": [auto: " in auto.name
    # its PSF estimated on the whole layer: the 26-px band alone gave none (the blind base ran)
    assert auto.name.endswith("[auto: wiener_unet.psf_v4 + estimated PSF]")
    assert auto.metadata["microdeblur"]["psf"].startswith(("gaussian:", "astig:"))
    assert auto.data.shape == w.comparison["input"].data.shape
    assert auto.metadata["microdeblur"]["role"] == "auto"
    scores = {role: psnr(*to_reference_scale(np.asarray(w.comparison[role].data, np.float32),
                                             w.comparison["target"].data), data_range=1.0)
              for role in ("tuned", "auto")}
    status = w.status_label.text()
    assert f"Fine-tuned {scores['tuned']:.2f} dB vs auto: " in status
    assert f"{scores['auto']:.2f} dB ({scores['tuned'] - scores['auto']:+.2f} dB)" in status
    assert NARROW in status
    # no line about a PSF the base and fine-tuned networks do not take
    said = [str(n.message) for n in notification_manager.records[start:]]
    assert not [line for line in said if "PSF" in line], said
