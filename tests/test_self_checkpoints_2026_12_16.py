"""Checkpoints and --resume of adaptation without a reference (`finetune --self
--checkpoint-dir DIR [--resume]`, ``self_adapt(checkpoint_dir=, resume=)``; issue #14 item 6)."""

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage

from napari_microdeblur import cli_training
from napari_microdeblur.cli import Terminated, main
from napari_microdeblur.core import registry
from napari_microdeblur.core import self_adapt as self_adapt_mod
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.self_adapt import SelfAdaptConfig, iter_self_adapt, self_adapt
from napari_microdeblur.core.training.checkpoints import CHECKPOINT_FORMAT, save_atomically

PSF = gaussian_psf(1.6, size=13)


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return registry.build_model("c2f_unet", {**registry.get_arch("c2f_unet").tiny_config,
                                             "global_skip": True})


def scene(seed=0, shape=(96, 96)):
    rng = np.random.default_rng(seed)
    sharp = (ndimage.gaussian_filter(rng.random(shape), 2.5) > 0.5) * 0.8 + 0.1
    return (ndimage.convolve(sharp, PSF) + rng.normal(0, 0.01, shape)).astype(np.float32)


def quick(**changes):
    """Bounded by steps: the time limit is far away, so the held-out checks are the start's
    and the last step's."""
    return SelfAdaptConfig(**{"minutes": 30.0, "patch": 32, "batch_size": 2, "device": "cpu",
                              "max_steps": 3, "prior_from": "start", **changes})


def last(folder):
    return torch.load(folder / "last.pt", map_location="cpu", weights_only=True)


def files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def same(a, b):
    return set(a) == set(b) and all(torch.equal(v, b[k]) for k, v in a.items())


def test_checkpoint_dir_keeps_best_and_last(tmp_path):
    ck = tmp_path / "ck"
    result = self_adapt(tiny_model(), scene(), PSF, axes="YX", config=quick(), checkpoint_dir=ck,
                        checkpoint_card={"base_label": "tiny", "license": "CC0-1.0"})
    assert sorted(p.name for p in ck.iterdir()) == ["best.safetensors", "last.pt"]
    state = last(ck)
    assert state["step"] == 3 == result.steps_done and state["elapsed"] > 0
    assert state["optimizer"]["state"] and state["best"]["step"] == result.best_step
    assert state["fingerprint"]["images"][0]["shape"] == [96, 96]
    model, card = load_model(ck / "best.safetensors")  # what deblur --weights loads
    assert card.metrics["best_step"] == result.best_step
    assert card.metrics["self_val_loss"] == pytest.approx(result.best_val_loss)
    assert "CC0-1.0" in card.license and card.description.startswith("tiny adapted")
    assert same(model.state_dict(), result.model.state_dict())


def test_resume_continues_the_steps_as_an_uninterrupted_run(tmp_path):
    ck, whole = tmp_path / "ck", tmp_path / "whole"
    self_adapt(tiny_model(), scene(), PSF, axes="YX", config=quick(), checkpoint_dir=ck)
    resumed = self_adapt(tiny_model(), scene(), PSF, axes="YX", config=quick(max_steps=6),
                         checkpoint_dir=ck, resume=True)
    self_adapt(tiny_model(), scene(), PSF, axes="YX", config=quick(max_steps=6),
               checkpoint_dir=whole)
    assert resumed.steps_done == 6 and [h["step"] for h in resumed.history] == [0, 3, 6]
    # the optimiser, the batch and noise draws continue: the same weights as one run of 6
    assert last(ck)["step"] == 6
    assert same(last(ck)["model"], last(whole)["model"])


def test_resume_keeps_the_best_of_the_earlier_session(tmp_path, monkeypatch):
    ck = tmp_path / "ck"
    scores = iter([1.0, 0.5, 0.8])  # start, step 3 (the best), step 6 (worse)
    monkeypatch.setattr(self_adapt_mod, "_validate", lambda *a: next(scores))
    first = self_adapt(tiny_model(), scene(), PSF, axes="YX", config=quick(), checkpoint_dir=ck)
    best3 = {k: v.clone() for k, v in first.model.state_dict().items()}
    resumed = self_adapt(tiny_model(), scene(), PSF, axes="YX", config=quick(max_steps=6),
                         checkpoint_dir=ck, resume=True)
    assert (resumed.best_step, resumed.best_val_loss, resumed.start_val_loss) == (3, 0.5, 1.0)
    assert same(resumed.model.state_dict(), best3)
    assert same(load_model(ck / "best.safetensors")[0].state_dict(), best3)
    assert last(ck)["step"] == 6 and not same(last(ck)["model"], best3)


