"""From a walkthrough of sharing weights through the BioImage Model Zoo (2026-12-13):

1. a test image with NaN pixels gave a package whose test output was all NaN, which
   ``bioimageio test`` passed; a constant one gave a package the Zoo's validator refused
   ("Output values are too small"). Both are refused before anything is written.
2. fine-tuned weights carried their start's licence alone (gran.fluo_v1's BSD-3-Clause), as
   if the user's data had no terms: the card says the start's AND NOASSERTION (or the licence
   given), and the export refuses it until ``license=`` names the one it is published under.
3. the package's README said it runs on any size, but bioimageio.core's ``predict`` refuses a
   plain numpy array off the declared grid: the README shows the call that runs on any size.
4. the Deblur dock's line for a state dict that does not fit the paper configuration gave a
   conversion recipe for another tool's network (which cannot work) and, for another
   configuration, the recipe twice (about 1,100 characters).
5. ``microdeblur info`` read Keras weights and zip files other than ours as images.
"""

from __future__ import annotations

import re
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.export import export_bioimageio

# torch.jit.load is deprecated but is what a Zoo consumer of the TorchScript weights calls
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")

C2F = {"levels": 2, "depth": 3, "base_channels": 4}  # size divisor 4


def _c2f():
    torch.manual_seed(0)
    return registry.build_model("c2f_unet", C2F).eval()


def _tiny(arch: str):
    torch.manual_seed(0)
    return registry.build_model(arch, registry.get_arch(arch).tiny_config)


def _image(shape=(64, 64), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (1000 + 300 * np.sin(yy / 9.0) * np.cos(xx / 13.0)
            + rng.normal(0, 40, shape)).astype(np.float32)


# ----------------------------------------------------------------------- 1: the test input


@pytest.mark.parametrize("bad", ["nan rows", "all nan", "inf pixel"])
def test_a_test_input_with_nan_or_inf_pixels_is_refused_before_writing(tmp_path, bad):
    image = _image()
    if bad == "nan rows":  # a registered image's border
        image[:4] = np.nan
    elif bad == "all nan":
        image[:] = np.nan
    else:
        image[10, 10] = np.inf
    target = tmp_path / "m.zip"
    with pytest.raises(ValueError, match="NaN or infinite") as err:
        export_bioimageio(_c2f(), {"license": "MIT"}, target, test_input=image)
    assert "\n" not in str(err.value) and "nan_to_num" in str(err.value)
    assert not target.exists()


def test_a_constant_test_input_is_refused_before_writing(tmp_path):
    target = tmp_path / "m.zip"
    with pytest.raises(ValueError, match="constant") as err:
        export_bioimageio(_c2f(), {"license": "MIT"}, target,
                          test_input=np.zeros((64, 64), np.uint16))
    assert "\n" not in str(err.value) and "real image" in str(err.value)
    assert not target.exists()


def test_a_test_output_the_zoo_finds_too_small_is_refused_before_writing(tmp_path):
    model = _c2f()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    target = tmp_path / "m.zip"
    with pytest.raises(ValueError, match="within 1e-4 of 0") as err:
        export_bioimageio(model, {"license": "MIT"}, target, test_input=_image())
    assert "\n" not in str(err.value) and not target.exists()


# ----------------------------------------------------------------------- 2: licences


def _finetuned(tmp_path, focus_stack, **options):
    """Two steps of a tiny GRAN (licence BSD-3-Clause) fine-tuned on the focus stack."""
    from napari_microdeblur.core.finetune import FinetuneRequest, iter_finetune
    from napari_microdeblur.core.progress import drive

    base = tmp_path / "base.safetensors"
    save_weights(_tiny("gran"), base, {"license": "BSD-3-Clause", "training_data": "set A"})
    model, card = load_model(base)
    req = FinetuneRequest(model=model, base_label="tiny", base_card=card, patch=64,
                          val_fraction=0.1, batch_size=2, device="cpu", mode="stack",
                          layer_name="s", axes="ZYX", stack=focus_stack, focus=7, steps=2,
                          val_every=1, checkpoint_dir=tmp_path / "ck", **options)
    return drive(iter_finetune(req))


def test_a_finetuned_card_says_its_data_licence_is_not_stated_and_export_asks_for_one(
        tmp_path, focus_stack):
    outcome = _finetuned(tmp_path, focus_stack)
    assert outcome.card.license == "BSD-3-Clause AND NOASSERTION"  # was 'BSD-3-Clause'
    target = tmp_path / "ft.zip"
    with pytest.raises(ValueError, match="states no licence") as err:
        export_bioimageio(outcome.model, outcome.card, target, test_input=_image())
    assert "license=" in str(err.value) and "\n" not in str(err.value)
    assert not target.exists()
    export_bioimageio(outcome.model, outcome.card, target, test_input=_image(),
                      license="CC-BY-4.0")
    with zipfile.ZipFile(target) as zf:
        assert yaml.safe_load(zf.read("rdf.yaml"))["license"] == "CC-BY-4.0"
    assert load_model(target)[1].license == "CC-BY-4.0"


def test_a_licence_given_to_the_finetune_is_recorded_with_the_start(tmp_path, focus_stack):
    outcome = _finetuned(tmp_path, focus_stack, license="CC-BY-4.0")
    assert outcome.card.license == "BSD-3-Clause AND CC-BY-4.0"


def test_finetuned_licences():
    from napari_microdeblur.core.finetune_request import finetuned_license

    def card(licence):
        return SimpleNamespace(license=licence)

    assert finetuned_license(card("MIT"), None) == "MIT AND NOASSERTION"
    assert finetuned_license(card("MIT"), "MIT") == "MIT"
    # the data's terms are kept beside a start that states none (they were dropped)
    assert finetuned_license(card("NOASSERTION"), "CC0-1.0") == "NOASSERTION AND CC0-1.0"
    assert finetuned_license(card("NOASSERTION"), None) == "NOASSERTION"
    assert finetuned_license(card("unknown"), "CC0-1.0") == "NOASSERTION AND CC0-1.0"
    assert finetuned_license(card("MIT AND NOASSERTION"), None) == "MIT AND NOASSERTION"
    assert finetuned_license(None, None) == "unknown"  # trained from random weights
    assert finetuned_license(None, "CC0-1.0") == "CC0-1.0"
    with pytest.raises(ValueError, match="license="):
        finetuned_license(card("MIT"), "  ")


def test_self_adapted_cards_record_the_image_licence_beside_the_start():
    from napari_microdeblur.core.self_adapt import SelfAdaptResult, interrupted_card

    base = SimpleNamespace(license="CC0-1.0", training_data="set A", normalization={})
    result = SelfAdaptResult(model=None, improved=True, start_val_loss=1.0, best_val_loss=0.5,
                             best_step=1, steps_done=1, seconds=1.0, stopped="max_steps",
                             history=[], notes=[], noise=[])
    assert result.card(base, base_label="b")["license"] == "CC0-1.0 AND NOASSERTION"
    assert result.card(base, base_label="b", license="MIT")["license"] == "CC0-1.0 AND MIT"
    assert interrupted_card(_tiny("gran"), base, "b")["license"] == "CC0-1.0 AND NOASSERTION"


# ----------------------------------------------------------------------- 3: any size


def test_the_package_readme_shows_a_call_that_runs_on_any_size(tmp_path, monkeypatch):
    core = pytest.importorskip("bioimageio.core")
    monkeypatch.chdir(tmp_path)
    path = export_bioimageio(_c2f(), {"license": "MIT"}, tmp_path / "m.zip",
                             test_input=_image())
    with zipfile.ZipFile(path) as zf:
        readme = zf.read("README.md").decode()
    code = re.search(r"```python\n(.*?)```", readme, re.S)
    assert code is not None and 'load_description("m.zip")' in code[1]
    odd = _image((30, 37), seed=1)
    with pytest.raises(ValueError, match="does not map to axes"):  # what the README warns of
        core.predict(model=core.load_description(str(path)), inputs={"input0": odd[None, None]})
    scope = {"image": odd}
    exec(code[1], scope)  # noqa: S102 - the README's own example
    assert scope["result"].shape == (30, 37) and np.isfinite(scope["result"]).all()


# ----------------------------------------------------------------------- 4: the dock's line


def _dock_line(path, arch):
    from napari_microdeblur._widgets._feedback import describe_error
    from napari_microdeblur._widgets._methods import load_failure_line

    with pytest.raises(ValueError) as err:
        load_model(str(path), arch=arch)
    return load_failure_line(str(path), describe_error(err.value), arch)


def test_another_tools_state_dict_gets_no_conversion_recipe(tmp_path):
    path = tmp_path / "other_tool.pt"
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(),
                                   torch.nn.Conv2d(8, 3, 3)).state_dict(), path)
    line = _dock_line(path, "gran")
    assert "other_tool.pt is not a microdeblur network: it holds 4 tensors such as " \
           "'0.weight', '0.bias'" in line
    assert "load_model(" not in line and "config=" not in line and len(line) < 400


