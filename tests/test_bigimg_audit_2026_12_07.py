"""Large images and lazy (dask) stacks: tiles on a network's size-divisor grid, an in-memory
result past the host's memory refused before any work, and the normalisation of a long lazy
stack reading a sample of its planes, not all of them."""

import dask.array as da
import numpy as np
import pytest
import torch

from napari_microdeblur.core import inference, memory, tiling
from napari_microdeblur.core.inference import Method, deblur, prepare_deblur
from napari_microdeblur.core.tiling_spec import TilingSpec


def pooled(x: torch.Tensor) -> torch.Tensor:
    """A network that downsamples by 2 and back (as U-Nets and GRAN do): its output depends on
    where the 2 x 2 grid falls, so a tile starting at an odd pixel gives other values."""
    small = torch.nn.functional.avg_pool2d(x, 2)
    return torch.nn.functional.interpolate(small, scale_factor=2, mode="nearest")


def test_tiles_start_on_the_size_divisor_grid():
    plan = tiling.plan_tiles((601, 517), 256, 80, size_divisor=8)
    assert all(s % 8 == 0 for t in plan.tiles for s in t.start)
    assert plan.padded_shape == (608, 520)  # the end padded up to the grid
    assert all(b <= p for t in plan.tiles for b, p in zip(t.stop, plan.padded_shape))
    # without a divisor nothing is padded (the plan was this before)
    assert tiling.plan_tiles((601, 517), 256, 80).padded_shape == (601, 517)


@pytest.mark.parametrize("shape", [(61, 47), (33, 90), (7, 71)])
def test_tiled_equals_untiled_for_a_network_that_downsamples(shape):
    """Odd sizes put the edge tile at an odd start: its pixels differed from the untiled run by
    up to half the image's range here (GRAN on a 601 x 517 image: 17 of 375, 4.7%)."""
    image = np.random.default_rng(0).random(shape).astype(np.float32) * 100
    method = Method("pool", forward=pooled, halo=1, size_divisor=2, normalization="none")
    whole = deblur(image, method=method, axes="YX", tile=128, overlap=4, device="cpu")
    tiled = deblur(image, method=method, axes="YX", tile=16, overlap=4, device="cpu")
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def counting_stack(shape, chunks):
    """A lazy stack that counts the chunks computed."""
    reads = []

    def block(b):
        reads.append(1)
        return b + 7

    lazy = da.zeros(shape, chunks=chunks, dtype=np.uint16).map_blocks(block, dtype=np.uint16)
    return lazy, reads


def test_result_larger_than_memory_is_refused_before_any_tile(monkeypatch):
    """A whole 5D stack read lazily has a float32 result twice its uint16 size: np.empty took
    it without a word and the run filled it until the system killed napari."""
    lazy, _ = counting_stack((2, 3, 64, 64), (1, 1, 64, 64))
    calls = []

    def forward(x):
        calls.append(1)
        return x

    monkeypatch.setattr(memory, "host_available_bytes", lambda: 64 * 64 * 4, raising=False)
    prepared = prepare_deblur(lazy, "TZYX", Method("id", forward=forward, normalization="none"),
                              TilingSpec(device="cpu"))
    with pytest.raises(ValueError, match="GiB of memory.*current slice"):
        next(prepared.iter_run())
    assert calls == []
    # a result written to a given array (the command line's file) is not held in memory
    out = np.zeros(lazy.shape, np.float32)
    result = prepared.run(out=out)
    assert result.image is out and np.all(out == 7)


def test_result_that_fits_is_not_refused(monkeypatch):
    monkeypatch.setattr(memory, "host_available_bytes", lambda: None, raising=False)
    image = np.ones((32, 32), np.float32)
    out = deblur(image, method=Method("id", forward=lambda x: x, normalization="none"),
                 axes="YX", device="cpu")
    np.testing.assert_array_equal(out, image)


def test_normalisation_of_a_long_lazy_stack_reads_a_sample_of_its_planes():
    """A 'current slice' deblur normalises over the whole layer: a strided Y, X sample still
    computed every chunk of a lazy stack (all 2000 planes of a 4 GB one)."""
    lazy, reads = counting_stack((300, 64, 64), (1, 64, 64))
    norm = inference.compute_normalization(lazy, "ZYX", "percentile")
    assert norm.offset == 7
    assert len(reads) < 100  # STATS_MAX_PLANES (64) and a few more; not all 300


