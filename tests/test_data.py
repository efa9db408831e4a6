"""Training data: pairs from arrays and z-stacks, synthetic degradations, patches, splits."""

import numpy as np
import pytest
from scipy import ndimage

from napari_microdeblur.core import data
from napari_microdeblur.core.degrade import degrade, degrade01
from napari_microdeblur.core.inference import compute_normalization

# ----------------------------------------------------------------------------- focus, stacks


def test_focus_plane_of_the_light_sheet_stack_is_found(focus_stack):
    # in focus at plane 7; plane 6 is 50 nm away, inside the depth of field
    assert data.find_focus_plane(focus_stack) in (6, 7)
    scores = data.focus_scores(focus_stack)
    assert scores.shape == (14,) and np.argmax(scores) in (6, 7)
    # exposure does not change the score (normalised by the squared mean)
    brighter = focus_stack.astype(np.float32) * 3.0
    np.testing.assert_allclose(data.focus_scores(brighter), scores, rtol=1e-4)


def test_stack_pairs_every_plane_within_the_distance_to_the_focus_plane(focus_stack):
    auto = data.find_focus_plane(focus_stack)
    pairs = data.pairs_from_stack(focus_stack, focus_plane="auto", max_distance=2)
    assert [p.info["z"] for p in pairs] == [z for z in range(auto - 2, auto + 3) if z != auto]
    assert all(p.info["focus_plane"] == auto for p in pairs)
    assert len({p.group for p in pairs}) == 4  # one group per plane: splits keep planes whole
    for p in pairs:
        assert p.input.dtype == p.target.dtype == np.float32
        assert p.input.shape == p.target.shape and p.input.shape[0] == 1
        assert max(abs(s) for s in p.info["shift"]) < 1.0  # the planes barely drift
        assert 0.8 < p.info["gain"] < 1.25
    with_focus = data.pairs_from_stack(
        focus_stack, focus_plane=7, max_distance=1, include_focus=True
    )
    assert [p.info["distance"] for p in with_focus] == [-1, 0, 1]
    assert len(data.pairs_from_stack(focus_stack, focus_plane=0)) == 13


def test_noise_aware_targets_average_the_planes_next_to_focus_without_the_input(focus_stack):
    from napari_microdeblur.core.pairs import normalise_plane

    planes = focus_stack.astype(np.float32)
    pairs = data.pairs_from_stack(focus_stack, focus_plane=7, max_distance=2, align=False,
                                  match_intensity=False, include_focus=True,
                                  target_neighbours=1)
    expected = {5: (6, 7, 8), 6: (7, 8), 7: (6, 8), 8: (6, 7), 9: (6, 7, 8)}
    assert {p.info["z"]: tuple(p.info["target_planes"]) for p in pairs} == expected
    for p in pairs:
        z = p.info["z"]
        _, lo, scale = normalise_plane(planes[z][None])
        mean = planes[list(expected[z])].mean(0)
        np.testing.assert_allclose(p.target[0], (mean - lo) / scale, rtol=1e-5, atol=1e-5)
    # the default target is the in-focus plane itself
    plain = data.pairs_from_stack(focus_stack, focus_plane=7, max_distance=1, align=False)
    assert all(p.info["target_planes"] == [7] for p in plain)
    for bad, message in ((-1, "accepted: an integer >= 0"), (True, "accepted: an integer")):
        with pytest.raises(ValueError, match=message):
            data.pairs_from_stack(focus_stack, focus_plane=7, target_neighbours=bad)
    with pytest.raises(ValueError, match="no plane on one side"):
        data.pairs_from_stack(focus_stack, focus_plane=0, target_neighbours=1)


def test_inputs_use_the_normalisation_inference_uses(focus_stack):
    pair = data.pairs_from_stack(focus_stack, focus_plane=7, max_distance=1, align=False)[0]
    plane = focus_stack[6].astype(np.float32)
    norm = compute_normalization(plane, "YX", "percentile")
    np.testing.assert_allclose(pair.input[0], norm.apply(plane), rtol=1e-6, atol=1e-6)
    assert data.NORMALIZATION == {"kind": "percentile", "low": 0.1, "high": 99.9}


