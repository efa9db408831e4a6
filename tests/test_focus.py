"""Focus score: monotone with defocus on real focus stacks."""

import glob
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from napari_microdeblur.core.degrade import degrade
from napari_microdeblur.core.focus import best_focus_plane, calibrate_threshold, focus_score

SHARED = Path(__file__).parents[2] / "shared" / "data"
NN = np.array([33, 36, 39, 42, 45, 48, 50, 51, 52, 54, 57, 60, 63, 65])  # tests/data/README.md


def test_in_focus_plane_scores_highest_on_the_bundled_crop(focus_stack):
    scores = focus_score(focus_stack, axes="ZYX")
    assert scores.shape == (14,)
    # planes are 50 nm apart, well inside the depth of field: allow the neighbour
    assert abs(NN[int(np.argmax(scores))] - 51) <= 1
    assert spearmanr(scores, np.abs(NN - 51))[0] <= -0.8


@pytest.mark.skipif(not SHARED.exists(), reason="needs ../shared/data")
@pytest.mark.parametrize(
    "name,limit", [("mitochondria_cell2_stack", -0.95), ("microtubules_cell11_stack", -0.8)]
)
def test_score_falls_with_distance_from_focus_on_full_stacks(name, limit):
    import tifffile

    files = sorted(glob.glob(str(SHARED / "focus_stack_lightsheet_dfnn" / name / "*.tif")))
    z = np.array([int(re.search(r"Abs00(\d\d)", f).group(1)) for f in files])
    stack = np.stack([tifffile.imread(f) for f in files])
    scores = focus_score(stack, axes="ZYX")
    assert spearmanr(scores, np.abs(z - 51))[0] <= limit
    assert abs(z[best_focus_plane(stack)] - 51) <= 2


@pytest.mark.skipif(not SHARED.exists(), reason="needs ../shared/data")
def test_bbbc006_near_focus_images_beat_defocused_ones():
    import imageio.v3 as iio
    import tifffile

    root = SHARED / "bbbc006_u2os_hoechst_realdefocus"
    near = [
        focus_score(np.asarray(iio.imread(p)))
        for p in sorted(root.glob("nearfocus_z_aligned/*.png"))
    ]
    far = [focus_score(tifffile.imread(p)) for p in sorted(root.glob("defocused_z00/*.tif"))]
    assert min(near) > max(far)


def test_score_is_exposure_invariant_and_falls_with_blur(fluo_u16):
    image = fluo_u16.astype(np.float32)
    assert focus_score(image * 3.0) == pytest.approx(focus_score(image), rel=1e-5)
    blurred = degrade(fluo_u16, "B", seed=0)
    assert focus_score(blurred) < focus_score(fluo_u16)


def test_per_tile_and_rgb(he_rgb, fluo_u8):
    sharp_tiles = focus_score(fluo_u8, tile=50)
    assert sharp_tiles.shape == (3, 3)
    # every tile that holds a nucleus scores lower when blurred; the two background tiles
    # (max 11 on a background of 9) score noise, which blur with noise adds
    blurred_tiles = focus_score(degrade(fluo_u8, "B", seed=0), tile=50)
    tile_max = np.array([[fluo_u8[y:y + 50, x:x + 50].max() for x in (0, 50, 100)]
                         for y in (0, 50, 100)])
    nuclei = tile_max > 50
    assert nuclei.sum() == 7
    assert np.all(blurred_tiles[nuclei] < 0.9 * sharp_tiles[nuclei])
    assert isinstance(focus_score(he_rgb, axes="YXS"), float)
    assert calibrate_threshold([1.0, 2.0, 3.0], percentile=50) == 2.0
    with pytest.raises(ValueError, match="at least one"):
        calibrate_threshold([])
    with pytest.raises(ValueError, match="too small"):
        focus_score(np.ones((4, 4)))


