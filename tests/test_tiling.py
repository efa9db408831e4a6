"""Tile plan geometry and the blended merge."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_microdeblur.core import tiling
from napari_microdeblur.core.inference import Method, deblur, iter_deblur


@settings(max_examples=150, deadline=None)
@given(
    # 3D sizes stay small: a 300^3 volume in 8-px tiles at 90 % overlap is millions of tiles
    # (one such draw took 60 s of the suite)
    shape=st.one_of(
        st.lists(st.integers(1, 300), min_size=2, max_size=2),
        st.lists(st.integers(1, 64), min_size=3, max_size=3),
    ),
    tile=st.integers(8, 128),
    overlap_frac=st.floats(0, 0.9),
    divisor=st.sampled_from([1, 2, 4, 8]),
)
def test_plan_covers_every_pixel_and_stays_inside(shape, tile, overlap_frac, divisor):
    tile = max(divisor, (tile // divisor) * divisor)
    overlap = min(int(tile * overlap_frac), tile - 1)
    plan = tiling.plan_tiles(shape, tile, overlap, size_divisor=divisor)
    covered = np.zeros(plan.padded_shape, dtype=np.int32)
    for t in plan.tiles:
        assert all(0 <= a < b <= p for a, b, p in zip(t.start, t.stop, plan.padded_shape))
        assert all((b - a) % divisor == 0 for a, b in zip(t.start, t.stop))
        assert tuple(b - a for a, b in zip(t.start, t.stop)) == plan.tile
        covered[t.slices] += 1
    assert covered.min() >= 1
    # padding up to the size divisor's grid (tiles start on it), or to one tile when smaller
    for size, padded, t in zip(plan.image_shape, plan.padded_shape, plan.tile):
        assert padded == max(t, -(-size // divisor) * divisor)
    # tiles come in order along the first axis (the merge flushes rows behind them)
    firsts = [t.start[0] for t in plan.tiles]
    assert firsts == sorted(firsts)


def test_plan_rejects_overlap_not_smaller_than_tile():
    with pytest.raises(ValueError, match="overlap"):
        tiling.plan_tiles((100, 100), 32, 32)


def test_window_is_positive_and_one_in_the_middle():
    for window in tiling.WINDOWS:
        w = tiling.window_profile(64, 16, 3, window, shared_before=True, shared_after=True)
        assert w.min() > 0
        assert np.all(w[16:48] == 1)
        assert np.all(w[:3] == tiling.WINDOW_FLOOR)


def identity_method(**kw):
    return Method(name="identity", forward=lambda x: x, normalization="none", **kw)


@pytest.mark.parametrize("window", tiling.WINDOWS)
@pytest.mark.parametrize(
    "shape,axes,tile,overlap",
    [
        ((97, 131), "YX", 32, 8),
        ((20, 20), "YX", 64, 8),  # smaller than a tile: padded
        ((9, 37, 45), "ZYX", 16, 4),
        ((3, 50, 41), "CYX", 24, 6),
    ],
)
def test_identity_model_returns_input_exactly(
    fluo_u16, focus_stack, window, shape, axes, tile, overlap
):
    if axes == "ZYX":
        image = focus_stack[: shape[0], : shape[1], : shape[2]].astype(np.float32)
        method = identity_method(spatial_dims=3, size_divisor=1)
    else:
        image = fluo_u16[: shape[-2], : shape[-1]].astype(np.float32)
        if axes == "CYX":
            image = np.stack([image, image[::-1], image[:, ::-1]])
        method = identity_method()
    before = image.copy()
    out = deblur(image, method=method, axes=axes, tile=tile, overlap=overlap, window=window,
                 device="cpu")
    np.testing.assert_array_equal(out, image)
    np.testing.assert_array_equal(image, before)  # input untouched


def test_identity_with_size_divisor_and_batches(fluo_u16):
    image = fluo_u16[:95, :77]
    out = deblur(image, method=identity_method(size_divisor=8), tile=40, overlap=8,
                 batch_size=3, device="cpu", output_dtype="input")
    assert out.dtype == image.dtype
    np.testing.assert_array_equal(out, image)


def random_conv_net(layers: int, spatial_dims: int = 2, channels: int = 8):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d if spatial_dims == 2 else torch.nn.Conv3d
    mods = [conv(1, channels, 3, padding=1)]
    for _ in range(layers - 2):
        mods += [torch.nn.ReLU(), conv(channels, channels, 3, padding=1)]
    mods += [torch.nn.ReLU(), conv(channels, 1, 3, padding=1)]
    return torch.nn.Sequential(*mods).eval()


@pytest.mark.parametrize("window", tiling.WINDOWS)
def test_tiled_equals_untiled_for_a_conv_net_2d(fluo_u8, window):
    net = random_conv_net(5)  # receptive field 11, halo 5
    image = fluo_u8[:, :113].astype(np.float32) / 255
    with torch.inference_mode():
        whole = net(torch.from_numpy(image)[None, None])[0, 0].numpy()
    method = Method("net", forward=lambda x: net(x), halo=5, normalization="scale")
    # normalisation by 'scale' divides by the max: undo it for the comparison
    tiled = deblur(image, method=method, tile=48, overlap=11, window=window, device="cpu",
                   batch_size=2)
    scale = image.max()
    with torch.inference_mode():
        whole = net(torch.from_numpy(image / scale)[None, None])[0, 0].numpy() * scale
    assert np.abs(tiled - whole).max() < 1e-4
    # with no halo-aware window, the seams would show: the tiles' own borders differ
    naive = Method("net", forward=lambda x: net(x), halo=0, normalization="scale")
    seamy = deblur(image, method=naive, tile=48, overlap=11, window="constant", device="cpu")
    assert np.abs(seamy - whole).max() > 1e-3


def test_tiled_equals_untiled_for_a_conv_net_3d(focus_stack):
    net = random_conv_net(3, spatial_dims=3, channels=4)
    image = focus_stack[:, :40, :40].astype(np.float32)
    method = Method("net3d", forward=lambda x: net(x), halo=3, spatial_dims=3,
                    normalization="scale")
    tiled = deblur(image, method=method, tile=(12, 24, 24), overlap=7, device="cpu")
    scale = image.max()
    with torch.inference_mode():
        whole = net(torch.from_numpy(image / scale)[None, None])[0, 0].numpy() * scale
    assert np.abs(tiled - whole).max() < 1e-4 * scale


def test_cancel_between_tiles_stops_early(fluo_u8):
    calls = []

    def forward(x):
        calls.append(1)
        return x

    gen = iter_deblur(fluo_u8, method=Method("id", forward=forward), tile=32, overlap=4,
                      device="cpu")
    first = next(gen)
    assert first.done == 1 and first.total == 25
    gen.close()
    assert len(calls) == 1


def test_out_of_memory_retries_with_smaller_tiles(fluo_u8):
    seen = []

    def forward(x):
        seen.append(x.shape[-1])
        if x.shape[-1] > 32:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return x

    method = Method("id", forward=forward, normalization="none")
    out = deblur(fluo_u8, method=method, tile=64, overlap=8, device="cpu")
    np.testing.assert_array_equal(out, fluo_u8.astype(np.float32))
    assert seen[0] == 64 and seen[-1] == 32


def test_flushed_rows_keep_device_band_bounded(fluo_u8):
    writes = []
    plan = tiling.plan_tiles((128, 128), 32, 8)
    merger = tiling.TileMerger(plan, 1, lambda s, b: writes.append((s, b.shape)))
    assert merger.acc.shape == (1, 32, 128)
    for t in plan.tiles:
        merger.add(t, torch.ones((1, 32, 32)))
    merger.finish()
    rows = sorted((s[0].start, s[0].stop) for s, _ in writes)
    assert rows[0][0] == 0 and rows[-1][1] == 128
    assert all(a[1] == b[0] for a, b in zip(rows, rows[1:]))  # each row written once


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(20, 90), min_size=2, max_size=3),
    tile=st.integers(12, 40),
    overlap_frac=st.floats(0.1, 0.7),
    halo=st.integers(0, 6),
    window=st.sampled_from(tiling.WINDOWS),
)
def test_merge_equals_the_weighted_mean_of_tile_predictions(shape, tile, overlap_frac, halo,
                                                            window):
    """The merger keeps no weight buffer and no tile-sized windows (it applies per-axis profiles
    and divides by per-axis sums): its rows must equal sum(prediction * window) / sum(window)
    accumulated naively with the whole windows."""
    overlap = min(int(tile * overlap_frac), tile - 1)
    plan = tiling.plan_tiles(shape, tile, overlap)
    rng = np.random.default_rng(0)
    preds = {t.index: rng.random((2, *plan.tile)) for t in plan.tiles}
    out = np.full((2, *plan.image_shape), np.nan)

    def write(slices, block):
        out[(slice(None), *slices)] = block

    merger = tiling.TileMerger(plan, 2, write, window=window, halo=halo)
    acc = np.zeros((2, *plan.padded_shape))
    total = np.zeros(plan.padded_shape)
    for t in plan.tiles:
        merger.add(t, torch.from_numpy(preds[t.index]))
        w = np.ones(())
        for axis, start in enumerate(t.start):
            starts = plan.starts[axis]
            w = np.multiply.outer(w, tiling.window_profile(
                plan.tile[axis], plan.overlap[axis], halo, window,
                shared_before=start != starts[0], shared_after=start != starts[-1]))
        acc[(slice(None), *t.slices)] += preds[t.index] * w
        total[t.slices] += w
    merger.finish()
    inside = tuple(slice(0, s) for s in plan.image_shape)
    expected = (acc / total)[(slice(None), *inside)]
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
