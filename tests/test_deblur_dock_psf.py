"""The Deblur dock's image type, its 'auto' default, the PSF preview and "PSF from beads..."
(driven in a real viewer under Xvfb, with a bundled table of tiny random networks)."""

from __future__ import annotations

import numpy as np
import pytest
from test_beads import bead_image
from test_modality import V1, tiny_weights

from napari_microdeblur._widgets._psf_preview import SIDE
from napari_microdeblur.core import bundled
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms; 30 s once ran out while a training job held a core


@pytest.fixture(autouse=True)
def tiny_bundled(monkeypatch, tmp_path):
    """The v1 names and the PSF-aware name as tiny random networks."""
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", tmp_path)
    table = {name: tiny_weights(name, tmp_path) for name in (*V1, DEFAULT_PSF_AWARE)}
    monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS", table)
    return table


@pytest.fixture
def errors():
    """The error notifications napari receives during the test."""
    from napari.utils.notifications import notification_manager

    start = len(notification_manager.records)
    return lambda: [str(n.message) for n in notification_manager.records[start:]
                    if str(n.severity).lower() == "error"]


def open_dock(make_napari_viewer, image, name="nuclei"):
    viewer = make_napari_viewer()
    layer = viewer.add_image(image, name=name)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    widget.layer_combo.set_value(layer)
    return viewer, layer, widget


def wait_preview(qtbot, w):
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)


def test_the_dock_runs_auto_by_default_and_the_image_type_picks_the_network(
        make_napari_viewer, qtbot, fluo_u8):
    viewer, layer, w = open_dock(make_napari_viewer, fluo_u8)
    assert w.method.name == "auto"
    types = [w.modality_combo.itemData(i) for i in range(w.modality_combo.count())]
    assert types == ["auto", "em", "fluorescence", "brightfield"]
    assert w.modality_combo.isEnabled() and not w.use_psf_check.isChecked()
    # auto on a grayscale image says it runs as fluorescence (2026-12-17)
    assert w.method.auto_label.text() == "\u2192 gran.fluo_v1\n(as fluorescence; for EM choose EM)"
    w.set_modality("fluorescence")
    assert w.method.auto_label.text() == "\u2192 gran.fluo_v1"
    # EM (and brightfield): the PSF-aware network with a PSF estimated from the image
    w.set_modality("em")
    assert w.method.auto_label.text() == (
        f"\u2192 {DEFAULT_PSF_AWARE} + PSF estimated from the image")
    w.tile_mode.setCurrentText("custom")
    w.tile_spin.setValue(64)
    w.device_combo.setCurrentText("cpu")
    w.run_button.click()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    out = viewer.layers[-1]
    assert out.name == f"nuclei deblurred [{DEFAULT_PSF_AWARE}]"
    meta = out.metadata["microdeblur"]
    assert meta["method"] == DEFAULT_PSF_AWARE and meta["method_spec"]["modality"] == "em"
    assert meta["method_spec"]["name"] == "auto" and meta["method_spec"]["psf"] is None
    expected = deblur(fluo_u8, method="auto", modality="em", tile=64, device="cpu")
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-4)
    w.set_method("wiener")
    assert not w.modality_combo.isEnabled()  # the image type only matters for auto


def test_an_image_without_an_estimate_is_named_after_the_blind_network_that_ran(
        make_napari_viewer, qtbot, fluo_u8):
    """EM 'auto' on an image too small to estimate a PSF from runs the blind network (core:
    test_modality); the result's name, method and weights hash say so, not the PSF-aware one."""
    small = np.ascontiguousarray(fluo_u8[:24, :24])
    viewer, layer, w = open_dock(make_napari_viewer, small)
    w.set_modality("em")
    w.device_combo.setCurrentText("cpu")
    w.run_button.click()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    out = viewer.layers[-1]
    assert out.name == "nuclei deblurred [gran.em_v1]"
    meta = out.metadata["microdeblur"]
    assert meta["method"] == "gran.em_v1" and meta["method_spec"]["name"] == "auto"
    assert meta["weights_sha256"] == bundled.BUNDLED_WEIGHTS["gran.em_v1"].sha256
    np.testing.assert_array_equal(layer.data, small)


