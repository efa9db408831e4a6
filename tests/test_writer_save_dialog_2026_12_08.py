"""Saving a deblurred layer with its calibration from the viewer. napari's File > Save Selected
Layers... preselects the writer of whichever plugin Python found first (napari's builtin
"lossless" in a fresh install, which keeps the pixels only), so the plugin has its own save:
File > IO Utilities > Save image layer with calibration... and the Deblur dock's "Save
result...", both through the plugin's writer."""

import numpy as np
import pytest

from napari_microdeblur.core.io import read_image

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms
OME_TIFF = "OME-TIFF (*.ome.tif *.ome.tiff)"


def _answer_dialog(monkeypatch, path, chosen=""):
    """The save dialog, answered with ``path`` and the file type ``chosen`` (Qt's default: the
    first it lists); returns the filters it was shown."""
    from qtpy.QtWidgets import QFileDialog

    shown = []

    def answer(parent, caption, directory, filter="", *args, **kwargs):
        shown.append(filter)
        return str(path), chosen or filter.split(";;")[0]

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(answer))
    return shown


def _deblurred(viewer, qtbot):
    """A 0.1-um image deblurred in the Deblur dock, as a user runs it; (dock, result)."""
    rng = np.random.default_rng(0)
    image = viewer.add_image(rng.random((48, 40)).astype(np.float32), name="cells",
                             scale=(0.1, 0.1), units=("um", "um"))
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    dock.layer_combo.set_value(image)
    dock.set_method("wiener")
    dock.psf_edit.setText("gaussian:1.6")
    dock.run_button.click()
    run = dock.last_run
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.layer is not None
    viewer.layers.selection.active = image  # the result is saved, not the selected layer
    return dock, run.layer


@pytest.mark.parametrize("typed, chosen, written", [
    ("result", "", "result.tif"),  # Qt's default file type, the first
    ("result", OME_TIFF, "result.ome.tif"),
    ("result.zarr", "", "result.zarr"),
])
def test_dock_save_result_keeps_pixel_size_and_record(make_napari_viewer, qtbot, monkeypatch,
                                                      tmp_path, typed, chosen, written):
    viewer = make_napari_viewer()
    dock, result = _deblurred(viewer, qtbot)
    shown = _answer_dialog(monkeypatch, tmp_path / typed, chosen)
    dock.save_button.click()
    assert shown and shown[0].startswith("ImageJ TIFF")
    back = read_image(tmp_path / written)
    assert back.pixel_size["X"] == pytest.approx(0.1)
    assert back.pixel_size["Y"] == pytest.approx(0.1)
    record = back.metadata["microdeblur"]
    assert record["method"] == "wiener" and record["psf"] == "gaussian:1.6"
    np.testing.assert_allclose(np.asarray(back.array), result.data)


def test_file_menu_saves_the_selected_layer_through_the_plugin(make_napari_viewer, qtbot,
                                                              monkeypatch, tmp_path):
    from app_model.types import MenuItem
    from napari._app_model import get_app_model

    viewer = make_napari_viewer()
    _, result = _deblurred(viewer, qtbot)
    app = get_app_model()
    items = [i for i in app.menus.get_menu("napari/file/io_utilities") if isinstance(i, MenuItem)]
    assert f"{PLUGIN}.save_calibrated" in [i.command.id for i in items]
    viewer.layers.selection.active = result
    _answer_dialog(monkeypatch, tmp_path / "menu.tif")
    app.commands.execute_command(f"{PLUGIN}.save_calibrated").result()
    back = read_image(tmp_path / "menu.tif")
    assert back.axes == "YX" and back.pixel_size["X"] == pytest.approx(0.1)
    assert back.metadata["microdeblur"]["method"] == "wiener"


def test_a_layer_that_is_no_image_is_not_saved(make_napari_viewer, monkeypatch, tmp_path):
    from napari_microdeblur._widgets._deblur import save_calibrated_dialog

    viewer = make_napari_viewer()
    points = viewer.add_points([[1, 2]])
    shown = _answer_dialog(monkeypatch, tmp_path / "points.tif")
    assert save_calibrated_dialog(points, viewer) == []
    assert not shown and not (tmp_path / "points.tif").exists()


def test_a_typed_name_gets_the_chosen_types_suffix_and_other_formats_are_refused():
    from napari_microdeblur._writer import calibrated_path

    assert calibrated_path("a/img 1.5um deblurred", OME_TIFF) == "a/img 1.5um deblurred.ome.tif"
    assert calibrated_path("a/x.TIF", OME_TIFF) == "a/x.TIF"
    assert calibrated_path("a/x", "OME-Zarr (*.zarr *.ome.zarr)") == "a/x.zarr"
    with pytest.raises(ValueError, match=r"\.tif.*Save Selected Layers"):
        calibrated_path("a/x.png")
