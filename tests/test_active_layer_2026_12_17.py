"""The docks' Image box and the active layer (first-use walkthrough 2026-12-17):

- the Deblur dock ignored the layer the user had just opened (the active one) and deblurred
  the sample beside it: a name with "blurred" ranked above any other, and the selection only
  broke ties. The box now starts on the active layer and takes a layer added later once
  napari makes it active, unless it is a reference, a result or a PSF; the name ranking
  decides only then. It never moves by itself during a run, nor off a layer the user picked;
- the status line went on saying "added 'NAME' ..." after that result layer was removed
  (``_run_status.ResultLine``, for the dock to wire).

Driven in a real viewer under Xvfb."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

PLUGIN = "napari-microdeblur"
BLURRED, SHARP = "nuclei blurred (protocol A)", "nuclei sharp (ground truth)"


def dock(viewer, name="Deblur"):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def image(viewer, name, value=1):
    return viewer.add_image(np.full((24, 24), value, np.uint16), name=name)


def test_a_dock_opened_after_the_users_image_starts_on_it(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei_pair")
    cells = image(viewer, "cells_001")
    assert viewer.layers.selection.active is cells
    deblur, focus = dock(viewer), dock(viewer, "Focus QC")
    assert deblur.layer_combo.value is cells  # was the sample's blurred layer
    assert focus.layer_combo.value is cells


def test_a_dock_opened_before_takes_the_image_added_later(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei_pair")
    w = dock(viewer)
    assert w.layer_combo.value.name == BLURRED
    cells = image(viewer, "cells_001")
    assert w.layer_combo.value is cells  # was: stayed on the blurred sample


def test_a_second_sample_moves_the_box_to_its_blurred_layer(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei_pair")
    w = dock(viewer)
    viewer.open_sample(PLUGIN, "em_pair")  # its ground truth, then its blurred layer
    assert w.layer_combo.value is viewer.layers.selection.active
    assert "EM blurred" in w.layer_combo.value.name


def test_a_reference_result_or_psf_made_active_is_not_taken(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei_pair")
    sharp = viewer.layers[SHARP]
    viewer.layers.selection.active = sharp
    w = dock(viewer)
    assert w.layer_combo.value.name == BLURRED  # the ranking decides: not the ground truth
    image(viewer, "learned PSF (gran.fluo_v1)")
    viewer.add_image(np.ones((24, 24), np.float32), name="result",
                     metadata={"microdeblur": {"method": "wiener"}})
    image(viewer, "more ground truth")
    assert w.layer_combo.value.name == BLURRED


def test_a_layer_the_user_picked_or_one_merely_selected_does_not_move_the_box(
        make_napari_viewer):
    viewer = make_napari_viewer()
    first, second = image(viewer, "field 1"), image(viewer, "field 2")
    w = dock(viewer)
    assert w.layer_combo.value is second
    viewer.layers.selection.active = first  # looking at a layer is not choosing it
    assert w.layer_combo.value is second
    w.layer_combo.set_value(first)
    image(viewer, "field 3")
    assert w.layer_combo.value is first


def test_the_rank_does_not_move_the_box_off_a_layer_it_followed(make_napari_viewer):
    viewer = make_napari_viewer()
    w = dock(viewer)
    image(viewer, "old blurred")
    cells = image(viewer, "cells")
    assert w.layer_combo.value is cells  # was: stayed on the layer named blurred
    viewer.layers.move(0, 2)  # any refresh of the box
    viewer.layers["old blurred"].name = "old blurred 2"
    assert w.layer_combo.value is cells


def test_the_box_does_not_move_during_a_run(make_napari_viewer):
    viewer = make_napari_viewer()
    cells = image(viewer, "cells")
    image(viewer, "sharp reference")  # active, but not an image to deblur
    w = dock(viewer)
    assert w.layer_combo.value is cells  # by rank
    w.run_handle = SimpleNamespace(done=False, cancelled=False)  # a run going on
    try:
        image(viewer, "more blurred input")  # was taken: it ranks above 'cells'
        assert w.layer_combo.value is cells
    finally:
        w.run_handle = None
    later = image(viewer, "field 2")
    assert w.layer_combo.value is later


def test_a_combo_told_it_is_busy_does_not_move(make_napari_viewer):
    from napari.layers import Image

    from napari_microdeblur._widgets._layers import LayerCombo, input_rank

    viewer = make_napari_viewer()
    cells = image(viewer, "cells")
    combo = LayerCombo(viewer, (Image,), rank=input_rank)
    combo.busy = lambda: True
    try:
        image(viewer, "more blurred input")
        assert combo.value is cells
    finally:
        combo.disconnect_viewer()


def test_the_status_line_says_when_the_result_it_names_is_removed(make_napari_viewer):
    from qtpy.QtWidgets import QLabel

    from napari_microdeblur._widgets._run_status import ResultLine

    viewer = make_napari_viewer()
    other, result = image(viewer, "other"), image(viewer, "cells deblurred [wiener]")
    label = QLabel()
    line = ResultLine(label)
    line.show(SimpleNamespace(viewer=viewer, layer=result), "added 'cells deblurred [wiener]'")
    viewer.layers.remove(other)
    assert label.text() == "added 'cells deblurred [wiener]'"
    viewer.layers.remove(result)
    assert label.text() == "the last result, 'cells deblurred [wiener]', was removed"
    again = image(viewer, "again")
    line.show(SimpleNamespace(viewer=viewer, layer=again), "added 'again'")
    label.setText("deblurring 'cells' ...")  # a new run's line is not replaced
    viewer.layers.remove(again)
    assert label.text() == "deblurring 'cells' ..."
    line.release()
