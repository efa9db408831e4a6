"""A Zoo package's declared smallest input is one its TorchScript weights run on.

c2f_unet.fluorescence_v2 was exported with min 16 px: the eager network narrows its 32-px border
mirror on small inputs, the trace keeps 32 px, so bioimageio.core's test_model failed every
TorchScript run ("Padding size should be less than ...").
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
import yaml

from napari_microdeblur.core.export import export_bioimageio
from napari_microdeblur.core.registry import build_model

# torch.jit.load is deprecated but is what a Zoo consumer of the TorchScript weights calls
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")


def _export(tmp_path, config: dict, name: str):
    torch.manual_seed(0)
    model = build_model("c2f_unet", config)
    image = (np.random.default_rng(0).random((96, 96)) * 200 + 10).astype(np.float32)
    path = export_bioimageio(model, {"license": "BSD-3-Clause"}, tmp_path / f"{name}.zip",
                             test_input=image)
    with zipfile.ZipFile(path) as zf:
        rdf = yaml.safe_load(zf.read("rdf.yaml"))
        traced = torch.jit.load(io.BytesIO(zf.read("weights_torchscript.pt")))
        x = np.load(io.BytesIO(zf.read("test_input.npy")))
    return model, rdf, traced, x


def _declared(rdf) -> tuple[int, int]:
    size = rdf["inputs"][0]["axes"][-1]["size"]
    return size["min"], size["step"]


@pytest.mark.parametrize("mirror", [0, 32])
def test_torchscript_runs_at_declared_min_and_next_sizes(tmp_path, mirror):
    model, rdf, traced, x = _export(
        tmp_path, {"levels": 2, "depth": 3, "base_channels": 4, "border_mirror": mirror},
        f"m{mirror}",
    )
    least, step = _declared(rdf)
    model.eval()
    for side in (least, least + step):
        crop = torch.from_numpy(np.ascontiguousarray(x[..., :side, :side] / x.max()))
        with torch.no_grad():
            got = traced(crop)
            want = model(crop)
        assert got.shape == crop.shape
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-4)


def test_mirrored_min_is_past_the_mirror_but_unmirrored_stays_small(tmp_path):
    """The mirror needs a wider input (reflect pad < size); without one the old minimum holds."""
    config = {"levels": 2, "depth": 3, "base_channels": 4}
    assert _declared(_export(tmp_path, {**config, "border_mirror": 32}, "a")[1])[0] > 32
    assert _declared(_export(tmp_path, config, "b")[1])[0] <= 16
