"""An integer output written by way of its float result (``total_check.SummedWrites``) counts
each pixel once in its clip line, as before: an edge fill's values written back to a TIFF
strip by strip, and a flat plane passed through, are the input's own and not counted as
rounded. An input not summed again (dask, Zarr) with a float32 output has its output read
back for nothing no more."""

from __future__ import annotations

import re
import warnings

import dask.array as da
import numpy as np
import tifffile
import torch
import zarr
from scipy.ndimage import gaussian_filter

from napari_microdeblur.cli import main
from napari_microdeblur.core import total_check
from napari_microdeblur.core.inference import Normalization, deblur

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.001"]


class Same(torch.nn.Module):
    def forward(self, x):
        return x


class Smoothing(torch.nn.Module):
    """Keeps the total, spreads counts into fractions under 0.5 (which round to 0)."""

    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, 5, stride=1, padding=2, count_include_pad=False)


def _plane(seed=0, size=256) -> np.ndarray:
    """8-bit structure with saturated parts: Wiener with a small balance clips there."""
    rng = np.random.default_rng(seed)
    sharp = np.clip(gaussian_filter(rng.random((size, size)), 2) * 2000 - 850, 0, 255)
    return np.clip(gaussian_filter(sharp, 1.5), 0, 255).astype(np.uint8)


def _wedged(plane: np.ndarray) -> np.ndarray:
    """A zero wedge at the top-left corner (a stitched mosaic's fill)."""
    yy, xx = np.mgrid[: plane.shape[0], : plane.shape[1]]
    out = plane.copy()
    out[(yy + xx) < 80] = 0
    return out


def _clip_counts(err: str) -> list[tuple[int, int]]:
    return [(int(m[1]), int(m[2])) for m in re.finditer(r"(\d+) of (\d+) values \(", err)]


def _zarr_array(path) -> np.ndarray:
    store = zarr.open(str(path), mode="r")
    if not hasattr(store, "shape"):  # an OME-Zarr group: its full-resolution array
        store = store[sorted(store.array_keys())[0]]
    return np.asarray(store)


def test_edge_fill_written_to_a_tiff_is_counted_once(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "wedge.tif", _wedged(_plane()))
    counts, outputs = {}, {}
    for ext in ("tif", "zarr"):
        out = tmp_path / f"out.{ext}"
        assert main(["deblur", str(tmp_path / "wedge.tif"), "-o", str(out), "--device", "cpu",
                     "--output-dtype", "input", *WIENER]) == 0
        err = capsys.readouterr().err
        assert "edge fill" in err
        counts[ext] = _clip_counts(err)
        outputs[ext] = tifffile.imread(out) if ext == "tif" else _zarr_array(out)
    # a .tif (written strip by strip, not read back) says what a .zarr does: every pixel once
    assert len(counts["tif"]) == 1 and counts["tif"][0][0] > 0
    assert counts["tif"] == counts["zarr"] and counts["tif"][0][1] == 256 * 256
    assert outputs["tif"].dtype == np.uint8 and np.array_equal(outputs["tif"], outputs["zarr"])
    assert (outputs["tif"][_wedged(np.ones((256, 256), np.uint8)) == 0] == 0).all()


def test_flat_plane_passed_through_is_not_counted():
    plane = _plane()
    stack = np.stack([plane, np.full_like(plane, 77), plane[::-1]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deblur(stack, method="wiener", psf="gaussian:1.5", balance=0.001, axes="ZYX",
                     device="cpu", output_dtype="input")
    lines = [str(w.message) for w in caught]
    assert any("passed through unchanged" in line for line in lines)
    counts = [c for line in lines for c in _clip_counts(line)]
    # the two deblurred planes' values, as before the float result was written
    assert len(counts) == 1 and counts[0][0] > 0 and counts[0][1] == 2 * 256 * 256
    assert out.dtype == np.uint8 and (out[1] == 77).all()


def test_flat_plane_of_two_channels_is_not_counted():
    plane = _plane(size=128)
    flat = np.stack([np.full_like(plane, 77), np.full_like(plane, 200)])  # one value each
    stack = np.stack([np.stack([plane, plane[::-1]]), flat, np.stack([plane[::-1], plane])])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deblur(stack, method="wiener", psf="gaussian:1.5", balance=0.001, axes="ZCYX",
                     device="cpu", output_dtype="input")
    counts = [c for w in caught for c in _clip_counts(str(w.message))]
    assert len(counts) == 1 and counts[0][0] > 0 and counts[0][1] == 2 * 2 * 128 * 128
    assert np.array_equal(out[1], flat)


def _summed_reads(monkeypatch) -> list:
    reads = []
    summed = total_check._summed
    monkeypatch.setattr(total_check, "_summed",
                        lambda layout, array, plane: reads.append(plane) or summed(
                            layout, array, plane))
    return reads


def test_lazy_input_to_float32_reads_no_output_back(monkeypatch):
    reads = _summed_reads(monkeypatch)
    wedge = _wedged(_plane())
    stack = da.from_array(np.stack([wedge, wedge[:, ::-1], wedge]), chunks=(1, 256, 256))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deblur(stack, method=Same(), axes="ZYX", device="cpu")
    assert any("edge fill" in str(w.message) for w in caught)  # the output written twice
    assert reads == []  # no network note (the input is not summed), no rounding tally
    assert out.dtype == np.float32


def test_lazy_input_to_an_integer_type_still_says_its_rounding(monkeypatch):
    reads = _summed_reads(monkeypatch)
    rng = np.random.default_rng(0)
    sharp = gaussian_filter(rng.random((128, 128)), 3) ** 4
    counts = rng.poisson(gaussian_filter(sharp * (0.3 / sharp.mean()), 1.7)).astype(np.uint16)
    stack = da.from_array(np.stack([counts, counts[::-1]]), chunks=(1, 128, 128))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur(stack, method=Smoothing(), axes="ZYX", device="cpu", output_dtype="input",
               normalization=Normalization(0.0, 1.0))
    said = [str(w.message) for w in caught if "by rounding and clipping its total" in
            str(w.message) or "moved its total intensity" in str(w.message)]
    assert len(said) == 1  # the tally's totals are still taken (from the writes)
    assert reads == []  # written once: summed as written, nothing read back
