"""Audit of the Deblur dock against viewer states a biologist has (2026-12-08): the 3D view
with 'current slice', dims rolled or transposed, layers with a rotate and affine, pyramids,
RGB uint16, dask data and names holding '/' or a newline. Driven in a real viewer under Xvfb;
tests wait on conditions, never on fixed delays."""

from __future__ import annotations

import numpy as np
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    _clean_session,
    dock,
    wait_run,
)


def wiener_dock(viewer, axes: str | None = None):
    w = dock(viewer, "Deblur")
    if axes:
        w.axes_edit.setText(axes)
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")
    return w


def test_current_slice_in_the_3d_view_is_refused(make_napari_viewer, qtbot):
    """In the 3D view a z-stack is shown whole and its Z slider is hidden; 'current slice'
    deblurred the Y-X plane at that hidden slider's index (and with T on screen, T=0 of a
    volume showing every T) and added it as the slice shown. Now refused in one line saying
    what to change; back in 2D the slice runs, and a 2D layer in the 3D view still runs."""
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    stack = (rng.random((2, 4, 48, 48)) * 200 + 10).astype(np.float32)
    viewer.add_image(stack, name="ts")
    viewer.dims.set_current_step(1, 2)
    w = wiener_dock(viewer, "TZYX")
    w.scope_combo.setCurrentText("current slice")
    n_layers = len(viewer.layers)
    viewer.dims.ndisplay = 3  # Z, Y, X shown as a volume
    assert w.run() is None and len(viewer.layers) == n_layers
    said = w.status_label.text()
    assert "3D view shows Z whole" in said and "switch the viewer to 2D" in said
    assert "\n" not in said
    viewer.dims.order = (1, 0, 2, 3)  # T, Y, X shown as a volume: T=0 was taken
    assert w.run() is None and "3D view shows T whole" in w.status_label.text()
    viewer.dims.order = (0, 1, 2, 3)
    viewer.dims.ndisplay = 2
    run = w.run()
    assert run is not None, w.status_label.text()
    wait_run(qtbot, run)
    assert viewer.layers[-1].metadata["microdeblur"]["offset"] == (0, 2, 0, 0)


def test_a_2d_layer_in_the_3d_view_still_runs_its_current_slice(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(1)
    viewer.add_image((rng.random((40, 40)) * 200 + 10).astype(np.float32), name="plane")
    w = wiener_dock(viewer, "YX")
    w.scope_combo.setCurrentText("current slice")
    viewer.dims.ndisplay = 3
    run = w.run()
    assert run is not None, w.status_label.text()
    wait_run(qtbot, run)
    assert viewer.layers[-1].data.shape == (40, 40)


def test_visible_field_in_3d_does_not_send_the_user_to_another_refusal(make_napari_viewer):
    """The field-of-view refusal in 3D said to choose 'current slice', which the 3D view of a
    stack now refuses too: it offers 'whole stack'."""
    viewer = make_napari_viewer()
    viewer.add_image(np.ones((4, 40, 40), np.float32) * 50, name="z")
    w = wiener_dock(viewer, "ZYX")
    w.scope_combo.setCurrentText("visible field of view")
    viewer.dims.ndisplay = 3
    assert w.run() is None
    assert "needs the 2D view" in w.status_label.text()
    assert "choose 'whole stack'" in w.status_label.text()


def test_a_name_with_a_newline_keeps_the_start_line_one_line(make_napari_viewer, qtbot):
    """A layer named with '/' and a newline (pasted from a file path and a note) split the
    dock's 'deblurring ...' line over two lines; the name is quoted now. The result is added,
    named after the layer, on the layer's rotated and sheared pixels."""
    viewer = make_napari_viewer()
    rng = np.random.default_rng(2)
    name = "exp/2026\nnote"
    layer = viewer.add_image((rng.random((3, 40, 40)) * 200 + 10).astype(np.float32),
                             name=name, scale=(2.0, 0.5, 0.5), translate=(3.0, 10.0, -4.0),
                             rotate=30, units=("um", "um", "um"), axis_labels=("z", "y", "x"))
    layer.affine = np.array([[1, 0, 0, 0], [0, 1, 0.2, 0], [0, 0, 1, 5], [0, 0, 0, 1.0]])
    viewer.dims.set_current_step(0, 1)
    z = int(np.round(layer.world_to_data(viewer.dims.point)[0]))
    w = wiener_dock(viewer, "ZYX")
    w.scope_combo.setCurrentText("current slice")
    run = w.run()
    assert run is not None, w.status_label.text()
    assert "\n" not in w.status_label.text()
    assert w.status_label.text().startswith(f"deblurring {name!r} (axes ZYX")
    wait_run(qtbot, run)
    out = viewer.layers[-1]
    assert out.name.startswith(name) and out.data.shape == (1, 40, 40)
    assert np.allclose(layer.world_to_data(out.data_to_world((0, 7, 9))), (z, 7, 9))
    assert tuple(out.axis_labels) == ("z", "y", "x") and tuple(map(str, out.units)) == \
        tuple(map(str, layer.units))
