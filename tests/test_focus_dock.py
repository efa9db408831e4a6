"""The Focus QC dock driven in a real viewer (make_napari_viewer, headless under Xvfb).

Real crops from tests/data and classical methods keep every run short; runs go through the
dock's own workers and tests wait for them with qtbot.waitUntil.
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from _screenshots import IMAGES, screenshots, take_screenshot
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit

from napari_microdeblur.core import focus as core_focus
from napari_microdeblur.core import selective, weights
from napari_microdeblur.core.focus import calibrate_threshold, focus_score
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE
from napari_microdeblur.core.registry import build_model, get_arch

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms; 30 s once ran out while a training job held a core
PSF = "gaussian:1.6"


# ----------------------------------------------------------------------------- helpers


@pytest.fixture
def notes():
    """Notifications napari receives during the test: (severity, message) pairs."""
    from napari.utils.notifications import notification_manager

    start = len(notification_manager.records)

    class Notes:
        def all(self):
            return [(str(n.severity).lower(), str(n.message))
                    for n in notification_manager.records[start:]]

        def errors(self):
            return [m for s, m in self.all() if s == "error"]

        def infos(self):
            return [m for s, m in self.all() if s == "info"]

    return Notes()


@pytest.fixture(autouse=True)
def _clean_session():
    from napari_microdeblur._widgets._methods import SESSION_MODELS

    SESSION_MODELS.clear()
    yield
    SESSION_MODELS.clear()


def dock(viewer, name="Focus QC"):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def wait_run(qtbot, run, timeout=TIMEOUT):
    qtbot.waitUntil(lambda: run.done, timeout=timeout)


def wait_idle(qtbot, widget, timeout=TIMEOUT):
    qtbot.waitUntil(lambda: not widget._workers, timeout=timeout)


def score(qtbot, w):
    worker = w.score()
    assert worker is not None
    wait_idle(qtbot, w)
    assert w.scores_fresh()


def snapshot(viewer, names=None):
    """Names, data identity and checksum of the user's layers."""
    return [(la.name, id(la.data), float(np.asarray(la.data, dtype=float).sum()))
            for la in viewer.layers if names is None or la.name in names]


# ----------------------------------------------------------------------------- imports


