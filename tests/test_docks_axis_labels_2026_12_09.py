"""The docks read napari's own axis labels (napari 0.6+ ``layer.axis_labels``) where each names
an axis (t, z, c, y, x...; napari's defaults '-3', '-2', '-1' name none): a time series
labelled ('t', 'y', 'x') is TYX, not a guessed ZYX. A layer scale whose napari unit is no
length (seconds) never becomes the PSF's dz= or pixel=. A first axis longer than 4 guessed as
Z is said to be so (it may hold time points)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

PLUGIN = "napari-microdeblur"
TIMEOUT = 20000


def stack(shape):
    return np.random.default_rng(0).random(shape).astype(np.float32)


def open_docks(make_napari_viewer, data, **kwargs):
    viewer = make_napari_viewer()
    layer = viewer.add_image(data, name="cells", **kwargs)
    docks = []
    for name in ("Deblur", "Focus QC"):
        _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
        widget.layer_combo.set_value(layer)
        docks.append(widget)
    return viewer, layer, docks


def test_a_time_series_labelled_t_y_x_is_tyx_in_both_docks(make_napari_viewer, qtbot):
    _, _, docks = open_docks(make_napari_viewer, stack((5, 48, 48)), scale=(2.0, 0.1, 0.1),
                             axis_labels=("t", "y", "x"), units=("s", "um", "um"))
    for w in docks:
        qtbot.waitUntil(lambda w=w: w.axes_edit.text() == "TYX", timeout=TIMEOUT)  # was: ZYX
        assert "axis labels" in w.image.axes_assumed and "\n" not in w.image.axes_assumed
    deblur = docks[0]
    deblur.set_method("richardson_lucy")
    deblur.psf_edit.setText("widefield:na=1.2,wavelength=0.52,ni=1.33,nz=9")
    text = deblur.psf_edit.text()
    assert "pixel=0.1" in text and "dz=" not in text  # was: dz=2, the time step in seconds


@pytest.mark.parametrize(("labels", "shape", "axes"), [
    (("z", "c", "y", "x"), (3, 2, 48, 48), "ZCYX"),  # was: CZYX, Z and C swapped
    (("Channel", "Z", "Y", "X"), (2, 3, 48, 48), "CZYX"),
    (("time", "z", "y", "x"), (3, 6, 48, 48), "TZYX"),  # was: CZYX (first axis of 3)
])
def test_axis_labels_decide_the_axes(make_napari_viewer, qtbot, labels, shape, axes):
    _, _, docks = open_docks(make_napari_viewer, stack(shape), axis_labels=labels)
    for w in docks:
        qtbot.waitUntil(lambda w=w: w.axes_edit.text() == axes, timeout=TIMEOUT)


def test_napari_default_or_unknown_labels_leave_the_shape_guess():
    from napari.layers import Image

    from napari_microdeblur._widgets._layers import label_axes, layer_axes_origin

    assert layer_axes_origin(Image(stack((3, 2, 24, 24))))[1] == ""  # '-4'..'-1': no labels
    unknown = Image(stack((3, 2, 24, 24)), axis_labels=("z", "wave", "y", "x"))
    assert label_axes(unknown) == "" and layer_axes_origin(unknown) == ("CZYX", "")
    twice = Image(stack((3, 2, 24, 24)), axis_labels=("z", "z", "y", "x"))
    assert label_axes(twice) == ""
    rgb = Image(stack((4, 24, 24, 3)), rgb=True, axis_labels=("T", "y", "x"))
    assert layer_axes_origin(rgb) == ("TYXS", "axis labels")  # napari labels no colour axis


def test_a_file_stating_its_axes_ranks_above_the_labels(make_napari_viewer, tmp_path, qtbot):
    from napari_microdeblur._widgets._layers import layer_axes_origin

    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, stack((3, 2, 24, 24)), imagej=True, metadata={"axes": "ZCYX"})
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="napari")
    layer.axis_labels = ("c", "z", "y", "x")
    assert layer_axes_origin(layer) == ("ZCYX", "file cells.tif")


def test_a_non_length_unit_never_becomes_dz(make_napari_viewer, qtbot):
    # default labels: the stack is guessed ZYX, and its Z scale is in seconds
    _, _, (w, _) = open_docks(make_napari_viewer, stack((5, 48, 48)), scale=(2.0, 0.1, 0.1),
                              units=("s", "um", "um"))
    assert w.axes_edit.text() == "ZYX"
    w.set_method("richardson_lucy")
    w.psf_edit.setText("widefield:na=1.2,wavelength=0.52,ni=1.33,nz=5")
    assert "pixel=0.1" in w.psf_edit.text() and "dz=" not in w.psf_edit.text()  # was: dz=2


def test_a_nanometre_z_scale_still_becomes_dz(make_napari_viewer, qtbot):
    _, _, (w, _) = open_docks(make_napari_viewer, stack((5, 48, 48)), scale=(300, 100, 100),
                              units=("nm", "nm", "nm"))
    w.set_method("richardson_lucy")
    w.psf_edit.setText("widefield:na=1.2,wavelength=0.52,ni=1.33,nz=5")
    assert "pixel=0.1" in w.psf_edit.text() and "dz=0.3" in w.psf_edit.text()


def test_z_guess_note_speaks_for_a_longer_first_axis_read_as_z():
    from napari_microdeblur.core.axes import guess_note, z_guess_note

    note = z_guess_note((5, 96, 96), "ZYX", give="type {0} in Axes")
    assert "read as Z (5 planes)" in note and "type TYX in Axes" in note
    assert z_guess_note((3, 96, 96), "ZYX") is None  # guess_note's case: its own words
    assert "read as Z planes" in guess_note((3, 96, 96), "ZYX")
    assert z_guess_note((5, 96, 96), "TYX") is None
    assert z_guess_note((9, 5, 64, 64), "TZYX") is None


def test_the_docks_note_a_guessed_z_that_may_be_time(make_napari_viewer, qtbot):
    _, _, docks = open_docks(make_napari_viewer, stack((5, 48, 48)))
    for w in docks:
        assert w.axes_edit.text() == "ZYX"
        note = w.image.axes_assumed
        assert "read as Z (5 planes)" in note and "type TYX in Axes" in note  # was: no note
        assert w.image.axes_note.isVisibleTo(w)
        w.axes_edit.setText("TYX")  # the user's own axes: nothing more to say
        assert w.image.axes_assumed == ""


def test_the_axes_box_follows_labels_set_after_the_layer_was_chosen(make_napari_viewer, qtbot):
    viewer, layer, (deblur, focus) = open_docks(make_napari_viewer, stack((5, 64, 64)))
    assert deblur.axes_edit.text() == "ZYX"
    layer.axis_labels = ("t", "y", "x")  # a user or a script, after the dock opened
    for w in (deblur, focus):
        assert w.axes_edit.text() == "TYX"  # was: ZYX until the layer was chosen again
        assert "axis labels" in w.image.axes_assumed
    deblur.axes_edit.setText("ZYX")  # typed: the user's own axes are kept
    layer.axis_labels = ("z", "y", "x")
    assert deblur.axes_edit.text() == "ZYX"
    layer.axis_labels = ("t", "y", "x")
    assert deblur.axes_edit.text() == "ZYX" and focus.axes_edit.text() == "TYX"
    other = viewer.add_image(stack((3, 64, 64)), name="other")
    deblur.layer_combo.set_value(other)
    assert deblur.axes_edit.text() == "ZYX"
    layer.axis_labels = ("c", "y", "x")  # no longer chosen: no longer followed
    assert deblur.axes_edit.text() == "ZYX" and focus.axes_edit.text() == "CYX"


def followers(layer, obj) -> int:
    """How many of ``obj``'s methods follow ``layer``'s axis labels (napari keeps a bound
    method as (weakref to its object, its name))."""
    return sum(1 for cb in layer.events.axis_labels.callbacks
               if isinstance(cb, tuple) and callable(cb[0]) and cb[0]() is obj)


def test_a_closed_dock_no_longer_follows_the_labels(make_napari_viewer, qtbot):
    viewer, layer, (deblur, _) = open_docks(make_napari_viewer, stack((5, 64, 64)))
    prefill = deblur.image.axes_prefill
    assert followers(layer, prefill) == 1
    viewer.window.remove_dock_widget(deblur)  # closing releases the dock's parts
    assert followers(layer, prefill) == 0
    layer.axis_labels = ("t", "y", "x")  # no error from a closed dock's box
