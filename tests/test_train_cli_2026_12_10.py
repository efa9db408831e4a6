"""`microdeblur train` from a new-user walkthrough: --minutes and --resume (as finetune's), a
validation early enough that Ctrl-C keeps something, a bar that follows the clock when time
bounds the run, a 3D model outside psf_cyclegan refused in one line, psf_cyclegan's
validation images held out of its sharp set, the starting weights' licence and data kept in
the card, the defaults in --help, the image option named when its files are missing, and
cards that say the run stopped early and the PSF settings used."""

import json
import re

import numpy as np
import pytest
import tifffile
from test_cycle_psf_2026_12_09 import quick_spectral_fit  # noqa: F401

from napari_microdeblur import cli_runs
from napari_microdeblur.cli import main
from napari_microdeblur.core import registry, training
from napari_microdeblur.core.checkpoint import read_card, save_weights
from napari_microdeblur.core.training import FitProgress
from napari_microdeblur.core.training.loop import Trainer

SMALL_D = {"gran_gan": {"base_channels": 4, "n_blocks": 3, "fc_channels": 8},
           "psf_cyclegan": {"base_channels": 4, "n_layers": 3}}


def _texture(seed: int, n: int = 64) -> np.ndarray:
    from scipy import ndimage

    image = ndimage.gaussian_filter(np.random.default_rng(seed).random((n, n)), 2)
    return ((image - image.min()) / np.ptp(image)).astype(np.float32)


@pytest.fixture
def files(tmp_path):
    """Two sharp images, two blurry ones of other fields, a two-file z-stack folder, tiny
    configs and tiny starting weights with a card."""
    from scipy import ndimage

    for name in ("sharp", "blurry", "stacks"):
        (tmp_path / name).mkdir()
    for i in range(2):
        tifffile.imwrite(tmp_path / "sharp" / f"{i}.tif", _texture(i))
        tifffile.imwrite(tmp_path / "blurry" / f"{i}.tif",
                         ndimage.gaussian_filter(_texture(10 + i), 1.5))
        tifffile.imwrite(tmp_path / "stacks" / f"{i}.tif",
                         np.stack([_texture(20 + i, 48)] * 16), metadata={"axes": "ZYX"})
    for arch in ("gran", "psf_cyclegan"):  # spatial_dims left to the images, as by a user
        tiny = {k: v for k, v in registry.get_arch(arch).tiny_config.items()
                if k != "spatial_dims"}
        (tmp_path / f"{arch}.json").write_text(json.dumps(tiny))
    for regime, config in SMALL_D.items():
        (tmp_path / f"d_{regime}.json").write_text(json.dumps(config))
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    save_weights(model, tmp_path / "base.safetensors",
                 {"license": "CC0-1.0", "training_data": "the base set"})
    return tmp_path


def train(t, *extra, arch="gran", out="o.safetensors"):
    return main(["train", "--arch", arch, "--config", str(t / f"{arch}.json"), "--out",
                 str(t / out), "--patch", "32", "--batch", "2", "--device", "cpu", "-q",
                 *extra])


def interrupt_at(monkeypatch, call: int):
    """Ctrl-C in the ``call``-th training step."""
    calls, real = [], Trainer.train_step

    def step(self):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(Trainer, "train_step", step)


