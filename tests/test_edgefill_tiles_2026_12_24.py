"""Edge fill on planes read tile by tile (an uncompressed TIFF's io.TiffArray, np.memmap):
continued as in memory, told from the plane's edge strips first, so a plane without one is
still never read whole (core.edge_fill). Before, such a plane's fill rang (8 px band 18.0 dB
against 28.9 in memory, an EPFL crop) and a CLI run of a wedge to a .tif failed."""

import warnings

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core import edge_fill, inference, io, tiling
from napari_microdeblur.core.inference import deblur

WIENER = dict(method="wiener", psf="gaussian:1.6", balance=0.05, tile=128)
WIENER_CLI = ["--method", "wiener", "--psf", "gaussian:1.6", "--balance", "0.05",
              "--tile", "128", "--device", "cpu"]
SHAPE = (200, 264)  # 2 x 3 tiles of 128: no one-tile plan (read whole anyway)


def _blurred(shape=SHAPE, seed=0):
    rng = np.random.default_rng(seed)
    sharp = ndimage.gaussian_filter(rng.random(shape), 1.0)
    sharp = (sharp - sharp.min()) / np.ptp(sharp)
    x = ndimage.gaussian_filter(sharp, 1.6) * 200 + 30 + rng.normal(0, 1.0, shape)
    return np.clip(np.rint(x), 1, 255).astype(np.uint8)


def _wedge(x):
    yy, xx = np.mgrid[: x.shape[0], : x.shape[1]]
    out = x.copy()
    out[yy < (xx - 150) * 0.9] = 0  # a slanted black wedge at the top right, ~10 %
    return out, out == 0