def test_focus_dock_module_imports_no_torch():
    code = (
        "import sys, napari_microdeblur._widgets._focus\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr


# ----------------------------------------------------------------------------- tiles


def test_tiles_heatmap_threshold_outlines_and_deblur(make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    image = viewer.add_image(fluo_u8, name="nuclei", scale=(0.5, 0.5), translate=(3.0, -2.0),
                             contrast_limits=(10.0, 200.0))
    w = dock(viewer)
    assert w.layer_combo.value is image and w.axes_edit.text() == "YX"
    assert w.unit == "tiles" and w.run_button.text() == "Deblur soft tiles"
    assert w.run() is None  # not scored yet
    w.tile_spin.setValue(32)
    score(qtbot, w)
    expected = focus_score(fluo_u8, axes="YX", tile=32)
    # the 6 tiles of background noise only are left out of the threshold and the deblur
    has = core_focus.structure_tiles(fluo_u8, axes="YX", tile=32)
    assert has.sum() == 10
    heat = viewer.layers["nuclei focus [tile 32]"]
    assert heat is w.heatmap_layer
    assert heat.data.shape == (4, 4)
    np.testing.assert_allclose(heat.data, expected, rtol=1e-6)
    assert tuple(heat.scale) == (16.0, 16.0)
    # heatmap pixel (i, j) sits on the centre of image tile (i, j)
    for i, j in ((0, 0), (3, 2)):
        np.testing.assert_allclose(
            heat.data_to_world((i, j)), image.data_to_world((32 * i + 15.5, 32 * j + 15.5))
        )
    assert heat.colormap.name == "inferno" and heat.opacity == pytest.approx(0.5)
    assert str(heat.blending) == "additive"  # the image stays visible under it
    # first threshold: half the median score of the tiles with structure
    assert w.threshold == pytest.approx(0.5 * np.median(expected[has]), rel=1e-6)

    threshold = float(np.median(expected))
    w.set_threshold(threshold)
    soft = (expected < threshold) & has
    k = int(soft.sum())
    assert 0 < k < 16
    assert w.count_label.text().startswith(f"{k} of 16 tiles below threshold")
    outlines = w.outline_layer
    assert outlines.name == "nuclei soft tiles [tile 32]" and outlines.nshapes == k
    assert tuple(outlines.scale) == (0.5, 0.5) and tuple(outlines.translate) == (3.0, -2.0)
    corners = sorted((float(r[:, 0].min()), float(r[:, 1].min())) for r in outlines.data)
    assert corners == sorted((32 * y - 0.5, 32 * x - 0.5) for y, x in np.argwhere(soft))
    w.set_threshold(0.0)
    assert w.count_label.text().startswith("0 of 16") and outlines.nshapes == 0
    w.set_threshold(10.0)
    assert w.count_label.text().startswith("10 of 16") and outlines.nshapes == 10
    w.threshold_spin.lineEdit().setText(f"{threshold:.6e}")  # typed: drawn once, shortly
    w.threshold_spin.interpretText()
    qtbot.waitUntil(lambda: outlines.nshapes == k, timeout=TIMEOUT)
    assert w.outline_layer is outlines
    assert w.count_label.text().startswith(f"{k} of 16 tiles")
    w.set_threshold(threshold)

    # another image gets its own overlays; the first image's stay as they were
    other = viewer.add_image(fluo_u8[:64, :96], name="corner")
    w.layer_combo.set_value(other)
    score(qtbot, w)
    assert w.heatmap_layer is not heat and w.heatmap_layer.data.shape == (2, 3)
    assert heat.name == "nuclei focus [tile 32]" and heat.data.shape == (4, 4)
    assert outlines.nshapes == k
    viewer.layers.remove(w.heatmap_layer)
    viewer.layers.remove(w.outline_layer)
    viewer.layers.remove(other)
    w.layer_combo.set_value(image)
    score(qtbot, w)
    assert w.heatmap_layer is heat and w.outline_layer is outlines

    before = snapshot(viewer, {"nuclei"})
    w.set_method("wiener")
    w.psf_edit.setText(PSF)
    run = w.run()
    assert run is not None and not w.run_button.isEnabled()
    wait_run(qtbot, run)
    assert snapshot(viewer, {"nuclei"}) == before  # the input is untouched
    out = viewer.layers[-1]
    assert out.name == run.layer.name
    assert out.name == f"nuclei deblurred [wiener, PSF {PSF}] (focus < {threshold:.3g})"
    assert tuple(out.scale) == (0.5, 0.5) and tuple(out.translate) == (3.0, -2.0)
    assert tuple(out.contrast_limits) == (10.0, 200.0)
    meta = out.metadata["microdeblur"]
    focus = meta["focus"]
    assert meta["method"] == "wiener" and meta["source_layer"] == "nuclei"
    assert focus["mode"] == "tiles" and focus["focus_tile"] == 32 and focus["units"] == 16
    assert focus["deblurred"] == k
    assert focus["selected"] == [list(u) for u in np.argwhere(soft)]
    assert focus["halo"] >= 32 and focus["threshold"] == pytest.approx(threshold)
    core = selective.deblur_selected(fluo_u8, "wiener", psf=PSF, axes="YX",
                                     scores=np.where(has, expected, np.nan),
                                     threshold=threshold, tile=32, device="cpu")
    np.testing.assert_allclose(out.data, core.image, rtol=0, atol=1e-4)
    assert "added" in w.status_label.text() and w.run_button.isEnabled()


# ----------------------------------------------------------------------------- slices


def test_stack_plot_threshold_and_soft_slices(make_napari_viewer, qtbot, focus_stack):
    viewer = make_napari_viewer()
    viewer.add_image(focus_stack, name="stack", scale=(2.0, 1.0, 1.0))
    viewer.dims.set_current_step(0, 3)
    w = dock(viewer)
    assert w.axes_edit.text() == "ZYX" and w.unit == "slices"
    assert w.run_button.text() == "Deblur soft slices" and not w.tile_spin.isEnabled()
    score(qtbot, w)
    expected = focus_score(focus_stack, axes="ZYX")
    assert not any(la.name.startswith("stack focus") for la in viewer.layers)  # no heatmap
    assert w.plot.isVisible() or not w.isVisible()
    xs, ys, _ = w.plot.series["focus"]
    assert xs == list(range(14))
    np.testing.assert_allclose(ys, expected, rtol=1e-6)
    assert w.plot.marker == 3
    threshold = float(np.median(expected))
    w.set_threshold(threshold)
    soft = expected < threshold
    assert w.count_label.text().startswith(f"{soft.sum()} of 14 slices below threshold")
    _, soft_ys, _ = w.plot.series["below threshold"]
    assert [np.isfinite(y) for y in soft_ys] == list(soft)
    line = next(v for k, v in w.plot.series.items() if k.startswith("threshold"))
    assert line[1] == [pytest.approx(threshold)] * 2
    viewer.dims.set_current_step(0, 9)
    assert w.plot.marker == 9

    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")  # the box starts empty
    run = w.run()
    wait_run(qtbot, run)
    out = run.layer
    assert out.name == f"stack deblurred [wiener, PSF gaussian:1.6] (focus < {threshold:.3g})"
    assert tuple(out.scale) == (2.0, 1.0, 1.0)
    np.testing.assert_array_equal(out.data[~soft], focus_stack[~soft].astype(np.float32))
    for z in np.flatnonzero(soft):
        assert not np.array_equal(out.data[z], focus_stack[z].astype(np.float32))
    focus = out.metadata["microdeblur"]["focus"]
    assert focus["mode"] == "slices" and focus["selected"] == [[int(z)] for z in
                                                               np.flatnonzero(soft)]


def test_tiles_on_a_stack_heatmap_per_plane(make_napari_viewer, qtbot, focus_stack):
    viewer = make_napari_viewer()
    viewer.add_image(focus_stack[4:8], name="stack", scale=(3.0, 0.5, 0.5))
    w = dock(viewer)
    w.unit_combo.setCurrentIndex(w.unit_combo.findData("tiles"))
    w.tile_spin.setValue(48)
    score(qtbot, w)
    heat = w.heatmap_layer
    assert heat.data.shape == (4, 2, 2) and tuple(heat.scale) == (3.0, 24.0, 24.0)
    w.set_threshold(float(np.median(heat.data)))
    # background tiles (no structure) are never outlined, whatever their score
    k = int(((heat.data < w.threshold) & w.structure).sum())
    assert w.outline_layer.nshapes == k and w.outline_layer.ndim == 3


# ----------------------------------------------------------------------------- calibration


def test_calibrate_from_known_good_layer(make_napari_viewer, qtbot, focus_stack):
    viewer = make_napari_viewer()
    viewer.add_image(focus_stack[:4], name="soft planes")
    good = viewer.add_image(focus_stack[5:10], name="in focus")
    w = dock(viewer)
    w.layer_combo.set_value(viewer.layers["soft planes"])
    w.good_combo.set_value(good)
    w.percentile_spin.setValue(5.0)
    assert w.calibrate() is not None
    wait_idle(qtbot, w)
    expected = calibrate_threshold(focus_score(focus_stack[5:10], axes="ZYX"), percentile=5)
    assert w.threshold == pytest.approx(expected, rel=1e-6)
    assert "percentile 5 of 5 slice scores of 'in focus'" in w.status_label.text()
    score(qtbot, w)
    assert w.threshold == pytest.approx(expected, rel=1e-6)  # a set threshold is kept
    assert w.count_label.text().startswith("4 of 4 slices")


# ----------------------------------------------------------------------------- cancel


def test_cancel_stops_within_one_tile_and_adds_no_layer(make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    viewer.add_image(fluo_u8, name="nuclei")
    w = dock(viewer)
    w.tile_spin.setValue(16)  # 64 tiles
    score(qtbot, w)
    w.set_threshold(1e6)  # every tile with structure
    n = int(core_focus.structure_tiles(fluo_u8, axes="YX", tile=16).sum())
    w.set_method("richardson_lucy")
    w.psf_edit.setText("gaussian:1.6")  # the box starts empty
    w.iterations_spin.setValue(5)
    names = [la.name for la in viewer.layers]
    emitted = []  # (tile, total, quit already requested?) recorded in the worker thread
    run = w.run()
    run.worker.yielded.connect(
        lambda rec: emitted.append((rec.done, rec.total, run.worker.abort_requested)),
        Qt.DirectConnection,
    )
    run.worker.yielded.connect(lambda rec: w.cancel_button.click())
    wait_run(qtbot, run)
    assert run.cancelled and run.layer is None
    assert [la.name for la in viewer.layers] == names
    assert emitted[0][1] == n and emitted[-1][0] < n
    assert sum(aborted for _, _, aborted in emitted) <= 1
    assert "cancelled" in w.status_label.text() and w.run_button.isEnabled()


def test_cancel_scoring_keeps_no_scores(make_napari_viewer, qtbot, monkeypatch, focus_stack):
    real = core_focus.iter_focus_scores

    def slow(*args, **kwargs):
        # planes score in about a millisecond: slow each one down (in the worker thread) so
        # that the click, handled on the GUI thread, lands while planes remain
        gen = real(*args, **kwargs)

        def body():
            result = None
            while True:
                try:
                    record = next(gen)
                except StopIteration as stop:
                    result = stop.value
                    break
                time.sleep(0.2)
                yield record
            return result

        return body()

    monkeypatch.setattr(core_focus, "iter_focus_scores", slow)
    viewer = make_napari_viewer()
    viewer.add_image(focus_stack, name="stack")
    w = dock(viewer)
    planes = []
    worker = w.score()
    assert w.cancel_button.isEnabled()
    worker.yielded.connect(lambda rec: (planes.append(rec.done), w.cancel_button.click()))
    wait_idle(qtbot, w)
    assert w.scores is None and not w.scores_fresh()
    assert 1 <= len(planes) < 14
    assert w.status_label.text() == "scoring cancelled" and not w.cancel_button.isEnabled()
    assert [la.name for la in viewer.layers] == ["stack"]


def test_closing_the_dock_while_running_adds_no_layer(make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    viewer.add_image(fluo_u8, name="nuclei")
    w = dock(viewer)
    w.tile_spin.setValue(16)
    score(qtbot, w)
    w.set_threshold(1e6)
    w.set_method("richardson_lucy")
    w.psf_edit.setText("gaussian:1.6")  # the box starts empty
    w.iterations_spin.setValue(5)
    names = [la.name for la in viewer.layers]
    run = w.run()
    qtbot.waitUntil(lambda: run.pbar.n >= 1, timeout=TIMEOUT)
    viewer.window.remove_dock_widget(w)
    assert w.closed
    wait_run(qtbot, run)
    assert run.cancelled and run.layer is None
    assert [la.name for la in viewer.layers] == names


# ----------------------------------------------------------------------------- bad input


@pytest.fixture
def gray_session_model(tmp_path):
    """A tiny 1-channel GRAN loaded into the session as 'tiny gray'."""
    from napari_microdeblur._widgets._methods import SESSION_MODELS, SessionModel

    torch.manual_seed(0)
    config = {**get_arch("gran").tiny_config, "in_channels": 1, "out_channels": 1}
    path = tmp_path / "tiny.safetensors"
    weights.save_weights(build_model("gran", config), path, {
        "training_data": "nothing (random tiny test weights)", "degradation": "none",
        "metrics": {}, "license": "BSD-3-Clause"})
    model, card = weights.load_model(path)
    return SESSION_MODELS.add(SessionModel("tiny gray", model, card, "loaded"))


def test_bad_inputs_notify_and_add_nothing(make_napari_viewer, qtbot, notes, he_rgb,
                                           fluo_u8, gray_session_model):
    viewer = make_napari_viewer()
    viewer.add_labels(np.zeros((32, 32), dtype=np.uint8), name="labels")
    w = dock(viewer)
    assert w.layer_combo.count() == 0  # labels are not offered
    assert w.score() is None
    assert any("no image layer chosen" in m for m in notes.errors())
    empty = viewer.add_image(np.zeros((1, 1), dtype=np.float32), name="empty")
    w.layer_combo.set_value(empty)
    assert w.score() is None
    assert any("empty or too small" in m for m in notes.errors())
    tiny = viewer.add_image(np.ones((5, 5), dtype=np.float32), name="tiny")
    w.layer_combo.set_value(tiny)
    assert w.score() is None
    assert any("too small to score" in m for m in notes.errors())

    rgb = viewer.add_image(he_rgb, name="he", rgb=True)
    w.layer_combo.set_value(rgb)
    assert w.axes_edit.text() == "YXS" and w.unit == "tiles"
    w.tile_spin.setValue(32)
    score(qtbot, w)
    assert w.heatmap_layer.data.shape == (3, 3)
    w.set_threshold(1.0)
    # a grayscale network on an RGB layer runs colour by colour, as the core does (it was
    # refused: tests/test_parity_2026_12_18.py)
    from napari_microdeblur._widgets._jobs import check_request

    w.set_method(gray_session_model)
    check_request(w.build_request()[0])
    user = {"labels", "empty", "tiny", "he"}
    before, n_layers = snapshot(viewer, user), len(viewer.layers)
    w.set_method("wiener")
    w.psf_edit.setText("")
    assert w.run() is None
    assert any("needs a PSF" in m for m in notes.errors())
    w.psf_edit.setText(PSF)
    w.set_threshold(0.0)
    assert w.run() is None
    assert any("nothing to deblur" in m for m in notes.infos())
    w.tile_spin.setValue(48)  # the scores no longer match the settings
    assert "press Score again" in w.count_label.text()
    w.set_threshold(1.0)
    assert w.run() is None
    assert any("first (press Score)" in m for m in notes.errors())
    assert snapshot(viewer, user) == before and len(viewer.layers) == n_layers


def test_auto_on_an_rgb_layer_runs_the_brightfield_default(make_napari_viewer, qtbot, he_rgb):
    """The brightfield default (the grayscale PSF-aware network with a PSF estimated from the
    image) must run channel by channel on an RGB layer rather than refuse the layer."""
    viewer = make_napari_viewer()
    rgb = viewer.add_image(he_rgb, name="he", rgb=True)
    w = dock(viewer)
    w.layer_combo.set_value(rgb)
    w.tile_spin.setValue(32)
    score(qtbot, w)
    w.set_threshold(1.0)
    w.set_method("auto")
    req, selection = w.build_request()
    assert req.label == DEFAULT_PSF_AWARE and req.method.name == "auto"
    assert req.method.psf is None  # estimated from the layer when the run starts


def test_every_control_has_a_tooltip(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), dtype=np.float32), name="x")
    w = dock(viewer)
    controls = [c for kind in (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit)
                for c in w.findChildren(kind)
                if not isinstance(c.parent(), (QAbstractSpinBox, QComboBox))]
    assert len(controls) > 10
    missing = [f"{type(c).__name__} {getattr(c, 'text', lambda: '')()!r}"
               for c in controls if not c.toolTip()]
    assert not missing, f"controls without a tooltip: {missing}"


def test_threshold_box_takes_scientific_values_and_steps_by_decades(make_napari_viewer):
    viewer = make_napari_viewer()
    w = dock(viewer)
    box = w.threshold_spin
    box.lineEdit().setText("2.5e-05")
    box.interpretText()
    assert box.value() == pytest.approx(2.5e-5)
    assert box.text() == "2.5e-05"
    box.stepBy(10)
    assert box.value() == pytest.approx(2.5e-4)
    box.stepBy(-5)
    assert box.value() == pytest.approx(2.5e-4 / 10 ** 0.5)


# ----------------------------------------------------------------------------- screenshot


@screenshots
def test_screenshot_focus_dock(make_napari_viewer, qtbot):
    """A real light-sheet plane 0.6 um out of focus (DFNN mitochondria, MIT): per-tile scores
    as a heatmap, the threshold calibrated on the in-focus plane of the same field (median of
    its tile scores), soft tiles outlined and deblurred with the default model."""
    import glob

    import tifffile

    folder = IMAGES.parents[1].parent / "shared" / "data" / "focus_stack_lightsheet_dfnn"
    files = sorted(glob.glob(str(folder / "mitochondria_cell2_stack" / "*.tif")))
    if len(files) < 13:
        pytest.skip("needs ../shared/data/focus_stack_lightsheet_dfnn")
    crop = (slice(32, 800), slice(160, 416))
    soft = tifffile.imread(files[12])[crop]  # Abs0063: +0.6 um
    sharp = tifffile.imread(files[7])[crop]  # Abs0051: in focus
    viewer = make_napari_viewer(show=True)
    good = viewer.add_image(sharp, name="mito in focus (Abs0051)", visible=False)
    image = viewer.add_image(soft, name="mito +0.6 um (Abs0063)",
                             contrast_limits=tuple(np.percentile(soft, [1, 99.8])))
    w = dock(viewer)
    w.layer_combo.set_value(image)
    w.tile_spin.setValue(64)
    score(qtbot, w)
    w.good_combo.set_value(good)
    w.percentile_spin.setValue(50.0)
    w.calibrate()
    wait_idle(qtbot, w)
    w.set_method("auto")
    run = w.run()
    wait_run(qtbot, run, timeout=600_000)
    assert run.layer is not None
    run.layer.visible = False
    viewer.layers.selection.active = image
    take_screenshot(viewer, qtbot, "focus_dock.png", reset_view=True)
