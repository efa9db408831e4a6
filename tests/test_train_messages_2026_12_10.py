"""What `microdeblur train` and `finetune --self` tell the user (a walkthrough of the README's
training section): the numbers of the PSF-margin refusal, the smallest patch a discriminator
takes, train --help, and which weights a Ctrl-C of `finetune --self` wrote."""

import json

import numpy as np
import pytest
import tifffile
import torch
from scipy.ndimage import gaussian_filter
from test_cycle_psf_2026_12_09 import quick_spectral_fit  # noqa: F401

from napari_microdeblur import cli_training
from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core import self_adapt as self_adapt_mod
from napari_microdeblur.core.archs.psf_cyclegan import MultiScalePatchDiscriminator
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.progress import Notes
from napari_microdeblur.core.training import TrainingConfig
from napari_microdeblur.core.training.records import FitProgress

QUICK = ["--steps", "1", "--batch", "1", "--device", "cpu", "-q"]


def stacks(tmp_path, shape):
    """--unpaired-blurry and --unpaired-sharp folders of one z-stack each."""
    rng = np.random.default_rng(0)
    for name in ("blurry", "sharp"):
        (tmp_path / name).mkdir()
        volume = gaussian_filter(rng.random(shape), 1).astype(np.float32)
        tifffile.imwrite(tmp_path / name / "v.tif", volume, imagej=True,
                         metadata={"axes": "ZYX"})


def train_3d(tmp_path, patch, psf_size, discriminator=None):
    """`train --regime psf_cyclegan` of the tiny 3D network (size divisor 2)."""
    config = {k: v for k, v in registry.get_arch("psf_cyclegan").tiny_config.items()
              if k != "spatial_dims"}
    arch_json = tmp_path / "a.json"
    arch_json.write_text(json.dumps({**config, "psf_size": psf_size}))
    extra = ["--discriminator-config", json.dumps(discriminator)] if discriminator else []
    return main(["train", "--regime", "psf_cyclegan", "--arch", "psf_cyclegan", "--config",
                 str(arch_json), *extra, "--unpaired-blurry", str(tmp_path / "blurry"),
                 "--unpaired-sharp", str(tmp_path / "sharp"), "--out",
                 str(tmp_path / "w.safetensors"), "--overwrite", "--patch", str(patch), *QUICK])


SMALL_DISC = {"base_channels": 4, "n_layers": 3}


def test_margin_refusal_asks_for_the_images_this_patch_needs(tmp_path, capsys):
    # --patch 24 with a 21-px PSF needs 44 px; it said "images of at least 41 px a side"
    # (what a 21-px patch needs)
    stacks(tmp_path, (24, 48, 48))
    assert train_3d(tmp_path, 24, 21, SMALL_DISC) == 2
    err = capsys.readouterr().err
    assert "44 px: larger than its smallest image side (24 px)" in err, err
    assert "z-stacks of at least 44 planes and 44 px a side" in err, err
    assert "41 px" not in err, err
    # the way out: a smaller patch (here the smallest that holds the PSF) or a smaller PSF
    assert ("--patch 22 (the smallest multiple of 2 that holds the 21-px PSF) with z-stacks "
            "of at least 42 planes") in err, err
    assert "a smaller psf_size" in err, err


def test_margin_refusal_comes_before_the_plain_patch_check(tmp_path, capsys):
    # at --patch 32 the blurry stacks' own check said "a patch of at most 24 voxels"; at 24
    # the sharp ones then asked for 44 planes
    stacks(tmp_path, (24, 48, 48))
    assert train_3d(tmp_path, 32, 21, SMALL_DISC) == 2
    err = capsys.readouterr().err
    assert "--unpaired-sharp patches are the patch (32 px)" in err, err
    assert "at most 24 voxels" not in err, err


@pytest.mark.usefixtures("quick_spectral_fit")  # the start's fit is not checked here
def test_the_smaller_patch_the_refusal_names_is_accepted(tmp_path, capsys):
    stacks(tmp_path, (24, 48, 48))
    assert train_3d(tmp_path, 24, 5, SMALL_DISC) == 2  # 24 + 2 * 2 px > 24 planes
    err = capsys.readouterr().err
    assert "accepted: --patch 20 or smaller" in err, err
    assert train_3d(tmp_path, 20, 5, SMALL_DISC) == 0, capsys.readouterr().err


def refuses(disc, patch):
    try:
        with torch.no_grad():
            disc(torch.zeros(2, 1, patch, patch, patch))
    except (RuntimeError, ValueError):
        return True
    return False


@pytest.mark.usefixtures("quick_spectral_fit")  # the start's fit is not checked here
def test_discriminator_refusal_names_the_smallest_patch_and_a_shallower_one(tmp_path,
                                                                             capsys):
    # it said torch's "Expected more than 1 spatial element ... [2, 256, 1, 1, 1]" and
    # "use a larger patch", without saying how large
    stacks(tmp_path, (48, 48, 48))
    assert train_3d(tmp_path, 24, 5) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and "spatial element" not in err, err
    line = lines[0]
    assert "--patch 24 is too small for the psf_cyclegan discriminator in 3D" in line, err
    # the default 3D discriminator: 3 PatchGANs, the smallest on a quarter of the patch
    # halved three times before its last norm: 36, a multiple of the divisor 2
    assert "it takes --patch 36 or larger (a multiple of 2" in line, err
    default = MultiScalePatchDiscriminator(3)
    assert refuses(default, 34) and not refuses(default, 36)
    assert """keep --patch 24 with fewer layers: --discriminator-config '{"n_layers": 3}'""" in line
    # what it says to give works
    assert train_3d(tmp_path, 24, 5, {"n_layers": 3}) == 0, capsys.readouterr().err


