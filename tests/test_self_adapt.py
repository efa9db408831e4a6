"""Adaptation without a reference (core.self_adapt, `microdeblur finetune --self`)."""

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
import torch
from _scripts import load_script
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.metrics import psnr
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.self_adapt import (
    SelfAdaptConfig,
    blur_valid,
    estimate_noise,
    iter_self_adapt,
    self_adapt,
)
from napari_microdeblur.core.training import FitProgress

PSF = gaussian_psf(1.6, size=13)


def blurred_scene(seed=0, shape=(128, 160), noise=0.01):
    """Blobs blurred by PSF with Gaussian noise: (sharp, blurred), intensities 0.1-0.9."""
    rng = np.random.default_rng(seed)
    sharp = (ndimage.gaussian_filter(rng.random(shape), 2.5) > 0.5) * 0.8 + 0.1
    blurred = ndimage.convolve(sharp, PSF, mode="reflect") + rng.normal(0, noise, shape)
    return sharp.astype(np.float32), blurred.astype(np.float32)


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return registry.build_model("c2f_unet", {**registry.get_arch("c2f_unet").tiny_config,
                                             "global_skip": True})


def quick(**changes):
    """A run bounded by steps, not time (a loaded machine must not change the result): the
    time limit is far away, so validation runs at the start and after the last step."""
    return SelfAdaptConfig(**{"minutes": 30.0, "patch": 32, "batch_size": 4, "lr": 1e-3,
                              "device": "cpu", "max_steps": 60, **changes})


def test_blur_valid_matches_scipy_inside():
    x = np.random.default_rng(1).random((40, 50))
    psf = np.random.default_rng(2).random((5, 7))
    psf /= psf.sum()
    ours = blur_valid(torch.from_numpy(x)[None, None], torch.from_numpy(psf))[0, 0].numpy()
    theirs = ndimage.convolve(x, psf, mode="constant")[2:-2, 3:-3]
    assert ours.shape == (36, 44)
    np.testing.assert_allclose(ours, theirs, atol=1e-10)


@pytest.mark.parametrize("true_gain,true_variance", [(0.002, 1e-4), (0.0, 4e-4)])
def test_noise_estimate_finds_poisson_gaussian_levels(true_gain, true_variance):
    rng = np.random.default_rng(0)
    clean = ndimage.gaussian_filter(rng.random((256, 256)), 6)
    clean = (clean - clean.min()) / np.ptp(clean)
    noisy = clean + rng.normal(0, 1, clean.shape) * np.sqrt(true_gain * clean + true_variance)
    gain, variance = estimate_noise(noisy)
    for level in (0.2, 0.8):  # the variance the model gives at dark and bright pixels
        expected = true_gain * level + true_variance
        assert gain * level + variance == pytest.approx(expected, rel=0.25)


def test_self_adaptation_lowers_held_out_loss_and_keeps_psnr():
    sharp, blurred = blurred_scene()
    model = tiny_model()
    before = deblur(blurred, method=model, axes="YX", device="cpu", precision="float32")
    records = []
    result = self_adapt(model, blurred, PSF, axes="YX", config=quick(), callback=records.append)
    after = deblur(blurred, method=result.model, axes="YX", device="cpu", precision="float32")
    assert result.improved and result.best_val_loss < 0.8 * result.start_val_loss
    assert psnr(after, sharp, data_range=1.0) >= psnr(before, sharp, data_range=1.0)
    steps = [r for r in records if isinstance(r, FitProgress)]
    assert steps and steps[-1].step == result.steps_done and steps[-1].val_psnr is None
    assert result.history[0]["step"] == 0 and len(result.history) >= 2


def test_starting_weights_come_back_when_nothing_improves():
    _, blurred = blurred_scene()
    model = tiny_model()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    # a learning rate this high only makes things worse: validation must catch it
    result = self_adapt(model, blurred, PSF, axes="YX", config=quick(lr=10.0, max_steps=5))
    assert not result.improved and result.best_step == 0
    assert any("starting weights" in n or "loss became" in n for n in result.notes)
    for k, v in result.model.state_dict().items():
        assert torch.equal(v, start[k])


def test_a_blind_network_is_pulled_toward_the_psf_aware_result():
    """prior_from 'auto' on a blind network: the prior is the PSF-aware default given the PSF;
    with a heavy prior the adapted output moves toward that result."""
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE

    _, blurred = blurred_scene()
    model = tiny_model()
    teacher = deblur(blurred, method=MethodSpec(DEFAULT_PSF_AWARE, psf=PSF,
                                                precision="float32"), axes="YX", device="cpu")
    before = deblur(blurred, method=model, axes="YX", device="cpu", precision="float32")
    result = self_adapt(model, blurred, PSF, axes="YX", config=quick(prior_weight=5.0))
    after = deblur(blurred, method=result.model, axes="YX", device="cpu", precision="float32")
    assert DEFAULT_PSF_AWARE in result.prior_text
    assert any(DEFAULT_PSF_AWARE in n for n in result.notes)
    assert np.mean((after - teacher) ** 2) < 0.5 * np.mean((before - teacher) ** 2)