def test_short_stack_sample_keeps_every_plane():
    image = np.arange(10 * 40 * 40, dtype=np.float32).reshape(10, 40, 40)
    np.testing.assert_array_equal(inference._stats_sample(image, "ZYX"), image)


def test_tile_grid_overlay_shows_the_tiles_a_network_ran():
    """The grid of a network's result was planned without its size divisor: its tiles sat at
    other starts than the run's."""
    from napari.layers import Image

    from napari_microdeblur._widgets._layer_data import tile_grid_layer

    image = np.random.default_rng(0).random((61, 47)).astype(np.float32)
    method = Method("pool", forward=pooled, halo=1, size_divisor=2, normalization="none")
    result = prepare_deblur(image, "YX", method, TilingSpec(tile=16, overlap=4,
                                                            device="cpu")).run()
    layer = Image(result.image, metadata={"microdeblur": {
        "axes": "YX", "tile": result.tile, "overlap": result.overlap,
        "parameters": {k: v for k, v in result.parameters.items() if k != "card"}}})
    rects, _, _ = tile_grid_layer(layer, tiling.plan_tiles)
    ran = tiling.plan_tiles(image.shape, 16, 4, size_divisor=2)
    assert [tuple(r[0] + 0.5) for r in rects] == [t.start for t in ran.tiles]


def test_lazy_stack_decodes_each_chunk_once_per_run():
    """Read tile by tile, a lazy plane decoded every chunk a tile touched, for each tile: 200
    chunk reads for 8 chunks (a 2 x 2048 x 2048 stack in 1024 px chunks, 256 px tiles); here
    the same ratio on a smaller stack. The result equals the numpy input's."""
    lazy, reads = counting_stack((2, 512, 512), (1, 256, 256))
    method = Method("id", forward=lambda x: x * 2, halo=4, normalization="none")
    prepared = prepare_deblur(lazy, "ZYX", method, TilingSpec(tile=64, device="cpu"))
    reads.clear()
    result = prepared.run()
    assert len(reads) == 8
    expected = deblur(np.asarray(lazy), method=method, axes="ZYX", tile=64, device="cpu")
    np.testing.assert_array_equal(result.image, expected)
    np.testing.assert_array_equal(result.image, 14)


def test_deblur_dock_refuses_a_result_larger_than_memory_before_starting(
        make_napari_viewer, monkeypatch):
    """The dock's whole-stack scope on a lazy stack whose result would not fit: one error line
    naming the way out when Run is pressed, no worker started, no layer added."""
    import dask.array as da
    from napari.utils.notifications import notification_manager

    monkeypatch.setattr(memory, "host_available_bytes", lambda: 2**20, raising=False)
    viewer = make_napari_viewer()
    layer = viewer.add_image(da.zeros((40, 256, 256), dtype=np.uint16, chunks=(1, 256, 256)),
                             name="lazy")
    _, w = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Deblur")
    w.layer_combo.set_value(layer)
    w.scope_combo.setCurrentText("whole stack")
    w.method_combo.setCurrentText("wiener")
    start = len(notification_manager.records)
    assert w.run() is None
    said = [str(n.message) for n in notification_manager.records[start:]]
    assert any("GiB of memory" in m and "current slice" in m for m in said), said
    assert [la.name for la in viewer.layers] == ["lazy"]


def test_an_uncompressed_tiff_is_read_tile_by_tile_not_held_whole(tmp_path, monkeypatch):
    """A file-to-file run of a big uncompressed TIFF stays in bounded memory: its regions are
    positioned reads with no decoding, so holding its plane (read_once) would only add the
    plane's size to the peak (0.5 GB for the README's 16384 px uint16 image)."""
    import tifffile

    from napari_microdeblur.core import io

    path = tmp_path / "big.tif"
    tifffile.imwrite(path, np.zeros((512, 512), np.uint16))
    data = io.read_image(path)
    assert isinstance(data.array, io.TiffArray)
    monkeypatch.setattr(memory, "host_available_bytes", lambda: 1 << 34, raising=False)
    assert not tiling.holds_plane(data.array, (512, 512), 1)
    lazy = da.zeros((512, 512), dtype=np.uint16, chunks=(256, 256))
    assert tiling.holds_plane(lazy, (512, 512), 1)  # a lazy array still is held once