def test_alignment_and_intensity_matching_undo_a_known_shift_and_gain(fluo_u8):
    # a real crop, shifted by (1.3, -0.7) px, blurred (protocol A) and rescaled in intensity
    shifted = ndimage.shift(fluo_u8.astype(np.float64), (1.3, -0.7), order=3, mode="nearest")
    blurry = degrade(np.clip(shifted, 0, 255).astype(np.uint8), "A", seed=1) * 0.5 + 10.0
    (pair,) = data.pairs_from_arrays(blurry, fluo_u8)
    np.testing.assert_allclose(pair.info["shift"], [-1.3, 0.7], atol=0.15)
    assert pair.shape == (124, 124)  # cropped by the shift's ceiling on each side
    # the target is expressed in the input's intensity frame
    assert abs(pair.input.mean() - pair.target.mean()) < 0.01
    assert np.corrcoef(pair.input.ravel(), pair.target.ravel())[0, 1] > 0.95
    unaligned = data.pairs_from_arrays(blurry, fluo_u8, align=False)[0]
    err = np.abs(ndimage.gaussian_filter(pair.target[0], 1.6) - pair.input[0]).mean()
    err_unaligned = np.abs(
        ndimage.gaussian_filter(unaligned.target[0], 1.6) - unaligned.input[0]
    ).mean()
    assert err < 0.8 * err_unaligned
    # to_reference maps model units back to the sharp image on the evaluation scale (/255)
    scale, offset = pair.to_reference
    t_ref = pair.target * scale + offset
    np.testing.assert_allclose(t_ref[0], fluo_u8[2:-2, 2:-2] / 255.0, atol=1e-5)


def test_pairs_from_arrays_loops_over_planes_and_keeps_rgb_channels(he_rgb, focus_stack):
    pairs = data.pairs_from_arrays(focus_stack[:3], focus_stack[3:6], axes="ZYX", align=False)
    assert len(pairs) == 3 and pairs[1].group == "pair:1"
    (rgb,) = data.pairs_from_arrays(
        degrade(he_rgb, "A", seed=0, channel_axis=-1),
        he_rgb,
        axes="YXS",
        align=False,
        match_intensity=False,
    )
    assert rgb.input.shape == (3, 96, 96)
    # same units: the target uses the input's map, and to_reference gives he_rgb / 255
    scale, offset = rgb.to_reference
    np.testing.assert_allclose(
        rgb.target * scale + offset, np.moveaxis(he_rgb, -1, 0) / 255.0, atol=1e-5
    )


# ----------------------------------------------------------------------------- synthetic


def test_protocol_validation_pairs_are_exactly_degrade01_normalised(fluo_u8):
    src = data.SyntheticData([fluo_u8], "A", seed=4)
    (pair,) = src.validation_pairs(seed=11)
    img01 = (fluo_u8.astype(np.float32) / 255.0)[None]
    rng = np.random.default_rng(11)
    expected = degrade01(img01, "A", seed=int(rng.integers(2**31)), channel_axis=0)
    scale, offset = pair.to_reference
    np.testing.assert_allclose(pair.input * scale + offset, expected, atol=1e-5)
    np.testing.assert_allclose(pair.target * scale + offset, img01, atol=1e-5)
    norm = compute_normalization(expected, "CYX", "percentile")
    assert (offset, scale) == pytest.approx((norm.offset, norm.scale))


def test_synthetic_patches_are_seeded_and_blurred_like_the_protocol(fluo_u8):
    src = data.SyntheticData([fluo_u8], "A", augment=False, intensity_jitter=0.0)
    x1, y1 = src.sample(np.random.default_rng(0), 4, 48)
    x2, y2 = src.sample(np.random.default_rng(0), 4, 48)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert x1.shape == y1.shape == (4, 1, 48, 48) and x1.dtype == np.float32
    # the patch input is the target blurred with protocol A's PSF plus noise of sigma 2/255
    lo, scale = src.norms[0]
    blurred = ndimage.gaussian_filter(y1 * scale + lo, (0, 0, 1.6, 1.6), truncate=12 / 1.6)
    resid = (x1 * scale + lo - blurred)[..., 13:-13, 13:-13]
    assert abs(resid.std() - 2 / 255) < 0.6 / 255


