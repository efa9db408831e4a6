"""From a walkthrough (2026-12-10): fine-tuning on a real 8-bit brightfield pair showed
validation PSNR 23.1 dB where Compare & QC showed 34.1 dB for the same held-out band: a real
pair's ``to_reference`` mapped model units to the target's own percentile scale, not to the
evaluation scale (uint8 / 255) of docs/evaluation.md. And a pair refused for anti-correlated
planes asked "are they the same field of view?" where brightfield defocus inverts contrast."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_microdeblur.core import data, metrics


def _low_contrast_u8(fluo_u8: np.ndarray) -> np.ndarray:
    """An 8-bit image using 60 of its 256 grey levels, as a brightfield field does."""
    return np.round(120 + fluo_u8.astype(np.float64) * 60 / 255).astype(np.uint8)


def _to_reference(pair, a):
    scale, offset = pair.to_reference
    return a.astype(np.float64) * scale + offset


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_a_real_pairs_target_maps_to_the_sharp_images_evaluation_scale(fluo_u8, dtype):
    sharp = _low_contrast_u8(fluo_u8).astype(dtype)
    if dtype == "uint16":
        sharp = sharp * np.uint16(40)
    blurry = ndimage.gaussian_filter(sharp.astype(np.float32), 1.5) * 0.8 + 5
    (pair,) = data.pairs_from_arrays(blurry, sharp, align=False)
    off, scale = metrics.reference_scale(sharp)
    np.testing.assert_allclose(_to_reference(pair, pair.target[0]), (sharp - off) / scale,
                               atol=1e-4)


def test_validation_psnr_of_a_real_pair_is_the_evaluate_figure(fluo_u8):
    # same exposure, blur only: the identity's validation PSNR (as the training loop scores
    # it) is what metrics.evaluate gives the blurry image against the sharp one
    sharp = _low_contrast_u8(fluo_u8)
    blurry = np.round(ndimage.gaussian_filter(sharp.astype(np.float32), 1.5)).astype(np.uint8)
    (pair,) = data.pairs_from_arrays(blurry, sharp, align=False)
    validation = metrics.psnr(_to_reference(pair, pair.input), _to_reference(pair, pair.target),
                              data_range=1.0)
    evaluated = metrics.evaluate(blurry, sharp, border=0)["psnr_whole"]
    assert validation == pytest.approx(evaluated, abs=0.3)  # was 11 dB lower


def test_a_stacks_pairs_map_to_the_focus_planes_evaluation_scale(focus_stack):
    pairs = data.pairs_from_stack(focus_stack[5:10], focus_plane=2, max_distance=1, align=False)
    focus = focus_stack[7]
    assert len(pairs) == 2
    for p in pairs:
        np.testing.assert_allclose(_to_reference(p, p.target[0]), focus / float(focus.max()),
                                   atol=1e-4)


def test_psnr_differences_between_weights_do_not_depend_on_the_scale(fluo_u8):
    # early stopping and the kept checkpoint compare validation PSNRs: a change of scale is a
    # constant per image, so the differences between two outputs are those of model units
    sharp = _low_contrast_u8(fluo_u8)
    blurry = ndimage.gaussian_filter(sharp.astype(np.float32), 2.0)
    (pair,) = data.pairs_from_arrays(blurry, sharp, align=False)
    better = 0.5 * (pair.input + pair.target)

    def gain(mapped):
        t = mapped(pair.target)
        return (metrics.psnr(mapped(better), t, data_range=1.0)
                - metrics.psnr(mapped(pair.input), t, data_range=1.0))

    assert gain(lambda a: _to_reference(pair, a)) == pytest.approx(
        gain(lambda a: a.astype(np.float64)), abs=1e-6)


def test_an_inverted_pair_is_refused_naming_brightfield_and_the_other_side(fluo_u8):
    with pytest.raises(ValueError) as refused:
        data.pairs_from_arrays(255 - fluo_u8, fluo_u8, align=False)
    message = str(refused.value)
    assert "positively correlated" in message and "fitted gain" in message
    assert "brightfield or phase contrast" in message
    assert "other side of focus" in message


def test_an_inverted_stack_plane_names_the_planes_to_leave_out(focus_stack):
    stack = focus_stack[5:10].copy()
    stack[0] = stack.max() - stack[0]  # plane 0 inverted, as below focus in brightfield
    with pytest.raises(ValueError) as refused:
        data.pairs_from_stack(stack, focus_plane=2, align=False)
    message = str(refused.value)
    assert "'stack:z0': plane 0 and the in-focus plane 2" in message
    assert "brightfield or phase contrast" in message
    assert "a stack without the planes z < 2" in message


def test_an_inverted_pair_in_the_same_units_is_refused_too():
    """match_intensity=False skipped the sign check: a contrast-inverted brightfield pair was
    trained on (a walkthrough, 2026-12-10)."""
    from scipy import ndimage

    from napari_microdeblur.core import data

    rng = np.random.default_rng(0)
    sharp = ndimage.gaussian_filter(rng.random((96, 96)), 2.0) * 100 + 100
    inverted = 300.0 - ndimage.gaussian_filter(sharp, 1.5)  # same units, contrast flipped
    with pytest.raises(ValueError, match="not positively correlated"):
        data.pairs_from_arrays(inverted, sharp, match_intensity=False)
    data.pairs_from_arrays(ndimage.gaussian_filter(sharp, 1.5), sharp, match_intensity=False)
