"""The Deblur dock says where Image type auto takes a grayscale layer for fluorescence, as the
command line and the Python API do: on the image-type line (a short second line, the whole
line in its tooltip) and after the run in the status line. An RGB layer gets no such line (the
command line says none), nor does a layer stating its modality, a PSF, or another method."""

from __future__ import annotations

import numpy as np

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms
WORDS = ("Image type auto: grayscale, so run as fluorescence; for EM images choose Image "
         "type EM")


def image(shape=(48, 48), seed=0):
    return (np.random.default_rng(seed).random(shape) * 200).astype(np.float32)


def open_dock(viewer, layer):
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    return w


def says_fluorescence(w) -> bool:
    label = w.method.auto_label
    return "as fluorescence; for EM choose EM" in label.text() and WORDS in label.toolTip()


def test_gray_auto_layer_says_it_runs_as_fluorescence_and_how_to_choose_em(make_napari_viewer):
    viewer = make_napari_viewer()
    w = open_dock(viewer, viewer.add_image(image(), name="g"))
    assert w.modality_combo.currentData() == "auto"
    text = w.method.auto_label.text()
    assert text.startswith("\u2192 c2f_unet.fluorescence_v2") and "choose EM" in text
    assert says_fluorescence(w)
    assert w.method.auto_label.toolTip().startswith("What 'auto' runs on this image.")
    w.set_modality("em")  # chosen: no line, and the tooltip is the panel's own again
    assert "fluorescence" not in w.method.auto_label.text()
    assert w.method.auto_label.toolTip() == "What 'auto' runs on this image."
    w.set_modality("auto")  # auto chosen by hand still runs a gray layer as fluorescence
    assert says_fluorescence(w)
    w.use_psf_check.setChecked(True)  # a required PSF missing: nothing runs
    assert "nothing until the PSF is fixed" in w.method.auto_label.text()
    assert not says_fluorescence(w)
    w.psf_edit.setText("gaussian:1.6")  # a PSF: the PSF-aware network, whatever the type
    assert not says_fluorescence(w)
    w.use_psf_check.setChecked(False)
    assert says_fluorescence(w)
    w.set_method("wiener")
    assert w.method.auto_label.text() == "" and not says_fluorescence(w)


def test_a_stated_modality_or_an_rgb_layer_gets_no_fluorescence_line(make_napari_viewer):
    viewer = make_napari_viewer()
    em = viewer.add_image(image(), name="em", metadata={"modality": "em"})
    w = open_dock(viewer, em)
    assert w.modality_combo.currentData() == "em" and not says_fluorescence(w)
    rgb = viewer.add_image((image((48, 48, 3)) % 255).astype(np.uint8), name="rgb", rgb=True)
    w.layer_combo.set_value(rgb)
    assert w.modality_combo.currentData() == "auto"
    assert "fluorescence" not in w.method.auto_label.text() and not says_fluorescence(w)
    w.layer_combo.set_value(viewer.add_image(image(seed=1), name="gray"))
    assert says_fluorescence(w)


def test_after_the_run_the_status_says_it_ran_as_fluorescence(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    w = open_dock(viewer, viewer.add_image(image(), name="g"))
    run = w.run()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    status = w.status_label.text()
    assert status.startswith("added 'g deblurred [c2f_unet.fluorescence_v2]'")
    assert f"; {WORDS}, for gray brightfield Image type brightfield" in status
    assert status.count("grayscale") == 1  # said once, not again among the warnings
    assert "\n" not in status
    w.set_modality("fluorescence")  # chosen: the status says nothing more
    run = w.run()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert "grayscale" not in w.status_label.text()


def test_the_line_keeps_the_dock_narrow_and_run_in_view_at_1366_by_768(
        make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    w = open_dock(viewer, viewer.add_image(image((256, 256)), name="cells"))
    window.resize(1366, 768)
    qtbot.wait(300)
    assert says_fluorescence(w)
    noted = w.minimumSizeHint().width()
    w.set_modality("fluorescence")
    qtbot.wait(100)
    assert noted - w.minimumSizeHint().width() <= 100  # the long line is in the tooltip
    w.set_modality("auto")
    window.resize(1366, 768)
    qtbot.wait(300)
    view = w.scroll_area.viewport()
    for widget in (w.run_button, w.status_label):
        assert widget.mapTo(view, widget.rect().bottomLeft()).y() <= view.height()


def test_the_status_says_when_the_result_it_names_is_removed(make_napari_viewer, qtbot):
    """The Deblur dock went on saying "added 'NAME' ..." of a result the user had deleted."""
    viewer = make_napari_viewer()
    w = open_dock(viewer, viewer.add_image(image(), name="g"))
    w.set_modality("fluorescence")
    run = w.run()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert w.status_label.text().startswith("added 'g deblurred")
    viewer.layers.remove(run.layer)
    assert w.status_label.text() == "the last result, 'g deblurred [c2f_unet.fluorescence_v2]', " \
                                    "was removed"
