"""`microdeblur train` from scratch, a walkthrough of 2026-12-21: one image or one z-stack
holds out a band or planes (it validated on the training image, said in a note only), the
held-out files said before training and named in the card with the absolute folder, the
PSF-aware refusal that named a script the package does not install, the time left without
the step-0 validation counted as step time, --minutes that leave room for the last
validation, --checkpoint-dir's help naming best.pt, and the bar's last validation PSNR."""

import time

import numpy as np
import pytest
import tifffile
import torch

from napari_microdeblur import cli_runs
from napari_microdeblur.cli import main
from napari_microdeblur.core import data, training
from napari_microdeblur.core.checkpoint import read_card
from napari_microdeblur.core.progress import drive
from napari_microdeblur.core.registry import build_model, get_arch
from napari_microdeblur.core.training import FitProgress, TrainingConfig
from napari_microdeblur.core.training.loop import Trainer


def _texture(seed: int, shape=(64, 64)) -> np.ndarray:
    from scipy import ndimage

    image = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), 2)
    return ((image - image.min()) / np.ptp(image)).astype(np.float32)


def _train(tmp_path, sharp, *extra, quiet=True):
    return main(["train", "--arch", "gran", "--config", "tiny", "--sharp", str(sharp),
                 "--out", str(tmp_path / "o.safetensors"), "--steps", "2", "--patch", "32",
                 "--batch", "2", "--device", "cpu", *(["-q"] if quiet else []), *extra])


@pytest.fixture
def spied(monkeypatch):
    """The training source and validation pairs `train` hands to iter_fit."""
    seen = {}
    real = training.iter_fit

    def spy(model, config, train_source, val=None, **extra):
        seen.update(train=train_source, val=val)
        return real(model, config, train_source, val, **extra)

    monkeypatch.setattr(training, "iter_fit", spy)
    return seen


# ----------------------------------------------------------------------- 1: one input file


def test_one_z_stack_given_with_sharp_only_holds_out_planes(tmp_path, capsys, spied):
    tifffile.imwrite(tmp_path / "st.tif", np.stack([_texture(i) for i in range(5)]),
                     metadata={"axes": "ZYX"})
    assert _train(tmp_path, tmp_path / "st.tif") == 0
    out, err = capsys.readouterr()
    assert "validated on the training image" not in err + out
    assert len(spied["train"].groups) == 4  # one of the five planes left training
    assert "on 1 of 5 planes of st.tif held out (plane " in out, out
    assert "1 of 5 planes of st.tif held out" in read_card(tmp_path / "o.safetensors") \
        .training_data


def test_one_2d_image_holds_out_a_band(tmp_path, capsys, spied):
    tifffile.imwrite(tmp_path / "one.tif", _texture(0, (96, 128)))
    assert _train(tmp_path, tmp_path / "one.tif") == 0
    out = capsys.readouterr().out
    # the last 20 % of X (26 px) validates; 16 px before it belong to neither side
    assert spied["train"].shapes == [(96, 86)]
    assert {p.input.shape[-1] for p in spied["val"]} == {26}
    assert "on a band of one.tif held out (X 102-128" in out, out
    assert "a band of one.tif held out" in read_card(tmp_path / "o.safetensors").training_data


def test_an_image_too_small_for_a_band_says_it_validated_on_itself(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "small.tif", _texture(0, (48, 48)))
    assert _train(tmp_path, tmp_path / "small.tif") == 0
    out, err = capsys.readouterr()
    assert "validated on the training image" in err  # the note, as before
    assert "on the training image small.tif itself (validated on the training image" in out
    card = read_card(tmp_path / "o.safetensors")
    assert "validated on the training image" in card.training_data


# ----------------------------------------------------------------------- 2: what is held out


def test_the_held_out_files_are_said_before_training_and_recorded(tmp_path, capsys):
    folder = tmp_path / "sharp"
    folder.mkdir()
    for i in range(3):
        tifffile.imwrite(folder / f"s{i}.tif", _texture(i))
    assert _train(tmp_path, folder, quiet=False) == 0
    out, err = capsys.readouterr()
    said = err.index("microdeblur: validation: 1 of 3 files held out (s0.tif)")
    assert said < err.index("%|"), err  # before the bar's first step
    assert "on 1 of 3 files held out (s0.tif)" in out, out
    card = read_card(tmp_path / "o.safetensors")
    assert f"sharp images {folder} (3 files)" in card.training_data, card.training_data
    assert "validation: 1 of 3 files held out (s0.tif)" in card.training_data


def test_held_out_pairs_are_named_with_the_absolute_folders(tmp_path, capsys):
    from scipy import ndimage

    for name in ("b", "s"):
        (tmp_path / name).mkdir()
    for i in range(3):
        tifffile.imwrite(tmp_path / "s" / f"p{i}.tif", _texture(i))
        tifffile.imwrite(tmp_path / "b" / f"p{i}.tif", ndimage.gaussian_filter(_texture(i), 1.5))
    assert _train(tmp_path, tmp_path / "s", "--blurry", str(tmp_path / "b")) == 0
    out = capsys.readouterr().out
    held = "1 of 3 pairs held out (--blurry p"
    assert held in out, out
    card = read_card(tmp_path / "o.safetensors")
    assert f"pairs {tmp_path / 'b'} (3 files) ~ {tmp_path / 's'}" in card.training_data
    assert held in card.training_data


