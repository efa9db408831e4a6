"""Pieces of benchmarks/generalization.py: held-out ranges, degradations, real-pair scores."""

from pathlib import Path

import numpy as np
import pytest
from _scripts import load_script

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    return load_script(str(path.relative_to(ROOT)), name)


gen = _load("generalization", ROOT / "benchmarks" / "generalization.py")
train = _load("train_psf_aware", ROOT / "scripts" / "train_psf_aware.py")
data = _load("psf_aware_data", ROOT / "scripts" / "psf_aware_data.py")


def test_held_out_optics_lie_outside_the_training_range():
    na_max = data.TRAIN_OPTICS["na"][1]
    wl_max = data.TRAIN_OPTICS["wavelength_um"][1]
    for name, row in gen.HELD_OUT_OPTICS.items():
        assert row["na"] > na_max and row["wavelength"] > wl_max, name
        assert row["aberrated"]


def test_held_out_sets_are_not_in_the_training_data():
    trained = data.TRAINING_DATA.split("Never:")[0]
    for cfg in gen.HELD_OUT.values():
        assert cfg["set"] not in trained


def test_optics_degradation_keeps_units_and_is_seeded():
    rng = np.random.default_rng(0)
    image = (rng.random((64, 64)) * 200).astype(np.uint8)
    psf = np.zeros((5, 5), np.float32)
    psf[2, 2] = 1.0
    a = gen.degrade_with(image, "widefield_heldout", psf, seed=3, rgb=False)
    b = gen.degrade_with(image, "widefield_heldout", psf, seed=3, rgb=False)
    assert a.shape == image.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    # a delta PSF leaves only the noise: Gaussian 2/255 on the 0-255 scale
    assert abs(float(np.std(a - image)) - 2.0) < 0.3
    rgb = np.stack([image] * 3, axis=-1)
    assert gen.degrade_with(rgb, "confocal_heldout", psf, seed=0, rgb=True).shape == rgb.shape


def test_real_pair_score_ignores_gain_and_offset():
    ref = np.random.default_rng(1).random((64, 64)).astype(np.float32)
    perfect = gen.real_score(3.0 * ref + 7.0, ref)
    assert perfect["psnr"] > 60 and perfect["ssim"] > 0.999
    worse = gen.real_score(ref + np.random.default_rng(2).normal(0, 0.1, ref.shape), ref)
    assert worse["psnr"] < 30


def test_summary_counts_images_below_the_input():
    rows = {"input": [{"psnr": 20, "ssim": 0.5, "psnr_whole": 20, "ssim_whole": 0.5}] * 2,
            "psf_aware": [{"psnr": 19, "ssim": 0.6, "psnr_whole": 19, "ssim_whole": 0.6},
                          {"psnr": 22, "ssim": 0.6, "psnr_whole": 22, "ssim_whole": 0.6}]}
    summary = gen.summarise(rows)
    assert summary["psf_aware"]["below_input"] == 1 and summary["input"]["below_input"] == 0
    assert summary["psf_aware"]["psnr"] == pytest.approx(20.5)


def test_gaussian_fit_finds_the_blur():
    from scipy import ndimage

    ref = ndimage.gaussian_filter(np.random.default_rng(3).random((96, 96)), 1.0)
    blurred = ndimage.gaussian_filter(ref, 2.0)
    assert gen.fit_gaussian_sigma([(blurred, ref)]) == 2.0


