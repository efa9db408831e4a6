"""Files of earlier releases used with this one (walkthrough of 2026-12-16).

1. A last.pt whose validation was scored by an earlier release (another scale: the same
   weights read 33.42 dB there and 37.75 dB here) was resumed with its numbers as they were:
   "best so far 33.42 dB", later validations compared with it, "start 31.70 dB" on the card.
2. `info run/last.pt` called a training checkpoint a plain state dict and advised converting
   it to run/last.safetensors, replacing the run's own file; --weights run/last.pt and the
   dock's Load weights said the same.
3. `info run` said "input directory 'run' holds no image file".
4. `info` of an earlier release's card showed its validation PSNR without saying that the
   input's score is not recorded.

Old checkpoints are stood for by checkpoints of this release with the scoring key removed
and every PSNR moved by 4 dB (no old code is run)."""

import json
import warnings

import numpy as np
import pytest
import torch

from napari_microdeblur import cli
from napari_microdeblur.core import data, training
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.registry import build_model, get_arch
from napari_microdeblur.core.shown import shown_path
from napari_microdeblur.core.training import TrainingConfig, loop

KEY = "validation_scoring"
SHIFT = -4.0  # an earlier release's scale, on the same pixels


def tiny(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("gran", get_arch("gran").tiny_config)


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(0)
    images = [rng.random((48, 48)).astype(np.float32) for _ in range(2)]
    train = data.SyntheticData(images[:1], "A")
    return train, data.SyntheticData(images[1:], "A").validation_pairs()


KW = dict(steps=4, batch_size=2, patch=32, lr=1e-3, device="cpu", val_every=2, seed=5,
          restore_best=False)


@pytest.fixture
def run(sets, tmp_path):
    """A run of this release, stopped at step 4, in tmp_path/ck (a registry-built gran: its
    best.safetensors and last.safetensors are written too)."""
    ck = tmp_path / "ck"
    training.fit(tiny(), TrainingConfig(checkpoint_dir=ck, **KW), *sets)
    return ck


def _as_earlier_release(ck) -> dict:
    """last.pt and best.pt rewritten as an earlier release wrote them; the true numbers."""
    last = torch.load(ck / "last.pt", weights_only=True)
    true = {"best": last["best_metrics"]["val_psnr"], "input": last["baseline"]["val_psnr"],
            "start": last["history"][0]["val_psnr"], "steps": [h["step"] for h in last["history"]]}
    last.pop(KEY, None)
    for m in [last["best_metrics"], last["baseline"], *last["history"]]:
        m["val_psnr"] += SHIFT
    torch.save(last, ck / "last.pt")
    best = torch.load(ck / "best.pt", weights_only=True)
    best.pop(KEY, None)
    best["metrics"]["val_psnr"] += SHIFT
    torch.save(best, ck / "best.pt")
    return true


def _resume(sets, ck, steps=6):
    records = []
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        config = TrainingConfig(**{**KW, "steps": steps}, checkpoint_dir=ck)
        result = training.fit(tiny(), config, *sets, resume_from=ck, callback=records.append)
    return result, [str(w.message) for w in said if "re-measured" in str(w.message)], records


# ------------------------------------------------------------------- 1: resume re-scores


def test_checkpoints_record_their_validation_scoring(run):
    assert torch.load(run / "last.pt", weights_only=True)[KEY] == 2
    assert torch.load(run / "best.pt", weights_only=True)[KEY] == 2


def test_resume_of_an_earlier_release_checkpoint_rescores_best_start_and_input(sets, run):
    true = _as_earlier_release(run)
    result, said, records = _resume(sets, run)
    assert [r.step for r in records] == [5, 6]
    assert len(said) == 1, said  # one line, old -> new
    assert f"{true['best'] + SHIFT:.2f} -> {true['best']:.2f} dB" in said[0]
    assert f"{true['start'] + SHIFT:.2f} -> {true['start']:.2f} dB" in said[0]
    assert f"{true['input'] + SHIFT:.2f} -> {true['input']:.2f} dB" in said[0]
    # the run goes on with this scale's numbers: the input's, the start's, the kept best's
    assert result.baseline["val_psnr"] == pytest.approx(true["input"], abs=1e-4)
    assert result.history[0]["step"] == 0
    assert result.history[0]["val_psnr"] == pytest.approx(true["start"], abs=1e-4)
    assert result.best_metrics["val_psnr"] >= true["best"] - 1e-4
    assert all(h["val_psnr"] > true["input"] + SHIFT + 1 for h in result.history)
    card = load_model(run / "best.safetensors")[1]  # its input's score: this scale's
    assert card.metrics["val_psnr_input"] == pytest.approx(true["input"], abs=1e-4)
    assert torch.load(run / "last.pt", weights_only=True)[KEY] == 2


def test_resume_of_this_release_checkpoint_scores_nothing_again(sets, run, monkeypatch):
    before = torch.load(run / "last.pt", weights_only=True)
    assert before[KEY] == 2  # what tells this release's checkpoint apart
    calls = []
    validate = loop.validate_on_crops  # the run's validation and the re-scoring's alike
    monkeypatch.setattr(loop, "validate_on_crops", lambda *a, **k: (
        calls.append(a[4]), validate(*a, **k))[1])
    result, said, _ = _resume(sets, run)
    assert said == [] and calls == [6]  # only the run's own validation at its last step
    assert [h["step"] for h in result.history] == [h["step"] for h in before["history"]] + [6]
    assert result.baseline["val_psnr"] == before["baseline"]["val_psnr"]


# ------------------------------------------------------- 2-3: info of checkpoint files


def _info(capsys, *args):
    code = cli.main(["info", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("name", ["last.pt", "best.pt", ""])
def test_info_says_a_checkpoint_is_one_and_which_weights_to_give(run, capsys, name):
    _as_earlier_release(run)
    given = run / name if name else run
    code, out, err = _info(capsys, given)
    assert code == 0, err
    assert "state dict" not in out and "save_weights" not in out
    assert "training checkpoint" in out and ("folder" in out) == (name == "")
    assert ": validation PSNR" in out and "another scale" in out
    assert f"--weights {shown_path(run / 'best.safetensors')}" in out
    assert f"--checkpoint-dir {shown_path(run)} --resume (and --overwrite where" in out
    code, out, _ = _info(capsys, "--json", given)
    assert code == 0 and json.loads(out)["training_checkpoint"]["step"] == 4


def test_weights_refuses_a_checkpoint_naming_the_files_beside_it(run, capsys):
    before = (run / "last.safetensors").read_bytes()
    for arch in (None, "gran"):
        with pytest.raises(ValueError, match="a checkpoint to resume") as error:
            load_model(run / "last.pt", arch=arch)
        assert str(run / "best.safetensors") in str(error.value)
        assert "save_weights" not in str(error.value)
    assert (run / "last.safetensors").read_bytes() == before


def test_a_best_pt_alone_loads_its_weights_as_before(run, tmp_path, capsys):
    """A copied or renamed best.pt (no run's weights beside it) loads with --arch, as it did
    before checkpoints were told apart; info says so and offers no --resume."""
    alone = tmp_path / "mine" / "mine.pt"
    alone.parent.mkdir()
    alone.write_bytes((run / "best.pt").read_bytes())
    model, _ = load_model(alone, arch="gran", config=get_arch("gran").tiny_config)
    expected = torch.load(run / "best.pt", weights_only=True)["model"]
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())
    code, out, err = _info(capsys, alone)
    assert code == 0, err
    assert f"use: --weights {shown_path(alone)} --arch ARCH" in out  # best.pt names none
    assert "--resume" not in out


def test_self_adapt_checkpoint_is_named_as_such(tmp_path, capsys):
    from napari_microdeblur.core.training.checkpoints import SELF_CHECKPOINT_FORMAT

    torch.save({"format": SELF_CHECKPOINT_FORMAT, "model": tiny().state_dict(), "step": 7,
                "max_steps": 40, "best": {"loss": 0.0123, "step": 5}}, tmp_path / "last.pt")
    code, out, _ = _info(capsys, tmp_path / "last.pt")
    assert code == 0 and "finetune --self run" in out and "loss 0.0123 (step 5)" in out
    assert "held-out data-consistency loss 0.0123" in out  # the words its own run prints


def test_dock_load_failure_line_names_the_weights_beside_a_checkpoint(run):
    from napari_microdeblur._widgets._methods import load_failure_line

    with pytest.raises(ValueError) as error:
        load_model(run / "last.pt", arch="gran")
    line = load_failure_line(run / "last.pt", str(error.value), "gran")
    assert line.startswith("could not load weights: last.pt is the last.pt of")
    assert f"load {run / 'best.safetensors'} here" in line and "--weights" not in line


def test_conversion_advice_never_names_a_file_that_exists(tmp_path, capsys):
    model = tiny()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    save_weights(model, tmp_path / "w.safetensors", {"license": "CC0-1.0"})
    code, out, _ = _info(capsys, tmp_path / "w.pt")
    assert code == 0 and "PyTorch state dict without a model card" in out
    assert f"'{tmp_path / 'w.safetensors'}'" not in out
    assert str(tmp_path / "w_with_card.safetensors") in out


# ------------------------------------------------------------ 4: cards without the input


def test_info_of_a_card_without_the_input_score_says_so(run, capsys):
    model, card = load_model(run / "best.safetensors")
    metrics = {k: v for k, v in card.metrics.items() if k != "val_psnr_input"}
    save_weights(model, run.parent / "old.safetensors", {**card.model_dump(), "metrics": metrics})
    _, out, _ = _info(capsys, run.parent / "old.safetensors")
    assert "does not record the unprocessed input's score" in out
    _, out, _ = _info(capsys, run / "best.safetensors")  # this release's card records it
    assert "unprocessed input" in out and "does not record" not in out


def test_the_resume_line_gives_no_earlier_release_figure(run):
    """`finetune`/`train --resume` print where they continue before the job re-measures: an
    earlier release's checkpoint is named by its step, not by dB of another scale."""
    from napari_microdeblur.cli_runs import resumed_words

    now = resumed_words(str(run))
    assert " dB on validation" in now
    _as_earlier_release(run)
    then = resumed_words(str(run))
    assert "dB" not in then and "scored by an earlier release" in then


def test_a_resume_refusal_names_the_checkpoint_folder(sets, run):
    """The refusal named 'ck/last.pt' where the user gave the folder (`--checkpoint-dir ck`)."""
    train, val = sets
    other = data.SyntheticData([np.random.default_rng(9).random((48, 48)).astype(np.float32)],
                               "A").validation_pairs()
    with pytest.raises(ValueError) as error:
        training.fit(tiny(), TrainingConfig(**{**KW, "steps": 6}, checkpoint_dir=run), train,
                     other, resume_from=run)
    assert f"resume_from={str(run)!r}: its last.pt validated on other images" in str(error.value)
