"""PSF-CycleGAN's unpaired sets (walkthrough of 2026-12-16):

1. --unpaired-blurry and --unpaired-sharp swapped trained to a point PSF without a word (the
   spectral fit was a point and the export matched it): refused before the first step, and an
   exported point PSF is warned of;
2. sets of different kinds (RGB against single-channel) named one side only, the same side
   both ways round: each option is named with what it holds;
3. a 2-channel set said `unpaired=` (a keyword) or went on to advice for the wrong set: one
   line naming both options and their channels.
"""

import json

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage
from test_cycle_psf_2026_12_09 import quick_spectral_fit  # noqa: F401

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry, training
from napari_microdeblur.core.data import UnpairedImages
from napari_microdeblur.core.notes import DeblurWarning
from napari_microdeblur.core.psf import astigmatic_psf, gaussian_psf

SMALL_D = {"base_channels": 4, "n_layers": 3}
TINY = {**registry.get_arch("psf_cyclegan").tiny_config, "base_channels": 4}


def textures(seed: int, n: int, side: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(ndimage.gaussian_filter(rng.random((side, side)), 0.5) * 200).astype(np.float32)
            for _ in range(n)]


def blurred(arrays):
    psf = astigmatic_psf(1.6, 0.8, 30.0, size=9)
    return [ndimage.convolve(a, psf, mode="reflect") for a in arrays]


def write(folder, arrays, axes="YX"):
    folder.mkdir()
    for i, a in enumerate(arrays):
        tifffile.imwrite(folder / f"{i}.tif", a, photometric="minisblack",
                         metadata={"axes": axes})
    return str(folder)


@pytest.fixture
def folders(tmp_path):
    sharp = textures(2, 3)
    gray8 = [np.clip(a, 0, 255).astype(np.uint8) for a in sharp]
    return {"blurry": write(tmp_path / "blurry", blurred(textures(1, 2))),
            "sharp": write(tmp_path / "sharp", sharp),
            "rgb": write(tmp_path / "rgb", [np.stack([g] * 3, -1) for g in gray8], "YXS"),
            "twoch": write(tmp_path / "twoch", [np.stack([g, g]) for g in gray8], "CYX")}


def train_argv(tmp_path, blurry, sharp, *extra):
    (tmp_path / "arch.json").write_text(json.dumps(TINY))
    (tmp_path / "d.json").write_text(json.dumps(SMALL_D))
    return ["train", "--regime", "psf_cyclegan", "--arch", "psf_cyclegan",
            "--config", str(tmp_path / "arch.json"), "--discriminator-config",
            str(tmp_path / "d.json"), "--unpaired-blurry", blurry, "--unpaired-sharp", sharp,
            "--out", str(tmp_path / "out.safetensors"), "--export-psf",
            str(tmp_path / "out_psf.tif"), "--patch", "32", "--batch", "2", "--steps", "2",
            "--device", "cpu", "-q", *extra]


def refused(argv, tmp_path, capsys) -> str:
    """Exit 2 with one error line, and no weights or PSF written."""
    assert main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith("microdeblur: error")]
    assert len(errors) == 1, errors
    assert not list(tmp_path.glob("out*"))
    return errors[0]


# ----------------------------------------------------------------------------- 1. swapped


@pytest.mark.usefixtures("quick_spectral_fit")  # the start's fit is not checked here
def test_swapped_folders_are_warned_of_before_the_first_step(tmp_path, folders, capsys):
    """A warning, not a refusal: right-way sets read up to 1.11 (swap_check's table), so a
    refusal could stop a right run with nothing to override it."""
    argv = train_argv(tmp_path, folders["sharp"], folders["blurry"])
    main(argv)
    line = next(x for x in capsys.readouterr().err.splitlines() if "are the two swapped" in x)
    assert line.startswith("microdeblur: warning: psf_cyclegan: the blurry set")
    assert f"--unpaired-blurry {folders['sharp']}) looks sharper than" in line
    assert f"--unpaired-sharp {folders['blurry']}" in line and "unpaired=" not in line


def cycle_steps(model, blurry, sharp, **config):
    config = training.TrainingConfig(regime="psf_cyclegan", steps=1, batch_size=2, patch=32,
                                      device="cpu", discriminator=SMALL_D, **config)
    return training.iter_fit(model, config, UnpairedImages(blurry),
                             unpaired=UnpairedImages(blurry, augment=False),
                             unpaired_sharp=UnpairedImages(sharp))


@pytest.mark.usefixtures("quick_spectral_fit")  # the start's fit is not checked here
def test_the_warning_comes_before_the_psf_changes():
    """In the core too (the dock trains through it): said before the first step."""
    model = registry.build_model("psf_cyclegan", TINY, seed=0)
    steps = cycle_steps(model, textures(2, 3), blurred(textures(1, 2)))  # swapped
    with pytest.warns(DeblurWarning, match="are the two swapped") as said:
        next(steps)  # the first step's record
    steps.close()
    swapped = [str(w.message) for w in said if "are the two swapped" in str(w.message)]
    assert len(swapped) == 1 and "looks sharper than" in swapped[0]


