"""PSF-CycleGAN (paper 003): the PSF parametrisation and its priors, a PSF that moves toward a
known truth, 3D training on z-stacks, the exported PSF in every PSF method, and bad input."""

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage
from test_cycle_psf_2026_12_09 import quick_spectral_fit  # noqa: F401

from napari_microdeblur.cli import main
from napari_microdeblur.core import training
from napari_microdeblur.core.archs.psf_cyclegan import PSFLayer
from napari_microdeblur.core.checkpoint import load_model
from napari_microdeblur.core.data import UnpairedImages
from napari_microdeblur.core.data_volumes import UnpairedVolumes
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE
from napari_microdeblur.core.registry import build_model, get_arch

SMALL_D = {"base_channels": 4, "n_layers": 3}
SMALL_D_3D = {"base_channels": 4, "n_layers": 2}  # 16^3 patches: the quarter crop is 4^3


def tiny(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model("psf_cyclegan", {**get_arch("psf_cyclegan").tiny_config, **overrides})


def sigma_of(kernel: torch.Tensor) -> float:
    """RMS width (pixels) of a 2D kernel about its centroid, per axis."""
    k = kernel.detach().double()
    n = k.shape[-1]
    c = torch.arange(n, dtype=torch.float64) - (n - 1) / 2
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    var = sum((k * (g - (k * g).sum()) ** 2).sum() for g in (yy, xx)) / 2
    return float(var.sqrt())


# ----------------------------------------------------------------------------- the PSF layer


@pytest.mark.parametrize("dims", [2, 3])
def test_the_kernel_is_a_psf_and_its_sparsity_has_a_gradient(dims):
    layer = PSFLayer(spatial_dims=dims, size=7, init_sigma=1.5)
    with torch.no_grad():
        layer.amplitude.mul_(torch.randn_like(layer.amplitude))  # signs do not matter
    k = layer.kernel()
    assert (k >= 0).all() and float(k.detach().sum()) == pytest.approx(1.0, abs=1e-6)
    layer.sparsity().backward()
    assert float(layer.amplitude.grad.abs().max()) > 1e-3  # the paper's L1 is no longer a constant


def test_the_priors_measure_what_they_say():
    narrow, wide = PSFLayer(2, 9, 0.6), PSFLayer(2, 9, 2.0)
    assert narrow.sparsity() < wide.sparsity()  # a spread kernel is less sparse
    assert narrow.roughness() > wide.roughness()  # a spike is rough
    assert float(wide.off_centre()) == pytest.approx(0.0, abs=1e-8)
    with torch.no_grad():
        narrow.amplitude.copy_(torch.roll(narrow.amplitude, 2, dims=1))
    assert float(narrow.off_centre()) == pytest.approx(4.0, rel=0.05)  # shifted 2 px
    spike = PSFLayer(2, 9, 1.0)
    with torch.no_grad():
        spike.amplitude.zero_()
        spike.amplitude[4, 4] = 1.0
    assert float(spike.sparsity()) == pytest.approx(1.0)


@pytest.mark.parametrize("dims", [2, 3])
def test_a_point_symmetric_kernel_stays_symmetric_and_none_keeps_the_amplitudes(dims):
    torch.manual_seed(0)
    free, sym = PSFLayer(dims, 7, 1.5), PSFLayer(dims, 7, 1.5, symmetry="point")
    with torch.no_grad():
        sym.amplitude.copy_(torch.rand_like(sym.amplitude))  # lopsided amplitudes
        free.amplitude.copy_(sym.amplitude)
    k, reflected = sym.kernel(), sym.kernel().flip(list(range(dims)))
    assert torch.allclose(k, reflected, atol=1e-7) and float(sym.off_centre()) < 1e-10
    assert float(k.detach().sum()) == pytest.approx(1.0, abs=1e-6)
    f = free.kernel()
    assert not torch.allclose(f, f.flip(list(range(dims))), atol=1e-3)
    assert torch.allclose(f, free.amplitude**2 / (free.amplitude**2).sum())
    model = build_model("psf_cyclegan", {**get_arch("psf_cyclegan").tiny_config,
                                         "psf_symmetry": "point"})
    assert model.psf.symmetry == "point"


# ----------------------------------------------------------------------------- convergence


def textures(seed: int, n: int, side: int = 96) -> list[np.ndarray]:
    """Sharp random fields: white noise smoothed by 0.5 px (every scale has structure)."""
    rng = np.random.default_rng(seed)
    return [ndimage.gaussian_filter(rng.random((side, side)), 0.5) * 200 for _ in range(n)]


@pytest.mark.parametrize(("true_sigma", "init_sigma"), [(1.0, 2.5), (2.2, 0.8)])
def test_the_psf_moves_toward_the_true_one(true_sigma, init_sigma):
    """Fitting the PSF alone (the warm-up stage) for 80 steps closes at least a third of the gap
    between the initial and the true width, from a wider and from a narrower start."""
    true = gaussian_psf(true_sigma, size=11)
    blurry = [ndimage.convolve(t, true, mode="reflect") for t in textures(1, 4)]
    model = tiny(psf_size=11, psf_init_sigma=init_sigma)
    start = sigma_of(model.psf.kernel())
    config = dict(regime="psf_cyclegan", steps=80, psf_warmup=80, batch_size=8, patch=32,
                  lr=2e-4, psf_lr=0.03, schedule="constant", warmup=0, device="cpu",
                  discriminator={"base_channels": 8, "n_layers": 3},
                  loss_weights={"psf": 0.0, "psf_roughness": 0.0})
    sharp = UnpairedImages(textures(2, 4))
    training.fit(model, config, sharp, None, unpaired=UnpairedImages(blurry), unpaired_sharp=sharp)
    end = sigma_of(model.psf.kernel())
    truth = sigma_of(torch.from_numpy(true))
    assert abs(end - truth) < (2 / 3) * abs(start - truth), (start, end, truth)


def patches(images: list[np.ndarray], rng: np.random.Generator, n: int, side: int = 32):
    out = []
    for _ in range(n):
        im = images[rng.integers(len(images))]
        y, x = rng.integers(0, im.shape[0] - side, 2)
        out.append(im[y:y + side, x:x + side])
    return torch.from_numpy(np.stack(out)[:, None])


def test_the_spectrum_term_is_lowest_at_the_true_psf_and_fits_it():
    """Unpaired blurry (sigma 1.6, noise) and sharp textures: the power-spectrum loss ranks
    the true PSF below a narrower and a wider one, a Gaussian fitted to it alone lands within
    5 % of the true width; the running spectra survive a state round trip."""
    from napari_microdeblur.core.training.regimes.spectrum_match import SpectrumMatch

    rng = np.random.default_rng(0)
    true = gaussian_psf(1.6, size=11)
    blurry = [ndimage.convolve(t, true, mode="reflect") + rng.normal(0, 0.5, t.shape)
              for t in textures(1, 6)]
    match = SpectrumMatch(2)
    for _ in range(20):
        match.update(patches(blurry, rng, 16), patches(textures(2, 6), rng, 16))
    losses = {s: float(match.loss(torch.from_numpy(gaussian_psf(s, size=11))))
              for s in (1.1, 1.6, 2.2)}
    assert losses[1.6] < min(losses[1.1], losses[2.2]), losses
    restored = SpectrumMatch(2)
    restored.load_state_dict(match.state_dict(), "cpu")
    assert float(restored.loss(torch.from_numpy(true))) == pytest.approx(losses[1.6])
    # along the Gaussian family its gradient leads to the true width from a wider and a
    # narrower start (far from it the term is flat: the model drowns in the noise floor, and
    # the adversarial term leads the way, measured in benchmarks/papers_psf.py)
    c = torch.arange(11, dtype=torch.float64) - 5
    r2 = c[:, None] ** 2 + c[None, :] ** 2
    for start in (2.2, 1.1):
        log_sigma = torch.tensor(float(np.log(start)), requires_grad=True)
        opt = torch.optim.Adam([log_sigma], lr=0.02)
        for _ in range(100):
            k = torch.exp(-r2 / (2 * log_sigma.exp() ** 2))
            opt.zero_grad()
            match.loss(k / k.sum()).backward()
            opt.step()
        assert float(log_sigma.exp()) == pytest.approx(1.6, rel=0.05), start


@pytest.mark.parametrize("spectrum", [1.0, 0.0])
def test_the_psf_starts_from_the_gaussian_of_the_spectra_unless_the_term_is_off(spectrum):
    """One step at a learning rate that cannot move the PSF: with the spectrum term the PSF
    already has the true width (the Gaussian fitted to the spectra); without it, its start."""
    true = gaussian_psf(1.6, size=11)
    blurry = [ndimage.convolve(t, true, mode="reflect") for t in textures(1, 4)]
    model = tiny(psf_size=11, psf_init_sigma=3.0)
    config = dict(regime="psf_cyclegan", steps=1, psf_warmup=1, batch_size=8, patch=32,
                  lr=1e-9, psf_lr=1e-9, device="cpu", discriminator=SMALL_D,
                  loss_weights={"psf_spectrum": spectrum})
    sharp = UnpairedImages(textures(2, 4))
    training.fit(model, config, sharp, None, unpaired=UnpairedImages(blurry), unpaired_sharp=sharp)
    width = sigma_of(model.psf.kernel())
    expected = sigma_of(torch.from_numpy(true if spectrum else gaussian_psf(3.0, size=11)))
    assert width == pytest.approx(expected, rel=0.08), (width, expected)


def test_a_psf_larger_than_the_patch_is_refused_before_training():
    model = tiny(psf_size=21)
    config = dict(regime="psf_cyclegan", steps=1, batch_size=2, patch=16, device="cpu",
                  discriminator=SMALL_D)
    sharp = UnpairedImages(textures(2, 2))
    with pytest.raises(ValueError, match="larger than the training patches"):
        training.fit(model, config, sharp, None, unpaired=sharp, unpaired_sharp=sharp)


# ----------------------------------------------------------------------------- 3D


def volumes(seed: int, n: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [ndimage.gaussian_filter(rng.random((20, 24, 24)), 1.0) * 1000 for _ in range(n)]


@pytest.mark.usefixtures("quick_spectral_fit")  # the start's fit is not checked here
def test_3d_training_on_z_stacks():
    model = tiny(spatial_dims=3, psf_size=5)
    k0 = model.psf.kernel().detach().clone()
    config = dict(regime="psf_cyclegan", steps=4, psf_warmup=2, batch_size=2, patch=16,
                  lr=1e-3, device="cpu", discriminator=SMALL_D_3D)
    sharp = UnpairedVolumes(volumes(1))
    records = []
    training.fit(model, config, sharp, None, unpaired=volumes(2), unpaired_sharp=sharp,
                 callback=records.append)
    assert "cycle" in records[-1].losses and "cycle" not in records[0].losses  # the two stages
    k = model.psf.kernel().detach()
    assert k.shape == (5, 5, 5) and float((k - k0).abs().sum()) > 1e-5
    assert float(k.min()) >= 0 and float(k.sum()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("dims", "data_kind", "regime", "message"),
    [
        (3, "images", "psf_cyclegan", "holds 2D images but the model is 3D"),
        (2, "volumes", "psf_cyclegan", "holds z-stacks but the model is 2D"),
        (3, "volumes", "supervised", "regime trains 2D models"),
    ],
)
def test_a_3d_model_on_2d_images_and_the_reverse_fail_in_one_line(dims, data_kind, regime,
                                                                   message):
    model = tiny(spatial_dims=dims)
    source = (UnpairedVolumes(volumes(1)) if data_kind == "volumes"
              else UnpairedImages(textures(1, 1)))
    extra = {"unpaired": source, "unpaired_sharp": source} if regime == "psf_cyclegan" else {}
    with pytest.raises(ValueError, match=message) as err:
        training.fit(model, dict(regime=regime, steps=1, patch=16, device="cpu"), source, None,
                     **extra)
    assert "\n" not in str(err.value)


def test_psf_options_are_refused_for_other_regimes_and_3d_refuses_validation():
    with pytest.raises(ValueError, match="psf_lr is for the psf_cyclegan regime"):
        training.TrainingConfig(regime="supervised", steps=1, psf_lr=0.1)
    source = UnpairedVolumes(volumes(1))
    with pytest.raises(ValueError, match="3D models are trained without validation"):
        training.fit(tiny(spatial_dims=3), dict(regime="psf_cyclegan", steps=1, patch=16,
                                                device="cpu"),
                     source, [], unpaired=source, unpaired_sharp=source)


# ----------------------------------------------------------------------------- CLI round trip


def write_stacks(folder, arrays) -> str:
    folder.mkdir()
    for i, a in enumerate(arrays):
        tifffile.imwrite(folder / f"{i}.tif", a.astype(np.float32), metadata={"axes": "ZYX"})
    return str(folder)


@pytest.mark.usefixtures("quick_spectral_fit")  # the start's fit is not checked here
def test_cli_learns_a_3d_psf_that_deconvolves_a_z_stack(tmp_path):
    config = tmp_path / "arch.json"
    config.write_text('{"base_channels": 4, "depth": 2, "psf_size": 5}')
    psf = tmp_path / "psf3d.tif"
    argv = ["train", "--regime", "psf_cyclegan", "--arch", "psf_cyclegan", "--config",
            str(config), "--unpaired-blurry", write_stacks(tmp_path / "b", volumes(3)),
            "--unpaired-sharp", write_stacks(tmp_path / "s", volumes(4)),
            "--discriminator-config", str(tmp_path / "d.json"), "--steps", "2", "--patch", "16",
            "--batch", "2", "--device", "cpu", "-q", "--out", str(tmp_path / "w.safetensors"),
            "--export-psf", str(psf), "--psf-warmup", "1", "--psf-lr", "0.02"]
    (tmp_path / "d.json").write_text('{"base_channels": 4, "n_layers": 2}')
    assert main(argv) == 0
    kernel = tifffile.imread(psf)
    assert kernel.shape == (5, 5, 5) and kernel.sum() == pytest.approx(1.0, abs=1e-5)
    _, card = load_model(tmp_path / "w.safetensors")
    assert card.spatial_dims == 3
    assert card.training["psf_warmup"] == 1 and card.training["psf_lr"] == 0.02
    out = tmp_path / "rl.tif"
    stack = tmp_path / "b" / "0.tif"
    assert main(["deblur", str(stack), "-o", str(out), "--method", "richardson_lucy", "--psf",
                 str(psf), "-q"]) == 0
    assert tifffile.imread(out).shape == (20, 24, 24)


@pytest.mark.parametrize("method", ["richardson_lucy", "wiener", DEFAULT_PSF_AWARE])
def test_an_exported_2d_psf_works_in_every_psf_method(tmp_path, method):
    from napari_microdeblur.core.archs.psf_cyclegan import export_psf

    model = tiny(psf_size=7, psf_init_sigma=1.2)
    psf = tmp_path / "learned.tif"
    export_psf(model, psf)
    image = tmp_path / "in.tif"
    tifffile.imwrite(image, ndimage.convolve(textures(3, 1, 64)[0], gaussian_psf(1.2, size=7),
                                             mode="reflect").astype(np.float32))
    out = tmp_path / "out.tif"
    assert main(["deblur", str(image), "-o", str(out), "--method", method, "--psf", str(psf),
                 "--device", "cpu", "-q"]) == 0
    result = tifffile.imread(out)
    assert result.shape == (64, 64) and np.isfinite(result).all()


def test_psf_options_on_another_regime_fail_in_one_line(tmp_path, capsys):
    argv = ["train", "--regime", "supervised", "--arch", "gran", "--sharp", str(tmp_path),
            "--out", str(tmp_path / "w.safetensors"), "--psf-lr", "0.1"]
    assert main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == ["microdeblur: error: --psf-lr is for the regime psf_cyclegan, not "
                      "'supervised'"]


def test_the_blurry_set_is_not_flipped_or_turned():
    """Turning blurry patches would turn the PSF with them (an astigmatic PSF came out round):
    arrays are sampled as they are, and a source built with augment=True gets a note."""
    from napari_microdeblur.core.training.setup import prepare

    config = training.TrainingConfig(regime="psf_cyclegan", steps=1, patch=32, device="cpu",
                                     discriminator=SMALL_D)
    sharp = UnpairedImages(textures(2, 1, 48))
    setup = prepare(tiny(psf_size=5), config, sharp, None,
                    {"unpaired": textures(1, 1, 48), "unpaired_sharp": sharp}, None)
    assert setup.sources["unpaired"].augment is False and setup.sources["unpaired_sharp"].augment
    assert not any("augment" in note for note in setup.notes)
    flipped = prepare(tiny(psf_size=5), config, sharp, None,
                      {"unpaired": UnpairedImages(textures(1, 1, 48)), "unpaired_sharp": sharp},
                      None)
    assert any("augment=False" in note for note in flipped.notes)