def test_prior_from_start_keeps_the_unadapted_network_as_the_prior():
    _, blurred = blurred_scene()
    result = self_adapt(tiny_model(), blurred, PSF, axes="YX",
                        config=quick(prior_from="start", max_steps=2))
    assert result.prior_text == "the unadapted network's output"


def test_a_set_event_stops_before_the_first_step():
    _, blurred = blurred_scene()
    stop = threading.Event()
    stop.set()
    result = self_adapt(tiny_model(), blurred, PSF, axes="YX", config=quick(), stop=stop)
    assert result.stopped == "stopped" and result.steps_done == 0 and not result.improved


@pytest.mark.parametrize("images,psf,config,message", [
    (np.random.default_rng(0).random((40, 40), np.float32), PSF, SelfAdaptConfig(),
     "too small to hold out"),  # not constant: a constant image is refused first
    (None, "gaussian:nope", SelfAdaptConfig(), "gaussian:nope"),
    (None, PSF, SelfAdaptConfig(minutes=0), "minutes=0"),
    (None, PSF, SelfAdaptConfig(val_fraction=1.0), "val_fraction"),
    (None, PSF, SelfAdaptConfig(prior_from="teacher"), "prior_from='teacher'"),
    (None, np.full((5, 5), np.nan), SelfAdaptConfig(), "NaN"),
    ([], PSF, SelfAdaptConfig(), "no images"),
])
def test_bad_input_is_one_clear_error_before_any_work(images, psf, config, message):
    model = tiny_model()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    image = blurred_scene()[1] if images is None else images
    with pytest.raises((ValueError, TypeError), match=message):
        iter_self_adapt(model, image, psf, axes="YX", config=config)
    assert all(torch.equal(v, start[k]) for k, v in model.state_dict().items())


def test_rgb_image_for_a_gray_network_adapts_channel_by_channel():
    _, blurred = blurred_scene(shape=(96, 128))
    rgb = np.stack([blurred, blurred * 0.5, blurred * 0.8], -1)
    job = iter_self_adapt(tiny_model(), rgb, PSF, axes="YXS", config=quick(max_steps=1))
    notes = next(job)
    assert notes.get("planes") == 3
    job.close()


def test_rgb_image_for_a_psf_aware_network_adapts_its_luminance_and_chroma(monkeypatch):
    _, blurred = blurred_scene(shape=(96, 128))
    rgb = np.stack([blurred, blurred * 0.5, blurred * 0.8], -1)
    torch.manual_seed(0)
    model = registry.build_model("wiener_unet", registry.get_arch("wiener_unet").tiny_config)
    job = iter_self_adapt(model, rgb, PSF, axes="YXS", config=quick(max_steps=1))
    notes = next(job)
    job.close()
    assert notes.get("planes") == 3
    # the planes are the luminance and chroma the network runs on (psf_aware.to_opponent)
    from napari_microdeblur.core import self_adapt as module

    opponent = module._planes_of([rgb], "YXS", model, None)
    by_channel = module._planes_of([rgb], "YXS", tiny_model(), None)  # a blind gray network
    assert [p.name for p in opponent] == [
        "image 0 plane 0 luminance", "image 0 plane 0 chroma 1", "image 0 plane 0 chroma 2"]
    assert [p.chroma for p in opponent] == [False, True, True]
    assert not any(p.chroma for p in by_channel)
    lum = opponent[0].y[0]
    np.testing.assert_allclose(lum, np.mean([p.y[0] for p in by_channel], axis=0), atol=1e-5)
    # an estimated PSF comes from the luminance, not a chroma plane
    given = []
    estimate = module.estimate_psf
    monkeypatch.setattr(module, "estimate_psf", lambda plane: given.append(plane) or
                        estimate(plane))
    est = iter_self_adapt(model, rgb, "estimate", axes="YXS", config=quick(max_steps=1))
    assert "estimated from image 0" in next(est).get("psf")
    est.close()
    np.testing.assert_allclose(given[0], lum, atol=1e-6)


