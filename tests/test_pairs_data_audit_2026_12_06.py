"""Audit of how paired training data is prepared (core.pairs, core.data): intensity matching
must not teach a contrast change, registration must survive a noisy sharp plane, and patches
of a sparse, noisy fluorescence image must not be mostly background."""

import numpy as np
import pytest
from scipy import ndimage

from napari_microdeblur.core import data, pairs


def _nuclei(n, seed, density, amplitude=1.0):
    """Sparse blobs (nuclei of ~5 px) on a zero background, peak ~amplitude."""
    rng = np.random.default_rng(seed)
    img = np.zeros((n, n))
    spots = rng.random((n, n)) < density
    img[spots] = rng.uniform(0.5, 1.0, spots.sum())
    return ndimage.gaussian_filter(img, 2) * 25 * amplitude


def test_intensity_matching_keeps_the_contrast_of_a_blurred_pair():
    # the blurry plane is the sharp one blurred (sigma 3 px), at gain 2 and offset 7: the
    # matched target must be the sharp plane on the input's scale, not a contrast-reduced one
    sharp = _nuclei(256, 0, 0.003) + ndimage.gaussian_filter(
        np.random.default_rng(1).random((256, 256)), 6)
    blurry = ndimage.gaussian_filter(sharp, 3) * 2.0 + 7.0
    blurry = blurry + np.random.default_rng(2).normal(0, 0.01, blurry.shape)
    (pair,) = pairs.pairs_from_arrays(blurry.astype(np.float32), sharp.astype(np.float32),
                                      axes="YX", align=False)
    _, lo, scale = pairs.normalise_plane(blurry[None].astype(np.float32))
    ideal = (sharp * 2.0 + 7.0 - lo) / scale
    slope, offset = np.polyfit(ideal.ravel(), pair.target[0].ravel(), 1)
    assert slope == pytest.approx(1.0, abs=0.03)  # was 0.63: the blur counted as a loss of gain
    assert abs(offset) < 0.02
    assert pair.info["blur_sigma"] == pytest.approx(3.0, abs=0.3)


def test_registration_of_faint_nuclei_under_a_noisy_sharp_plane():
    # peak SNR ~3.6 in the sharp plane: the unsmoothed cross-correlation was off by 0.8-1.35 px
    errors = []
    for seed in range(3):
        scene = _nuclei(256, seed, 0.002, amplitude=0.3)
        sharp = scene + np.random.default_rng(seed + 9).normal(0, 0.1, scene.shape)
        blurry = ndimage.shift(ndimage.gaussian_filter(scene, 2.0), (2.4, -1.7), order=3,
                               mode="reflect")
        blurry = blurry + np.random.default_rng(seed).normal(0, 0.1, scene.shape)
        (pair,) = pairs.pairs_from_arrays(blurry.astype(np.float32), sharp.astype(np.float32),
                                          axes="YX")
        errors.append(np.abs(np.array(pair.info["shift"]) - (-2.4, 1.7)).max())
    assert max(errors) < 0.4, errors


def _background_share(source, target, patch, n=200):
    """Share of sampled target patches holding no nucleus (smoothed max below a quarter of
    the image's smoothed peak above its median)."""
    smooth = ndimage.gaussian_filter(target[0], 2)
    level = np.median(smooth) + 0.25 * (smooth.max() - np.median(smooth))
    _, ys = source.sample(np.random.default_rng(0), n, patch)
    return float(np.mean([ndimage.gaussian_filter(y[0], 2).max() < level for y in ys]))


def test_patches_of_a_sparse_noisy_fluorescence_pair_are_mostly_not_background():
    # ~1 % of the field is nuclei; the pixel noise of an empty patch passed the std test, so
    # 71 % of the patches were background (a uniform draw: 56 %)
    scene = _nuclei(512, 1, 0.0001)
    rng = np.random.default_rng(5)
    sharp = scene + 0.1 + rng.normal(0, 0.1, scene.shape)
    blurry = ndimage.gaussian_filter(scene, 2) + 0.1 + rng.normal(0, 0.1, scene.shape)
    (pair,) = pairs.pairs_from_arrays(blurry.astype(np.float32), sharp.astype(np.float32),
                                      axes="YX", align=False)
    share = _background_share(data.PairedData([pair], augment=False), pair.target, 64)
    assert share < 0.15, share
    # background=0 still turns the filter off: close to a uniform draw
    off = _background_share(data.PairedData([pair], augment=False, background=0),
                            pair.target, 64)
    assert off > 0.4, off


def test_sparse_noisy_sharp_images_give_synthetic_patches_with_structure():
    # the same for SyntheticData (sharp images with camera noise): was 64 % background
    scene = _nuclei(512, 1, 0.0001)
    sharp = scene + 0.1 + np.random.default_rng(5).normal(0, 0.1, scene.shape)
    source = data.SyntheticData(sharp.astype(np.float32), "A", axes="YX", augment=False,
                                intensity_jitter=0.0)
    share = _background_share(source, source.sharp01, 64)
    assert share < 0.15, share


def test_every_patch_of_a_dense_image_keeps_its_structure():
    # the structure test must not thin out a dense image (texture everywhere)
    from napari_microdeblur.core.pair_matching import structure_count, structure_table

    rng = np.random.default_rng(0)
    dense = ndimage.gaussian_filter(rng.random((256, 256)), 2)[None]
    dense = dense + rng.normal(0, 0.01, dense.shape)
    table = structure_table(dense.astype(np.float32))
    counts = [structure_count(table, y, x, 32, 32) for y in range(0, 225, 8)
              for x in range(0, 225, 8)]
    assert min(counts) > 0


