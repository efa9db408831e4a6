"""A plain .tif output is stored in ImageJ's axis order (TZCYXS) where only the order kept it
from being a hyperstack: a CZYX stack (as bioio and OME-Zarr give it) was written as a
"shaped" TIFF that Fiji opens as one flat stack, uncalibrated in Z."""

import numpy as np
import pytest

from napari_microdeblur.core import io, io_write
from napari_microdeblur.core.files import deblur_file

tifffile = pytest.importorskip("tifffile")

SIZES = {"Z": 0.5, "Y": 0.1, "X": 0.1}
RUN = {"method": "wiener", "psf": "gaussian:1.2", "balance": 0.01, "device": "cpu"}


def _czyx(tmp_path):
    stack = (np.random.default_rng(0).random((2, 3, 32, 32)) * 1000).astype(np.uint16)
    src = tmp_path / "in.ome.tif"
    io_write.write_image(src, stack, axes="CZYX", pixel_size=SIZES)
    return src, stack


def test_a_czyx_stack_deblurred_to_tif_is_an_imagej_hyperstack(tmp_path):
    src, _ = _czyx(tmp_path)
    deblur_file(src, tmp_path / "out.tif", **RUN)
    deblur_file(src, tmp_path / "out.ome.tif", **RUN)  # OME keeps the input's order
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert tif.is_imagej and tif.series[0].axes == "ZCYX"
        assert tif.imagej_metadata["spacing"] == pytest.approx(0.5)
    back, ome = io.read_image(tmp_path / "out.tif"), io.read_image(tmp_path / "out.ome.tif")
    assert (back.axes, ome.axes) == ("ZCYX", "CZYX")
    assert back.pixel_size == pytest.approx(SIZES)
    ome_as_imagej = np.asarray(ome.array).transpose(1, 0, 2, 3)
    np.testing.assert_array_equal(np.asarray(back.array), ome_as_imagej)


def test_write_image_stores_a_czyx_array_in_imagej_order(tmp_path):
    _, stack = _czyx(tmp_path)
    io_write.write_image(tmp_path / "w.tif", stack, axes="CZYX", pixel_size=SIZES)
    back = io.read_image(tmp_path / "w.tif")
    assert back.axes == "ZCYX"
    np.testing.assert_array_equal(np.asarray(back.array), stack.transpose(1, 0, 2, 3))


def test_an_order_imagej_cannot_hold_anyway_is_written_as_given(tmp_path):
    """A singleton axis (ImageJ drops it) or float64: no hyperstack either way, no reordering."""
    stack = np.zeros((2, 3, 16, 16), np.float64)
    io_write.write_image(tmp_path / "f.tif", stack, axes="CZYX")
    assert io.read_image(tmp_path / "f.tif").axes == "CZYX"


def test_evaluate_scores_a_reordered_output_in_the_reference_s_order(tmp_path, capsys):
    """With as many channels as planes a ZCYX-stored output has the CZYX reference's shape:
    it was scored transposed (10.8 dB for identical pixels)."""
    from napari_microdeblur.cli import main

    stack = (np.random.default_rng(3).random((2, 2, 48, 48)) * 1000).astype(np.uint16)
    io_write.write_image(tmp_path / "ref.ome.tif", stack, axes="CZYX", pixel_size=SIZES)
    io_write.write_image(tmp_path / "pred.tif", stack, axes="CZYX", pixel_size=SIZES)
    assert io.read_image(tmp_path / "pred.tif").axes == "ZCYX"
    assert main(["evaluate", str(tmp_path / "pred.tif"), "--reference",
                 str(tmp_path / "ref.ome.tif")]) == 0
    assert capsys.readouterr().out.startswith("identical")


def test_channels_last_keep_their_layout(tmp_path):
    """Only the axes before Y and X move: a (Y, X, 2) image stays (Y, X, 2)."""
    image = np.zeros((16, 16, 2), np.uint16)
    io_write.write_image(tmp_path / "c.tif", image, axes="YXC")
    assert tifffile.imread(tmp_path / "c.tif").shape == (16, 16, 2)
