"""The default weights that ship in the package: verified, self-describing, and they deblur."""

from pathlib import Path

import numpy as np
import pytest
import tifffile

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
def test_v1_models_gain_what_the_readme_claims(fluo_u8, he_rgb, protocol):
    """README, Quality of the default models (in-distribution table): on the test splits
    gran.fluo_v1 and gran.hist_v1 gain 2.97 to 6.91 dB over their degraded input under every
    protocol. Here they gain 4.3-6.3 dB on a crop of a test-split HT29 image and 3.2-3.9 dB on
    a crop of a Kather tile of the training split (no test-split H&E ships in tests/data)."""
    gray = degrade(fluo_u8, protocol, seed=3)
    out = deblur(gray, method="gran.fluo_v1", device="cpu")
    assert evaluate(out, fluo_u8)["psnr"] > evaluate(gray, fluo_u8)["psnr"] + 3.0
    rgb = degrade(he_rgb, protocol, seed=3, channel_axis=-1)
    out = deblur(rgb, method="gran.hist_v1", axes="YXS", device="cpu")
    assert (evaluate(out, he_rgb, channel_axis=-1)["psnr"]
            > evaluate(rgb, he_rgb, channel_axis=-1)["psnr"] + 3.0)


@pytest.mark.parametrize("protocol", ["A", "B", "C"])
def test_v2_defaults_run_for_auto_and_gain(fluo_u8, he_rgb, protocol):
    """auto runs the v2 blind defaults (c2f_unet.*_v2). Trained on broad content, they trade
    in-distribution gain for generalisation: on the same crops they gain 2.2-5.0 dB (HT29) and
    1.4-2.9 dB (Kather H&E, channel by channel), about 1.3-2 dB less than v1 here."""
    assert bundled.default_for_modality("auto", rgb=False) == "c2f_unet.fluorescence_v2"
    assert bundled.default_for_modality("auto", rgb=True) == "c2f_unet.brightfield_v2"
    gray = degrade(fluo_u8, protocol, seed=3)
    out = deblur(gray, method="auto", device="cpu")
    assert evaluate(out, fluo_u8)["psnr"] > evaluate(gray, fluo_u8)["psnr"] + 1.5
    rgb = degrade(he_rgb, protocol, seed=3, channel_axis=-1)
    out = deblur(rgb, method="auto", axes="YXS", device="cpu")
    assert (evaluate(out, he_rgb, channel_axis=-1)["psnr"]
            > evaluate(rgb, he_rgb, channel_axis=-1)["psnr"] + 1.0)


@pytest.mark.parametrize("name", ["c2f_unet.em_v2", "c2f_unet.fluorescence_v2",
                                  "c2f_unet.brightfield_v2"])
def test_v2_weights_load_with_their_card_and_measured_tiling(name):
    entry = bundled.BUNDLED_WEIGHTS[name]
    assert (bundled.WEIGHTS_DIR / entry.file).stat().st_size <= 5 * 2**20
    model, card = checkpoint.load_model(name)
    assert card.sha256 == entry.sha256 and card.arch == "c2f_unet"
    assert card.in_channels == 1 and card.config["global_skip"]
    assert card.tiling == {"halo": 64, "tile": 1024}
    assert card.config["border_mirror"] == 32
    assert card.metrics["val_psnr"] > card.metrics["val_psnr_input"] + 2.0


def test_v2_default_keeps_the_image_border(fluo_u8):
    """The v2 networks never saw their input's border in training; the border mirror in their
    config keeps the whole-image result above the input (without: 13.6 dB against 27.6 on an
    EM image)."""
    blurred = degrade(fluo_u8, "A", seed=3)
    out = deblur(blurred, method="c2f_unet.fluorescence_v2", device="cpu")
    assert evaluate(out, fluo_u8, border=0)["psnr"] > evaluate(blurred, fluo_u8, border=0)["psnr"]


def test_v2_network_called_directly_keeps_crop_borders(fluo_u8):
    """Fine-tuning and its validation call the network on crops, not through the tiler: the
    mirror lives in the network, so a direct call keeps the borders too; the same weights
    without it lose them."""
    import numpy as np
    import torch

    model, _ = checkpoint.load_model("c2f_unet.fluorescence_v2")
    sharp = fluo_u8[:128, :128].astype(np.float32) / 255.0
    blurred = degrade(sharp, "A", seed=3).astype(np.float32)
    x = torch.from_numpy(blurred)[None, None]
    ring = np.ones_like(sharp, bool)
    ring[12:-12, 12:-12] = False

    def ring_psnr(image):
        return 10 * np.log10(1.0 / np.mean((image[ring] - sharp[ring]) ** 2))

    model.eval()
    with torch.no_grad():
        mirrored = model(x)[0, 0].numpy()
        model.config.border_mirror = 0
        bare = model(x)[0, 0].numpy()
    assert mirrored.shape == sharp.shape
    assert ring_psnr(mirrored) > ring_psnr(blurred) > ring_psnr(bare)


#: the papers' regimes with shipped weights (scripts/train_papers.py, train_psf_cyclegan.py):
#: name -> (arch, regime)
PAPER_WEIGHTS = {"gran.gan_em_v1": ("gran", "gran_gan"),
                 "sgpn.em_supervised_v1": ("sgpn", "supervised"),
                 "psf_cyclegan.fluo_v1": ("psf_cyclegan", "psf_cyclegan")}
