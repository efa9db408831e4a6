"""PSF-CycleGAN as a blind route to a PSF (walkthrough of 2026-12-09):

1. under --minutes the PSF-only warm-up is a share of the time, not of --steps (a 1-minute
   run stopped at step 171 of a 600-step warm-up: an untrained network, advice that did not
   help); a run that still ends inside it says so, in the closing line and the card;
2. an exported PSF is checked without ground truth: a degenerate kernel (fragments, far from
   the run's spectral-fit start) is replaced by that start with a warning naming the figures
   and `psf-estimate`; the TIFF records where it came from (`microdeblur info` shows it);
3. `train --weights` keeps the weights' PSF (the step-0 spectral restart replaced it), and
   `psf-from-weights` writes a weights file's PSF without training;
4. a 3D PSF given with a PSF-aware network says the right thing for a 2D image.
"""

import argparse
import json
import types
import warnings

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage

from napari_microdeblur.cli import UserError, main
from napari_microdeblur.core import registry, training
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.data import UnpairedImages
from napari_microdeblur.core.notes import DeblurNote, DeblurWarning
from napari_microdeblur.core.psf import astigmatic_psf, gaussian_psf

SMALL_D = {"base_channels": 4, "n_layers": 3}


def tiny(**over):
    return registry.build_model("psf_cyclegan", {**registry.get_arch("psf_cyclegan").tiny_config,
                                                 "base_channels": 4, **over})


def textures(seed: int, n: int, side: int = 48) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [ndimage.gaussian_filter(rng.random((side, side)), 0.5) * 200 for _ in range(n)]


def ncc(a, b) -> float:
    a, b = np.asarray(a, float) - np.mean(a), np.asarray(b, float) - np.mean(b)
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def set_psf(model, kernel: np.ndarray) -> None:
    with torch.no_grad():
        model.psf.amplitude.copy_(torch.from_numpy(np.sqrt(kernel / kernel.sum())).float())


@pytest.fixture
def folders(tmp_path):
    """Unpaired blurry (astigmatic blur) and sharp images, as TIFF folders."""
    psf = astigmatic_psf(1.6, 0.8, 30.0, size=9)
    out = {}
    for name, arrays in {"blurry": [ndimage.convolve(t, psf, mode="reflect")
                                    for t in textures(1, 2, 64)],
                         "sharp": textures(2, 3, 64)}.items():
        folder = tmp_path / name
        folder.mkdir()
        for i, a in enumerate(arrays):
            tifffile.imwrite(folder / f"{i}.tif", a.astype(np.float32), metadata={"axes": "YX"})
        out[name] = str(folder)
    return out


@pytest.fixture
def quick_spectral_fit(monkeypatch):
    """The spectral-fit start in 40 Adam steps from each start, not 300 (5 s a run here):
    the tests using it check what a run keeps and says, not how closely the start fits."""
    from napari_microdeblur.core.training.regimes.spectrum_match import SpectrumMatch

    real = SpectrumMatch.fit_gaussian
    monkeypatch.setattr(SpectrumMatch, "fit_gaussian",
                        lambda self, size, **kw: real(self, size, **{**kw, "iterations": 40}))


def train_argv(tmp_path, folders, *extra):
    (tmp_path / "arch.json").write_text(json.dumps(
        {**registry.get_arch("psf_cyclegan").tiny_config, "base_channels": 4}))
    (tmp_path / "d.json").write_text(json.dumps(SMALL_D))
    return ["train", "--regime", "psf_cyclegan", "--arch", "psf_cyclegan",
            "--config", str(tmp_path / "arch.json"), "--discriminator-config",
            str(tmp_path / "d.json"), "--unpaired-blurry", folders["blurry"],
            "--unpaired-sharp", folders["sharp"], "--out", str(tmp_path / "w.safetensors"),
            "--patch", "32", "--batch", "2", "--device", "cpu", "-q", *extra]


# ----------------------------------------------------------------------------- 1. warm-up


