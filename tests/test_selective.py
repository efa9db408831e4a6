"""core.selective: deblur only the slices or tiles whose focus score is below a threshold.

Real crops from tests/data (128 x 128 nuclei, 96 x 96 x 3 H&E, the 14-plane light-sheet stack)
and classical methods (Wiener, Richardson-Lucy) with a small PSF keep every run short.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_microdeblur.core import selective
from napari_microdeblur.core.focus import focus_score
from napari_microdeblur.core.inference import deblur, drain, network_method
from napari_microdeblur.core.registry import build_model, get_arch

PSF = "gaussian:1.6"


def outside(shape_yx, boxes) -> np.ndarray:
    """Mask of the pixels of a plane in none of ``boxes`` (y0, y1, x0, x1)."""
    mask = np.ones(shape_yx, dtype=bool)
    for y0, y1, x0, x1 in boxes:
        mask[y0:y1, x0:x1] = False
    return mask


# ----------------------------------------------------------------------------- scores


def test_iter_focus_scores_equals_focus_score_plane_by_plane(focus_stack, he_rgb):
    gen = selective.iter_focus_scores(focus_stack, axes="ZYX")
    records = []
    while True:
        try:
            records.append(next(gen))
        except StopIteration as stop:
            scores = stop.value
            break
    assert [(r.done, r.total) for r in records] == [(i, 14) for i in range(1, 15)]
    np.testing.assert_allclose(scores, focus_score(focus_stack, axes="ZYX"), rtol=1e-6)
    tiles = drain(selective.iter_focus_scores(focus_stack, axes="ZYX", tile=32))
    assert tiles.shape == selective.score_shape(focus_stack.shape, "ZYX", 32) == (14, 3, 3)
    np.testing.assert_allclose(tiles, focus_score(focus_stack, axes="ZYX", tile=32), rtol=1e-6)
    rgb = drain(selective.iter_focus_scores(he_rgb, axes="YXS", tile=40))
    assert rgb.shape == (3, 3)  # 96 px in tiles of 40: two whole, one partial
    np.testing.assert_allclose(rgb, focus_score(he_rgb, axes="YXS", tile=40), rtol=1e-6)
    whole = drain(selective.iter_focus_scores(he_rgb, axes="YXS"))
    assert isinstance(whole, float)
    assert whole == pytest.approx(focus_score(he_rgb, axes="YXS"), rel=1e-6)


def test_select_below_and_tile_boxes():
    scores = np.array([[0.1, np.nan], [0.3, 0.05]])
    np.testing.assert_array_equal(selective.select_below(scores, 0.2), [[True, False],
                                                                         [False, True]])
    assert selective.tile_box(1, 2, 32, (70, 80)) == (32, 64, 64, 80)  # partial at the edge
    assert selective.tile_box(2, 0, 32, (70, 80)) == (64, 70, 0, 32)
    with pytest.raises(ValueError, match="outside"):
        selective.tile_box(3, 0, 32, (70, 80))
    with pytest.raises(ValueError, match="finite"):
        selective.select_below(scores, float("nan"))


# ----------------------------------------------------------------------------- slices


@pytest.mark.parametrize("output_dtype", ["float32", "input"])
def test_slices_below_threshold_are_deblurred_and_the_rest_bit_identical(focus_stack,
                                                                         output_dtype):
    scores = focus_score(focus_stack, axes="ZYX")
    threshold = float(np.median(scores))
    soft = scores < threshold
    assert 0 < soft.sum() < len(scores)
    result = selective.deblur_selected(
        focus_stack, "wiener", psf=PSF, axes="ZYX", scores=scores, threshold=threshold,
        device="cpu", output_dtype=output_dtype, balance=0.01,  # 'auto' is settled per plane
    )
    assert result.mode == "slices" and result.unit_axes == "Z"
    assert result.selected == tuple((int(z),) for z in np.flatnonzero(soft))
    np.testing.assert_array_equal(result.mask, soft)
    out = result.image
    assert out.shape == focus_stack.shape
    assert out.dtype == (np.float32 if output_dtype == "float32" else focus_stack.dtype)
    # the planes above the threshold are copied, not recomputed
    np.testing.assert_array_equal(out[~soft], focus_stack[~soft].astype(out.dtype))
    if output_dtype == "input":
        assert out[~soft].tobytes() == focus_stack[~soft].tobytes()
    # the soft planes are exactly what a whole-stack deblur gives them (same normalisation)
    full = deblur(focus_stack, method="wiener", psf=PSF, axes="ZYX", device="cpu",
                  output_dtype=output_dtype, balance=0.01)
    np.testing.assert_array_equal(out[soft], full[soft])
    assert not np.array_equal(out[soft], focus_stack[soft].astype(out.dtype))
    assert focus_score(out[soft], axes="ZYX").mean() > scores[soft].mean()  # sharper


def test_auto_with_a_3d_psf_stays_plane_by_plane(focus_stack):
    """Whole-stack 'auto' runs Richardson-Lucy in 3D for a widefield-like 3D PSF
    (test_psf_aware); selective deblurring works plane by plane, so there it stays the 2D
    PSF-aware network (with the PSF's in-focus plane) instead of refusing a 3D method."""
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.psf import gaussian_psf

    psf3 = np.stack([0.45 * gaussian_psf(3.0, size=9), 0.1 * gaussian_psf(0.7, size=9),
                     0.45 * gaussian_psf(3.0, size=9)])
    stack = focus_stack[:4, :64, :64]
    scores = focus_score(stack, axes="ZYX")
    result = selective.deblur_selected(
        stack, MethodSpec("auto", psf=psf3), axes="ZYX", scores=scores,
        threshold=float(scores.max()) + 1, device="cpu")
    assert result.selected == tuple((z,) for z in range(4))
    from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE

    planes = deblur(stack, method=MethodSpec(DEFAULT_PSF_AWARE, psf=psf3), axes="ZYX",
                    device="cpu")
    np.testing.assert_allclose(result.image, planes, rtol=1e-5, atol=1e-4)
    in_3d = deblur(stack, method=MethodSpec("auto", psf=psf3), axes="ZYX", device="cpu")
    assert np.abs(in_3d - planes).max() > 1.0  # the whole-stack run is the other route


def test_slice_scores_computed_when_not_given(focus_stack):
    stack = focus_stack[:5]
    scores = focus_score(stack, axes="ZYX")
    threshold = float(np.sort(scores)[1]) * 1.0001  # the two softest planes
    result = selective.deblur_selected(stack, "wiener", psf=PSF, axes="ZYX",
                                       threshold=threshold, device="cpu")
    assert len(result.selected) == 2
    np.testing.assert_allclose(result.scores, scores, rtol=1e-6)


# ----------------------------------------------------------------------------- tiles


@pytest.mark.parametrize("method,options", [
    ("wiener", {"balance": 0.01}),
    ("richardson_lucy", {"iterations": 10}),
])
def test_soft_tiles_match_a_whole_image_deblur_with_a_halo(fluo_u8, method, options):
    tile = 32
    scores = focus_score(fluo_u8, axes="YX", tile=tile)
    threshold = float(np.median(scores))
    soft = scores < threshold
    assert 0 < soft.sum() < soft.size
    result = selective.deblur_selected(
        fluo_u8, method, psf=PSF, axes="YX", scores=scores, threshold=threshold, tile=tile,
        device="cpu", **options,
    )
    assert result.mode == "tiles" and result.unit_axes == "yx"
    assert result.halo >= 32  # the method's reach: classical.psf_halo of the PSF
    assert result.selected == tuple(tuple(int(i) for i in u) for u in np.argwhere(soft))
    assert len(result.boxes) == soft.sum()
    out = result.image
    keep = outside(fluo_u8.shape, result.boxes)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[keep], fluo_u8[keep].astype(np.float32))
    full = deblur(fluo_u8, method=method, psf=PSF, device="cpu", **options)
    scale = float(full.max() - full.min())
    errors = []
    for y0, y1, x0, x1 in result.boxes:
        assert not np.array_equal(out[y0:y1, x0:x1], fluo_u8[y0:y1, x0:x1])
        errors.append(np.abs(out[y0:y1, x0:x1] - full[y0:y1, x0:x1]).max() / scale)
    assert max(errors) < 1e-3, errors
    # without the halo the tile borders are wrong: the halo is what makes them match
    bare = selective.deblur_selected(
        fluo_u8, method, psf=PSF, axes="YX", scores=scores, threshold=threshold, tile=tile,
        halo=0, device="cpu", **options,
    )
    bare_errors = [np.abs(bare.image[y0:y1, x0:x1] - full[y0:y1, x0:x1]).max() / scale
                   for y0, y1, x0, x1 in bare.boxes]
    assert max(bare_errors) > 20 * max(errors)


