"""Memory of stopped dock jobs, from a walkthrough (2026-12-16).

napari keeps every worker it created for the window's life (its task list holds
``worker.quit``), and a worker keeps its generator: a job stopped part-way stayed paused at its
``yield`` with its arrays. Each cancelled Deblur run of a 40-plane 512 x 512 float32 stack kept
~45 MB (RSS 620 -> 866 MB over 6 cancels, no layers left), each interrupted Compare & QC
'Whole stack' ~42 MB, and the Deblur dock's last run kept a removed result layer. A stopped job
is now closed (in its own thread where the quit is seen at a record, else from the GUI thread
once the worker has finished) and runs let go of their pixels. Driven in a real viewer.
"""

from __future__ import annotations

import gc
import threading
import time
import weakref

import numpy as np
import pytest

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms


def dock(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def freed(qtbot, ref) -> bool:
    """Whether the object behind ``ref`` is gone once Qt's queued work, deferred deletes and
    Python's garbage collection have run (a few rounds: workers are released a turn late)."""
    from qtpy.QtCore import QCoreApplication, QEvent

    deadline = time.monotonic() + 10  # a loaded machine runs the queued release late
    while time.monotonic() < deadline:
        QCoreApplication.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()
        if ref() is None:
            return True
        qtbot.wait(50)
    return False


@pytest.fixture
def owner(qtbot):
    """A bare dock that owns workers."""
    from qtpy.QtWidgets import QWidget

    from napari_microdeblur._widgets._workers import WorkerOwnerMixin

    class Owner(WorkerOwnerMixin, QWidget):
        def __init__(self):
            super().__init__()
            self.init_workers()

    widget = Owner()
    qtbot.addWidget(widget)
    return widget


def test_a_job_quit_while_computing_is_closed_in_its_own_thread(qtbot, owner):
    from napari_microdeblur._widgets._workers import start_worker

    entered, go, ran, got = threading.Event(), threading.Event(), [], []

    def job(array):
        try:
            with np.errstate(invalid="ignore"):  # bound to the job's thread
                yield float(array.sum())
                entered.set()
                go.wait(30)  # computing when the quit comes
                yield 2.0
                yield 3.0
        finally:
            ran.append(threading.get_ident())

    array = np.ones((256, 256), np.float32)
    ref = weakref.ref(array)
    before = np.geterr()
    worker = start_worker(owner, job, array, returned=got.append)
    del array
    qtbot.waitUntil(entered.is_set, timeout=TIMEOUT)
    worker.quit()
    go.set()
    qtbot.waitUntil(lambda: not owner._workers, timeout=TIMEOUT)
    assert got == []  # a quit job returns nothing
    assert len(ran) == 1 and ran[0] != threading.get_ident()  # its finally ran, in its thread
    assert np.geterr() == before
    del worker  # napari keeps it; its job must not keep the array
    assert freed(qtbot, ref)


def test_a_job_quit_between_records_is_closed_once_finished(qtbot, owner):
    from qtpy.QtCore import Qt

    from napari_microdeblur._widgets._workers import start_worker

    ran = []

    def job(array):
        try:
            yield float(array.sum())
            yield 2.0
        finally:
            ran.append(threading.get_ident())

    array = np.ones((256, 256), np.float32)
    ref = weakref.ref(array)
    worker = start_worker(owner, job, array, start=False)
    # quit as the first record is emitted: the worker stops before resuming the job
    worker.yielded.connect(lambda _: worker.quit(), Qt.DirectConnection)
    worker.start()
    del array
    qtbot.waitUntil(lambda: not owner._workers, timeout=TIMEOUT)
    assert freed(qtbot, ref)
    assert ran == [threading.get_ident()]  # closed from the GUI thread, after the finish


def test_a_cancelled_deblur_frees_the_removed_stack(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    layer = viewer.add_image((rng.random((8, 96, 96)) * 255).astype(np.float32), name="stack")
    ref = weakref.ref(layer.data)
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("ZYX")
    w.set_method("richardson_lucy")
    w.psf_edit.setText("gaussian:1.6")  # the box starts empty
    w.iterations_spin.setValue(5)
    w.tile_mode.setCurrentText("custom")
    w.tile_spin.setValue(32)  # dozens of tiles: cancelled after the first
    run = w.run()
    assert run is not None, w.status_label.text()
    run.worker.yielded.connect(lambda _: w.cancel())
    qtbot.waitUntil(lambda: run.done and not w._workers, timeout=TIMEOUT)
    assert run.cancelled and run.layer is None
    assert [la.name for la in viewer.layers] == ["stack"]  # no half layer
    viewer.layers.remove(layer)
    layer = run = None  # the test's own references
    assert freed(qtbot, ref)


def test_a_removed_result_of_the_last_run_is_freed(make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    source = viewer.add_image(fluo_u8.copy(), name="nuclei")
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(source)
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")
    run = w.run()
    qtbot.waitUntil(lambda: run.done and not w._workers, timeout=TIMEOUT)
    result = run.layer
    assert result is not None and w.last_run is run
    refs = [weakref.ref(result), weakref.ref(result.data), weakref.ref(source.data)]
    viewer.layers.remove(result)
    viewer.layers.remove(source)
    result = source = run = None
    assert all(freed(qtbot, ref) for ref in refs)
    assert w.last_run.layer is None  # the dock's record of the run, without the layer


def _held(module, name, entered, go):
    """``module.name`` (a metrics generator) waiting for ``go`` before it computes, so that
    the quit surely comes while the job computes its first record."""
    original = getattr(module, name)

    def held(*args, **kwargs):
        entered.set()
        go.wait(30)
        return (yield from original(*args, **kwargs))

    return held


def _compare(viewer, qtbot, shape):
    rng = np.random.default_rng(1)
    truth = rng.random(shape).astype(np.float32)
    layers = [viewer.add_image(a, name=n) for a, n in
              ((np.roll(truth, 1, -1), "blurry"), (np.clip(truth + 0.05, 0, 1), "deblurred"),
               (truth, "truth"))]
    w = dock(viewer, "Compare & QC")
    w.set_layers(*layers)
    qtbot.waitUntil(lambda: w.last_result is not None and not w._workers, timeout=TIMEOUT)
    return w, layers


def test_an_interrupted_whole_stack_frees_the_removed_layer(make_napari_viewer, qtbot,
                                                            monkeypatch):
    from napari_microdeblur.core import plane_metrics

    viewer = make_napari_viewer()
    w, layers = _compare(viewer, qtbot, (6, 64, 64))
    entered, go = threading.Event(), threading.Event()
    monkeypatch.setattr(plane_metrics, "iter_stack_metrics", _held(
        plane_metrics, "iter_stack_metrics", entered, go))
    w.compute_stack()
    qtbot.waitUntil(entered.is_set, timeout=TIMEOUT)
    deblurred = layers.pop(1)
    ref = weakref.ref(deblurred.data)
    viewer.layers.remove(deblurred)  # the user deletes the result while the stack computes
    del deblurred
    go.set()
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)
    assert w.stack_results is None  # the run was dropped, not shown
    assert freed(qtbot, ref)


def test_a_compare_dock_closed_mid_slice_is_freed(make_napari_viewer, qtbot, monkeypatch):
    from napari_microdeblur.core import plane_metrics

    viewer = make_napari_viewer()
    w, layers = _compare(viewer, qtbot, (64, 64))
    entered, go = threading.Event(), threading.Event()
    monkeypatch.setattr(plane_metrics, "iter_plane_metrics_borders", _held(
        plane_metrics, "iter_plane_metrics_borders", entered, go))
    w.border_check.toggle()  # a new slice job (no figures of this border cached yet)
    w._cache.clear()
    w.schedule_update()
    qtbot.waitUntil(entered.is_set, timeout=TIMEOUT)
    workers = list(w._workers)
    ref = weakref.ref(w)
    viewer.window.remove_dock_widget(w)
    assert w.closed
    del w
    go.set()
    qtbot.waitUntil(lambda: not any(x.is_running for x in workers), timeout=TIMEOUT)
    workers = None
    assert freed(qtbot, ref)
