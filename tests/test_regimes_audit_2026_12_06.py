"""Audit of `microdeblur train --regime ...` (2026-12-06): options a regime took and did not
use are refused in one line before training, with nothing written; the model card states the
loss weights the run used, not only the overrides."""

import json

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core.training import TrainingConfig

SMALL_D = json.dumps({"base_channels": 4, "n_layers": 3})
FAST = ["--steps", "2", "--patch", "32", "--batch", "2", "--device", "cpu", "-q"]


def write_images(folder, arrays, axes):
    folder.mkdir()
    for i, a in enumerate(arrays):
        tifffile.imwrite(folder / f"{i}.tif", a, photometric="minisblack",
                         metadata={"axes": axes})
    return str(folder)


def noise_stacks(tmp_path):
    """A folder of two small noise z-stacks (3D psf_cyclegan's unpaired sets)."""
    rng = np.random.default_rng(0)
    stacks = [(rng.random((36, 40, 40)) * 255).astype(np.uint8) for _ in range(2)]
    return write_images(tmp_path / "stacks", stacks, "ZYX")


def tiny(tmp_path, arch, **fields):
    path = tmp_path / f"{arch}.json"
    path.write_text(json.dumps({**registry.get_arch(arch).tiny_config, **fields}))
    return str(path)


def refused(argv, tmp_path, capsys, message):
    """Exit 2, one error line holding ``message``, and no weights or PSF written."""
    assert main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith("microdeblur: error")]
    assert len(errors) == 1 and message in errors[0], errors
    assert not list(tmp_path.glob("out*"))
    return errors[0]


@pytest.fixture
def flat(tmp_path, fluo_u8):
    return write_images(tmp_path / "flat", [fluo_u8[:64, :64], fluo_u8[64:, 64:]], "YX")


def test_psf_cyclegan_refuses_loss_it_has_no_content_term_for(tmp_path, flat, capsys):
    """--loss multiscale was accepted, unused (the cycle loss is L1), and written to the card."""
    argv = ["train", "--regime", "psf_cyclegan", "--arch", "psf_cyclegan", "--config",
            tiny(tmp_path, "psf_cyclegan"), "--discriminator-config", SMALL_D,
            "--unpaired-blurry", flat, "--unpaired-sharp", flat,
            "--out", str(tmp_path / "out.safetensors"), "--loss", "multiscale", *FAST]
    refused(argv, tmp_path, capsys, "--loss: the psf_cyclegan regime has no content loss")


def test_export_psf_is_refused_when_the_regime_does_not_learn_the_psf(tmp_path, flat, capsys):
    """--arch psf_cyclegan --regime supervised wrote its untrained starting PSF as 'learned'."""
    argv = ["train", "--regime", "supervised", "--arch", "psf_cyclegan", "--config",
            tiny(tmp_path, "psf_cyclegan"), "--sharp", flat,
            "--out", str(tmp_path / "out.safetensors"),
            "--export-psf", str(tmp_path / "out_psf.tif"), *FAST]
    refused(argv, tmp_path, capsys, "--regime supervised does not learn the PSF")


def test_a_3d_psf_cyclegan_refuses_sharp_and_blurry_it_would_ignore(tmp_path, capsys):
    """A 3D model trains on the unpaired z-stacks alone: --sharp/--blurry were dropped."""
    folder = noise_stacks(tmp_path)
    argv = ["train", "--regime", "psf_cyclegan", "--arch", "psf_cyclegan", "--config",
            tiny(tmp_path, "psf_cyclegan", spatial_dims=3), "--discriminator-config", SMALL_D,
            "--sharp", folder, "--blurry", folder, "--unpaired-blurry", folder,
            "--unpaired-sharp", folder, "--out", str(tmp_path / "out.safetensors"), *FAST]
    refused(argv, tmp_path, capsys, "leave out --sharp and --blurry")


def test_unlabelled_images_of_other_channels_are_named_by_their_option(
        tmp_path, flat, fluo_u8, capsys):
    """Said as 'unpaired has 2 channel(s), the training data 1': no option, nothing to do."""
    two = write_images(tmp_path / "two", [np.stack([fluo_u8, fluo_u8])] * 2, "CYX")
    argv = ["train", "--regime", "sgpn", "--arch", "sgpn", "--config", tiny(tmp_path, "sgpn"),
            "--discriminator-config", SMALL_D, "--sharp", flat, "--unlabelled", two,
            "--perceptual", "none", "--out", str(tmp_path / "out.safetensors"), *FAST]
    line = refused(argv, tmp_path, capsys, f"--unlabelled {two}) has 2-channel images")
    assert line.endswith("give 1-channel images")


@pytest.mark.parametrize(("options", "used"), [
    ({"regime": "gran_gan", "loss_weights": {"adversarial": 0.01}},
     {"content": 1.0, "adversarial": 0.01, "perceptual": 0.02}),
    # --perceptual none without VGG weights leaves the term out: weight 0 on the card
    ({"regime": "sgpn", "perceptual_features": "none"},
     {"content": 1.0, "adversarial": 0.1, "unsupervised": 0.01, "perceptual": 0.0}),
    ({"regime": "supervised", "perceptual_weight": 0.1}, {"content": 1.0, "perceptual": 0.1}),
])
def test_the_card_states_the_loss_weights_used(options, used):
    """The card kept only the overrides ({} for the paper's defaults)."""
    card = TrainingConfig(steps=1, **options).for_card()
    assert card["loss_weights_used"] == used
    assert card["loss_weights"] == options.get("loss_weights", {})


def test_a_3d_psf_cyclegan_run_says_it_had_no_validation(tmp_path, capsys):
    """A run with no validation images printed 'validation PSNR nan dB (input nan dB)'."""
    folder = noise_stacks(tmp_path)
    argv = ["train", "--regime", "psf_cyclegan", "--arch", "psf_cyclegan", "--config",
            tiny(tmp_path, "psf_cyclegan", spatial_dims=3), "--discriminator-config", SMALL_D,
            "--unpaired-blurry", folder, "--unpaired-sharp", folder,
            # one folder as both sets fits a point PSF, refused unless started from the config's
            "--psf-spectrum", "0",
            "--out", str(tmp_path / "out.safetensors"), *FAST]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "no validation images" in out and "nan" not in out, out
