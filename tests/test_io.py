"""TIFF reading and writing: lazy regions, axes and pixel size kept, atomic outputs."""

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core import io, io_write


def test_tiff_array_reads_regions_like_numpy(tmp_path, focus_stack):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, focus_stack, metadata={"axes": "ZYX"})
    data = io.read_image(path)
    assert isinstance(data.array, io.TiffArray)
    assert data.axes == "ZYX"
    for key in [(3,), (slice(2, 9), slice(5, 40), slice(7, 61)), (0, slice(None, None, 7)),
                (slice(None), 10, slice(3, 4)), (-1, Ellipsis, slice(0, 2))]:
        np.testing.assert_array_equal(data.array[key], focus_stack[key])
    np.testing.assert_array_equal(np.asarray(data.array), focus_stack)


def test_pixel_size_and_axes_survive_a_round_trip(tmp_path, he_rgb, fluo_u16):
    path = tmp_path / "nuclei.ome.tif"
    io_write.write_image(path, fluo_u16, axes="YX", pixel_size={"X": 0.65, "Y": 0.65})
    back = io.read_image(path)
    assert back.axes == "YX"
    assert back.pixel_size["X"] == pytest.approx(0.65)
    path = tmp_path / "he.tif"
    io_write.write_image(path, he_rgb, axes="YXS", pixel_size={"X": 0.5, "Y": 0.5})
    back = io.read_image(path)
    assert back.axes == "YXS"
    assert back.pixel_size["Y"] == pytest.approx(0.5, rel=1e-4)
    np.testing.assert_array_equal(np.asarray(back.array), he_rgb)


def test_output_is_atomic_and_removed_on_failure(tmp_path, fluo_u16):
    path = tmp_path / "out.tif"
    with pytest.raises(RuntimeError):
        with io_write.open_tiff_output(path, fluo_u16.shape, np.float32, axes="YX") as target:
            target[0:10, :] = fluo_u16[0:10].astype(np.float32)
            raise RuntimeError("cancelled")
    assert list(tmp_path.iterdir()) == []
    with io_write.open_tiff_output(path, fluo_u16.shape, np.float32, axes="YX") as target:
        target[:, :] = fluo_u16.astype(np.float32)
    np.testing.assert_array_equal(tifffile.imread(path), fluo_u16.astype(np.float32))


def test_output_refusals(tmp_path, fluo_u16):
    existing = tmp_path / "exists.tif"
    existing.write_bytes(b"x")
    with pytest.raises(FileExistsError, match="overwrite"):
        io_write.check_output_path(existing)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io_write.check_output_path(tmp_path / "missing_dir" / "out.tif")
    with pytest.raises(ValueError, match=".tif"):
        io_write.check_output_path(tmp_path / "out.png")


def test_input_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.read_image(tmp_path / "nope.tif")
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00garbage")
    with pytest.raises(ValueError, match="cannot read"):
        io.read_image(broken)


