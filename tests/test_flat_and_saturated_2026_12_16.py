"""Planes of one value pass through every method bit for bit with one DeblurNote
(``core.flat_planes``); an image clipped in plateaus at its maximum gets one DeblurNote naming
the clipping (``core.plateaus``), an image with a few hot pixels or none does not."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage

from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.notes import DeblurNote

METHODS = [("auto", {}), ("wiener", {"psf": "gaussian:2"}),
           ("richardson_lucy", {"psf": "gaussian:2"}), ("auto", {"psf": "gaussian:2"})]


def _run(image, axes, method, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deblur(image, method=method, axes=axes, **kw)
    return out, caught


def _lines(caught, word):
    return [w for w in caught if word in str(w.message)]


def _sample(seed=0, shape=(3, 64, 64)):
    return ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), 1).astype(
        np.float32) * 100


@pytest.mark.parametrize("method,kw", METHODS)
def test_an_empty_plane_of_a_stack_comes_back_as_it_was(method, kw):
    stack = _sample()
    stack[1] = 0
    out, caught = _run(stack, "ZYX", method, **kw)
    assert np.array_equal(out[1], stack[1])  # bit for bit: no network bias
    assert not np.array_equal(out[0], stack[0])  # the others were deblurred
    said = _lines(caught, "single value")
    assert len(said) == 1 and said[0].category is DeblurNote
    assert "1 of 3 planes" in str(said[0].message)


@pytest.mark.parametrize("method,kw", METHODS)
@pytest.mark.parametrize("image", [np.full((64, 64), 7.25, np.float32),
                                   np.full((64, 64), 300, np.uint16)], ids=["f32", "u16"])
def test_an_image_of_one_value_comes_back_as_it_was(image, method, kw):
    for dtype in ("float32", "input"):
        out, caught = _run(image, "YX", method, output_dtype=dtype, **kw)
        assert np.array_equal(out, image.astype(out.dtype))
        assert len(_lines(caught, "single value")) == 1


@pytest.mark.parametrize("method,kw", METHODS)
def test_an_rgb_image_of_one_colour_comes_back_as_it_was(method, kw):
    rgb = np.broadcast_to(np.array([10, 200, 30], np.uint8), (64, 64, 3)).copy()
    out, caught = _run(rgb, "YXS", method, **kw)
    assert np.array_equal(out, rgb.astype(np.float32))
    assert len(_lines(caught, "single value")) == 1


def test_a_plane_flat_only_in_its_first_rows_is_deblurred():
    stack = _sample(shape=(2, 160, 48))
    stack[1, :64] = 0  # its first strip read (``flat_planes.STRIP_ROWS``) flat, not the rest
    out, caught = _run(stack, "ZYX", "wiener", psf="gaussian:2")
    assert not _lines(caught, "single value")


def _share(image, axes="YX"):
    from napari_microdeblur.core import plateaus  # here: the flat tests run without it

    return plateaus.plateau_share(image, axes)[0], plateaus.PLATEAU_SHARE


def _clipped(share, seed=3):
    """A blurred, noisy uint16 image clipped at 4095 with ``share`` of its pixels at the top
    (as a 12-bit camera saturates)."""
    rng = np.random.default_rng(seed)
    sharp = np.zeros((192, 192))
    sharp[rng.integers(8, 184, 40), rng.integers(8, 184, 40)] = 1
    blurred = ndimage.gaussian_filter(ndimage.gaussian_filter(sharp, 3) * 3e5, 2) + 200
    blurred += rng.normal(0, 5, blurred.shape)
    level = np.quantile(blurred, 1 - share)
    return np.round(np.minimum(blurred, level) * 4095 / level).astype(np.uint16)


@pytest.mark.parametrize("method,kw", METHODS[:3])
def test_saturated_plateaus_get_one_note(method, kw):
    image = _clipped(0.01)
    assert 0.008 < _share(image)[0] < 0.012
    before = image.copy()
    _, caught = _run(image, "YX", method, **kw)
    said = _lines(caught, "flat plateaus")
    assert len(said) == 1 and said[0].category is DeblurNote
    assert "4095" in str(said[0].message) and "PSF" in str(said[0].message)
    assert np.array_equal(image, before)  # the input is untouched


def test_no_note_below_the_threshold_or_for_hot_pixels():
    image = _clipped(0.0005)
    share, threshold = _share(image)
    assert share < threshold
    _, caught = _run(image, "YX", "wiener", psf="gaussian:2")
    assert not _lines(caught, "flat plateaus")
    hot = _clipped(0.0)
    hot.ravel()[np.random.default_rng(1).choice(hot.size, 400, replace=False)] = 65535
    assert _share(hot)[0] == 0.0  # isolated pixels are no plateau
    _, caught = _run(hot, "YX", "wiener", psf="gaussian:2")
    assert not _lines(caught, "flat plateaus")


def test_plateaus_are_counted_per_plane():
    stack = np.zeros((2, 32, 32), np.uint8)
    stack[0, 10:12, 10:12] = 255  # 4 px: under PLATEAU_PIXELS
    stack[1, 10:12, 10] = 255  # 2 px above it in the next plane: not joined
    assert _share(stack, "ZYX")[0] == 0.0
    stack[0, 12, 10] = 255
    assert _share(stack, "ZYX")[0] == pytest.approx(5 / stack.size)


def _counted(image, chunks):
    """``image`` as a dask array of ``chunks`` and a Counter of how often each chunk was
    decoded (computed)."""
    from collections import Counter

    da = pytest.importorskip("dask.array")
    decoded = Counter()

    def decode(block, block_info=None):
        decoded[tuple(block_info[0]["chunk-location"])] += 1
        return block

    return da.from_array(image, chunks=chunks).map_blocks(decode, dtype=image.dtype), decoded


FIXED = dict(method="wiener", psf="gaussian:2", balance=0.01)


def test_the_flat_check_decodes_each_chunk_once_when_read_tile_by_tile(monkeypatch):
    from napari_microdeblur.core import inference, tiling

    monkeypatch.setattr(tiling, "READ_ONCE_MAX_BYTES", 1)  # a plane too big to hold
    stack = np.zeros((3, 512, 512), np.float32)
    stack[1] = _sample(shape=(1, 512, 512))[0]
    norm = inference.Normalization(offset=0.0, scale=100.0)  # no statistics read
    lazy, decoded = _counted(stack, (1, 256, 256))
    out, caught = _run(lazy, "ZYX", tile=256, normalization=norm, **FIXED)
    assert np.array_equal(out[[0, 2]], stack[[0, 2]])
    assert len(_lines(caught, "2 of 3 planes")) == 1
    # the empty planes: every chunk read once, to the end; the other: its first strip's
    # chunks once by the check (64-row strips decoded a 256-row chunk 4 times)
    assert {k: n for k, n in decoded.items() if k[0] != 1} == {
        (z, y, x): 1 for z in (0, 2) for y in (0, 1) for x in (0, 1)}
    checked = dict(decoded)
    monkeypatch.setattr(inference, "flat_values", lambda *a: None)
    lazy, decoded = _counted(stack, (1, 256, 256))
    _run(lazy, "ZYX", tile=256, normalization=norm, **FIXED)
    extra = sum(checked[k] for k in checked if k[0] == 1) - sum(
        decoded[k] for k in decoded if k[0] == 1)
    assert extra == 2  # its first chunk row


def test_a_one_tile_plane_is_decoded_once_for_the_check_and_the_tile():
    from napari_microdeblur.core import inference

    stack = np.zeros((2, 256, 256), np.float32)
    stack[0] = _sample(shape=(1, 256, 256))[0]
    lazy, decoded = _counted(stack, (1, 128, 256))
    norm = inference.Normalization(offset=0.0, scale=100.0)
    out, _ = _run(lazy, "ZYX", tile=512, normalization=norm, **FIXED)
    assert np.array_equal(out[1], stack[1]) and not np.array_equal(out[0], stack[0])
    assert dict(decoded) == {(z, y, 0): 1 for z in (0, 1) for y in (0, 1)}


@pytest.mark.parametrize("shape,chunks,edges", [
    ((4, 300, 200), (1, 128, 64), [[128, 256, 300], [64, 128, 192, 200]]),
    ((4, 300, 200), ((4,), (100, 200), (200,)), [[100, 300], [200]]),
])
def test_chunk_edges_of_zarr_and_dask_sizes(shape, chunks, edges):
    from napari_microdeblur.core.flat_planes import chunk_edges

    class Chunked:  # zarr's and h5py's .chunks: one size per axis; dask's: the sizes
        pass

    image = Chunked()
    image.shape, image.chunks = shape, chunks
    assert chunk_edges(image, [1, 2]) == edges
    assert chunk_edges(np.zeros(shape), [1, 2]) == [None, None]


@pytest.mark.parametrize("edges", [None, [[256, 512], [256, 512]]])
def test_strips_end_on_chunk_edges_and_stop_at_a_second_value(monkeypatch, edges):
    from napari_microdeblur.core import flat_planes

    plane = np.zeros((1, 512, 512), np.float32)
    plane[0, 300, 5] = 1
    reads = []

    def read(slices):
        reads.append(tuple((s.start, s.stop) for s in slices))
        return plane[(slice(None), *slices)]

    assert flat_planes.flat_values(read, (512, 512), edges) is None
    rows = [r[0] for r in reads]
    if edges is None:
        assert rows == [(a, a + 64) for a in range(0, 320, 64)]
    else:
        assert rows == [(0, 256), (256, 512)]
    reads.clear()
    monkeypatch.setattr(flat_planes, "STRIP_VALUES", 256 * 200)  # a strip cut into bands
    plane[0, 300, 5] = 0
    assert flat_planes.flat_values(read, (512, 512), edges).tolist() == [0.0]
    if edges is not None:
        assert reads == [((a, a + 256), (b, b + 256)) for a in (0, 256) for b in (0, 256)]


def test_the_plateau_note_is_one_short_line_with_share_value_and_remedy():
    from napari_microdeblur.core import plateaus

    image = np.zeros((100, 100), np.float32)
    image[:4, :4] = 1.23456789e6  # 0.16 %: the widest share and value it prints
    image[50, 50] = 3
    note = plateaus.plateau_note(image, "YX", "c2f_unet.fluorescence_v2")  # longest bundled
    assert len(note) <= 250 and "\n" not in note
    for said in ("0.16 %", "1.23457e+06", "saturated", "PSF", "Re-acquire", "mask"):
        assert said in note


# ----------------------------------------------------- per-channel plateaus, flat-aware searches


def _two_channels():
    """(2, 256, 256) uint16: channel 1 clipped at 4095 (12 % in plateaus), channel 2 smooth up
    to 30000, never clipped (the walkthrough's mc.py)."""
    rng = np.random.default_rng(1)
    e = ndimage.gaussian_filter(rng.random((256, 256)), 6)
    c0 = ((e - e.min()) / (e.max() - e.min()) * 6000).clip(0, 4095)
    c1 = ndimage.gaussian_filter(rng.random((256, 256)), 3)
    c1 = (c1 - c1.min()) / (c1.max() - c1.min()) * 30000
    return np.stack([c0, c1]).astype(np.uint16)


def test_a_saturated_channel_beside_a_brighter_one_gets_the_note_naming_it():
    image = _two_channels()
    _, caught = _run(image, "CYX", "wiener", psf="gaussian:2")
    said = _lines(caught, "flat plateaus")
    assert len(said) == 1 and said[0].category is DeblurNote
    line = str(said[0].message)
    # one PSF's 'auto' balance is found per channel (each channel prepared alone): the line
    # names the channel as its prefix
    assert line.startswith("channel 1: ") and "4095" in line and "12 %" in line
    assert "channel 2" not in line and "30000" not in line


def test_the_note_names_colours_and_at_most_two_channels_in_one_line():
    from napari_microdeblur.core import plateaus

    rgb = np.zeros((100, 100, 3), np.float32)
    rgb[50, 50] = 3
    rgb[:4, :4, 1] = 200
    note = plateaus.plateau_note(rgb, "YXS", "wiener")
    assert "colour G's pixels" in note and "0.16 % " in note and "200" in note
    stack = np.zeros((5, 100, 100), np.float32)
    stack[:, 50, 50] = 3
    for c in range(5):
        stack[c, :4 + c, :4] = 1.23456789e6
    note = plateaus.plateau_note(stack, "CYX", "c2f_unet.fluorescence_v2")
    assert "channel 1 (at 1.23457e+06)" in note and "channel 2 (at" in note
    assert "3 more channels" in note and "channel 3" not in note
    assert len(note) <= 320 and "\n" not in note


def test_a_near_empty_plane_of_a_stack_is_not_called_saturated():
    stack = np.zeros((2, 64, 64), np.uint8)
    stack[0] = np.linspace(0, 200, 64 * 64).reshape(64, 64).astype(np.uint8)  # no plateau
    stack[1, ::2] = 2  # a dim plane: its own top, 2, held by half its pixels
    assert _share(stack, "ZYX")[0] == 0.0


def _only_single_value(caught):
    return [str(w.message) for w in caught if "single value" not in str(w.message)]


@pytest.mark.parametrize("method,kw", METHODS[1:3])
@pytest.mark.parametrize("axes,shape", [("YX", (128, 128)), ("ZYX", (3, 64, 64)),
                                         ("CYX", (2, 64, 64))])
def test_an_image_of_one_value_is_not_searched_for_its_settings(method, kw, axes, shape):
    image = np.full(shape, 777, np.uint16)
    out, caught = _run(image, axes, method, **kw)
    assert np.array_equal(out, image)
    assert _only_single_value(caught) == []  # no 'GCV found no noise', no '1 iteration'
    # a C axis's channels are each searched alone (their 'auto' settings differ): one each
    assert len(caught) == (shape[0] if axes == "CYX" else 1)


def test_auto_in_3d_on_a_stack_of_one_value_says_only_that():
    image = np.zeros((6, 40, 40), np.float32)
    out, caught = _run(image, "ZYX", "auto",
                       psf="widefield:na=1.4,wavelength=0.46,pixel=0.1,nz=5,dz=0.3")
    assert np.array_equal(out, image)
    assert _only_single_value(caught) == [] and len(caught) == 1


def _beads(planes, seed=0, size=128):
    """Noisy blurred beads, ``planes`` of (``size``, ``size``), float32."""
    rng = np.random.default_rng(seed)
    sharp = np.zeros((planes, size, size))
    sharp[:, rng.integers(0, size, 80), rng.integers(0, size, 80)] = 1
    return rng.poisson(ndimage.gaussian_filter(sharp, (0, 2, 2)) * 3000 + 20).astype(
        np.float32)


def _said(caught, word):
    found = _lines(caught, word)
    assert len(found) == 1, [str(w.message) for w in caught]
    return str(found[0].message).split(" (")[0]


def test_richardson_lucy_iterations_leave_empty_planes_out():
    stack = _beads(10, size=256)
    # the central 8 planes of 256 x 256 are all the check scores: they once gave 1 iteration
    stack[1:9] = 0
    _, caught = _run(stack, "ZYX", "richardson_lucy", psf="gaussian:2")
    _, alone = _run(stack[[0, 9]], "ZYX", "richardson_lucy", psf="gaussian:2")
    assert _said(caught, "iterations 'auto'") == _said(alone, "iterations 'auto'")
    assert "1 iteration" not in _said(caught, "iterations 'auto'")


@pytest.mark.parametrize("axes,flat", [("ZYX", slice(1, 4)), ("CYX", slice(0, 1))])
def test_wiener_balance_leaves_empty_planes_and_channels_out(axes, flat):
    image = _beads(5)
    image[flat] = 0  # the middle planes, or the first channel, that GCV read
    kept = np.ones(5, bool)
    kept[flat] = False
    _, caught = _run(image, axes, "wiener", psf="gaussian:2")
    if axes == "ZYX":
        assert not _lines(caught, "found no noise")
        _, alone = _run(image[kept], axes, "wiener", psf="gaussian:2")
        assert _said(caught, "balance 'auto'") == _said(alone, "balance 'auto'")
    else:  # each channel is searched alone; the flat one is passed through, not searched
        lines = [str(w.message) for w in caught]
        assert not [line for line in lines if line.startswith("channel 1: wiener")]
        for c in range(1, 5):
            _, alone = _run(image[c], "YX", "wiener", psf="gaussian:2")
            said = _said(alone, "balance 'auto'")
            expected = f"channel {c + 1}: {said}"
            assert expected in [line.split(" (")[0] for line in lines]


def test_a_flat_centre_takes_the_fixed_balance_and_says_why():
    image = np.zeros((600, 600), np.float32)
    image[:100] = _beads(1, size=600)[0, :100]  # the search reads the central 256 x 256
    _, caught = _run(image, "YX", "wiener", psf="gaussian:2")
    line = _lines(caught, "balance 'auto'")
    assert len(line) == 1 and line[0].category is DeblurNote
    assert "balance 0.01" in str(line[0].message) and "centre" in str(line[0].message)
    assert not _lines(caught, "found no noise")
