"""Fine-tuning that can see overfitting, is time-boxed and safe (core.finetune, `microdeblur
finetune`): the held-out band, the starting weights kept when nothing beats them, early
stopping, augmentation and L2-SP, several pairs, checkpoints, resume, divergence, Ctrl-C and
bad input refused before training."""

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core import pairs as pairs_mod
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.finetune import FinetuneRequest, JitteredPairs, iter_finetune
from napari_microdeblur.core.progress import drive
from napari_microdeblur.core.training.loop import Trainer


def texture(seed: int, shape=(96, 96)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 2.0).astype(np.float32)


def noisy_pair(seed: int, shape=(96, 96)) -> tuple[np.ndarray, np.ndarray]:
    """(input, target): the target is the input plus fixed noise of its own, so anything a
    network learns beyond the identity is memorised noise (it cannot generalise)."""
    x = texture(seed, shape)
    noise = np.random.default_rng(seed + 100).normal(0, 0.3 * x.std(), shape)
    return x, (x + noise).astype(np.float32)


def identity_gran():
    """A tiny GRAN whose output is its input (global residual, zero tail)."""
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config, seed=0)
    with torch.no_grad():
        model.tail.weight.zero_()
        model.tail.bias.zero_()
    return model


def save_base(path, model=None):
    model = model if model is not None else identity_gran()
    save_weights(model, path, {"arch": model.arch_name, "config": model.config.model_dump(),
                               "in_channels": 1, "out_channels": 1})
    return path


def request(model, blurry, sharp, tmp_path, **options) -> FinetuneRequest:
    opts = dict(steps=40, patch=32, batch_size=2, lr=1e-4, device="cpu",
                checkpoint_dir=str(tmp_path / "ck"))
    opts.update(options)
    return FinetuneRequest(mode="pair", layer_name="pair", axes="YX", model=model,
                           base_label="tiny", base_card=None, blurry=blurry, sharp=sharp,
                           **opts)


def states_equal(a, b) -> bool:
    return all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


# ----------------------------------------------------------------------------- validation


def test_band_holds_out_pixels_no_training_patch_can_reach():
    x, y = noisy_pair(0, (96, 120))
    pair = pairs_mod.pairs_from_arrays(x, y, axes="YX", align=False)[0]
    train, val = pairs_mod.split_band([pair], val_fraction=0.2, min_train=32)
    # the band: the last 20 % of the longer axis (X), a 16-px gap, the rest trains
    assert val[0].shape == (96, 24) and train[0].shape == (96, 120 - 24 - 16)
    assert np.array_equal(val[0].target, pair.target[:, :, 96:])
    assert np.array_equal(train[0].target, pair.target[:, :, :80])
    # an aligned plane cropped by 3 px on every side holds out the same image pixels
    shifted = pairs_mod.Pair(pair.input[:, 3:-3, 3:-3], pair.target[:, 3:-3, 3:-3], "b",
                             info={"border": 3})
    t2, v2 = pairs_mod.split_band([shifted], val_fraction=0.2, min_train=32)
    assert np.array_equal(v2[0].target, pair.target[:, 3:-3, 96:117])
    assert t2[0].shape[1] == 80 - 3
    with pytest.raises(ValueError, match="too small to hold out validation"):
        pairs_mod.split_band([pair], val_fraction=0.2, min_train=96)


def test_a_layer_too_small_for_the_band_is_refused_before_its_pairs_are_built(tmp_path,
                                                                              monkeypatch):
    from napari_microdeblur.core import finetune

    def no_pairs(*args):
        raise AssertionError("built the pairs before the size check")

    monkeypatch.setattr(finetune, "_field_pairs", no_pairs)
    x, y = noisy_pair(0, (96, 120))
    req = request(identity_gran(), x, y, tmp_path, patch=96)
    with pytest.raises(ValueError, match=r"\(96 x 120\) is too small to hold out validation"):
        drive(iter_finetune(req))
    finetune.check_field_sizes(request(identity_gran(), x, y, tmp_path, patch=32))  # fits


def test_overfitting_recipe_is_caught_and_the_starting_weights_come_back(tmp_path):
    """Tiny data, a high learning rate, many steps: training memorises the targets' noise,
    the held-out band sees validation fall, and the job returns the starting weights."""
    model = identity_gran()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = noisy_pair(1)
    req = request(model, x, y, tmp_path, steps=60, lr=3e-2, val_every=10, patience=None,
                  intensity_jitter=0.0, augment=False)
    outcome = drive(iter_finetune(req))
    history = outcome.result.history
    assert history[0]["step"] == 0 and len(history) >= 6
    assert max(h["val_psnr"] for h in history[1:]) < history[0]["val_psnr"]  # overfitted
    assert outcome.improved is False
    assert "the starting weights are returned" in outcome.summary
    assert states_equal(start, outcome.model.state_dict())
    assert outcome.card.metrics["step"] == 0