@pytest.mark.parametrize("shape", [(96, 96), (37, 53), (9, 300)])
def test_spectral_cpu_path_equals_the_spatial_convolutions(focus_stack, shape):
    """The DCT route (CPU) and the torch convolutions (other devices) compute the same score:
    same kernels, same half-sample symmetric border, even where the kernel outgrows the plane."""
    import torch

    from napari_microdeblur.core import focus

    rng = np.random.default_rng(0)
    plane = focus_stack[3].astype(np.float32)[: shape[0], : shape[1]]
    if plane.shape != shape:
        plane = rng.random(shape).astype(np.float32) + 0.1
    spatial_map = focus.band_pass_energy_map(torch.from_numpy(plane)[None])[0].numpy()
    spectral_map = focus._spectral_energy_map(plane)
    np.testing.assert_allclose(spectral_map, spatial_map, rtol=0, atol=1e-5 * spatial_map.max())
    assert focus._spectral_score(plane) == pytest.approx(float(spatial_map.mean()), rel=1e-5)


def test_per_tile_scores_are_the_tile_means_of_the_whole_plane_map(focus_stack):
    import torch

    from napari_microdeblur.core import focus

    plane = focus_stack[7].astype(np.float32)
    tiles = focus_score(plane, tile=32)
    energy = focus.band_pass_energy_map(torch.from_numpy(plane)[None])[0].numpy()
    expected = energy.reshape(3, 32, 3, 32).mean(axis=(1, 3))
    np.testing.assert_allclose(tiles, expected, rtol=1e-4)


def test_an_image_without_a_positive_mean_is_refused_not_scored_1e25(fluo_u8):
    image = fluo_u8.astype(np.float32)
    offset = image - image.mean() - 5  # background-subtracted: mean below 0
    with pytest.raises(ValueError, match="mean intensity is -5.*add an offset"):
        focus_score(offset, tile=16)
    with pytest.raises(ValueError, match="mean intensity"):
        focus_score(offset.astype(np.int16))
    # a positive mean scores as before, and a plane of zeros scores 0
    assert focus_score(image - image.min()) > 0
    assert focus_score(np.zeros((32, 32), np.float32)) == 0


def _channel_stack():
    """5 planes of 2 channels, sharpest at plane 3."""
    from scipy import ndimage

    sharp = np.random.default_rng(0).random((2, 64, 64)).astype(np.float32)
    return np.stack([ndimage.gaussian_filter(sharp, (0, abs(z - 3) * 1.5 + 0.01,
                                                     abs(z - 3) * 1.5 + 0.01))
                     for z in range(5)])


def test_best_focus_plane_of_a_multichannel_stack_is_a_plane_index():
    """focus_scores flattened (Z, C) scores, so the index pointed into them: plane 7 of 5."""
    from napari_microdeblur.core.focus import focus_scores

    stack = _channel_stack()
    scores = focus_scores(stack, "ZCYX")
    assert scores.shape == (5,)
    per_channel = [focus_score(stack[:, c], axes="ZYX") for c in range(2)]
    np.testing.assert_allclose(scores, np.mean(per_channel, axis=0), rtol=1e-6)
    assert best_focus_plane(stack, "ZCYX") == 3


class PlaneReader:
    """An array-like that serves planes and refuses to be read whole (a big lazy stack)."""

    def __init__(self, data):
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.largest = 0

    def __getitem__(self, key):
        part = self.data[key]
        self.largest = max(self.largest, part.size)
        return part

    def __array__(self, dtype=None, copy=None):
        raise AssertionError("the whole stack was read")


def test_focus_scores_read_a_lazy_stack_one_plane_at_a_time():
    from napari_microdeblur.core.focus import focus_scores

    stack = _channel_stack()
    lazy = PlaneReader(stack)
    np.testing.assert_array_equal(focus_scores(lazy, "ZCYX"), focus_scores(stack, "ZCYX"))
    assert lazy.largest == stack[0].size
