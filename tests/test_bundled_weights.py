"""The default weights that ship in the package: verified, self-describing, and they deblur."""

import pytest

from napari_microdeblur.core import bundled, checkpoint
from napari_microdeblur.core.degrade import degrade
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.metrics import evaluate


@pytest.mark.parametrize("name", ["gran.em_v1", "gran.fluo_v1", "gran.hist_v1"])
def test_bundled_weights_load_with_their_card(name):
    entry = bundled.BUNDLED_WEIGHTS[name]
    path = bundled.WEIGHTS_DIR / entry.file
    assert path.stat().st_size <= 5 * 2**20  # at most 5 MB each
    model, card = checkpoint.load_model(name)
    assert card.sha256 == entry.sha256 and card.arch == "gran"
    assert card.training_data and card.degradation and card.metrics["val_psnr"] > 0
    assert card.in_channels == (3 if name == "gran.hist_v1" else 1)


@pytest.mark.parametrize("protocol", ["A", "B", "C"])
def test_default_models_gain_what_the_readme_claims(fluo_u8, he_rgb, protocol):
    """README, Quality of the default models: on the test splits gran.fluo_v1 and gran.hist_v1
    gain 2.97 to 6.91 dB over their degraded input under every protocol. Here they gain
    4.3-6.3 dB on a crop of a test-split HT29 image and 3.2-3.9 dB on a crop of a Kather tile
    of the training split (no test-split H&E ships in tests/data): at least 3 dB."""
    gray = degrade(fluo_u8, protocol, seed=3)
    out = deblur(gray, method="auto", device="cpu")
    assert evaluate(out, fluo_u8)["psnr"] > evaluate(gray, fluo_u8)["psnr"] + 3.0
    rgb = degrade(he_rgb, protocol, seed=3, channel_axis=-1)
    out = deblur(rgb, method="auto", axes="YXS", device="cpu")
    assert (evaluate(out, he_rgb, channel_axis=-1)["psnr"]
            > evaluate(rgb, he_rgb, channel_axis=-1)["psnr"] + 3.0)