EM_TEST = (Path(__file__).resolve().parents[2] / "shared" / "data" / "em_epfl_hippocampus_fibsem"
           / "test" / "testing0000.png")


@pytest.mark.parametrize("name", sorted(PAPER_WEIGHTS))
def test_paper_regime_weights_ship_with_their_card_and_are_offered(name, capsys):
    import json

    from napari_microdeblur._widgets._methods import core_method_names
    from napari_microdeblur.cli import main

    arch, regime = PAPER_WEIGHTS[name]
    entry = bundled.BUNDLED_WEIGHTS[name]
    assert (bundled.WEIGHTS_DIR / entry.file).stat().st_size <= 5 * 2**20
    _, card = checkpoint.load_model(name)
    assert card.sha256 == entry.sha256 and card.arch == arch and card.in_channels == 1
    assert card.training["regime"] == regime and card.license == entry.license
    kept = "last step" if regime != "supervised" else "best validation PSNR"
    assert card.training_data and kept in card.metrics["checkpoint"]
    assert name in core_method_names()  # the Deblur dock's method list
    assert main(["methods", "--json"]) == 0
    assert name in {e["name"] for e in json.loads(capsys.readouterr().out)}


@pytest.mark.skipif(not EM_TEST.is_file(), reason="../shared/data is not here")
def test_gran_gan_weights_deblur_an_em_test_crop():
    """README, the papers' regimes: on a 256-px crop of an EPFL test slice under protocol A,
    gran.gan_em_v1 gives 29.03 dB against the input's 28.04 and gran.em_v1's 29.05."""
    import imageio.v3 as iio

    image = iio.imread(EM_TEST)
    sharp = (image[..., 0] if image.ndim == 3 else image)[
        image.shape[0] // 2 - 128: image.shape[0] // 2 + 128,
        image.shape[1] // 2 - 128: image.shape[1] // 2 + 128]
    blurred = degrade(sharp, "A", seed=0)
    scores = {m: evaluate(deblur(blurred, method=m, device="cpu"), sharp)["psnr"]
              for m in ("gran.gan_em_v1", "gran.em_v1")}
    assert scores["gran.gan_em_v1"] > evaluate(blurred, sharp)["psnr"] + 0.7
    assert abs(scores["gran.gan_em_v1"] - scores["gran.em_v1"]) < 0.3


@pytest.mark.skipif(not EM_TEST.is_file(), reason="../shared/data is not here")
def test_sgpn_weights_deblur_an_em_test_crop():
    """README, the papers' regimes: on the same crop sgpn.em_supervised_v1 gives 28.77 dB
    against the input's 28.04 (gran.em_v1 29.05)."""
    import imageio.v3 as iio

    image = iio.imread(EM_TEST)
    sharp = (image[..., 0] if image.ndim == 3 else image)[
        image.shape[0] // 2 - 128: image.shape[0] // 2 + 128,
        image.shape[1] // 2 - 128: image.shape[1] // 2 + 128]
    blurred = degrade(sharp, "A", seed=0)
    out = deblur(blurred, method="sgpn.em_supervised_v1", device="cpu")
    assert evaluate(out, sharp)["psnr"] > evaluate(blurred, sharp)["psnr"] + 0.5


SAMPLES = Path(bundled.__file__).resolve().parent.parent / "samples"


def test_psf_cyclegan_weights_carry_their_learned_psf_and_deblur_its_blur(tmp_path):
    """README, the papers' regimes: psf_cyclegan.fluo_v1 learned a PSF close to the Gaussian it
    was trained on (its card: NCC 0.967) and its network sharpens an image blurred by that PSF
    without added noise (a bundled HT29 nuclei crop here: it saw no HT29 image)."""
    from scipy import ndimage

    from napari_microdeblur.core.archs.psf_cyclegan import export_psf
    from napari_microdeblur.core.degrade import protocol_psf

    model, card = checkpoint.load_model("psf_cyclegan.fluo_v1")
    learned = model.psf.kernel().detach().double().numpy()
    assert abs(learned.sum() - 1) < 1e-5 and learned.min() >= 0
    true = protocol_psf("A").astype(np.float64)
    pad = (true.shape[0] - learned.shape[0]) // 2
    a, b = np.pad(learned, pad) - 1 / true.size, true - 1 / true.size
    ncc = (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())
    assert ncc > 0.95 and abs(ncc - card.metrics["ncc"]) < 1e-3
    written = export_psf(model, tmp_path / "psf.tif")
    assert np.allclose(written, learned, atol=1e-6)
    sharp = tifffile.imread(SAMPLES / "ht29_nuclei_hoechst.tif").astype(np.float64)[:256, :256]
    blurred = ndimage.convolve(sharp, protocol_psf("A").astype(np.float64), mode="reflect")
    out = deblur(blurred.astype(np.float32), method="psf_cyclegan.fluo_v1", device="cpu")
    assert evaluate(out, sharp)["psnr"] > evaluate(blurred, sharp)["psnr"] + 0.5
