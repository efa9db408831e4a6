"""The papers' methods as the walkthrough of 2026-12-22 used them:

1. `psf-from-weights` refuses psf_cyclegan weights trained in a regime that leaves the PSF
   alone whose PSF is still the untrained start, in the words `train --export-psf` does, but
   writes fine-tuned psf_cyclegan weights (their card says supervised; their PSF is the
   learned one), and checks the kernel against the run's start (recorded in the card at
   training time) as that export does: a degenerate spectral-fit run writes its start;
2. an SGPN unlabelled set holding a validation image is refused, naming the file and the set's
   option, a pair registered several pixels off too; one holding training images is warned
   of; the check samples each image once, comparing whole only the candidates;
3. `--loss multiscale` of a one-level C2F U-Net is plain L1 (eq. 5 with N = 1); a network
   without a pyramid scores 2x-pooled copies too;
4. `train --resume` with another --discriminator-config is one line, as loss weights are;
5. a patch too large for the unlabelled images names --unlabelled.
"""

import argparse
import json
import warnings

import numpy as np
import pytest
import tifffile
import torch
import torch.nn.functional as F
from scipy import ndimage

from napari_microdeblur.cli import UserError, main
from napari_microdeblur.core import data, registry, training
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.notes import DeblurWarning
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.training import TrainingConfig


def tiny(name: str, **over):
    torch.manual_seed(0)
    return registry.build_model(name, {**registry.get_arch(name).tiny_config, **over})


def psf_args(weights, output):
    return argparse.Namespace(weights=str(weights), output=str(output), overwrite=False,
                              quiet=False)


def cyclegan_weights(tmp_path, training_record: dict, kernel=None, name="cyc"):
    """psf_cyclegan tiny weights (PSF 9 px, ``kernel`` or a Gaussian of sigma 1.3, "start":
    the untrained one) whose card records ``training_record``."""
    model = tiny("psf_cyclegan", psf_size=9, base_channels=4)
    kernel = gaussian_psf(1.3, size=9) if kernel is None else kernel
    if not isinstance(kernel, str):
        with torch.no_grad():
            model.psf.amplitude.copy_(torch.from_numpy(np.sqrt(kernel / kernel.sum())).float())
    path = tmp_path / f"{name}.safetensors"
    save_weights(model, path, {"training": training_record})
    return path


# ----------------------------------------------------------------- 1. psf-from-weights


def test_psf_from_weights_refuses_a_psf_the_regime_did_not_train(tmp_path, capsys):
    from napari_microdeblur.cli_psf import cmd_psf_from_weights

    weights = cyclegan_weights(tmp_path, {"regime": "supervised"}, kernel="start")
    with pytest.raises(UserError, match="--regime supervised does not learn the PSF of --arch "
                                        "psf_cyclegan.*untrained starting Gaussian"):
        cmd_psf_from_weights(psf_args(weights, tmp_path / "p.tif"))
    assert not (tmp_path / "p.tif").exists()
    # a psf_cyclegan run's weights, and ones whose card names no regime, are written as before
    for record in ({"regime": "psf_cyclegan"}, {}):
        weights = cyclegan_weights(tmp_path, record)
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeblurWarning)
            assert cmd_psf_from_weights(psf_args(weights, tmp_path / "ok.tif")) == 0
        (tmp_path / "ok.tif").unlink()


def test_psf_from_weights_writes_the_learned_psf_of_fine_tuned_weights(tmp_path, capsys):
    """The review's case: `finetune` of psf_cyclegan weights records --regime supervised but
    keeps their learned PSF; the same fine-tune of untrained weights is still refused."""
    from napari_microdeblur.cli_psf import cmd_psf_from_weights

    rng = np.random.default_rng(0)
    sharp = ndimage.gaussian_filter(rng.random((96, 96)), 1.0).astype(np.float32)
    tifffile.imwrite(tmp_path / "s.tif", sharp)
    tifffile.imwrite(tmp_path / "b.tif", ndimage.gaussian_filter(sharp, 1.5))
    learned = cyclegan_weights(tmp_path, {"regime": "psf_cyclegan"})
    fresh = cyclegan_weights(tmp_path, {"regime": "psf_cyclegan"}, kernel="start",
                             name="fresh")
    for start in (learned, fresh):
        assert main(["finetune", "--weights", str(start), "--blurry", str(tmp_path / "b.tif"),
                     "--sharp", str(tmp_path / "s.tif"), "--steps", "1", "--patch", "32",
                     "--batch", "2", "--device", "cpu", "-q",
                     "--out", str(tmp_path / f"ft_{start.stem}.safetensors")]) == 0
    capsys.readouterr()
    tuned = tmp_path / "ft_cyc.safetensors"
    assert load_model(tuned)[1].training["regime"] == "supervised"
    assert cmd_psf_from_weights(psf_args(tuned, tmp_path / "p.tif")) == 0
    np.testing.assert_allclose(tifffile.imread(tmp_path / "p.tif"),
                               load_model(learned)[0].psf.kernel().detach().numpy(), atol=1e-7)
    # the card's regime alone, over a learned kernel, is not refused either
    weights = cyclegan_weights(tmp_path, {"regime": "supervised"}, name="sup")
    assert cmd_psf_from_weights(psf_args(weights, tmp_path / "q.tif")) == 0
    with pytest.raises(UserError, match="--regime supervised does not learn the PSF.*untrained"):
        cmd_psf_from_weights(psf_args(tmp_path / "ft_fresh.safetensors", tmp_path / "r.tif"))
    assert not (tmp_path / "r.tif").exists()