# ----------------------------------------------------------------------- 3: PSF-aware refusal


def test_the_psf_aware_refusal_says_where_the_network_comes_from(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "small.tif", _texture(0, (48, 48)))
    assert main(["train", "--arch", "wiener_unet", "--sharp", str(tmp_path / "small.tif"),
                 "--out", str(tmp_path / "o.safetensors"), "--steps", "2", "-q"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # no note of the data work before it
    assert "scripts/train_psf_aware.py of the source repository (not installed)" in err[0]
    assert ("adapt it to your images with microdeblur finetune --weights wiener_unet.psf_v4 "
            "--psf PSF --blurry B.tif --sharp S.tif --out") in err[0]


# ----------------------------------------------------------------------- 4, 5: the clock


#: what a slow validation takes (``slow_validation``)
SLOW = 0.8


@pytest.fixture
def slow_validation(monkeypatch):
    """Every validation of the network takes SLOW s more (the input's own is not slowed)."""
    real = Trainer.validate

    def validate(self, identity=False):
        if not identity:
            time.sleep(SLOW)
        return real(self, identity)

    monkeypatch.setattr(Trainer, "validate", validate)


def _run(validated: bool = True, **options):
    torch.manual_seed(0)
    model = build_model("gran", get_arch("gran").tiny_config)
    train = data.SyntheticData([_texture(0)], "A")
    val = data.SyntheticData([_texture(1)], "A").validation_pairs() if validated else None
    config = TrainingConfig(batch_size=2, patch=32, lr=1e-3, device="cpu", **options)
    return training.iter_fit(model, config, train, val)


@pytest.mark.usefixtures("slow_validation")
def test_the_time_left_does_not_count_the_step_0_validation_as_step_time():
    drive(_run(validated=False, steps=1))  # torch's first step in this process: warm-up
    run = _run(steps=5, val_every=100)  # validated at step 0 and step 5 only
    first = next(run)
    run.close()
    # was (SLOW s of step-0 validation + the step) x 4 steps to go: 3.2 s or more; now the
    # 4 steps to go and the one validation left
    assert SLOW <= first.seconds_left < 3 * SLOW, first


@pytest.mark.usefixtures("slow_validation")
def test_a_time_limit_leaves_room_for_the_last_validation():
    run = _run(steps=100_000, val_every=100_000, time_limit=2.0)
    result = drive(run)
    # the last validation (SLOW s) ran after the limit: 2.8 s or more of 2
    assert result.stopped == "time_limit" and result.steps_done > 0
    assert result.seconds <= 2.0 + 0.25, result.seconds
    assert result.history[-1]["step"] == result.steps_done


# ----------------------------------------------------------------------- 6, 7: help and bar


def test_checkpoint_dir_help_names_best_pt(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "best.pt" in help_text[help_text.index("--checkpoint-dir"):], help_text


class _Result:
    history = [{"step": 0, "val_psnr": 10.0}, {"step": 3, "val_psnr": 12.34}]


def test_the_bar_shows_the_validation_after_the_last_step(capsys):
    """A run stopped by its time limit validates once more after its last record: the bar
    kept the step-0 score while the closing line said the last one."""

    def records():
        for step in (1, 2, 3):
            yield FitProgress(step=step, steps=2000, loss=0.1, lr=1e-3, val_psnr=10.0,
                              val_ssim=None, val_loss=None, seconds_left=0.0)
        return _Result()

    cli_runs.drive_fit(records(), quiet=False)
    err = capsys.readouterr().err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert "val PSNR=12.34" in last, err


def test_a_slow_step0_validation_does_not_stop_a_time_limited_run_before_its_first_step(
        monkeypatch):
    """--minutes budgets the last validation now; the step-0 baseline's time had counted
    against the first step, so a slow validation stopped the run with nothing to keep (the
    Fine-tune dock: 'stopped before the first step'). A session's first step is taken."""
    import time

    import torch
    from scipy import ndimage

    from napari_microdeblur.core import data, training
    from napari_microdeblur.core.progress import drive
    from napari_microdeblur.core.registry import build_model, get_arch
    from napari_microdeblur.core.training import TrainingConfig
    from napari_microdeblur.core.training.loop import Trainer

    def texture(seed):
        im = ndimage.gaussian_filter(np.random.default_rng(seed).random((48, 48)), 2)
        return ((im - im.min()) / np.ptp(im)).astype(np.float32)

    real = Trainer.validate

    def slow(self, identity=False):
        if identity:
            time.sleep(0.6)  # the baseline, longer than the whole limit
        return real(self, identity)

    monkeypatch.setattr(Trainer, "validate", slow)
    torch.manual_seed(0)
    model = build_model("gran", get_arch("gran").tiny_config)
    train = data.SyntheticData([texture(0)], "A")
    val = data.SyntheticData([texture(1)], "A").validation_pairs()
    config = TrainingConfig(batch_size=2, patch=32, lr=1e-3, device="cpu", steps=1000,
                            val_every=1000, time_limit=0.3)
    result = drive(training.iter_fit(model, config, train, val))
    assert result.stopped == "time_limit" and result.steps_done >= 1
