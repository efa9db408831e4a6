"""A help-text walkthrough: finetune(out=...)'s result named the temporary best.safetensors,
removed when Python exits; demo --iterations 0 / --balance -1 offered 'auto', which demo
refuses; psf-from-beads --help did not say the default radius comes from the beads' FWHM after
the 1-px smoothing they are found in; finetune without images left out --self IMG --psf PSF."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import build_parser, main


def _blobs(size=96, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    img = np.zeros((size, size), np.float32)
    for cy, cx in rng.integers(8, size - 8, (6, 2)):
        img += 100 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 8.0)
    return img + 5 + rng.normal(0, 1, img.shape).astype(np.float32)


def test_finetune_out_is_the_result_file(tiny_gran_weights, tmp_path):
    from scipy.ndimage import gaussian_filter

    from napari_microdeblur.core.checkpoint import sha256_file
    from napari_microdeblur.core.finetune import finetune

    sharp = _blobs()
    blurry = gaussian_filter(sharp, 1.6).astype(np.float32)
    out = tmp_path / "tuned.safetensors"
    result = finetune(str(tiny_gran_weights), blurry, sharp, steps=4, patch=32, batch_size=2,
                      device="cpu", out=out, val_fraction=0.25)
    # it was <tmp>/microdeblur-finetune-.../best.safetensors, gone once Python exits
    assert result.file == out and result.file.is_file()
    assert result.card.source == str(out) and result.card.sha256 == sha256_file(out)
    assert repr(result).count(str(out)) == 1  # the concise repr names the file kept


def _demo_error(capsys, *args) -> str:
    try:
        code = main(["demo", "--device", "cpu", *args])
    except SystemExit as stop:
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("option, value", [("--iterations", "0"), ("--iterations", "auto"),
                                           ("--iterations", "1001"), ("--balance", "-1"),
                                           ("--balance", "nan"), ("--balance", "auto")])
def test_demo_refuses_its_settings_without_offering_auto(capsys, monkeypatch, option, value):
    from napari_microdeblur.core import tuning

    monkeypatch.setattr(tuning, "tune_classical", lambda *a, **k: pytest.fail("tuned first"))
    err = _demo_error(capsys, option, value)
    assert f"{option}: {value!r}: give" in err and f"leave {option} out" in err
    assert "'auto'" not in err.replace(f"{value!r}:", "")  # 'auto' is deblur's, not demo's


def test_demo_takes_in_range_settings():
    args = build_parser().parse_args(["demo", "--iterations", "1000", "--balance", "1e-4"])
    assert (args.iterations, args.balance) == (1000, 1e-4)


def test_beads_radius_help_says_what_is_measured(capsys):
    import inspect

    from napari_microdeblur.core import beads

    with pytest.raises(SystemExit):
        main(["psf-from-beads", "--help"])
    words = " ".join(capsys.readouterr().out.split())
    assert "2.5 x the median FWHM" in words
    # bead_width measures the smoothed image psf_from_beads finds the beads in
    assert "after the 1-px Gaussian smoothing the beads are found in" in words
    assert "smooth = ndimage.gaussian_filter(data, 1.0)" in inspect.getsource(
        beads.psf_from_beads)
    assert "beads of FWHM 3.5 px measure 4.2, radius 11" in words


def test_beads_radius_example_in_the_help_holds():
    """Gaussian beads of sigma 1.5 px (FWHM 3.53): the default radius is 11, not 9."""
    from napari_microdeblur.core.beads import psf_from_beads

    rng = np.random.default_rng(0)
    y, x = np.mgrid[:192, :192]
    img = np.full((192, 192), 100.0)
    for cy in range(24, 192, 48):
        for cx in range(24, 192, 48):
            img += 2000 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 1.5**2))
    psf, _ = psf_from_beads(rng.poisson(img).astype(np.float32))
    assert psf.shape == (23, 23)


def test_finetune_without_images_names_self_too(tiny_gran_weights, tmp_path, capsys):
    code = main(["finetune", "--weights", str(tiny_gran_weights), "--out",
                 str(tmp_path / "x.safetensors"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "--self IMG --psf PSF" in err and "--stack Z.tif" in err
    assert "--blurry B.tif and --sharp S.tif" in err and not (tmp_path / "x.safetensors").exists()


def test_finetune_with_stack_and_pairs_still_says_either(tiny_gran_weights, tmp_path, capsys):
    image = tmp_path / "a.tif"
    tifffile.imwrite(image, _blobs(64))
    code = main(["finetune", "--weights", str(tiny_gran_weights), "--out",
                 str(tmp_path / "x.safetensors"), "--device", "cpu", "--stack", str(image),
                 "--blurry", str(image), "--sharp", str(image)])
    err = capsys.readouterr().err
    assert code == 2 and "give either --stack Z.tif or both --blurry" in err
