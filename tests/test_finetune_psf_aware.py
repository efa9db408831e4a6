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
from napari_microdeblur.core.psf_aware import (
    CALIBRATED_NOISE_SCALE_KEY,
    DEFAULT_PSF_AWARE,
    NOISE_SCALE_GRID,
    NOISE_SCALE_MIN_GAIN_DB,
    calibrate_noise_scale,
    psf_aware_method,
)


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
    # the card names that file as a load would (the dock's Save... printed card.sha256[:12]
    # and crashed on None; records named no weights)
    from napari_microdeblur.core.checkpoint import sha256_file

    assert right.card.sha256 == sha256_file(right.file) and right.card.source == str(right.file)
    # and the widest PSF the start knew (no start card here: psf_v1's parametric ranges)
    from napari_microdeblur.core import psf_safeguard

    assert psf_safeguard.trained_half_max_width(right.card) == pytest.approx(8.24, abs=0.01)
    assert right.card.metrics[psf_safeguard.TRAINED_WIDTH_KEY] == pytest.approx(8.24, abs=0.01)
    # the noise scale calibrated on the held-out band, and the scores it was chosen by
    scores = {float(s): v for s, v in right.card.metrics["val_psnr_by_noise_scale"].items()}
    assert sorted(scores) == sorted(NOISE_SCALE_GRID)
    best = max(scores, key=scores.get)
    expected = best if scores[best] - scores[1.0] >= NOISE_SCALE_MIN_GAIN_DB else 1.0
    assert right.card.metrics[CALIBRATED_NOISE_SCALE_KEY] == expected
    assert (f"noise scale {expected:g} calibrated" in right.summary) == (expected != 1)
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
    assert "val_psnr_by_noise_scale" in card.metrics  # calibrated by default
    # --noise-scale-calibration off: neither before nor after
    assert main(argv[:-1] + [str(d / "off.safetensors"), "--noise-scale-calibration",
                             "off"]) == 0
    off = load_model(d / "off.safetensors")[1]
    assert off.metrics[CALIBRATED_NOISE_SCALE_KEY] == 1.0
    assert "val_psnr_by_noise_scale" not in off.metrics
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
    ("gran.safetensors", ["--noise-scale-calibration", "off"], "--noise-scale-calibration is "
     "for PSF-aware --weights (wiener_unet.*); "),
    ("wiener.safetensors", ["--noise-scale-calibration", "after", "--self", "b.tif", "--psf",
                            "gaussian:1.6"], "--noise-scale-calibration is for pairs"),
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


def scaled_pair(seed: int, noise: float, smooth: float) -> Pair:
    """A held-out pair in model units: a texture of ``smooth`` px in [0, 1], blurred by
    protocol A's Gaussian, with white noise of level ``noise``."""
    rng = np.random.default_rng(seed)
    sharp = ndimage.gaussian_filter(rng.random((96, 96)), smooth)
    sharp = ((sharp - sharp.min()) / (sharp.max() - sharp.min())).astype(np.float32)
    blurry = ndimage.convolve(sharp, gaussian_psf(1.6), mode="reflect")
    blurry = (blurry + rng.normal(0, noise, sharp.shape)).astype(np.float32)
    return Pair(blurry[None], sharp[None], f"field:{seed}", (1.0, 0.0), {})


@pytest.mark.parametrize("noise,smooth,lower", [(0.01, 1.5, True), (0.05, 3.0, False)])
def test_the_noise_scale_is_calibrated_toward_what_the_held_out_pairs_want(noise, smooth, lower):
    # fine texture at moderate noise wants less regularisation than the network's estimate
    # gives (an untrained network is its Wiener estimate); smooth content under heavy noise more
    pairs = [scaled_pair(seed, noise, smooth) for seed in (0, 1)]
    scale, scores = calibrate_noise_scale(tiny_wiener_unet(), pairs, gaussian_psf(1.6))
    assert (scale < 1) if lower else (scale > 1)
    assert scale == max(scores, key=scores.get) and scores[scale] >= scores[1.0] + 0.05


