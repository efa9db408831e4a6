"""A layer opened from a file by napari's builtin reader has scale 1 (it does not read ImageJ or
OME resolution): its pixel size comes from the file (``_widgets._layer_file``), so the Deblur
dock's optics PSF is prefilled with the file's pixel= and dz=, its hint names the file, and the
Run warning compares the PSF with the file's pixel size. A layer whose data has another shape
than the file's, or whose scale is set, does not take the file's sizes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import tifffile

from napari_microdeblur._widgets import _deblur
from napari_microdeblur._widgets._layer_file import layer_pixel_sizes
from napari_microdeblur._widgets._psf_sources import psf_scale_note

PLUGIN = "napari-microdeblur"
MODEL = "widefield:na=1.4,wavelength=0.52,size=9"
MODEL_3D = "widefield:na=1.4,wavelength=0.52,size=9,nz=5"


def write_stack(path, pixel=0.1, spacing=0.3, shape=(5, 32, 32), compress=False):
    data = np.random.default_rng(0).random(shape).astype(np.float32)
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / pixel, 1 / pixel),
                     metadata={"unit": "um", "spacing": spacing, "axes": "ZYX"},
                     compression="zlib" if compress else None)
    return path


def values(text):
    return dict(item.split("=") for item in text.partition(":")[2].split(","))


@pytest.fixture
def opened(make_napari_viewer, tmp_path):
    """A Deblur dock on cells.tif opened by napari's own reader (scale 1 on every axis)."""
    viewer = make_napari_viewer()
    path = write_stack(tmp_path / "cells.tif")
    layer = viewer.open(str(path), plugin="napari")[0]
    assert layer.source.reader_plugin == "napari" and list(layer.scale) == [1, 1, 1]
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.set_method("richardson_lucy")
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("ZYX")
    return viewer, w, layer


def test_an_optics_psf_takes_the_pixel_size_of_the_file_the_layer_was_opened_from(opened):
    viewer, w, layer = opened
    w.psf_edit.setText(MODEL)
    assert values(w.psf_edit.text())["pixel"] == "0.1"
    assert w.psf_prefill.hint.text() == "pixel=0.1 from file cells.tif"
    w.psf_edit.setText(MODEL_3D)
    got = values(w.psf_edit.text())
    assert (got["pixel"], got["dz"]) == ("0.1", "0.3")
    assert w.psf_prefill.hint.text() == "pixel=0.1, dz=0.3 from file cells.tif"


def test_the_run_warns_when_the_psf_is_made_for_other_pixels_than_the_file_s(
        opened, qtbot, monkeypatch):
    viewer, w, layer = opened
    warned = []
    monkeypatch.setattr(_deblur, "notify_warning", warned.append)
    w.psf_edit.setText(f"{MODEL},pixel=0.2")  # typed: kept
    assert values(w.psf_edit.text())["pixel"] == "0.2"
    w.iterations_spin.setValue(2)
    w.device_combo.setCurrentText("cpu")
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=60_000)
    assert w.run() is not None
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=60_000)
    assert len(warned) == 1
    assert "give pixel=0.1" in warned[0] and "pixel size from file cells.tif" in warned[0]


def test_a_layer_whose_data_has_another_shape_does_not_take_the_file_s_size(opened):
    viewer, w, layer = opened
    assert "give pixel=0.1" in psf_scale_note(viewer, f"{MODEL},pixel=0.2", layer, "ZYX")
    layer.data = np.zeros((5, 16, 32), np.float32)  # replaced: not the file's pixels
    w.psf_edit.setText(MODEL)
    assert w.psf_edit.text() == MODEL
    assert "states no pixel size" in w.psf_prefill.hint.text()  # nothing to fill pixel= from
    assert psf_scale_note(viewer, f"{MODEL},pixel=0.2", layer, "ZYX") is None


