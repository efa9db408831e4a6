"""Compare & QC (2026-12-20 walkthrough): (1) closing the dock with Side by side on restores the
viewer (grid, hidden layers, names, contrast and its link stayed); (2) a difference map added
while the grid is on gets a column of its own, a QC region turns the grid off (both had landed
on the blurry panel); (3) a Y,X,C image is said to have its channel axis among the last two,
and an 8 x 8 slice is not told to untick a border; (4) the difference map and QC region keep
the truth's units and axis labels; (5) the current-slice line names its axes in 4D."""

from __future__ import annotations

import numpy as np
import pytest
from napari.components import ViewerModel
from napari.layers import Image, Shapes
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
    notes,
)

from napari_microdeblur._widgets import _compare_parts as parts
from napari_microdeblur._widgets._compare_parts import slice_words, stack_entries, view_problem
from napari_microdeblur._widgets._layer_data import difference_layer, region_layer
from napari_microdeblur._widgets._side_by_side import viewer_grid
from napari_microdeblur.core.plane_metrics import iter_plane_metrics
from napari_microdeblur.core.progress import drive


def trio(viewer, shape=(3, 48, 48)):
    rng = np.random.default_rng(0)
    truth = rng.random(shape).astype(np.float32)
    return [viewer.add_image(truth * k, name=n)
            for k, n in ((0.5, "x blurred"), (0.9, "x deblurred"), (1.0, "x truth"))]


# ----------------------------------------------------------------------------- (1), (2) grid


def test_closing_the_dock_with_side_by_side_on_restores_the_viewer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    b, d, g = trio(viewer)
    other = viewer.add_image(np.ones((48, 48)), name="my annotation")
    before = {la.name: tuple(la.contrast_limits) for la in viewer.layers}
    widget_dock, w = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Compare & QC")
    w.set_layers(b, d, g)
    w.side_button.click()
    assert viewer_grid(viewer).enabled and not other.visible
    viewer.window.remove_dock_widget(widget_dock)
    qtbot.waitUntil(lambda: w.closed, timeout=TIMEOUT)
    assert not viewer_grid(viewer).enabled  # before: the grid stayed on
    assert other.visible and not any(la.name_overlay.visible for la in viewer.layers)
    assert {la.name: tuple(la.contrast_limits) for la in viewer.layers} == before
    d.contrast_limits = (0.0, 0.2)  # no longer linked to the others
    assert tuple(g.contrast_limits) == before["x truth"]


def test_layers_added_in_side_by_side_land_where_expected(
        make_napari_viewer, qtbot, notes):  # noqa: F811 - the fixture from test_widgets
    viewer = make_napari_viewer()
    b, d, g = trio(viewer)
    w = dock(viewer, "Compare & QC")
    w.set_layers(b, d, g)
    w.side_button.click()
    w.add_difference_map()
    qtbot.waitUntil(lambda: len(viewer.layers) == 4, timeout=TIMEOUT)
    diff = viewer.layers[-1]
    grid = viewer_grid(viewer)
    where = {la.name: grid.position(i, viewer.layers) for i, la in enumerate(viewer.layers)}
    # before: (0, 0), on the blurry panel
    assert where == {"x blurred": (0, 0), "x deblurred": (0, 1), "x truth": (0, 2),
                     diff.name: (0, 3)}
    assert diff.name_overlay.visible and w.side_by_side.active
    region = w.add_region()  # a rectangle to move over the image: the grid goes
    assert not grid.enabled and not w.side_button.isChecked() and region.visible
    assert any("Side by side turned off to show 'QC region'" in m for _, m in notes.all())
    assert diff.visible and not diff.name_overlay.visible  # restored as before the grid


# ----------------------------------------------------------------------------- (3) axes


@pytest.mark.parametrize("labels", [None, ("y", "x", "c")], ids=["shape", "labels"])
def test_channels_last_are_said_with_the_axes_to_use(labels):
    kw = {} if labels is None else {"axis_labels": labels}
    truth = Image(np.random.default_rng(0).random((80, 80, 2)), name="gt", **kw)
    viewer = ViewerModel()
    viewer.add_layer(truth)
    line = view_problem(viewer, truth)  # before: '', then 'the slice is 80 x 2 ... untick'
    assert "channel axis among the last two (axes YXC" in line
    assert "numpy.moveaxis(data, -1, 0): axes CYX" in line and "--axes YXC" in line
    with pytest.raises(ValueError, match="channel axis among the last two"):
        stack_entries(viewer, {"truth": truth}, 0)  # Whole stack: no 80 x 2 'slices'
    cyx = Image(np.zeros((2, 80, 80)), axis_labels=("c", "y", "x"))
    assert parts.channels_last_line(cyx) == ""
    assert parts.channels_last_line(Image(np.zeros((5, 64, 64)))) == ""


def test_a_slice_smaller_than_ssim_is_not_told_to_untick_a_border():
    # since 2026-12-07 a slice under SSIM's window is scored with PSNR alone (border 0); a
    # border that leaves nothing of it is refused, and there unticking does help
    plane = np.random.default_rng(0).random((8, 8)).astype(np.float32)
    drive(iter_plane_metrics({"truth": plane, "deblurred": plane}, (0.0, 1.0), border=0))
    with pytest.raises(ValueError) as caught:
        drive(iter_plane_metrics({"truth": plane, "deblurred": plane}, (0.0, 1.0), border=16))
    assert "8 x 8" in str(caught.value)


# ----------------------------------------------------------------------------- (4) units


def test_difference_map_and_region_keep_units_and_axis_labels():
    kw = {"axis_labels": ("t", "z", "y", "x"), "units": ("s", "um", "um", "um"),
          "scale": (5, 0.5, 0.1, 0.1)}
    data = np.zeros((2, 3, 32, 32), np.float32)
    truth, deblurred = Image(data, name="gt", **kw), Image(data, name="de", **kw)
    _, diff, _ = difference_layer(deblurred, truth, data)
    rects, region, _ = region_layer(truth)
    assert tuple(Image(data, **diff).axis_labels) == ("t", "z", "y", "x")
    assert [str(u) for u in Image(data, **diff).units] == [str(u) for u in truth.units]
    placed = Shapes(rects, **region)
    assert tuple(placed.axis_labels) == ("y", "x")  # before: ('-2', '-1'), pixels
    assert [str(u) for u in placed.units] == ["micrometer", "micrometer"]


# ----------------------------------------------------------------------------- (5) slice line


def test_current_slice_names_its_axes_in_4d():
    viewer = ViewerModel()
    truth = viewer.add_image(np.zeros((3, 5, 16, 16)), axis_labels=("t", "z", "y", "x"))
    viewer.dims.set_current_step(0, 2)
    viewer.dims.set_current_step(1, 4)
    assert slice_words(viewer, {"truth": truth}, {"truth": (2, 4)}) == "t 2, z 4"
    unlabelled = ViewerModel()
    stack = unlabelled.add_image(np.zeros((5, 16, 16)))
    unlabelled.dims.set_current_step(0, 3)
    assert slice_words(unlabelled, {"truth": stack}, {"truth": (3,)}) == "3"  # one slider
