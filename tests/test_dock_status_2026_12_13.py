"""The Deblur dock says what will run and what is running: the tile box shows a side only when
a custom tile is chosen, and Run pressed during a run keeps the line of the run in progress."""

from __future__ import annotations

import numpy as np

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms


def _dock(make_napari_viewer):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.random.default_rng(0).random((4, 96, 96)).astype(np.float32),
                             name="cells")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    widget.layer_combo.set_value(layer)
    return viewer, widget


def test_the_tile_side_is_shown_only_for_a_custom_tile(make_napari_viewer):
    _, w = _dock(make_napari_viewer)
    assert w.tile_mode.currentText() != "custom"
    assert w.tile_spin.isHidden()  # a greyed 256 read as the tile that would run
    w.tile_mode.setCurrentText("custom")
    assert not w.tile_spin.isHidden() and w.tile_spin.isEnabled()
    w.tile_mode.setCurrentIndex(0)
    assert w.tile_spin.isHidden()


def test_run_pressed_again_keeps_the_line_of_the_run_in_progress(make_napari_viewer, qtbot):
    _, w = _dock(make_napari_viewer)
    w.set_method("richardson_lucy")
    w.psf_edit.setText("gaussian:1.6")  # the box starts empty
    w.iterations_spin.setValue(10)
    w.tile_mode.setCurrentText("custom")
    w.tile_spin.setValue(32)
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    first = w.run()
    assert first is not None
    running = w.status_label.text()
    assert running
    assert w.run() is None
    assert w.run() is None  # said once, not once per click
    shown = w.status_label.text()
    assert shown.startswith(running)
    assert shown.count("a run is in progress; cancel it first") == 1
    w.cancel()
    qtbot.waitUntil(lambda: first.done, timeout=TIMEOUT)
