"""Audit of the docks on layers with more axes than YX (2026-12-04, sixth pass): time series
(T, Z, Y, X) with the sliders away from 0, channels in one layer, RGB z-stacks, and scale or
translate on Z. What a dock shows for 'the current slice' must be of the slice shown. Driven
in a real viewer under Xvfb; tests wait on conditions, never on fixed delays."""

from __future__ import annotations

import numpy as np
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
    wait_run,
    wait_table,
)

from napari_microdeblur.core.metrics import evaluate

# ----------------------------------------------------------------------------- Compare & QC


def time_series_trio(viewer, shape=(3, 5, 64, 64)):
    """Blurry, deblurred and truth (T, Z, Y, X): every (t, z) slice noisier by its own amount,
    so that each slice's PSNR differs; Z scaled and shifted as a real stack would be."""
    rng = np.random.default_rng(0)
    truth = (rng.random(shape) * 200 + 10).astype(np.float32)
    noise = rng.random(shape).astype(np.float32)
    amount = np.arange(1, np.prod(shape[:2]) + 1, dtype=np.float32).reshape(shape[:2] + (1, 1))
    blurry, deblurred = truth + noise * amount * 5, truth + noise * amount * 2
    placed = {"scale": (1.0, 2.0, 1.0, 1.0), "translate": (0.0, 3.0, 0.0, 0.0)}
    layers = [viewer.add_image(a, name=n, **placed) for a, n in (
        (blurry, "ts blurred"), (deblurred, "ts deblurred [wiener]"), (truth, "ts truth"))]
    return layers, (blurry, deblurred, truth)


def test_whole_stack_plot_is_dropped_when_the_time_slider_moves(make_napari_viewer, qtbot):
    """The whole-stack plot runs along Z at the T shown. Moving T left it (curve, marker and
    means of the old T) under the new T's table, the marker now on the new T's Z: a biologist
    read another time point's curve as this one's."""
    viewer = make_napari_viewer()
    (b, d, g), (blurry, _, truth) = time_series_trio(viewer)
    w = dock(viewer, "Compare & QC")
    w.set_layers(b, d, g)
    w.border_check.setChecked(False)
    viewer.dims.set_current_step(0, 2)
    viewer.dims.set_current_step(1, 3)
    table = wait_table(qtbot, w)
    assert w.slice_label.text().startswith("current slice: C 2, Z 3")
    w.compute_stack()
    qtbot.waitUntil(lambda: w.stack_results is not None, timeout=TIMEOUT)
    # the curve is T 2's Z, the table's slice on it (scaled by the whole truth's range)
    per_slice = np.reshape(evaluate(blurry, truth, border=0)["psnr_per_slice"], (3, 5))
    np.testing.assert_allclose([r["psnr_blurry"] for r in w.stack_results], per_slice[2],
                               rtol=1e-6)
    assert table["psnr_blurry"] == w.stack_results[3]["psnr_blurry"]
    assert w.psnr_plot.marker == 3
    # Z moves: the same curve, the marker follows
    viewer.dims.set_current_step(1, 1)
    wait_table(qtbot, w)
    assert w.stack_results is not None and w.psnr_plot.marker == 1
    # T moves: the curve of T 2 is not shown as T 0's
    viewer.dims.set_current_step(0, 0)
    table = wait_table(qtbot, w)
    assert np.isclose(table["psnr_blurry"], per_slice[0, 1])
    assert w.stack_results is None and not w.psnr_plot.series and not w.ssim_plot.series
    assert "index 2 of the other sliders" in w.summary_label.text()
    # run again: T 0's curve
    w.compute_stack()
    qtbot.waitUntil(lambda: w.stack_results is not None, timeout=TIMEOUT)
    np.testing.assert_allclose([r["psnr_blurry"] for r in w.stack_results], per_slice[0],
                               rtol=1e-6)
    assert w.psnr_plot.marker == 1 and w.summary_label.text().startswith("mean over 5")


# ----------------------------------------------------------------------------- Deblur


def test_current_slice_of_a_transposed_view_is_refused(make_napari_viewer, qtbot):
    """With Z on screen (dims transposed: a Z-X section shown), 'current slice' deblurred the
    Y-X plane at the Z slider's index, a plane the user was not looking at, and added it as
    'the slice shown'. Now refused, saying what to do; Y and X swapped still run."""
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    stack = (rng.random((2, 4, 64, 64)) * 200 + 10).astype(np.float32)
    layer = viewer.add_image(stack, name="ts", scale=(1.0, 2.0, 1.0, 1.0))
    viewer.dims.set_current_step(0, 1)
    w = dock(viewer, "Deblur")
    w.axes_edit.setText("TZYX")
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")
    w.scope_combo.setCurrentText("current slice")
    n_layers = len(viewer.layers)
    viewer.dims.order = (0, 2, 1, 3)  # Z and X on screen
    assert w.run() is None and len(viewer.layers) == n_layers
    assert "takes a Y-X plane" in w.status_label.text()
    viewer.dims.order = (0, 1, 3, 2)  # X, Y: the same plane, transposed
    viewer.dims.set_current_step(1, 3)
    run = w.run()
    assert run is not None, w.status_label.text()
    wait_run(qtbot, run)
    out = viewer.layers[-1]
    assert out.data.shape == (1, 1, 64, 64)
    assert out.metadata["microdeblur"]["offset"] == (1, 3, 0, 0)
    assert np.allclose(layer.world_to_data(out.data_to_world((0, 0, 0, 0))), (1, 3, 0, 0))
