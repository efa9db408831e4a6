"""Training engine: every regime on tiny configs, repeatability, cancel, resume, bad input.

All runs are tiny (a few steps of 2-4 patches of 32 px on the registry's tiny configs) on the
real test crops degraded with the protocols of docs/evaluation.md.
"""

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch
from test_cycle_psf_2026_12_09 import quick_spectral_fit  # noqa: F401

from napari_microdeblur.core import data, training
from napari_microdeblur.core.degrade import degrade
from napari_microdeblur.core.registry import build_model, get_arch
from napari_microdeblur.core.training import TrainingConfig
from napari_microdeblur.core.training.losses import multiscale_l1

SMALL_D = {
    "gran_gan": {"base_channels": 4, "n_blocks": 3, "fc_channels": 8},
    "sgpn": {"base_channels": 4, "n_layers": 3},
    "psf_cyclegan": {"base_channels": 4, "n_layers": 3},
}


def tiny(name: str, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model(name, {**get_arch(name).tiny_config, **overrides})


@pytest.fixture(scope="module")
def train_a(fluo_u8):
    return data.SyntheticData([fluo_u8], "A")


@pytest.fixture(scope="module")
def val_a(fluo_u16):
    return data.SyntheticData([fluo_u16], "A").validation_pairs()


DATA_ARGS = ("unpaired", "unpaired_sharp", "resume_from")


def split(kw: dict) -> tuple[TrainingConfig, dict]:
    """(the config, iter_fit's data arguments) of one dict of options."""
    data_args = {k: kw.pop(k) for k in DATA_ARGS if k in kw}
    return TrainingConfig(**kw), data_args


def run(model, train, val=None, **kw):
    args = dict(steps=3, batch_size=2, patch=32, lr=1e-3, device="cpu", val_every=1)
    args.update(kw)
    config, data_args = split(args)
    records = []
    result = training.fit(model, config, train, val, callback=records.append, **data_args)
    return records, result


def weights_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- regimes


@pytest.mark.usefixtures("quick_spectral_fit")  # the start's fit is not checked here
@pytest.mark.parametrize(
    ("regime", "arch", "loss"),
    [
        ("supervised", "gran", "l1"),
        ("supervised", "gran", "mse"),
        ("supervised", "c2f_unet", "multiscale"),
        ("gran_gan", "gran", "l1"),
        ("sgpn", "sgpn", "l1"),
        ("psf_cyclegan", "psf_cyclegan", "l1"),
    ],
)
def test_each_regime_runs_and_its_losses_are_finite(regime, arch, loss, train_a, val_a, fluo_u16):
    kw = {"regime": regime, "loss": loss}
    if regime != "supervised":
        kw["discriminator"] = SMALL_D[regime]
    if regime == "sgpn":
        kw["unpaired"] = [degrade(fluo_u16, "B", seed=3)]  # unpaired blurry images
    records, result = run(tiny(arch), train_a, val_a, **kw)
    assert [r.step for r in records] == [1, 2, 3]
    for r in records:
        assert all(math.isfinite(v) for v in r.losses.values())
        assert math.isfinite(r.val_psnr) and math.isfinite(r.val_ssim)
        assert r.lr > 0 and r.seconds_left >= 0
    terms = set(records[-1].losses)
    expected = {
        "supervised": {"content"},
        "gran_gan": {"content", "adversarial", "discriminator"},
        "sgpn": {"content", "adversarial", "unsupervised", "discriminator"},
        "psf_cyclegan": {"adversarial", "cycle", "psf", "discriminator"},
    }[regime]
    assert expected <= terms
    if regime in ("gran_gan", "sgpn"):  # they ask for the perceptual loss: offline features
        assert "offline microscopy features" in records[0].message
        assert records[-1].losses["perceptual"] > 0
    if regime == "psf_cyclegan":
        assert records[-1].losses["psf"] > 1.0  # sparsity: 1 for a single pixel, more if spread
    assert result.best_metrics["step"] in (0, 1, 2, 3)
    assert result.baseline["val_psnr"] > 0


def _discriminator_margin(disc, model, source) -> float:
    """Mean D(sharp) - D(network output) on 16 fixed patches; D normalises each batch by its
    own statistics, as in training (real and generated images go through it apart)."""
    x, y = source.sample(np.random.default_rng(123), 16, 32)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    with torch.no_grad():
        return float(disc(y).float().mean() - disc(model(x)).float().mean())


@pytest.mark.parametrize(("regime", "arch", "before", "after", "steps"), [
    ("gran_gan", "gran", 0.01, 0.03, 30),
    ("sgpn", "sgpn", 0.06, 0.1, 15),
])
def test_the_discriminator_learns_to_tell_sharp_images_from_the_outputs(
        regime, arch, before, after, steps, train_a, fluo_u16, tmp_path):
    """What the adversarial regimes are for: after 30 steps the discriminator scores sharp
    patches above the starting network's outputs, which it did not at the start. Measured
    against the starting outputs, on the mean of three seeds: the generator trains too, so
    against its own moving outputs the margin hovers near the game's balance, and SGPN's
    augmented discriminator learns at a rate that varies from seed to seed (0.00-0.41 against
    the starting outputs over five seeds, 0.04-0.07 for GRAN_GAN). SGPN's steps cost ~4x
    GRAN_GAN's and its discriminator learns faster: 15 steps (seeds 0-2: 0.36, 0.11, 0.28,
    mean 0.25; at 30 steps 0.53, 0.17, 0.17, mean 0.29; at the start < 0.06)."""
    from napari_microdeblur.core.training.regimes import get_regime

    margins = []
    for seed in (0, 1, 2):
        model = tiny(arch, seed=seed)
        start = copy.deepcopy(model)
        with torch.random.fork_rng(devices=[]):  # the run builds its discriminator this way
            torch.manual_seed(0)
            initial = get_regime(regime)(None).build_discriminator(1, SMALL_D[regime])
        trained = copy.deepcopy(initial)
        assert _discriminator_margin(initial, start, train_a) < before
        unlabelled = ({"unpaired": [degrade(fluo_u16, "B", seed=3)]} if regime == "sgpn"
                      else {})
        run(model, train_a, None, regime=regime, discriminator=SMALL_D[regime], steps=steps,
            batch_size=4, d_lr=3e-3, warmup=0, checkpoint_dir=tmp_path / str(seed),
            seed=seed, **unlabelled)
        state = torch.load(tmp_path / str(seed) / "last.pt", weights_only=True)
        trained.load_state_dict(state["discriminator"])
        margins.append(_discriminator_margin(trained, start, train_a))
    assert np.mean(margins) > after, margins


@pytest.mark.parametrize(("regime", "arch", "term"), [
    ("gran_gan", "gran", "adversarial"),
    ("sgpn", "sgpn", "adversarial"),
    ("sgpn", "sgpn", "unsupervised"),
])
def test_each_adversarial_term_reaches_the_network(regime, arch, term, train_a, fluo_u16):
    """The same run without the term ends with other weights: its gradient reaches G."""
    kw = dict(regime=regime, discriminator=SMALL_D[regime], steps=3, seed=1)
    if regime == "sgpn":
        kw["unpaired"] = [degrade(fluo_u16, "B", seed=3)]
    with_term, without = tiny(arch), tiny(arch)
    run(with_term, train_a, None, **kw)
    run(without, train_a, None, loss_weights={term: 0.0}, **kw)
    assert not weights_equal(with_term.state_dict(), without.state_dict())


@pytest.mark.usefixtures("quick_spectral_fit")  # same margins as at 300: 0.59, 0.52
def test_psf_cyclegan_closes_the_cycle_and_learns_a_valid_psf(train_a):
    """Over 60 steps the cycle loss and the discriminators' loss fall, and the PSF layer
    moves while staying a PSF (non-negative, sum 1)."""
    model = tiny("psf_cyclegan")
    kernel0 = model.psf.kernel().detach().clone()
    records, _ = run(model, train_a, None, regime="psf_cyclegan", steps=60, warmup=0,
                     psf_warmup=0, discriminator=SMALL_D["psf_cyclegan"])
    for term in ("cycle", "discriminator"):
        series = [r.losses[term] for r in records]
        assert np.mean(series[-5:]) < 0.85 * np.mean(series[:5]), term
    kernel = model.psf.kernel().detach()
    assert float((kernel - kernel0).abs().sum()) > 1e-4
    assert float(kernel.min()) >= 0 and float(kernel.sum()) == pytest.approx(1.0, abs=1e-5)


def test_multiscale_loss_uses_the_pyramid(train_a):
    model = tiny("c2f_unet")
    calls = []
    original = model.forward_pyramid

    def counting(x):
        calls.append(x.shape)
        return original(x)

    model.forward_pyramid = counting
    run(model, train_a, None, loss="multiscale", steps=2)
    assert len(calls) >= 2  # one per step (validation runs forward, not the pyramid)
    # a model without a pyramid gets the average-pooled multi-scale L1
    loss, pred = multiscale_l1(
        tiny("gran"), torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    )
    assert loss.ndim == 0 and pred.shape == (2, 1, 32, 32)


def test_supervised_l1_on_protocol_a_lowers_the_validation_loss(train_a, val_a):
    _, result = run(tiny("gran"), train_a, val_a, steps=30, batch_size=4, val_every=10, warmup=0)
    losses = [h["val_loss"] for h in result.history]
    assert [h["step"] for h in result.history] == [0, 10, 20, 30]
    assert losses[-1] < 0.6 * losses[0]
    assert result.best_metrics["val_psnr"] == max(h["val_psnr"] for h in result.history)


def test_a_model_that_deblurred_can_still_be_trained(train_a, fluo_u8):
    """Deblurring runs inside inference mode; the model it moved there must stay trainable
    (the Fine-tune dock previews with the weights it is training)."""
    from napari_microdeblur.core.inference import deblur

    model = tiny("gran")
    deblur(fluo_u8[:64, :64], method=model, device="cpu")
    assert not any(p.is_inference() for p in model.parameters())
    _, result = run(model, train_a, steps=2, batch_size=2)
    assert result.steps_done == 2


@pytest.mark.parametrize("arch,channels_last", [("gran", True), ("c2f_unet", True),
                                                 ("sgpn", False)])
def test_training_runs_channels_last_where_that_is_faster(arch, channels_last, train_a,
                                                          tmp_path):
    """core.memory.fast_layout: 2D weights channels-last for training (measured faster by
    benchmarks/train_step_layout.py), except SGPN's (measured slower); the weights still save."""
    from napari_microdeblur.core.checkpoint import load_model, save_weights

    model = tiny(arch)
    _, result = run(model, train_a, steps=1, batch_size=2)
    convs = [p for p in model.parameters() if p.ndim == 4 and p.shape[-1] > 1]
    assert convs and result.steps_done == 1
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in convs) is channels_last
    assert all(p.is_contiguous() for p in convs) is not channels_last
    save_weights(model, tmp_path / "w.safetensors", {"license": "CC0-1.0"})
    loaded, _ = load_model(tmp_path / "w.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 loaded.state_dict().values()))


def test_fast_layout_leaves_3d_weights_and_lays_out_2d_ones():
    # A network with 3D convolutions (PSF-CycleGAN's 3D generator) beside 2D ones: Module.to(
    # memory_format=channels_last) would refuse the 5-D weights; fast_layout must not.
    from napari_microdeblur.core.memory import fast_layout

    model = torch.nn.Sequential(torch.nn.Conv3d(1, 4, 3), torch.nn.Conv2d(4, 4, 3))
    parameter = model[1].weight
    assert fast_layout(model, torch.device("cpu")) is model
    assert model[1].weight is parameter  # optimisers built before still hold it
    assert parameter.is_contiguous(memory_format=torch.channels_last)
    assert not parameter.is_contiguous()
    assert model[0].weight.is_contiguous()


def test_perceptual_loss_with_local_vgg_weights(train_a, tmp_path):
    # Randomly initialised VGG-19 layers in torchvision's layout: tests the loading path only.
    torch.manual_seed(0)
    vgg = training.VGGFeatures()
    torch.save(
        {f"features.{k}": v for k, v in vgg.features.state_dict().items()}, tmp_path / "v.pth"
    )
    records, result = run(tiny("gran"), train_a, None, steps=2, vgg_weights=tmp_path / "v.pth")
    assert records[0].losses["perceptual"] > 0
    assert not result.notes
    torch.save({"unrelated.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="lacks VGG-19 layers"):
        training.iter_fit(
            tiny("gran"), {"steps": 1, "patch": 32, "vgg_weights": tmp_path / "bad.pth"}, train_a
        )


def test_offline_microscopy_features_give_the_perceptual_loss(train_a, val_a):
    from napari_microdeblur.core.training.losses import MicroscopyFeatures, perceptual_loss

    features = MicroscopyFeatures()
    features.train()
    assert not features.training and not any(p.requires_grad for p in features.parameters())
    torch.manual_seed(0)
    sharp = torch.rand(2, 1, 64, 64)
    blurred = torch.nn.functional.avg_pool2d(sharp, 5, stride=1, padding=2)
    assert float(perceptual_loss(features, sharp, sharp)) == 0.0
    pred = blurred.clone().requires_grad_(True)
    loss = perceptual_loss(features, pred, sharp)
    loss.backward()
    assert float(loss) > 0 and float(pred.grad.abs().sum()) > 0
    # colour is averaged to gray
    assert float(perceptual_loss(features, sharp.repeat(1, 3, 1, 1), sharp)) < 1e-9
    records, result = run(tiny("gran"), train_a, val_a, regime="gran_gan",
                          discriminator=SMALL_D["gran_gan"])  # the default features
    assert "offline microscopy features" in records[0].message
    assert training.SKIPPED_PERCEPTUAL not in result.notes
    assert all(r.losses["perceptual"] > 0 for r in records)
    # 'none' leaves the term out, with a note
    records, result = run(tiny("gran"), train_a, val_a, regime="gran_gan",
                          discriminator=SMALL_D["gran_gan"], perceptual_features="none")
    assert training.SKIPPED_PERCEPTUAL in result.notes
    assert "perceptual" not in records[-1].losses or records[-1].losses["perceptual"] == 0


# ----------------------------------------------------------------------------- repeatability


def test_two_runs_with_the_same_seed_give_identical_weights(train_a, val_a):
    a, b, c = tiny("gran"), tiny("gran"), tiny("gran")
    run(a, train_a, val_a, steps=5, seed=3)
    run(b, train_a, val_a, steps=5, seed=3)
    run(c, train_a, val_a, steps=5, seed=4)
    assert weights_equal(a.state_dict(), b.state_dict())
    assert not weights_equal(a.state_dict(), c.state_dict())


@pytest.mark.usefixtures("quick_spectral_fit")  # the start's fit is not checked here
def test_gan_runs_are_repeatable_too(train_a):
    kw = dict(regime="psf_cyclegan", discriminator=SMALL_D["psf_cyclegan"], steps=3, seed=1)
    a, b = tiny("psf_cyclegan"), tiny("psf_cyclegan")
    run(a, train_a, None, **kw)
    run(b, train_a, None, **kw)
    assert weights_equal(a.state_dict(), b.state_dict())


# ----------------------------------------------------------------------------- cancel / resume


def test_cancel_keeps_the_best_checkpoint(train_a, val_a, tmp_path):
    from napari_microdeblur.core.checkpoint import load_model

    model = tiny("gran")
    config = TrainingConfig(steps=50, batch_size=2, patch=32, lr=1e-3, device="cpu",
                            val_every=1, checkpoint_dir=tmp_path, card={"license": "CC0-1.0"})
    gen = training.iter_fit(model, config, train_a, val_a)
    records = [next(gen) for _ in range(4)]
    gen.close()  # Cancel
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    best_psnr = max(r.val_psnr for r in records)
    assert best["metrics"]["val_psnr"] == pytest.approx(best_psnr)
    assert best["metrics"]["step"] == max(records, key=lambda r: r.val_psnr).step
    loaded, card = load_model(tmp_path / "best.safetensors")
    assert weights_equal(loaded.state_dict(), best["model"])
    assert card.normalization == data.NORMALIZATION
    assert card.metrics["val_psnr"] == pytest.approx(best_psnr)
    assert card.license == "CC0-1.0" and "protocol A" in card.degradation
    assert card.training["steps"] == 50 and card.training["regime"] == "supervised"
    assert card.training["checkpoint_kept"] == "best validation PSNR"
    info = training.read_checkpoint_info(tmp_path)
    assert info["step"] == 4 and info["regime"] == "supervised"


def test_resume_continues_from_the_saved_step_and_matches_an_uninterrupted_run(
    train_a, val_a, tmp_path
):
    kw = dict(steps=6, batch_size=2, patch=32, lr=1e-3, device="cpu", val_every=2, seed=5)
    full = tiny("gran")
    training.fit(full, TrainingConfig(restore_best=False, **kw), train_a, val_a)

    part = tiny("gran")
    config = TrainingConfig(checkpoint_dir=tmp_path, checkpoint_every=3, restore_best=False, **kw)
    gen = training.iter_fit(part, config, train_a, val_a)
    steps_seen = [next(gen).step for _ in range(4)]
    gen.close()  # stopped after step 4; last.pt holds step 4
    assert steps_seen == [1, 2, 3, 4]

    resumed = tiny("gran", seed=99)  # different initial weights: all must come from last.pt
    records = []
    training.fit(resumed, TrainingConfig(restore_best=False, **kw), train_a, val_a,
                 resume_from=tmp_path, callback=records.append)
    assert [r.step for r in records] == [5, 6]
    assert weights_equal(resumed.state_dict(), full.state_dict())


def test_resume_on_other_validation_images_is_refused(train_a, val_a, tmp_path):
    kw = dict(steps=4, batch_size=2, patch=32, lr=1e-3, device="cpu", val_every=2, seed=5)
    run(tiny("gran"), train_a, val_a, checkpoint_dir=tmp_path, **kw)
    other = [dataclasses.replace(p, input=p.input[:, ::-1].copy(),
                                 target=p.target[:, ::-1].copy()) for p in val_a]
    with pytest.raises(ValueError, match="validated on other images"):
        training.iter_fit(tiny("gran"), TrainingConfig(**{**kw, "steps": 6}), train_a, other,
                          resume_from=tmp_path)
    records = []  # the same validation images resume as before
    training.fit(tiny("gran"), TrainingConfig(**{**kw, "steps": 6}), train_a, val_a,
                 resume_from=tmp_path, callback=records.append)
    assert [r.step for r in records] == [5, 6]


@pytest.mark.usefixtures("quick_spectral_fit")  # the start's fit is not checked here
def test_gan_resume_restores_discriminator_and_history_buffer(train_a, tmp_path):
    kw = dict(
        regime="psf_cyclegan",
        discriminator=SMALL_D["psf_cyclegan"],
        steps=4,
        seed=2,
        batch_size=2,
        patch=32,
        lr=1e-3,
        device="cpu",
    )
    full = tiny("psf_cyclegan")
    training.fit(full, kw, train_a)
    part = tiny("psf_cyclegan")
    gen = training.iter_fit(part, {**kw, "checkpoint_dir": tmp_path}, train_a)
    next(gen), next(gen)
    gen.close()
    resumed = tiny("psf_cyclegan", seed=7)
    training.fit(resumed, kw, train_a, resume_from=tmp_path / "last.pt")
    assert weights_equal(resumed.state_dict(), full.state_dict())


def test_time_limit_stops_early(train_a):
    _, result = run(tiny("gran"), train_a, None, steps=10_000, time_limit=0.3)
    assert result.stopped == "time_limit" and 0 < result.steps_done < 10_000


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": 0.0}, "lr"),
        ({"lr": -1e-3}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"steps": 0}, "steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"patch": 33}, "size_divisor"),
        ({"patch": 256}, "larger than"),
        ({"regime": "wgan"}, "regime"),
        ({"loss": "l3"}, "loss"),
        ({"amp": "fp16"}, "CUDA"),
        ({"device": "cuda:7"}, "cuda"),
        ({"checkpoint_every": 5}, "checkpoint_dir"),
        ({"resume_from": "/nonexistent/last.pt"}, "no checkpoint"),
        ({"loss_weights": {"cycle": 1.0}}, "unknown term"),
        ({"discriminator": {"base_channels": 4}}, "adversarial regimes"),
        ({"card": {"arch": "unet", "licence": "MIT"}}, "card"),
        ({"regime": "psf_cyclegan"}, "PSF layer"),
        ({"regime": "sgpn", "patch": 16, "discriminator": {"n_layers": 3},
          "unpaired": [np.random.default_rng(0).random((64, 64))]}, "too small"),
        ({"regime": "sgpn"}, "needs unpaired="),
        ({"loss_weights": {"content": -1.0}}, ">= 0"),
        ({"regime": "gran_gan", "loss_weights": {"adversarial": float("nan")}}, "finite"),
    ],
)
def test_bad_arguments_fail_before_training(kwargs, match, train_a):
    args = dict(steps=3, batch_size=2, patch=32, lr=1e-3, device="cpu")
    args.update(kwargs)
    data_args = {k: args.pop(k) for k in ("resume_from", "unpaired") if k in args}
    with pytest.raises(ValueError, match=match):  # raises on the call, not at next()
        training.iter_fit(tiny("gran"), args, train_a, **data_args)


def test_data_that_does_not_fit_the_model_is_refused(train_a, he_rgb):
    rgb = data.SyntheticData([he_rgb], "A")
    config = TrainingConfig(steps=1, patch=32)
    with pytest.raises(ValueError, match="channel"):
        training.iter_fit(tiny("gran"), config, rgb)
    with pytest.raises(ValueError, match="channel"):
        training.iter_fit(tiny("gran"), config, train_a, rgb.validation_pairs())
    with pytest.raises(ValueError, match="accepted"):
        training.iter_fit(tiny("gran"), config, "images/")
    with pytest.raises(ValueError, match="volumes"):
        training.iter_fit(
            build_model("psf_cyclegan", {"base_channels": 2, "depth": 2}),
            config.model_copy(update={"regime": "psf_cyclegan"}),
            train_a,
        )
    with pytest.raises(ValueError, match="unpaired= is for the regimes"):
        training.iter_fit(tiny("gran"), config, train_a, unpaired=[np.zeros((64, 64))])


def test_resume_of_another_regime_is_refused(train_a, tmp_path):
    run(tiny("gran"), train_a, None, steps=1, checkpoint_dir=tmp_path)
    config = TrainingConfig(steps=2, patch=32, regime="gran_gan",
                            discriminator=SMALL_D["gran_gan"])
    with pytest.raises(ValueError, match="regime"):
        training.iter_fit(tiny("gran"), config, train_a, resume_from=tmp_path)
    assert np.isfinite(training.read_checkpoint_info(tmp_path)["elapsed"])


# ----------------------------------------------------------------------------- config, registry


def test_config_errors_are_one_line_each_and_the_config_is_kept(train_a, tmp_path):
    with pytest.raises(ValueError) as caught:
        TrainingConfig.from_options({"steps": 0, "lr": -1.0, "regime": "supervised"})
    message = str(caught.value)
    assert "\n" not in message and "steps=0" in message and "lr=-1.0" in message
    with pytest.raises(ValueError, match="unknown term 'cycle'"):
        TrainingConfig(steps=2, loss_weights={"cycle": 1.0})
    config = TrainingConfig(steps=2, batch_size=2, patch=32, device="cpu",
                            checkpoint_dir=tmp_path, card={"license": "CC0-1.0"})
    assert TrainingConfig.model_validate_json(config.model_dump_json()) == config
    training.fit(tiny("gran"), config, train_a)
    assert training.read_checkpoint_info(tmp_path)["config"] == config.model_dump(mode="json")


def test_a_new_regime_is_one_class_and_one_registration(train_a, monkeypatch):
    from napari_microdeblur.core.training import regimes

    class SquaredError(regimes.Regime):
        name = "squared_error"
        summary = "pairs, squared error (a test regime)"
        loss_weights = {"content": 1.0}

        def step(self, trainer):
            x, y = trainer.sample_pairs()
            loss = torch.nn.functional.mse_loss(trainer.model(x), y)
            trainer.backward_step(loss, "G", trainer.model.parameters())
            return {"loss": float(loss.detach()), "content": float(loss.detach())}

    monkeypatch.setattr(regimes, "_REGIMES", dict(regimes._REGIMES))  # forget it afterwards
    regimes.register_regime(SquaredError)
    assert "squared_error" in training.list_regimes()
    records, result = run(tiny("gran"), train_a, None, regime="squared_error", steps=2)
    assert result.regime == "squared_error" and [r.step for r in records] == [1, 2]
    with pytest.raises(ValueError, match="already registered"):
        regimes.register_regime(SquaredError)
    with pytest.raises(ValueError, match="already registered"):
        regimes.register_regime(type("Again", (SquaredError,), {"name": "supervised"}))
    with pytest.raises(TypeError, match="Regime subclass"):
        regimes.register_regime(object)
