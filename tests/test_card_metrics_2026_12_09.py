"""From a walkthrough (2026-12-09): a fine-tune kept below the unprocessed input (46.00 vs
46.09 dB) wrote a card with val_psnr alone, so the dock showed "46.00 dB" and `info` showed
no figure and not the card's notes; and the card had no pixel size, so weights fine-tuned at
0.512 um ran on a 0.105 um stack (5x finer) without a word. Core runs are two steps of a
tiny GRAN on the light-sheet focus stack."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
import torch
from test_widget_finetune import tiny_session_model  # noqa: F401

from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import ModelCard, load_model, read_card, save_weights
from napari_microdeblur.core.notes import DeblurWarning


def tiny_gran_file(folder, metrics=None, description=""):
    torch.manual_seed(0)
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    path = folder / "tiny_gran.safetensors"
    save_weights(model, path, {"training_data": "random weights for a test",
                               "license": "BSD-3-Clause", "metrics": metrics or {},
                               "description": description})
    return path


def run_finetune(tmp_path, focus_stack, **options):
    from napari_microdeblur.core.finetune import FinetuneRequest, iter_finetune
    from napari_microdeblur.core.progress import drive

    model, card = load_model(tiny_gran_file(tmp_path))
    req = FinetuneRequest(model=model, base_label="tiny", base_card=card, patch=64,
                          val_fraction=0.1, batch_size=2, device="cpu", mode="stack",
                          layer_name="s", axes="ZYX", stack=focus_stack, focus=7, steps=2,
                          val_every=1, checkpoint_dir=tmp_path / "ck", **options)
    return drive(iter_finetune(req))


# ----------------------------------------------------------------------------- the card


def test_finetuned_card_keeps_the_input_and_start_psnr_and_pixel_size(tmp_path, focus_stack):
    outcome = run_finetune(tmp_path, focus_stack, pixel_size_um=0.511878)
    metrics = outcome.card.metrics
    start = outcome.result.history[0]
    assert start["step"] == 0
    assert metrics["val_psnr_input"] == pytest.approx(outcome.result.baseline["val_psnr"])
    assert metrics["val_psnr_input"] == pytest.approx(outcome.input_val_psnr)
    assert metrics["val_psnr_start"] == pytest.approx(start["val_psnr"])
    assert metrics["pixel_size_um"] == pytest.approx(0.511878)
    # the kept file (what the CLI copies to --out and the dock saves) holds them too, and the
    # card returned names that file as loading it does
    on_disk = read_card(outcome.file).metrics
    for key in ("val_psnr", "val_psnr_input", "val_psnr_start", "pixel_size_um"):
        assert on_disk[key] == pytest.approx(metrics[key])
    assert outcome.card.source == str(outcome.file) and outcome.card.sha256


def test_no_pixel_size_given_none_recorded(tmp_path, focus_stack):
    outcome = run_finetune(tmp_path, focus_stack)
    assert "pixel_size_um" not in outcome.card.metrics
    assert "val_psnr_input" in outcome.card.metrics  # the input's figure all the same


@pytest.mark.parametrize("size", [-0.1, 0, float("nan"), "0.5", True])
def test_a_bad_pixel_size_is_refused_before_any_work(tmp_path, size):
    from napari_microdeblur.core.finetune import FinetuneRequest
    from napari_microdeblur.core.finetune_request import check_request

    req = FinetuneRequest(mode="stack", layer_name="s", axes="ZYX", model=None,
                          base_label="tiny", base_card=None, pixel_size_um=size)
    with pytest.raises(ValueError, match="pixel_size_um=.*in um, a number > 0"):
        check_request(req)


def test_stated_pixel_size_of_the_training_images():
    from napari_microdeblur.core.pixel_units import stated_pixel_size

    assert stated_pixel_size([{"Z": 0.5, "Y": 0.512, "X": 0.512}]) == pytest.approx(0.512)
    assert stated_pixel_size([{"Y": 0.4, "X": 0.9}]) == pytest.approx(0.6)  # geometric mean
    assert stated_pixel_size([{"Y": 0.1, "X": 0.1}, {"Y": 0.102, "X": 0.102}]) == \
        pytest.approx(0.101)
    assert stated_pixel_size([{"Y": 0.1, "X": 0.1}, {"Y": 0.2, "X": 0.2}]) is None  # differ
    assert stated_pixel_size([{"Y": 0.1, "X": 0.1}, {}]) is None  # one states none
    assert stated_pixel_size([{"Y": 352.8, "X": 352.8}]) is None  # 72 dpi: no calibration
    assert stated_pixel_size([]) is None


# ----------------------------------------------------------------------------- the warning


def write_stack(path, pixel_um=None):
    rng = np.random.default_rng(0)
    stack = (rng.random((2, 64, 64)) * 1000).astype(np.uint16)
    if pixel_um is None:
        tifffile.imwrite(path, stack)
    else:
        tifffile.imwrite(path, stack, imagej=True, resolution=(1 / pixel_um, 1 / pixel_um),
                         metadata={"axes": "ZYX", "unit": "um"})
    return path


def scale_warnings(caught):
    return [w for w in caught if issubclass(w.category, DeblurWarning)
            and "were trained on images of" in str(w.message)]


def deblur_warnings(tmp_path, weights, pixel_um, name):
    from napari_microdeblur.core.files import deblur_file

    src = write_stack(tmp_path / f"{name}.tif", pixel_um)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur_file(src, tmp_path / f"{name}_out.tif", axes="ZYX", method="auto",
                    weights=str(weights))
    return scale_warnings(caught)


def test_deblur_at_another_pixel_size_warns_once(tmp_path):
    weights = tiny_gran_file(tmp_path, {"pixel_size_um": 0.512})
    found = deblur_warnings(tmp_path, weights, 0.105, "fine")
    assert len(found) == 1
    line = str(found[0].message)
    assert "0.512 um" in line and "0.105 um" in line and "4.9x finer" in line
    assert "results may be worse" in line and "resample" in line and "fine-tune" in line
    coarse = deblur_warnings(tmp_path, weights, 1.2, "coarse")
    assert len(coarse) == 1 and "2.3x coarser" in str(coarse[0].message)


def test_no_warning_within_2x_or_where_either_does_not_say(tmp_path):
    weights = tiny_gran_file(tmp_path, {"pixel_size_um": 0.512})
    assert deblur_warnings(tmp_path, weights, 0.3, "near") == []  # 1.7x
    assert deblur_warnings(tmp_path, weights, None, "unstated") == []
    (tmp_path / "plain").mkdir()
    plain = tiny_gran_file(tmp_path / "plain")  # a card without a pixel size
    assert deblur_warnings(tmp_path, plain, 0.105, "no_card_size") == []


def test_card_pixel_note_reads_a_card_object_or_dict():
    from napari_microdeblur.core.files import card_pixel_note

    card = ModelCard(arch="gran", in_channels=1, out_channels=1,
                     metrics={"pixel_size_um": 0.512}, source="tuned.safetensors")
    note = card_pixel_note(card, {"Y": 0.105, "X": 0.105}, image="stack.tif")
    assert note.startswith("weights 'tuned.safetensors' were trained on images of 0.512 um")
    assert "stack.tif has 0.105 um pixels" in note
    assert card_pixel_note(card.model_dump(), {"Y": 0.105, "X": 0.105}) == \
        card_pixel_note(card, {"Y": 0.105, "X": 0.105})
    assert card_pixel_note(card, {"Y": 1.0, "X": 1.0}) is None  # 1.95x: within 2x
    assert card_pixel_note(card, {}) is None


# ----------------------------------------------------------------------------- info, dock

BELOW = {"val_psnr": 45.99651912416009, "val_psnr_start": 45.99651912416009,
         "val_psnr_input": 46.0911, "step": 0, "pixel_size_um": 0.511878}
NOTES = ("c2f-like fine-tuned for at most 2000 steps; kept the starting weights (no trained "
         "step beat them by 0.1 dB on validation)")


def test_info_prints_the_validation_figures_pixel_size_and_notes(tmp_path):
    from napari_microdeblur.cli_info import describe, text_block

    text = text_block(describe(str(tiny_gran_file(tmp_path, BELOW, NOTES))))
    assert ("  validation PSNR: 46.00 dB (starting weights 46.00 dB, unprocessed input "
            "46.09 dB, below the unprocessed input: these weights make images worse)") in text
    assert "  trained at pixel size: 0.5119 um" in text
    assert f"  notes: {NOTES}" in text


def test_info_of_a_card_with_val_psnr_alone(tmp_path):
    from napari_microdeblur.cli_info import describe, text_block

    text = text_block(describe(str(tiny_gran_file(tmp_path, {"val_psnr": 30.0}))))
    assert "  validation PSNR: 30.00 dB\n" in text + "\n"
    assert "pixel size" not in text and "notes:" not in text


def test_dock_card_shows_start_and_input_beside_the_validation_psnr():
    from napari_microdeblur._widgets._cards import card_summary, validation_psnr

    card = ModelCard(arch="gran", in_channels=1, out_channels=1, metrics=BELOW)
    assert validation_psnr(card) == "46.00 dB (start 46.00 dB, input 46.09 dB)"
    summary = card_summary(card)
    assert "<b>pixel size</b>: 0.5119 um (of the training images)" in summary
    plain = ModelCard(arch="gran", in_channels=1, out_channels=1, metrics={"val_psnr": 30.0})
    assert validation_psnr(plain) == "30.00 dB"
    assert "pixel size" not in card_summary(plain)


def test_the_finetune_dock_records_the_layers_pixel_size(make_napari_viewer,
                                                         tiny_session_model):  # noqa: F811
    """The Fine-tune dock gave the core no pixel size, so its cards had none and a deblur at
    another pixel size could not warn. A calibrated layer's scale goes into the request; an
    uncalibrated one (scale 1) gives none."""
    from test_widget_finetune import finetune_dock

    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    for scale, expected in (((0.2, 0.2), 0.2), ((1.0, 1.0), None)):
        viewer.layers.clear()
        b = viewer.add_image(rng.random((64, 64)).astype(np.float32), name="b", scale=scale)
        s = viewer.add_image(rng.random((64, 64)).astype(np.float32), name="s", scale=scale)
        w = finetune_dock(viewer, 0, b, steps=2)
        w.sharp_combo.set_value(s)
        req = w.build_request()
        if expected is None:
            assert req.pixel_size_um is None
        else:
            assert abs(req.pixel_size_um - expected) < 1e-6


def test_the_deblur_dock_warns_of_weights_trained_at_another_pixel_size(
        make_napari_viewer, qtbot, tmp_path):
    """`microdeblur deblur` warned when fine-tuned weights met an image 4.9x finer; the Deblur
    dock, given the same weights, said nothing."""
    from napari.utils.notifications import notification_manager
    from test_widgets import dock, wait_run

    from napari_microdeblur._widgets._methods import SESSION_MODELS, SessionModel

    torch.manual_seed(0)
    model = registry.build_model("gran", {"in_channels": 1, "out_channels": 1, "n_feats": 8,
                                          "n_resblocks": 1, "use_grab": False})
    path = tmp_path / "at_half_um.safetensors"
    save_weights(model, path, {"arch": "gran", "training_data": "synthetic",
                               "metrics": {"pixel_size_um": 0.5}})
    SESSION_MODELS.add(SessionModel("at_half_um", *load_model(path), "loaded"))
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    w = dock(viewer, "Deblur")
    for scale, warned in (((0.1, 0.1), True), ((0.4, 0.4), False)):
        viewer.layers.clear()
        viewer.add_image(rng.random((48, 48)).astype(np.float32), name="img", scale=scale)
        w.layer_combo.set_value(viewer.layers["img"])
        w.set_method("at_half_um")
        start = len(notification_manager.records)
        wait_run(qtbot, w.run())
        said = [str(n.message) for n in notification_manager.records[start:]]
        hits = [line for line in said if "were trained on images of 0.5 um pixels" in line]
        assert bool(hits) is warned, said
        assert ("5.0x finer" in w.status_label.text() or not warned)


def test_microdeblur_finetune_records_the_files_pixel_size(tmp_path):
    """`microdeblur finetune` gave the core no pixel size: its cards had none."""
    from scipy import ndimage

    from napari_microdeblur.cli import main

    torch.manual_seed(0)
    model = registry.build_model("gran", {"in_channels": 1, "out_channels": 1, "n_feats": 8,
                                          "n_resblocks": 1, "use_grab": False})
    base = tmp_path / "base.safetensors"
    save_weights(model, base, {"arch": "gran", "training_data": "synthetic"})
    sharp = ndimage.gaussian_filter(np.random.default_rng(1).random((96, 96)), 1.0)
    sharp = (60000 * sharp / sharp.max()).astype(np.uint16)
    blurry = ndimage.gaussian_filter(sharp, 1.5)
    meta = {"axes": "YX", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25,
            "PhysicalSizeXUnit": "µm", "PhysicalSizeYUnit": "µm"}
    for name, image in (("b.ome.tif", blurry), ("s.ome.tif", sharp)):
        tifffile.imwrite(tmp_path / name, image, metadata=meta)
    out = tmp_path / "tuned.safetensors"
    assert main(["finetune", "--weights", str(base), "--blurry", str(tmp_path / "b.ome.tif"),
                 "--sharp", str(tmp_path / "s.ome.tif"), "--out", str(out), "--steps", "2",
                 "--patch", "32", "--batch", "2", "--device", "cpu", "-q",
                 "--min-gain", "0"]) == 0
    assert abs(read_card(out).metrics["pixel_size_um"] - 0.25) < 1e-6


def test_weights_below_the_input_on_their_validation_are_warned_of(tmp_path):
    """`train` cards now record the input's validation PSNR beside the network's; weights
    scoring below it (11.44 against 28.29 dB in a walkthrough) ran without a word."""
    from napari_microdeblur.core.files import card_below_input_note, deblur_file

    assert card_below_input_note({"metrics": {"val_psnr": 11.44, "val_psnr_input": 28.29},
                                  "source": "/x/sup_l1.safetensors"}).startswith(
        "weights 'sup_l1.safetensors' scored below the unprocessed input on their own "
        "validation (11.44 dB against 28.29 dB)")
    for metrics in ({"val_psnr": 30.0, "val_psnr_input": 28.0}, {"val_psnr": 30.0}, {}):
        assert card_below_input_note({"metrics": metrics}) is None
    torch.manual_seed(0)
    model = registry.build_model("gran", {"in_channels": 1, "out_channels": 1, "n_feats": 8,
                                          "n_resblocks": 1, "use_grab": False})
    path = tmp_path / "worse.safetensors"
    save_weights(model, path, {"arch": "gran", "training_data": "synthetic",
                               "metrics": {"val_psnr": 11.0, "val_psnr_input": 28.0}})
    image = tmp_path / "img.tif"
    tifffile.imwrite(image, np.random.default_rng(0).random((48, 48)).astype(np.float32))
    with pytest.warns(DeblurWarning, match="'worse.safetensors' scored below the unprocessed"):
        deblur_file(image, tmp_path / "out.tif", weights=str(path))


def test_the_deblur_dock_warns_of_weights_below_the_input(make_napari_viewer, qtbot, tmp_path):
    from test_widgets import dock, wait_run

    from napari_microdeblur._widgets._methods import SESSION_MODELS, SessionModel

    torch.manual_seed(0)
    model = registry.build_model("gran", {"in_channels": 1, "out_channels": 1, "n_feats": 8,
                                          "n_resblocks": 1, "use_grab": False})
    path = tmp_path / "below.safetensors"
    save_weights(model, path, {"arch": "gran", "training_data": "synthetic",
                               "metrics": {"val_psnr": 11.0, "val_psnr_input": 28.0}})
    SESSION_MODELS.add(SessionModel("below_input", *load_model(path), "loaded"))
    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(0).random((48, 48)).astype(np.float32), name="img")
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(viewer.layers["img"])
    w.set_method("below_input")
    wait_run(qtbot, w.run())
    assert "scored below the unprocessed input" in w.status_label.text()