def test_rgb_pair_with_another_white_balance_is_matched_per_channel():
    # the blurry acquisition has other channel gains (white balance): one gain for all
    # channels left a target channel at 0.84x of the input's scale (H&E crop: 0.82x, 1.20x)
    rng = np.random.default_rng(3)
    sharp = np.stack([_nuclei(192, s, 0.003) + 0.2 * ndimage.gaussian_filter(
        rng.random((192, 192)), 5) for s in range(3)], axis=-1)
    gains, offsets = np.array([1.0, 1.25, 0.85]), np.array([0.05, 0.0, 0.12])
    blurry = ndimage.gaussian_filter(sharp, (2, 2, 0)) * gains + offsets
    (pair,) = pairs.pairs_from_arrays(blurry.astype(np.float32), sharp.astype(np.float32),
                                      axes="YXS", align=False)
    _, lo, scale = pairs.normalise_plane(np.moveaxis(blurry, -1, 0).astype(np.float32))
    ideal = np.moveaxis((sharp * gains + offsets - lo) / scale, -1, 0)
    for c in range(3):
        slope, _ = np.polyfit(ideal[c].ravel(), pair.target[c].ravel(), 1)
        assert slope == pytest.approx(1.0, abs=0.03), (c, slope)


def test_a_real_shift_over_a_tenth_of_a_small_field_is_applied():
    # a 128 px field whose blurry acquisition is displaced by (15, -4) px: the shift was
    # found but dropped as over 10 % of the side, so the pair trained misaligned (mean
    # |blur(target) - input| 0.115, aligned 0.024)
    big = _nuclei(300, 4, 0.003) + ndimage.gaussian_filter(
        np.random.default_rng(4).random((300, 300)), 6)
    sharp = big[60:188, 60:188]
    blurry = ndimage.gaussian_filter(big, 2)[75:203, 56:184]
    blurry = blurry + np.random.default_rng(0).normal(0, 0.02, blurry.shape)
    (pair,) = pairs.pairs_from_arrays(blurry.astype(np.float32), sharp.astype(np.float32),
                                      axes="YX")
    np.testing.assert_allclose(pair.info["shift"], [15.0, -4.0], atol=0.3)
    assert "alignment" not in pair.info
    err = np.abs(ndimage.gaussian_filter(pair.target[0], 2) - pair.input[0]).mean()
    assert err < 0.05, err


def test_a_large_spurious_shift_of_a_plane_without_structure_is_still_rejected():
    # pure noise registers anywhere: a shift over the limit must not be confirmed
    rng = np.random.default_rng(7)
    noise_b, noise_s = rng.normal(100, 5, (2, 1, 128, 128)).astype(np.float32)
    from napari_microdeblur.core.pair_matching import shift_confirmed

    assert not shift_confirmed(noise_b, noise_s, np.array([14.0, -9.0]))


def test_the_noise_of_a_faint_sharp_plane_does_not_shrink_the_target():
    # nuclei at 1x the sharp plane's noise sigma: its noise variance counted as signal the
    # blurry plane does not explain, so the target came out at 0.20-0.23x the input's scale
    slopes = []
    for seed in range(2):
        scene = _nuclei(256, seed, 0.002, amplitude=0.1)
        sharp = scene + np.random.default_rng(seed + 9).normal(0, 0.1, scene.shape)
        blurry = ndimage.gaussian_filter(scene, 2) * 2 + 1
        blurry = blurry + np.random.default_rng(seed).normal(0, 0.1, scene.shape)
        (pair,) = pairs.pairs_from_arrays(blurry.astype(np.float32), sharp.astype(np.float32),
                                          axes="YX", align=False)
        _, lo, scale = pairs.normalise_plane(blurry[None].astype(np.float32))
        ideal = (scene * 2 + 1 - lo) / scale
        slopes.append(np.polyfit(ideal.ravel(), pair.target[0].ravel(), 1)[0])
    assert all(0.7 < s < 1.3 for s in slopes), slopes  # now 0.79, 0.94


def test_validation_crops_of_a_sparse_noisy_pair_hold_nuclei():
    # validation crops were chosen by the same std test: 59 % were background noise
    scene = _nuclei(512, 1, 0.0001)
    rng = np.random.default_rng(6)
    sharp = scene + 0.1 + rng.normal(0, 0.1, scene.shape)
    blurry = ndimage.gaussian_filter(scene, 2) + 0.1 + rng.normal(0, 0.1, scene.shape)
    (pair,) = pairs.pairs_from_arrays(blurry.astype(np.float32), sharp.astype(np.float32),
                                      axes="YX", align=False)
    crops = pairs.validation_crops([pair], size=64, max_crops=32, seed=0)
    smooth = ndimage.gaussian_filter(pair.target[0], 2)
    level = np.median(smooth) + 0.25 * (smooth.max() - np.median(smooth))
    share = np.mean([ndimage.gaussian_filter(c.target[0], 2).max() < level for c in crops])
    assert share < 0.15, share


def test_dark_brightfield_cells_are_structure_and_the_bright_background_is_not():
    """Only pixels brighter than the median counted: a brightfield field's dark cells were
    no structure (and, where they fill most of it, the bright gaps were)."""
    from napari_microdeblur.core.pair_matching import structure_count, structure_table

    rng = np.random.default_rng(0)
    plane = 0.9 + rng.normal(0, 0.01, (128, 128))
    yy, xx = np.mgrid[:128, :128]
    for cy, cx in ((16, 16), (40, 24), (20, 48)):  # dark cells, top left only
        plane[(yy - cy) ** 2 + (xx - cx) ** 2 < 64] = 0.3
    table = structure_table(plane[None].astype(np.float32))
    assert structure_count(table, 0, 0, 64, 64) > 100  # the cells
    assert structure_count(table, 64, 64, 64, 64) == 0  # bright background, noise only
