"""Fine-tuning a PSF-aware network on pairs with the PSF of the blurry images (core.finetune's
``psf``, `microdeblur finetune --weights wiener_unet... --psf PSF`), and its refusals."""

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.finetune import FinetuneRequest, iter_finetune, opponent_planes
from napari_microdeblur.core.pairs import Pair
from napari_microdeblur.core.progress import drive
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE


def texture(seed: int, shape=(96, 96)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 1.5).astype(np.float32)


def blurred_pair(seed: int = 0, shape=(96, 96)) -> tuple[np.ndarray, np.ndarray]:
    sharp = texture(seed, shape)
    blurry = ndimage.convolve(sharp, gaussian_psf(1.6), mode="reflect")
    noise = np.random.default_rng(seed + 1).normal(0, 0.002, shape)
    return (blurry + noise).astype(np.float32), sharp


def tiny_wiener_unet(seed: int = 0):
    torch.manual_seed(seed)
    return registry.build_model("wiener_unet", registry.get_arch("wiener_unet").tiny_config)


def request(model, blurry, sharp, tmp_path, **options) -> FinetuneRequest:
    opts = dict(steps=4, patch=32, batch_size=2, lr=1e-3, device="cpu", min_gain_db=0.0,
                checkpoint_dir=str(tmp_path / "ck"))
    opts.update(options)
    return FinetuneRequest(mode="pair", layer_name="pair", axes=opts.pop("axes", "YX"),
                           model=model, base_label="tiny", base_card=None, blurry=blurry,
                           sharp=sharp, **opts)


def start_psnr(outcome) -> float:
    first = outcome.result.history[0]
    assert first["step"] == 0
    return first["val_psnr"]


def test_the_psf_given_is_the_one_the_network_trains_and_validates_with(tmp_path):
    blurry, sharp = blurred_pair()
    runs = {}
    for psf in ("gaussian:1.6", "gaussian:0.6"):
        model, folder = tiny_wiener_unet(), tmp_path / psf.replace(":", "_")
        folder.mkdir()
        req = request(model, blurry, sharp, folder, psf=psf)
        runs[psf] = drive(iter_finetune(req))
        assert model.bound_psf is None  # unbound when the job ends
    right, wrong = runs["gaussian:1.6"], runs["gaussian:0.6"]
    # the same untrained network scores by its Wiener estimate: the true PSF restores more
    assert start_psnr(right) > start_psnr(wrong) + 0.5
    assert "PSF: gaussian:1.6" in right.card.training_data
    # what the kept weights add at frequencies the PSF blocks, on the held-out band (the
    # safeguard's limit for them), is in the card of the file the job returns
    ratio = right.card.metrics["blocked_correction_ratio"]
    assert ratio >= 0 and load_model(right.file)[1].metrics["blocked_correction_ratio"] == ratio
    # and the widest PSF the start knew (no start card here: psf_v1's parametric ranges)
    from napari_microdeblur.core import psf_safeguard

    assert psf_safeguard.trained_half_max_width(right.card) == pytest.approx(8.24, abs=0.01)
    assert right.card.metrics[psf_safeguard.TRAINED_WIDTH_KEY] == pytest.approx(8.24, abs=0.01)
    # the kept weights are a plain PSF-aware network again: it needs the PSF to run
    with pytest.raises(ValueError, match="needs the PSF"):
        right.model(torch.zeros(1, 1, 32, 32))
    out = right.model(torch.from_numpy(blurry)[None, None], torch.from_numpy(gaussian_psf(1.6)))
    assert out.shape == (1, 1, 96, 96) and torch.isfinite(out).all()


