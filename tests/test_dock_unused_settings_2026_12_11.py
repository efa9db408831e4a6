"""The Deblur dock fills every field of its method spec from its boxes: a setting the chosen
method does not read (Richardson-Lucy's iterations left set when the user switches to Wiener,
the image type beside a named network) goes back to its default, so the core's refusal of
unused settings (given by a user on the command line or in Python) never fires on a dock run."""

import numpy as np
import pytest

from napari_microdeblur.core.inference import deblur

PLUGIN = "napari-microdeblur"
TIMEOUT = 120_000


def _dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    return widget


def test_switching_from_rl_to_wiener_keeps_no_iterations(make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    layer = viewer.add_image(fluo_u8, name="nuclei")
    w = _dock(viewer)
    w.set_method("richardson_lucy")
    w.iterations_spin.setValue(7)
    w.tv_spin.setValue(0.002)
    w.set_method("wiener")
    w.balance_spin.setValue(0.05)
    w.psf_edit.setText("gaussian:1.5")
    run = w.run()
    assert run is not None, w.status_label.text()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    spec = run.layer.metadata["microdeblur"]["method_spec"]
    assert (spec["name"], spec["iterations"], spec["tv_weight"], spec["balance"]) == (
        "wiener", "auto", 0.0, 0.05)
    expected = deblur(layer.data, method="wiener", psf="gaussian:1.5", balance=0.05,
                      device="cpu")
    np.testing.assert_array_equal(run.layer.data, expected)


def test_a_named_network_records_no_image_type(make_napari_viewer, qtbot, fluo_u8):
    """The image-type box chooses among networks for 'auto' only: with a named network it is
    greyed out, and its last value was stored in the record as if it had been used."""
    from napari_microdeblur.core import bundled

    if "c2f_unet.fluorescence_v2" not in bundled.BUNDLED_WEIGHTS:
        pytest.skip("needs the bundled fluorescence network")
    viewer = make_napari_viewer()
    viewer.add_image(fluo_u8, name="nuclei")
    w = _dock(viewer)
    w.method.set_modality("em")
    assert w.method.spec("auto").modality == "em"
    assert w.method.spec("c2f_unet.fluorescence_v2").modality == "auto"


def test_the_start_line_names_rl_where_auto_runs_in_3d(make_napari_viewer, qtbot):
    """'auto' on a z-stack with a deep widefield PSF runs Richardson-Lucy in 3D: the request's
    label (the start line, the result's name) had named the PSF-aware network."""
    from test_auto3d_2026_12_05 import WALKTHROUGH, _walkthrough_stack

    from napari_microdeblur.core import bundled

    if not bundled.BUNDLED_WEIGHTS:
        pytest.skip("'auto' names a network only with bundled weights")
    viewer = make_napari_viewer()
    layer = viewer.add_image(_walkthrough_stack()[:, 1].astype(np.float32), name="gfp",
                             scale=(0.3, 0.1, 0.1))
    w = _dock(viewer)
    w.layer_combo.set_value(layer)
    w.scope_combo.setCurrentText("whole stack")
    w.use_psf_check.setChecked(True)
    w.psf_edit.setText(WALKTHROUGH[1])
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=60_000)
    assert w.build_request().label == "richardson_lucy"
