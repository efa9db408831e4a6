import numpy as np
import pytest
from scipy import ndimage

from napari_microdeblur.core.optics import confocal_psf, widefield_psf

pytest.importorskip("psfmodels")  # the optional extra [optics]

OIL = dict(na=1.4, wavelength=0.52, pixel=0.065)


def fwhm(profile: np.ndarray) -> float:
    """Full width at half maximum in pixels, linearly interpolated at both edges."""
    p = np.asarray(profile, dtype=np.float64) / profile.max()
    above = np.nonzero(p >= 0.5)[0]
    lo, hi = above.min(), above.max()
    left = lo - (p[lo] - 0.5) / (p[lo] - p[lo - 1])
    right = hi + (p[hi] - 0.5) / (p[hi] - p[hi + 1])
    return float(right - left)


def middle_row(psf):
    plane = psf if psf.ndim == 2 else psf[psf.shape[0] // 2]
    return plane[plane.shape[0] // 2]


def test_widefield_in_focus_matches_airy_width_and_is_normalised_and_centred():
    psf = widefield_psf(1.4, 0.52, 0.02)
    assert psf.dtype == np.float32 and psf.ndim == 2
    assert all(s % 2 == 1 for s in psf.shape)
    assert abs(float(psf.sum(dtype=np.float64)) - 1) < 1e-5
    assert np.unravel_index(psf.argmax(), psf.shape) == (psf.shape[0] // 2, psf.shape[1] // 2)
    # Airy FWHM 0.51 wavelength / NA; the vectorial model at NA 1.4 is a few % wider.
    airy = 0.51 * 0.52 / 1.4 / 0.02
    assert airy * 0.95 < fwhm(middle_row(psf)) < airy * 1.15


def test_default_size_holds_the_support_and_no_more():
    psf = widefield_psf(**OIL)
    border = np.concatenate([psf[0], psf[-1], psf[:, 0], psf[:, -1]])
    assert border.max() < 1e-3 * psf.max()
    inner = psf[2:-2, 2:-2]  # two pixels in, something is still above the level
    inner_border = np.concatenate([inner[0], inner[-1], inner[:, 0], inner[:, -1]])
    assert inner_border.max() >= 1e-3 * psf.max()


def test_explicit_size_is_honoured():
    assert widefield_psf(**OIL, size=25).shape == (25, 25)
    assert widefield_psf(**OIL, size=25, nz=5, dz=0.3).shape == (5, 25, 25)


def test_defocus_widens_and_keeps_the_centroid():
    focused = widefield_psf(**OIL)
    defocused = widefield_psf(**OIL, defocus=1.0)
    assert defocused.shape[0] > focused.shape[0]
    assert defocused.max() < 0.2 * focused.max()
    c = defocused.shape[0] // 2
    assert np.allclose(ndimage.center_of_mass(defocused), (c, c), atol=1e-3)


def test_index_mismatch_at_depth_aberrates_but_matched_index_does_not():
    focused = widefield_psf(**OIL)
    matched_deep = widefield_psf(**OIL, depth=20.0, size=focused.shape[0])
    assert np.allclose(matched_deep, focused, atol=1e-4 * focused.max())
    water_sample = widefield_psf(**OIL, ns=1.33, depth=20.0)
    assert water_sample.max() < 0.5 * focused.max()


def test_stack_is_centred_on_the_focal_plane():
    stack = widefield_psf(**OIL, nz=21, dz=0.2)
    assert stack.shape[0] == 21 and stack.ndim == 3
    assert abs(float(stack.sum(dtype=np.float64)) - 1) < 1e-5
    assert np.unravel_index(stack.argmax(), stack.shape)[0] == 10
    assert np.allclose(stack, stack[::-1], atol=1e-3 * stack.max())  # no aberration: symmetric


def test_confocal_is_narrower_than_widefield_and_the_pinhole_matters():
    wide = widefield_psf(1.4, 0.52, 0.02)
    conf = confocal_psf(1.4, 0.52, 0.02, excitation_wavelength=0.488)
    assert conf.dtype == np.float32 and abs(float(conf.sum(dtype=np.float64)) - 1) < 1e-5
    assert fwhm(middle_row(conf)) < 0.95 * fwhm(middle_row(wide))  # ~10% at 1 AU
    closed = confocal_psf(1.4, 0.52, 0.02, pinhole=0.2, size=41)
    opened = confocal_psf(1.4, 0.52, 0.02, pinhole=5.0, size=41)
    assert fwhm(middle_row(closed)) < fwhm(middle_row(opened))


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(na=0), "na is 0"),
        (dict(na=1.6), "below the immersion index"),
        (dict(na=1.4, ni=1.333), "below the immersion index"),
        (dict(wavelength=520), "520 would be nanometres"),
        (dict(wavelength=-0.5), "wavelength is -0.5"),
        (dict(pixel=0), "pixel is 0"),
        (dict(pixel=2.0), "at most 0.743 um"),
        (dict(ni=3.0), "ni is 3.0"),
        (dict(ns=0.5), "ns is 0.5"),
        (dict(depth=-1), "depth is -1"),
        (dict(defocus=float("nan")), "defocus is nan"),
        (dict(size=24), "size is 24"),
        (dict(size=5001), "size is 5001"),
        (dict(nz=4, dz=0.2), "nz is 4"),
        (dict(nz=5), "nz=5 needs dz="),
        (dict(defocus=50.0), "more than 1025 pixels"),
    ],
)
def test_out_of_range_optics_raise_one_clear_error(change, words):
    kwargs = dict(OIL, **change)
    with pytest.raises(ValueError, match=words):
        widefield_psf(**kwargs)


def test_bad_confocal_arguments():
    with pytest.raises(ValueError, match="pinhole is 0"):
        confocal_psf(**OIL, pinhole=0)
    with pytest.raises(ValueError, match="excitation_wavelength is 488"):
        confocal_psf(**OIL, excitation_wavelength=488)
    with pytest.raises(TypeError, match="na is '1.4'"):
        widefield_psf("1.4", 0.52, 0.065)


# ----------------------------------------------------------------------------- the command line


def test_cli_deblurs_with_an_optics_psf_and_refuses_bad_optics_in_one_line(tmp_path, capsys):
    import tifffile

    from napari_microdeblur.cli import main
    from napari_microdeblur.core.inference import deblur

    image = np.random.default_rng(0).uniform(0, 1000, (96, 96)).astype(np.float32)
    source, out = tmp_path / "in.tif", tmp_path / "out.tif"
    tifffile.imwrite(source, image)
    spec = "widefield:na=1.4,wavelength=0.52,pixel=0.065,defocus=0.2"
    args = ["deblur", str(source), "-o", str(out), "--method", "wiener", "--device", "cpu"]
    assert main([*args, "--psf", spec, "-q"]) == 0
    expected = deblur(image, method="wiener", psf=spec, device="cpu")
    np.testing.assert_allclose(tifffile.imread(out), expected, rtol=1e-5, atol=1e-3)
    out.unlink()
    capsys.readouterr()
    for bad, words in [
        ("widefield:na=1.6,wavelength=0.52,pixel=0.065", "below the immersion index"),
        ("confocal:na=1.4,wavelength=0.52,pixel=0", "pixel is 0.0"),
        ("widefield:na=1.4,wavelength=0.52", "lacks pixel"),
    ]:
        assert main([*args, "--psf", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("microdeblur: error: ") and words in err and "\n" not in err
        assert not out.exists()
