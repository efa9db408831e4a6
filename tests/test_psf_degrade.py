"""PSF models and the synthetic degradation protocols of EVALUATION.md."""

import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur.core import degrade as dg
from napari_microdeblur.core import psf as psfs

DATA = Path(__file__).parent / "data"


def load(name):
    return tifffile.imread(DATA / name)


def moments(p):
    """Centroid and covariance of a PSF, in pixel coordinates."""
    grids = np.meshgrid(*[np.arange(s, dtype=np.float64) for s in p.shape], indexing="ij")
    w = p.astype(np.float64) / p.sum()
    c = np.array([(g * w).sum() for g in grids])
    d = [g - ci for g, ci in zip(grids, c)]
    cov = np.array([[(a * b * w).sum() for b in d] for a in d])
    return c, cov


ALL_PSFS = {
    "gaussian": lambda: psfs.gaussian_psf(1.6),
    "gaussian_aniso": lambda: psfs.gaussian_psf((2.0, 1.0)),
    "gaussian_3d": lambda: psfs.gaussian_psf((1.0, 1.6, 1.6), ndim=3),
    "disk": lambda: psfs.disk_psf(3),
    "astig": lambda: psfs.astigmatic_psf(2.5, 0.8, 30),
    "protocol_A": lambda: dg.protocol_psf("A"),
}