def test_psf_from_weights_warns_of_a_kernel_far_from_its_recorded_start(tmp_path):
    from napari_microdeblur.cli_info import describe
    from napari_microdeblur.cli_psf import cmd_psf_from_weights

    weights = cyclegan_weights(tmp_path, {"regime": "psf_cyclegan",
                                          "psf_start": {"kind": "configured", "ncc": 0.42}})
    out = tmp_path / "p.tif"
    with pytest.warns(DeblurWarning, match="far from the PSF its run started from \\(NCC 0.42"):
        assert cmd_psf_from_weights(psf_args(weights, out)) == 0
    record = describe(str(out))["microdeblur"]["psf_export"]
    assert record["kernel"] == "learned" and record["start"] == "configured"
    assert record["degenerate"] and record["figures"]["start_ncc"] == 0.42


def test_psf_from_weights_writes_the_spectral_fit_start_of_a_degenerate_run(tmp_path, capsys):
    from napari_microdeblur.cli_psf import cmd_psf_from_weights
    from napari_microdeblur.core.psf_quality import gaussian_start

    covariance = [[2.0, 0.4], [0.4, 1.2]]
    start = {"kind": "spectral fit", "ncc": 0.61, "covariance_px2": covariance}
    weights = cyclegan_weights(tmp_path, {"regime": "psf_cyclegan", "psf_start": start})
    out = tmp_path / "p.tif"
    with pytest.warns(DeblurWarning, match="wrote the PSF its run started from instead"):
        assert cmd_psf_from_weights(psf_args(weights, out)) == 0
    written = tifffile.imread(out)
    np.testing.assert_allclose(written, gaussian_start(start, (9, 9)), atol=1e-7)
    assert not np.allclose(written, gaussian_psf(1.3, size=9), atol=1e-3)
    assert "not the degenerate learned one" in capsys.readouterr().out


def test_the_start_remade_from_the_card_is_the_spectral_fit():
    from napari_microdeblur.core.psf_quality import gaussian_start
    from napari_microdeblur.core.training.regimes.spectrum_match import SpectrumMatch

    rng = np.random.default_rng(0)
    sharp = torch.from_numpy(rng.random((8, 1, 32, 32)))
    blurry = torch.from_numpy(ndimage.gaussian_filter(sharp.numpy(), (0, 0, 1.5, 0.9)))
    match = SpectrumMatch(2)
    match.update(blurry, sharp)
    kernel = match.fit_gaussian(7, starts=(1.5,), iterations=30)
    remade = gaussian_start({"covariance_px2": match.fitted_covariance}, (7, 7))
    np.testing.assert_allclose(remade, kernel.numpy(), atol=1e-6)


def test_a_cycle_run_records_its_start_in_the_weights_card(tmp_path):
    from napari_microdeblur.core.training.checkpoints import write_weights
    from napari_microdeblur.core.training.regimes.cycle import PsfCycleGan

    model = tiny("psf_cyclegan", psf_size=9, base_channels=4)
    config = TrainingConfig(regime="psf_cyclegan", steps=2, patch=32, device="cpu")
    regime = PsfCycleGan(config)
    regime.psf_start = torch.from_numpy(gaussian_psf(2.5, size=9)).float()
    regime.psf_start_kind, regime.psf_start_covariance = "spectral fit", [[6.25, 0], [0, 6.25]]
    path = tmp_path / "w.safetensors"
    write_weights(path, model, model.state_dict(), {"step": 2}, config, None, None, regime)
    start = load_model(path)[1].training["psf_start"]
    expected = np.corrcoef(model.psf.kernel().detach().numpy().ravel(),
                           gaussian_psf(2.5, size=9).ravel())[0, 1]
    assert start["kind"] == "spectral fit" and start["covariance_px2"] == [[6.25, 0], [0, 6.25]]
    assert start["ncc"] == pytest.approx(expected, abs=1e-4)


