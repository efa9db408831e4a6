"""`microdeblur train` and `microdeblur finetune`: short real runs, weights with their card."""

import json

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import load_model, save_weights


@pytest.fixture
def tiny_config(tmp_path):

    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(registry.get_arch("gran").tiny_config))
    return path


def test_train_from_sharp_images_writes_self_describing_weights(tmp_path, fluo_u8, fluo_u16,
                                                                tiny_config, capsys):
    sharp = tmp_path / "sharp"
    sharp.mkdir()
    tifffile.imwrite(sharp / "a.tif", fluo_u8)
    tifffile.imwrite(sharp / "b.tif", fluo_u16)
    out = tmp_path / "w.safetensors"
    code = main(["train", "--arch", "gran", "--config", str(tiny_config), "--sharp", str(sharp),
                 "--degradation", "A", "--out", str(out), "--steps", "3", "--patch", "32",
                 "--batch", "2", "--device", "cpu", "-q"])
    assert code == 0
    model, card = load_model(out)
    assert card.arch == "gran" and card.degradation == "A"
    assert "validation PSNR" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sharp", "tiny.json", "w.safetensors"]


def test_finetune_on_a_stack_then_deblur_with_it(tmp_path, focus_stack, tiny_config):
    base = tmp_path / "base.safetensors"
    torch_model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    save_weights(torch_model, base, {"arch": "gran",
                                              "config": torch_model.config.model_dump(),
                                              "in_channels": 1, "out_channels": 1})
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, focus_stack, metadata={"axes": "ZYX"})
    out = tmp_path / "tuned.safetensors"
    assert main(["finetune", "--weights", str(base), "--stack", str(stack), "--focus-plane", "7",
                 "--out", str(out), "--steps", "3", "--patch", "32", "--batch", "2",
                 "--target-neighbours", "1", "--device", "cpu", "-q"]) == 0
    _, card = load_model(out)
    assert "stack.tif" in card.training_data
    assert "targets: mean of 1 plane(s) each side of focus" in card.training_data
    assert main(["deblur", str(stack), "-o", str(tmp_path / "d.tif"), "--method", "gran",
                 "--weights", str(out), "--device", "cpu", "-q"]) == 0
    assert tifffile.imread(tmp_path / "d.tif").shape == focus_stack.shape


@pytest.mark.parametrize("argv,message", [
    (["finetune", "--weights", "{base}", "--out", "{tmp}/o.safetensors"], "either --stack"),
    (["finetune", "--weights", "{base}", "--stack", "{stack}", "--focus-plane", "99",
      "--out", "{tmp}/o.safetensors"], "focus"),
    (["finetune", "--weights", "{base}", "--stack", "{stack}", "--lr", "0",
      "--out", "{tmp}/o.safetensors"], "lr"),
    (["finetune", "--weights", "{base}", "--stack", "{stack}",
      "--out", "{tmp}/missing/o.safetensors"], "does not exist"),
    (["train", "--arch", "gran", "--sharp", "{stack}", "--out", "{tmp}/o.pt"], ".safetensors"),
    (["finetune", "--weights", "{base}", "--blurry", "{stack}", "--sharp", "{stack}",
      "--target-neighbours", "1", "--out", "{tmp}/o.safetensors"], "with --stack"),
    (["finetune", "--weights", "{base}", "--stack", "{stack}", "--target-neighbours", "-2",
      "--out", "{tmp}/o.safetensors"], "give K >= 0"),
])
def test_training_errors_come_before_any_training(tmp_path, focus_stack, capsys, argv, message):
    base = tmp_path / "base.safetensors"
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    save_weights(model, base, {"arch": "gran", "config": model.config.model_dump(),
                                       "in_channels": 1, "out_channels": 1})
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, focus_stack[:3], metadata={"axes": "ZYX"})
    argv = [a.format(tmp=tmp_path, base=base, stack=stack) for a in argv]
    assert main([*argv, "--device", "cpu", "-q"]) == 2
    err = capsys.readouterr().err
    assert message.lower() in err.lower()
    assert not (tmp_path / "o.safetensors").exists()


@pytest.mark.parametrize("case,message", [
    ("counts", "--blurry gives 1 images but --sharp 2"),
    ("json", "is not valid JSON"),
    ("fraction", "--val-fraction 1.5"),
    ("fraction0", "--val-fraction 0.0"),
    ("rgb-mix", "mixes RGB images"),
])
def test_train_bad_inputs_give_one_line_before_training(tmp_path, fluo_u8, he_rgb, capsys,
                                                        case, message):
    sharp = tmp_path / "sharp"
    sharp.mkdir()
    tifffile.imwrite(sharp / "a.tif", fluo_u8)
    tifffile.imwrite(sharp / "b.tif", he_rgb if case == "rgb-mix" else fluo_u8)
    blurry = tmp_path / "blurry.tif"
    tifffile.imwrite(blurry, fluo_u8)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{'n_resblocks': 2,}")
    argv = ["train", "--arch", "gran", "--sharp", str(sharp), "--out",
            str(tmp_path / "o.safetensors"), "--steps", "2", "--patch", "32", "--device", "cpu",
            "-q"]
    argv += {"counts": ["--blurry", str(blurry)], "json": ["--config", str(bad_json)],
             "fraction": ["--val-fraction", "1.5"], "fraction0": ["--val-fraction", "0"],
             "rgb-mix": []}[case]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o.safetensors").exists()


def test_train_takes_planar_rgb_tiffs_as_rgb(tmp_path, he_rgb, capsys):
    """A TIFF saved with separate colour planes reads as SYX: training counted it as
    single-channel and refused it ('3 channels but the network takes 1')."""
    sharp = tmp_path / "sharp"
    sharp.mkdir()
    for i, image in enumerate([he_rgb, he_rgb[::-1]]):
        tifffile.imwrite(sharp / f"{i}.tif", np.moveaxis(image, -1, 0), photometric="rgb",
                         planarconfig="separate")
    out = tmp_path / "w.safetensors"
    code = main(["train", "--arch", "c2f_unet", "--sharp", str(sharp),
                 "--degradation", "A", "--out", str(out), "--steps", "2", "--patch", "32",
                 "--batch", "2", "--device", "cpu", "-q"])
    assert code == 0, capsys.readouterr().err
    assert load_model(out)[1].in_channels == 3
