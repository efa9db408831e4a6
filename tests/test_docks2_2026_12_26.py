"""Dock walkthrough 2026-12-26 (docks2).

1. A layer with a flipped axis (scale (-0.2, 0.2) um) was read as "Y -0.2 and X 0.2 um, no
   pixel size": an optics PSF without pixel= was neither filled nor run. The sign only flips
   the axis on screen; the pixel size is 0.2 um (``_layer_file.layer_pixel_sizes``).
2. Fine-tune's comparison showed the 'sharp target' crop with the blurry layer's contrast
   limits and colormap: it is now shown as the sharp layer is (``_finetune_compare``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

PLUGIN = "napari-microdeblur"
WIDEFIELD = "widefield:na=1.2,wavelength=0.52,ni=1.33"


def values(text):
    return dict(item.split("=") for item in text.partition(":")[2].split(","))


# ----------------------------------------------------------------------------- flipped axis


@pytest.mark.parametrize("scale, units", [((-0.2, 0.2), ("um", "um")),
                                          ((0.2, -0.2), ("pixel", "pixel")),
                                          ((-200, -200), ("nm", "nm"))])
def test_a_flipped_axis_states_the_layer_s_pixel_size(make_napari_viewer, scale, units):
    from napari_microdeblur._widgets._layer_file import layer_pixel_sizes
    from napari_microdeblur._widgets._psf_sources import missing_pixel_note, sampling_with_origins

    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((16, 16), np.float32), name="flipped", scale=scale,
                             units=units)
    sizes, _ = layer_pixel_sizes(layer, "YX")
    assert sizes == pytest.approx({"Y": 0.2, "X": 0.2})
    found, origins = sampling_with_origins(layer, "YX")
    assert found == pytest.approx({"pixel": 0.2})
    assert origins == {"pixel": "layer 'flipped' scale"}
    assert missing_pixel_note(WIDEFIELD, layer, "YX") is None


def test_a_flipped_unit_scale_is_no_pixel_size():
    """(-1, 1) is napari's default scale flipped: it states no size (the file's is read)."""
    from napari.layers import Image

    from napari_microdeblur._widgets._layer_file import layer_pixel_sizes
    from napari_microdeblur._widgets._psf_sources import missing_pixel_note

    layer = Image(np.zeros((16, 16), np.float32), name="flipped", scale=(-1, 1))
    assert layer_pixel_sizes(layer, "YX") == ({}, {})
    assert "states no pixel size (scale 1)" in missing_pixel_note(WIDEFIELD, layer, "YX")


def test_the_deblur_dock_fills_pixel_and_runs_on_a_flipped_layer(make_napari_viewer, qtbot):
    """The walkthrough's case: Run was refused with 'states Y -0.2 and X 0.2 um'."""
    viewer = make_napari_viewer()
    image = np.random.default_rng(0).random((48, 48)).astype(np.float32)
    layer = viewer.add_image(image, name="flipped", scale=(-0.2, 0.2), units=("um", "um"))
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    w.device_combo.setCurrentText("cpu")
    w.set_method("richardson_lucy")
    w.iterations_spin.setValue(2)
    w.psf_edit.setText(WIDEFIELD)
    assert values(w.psf_edit.text())["pixel"] == "0.2"
    assert w.psf_prefill.hint.text() == "pixel=0.2 from layer 'flipped' scale"
    assert w.psf_prefill.missing_pixel() == ""
    run = w.run()
    assert run is not None, w.status_label.text()
    qtbot.waitUntil(lambda: run.done, timeout=60000)
    assert run.layer is not None, w.status_label.text()
    assert list(run.layer.scale) == pytest.approx([-0.2, 0.2])  # shown like its input


def test_a_psf_from_flipped_beads_records_positive_pixel_sizes(make_napari_viewer, qtbot):
    """Its record kept Y -0.1 (a PSF TIFF with a negative size); its layer stays flipped as
    the beads are shown."""
    from test_psf_beads_2026_12_17 import _bead_stack

    from napari_microdeblur._widgets._psf_sources import measure_psf_from_beads

    viewer = make_napari_viewer()
    layer = viewer.add_image(_bead_stack((8, 10, 19, 20)), name="beads",
                             scale=(0.3, -0.1, 0.1))
    said, failed = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
        measure_psf_from_beads(dock, viewer, layer, measured=lambda text, line: said.append(text),
                               failed=failed.append)
        qtbot.waitUntil(lambda: bool(said or failed), timeout=60000)
    assert not failed, failed
    psf_layer = viewer.layers[said[0].partition(":")[2]]
    record = psf_layer.metadata["microdeblur"]["pixel_size"]
    assert record == pytest.approx({"Z": 0.3, "Y": 0.1, "X": 0.1})
    assert list(psf_layer.scale) == pytest.approx([0.3, -0.1, 0.1])


# ----------------------------------------------------------------------------- comparison


def _pair(viewer):
    rng = np.random.default_rng(0)
    sharp = (rng.random((40, 40)) * 120).astype(np.float32)
    blurry = sharp * 0.5 + 10
    kw = dict(scale=(0.3, 0.3), translate=(10, 20), units=("um", "um"))
    sharp_layer = viewer.add_image(sharp, name="cells in-focus", contrast_limits=(0, 120),
                                   gamma=0.8, **kw)
    blurry_layer = viewer.add_image(blurry, name="cells", contrast_limits=(5, 100),
                                    colormap="green", **kw)
    return blurry_layer, sharp_layer


def _shown(layer):
    return tuple(layer.contrast_limits), layer.colormap.name, layer.gamma


def test_the_sharp_target_is_shown_like_the_sharp_layer(make_napari_viewer):
    from napari_microdeblur._widgets._finetune_compare import add_comparison, held_out_region

    viewer = make_napari_viewer()
    blurry, sharp = _pair(viewer)
    before = {la.name: _shown(la) for la in viewer.layers}
    region = held_out_region(blurry, "YX", ("X", 32, 40), sharp=sharp)
    layers = add_comparison(viewer, region, "base", "tuned", [region.image, region.image])
    assert _shown(layers["target"]) == ((0, 120), "gray", 0.8)
    for role in ("input", "base", "tuned"):
        assert _shown(layers[role]) == ((5, 100), "green", 1.0), role
    assert {la.name: _shown(la) for la in (blurry, sharp)} == before  # the user's untouched


def test_an_in_focus_plane_target_is_shown_like_the_stack(make_napari_viewer):
    """No sharp layer (the target is the stack's own in-focus plane): the stack's display."""
    from napari_microdeblur._widgets._finetune_compare import add_comparison, held_out_region

    viewer = make_napari_viewer()
    stack = np.random.default_rng(1).random((3, 24, 24)).astype(np.float32) * 50
    layer = viewer.add_image(stack, name="stack", contrast_limits=(2, 40), colormap="magenta")
    region = held_out_region(layer, "ZYX", ("X", 16, 24), focus=1)
    layers = add_comparison(viewer, region, "base", "tuned", [region.image, region.image])
    assert _shown(layers["target"]) == ((2, 40), "magenta", 1.0)
