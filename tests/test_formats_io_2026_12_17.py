"""Formats in and out: a calibrated save never replaces the file a layer was opened from, and
asks before replacing the name a typed name's suffix makes; OME-TIFF outputs of types its XML
cannot name (float16 written as float32, 64-bit integers refused in one line); colour-palette
and YCbCr TIFFs read as RGB; a gray + alpha TIFF opened with its alpha named and hidden."""

import struct
import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core.io import read_image
from napari_microdeblur.core.notes import DeblurNote

PLUGIN = "napari-microdeblur"
IMAGEJ_TIFF = "ImageJ TIFF (*.tif *.tiff)"


def _image(shape=(32, 40), dtype=np.uint16):
    rng = np.random.default_rng(0)
    return (rng.random(shape) * 200).astype(dtype)


def _answer_save(monkeypatch, path, chosen=IMAGEJ_TIFF):
    """Qt's non-native save dialog answered with ``path`` as typed (no suffix added)."""
    from napari_microdeblur._widgets import _deblur

    monkeypatch.setattr(_deblur.QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(path), chosen)))


def _answer_question(monkeypatch, yes: bool) -> list:
    from qtpy.QtWidgets import QMessageBox

    asked = []
    button = QMessageBox.StandardButton

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return button.Yes if yes else button.No

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return asked


# 1. the calibrated save and the layer's own file


def test_save_dialog_never_replaces_the_file_the_layer_was_opened_from(
        make_napari_viewer, monkeypatch, tmp_path):
    from napari_microdeblur._widgets._deblur import save_calibrated_dialog

    source = tmp_path / "cells.tif"
    tifffile.imwrite(source, _image(), imagej=True)
    before = source.read_bytes()
    viewer = make_napari_viewer()
    layer = viewer.open(str(source), plugin=PLUGIN)[0]
    _answer_save(monkeypatch, tmp_path / "cells")  # the default name, accepted
    asked = _answer_question(monkeypatch, yes=True)
    assert save_calibrated_dialog(layer, viewer) == []
    assert source.read_bytes() == before and not asked


def test_save_dialog_asks_before_replacing_the_suffixed_name(make_napari_viewer, monkeypatch,
                                                             tmp_path):
    from napari_microdeblur._widgets._deblur import save_calibrated_dialog

    other = tmp_path / "other.tif"
    tifffile.imwrite(other, np.zeros((4, 4), np.uint8))
    before = other.read_bytes()
    viewer = make_napari_viewer()
    layer = viewer.add_image(_image().astype(np.float32), name="result")
    _answer_save(monkeypatch, tmp_path / "other")
    asked = _answer_question(monkeypatch, yes=False)
    assert save_calibrated_dialog(layer, viewer) == []
    assert len(asked) == 1 and "other.tif" in asked[0] and other.read_bytes() == before
    asked = _answer_question(monkeypatch, yes=True)
    assert save_calibrated_dialog(layer, viewer) == [str(other)]
    assert len(asked) == 1 and read_image(other).array.shape == (32, 40)


def test_napari_writer_refuses_the_layers_own_file(make_napari_viewer, tmp_path):
    from napari_microdeblur._writer import save_calibrated, write_image_layer

    source = tmp_path / "cells.ome.tif"
    tifffile.imwrite(source, _image(), metadata={"axes": "YX"})
    before = source.read_bytes()
    viewer = make_napari_viewer()
    layer = viewer.open(str(source), plugin=PLUGIN)[0]
    data, meta, _ = layer.as_layer_data_tuple()
    with pytest.warns(UserWarning, match="opened from"), pytest.raises(ValueError,
                                                                        match="another name"):
        write_image_layer(str(source), data, meta)
    with pytest.raises(ValueError, match="cells.ome.tif.*opened from"):
        save_calibrated(layer, source)
    assert source.read_bytes() == before


# 2. OME-TIFF types