def test_mix_ranges_cover_protocols_and_draw_every_kind(he_rgb):
    ranges = data.DegradationRanges()
    assert all(ranges.covers(p) for p in "ABC")
    rng = np.random.default_rng(0)
    kinds = {ranges.sample(rng).kind for _ in range(200)}
    assert kinds == {"gaussian", "disk", "astigmatic", "none"}
    src = data.SyntheticData([he_rgb], "mix")
    x, y = src.sample(np.random.default_rng(1), 6, 32)
    assert x.shape == (6, 3, 32, 32) and np.all(np.isfinite(x))
    assert "mix" in src.degradation and "gaussian_sigma" in src.degradation
    with pytest.raises(ValueError, match="gaussian_sigma"):
        data.DegradationRanges(gaussian_sigma=(3.0, 1.0))
    with pytest.raises(ValueError, match="kind"):
        data.DegradationRanges(kind_weights=(("motion", 1.0),))
    with pytest.raises(ValueError, match="degradation"):
        data.SyntheticData([he_rgb], "D")
    with pytest.raises(ValueError, match="p_protocol"):
        data.DegradationRanges(p_protocol=1.5)


def test_mix_weights_the_protocols_by_p_protocol():
    rng = np.random.default_rng(0)
    draws = [data.DegradationRanges(p_protocol=0.5).sample(rng) for _ in range(600)]
    protocol = [d for d in draws if d.kind.startswith("protocol_")]
    assert 0.4 < len(protocol) / len(draws) < 0.6
    assert {d.kind for d in protocol} == {"protocol_A", "protocol_B", "protocol_C"}
    assert all(d == data.PROTOCOL_PARAMS[d.kind[-1]] for d in protocol)
    # p_protocol=0 (the default) never draws one and keeps the old random sequence
    rng0, rng1 = np.random.default_rng(3), np.random.default_rng(3)
    plain = [data.DegradationRanges().sample(rng0) for _ in range(50)]
    assert not any(d.kind.startswith("protocol_") for d in plain)
    assert plain == [data.DegradationRanges(p_protocol=0.0).sample(rng1) for _ in range(50)]


def test_protocol_weights_tilt_the_protocol_draws():
    rng = np.random.default_rng(0)
    ranges = data.DegradationRanges(p_protocol=1.0, protocol_weights=(1.0, 0.0, 3.0))
    kinds = [ranges.sample(rng).kind for _ in range(400)]
    assert "protocol_B" not in kinds
    assert 0.65 < kinds.count("protocol_C") / len(kinds) < 0.85
    # equal weights keep the draw sequence of runs made before the field existed
    rng0, rng1 = np.random.default_rng(5), np.random.default_rng(5)
    a = [data.DegradationRanges(p_protocol=0.5).sample(rng0) for _ in range(50)]
    b = [
        data.DegradationRanges(p_protocol=0.5, protocol_weights=(2.0, 2.0, 2.0)).sample(rng1)
        for _ in range(50)
    ]
    assert a == b
    for bad in [(1.0, 1.0), (0.0, 0.0, 0.0), (1.0, -1.0, 1.0), (1.0, float("nan"), 1.0)]:
        with pytest.raises(ValueError, match="protocol_weights"):
            data.DegradationRanges(protocol_weights=bad)


def test_patches_avoid_empty_background(fluo_u8):
    rng = np.random.default_rng(0)
    full_std = (fluo_u8 / 255.0).std()
    stds = {}
    for bg in (0.0, 0.9):
        src = data.SyntheticData([fluo_u8], "A", background=bg, augment=False, intensity_jitter=0.0)
        _, y = src.sample(rng, 40, 24)
        lo, scale = src.norms[0]
        stds[bg] = (y * scale).std(axis=(1, 2, 3))
    assert np.mean(stds[0.9] >= 0.9 * full_std) > 0.9
    assert stds[0.9].mean() > stds[0.0].mean()


