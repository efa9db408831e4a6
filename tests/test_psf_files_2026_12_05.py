"""PSF files as PSF Generator, Huygens or a bead average write them: a constant background, an
off-centre peak, even sides, undershoot, another voxel size (walkthrough 'psffile')."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core.psf import gaussian_psf, psf_preview, read_psf
from napari_microdeblur.core.psf_scale import psf_scale_note

IMAGE_UM = {"Z": 0.3, "Y": 0.1, "X": 0.1}


def _gaussian(shape, centre, sigma) -> np.ndarray:
    grids = np.meshgrid(*[np.arange(n) - c for n, c in zip(shape, centre)], indexing="ij")
    return np.exp(-0.5 * sum((g / s) ** 2 for g, s in zip(grids, sigma)))


def _write(path, data, um=None):
    if um is None:
        tifffile.imwrite(path, data.astype(np.float32))
    else:  # an ImageJ hyperstack: Z step and pixel size, as Fiji and psf-from-beads write them
        tifffile.imwrite(path, data.astype(np.float32), imagej=True,
                         resolution=(1 / um["X"], 1 / um["Y"]),
                         metadata={"spacing": um["Z"], "unit": "um", "axes": "ZYX"})
    return str(path)


def _bead(offset=0.025, centre=(32, 32, 32), shape=(64, 64, 64)) -> np.ndarray:
    """A 16-bit bead average: a Gaussian of peak 60000 on a camera offset, Poisson noise."""
    rng = np.random.default_rng(0)
    clean = 60000 * _gaussian(shape, centre, (3.0, 1.5, 1.5))
    return rng.poisson(clean + offset * 60000).astype(np.uint16)


def _shell(psf: np.ndarray) -> float:
    return float(np.concatenate([np.moveaxis(psf, a, 0)[[0, -1]].ravel()
                                 for a in range(psf.ndim)]).mean())


def test_a_bead_average_with_an_offset_has_it_subtracted_on_even_sides(tmp_path):
    """64^3 with a 2.5 % offset was used as is (18.44 dB, below the input's 20.32): only a PSF
    as large as the image was cleaned, and on even sides the zero plane read_psf padded made
    the border median 0 even then."""
    path = _write(tmp_path / "bead.tif", _bead())
    psf = read_psf(path)
    assert psf.shape == (65, 65, 65)
    assert _shell(psf) < 1e-3 * psf.max()
    note = psf_scale_note(path, {}, "ZYX")
    assert re.search(r"a background of 2\.[3-5]% of the peak subtracted", note)


def test_a_computed_psf_keeps_its_faint_wings(tmp_path):
    """Guard: a widefield model's border (0.02-0.13 % of its peak) is the PSF, not background."""
    psf = _gaussian((33, 33), (16, 16), (6.0, 6.0)) + 1e-3 * _gaussian((33, 33), (16, 16),
                                                                        (40.0, 40.0))
    path = _write(tmp_path / "model.tif", psf)
    got = read_psf(path)
    np.testing.assert_allclose(got, psf / psf.sum(), rtol=1e-5, atol=1e-9)
    assert psf_scale_note(path, {}, "YX") is None


def test_an_off_centre_psf_is_centred_and_said(tmp_path):
    """A peak 2, 4, 3 voxels off the middle shifted the whole result by as much, unsaid."""
    path = _write(tmp_path / "off.tif", _gaussian((64, 64, 64), (34, 36, 35), (3, 1.5, 1.5)))
    psf = read_psf(path)
    assert all(n % 2 for n in psf.shape)
    assert np.unravel_index(int(np.argmax(psf)), psf.shape) == tuple(n // 2 for n in psf.shape)
    assert "centred: its centroid was 2.5, 4.5, 3.5 voxels (ZYX) off" in psf_scale_note(
        path, {}, "ZYX")


def test_an_off_centre_psf_does_not_shift_the_result(tmp_path):
    """Deblurred with a PSF 3 px off centre, a point stayed where it was."""
    import torch
    from scipy import ndimage

    from napari_microdeblur.core.classical import richardson_lucy

    image = np.zeros((48, 48), np.float32)
    image[24, 24] = 1000.0
    blurred = ndimage.gaussian_filter(image, 2.0) + 1  # the true, centred blur
    psf = read_psf(_write(tmp_path / "off2d.tif", _gaussian((31, 31), (18, 12), (2.0, 2.0))))
    x = torch.from_numpy(blurred)[None, None]
    out = richardson_lucy(x, torch.from_numpy(psf), iterations=20)[0, 0].numpy()
    assert np.unravel_index(int(np.argmax(out)), out.shape) == (24, 24)


def test_negative_values_clipped_are_said_with_their_light(tmp_path):
    """Ringing of +-3 % was clipped without a word (and gave no gain)."""
    psf = _gaussian((33, 33), (16, 16), (2.0, 2.0))
    psf[0:4, :] = -0.02
    path = _write(tmp_path / "ring.tif", psf)
    note = psf_scale_note(path, {}, "YX")
    assert "negative values down to -2.0% of the peak set to 0" in note
    assert "of its light" in note


def test_a_finer_psf_is_resampled_to_the_image_voxels(tmp_path):
    """A PSF at 0.1 / 0.05 um on a 0.3 / 0.1 um stack was only warned about (21.72 dB; the true
    PSF gave 23.03): it is resampled, centred, odd, summing to 1, its width in um kept."""
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.psf_scale import psf_for_image

    fine = _gaussian((61, 61, 61), (30, 30, 30), (9.0, 4.0, 4.0))  # 0.9 um, 0.2 um
    path = _write(tmp_path / "fine.tif", fine, {"Z": 0.1, "Y": 0.05, "X": 0.05})
    spec, note = psf_for_image(MethodSpec("richardson_lucy", psf=path), IMAGE_UM, "ZYX")
    got = spec.psf.array
    assert got.shape == (21, 31, 31) and abs(float(got.sum()) - 1) < 1e-5
    assert np.unravel_index(int(np.argmax(got)), got.shape) == (10, 15, 15)
    expected = _gaussian(got.shape, (10, 15, 15), (3.0, 2.0, 2.0))
    np.testing.assert_allclose(got, expected / expected.sum(), atol=0.02 * got.max())
    assert "resampled to the image's voxels (61 x 61 x 61 -> 21 x 31 x 31)" in note


def test_a_psf_at_the_image_voxels_is_not_resampled(tmp_path):
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.psf_scale import psf_for_image

    path = _write(tmp_path / "same.tif", _gaussian((21, 31, 31), (10, 15, 15), (3, 2, 2)),
                  IMAGE_UM)
    spec = MethodSpec("richardson_lucy", psf=path)
    assert psf_for_image(spec, IMAGE_UM, "ZYX") == (spec, None)


def test_a_psf_without_voxel_size_is_said_to_take_the_images(tmp_path):
    path = _write(tmp_path / "nometa.tif", _gaussian((21, 31, 31), (10, 15, 15), (3, 2, 2)))
    note = psf_scale_note(path, IMAGE_UM, "ZYX")
    assert ("states no microscope's voxel size: taken to have the image's (Z 0.3 um, YX 0.1 um)"
            in note)
    assert psf_scale_note(path, {}, "ZYX") is None  # neither states one: nothing to say


def test_the_preview_shows_the_psf_as_it_is_used(tmp_path):
    """The Deblur dock's preview showed the file's off-centre, offset PSF, not the one run."""
    data = 1000 * _gaussian((40, 40), (24, 23), (2.0, 2.0)) + 50
    image, _ = psf_preview(_write(tmp_path / "prev.tif", data))
    assert image.shape == (49, 47)  # padded so that the peak is the middle
    assert np.unravel_index(int(np.argmax(image)), image.shape) == (24, 23)
    assert image[0, 0] == 0  # the offset is gone: the far corner is black on the log scale


@pytest.mark.parametrize("shape", [(31, 31), (9, 31, 31)])
def test_a_centred_odd_psf_is_read_as_it_was(tmp_path, shape):
    """Guard: a model PSF written to a file is read back unchanged."""
    psf = gaussian_psf((2.0,) * len(shape), size=shape, ndim=len(shape))
    np.testing.assert_allclose(read_psf(_write(tmp_path / "g.tif", psf)), psf, atol=1e-7)


def test_deblur_file_resamples_a_psf_file_to_the_images_voxels(tmp_path):
    """The file route (CLI, watch, deblur_file) runs the resampled PSF, with the line saying
    so; it only warned before ('... or resample it') and ran the fine PSF as it was."""
    from napari_microdeblur.core import io
    from napari_microdeblur.core.files import deblur_file
    from napari_microdeblur.core.inference import deblur
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.psf_scale import psf_for_image

    fine = _gaussian((31, 31, 31), (15, 15, 15), (4.5, 2.0, 2.0))
    psf = _write(tmp_path / "fine.tif", fine, {"Z": 0.1, "Y": 0.05, "X": 0.05})
    stack = np.random.default_rng(1).random((12, 48, 48)).astype(np.float32)
    image = _write(tmp_path / "stack.tif", stack, IMAGE_UM)
    spec = MethodSpec("richardson_lucy", psf=psf, iterations=3)
    with pytest.warns(UserWarning, match=r"resampled to the image's voxels"):
        deblur_file(image, tmp_path / "out.tif", method=spec, device="cpu")
    resampled, _ = psf_for_image(spec, IMAGE_UM, "ZYX")
    expected = deblur(stack, axes="ZYX", method=resampled, device="cpu")
    np.testing.assert_allclose(np.asarray(io.read_image(tmp_path / "out.tif").array), expected,
                               rtol=1e-6, atol=1e-6)


def test_an_even_symmetric_psf_file_is_read_mirror_symmetric(tmp_path):
    """A 64^3 PSF centred on voxel 32, as PSF Generator writes it: the face its even side
    leaves unpaired is shared with the zero plane added opposite, so the PSF is symmetric and
    Richardson-Lucy takes its mirror path (the padded one ran 17-24 s instead of 1.4 s)."""
    psf = _gaussian((64, 64, 64), (32, 32, 32), (3.0, 1.5, 1.5))
    got = read_psf(_write(tmp_path / "even.tif", psf))
    assert got.shape == (65, 65, 65) and abs(float(got.sum()) - 1) < 1e-6
    np.testing.assert_allclose(got, got[::-1, ::-1, ::-1], atol=1e-9)
