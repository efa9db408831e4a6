"""Weights and fine-tuning checkpoints saved by earlier releases.

1. c2f_unet weights of before 2026-11-30 (a finer level's first convolution took its own input
   only) and psf_cyclegan weights of before 2026-12-01 (the PSF as softmax logits) were refused
   as "a damaged or edited file" by deblur, the Deblur dock's Load weights and
   psf-from-weights. Both convert exactly and load with one note.
   ``tests/data/old_layouts``: a small randomly initialised network of each, saved by those
   revisions' own code (c2f_unet at eb3c7ed, psf_cyclegan at 53a9157), with what that code
   computed from a fixed input (``*_outputs.npz``: x, its output y, and psf_cyclegan's kernel
   and blur of x).
2. ``finetune --resume`` of a checkpoint saved before license= existed was refused ("was
   started with licence 'BSD-3-Clause' (the starting weights' AND the images')"); the only way
   through claimed the lab's images were BSD.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.finetune_request import FinetuneRequest, check_same_start
from napari_microdeblur.core.notes import DeblurNote
from napari_microdeblur.core.registry import build_model
from napari_microdeblur.core.training.checkpoints import CHECKPOINT_FORMAT

OLD = Path(__file__).parent / "data" / "old_layouts"
C2F = OLD / "c2f_unet_eb3c7ed.safetensors"
PCG = OLD / "psf_cyclegan_53a9157.safetensors"


def _outputs(weights: Path) -> dict[str, np.ndarray]:
    return dict(np.load(weights.with_name(weights.stem + "_outputs.npz")))


def _file(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    with safe_open(str(path), "pt") as f:
        return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


def _loaded_with_one_note(path, **kwargs):
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        model, card = load_model(path, **kwargs)
    notes = [str(w.message) for w in said if issubclass(w.category, DeblurNote)]
    return model, card, notes


# ------------------------------------------------------------------ 1. earlier tensor layouts


def test_c2f_unet_weights_of_before_eq3_load_and_compute_the_old_revisions_output():
    model, card, notes = _loaded_with_one_note(C2F)
    old = _outputs(C2F)
    with torch.no_grad():
        y = model(torch.from_numpy(old["x"]))
    np.testing.assert_allclose(y.numpy(), old["y"], rtol=0, atol=1e-6)
    assert card.arch == "c2f_unet" and card.license == "CC0-1.0"  # the card as it was
    assert len(notes) == 1, notes
    assert "earlier layout of c2f_unet (before 2026-11-30" in notes[0]
    assert "converted" in notes[0] and "damaged" not in notes[0]


def test_psf_cyclegan_logits_load_as_the_same_psf_and_the_same_deblur():
    model, card, notes = _loaded_with_one_note(PCG)
    old = _outputs(PCG)
    x = torch.from_numpy(old["x"])
    with torch.no_grad():
        np.testing.assert_allclose(model(x).numpy(), old["y"], rtol=0, atol=1e-6)
        np.testing.assert_allclose(model.psf.kernel().numpy(), old["kernel"], rtol=1e-5,
                                   atol=1e-8)
        np.testing.assert_allclose(model.blur(x).numpy(), old["blurred"], rtol=0, atol=1e-5)
    assert len(notes) == 1 and "earlier layout of psf_cyclegan" in notes[0], notes


def test_psf_from_weights_writes_the_psf_old_weights_learned(tmp_path, capsys):
    import tifffile

    from napari_microdeblur.cli import main

    out = tmp_path / "psf.tif"
    assert main(["psf-from-weights", str(PCG), "-o", str(out)]) == 0, capsys.readouterr().err
    np.testing.assert_allclose(tifffile.imread(out), _outputs(PCG)["kernel"], rtol=1e-5,
                               atol=1e-8)
    assert "earlier layout of psf_cyclegan" in capsys.readouterr().err


def test_an_old_state_dict_given_with_its_architecture_converts_too(tmp_path):
    meta, tensors = _file(PCG)
    config = json.loads(meta["microdeblur_card"])["config"]
    path = tmp_path / "old.pt"
    torch.save(tensors, path)
    model, _, notes = _loaded_with_one_note(path, arch="psf_cyclegan", config=config)
    np.testing.assert_allclose(model.psf.kernel().detach().numpy(), _outputs(PCG)["kernel"],
                               rtol=1e-5, atol=1e-8)
    assert len(notes) == 1, notes


def _edited(path: Path, tmp_path: Path, edit) -> Path:
    meta, tensors = _file(path)
    edit(tensors)
    out = tmp_path / f"edited_{path.name}"
    save_file(tensors, str(out), metadata=meta)
    return out


@pytest.mark.parametrize("edit", [
    # the old layout's first convolution, and one more tensor of the wrong shape
    lambda t: t.update({"nets.0.out.weight": t["nets.0.out.weight"][:, :1]}),
    # the coarsest level widened as well: no layout ever had that
    lambda t: t.update({"nets.2.enc.0.0.weight": torch.zeros(2, 2, 3, 3)}),
])
def test_a_c2f_file_unlike_any_layout_is_still_called_damaged(tmp_path, edit):
    path = _edited(C2F, tmp_path, edit)
    with pytest.raises(ValueError, match="damaged or edited"):
        load_model(path)


def test_a_c2f_card_of_a_later_option_with_the_old_tensors_is_still_called_damaged(tmp_path):
    meta, tensors = _file(C2F)
    card = json.loads(meta["microdeblur_card"])
    card["config"]["global_skip"] = True  # an option of a later release than that layout
    path = tmp_path / "edited.safetensors"
    save_file(tensors, str(path), metadata={**meta, "microdeblur_card": json.dumps(card)})
    with pytest.raises(ValueError, match="damaged or edited"):
        load_model(path)


@pytest.mark.parametrize("edit", [
    lambda t: t.update({"psf.logits": t["psf.logits"][:5, :5].contiguous()}),  # its size
    lambda t: t.update({"psf.amplitude": t["psf.logits"].clone()}),  # both names
    lambda t: t.update({"psf.logits": torch.full_like(t["psf.logits"], float("nan"))}),
])
def test_a_psf_cyclegan_file_unlike_any_layout_is_still_refused(tmp_path, edit):
    path = _edited(PCG, tmp_path, edit)
    with pytest.raises(ValueError, match="damaged or edited"):
        load_model(path)


@pytest.mark.parametrize(("arch", "config"), [
    ("c2f_unet", {"levels": 3, "depth": 4, "base_channels": 2}),
    ("psf_cyclegan", {"spatial_dims": 2, "base_channels": 4, "depth": 2, "psf_size": 7}),
])
def test_weights_of_todays_layout_load_without_a_note(tmp_path, arch, config):
    path = tmp_path / f"{arch}.safetensors"
    save_weights(build_model(arch, config), path)
    _, _, notes = _loaded_with_one_note(path)
    assert notes == []


# ------------------------------------------------------------- 2. finetune --resume licence

START_TRAINING_DATA = "fluorescence sets"


def _checkpoint(tmp_path: Path, license: str, *, before_option: bool) -> Path:
    """A run folder whose last.pt holds what check_same_start reads: the config's card, and
    ``trainable``, which every run since license= records and earlier ones lack."""
    card = {"training_data": f"gran.fluo_v1 ({START_TRAINING_DATA}) fine-tuned on files "
                             "'p0.tif~p0.tif': 1 field",
            "license": license, "description": "gran.fluo_v1 fine-tuned for at most 20 steps"}
    config = {"lr": 1e-4, "card": card, **({} if before_option else {"trainable": "all"})}
    folder = tmp_path / "run"
    folder.mkdir()
    torch.save({"format": CHECKPOINT_FORMAT, "config": config}, folder / "last.pt")
    return folder


def _request(license: str | None) -> FinetuneRequest:
    start = SimpleNamespace(license="BSD-3-Clause", training_data=START_TRAINING_DATA)
    return FinetuneRequest(mode="pair", layer_name="p", axes="YX", model=None,
                           base_label="gran.fluo_v1", base_card=start, license=license)


def _resumed(folder: Path, license: str | None) -> list[str]:
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        check_same_start(folder, _request(license))
    return [str(w.message) for w in said if issubclass(w.category, DeblurNote)]


def test_a_run_saved_before_the_license_option_resumes_with_todays_licence(tmp_path):
    notes = _resumed(_checkpoint(tmp_path, "BSD-3-Clause", before_option=True), None)
    assert len(notes) == 1, notes
    assert "before the images' licence was recorded" in notes[0]
    assert "'BSD-3-Clause AND NOASSERTION'" in notes[0] and "--license" in notes[0]


def test_a_run_saved_before_the_license_option_takes_the_images_licence_given(tmp_path):
    notes = _resumed(_checkpoint(tmp_path, "BSD-3-Clause", before_option=True), "CC-BY-4.0")
    assert len(notes) == 1 and "'BSD-3-Clause AND CC-BY-4.0'" in notes[0], notes
    assert "not stated" not in notes[0]


def test_a_run_that_recorded_a_licence_still_needs_the_same_one(tmp_path):
    folder = _checkpoint(tmp_path, "BSD-3-Clause AND CC-BY-4.0", before_option=False)
    with pytest.raises(ValueError, match="was started with licence 'BSD-3-Clause AND CC-BY-4.0'"):
        check_same_start(folder, _request(None))
    assert _resumed(folder, "CC-BY-4.0") == []


def test_a_run_given_the_starts_own_licence_is_not_taken_for_an_old_one(tmp_path):
    # today's run given license= the start's own: its card reads as an old one's, but its
    # config records trainable
    folder = _checkpoint(tmp_path, "BSD-3-Clause", before_option=False)
    with pytest.raises(ValueError, match="give the same license= as before"):
        check_same_start(folder, _request(None))
    assert _resumed(folder, "BSD-3-Clause") == []