def test_the_prior_of_a_blind_network_on_rgb_is_the_psf_aware_method_as_it_runs_rgb():
    """A blind RGB network is pulled toward the PSF-aware default's result as that method gives
    it for an RGB image (luminance and chroma), not channel by channel."""
    from napari_microdeblur.core import self_adapt as module
    from napari_microdeblur.core.inference import Normalization
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE

    _, blurred = blurred_scene(shape=(64, 80))
    y = np.stack([blurred, 0.5 * blurred + 0.2, 0.8 * blurred]).astype(np.float32)
    teacher, _ = load_model(DEFAULT_PSF_AWARE)
    prior = module._prior_output(teacher, y, PSF, "cpu")
    spec = MethodSpec(DEFAULT_PSF_AWARE, psf=PSF, precision="float32")
    as_run = deblur(np.moveaxis(y, 0, -1), method=spec, axes="YXS", device="cpu",
                    normalization=Normalization(0.0, 1.0, kind="none"))
    np.testing.assert_allclose(prior, np.moveaxis(as_run, -1, 0), atol=1e-4)
    by_channel = np.stack([module._prior_output(teacher, c[None], PSF, "cpu")[0] for c in y])
    assert np.abs(prior - by_channel).max() > 1e-3


@pytest.fixture
def base_weights(tmp_path):
    path = tmp_path / "base.safetensors"
    save_weights(tiny_model(), path, {"license": "CC0-1.0"})
    return path


def run_cli_self(tmp_path, base_weights, psf: str, steps: int):
    """`finetune --self` on blurred_scene() with ``psf``: (blurred image, adapted card)."""
    _, blurred = blurred_scene()
    image = tmp_path / "blurry.tif"
    tifffile.imwrite(image, blurred)
    out = tmp_path / "adapted.safetensors"
    assert main(["finetune", "--self", str(image), "--psf", psf, "--weights",
                 str(base_weights), "--out", str(out), "--steps", str(steps), "--patch", "32",
                 "--batch", "2", "--device", "cpu", "-q"]) == 0
    return blurred, load_model(out)[1]


def test_cli_self_writes_adapted_weights(tmp_path, base_weights, capsys):
    _, card = run_cli_self(tmp_path, base_weights, "gaussian:1.6", steps=3)
    # the start's licence AND the image's, which --self does not state
    assert "blurry.tif" in card.training_data and card.license == "CC0-1.0 AND NOASSERTION"
    assert "prior: the output of wiener_unet." in card.description
    assert "self_val_loss" in card.metrics
    printed = capsys.readouterr()
    assert "data-consistency loss" in printed.out
    notes = [line for line in printed.err.splitlines() if line.startswith("note: ")]
    assert any("prior: the output of wiener_unet." in n for n in notes)
    assert len(notes) == len(set(notes))  # each note once (the prior's was printed twice)


@pytest.mark.parametrize("extra,message", [
    ([], "--self needs --psf"),
    (["--psf", "gaussian:1.6", "--minutes", "0"], "--minutes 0"),
    (["--psf", "gaussian:1.6", "--stack", "x.tif"], "leave out --stack"),
])
def test_cli_self_bad_options_fail_before_work(tmp_path, base_weights, capsys, extra, message):
    image = tmp_path / "blurry.tif"
    tifffile.imwrite(image, blurred_scene()[1])
    out = tmp_path / "adapted.safetensors"
    code = main(["finetune", "--self", str(image), "--weights", str(base_weights), "--out",
                 str(out), *extra])
    assert code != 0 and message in capsys.readouterr().err
    assert not out.exists()


def test_cli_self_prior_with_pairs_is_refused(tmp_path, base_weights, capsys):
    out = tmp_path / "tuned.safetensors"
    code = main(["finetune", "--stack", "x.tif", "--self-prior", "start", "--weights",
                 str(base_weights), "--out", str(out)])
    assert code != 0 and "--self-prior is for --self" in capsys.readouterr().err
    assert not out.exists()


def finetune_benchmark():
    """benchmarks/finetune.py as a module (it is a script, not part of the package)."""
    return load_script("benchmarks/finetune.py", "finetune_benchmark", on_path=False)


