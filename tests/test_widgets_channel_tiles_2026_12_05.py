"""A Deblur dock result with one PSF per channel ('A;B', ``core.channel_psfs``): each channel is
tiled with its own overlap (a wider PSF reaches further), so the tile-grid overlay of the
Compare dock draws the tiles of the channel the viewer shows and says which, where it drew
channel 1's tiles on every channel."""

from __future__ import annotations

import numpy as np
import pytest

from napari_microdeblur.core.inference import prepare_deblur
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.tiling import plan_tiles
from napari_microdeblur.core.tiling_spec import TilingSpec

PLUGIN = "napari-microdeblur"
PSFS = ("gaussian:1", "gaussian:6")
TIMEOUT = 120_000


def alone(image, psf):
    """(tile, overlap) of one channel deblurred on its own, as the core tiles it."""
    spec = MethodSpec(name="richardson_lucy", psf=psf, iterations=1)
    result = prepare_deblur(image, "YX", spec, TilingSpec(tile=64, device="cpu")).run()
    return tuple(result.tile), tuple(result.overlap)


@pytest.fixture
def per_channel_result(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = np.random.default_rng(0).random((2, 160, 160)).astype(np.float32)
    layer = viewer.add_image(image, name="cells")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("CYX")
    w.set_method("richardson_lucy")
    w.iterations_spin.setValue(1)
    w.device_combo.setCurrentText("cpu")
    w.tile_mode.setCurrentText("custom")
    w.tile_spin.setValue(64)
    w.psf_edit.setText(";".join(PSFS))
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    assert w.run() is not None, w.status_label.text()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    out = w.last_run.layer
    assert out is not None, w.status_label.text()
    return viewer, image, out


def test_the_tile_grid_is_the_shown_channel_s(per_channel_result, monkeypatch):
    from napari_microdeblur._widgets import _feedback

    viewer, image, out = per_channel_result
    said = []
    monkeypatch.setattr(_feedback, "notify_info", said.append)
    tilings = [alone(image[c], psf) for c, psf in enumerate(PSFS)]
    assert tilings[0][1] != tilings[1][1]  # the wider PSF overlaps more
    _, compare = viewer.window.add_plugin_dock_widget(PLUGIN, "Compare & QC")
    compare.deblurred_combo.set_value(out)
    for c in (1, 0):  # channel 2 first: its tiles are not channel 1's
        tile, overlap = tilings[c]
        viewer.dims.set_current_step(0, c)  # the C slider
        grid = compare.add_tile_grid()
        assert grid is not None
        record = grid.metadata["microdeblur"]
        assert (tuple(record["tile"]), tuple(record["overlap"])) == (tile, overlap)
        assert len(grid.data) == len(plan_tiles((160, 160), tile, overlap))
        assert grid.name.endswith(f"(channel {c + 1} of 2)")
        assert said[-1].startswith(f"channel {c + 1} of 2 (channels were tiled differently")


def test_channels_tiled_alike_give_one_grid_as_before(make_napari_viewer):
    """A record whose channels share their tiling: the grid says no channel."""
    from napari_microdeblur._widgets._layer_data import tile_grid_layer

    viewer = make_napari_viewer()
    same = {"tile": [64, 64], "overlap": [16, 16]}
    layer = viewer.add_image(np.zeros((2, 100, 100), np.float32), metadata={"microdeblur": {
        "axes": "CYX", "tile": [64, 64], "overlap": [16, 16],
        "parameters": {"channels": [same, same]}}})
    rects, kwargs, _ = tile_grid_layer(layer, plan_tiles, 1)
    assert kwargs["name"] == f"tile grid of {layer.name}"
    assert kwargs["metadata"]["microdeblur"]["channel"] == ""
    assert len(rects) == len(plan_tiles((100, 100), 64, 16))
