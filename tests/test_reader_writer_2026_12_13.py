"""Reader/writer walkthrough of 2026-12-13: a channel layer the plugin's reader split from a
deblurred multi-channel file was saved without the file's record (its shape was compared with
the whole file's); the calibrated save dialog said "with its axes, pixel size and record"
whatever it wrote; the reader dropped core.io's reason for a file it claims and cannot read
(napari only said it refused it); a folder that is no Zarr, offered to the reader by napari
for every folder, was refused without a word; a save the writer refused through
layer.save(plugin=) said only that the plugin "is not a valid writer"."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core.io import read_image

PLUGIN = "napari-microdeblur"
SIZES = {"Z": 0.3, "Y": 0.1, "X": 0.1}


def _warned(call):
    """(what ``call()`` returns, the messages of the warnings it raised)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [str(w.message) for w in caught]


def _two_channel_output(tmp_path):
    """A CLI deblur of a (2, 4, 24, 20) CZYX OME-TIFF with channels DAPI and GFP; its path and
    the record it holds."""
    from napari_microdeblur.cli import main

    data = np.random.default_rng(0).integers(0, 3000, (2, 4, 24, 20), dtype=np.uint16)
    source = tmp_path / "in.ome.tif"
    tifffile.imwrite(source, data, ome=True, metadata={
        "axes": "CZYX", "Channel": {"Name": ["DAPI", "GFP"]}, "PhysicalSizeZ": SIZES["Z"],
        "PhysicalSizeY": SIZES["Y"], "PhysicalSizeX": SIZES["X"]})
    out = tmp_path / "deb.ome.tif"
    assert main(["deblur", str(source), "-o", str(out), "--method", "wiener", "--psf",
                 "gaussian:1.2", "--balance", "0.01", "--device", "cpu", "-q"]) == 0
    record = read_image(out).metadata["microdeblur"]
    return out, record


@pytest.mark.parametrize("target", ["gfp.tif", "gfp.ome.tif", "gfp.zarr"])
def test_a_channel_layer_split_by_the_reader_is_saved_with_its_file_s_record(
        make_napari_viewer, tmp_path, target):
    out, original = _two_channel_output(tmp_path)
    layers = make_napari_viewer().open(str(out), plugin=PLUGIN)
    assert [la.name for la in layers] == ["deb (DAPI)", "deb (GFP)"]
    gfp = layers[1]
    written, said = _warned(lambda: gfp.save(str(tmp_path / target), plugin=PLUGIN))
    # was: "saved without the deblur record ... the layer's data has shape (4, 24, 20), the
    # file's (2, 4, 24, 20)" though nothing was edited
    assert not [m for m in said if "no longer holds" in m]
    back = read_image(written[0])
    record = back.metadata["microdeblur"]
    assert {k: v for k, v in record.items() if k != "resaved"} == original
    entry = record["resaved"][-1]
    assert entry["from_file"] == "deb.ome.tif"
    assert entry["channel"] == {"index": 1, "count": 2, "name": "GFP"}
    assert back.axes == "ZYX" and back.pixel_size == pytest.approx(SIZES)
    np.testing.assert_array_equal(np.asarray(back.array), np.asarray(gfp.data))
    assert read_image(out).metadata["microdeblur"] == original  # its file unchanged


def test_an_edited_channel_layer_is_still_saved_without_the_record(make_napari_viewer,
                                                                   tmp_path):
    out, _ = _two_channel_output(tmp_path)
    gfp = make_napari_viewer().open(str(out), plugin=PLUGIN)[1]
    gfp.data = np.asarray(gfp.data)[:, :12]  # cropped: other pixels than the file's channel
    written, said = _warned(lambda: gfp.save(str(tmp_path / "crop.tif"), plugin=PLUGIN))
    assert [m for m in said if "no longer holds" in m and "(4, 12, 20)" in m]
    assert "microdeblur" not in read_image(written[0]).metadata


def _dialog_line(monkeypatch, layer, viewer, path):
    """The notification the calibrated save dialog ends with, answered with ``path``."""
    from qtpy.QtWidgets import QFileDialog

    import napari_microdeblur._widgets._deblur as deblur

    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(path), "")))
    told = []
    monkeypatch.setattr(deblur, "notify_info", told.append)
    assert deblur.save_calibrated_dialog(layer, viewer) == [str(path)]
    return told[-1]


