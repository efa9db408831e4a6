"""The Deblur dock's last status line keeps what its start line said (the axes, a pyramid's
level, an alpha channel passed through) and says why 'auto' ran its blind network, which the
layer's record keeps too; the Focus QC result names its PSF as the Deblur dock's does; the
PSF estimate's line has one wording for the CLI, Python and the docks (2026-12-08). Driven in
a real viewer under Xvfb; runs are classical or tiny and tests wait on conditions."""

from __future__ import annotations

import numpy as np
from test_docks_audit_2026_12_04d import wait_preview
from test_widgets import _clean_session, dock, wait_idle, wait_run  # noqa: F401

from napari_microdeblur.core.inference import ALPHA_NOTE


def wiener_dock(viewer, data, **kwargs):
    layer = viewer.add_image(data, name="cells", **kwargs)
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(layer)
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.0")
    return layer, w


def finished(qtbot, w) -> str:
    wait_preview(qtbot, w)
    run = w.run()
    assert run is not None, w.status_label.text()
    wait_run(qtbot, run)
    return w.status_label.text()


def test_the_last_line_names_the_axes_it_ran_with(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, w = wiener_dock(viewer, np.random.default_rng(0).random((48, 48)).astype(np.float32))
    status = finished(qtbot, w)
    # was: "added '...' in 0.0 s on cpu (tile (48, 48), ...": the start line's axes were gone
    assert status.startswith("added 'cells deblurred [wiener, PSF gaussian:1.0]'")
    assert "(axes YX, tile (48, 48), overlap" in status


def test_the_last_line_says_the_alpha_channel_was_passed_through(make_napari_viewer, qtbot):
    rgba = np.random.default_rng(0).random((40, 40, 4)).astype(np.float32)
    viewer = make_napari_viewer()
    layer, w = wiener_dock(viewer, rgba)
    assert layer.rgb and w.axes_edit.text() == "YXS"
    status = finished(qtbot, w)
    assert "(axes YXS, tile" in status and status.endswith(ALPHA_NOTE)


def test_the_last_line_says_a_pyramid_ran_its_full_resolution_level(make_napari_viewer,
                                                                     qtbot):
    a = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    viewer = make_napari_viewer()
    _, w = wiener_dock(viewer, [a, a[::2, ::2], a[::4, ::4]], multiscale=True)
    assert "(axes YX, full-resolution level of 3, tile" in finished(qtbot, w)


def test_auto_says_and_records_why_it_ran_the_blind_network(make_napari_viewer, qtbot):
    """EM 'auto' estimates the PSF; a flat image gives none, and the blind network runs. The
    worker's warning was a notification only: the dock's last line and the record lacked it."""
    flat = np.full((40, 40), 0.5, np.float32)
    flat += np.random.default_rng(0).normal(0, 0.01, flat.shape).astype(np.float32)
    viewer = make_napari_viewer()
    layer = viewer.add_image(flat, name="flat")
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(layer)
    w.set_method("auto")
    w.use_psf_check.setChecked(False)
    w.set_modality("em")
    status = finished(qtbot, w)
    meta = viewer.layers[-1].metadata["microdeblur"]
    assert viewer.layers[-1].name == "flat deblurred [c2f_unet.em_v2]"
    assert meta["fallback"].startswith("no PSF could be estimated from this image (")
    assert meta["fallback"].endswith("ran the blind network c2f_unet.em_v2 instead")
    assert status.startswith("added 'flat deblurred [c2f_unet.em_v2]'")
    assert status.endswith(f"; {meta['fallback']}")


def test_a_run_that_estimated_its_psf_records_no_fallback(make_napari_viewer, qtbot,
                                                          fluo_u8):
    viewer = make_napari_viewer()
    _, w = wiener_dock(viewer, fluo_u8)
    w.psf_edit.setText("estimate")
    status = finished(qtbot, w)
    assert "fallback" not in viewer.layers[-1].metadata["microdeblur"]
    assert "blind" not in status


def test_focus_dock_names_the_psf_in_its_result(make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    layer = viewer.add_image(fluo_u8, name="nuclei")
    w = dock(viewer, "Focus QC")
    w.layer_combo.set_value(layer)
    w.tile_spin.setValue(32)
    w.score()
    wait_idle(qtbot, w)
    w.set_threshold(float(np.median(w.scores)))
    w.set_method("richardson_lucy")
    w.psf_edit.setText("disk:3")
    run = w.run()
    assert run is not None, w.status_label.text()
    wait_run(qtbot, run)
    # was: "nuclei deblurred [richardson_lucy] (focus < ...)", where the Deblur dock names it
    assert run.layer.name.startswith("nuclei deblurred [richardson_lucy, PSF disk:3] (focus < ")


def test_the_docks_psf_estimate_line_names_no_cli_option(make_napari_viewer, qtbot,
                                                         fluo_u8):
    viewer = make_napari_viewer()
    _, w = wiener_dock(viewer, fluo_u8)
    w.estimate_psf()
    wait_idle(qtbot, w)
    spec = w.psf_edit.text()
    assert spec.startswith(("gaussian:", "astig:"))
    # was: "...; pass --psf astig:... to reuse it": the dock has no --psf, and the PSF is set
    assert f"reuse it as the PSF '{spec}'" in w.status_label.text()
    assert "--psf" not in w.status_label.text()
