"""`microdeblur finetune --self` stopped (Ctrl-C) or diverged before any held-out check beat
the starting weights wrote them over an existing --out with --overwrite (the paired path
writes nothing since 0430240); a stopped --self run that kept trained weights had a card
that did not say where it stopped; and a stack fine-tune from Python with focus='auto' and
more target_neighbours than the stack has wrote the K asked into its card, not the K used."""

import functools

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage

from napari_microdeblur import cli_training
from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core import self_adapt as self_adapt_mod
from napari_microdeblur.core.checkpoint import load_model, read_card, save_weights
from napari_microdeblur.core.psf import gaussian_psf

EARLIER = b"an earlier adaptation"
PSF = gaussian_psf(1.6, size=13)


def _scene(seed: int = 0, n: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sharp = (ndimage.gaussian_filter(rng.random((n, n)), 2.5) > 0.5) * 0.8 + 0.1
    return (ndimage.convolve(sharp, PSF) + rng.normal(0, 0.01, (n, n))).astype(np.float32)


@pytest.fixture
def files(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = registry.build_model("c2f_unet", {**registry.get_arch("c2f_unet").tiny_config,
                                              "global_skip": True})
    save_weights(model, tmp_path / "base.safetensors", {"license": "CC0-1.0"})
    tifffile.imwrite(tmp_path / "blurry.tif", _scene())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _checks(monkeypatch, validations: int) -> None:
    """Held-out checks spread over the time box: 1, none after the start's before the end;
    10**6, one after every step."""
    monkeypatch.setattr(self_adapt_mod, "SelfAdaptConfig", functools.partial(
        self_adapt_mod.SelfAdaptConfig, validations=validations))


def _stopped_after(monkeypatch, n: int) -> None:
    """Ctrl-C after the job's n-th record (its notes are the first), between two steps."""
    real = cli_training.drive_fit

    def paused(job):
        for _ in range(n):
            yield next(job)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_training, "drive_fit", lambda job, **kw: real(paused(job), **kw))


def _diverged_at(monkeypatch, step: int) -> None:
    """A training step's loss (not a held-out check's) is NaN at ``step``."""
    real, calls = self_adapt_mod._total, []

    def total(maps, cfg, *first_column):
        loss, terms = real(maps, cfg, *first_column)
        if not first_column:
            calls.append(1)
            if len(calls) == step:
                return loss * float("nan"), terms
        return loss, terms

    monkeypatch.setattr(self_adapt_mod, "_total", total)


def _self(*extra) -> int:
    return main(["finetune", "--self", "blurry.tif", "--psf", "gaussian:0.8", "--weights",
                 "base.safetensors", "--out", "keep.safetensors", "--overwrite", "--patch",
                 "16", "--batch", "2", "--device", "cpu", "--self-prior", "start", "-q",
                 "--minutes", "0.3", *extra])


def _last_err(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


# ------------------------------------------- 1: the start kept is not written over --out


def test_a_stopped_self_run_that_kept_the_start_leaves_the_earlier_out(files, monkeypatch,
                                                                        capsys):
    (files / "keep.safetensors").write_bytes(EARLIER)
    _checks(monkeypatch, 1)
    _stopped_after(monkeypatch, 3)  # the notes, steps 1 and 2: no check after the start's
    assert _self("--steps", "8") == 130
    line = _last_err(capsys)
    assert (files / "keep.safetensors").read_bytes() == EARLIER, line
    assert line.startswith("microdeblur: interrupted at step 2 of "), line
    assert line.endswith(", before any held-out check beat the starting weights "
                         "(base.safetensors, unchanged: use them as they are); nothing written "
                         "to keep.safetensors, left as it was (--checkpoint-dir DIR keeps a run "
                         "that --resume can continue)"), line


def test_a_self_run_stopped_before_its_first_step_writes_nothing(files, monkeypatch, capsys):
    _stopped_after(monkeypatch, 1)  # the notes only
    assert _self("--steps", "8") == 130
    line = _last_err(capsys)
    assert not (files / "keep.safetensors").exists(), line
    assert line.startswith("microdeblur: interrupted before the first training step; nothing "
                           "written to keep.safetensors"), line


def test_a_diverged_self_run_that_kept_the_start_leaves_the_earlier_out(files, monkeypatch,
                                                                         capsys):
    (files / "keep.safetensors").write_bytes(EARLIER)
    _checks(monkeypatch, 1)
    _diverged_at(monkeypatch, 2)
    assert _self("--steps", "8") == 2
    err = capsys.readouterr().err.strip()
    line = err.splitlines()[-1]
    assert (files / "keep.safetensors").read_bytes() == EARLIER, line
    assert "the best weights so far are kept" not in err, err
    assert line.startswith("microdeblur: error: the loss became nan at step 2 (lower --lr, now "
                           "0.001); no held-out check beat the starting weights "
                           "(base.safetensors, unchanged: use them as they are) before that, "
                           "so keep.safetensors was not written, left as it was"), line


# --------------------------------------- 2: a stopped run's card says where it stopped


def test_a_stopped_self_run_card_says_where_it_stopped(files, monkeypatch, capsys):
    _checks(monkeypatch, 10**6)
    _stopped_after(monkeypatch, 4)  # the notes, steps 1 to 3, each checked
    assert _self("--steps", "8") == 130
    line = _last_err(capsys)
    assert "; wrote the weights of step " in line, line
    model, card = load_model(files / "keep.safetensors")
    steps = card.metrics["stopped"].removeprefix("interrupted (Ctrl-C) at step 3 of ")
    assert steps.isdigit(), card.metrics
    assert card.description.endswith(f"; interrupted (Ctrl-C) at step 3 of {steps}")
    assert card.metrics["best_step"] in (1, 2, 3), card.metrics
    start, _ = load_model(files / "base.safetensors")
    assert not all(torch.equal(v, start.state_dict()[k]) for k, v in model.state_dict().items())


def test_a_diverged_self_run_that_kept_trained_weights_says_so_in_its_card(files, monkeypatch,
                                                                            capsys):
    _checks(monkeypatch, 10**6)
    _diverged_at(monkeypatch, 3)
    assert _self("--steps", "8") == 1
    card = read_card(files / "keep.safetensors")
    assert card.metrics["stopped"] == "the loss became nan at step 3", card.metrics
    assert card.description.endswith("; the loss became nan at step 3"), card.description


# ------------------------ 3: the card of a stack fine-tune states the K its targets used


def test_auto_focus_card_states_the_target_neighbours_used(tmp_path):
    from napari_microdeblur.core.finetune import FinetuneRequest, iter_finetune
    from napari_microdeblur.core.progress import drive

    base = ndimage.gaussian_filter(np.random.default_rng(5).random((64, 64)), 2)
    # in focus at plane 2 of 9: 2 planes below it, so each target averages 2 each side
    stack = np.stack([ndimage.gaussian_filter(base, 0.3 + 0.5 * abs(z - 2))
                      for z in range(9)]).astype(np.float32)
    model, card = load_model(_tiny_gran(tmp_path))
    req = FinetuneRequest(mode="stack", layer_name="s", axes="ZYX", model=model,
                          base_label="tiny", base_card=card, stack=stack, focus="auto",
                          target_neighbours=10, steps=2, patch=32, batch_size=2,
                          device="cpu", checkpoint_dir=str(tmp_path / "ck"))
    outcome = drive(iter_finetune(req))
    data = read_card(outcome.file).training_data
    assert "in focus at plane 2" in data, data
    assert "mean of 2 plane(s) each side of focus" in data, data


def _tiny_gran(folder):
    tiny = registry.get_arch("gran").tiny_config
    path = folder / "gran.safetensors"
    save_weights(registry.build_model("gran", tiny, seed=0), path, {"license": "CC0-1.0"})
    return path