def test_selective_deblur_refuses_a_result_larger_than_memory(monkeypatch):
    """core.selective (the Focus QC dock's job) copies the whole input into an in-memory
    result before deblurring the soft tiles: past the host's memory it is refused in one line,
    before any copy or tile."""
    from napari_microdeblur.core import selective

    monkeypatch.setattr(memory, "host_available_bytes", lambda: 1024, raising=False)
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    with pytest.raises(ValueError, match="GiB of memory"):
        selective.deblur_selected(image, "wiener", psf="gaussian:1.2", axes="YX",
                                  threshold=1e30, balance=0.01)


def test_deblur_dock_memory_check_uses_the_output_dtype(make_napari_viewer, monkeypatch):
    """Output dtype 'as input' on a uint16 stack needs half the memory of float32: the dock
    refused a run that fitted."""
    from napari_microdeblur._widgets._jobs import check_request

    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((10, 64, 64), np.uint16), name="stack")
    _, w = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Deblur")
    w.layer_combo.set_value(layer)
    w.scope_combo.setCurrentText("whole stack")
    w.method_combo.setCurrentText("wiener")
    nbytes = 10 * 64 * 64
    monkeypatch.setattr(memory, "host_available_bytes", lambda: 3 * nbytes, raising=False)
    w.tiling.dtype_combo.setCurrentText("as input")  # 2 bytes a pixel: fits
    check_request(w.build_request())
    w.tiling.dtype_combo.setCurrentText("float32")  # 4 bytes a pixel: does not
    with pytest.raises(ValueError, match="GiB of memory"):
        check_request(w.build_request())


@pytest.mark.parametrize("view", ["channel", "colours"])
def test_views_of_an_uncompressed_tiff_are_read_tile_by_tile(tmp_path, view):
    """A channel of a per-channel-PSF run, or the colours of an RGBA file, wrap the TIFF: they
    are as cheap to read by region as the TIFF itself (they were held as whole planes)."""
    import tifffile

    from napari_microdeblur.core import io
    from napari_microdeblur.core.axes import FirstSamples
    from napari_microdeblur.core.channel_psfs import ChannelOf

    path = tmp_path / "c.tif"
    tifffile.imwrite(path, np.zeros((2, 256, 256), np.uint16), metadata={"axes": "CYX"})
    array = io.read_image(path).array
    assert isinstance(array, io.TiffArray)
    # the colours of an RGBA file are its first three samples, like the first of two channels
    wrapped = ChannelOf(array, 0, 1) if view == "channel" else FirstSamples(array, 0, 1)
    assert not tiling.holds_plane(wrapped, (256, 256), 3)


def test_an_in_memory_stack_s_normalisation_still_sees_every_plane():
    """The 64-plane sample is for lazy stacks (reading them is the cost); a numpy stack keeps
    every plane, so a few bright planes still set the percentiles."""
    stack = np.full((130, 32, 32), 100.0, np.float32)
    stack[1::4] = 5000.0
    sample = inference._stats_sample(stack, "ZYX")
    assert sample.max() == 5000.0 and (sample == 5000.0).mean() > 0.2


def test_an_uncompressed_tiff_stack_s_normalisation_sees_every_plane(tmp_path):
    """The CLI's TIFF stacks (positioned reads) keep the normalisation they had: every plane,
    as numpy; the 64-plane sample is for dask and zarr."""
    import tifffile

    from napari_microdeblur.core import io

    stack = np.full((130, 32, 32), 100, np.uint16)
    stack[1::4] = 5000
    tifffile.imwrite(tmp_path / "s.tif", stack, metadata={"axes": "ZYX"})
    array = io.read_image(tmp_path / "s.tif").array
    assert isinstance(array, io.TiffArray)
    sample = inference._stats_sample(array, "ZYX")
    assert (sample == 5000).mean() > 0.2