def test_flips_and_rotations_move_input_and_target_together(fluo_u8):
    (pair,) = data.pairs_from_arrays(fluo_u8, fluo_u8, align=False, match_intensity=False)
    src = data.PairedData([pair], background=0.0)
    x, y = src.sample(np.random.default_rng(0), 32, 16)
    np.testing.assert_array_equal(x, y)
    # the 8 orientations all occur, and each is a dihedral image of a crop of the pair
    rng = np.random.default_rng(0)
    ks = {int(rng.integers(8)) for _ in range(200)}
    assert ks == set(range(8))
    a = np.arange(12.0).reshape(1, 3, 4)
    seen = {data._dihedral(a, k).tobytes() for k in range(8)}
    assert len(seen) == 8


# ----------------------------------------------------------------------------- splits


def test_validation_split_keeps_planes_whole(focus_stack):
    pairs = data.pairs_from_stack(focus_stack, focus_plane=7)
    train, val = data.split_validation(pairs, val_fraction=0.25, seed=0)
    assert {p.group for p in train}.isdisjoint({p.group for p in val})
    assert len(val) == 3 and len(train) == 10
    train2, val2 = data.split_validation(pairs, val_groups=["stack:z0", "stack:z13"])
    assert {p.group for p in val2} == {"stack:z0", "stack:z13"}
    images_train, images_val = data.split_validation(["a", "b", "c", "d"], val_groups=["1"])
    assert images_val == ["b"] and images_train == ["a", "c", "d"]
    with pytest.raises(ValueError, match="at least two"):
        data.split_validation(pairs[:1])
    with pytest.raises(ValueError, match="not among"):
        data.split_validation(pairs, val_groups=["z99"])


def test_validation_crops_are_fixed_and_fit_the_size_divisor(fluo_u8):
    pairs = data.SyntheticData([fluo_u8], "B").validation_pairs()
    a = data.validation_crops(pairs, size=48, size_divisor=16, max_crops=4, seed=0)
    b = data.validation_crops(pairs, size=48, size_divisor=16, max_crops=4, seed=0)
    assert len(a) == 4 and all(c.shape == (48, 48) for c in a)
    assert all(np.array_equal(c.input, d.input) for c, d in zip(a, b, strict=True))
    whole = data.validation_crops(pairs, size=200, size_divisor=16)
    assert len(whole) == 1 and whole[0].shape == (128, 128)


# ----------------------------------------------------------------------------- bad input


def test_bad_input_is_refused_with_a_clear_error(fluo_u8, focus_stack):
    with pytest.raises(ValueError, match="same shape"):
        data.pairs_from_arrays(fluo_u8, fluo_u8[:100])
    with pytest.raises(ValueError, match="at least 2 planes"):
        data.pairs_from_stack(focus_stack[:1])
    with pytest.raises(ValueError, match="outside the stack"):
        data.pairs_from_stack(focus_stack, focus_plane=14)
    with pytest.raises(ValueError, match="outside the stack"):
        data.pairs_from_stack(focus_stack, focus_plane=-1)
    with pytest.raises(ValueError, match="constant"):
        data.pairs_from_arrays(np.full((64, 64), 7, np.uint16), focus_stack[7, :64, :64])
    with pytest.raises(ValueError, match="constant"):
        data.SyntheticData([np.zeros((64, 64), np.uint8)], "A")
    nan = fluo_u8.astype(np.float32)
    nan[5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        data.SyntheticData([nan], "A")
    with pytest.raises(ValueError, match="NaN"):
        data.pairs_from_arrays(nan, fluo_u8)
    with pytest.raises(ValueError, match="larger than"):
        data.SyntheticData([fluo_u8], "A").check_patch(256)
    with pytest.raises(ValueError, match="background"):
        data.SyntheticData([fluo_u8], "A", background=1.5)
    with pytest.raises(ValueError, match="positively correlated"):
        data.pairs_from_arrays(255 - fluo_u8, fluo_u8, align=False)
