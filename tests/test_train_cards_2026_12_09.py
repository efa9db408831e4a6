"""`microdeblur train`: the weights' card records how they compared with the input
(val_psnr_input, in --out and in the checkpoint folder's best/last files); a kept step 0 is
said to be the starting weights, with what to change; --help says which default loss weights
come from which paper and which are ours; the card records what ran (no content loss for
psf_cyclegan, restore_best false where the last step is kept, perceptual features only when
the term ran); --perceptual that would do nothing is refused in one line."""

import json

import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import read_card
from napari_microdeblur.core.degrade import degrade
from napari_microdeblur.core.training import TrainingConfig
from napari_microdeblur.core.training.regimes.supervised import Supervised

FAST = ["--steps", "2", "--patch", "32", "--batch", "2", "--device", "cpu", "-q"]
SMALL_GRAN_D = {"base_channels": 4, "n_blocks": 3, "fc_channels": 8}


@pytest.fixture
def pairs(tmp_path, fluo_u8, fluo_u16):
    """--sharp and --blurry folders of two 2D pairs."""
    for name, arrays in {"sharp": [fluo_u8, fluo_u16],
                         "blurry": [degrade(fluo_u8, "B", seed=1),
                                    degrade(fluo_u16, "B", seed=2)]}.items():
        (tmp_path / name).mkdir()
        for i, a in enumerate(arrays):
            tifffile.imwrite(tmp_path / name / f"{i}.tif", a, photometric="minisblack")
    return ["--sharp", str(tmp_path / "sharp"), "--blurry", str(tmp_path / "blurry")]


def tiny(tmp_path, arch: str) -> list[str]:
    path = tmp_path / f"{arch}.json"
    path.write_text(json.dumps(registry.get_arch(arch).tiny_config))
    return ["--arch", arch, "--config", str(path)]


def test_every_train_output_records_the_input_psnr(tmp_path, pairs, capsys):
    """The closing line said "(input 28.29 dB): below the input" but the card held the
    weights' PSNR alone, so info and the docks showed it without the comparison."""
    out, folder = tmp_path / "w.safetensors", tmp_path / "ck"
    argv = ["train", *tiny(tmp_path, "c2f_unet"), *pairs, "--out", str(out),
            "--checkpoint-dir", str(folder), *FAST]
    assert main(argv) == 0
    line = capsys.readouterr().out
    inputs = {read_card(f).metrics.get("val_psnr_input")
              for f in (out, folder / "best.safetensors", folder / "last.safetensors")}
    assert len(inputs) == 1 and isinstance(next(iter(inputs)), float), inputs
    assert f"(input {next(iter(inputs)):.2f} dB)" in line
    assert main(["info", str(out)]) == 0
    assert "unprocessed input" in capsys.readouterr().out


def test_a_kept_step_0_says_it_is_the_starting_weights(tmp_path, pairs, capsys, monkeypatch):
    """20 steps kept the random start ("card metrics.step 0, training.steps 20") while the
    closing line read as a trained result."""
    # no trained step beats the start (as 20 steps of a tiny network from scratch did)
    monkeypatch.setattr(Supervised, "is_better", lambda self, v, best, gain=0.0: not best)
    config = tiny(tmp_path, "c2f_unet")
    out = tmp_path / "w.safetensors"
    assert main(["train", *config, *pairs, "--out", str(out), *FAST]) == 0
    line = capsys.readouterr().out
    said = "no step beat the starting weights (step 0): these are the starting weights"
    assert said in line and "untrained (random) weights: give more --steps" in line
    assert f"a larger --config than {config[-1]}" in line
    card = read_card(out)
    assert card.metrics["step"] == 0 and said in card.description
    assert "untrained (random) weights" in card.description
    # from given weights: those weights, unchanged, and no --config advice
    again = tmp_path / "w2.safetensors"
    assert main(["train", "--arch", "c2f_unet", "--weights", str(out), *pairs,
                 "--out", str(again), *FAST]) == 0
    line = capsys.readouterr().out
    assert said in line and f"the weights of --weights {out}, unchanged" in line
    assert "--config" not in line


