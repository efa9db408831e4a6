"""The Deblur dock with one PSF per channel ('A;B;C', core.channel_psfs), in a real viewer
under Xvfb: the preview shows the channel the viewer shows, a whole stack deblurs each channel
with its PSF as the core does, a 'current slice' runs its channel's PSF, and a layout that
cannot take the PSFs is refused when Run is pressed, with nothing started."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from test_deblur_dock_psf import TIMEOUT, errors, open_dock, tiny_bundled, wait_preview  # noqa: F401

from napari_microdeblur.core.inference import deblur

PSFS = ("gaussian:1", "gaussian:1.5", "gaussian:2.2")
RL = {"method": "richardson_lucy", "iterations": 5, "device": "cpu"}


def _channels(shape, seed=0):
    """Channels of different blur and brightness (float32, axes C + shape)."""
    rng = np.random.default_rng(seed)
    out = [gaussian_filter(rng.random(shape), s) * (1 + 9 * c) + 10 * c
           for c, s in enumerate((1.0, 1.5, 2.2))]
    return np.stack(out).astype(np.float32)


def _rl_dock(make_napari_viewer, qtbot, image, axes, psf):
    viewer, layer, w = open_dock(make_napari_viewer, image, name="cells")
    w.axes_edit.setText(axes)
    w.set_method("richardson_lucy")
    w.iterations_spin.setValue(RL["iterations"])
    w.device_combo.setCurrentText("cpu")
    w.psf_edit.setText(psf)
    wait_preview(qtbot, w)
    return viewer, layer, w


def _run(qtbot, w, viewer):
    count = len(viewer.layers)
    assert w.run() is not None, w.status_label.text()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    assert len(viewer.layers) == count + 1, w.status_label.text()
    return viewer.layers[-1]


def test_the_preview_shows_the_psf_of_the_channel_the_viewer_shows(make_napari_viewer, qtbot,
                                                                    errors):  # noqa: F811
    viewer, _, w = _rl_dock(make_napari_viewer, qtbot, _channels((40, 40)), "CYX", ";".join(PSFS))
    assert w.psf_preview.error is None
    # napari opens a stack on its middle index
    assert w.psf_preview.caption.text().startswith("channel 2 of 3: gaussian:1.5; 2D PSF")
    viewer.dims.set_current_step(0, 0)
    wait_preview(qtbot, w)
    assert w.psf_preview.caption.text().startswith("channel 1 of 3: gaussian:1; 2D PSF")
    viewer.dims.set_current_step(0, 2)  # the C slider
    wait_preview(qtbot, w)
    assert w.psf_preview.caption.text().startswith("channel 3 of 3: gaussian:2.2; 2D PSF")
    assert w.psf_preview.image_label.pixmap() is not None
    # a bad channel is shown as a single PSF's error, and Run refuses it
    w.psf_edit.setText("gaussian:1;gaussian:oops;gaussian:2")
    wait_preview(qtbot, w)
    assert w.psf_preview.error.startswith("channel 2 of psf: ")
    assert w.run() is None and w.last_run is None
    assert errors()[-1] == w.psf_preview.error
    # a PSF layer cannot be one channel's PSF: one line saying what to give instead
    w.psf_edit.setText("gaussian:1;layer:cells;gaussian:2")
    wait_preview(qtbot, w)
    assert "save the PSF layer as a .tif" in w.psf_preview.error


def test_a_whole_stack_deblurs_each_channel_with_its_psf(make_napari_viewer, qtbot):
    image = _channels((3, 40, 40))  # CZYX, 2D PSFs: each plane of each channel
    viewer, _, w = _rl_dock(make_napari_viewer, qtbot, image, "CZYX", ";".join(PSFS))
    out = _run(qtbot, w, viewer)
    assert out.data.shape == image.shape
    for c, psf in enumerate(PSFS):  # each channel as the core deblurs it alone
        expected = deblur(image[c], axes="ZYX", psf=psf, **RL)
        np.testing.assert_allclose(out.data[c], expected, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(out.data, deblur(image, axes="CZYX", psf=";".join(PSFS), **RL),
                               rtol=1e-4, atol=1e-3)
    assert out.metadata["microdeblur"]["method_spec"]["psf"] == ";".join(PSFS)
    assert ", 5/5/5 iterations)" in w.status_label.text()  # each channel's, not channel 1's


def test_a_current_slice_runs_its_channels_psf(make_napari_viewer, qtbot):
    image = _channels((3, 40, 40))
    viewer, _, w = _rl_dock(make_napari_viewer, qtbot, image, "CZYX", ";".join(PSFS))
    viewer.dims.set_current_step(0, 1)
    viewer.dims.set_current_step(1, 2)
    wait_preview(qtbot, w)
    assert w.psf_preview.caption.text().startswith("channel 2 of 3: gaussian:1.5;")
    w.scope_combo.setCurrentText("current slice")
    out = _run(qtbot, w, viewer)
    assert out.data.shape == (1, 1, 40, 40)
    assert out.metadata["microdeblur"]["method_spec"]["psf"] == PSFS[1]
    # as the whole-stack run gives that plane: channel 2 normalised on its own
    whole = deblur(image[1], axes="ZYX", psf=PSFS[1], **RL)
    np.testing.assert_allclose(out.data[0, 0], whole[2], rtol=1e-4, atol=1e-3)


def test_a_layout_that_cannot_take_the_psfs_is_refused_at_run(make_napari_viewer, qtbot,
                                                              errors):  # noqa: F811
    viewer, layer, w = _rl_dock(make_napari_viewer, qtbot, _channels((40, 40)), "CYX",
                                ";".join(PSFS[:2]))
    for scope in ("whole stack", "current slice"):
        w.scope_combo.setCurrentText(scope)
        assert w.run() is None and w.last_run is None
        assert errors()[-1] == ("the PSF box gives 2 PSFs (one per channel, separated by ';') "
                                "but layer 'cells' has 3 channels on its C axis; give 3 PSFs, "
                                "in channel order")
    # a layer opened with channel_axis: each layer is one channel and takes one PSF
    layers = viewer.add_image(_channels((40, 40)), channel_axis=0, name=["a", "b", "c"])
    w.layer_combo.set_value(layers[1])
    w.axes_edit.setText("YX")
    w.scope_combo.setCurrentText("whole stack")
    assert w.run() is None and w.last_run is None
    assert "(axes YX) has no channel axis C; set Axes to CYX if it holds channels, or give " \
        "one PSF" in errors()[-1]
    assert len(viewer.layers) == 4
    w.psf_edit.setText(PSFS[1])
    wait_preview(qtbot, w)
    out = _run(qtbot, w, viewer)
    np.testing.assert_allclose(out.data, deblur(np.asarray(layers[1].data), axes="YX",
                                                psf=PSFS[1], **RL), rtol=1e-4, atol=1e-3)


def test_auto_tile_estimate_and_custom_tile_with_a_psf_per_channel(make_napari_viewer, qtbot,
                                                                   errors):  # noqa: F811
    image = _channels((48, 48))[:2]
    psf = "gaussian:1;estimate"  # channel 2's PSF estimated from channel 2
    viewer, _, w = _rl_dock(make_napari_viewer, qtbot, image, "CYX", psf)
    viewer.dims.set_current_step(0, 1)
    wait_preview(qtbot, w)
    assert w.psf_preview.caption.text().startswith("channel 2 of 2: estimate; estimated from "
                                                   "the image: ")
    w.tile_mode.setCurrentText("auto (fits free memory)")
    out = _run(qtbot, w, viewer)
    np.testing.assert_allclose(out.data, deblur(image, axes="CYX", psf=psf, **RL),
                               rtol=1e-4, atol=1e-3)
    # a custom tile not larger than a channel's PSF: refused at Run, naming the channel
    w.psf_edit.setText("gaussian:1;gaussian:3")
    wait_preview(qtbot, w)
    w.tile_mode.setCurrentText("custom")
    w.tile_spin.setValue(16)
    count = len(viewer.layers)
    assert w.run() is None and len(viewer.layers) == count
    assert errors()[-1] == ("channel 2 of psf: tile 16 is not larger than the PSF 'gaussian:3' "
                            "(25 x 25 px); tiles below 48 leave no room for the 32 px "
                            "overlap 'richardson_lucy' needs between tiles: use a tile of at "
                            "least 48")


def test_focus_dock_refuses_one_psf_per_channel_before_any_work(make_napari_viewer, qtbot):
    """Selective deblurring runs one PSF: a per-channel text is refused in one line when the
    request is built (it failed in the worker, after the run had started)."""
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    viewer.add_image(rng.random((2, 64, 64)).astype(np.float32), name="cells")
    _, w = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Focus QC")
    w.axes_edit.setText("CYX")
    w.tile_spin.setValue(32)
    assert w.score() is not None
    qtbot.waitUntil(lambda: not w._workers, timeout=60_000)
    w.set_threshold(float(np.nanmax(w.scores)) + 1)
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.2;gaussian:2.0")
    with pytest.raises(ValueError, match="one PSF per channel.*give one PSF"):
        w.build_request()
    # a count unlike the layer's: the one-PSF rule first (not 'give 2 PSFs', then this)
    w.psf_edit.setText("gaussian:1.2;gaussian:2.0;gaussian:3.0")
    with pytest.raises(ValueError, match="one PSF per channel.*give one PSF"):
        w.build_request()


def test_the_z_slider_does_not_recompute_a_per_channel_preview(make_napari_viewer, qtbot,
                                                                monkeypatch):
    """Only the C slider changes which PSF the preview shows: a Z step re-estimated every
    'estimate' part from the whole layer."""
    image = _channels((3, 40, 40))[:2]
    viewer, _, w = _rl_dock(make_napari_viewer, qtbot, image, "CZYX", "estimate;gaussian:1.5")
    wait_preview(qtbot, w)
    calls = []
    real = w.update_psf_preview
    monkeypatch.setattr(w, "update_psf_preview", lambda *a: (calls.append(1), real(*a)))
    viewer.dims.set_current_step(1, 2)  # Z
    assert calls == []
    viewer.dims.set_current_step(0, 1)  # C
    assert calls == [1]
    wait_preview(qtbot, w)
    assert w.psf_preview.caption.text().startswith("channel 2 of 2: gaussian:1.5;")
