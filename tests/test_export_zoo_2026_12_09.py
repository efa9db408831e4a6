"""A shared Zoo package runs like the plugin: any image size, a halo, the paper and metadata.

Walkthrough (a fine-tuned c2f_unet exported with a 128 x 128 crop): bioimageio.core's
``predict`` on the 130 x 133 training image failed in torch ("Expected size 48 but got size
49"); tiled prediction showed seams up to 0.066 (output range 1.29) as no halo was declared;
the rdf cited github.com/napari/napari and had no pixel size or training data; nothing said
that the package normalises a z-stack plane by plane where the plugin takes the whole stack.
"""

from __future__ import annotations

import io
import warnings
import zipfile

import numpy as np
import pytest
import torch
import yaml

from napari_microdeblur.core.export import DESCRIPTION_LIMIT, export_bioimageio
from napari_microdeblur.core.notes import DeblurWarning
from napari_microdeblur.core.registry import build_model

# torch.jit.load is deprecated but is what a Zoo consumer of the TorchScript weights calls
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")

CONFIG = {"levels": 2, "depth": 3, "base_channels": 4}  # size divisor 4, receptive field 50
TRAINING = ("c2f_unet.fluorescence_v2 fine-tuned on files 'wf.tif~conf.tif': blurry/sharp "
            "pair, 15 training plane(s)")


def _model():
    torch.manual_seed(0)
    return build_model("c2f_unet", CONFIG).eval()


