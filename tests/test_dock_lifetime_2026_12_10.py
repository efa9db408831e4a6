"""Dock lifetime, from a walkthrough: a closed dock is freed (each of the four stayed alive
until the viewer closed: the main window's close watcher and napari's task list, which keeps
every worker and so its handlers, held it; 10 open/close cycles of Fine-tune kept ~2,100 Qt
widgets), closing the viewer still stops a run; and after the input layer is removed mid-run,
the Deblur dock's Image box does not move to the run's own result (the next Run would have
deblurred the deblurred layer). Driven in a real viewer under Xvfb."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms
DOCKS = ("Deblur", "Compare & QC", "Fine-tune", "Focus QC")


def dock(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def freed(qtbot, ref) -> bool:
    """Whether the object behind ``ref`` is gone once Qt's deferred deletes and Python's
    garbage collection have run (a few rounds: the last handlers are dropped late)."""
    from qtpy.QtCore import QCoreApplication, QEvent

    for _ in range(20):
        QCoreApplication.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()
        if ref() is None:
            return True
        qtbot.wait(20)
    return False


def wait_idle(qtbot, w) -> None:
    """Until the dock's workers (Compare's table job, if any) have finished."""
    qtbot.waitUntil(lambda: not w.busy, timeout=TIMEOUT)


def wait_table(qtbot, w) -> None:
    qtbot.waitUntil(lambda: w.last_result is not None and not w.busy, timeout=TIMEOUT)


def wait_done(qtbot, run) -> None:
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)


def slow_run(w):
    """A Richardson-Lucy run of several tiles: long enough to act on while it goes on."""
    w.set_method("richardson_lucy")
    w.psf_edit.setText("gaussian:1.6")  # the box starts empty
    w.iterations_spin.setValue(5)
    w.tile_mode.setCurrentText("custom")
    w.tile_spin.setValue(32)
    return w.run()


@pytest.mark.parametrize("name", DOCKS)
def test_a_closed_dock_is_freed(make_napari_viewer, qtbot, fluo_u8, name):
    viewer = make_napari_viewer()
    viewer.add_image(fluo_u8, name="blurry")
    viewer.add_image(np.roll(fluo_u8, 1, axis=0), name="sharp")
    w = dock(viewer, name)
    qtbot.wait(50)  # the dock settles in the window (and starts watching it), as in use
    wait_idle(qtbot, w)
    ref = weakref.ref(w)
    viewer.window.remove_dock_widget(w)
    assert w.closed
    del w
    assert freed(qtbot, ref)


def test_docks_that_ran_jobs_are_freed(make_napari_viewer, qtbot, fluo_u8):
    """A finished worker stays in napari's task list for the window's life: its handlers
    (the dock's methods, closures over the dock) must not."""
    viewer = make_napari_viewer()
    blurry = viewer.add_image(fluo_u8, name="blurry")
    deblur = dock(viewer, "Deblur")
    deblur.layer_combo.set_value(blurry)
    deblur.set_method("wiener")
    deblur.psf_edit.setText("gaussian:1.6")  # the box starts empty
    run = deblur.run()
    wait_done(qtbot, run)
    assert run.layer is not None
    viewer.add_image(np.roll(fluo_u8, 1, axis=0), name="sharp")
    compare = dock(viewer, "Compare & QC")
    compare.set_layers(blurry=blurry, deblurred=run.layer, truth=viewer.layers["sharp"])
    wait_table(qtbot, compare)
    refs = [weakref.ref(deblur), weakref.ref(compare)]
    for w in (deblur, compare):
        viewer.window.remove_dock_widget(w)
    del deblur, compare, w, run
    assert all(freed(qtbot, ref) for ref in refs)


def test_closing_the_viewer_stops_a_run_after_another_dock_closed(make_napari_viewer, qtbot,
                                                                  fluo_u8):
    """Closing a dock takes its own close watcher off the main window, not the others'."""
    viewer = make_napari_viewer()
    viewer.add_image(fluo_u8, name="nuclei")
    first = dock(viewer, "Deblur")
    other = dock(viewer, "Focus QC")
    viewer.window.remove_dock_widget(first)
    w = dock(viewer, "Deblur")
    run = slow_run(w)
    qtbot.waitUntil(lambda: run.pbar.n >= 1, timeout=TIMEOUT)
    viewer.close()
    assert w.closed and other.closed
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.cancelled and run.layer is None


def test_image_box_skips_the_result_of_a_removed_input(make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    blurred = viewer.add_image(fluo_u8, name="blurred")
    viewer.add_image(np.roll(fluo_u8, 1, axis=0), name="sharp")  # a reference: not an input
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(blurred)
    run = slow_run(w)
    qtbot.waitUntil(lambda: run.pbar.n >= 1, timeout=TIMEOUT)
    viewer.layers.remove(blurred)
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.layer is not None and run.layer in viewer.layers  # the run still ended
    assert w.layer_combo.value is None  # neither the result nor the ground truth
    assert w.run() is None  # nothing to deblur until the user picks a layer
    # an input-like layer that comes later is taken
    cells = viewer.add_image(fluo_u8, name="cells")
    assert w.layer_combo.value is cells


def test_image_box_takes_another_input_when_its_layer_is_removed(make_napari_viewer, qtbot,
                                                                 fluo_u8):
    viewer = make_napari_viewer()
    first = viewer.add_image(fluo_u8, name="blurred")
    second = viewer.add_image(np.roll(fluo_u8, 3, axis=1), name="field 2")
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(first)
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")  # the box starts empty
    run = w.run()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert w.layer_combo.value is first  # a result added does not take the box
    viewer.layers.remove(first)
    assert w.layer_combo.value is second  # another input, not the result
    assert run.layer in viewer.layers