def test_dropping_the_blurred_input_moves_its_weights_onto_the_middle_estimate():
    """train_psf_aware's start for a blurred_input=False model from one with the input: where
    the input equals the middle Wiener estimate (identity PSF, no noise) both give the same."""
    import torch

    from napari_microdeblur.core.registry import build_model

    torch.manual_seed(0)
    config = {"base_channels": 4, "levels": 1, "wiener_gains": (10.0, 100.0, 1000.0)}
    with_input = build_model("wiener_unet", config).eval()
    torch.nn.init.normal_(with_input.tail.weight, std=0.05)
    without = build_model("wiener_unet", config | {"blurred_input": False}).eval()
    assert without.enc[0][0].weight.shape[1] == with_input.enc[0][0].weight.shape[1] - 1
    without.load_state_dict(train.without_blurred_input(with_input.state_dict(), without.mid))
    yy, xx = np.mgrid[:64, :64]
    img = np.exp(-((yy - 30.0) ** 2 + (xx - 36.0) ** 2) / 60.0).astype(np.float32)
    x = torch.from_numpy(img)[None, None]
    identity = torch.zeros(3, 3)
    identity[1, 1] = 1
    with torch.no_grad():
        a, b = with_input(x, identity), without(x, identity)
        different = build_model("wiener_unet", config | {"blurred_input": False}).eval()
        torch.nn.init.normal_(different.tail.weight, std=0.05)
        c = different(x, identity)
    assert float((a - b).abs().max()) < 1e-3
    assert float((a - c).abs().max()) > 1e-2  # the test can tell two networks apart


def test_widening_keeps_what_the_network_computes():
    """train_psf_aware --config with a wider base_channels than --init's: the widened network
    (scripts/widen_wiener_unet.py) returns the trained one's output, at every U-Net level; a
    wider network of its own initialisation does not (the test can tell them apart)."""
    import torch

    from napari_microdeblur.core.psf import gaussian_psf
    from napari_microdeblur.core.registry import build_model

    widen = _load("widen_wiener_unet", ROOT / "scripts" / "widen_wiener_unet.py")
    torch.manual_seed(0)
    config = {"base_channels": 4, "levels": 2, "wiener_gains": (10.0, 100.0, 1000.0),
              "blurred_input": False}
    narrow = build_model("wiener_unet", config).eval()
    torch.nn.init.normal_(narrow.tail.weight, std=0.05)
    wide = build_model("wiener_unet", config | {"base_channels": 6}).eval()
    fresh = build_model("wiener_unet", config | {"base_channels": 6}).eval()
    torch.nn.init.normal_(fresh.tail.weight, std=0.05)
    wide.load_state_dict(widen.widen_state(narrow.state_dict(), narrow, wide))
    x = torch.rand(2, 1, 48, 48)
    psf = torch.from_numpy(gaussian_psf(1.5, size=9))
    with torch.no_grad():
        a, b, c = narrow(x, psf), wide(x, psf), fresh(x, psf)
    assert wide.enc[1][0].weight.shape[0] == 12 and wide.dec[0][0].weight.shape[1] == 24
    assert float((a - b).abs().max()) < 1e-5
    assert float((a - c).abs().max()) > 1e-2


def test_a_soup_is_the_weight_average_of_runs_with_one_configuration(tmp_path):
    """scripts/soup_psf_aware.py (how wiener_unet.psf_v4 was made): every tensor is the mean of
    the members' tensors; members of another configuration are refused in one line."""
    import torch

    from napari_microdeblur.core.checkpoint import load_model, save_weights
    from napari_microdeblur.core.registry import build_model

    soup = _load("soup_psf_aware", ROOT / "scripts" / "soup_psf_aware.py")
    config = {"base_channels": 4, "levels": 1, "wiener_gains": (100.0,)}
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = build_model("wiener_unet", config)
        torch.nn.init.normal_(model.tail.weight, std=0.05)
        paths.append(tmp_path / f"run{seed}.safetensors")
        save_weights(model, paths[-1])
    members = [load_model(str(p))[0].state_dict() for p in paths]
    averaged = soup.soup([str(p) for p in paths]).state_dict()
    for key, value in averaged.items():
        torch.testing.assert_close(value, (members[0][key] + members[1][key]) / 2)
    assert not torch.equal(members[0]["tail.weight"], members[1]["tail.weight"])

    other = build_model("wiener_unet", config | {"levels": 2})
    save_weights(other, tmp_path / "other.safetensors")
    with pytest.raises(SystemExit, match="one architecture and configuration"):
        soup.soup([str(paths[0]), str(tmp_path / "other.safetensors")])
    with pytest.raises(SystemExit, match="at least two"):
        soup.soup([str(paths[0])])