def test_patience_stops_a_run_that_no_longer_improves(tmp_path):
    x, y = noisy_pair(2)
    req = request(identity_gran(), x, y, tmp_path, steps=400, lr=3e-2, val_every=5,
                  patience=2)
    outcome = drive(iter_finetune(req))
    assert outcome.result.stopped == "early_stop"
    assert outcome.result.steps_done < 400
    assert "stopped early" in outcome.summary


def test_improvement_is_kept_and_reported(tmp_path):
    """A real task (deblur a Gaussian blur): validation rises and a later step is kept."""
    sharp = texture(3)
    blurry = ndimage.gaussian_filter(sharp, 1.5)
    req = request(identity_gran(), blurry, sharp, tmp_path, steps=60, lr=3e-3, val_every=10)
    outcome = drive(iter_finetune(req))
    assert outcome.improved is True
    assert outcome.card.metrics["step"] > 0
    assert outcome.card.metrics["val_psnr"] > outcome.result.history[0]["val_psnr"]
    assert "kept step" in outcome.summary


def test_a_gain_below_the_margin_returns_the_starting_weights(tmp_path):
    """min_gain_db: the same run (same seed) is kept without a margin and refused when the
    margin is above the gain it reached; then the starting weights come back, unchanged."""
    sharp = texture(3)
    blurry = ndimage.gaussian_filter(sharp, 1.5)
    options = dict(steps=40, lr=3e-3, val_every=10, patience=None)
    kept = drive(iter_finetune(request(identity_gran(), blurry, sharp, tmp_path / "a",
                                       checkpoint_dir=str(tmp_path / "a"), min_gain_db=0.0,
                                       **options)))
    gain = kept.card.metrics["val_psnr"] - kept.result.history[0]["val_psnr"]
    assert kept.improved is True and gain > 0
    model = identity_gran()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    margin = round(gain + 0.5, 1)
    refused = drive(iter_finetune(request(model, blurry, sharp, tmp_path,
                                          checkpoint_dir=str(tmp_path / "b"),
                                          min_gain_db=margin, **options)))
    assert refused.improved is False and refused.card.metrics["step"] == 0
    assert states_equal(start, refused.model.state_dict())
    assert f"beat the starting weights by {margin:g} dB" in refused.summary


# ----------------------------------------------------------------------------- small data


def test_intensity_jitter_applies_one_gain_and_offset_to_input_and_target():
    x, y = noisy_pair(4)
    pair = pairs_mod.pairs_from_arrays(x, y, axes="YX", align=False)
    plain = JitteredPairs(pair, jitter=0.0).sample(np.random.default_rng(7), 4, 32)
    jittered = JitteredPairs(pair, jitter=0.2).sample(np.random.default_rng(7), 4, 32)
    for i in range(4):
        gain = (jittered[1][i] - jittered[0][i]).std() / (plain[1][i] - plain[0][i]).std()
        assert 0.8 <= gain <= 1.2 and abs(gain - 1) > 1e-4
        offset = jittered[0][i] - gain * plain[0][i]
        assert np.allclose(offset, offset.flat[0], atol=1e-5)
        assert np.allclose(jittered[1][i], gain * plain[1][i] + offset.flat[0], atol=1e-5)
    with pytest.raises(ValueError, match="intensity_jitter"):
        JitteredPairs(pair, jitter=1.5)


def test_anchor_weight_keeps_the_weights_near_the_start(tmp_path):
    x, y = noisy_pair(5)
    drift = {}
    for weight in (0.0, 10.0):
        model = identity_gran()
        start = {k: v.clone() for k, v in model.named_parameters()}
        (tmp_path / str(weight)).mkdir()
        req = request(model, x, y, tmp_path / str(weight), steps=15, lr=1e-2, val_fraction=0,
                      anchor_weight=weight)
        outcome = drive(iter_finetune(req))
        tuned = dict(outcome.model.named_parameters())
        drift[weight] = sum(float(((tuned[k] - start[k]) ** 2).sum()) for k in start)
    assert drift[10.0] < 0.5 * drift[0.0]


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture
def files(tmp_path):
    """A base weights file and three 2D blurry/sharp pairs in folders b/ and s/."""
    base = save_base(tmp_path / "base.safetensors")
    (tmp_path / "b").mkdir()
    (tmp_path / "s").mkdir()
    for i in range(3):
        sharp = texture(10 + i)
        tifffile.imwrite(tmp_path / "b" / f"f{i}.tif", ndimage.gaussian_filter(sharp, 1.5))
        tifffile.imwrite(tmp_path / "s" / f"f{i}.tif", sharp)
    return base


