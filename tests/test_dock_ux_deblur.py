"""The Deblur dock used as a biologist would, mistakes included: Run pressed
twice, a PSF model wider than the image or than a custom tile, a whole bead image as the
PSF (driven in a real viewer under Xvfb; classical methods only, so no weights are needed)."""

from __future__ import annotations

import numpy as np
import pytest

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms


@pytest.fixture
def notes():
    """(severity, message) of the notifications napari receives during the test."""
    from napari.utils.notifications import notification_manager

    start = len(notification_manager.records)
    return lambda: [(str(n.severity).lower(), str(n.message))
                    for n in notification_manager.records[start:]]


def image(shape, seed=0):
    return (np.random.default_rng(seed).random(shape) * 200).astype(np.float32)


def open_dock(make_napari_viewer, data, dock="Deblur"):
    viewer = make_napari_viewer()
    layer = viewer.add_image(data, name="cells")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, dock)
    widget.layer_combo.set_value(layer)
    return viewer, layer, widget


def wait_preview(qtbot, w):
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)


def test_run_pressed_twice_starts_one_run_that_cancel_stops(make_napari_viewer, qtbot, notes):
    viewer, layer, w = open_dock(make_napari_viewer, image((4, 96, 96)))
    w.set_method("richardson_lucy")
    w.psf_edit.setText("gaussian:1.6")  # the box starts empty
    w.iterations_spin.setValue(10)
    w.tile_mode.setCurrentText("custom")
    w.tile_spin.setValue(32)
    wait_preview(qtbot, w)
    first = w.run()
    assert first is not None
    assert w.run() is None  # its worker had not started yet: a second run was started
    assert any("a run is in progress" in m for _, m in notes())
    w.cancel()
    assert w.run() is None
    assert "still finishing its current tile" in w.status_label.text()
    qtbot.waitUntil(lambda: first.done, timeout=TIMEOUT)
    assert first.layer is None
    assert [la.name for la in viewer.layers] == ["cells"]  # nothing added after Cancel
    assert w.run_button.isEnabled() and not w.cancel_button.isEnabled()


@pytest.mark.parametrize(("method", "psf", "shape", "words"), [
    ("wiener", "gaussian:1.6", (10, 10), "is 15 x 15 px, larger than layer 'cells' (10 x 10"),
    ("richardson_lucy", "gaussian:1.6", (2, 64), "larger than layer 'cells' (2 x 64 px in YX)"),
    ("wiener", "gaussian:1.6", (3, 8, 8), "larger than layer 'cells' (8 x 8 px in YX)"),
    ("auto", "gaussian:1.6", (10, 10), "larger than layer 'cells' (10 x 10"),
])
def test_a_psf_model_wider_than_the_image_is_refused_before_the_run(
        make_napari_viewer, qtbot, notes, method, psf, shape, words):
    viewer, layer, w = open_dock(make_napari_viewer, image(shape))
    w.set_method(method)
    if method == "auto":
        w.use_psf_check.setChecked(True)
    w.psf_edit.setText(psf)
    wait_preview(qtbot, w)
    assert w.run() is None  # refused before any worker started
    assert words in w.status_label.text() and "narrower PSF model" in w.status_label.text()
    errors = [m for s, m in notes() if s == "error"]
    assert len(errors) == 1 and words in errors[0]
    assert w.last_run is None and [la.name for la in viewer.layers] == ["cells"]


def test_a_psf_model_typed_just_before_run_is_checked_too(make_napari_viewer, qtbot):
    viewer, layer, w = open_dock(make_napari_viewer, image((64, 64)))
    w.set_method("wiener")
    wait_preview(qtbot, w)
    w.psf_edit.setText("gaussian:20")  # Run pressed before the preview settles
    assert w.psf_preview.busy
    assert w.run() is None
    assert "161 x 161 px, larger than layer 'cells'" in w.status_label.text()
    wait_preview(qtbot, w)


def test_a_custom_tile_not_larger_than_the_psf_is_refused_before_the_run(make_napari_viewer,
                                                                          qtbot):
    viewer, layer, w = open_dock(make_napari_viewer, image((128, 128)))
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:3")
    w.tile_mode.setCurrentText("custom")
    w.tile_spin.setValue(16)
    wait_preview(qtbot, w)
    assert w.run() is None
    assert "tile 16 is not larger than the PSF 'gaussian:3' (25 x 25 px)" in \
        w.status_label.text()
    # the run's advice: the least tile that holds the PSF's 32 px overlap (26 left seams)
    assert w.status_label.text().endswith("use a tile of at least 64")
    w.tile_spin.setValue(64)  # what the message asks for runs
    run = w.run()
    assert run is not None
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.layer is not None


def test_a_psf_file_as_large_as_the_image_is_cut_to_its_support_as_the_core_does(
        make_napari_viewer, qtbot, tmp_path):
    import tifffile

    from napari_microdeblur.core.inference import deblur
    from napari_microdeblur.core.method import MethodSpec

    data = image((64, 64))
    beads = np.pad(np.ones((3, 3), np.float32), 60)  # 123 x 123: a whole bead image
    path = tmp_path / "beads_psf.tif"
    tifffile.imwrite(path, beads)
    viewer, layer, w = open_dock(make_napari_viewer, data)
    w.set_method("wiener")
    w.balance_spin.setValue(0.01)
    w.psf_edit.setText(str(path))
    wait_preview(qtbot, w)
    run = w.run()
    assert run is not None
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.error is None and run.layer is not None  # was: "larger than the image"
    expected = deblur(data, method=MethodSpec("wiener", psf=str(path), balance=0.01), axes="YX")
    np.testing.assert_allclose(run.layer.data, expected, rtol=1e-4, atol=1e-3)