def test_tiles_of_every_plane_of_a_stack(focus_stack):
    stack = focus_stack[5:9]
    scores = focus_score(stack, axes="ZYX", tile=48)
    assert scores.shape == (4, 2, 2)
    threshold = float(np.median(scores))
    result = selective.deblur_selected(stack, "wiener", psf=PSF, axes="ZYX", scores=scores,
                                       threshold=threshold, tile=48, device="cpu",
                                       output_dtype="input")
    assert result.unit_axes == "Zyx"
    # the tiles below the median, in every plane: each plane's loop below has boxes to check
    assert list(result.selected) == [tuple(u) for u in np.argwhere(scores < threshold)]
    assert sorted({u[0] for u in result.selected}) == [0, 1, 2, 3]
    for z in range(4):
        boxes = [b for u, b in zip(result.selected, result.boxes) if u[0] == z]
        assert boxes
        keep = outside(stack.shape[1:], boxes)
        assert result.image[z][keep].tobytes() == stack[z][keep].tobytes()
        for y0, y1, x0, x1 in boxes:
            assert not np.array_equal(result.image[z, y0:y1, x0:x1], stack[z, y0:y1, x0:x1])


def test_rgb_tiles_deblur_every_channel(he_rgb):
    scores = focus_score(he_rgb, axes="YXS", tile=32)
    threshold = float(np.median(scores))
    result = selective.deblur_selected(he_rgb, "wiener", psf=PSF, axes="YXS", scores=scores,
                                       threshold=threshold, tile=32, device="cpu",
                                       output_dtype="input")
    assert result.image.shape == he_rgb.shape and result.image.dtype == np.uint8
    keep = outside(he_rgb.shape[:2], result.boxes)
    np.testing.assert_array_equal(result.image[keep], he_rgb[keep])
    for y0, y1, x0, x1 in result.boxes:
        for c in range(3):
            assert not np.array_equal(result.image[y0:y1, x0:x1, c], he_rgb[y0:y1, x0:x1, c])