def test_the_greedy_soup_keeps_a_run_only_if_the_mean_rises(monkeypatch):
    """benchmarks/psf_aware_select.py --greedy-soup: runs in order of their own mean; a run that
    lowers the soup's mean is left out and the next one is still tried."""
    select = _load("psf_aware_select", ROOT / "benchmarks" / "psf_aware_select.py")
    means = {"a": 29.5, "b": 29.6, "c": 29.4, "d": 29.0,
             "soup:b,a": 29.7, "soup:b,a,c": 29.65, "soup:b,a,d": 29.8}
    monkeypatch.setattr(select, "candidate", lambda spec: spec)
    monkeypatch.setattr(select, "score", lambda spec, cases, run: {"mean": means[spec]})
    rows = {}
    spec, steps = select.greedy_soup(["a", "b", "c", "d"], [], rows)
    assert spec == "soup:b,a,d"
    assert [(s["added"], s["kept"]) for s in steps] == [("a", True), ("c", False), ("d", True)]
    assert rows["soup:b,a,c"]["mean"] == 29.65


def test_the_self_ensemble_turns_the_psf_with_the_image():
    """psf_aware_select.py '+ensemble=N': an untrained WienerUNet returns its Wiener estimate,
    which commutes with turning image and PSF together, so every N gives the plain result, also
    for an asymmetric PSF of even side; turning the image alone would not."""
    import torch

    from napari_microdeblur.core.registry import build_model, get_arch

    select = _load("psf_aware_select", ROOT / "benchmarks" / "psf_aware_select.py")
    torch.manual_seed(0)
    model = build_model("wiener_unet", get_arch("wiener_unet").tiny_config).eval()
    psf = torch.zeros(6, 6)
    psf[2, 2], psf[2, 4], psf[3, 2] = 0.6, 0.3, 0.1  # centre (3, 3) after the zero row/column
    x = torch.rand(1, 1, 48, 40)
    plain = model(x, torch.nn.functional.pad(psf, (0, 1, 0, 1)))
    for n in (2, 4, 8):
        assert torch.allclose(select.SelfEnsemble(model, n)(x, psf), plain, atol=1e-5)
    unturned = model(torch.flip(x, (-1,)), torch.nn.functional.pad(psf, (0, 1, 0, 1)))
    assert not torch.allclose(torch.flip(unturned, (-1,)), plain, atol=1e-3)


def test_set_weights_and_validation_sets_of_a_specialised_run():
    """train_psf_aware --set-weights / --val-sets: sampling probabilities over the sets (the sets
    not named weigh 1) and the validation planes of the named sets; one line for a typo."""
    sets = {"fluo": [1], "em_a": [1], "em_b": [1], "empty": []}
    p = data.set_probabilities(sets, "em_a=2,em_b=2")
    np.testing.assert_allclose(p, [0.2, 0.4, 0.4])  # the empty set is not sampled at all
    assert data.set_probabilities(sets, None) is None
    with pytest.raises(SystemExit, match="unknown set 'em_c'"):
        data.set_probabilities(sets, "em_c=1")
    with pytest.raises(SystemExit, match="not SET=WEIGHT"):
        data.set_probabilities(sets, "em_a")
    with pytest.raises(SystemExit, match="every set weighs 0"):
        data.set_probabilities({"em_a": [1]}, "em_a=0")


