"""A walkthrough of every `--help`: options of train and finetune taken and not used in one
mode (finetune --focus-plane with pairs, train --degradation with --blurry pairs or a 3D
psf_cyclegan run) are refused in one line; --tile's help states the defaults the methods
really take; --modality's says it does not apply with --weights; --focus-tile's refusal
names --focus-tile, not deblur's own --tile."""

import argparse
import json

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli_training_data
from napari_microdeblur.cli import build_parser, main
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import read_card, save_weights


def _texture(seed: int, n: int = 48) -> np.ndarray:
    from scipy import ndimage

    image = ndimage.gaussian_filter(np.random.default_rng(seed).random((n, n)), 2)
    return ((image - image.min()) / np.ptp(image)).astype(np.float32)


def _helps(command: str) -> dict:
    parser = build_parser()
    # argparse keeps its subparsers and their options under private names only
    sub = next(a.choices for a in parser._actions if isinstance(a.choices, dict))[command]
    return {a.dest: " ".join(a.help.split()) for a in sub._actions if a.help}


@pytest.fixture
def pairs(tmp_path):
    """Two blurry/sharp pairs, a tiny gran config and tiny gran weights."""
    from scipy import ndimage

    for name in ("sharp", "blurry"):
        (tmp_path / name).mkdir()
    for i in range(2):
        tifffile.imwrite(tmp_path / "sharp" / f"{i}.tif", _texture(i))
        tifffile.imwrite(tmp_path / "blurry" / f"{i}.tif",
                         ndimage.gaussian_filter(_texture(i), 1.5))
    tiny = registry.get_arch("gran").tiny_config
    (tmp_path / "gran.json").write_text(json.dumps(tiny))
    model = registry.build_model("gran", tiny)
    save_weights(model, tmp_path / "base.safetensors", {"arch": "gran",
                                                        "config": model.config.model_dump()})
    return tmp_path


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("plane", ["3", "auto"])
def test_finetune_focus_plane_with_pairs_is_refused(pairs, capsys, plane):
    """It chose the in-focus plane of --stack only: with pairs it was taken and ignored."""
    out = pairs / "f.safetensors"
    code = main(["finetune", "--weights", str(pairs / "base.safetensors"), "--blurry",
                 str(pairs / "blurry"), "--sharp", str(pairs / "sharp"), "--focus-plane", plane,
                 "--out", str(out), "--steps", "1", "--patch", "16", "--batch", "1",
                 "--device", "cpu", "-q"])
    err = _one_line_error(capsys)
    assert code == 2 and not out.exists()
    assert f"--focus-plane {plane}" in err and "--stack" in err and "leave out" in err


def test_focus_plane_help_and_values():
    assert "with --stack" in _helps("finetune")["focus_plane"]
    stack = argparse.Namespace(stack=["z.tif"], focus_plane=None)
    assert cli_training_data.focus_plane(stack) == "auto"  # the default
    assert cli_training_data.focus_plane(argparse.Namespace(stack=["z.tif"],
                                                            focus_plane="4")) == 4
    with pytest.raises(Exception, match="give auto or a plane index"):
        cli_training_data.focus_plane(argparse.Namespace(stack=["z.tif"], focus_plane="x"))


def _train(t, *extra):
    return main(["train", "--arch", "gran", "--config", str(t / "gran.json"), "--sharp",
                 str(t / "sharp"), "--out", str(t / "t.safetensors"), "--steps", "1",
                 "--patch", "16", "--batch", "1", "--device", "cpu", "-q", *extra])


def test_train_degradation_with_blurry_pairs_is_refused(pairs, capsys):
    code = _train(pairs, "--blurry", str(pairs / "blurry"), "--degradation", "A")
    err = _one_line_error(capsys)
    assert code == 2 and not (pairs / "t.safetensors").exists()
    assert "--degradation A" in err and "--blurry" in err and "leave out" in err
    assert "not with --blurry" in _helps("train")["degradation"]
    assert "default mix" in _helps("train")["degradation"]