@pytest.mark.parametrize("case,message", [
    ("no-psf", "tiny is PSF-aware: give the PSF of the blurry images"),
    ("not-psf-aware", "tiny takes no PSF; leave the PSF out"),
    ("two-channels", "the pairs have 2 channels; a PSF-aware network takes grayscale or RGB"),
    ("large-psf", "the PSF (41 x 41 px) is larger than the patches or the validation region"),
    ("regime", "fine-tunes with the supervised regime only, not 'sgpn'"),
])
def test_psf_and_network_that_do_not_go_together_are_refused_before_training(tmp_path, case,
                                                                             message):
    blurry, sharp = blurred_pair()
    model, options = tiny_wiener_unet(), {"psf": "gaussian:1.6"}
    if case == "no-psf":
        options = {}
    elif case == "not-psf-aware":
        model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    elif case == "two-channels":  # fluorescence channels have a PSF each: one at a time
        blurry, sharp = (np.stack([a] * 2) for a in (blurry, sharp))
        options["axes"] = "CYX"
    elif case == "large-psf":
        options["psf"] = gaussian_psf(6.0, size=41)
    elif case == "regime":
        options.update(regime="sgpn")
    job = iter_finetune(request(model, blurry, sharp, tmp_path, **options))
    with pytest.raises(ValueError) as error:
        next(job)
    assert message in str(error.value)
    assert not (tmp_path / "ck").exists() or not any((tmp_path / "ck").iterdir())


def colour_pair(seed: int = 0, shape=(96, 96)) -> tuple[np.ndarray, np.ndarray]:
    """An RGB (YXS) pair: three different textures, each blurred by the one PSF."""
    planes = [blurred_pair(seed + 10 * k, shape) for k in range(3)]
    return tuple(np.stack([p[i] for p in planes], axis=-1) for i in (0, 1))


def test_rgb_pairs_become_luminance_and_chroma_planes():
    rgb = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    pair = Pair(rgb, rgb * 0.5, "field:0", (2.0, 0.1), {"plane": [0]})
    planes = opponent_planes([pair])
    assert [p.info["colour_plane"] for p in planes] == ["luminance", "chroma 1", "chroma 2"]
    assert all(p.channels == 1 and p.group == "field:0" for p in planes)
    lum = planes[0]
    np.testing.assert_allclose(lum.input[0], rgb.mean(axis=0), atol=1e-6)
    assert lum.to_reference == (2.0, 0.1)
    # a chroma plane in reference units is the chroma of the RGB pair in reference units
    chroma_of_reference = opponent_planes([Pair(rgb * 2.0 + 0.1, rgb, "g")])[1].input[0]
    scale, offset = planes[1].to_reference
    np.testing.assert_allclose(planes[1].input[0] * scale + offset, chroma_of_reference,
                               atol=1e-5)
    # gray stays gray: an RGB pair with equal channels has flat chroma at 0.5
    gray = opponent_planes([Pair(np.stack([rgb[0]] * 3), np.stack([rgb[1]] * 3), "g")])
    for p in gray[1:]:
        np.testing.assert_allclose(p.input, 0.5, atol=1e-6)


def test_psf_aware_network_fine_tunes_on_rgb_pairs_in_the_colour_space_it_runs_in(tmp_path):
    blurry, sharp = colour_pair()
    model = tiny_wiener_unet()
    job = iter_finetune(request(model, blurry, sharp, tmp_path, axes="YXS", psf="gaussian:1.6"))
    notes = next(job)
    info = dict(notes.info)
    # one RGB pair, validated on a band of it: three training and three validation planes
    assert (info["pairs"], info["train"], info["val"]) == (1, 3, 3)
    assert "luminance and chroma planes" in info["holdout"]
    outcome = drive(job)
    assert "luminance and chroma planes" in outcome.card.training_data
    # the tuned weights run RGB (in that colour space) given the PSF
    from napari_microdeblur.core.inference import deblur
    from napari_microdeblur.core.psf_aware import psf_aware_method

    method = psf_aware_method(outcome.model, "gaussian:1.6", outcome.card, rgb=True)
    out = deblur(blurry, method=method, axes="YXS", device="cpu")
    assert out.shape == blurry.shape and np.isfinite(out).all()


@pytest.fixture
def pair_files(tmp_path):
    blurry, sharp = blurred_pair(3, (120, 120))
    tifffile.imwrite(tmp_path / "b.tif", blurry)
    tifffile.imwrite(tmp_path / "s.tif", sharp)
    base = tmp_path / "wiener.safetensors"
    model = tiny_wiener_unet()
    save_weights(model, base, {"arch": model.arch_name, "config": model.config.model_dump(),
                               "in_channels": 1, "out_channels": 1})
    return tmp_path


