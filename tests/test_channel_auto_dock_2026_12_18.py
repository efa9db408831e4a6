"""One PSF on an image with channels (C) finds Richardson-Lucy's iterations='auto' and Wiener's
balance='auto' per channel in ``deblur()`` and ``microdeblur deblur``
(``image_settings.auto_per_channel``). The Deblur dock and a Zarr volume on a cluster settled
channel 1's value for all channels (and normalised the channels together), so they gave other
pixels than the CLI on the same input; ``--focus-below`` settles per plane, a channel being
one. Three channels of very different noise: balances 0.1, 0.0063, 0.00016; RL 10, 35, 100."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from napari_microdeblur.core.inference import deblur

PSF = "gaussian:1.6"
SETTING = {"wiener": "balance", "richardson_lucy": "iterations"}
TIMEOUT = 60_000  # ms


def _channels(n: int = 128) -> np.ndarray:
    """CYX float32: three textured channels blurred by ``PSF``, each far noisier than the next
    (as dim and bright stains are)."""
    rng = np.random.default_rng(0)
    sharp = np.stack([gaussian_filter(rng.random((n, n)), 1.5) for _ in range(3)]) * 1000 + 50
    blurred = np.stack([gaussian_filter(c, 1.6) for c in sharp])
    noise = np.array([30.0, 6.0, 1.0])[:, None, None] * rng.normal(size=blurred.shape)
    return (blurred + noise).astype(np.float32)


def _core(image, method: str, axes: str = "CYX"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return deblur(image, method=method, psf=PSF, axes=axes, device="cpu")


def _words(method: str, value) -> str:
    return f"balance {value:.3g}" if method == "wiener" else f"{value} iterations"


# ----------------------------------------------------------------------------- the Deblur dock


def _dock(make_napari_viewer, qtbot, image, method):
    viewer = make_napari_viewer()
    layer = viewer.add_image(image, name="cells")
    _, w = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Deblur")
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("CYX")
    w.set_method(method)  # iterations and balance at their lowest: 'auto'
    w.device_combo.setCurrentText("cpu")
    w.psf_edit.setText(PSF)
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    return viewer, w


def _run(qtbot, w):
    run = w.run()
    assert run is not None, w.status_label.text()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.error is None and run.layer is not None, w.status_label.text()
    return run


@pytest.mark.parametrize("method", ["wiener", "richardson_lucy"])
def test_the_dock_finds_auto_per_channel_as_deblur_does(make_napari_viewer, qtbot, method):
    image = _channels()
    viewer, w = _dock(make_napari_viewer, qtbot, image, method)
    run = _run(qtbot, w)
    # the pixels deblur() and the CLI give (channel 1's value had run on every channel)
    np.testing.assert_array_equal(run.layer.data, _core(image, method))
    meta = run.layer.metadata["microdeblur"]
    found = [entry["parameters"][SETTING[method]] for entry in meta["channels"]]
    assert len(set(found)) == 3, found
    # the status line gives each channel's value, and the run's lines name each channel
    line = w.status_label.text()
    each = "/".join(format(v, ".3g") if method == "wiener" else str(v) for v in found)
    assert (f", balance {each})" if method == "wiener" else f", {each} iterations)") in line
    for i, value in enumerate(found):
        assert f"channel {i + 1}: {method}: {_words(method, value)}" in line, line


@pytest.mark.parametrize("method", ["wiener", "richardson_lucy"])
def test_a_slice_of_one_channel_is_normalised_on_that_channel(make_napari_viewer, qtbot,
                                                              method):
    """The whole stack normalises each channel on its own now: a slice of channel 3 comes
    out as that channel of the whole stack's run (it was normalised on all three)."""
    image = _channels()
    viewer, w = _dock(make_napari_viewer, qtbot, image, method)
    viewer.dims.set_current_step(0, 2)
    w.scope_combo.setCurrentText("current slice")
    run = _run(qtbot, w)
    assert run.layer.data.shape == (1, *image.shape[1:])
    np.testing.assert_array_equal(run.layer.data[0], _core(image, method)[2])


# ----------------------------------------------------------------------------- --focus-below


def test_selective_deblurring_settles_each_channel_on_its_own():
    """Already so (a channel is a plane that settles on its soft part): kept."""
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.selective import deblur_selected

    image = _channels(96)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = deblur_selected(image, MethodSpec("wiener", psf=PSF), axes="CYX",
                                 threshold=1e9, skip_background=False)
        alone = [deblur(image[i], method="wiener", psf=PSF, axes="YX", device="cpu",
                        output_dtype="float32") for i in range(3)]
    found = [part.settings["balance"] for part in result.settled]
    assert len(set(found)) == 3, found
    assert [p.plane for p in result.settled] == [(0,), (1,), (2,)]
    for i in range(3):  # each channel as deblur() runs it alone, to float32 rounding
        np.testing.assert_allclose(result.image[i], alone[i], rtol=1e-4, atol=1e-2)


# ----------------------------------------------------------------------------- a Zarr on a cluster


@pytest.mark.parametrize("method", ["wiener", "richardson_lucy"])
def test_a_zarr_volume_on_a_cluster_finds_auto_per_channel(client, tmp_path, method):
    from napari_microdeblur.core import io, io_write
    from napari_microdeblur.core.cluster import deblur_zarr_on_cluster
    from napari_microdeblur.core.provenance import RECORD_KEY

    image = _channels()
    src, out = tmp_path / "cells.zarr", tmp_path / "out.zarr"
    with io_write.open_zarr_output(src, image.shape, image.dtype, axes="CYX",
                                   chunks=(1, 64, 64)) as target:
        target[...] = image
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        deblur_zarr_on_cluster(src, out, scheduler=client, method=method, psf=PSF,
                               device="cpu")
    written = io.read_image(out)
    expected = _core(image, method)
    # as one machine runs it, to float32 rounding
    assert np.abs(np.asarray(written.array[...]) - expected).max() < 1e-3 * expected.max()
    found = [entry["parameters"][SETTING[method]]
             for entry in written.metadata[RECORD_KEY]["channels"]]
    assert len(set(found)) == 3, found
    lines = [str(w.message) for w in said]
    for i, value in enumerate(found):
        assert any(line.startswith(f"channel {i + 1}: {method}: {_words(method, value)}")
                   for line in lines), lines
