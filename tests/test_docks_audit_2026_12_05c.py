"""Audit of the Fine-tune and Compare & QC docks (2026-12-05, third pass): the comparison on a
lazy stack read off the GUI thread, the difference map where the blurry layer has no plane,
a ground truth removed while its map is computed, and the whole-stack marker in the 3D view.
Driven in a real viewer under Xvfb; tests wait on conditions, never on fixed delays."""

from __future__ import annotations

import dask
import numpy as np
import pytest
from test_docks_audit_2026_12_04e import watched
from test_docks_audit_2026_12_05a import compare, settle, stack
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    gran_file,
    notes,
    setup_finetune,
    tiny_session_model,
    wait_idle,
    wait_table,
)

# ----------------------------------------------------------------------------- Fine-tune


@pytest.mark.usefixtures("tiny_session_model")
def test_the_comparison_reads_a_lazy_stack_in_its_worker(make_napari_viewer, qtbot,
                                                         focus_stack):
    """After a fine-tune, the held-out band of every plane of a dask stack was read on the
    GUI thread (napari frozen on a big stack); it is now read in the compare worker, and the
    layers shown are the same."""
    reads = []
    viewer = make_napari_viewer()
    layer = viewer.add_image(watched(focus_stack, (1, 96, 96), reads), name="stack",
                             scale=(2.0, 0.5, 0.5), translate=(10.0, 0.0, 0.0))
    w = setup_finetune(viewer, layer, steps=1)
    w.focus_spin.setValue(7)
    w.start_button.click()
    wait_idle(qtbot, w)
    assert w.comparison  # filled by the run's own comparison
    first = w.comparison
    # synchronous: a chunk is computed on the thread that asks for it
    with dask.config.set(scheduler="synchronous"):
        reads.clear()
        worker = w.compare()
        on_gui = [z for z, gui in reads if gui]  # read by compare() itself, on the GUI thread
        qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)
    assert worker is not None
    assert on_gui == []  # was: all 14 planes
    assert {z for z, gui in reads if not gui} >= set(range(len(focus_stack)))
    _, lo, hi = w._notes["val_region"]
    second = w.comparison
    assert second is not first and set(second) == {"input", "base", "tuned", "target", "auto"}
    np.testing.assert_array_equal(second["input"].data, focus_stack[:, :, lo:hi])
    np.testing.assert_array_equal(second["target"].data[2], focus_stack[7, :, lo:hi])
    np.testing.assert_array_equal(second["base"].data, first["base"].data)
    # placed on the band of the layer, its scale and translate kept
    assert tuple(second["input"].scale) == (2.0, 0.5, 0.5)
    assert tuple(second["input"].translate) == pytest.approx((10.0, 0.0, 0.5 * lo))
    assert "Compare & QC shows the held-out band" in w.status_label.text()


# ----------------------------------------------------------------------------- Compare & QC


def test_difference_map_needs_no_blurry_plane_at_the_slice(make_napari_viewer, qtbot,
                                                           notes):  # noqa: F811
    """A blurry stack that ends below the Z shown refused the map of the current plane ('the
    blurry layer has no plane'), although the map is deblurred minus truth only."""
    sharp, noisy = stack(n=12)
    viewer = make_napari_viewer()
    b = viewer.add_image(noisy[:3], name="blurry")  # planes at Z 0-2 only
    g = viewer.add_image(sharp, name="truth", translate=(5, 0, 0))
    d = viewer.add_image(watched(noisy, (1, 48, 48), []), name="deblurred",
                         translate=(5, 0, 0))  # lazy: the map is of the plane shown
    viewer.dims.set_point(0, 12)  # plane 7 of the truth and the deblurred; none of blurry
    w = compare(viewer, b, g, deblurred=d)
    w.prefetch = False
    qtbot.waitUntil(lambda: "blurry layer 'blurry' has no plane" in w.message_label.text(),
                    timeout=TIMEOUT)
    n = len(viewer.layers)
    assert w.add_difference_map() is not None  # was: None, the blurry plane refused
    qtbot.waitUntil(lambda: len(viewer.layers) == n + 1, timeout=TIMEOUT)
    out = viewer.layers[-1]
    np.testing.assert_array_equal(out.data[0], np.abs(noisy[7].astype(np.float32) - sharp[7]))
    assert out.data_to_world((0, 0, 0))[0] == pytest.approx(12)
    assert not notes.errors()
    settle(qtbot, w)


def test_a_truth_removed_while_the_map_is_computed_is_said(make_napari_viewer, qtbot,
                                                          notes):  # noqa: F811
    """The map was dropped without a word when the ground truth was removed meanwhile."""
    sharp, noisy = stack(n=3)
    viewer = make_napari_viewer()
    g = viewer.add_image(sharp, name="truth")
    d = viewer.add_image(noisy.astype(np.float32), name="deblurred")
    w = compare(viewer, None, g, deblurred=d)
    settle(qtbot, w)
    n = len(viewer.layers)
    worker = w.add_difference_map()
    viewer.layers.remove(g)  # before the worker's result reaches the GUI thread
    settle(qtbot, w)  # its result handled: 'returned' comes before 'finished'
    assert not worker.is_running and notes.warnings()  # was: nothing said
    assert len(viewer.layers) == n - 1  # no map of a truth that is gone
    line = notes.warnings()[-1]
    assert "'truth' was removed" in line and "Difference map again" in line
    assert "\n" not in line
    settle(qtbot, w)


def test_the_whole_stack_marker_is_hidden_in_the_3d_view(make_napari_viewer, qtbot):
    """In 3D the plots' dashed 'current slice' line stayed at the hidden Z slider's index,
    while the table says the view shows the whole volume, not one slice."""
    sharp, noisy = stack(n=6)
    viewer = make_napari_viewer()
    b = viewer.add_image(noisy, name="blurry", scale=(3.0, 1.0, 1.0))
    g = viewer.add_image(sharp, name="truth", scale=(3.0, 1.0, 1.0))
    viewer.dims.set_current_step(0, 4)
    w = compare(viewer, b, g)
    w.prefetch = False
    wait_table(qtbot, w)
    w.compute_stack()
    qtbot.waitUntil(lambda: w.stack_results is not None, timeout=TIMEOUT)
    assert w.psnr_plot.marker == 4
    viewer.dims.ndisplay = 3
    qtbot.waitUntil(lambda: "3D view" in w.message_label.text(), timeout=TIMEOUT)
    assert w.psnr_plot.marker is None and w.ssim_plot.marker is None  # was: 4
    assert w.stack_results is not None  # the curve itself stays
    w.compute_stack()  # run in 3D: no marker either
    qtbot.waitUntil(lambda: w.stack_results is not None and not w._workers, timeout=TIMEOUT)
    assert w.psnr_plot.marker is None
    viewer.dims.ndisplay = 2  # back to one slice: the marker too
    wait_table(qtbot, w)
    assert w.psnr_plot.marker == 4 and w.ssim_plot.marker == 4
    settle(qtbot, w)