def test_ome_tiff_of_float16_is_float32_and_64_bit_integers_are_refused(tmp_path):
    from napari_microdeblur.core.io_write import open_tiff_output, write_image

    image = _image().astype(np.float16)
    with pytest.warns(DeblurNote, match="no float16.*float32"):
        write_image(tmp_path / "h.ome.tif", image, axes="YX")
    back = read_image(tmp_path / "h.ome.tif")
    assert np.dtype(back.array.dtype) == np.float32
    np.testing.assert_array_equal(np.asarray(back.array), image.astype(np.float32))
    for dtype in (np.int64, np.uint64):
        with pytest.raises(ValueError, match=r"no u?int64 pixel type; write \.tif or \.zarr"):
            write_image(tmp_path / "i.ome.tif", _image().astype(dtype), axes="YX")
        with pytest.raises(ValueError, match="no u?int64"), open_tiff_output(
                tmp_path / "j.ome.tif", (32, 40), dtype, axes="YX"):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.ome.tif"]  # nothing left behind


def test_omexml_error_is_one_value_error_line(tmp_path, monkeypatch):
    from napari_microdeblur.core import io_write

    # as if a type were missed: tifffile's OmeXmlError said as a ValueError naming the output
    monkeypatch.setattr(io_write, "tiff_output_dtype", lambda path, dtype: np.dtype(dtype),
                        raising=False)
    with pytest.raises(ValueError, match="OME-TIFF cannot hold this image.*write .tif"):
        io_write.write_image(tmp_path / "i.ome.tif", _image().astype(np.int64), axes="YX")
    assert list(tmp_path.iterdir()) == []


def test_deblur_of_float16_to_ome_tiff_completes(tmp_path):
    from napari_microdeblur.core.files import deblur_file

    source = tmp_path / "f16.tif"
    tifffile.imwrite(source, (_image() / 200).astype(np.float16))
    with pytest.warns(DeblurNote, match="no float16"):
        deblur_file(source, tmp_path / "x.ome.tif", method="richardson_lucy",
                    psf="gaussian:1", iterations=2, output_dtype="input", device="cpu")
    assert np.dtype(read_image(tmp_path / "x.ome.tif").array.dtype) == np.float32
    with pytest.raises(ValueError, match="no int64.*output_dtype='float32'"):
        tifffile.imwrite(tmp_path / "i64.tif", _image().astype(np.int64))
        deblur_file(tmp_path / "i64.tif", tmp_path / "y.ome.tif", method="richardson_lucy",
                    psf="gaussian:1", iterations=2, output_dtype="input", device="cpu")
    assert not (tmp_path / "y.ome.tif").exists()


def test_napari_writer_saves_float16_as_ome_and_refuses_int64(tmp_path):
    from napari_microdeblur._writer import write_image_layer

    meta = {"name": "h", "scale": [0.2, 0.2], "units": ["um", "um"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeblurNote)
        write_image_layer(str(tmp_path / "h.ome.tif"), _image().astype(np.float16), meta)
    assert np.dtype(read_image(tmp_path / "h.ome.tif").array.dtype) == np.float32
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="astype.*float32"):
        write_image_layer(str(tmp_path / "i.ome.tif"), _image().astype(np.int64), meta)


# 3. palette TIFFs


def _rgb():
    rgb = np.zeros((32, 40, 3), np.uint8)
    rgb[:16], rgb[16:], rgb[:, :8] = (200, 30, 30), (20, 40, 220), (10, 200, 10)
    return rgb


def test_colour_palette_tiff_reads_as_rgb(tmp_path):
    from PIL import Image

    Image.fromarray(_rgb()).convert("P", palette=Image.ADAPTIVE, colors=16).save(
        tmp_path / "pal.tif")
    with pytest.warns(DeblurNote, match="colour-palette TIFF.*RGB"):
        image = read_image(tmp_path / "pal.tif")
    assert image.axes == "YXS"
    np.testing.assert_array_equal(np.asarray(image.array), _rgb())