def test_cli_finetunes_psf_aware_weights_with_the_psf(pair_files, capsys):
    d = pair_files
    argv = ["finetune", "--weights", str(d / "wiener.safetensors"), "--blurry",
            str(d / "b.tif"), "--sharp", str(d / "s.tif"), "--psf", "gaussian:1.6",
            "--steps", "3", "--patch", "32", "--batch", "2", "--device", "cpu", "-q",
            "--out", str(d / "o.safetensors")]
    assert main(argv) == 0
    assert "fine-tuned" in capsys.readouterr().out
    model, card = load_model(d / "o.safetensors")
    assert card.arch == "wiener_unet" and "PSF: gaussian:1.6" in card.training_data
    # what it wrote deblurs with the PSF from the CLI
    assert main(["deblur", str(d / "b.tif"), "-o", str(d / "d.tif"), "--weights",
                 str(d / "o.safetensors"), "--psf", "gaussian:1.6", "--device", "cpu"]) == 0
    assert tifffile.imread(d / "d.tif").shape == (120, 120)


def test_cli_finetunes_psf_aware_weights_on_rgb_files(pair_files, capsys):
    d = pair_files
    blurry, sharp = colour_pair(5, (120, 120))
    tifffile.imwrite(d / "rb.tif", (255 * np.clip(blurry, 0, 1)).astype(np.uint8))
    tifffile.imwrite(d / "rs.tif", (255 * np.clip(sharp, 0, 1)).astype(np.uint8))
    argv = ["finetune", "--weights", str(d / "wiener.safetensors"), "--blurry",
            str(d / "rb.tif"), "--sharp", str(d / "rs.tif"), "--psf", "gaussian:1.6",
            "--steps", "3", "--patch", "32", "--batch", "2", "--device", "cpu", "-q",
            "--out", str(d / "o.safetensors")]
    assert main(argv) == 0
    card = load_model(d / "o.safetensors")[1]
    assert "luminance and chroma planes" in card.training_data
    assert main(["deblur", str(d / "rb.tif"), "-o", str(d / "d.tif"), "--weights",
                 str(d / "o.safetensors"), "--psf", "gaussian:1.6", "--device", "cpu"]) == 0
    assert tifffile.imread(d / "d.tif").shape == (120, 120, 3)


@pytest.mark.parametrize("weights,extra,message", [
    ("wiener.safetensors", [], "is PSF-aware: give the PSF of the blurry images with --psf"),
    ("gran.safetensors", ["--psf", "gaussian:1.6"], "--psf is for --self IMG (adapting "
     "without a reference) or for PSF-aware --weights"),
])
def test_cli_refuses_a_missing_or_unused_psf_in_one_line(pair_files, capsys, weights, extra,
                                                         message):
    d = pair_files
    gran = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    save_weights(gran, d / "gran.safetensors", {"arch": "gran", "config": gran.config.model_dump(),
                                                "in_channels": 1, "out_channels": 1})
    argv = ["finetune", "--weights", str(d / weights), "--blurry", str(d / "b.tif"),
            "--sharp", str(d / "s.tif"), "--steps", "3", "--device", "cpu", "-q",
            "--out", str(d / "o.safetensors"), *extra]
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (d / "o.safetensors").exists()


def test_training_a_psf_aware_network_without_a_psf_says_how_in_one_line(tmp_path, capsys):
    for name in ("b", "s"):
        (tmp_path / name).mkdir()
    for i in range(2):
        blurry, sharp = blurred_pair(i)
        tifffile.imwrite(tmp_path / "b" / f"{i}.tif", blurry)
        tifffile.imwrite(tmp_path / "s" / f"{i}.tif", sharp)
    argv = ["train", "--arch", "wiener_unet", "--blurry", str(tmp_path / "b"), "--sharp",
            str(tmp_path / "s"), "--steps", "2", "--patch", "32", "--device", "cpu", "-q",
            "--out", str(tmp_path / "o.safetensors")]
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "wiener_unet is PSF-aware and trains given the PSF" in err[0]
    assert f"microdeblur finetune --weights {DEFAULT_PSF_AWARE} --psf PSF" in err[0]
    assert not (tmp_path / "o.safetensors").exists()