def test_swap_ratio_tells_the_blurrier_set_on_8_bit_images():
    from napari_microdeblur.core.training.regimes.swap_check import MIN_SWAP_RATIO, swap_ratio

    def cells(seed, n, side=96):  # bright squares on a dark 8-bit background
        rng, out = np.random.default_rng(seed), []
        for _ in range(n):
            a = np.full((side, side), 8.0)
            for _ in range(25):
                y, x = rng.integers(4, side - 4, 2)
                a[y - 2:y + 3, x - 2:x + 3] = rng.uniform(80, 200)
            out.append(a)
        return out

    sharp = [a.astype(np.uint8) for a in cells(3, 3)]
    blurry = [ndimage.gaussian_filter(a, 2).astype(np.uint8) for a in cells(4, 3)]
    right = swap_ratio(UnpairedImages(blurry), UnpairedImages(sharp))
    swapped = swap_ratio(UnpairedImages(sharp), UnpairedImages(blurry))
    assert right < 1 < MIN_SWAP_RATIO < swapped
    assert swap_ratio(UnpairedImages(blurry), None) is None  # training pairs: not compared


def test_a_point_fit_of_unswapped_sets_starts_from_the_configured_psf(monkeypatch):
    """The walkthrough's 8-bit HT29 set the right way round fitted a point (0.011 px) and was
    refused: now one warning, the configured PSF and no spectrum term."""
    from napari_microdeblur.core.training.regimes import cycle, spectrum_match

    monkeypatch.setattr(spectrum_match.SpectrumMatch, "fit_gaussian",
                        lambda self, size, **kw: torch.from_numpy(point(size)).double())
    started = []
    start_psf = cycle.PsfCycleGan.start_psf

    def spy(self, trainer):
        start_psf(self, trainer)
        started.append((self.psf_start_kind, self.psf_start.clone()))

    monkeypatch.setattr(cycle.PsfCycleGan, "start_psf", spy)
    model = registry.build_model("psf_cyclegan", TINY, seed=0)
    before = model.psf.kernel().detach().clone()
    steps = cycle_steps(model, blurred(textures(1, 2)), textures(2, 3), psf_warmup=1)
    with pytest.warns(DeblurWarning, match="is a point") as said:
        step = next(steps)
    lines = [str(w.message) for w in said if "is a point" in str(w.message)]
    assert len(lines) == 1 and "configured" in lines[0] and "psf_spectrum=0" in lines[0]
    assert "psf_spectrum" not in step.losses  # the term that would pull it to the point is off
    steps.close()
    assert started[0][0] == "configured"
    torch.testing.assert_close(started[0][1], before)  # not the point


def test_kernel_sigmas_are_the_principal_widths():
    from napari_microdeblur.core.training.regimes.cycle import kernel_sigmas

    sig = kernel_sigmas(torch.from_numpy(astigmatic_psf(2.2, 1.1, 30.0, size=21)))
    np.testing.assert_allclose(sig.numpy(), [1.1, 2.2], rtol=0.03)


def point(size=21) -> np.ndarray:
    k = np.full((size, size), 1e-6, np.float32)
    k[size // 2, size // 2] = 1.0
    return k


def test_an_exported_point_psf_is_warned_of():
    from napari_microdeblur.core.psf_quality import choose_export

    # the walkthrough's: a point that matches its own point start passed every check
    chosen = choose_export(point(), point(), "spectral fit")
    assert chosen.which == "learned"
    assert "is a point" in chosen.warning and "swapped" in chosen.warning
    assert "psf-estimate" in chosen.warning
    # a real PSF: no word
    good = gaussian_psf(1.5, size=21)
    assert choose_export(good, good, "spectral fit").warning is None


def test_export_learned_psf_warns_of_a_point(tmp_path):
    from napari_microdeblur.cli_regimes import export_learned_psf

    model = registry.build_model("psf_cyclegan", {**TINY, "psf_size": 21}, seed=0)
    with torch.no_grad():
        model.psf.amplitude.copy_(torch.from_numpy(np.sqrt(point() / point().sum())))
    run = {"start": torch.from_numpy(point()), "start_kind": "spectral fit"}
    with pytest.warns(DeblurWarning, match="is a point"):
        export_learned_psf(model, str(tmp_path), str(tmp_path / "psf.tif"),
                           weights="w.safetensors", run=run)
    assert (tmp_path / "psf.tif").exists()


# ----------------------------------------------------------------------------- 2./3. kinds


@pytest.mark.parametrize(("blurry", "sharp", "kinds"), [
    ("blurry", "rgb", ("single-channel", "RGB")),
    ("rgb", "blurry", ("RGB", "single-channel")),
    ("twoch", "sharp", ("2-channel", "single-channel")),
    ("sharp", "twoch", ("single-channel", "2-channel")),
])
def test_sets_of_different_kinds_name_each_option_with_what_it_holds(
        tmp_path, folders, capsys, blurry, sharp, kinds):
    line = refused(train_argv(tmp_path, folders[blurry], folders[sharp]), tmp_path, capsys)
    assert (f"--unpaired-blurry {folders[blurry]} holds {kinds[0]} images but "
            f"--unpaired-sharp {folders[sharp]} holds {kinds[1]} ones") in line
    assert "unpaired=" not in line and "in_channels" not in line


def test_a_set_of_other_channels_than_sharp_is_named_by_its_option(tmp_path, folders, capsys):
    argv = train_argv(tmp_path, folders["twoch"], folders["twoch"], "--sharp", folders["sharp"])
    line = refused(argv, tmp_path, capsys)
    assert f"(--unpaired-blurry {folders['twoch']}) has 2-channel images" in line
    assert "unpaired=" not in line
    argv = train_argv(tmp_path, folders["blurry"], folders["sharp"], "--sharp", folders["rgb"])
    line = refused(argv, tmp_path, capsys)
    assert f"--sharp {folders['rgb']} holds RGB ones" in line
