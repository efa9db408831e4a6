"""Two defects a new-user walkthrough found (2026-12-10).

1. Layers > Filter > "Deblur with default model" and the Focus QC dock's default model ran
   'auto' without the layer's image type: on the EM sample (metadata modality 'em') the
   Deblur dock runs the PSF-aware network with a PSF estimated from the image, the menu entry
   and Focus QC the grayscale fluorescence network.
2. Focus QC's 256 px tile made one tile on a 256 px sample, whose automatic threshold (half
   its own score) selected nothing; that threshold then stayed for the next layer scored.

Driven in a real viewer under Xvfb; tests wait on conditions.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    PLUGIN,
    TIMEOUT,
    _clean_session,
    notes,
)

from napari_microdeblur._widgets import _actions
from napari_microdeblur._widgets._focus_data import default_threshold
from napari_microdeblur.core import bundled
from napari_microdeblur.core import focus as core_focus
from napari_microdeblur.core.method import MethodSpec

EM = "EM blurred (protocol C)"


def dock(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def score(qtbot, w):
    assert w.score() is not None
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)
    assert w.scores_fresh()


def em_sample(viewer):
    viewer.open_sample(PLUGIN, "em_pair")
    return viewer.layers[EM]


# ----------------------------------------------------------------------------- image type


def test_em_expects_another_network_than_grayscale_auto():
    """The premise of the tests below: the bundled table gives EM its own network."""
    em = bundled.auto_method_name(MethodSpec("auto", modality="em"), False)
    assert em != bundled.auto_method_name(MethodSpec("auto"), False)


def test_menu_action_runs_what_the_deblur_dock_runs(make_napari_viewer, qtbot, notes):  # noqa: F811
    viewer = make_napari_viewer()
    layer = em_sample(viewer)
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(layer)
    assert w.modality_combo.currentData() == "em"  # the dock reads the sample's metadata
    planned = w.build_request()
    run = _actions.deblur_with_default_model(layer, viewer)
    assert run is not None, notes.errors()
    # was: MethodSpec('auto') for fluorescence, labelled c2f_unet.fluorescence_v2
    assert run.req.method.modality == "em"
    assert run.req.label == planned.label
    assert any(f"deblurring {EM!r} with {planned.label}" in m for _, m in notes.all())
    qtbot.waitUntil(lambda: run.done and not _actions.RUNNING, timeout=TIMEOUT)
    assert run.layer is not None, notes.errors()
    ran = run.layer.metadata["microdeblur"]
    # the name says what ran: the planned network, or the blind one where no PSF was found
    assert run.layer.name == f"{EM} deblurred [{ran['method']}]"
    blind = bundled.auto_blind_fallback(run.req.method, False)
    assert ran["method"] in (planned.label, blind)


def test_focus_default_model_takes_the_layer_image_type(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer = em_sample(viewer)
    deblur = dock(viewer, "Deblur")
    deblur.layer_combo.set_value(layer)
    w = dock(viewer, "Focus QC")
    w.layer_combo.set_value(layer)
    score(qtbot, w)
    req, _ = w.build_request()
    assert req.method.modality == "em"  # was: 'auto', grayscale: fluorescence
    assert req.label == deblur.build_request().label
    assert req.label == bundled.auto_method_name(MethodSpec("auto", modality="em"), False)


def test_focus_default_model_without_stated_type_is_unchanged(make_napari_viewer, qtbot,
                                                              fluo_u8):
    viewer = make_napari_viewer()
    viewer.add_image(fluo_u8, name="nuclei")
    w = dock(viewer, "Focus QC")
    score(qtbot, w)
    req, _ = w.build_request()
    assert req.method.modality == "auto"
    assert req.label == bundled.auto_method_name(MethodSpec("auto"), False)


# ----------------------------------------------------------------------------- tiles


@pytest.mark.parametrize(("side", "tile"), [(96, 32), (128, 32), (256, 64), (512, 128),
                                            (1024, 256), (4096, 256), (8, 32)])
def test_auto_focus_tile(side, tile):
    from napari_microdeblur._widgets._focus_data import auto_focus_tile

    assert auto_focus_tile(side, 4 * side) == tile
    assert auto_focus_tile(4 * side, side) == tile  # the shorter side decides


def test_small_image_gets_several_tiles(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer = em_sample(viewer)  # 256 x 256
    w = dock(viewer, "Focus QC")
    w.layer_combo.set_value(layer)
    assert w.unit == "tiles"
    assert w.tile_spin.value() == 64  # was: 256, one tile
    score(qtbot, w)
    assert w.scores.shape == (4, 4)
    # the automatic threshold selects the softest tiles, not nothing
    assert 0 < int(w.soft_mask().sum()) < 16


def test_a_tile_the_user_set_is_kept_across_layers(make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    small = viewer.add_image(fluo_u8, name="small")  # 128 px: 32 px tiles
    big = viewer.add_image(np.tile(fluo_u8, (8, 8)), name="big")  # 1024 px: 256 px tiles
    w = dock(viewer, "Focus QC")
    w.layer_combo.set_value(small)
    assert w.tile_spin.value() == 32
    w.layer_combo.set_value(big)
    assert w.tile_spin.value() == 256
    w.tile_spin.setValue(96)  # the user's
    w.layer_combo.set_value(small)
    assert w.tile_spin.value() == 96


# ----------------------------------------------------------------------------- threshold


def test_automatic_threshold_follows_the_layer_scored(make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    first = viewer.add_image(fluo_u8, name="first")
    # a smoother image: every score far lower than the first's
    second = viewer.add_image(np.repeat(np.repeat(fluo_u8[::4, ::4], 4, 0), 4, 1),
                              name="second")
    w = dock(viewer, "Focus QC")
    w.layer_combo.set_value(first)
    w.tile_spin.setValue(32)
    score(qtbot, w)
    w.layer_combo.set_value(second)
    score(qtbot, w)
    scores = core_focus.focus_score(second.data, axes="YX", tile=32)
    has = core_focus.structure_tiles(second.data, axes="YX", tile=32)
    # was: the first layer's threshold, above every tile of the second
    assert w.threshold == pytest.approx(default_threshold(scores[has]), rel=1e-6)
    assert int(w.soft_mask().sum()) < int(has.sum())
    assert f"threshold {w.threshold:.4g}: half the median score (automatic)" in \
        w.status_label.text()


def test_a_typed_threshold_is_kept_across_layers(make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    first = viewer.add_image(fluo_u8, name="first")
    second = viewer.add_image(fluo_u8[::-1].copy(), name="second")
    w = dock(viewer, "Focus QC")
    w.layer_combo.set_value(first)
    score(qtbot, w)
    w.threshold_spin.setValue(0.0123)  # as typed
    w.layer_combo.set_value(second)
    score(qtbot, w)
    assert w.threshold == pytest.approx(0.0123, rel=1e-3)
    assert "automatic" not in w.status_label.text()


def test_every_tile_soft_under_a_typed_threshold_is_said(make_napari_viewer, qtbot, fluo_u8):
    from scipy import ndimage

    viewer = make_napari_viewer()
    viewer.add_image(fluo_u8, name="nuclei")
    w = dock(viewer, "Focus QC")
    score(qtbot, w)
    # a bright, low-contrast image of another kind (brightfield-like)
    other = viewer.add_image(ndimage.gaussian_filter(fluo_u8.astype(np.float32), 1.5) * 0.5
                             + 400, name="brightfield")
    w.layer_combo.set_value(other)
    score(qtbot, w)
    # was: '16 of 16 tiles below threshold', the threshold the nuclei's scores had set
    assert not w.count_label.text().startswith("16 of 16")
    w.set_threshold(1.0)  # the user's, above every tile
    score(qtbot, w)
    # tiles of background noise only are left out (the structure test of 2026-12-13): every
    # tile with structure is below the user's threshold, and the status says so
    soft = int(np.asarray(w.structure).sum())
    assert 0 < soft <= 16
    assert w.count_label.text().startswith(f"{soft} of 16 tiles below threshold")
    status = w.status_label.text()
    assert f"all {soft} tiles score below the threshold 1:" in status
    assert "Calibrate from layer" in status and "automatic" not in status