def test_palette_luts_and_grays_keep_their_values(tmp_path):
    from PIL import Image

    from napari_microdeblur.core.imagej_luts import ramp_lut

    ramp = (np.arange(32 * 40).reshape(32, 40) % 256).astype(np.uint8)
    fire = (np.random.default_rng(1).random((3, 256)) * 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "ij.tif", ramp, imagej=True, photometric="palette",
                     colormap=fire)  # ImageJ's 8-bit image in a LUT: intensities
    green = ramp_lut((0, 1, 0)).astype(np.uint16) * 257
    tifffile.imwrite(tmp_path / "green.tif", ramp, photometric="palette", colormap=green)
    Image.fromarray(ramp // 16 * 16).convert("P", palette=Image.ADAPTIVE, colors=16).save(
        tmp_path / "grays.tif")  # grays in no order: their gray values
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeblurNote)
        for name in ("ij.tif", "green.tif"):
            image = read_image(tmp_path / name)
            assert image.axes == "YX"
            np.testing.assert_array_equal(np.asarray(image.array), ramp)
    with pytest.warns(DeblurNote, match="gray values"):
        image = read_image(tmp_path / "grays.tif")
    assert image.axes == "YX"
    np.testing.assert_array_equal(np.asarray(image.array), ramp // 16 * 16)


# 4. YCbCr TIFFs


def _ycbcr(rgb, black_white=(0, 255, 128, 255, 128, 255)):
    f = rgb.astype(np.float64)
    y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    cb, cr = (f[..., 2] - y) / 1.772, (f[..., 0] - y) / 1.402
    y0, y1, c0, c1 = black_white[0], black_white[1], black_white[2], black_white[3]
    stored = np.stack([y0 + y * (y1 - y0) / 255, c0 + cb * (c1 - c0) / 127,
                       c0 + cr * (c1 - c0) / 127], axis=-1)
    return np.clip(np.rint(stored), 0, 255).astype(np.uint8)


def test_uncompressed_ycbcr_tiff_reads_as_rgb(tmp_path):
    rgb = (np.random.default_rng(2).random((32, 40, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "y.tif", _ycbcr(rgb), photometric="ycbcr", subsampling=(1, 1))
    studio = (16, 235, 128, 240, 128, 240)  # the file's ReferenceBlackWhite is used
    tag = (532, 5, 6, tuple(v for n in studio for v in (n, 1)), True)
    tifffile.imwrite(tmp_path / "s.tif", _ycbcr(rgb, studio), photometric="ycbcr",
                     subsampling=(1, 1), extratags=[tag])
    for name in ("y.tif", "s.tif"):
        with pytest.warns(DeblurNote, match="YCbCr.*RGB"):
            image = read_image(tmp_path / name)
        assert image.axes == "YXS" and np.dtype(image.array.dtype) == np.uint8
        error = np.abs(np.asarray(image.array).astype(int) - rgb)
        assert error.mean() < 1 and error.max() <= 3, name


def test_subsampled_uncompressed_ycbcr_is_refused(tmp_path):
    path = tmp_path / "y22.tif"
    tifffile.imwrite(path, np.zeros((16, 16, 3), np.uint8), photometric="ycbcr",
                     subsampling=(1, 1))
    with tifffile.TiffFile(path) as tif:
        where = tif.pages[0].tags["YCbCrSubSampling"].valueoffset
    data = bytearray(path.read_bytes())
    data[where: where + 4] = struct.pack("<HH", 2, 2)  # as written with 2 x 2 chroma
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="subsampled 2 x 2.*save it as RGB"):
        read_image(path)


# 5. gray + alpha in napari


def test_gray_alpha_tiff_opens_with_its_alpha_named_and_hidden(make_napari_viewer, tmp_path):
    from napari_microdeblur.core.io_write import write_image

    plane = _image(dtype=np.uint8)
    write_image(tmp_path / "ga.tif", np.dstack([plane, np.full_like(plane, 255)]), axes="YXS")
    viewer = make_napari_viewer()
    gray, alpha = viewer.open(str(tmp_path / "ga.tif"), plugin=PLUGIN)
    assert (gray.name, alpha.name) == ("ga (gray)", "ga (alpha)")
    assert gray.visible and not alpha.visible and gray.colormap.name == "gray"
    np.testing.assert_array_equal(gray.data, plane)