def stub_regime(**config):
    """The regime with psf_step / cycle_step replaced by markers."""
    from napari_microdeblur.core.training.regimes.cycle import PsfCycleGan

    regime = PsfCycleGan(training.TrainingConfig(regime="psf_cyclegan", **config))
    regime.psf_step = lambda trainer: {"loss": 0.0, "stage": "psf"}
    regime.cycle_step = lambda trainer: {"loss": 0.0, "stage": "cycle"}
    return regime


def stage(regime, step, elapsed):
    trainer = types.SimpleNamespace(step=step, elapsed=elapsed, weights={"psf_spectrum": 10.0})
    return regime.step(trainer)["stage"]


def test_under_a_time_limit_the_warmup_is_a_share_of_the_time():
    regime = stub_regime(steps=2000, time_limit=60.0)  # --minutes 1, default --steps
    assert stage(regime, 5, elapsed=10.0) == "psf"
    # step 171 of a 600-step warm-up, 20 s in: was still the PSF alone, to the end of the run
    assert stage(regime, 171, elapsed=20.0) == "cycle"
    # more time given on a resume moves the 30 % past steps the cycle already ran: it stays
    regime.config = training.TrainingConfig(regime="psf_cyclegan", steps=2000, time_limit=600.0)
    assert stage(regime, 172, elapsed=21.0) == "cycle"
    # counted in steps without a time limit, or with psf_warmup given
    assert stage(stub_regime(steps=2000), 171, elapsed=1e6) == "psf"
    assert stage(stub_regime(steps=2000, time_limit=60.0, psf_warmup=600), 171, 20.0) == "psf"
    # whichever ends first: the steps' share too
    assert stage(stub_regime(steps=100, time_limit=600.0), 30, elapsed=1.0) == "cycle"


def test_a_run_that_ends_inside_the_warmup_says_the_network_was_not_trained(
        tmp_path, folders, capsys, quick_spectral_fit):
    argv = train_argv(tmp_path, folders, "--steps", "3", "--psf-warmup", "3")
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "ended inside the PSF-only warm-up (step 3)" in out
    assert "deblurring network was not trained" in out
    assert "--psf-warmup" in out and "a lower --lr" not in out  # advice that would not help
    _, card = load_model(tmp_path / "w.safetensors")
    assert "the deblurring network was not trained" in card.description  # `info` notes
    assert card.metrics["psf_warmup_ended_at_step"] is None


def test_a_timed_run_counts_its_warmup_in_time_and_the_card_says_where_it_ended(
        tmp_path, folders, capsys, quick_spectral_fit):
    # --steps ends it first: the warm-up is then 30 % of the steps (1 of 4)
    assert main(train_argv(tmp_path, folders, "--minutes", "10", "--steps", "4")) == 0
    _, card = load_model(tmp_path / "w.safetensors")
    assert card.training["psf_warmup"] is None  # a share of the time too, not fixed steps
    assert card.metrics["psf_warmup_ended_at_step"] == 1
    assert "not trained" not in card.description
    capsys.readouterr()
    # --minutes ends it: the closing line's advice names the bound it hit
    assert main(train_argv(tmp_path, folders, "--minutes", "0.02", "--overwrite")) == 0
    out = capsys.readouterr().out
    assert "the --minutes 0.02 limit" in out and "more --steps" not in out
    _, card = load_model(tmp_path / "w.safetensors")
    ended = card.metrics["psf_warmup_ended_at_step"]
    assert (ended is None) == ("not trained" in card.description)  # said either way


# ----------------------------------------------------------------------------- 2. export


def fragmented(start: np.ndarray) -> np.ndarray:
    """A spike plus detached fragments (the walkthrough's 1-minute kernel, in kind)."""
    k = np.zeros_like(start)
    c = k.shape[0] // 2
    k[c - 1, c - 1], k[c, c - 1], k[c + 4, c + 3], k[c + 3, c + 4] = 0.5, 0.1, 0.2, 0.2
    return k


