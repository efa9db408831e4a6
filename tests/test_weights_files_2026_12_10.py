"""Weights files the way a user holds them (walkthrough, /tmp/wt_networks).

1. export_bioimageio refused only NOASSERTION, unknown and AND/OR/WITH: 'not-a-licence' or
   'cc-by-4.0' was written, and bioimageio.core.test_model then failed with the list of every
   SPDX id. Now refused before anything is written, with the id meant where one differs only
   in case or spaces.
2. A plain state dict of a configuration other than the paper's (gran.fluo_v1's 48 features,
   8 blocks) failed with '136 missing ... 8 unexpected' and no way out: the configuration its
   tensors fit is named (none chosen where several fit), with the Python that converts it.
3. `microdeblur info` of a bundled name said 'input file does not exist', and of a Zoo .zip,
   a .pth state dict or a renamed .pt sent the user to a bioio plugin: weights are described
   as --weights reads them.
"""

from __future__ import annotations

import json
import sys
import zipfile

import numpy as np
import pytest
import torch

from napari_microdeblur.cli import main
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.registry import build_model

# torch.jit.load is deprecated but is what a Zoo consumer of the TorchScript weights calls
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")

#: a small GRAN, not the paper's: 8 features, 2 blocks, gray
SMALL_GRAN = {"in_channels": 1, "out_channels": 1, "n_feats": 8, "n_resblocks": 2}


def _small_c2f():
    torch.manual_seed(0)
    return build_model("c2f_unet", {"levels": 2, "depth": 3, "base_channels": 4}).eval()


def _export(path, licence):
    from napari_microdeblur.core.export import export_bioimageio

    image = np.random.default_rng(0).normal(100, 10, (64, 64)).astype(np.float32)
    return export_bioimageio(_small_c2f(), {"license": licence}, path, test_input=image)


# --------------------------------------------------------------------------- 1. licence


@pytest.mark.parametrize(("licence", "meant"), [("cc-by-4.0", "CC-BY-4.0"),
                                                ("CC-BY 4.0", "CC-BY-4.0"),
                                                ("mit", "MIT")])
def test_a_licence_spelled_unlike_its_spdx_id_is_refused_naming_the_id(tmp_path, licence,
                                                                        meant):
    target = tmp_path / "m.zip"
    with pytest.raises(ValueError, match=f"did you mean '{meant}'") as caught:
        _export(target, licence)
    assert f"'license': '{meant}'" in str(caught.value)  # the card change to make
    assert not target.exists()  # refused before anything was written


def test_a_licence_that_is_no_spdx_id_is_refused_before_writing(tmp_path):
    target = tmp_path / "m.zip"
    with pytest.raises(ValueError, match="not an SPDX licence id the BioImage Model Zoo") as e:
        _export(target, "not-a-licence")
    assert "did you mean" not in str(e.value)
    assert not target.exists() and not list(tmp_path.iterdir())


def test_without_bioimageio_spec_packaging_checks_the_licence(monkeypatch):
    from napari_microdeblur.core import export_specs

    monkeypatch.setitem(sys.modules, "bioimageio.spec.model.v0_5", None)  # not installed
    assert export_specs.zoo_licence_ids() is None
    export_specs.check_zoo_licence("BSD-3-Clause")  # a valid id passes
    with pytest.raises(ValueError, match="did you mean 'CC-BY-4.0'"):
        export_specs.check_zoo_licence("cc-by 4.0")
    with pytest.raises(ValueError, match="checked with packaging"):
        export_specs.check_zoo_licence("not-a-licence")


def test_a_valid_licence_still_exports_and_is_written(tmp_path):
    import yaml

    path = _export(tmp_path / "m.zip", "MIT")
    with zipfile.ZipFile(path) as zf:
        assert yaml.safe_load(zf.read("rdf.yaml"))["license"] == "MIT"


# --------------------------------------------------------------------------- 2. configuration


def test_a_state_dict_of_bundled_weights_configuration_is_named_with_the_conversion():
    from napari_microdeblur.core import state_dict_files as sd_files

    model, card = load_model("gran.fluo_v1")  # 48 features, 8 blocks: not the paper's
    advice = sd_files.other_config_advice("gran", model.state_dict(), "state_dict.pth")
    assert "another configuration of gran" in advice
    assert str({k: card.config[k] for k in ("in_channels", "out_channels", "n_feats",
                                            "n_resblocks")}) in advice
    assert "bundled gran.em_v1, gran.fluo_v1" in advice
    assert ("\"model, card = load_model('state_dict.pth', arch='gran', config={'in_channels': "
            "1, 'out_channels': 1, 'n_feats': 48, 'n_resblocks': 8}); save_weights(model, "
            "'state_dict.safetensors', card)\"") in advice
    assert "--weights state_dict.safetensors" in advice