def test_a_layer_s_scale_wins_over_its_file(opened):
    viewer, w, layer = opened
    assert "from file cells.tif" in psf_scale_note(viewer, f"{MODEL},pixel=0.2", layer, "ZYX")
    layer.scale = (1, 0.065, 0.065)
    w.image.changed.emit()
    w.psf_edit.setText(MODEL)
    assert values(w.psf_edit.text())["pixel"] == "0.065"
    assert w.psf_prefill.hint.text() == "pixel=0.065 from layer 'cells' scale"
    note = psf_scale_note(viewer, f"{MODEL},pixel=0.1", layer, "ZYX")
    assert "give pixel=0.065" in note and "file" not in note


def test_a_z_step_set_on_the_layer_is_kept_and_its_y_x_come_from_the_file(opened):
    viewer, w, layer = opened
    layer.scale = (0.5, 1, 1)  # only the Z step given: Y and X still unknown by the scale
    w.image.changed.emit()
    w.psf_edit.setText(MODEL_3D)
    got = values(w.psf_edit.text())
    assert (got["pixel"], got["dz"]) == ("0.1", "0.5")
    assert w.psf_prefill.hint.text() == ("pixel=0.1 from file cells.tif; "
                                         "dz=0.5 from layer 'cells' scale")


def fake_layer(path, shape, scale=None):
    return SimpleNamespace(name="img", scale=scale or (1,) * len(shape),
                           data=np.zeros(shape, np.uint8), source=SimpleNamespace(path=str(path)))


def test_the_file_s_axes_are_matched_with_the_dock_s(tmp_path):
    path = write_stack(tmp_path / "s.tif")
    assert layer_pixel_sizes(fake_layer(path, (5, 32, 32)), "ZYX")[0] == {
        "Z": 0.3, "Y": 0.1, "X": 0.1}
    # the dock reads the first axis as channels: the file's Z spacing is not theirs
    assert layer_pixel_sizes(fake_layer(path, (5, 32, 32)), "CYX")[0] == {"Y": 0.1, "X": 0.1}
    assert layer_pixel_sizes(fake_layer(path, (5, 32, 32)), "YX")[0] == {}  # axes unknown


def test_the_header_is_read_without_pixels_and_again_when_the_file_changes(
        tmp_path, monkeypatch):
    path = write_stack(tmp_path / "z.tif", compress=True)

    def no_pixels(*args, **kwargs):
        raise AssertionError("pixels read")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", no_pixels)
    monkeypatch.setattr(tifffile.TiffFile, "asarray", no_pixels)
    assert layer_pixel_sizes(fake_layer(path, (5, 32, 32)), "ZYX")[0]["X"] == 0.1
    monkeypatch.undo()
    write_stack(path, pixel=0.065, shape=(5, 32, 33))
    sizes, origins = layer_pixel_sizes(fake_layer(path, (5, 32, 33)), "ZYX")
    assert sizes["X"] == pytest.approx(0.065) and origins["X"] == "file z.tif"


def test_an_ome_zarr_gives_its_scale(tmp_path):
    pytest.importorskip("zarr")
    from napari_microdeblur.core.io_write import open_output

    path = tmp_path / "vol.zarr"
    with open_output(path, (4, 16, 16), np.uint8, axes="ZYX",
                     pixel_size={"Z": 0.5, "Y": 0.2, "X": 0.2}) as out:
        out[:] = 1
    sizes, origins = layer_pixel_sizes(fake_layer(path, (4, 16, 16)), "ZYX")
    assert sizes == {"Z": 0.5, "Y": 0.2, "X": 0.2} and origins["Y"] == "file vol.zarr"


def test_a_layer_scale_in_nanometres_is_read_in_um(make_napari_viewer):
    """napari layers carry units: a 65 nm scale was taken as 65 um by the docks."""
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((3, 16, 16), np.float32), scale=(300, 65, 65),
                             units=("nm", "nm", "nm"))
    sizes, _ = layer_pixel_sizes(layer, "ZYX")
    assert sizes == pytest.approx({"Z": 0.3, "Y": 0.065, "X": 0.065})
