"""`microdeblur train --config NAME` takes a preset of --arch by name, as Python and the
Fine-tune dock do (it had said "--config 'tiny': cannot read it")."""

import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import load_model


def _args(tmp_path, fluo_u8, config):
    tifffile.imwrite(tmp_path / "a.tif", fluo_u8)
    return ["train", "--arch", "gran", "--config", config, "--sharp", str(tmp_path / "a.tif"),
            "--degradation", "A", "--out", str(tmp_path / "w.safetensors"), "--steps", "2",
            "--patch", "32", "--batch", "2", "--device", "cpu", "-q"]


def test_a_preset_name_is_the_presets_config(tmp_path, fluo_u8, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no file named 'tiny' here
    assert main(_args(tmp_path, fluo_u8, "tiny")) == 0
    _, card = load_model(tmp_path / "w.safetensors")
    tiny = registry.validate_config("gran", registry.preset_config("gran", "tiny"))
    assert card.config == tiny.model_dump()


def test_a_file_of_that_name_comes_first(tmp_path, fluo_u8, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny").write_text("[1]")  # a file named like the preset is read as the file
    assert main(_args(tmp_path, fluo_u8, "tiny")) == 2
    assert "expected a JSON object" in capsys.readouterr().err


def test_an_unknown_name_lists_the_presets(tmp_path, fluo_u8, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(_args(tmp_path, fluo_u8, "smallish")) == 2
    err = capsys.readouterr().err
    assert "nor is it a preset of gran (paper, cpu_small" in err and err.count("\n") == 1
    assert not (tmp_path / "w.safetensors").exists()
