"""PSF walkthrough 2026-12-17: a small constant background over a large PSF file (0.3 % of the
peak over 201 x 201 pixels held 83 % of its light and was used as is), a short bead stack whose
default Z radius kept 1 bead of 12, the short-stack note in the docks' words, and the FWHM of a
flat-topped PSF ('disk:3' said 5.5 x 4.5 px)."""

import warnings

import numpy as np
import pytest
import tifffile
from test_beads import gaussian

from napari_microdeblur.core.beads import fwhm, psf_from_beads
from napari_microdeblur.core.beads_box import LARGER_RADIUS, z_radius_for_short_stack
from napari_microdeblur.core.notes import DeblurWarning
from napari_microdeblur.core.psf import disk_psf, parse_psf, read_psf
from napari_microdeblur.core.psf_file import file_notes
from napari_microdeblur.core.psf_shape import fwhm_words


def _spot(shape, sigma, peak=1.0):
    """A Gaussian of ``sigma`` (per axis) on the middle pixel, its peak ``peak``."""
    g = gaussian(shape, [n // 2 for n in shape], sigma)
    return peak * g / g.max()


def _central_light(psf, half=10):
    c = [n // 2 for n in psf.shape]
    return float(psf[tuple(slice(m - half, m + half + 1) for m in c)].sum())


# ------------------------------------------------------------------------ background of a file


def test_a_small_background_summed_over_a_large_psf_file_is_subtracted(tmp_path):
    """0.3 % of the peak, under the 0.5 % level, but over 201 x 201 pixels 83 % of the light:
    used as is, 18 % of the PSF's light was in its central 21 x 21 pixels (the walkthrough's
    Richardson-Lucy went from 30.99 dB to 29.76; with it subtracted 31.84)."""
    rng = np.random.default_rng(0)
    data = _spot((201, 201), (2, 2)) + 0.003 + rng.normal(0, 0.0002, (201, 201))
    path = tmp_path / "ped.tif"
    tifffile.imwrite(path, data.astype(np.float32))
    psf = read_psf(path)
    assert _central_light(psf) > 0.99
    (note,) = file_notes(path)
    assert "a background of 0.3% of the peak subtracted" in note
    assert "over its 201 x 201 voxels" in note


def test_a_3d_bead_average_with_a_small_offset_is_subtracted(tmp_path):
    rng = np.random.default_rng(1)
    data = _spot((31, 61, 61), (2.5, 1.5, 1.5), 1000) + 2 + rng.normal(0, 0.2, (31, 61, 61))
    path = tmp_path / "bead_avg.tif"
    tifffile.imwrite(path, data.astype(np.float32))
    assert _central_light(read_psf(path), 8) > 0.99
    assert "of the peak subtracted" in file_notes(path)[0]


def _written(tmp_path, name, psf, dtype):
    path = tmp_path / f"{name}.tif"
    scaled = psf / psf.max() * (65535 if dtype == np.uint16 else 1)
    tifffile.imwrite(path, np.round(scaled).astype(dtype) if dtype == np.uint16
                     else scaled.astype(dtype))
    return path


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_computed_and_bead_psfs_written_to_tiff_keep_their_wings(tmp_path, dtype):
    """Their borders hold up to 47 % of the light summed (a widefield stack's defocused planes),
    but vary too much to be a constant: nothing is subtracted."""
    pytest.importorskip("psfmodels")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sizes cut the PSFs where they are still bright
        psfs = {
            "wide3d": parse_psf("widefield:na=1.4,wavelength=0.52,pixel=0.1,nz=41,dz=0.2,"
                                "size=65"),
            "wide2d": parse_psf("widefield:na=1.4,wavelength=0.52,pixel=0.065,defocus=2,"
                                "size=129"),
            "conf3d": parse_psf("confocal:na=1.4,wavelength=0.52,pixel=0.05,nz=31,dz=0.1,"
                                "size=65,pinhole=5"),
            "beads": psf_from_beads(_bead_stack(ZS), radius=(8, 10, 10))[0],
        }
    for name, psf in psfs.items():
        path = _written(tmp_path, name, np.asarray(psf, dtype=np.float64), dtype)
        assert not any("background" in n for n in file_notes(path)), name


# -------------------------------------------------------------------- short bead stacks (Z)

Z_SIGMA = 2.0  # planes: Z FWHM 4.7, default Z radius 14 (18 planes at most fit 40)
SPOTS = ((16, 16), (16, 47), (47, 16), (47, 47))  # Y, X: 31 px apart
ZS = (9, 10, 11, 12, 27, 28, 29, 30)  # planes of the beads, at the 4 spots in turn


def _bead_stack(zs, tail=0.0, seed=0):
    """40 x 64 x 64, Poisson-noisy Gaussian beads (sigma 2 planes x 1.3 px) at planes ``zs``,
    taking the 4 lateral spots in turn; ``tail``: a faint wide halo (sigma 7 x 2.5 px) of that
    share of each bead's light, which the box grows to."""
    rng = np.random.default_rng(seed)
    shape = (40, 64, 64)
    clean = np.full(shape, 100.0)
    for i, z in enumerate(zs):
        y, x = SPOTS[i % 4]
        centre = (z + rng.uniform(-0.3, 0.3), y + rng.uniform(0, 1), x + rng.uniform(0, 1))
        amount = rng.uniform(3000, 5000)
        clean += amount * gaussian(shape, centre, (Z_SIGMA, 1.3, 1.3))
        if tail:
            clean += tail * amount * gaussian(shape, centre, (7.0, 2.5, 2.5))
    return rng.poisson(clean).astype(np.uint16)


def test_a_short_stack_keeps_the_z_radius_most_beads_fit():
    """Beads at planes 9-12 and 27-30 of 40: the default Z radius (14) fitted none, and the old
    limit, the largest radius one bead fits (11), kept 2 of 8. The radius keeping the most (8)
    keeps all 8, and the FWHM is the beads'."""
    psf, report = psf_from_beads(_bead_stack(ZS))
    assert report.used == report.candidates == 8
    assert report.radius[0] == 8 and "Z radius limited to 8 px" in report.note
    assert "8 of its 8 beads fit" in report.note
    truth = gaussian(psf.shape, [n // 2 for n in psf.shape], (Z_SIGMA, 1.3, 1.3))
    for got, expected in zip(fwhm(psf), fwhm(truth)):
        assert got == pytest.approx(expected, rel=0.05)


def test_beads_the_grown_box_leaves_out_name_the_radius_that_keeps_them():
    """The beads' halo grows the box to 9 planes, past the bead at plane 8: the note names the
    Z radius that keeps it, and giving it keeps all 4 without a warning of a cut PSF."""
    image = _bead_stack((8, 10, 19, 20), tail=0.1)
    with pytest.warns(DeblurWarning, match="the PSF rests on 3 beads"):
        _, report = psf_from_beads(image)
    assert report.used == 3 and report.radius == (9, 11, 11)
    said = ("1 more bead fits a Z radius of 7 px: radius=7,11,11 (microdeblur psf-from-beads "
            "--radius 7,11,11) uses 4 beads")
    assert said in report.summary()
    assert "PSF radius 7,11,11 uses 4 beads" in report.summary(words="dock")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a cut PSF would warn
        warnings.filterwarnings("ignore", message="the PSF rests on")  # 4 beads are few
        _, given = psf_from_beads(image, radius=(7, 11, 11))
    assert given.used == 4


def test_the_short_stack_note_in_the_docks_words():
    """The dock's field is "PSF radius": the note said 'radius=; microdeblur psf-from-beads
    --radius' there."""
    from napari_microdeblur.core.beads_box import LARGER_RADIUS_DOCK

    _, report = psf_from_beads(_bead_stack(ZS))
    assert LARGER_RADIUS in report.summary()
    dock = report.summary(words="dock")
    assert LARGER_RADIUS_DOCK in dock and "radius=" not in dock and "--radius" not in dock
    peaks = np.array([[9, 16, 16], [30, 47, 47]])
    _, note = z_radius_for_short_stack((14, 10, 10), 5.0, peaks, np.array([9.0, 8.0]), 40,
                                       0.05, words="dock")
    assert note.startswith("Z radius limited to 8 px") and LARGER_RADIUS_DOCK in note
    with pytest.raises(ValueError, match="words='gui'; accepted: '' .* or 'dock'"):
        report.summary(words="gui")


# ----------------------------------------------------------------------------- flat tops


def _fwhm_through_first_maximum(psf):
    """The FWHM as it was measured, through the first maximum (C order), for comparison."""
    at = np.unravel_index(int(np.argmax(psf)), psf.shape)
    widths = []
    for axis in range(psf.ndim):
        index = list(at)
        index[axis] = slice(None)
        line = psf[tuple(index)] / psf[at]
        left = right = None
        for i in range(at[axis], 0, -1):
            if line[i - 1] < 0.5:
                left = i - (line[i] - 0.5) / (line[i] - line[i - 1])
                break
        for i in range(at[axis], len(line) - 1):
            if line[i + 1] < 0.5:
                right = i + (line[i] - 0.5) / (line[i] - line[i + 1])
                break
        widths.append(float(len(line)) if left is None or right is None else right - left)
    return tuple(widths)


def test_a_flat_topped_psf_is_measured_through_its_middle():
    """'disk:3' is exactly symmetric: 6 x 6 px (it said 5.5 x 4.5 through a corner of its top)."""
    disk = disk_psf(3)
    assert fwhm(disk) == pytest.approx((6.0, 6.0))
    assert fwhm_words(disk, disk) == "FWHM 6 x 6 px"
    clipped = np.minimum(_spot((31, 31), (3, 3)), 0.8)  # a saturated bead's flat top
    assert fwhm(clipped)[0] == pytest.approx(fwhm(clipped)[1])


def test_psfs_with_one_brightest_pixel_measure_as_before():
    psfs = [parse_psf("gaussian:2"), parse_psf("astig:3,1,30"), parse_psf("astig:3,1,0"),
            _spot((21, 25, 25), (2.5, 1.5, 2.0)),
            psf_from_beads(_bead_stack(ZS), radius=(8, 10, 10))[0]]
    for psf in psfs:
        assert fwhm(psf) == _fwhm_through_first_maximum(np.asarray(psf, dtype=np.float64))
    assert fwhm_words(psfs[1], psfs[1]) == "FWHM 7 x 2.4 px along its axes at 30 and 120 deg"


def test_the_bead_button_says_the_note_in_the_docks_words(make_napari_viewer, qtbot):
    """The dock's PSF from beads passed the core's words ('radius=; microdeblur psf-from-beads
    --radius') to a user whose field is 'PSF radius'."""
    from napari_microdeblur._widgets._psf_sources import measure_psf_from_beads

    viewer = make_napari_viewer()
    layer = viewer.add_image(_bead_stack((8, 10, 19, 20), tail=0.1), name="beads")
    said, failed = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, dock = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Deblur")
        worker = measure_psf_from_beads(dock, viewer, layer,
                                        measured=lambda text, line: said.append(line),
                                        failed=failed.append)
        qtbot.waitUntil(lambda: bool(said or failed), timeout=60000)
    assert worker is not None and not failed, failed
    assert "PSF radius 7,11,11 uses 4 beads" in said[0], said
    assert "--radius" not in said[0] and "radius=" not in said[0], said