def test_a_degenerate_learned_psf_is_replaced_by_the_spectral_start_with_a_warning():
    from napari_microdeblur.core.psf_quality import choose_export, psf_figures

    start = astigmatic_psf(2.2, 1.1, 30.0, size=21).astype(np.float32)
    chosen = choose_export(fragmented(start), start, "spectral fit")
    assert chosen.which == "spectral-fit start"
    np.testing.assert_allclose(chosen.kernel, start / start.sum(), atol=1e-7)
    assert "fragmented" in chosen.warning and "NCC" in chosen.warning
    assert "FWHM" in chosen.warning and "microdeblur psf-estimate" in chosen.warning
    # a start that is not the data's fit (weights given): warned, written as learned
    given = choose_export(fragmented(start), start, "given")
    assert given.which == "learned" and "psf-estimate" in given.warning
    # a good kernel near its start: written, no warning
    near = astigmatic_psf(2.3, 1.0, 33.0, size=21)
    assert choose_export(near, start, "spectral fit").warning is None
    figures = psf_figures(start)
    assert figures.fwhm_px[0] > figures.fwhm_px[1] > 2 and figures.centroid_offset_px < 0.01
    assert figures.peak_blob_share == pytest.approx(1.0) and figures.problems() == []


def test_export_writes_the_start_with_a_record_that_info_shows(tmp_path, capsys):
    from napari_microdeblur.cli_info import describe, text_block
    from napari_microdeblur.cli_regimes import export_learned_psf

    model = tiny(psf_size=21)
    start = astigmatic_psf(2.2, 1.1, 30.0, size=21).astype(np.float32)
    set_psf(model, fragmented(start) + 1e-9)
    out = tmp_path / "psf.tif"
    run = {"start": torch.from_numpy(start), "start_kind": "spectral fit", "warmup_ended": 5}
    with pytest.warns(DeblurWarning, match="looks degenerate"):
        export_learned_psf(model, str(tmp_path), str(out), weights=str(tmp_path / "c.safetensors"),
                           steps=171, minutes=1.0, run=run)
    written = tifffile.imread(out)
    assert ncc(written, start) > 0.999
    info = describe(str(out))
    record = info["microdeblur"]["psf_export"]
    assert record["weights"] == "c.safetensors" and record["steps"] == 171
    assert record["minutes"] == 1.0 and record["kernel"] == "spectral-fit start"
    assert record["figures"]["start_ncc"] < 0.9 and record["degenerate"]
    text = text_block(info)
    assert "c.safetensors (171 steps, 1.0 min)" in text and "FWHM" in text
    assert "not the learned one" in text
    assert "  PSF: PSF exported from psf_cyclegan weights" in text and "deblurred:" not in text
    assert "starting PSF" in capsys.readouterr().err


# ----------------------------------------------------------------------------- 3. weights


def test_training_further_keeps_the_psf_of_the_weights(tmp_path, quick_spectral_fit):
    """A network whose PSF is not its configured start keeps it (the spectral restart at step
    0 replaced it: `--weights psf_cyclegan.fluo_v1 --steps 1 --export-psf` wrote this data's
    Gaussian fit); a fresh network still starts from the spectra."""
    line = np.zeros((5, 5), np.float32)
    line[2, :] = 1.0  # far from any Gaussian fit of the spectra
    blurry = [ndimage.gaussian_filter(t, 1.2) for t in textures(1, 2)]
    sharp = UnpairedImages(textures(2, 2))
    config = dict(regime="psf_cyclegan", steps=1, batch_size=2, patch=32, device="cpu",
                  discriminator=SMALL_D)
    given = tiny()
    set_psf(given, line + 1e-6)
    training.fit(given, config, sharp, None, unpaired=UnpairedImages(blurry),
                 unpaired_sharp=sharp)
    assert ncc(given.psf.kernel().detach().numpy(), line) > 0.99
    fresh = tiny()
    k0 = fresh.psf.kernel().detach().numpy().copy()
    training.fit(fresh, config, sharp, None, unpaired=UnpairedImages(blurry),
                 unpaired_sharp=sharp)
    assert np.abs(fresh.psf.kernel().detach().numpy() - k0).max() > 1e-3  # fitted


