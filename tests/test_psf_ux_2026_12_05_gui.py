"""A layer deblurred in the Deblur dock and saved with ``layer.save(..., plugin=...)`` reads
back in ``microdeblur info`` as a CLI output does: its source, method, version and PSF
(2026-12-05: it printed 'made from None, None, microdeblur None' and no PSF)."""

from __future__ import annotations

TIMEOUT = 60_000  # ms


def test_a_layer_deblurred_in_the_dock_and_saved_reads_back_in_info(
        make_napari_viewer, qtbot, fluo_u8, tmp_path, capsys):
    from napari_microdeblur import __version__
    from napari_microdeblur.cli import main

    viewer = make_napari_viewer()
    layer = viewer.add_image(fluo_u8, name="nuclei")
    _, w = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Deblur")
    w.layer_combo.set_value(layer)
    w.set_method("wiener")
    w.use_psf_check.setChecked(True)
    w.psf_edit.setText("gaussian:1.5")
    w.device_combo.setCurrentText("cpu")
    w.run_button.click()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    out = viewer.layers[-1]
    path = tmp_path / "out.tif"
    out.save(str(path), plugin="napari-microdeblur")
    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    said = capsys.readouterr().out
    assert "deblurred: wiener, PSF gaussian:1.5" in said
    assert "made from napari layer 'nuclei', saved 20" in said
    assert f"microdeblur {__version__}" in said and "None" not in said