def test_other_formats_need_the_formats_extra(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_readers(name, *args, **kwargs):
        if name in ("bioio", "aicsimageio"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_readers)
    odd = tmp_path / "image.czi"
    odd.write_bytes(b"\x00" * 16)
    with pytest.raises(ValueError, match=r"napari-microdeblur\[formats\]"):
        io.read_image(odd)


def test_zarr_in_and_out_keep_axes_and_match_the_python_api(tmp_path, focus_stack):
    from napari_microdeblur.core.files import deblur_file
    from napari_microdeblur.core.inference import deblur

    stack = focus_stack[:3]
    src = tmp_path / "stack.ome.zarr"
    with io_write.open_zarr_output(src, stack.shape, stack.dtype, axes="ZYX",
                                   pixel_size={"Z": 0.05, "Y": 0.1, "X": 0.1}) as target:
        target[...] = stack
    data = io.read_image(src)
    assert data.axes == "ZYX" and data.pixel_size["Z"] == pytest.approx(0.05)
    np.testing.assert_array_equal(np.asarray(data.array[...]), stack)
    out = tmp_path / "out.zarr"
    deblur_file(src, out, method="wiener", psf="gaussian:1.2", device="cpu", tile=64)
    expected = deblur(stack, method="wiener", psf="gaussian:1.2", axes="ZYX", device="cpu",
                      tile=64)
    np.testing.assert_allclose(np.asarray(io.read_image(out).array[...]), expected, atol=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr", "stack.ome.zarr"]


def test_failed_zarr_output_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with io_write.open_zarr_output(tmp_path / "x.zarr", (8, 8), np.float32, axes="YX"):
            raise RuntimeError("cancelled")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_alpha_is_dropped_in_every_reader_path(tmp_path, fluo_u8, he_rgb, suffix):
    """Grayscale + alpha reads as grayscale and RGBA as RGB, each with one warning."""
    import imageio.v3 as iio

    opaque = np.full(fluo_u8.shape, 255, np.uint8)
    la = np.stack([fluo_u8, opaque], axis=-1)
    rgba = np.concatenate([he_rgb, np.full(he_rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    for name, array, axes, expected in [("la", la, "YX", fluo_u8), ("rgba", rgba, "YXS", he_rgb)]:
        path = tmp_path / f"{name}{suffix}"
        if suffix == ".png":
            iio.imwrite(path, array)
        else:
            tifffile.imwrite(path, array, photometric="minisblack" if name == "la" else "rgb",
                             extrasamples=["unassalpha"], planarconfig="contig")
        with pytest.warns(UserWarning, match="alpha channel dropped") as caught:
            data = io.read_image(path)
        assert len(caught) == 1
        assert data.axes == axes
        np.testing.assert_array_equal(np.asarray(data.array), expected)


def test_focus_of_a_grayscale_alpha_png_equals_its_grayscale(tmp_path, fluo_u8, capsys):
    import imageio.v3 as iio

    from napari_microdeblur.cli import main

    iio.imwrite(tmp_path / "gray.png", fluo_u8)
    iio.imwrite(tmp_path / "la.png", np.stack([fluo_u8, np.full_like(fluo_u8, 255)], -1))
    scores = []
    for name in ("gray.png", "la.png"):
        assert main(["focus", str(tmp_path / name)]) == 0
        captured = capsys.readouterr()
        scores.append(captured.out.split("focus score")[1].strip())
    assert scores[0] == scores[1]
    assert captured.err == f"microdeblur: warning: {tmp_path / 'la.png'}: alpha channel dropped, " \
        "read as grayscale\n"


def test_bioio_path_reads_rgba_as_rgb_and_keeps_the_sample_axis(tmp_path, he_rgb, monkeypatch):
    """Formats read through bioio (here a stand-in BioImage with bioio's TCZYXS layout)."""
    import sys
    import types

    rgba = np.concatenate([he_rgb, np.full(he_rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)

    class FakeBioImage:
        def __init__(self, path):
            self.dask_data = rgba[None, None, None]  # T, C, Z, Y, X, S
            self.dims = types.SimpleNamespace(order="TCZYXS")
            self.physical_pixel_sizes = (None, 0.5, 0.5)

    monkeypatch.setitem(sys.modules, "bioio", types.SimpleNamespace(BioImage=FakeBioImage))
    path = tmp_path / "slide.czi"
    path.write_bytes(b"not read by the stand-in")
    with pytest.warns(UserWarning, match="alpha channel dropped"):
        data = io.read_image(path)
    assert data.axes == "YXS"
    np.testing.assert_array_equal(np.asarray(data.array), he_rgb)
    assert data.pixel_size == {"Y": 0.5, "X": 0.5}


def test_rgb_tiles_are_read_and_written_a_row_at_a_time(tmp_path, monkeypatch):
    """A YXS tile is one pread per row (the samples of a row are contiguous), not one per
    pixel: per-pixel reads made 4096 x 4096 RGB files deblur at 0.1 MP/s."""
    import os

    import tifffile

    rgb = (np.random.default_rng(0).random((96, 80, 3)) * 255).astype(np.uint8)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, rgb, metadata={"axes": "YXS"})
    array = io.read_tiff(path).array
    calls = []
    real_pread = os.pread
    monkeypatch.setattr(os, "pread", lambda *a: calls.append(a) or real_pread(*a))
    assert np.array_equal(array[10:42, 5:70, :], rgb[10:42, 5:70, :])
    assert len(calls) == 32
    calls.clear()
    assert np.array_equal(array[10:42, 5:70, 1], rgb[10:42, 5:70, 1])  # one channel
    assert len(calls) == 32


def test_one_colour_of_an_rgb_tile_is_written_a_row_at_a_time(tmp_path, monkeypatch):
    """Channel-by-channel networks write one colour of a YXS tile: read-modify-write per row,
    not one pwrite per pixel; the other colours are kept."""
    import os

    import tifffile

    path = tmp_path / "w.tif"
    tifffile.imwrite(path, np.zeros((40, 50, 3), np.uint16), metadata={"axes": "YXS"})
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].dataoffsets[0]
    target = io_write.TiffWriteArray(str(path), offset, (40, 50, 3), np.uint16)
    expected = np.zeros((40, 50, 3), np.uint16)
    rng = np.random.default_rng(1)
    writes = []
    real_pwrite = os.pwrite
    monkeypatch.setattr(os, "pwrite", lambda *a: writes.append(a) or real_pwrite(*a))
    for c in range(3):
        value = (rng.random((20, 30)) * 1000).astype(np.uint16)
        target[5:25, 10:40, c] = value
        expected[5:25, 10:40, c] = value
    target.close()
    assert len(writes) == 3 * 20
    assert np.array_equal(tifffile.imread(path), expected)