def test_auto_with_a_3d_psf_on_a_stack_runs_and_is_named_richardson_lucy_in_3d(
        make_napari_viewer, qtbot, fluo_u8, tmp_path):
    """A z-stack and a 3D PSF file: 'auto' runs Richardson-Lucy in 3D (core:
    test_psf_aware), and the result is named after it, not the PSF-aware network."""
    import tifffile

    from napari_microdeblur.core.psf import gaussian_psf

    # widefield-like: 10 % of the light in the in-focus plane
    psf3 = np.stack([0.45 * gaussian_psf(3.0, size=9), 0.1 * gaussian_psf(0.7, size=9),
                     0.45 * gaussian_psf(3.0, size=9)])
    path = tmp_path / "psf3.tif"
    tifffile.imwrite(path, psf3, photometric="minisblack")
    stack = np.stack([fluo_u8[8 * z : 8 * z + 48, 8 * z : 8 * z + 48] for z in range(4)])
    viewer, layer, w = open_dock(make_napari_viewer, stack, name="stack")
    assert w.axes_edit.text() == "ZYX"
    w.scope_combo.setCurrentText("whole stack")
    w.use_psf_check.setChecked(True)
    w.psf_edit.setText(str(path))
    wait_preview(qtbot, w)
    assert "(10% of the light)" in w.psf_preview.caption.text()
    in_3d = ("\u2192 richardson_lucy in 3D\n(in-focus plane 10% of the 3D PSF's light, under "
             "the 50% limit for 3D on stacks of 3 to 16 planes (this one: 4))")
    assert w.method.auto_label.text() == in_3d
    w.scope_combo.setCurrentText("current slice")  # one plane: the network
    assert w.method.auto_label.text() == f"\u2192 {DEFAULT_PSF_AWARE}"
    w.scope_combo.setCurrentText("whole stack")
    assert w.method.auto_label.text() == in_3d
    w.psf_edit.setText("gaussian:1.6")  # a 2D PSF: the network again
    wait_preview(qtbot, w)
    assert w.method.auto_label.text() == f"\u2192 {DEFAULT_PSF_AWARE}"
    w.psf_edit.setText(str(path))
    wait_preview(qtbot, w)
    assert w.method.auto_label.text() == in_3d
    w.device_combo.setCurrentText("cpu")
    w.run_button.click()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    out = viewer.layers[-1]
    assert out.name == "stack deblurred [richardson_lucy, PSF psf3.tif]"
    expected = deblur(stack, method="richardson_lucy", psf=psf3, iterations=30, axes="ZYX",
                      device="cpu")
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-4)


def test_brightfield_on_a_grayscale_layer_is_refused_before_any_work(make_napari_viewer,
                                                                     errors, fluo_u8,
                                                                     monkeypatch):
    # without the PSF-aware network, brightfield's default is the RGB-only v1 network
    monkeypatch.delitem(bundled.BUNDLED_WEIGHTS, DEFAULT_PSF_AWARE)
    viewer, layer, w = open_dock(make_napari_viewer, fluo_u8)
    w.set_modality("brightfield")
    assert "RGB images only" in w.card_label.text()  # said at once, in place of the card
    assert w.run() is None
    assert any("RGB images only" in m for m in errors())
    assert len(viewer.layers) == 1 and viewer.layers[0].data is fluo_u8


def test_the_preview_shows_the_psf_the_method_will_use(make_napari_viewer, qtbot, fluo_u8):
    viewer, layer, w = open_dock(make_napari_viewer, fluo_u8)
    assert not w.psf_preview.isVisibleTo(w)  # auto without a PSF: blind, nothing to show
    w.use_psf_check.setChecked(True)
    assert w.psf_preview.isVisibleTo(w) and w.psf_edit.isEnabled()
    w.psf_edit.setText("gaussian:1.6")  # the box starts empty
    # auto with a PSF: the PSF-aware network
    assert w.method.auto_label.text() == f"\u2192 {DEFAULT_PSF_AWARE}"
    wait_preview(qtbot, w)
    assert w.psf_preview.description.startswith("2D PSF 15 x 15 px, FWHM 3.8 x 3.8 px")
    assert not w.psf_preview.image_label.pixmap().isNull()
    assert w.psf_preview.image_label.pixmap().width() == SIDE  # beside Use a PSF
    w.set_method("richardson_lucy")
    w.psf_edit.setText("disk:3")
    wait_preview(qtbot, w)
    assert w.psf_preview.description.startswith("2D PSF 7 x 7 px")
    w.psf_edit.setText("gaussian:-1")  # an invalid PSF shows its one-line error
    wait_preview(qtbot, w)
    assert w.psf_preview.error == "PSF 'gaussian:-1': sigma is -1.0; accepted: a positive " \
        "finite number (pixels)"
    assert w.psf_preview.image_label.pixmap() is None or \
        w.psf_preview.image_label.pixmap().isNull()
    w.psf_edit.setText("layer:no such layer")
    wait_preview(qtbot, w)
    assert "no grayscale image layer 'no such layer'" in w.psf_preview.error
    w.set_method(DEFAULT_PSF_AWARE)  # a PSF-aware network takes the PSF without asking
    assert w.psf_preview.isVisibleTo(w) and not w.use_psf_check.isVisibleTo(w)
    w.set_method("gran.fluo_v1")  # a blind network takes none
    assert not w.psf_box.isVisibleTo(w)