@pytest.mark.parametrize("name", list(ALL_PSFS))
def test_psfs_are_normalised_odd_and_centred(name):
    p = ALL_PSFS[name]()
    assert p.dtype == np.float32
    assert p.sum(dtype=np.float64) == pytest.approx(1.0, abs=1e-6)
    assert all(s % 2 == 1 for s in p.shape)
    assert p.min() >= 0
    centroid, _ = moments(p)
    np.testing.assert_allclose(centroid, [s // 2 for s in p.shape], atol=1e-5)


def test_psf_shapes_and_widths():
    assert dg.protocol_psf("A").shape == (25, 25)
    assert psfs.gaussian_psf(1.6).shape == (15, 15)  # 2 * ceil(4 * 1.6) + 1
    assert psfs.gaussian_psf((2.0, 1.0)).shape == (17, 9)
    assert psfs.gaussian_psf((1.0, 1.6, 1.6), ndim=3).shape == (9, 15, 15)
    assert psfs.gaussian_psf(1.0, size=(5, 7)).shape == (5, 7)
    assert psfs.disk_psf(3).shape == (7, 7)
    assert psfs.astigmatic_psf(2.5, 0.8, 30).shape == (21, 21)
    # A sampled Gaussian's variance is sigma^2 (up to truncation): the width is right.
    _, cov = moments(dg.protocol_psf("A"))
    np.testing.assert_allclose(np.diag(cov), [1.6**2, 1.6**2], rtol=1e-3)
    _, cov = moments(psfs.gaussian_psf((2.0, 1.0)))
    np.testing.assert_allclose(np.diag(cov), [4.0, 1.0], rtol=2e-3)


def test_disk_edges_are_anti_aliased():
    p = psfs.disk_psf(3)
    inside = p[3, 3]
    assert np.allclose(p[1:6, 2:5], inside)  # fully covered pixels are equal
    # The pixel straddling the circle on an axis is about half covered.
    assert 0.4 * inside < p[3, 0] < 0.6 * inside
    assert p[0, 0] == 0
    # Fractional coverage: the total mass grows smoothly with radius (pi r^2).
    areas = [(psfs.disk_psf(r, size=9) > 0).sum() for r in (2.9, 3.0, 3.1)]
    assert areas == sorted(areas)


def test_astigmatic_axes_and_angle():
    _, cov = moments(psfs.astigmatic_psf(2.5, 0.8, 30))
    evals, evecs = np.linalg.eigh(cov)
    np.testing.assert_allclose(np.sqrt(evals), [0.8, 2.5], rtol=2e-3)
    major_y, major_x = evecs[:, 1]
    angle = np.degrees(np.arctan2(major_y, major_x)) % 180
    assert angle == pytest.approx(30.0, abs=0.1)


def test_read_psf_round_trips_and_pads_even_axes(tmp_path):
    p3 = psfs.gaussian_psf((1.0, 1.5, 1.5), ndim=3)
    path = tmp_path / "psf3d.tif"
    tifffile.imwrite(path, (p3 * 1000).astype(np.float32))
    got = psfs.read_psf(path)
    assert got.shape == p3.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, p3, atol=1e-7)

    # An even-sized PSF with its peak at index 12 of 24 gains a trailing row/column, which
    # shares the first one's light (so a PSF symmetric but for that face becomes symmetric)
    even = psfs.gaussian_psf(2.0, size=25)[:24, :24].copy()
    even[0, 0] = -0.001  # background-subtraction undershoot: 2.5% of the peak
    tifffile.imwrite(tmp_path / "even.tif", even)
    got = psfs.read_psf(tmp_path / "even.tif")
    assert got.shape == (25, 25) and got.min() == 0
    np.testing.assert_allclose(got[-1], got[0], atol=1e-12)
    np.testing.assert_allclose(got[:, -1], got[:, 0], atol=1e-12)
    assert np.unravel_index(got.argmax(), got.shape) == (12, 12)
    assert got.sum(dtype=np.float64) == pytest.approx(1.0, abs=1e-6)

    # parse_psf accepts the path too.
    np.testing.assert_array_equal(psfs.parse_psf(str(path)), psfs.read_psf(path))


def test_read_psf_rejects_bad_files(tmp_path):
    tifffile.imwrite(tmp_path / "zero.tif", np.zeros((9, 9), np.float32))
    with pytest.raises(ValueError, match="no positive values"):
        psfs.read_psf(tmp_path / "zero.tif")
    bad = np.ones((9, 9), np.float32)
    bad[4, 4] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", bad)
    with pytest.raises(ValueError, match="NaN"):
        psfs.read_psf(tmp_path / "nan.tif")
    tifffile.imwrite(tmp_path / "4d.tif", np.ones((3, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"\(3, 3, 5, 5\)"):
        psfs.read_psf(tmp_path / "4d.tif")
    with pytest.raises(FileNotFoundError, match="missing.tif"):
        psfs.read_psf(tmp_path / "missing.tif")
    negative = psfs.gaussian_psf(2.0) - 0.01  # a third of the peak below zero: not undershoot
    tifffile.imwrite(tmp_path / "negative.tif", negative)
    with pytest.raises(ValueError, match=r"negative values down to -0.01 \(34% of its peak"):
        psfs.read_psf(tmp_path / "negative.tif")


def test_parse_psf_forms_and_errors():
    np.testing.assert_array_equal(psfs.parse_psf("gaussian:1.6"), psfs.gaussian_psf(1.6))
    np.testing.assert_array_equal(psfs.parse_psf("gaussian:2.0,1.0"), psfs.gaussian_psf((2.0, 1.0)))
    np.testing.assert_array_equal(psfs.parse_psf("disk:3"), psfs.disk_psf(3))
    np.testing.assert_array_equal(
        psfs.parse_psf(" astig:2.5,0.8,30 "), psfs.astigmatic_psf(2.5, 0.8, 30)
    )
    for bad in ("airy:2", "gaussian:", "gaussian:1,2,3", "disk:x", "astig:2,1"):
        with pytest.raises(
            ValueError, match="accepted: 'gaussian:SIGMA'.*disk.*astig.*widefield.*tif"
        ):
            psfs.parse_psf(bad)
    with pytest.raises(TypeError, match="spec"):
        psfs.parse_psf(1.6)
    with pytest.raises(ValueError, match="sigma"):
        psfs.gaussian_psf(-1)
    with pytest.raises(ValueError, match="size"):
        psfs.gaussian_psf(1.6, size=24)
    with pytest.raises(ValueError, match="sigma_minor"):
        psfs.astigmatic_psf(0.8, 2.5, 30)


def test_optics_without_psfmodels_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "psfmodels", None)  # import psfmodels now fails
    with pytest.raises(ImportError, match=r"napari-microdeblur\[optics\]"):
        psfs.parse_psf("widefield:na=1.3,wavelength=0.61,pixel=0.1")
    with pytest.raises(ValueError, match="na is 1.6"):  # ranges are checked all the same
        psfs.parse_psf("widefield:na=1.6,wavelength=0.61,pixel=0.1")
    from napari_microdeblur.cli import main

    tifffile.imwrite(tmp_path / "in.tif", np.ones((48, 48), np.float32))
    out = tmp_path / "out.tif"
    args = ["deblur", str(tmp_path / "in.tif"), "-o", str(out), "--method", "wiener"]
    assert main([*args, "--psf", "widefield:na=1.3,wavelength=0.61,pixel=0.1"]) == 2
    assert "pip install 'napari-microdeblur[optics]'" in capsys.readouterr().err
    assert not out.exists()


def test_parse_psf_optics_forms_match_core_optics():
    pytest.importorskip("psfmodels")
    from napari_microdeblur.core import optics

    spec = "widefield:na=1.4,wavelength=0.52,pixel=0.065,ni=1.515,ns=1.33,depth=5,defocus=0.3"
    expected = optics.widefield_psf(1.4, 0.52, 0.065, ns=1.33, depth=5.0, defocus=0.3)
    np.testing.assert_array_equal(psfs.parse_psf(spec), expected)
    got = psfs.parse_psf(spec)
    got[0, 0] = 7  # the cached PSF is handed out as a copy
    np.testing.assert_array_equal(psfs.parse_psf(spec), expected)
    stack = psfs.parse_psf(" Widefield: NA=1.4, wavelength=0.52, pixel=0.065, nz=5, dz=0.3 ")
    assert stack.shape[0] == 5 and stack.ndim == 3
    confocal = "confocal:na=1.2,wavelength=0.6,pixel=0.08,ni=1.333,excitation_wavelength=0.56"
    np.testing.assert_array_equal(
        psfs.parse_psf(confocal),
        optics.confocal_psf(1.2, 0.6, 0.08, ni=1.333, excitation_wavelength=0.56),
    )
    assert psfs.is_psf_model("confocal:na=1") and not psfs.is_psf_model("psf.tif")


@pytest.mark.parametrize(
    "spec, words",
    [
        ("widefield:na=1.4,wavelength=0.52", "lacks pixel"),
        ("widefield:na=1.4,wavelength=0.52,pixel=0.065,pinhole=1", "accepted keys for widefield"),
        ("widefield:na=1.4,wavelength=0.52,pixel=0.065,na=1.2", "gives na twice"),
        ("widefield:na=1.4,wavelength=0.52,pixel=0.065,defocus", "not KEY=VALUE"),
        ("widefield:na=high,wavelength=0.52,pixel=0.065", "na='high' is not a number"),
        ("widefield:na=1.4,wavelength=0.52,pixel=0.065,nz=3.5", "nz='3.5' is not an integer"),
        ("widefield:na=1.6,wavelength=0.52,pixel=0.065", "below the immersion index"),
        ("confocal:na=1.4,wavelength=520,pixel=0.065", "would be nanometres"),
        ("confocal:na=1.4,wavelength=0.52,pixel=-0.1", "pixel is -0.1"),
    ],
)
def test_parse_psf_optics_errors_name_the_key(spec, words):
    with pytest.raises(ValueError, match=words):
        psfs.parse_psf(spec)


def test_check_psf_normalises_a_copy_and_refuses_what_is_not_a_psf():
    kernel = psfs.gaussian_psf(1.5) * 40
    before = kernel.copy()
    got = psfs.check_psf(kernel, 2)
    np.testing.assert_array_equal(kernel, before)
    assert got.dtype == np.float32 and got.sum(dtype=np.float64) == pytest.approx(1, abs=1e-6)
    slightly = kernel.copy()
    slightly[0, 0] = -0.01 * kernel.max()
    assert psfs.check_psf(slightly, 2).min() == 0
    bad = {
        "negative values down to": kernel - 0.5 * kernel.max(),
        "no positive values": np.zeros((9, 9)),
        "NaN or infinite": np.where(kernel > kernel.max() / 2, np.nan, kernel),
        r"3 dimension\(s\) .* 2 spatial dimensions \(YX\); accepted: a 2D PSF": kernel[None],
        r"2 dimension\(s\) .* 3 spatial dimensions \(ZYX\)": kernel,
        "empty": np.zeros((0, 5)),
    }
    for words, value in bad.items():
        with pytest.raises(ValueError, match=words):
            psfs.check_psf(value, 3 if "ZYX" in words else 2)
    with pytest.raises(TypeError, match="dtype complex"):
        psfs.check_psf(kernel.astype(np.complex64), 2)
    with pytest.raises(TypeError, match="psf is a list"):
        psfs.check_psf(kernel.tolist(), 2)


def test_fit_psf_to_image_leaves_a_small_psf_alone():
    kernel = psfs.gaussian_psf(2.0)
    got, note = psfs.fit_psf_to_image(kernel, (64, 64))
    assert note is None
    np.testing.assert_array_equal(got, kernel)


def test_fit_psf_to_image_cuts_a_noisy_bead_image_to_its_support():
    rng = np.random.default_rng(0)
    bead = psfs.gaussian_psf(2.0, size=21)
    image = 100 + rng.normal(0, 2, (301, 301))  # camera offset and read noise
    image[140:161, 150:171] += 1e5 * bead  # off centre
    before = image.copy()
    got, note = psfs.fit_psf_to_image(image, (128, 128))
    np.testing.assert_array_equal(image, before)
    assert all(s % 2 == 1 and s < 128 for s in got.shape)
    assert got.sum(dtype=np.float64) == pytest.approx(1, abs=1e-6)
    c = got.shape[0] // 2
    assert np.unravel_index(got.argmax(), got.shape) == (c, c)
    inner = got[c - 5 : c + 6, c - 5 : c + 6]
    expected = bead[5:16, 5:16]
    assert np.corrcoef(inner.ravel(), expected.ravel())[0, 1] > 0.99
    assert "\n" not in note
    assert note.startswith("the PSF (301, 301) is as large as or larger than the image (128, 128)")
    assert "background 2.4% of the peak subtracted" in note


def test_fit_psf_to_image_keeps_a_wide_psf_below_the_image_size():
    wide = psfs.gaussian_psf(20.0)  # 161 x 161
    got, note = psfs.fit_psf_to_image(wide, (128, 100))
    assert got.shape == (127, 99)
    assert "cut to (127, 99)" in note and "98.6% of its intensity kept" in note
    stack = psfs.gaussian_psf((3.0, 1.5, 1.5), ndim=3)  # 25 x 13 x 13
    got, note = psfs.fit_psf_to_image(stack, (10, 64, 64))
    assert got.shape == (9, 11, 11)  # 1e-3 of the peak: 5.6 sigma laterally
    assert "background" not in note  # a border below 1e-3 of the peak is the PSF's own wings
    centroid, _ = moments(got)
    np.testing.assert_allclose(centroid, [s // 2 for s in got.shape], atol=0.05)
    with pytest.raises(TypeError, match="image_shape"):
        psfs.fit_psf_to_image(wide, 128)
    with pytest.raises(ValueError, match=r"2 dimension\(s\)"):
        psfs.fit_psf_to_image(wide, (10, 128, 128))


@pytest.mark.parametrize(
    "kernel, words",
    [
        (psfs.gaussian_psf(1.5) - 0.01, "negative values down to"),
        (np.zeros((9, 9), np.float32), "no positive values"),
        (np.where(psfs.gaussian_psf(1.5) > 0.05, np.nan, 0.01).astype(np.float32), "NaN"),
        (psfs.gaussian_psf((1.0, 1.5, 1.5), ndim=3), r"3D|3 dimension"),
    ],
)
def test_cli_refuses_a_bad_psf_file_in_one_line_and_writes_nothing(tmp_path, capsys, kernel, words):
    from napari_microdeblur.cli import main

    tifffile.imwrite(tmp_path / "in.tif", np.ones((48, 48), np.float32))
    tifffile.imwrite(tmp_path / "psf.tif", kernel)
    out = tmp_path / "out.tif"
    args = ["deblur", str(tmp_path / "in.tif"), "-o", str(out), "--psf", str(tmp_path / "psf.tif")]
    assert main([*args, "--method", "richardson_lucy", "--iterations", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("microdeblur: error: ") and "\n" not in err
    assert re.search(words, err)
    assert not out.exists()


# ----------------------------------------------------------------------------- degradations


def blur_per_plane(image01, protocol, channel_axis=None):
    """Reference blur: scipy.ndimage 'reflect' on each YX plane separately."""
    p = dg.protocol_psf(protocol).astype(np.float64)
    x = np.moveaxis(image01, channel_axis, 0) if channel_axis is not None else image01
    planes = x.reshape(-1, *x.shape[-2:])
    out = np.stack([ndimage.convolve(pl, p, mode="reflect") for pl in planes]).reshape(x.shape)
    return np.moveaxis(out, 0, channel_axis) if channel_axis is not None else out


@pytest.mark.parametrize("protocol", dg.PROTOCOLS)
def test_seeded_degradation_repeats_and_varies(protocol):
    img = load("fluo_ht29_dna_u8.tif")
    before = img.copy()
    a = dg.degrade(img, protocol, seed=5)
    b = dg.degrade(img, protocol, seed=5)
    c = dg.degrade(img, protocol, seed=6)
    np.testing.assert_array_equal(img, before)
    assert a.dtype == np.float32 and a.shape == img.shape
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 0.5  # grey levels: a different noise draw
    assert 0 <= a.min() and a.max() <= 255


@pytest.mark.parametrize("protocol", ["A", "C"])
def test_gaussian_noise_level_and_blur(protocol):
    img01 = load("fluo_ht29_dna_u8.tif") / 255.0
    out = dg.degrade01(img01, protocol, seed=0)
    blurred = blur_per_plane(img01, protocol)
    resid = (out - blurred)[(blurred > 0.05) & (blurred < 0.95)]  # away from the clip
    assert abs(resid.mean()) < 3e-4
    assert resid.std() == pytest.approx(2 / 255, rel=0.05)


def test_poisson_noise_level_protocol_b():
    img01 = load("fluo_ht29_dna_u8.tif") / 255.0
    out = dg.degrade01(img01, "B", seed=0)
    blurred = blur_per_plane(img01, "B")
    keep = (blurred > 0.05) & (blurred < 0.9)
    resid = (out - blurred)[keep]
    expected_var = (blurred[keep] / 200 + 0.01**2).mean()  # shot noise + read noise
    assert (resid**2).mean() == pytest.approx(expected_var, rel=0.1)


def test_rgb_channels_and_stack_planes_are_blurred_separately():
    rgb = load("he_kather_tumor_rgb_u8.tif") / 255.0
    out = dg.degrade01(rgb, "A", seed=2, channel_axis=-1)
    resid = out - blur_per_plane(rgb, "A", channel_axis=-1)
    assert out.shape == rgb.shape
    assert np.abs(resid).max() < 8 * 2 / 255  # only noise, no colour or cross-axis blur

    stack = load("lightsheet_mito_focus_stack_u16.tif")
    out = dg.degrade(stack, "C", seed=2)
    scale = float(stack.max())
    resid = out / scale - blur_per_plane(stack / scale, "C")
    assert out.shape == stack.shape
    assert np.abs(resid).max() < 8 * 2 / 255


def test_degrade_keeps_intensity_units():
    u16 = load("fluo_dsb2018_nuclei_u16.tif")
    out = dg.degrade(u16, "A", seed=0)
    assert out.max() <= u16.max() + 1e-3
    assert out.mean() == pytest.approx(u16.mean(), rel=0.05)
    # A float image is min-max scaled, so the result stays inside its own [min, max].
    f = u16.astype(np.float32) * 0.01 + 5.0
    out_f = dg.degrade(f, "A", seed=0)
    lo, span = float(f.min()), float(np.ptp(f))
    assert lo - 1e-4 <= out_f.min() and out_f.max() <= lo + span + 1e-4
    assert out_f.mean() == pytest.approx(f.mean(), rel=0.01)
    expected = dg.degrade01((f - lo) / span, "A", seed=0) * span + lo
    np.testing.assert_allclose(out_f, expected, rtol=1e-6)


def test_degrade_bad_inputs():
    img = load("fluo_ht29_dna_u8.tif")
    with pytest.raises(ValueError, match=r"protocol is 'D'.*\('A', 'B', 'C'\)"):
        dg.degrade(img, "D")
    with pytest.raises(ValueError, match=r"image01 spans"):
        dg.degrade01(img.astype(np.float32), "A")
    with pytest.raises(TypeError, match="image01 has dtype uint8"):
        dg.degrade01(img, "A")
    with pytest.raises(ValueError, match="seed"):
        dg.degrade(img, "A", seed=-1)
    with pytest.raises(ValueError, match=r"\(20, 20\).*\(25, 25\)"):
        dg.degrade(img[:20, :20], "A")
    # a signed image holding negative values is min-max scaled (as a float one), not refused
    signed = img.astype(np.int16) - 10
    out = dg.degrade(signed, "A")
    assert out.dtype == np.float32 and signed.min() - 1 <= out.mean() <= signed.max() + 1


def test_a_3d_psf_wider_than_a_2d_image_is_cut_in_yx_for_the_psf_aware_network(tmp_path):
    # a bead stack's planes wider than the image: the network uses its in-focus plane, so the
    # PSF is cut in Y and X (it was refused: "psf shape (97, 97) is larger than the image")
    import warnings

    from napari_microdeblur.core.inference import deblur

    stack = np.stack([psfs.gaussian_psf(1.5 + 0.4 * abs(z - 7), size=97) for z in range(15)])
    image = ndimage.gaussian_filter(load("fluo_dsb2018_nuclei_u16.tif").astype(np.float32), 1.5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = deblur(image, method="auto", psf=stack, device="cpu")
    assert result.shape == image.shape and np.all(np.isfinite(result))
    notes = [str(w.message) for w in caught]
    assert any("larger than the image (96 x 96 px in YX): cut to (15," in n for n in notes)
    with pytest.raises(ValueError, match="has no Z axis"):  # classical: a 3D PSF stays 3D
        deblur(image, method="wiener", psf=stack, balance=0.01, device="cpu")
