"""Weights files and BioImage Model Zoo export, as a user sharing models meets them."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import CARD_KEY, load_model, save_weights
from napari_microdeblur.core.export import export_bioimageio


def _tiny(arch: str, seed: int = 0):
    torch.manual_seed(seed)
    return registry.build_model(arch, registry.preset_config(arch, "tiny"))


def _input(size: int = 32) -> np.ndarray:
    return np.random.default_rng(0).random((size, size), dtype=np.float32) * 100


@pytest.mark.parametrize("arch", ["sgpn", "psf_cyclegan"])
def test_zoo_test_passes_for_networks_with_instance_norm(arch, tmp_path):
    """bioimageio.core runs the smallest input the rdf allows: at one pixel per side
    instance normalisation failed, so the zoo's own test failed for sgpn and psf_cyclegan."""
    core = pytest.importorskip("bioimageio.core")
    torch.set_num_threads(1)
    path = export_bioimageio(_tiny(arch), {"license": "MIT"}, tmp_path / f"{arch}.zip",
                             test_input=_input())
    summary = core.test_model(str(path))
    assert summary.status == "passed", [
        (d.name, [e.msg[:200] for e in d.errors]) for d in summary.details if d.errors]


def test_psf_aware_export_is_refused_in_one_line(tmp_path):
    """The package has one input, the image; wiener_unet also needs the PSF."""
    target = tmp_path / "w.zip"
    with pytest.raises(ValueError, match="PSF") as err:
        export_bioimageio(_tiny("wiener_unet"), None, target, test_input=_input())
    assert "\n" not in str(err.value) and "BioImage Model Zoo" in str(err.value)
    assert not target.exists()


def test_export_without_an_spdx_licence_is_refused(tmp_path):
    """Bundled weights whose training data states no licence carry NOASSERTION, which the
    Zoo's validator rejects: say so instead of writing a package the Zoo refuses."""
    model = _tiny("gran")
    target = tmp_path / "g.zip"
    with pytest.raises(ValueError, match="NOASSERTION.*licen") as err:
        export_bioimageio(model, {"license": "NOASSERTION"}, target, test_input=_input())
    assert "\n" not in str(err.value)
    assert not target.exists()
    # a card's default, 'unknown', was written as CC-BY-4.0: a licence nobody chose
    with pytest.raises(ValueError, match="'unknown'.*SPDX"):
        export_bioimageio(model, {}, target, test_input=_input())
    assert not target.exists()
    # the way out the message names works
    card = save_weights(model, tmp_path / "g.safetensors", {"license": "NOASSERTION"})
    export_bioimageio(model, card.model_copy(update={"license": "MIT"}), target,
                      test_input=_input())
    assert load_model(target)[1].license == "MIT"
    with zipfile.ZipFile(target) as zf:  # a Zoo consumer gets 0..1 units, not the image's
        assert "output units: normalised" in zf.read("README.md").decode()


def _card(model, tmp_path) -> dict:
    card = save_weights(model, tmp_path / "ok.safetensors")
    return json.loads(card.model_dump_json(exclude={"sha256", "source"}))


def _tensors(model) -> dict:
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def test_card_format_version_that_is_not_a_number_is_one_line(tmp_path):
    model = _tiny("gran")
    card = {**_card(model, tmp_path), "card_format_version": "3"}
    path = tmp_path / "edited.safetensors"
    save_file(_tensors(model), str(path), metadata={CARD_KEY: json.dumps(card)})
    with pytest.raises(ValueError, match=r"edited\.safetensors.*card_format_version"):
        load_model(path)


@pytest.mark.parametrize("card", [[1, 2], {"arch": "gran"}])
def test_invalid_card_is_one_line(card, tmp_path):
    path = tmp_path / "bad.safetensors"
    save_file(_tensors(_tiny("gran")), str(path), metadata={CARD_KEY: json.dumps(card)})
    with pytest.raises(ValueError, match=r"bad\.safetensors: invalid model card") as err:
        load_model(path)
    assert "\n" not in str(err.value)


def test_corrupt_weights_inside_a_zip_name_the_zip(tmp_path):
    """The error named a temporary file that no longer exists instead of the package."""
    path = tmp_path / "pkg.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("gran.safetensors", b"junk")
    with pytest.raises(ValueError, match=r"pkg\.zip:gran\.safetensors: not a readable") as err:
        load_model(path)
    assert "/tmp" not in str(err.value).replace(str(tmp_path), "")


def test_a_folder_is_not_reported_as_missing(tmp_path):
    folder = tmp_path / "model.safetensors"
    folder.mkdir()
    with pytest.raises(ValueError, match="is a folder") as err:
        load_model(folder)
    assert "no weights file" not in str(err.value)
    assert folder.is_dir()