def test_gaussian_fit_gives_the_gaussian_a_user_would_fit():
    """train_psf_aware --p-gaussian-fit: the network is given a Gaussian with the moments of
    the PSF's core instead of the PSF; a Gaussian comes back nearly as it is (the 1 % floor
    trims its tails), a rotated astigmatic one keeps its orientation, a disk becomes smooth."""
    from napari_microdeblur.core.psf import astigmatic_psf, disk_psf, gaussian_psf

    g = gaussian_psf(2.0, size=33)
    fit = data.gaussian_fit(g)
    assert fit.shape == g.shape and abs(float(fit.sum()) - 1) < 1e-5
    assert np.abs(fit - g / g.sum()).max() < 0.1 * g.max()
    a = astigmatic_psf(3.0, 1.0, 30, size=33)
    fa = data.gaussian_fit(a)
    assert np.abs(fa - a / a.sum()).max() < 0.1 * a.max()
    assert float(np.corrcoef(fa.ravel(), a.ravel())[0, 1]) > 0.99
    disk = data.fit_side(disk_psf(3.0))
    fd = data.gaussian_fit(disk)
    assert fd.max() > 1.5 * disk.max()  # a peaked Gaussian, not the flat-topped disk


def test_the_default_rule_trades_synthetic_only_for_a_clear_real_defocus_gain():
    """benchmarks/select_psf_aware_default.py: a candidate must gain 0.5 dB on real defocus with
    fewer planes below the input, and lose at most 0.1 dB on the synthetic mean and 0.3 dB on a
    class; the eligible one best on real defocus wins, and with none the default stays."""
    rule = _load("select_psf_aware_default", ROOT / "benchmarks" / "select_psf_aware_default.py")
    classes = {c: 30.0 for c in ("A", "B", "C", "optics", "aberrated", "halo",
                                 "wide aberrated", "wide halo")}

    def synth(mean, below=1, **drop):
        return classes | {c.replace("_", " "): 30.0 - d for c, d in drop.items()} | {
            "mean": mean, "cases below input": below}

    def real(psnr, below):
        return {rule.DEFAULT_SCALE_KEY: {"psnr": psnr, "below_input": below}}

    synthetic = {"v4": synth(29.6), "fair": synth(29.55), "better_real": synth(29.52),
                 "small_gain": synth(29.7), "costly": synth(29.4),
                 "class_loss": synth(29.6, wide_halo=0.4),
                 "more_below": synth(29.6, below=2), "unscored": synth(29.9)}
    reals = {"v4": real(27.3, 5), "fair": real(28.7, 0), "better_real": real(28.9, 1),
             "small_gain": real(27.6, 2), "costly": real(29.5, 0), "class_loss": real(29.5, 0),
             "more_below": real(29.5, 0)}
    best, reasons = rule.verdict("v4", synthetic, reals)
    assert best == "better_real"
    assert reasons["fair"] == [] and reasons["better_real"] == []
    assert "real defocus +0.30 dB" in reasons["small_gain"][0]
    assert "synthetic mean" in reasons["costly"][0]
    assert "wide halo" in reasons["class_loss"][0]
    assert "cases below the input" in reasons["more_below"][0]
    assert reasons["unscored"] == ["no real-defocus validation"]
    # nothing eligible: the default stays; with none below the input, any plane below fails
    assert rule.verdict("v4", {"v4": synth(29.6), "x": synth(29.5)},
                        {"v4": real(27.3, 0), "x": real(28.0, 1)})[0] == "v4"


def test_the_default_rule_takes_a_synthetic_gain_without_a_trade():
    """The rule's second route: +0.1 dB on the synthetic mean, no class more than 0.1 dB lower,
    no more cases below the input, real defocus at most 0.1 dB lower with no more planes below
    the input; the real-defocus route still comes first."""
    rule = _load("select_psf_aware_default", ROOT / "benchmarks" / "select_psf_aware_default.py")
    classes = {c: 30.0 for c in ("A", "B", "C", "optics")}

    def synth(mean, below=1, **drop):
        return classes | {c: 30.0 - d for c, d in drop.items()} | {
            "mean": mean, "cases below input": below}

    def real(psnr, below):
        return {rule.DEFAULT_SCALE_KEY: {"psnr": psnr, "below_input": below}}

    synthetic = {"v4": synth(29.6), "refined": synth(29.8), "more": synth(29.9, B=0.15),
                 "real_loss": synth(30.0), "small": synth(29.65), "below": synth(30.0)}
    reals = {"v4": real(29.0, 0), "refined": real(28.95, 0), "more": real(29.0, 0),
             "real_loss": real(28.8, 0), "small": real(29.0, 0), "below": real(29.2, 1)}
    best, reasons = rule.verdict("v4", synthetic, reals)
    assert best == "refined" and reasons["refined"] == []
    assert any("synthetic route: synthetic B -0.15" in r for r in reasons["more"])
    assert any("synthetic route: real defocus -0.20" in r for r in reasons["real_loss"])
    assert any("synthetic route: synthetic mean +0.050" in r for r in reasons["small"])
    assert any("synthetic route: real defocus below the input on 1" in r
               for r in reasons["below"])
    # a candidate eligible by the real-defocus route wins over a larger synthetic gain
    synthetic["clear_real"] = synth(29.55)
    reals["clear_real"] = real(29.6, 0)
    assert rule.verdict("v4", synthetic, reals)[0] == "clear_real"


