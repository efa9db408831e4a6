"""PSFs measured from bead images: core.beads and `microdeblur psf-from-beads`."""

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core.beads import fwhm, psf_from_beads


def gaussian(shape, centre, sigmas):
    grids = np.indices(shape, dtype=np.float64)
    return np.exp(-sum((g - c) ** 2 / (2 * s * s) for g, c, s in zip(grids, centre, sigmas)))


def on_grid(shape, spacing, margin, rng):
    """Bead centres on a grid, each moved by a random sub-pixel offset."""
    axes = [np.arange(margin, n - margin + 1, spacing) for n in shape]
    centres = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(shape))
    return centres + rng.uniform(0, 1, centres.shape)


def bead_image(shape, sigmas, *, spacing=40, margin=24, seed=0, background=100.0):
    """Poisson-noisy beads of a Gaussian PSF at sub-pixel positions, brightness 2000-6000."""
    rng = np.random.default_rng(seed)
    clean = np.full(shape, background)
    centres = on_grid(shape, spacing, margin, rng)
    for c in centres:
        clean += rng.uniform(2000, 6000) * gaussian(shape, c, sigmas)
    return rng.poisson(clean).astype(np.uint16), centres


def ncc(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def test_gaussian_beads_give_back_the_gaussian():
    image, centres = bead_image((256, 256), (1.5, 1.5))
    before = image.copy()
    psf, report = psf_from_beads(image)
    np.testing.assert_array_equal(image, before)
    assert psf.dtype == np.float32 and all(s % 2 == 1 for s in psf.shape)
    assert psf.sum(dtype=np.float64) == pytest.approx(1, abs=1e-5)
    assert report.used == len(centres) == report.candidates
    truth = gaussian(psf.shape, [s // 2 for s in psf.shape], (1.5, 1.5))
    for got, expected in zip(fwhm(psf), fwhm(truth)):
        assert got == pytest.approx(expected, rel=0.03)
    assert ncc(psf, truth) > 0.99
    centroid = ndimage.center_of_mass(psf)
    np.testing.assert_allclose(centroid, [s // 2 for s in psf.shape], atol=0.05)
    # positions are the beads' centres to sub-pixel precision
    found = np.array(report.positions)
    nearest = np.linalg.norm(found[:, None] - centres[None], axis=-1).min(axis=0)
    assert nearest.max() < 0.15
    assert "36 of 36 beads averaged (rejected: none)" in report.summary()


def test_widefield_beads_give_back_the_widefield_psf():
    pytest.importorskip("psfmodels")
    from napari_microdeblur.core.optics import widefield_psf

    truth = widefield_psf(1.4, 0.52, 0.065)  # 29 x 29, FWHM ~3.3 px, Airy rings
    rng = np.random.default_rng(3)
    shape = (320, 320)
    clean = np.full(shape, 100.0)
    for c in on_grid(shape, 50, 35, rng):
        whole = np.floor(c).astype(int)
        bead = np.zeros((61, 61))
        bead[16:45, 16:45] = truth / truth.max()
        bead = np.fft.ifftn(ndimage.fourier_shift(np.fft.fftn(bead), c - whole)).real
        clean[whole[0] - 30 : whole[0] + 31, whole[1] - 30 : whole[1] + 31] += 4000 * bead
    image = rng.poisson(np.clip(clean, 0, None)).astype(np.float32)
    psf, report = psf_from_beads(image)
    assert report.used == report.candidates == 36
    for got, expected in zip(fwhm(psf), fwhm(truth)):
        assert got == pytest.approx(expected, rel=0.03)
    h, c = truth.shape[0] // 2, psf.shape[0] // 2
    side = min(h, c)
    assert ncc(psf[c - side : c + side + 1, c - side : c + side + 1],
               truth[h - side : h + side + 1, h - side : h + side + 1]) > 0.95  # fmt: skip


def test_stack_of_beads_gives_a_3d_psf():
    sigmas = (2.5, 1.2, 1.2)
    image, centres = bead_image((48, 128, 128), sigmas, spacing=36, margin=20, seed=1)
    psf, report = psf_from_beads(image, axes="ZYX")
    assert psf.ndim == 3 and report.used == len(centres)
    truth = gaussian(psf.shape, [s // 2 for s in psf.shape], sigmas)
    for got, expected in zip(fwhm(psf), fwhm(truth)):
        assert got == pytest.approx(expected, rel=0.04)
    assert ncc(psf, truth) > 0.99


def test_crowded_saturated_merged_and_border_beads_are_left_out():
    rng = np.random.default_rng(2)
    shape = (300, 300)
    clean = np.full(shape, 100.0)
    good = on_grid((240, 300), 60, 30, rng)  # 4 x 5 isolated beads in rows 30..210
    for c in good:
        clean += 3000 * gaussian(shape, c, (1.5, 1.5))
    clean += 3000 * gaussian(shape, (262, 40), (1.5, 1.5))  # a pair 6 px apart
    clean += 3000 * gaussian(shape, (262, 46), (1.5, 1.5))
    clean += 3000 * gaussian(shape, (262, 100.5), (1.5, 1.5))  # a pair 3 px apart: one blob
    clean += 3000 * gaussian(shape, (262, 103.5), (1.5, 1.5))
    clean += 3000 * gaussian(shape, (297, 160), (1.5, 1.5))  # at the border
    clean += 40000 * gaussian(shape, (262, 220), (1.5, 1.5))  # clipped by the camera
    image = np.minimum(rng.poisson(clean), 4095).astype(np.uint16)
    psf, report = psf_from_beads(image, radius=9)
    assert report.used == len(good)
    assert report.rejected == {
        "near the border": 1,
        "not isolated": 2,
        "saturated": 1,
        "merged or outlier": 1,
    }
    truth = gaussian(psf.shape, [s // 2 for s in psf.shape], (1.5, 1.5))
    assert ncc(psf, truth) > 0.99


@pytest.mark.parametrize(
    "image, words",
    [
        (np.random.default_rng(0).normal(100, 5, (128, 128)), "has no bead"),
        (np.full((64, 64), 7.0), "has no bead"),
        (np.zeros((4, 64)), "at least 5 pixels"),
        (np.zeros((2, 3, 64, 64)), "2D \\(YX\\) or 3D \\(ZYX\\)"),
        (np.where(np.eye(64) > 0, np.nan, 1.0), "NaN"),
    ],
)
def test_images_without_usable_beads_raise_one_clear_error(image, words):
    with pytest.raises(ValueError, match=words):
        psf_from_beads(image)


def test_beads_too_close_for_the_radius_are_refused_saying_why():
    image, _ = bead_image((128, 128), (1.5, 1.5), spacing=12, margin=10)
    with pytest.raises(ValueError, match=r"none usable \(\d+ near the border, \d+ not isolated"):
        psf_from_beads(image, radius=8)


def test_bad_arguments():
    image, _ = bead_image((96, 96), (1.5, 1.5))
    with pytest.raises(ValueError, match="radius=0: give"):
        psf_from_beads(image, radius=0)
    with pytest.raises(ValueError, match="radius=5,5,5 has 3 values"):
        psf_from_beads(image, radius=(5, 5, 5))
    with pytest.raises(ValueError, match="threshold=-1: give a number above 0"):
        psf_from_beads(image, threshold=-1)
    with pytest.raises(ValueError, match="axes 'ZYX'"):
        psf_from_beads(image, axes="ZYX")
    with pytest.raises(TypeError, match="image is a list"):
        psf_from_beads(image.tolist())


# ----------------------------------------------------------------------------- the command


def test_cli_writes_the_psf_and_refuses_to_overwrite(tmp_path, capsys):
    image, centres = bead_image((256, 256), (1.5, 1.5))
    beads = tmp_path / "beads.tif"
    tifffile.imwrite(beads, image)
    out = tmp_path / "psf.tif"
    assert main(["psf-from-beads", str(beads), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"{len(centres)} of {len(centres)} beads averaged" in printed
    psf, _ = psf_from_beads(image)
    np.testing.assert_array_equal(tifffile.imread(out), psf)
    # the written PSF is a --psf for deblur
    deblurred = tmp_path / "deblurred.tif"
    assert main(["deblur", str(beads), "-o", str(deblurred), "--method", "wiener", "--psf",
                 str(out), "--device", "cpu", "-q"]) == 0  # fmt: skip
    assert tifffile.imread(deblurred).shape == image.shape
    assert main(["psf-from-beads", str(beads), "-o", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["psf-from-beads", str(beads), "-o", str(out), "--overwrite", "-q",
                 "--radius", "6"]) == 0  # fmt: skip
    assert tifffile.imread(out).shape == (13, 13)


def test_cli_error_is_one_line_and_writes_nothing(tmp_path, capsys):
    noise = np.random.default_rng(0).normal(100, 5, (128, 128)).astype(np.float32)
    path = tmp_path / "noise.tif"
    tifffile.imwrite(path, noise)
    out = tmp_path / "psf.tif"
    assert main(["psf-from-beads", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    # named by its file (the core sees an array: 'image (shape ...)' alone named nothing)
    assert err.startswith(f"microdeblur: error: {str(path)!r}: image (shape (128, 128)) has no "
                          "bead"), err
    assert "\n" not in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["noise.tif"]
    with pytest.raises(SystemExit):
        main(["psf-from-beads", str(path), "-o", str(out), "--radius", "a,b"])


def test_a_bead_stack_of_too_few_planes_says_it_needs_five():
    """A 3-plane bead z-stack: refused as before, and the line says how many planes a stack
    needs or to measure one plane (it said only 'at least 5 pixels per axis')."""
    stack = np.random.default_rng(0).random((3, 64, 64))
    with pytest.raises(ValueError, match="needs at least 5 planes"):
        psf_from_beads(stack, axes="ZYX")
    with pytest.raises(ValueError, match="per axis$"):
        psf_from_beads(np.random.default_rng(0).random((64, 4)), axes="YX")
