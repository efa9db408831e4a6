"""A 3D run whose tiles span all of Z merges in a band along Y, not in a whole-volume band."""

import numpy as np
import torch

from napari_microdeblur.core import inference, tiling
from napari_microdeblur.core.inference import Method, deblur


def _naive_merge(plan, preds, halo, window):
    """sum(prediction * window) / sum(window) with whole windows, over the unpadded image."""
    acc = np.zeros((preds[0].shape[0], *plan.padded_shape))
    total = np.zeros(plan.padded_shape)
    for t in plan.tiles:
        w = np.ones(())
        for axis, start in enumerate(t.start):
            starts = plan.starts[axis]
            w = np.multiply.outer(w, tiling.window_profile(
                plan.tile[axis], plan.overlap[axis], halo, window,
                shared_before=start != starts[0], shared_after=start != starts[-1]))
        acc[(slice(None), *t.slices)] += preds[t.index] * w
        total[t.slices] += w
    inside = tuple(slice(0, s) for s in plan.image_shape)
    return (acc / total)[(slice(None), *inside)]


def test_merger_band_of_tiles_spanning_z_is_a_few_rows_not_the_volume():
    # the tile spans all 12 planes; Y and X are cut: the band used to be (C, 12, 96, 80)
    plan = tiling.plan_tiles((12, 96, 80), (12, 24, 24), (0, 6, 6))
    assert len(plan.starts[0]) == 1 and len(plan.starts[1]) > 1
    rng = np.random.default_rng(3)
    preds = {t.index: rng.random((2, *plan.tile)) for t in plan.tiles}
    out = np.full((2, *plan.image_shape), np.nan, np.float32)
    rows = []

    def write(slices, block):
        rows.append((slices[1].start, slices[1].stop))
        out[(slice(None), *slices)] = block

    merger = tiling.TileMerger(plan, 2, write, window="cosine", halo=1)
    volume_elements = 2 * 12 * 96 * 80
    assert merger.acc.numel() <= 2 * 12 * 24 * 80 < volume_elements // 3
    for t in plan.tiles:
        merger.add(t, torch.from_numpy(preds[t.index]))
    merger.finish()
    # finished Y-rows of every plane flushed as the tiles pass, each row once
    assert len(rows) > 1 and rows[0][0] == 0 and rows[-1][1] == 96
    assert all(a[1] == b[0] for a, b in zip(rows, rows[1:]))
    np.testing.assert_allclose(out, _naive_merge(plan, preds, 1, "cosine"), rtol=1e-6)


def test_merger_of_a_2d_image_cut_only_along_x_bands_along_x():
    plan = tiling.plan_tiles((20, 90), (20, 24), 6)
    rng = np.random.default_rng(4)
    preds = {t.index: rng.random((1, *plan.tile)) for t in plan.tiles}
    out = np.full((1, *plan.image_shape), np.nan, np.float32)

    def write(slices, block):
        out[(slice(None), *slices)] = block

    merger = tiling.TileMerger(plan, 1, write, window="gaussian", halo=2)
    assert merger.acc.shape == (1, 20, 24)
    for t in plan.tiles:
        merger.add(t, torch.from_numpy(preds[t.index]))
    merger.finish()
    np.testing.assert_allclose(out, _naive_merge(plan, preds, 2, "gaussian"), rtol=1e-6)


def test_deblur_of_a_stack_writes_bands_not_the_whole_volume(monkeypatch):
    """Tiles spanning all of Z: each write (and its cast to the output) is a band of Y-rows of
    the stack, never the whole volume, and an identity model gives the stack back exactly."""
    rng = np.random.default_rng(5)
    stack = (rng.random((10, 120, 64)) * 4000).astype(np.uint16)
    largest = []
    undo = inference._to_output_units

    def recorded(norm, block, dtype):
        largest.append(block.size)
        return undo(norm, block, dtype)

    monkeypatch.setattr(inference, "_to_output_units", recorded)
    identity = Method("id3d", forward=lambda x: x, spatial_dims=3, normalization="none")
    out = deblur(stack, method=identity, axes="ZYX", tile=(10, 32, 64), overlap=(0, 8, 8),
                 device="cpu")
    np.testing.assert_array_equal(out, stack.astype(np.float32))
    assert len(largest) > 1 and max(largest) <= stack.size // 2