def finetune(tmp_path, base, *extra, out="o.safetensors"):
    argv = ["finetune", "--weights", str(base), "--out", str(tmp_path / out), "--patch", "32",
            "--batch", "2", "--device", "cpu", "-q", *extra]
    return main(argv)


def test_several_pairs_hold_out_whole_fields_and_keep_checkpoints(tmp_path, files, capsys):
    ck = tmp_path / "ck"
    assert finetune(tmp_path, files, "--blurry", str(tmp_path / "b" / "*.tif"), "--sharp",
                    str(tmp_path / "s" / "*.tif"), "--steps", "6", "--val-fraction", "0.34",
                    "--min-gain", "0", "--checkpoint-dir", str(ck)) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "o.safetensors" in last and ("validation PSNR" in last or "starting weights" in last)
    _, card = load_model(tmp_path / "o.safetensors")
    assert "validation: whole field(s) f" in card.training_data
    for name in ("best.safetensors", "last.safetensors", "last.pt"):
        assert (ck / name).is_file()
    _, last_card = load_model(ck / "last.safetensors")
    assert last_card.arch == "gran" and last_card.metrics["step"] == 6
    # --resume continues the run to more steps from last.pt
    assert finetune(tmp_path, files, "--blurry", str(tmp_path / "b" / "*.tif"), "--sharp",
                    str(tmp_path / "s" / "*.tif"), "--steps", "10", "--val-fraction", "0.34",
                    "--checkpoint-dir", str(ck), "--resume", "--patience", "100",
                    out="o2.safetensors") == 0
    _, resumed = load_model(ck / "last.safetensors")
    assert resumed.metrics["step"] == 10
    capsys.readouterr()
    # another held-out field validates on other pixels: the run's best cannot be compared
    code = finetune(tmp_path, files, "--blurry", str(tmp_path / "b" / "*.tif"), "--sharp",
                    str(tmp_path / "s" / "*.tif"), "--steps", "12", "--val-fraction", "0.67",
                    "--checkpoint-dir", str(ck), "--resume", out="o3.safetensors")
    err = capsys.readouterr().err
    assert code == 2 and "validated on other images" in err and "--checkpoint-dir" in err
    assert not (tmp_path / "o3.safetensors").exists()
    assert load_model(ck / "last.safetensors")[1].metrics["step"] == 10


def test_repeated_options_pair_a_2d_image_and_a_band_is_held_out(tmp_path, files):
    argv = []
    for i in (0, 1):
        argv += ["--blurry", str(tmp_path / "b" / f"f{i}.tif"),
                 "--sharp", str(tmp_path / "s" / f"f{i}.tif")]
    assert finetune(tmp_path, files, *argv, "--steps", "3") == 0
    _, card = load_model(tmp_path / "o.safetensors")
    assert "2 fields" in card.training_data and "a band of every plane" in card.training_data


def test_time_limit_bounds_the_run(tmp_path, files, capsys):
    assert finetune(tmp_path, files, "--blurry", str(tmp_path / "b" / "f0.tif"), "--sharp",
                    str(tmp_path / "s" / "f0.tif"), "--steps", "100000",
                    "--minutes", "0.02") == 0
    assert "time limit reached" in capsys.readouterr().out


def test_a_diverging_run_stops_in_one_line_and_keeps_the_best(tmp_path, files, capsys):
    ck = tmp_path / "ck"
    code = finetune(tmp_path, files, "--blurry", str(tmp_path / "b" / "f0.tif"), "--sharp",
                    str(tmp_path / "s" / "f0.tif"), "--steps", "50", "--lr", "1e8",
                    "--checkpoint-dir", str(ck))
    err = capsys.readouterr().err.strip()
    # no validation beat the start: nothing written (it had written the start over --out)
    assert code == 2
    assert len(err.splitlines()) == 1 and "training stopped at step" in err
    assert "o.safetensors was not written" in err and not (tmp_path / "o.safetensors").exists()
    model, card = load_model(ck / "best.safetensors")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_ctrl_c_keeps_the_best_and_exits_130(tmp_path, files, capsys, monkeypatch):
    calls = []
    step = Trainer.train_step

    def interrupted(self):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(Trainer, "train_step", interrupted)
    ck = tmp_path / "ck"
    code = finetune(tmp_path, files, "--blurry", str(tmp_path / "b" / "f0.tif"), "--sharp",
                    str(tmp_path / "s" / "f0.tif"), "--steps", "50",
                    "--checkpoint-dir", str(ck))
    err = capsys.readouterr().err.strip()
    assert code == 130 and len(err.splitlines()) == 1 and "interrupted" in err
    # stopped before any validation beat the start: the checkpoint kept, --out not written
    assert "nothing written to" in err and not (tmp_path / "o.safetensors").exists()
    assert (ck / "best.safetensors").is_file()