@pytest.mark.parametrize(("changed", "words"), [
    ({"images": scene(seed=1)}, "other images (image 0 with other pixel values"),
    ({"images": scene(shape=(96, 90))}, "image 0 of shape (96, 96) float32, not (96, 90)"),
    ({"psf": gaussian_psf(1.2, size=13)}, "a PSF 'array' of other values"),
    ({"model": tiny_model(seed=1)}, "other starting weights"),
    ({"config": quick(max_steps=6, patch=40)}, "patch=32, not patch=40"),
    ({"config": quick(max_steps=6, seed=3)}, "seed=0, not seed=3"),
    ({"config": quick()}, "has already run 3 steps; give max_steps= above 3"),
])
def test_resume_of_another_run_is_refused_before_any_work(tmp_path, monkeypatch, changed,
                                                          words):
    ck = tmp_path / "ck"
    self_adapt(tiny_model(), scene(), PSF, axes="YX", config=quick(), checkpoint_dir=ck)
    before = files(ck)
    monkeypatch.setattr(self_adapt_mod, "_prior_output", lambda *a: pytest.fail("work began"))
    given = {"model": tiny_model(), "images": scene(), "psf": PSF,
             "config": quick(max_steps=6), **changed}
    with pytest.raises(ValueError, match="resume: ") as error:
        self_adapt(given["model"], given["images"], given["psf"], axes="YX",
                   config=given["config"], checkpoint_dir=ck, resume=True)
    assert words in str(error.value) and "\n" not in str(error.value)
    assert files(ck) == before


def test_minutes_bound_each_session_as_a_paired_resume(tmp_path):
    """A resume's minutes= is the time of this session (the paired job's rule), not what is
    left of the earlier sessions': a run that has spent 10,000 s so far resumes under a
    30-minute budget and runs its remaining steps."""
    ck = tmp_path / "ck"
    self_adapt(tiny_model(), scene(), PSF, axes="YX", config=quick(), checkpoint_dir=ck)
    kept = last(ck)
    kept["elapsed"] = 10_000.0  # earlier sessions' time, far beyond this session's budget
    kept["next_val"] += 10_000.0
    torch.save(kept, ck / "last.pt")
    resumed = self_adapt(tiny_model(), scene(), PSF, axes="YX",
                         config=quick(max_steps=6, minutes=30.0), checkpoint_dir=ck,
                         resume=True)
    assert (resumed.steps_done, resumed.stopped) == (6, "max_steps")
    assert last(ck)["elapsed"] > 10_000.0  # the clock goes on from the earlier sessions'


def test_resume_without_a_checkpoint_dir_is_refused():
    with pytest.raises(ValueError, match="resume=True continues the run in checkpoint_dir="):
        self_adapt(tiny_model(), scene(), PSF, axes="YX", config=quick(), resume=True)


