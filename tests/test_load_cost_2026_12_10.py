"""From a walkthrough (2026-12-10): loading the PSF-aware and PSF-CycleGAN networks took
1.9-3.2 s and 70-84 MB more than the others, in every process (the CLI, napari, each dask
worker): the loader builds a network on torch's meta device first, and a tensor op in their
``__init__`` (a log, an exp of a grid) ran there, which imports torch's compiler stack
(torch._dynamo, sympy). They now compute those start values in Python / numpy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

CHECK = """
import sys
from napari_microdeblur.core.bundled import list_bundled_weights, load_bundled
for name in list_bundled_weights():
    load_bundled(name)
print(sorted(m for m in ('torch._dynamo', 'sympy') if m in sys.modules))
"""


def test_loading_every_bundled_network_imports_no_compiler_stack():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                         timeout=300, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_the_start_values_are_those_of_the_tensor_formulas():
    from napari_microdeblur.core.archs.psf_cyclegan import PSFLayer
    from napari_microdeblur.core.archs.wiener_unet import WienerUNet

    net = WienerUNet()
    gains = torch.tensor(net.config.wiener_gains, dtype=torch.float32)
    torch.testing.assert_close(net.log_gain.data, torch.log(gains))
    for dims, size, sigma in ((2, 21, 3.0), (3, 9, 1.5), (2, 8, 2.0)):
        layer = PSFLayer(spatial_dims=dims, size=size, init_sigma=sigma)
        coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
        r2 = sum(g**2 for g in torch.meshgrid(*([coords] * dims), indexing="ij"))
        torch.testing.assert_close(layer.amplitude.data, torch.exp(-r2 / (4 * sigma**2)))
        assert layer.amplitude.dtype == torch.float32
        k = layer.kernel().detach().numpy()
        assert k.shape == (size,) * dims and np.isclose(k.sum(), 1.0)


@pytest.mark.parametrize("arch", ["wiener_unet", "psf_cyclegan"])
def test_they_still_build_on_the_meta_device(arch):
    from napari_microdeblur.core import registry

    with torch.device("meta"):
        model = registry.build_model(arch, None)
    assert all(p.is_meta for p in model.parameters())