def test_a_continued_run_keeps_the_widest_psf_its_start_was_trained_on():
    """train_psf_aware --init: the card records the wider of this run's PSFs and its start's, so
    the safeguard does not fall back on PSFs the start learned (psf_v4: 49-px aberrated PSFs)
    when the continued run trains on 33-px ones."""
    import json

    from napari_microdeblur.core.checkpoint import load_model
    from napari_microdeblur.core.psf_safeguard import trained_half_max_width

    _, v4 = load_model("wiener_unet.psf_v4")
    own = json.dumps(json.loads(v4.degradation)["members"][0]["degradation"]
                     | {"psf_side": 33, "p_aberrated": 0.3})
    alone = train.trained_width(own)
    assert alone == pytest.approx(37.2, abs=0.1)
    assert train.trained_width(own, v4) == pytest.approx(trained_half_max_width(v4), abs=0.01)
    assert trained_half_max_width(v4) > alone + 10


def test_rgb_training_images_can_give_the_planes_the_network_runs_rgb_as(tmp_path):
    """train_psf_aware --rgb-planes opponent: an RGB training image gives its luminance (the
    mean of R, G and B) and two chroma planes centred on 0.5, instead of R, G and B."""
    import imageio.v3 as iio

    rgb = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    path = tmp_path / "tile.png"
    iio.imwrite(path, rgb)
    channels = data._planes(path, "rgb")
    lum, chroma1, chroma2 = data._planes(path, "rgb", "opponent")
    np.testing.assert_allclose(channels[1], rgb[..., 1] / 255.0, atol=1e-6)
    np.testing.assert_allclose(lum, rgb.mean(axis=-1) / 255.0, atol=1e-5)
    np.testing.assert_allclose(chroma1, 0.5 + (rgb[..., 0] - rgb[..., 2].astype(float))
                               / 255.0 / np.sqrt(6), atol=1e-5)
    assert chroma2.shape == lum.shape
    gray = np.repeat(rgb[..., :1], 3, axis=-1)
    iio.imwrite(tmp_path / "gray.png", gray)
    for plane in data._planes(tmp_path / "gray.png", "rgb", "opponent")[1:]:
        np.testing.assert_allclose(plane, 0.5, atol=1e-6)
    with pytest.raises(ValueError, match="rgb_planes='lab'; accepted: channels, opponent"):
        data.training_sets(tmp_path, "lab")


def test_a_soup_card_names_each_members_training_data_when_they_differ():
    """A soup of a run trained on R, G, B planes and one trained on luminance and chroma says
    both; members that agree give the one text."""
    from types import SimpleNamespace

    soup = _load("soup_psf_aware", ROOT / "scripts" / "soup_psf_aware.py")
    rgb = SimpleNamespace(training_data="RGB as separate channels")
    opp = SimpleNamespace(training_data="RGB as luminance and chroma planes")
    assert soup.training_data([rgb, rgb]) == "RGB as separate channels"
    assert soup.training_data([rgb, opp]) == ("Members trained on: (1) RGB as separate channels "
                                              "| (2) RGB as luminance and chroma planes")