def test_a_configuration_read_from_the_shapes_says_what_it_assumes():
    from napari_microdeblur.core import state_dict_files as sd_files

    custom = {**SMALL_GRAN, "grab_position": "middle", "grab_embed_channels": 4, "scale": 4}
    fits = sd_files.fitting_configs("gran", build_model("gran", custom).state_dict())
    assert len(fits) == 1
    label, config = fits[0]
    assert config == custom
    assert "read from the tensor shapes" in label and "res_scale" in label  # not silent


def test_several_fitting_configurations_are_all_named_and_none_chosen():
    from napari_microdeblur.core import state_dict_files as sd_files

    model, _ = load_model("c2f_unet.em_v2")  # its shapes are also the cpu_small preset's
    advice = sd_files.other_config_advice("c2f_unet", model.state_dict(), "w.pth")
    assert "preset 'cpu_small'" in advice
    assert "the configuration of bundled c2f_unet.brightfield_v2, c2f_unet.em_v2" in advice
    assert "choose the one it was trained with" in advice
    assert "config={...}" in advice  # no config written for the user


def test_tensors_of_another_network_say_which_not_a_configuration():
    from napari_microdeblur.core import state_dict_files as sd_files

    tensors = build_model("gran", SMALL_GRAN).state_dict()
    advice = sd_files.other_config_advice("c2f_unet", tensors, "w.pth")
    assert "named as in a gran network, not a c2f_unet one" in advice
    assert "save_weights" not in advice


# --------------------------------------------------------------------------- 3. info


def test_info_of_a_bundled_name_prints_its_model_card(capsys):
    assert main(["info", "c2f_unet.em_v2"]) == 0
    out = capsys.readouterr().out
    assert "model card: c2f_unet (1->1 ch, 2D)" in out
    assert "bundled weights: --method c2f_unet.em_v2" in out


def test_info_of_a_zoo_package_prints_the_card_of_its_attachment(tmp_path, capsys):
    path = _export(tmp_path / "pkg.zip", "MIT")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "model card: c2f_unet" in out and "licence: MIT" in out
    assert "BioImage Model Zoo package" in out and "bioio" not in out
    assert main(["info", str(path), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["weights"]["kind"] == "bioimageio_zip"
    assert found["model_card"]["config"]["base_channels"] == 4


def test_info_of_a_renamed_safetensors_file_prints_its_card(tmp_path, capsys):
    save_weights(build_model("gran", SMALL_GRAN), tmp_path / "w.safetensors",
                 {"license": "MIT"})
    renamed = tmp_path / "w.pt"
    (tmp_path / "w.safetensors").rename(renamed)
    assert main(["info", str(renamed)]) == 0
    out = capsys.readouterr().out
    assert "model card: gran (1->1 ch, 2D)" in out and "rename it to w.safetensors" in out


def test_info_of_a_state_dict_says_what_it_holds_and_the_conversion_works(
        tmp_path, capsys, monkeypatch):
    torch.save(build_model("gran", SMALL_GRAN).state_dict(), tmp_path / "sd.pth")
    monkeypatch.chdir(tmp_path)
    assert main(["info", "sd.pth"]) == 0
    out = capsys.readouterr().out
    assert "PyTorch state dict without a model card" in out and "named as in a gran" in out
    assert f"fits gran config={SMALL_GRAN}" in out and "bioio" not in out
    assert main(["info", "sd.pth", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)["state_dict"]
    assert found["fits"][0]["config"] == SMALL_GRAN
    # the printed Python does what it says: then the file loads by itself
    exec(found["convert"], {"load_model": load_model, "save_weights": save_weights})
    assert found["converted"] == "sd.safetensors"
    model, card = load_model("sd.safetensors")
    assert card.config["n_feats"] == 8 and card.config["n_resblocks"] == 2
    assert main(["info", "sd.safetensors"]) == 0
    assert "model card: gran (1->1 ch, 2D)" in capsys.readouterr().out


def test_info_of_a_state_dict_of_no_microdeblur_network(tmp_path, capsys):
    torch.save({"features.0.weight": torch.zeros(4, 3, 3, 3)}, tmp_path / "vgg.pth")
    assert main(["info", str(tmp_path / "vgg.pth")]) == 0
    out = capsys.readouterr().out
    assert "named as in no microdeblur network" in out and "save_weights" not in out


def test_loading_a_state_dict_of_another_configuration_says_how_to_convert(tmp_path):
    torch.save(build_model("gran", SMALL_GRAN).state_dict(), tmp_path / "sd.pth")
    with pytest.raises(ValueError, match=r"another configuration of gran: its tensors fit "
                       r"config=\{'in_channels': 1, 'out_channels': 1, 'n_feats': 8, "
                       r"'n_resblocks': 2\}.*save_weights\(model, '.*sd\.safetensors', card\)"):
        load_model(str(tmp_path / "sd.pth"), arch="gran")