def _c2f_checkpoint(tmp_path, files) -> None:
    model = registry.build_model("c2f_unet", registry.get_arch("c2f_unet").tiny_config)
    other = save_base(tmp_path / "c2f.safetensors", model)
    assert finetune(tmp_path, other, "--blurry", str(tmp_path / "b" / "f0.tif"), "--sharp",
                    str(tmp_path / "s" / "f0.tif"), "--steps", "2", "--checkpoint-dir",
                    str(tmp_path / "c2f_ck"), out="c2f_out.safetensors") == 0


@pytest.mark.parametrize("case,message", [
    ("minutes0", "--minutes 0.0: give a time limit > 0"),
    ("minutes-", "--minutes -1.0: give a time limit > 0"),
    ("ck-file", "is a file; give a folder"),
    ("ck-readonly", "is not writable"),
    ("ck-earlier", "holds an earlier run"),
    ("resume-other", "holds a 'c2f_unet' network"),
    ("resume-none", "no last.pt to resume from"),
    ("shapes", "has shape (96, 96) but --sharp"),
    ("axes", "has axes YX (96, 96) but --sharp"),
    ("planes", "has 4 planes along Z but --sharp"),
    ("counts", "--blurry gives 3 image(s) but --sharp 1"),
    ("too-small", "too small to hold out validation"),
    ("min-gain", "--min-gain -1.0: give a PSNR margin >= 0 dB"),
])
def test_bad_input_is_one_line_before_training(tmp_path, files, capsys, monkeypatch, case,
                                               message):
    b, s = tmp_path / "b" / "f0.tif", tmp_path / "s" / "f0.tif"
    extra = ["--blurry", str(b), "--sharp", str(s), "--steps", "3"]
    ck = tmp_path / "ck"
    if case.startswith("minutes"):
        extra += ["--minutes", "0" if case == "minutes0" else "-1"]
    elif case == "ck-file":
        ck.write_text("not a folder")
        extra += ["--checkpoint-dir", str(ck)]
    elif case == "ck-readonly":
        ck.mkdir()
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: real_access(p, mode)
                            and os.fspath(p) != os.fspath(ck))
        extra += ["--checkpoint-dir", str(ck)]
    elif case == "ck-earlier":
        ck.mkdir()
        (ck / "best.safetensors").write_bytes(b"an earlier run")
        extra += ["--checkpoint-dir", str(ck)]
    elif case.startswith("resume"):
        if case == "resume-other":
            _c2f_checkpoint(tmp_path, files)
            ck = tmp_path / "c2f_ck"
        else:
            ck.mkdir()
        extra += ["--checkpoint-dir", str(ck), "--resume"]
    elif case in ("shapes", "axes", "planes"):
        sharp = {"shapes": np.zeros((80, 96), np.float32) + texture(1)[:80],
                 "axes": np.repeat(texture(1)[..., None], 3, -1).astype(np.uint8),
                 "planes": np.stack([texture(i) for i in range(3)])}[case]
        s = tmp_path / "other.tif"
        tifffile.imwrite(s, sharp)
        if case == "planes":
            b = tmp_path / "blurry_stack.tif"
            tifffile.imwrite(b, np.stack([texture(i) for i in range(4)]))
            extra += ["--axes", "ZYX"]
        extra[:4] = ["--blurry", str(b), "--sharp", str(s)]
    elif case == "counts":
        extra[1] = str(tmp_path / "b" / "*.tif")
    elif case == "too-small":
        extra += ["--patch", "64", "--val-fraction", "0.4"]
    elif case == "min-gain":
        extra += ["--min-gain", "-1"]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    before_ck = ck.read_bytes() if ck.is_file() else None
    capsys.readouterr()
    assert finetune(tmp_path, files, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written
    if before_ck is not None:
        assert ck.read_bytes() == before_ck


def test_a_run_given_no_folder_keeps_its_checkpoints_until_python_exits(tmp_path):
    import subprocess
    import sys

    code = ("from pathlib import Path\n"
            "from napari_microdeblur.core.training.checkpoints import temporary_checkpoint_dir\n"
            "d = Path(temporary_checkpoint_dir())\n"
            "(d / 'best.safetensors').write_bytes(b'x')\n"
            "assert d.is_dir()\n"
            "print(d)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    folder = Path(done.stdout.strip())
    assert folder.name.startswith("microdeblur-finetune-") and not folder.exists()
