"""Export that keeps working as torch, tifffile and CPython drop what it leaned on.

Deprecation walk (torch 2.13, tifffile 2026.3, CPython 3.15 pending): torch.jit is deprecated
("may break" on Python 3.14+) and a failing trace or script failed the whole Zoo export,
though a package with pytorch_state_dict weights alone is valid; a 3-channel sample TIFF and a
(4, 4, 4) PSF were tagged RGB, which tifffile warns it will stop doing; ``__package__`` stops
being set, and the weights forwarding and the live bundled table read it.
"""

from __future__ import annotations

import hashlib
import io
import warnings
import zipfile

import numpy as np
import pytest
import tifffile
import torch
import yaml

from napari_microdeblur.core import bundled, bundled_table
from napari_microdeblur.core import weights as weights_module
from napari_microdeblur.core.archs.psf_cyclegan import PSFLayer, export_psf
from napari_microdeblur.core.export import _tiff_bytes, export_bioimageio
from napari_microdeblur.core.notes import DeblurWarning
from napari_microdeblur.core.registry import build_model, get_arch

# torch.jit.load is deprecated but is what a Zoo consumer of the TorchScript weights calls
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")

CARD = {"license": "BSD-3-Clause", "training_data": "none: random weights for a test"}
MINISBLACK = tifffile.PHOTOMETRIC.MINISBLACK


def _gran(**overrides) -> torch.nn.Module:
    torch.manual_seed(3)
    return build_model("gran", {**get_arch("gran").tiny_config, **overrides}).eval()


def _image(shape) -> np.ndarray:
    return (np.random.default_rng(0).random(shape, dtype=np.float32) * 1000).astype(np.float32)


def _contents(path) -> tuple[dict, dict[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    return yaml.safe_load(files["rdf.yaml"]), files


def _raise(*args, **kwargs):
    raise RuntimeError("torch.jit is not supported in Python 3.14+ (test stand-in)")


@pytest.mark.parametrize("broken", ["trace", "script"])
def test_export_leaves_torchscript_out_with_one_warning_where_torch_jit_fails(
    tmp_path, monkeypatch, broken
):
    monkeypatch.setattr(torch.jit, broken, _raise)
    with pytest.warns(DeblurWarning) as said:
        path = export_bioimageio(_gran(), CARD, tmp_path / "g.zip", test_input=_image((16, 12)))
    lines = [str(w.message) for w in said if "TorchScript" in str(w.message)]
    assert len(lines) == 1 and "\n" not in lines[0], lines
    assert f"torch.jit.{broken} failed: RuntimeError: torch.jit is not supported" in lines[0]
    assert "pytorch_state_dict weights only" in lines[0]
    rdf, files = _contents(path)
    assert list(rdf["weights"]) == ["pytorch_state_dict"]
    assert "weights_torchscript.pt" not in files
    assert hashlib.sha256(files["weights_state_dict.pt"]).hexdigest() == (
        rdf["weights"]["pytorch_state_dict"]["sha256"])
    spec = pytest.importorskip("bioimageio.spec")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = spec.load_description(str(path), perform_io_checks=True).validation_summary
    assert summary.status in ("valid-format", "passed"), summary.format()


@pytest.mark.slow
def test_a_state_dict_only_package_passes_bioimageio_cores_test(tmp_path, monkeypatch):
    core = pytest.importorskip("bioimageio.core")
    monkeypatch.setattr(torch.jit, "trace", _raise)
    with pytest.warns(DeblurWarning, match="TorchScript weights were left out"):
        path = export_bioimageio(_gran(), CARD, tmp_path / "g.zip", test_input=_image((32, 32)))
    summary = core.test_model(str(path))
    assert summary.status == "passed", summary.format()


def test_the_smallest_size_without_a_trace_is_the_models_own(tmp_path, monkeypatch):
    """The declared smallest size stays one the state-dict weights run on: the same as with
    both formats for a network whose trace keeps no sizes."""
    both, _ = _contents(export_bioimageio(_gran(), CARD, tmp_path / "both.zip",
                                          test_input=_image((16, 12))))
    monkeypatch.setattr(torch.jit, "trace", _raise)
    with pytest.warns(DeblurWarning, match="TorchScript weights were left out"):
        alone, _ = _contents(export_bioimageio(_gran(), CARD, tmp_path / "alone.zip",
                                               test_input=_image((16, 12))))
    assert alone["inputs"][0]["axes"] == both["inputs"][0]["axes"]
    kwargs = alone["weights"]["pytorch_state_dict"]["architecture"]["kwargs"]
    assert kwargs["min_size"] == both["weights"]["pytorch_state_dict"]["architecture"][
        "kwargs"]["min_size"]


def test_a_three_channel_sample_is_written_as_grayscale_pages_without_warning():
    sample = _image((3, 16, 12))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        data = _tiff_bytes(sample)
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert tif.pages[0].photometric == MINISBLACK and len(tif.pages) == 3
        np.testing.assert_array_equal(tif.asarray(), sample)


def test_an_rgb_packages_sample_tiffs_are_channel_first_gray_with_their_hashes(tmp_path):
    model = _gran(in_channels=3, out_channels=3)
    card = {**CARD, "in_channels": 3, "out_channels": 3}
    rdf, files = _contents(export_bioimageio(model, card, tmp_path / "rgb.zip",
                                             test_input=_image((3, 16, 12))))
    for tensor, name in ((rdf["inputs"][0], "sample_input.tif"),
                         (rdf["outputs"][0], "sample_output.tif")):
        assert [a["type"] for a in tensor["axes"]][:2] == ["batch", "channel"]
        assert tensor["sample_tensor"]["sha256"] == hashlib.sha256(files[name]).hexdigest()
        with tifffile.TiffFile(io.BytesIO(files[name])) as tif:
            assert tif.pages[0].photometric == MINISBLACK
            assert tif.asarray().shape == (3, 16, 12)


def test_a_psf_of_four_planes_is_exported_gray_without_warning(tmp_path):
    path = tmp_path / "psf.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        psf = export_psf(PSFLayer(spatial_dims=3, size=4), path)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].photometric == MINISBLACK and len(tif.pages) == 4
        assert tif.series[0].axes == "ZYX"
        read = tif.asarray()
    assert read.shape == (4, 4, 4)
    np.testing.assert_array_equal(read, psf)


def test_weights_forwarding_and_the_live_table_need_no_package_attribute(monkeypatch):
    """CPython stops setting ``__package__``: the modules find their package without it."""
    monkeypatch.delattr(weights_module, "__package__")
    monkeypatch.delattr(bundled_table, "__package__")
    from napari_microdeblur.core.checkpoint import load_model

    assert weights_module.load_model is load_model
    table = {"gran.test": object()}
    monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS", table)
    assert bundled_table.live_table() is table