def test_a_paired_runs_folder_is_refused_and_the_paired_job_refuses_a_self_one(tmp_path,
                                                                                capsys):
    paired = tmp_path / "paired"
    paired.mkdir()
    save_atomically({"format": CHECKPOINT_FORMAT, "step": 4, "model": {}}, paired / "last.pt")
    with pytest.raises(ValueError, match="holds a paired fine-tune or train run"):
        self_adapt(tiny_model(), scene(), PSF, axes="YX", config=quick(max_steps=6),
                   checkpoint_dir=paired, resume=True)
    own = tmp_path / "own"
    self_adapt(tiny_model(), scene(), PSF, axes="YX", config=quick(), checkpoint_dir=own)
    before = files(own)
    base = tmp_path / "base.safetensors"
    save_weights(tiny_model(), base, {"license": "CC0-1.0"})
    code = main(["finetune", "--weights", str(base), "--stack", str(tmp_path / "z.tif"),
                 "--out", str(tmp_path / "t.safetensors"), "--checkpoint-dir", str(own),
                 "--resume", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code != 0 and "holds a finetune --self run" in err, err
    assert "resume it with finetune --self" in err and len(err.strip().splitlines()) == 1
    assert files(own) == before and not (tmp_path / "t.safetensors").exists()


def test_stopped_from_the_progress_callback_keeps_best_and_last(tmp_path):
    ck = tmp_path / "ck"

    def stop_at_step_2(record):
        if getattr(record, "step", 0) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        self_adapt(tiny_model(), scene(), PSF, axes="YX", config=quick(max_steps=8),
                   checkpoint_dir=ck, callback=stop_at_step_2)
    assert last(ck)["step"] == 2 and (ck / "best.safetensors").is_file()
    assert last(ck)["stopped"] == "stopped"  # not the 'max_steps' of a run that ran its steps
    # no check after the start's: the best is the start; a resume closed at its first record
    # gives it back, not last.pt's weights of step 2
    model = tiny_model()
    job = iter_self_adapt(model, scene(), PSF, axes="YX", config=quick(max_steps=4),
                          checkpoint_dir=ck, resume=True)
    next(job)
    job.close()
    assert same(model.state_dict(), tiny_model().state_dict())
    assert not same(last(ck)["model"], tiny_model().state_dict())
    resumed = self_adapt(tiny_model(), scene(), PSF, axes="YX", config=quick(max_steps=4),
                         checkpoint_dir=ck, resume=True)
    assert resumed.steps_done == 4


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture
def cli_files(tmp_path):
    base = tmp_path / "base.safetensors"
    save_weights(tiny_model(), base, {"license": "CC0-1.0"})
    image = tmp_path / "blurry.tif"
    tifffile.imwrite(image, scene())
    return base, image


def self_cli(tmp_path, cli_files, *extra, out="adapted.safetensors", image=None):
    base, blurry = cli_files
    return main(["finetune", "--self", str(image or blurry), "--psf", "gaussian:1.6",
                 "--weights", str(base), "--out", str(tmp_path / out), "--patch", "32",
                 "--batch", "2", "--device", "cpu", "--self-prior", "start", "-q", *extra])


@pytest.mark.parametrize(("stop", "code"), [(KeyboardInterrupt, 130), (Terminated, 143)])
def test_cli_stop_keeps_best_and_last_and_says_resume(tmp_path, cli_files, capsys,
                                                      monkeypatch, stop, code):
    ck = tmp_path / "ck"

    def stopped_after_two_steps(job, **_):
        for _ in range(3):  # the notes, steps 1 and 2
            next(job)
        raise stop

    monkeypatch.setattr(cli_training, "drive_fit", stopped_after_two_steps)
    assert self_cli(tmp_path, cli_files, "--steps", "8", "--checkpoint-dir", str(ck)) == code
    err = capsys.readouterr().err
    assert last(ck)["step"] == 2 and (ck / "best.safetensors").is_file()
    # stopped before any held-out check beat the start: nothing written (2026-12-17)
    assert not (tmp_path / "adapted.safetensors").exists()
    assert "the same command with --resume continues it from" in err, err
    monkeypatch.undo()
    assert self_cli(tmp_path, cli_files, "--steps", "4", "--checkpoint-dir", str(ck),
                    "--resume", "--overwrite") == 0
    printed = capsys.readouterr()
    assert "note: resuming from step 2" in printed.err, printed.err
    assert "in 4 steps" in printed.out and last(ck)["step"] == 4


@pytest.mark.parametrize(("extra", "words"), [
    (["--resume"], "--resume continues the run in --checkpoint-dir DIR; give that folder"),
    (["--resume", "--checkpoint-dir", "{tmp}/none"], "no last.pt to resume from"),
    (["--checkpoint-dir", "{tmp}/blurry.tif"], "is a file; give a folder"),
])
def test_cli_checkpoint_options_refused_in_one_line(tmp_path, cli_files, capsys, extra,
                                                    words):
    extra = [e.replace("{tmp}", str(tmp_path)) for e in extra]
    assert self_cli(tmp_path, cli_files, "--steps", "3", *extra) != 0
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "adapted.safetensors").exists()


def test_cli_resume_with_other_images_or_settings_is_refused(tmp_path, cli_files, capsys):
    ck = tmp_path / "ck"
    assert self_cli(tmp_path, cli_files, "--steps", "3", "--checkpoint-dir", str(ck)) == 0
    before = files(ck)
    other = tmp_path / "other.tif"
    tifffile.imwrite(other, scene(seed=2))
    capsys.readouterr()
    for extra, words in ((["--steps", "6"], "the same --self images as before"),
                         (["--steps", "6", "--lr", "0.01"], "--lr 0.001, not --lr 0.01"),
                         (["--steps", "3"], "give --steps above 3")):
        image = other if words.startswith("the same") else None
        assert self_cli(tmp_path, cli_files, *extra, "--checkpoint-dir", str(ck), "--resume",
                        out="again.safetensors", image=image) != 0
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err
    assert files(ck) == before and not (tmp_path / "again.safetensors").exists()