def test_psf_from_beads_adds_a_layer_that_becomes_the_psf(make_napari_viewer, qtbot, fluo_u8):
    viewer, layer, w = open_dock(make_napari_viewer, fluo_u8)
    beads, _ = bead_image((192, 192), (1.5, 1.5))
    bead_layer = viewer.add_image(beads, name="beads")
    before = beads.copy()
    w.layer_combo.set_value(layer)
    w.set_method("wiener")
    w.device_combo.setCurrentText("cpu")
    w.psf_from_beads(bead_layer)
    qtbot.waitUntil(lambda: not w._workers and "PSF from beads" in viewer.layers,
                    timeout=TIMEOUT)
    psf_layer = viewer.layers["PSF from beads"]
    assert bead_layer.data is beads
    np.testing.assert_array_equal(beads, before)  # the bead layer is only read
    assert psf_layer.data.ndim == 2 and abs(float(psf_layer.data.sum()) - 1) < 1e-4
    assert w.psf_edit.text() == "layer:PSF from beads"
    assert "beads averaged" in w.status_label.text()
    wait_preview(qtbot, w)
    side = psf_layer.data.shape[0]
    assert w.psf_preview.description.startswith(f"2D PSF {side} x {side} px")
    w.run_button.click()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    out = viewer.layers[-1]
    assert out.name == "nuclei deblurred [wiener, PSF layer:PSF from beads]"
    expected = deblur(fluo_u8, method="wiener", psf=np.asarray(psf_layer.data), device="cpu")
    np.testing.assert_array_equal(out.data, expected)


def test_psf_from_beads_on_a_layer_without_beads_shows_the_core_error(make_napari_viewer,
                                                                      qtbot, errors, fluo_u8):
    viewer, layer, w = open_dock(make_napari_viewer, fluo_u8)
    noise = np.random.default_rng(0).normal(100, 5, (128, 128))
    noise_layer = viewer.add_image(noise, name="noise")
    w.set_method("wiener")
    text_before = w.psf_edit.text()
    w.psf_from_beads(noise_layer)
    qtbot.waitUntil(lambda: not w._workers and bool(errors()), timeout=TIMEOUT)
    assert any("has no bead" in m for m in errors())
    assert "has no bead" in w.status_label.text()
    assert [la.name for la in viewer.layers] == ["nuclei", "noise"]
    assert w.psf_edit.text() == text_before


def test_auto_with_a_psf_runs_the_psf_aware_network_on_rgb_in_the_opponent_space(
        make_napari_viewer, qtbot, he_rgb):
    viewer = make_napari_viewer()
    layer = viewer.add_image(he_rgb, name="he", rgb=True)
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    assert w.axes_edit.text() == "YXS"
    # without a PSF, RGB (brightfield) estimates one from the image
    assert w.method.auto_label.text() == (
        f"\u2192 {DEFAULT_PSF_AWARE} + PSF estimated from the image")
    w.use_psf_check.setChecked(True)
    w.psf_edit.setText("gaussian:1.2")
    assert w.method.auto_label.text() == f"\u2192 {DEFAULT_PSF_AWARE}"
    w.device_combo.setCurrentText("cpu")
    w.run_button.click()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    out = viewer.layers[-1]
    assert out.name == f"he deblurred [{DEFAULT_PSF_AWARE}, PSF gaussian:1.2]"
    assert out.data.shape == he_rgb.shape
    assert out.metadata["microdeblur"]["method_spec"]["psf"] == "gaussian:1.2"
    expected = deblur(he_rgb, method="auto", psf="gaussian:1.2", axes="YXS", device="cpu")
    np.testing.assert_array_equal(out.data, expected)


