"""Runs and `info` of weights saved by earlier releases in an earlier tensor layout.

1. ``train --resume`` / ``finetune --resume`` (and ``training.fit(resume_from=)``) of a
   checkpoint folder whose last.pt and best.pt hold a c2f_unet of before 2026-11-30 or a
   psf_cyclegan of before 2026-12-01 (``tests/data/old_layouts``): the weights file of such a
   run loaded, converted, but its last.pt was refused as "another network ... resume with
   the same architecture and config" (c2f_unet, the same one) or stopped in a torch traceback
   ("Missing key(s) in state_dict: psf.amplitude"). The checkpoints here are a run of today
   aged into that layout: the old tensors, one optimiser group with moments of their shapes,
   no validation-scoring key (as the releases of then; the same was measured on last.pt files
   written by revisions fe5628b^ and 6658fc3^ themselves).
2. ``info`` of such a weights file said nothing of its layout.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from scipy.ndimage import gaussian_filter

from napari_microdeblur.core import training
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.notes import DeblurNote
from napari_microdeblur.core.registry import build_model
from napari_microdeblur.core.training.checkpoints import (
    VALIDATION_SCORING_KEY,
    check_resumable,
)
from napari_microdeblur.core.training.loop import Trainer, run

OLD = Path(__file__).parent / "data" / "old_layouts"
C2F = OLD / "c2f_unet_eb3c7ed.safetensors"
PCG = OLD / "psf_cyclegan_53a9157.safetensors"
OPTIONS = {"steps": 2, "batch_size": 2, "patch": 32, "device": "cpu", "amp": "off",
           "val_every": 1, "checkpoint_every": 1, "seed": 0}
CYCLE = {"regime": "psf_cyclegan", "discriminator": {"n_layers": 2}}  # takes 32-px patches


def _outputs(weights: Path) -> dict[str, np.ndarray]:
    return dict(np.load(weights.with_name(weights.stem + "_outputs.npz")))


def _old_tensors(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


def _data():
    rng = np.random.default_rng(0)
    sharp = [gaussian_filter(rng.random((96, 96)), 1.0).astype("float32") for _ in range(2)]
    blurry = [gaussian_filter(s, 1.5).astype("float32") for s in sharp]
    val = (blurry[1][:64, :64].copy(), sharp[1][:64, :64].copy())
    return (blurry[0], sharp[0]), val, {"unpaired": blurry, "unpaired_sharp": sharp}


def _sources(extra: dict) -> dict:
    return {"unpaired": None, "unpaired_sharp": None, **extra}


def _aged_run(tmp_path: Path, weights: Path, regime: dict) -> Path:
    """A 2-step run of today from ``weights`` (converted as they load), its last.pt and
    best.pt then given the file's old tensors, the optimiser of then (one group, moments of
    the old shapes) and no validation-scoring key; best.pt a newer best than last.pt's."""
    train, val, extra = _data()
    folder = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load_model(weights)[0]
        training.fit(model, {**OPTIONS, **regime, "checkpoint_dir": str(folder)}, train, val,
                     **(extra if regime else {}))
    old = _old_tensors(weights)
    names = ["psf.logits" if n == "psf.amplitude" else n for n, _ in model.named_parameters()]
    ck = torch.load(folder / "last.pt", weights_only=True)
    ck["model"], ck["best_state"] = dict(old), dict(old)
    ck["best_metrics"] = {"step": 1, "val_psnr": 1.0}
    ck.pop(VALIDATION_SCORING_KEY, None)
    ck.pop("validation_fingerprint", None)
    group = {k: v for k, v in ck["optimizers"]["G"]["param_groups"][0].items() if k != "params"}
    ck["optimizers"]["G"] = {
        "state": {i: {"step": torch.tensor(2.0), "exp_avg": torch.full_like(old[n], 1e-3),
                      "exp_avg_sq": torch.full_like(old[n], 1e-6)} for i, n in enumerate(names)},
        "param_groups": [{**group, "params": list(range(len(names)))}]}
    torch.save(ck, folder / "last.pt")
    torch.save({"model": dict(old), "metrics": {"step": 2, "val_psnr": 50.0},
                "regime": ck["regime"]}, folder / "best.pt")
    return folder