def test_network_tiles_match_whole_image(fluo_u8):
    torch.manual_seed(0)
    config = {**get_arch("gran").tiny_config, "in_channels": 1, "out_channels": 1}
    model = build_model("gran", config)
    method = network_method(model, name="tiny", precision="float32")
    scores = focus_score(fluo_u8, axes="YX", tile=32)
    threshold = float(np.median(scores))
    result = selective.deblur_selected(fluo_u8, method, axes="YX", scores=scores,
                                       threshold=threshold, tile=32, device="cpu")
    assert result.halo == 2 * model.receptive_field
    full = deblur(fluo_u8, method=method, device="cpu")
    scale = float(full.max() - full.min())
    for y0, y1, x0, x1 in result.boxes:
        np.testing.assert_allclose(result.image[y0:y1, x0:x1], full[y0:y1, x0:x1],
                                   atol=1e-4 * scale)


# ----------------------------------------------------------------------------- runs


def test_progress_per_tile_and_close_stops_after_one(fluo_u8):
    scores = focus_score(fluo_u8, axes="YX", tile=32)
    gen = selective.iter_deblur_selected(
        fluo_u8, "richardson_lucy", psf=PSF, iterations=5, axes="YX", scores=scores,
        threshold=float(scores.max()) * 2, tile=32, device="cpu",
    )
    first = next(gen)
    assert (first.done, first.total, first.unit, first.unit_done, first.units) == \
        (1, 16, (0, 0), 1, 16)
    gen.close()  # what a worker's quit does between two tiles
    with pytest.raises(StopIteration):
        next(gen)
    records = []
    result = drain(selective.iter_deblur_selected(
        fluo_u8, "wiener", psf=PSF, axes="YX", scores=scores,
        threshold=float(np.sort(scores.ravel())[3]), tile=32, device="cpu",
    ), records.append)
    assert [r.done for r in records] == [1, 2, 3] and records[-1].total == 3
    assert [r.unit for r in records] == list(result.selected)