def test_train_help_says_the_defaults_and_the_option(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--sharp alone (default mix:" in text, text
    supervised = text[text.index("supervised: pairs"):text.index("gran_gan: pairs")]
    assert "with VGG weights" not in supervised, supervised
    assert "--vgg-weights VGG.pth alone turns it on at 0.02" in supervised, supervised
    assert "--perceptual-weight W" in supervised, supervised
    # what the help says, against the config
    vgg = tmp_path / "vgg.pth"
    vgg.write_bytes(b"0")
    config = TrainingConfig.from_options({"regime": "supervised", "steps": 1,
                                          "vgg_weights": str(vgg)})
    assert config.weights()["perceptual"] == pytest.approx(0.02)
    plain = TrainingConfig.from_options({"regime": "supervised", "steps": 1})
    assert plain.weights()["perceptual"] == 0


# ------------------------------------------------------------------ Ctrl-C of finetune --self


@pytest.fixture
def base_weights(tmp_path):
    torch.manual_seed(0)
    model = registry.build_model("c2f_unet", {**registry.get_arch("c2f_unet").tiny_config,
                                              "global_skip": True})
    path = tmp_path / "base.safetensors"
    save_weights(model, path, {"license": "CC0-1.0"})
    return path


def finetune_self(tmp_path, base_weights):
    rng = np.random.default_rng(0)
    image = tmp_path / "blurry.tif"
    tifffile.imwrite(image, gaussian_filter(rng.random((96, 128)), 2).astype(np.float32))
    out = tmp_path / "adapted.safetensors"
    code = main(["finetune", "--self", str(image), "--psf", "gaussian:1.6", "--weights",
                 str(base_weights), "--out", str(out), "--steps", "50", "--patch", "32",
                 "--batch", "2", "--device", "cpu", "-q"])
    return code, out


def interrupt_after(n):
    """A drive_fit that reads ``n`` records, then is interrupted (Ctrl-C), job left open."""
    def drive(job, **_):
        for _ in range(n):
            next(job)
        raise KeyboardInterrupt
    return drive


def same(a, b):
    return all(torch.equal(v, b[k]) for k, v in a.items())


def test_ctrl_c_before_any_check_says_the_starting_weights(tmp_path, base_weights, capsys,
                                                           monkeypatch):
    monkeypatch.setattr(cli_training, "drive_fit", interrupt_after(3))  # notes, 2 steps
    code, out = finetune_self(tmp_path, base_weights)
    err = capsys.readouterr().err
    # nothing written where the start was kept (2026-12-17: it wrote the start over --out)
    assert code == 130 and not out.exists(), err
    assert "before any held-out check beat the starting weights" in err, err
    assert f"nothing written to {out}" in err, err


@pytest.mark.parametrize(("losses", "best_step", "words"), [
    # step 1 unchecked; step 2's check beats the start (0.9), step 3's does not beat step 2's
    ((1.0, 0.5, 0.7), 2, "the weights of step 2 (held-out data-consistency loss 0.500, below "
                         "the starting weights')"),
    ((1.0, 1.2, 0.95), 0, "the starting weights (none of 2 held-out check(s) beat them)"),
])
def test_ctrl_c_says_which_weights_it_wrote(tmp_path, base_weights, capsys, monkeypatch,
                                            losses, best_step, words):
    # it said "the weights kept so far (the starting ones where no held-out check beat them
    # yet)": which of the two, the user could not tell
    kept = {}

    def job(model, images, psf, **_):
        """iter_self_adapt's contract: records, and the best weights loaded when closed."""
        best = {k: v.clone() for k, v in model.state_dict().items()}
        kept.update(best)
        try:
            yield Notes(("prior: start",), ())
            for step, loss in enumerate(losses, 1):
                with torch.no_grad():
                    next(model.parameters()).add_(1.0)
                if step == best_step:
                    best = {k: v.clone() for k, v in model.state_dict().items()}
                    kept.update(best)
                yield FitProgress(step=step, steps=50, loss=loss, lr=1e-4, val_psnr=None,
                                  val_ssim=None, val_loss=loss if step > 1 else 0.9,
                                  seconds_left=60.0, validated=step > 1)
        finally:
            model.load_state_dict(best)

    monkeypatch.setattr(self_adapt_mod, "iter_self_adapt", job)
    monkeypatch.setattr(cli_training, "drive_fit", interrupt_after(1 + len(losses)))
    code, out = finetune_self(tmp_path, base_weights)
    err = capsys.readouterr().err
    assert code == 130, err
    if best_step == 0:  # the start kept: nothing written (2026-12-17)
        assert not out.exists() and f"nothing written to {out}" in err, err
        assert "before any held-out check beat the starting weights" in err, err
        return
    assert f"wrote {words} to {out}" in err, err
    assert same(load_model(out)[0].state_dict(), kept)