def _image(shape, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    smooth = 300 * np.sin(yy / 9.0) * np.cos(xx / 13.0)
    return (1000 + smooth + rng.normal(0, 40, shape)).astype(np.float32)


def _export(tmp_path, name="m", side=128, **kw):
    card = {"license": "CC-BY-4.0", "training_data": TRAINING,
            "metrics": {"pixel_size_um": 0.511878, "image_type": "fluorescence"}}
    path = export_bioimageio(_model(), card, tmp_path / f"{name}.zip",
                             test_input=_image((side, side)), **kw)
    with zipfile.ZipFile(path) as zf:
        rdf = yaml.safe_load(zf.read("rdf.yaml"))
        readme = zf.read("README.md").decode()
        scripted = torch.jit.load(io.BytesIO(zf.read("weights_torchscript.pt")))
    return path, rdf, readme, scripted


def _predict(path, image, weight_format="pytorch_state_dict", **kw):
    core = pytest.importorskip("bioimageio.core")
    from bioimageio.core import Tensor, create_prediction_pipeline, load_description

    pp = create_prediction_pipeline(load_description(str(path)), weight_format=weight_format)
    t = Tensor(image[None, None], dims=("batch", "channel", "y", "x"))
    out = core.predict(model=pp, inputs={"input0": t}, **kw)
    return out.members["output0"].data.values[0, 0]


@pytest.mark.parametrize("weight_format", ["pytorch_state_dict", "torchscript"])
def test_zoo_predict_runs_on_a_size_off_the_network_grid(tmp_path, weight_format):
    path = _export(tmp_path)[0]
    odd = _image((130, 133), seed=1)
    out = _predict(path, odd, weight_format)
    assert out.shape == (130, 133) and np.isfinite(out).all()


def test_the_package_network_mirrors_up_to_the_divisor_as_the_tiler_pads(tmp_path):
    """Inside the package, a 30 x 37 input is mirrored (numpy 'symmetric') to 32 x 40 and the
    output cropped back; a size on the grid runs unchanged."""
    scripted = _export(tmp_path)[3]
    model = _model()
    x = np.random.default_rng(2).random((1, 1, 30, 37), dtype=np.float32)
    padded = np.pad(x, [(0, 0), (0, 0), (0, 2), (0, 3)], mode="symmetric")
    with torch.no_grad():
        want = model(torch.from_numpy(padded))[..., :30, :37]
        got = scripted(torch.from_numpy(x))
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
        on_grid = torch.from_numpy(np.ascontiguousarray(padded))
        torch.testing.assert_close(scripted(on_grid), model(on_grid), rtol=1e-4, atol=1e-5)


def test_no_halo_by_default_and_the_plugins_on_request_tiles_match_the_whole_image(tmp_path):
    """A declared halo is padded around a whole image before bioimageio.core's percentiles
    (6.8 % of the range off the plugin on a 130 x 133 plane): none by default."""
    default = _export(tmp_path, "default")[1]
    assert all(not a.get("halo") for a in default["outputs"][0]["axes"])
    path, rdf, readme, _ = _export(tmp_path, halo="plugin")
    spatial = [a for a in rdf["outputs"][0]["axes"] if a["type"] == "space"]
    # the plugin tiles this card with the receptive field (no measured halo): 50 px
    assert [a["halo"] for a in spatial] == [50, 50]
    sizes = [a["size"] for a in rdf["inputs"][0]["axes"] if a["type"] == "space"]
    assert all(s["min"] > 2 * 50 and s["min"] % 4 == 0 and s["step"] == 4 for s in sizes)
    assert "halo: 50 px" in readme
    no_halo = _export(tmp_path, "none", halo=0)[0]
    image = _image((256, 256), seed=3)
    whole = _predict(path, image)
    tiled = _predict(path, image, blocksize_parameter=4)
    # without a halo, every block border is an image border to the network (zero padding)
    seams = np.abs(_predict(no_halo, image, blocksize_parameter=4)
                   - _predict(no_halo, image)).max()
    assert seams > 1e-3
    assert np.abs(tiled - whole).max() < 0.01 * seams, (np.abs(tiled - whole).max(), seams)


def test_a_test_input_too_small_for_the_halo_cuts_it_with_a_warning_or_refuses(tmp_path):
    with pytest.warns(DeblurWarning, match=r"halo of 46 px per side, not the 50 px.*at least 104"):
        rdf = _export(tmp_path, "small", side=96, halo="plugin")[1]
    assert rdf["outputs"][0]["axes"][-1]["halo"] == 46
    with pytest.raises(ValueError, match=r"halo=64 needs a test_input of at least 132 px"):
        _export(tmp_path, "refused", side=96, halo=64)


def test_an_off_grid_test_input_is_refused_naming_the_crop(tmp_path):
    with pytest.raises(ValueError, match=r"crop it to \(128, 132\).*image\[\.\.\., :128, :132\]"):
        export_bioimageio(_model(), {"license": "CC-BY-4.0"}, tmp_path / "odd.zip",
                          test_input=_image((130, 133)))


def test_rdf_cites_the_paper_and_carries_pixel_size_training_data_and_stack_note(tmp_path):
    path, rdf, readme, _ = _export(tmp_path)
    assert "napari/napari" not in yaml.safe_dump(rdf)
    assert {"doi": "10.48550/arXiv.2211.00416"}.items() <= rdf["cite"][0].items()
    for tensor in (*rdf["inputs"], *rdf["outputs"]):
        for axis in tensor["axes"]:
            if axis["type"] == "space":
                assert axis["unit"] == "micrometer" and axis["scale"] == pytest.approx(0.511878)
    config = rdf["config"]["napari_microdeblur"]
    assert config["training_data"] == TRAINING and config["pixel_size_um"] == 0.511878
    description = rdf["description"]
    assert len(description) <= DESCRIPTION_LIMIT
    assert "Training data: c2f_unet.fluorescence_v2" in description
    assert "0.5119 um per pixel" in description
    assert "normalised per plane" in description and "whole stack" in description
    assert "normalised per plane" in readme and "0.5119 um" in readme
    assert "fluorescence" in rdf["tags"]
    spec = pytest.importorskip("bioimageio.spec")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = spec.load_description(str(path), perform_io_checks=True).validation_summary
    assert summary.status in ("valid-format", "passed"), summary.format()
    locations = {w.loc for d in summary.details for w in d.warnings}
    assert not {loc for loc in locations if loc and loc[0] in ("cite", "description",
                                                               "training_data")}, locations
