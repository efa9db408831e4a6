"""Audit of the "Deblur with default model" menu action and the Focus QC dock (2026-12-05,
sixth pass): the action clicked twice on one layer, the action on a multiscale layer, and the
Focus QC soft-tile outlines in the 3D view. Driven in a real viewer under Xvfb; tests wait on
conditions, never on fixed delays."""

from __future__ import annotations

import numpy as np
from test_focus_dock import dock, wait_idle
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    notes,
    snapshot,
)

from napari_microdeblur._widgets import _actions


def image(shape, seed=0):
    return (np.random.default_rng(seed).random(shape) * 200).astype(np.float32)


def structured(shape, seed=0):
    """``image`` plus an 8 px checkerboard: every tile holds structure (the Focus dock leaves
    tiles of background noise only out of its threshold and outlines)."""
    yy, xx = np.indices(shape)
    return image(shape, seed) + 300 * (((yy // 8) + (xx // 8)) % 2).astype(np.float32)


# ----------------------------------------------------------------------------- menu action


def test_the_action_clicked_twice_on_a_layer_runs_once(make_napari_viewer, qtbot,
                                                       notes):  # noqa: F811
    """A double click on Layers > Filter > Deblur with default model started two identical
    runs: twice the time, and two identical result layers."""
    viewer = make_napari_viewer()
    layer = viewer.add_image(image((48, 48)), name="cells", scale=(0.5, 0.5),
                             translate=(3, 4))
    before = snapshot(viewer)
    first = _actions.deblur_with_default_model(layer, viewer)
    second = _actions.deblur_with_default_model(layer, viewer)
    assert first is not None
    assert second is None  # was: a second run
    assert any("'cells' is already being deblurred" in m for m in notes.warnings())
    qtbot.waitUntil(lambda: first.done and not _actions.RUNNING, timeout=TIMEOUT)
    assert [la.name for la in viewer.layers][1:] == [first.layer.name]
    assert first.layer.name.startswith("cells deblurred [")
    assert tuple(first.layer.scale) == (0.5, 0.5) and tuple(first.layer.translate) == (3, 4)
    assert snapshot(viewer)[:1] == before
    again = _actions.deblur_with_default_model(layer, viewer)  # once done, it runs again
    assert again is not None
    qtbot.waitUntil(lambda: again.done and not _actions.RUNNING, timeout=TIMEOUT)
    assert len(viewer.layers) == 3


def test_the_action_on_a_multiscale_layer_says_what_it_deblurs(make_napari_viewer, qtbot,
                                                               notes):  # noqa: F811
    """On a multiscale layer the action deblurred its full-resolution level into a
    single-scale layer without a word: the user could not tell which level ran."""
    viewer = make_napari_viewer()
    levels = [image((64, 48)), image((32, 24), seed=1)]
    layer = viewer.add_image(levels, multiscale=True, name="slide", scale=(2, 2))
    copies = [level.copy() for level in levels]
    run = _actions.deblur_with_default_model(layer, viewer)
    assert run is not None
    said = [m for _, m in notes.all() if "deblurring 'slide'" in m]
    assert said and "full-resolution level (64 x 48)" in said[-1]  # was: not said
    assert "single-scale" in said[-1]
    qtbot.waitUntil(lambda: run.done and not _actions.RUNNING, timeout=TIMEOUT)
    assert run.layer.data.shape == (64, 48) and not run.layer.multiscale
    assert tuple(run.layer.scale) == (2, 2)
    assert all(np.array_equal(a, b) for a, b in zip(layer.data, copies, strict=True))


# ----------------------------------------------------------------------------- Focus QC


def test_focus_outlines_follow_the_threshold_in_the_3d_view(make_napari_viewer, qtbot):
    """With the viewer in 3D, moving the threshold (or scoring again) on a 2D layer raised
    napari's "all the input array dimensions ... must match" from the outline layer, and the
    outlines stopped following the threshold."""
    viewer = make_napari_viewer()
    layer = viewer.add_image(structured((64, 64)), name="plane", translate=(5, 6))
    w = dock(viewer)
    w.layer_combo.set_value(layer)
    w.unit_combo.setCurrentIndex(w.unit_combo.findData("tiles"))
    w.tile_spin.setValue(32)
    w.score()
    wait_idle(qtbot, w)
    viewer.dims.ndisplay = 3
    w.set_threshold(1e9)  # every tile soft (was: ValueError)
    assert w.outline_layer.nshapes == 4 and w.outline_layer.ndim == 2
    assert "4 of 4 tiles" in w.count_label.text()
    w.set_threshold(0)  # none soft
    assert w.outline_layer.nshapes == 0 and "0 of 4 tiles" in w.count_label.text()
    w.set_threshold(1e9)
    assert w.outline_layer.nshapes == 4
    layer.data = structured((96, 64), seed=2)  # new pixels: score again, still in 3D
    assert not w.scores_fresh()
    w.score()
    wait_idle(qtbot, w)
    assert w.scores.shape == (3, 2) and w.outline_layer.nshapes == 6
    assert tuple(w.outline_layer.translate) == (5, 6)