def _run(image, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = deblur(image, axes="YX", **{**WIENER, **kw})
    return np.asarray(y), [str(w.message) for w in caught]


def _tiff(path, x, compression=None):
    tifffile.imwrite(path, x, compression=compression)
    return path


def _lazy(kind, x, tmp_path):
    """``x`` as a plane read tile by tile: an uncompressed TIFF as the CLI reads it, or a
    memory map."""
    if kind == "tiff":
        array = io.read_image(_tiff(tmp_path / "x.tif", x)).array
        assert isinstance(array, io.TiffArray)
        return array
    np.save(tmp_path / "x.npy", x)
    return np.load(tmp_path / "x.npy", mmap_mode="r")


@pytest.mark.parametrize("kind", ["tiff", "memmap"])
def test_a_wedge_read_tile_by_tile_deblurs_as_in_memory(kind, tmp_path):
    x, fill = _wedge(_blurred())
    assert 0.05 < fill.mean() < 0.15
    ref, said_ref = _run(x)
    y, said = _run(_lazy(kind, x, tmp_path))
    assert sum("edge fill" in s for s in said_ref) == 1
    assert sum("edge fill" in s for s in said) == 1  # the fill note, once
    assert np.allclose(y, ref, rtol=0, atol=1e-4)
    assert np.array_equal(y[fill], np.zeros(np.count_nonzero(fill), np.float32))


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_the_cli_deblurs_a_wedge_in_a_tiff_as_in_memory(compression, tmp_path, capsys):
    """The same image gave another result as an uncompressed TIFF (its fill rang), and a
    compressed one failed: "'TiffWriteArray' object is not subscriptable"."""
    x, fill = _wedge(_blurred(seed=1))
    ref, _ = _run(x)
    src = _tiff(tmp_path / "in.tif", x, compression)
    out = tmp_path / "out.tif"
    assert main(["deblur", str(src), "-o", str(out), *WIENER_CLI]) == 0
    assert "edge fill" in capsys.readouterr().err
    y = tifffile.imread(out)
    assert np.allclose(y, ref, rtol=0, atol=1e-4)
    assert np.all(y[fill] == 0)


def test_the_cli_restores_a_fill_in_a_one_tile_plane(tmp_path, capsys):
    x, fill = _wedge(_blurred(seed=2))
    ref, _ = _run(x, tile=None)
    src = _tiff(tmp_path / "in.tif", x)
    out = tmp_path / "out.tif"
    assert main(["deblur", str(src), "-o", str(out), "--method", "wiener", "--psf",
                 "gaussian:1.6", "--balance", "0.05"]) == 0
    y = tifffile.imread(out)
    assert np.allclose(y, ref, rtol=0, atol=1e-4)
    assert np.all(y[fill] == 0)


def _spied_reads(monkeypatch) -> list[int]:
    """The pixel counts of the regions read from a TiffArray by the run's planes and tiles
    (``inference._run``: not the statistics' sample, read before it)."""
    sizes, read, run = [], io.TiffArray.__getitem__, inference._run
    running = []

    def spy(self, key):
        region = read(self, key)
        if running:
            sizes.append(region.size)
        return region

    def spied_run(*args, **kwargs):
        running.append(True)
        return (yield from run(*args, **kwargs))

    monkeypatch.setattr(io.TiffArray, "__getitem__", spy)
    monkeypatch.setattr(inference, "_run", spied_run)
    return sizes


def _as_before(monkeypatch, image):
    """``image`` deblurred with its planes read as before this change: tile by tile."""
    with monkeypatch.context() as m:
        m.setattr(edge_fill.EdgeFills, "reader", lambda self, read: read)
        return _run(image)


def test_a_plane_without_fill_is_not_read_whole_and_comes_out_as_before(tmp_path, monkeypatch):
    x = _blurred(seed=3)
    image = _lazy("tiff", x, tmp_path)
    before, _ = _as_before(monkeypatch, image)
    sizes = _spied_reads(monkeypatch)
    y, said = _run(image)
    assert sizes and max(sizes) < x.size // 2  # tiles and edge strips only
    assert not any("edge fill" in s for s in said)
    assert np.array_equal(y, before)


def test_a_plane_over_the_budget_runs_tile_by_tile_as_before(tmp_path, monkeypatch):
    x, _ = _wedge(_blurred(seed=4))
    image = _lazy("tiff", x, tmp_path)
    before, _ = _as_before(monkeypatch, image)
    monkeypatch.setattr(tiling, "READ_ONCE_MAX_BYTES", x.nbytes - 1)
    sizes = _spied_reads(monkeypatch)
    y, said = _run(image)
    assert sizes and max(sizes) < x.size // 2
    assert not any("edge fill" in s for s in said)
    assert np.array_equal(y, before)


def _planes(count=400, seed=0):
    """Small planes of few levels with a constant patch at their min, max or another value,
    touching the edge or not: fills and near-misses."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        h, w = (int(n) for n in rng.integers(8, 60, 2))
        p = rng.integers(0, int(rng.choice([2, 4, 256])), (h, w)).astype(np.uint8)
        yy, xx = np.mgrid[:h, :w]
        patch = [yy < (xx - rng.integers(0, w)) * rng.uniform(0.2, 3),
                 xx < rng.integers(0, 8),
                 (yy < rng.integers(0, h)) & (xx < rng.integers(0, w)),
                 (yy - rng.integers(0, h)) ** 2 + (xx - rng.integers(0, w)) ** 2
                 < rng.integers(1, 400)][rng.integers(0, 4)]
        p[patch] = int(rng.choice([p.min(), p.max(), 0, 255]))
        yield np.rot90(p, rng.integers(0, 4)).copy()


def test_the_edge_strips_never_miss_a_fill():
    found = 0
    for p in _planes():
        if edge_fill.edge_fill_mask(p) is not None:
            found += 1
            assert edge_fill.may_hold_fill(lambda sl, p=p: p[sl][None], p.shape)
    assert found > 50
    x = _blurred(seed=5)  # noise: no square of one value on the edge
    assert not edge_fill.may_hold_fill(lambda sl: x[sl][None], x.shape)
    assert edge_fill.may_hold_fill(lambda sl: _wedge(x)[0][sl][None], x.shape)


def test_the_budget_counts_the_work_of_finding_the_fill(tmp_path, monkeypatch):
    """The plane alone fits an eighth of the free memory, the fill's 10-15 bytes a pixel do
    not (review of e7d23af: an 8192^2 uint8 wedge then ran out of memory): tile by tile."""
    from napari_microdeblur.core import memory

    x, _ = _wedge(_blurred(seed=6))
    image = _lazy("tiff", x, tmp_path)
    before, _ = _as_before(monkeypatch, image)
    monkeypatch.setattr(memory, "host_available_bytes", lambda: 8 * x.nbytes)
    sizes = _spied_reads(monkeypatch)
    y, said = _run(image)
    assert sizes and max(sizes) < x.size // 2
    assert np.array_equal(y, before)
    monkeypatch.setattr(memory, "host_available_bytes", lambda: 2 * 17 * x.nbytes)
    assert edge_fill._fits(x.shape, x.dtype)


@pytest.mark.parametrize("kind", ["numpy", "tiff"])
def test_no_memory_for_the_fill_runs_the_plane_as_it_is_and_says_so(kind, tmp_path, monkeypatch):
    x, _ = _wedge(_blurred(seed=7))
    image = x if kind == "numpy" else _lazy("tiff", x, tmp_path)
    before, _ = _as_before(monkeypatch, image)

    def no_room(plane, mask):
        raise MemoryError("Unable to allocate 64.0 MiB for an array")

    monkeypatch.setattr(edge_fill, "filled", no_room)  # the continuation, after the mask
    y, said = _run(image)
    assert np.array_equal(y, before)
    assert any("1 of 1 planes had no memory left to look for an edge fill" in s for s in said)
