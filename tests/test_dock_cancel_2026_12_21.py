"""Cancel inside one tile, from a walkthrough (2026-12-21).

The Deblur dock's Cancel was seen only between tiles: a 1024 x 1024 layer deblurred by
Richardson-Lucy at 1000 iterations in one tile (the default tiling) went on 34-47 s after
Cancel, the whole run, and after the viewer closed the process stayed busy as long. The
iterations now see the stop (``progress.stoppable`` / ``check_stop``); without one (the CLI,
the Python API) nothing changes, bit for bit.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from napari_microdeblur.core import classical

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms


def blurred(side=64, seed=0):
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    return gaussian_filter(rng.random((side, side)) * 200, 2).astype(np.float32) + 10


class CountedStop:
    """A stop that says stop from its ``after``-th call on; ``calls`` counts them."""

    def __init__(self, after: int | None) -> None:
        self.after, self.calls = after, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.after is not None and self.calls >= self.after


def test_a_stop_ends_richardson_lucy_after_a_few_of_its_iterations():
    from napari_microdeblur.core.inference import prepare_deblur
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.progress import drive, stoppable

    spec = MethodSpec(name="richardson_lucy", psf="gaussian:2", iterations=1000)
    stop = CountedStop(after=4)
    prepared = prepare_deblur(blurred(256), "YX", spec)
    assert drive(stoppable(prepared.iter_run(), stop)) is None  # stopped: no result
    assert stop.calls == 4  # one check per iteration: stopped at the 4th of 1000


def test_a_stop_ends_the_held_out_search_of_iterations_auto():
    from napari_microdeblur.core.progress import drive, stoppable
    from napari_microdeblur.core.psf import gaussian_psf

    def job():
        yield "start"
        # clean data keep improving: unstopped, this runs all 1000 iterations
        return classical.held_out_check(blurred(128), gaussian_psf(2.0), max_iterations=1000,
                                        patience=1000)

    stop = CountedStop(after=3)
    assert drive(stoppable(job(), stop)) is None
    assert stop.calls == 3


def test_without_a_stop_or_unstopped_the_results_are_bit_identical():
    from napari_microdeblur.core.inference import deblur, prepare_deblur
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.progress import check_stop, drive, stoppable

    check_stop()  # outside a stoppable run (the CLI): nothing to see, nothing raised
    x = blurred(64)
    plain = deblur(x, axes="YX", method="richardson_lucy", psf="gaussian:1.5", iterations=12)
    spec = MethodSpec(name="richardson_lucy", psf="gaussian:1.5", iterations=12)
    never = CountedStop(after=None)
    ran = drive(stoppable(prepare_deblur(x, "YX", spec).iter_run(), never)).image
    assert never.calls == 12 and ran.tobytes() == plain.tobytes()


def test_a_stop_is_seen_only_by_the_thread_running_its_work():
    from napari_microdeblur.core.progress import drive, stoppable

    inside, leave = threading.Event(), threading.Event()

    def waits():  # another thread's stopped run, paused inside its work
        yield 1
        inside.set()
        leave.wait(30)

    other = threading.Thread(target=drive, args=(stoppable(waits(), lambda: True),))
    other.start()
    try:
        assert inside.wait(30)
        stack = torch.from_numpy(np.stack([blurred(32, s) for s in range(3)]))[None, None]
        out = classical.richardson_lucy(stack, np.ones((3, 5, 5), np.float32), iterations=5)
        assert out.shape == stack.shape  # not stopped by the other thread's stop
    finally:
        leave.set()
        other.join(30)


def test_cancelled_passes_an_except_exception_on_its_way():
    from napari_microdeblur.core.progress import Cancelled

    assert not issubclass(Cancelled, Exception)  # a fallback must not take it for a failure


# ----------------------------------------------------------------------------- the dock


@pytest.fixture
def counted_iterations(monkeypatch):
    """The Richardson-Lucy iterations run so far (two convolutions each), counted."""
    count = [0]
    original = classical._MirrorConvolution.__call__

    def call(self, u, out, adjoint=False):
        count[0] += 1
        return original(self, u, out, adjoint)

    monkeypatch.setattr(classical._MirrorConvolution, "__call__", call)
    return lambda: count[0] // 2


def start_long_run(make_napari_viewer, qtbot, counted):
    """A 256 x 256 layer, Richardson-Lucy at 1000 iterations in one tile, running."""
    viewer = make_napari_viewer()
    data = (blurred(256) * 100).astype(np.uint16)
    layer = viewer.add_image(data, name="big")
    dock_widget, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    w.set_method("richardson_lucy")
    w.psf_edit.setText("gaussian:2")
    w.iterations_spin.setValue(1000)
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    run = w.run()
    assert run is not None
    qtbot.waitUntil(lambda: counted() >= 3, timeout=TIMEOUT)  # mid-tile
    return viewer, layer, data.copy(), dock_widget, w, run


def test_cancel_stops_a_one_tile_richardson_lucy_within_its_iterations(
        make_napari_viewer, qtbot, counted_iterations):
    from napari.utils.notifications import notification_manager

    viewer, layer, original, _, w, run = start_long_run(make_napari_viewer, qtbot,
                                                        counted_iterations)
    errors_before = len(notification_manager.records)
    w.cancel_button.click()
    said = w.status_label.text()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert counted_iterations() < 100, f"{counted_iterations()} of 1000 iterations ran"
    assert "Richardson-Lucy stops at its next iteration" in said
    assert run.cancelled and run.layer is None and run.error is None
    assert [la.name for la in viewer.layers] == ["big"]
    assert np.array_equal(layer.data, original)
    assert w.status_label.text() == "cancelled; no layer added"
    assert w.run_button.isEnabled() and not w.cancel_button.isEnabled()
    assert not [n for n in notification_manager.records[errors_before:]
                if "error" in str(n.severity).lower()]


def test_closing_the_dock_mid_tile_ends_its_worker_promptly(
        make_napari_viewer, qtbot, counted_iterations):
    viewer, _, _, dock_widget, w, run = start_long_run(make_napari_viewer, qtbot,
                                                       counted_iterations)
    viewer.window.remove_dock_widget(dock_widget)
    assert w.closed
    qtbot.waitUntil(lambda: not run.worker.is_running, timeout=TIMEOUT)
    assert counted_iterations() < 100, f"{counted_iterations()} of 1000 iterations ran"
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.layer is None and [la.name for la in viewer.layers] == ["big"]