def test_nothing_below_threshold_returns_the_input(fluo_u8):
    scores = focus_score(fluo_u8, axes="YX", tile=64)
    records = []
    result = drain(selective.iter_deblur_selected(
        fluo_u8, "wiener", psf=PSF, axes="YX", scores=scores, threshold=0.0, tile=64,
        device="cpu", output_dtype="input",
    ), records.append)
    assert records == [] and result.selected == () and result.boxes == ()
    assert result.image.tobytes() == fluo_u8.tobytes()
    assert result.image is not fluo_u8


def test_bad_arguments_are_refused_before_any_work(fluo_u8, focus_stack):
    scores = focus_score(fluo_u8, axes="YX", tile=32)
    common = {"psf": PSF, "axes": "YX", "device": "cpu"}
    with pytest.raises(ValueError, match="scores have shape"):
        selective.iter_deblur_selected(fluo_u8, "wiener", scores=scores, threshold=1.0,
                                       tile=64, **common)
    with pytest.raises(ValueError, match="at least 8"):
        selective.iter_deblur_selected(fluo_u8, "wiener", threshold=1.0, tile=4, **common)
    with pytest.raises(ValueError, match="finite"):
        selective.iter_deblur_selected(fluo_u8, "wiener", scores=scores, threshold=np.inf,
                                       tile=32, **common)
    with pytest.raises(ValueError, match="halo"):
        selective.iter_deblur_selected(fluo_u8, "wiener", scores=scores, threshold=1.0,
                                       tile=32, halo=-3, **common)
    with pytest.raises(ValueError, match="3D"):
        selective.iter_deblur_selected(focus_stack, "wiener", psf=np.ones((3, 5, 5)) / 75,
                                       axes="ZYX", threshold=1.0, device="cpu")
    with pytest.raises(ValueError, match="needs a PSF"):
        selective.iter_deblur_selected(fluo_u8, "wiener", axes="YX", threshold=1.0)
    with pytest.raises(ValueError, match="too small"):
        selective.iter_focus_scores(np.ones((5, 5), np.float32), axes="YX")
    with pytest.raises(TypeError, match="dtype"):
        selective.iter_focus_scores(np.ones((16, 16), bool), axes="YX")


@pytest.mark.slow
def test_bundled_network_soft_tiles_differ_from_a_whole_image_deblur_as_the_readme_says():
    """gran's GRAB pools over the whole input, so a tile deblurred from its crop (even with
    the default halo) is not exactly what a whole-image deblur gives it. README, Focus QC:
    with gran.em_v1 on the EM sample, tiles of 64 px, at most 1.06 % of the output range."""
    import tifffile

    from napari_microdeblur._sample_data import SAMPLES

    image = tifffile.imread(SAMPLES / "em_celegans_empiar10982_z0017_protocolC.tif")
    scores = focus_score(image, axes="YX", tile=64)
    threshold = float(np.median(scores))
    options = dict(device="cpu", precision="float32")
    result = selective.deblur_selected(image, "gran.em_v1", axes="YX", scores=scores,
                                       threshold=threshold, tile=64, **options)
    full = deblur(image, method="gran.em_v1", **options)
    scale = float(full.max() - full.min())
    worst = max(np.abs(result.image[y0:y1, x0:x1] - full[y0:y1, x0:x1]).max() / scale
                for y0, y1, x0, x1 in result.boxes)
    assert len(result.boxes) == 8
    assert 0.005 < worst < 0.0107  # not local (a local network matches to 1e-4), and bounded