@pytest.mark.skipif(
    not (Path(__file__).resolve().parents[2] / "shared" / "data").is_dir(),
    reason="needs ../shared/data (the benchmark's held-out sets)",
)
def test_benchmark_quick_writes_the_json(tmp_path):
    bench = finetune_benchmark()
    out = tmp_path / "finetune.json"
    assert bench.main(["--quick", "--part", "b", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["quick"] and result["parts"] == ["b"]
    rows = result["b"]["rows"]
    assert rows and {"set", "degradation", "network", "unadapted", "adapted", "gain_db"} <= set(
        rows[0])
    assert out.with_suffix(".md").read_text().startswith("# Fine-tuning")


@pytest.mark.parametrize("option,value", [("--modalities", "em,xray"),
                                          ("--degradations", "A,Z")])
def test_benchmark_refuses_an_unknown_subset_before_any_work(option, value, tmp_path, capsys):
    bench = finetune_benchmark()
    out = tmp_path / "finetune.json"
    with pytest.raises(SystemExit):
        bench.main(["--part", "b", option, value, "--out", str(out)])
    assert f"{option} {value!r}: give some of" in capsys.readouterr().err
    assert not out.exists()


def test_benchmark_rerun_of_one_part_keeps_the_others():
    """benchmarks/finetune.py --part X merges into the JSON already there: the other parts
    stay, each with the run (and budgets) that made it; a --quick run starts afresh."""
    bench = finetune_benchmark()
    run = {"command": "old", "git_commit": "c0", "minutes": 30.0, "machine": "m"}
    budgets = {"paired_minutes": 5.0, "self_minutes": 3.0}
    previous = {"quick": False, "parts": ["a", "b"], "budgets": budgets, "a": {"rows": [1]},
                "b": {"rows": [2]}, **run}
    new = {"quick": False, "parts": ["a"], "budgets": budgets, "a": {"rows": [3]},
           "command": "new", "git_commit": "c1", "minutes": 5.0, "machine": "m"}
    result = bench.merged(previous, dict(new))
    assert result["a"] == {"rows": [3]} and result["b"] == {"rows": [2]}
    assert result["runs"]["a"]["git_commit"] == "c1" and result["runs"]["b"]["command"] == "old"
    assert result["parts"] == ["a", "b"]
    text = bench.markdown(result | {"a": {"start": "s", "rows": []},
                                    "b": {"rows": [], "networks": []}})
    assert "Part a: command: `new`; commit c1" in text and "Part b: command: `old`" in text
    # again on top: the part b record is kept as it was
    again = bench.merged(result, dict(new, command="newer", git_commit="c2"))
    assert again["runs"]["b"]["git_commit"] == "c0" and again["runs"]["a"]["git_commit"] == "c2"
    # a part rerun with other budgets keeps the others, each with its own budgets
    other = bench.merged(previous, dict(new, budgets={"paired_minutes": 1.0}))
    assert other["b"] == {"rows": [2]} and other["runs"]["b"]["budgets"] == budgets
    assert bench.part_budgets(other, "a") == {"paired_minutes": 1.0}
    assert bench.part_budgets(other, "b") == budgets
    quick = bench.merged(previous, dict(new, quick=True))
    assert "b" not in quick and list(quick["runs"]) == ["a"]


def test_psf_aware_weights_record_their_blocked_correction_for_the_safeguard():
    from napari_microdeblur.core import psf_safeguard

    _, blurred = blurred_scene()
    torch.manual_seed(0)
    model = registry.build_model("wiener_unet", registry.get_arch("wiener_unet").tiny_config)
    result = self_adapt(model, blurred, PSF, axes="YX", config=quick(max_steps=3))
    ratio = result.blocked_correction_ratio
    assert ratio is not None and ratio >= 0
    card = result.card(None, base_label="tiny", what="a test image", psf_text="gaussian:1.6")
    assert card["metrics"]["blocked_correction_ratio"] == ratio
    assert psf_safeguard.correction_limit(SimpleNamespace(metrics=card["metrics"])) == max(
        psf_safeguard.CORRECTION_LIMIT, psf_safeguard.VALIDATED_MARGIN * ratio)
    # the widest PSF the start was trained on stays the safeguard's bar for the adapted weights
    # (their own card's degradation is the user's PSF): here a start trained on 49 px
    # aberrated PSFs, whose half-maximum width reaches 55.3 px
    start = SimpleNamespace(degradation=json.dumps({
        "psf_ranges": {"gaussian_sigma": [0.6, 3.0], "disk_radius": [1.0, 4.0],
                       "astig_sigma_major": [1.0, 3.5]}, "psf_side": 49, "p_aberrated": 0.4}),
        training_data="", license="unknown", normalization=None)
    adapted = SimpleNamespace(**result.card(start, base_label="start", what="x"))
    assert psf_safeguard.trained_half_max_width(adapted) == pytest.approx(55.3, abs=0.01)
    assert psf_safeguard.trained_half_max_width(
        SimpleNamespace(**card)) == pytest.approx(2.3548 * 3.5, rel=1e-3)  # no start card
    # a network that takes no PSF has nothing to record
    plain = self_adapt(tiny_model(), blurred, PSF, axes="YX", config=quick(max_steps=2))
    assert plain.blocked_correction_ratio is None
    assert "blocked_correction_ratio" not in plain.card()["metrics"]


def test_cli_self_with_an_estimated_psf_records_which(tmp_path, base_weights, capsys):
    from napari_microdeblur.core.psf_estimate import estimate_psf

    blurred, card = run_cli_self(tmp_path, base_weights, "estimate", steps=2)
    lo, hi = np.percentile(blurred, (0.1, 99.9))  # the base card's percentile normalisation
    spec = estimate_psf((blurred - lo) / (hi - lo)).spec
    assert f"{spec} (estimated from image 0)" in card.degradation