def test_a_calibration_within_the_margin_keeps_one(monkeypatch):
    from napari_microdeblur.core import psf_aware

    monkeypatch.setattr(psf_aware, "NOISE_SCALE_MIN_GAIN_DB", 100.0)
    pairs = [scaled_pair(0, 0.01, 1.5)]
    scale, scores = calibrate_noise_scale(tiny_wiener_unet(), pairs, gaussian_psf(1.6))
    assert scale == 1.0 and max(scores, key=scores.get) != 1.0


def test_weights_run_at_their_calibrated_noise_scale_times_the_users():
    model, card = load_model(DEFAULT_PSF_AWARE)
    calibrated = card.model_copy(update={"metrics": {**card.metrics,
                                                     CALIBRATED_NOISE_SCALE_KEY: 0.6}})
    blurry = blurred_pair(3, (64, 64))[0]

    def run(card, noise_scale):
        from napari_microdeblur.core.inference import deblur

        method = psf_aware_method(model, "gaussian:1.6", card, noise_scale=noise_scale,
                                  precision="float32")
        return method.parameters, deblur(blurry, method=method, axes="YX", device="cpu")

    params, out = run(calibrated, 1.5)
    plain_params, plain = run(card, 0.6 * 1.5)
    reference = run(card, 1.5)[1]
    assert params[CALIBRATED_NOISE_SCALE_KEY] == 0.6 and params["noise_scale"] == 1.5
    assert CALIBRATED_NOISE_SCALE_KEY not in plain_params
    np.testing.assert_allclose(out, plain, atol=1e-6)
    assert np.abs(out - reference).max() > 1e-3


def test_bound_noise_scale_applies_to_the_bound_psf_only():
    model, psf = tiny_wiener_unet().eval(), torch.from_numpy(gaussian_psf(1.6))
    x = torch.from_numpy(blurred_pair(4, (48, 48))[0])[None, None]
    model.bind_psf(psf, noise_scale=0.5)
    with torch.no_grad():
        bound, explicit = model(x), model(x, psf, noise_scale=0.5)
        plain = model(x, psf)
    torch.testing.assert_close(bound, explicit)
    assert (bound - plain).abs().max() > 1e-4
    model.bind_psf(None)
    assert model.bound_noise_scale == 1.0


def test_calibrating_before_training_starts_from_the_better_scale(tmp_path):
    # fine texture at moderate noise: the untrained network does better below scale 1
    rng = np.random.default_rng(5)
    sharp = ndimage.gaussian_filter(rng.random((96, 96)), 1.5)
    sharp = ((sharp - sharp.min()) / (sharp.max() - sharp.min())).astype(np.float32)
    blurry = (ndimage.convolve(sharp, gaussian_psf(1.6), mode="reflect")
              + rng.normal(0, 0.01, sharp.shape)).astype(np.float32)
    runs = {}
    for when in ("off", "before and after"):
        folder = tmp_path / when.replace(" ", "_")
        folder.mkdir()
        runs[when] = drive(iter_finetune(request(
            tiny_wiener_unet(), blurry, sharp, folder, psf="gaussian:1.6", steps=2,
            noise_scale_calibration=when)))
    before, off = runs["before and after"], runs["off"]
    assert "trained at noise scale" in before.card.training_data
    assert "trained at noise scale" not in off.card.training_data
    assert start_psnr(before) > start_psnr(off) + 0.05
    assert off.card.metrics[CALIBRATED_NOISE_SCALE_KEY] == 1.0
    assert "val_psnr_by_noise_scale" not in off.card.metrics


def test_an_unknown_calibration_is_refused_before_training(tmp_path):
    blurry, sharp = blurred_pair()
    job = iter_finetune(request(tiny_wiener_unet(), blurry, sharp, tmp_path, psf="gaussian:1.6",
                                noise_scale_calibration="sometimes"))
    with pytest.raises(ValueError, match="noise_scale_calibration='sometimes'; accepted: 'off'"):
        next(job)