def _resumed(folder: Path, weights: Path, regime: dict, steps: int = 3):
    """The Trainer of a resume of ``folder`` (today's model of the card's config), loaded as
    ``iter_fit`` loads it, and the notes said."""
    from napari_microdeblur.core.training.setup import prepare

    train, val, extra = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load_model(weights)[0]  # today's network (converted weights, overwritten)
    config = training.TrainingConfig.from_options(
        {**OPTIONS, **regime, "steps": steps, "checkpoint_dir": str(folder)})
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        trainer = Trainer(prepare(model, config, train, val,
                                  _sources(extra if regime else {}), folder))
        trainer.load(trainer.setup.resume)
    return trainer, [str(w.message) for w in said if issubclass(w.category, DeblurNote)]


def _layout_notes(notes: list[str], arch: str) -> list[str]:
    return [n for n in notes if f"earlier layout of {arch}" in n]


# ------------------------------------------------------------------ 1. resuming such a run


def test_an_old_c2f_run_resumes_with_its_weights_converted_and_trains_on(tmp_path):
    folder = _aged_run(tmp_path, C2F, {})
    trainer, notes = _resumed(folder, C2F, {})
    old = _outputs(C2F)
    trainer.model.eval()
    with torch.no_grad():  # the network of then, as it was at step 2
        y = trainer.model(torch.from_numpy(old["x"]))
    np.testing.assert_allclose(y.numpy(), old["y"], rtol=0, atol=1e-5)
    said = _layout_notes(notes, "c2f_unet")
    assert len(said) == 1 and "optimiser starts afresh" in said[0], notes
    assert str(folder / "last.pt") in said[0]
    # best.pt's newer best taken, in today's layout (the end of the run loads it)
    assert trainer.best_metrics["step"] == 2
    wide = trainer.model.state_dict()["nets.0.enc.0.0.weight"].shape
    assert trainer.best_state["nets.0.enc.0.0.weight"].shape == wide
    result = training.drive(run(trainer))
    assert result.steps_done == 3
    assert torch.load(folder / "last.pt", weights_only=True)["model"][
        "nets.0.enc.0.0.weight"].shape == wide  # saved again in today's layout


def test_an_old_psf_cyclegan_run_resumes_with_the_same_psf_and_trains_on(tmp_path):
    folder = _aged_run(tmp_path, PCG, CYCLE)
    trainer, notes = _resumed(folder, PCG, CYCLE)
    old = _outputs(PCG)
    trainer.model.eval()
    with torch.no_grad():
        np.testing.assert_allclose(trainer.model.psf.kernel().numpy(), old["kernel"],
                                   rtol=1e-5, atol=1e-8)
        y = trainer.model(torch.from_numpy(old["x"]))
    np.testing.assert_allclose(y.numpy(), old["y"], rtol=0, atol=1e-5)
    assert len(_layout_notes(notes, "psf_cyclegan")) == 1, notes
    assert "psf.amplitude" in trainer.best_state and "psf.logits" not in trainer.best_state
    # the PSF keeps its own optimiser group and learning rate (one group had held it then)
    groups = trainer.optimizers["G"].param_groups
    assert len(groups) == 2 and groups[1]["peak_lr"] == trainer.config.psf_learning_rate()
    assert training.drive(run(trainer)).steps_done == 3


def test_the_resume_check_of_train_and_finetune_takes_the_old_run(tmp_path):
    folder = _aged_run(tmp_path, C2F, {})
    model = build_model("c2f_unet", {"levels": 3, "depth": 4, "base_channels": 2})
    check_resumable(folder, model, 3, {"trainable": "all"})  # was "another network"
    # the run of then trained every weight: a part would be another run
    with pytest.raises(ValueError, match=r"trained every weight; resume it with "
                                         r"trainable='all' \(--trainable all\), not 'late'"):
        check_resumable(folder, model, 3, {"trainable": "late"})


