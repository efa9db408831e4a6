"""The Deblur dock fills every field of its method spec from its boxes: a setting the chosen
method does not read (Richardson-Lucy's iterations left set when the user switches to Wiener,
the image type beside a named network) goes back to its default, so the core's refusal of
unused settings (given by a user on the command line or in Python) never fires on a dock run."""

import numpy as np

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
