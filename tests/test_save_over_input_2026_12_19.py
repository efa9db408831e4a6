"""A deblurred result is never saved over the file its input was opened from (2026-12-19
walkthrough): the writer and the Deblur dock's "Save result..." checked only the saved layer's
own file, and a result has none, so a float32 result replaced the raw u16.tif it was made from,
and over an OME-Zarr input nothing asked at all (the input layer then failed on every redraw).
The dock's save, whose viewer is known, refuses the file of any layer open in it too."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tifffile
from test_widgets import _clean_session, dock  # noqa: F401 - autouse fixture

PLUGIN = "napari-microdeblur"
IMAGEJ_TIFF = "ImageJ TIFF (*.tif *.tiff)"
TIMEOUT = 60_000  # ms


def _image(shape=(24, 28)):
    return (np.random.default_rng(0).random(shape) * 200).astype(np.uint16)


def _opened(viewer, tmp_path, name: str):
    """``name`` written under tmp_path/ow (a .tif by tifffile, a .zarr by the writer) and opened
    with the plugin's reader; returns the layer and the path."""
    from napari_microdeblur._writer import save_calibrated

    path = tmp_path / "ow" / name
    path.parent.mkdir(exist_ok=True)
    if name.endswith(".zarr"):
        made = viewer.add_image(_image(), name="made")
        save_calibrated(made, path)
        viewer.layers.remove(made)
    else:
        tifffile.imwrite(path, _image(), imagej=True)
    return viewer.open(str(path), plugin=PLUGIN)[0], path


def _state(path):
    """What ``path`` holds, to tell whether a save replaced it (a .zarr: its files' bytes)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [(str(p), p.read_bytes()) for p in files]


def _result_of(viewer, source, name=None):
    """A result layer as the Deblur dock records it: no file, its input by name and file."""
    record = {"source_layer": source.name, "source_file": source.source.path.split("/")[-1],
              "axes": "YX", "method": "richardson_lucy"}
    return viewer.add_image(np.asarray(source.data, np.float32),
                            name=name or f"{source.name} deblurred",
                            metadata={"microdeblur": record})


@pytest.mark.parametrize("name", ["u16.tif", "z.ome.zarr"])
def test_writer_refuses_the_file_a_results_input_was_opened_from(make_napari_viewer, tmp_path,
                                                                 name):
    from napari_microdeblur._writer import save_calibrated

    viewer = make_napari_viewer()
    source, path = _opened(viewer, tmp_path, name)
    result = _result_of(viewer, source)
    before = _state(path)
    typed = str(path)[: -len(".tif")] if name.endswith(".tif") else str(path)
    said = (rf"is the file layer '{source.name}' was opened from, the input of "
            rf"{re.escape(repr(result.name))}; save the result under another name")
    for target, chosen in ((str(path), ""), (str(tmp_path / "ow" / "." / name), ""),
                           (typed, IMAGEJ_TIFF)):  # a name without suffix, as typed
        with pytest.raises(ValueError, match=said):
            save_calibrated(result, target, chosen)
    assert _state(path) == before
    assert np.asarray(source.data).dtype == np.uint16  # the input still reads
    # a file of the input's name in another folder is no input: replaced, as napari does
    elsewhere = tmp_path / "other" / "u16.tif"
    elsewhere.parent.mkdir()
    tifffile.imwrite(elsewhere, np.zeros((2, 2), np.uint8))
    assert save_calibrated(result, elsewhere) == [str(elsewhere)]
    assert tifffile.imread(elsewhere).dtype == np.float32


def test_writer_finds_a_renamed_input_by_its_file(make_napari_viewer, tmp_path):
    from napari_microdeblur._writer import save_calibrated

    viewer = make_napari_viewer()
    source, path = _opened(viewer, tmp_path, "u16.tif")
    result = _result_of(viewer, source)
    source.name = "renamed after the run"
    before = path.read_bytes()
    with pytest.raises(ValueError, match="'renamed after the run' was opened from"):
        save_calibrated(result, path)
    assert path.read_bytes() == before


def _answer_save(monkeypatch, typed, chosen=IMAGEJ_TIFF):
    from qtpy.QtWidgets import QMessageBox

    from napari_microdeblur._widgets import _deblur

    monkeypatch.setattr(_deblur.QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(typed), chosen)))
    yes = QMessageBox.StandardButton.Yes  # the question of a suffixed name: answered yes
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: yes))


def test_deblur_dock_save_result_refuses_its_inputs_file_and_any_open_layers(
        make_napari_viewer, qtbot, monkeypatch, tmp_path):
    viewer = make_napari_viewer()
    source, path = _opened(viewer, tmp_path, "u16.tif")
    other, other_path = _opened(viewer, tmp_path, "z.ome.zarr")
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(source)
    w.set_method("richardson_lucy")
    w.psf_edit.setText("gaussian:1.5")
    w.iterations_spin.setValue(2)
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    run = w.run()
    assert run is not None, w.status_label.text()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.layer is not None, w.status_label.text()
    before, other_before = _state(path), _state(other_path)
    errors = []
    from napari_microdeblur._widgets import _deblur

    monkeypatch.setattr(_deblur, "notify_error", errors.append)
    for typed, chosen in ((tmp_path / "ow" / "u16", IMAGEJ_TIFF), (path, IMAGEJ_TIFF),
                          (other_path, "OME-Zarr (*.zarr *.ome.zarr)")):
        _answer_save(monkeypatch, typed, chosen)
        assert w.save_result() == []
    assert _state(path) == before and _state(other_path) == other_before
    assert len(errors) == 3 and all(e.endswith("(the file a layer was opened from is never "
                                              "replaced)") for e in errors), errors
    assert errors[0] == errors[1] and errors[0].startswith(
        f"'u16.tif' is the file layer 'u16' was opened from, the input of {run.layer.name!r}; "
        "save the result under another name"), errors
    assert errors[2].startswith(f"'z.ome.zarr' is the file layer {other.name!r} was opened "
                                f"from; save {run.layer.name!r} under another name"), errors
    _answer_save(monkeypatch, tmp_path / "ow" / "u16 result")
    assert w.save_result() == [str(tmp_path / "ow" / "u16 result.tif")]
    assert not errors[3:]