def test_another_architectures_state_dict_says_which_to_choose(tmp_path):
    path = tmp_path / "g.pt"
    torch.save(_tiny("gran").state_dict(), path)
    line = _dock_line(path, "c2f_unet")
    assert "named as in a gran network" in line and "choose gran" in line
    assert "load_model(" not in line and len(line) < 200


def test_another_configuration_gets_its_conversion_once(tmp_path):
    path = tmp_path / "g.pt"
    torch.save(_tiny("gran").state_dict(), path)
    line = _dock_line(path, "gran")
    assert line.count("load_model(") == 1 and line.count("save_weights(") == 1
    assert "'n_feats'" in line  # the configuration the tensors fit, not {...its settings...}
    assert line.endswith("load g.safetensors here (its card records the configuration)")
    # short whatever the temporary folder's name (the line names the file by its full path)
    assert "missing (e.g." not in line and len(line.replace(str(tmp_path), "")) < 640


# ----------------------------------------------------------------------- 5: info


def _info(capsys, path) -> str:
    assert main(["info", str(path)]) == 2
    return capsys.readouterr().err


def test_info_of_keras_weights_says_what_weights_says(tmp_path, capsys):
    keras = tmp_path / "model.keras"
    keras.write_bytes(b"PK\x03\x04 not ours")
    h5 = tmp_path / "weights_best.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64) + b"keras_version" + bytes(64))
    for path in (keras, h5):
        err = _info(capsys, path)
        assert "Keras (HDF5) weights" in err and "run them in their own tool" in err
        assert "bioio" not in err and "h5py" not in err


def test_info_of_another_hdf5_file_names_an_image_and_keras_weights(tmp_path, capsys):
    h5 = tmp_path / "model.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))
    err = _info(capsys, h5)
    assert "convert the image to TIFF" in err and "Keras weights" in err
    assert err.count("\n") == 1


def test_info_of_a_zip_other_than_ours_is_read_as_weights(tmp_path, capsys):
    path = tmp_path / "notzoo.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.txt", "hi")
    err = _info(capsys, path)
    assert "only BioImage Model Zoo packages exported by napari-microdeblur" in err
    assert "bioio" not in err


def test_info_of_a_zipped_zarr_stays_an_image(tmp_path, capsys):
    path = tmp_path / "img.zarr.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("img.zarr/.zgroup", "{}")
    err = _info(capsys, path)
    assert "convert the image to TIFF or OME-Zarr" in err and "attachment" not in err