def test_a_run_of_todays_layout_resumes_without_the_note(tmp_path):
    train, val, _ = _data()
    folder = tmp_path / "today"
    model = build_model("c2f_unet", {"levels": 3, "depth": 4, "base_channels": 2})
    training.fit(model, {**OPTIONS, "checkpoint_dir": str(folder)}, train, val)
    saved = torch.load(folder / "last.pt", weights_only=True)["optimizers"]["G"]
    trainer, notes = _resumed(folder, C2F, {})
    assert _layout_notes(notes, "c2f_unet") == [], notes
    # its optimiser's moments are restored, not restarted
    state = trainer.optimizers["G"].state_dict()["state"]
    assert set(state) == set(saved["state"]) and len(state) > 0


# ------------------------------------------------------------------ 2. info of such a file


@pytest.mark.parametrize(("weights", "arch"), [(C2F, "c2f_unet"), (PCG, "psf_cyclegan")])
def test_info_says_an_old_layout_file_is_converted_as_it_loads(capsys, weights, arch):
    from napari_microdeblur.cli import main
    from napari_microdeblur.cli_info import describe

    info = describe(str(weights))  # the Python side carries it (and --json)
    assert f"earlier layout of {arch}" in info["weights"]["earlier_layout"]
    assert main(["info", str(weights)]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "earlier layout" in ln]
    assert len(lines) == 1, lines
    assert f"earlier layout of {arch} (before 2026-1" in lines[0]
    assert "converted as it loads" in lines[0]


def test_info_of_todays_weights_says_no_layout(tmp_path, capsys):
    from napari_microdeblur.cli import main
    from napari_microdeblur.cli_info import describe

    path = tmp_path / "today.safetensors"
    save_weights(build_model("c2f_unet", {"levels": 3, "depth": 4, "base_channels": 2}), path)
    assert "earlier_layout" not in describe(str(path))["weights"]
    assert main(["info", str(path)]) == 0
    assert "earlier layout" not in capsys.readouterr().out



# ------------------------------------------- 3. an old psf_cyclegan run's PSF size and warm-up


def test_an_old_psf_run_of_another_psf_size_is_refused_naming_psf_size(tmp_path):
    """The checkpoint records no psf_size, and its default went from 20 to 21 px with the new
    layout: a run of then made with the defaults met a 21-px network and was refused as
    'another network' (CLI) or stopped in torch's 'Missing key(s) ... psf.amplitude'."""
    from napari_microdeblur.core.training.setup import prepare

    folder = _aged_run(tmp_path, PCG, CYCLE)  # a 7-px PSF, as psf.logits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = load_model(PCG)[0].config.model_dump()
    wider = build_model("psf_cyclegan", {**config, "psf_size": 9})
    words = r"holds a PSF of 7 px, the network given has 9 px: build it with psf_size=7"
    with pytest.raises(ValueError, match=words):
        check_resumable(folder, wider, 3, {"trainable": "all"})
    train, val, extra = _data()
    options = training.TrainingConfig.from_options(
        {**OPTIONS, **CYCLE, "steps": 3, "checkpoint_dir": str(folder)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=words):  # before rescore_resumed's torch load
            prepare(wider, options, train, val, _sources(extra), folder)


def test_an_old_psf_run_resumes_past_the_psf_warmup_it_never_had(tmp_path):
    """Releases before 2026-12-01 had no PSF-only warm-up: a resume at step 2 of 10 (today's
    warm-up: 3 steps) went back into it, the PSF at its own, 100x higher, learning rate."""
    folder = _aged_run(tmp_path, PCG, CYCLE)
    ck = torch.load(folder / "last.pt", weights_only=True)
    ck["regime_state"] = {"pools": ck["regime_state"]["pools"]}  # all a run of then kept
    torch.save(ck, folder / "last.pt")
    trainer, notes = _resumed(folder, PCG, CYCLE, steps=10)
    assert trainer.config.psf_warmup_steps() > trainer.step == 2
    assert trainer.regime.warmup_ended == 0  # its cycle phase began at step 0
    assert not trainer.regime.in_psf_warmup(trainer)
    said = _layout_notes(notes, "psf_cyclegan")
    lr = f"{trainer.config.psf_learning_rate():g}"
    assert len(said) == 1 and f"the PSF now has its own learning rate ({lr}" in said[0], notes
    assert "pools" in trainer.setup.resume["regime_state"]  # the history buffers kept
