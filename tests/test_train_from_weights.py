"""`microdeblur train --weights`: continue trained weights in another regime (GRAN -> GRAN_GAN,
as gran_gan.em_v1 was made), with its config from the weights' card; bad combinations fail in
one line before training."""

import json

import pytest
import tifffile
import torch

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import load_model

FAST = ["--steps", "2", "--patch", "32", "--batch", "2", "--device", "cpu", "-q"]
TINY_D = {"base_channels": 4, "n_blocks": 3, "fc_channels": 8}


@pytest.fixture
def start(tmp_path, fluo_u8):
    """A folder of sharp images and tiny GRAN weights trained on them (2 steps)."""
    folder = tmp_path / "sharp"
    folder.mkdir()
    for i in range(2):
        tifffile.imwrite(folder / f"{i}.tif", fluo_u8, photometric="minisblack")
    config = tmp_path / "gran.json"
    config.write_text(json.dumps(registry.get_arch("gran").tiny_config))
    weights = tmp_path / "start.safetensors"
    assert main(["train", "--arch", "gran", "--config", str(config), "--sharp", str(folder),
                 "--out", str(weights), *FAST]) == 0
    return folder, weights, config


def test_gran_gan_continues_from_weights(start, tmp_path):
    folder, weights, _ = start
    disc = tmp_path / "d.json"
    disc.write_text(json.dumps(TINY_D))
    out = tmp_path / "gan.safetensors"
    assert main(["train", "--regime", "gran_gan", "--arch", "gran", "--weights", str(weights),
                 "--sharp", str(folder), "--discriminator-config", str(disc), "--lr", "1e-12",
                 "--out", str(out), *FAST]) == 0
    base, base_card = load_model(weights)
    model, card = load_model(out)
    assert card.config == base_card.config and "starting from" in card.description
    # at a vanishing learning rate the weights stay the ones it started from
    for a, b in zip(base.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-5)


@pytest.mark.parametrize("extra, message", [
    (["--arch", "c2f_unet"], "is a gran network; give --arch gran"),
    (["--arch", "gran", "--config", "CONFIG"], "leave out --config"),
    (["--arch", "gran", "--weights", "gran.nothing_v9"], "--weights 'gran.nothing_v9'"),
])
def test_bad_start_weights_fail_in_one_line(start, tmp_path, capsys, extra, message):
    folder, weights, config = start
    extra = [str(config) if e == "CONFIG" else e for e in extra]
    argv = ["train", "--weights", str(weights), "--sharp", str(folder),
            "--out", str(tmp_path / "x.safetensors"), *FAST, *extra]
    assert main(argv) != 0
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith("microdeblur: error")]
    assert len(errors) == 1 and message in errors[0]
    assert not (tmp_path / "x.safetensors").exists()