# ------------------------------------------------------------ 2. and 5. the unlabelled set


@pytest.fixture
def sgpn_data(fluo_u8):
    """Three blurry/sharp pairs (the first for validation) named as the CLI names them."""
    sharp = [np.roll(fluo_u8, 20 * i, axis=1)[:64, :64] for i in range(3)]
    blurry = [ndimage.gaussian_filter(s.astype(np.float32), 1.5) for s in sharp]
    pairs = [data.pairs_from_arrays(b, s, name=f"b{i}.tif~s{i}.tif")[0]
             for i, (b, s) in enumerate(zip(blurry, sharp, strict=True))]
    return blurry, sharp, pairs


def sgpn_fit(pairs, unlabelled, **over):
    config = TrainingConfig(regime="sgpn", steps=1, batch_size=2, patch=32, device="cpu",
                            discriminator={"base_channels": 4, "n_layers": 3}, **over)
    source = data.UnpairedImages(unlabelled, description="--unlabelled unl/")
    return training.fit(tiny("sgpn"), config, data.PairedData(pairs[1:]), pairs[:1],
                        unpaired=source)


def test_an_unlabelled_set_holding_the_validation_image_is_refused(sgpn_data):
    blurry, sharp, pairs = sgpn_data
    for given, named in ((blurry[0], "b0.tif"), (sharp[0], "s0.tif")):
        with pytest.raises(ValueError, match=f"--unlabelled unl/\\) holds {named}, held out "
                                             "for validation"):
            sgpn_fit(pairs, [given, blurry[2] + 50])
    # a pair shifted by its registration is found too
    moved = data.pairs_from_arrays(np.roll(blurry[0], 2, axis=0), sharp[0], name="m.tif~s.tif")
    assert moved[0].info["shift"] != [0.0, 0.0]
    with pytest.raises(ValueError, match="holds m.tif, held out"):
        sgpn_fit([moved[0], *pairs[1:]], [np.roll(blurry[0], 2, axis=0)])


def test_an_unlabelled_set_holding_training_images_is_warned_of(sgpn_data):
    blurry, _, pairs = sgpn_data
    with pytest.warns(DeblurWarning, match="holds 1 of the training images \\(b2.tif\\)"):
        sgpn_fit(pairs, [blurry[2]])
    other = ndimage.gaussian_filter(np.random.default_rng(1).random((64, 64)), 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeblurWarning)
        sgpn_fit(pairs, [other])


def test_an_unlabelled_image_of_a_pair_registered_pixels_off_is_found():
    """The review's case: a textured field registered with a shift of 3 px was never found
    (the pre-check compared the unshifted image with the shifted input); half-pixel shifts of
    white noise, the hardest for a pre-check on whole pixels, are found too."""
    from napari_microdeblur.core.pairs import Pair
    from napari_microdeblur.core.training.unseen import shared_groups

    rng = np.random.default_rng(1)
    sharp = ndimage.gaussian_filter(rng.random((128, 128)), 1.0).astype(np.float32)
    blurry = ndimage.shift(ndimage.gaussian_filter(sharp, 1.2), (3, -2))
    blurry = blurry + rng.normal(0, 0.002, blurry.shape).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pair = data.pairs_from_arrays(blurry, sharp, name="b.tif~s.tif")[0]
    assert pair.info["shift"] == pytest.approx([-3.0, 2.0], abs=0.05)
    assert shared_groups(data.UnpairedImages([blurry]), [pair]) == ["b.tif"]
    assert shared_groups(data.UnpairedImages([sharp]), [pair]) == ["s.tif"]
    noise = rng.random((1, 96, 96))
    for shift in ((0.5, -0.5), (2.5, 1.5)):
        moved = np.stack([ndimage.shift(noise[0], shift, order=3, mode="nearest")])[:, 3:-3, 3:-3]
        other = rng.random(moved.shape).astype(np.float32)
        pair = Pair(moved.astype(np.float32), other, "n.tif~o.tif",
                    info={"shift": list(shift), "border": 3})
        assert shared_groups(data.UnpairedImages([noise[0]]), [pair]) == ["n.tif"]


