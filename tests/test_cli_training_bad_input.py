"""`microdeblur train` / `finetune` on bad input: one line, the right exit code, nothing written
that was not asked for, the best checkpoint so far kept when a run diverges or is interrupted."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.training.loop import OVERFLOW_FACTOR, Trainer


def _texture(seed: int, n: int = 64) -> np.ndarray:
    from scipy import ndimage

    image = ndimage.gaussian_filter(np.random.default_rng(seed).random((n, n)), 2)
    return ((image - image.min()) / np.ptp(image)).astype(np.float32)


@pytest.fixture
def files(tmp_path):
    """Two sharp images (one is held out: no 'validated on the training image' note), their
    blurred twins, a tiny gran config and tiny base weights."""
    from scipy import ndimage

    for name in ("sharp", "blurry"):
        (tmp_path / name).mkdir()
    for i in range(2):
        sharp = _texture(i)
        tifffile.imwrite(tmp_path / "sharp" / f"f{i}.tif", sharp)
        tifffile.imwrite(tmp_path / "blurry" / f"f{i}.tif", ndimage.gaussian_filter(sharp, 1.5))
    (tmp_path / "tiny.json").write_text(json.dumps(registry.get_arch("gran").tiny_config))
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    save_weights(model, tmp_path / "base.safetensors", {"license": "CC0-1.0"})
    return tmp_path


def train(t, *extra):
    return main(["train", "--arch", "gran", "--config", str(t / "tiny.json"), "--sharp",
                 str(t / "sharp"), "--out", str(t / "o.safetensors"), "--patch", "32",
                 "--batch", "2", "--device", "cpu", "-q", *extra])


def finetune(t, *extra):
    return main(["finetune", "--weights", str(t / "base.safetensors"), "--blurry",
                 str(t / "blurry" / "f0.tif"), "--sharp", str(t / "sharp" / "f0.tif"), "--out",
                 str(t / "o.safetensors"), "--patch", "32", "--batch", "2", "--device", "cpu",
                 "-q", *extra])


def listing(t) -> list[str]:
    return sorted(str(p.relative_to(t)) for p in t.rglob("*"))


def rising_validation(monkeypatch):
    """Every trained validation beats the ones before (deterministic 'best so far')."""
    real = Trainer.validate

    def validate(self, identity=False):
        v = real(self, identity)
        return v if identity else {**v, "val_psnr": 40.0 + self.step}

    monkeypatch.setattr(Trainer, "validate", validate)


def fail_at(monkeypatch, call: int, make):
    """Trainer.train_step as usual, but ``make(losses)`` at the ``call``-th step."""
    calls, real = [], Trainer.train_step

    def step(self):
        calls.append(1)
        losses = real(self)
        return make(losses) if len(calls) == call else losses

    monkeypatch.setattr(Trainer, "train_step", step)


# ----------------------------------------------------------------------------- 1, 2: divergence


def test_a_nan_run_stops_in_one_line_and_keeps_the_start_in_checkpoint_dir(files, capsys):
    ck = files / "ck"
    code = train(files, "--steps", "20", "--lr", "1e8", "--checkpoint-dir", str(ck))
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("microdeblur: error:"), err
    assert "diverged at step" in err and "lower --lr (now 1e+08)" in err
    assert "was not written" in err and "grad_clip" not in err
    assert not (files / "o.safetensors").exists()
    assert (ck / "best.safetensors").is_file()  # the run's best so far: its start


def test_a_run_diverging_after_a_better_validation_writes_it(files, capsys, monkeypatch):
    rising_validation(monkeypatch)
    fail_at(monkeypatch, 5, lambda losses: {**losses, "loss": float("nan")})
    ck = files / "ck"
    code = train(files, "--steps", "10", "--checkpoint-dir", str(ck))
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    assert len(err.splitlines()) == 1 and err.startswith("microdeblur: training stopped at "
                                                         "step 5: training diverged"), err
    assert "wrote the weights kept so far (the best on validation" in err and "lower --lr" in err
    _, card = load_model(files / "o.safetensors")
    assert card.metrics["step"] == 4
    assert (ck / "best.safetensors").is_file()


def test_an_overflowing_loss_stops_the_run(files, capsys, monkeypatch):
    # lr 1e8 on c2f_unet: losses of 1e17, all finite, for the whole run (it exited 0)
    fail_at(monkeypatch, 2, lambda losses: {**losses, "loss": 1e17})
    code = train(files, "--steps", "30")  # first trained validation at step 3
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("microdeblur: error:"), err
    assert "diverged at step 2" in err and "overflowed" in err
    assert listing(files) == ["base.safetensors", "blurry", "blurry/f0.tif", "blurry/f1.tif",
                              "sharp", "sharp/f0.tif", "sharp/f1.tif", "tiny.json"]


def test_a_normal_run_does_not_overflow_and_says_when_it_is_below_the_input(files, capsys,
                                                                            monkeypatch):
    losses_seen = []
    real = Trainer.train_step
    monkeypatch.setattr(Trainer, "train_step",
                        lambda self: losses_seen.append(real(self)["loss"]) or {
                            "loss": losses_seen[-1]})
    ck = files / "new_ck"  # a missing folder is made
    assert train(files, "--steps", "6", "--checkpoint-dir", str(ck)) == 0
    assert max(losses_seen) < OVERFLOW_FACTOR * max(1.0, losses_seen[0]) / 100
    out = capsys.readouterr().out.strip()
    psnr, start = map(float, re.search(r"PSNR (\S+) dB \(input (\S+) dB\)", out).groups())
    assert ("below the input" in out) == (psnr < start)
    assert sorted(p.name for p in ck.iterdir()) == ["best.pt", "best.safetensors", "last.pt",
                                                    "last.safetensors"]


def test_ctrl_c_keeps_the_best_so_far(files, capsys, monkeypatch):
    rising_validation(monkeypatch)

    def interrupt(losses):
        raise KeyboardInterrupt

    fail_at(monkeypatch, 4, interrupt)
    ck = files / "ck"
    assert train(files, "--steps", "10", "--checkpoint-dir", str(ck)) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "wrote the weights kept so far (the best on validation" in err, err
    assert (files / "o.safetensors").is_file() and (ck / "best.safetensors").is_file()


# ----------------------------------------------------------------------------- 3, 4: folders


# /proc cannot be written in even by root (who passes every permission check): Linux only
NO_PROC = pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")


@pytest.mark.parametrize("case,message", [
    ("file", "is a file; give a folder"),
    pytest.param("unwritable", "is not writable", marks=NO_PROC),
    ("earlier", "holds an earlier run"),
])
def test_train_checkpoint_dir_is_checked_before_training(files, capsys, monkeypatch, case,
                                                         message):
    monkeypatch.setattr(Trainer, "train_step", lambda self: pytest.fail("trained"))
    ck = {"file": files / "afile", "unwritable": "/proc/microdeblur-ck",
          "earlier": files / "old"}[case]
    if case == "file":
        ck.write_text("mine")
    elif case == "earlier":
        ck.mkdir()
        (ck / "best.safetensors").write_bytes(b"an earlier run")
    before = listing(files)
    assert train(files, "--steps", "4", "--checkpoint-dir", str(ck)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("microdeblur: error:"), err
    assert message in err and "--checkpoint-dir" in err and "Errno" not in err
    assert listing(files) == before


@NO_PROC
def test_finetune_unwritable_checkpoint_dir_is_one_line_before_training(files, capsys,
                                                                        monkeypatch):
    monkeypatch.setattr(Trainer, "train_step", lambda self: pytest.fail("trained"))
    before = listing(files)
    assert finetune(files, "--steps", "4", "--checkpoint-dir", "/proc/microdeblur-ck") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("microdeblur: error:"), err
    assert "is not writable" in err and "Errno" not in err
    assert listing(files) == before


# ----------------------------------------------------------------------------- 5, 6: regimes


def test_discriminator_config_inline_json_and_unknown_keys(files, capsys):
    before = listing(files)
    assert train(files, "--steps", "2", "--regime", "gran_gan", "--perceptual", "none",
                 "--discriminator-config", '{"foo": 1}') == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("microdeblur: error:"), err
    assert "--discriminator-config" in err and "unknown field 'foo'" in err
    assert "base_channels" in err and "cannot read it" not in err
    assert train(files, "--steps", "2", "--regime", "gran_gan", "--perceptual", "none",
                 "--discriminator-config", '{"base_channels": "x"}') == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "base_channels" in err, err
    assert listing(files) == before


def test_unreadable_vgg_weights_is_one_line_without_torch_advice(files, capsys):
    (files / "fake.pt").write_bytes(b"\x01\x02garbage")
    before = listing(files)
    assert train(files, "--steps", "2", "--regime", "gran_gan", "--vgg-weights",
                 str(files / "fake.pt")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("microdeblur: error:"), err
    assert "--vgg-weights" in err and "is not a VGG-19 weights file PyTorch can read (" in err
    assert "weights_only" not in err
    assert listing(files) == before


# ----------------------------------------------------------------------------- 7, 8: finetune


def test_finetune_val_fraction_message_states_the_accepted_range(files, capsys):
    assert finetune(files, "--val-fraction", "1") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("microdeblur: error:"), err
    assert "up to, not including, 1" in err
    assert not (files / "o.safetensors").exists()


@pytest.mark.parametrize("junk", [b"junk bytes", bytes(range(256)) * 2], ids=["text", "binary"])
def test_finetune_resume_from_junk_gives_a_readable_reason(files, capsys, junk):
    ck = files / "ck_bad"
    ck.mkdir()
    (ck / "last.pt").write_bytes(junk)
    before = listing(files)
    assert finetune(files, "--steps", "2", "--checkpoint-dir", str(ck), "--resume") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("microdeblur: error:"), err
    assert "not a readable training checkpoint (no PyTorch file" in err
    assert not re.search(r"\(\d+\)", err) and "weights_only" not in err
    assert listing(files) == before and (ck / "last.pt").read_bytes() == junk