def one_error(err: str, message: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("microdeblur: error:"), err
    assert message in lines[0], err


# ----------------------------------------------------------------------- 1: --minutes, --resume


def test_minutes_bounds_a_train_run_and_resume_continues_it(files, capsys):
    ck = files / "ck"
    sharp = ["--sharp", str(files / "sharp"), "--steps", "100000", "--checkpoint-dir", str(ck)]
    assert train(files, *sharp, "--minutes", "0.03") == 0
    out = capsys.readouterr().out
    assert "(the --minutes 0.03 limit, before --steps 100000)" in out, out
    first = read_card(files / "o.safetensors")
    done = int(re.search(r"(\d+) steps in", out)[1])
    assert 0 < done < 100000 and first.training["time_limit"] == pytest.approx(1.8)
    assert f"stopped by --minutes 0.03 at step {done} of 100000" in first.description
    # the same command with --resume continues from that step, for --minutes more
    assert train(files, *sharp, "--minutes", "0.03", "--resume", "--overwrite") == 0
    captured = capsys.readouterr()
    assert f"resuming from step {done} of" in captured.err
    assert int(re.search(r"(\d+) steps in", captured.out)[1]) > done


@pytest.mark.parametrize(("extra", "message"), [
    (["--minutes", "0"], "--minutes 0.0: give a time limit > 0 minutes"),
    (["--resume"], "--resume continues the run in --checkpoint-dir DIR; give that folder"),
])
def test_bad_minutes_and_resume_are_one_line(files, capsys, monkeypatch, extra, message):
    monkeypatch.setattr(Trainer, "train_step", lambda self: pytest.fail("trained"))
    assert train(files, "--sharp", str(files / "sharp"), *extra) == 2
    one_error(capsys.readouterr().err, message)


def test_resume_of_another_architecture_is_one_line_before_training(files, capsys,
                                                                    monkeypatch):
    ck = files / "ck"
    assert train(files, "--sharp", str(files / "sharp"), "--steps", "2", "--checkpoint-dir",
                 str(ck)) == 0
    capsys.readouterr()
    monkeypatch.setattr(Trainer, "train_step", lambda self: pytest.fail("trained"))
    code = train(files, "--sharp", str(files / "sharp"), "--steps", "4", "--checkpoint-dir",
                 str(ck), "--resume", arch="psf_cyclegan", out="p.safetensors")
    assert code == 2
    one_error(capsys.readouterr().err, "is a gran run in --regime supervised; give --arch gran")


def test_ctrl_c_early_in_a_default_length_run_keeps_a_validated_step(files, capsys,
                                                                     monkeypatch):
    # validation came every steps/10 = 200 steps: Ctrl-C at step 60 kept nothing
    interrupt_at(monkeypatch, 61)
    ck = files / "ck"
    assert train(files, "--sharp", str(files / "sharp"), "--steps", "2000",
                 "--checkpoint-dir", str(ck)) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "interrupted at step 60 of 2000; wrote the weights kept so far (the best on " \
           "validation)" in err and "adversarial" not in err, err
    assert "--resume --overwrite continues it" in err  # last.pt of step 50
    card = read_card(files / "o.safetensors")
    assert card.metrics["step"] == 50
    assert "interrupted (Ctrl-C) at step 60 of 2000" in card.description


def test_an_interrupted_adversarial_run_says_what_it_kept(files, capsys, monkeypatch):
    interrupt_at(monkeypatch, 5)
    assert train(files, "--sharp", str(files / "sharp"), "--steps", "6", "--regime",
                 "gran_gan", "--discriminator-config", str(files / "d_gran_gan.json")) == 130
    err = capsys.readouterr().err
    assert "(the last validated step, as gran_gan keeps)" in err and "best on" not in err, err
    card = read_card(files / "o.safetensors")
    assert card.training["steps"] == 6 and card.metrics["stopped"].startswith("interrupted")


def test_a_time_boxed_bar_follows_the_clock(capsys):
    """finetune's bar said "87/2000 [00:17<05:10" with 0:00 left: the steps, not the time."""

    def records():
        for step in (1, 2, 3):
            yield FitProgress(step=step, steps=2000, loss=0.1, lr=1e-3, val_psnr=None,
                              val_ssim=None, val_loss=None, seconds_left=0.0)
        return "done"

    assert cli_runs.drive_fit(records(), quiet=False, time_limit=60.0) == "done"
    err = capsys.readouterr().err
    assert "100%" in err and "step=3/2000" in err and "left=0:00" in err, err
    assert "/2000 [" not in err, err


# ----------------------------------------------------------------------- 2: 3D outside the cycle


@pytest.mark.parametrize("paired", [True, False])
def test_a_3d_model_in_another_regime_is_refused_first(files, capsys, paired):
    # said: "leave out --sharp and --blurry", then, without them: "needs --sharp IMAGES"
    extra = ["--blurry", str(files / "stacks")] if paired else []
    code = train(files, "--regime", "gran_gan", "--sharp", str(files / "stacks"), *extra,
                 arch="psf_cyclegan")
    assert code == 2
    one_error(capsys.readouterr().err, "in 3D (z-stacks in --")
    assert not (files / "o.safetensors").exists()


# ----------------------------------------------------------------------- 3, 6: psf_cyclegan


@pytest.mark.usefixtures("quick_spectral_fit")  # the start's fit is not checked here
def test_psf_cyclegan_holds_its_validation_images_out_and_records_its_psf_settings(
        files, capsys, monkeypatch):
    seen = {}
    real = training.iter_fit

    def spy(model, config, train_source, val=None, **extra):
        seen.update(extra)
        return real(model, config, train_source, val, **extra)

    monkeypatch.setattr(training, "iter_fit", spy)
    assert train(files, "--regime", "psf_cyclegan", "--unpaired-blurry", str(files / "blurry"),
                 "--unpaired-sharp", str(files / "sharp"), "--steps", "10",
                 "--discriminator-config", str(files / "d_psf_cyclegan.json"),
                 arch="psf_cyclegan") == 0
    # the image validated on trained the cycle too: it leaves the sharp set
    assert len(seen["unpaired_sharp"].images) == 1
    out = capsys.readouterr().out
    assert "on sharp images 0.tif held out of --unpaired-sharp, degradation mix (synthetic, " \
           "not the blur of --unpaired-blurry)" in out, out
    card = read_card(files / "o.safetensors")
    assert "less 0.tif (held out for validation)" in card.training_data
    assert card.training["psf_lr"] == 0.01 and card.training["psf_warmup"] == 3  # not null


# ----------------------------------------------------------------------- 4: start weights' card


@pytest.mark.parametrize(("given", "license"), [
    ([], "CC0-1.0"), (["--license", "CC-BY-4.0"], "CC0-1.0 AND CC-BY-4.0")])
def test_train_from_weights_keeps_their_licence_and_training_data(files, given, license):
    base = str(files / "base.safetensors")
    assert main(["train", "--arch", "gran", "--weights", base, "--sharp", str(files / "sharp"),
                 "--out", str(files / "w.safetensors"), "--steps", "2", "--patch", "32",
                 "--batch", "2", "--device", "cpu", "-q", *given]) == 0
    card = read_card(files / "w.safetensors")
    assert card.license == license
    assert card.training_data.startswith(f"{base} (the base set) trained further on sharp "
                                         "images")


def test_combined_licences_name_both_sides_unasserted_as_noassertion():
    assert cli_runs.combined_license("NOASSERTION", "CC-BY-4.0") == "NOASSERTION AND CC-BY-4.0"
    assert cli_runs.combined_license("CC-BY-4.0", "NOASSERTION") == "CC-BY-4.0 AND NOASSERTION"
    assert cli_runs.combined_license("unknown", "CC0-1.0") == "NOASSERTION AND CC0-1.0"
    assert cli_runs.combined_license("unknown", "NOASSERTION") == "unknown"
    assert cli_runs.combined_license("MIT OR Apache-2.0", "CC0-1.0") == \
        "(MIT OR Apache-2.0) AND CC0-1.0"
    assert cli_runs.combined_license("BSD-3-Clause AND CC-BY-4.0", "CC-BY-4.0") == \
        "BSD-3-Clause AND CC-BY-4.0"


# ----------------------------------------------------------------------- 5, 6: help, errors


def test_train_help_says_the_numeric_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option, default in [("--steps STEPS", "2000"), ("--patch PATCH", "64"),
                            ("--batch BATCH", "8"), ("--lr LR", "0.0003")]:
        assert re.search(rf"{option} [^-]*\(default {default}\)", text), option


def test_a_missing_image_folder_names_its_option(files, capsys):
    assert train(files, "--sharp", str(files / "sharp"), "--blurry",
                 str(files / "nosuch")) == 2
    one_error(capsys.readouterr().err, "--blurry: input file")