def psf_args(weights, output, **over):
    return argparse.Namespace(weights=str(weights), output=str(output), overwrite=False,
                              quiet=False, **over)


def test_psf_from_weights_writes_the_weights_psf_without_training(tmp_path, capsys):
    from napari_microdeblur.cli_info import describe
    from napari_microdeblur.cli_psf import cmd_psf_from_weights

    model = tiny(psf_size=9)
    kernel = gaussian_psf(1.3, size=9).astype(np.float32)
    set_psf(model, kernel)
    weights = tmp_path / "cyc.safetensors"
    save_weights(model, weights, {"metrics": {"step": 40, "stopped": "stopped by --minutes 2"},
                                  "training": {"time_limit": 120.0}})
    out = tmp_path / "psf.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeblurWarning)  # a good kernel: no warning
        assert cmd_psf_from_weights(psf_args(weights, out)) == 0
    np.testing.assert_allclose(tifffile.imread(out), kernel / kernel.sum(), atol=1e-6)
    record = describe(str(out))["microdeblur"]["psf_export"]
    assert record["steps"] == 40 and record["minutes"] == 2.0 and record["kernel"] == "learned"
    assert "FWHM" in capsys.readouterr().out
    gran = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    save_weights(gran, tmp_path / "gran.safetensors", {})
    with pytest.raises(UserError, match="holds no PSF"):
        cmd_psf_from_weights(psf_args(tmp_path / "gran.safetensors", tmp_path / "g.tif"))
    assert not (tmp_path / "g.tif").exists()


# ----------------------------------------------------------------------------- 4. 3D PSF, 2D


def test_a_3d_psf_for_a_psf_aware_network_does_not_say_rl_deconvolves_a_2d_image_in_3d():
    from napari_microdeblur.core.psf_aware import plane_kernel

    psf3 = np.stack([w * gaussian_psf(s, size=11) for w, s in ((0.2, 2.0), (0.6, 1.0),
                                                                 (0.2, 2.0))])
    with pytest.warns(DeblurNote) as said:
        _, spec = plane_kernel(psf3)
    line = str(said[0].message)
    assert "in-focus plane (z=1 of 3)" in line and "a 2D image takes a 2D PSF" in line
    assert "richardson_lucy and wiener deconvolve in 3D" not in line + spec
    assert "in-focus plane z=1" in spec


def test_the_dock_line_for_a_3d_psf_on_a_2d_image(tmp_path):
    from napari_microdeblur._widgets._run_status import in_focus_note
    from napari_microdeblur.core.method import MethodSpec

    path = tmp_path / "psf3.tif"
    tifffile.imwrite(path, np.stack([0.2 * gaussian_psf(2.0, size=11),
                                     0.6 * gaussian_psf(1.0, size=11),
                                     0.2 * gaussian_psf(2.0, size=11)]).astype(np.float32),
                     photometric="minisblack", metadata={"axes": "ZYX"})

    def run(axes):
        req = types.SimpleNamespace(axes=axes, method=MethodSpec(name="wiener_unet.psf_v4",
                                                                  psf=str(path)))
        outcome = types.SimpleNamespace(label="wiener_unet.psf_v4", result=types.SimpleNamespace(
            parameters={"card": {}, "psf": str(path)}))
        return types.SimpleNamespace(req=req, outcome=outcome)

    flat = in_focus_note(run("YX"))
    assert "(z=1 of 3)" in flat and "the image is 2D" in flat
    assert "deconvolve in 3D" not in flat
    assert "deconvolve in 3D" in in_focus_note(run("ZYX"))  # a z-stack: as before