def test_loaded_psf_aware_weights_run_with_the_psf_field(make_napari_viewer, qtbot, fluo_u8,
                                                         tmp_path, errors):
    """Weights of a PSF-aware architecture loaded in the session (e.g. fine-tuned with
    finetune --psf) run bound to the dock's PSF, with their card, as the core runs them."""
    from napari_microdeblur._widgets._methods import SESSION_MODELS, SessionModel
    from napari_microdeblur.core.checkpoint import load_model
    from napari_microdeblur.core.psf_aware import psf_aware_method

    model, card = load_model(bundled.bundled_path(DEFAULT_PSF_AWARE))
    SESSION_MODELS.add(SessionModel("my wiener", model, card, "loaded"))
    try:
        viewer, _, w = open_dock(make_napari_viewer, fluo_u8)
        w.set_method("my wiener")
        w.device_combo.setCurrentText("cpu")
        w.psf_edit.setText("")
        w.run_button.click()
        qtbot.wait(300)
        assert any("PSF" in e for e in errors()) and len(viewer.layers) == 1
        w.psf_edit.setText("gaussian:1.4")
        w.run_button.click()
        qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
        expected = deblur(fluo_u8, method=psf_aware_method(model, "gaussian:1.4", card),
                          axes="YX", device="cpu")
        np.testing.assert_allclose(viewer.layers[-1].data, expected, rtol=1e-5, atol=1e-5)
    finally:
        SESSION_MODELS.remove("my wiener")


def test_loaded_psf_aware_weights_run_on_an_rgb_layer(make_napari_viewer, qtbot, he_rgb,
                                                      errors):
    """A session PSF-aware network given a PSF takes an RGB layer (opponent colour space), as
    `deblur --weights FILE --psf` does; a grayscale blind one is still refused there."""
    from napari_microdeblur._widgets._methods import SESSION_MODELS, SessionModel
    from napari_microdeblur.core.checkpoint import load_model
    from napari_microdeblur.core.psf_aware import psf_aware_method

    model, card = load_model(bundled.bundled_path(DEFAULT_PSF_AWARE))
    SESSION_MODELS.add(SessionModel("my wiener", model, card, "loaded"))
    try:
        viewer = make_napari_viewer()
        layer = viewer.add_image(he_rgb, name="he", rgb=True)
        _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
        w.layer_combo.set_value(layer)
        w.set_method("my wiener")
        w.device_combo.setCurrentText("cpu")
        w.use_psf_check.setChecked(True)
        w.psf_edit.setText("gaussian:1.2")
        w.run_button.click()
        qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
        assert not errors()
        method = psf_aware_method(model, "gaussian:1.2", card, rgb=True)
        assert method.parameters["colour"] == "opponent"
        expected = deblur(he_rgb, method=method, axes="YXS", device="cpu")
        np.testing.assert_allclose(viewer.layers[-1].data, expected, rtol=1e-5, atol=1e-4)
    finally:
        SESSION_MODELS.remove("my wiener")


def test_noise_scale_shows_for_the_psf_aware_network_and_reaches_its_run(
        make_napari_viewer, qtbot, fluo_u8):
    viewer, _, w = open_dock(make_napari_viewer, fluo_u8)
    spin = w.psf_box.noise_scale_spin
    assert spin.isHidden()  # auto without a PSF: the blind network
    w.use_psf_check.setChecked(True)
    w.psf_edit.setText("gaussian:1.4")
    assert not spin.isHidden()
    spin.setValue(4.0)
    assert w.method.spec().noise_scale == 4.0
    w.set_method("wiener")
    assert spin.isHidden() and w.method.spec().noise_scale == 1.0
    w.set_method("auto")
    w.device_combo.setCurrentText("cpu")
    w.run_button.click()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    expected = deblur(fluo_u8, method="auto", psf="gaussian:1.4", noise_scale=4.0, axes="YX",
                      device="cpu")
    np.testing.assert_array_equal(viewer.layers[-1].data, expected)


