"""From a walkthrough of weights files and BioImage Model Zoo exports (2026-12-17):

1. an RGB-only network exported as a Zoo .zip refused an RGB image with identical channels
   ('takes RGB images but the image is grayscale'): its card was read as .safetensors only,
   so the .zip counted as not RGB-only and the image ran as grey; the refusal of a grey
   image also said --method 'x.zip' to a user who gave --weights.
2. `info gran.em_v1` said '(or --weights gran.em_v1)', which deblur refuses; deblur's refusal
   of foreign weights offered a bundled name as --weights.
3. the Deblur dock loaded a .safetensors state dict without a model card unasked, then said
   'pass arch= (... on the command line --method ARCH)'.
4. `info` of a .safetensors state dict without a card said only that it had no card.
5. an exported bundled network lost its image type (no 'em' tag; info: 'grayscale images').
6. every package was named 'napari-microdeblur gran'.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import tifffile
import torch
import yaml
from safetensors.torch import save_file

from napari_microdeblur import cli
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.registry import build_model, get_arch

# torch.jit.load is deprecated but is what a Zoo consumer of the TorchScript weights calls
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")

CARD = {"license": "CC0-1.0", "description": "test"}


def _gran(in_channels=1):
    torch.manual_seed(0)
    config = dict(get_arch("gran").tiny_config)
    config["in_channels"] = config["out_channels"] = in_channels
    return build_model("gran", config).eval()


def _image(shape=(32, 32), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (100 + 60 * np.sin(yy / 5.0) * np.cos(xx / 7.0)
            + rng.normal(0, 5, shape)).astype(np.float32)


def _cli(capsys, *args):
    code = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def rgb_zip(tmp_path_factory):
    from napari_microdeblur.core.export import export_bioimageio

    folder = tmp_path_factory.mktemp("rgbzip")
    model = _gran(3)
    return export_bioimageio(model, CARD, folder / "hist.zip",
                             test_input=np.stack([_image()] * 3, -1))


# ------------------------------------------------------------------- 1: RGB-only .zip


def test_an_rgb_zip_runs_an_rgb_image_with_identical_channels(rgb_zip, tmp_path, capsys):
    grey = np.clip(_image(), 0, 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "rgb8.tif", np.stack([grey] * 3, -1), photometric="rgb")
    code, _, err = _cli(capsys, "deblur", tmp_path / "rgb8.tif", "-o", tmp_path / "o.tif",
                        "--weights", rgb_zip, "--device", "cpu")
    assert code == 0, err  # was: 'takes RGB images (3 channels) but the image is grayscale'
    assert tifffile.imread(tmp_path / "o.tif").shape == (32, 32, 3)


def test_a_grey_image_refused_by_rgb_weights_names_the_weights_option(rgb_zip, tmp_path,
                                                                      capsys):
    tifffile.imwrite(tmp_path / "grey.tif", _image())
    code, _, err = _cli(capsys, "deblur", tmp_path / "grey.tif", "-o", tmp_path / "o.tif",
                        "--weights", rgb_zip, "--device", "cpu")
    assert code != 0
    assert "--weights 'hist.zip' takes RGB images" in err and "--method 'hist.zip'" not in err


# ------------------------------------------------------------------- 2: bundled names


def test_info_of_bundled_weights_says_which_command_takes_which_option(capsys):
    code, out, err = _cli(capsys, "info", "gran.em_v1")
    assert code == 0, err
    line = next(ln for ln in out.splitlines() if "bundled weights:" in ln)
    assert "--method gran.em_v1 for deblur and watch" in line
    assert "--weights gran.em_v1 for finetune and train" in line
    assert "(or --weights gran.em_v1)" not in line


def test_deblur_refusing_foreign_weights_offers_no_bundled_name_as_weights(tmp_path,
                                                                           capsys):
    save_file({"encoder.weight": torch.zeros(4, 4), "fc.bias": torch.zeros(4)},
              str(tmp_path / "foreign.safetensors"))
    tifffile.imwrite(tmp_path / "grey.tif", _image())
    code, _, err = _cli(capsys, "deblur", tmp_path / "grey.tif", "-o", tmp_path / "o.tif",
                        "--weights", tmp_path / "foreign.safetensors")
    assert code != 0 and "is not a microdeblur network" in err
    assert "a bundled name such as" not in err and "given as --method" in err


# ------------------------------------------------------------------- 3: the dock


def _card_less(path, model):
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def test_the_dock_asks_the_architecture_of_a_card_less_safetensors(make_napari_viewer, qtbot,
                                                                   tmp_path, monkeypatch):
    from napari_microdeblur._widgets import _deblur

    torch.manual_seed(0)
    path = _card_less(tmp_path / "sd.safetensors", build_model("gran", {}))  # the paper's
    asked = []

    def get_item(parent, title, label, items, current, editable):
        asked.append((label, items[current]))
        return "gran", True

    monkeypatch.setattr(_deblur.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(path), "")))
    monkeypatch.setattr(_deblur.QInputDialog, "getItem", staticmethod(get_item))
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Deblur")
    w._choose_weights()
    qtbot.waitUntil(lambda: not w._workers, timeout=30_000)
    assert asked and "no model card" in asked[0][0] and asked[0][1] == "gran"
    assert "could not load" not in w.status_label.text()
    assert w.method.name != "auto"  # the loaded network is the method


def test_the_dock_line_for_a_card_less_safetensors_names_no_command_line(tmp_path):
    from napari_microdeblur._widgets._feedback import describe_error
    from napari_microdeblur._widgets._methods import load_failure_line

    path = _card_less(tmp_path / "sd.safetensors", _gran())
    with pytest.raises(ValueError) as error:
        load_model(path)
    line = load_failure_line(path, describe_error(error.value), None)
    assert "--method" not in line and "arch=" not in line
    assert "load it again with Load weights and choose gran" in line


# ------------------------------------------------------------------- 4: info


def test_info_of_a_card_less_safetensors_shows_tensors_fits_and_conversion(tmp_path, capsys):
    path = _card_less(tmp_path / "sd.safetensors", _gran())
    code, out, err = _cli(capsys, "info", path)
    assert code == 0, err  # was: 'no napari-microdeblur model card in the metadata'
    assert ".safetensors state dict without a model card" in out
    assert "named as in a gran network" in out and "fits gran config=" in out
    assert f"then --weights {tmp_path / 'sd_with_card.safetensors'}" in out
    save_file({"encoder.weight": torch.zeros(4, 4)}, str(tmp_path / "foreign.safetensors"))
    code, out, err = _cli(capsys, "info", tmp_path / "foreign.safetensors")
    assert code == 0, err
    assert "named as in no microdeblur network: not weights napari-microdeblur can run" in out


# ------------------------------------------------------------------- 5, 6: exports


def _rdf(path) -> dict:
    return yaml.safe_load(zipfile.ZipFile(path).read("rdf.yaml"))


def test_an_exported_bundled_network_keeps_its_image_type_and_name(tmp_path, capsys):
    from napari_microdeblur.core.export import export_bioimageio

    model, card = load_model("gran.em_v1")
    path = export_bioimageio(model, card, tmp_path / "g.zip", test_input=_image((64, 64)),
                             license="CC-BY-4.0")
    rdf = _rdf(path)
    assert "em" in rdf["tags"] and rdf["name"] == "napari-microdeblur gran (em_v1)"
    code, out, err = _cli(capsys, "info", path)
    assert code == 0, err
    assert "image type: electron micrographs (EM)" in out


def test_an_exported_weights_file_is_named_by_its_stem(tmp_path):
    from napari_microdeblur.core.export import export_bioimageio

    save_weights(_gran(), tmp_path / "my.tuned v2.safetensors", CARD)
    model, card = load_model(tmp_path / "my.tuned v2.safetensors")
    path = export_bioimageio(model, card, tmp_path / "t.zip", test_input=_image())
    name = _rdf(path)["name"]
    assert name == "napari-microdeblur gran (my_tuned v2)"
    from napari_microdeblur.core.export_specs import NAME_CHARACTERS

    assert set(name) <= NAME_CHARACTERS  # the Zoo allows no '.'
    model, card = load_model(path)  # a package's own stem, not its attachment's
    again = export_bioimageio(model, card, tmp_path / "again.zip", test_input=_image())
    assert _rdf(again)["name"] == "napari-microdeblur gran (t)"