def test_the_unlabelled_check_compares_whole_images_only_for_candidates(monkeypatch):
    """30 x 30 unrelated images: every pair was sampled again for each image and scored by a
    Python loop (300 x 300 images of 128 px: 12-16 s before training); each image is now
    sampled once per grid, the pre-check is a matrix product and no whole image is compared."""
    from napari_microdeblur.core.training import unseen

    rng = np.random.default_rng(0)
    sharp = [ndimage.gaussian_filter(rng.random((48, 48)), 1.0).astype(np.float32)
             for _ in range(30)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pairs = [data.pairs_from_arrays(ndimage.gaussian_filter(s, 1.5), s, name=f"b{i}~s{i}")[0]
                 for i, s in enumerate(sharp)]
    others = data.UnpairedImages([ndimage.gaussian_filter(rng.random((48, 48)), 1.5)
                                  for _ in range(30)])
    whole = []
    monkeypatch.setattr(unseen, "_ncc", lambda a, b: whole.append(1) or 0.0)
    assert unseen.shared_groups(others, pairs) == []
    assert whole == []  # no candidate: nothing compared whole
    same = data.UnpairedImages([ndimage.gaussian_filter(s, 1.5) for s in sharp[:3]])
    monkeypatch.undo()
    assert unseen.shared_groups(same, pairs) == ["b0", "b1", "b2"]


def test_cli_unlabelled_overlap_and_small_images_name_the_option(tmp_path, sgpn_data,
                                                                 capsys):
    blurry, sharp, _ = sgpn_data
    folders = {}
    for name, arrays in {"b": blurry, "s": sharp,
                         "small": [a[:20, :20] for a in blurry]}.items():
        (tmp_path / name).mkdir()
        for i, a in enumerate(arrays):
            tifffile.imwrite(tmp_path / name / f"{i}.tif", a.astype(np.float32))
        folders[name] = str(tmp_path / name)
    (tmp_path / "d.json").write_text(json.dumps({"base_channels": 4, "n_layers": 3}))
    argv = ["train", "--arch", "sgpn", "--config", "tiny", "--regime", "sgpn", "--sharp",
            folders["s"], "--blurry", folders["b"], "--steps", "1", "--patch", "32",
            "--batch", "2", "--device", "cpu", "-q", "--discriminator-config",
            str(tmp_path / "d.json"), "--out", str(tmp_path / "w.safetensors")]
    assert main([*argv, "--unlabelled", folders["b"]]) == 2
    err = capsys.readouterr().err
    assert f"(--unlabelled {folders['b']}) holds 2.tif, held out for validation" in err
    assert main([*argv, "--unlabelled", folders["small"]]) == 2
    err = capsys.readouterr().err
    assert f"the unpaired set (--unlabelled {folders['small']}): --patch 32 is larger" in err
    assert not (tmp_path / "w.safetensors").exists()


# ------------------------------------------------------------- 3. multiscale, one level


def test_multiscale_loss_of_a_one_level_c2f_unet_is_plain_l1():
    """Eq. 5 of the C2F paper with N = 1 (benchmarks/model_size.py's Table 1 row); a network
    without a pyramid (gran) still sums L1 over 2x-pooled copies of its output."""
    from napari_microdeblur.core.training.losses import multiscale_l1

    rng = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 1, 32, 32, generator=rng), torch.rand(2, 1, 32, 32, generator=rng)
    with torch.no_grad():
        loss, pred = multiscale_l1(tiny("c2f_unet", levels=1, depth=2).eval(), x, y)
        assert float(loss) == pytest.approx(float(F.l1_loss(pred, y)), rel=1e-6)
        loss, pred = multiscale_l1(tiny("gran").eval(), x, y)
        expected, p, t = F.l1_loss(pred, y), pred, y
        for _ in range(2):
            p, t = F.avg_pool2d(p, 2), F.avg_pool2d(t, 2)
            expected = expected + F.l1_loss(p, t)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    assert float(loss) > 1.5 * float(F.l1_loss(pred, y))


# ------------------------------------------------------------- 4. resume, discriminator


def test_resume_with_another_discriminator_config_is_one_line(tmp_path, fluo_u8, capsys):
    tifffile.imwrite(tmp_path / "a.tif", fluo_u8[:64, :64])
    tifffile.imwrite(tmp_path / "b.tif", fluo_u8[64:, 64:])
    argv = ["train", "--arch", "gran", "--config", "tiny", "--regime", "gran_gan", "--sharp",
            str(tmp_path / "?.tif"), "--patch", "32", "--batch", "2", "--device", "cpu", "-q",
            "--checkpoint-dir", str(tmp_path / "ck"), "--out", str(tmp_path / "w.safetensors"),
            "--overwrite"]
    small = {"base_channels": 4, "n_blocks": 3, "fc_channels": 8}
    for i, d in enumerate((small, {**small, "base_channels": 8})):
        (tmp_path / f"d{i}.json").write_text(json.dumps(d))
    assert main([*argv, "--steps", "1", "--discriminator-config", str(tmp_path / "d0.json")]) == 0
    capsys.readouterr()
    for more in (["--discriminator-config", str(tmp_path / "d1.json")], []):
        assert main([*argv, "--steps", "2", "--resume", *more]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "discriminator" in err, err
        assert "size mismatch" not in err and "base_channels': 4" in err