def test_estimate_psf_from_image_fills_the_psf_box_and_the_run_uses_it(make_napari_viewer,
                                                                      qtbot, fluo_u8):
    from scipy import ndimage

    from napari_microdeblur.core.psf_estimate import estimate_psf

    blurred = ndimage.gaussian_filter(fluo_u8.astype(np.float32), 2.0)
    before = blurred.copy()
    viewer, layer, w = open_dock(make_napari_viewer, blurred, name="blurred")
    w.set_method("wiener")
    w.device_combo.setCurrentText("cpu")
    w.estimate_psf()
    qtbot.waitUntil(lambda: not w._workers and w.psf_edit.text() != "", timeout=TIMEOUT)
    expected = estimate_psf(blurred)
    assert w.psf_edit.text() == expected.spec
    assert "estimated from the image" in w.status_label.text()
    np.testing.assert_array_equal(layer.data, before)  # the layer is only read
    wait_preview(qtbot, w)
    assert w.psf_preview.description.startswith("2D PSF")
    # typing 'estimate' is accepted too: the preview estimates it from the chosen layer
    w.psf_edit.setText("estimate")
    wait_preview(qtbot, w)
    assert w.psf_preview.error is None
    assert w.psf_preview.description.startswith(f"estimated from the image: {expected.spec}; 2D")
    assert not w.psf_preview.image_label.pixmap().isNull()
    w.run_button.click()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    out = viewer.layers[-1]
    assert w.balance_spin.value() == 0  # the dock's default: 'auto'
    ref = deblur(blurred, method="wiener", psf=expected.kernel, device="cpu", balance="auto")
    np.testing.assert_allclose(out.data, ref, rtol=1e-5, atol=1e-3)


def test_em_auto_previews_the_psf_it_will_estimate(make_napari_viewer, qtbot, fluo_u8):
    from napari_microdeblur.core.psf_estimate import estimate_psf

    viewer, layer, w = open_dock(make_napari_viewer, fluo_u8)
    w.set_modality("em")
    w.use_psf_check.setChecked(True)  # shows the PSF box and its preview, the text empty
    w.psf_edit.setText("")
    wait_preview(qtbot, w)
    assert w.psf_preview.error is None
    expected = estimate_psf(fluo_u8)
    assert w.psf_preview.description.startswith(f"estimated from the image: {expected.spec}")
    w.set_modality("fluorescence")  # its blind network takes no PSF: nothing to estimate
    wait_preview(qtbot, w)
    assert w.psf_preview.description is None or "estimated" not in w.psf_preview.description


def test_estimate_without_an_image_layer_says_when_it_will_be_estimated(make_napari_viewer,
                                                                        qtbot):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.set_method("wiener")
    w.psf_edit.setText("estimate")
    wait_preview(qtbot, w)
    assert w.psf_preview.error is None and w.psf_preview.description is None
    assert "when the deblur runs" in w.psf_preview.caption.text()


def test_a_psf_the_preview_refused_is_refused_before_the_run_starts(make_napari_viewer, qtbot,
                                                                   fluo_u8, tmp_path):
    import tifffile

    viewer, layer, w = open_dock(make_napari_viewer, fluo_u8)
    bad = tmp_path / "nan_psf.tif"
    tifffile.imwrite(bad, np.full((9, 9), np.nan, np.float32))
    w.set_method("wiener")
    w.psf_edit.setText(str(bad))
    wait_preview(qtbot, w)
    assert w.psf_preview.error is not None and "NaN" in w.psf_preview.error
    n_layers = len(viewer.layers)
    assert w.run() is None  # nothing started
    assert "NaN" in w.status_label.text()
    assert len(viewer.layers) == n_layers


def test_an_overlap_not_smaller_than_the_tile_is_refused_before_the_run(make_napari_viewer,
                                                                       fluo_u8):
    viewer, layer, w = open_dock(make_napari_viewer, fluo_u8)
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")  # the box starts empty
    w.tile_mode.setCurrentText("custom")
    w.tile_spin.setValue(32)
    w.overlap_spin.setValue(64)
    n_layers = len(viewer.layers)
    assert w.run() is None
    assert "Overlap (64) must be smaller than Tile (32)" in w.status_label.text()
    assert len(viewer.layers) == n_layers
