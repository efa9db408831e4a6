"""finetune(out=..., overwrite=True) from Python that diverged before any validation beat the
start wrote the starting weights over ``out`` (a user's earlier weights); the CLI writes
nothing since 0430240 / 3e5d6a7, and so does Python now."""

import numpy as np
import pytest

from napari_microdeblur.core import registry
from napari_microdeblur.core.finetune import finetune

EARLIER = b"weights kept by an earlier run"


def _tiny_gran():
    return registry.build_model("gran", registry.get_arch("gran").tiny_config)


@pytest.mark.parametrize("paired", [True, False])
def test_a_diverged_run_leaves_an_earlier_out(tmp_path, paired):
    rng = np.random.default_rng(0)
    sharp = rng.random((160, 160)).astype(np.float32)
    blurry = (sharp * 0.8 + 0.1).astype(np.float32)
    out = tmp_path / "mine.safetensors"
    out.write_bytes(EARLIER)
    extra = {"sharp": sharp} if paired else {"psf": "gaussian:1.2"}
    with pytest.raises(ValueError, match="not written \\(left as it was\\)"):
        finetune((_tiny_gran(), None), blurry, steps=6, lr=1e8, minutes=0.2, out=out,
                 overwrite=True, **extra)
    assert out.read_bytes() == EARLIER