@pytest.mark.parametrize("given,recorded", [([], "mix"), (["--degradation", "B"], "B")])
def test_train_degradation_of_sharp_alone_is_unchanged(pairs, given, recorded):
    """--sharp alone: left out it is still the mix of A, B and C, in the card too."""
    assert _train(pairs, *given) == 0
    assert read_card(pairs / "t.safetensors").degradation == recorded


def test_train_degradation_with_3d_psf_cyclegan_is_refused(tmp_path, capsys):
    """A 3D psf_cyclegan run blurs nothing synthetically: --degradation was ignored."""
    from scipy import ndimage

    for name, seed in (("ub", 0), ("us", 5)):  # large enough for the run to train (it did)
        (tmp_path / name).mkdir()
        stack = ndimage.gaussian_filter(np.random.default_rng(seed).random((48, 48, 48)), 2)
        tifffile.imwrite(tmp_path / name / "0.tif", stack.astype(np.float32),
                         metadata={"axes": "ZYX"})
    tiny = {k: v for k, v in registry.get_arch("psf_cyclegan").tiny_config.items()
            if k != "spatial_dims"}
    (tmp_path / "c.json").write_text(json.dumps(tiny))
    (tmp_path / "d.json").write_text(json.dumps({"base_channels": 4, "n_layers": 3}))
    out = tmp_path / "c.safetensors"
    code = main(["train", "--arch", "psf_cyclegan", "--regime", "psf_cyclegan", "--config",
                 str(tmp_path / "c.json"), "--discriminator-config", str(tmp_path / "d.json"),
                 "--unpaired-blurry", str(tmp_path / "ub"), "--unpaired-sharp",
                 str(tmp_path / "us"), "--degradation", "C", "--out", str(out), "--steps", "1",
                 "--patch", "32", "--batch", "1", "--device", "cpu", "-q"])
    err = _one_line_error(capsys)
    assert code == 2 and not out.exists()
    assert "--degradation C" in err and "spatial_dims=3" in err


def _prepared(name: str | None):
    from napari_microdeblur.core.inference import prepare_deblur
    from napari_microdeblur.core.method import MethodSpec

    image = np.random.default_rng(0).random((300, 300)).astype(np.float32)
    spec = MethodSpec() if name is None else MethodSpec(name=name)
    return prepare_deblur(image, "YX", spec)


def _default_tile(name: str | None) -> int:
    return _prepared(name).options.tile[0]


def test_tile_help_states_the_tiles_the_methods_take():
    """The help said '256 in 2D ... for most networks'; the default network runs 1024 px
    tiles (its card says so) and a 300 px image as one 304 px tile."""
    from napari_microdeblur.core.tiling import plan_tiles

    text = _helps("deblur")["tile"]
    prepared = _prepared(None)
    default = prepared.options.tile[0]
    assert f"{default} for the bundled c2f_unet networks, the default without --psf" in text
    assert f"gran and psf_cyclegan {_default_tile('gran.fluo_v1')}" in text
    assert f"sgpn {_default_tile('sgpn.em_supervised_v1')}" in text
    assert "an image smaller than the tile runs as one tile, padded" in text
    plan = plan_tiles((300, 300), default, prepared.options.overlap,
                      size_divisor=prepared.method.size_divisor)
    assert len(plan.tiles) == 1 and tuple(plan.tile) == (304, 304)
    assert _helps("watch")["tile"] == text


def test_modality_help_says_it_does_not_apply_with_weights():
    for command in ("deblur", "watch"):
        text = _helps(command)["modality"]
        assert "without --psf or --weights" in text
        assert "does not apply with --weights or a named method" in text


def test_focus_tile_refusal_names_focus_tile_only(tmp_path, capsys):
    image = tmp_path / "a.tif"
    tifffile.imwrite(image, _texture(0, 64))
    code = main(["deblur", str(image), "-o", str(tmp_path / "o.tif"), "--focus-below", "10",
                 "--focus-unit", "tile", "--focus-tile", "7"])
    err = _one_line_error(capsys)
    assert code == 2 and "--focus-tile 7" in err and "at least 8 px" in err
    assert "--tile" not in err.replace("--focus-tile", "")