def test_the_calibrated_save_dialog_says_what_it_wrote(make_napari_viewer, tmp_path,
                                                       monkeypatch):
    viewer = make_napari_viewer()
    # (2, Y, X), no record, scale 1: planes or channels? saved without axes, as said
    bare = viewer.add_image(np.zeros((2, 24, 20), np.uint16), name="bare")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        line = _dialog_line(monkeypatch, bare, viewer, tmp_path / "bare.tif")
    assert "with its axes" not in line  # was the line whatever was written
    assert line.endswith("without axes, pixel size, deblur record")
    record = {"method": "wiener", "axes": "ZYX", "source_layer": "cells"}
    made = viewer.add_image(np.zeros((3, 24, 20), np.float32), name="made",
                            scale=(0.3, 0.1, 0.1), units="um",
                            metadata={"microdeblur": record})
    line = _dialog_line(monkeypatch, made, viewer, tmp_path / "made.ome.tif")
    assert line.endswith("with axes ZYX, pixel size 0.1 x 0.1 um, z step 0.3 um and its "
                         "deblur record")


@pytest.fixture
def bad_files(tmp_path):
    png = tmp_path / "photo.tif"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    whole = tmp_path / "whole.tif"
    tifffile.imwrite(whole, np.zeros((64, 64), np.uint16))
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole.read_bytes()[:3000])
    return {png: "PNG file named .tif", empty: "empty", cut: "truncated"}


def test_the_reader_says_why_it_declines_a_file_it_claims(bad_files, tmp_path):
    from napari.utils.notifications import notification_manager

    from napari_microdeblur._reader import get_reader

    for path, reason in bad_files.items():
        before = len(notification_manager.records)
        reader, said = _warned(lambda p=path: get_reader(str(p)))
        assert reader is None  # napari's other readers may still take it
        assert [m for m in said if reason in m and path.name in m], (path, said)
        shown = [str(n.message) for n in notification_manager.records[before:]]
        assert [m for m in shown if reason in m], shown  # the viewer's notification
    other = tmp_path / "x.png"  # not the plugin's: declined without a word
    other.write_bytes(b"")
    assert _warned(lambda: get_reader(str(other))) == (None, [])


def test_under_napari_run_the_reason_is_one_notification_each_time(bad_files):
    from napari.utils.notifications import notification_manager

    from napari_microdeblur._reader import get_reader

    path = next(iter(bad_files))
    with notification_manager:  # as napari.run(): warnings become notifications, once each
        before = len(notification_manager.records)
        get_reader(str(path))
        get_reader(str(path))
        shown = [str(n.message) for n in notification_manager.records[before:]]
    assert len([m for m in shown if "PNG" in m]) == 2, shown


def test_a_folder_is_read_when_it_is_a_zarr_and_declined_with_a_line_else(tmp_path):
    from napari.layers import Image

    from napari_microdeblur._reader import get_reader
    from napari_microdeblur._writer import save_calibrated

    folder = tmp_path / "tiffs"
    folder.mkdir()
    tifffile.imwrite(folder / "a.tif", np.zeros((8, 8), np.uint8))
    reader, said = _warned(lambda: get_reader(str(folder)))
    assert reader is None
    assert [m for m in said if "'tiffs'" in m and "napari's own reader" in m], said
    # an OME-Zarr folder without the .zarr suffix (a plate's field, a renamed folder)
    save_calibrated(Image(np.ones((2, 16, 16), np.uint16), scale=(0.3, 0.1, 0.1), units="um",
                          metadata={"microdeblur": {"axes": "ZYX"}}), str(tmp_path / "img.zarr"))
    renamed = tmp_path / "field"
    (tmp_path / "img.zarr").rename(renamed)
    reader, said = _warned(lambda: get_reader(str(renamed)))
    assert reader is not None, said  # was declined: only a .zarr name was taken
    ((data, meta, kind),) = reader(str(renamed))
    assert kind == "image" and tuple(data.shape) == (2, 16, 16)
    np.testing.assert_allclose(meta["scale"], (0.3, 0.1, 0.1))


def test_a_save_the_writer_refuses_says_why_through_layer_save(tmp_path):
    from napari.layers import Image

    layer = Image(np.zeros((2, 2, 2, 2, 8, 8), np.uint8), name="six")
    written, said = _warned(lambda: layer.save(str(tmp_path / "six.ome.tif"), plugin=PLUGIN))
    assert written == []
    # napari's own line was all there was: "... is not a valid writer for ..."
    assert [m for m in said if "did not save 'six.ome.tif'" in m and "more than OME-TIFF's 5"
            in m and "save it as .tif" in m], said
    assert not (tmp_path / "six.ome.tif").exists()