def test_help_says_which_paper_each_default_weight_comes_from(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the regime's paper" not in text
    assert "--content-weight 1 (ours: the paper gives no weights); --adv-weight 0.001 " \
           "(SRGAN's, Ledig et al. 2017); --perceptual-weight 0.02 (SGPN's, Cheng et al.)" in text
    assert "psf_roughness 0.1, psf_centre 1, --psf-spectrum 10 (ours;" in text
    assert "--psf-sparsity 0.01 (the paper's lambda_2)" in text


@pytest.mark.parametrize(("options", "loss", "restore", "features"), [
    ({"regime": "psf_cyclegan"}, None, False, None),  # no content loss ran
    ({"regime": "gran_gan"}, "l1", False, "microscopy"),  # the last step is kept
    ({"regime": "gran_gan", "perceptual_features": "none"}, "l1", False, None),
    ({"regime": "supervised"}, "l1", True, None),  # perceptual weight 0
    ({"regime": "supervised", "perceptual_weight": 0.1}, "l1", True, "microscopy"),
    ({"regime": "supervised", "vgg_weights": "vgg.pth"}, "l1", True, "vgg19"),
])
def test_the_card_records_what_ran(options, loss, restore, features):
    card = TrainingConfig(steps=1, **options).for_card()
    assert card["loss"] == loss and card["restore_best"] is restore
    assert card.get("perceptual_features") == features


def test_adversarial_checkpoint_dir_says_best_is_the_last_step_and_resumes(
        tmp_path, pairs, capsys):
    folder, out = tmp_path / "ck", tmp_path / "g.safetensors"
    argv = ["train", "--regime", "gran_gan", *tiny(tmp_path, "gran"), *pairs,
            "--discriminator-config", json.dumps(SMALL_GRAN_D), "--perceptual", "none",
            "--checkpoint-dir", str(folder), "--out", str(out), *FAST]
    assert main(argv) == 0
    line = capsys.readouterr().out
    assert f"kept the last step checkpoint ('{folder / 'best.safetensors'}' is that last " \
           "validated step too)" in line
    best = read_card(folder / "best.safetensors")
    assert best.metrics["step"] == 2 and best.training["restore_best"] is False
    assert isinstance(best.metrics["val_psnr_input"], float)
    steps = argv.index("--steps") + 1
    argv[steps] = "3"
    assert main([*argv, "--resume", "--overwrite"]) == 0
    assert read_card(out).metrics["step"] == 3


@pytest.mark.parametrize(("extra", "message"), [
    (["--perceptual", "microscopy"],
     "--perceptual microscopy: the supervised regime's perceptual weight is 0 by default"),
    (["--perceptual", "microscopy", "--perceptual-weight", "0"], "is 0 as given"),
    (["--perceptual", "none", "--vgg-weights", "VGG"], "with --vgg-weights the perceptual"),
])
def test_perceptual_that_would_do_nothing_is_refused(tmp_path, capsys, extra, message):
    vgg = tmp_path / "vgg.pth"
    vgg.write_bytes(b"x")  # refused before it is read
    extra = [str(vgg) if e == "VGG" else e for e in extra]
    argv = ["train", "--arch", "c2f_unet", "--sharp", str(tmp_path / "none"),
            "--out", str(tmp_path / "w.safetensors"), *extra]
    assert main(argv) == 2
    errors = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln]
    assert len(errors) == 1 and message in errors[0], errors
    # with a weight the term runs: the next check (the missing images) speaks instead
    assert main([*argv[:-len(extra)], "--perceptual", "microscopy",
                 "--perceptual-weight", "0.1"]) == 2
    assert "--perceptual" not in capsys.readouterr().err
