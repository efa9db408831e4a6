"""GUI-thread stalls of the Focus QC and Compare & QC docks (walkthrough 2026-12-24).

A Focus QC threshold change emptied the soft-tile outline layer and set its name and five
transforms again (each a refresh of the layer and of napari's dims: 0.3-0.7 s with 2048^2
layers open) before triangulating every soft tile anew; outlines were added 128 a turn
whatever a turn took (0.5 s turns on Calibrate with 4096 tiles); Side by side set the
visibility of every layer, moved the trio one layer at a time and restored the viewer with
the grid still on, so napari rebuilt its grid at each step (1.4-4.7 s on, 0.6-2.5 s off).
napari's refreshes and events are counted here, not timed."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest
from test_docks_audit_2026_12_05f import structured
from test_focus_dock import dock, score
from test_widgets import TIMEOUT, _clean_session  # noqa: F401 - the same autouse fixture

PLACEMENT = ("scale", "translate", "rotate", "shear", "affine")

# ----------------------------------------------------------------------------- Focus QC


def scored(viewer, qtbot, name="field", tile=16, side=128, **placement):
    layer = viewer.add_image(structured((side, side), seed=len(viewer.layers)), name=name,
                             **placement)
    w = dock(viewer)
    w.layer_combo.set_value(layer)
    w.unit_combo.setCurrentIndex(w.unit_combo.findData("tiles"))
    w.tile_spin.setValue(tile)
    score(qtbot, w)
    return layer, w


def settle(qtbot, w):
    qtbot.waitUntil(lambda: not w.overlays.pending, timeout=TIMEOUT)


def between(scores, k: int) -> float:
    """A threshold with the ``k`` lowest scores below it (midway to the next one)."""
    ordered = np.unique(scores)
    return float((ordered[k - 1] + ordered[k]) / 2)


def counter(events) -> list:
    seen = []
    events.connect(lambda event: seen.append(event.type))
    return seen


def spy_added(monkeypatch, layer) -> list:
    """The number of rectangles each add_rectangles call on ``layer`` adds."""
    added = []
    add = layer.add_rectangles

    def counting(data, **kwargs):
        added.append(len(data))
        return add(data, **kwargs)

    monkeypatch.setattr(layer, "add_rectangles", counting)
    return added


def outline_state(layer):
    """What the user sees of an outline layer: its rectangles (in any order) and style, its
    placement, name and metadata."""
    shapes = sorted(
        (np.asarray(d, dtype=np.float32).round(3).tobytes(), kind, float(width),
         tuple(np.round(edge, 4)), tuple(np.round(face, 4)))
        for d, kind, width, edge, face in zip(layer.data, layer.shape_type, layer.edge_width,
                                              layer.edge_color, layer.face_color))
    placement = tuple(np.asarray(getattr(getattr(layer, key), "affine_matrix",
                                         getattr(layer, key)), dtype=float).round(9).tobytes()
                      for key in PLACEMENT)
    meta = dict(layer.metadata["microdeblur"])
    return shapes, placement, layer.name, meta, layer.visible


def test_a_threshold_change_sets_no_placement_and_redraws_only_the_tiles_that_changed(
        make_napari_viewer, qtbot, monkeypatch):
    """Was: ``data = []``, name, scale, translate, rotate, shear, affine and metadata set,
    then every soft tile triangulated again: 7 refreshes and all k rectangles added."""
    viewer = make_napari_viewer()
    _, w = scored(viewer, qtbot, scale=(0.5, 0.5), translate=(3, -2), rotate=10)
    w.set_threshold(between(w.scores, 20))
    settle(qtbot, w)
    outlines = w.outline_layer
    transforms = {key: counter(getattr(outlines.events, key)) for key in PLACEMENT}
    redraws = counter(outlines.events.set_data)
    added = spy_added(monkeypatch, outlines)
    before = w.soft_mask().copy()

    w.set_threshold(between(w.scores, 23))  # three more tiles soft
    settle(qtbot, w)
    after = w.soft_mask()
    assert int((after & ~before).sum()) == 3 and not (before & ~after).any()
    assert outlines.nshapes == int(after.sum()) == 23
    assert sum(added) == 3  # was 23: the 20 still soft triangulated again
    assert {key: len(seen) for key, seen in transforms.items()} == dict.fromkeys(PLACEMENT, 0)
    assert len(redraws) <= 1  # was 7

    del redraws[:], added[:]
    w.set_threshold(between(w.scores, 18))  # five no longer soft: removed, none added
    settle(qtbot, w)
    assert outlines.nshapes == 18 and sum(added) == 0
    assert len(redraws) <= 1
    assert outlines.metadata["microdeblur"]["threshold"] == pytest.approx(w.threshold)
    assert outlines.metadata["microdeblur"]["tiles"] == 18


def test_outlines_after_threshold_changes_are_those_drawn_anew(make_napari_viewer, qtbot):
    """Kept, removed and added outlines (a change while batches were pending too) leave the
    layer as a fresh drawing of the same threshold: rectangles, style, placement, name."""
    viewer = make_napari_viewer()
    _, w = scored(viewer, qtbot, side=256, scale=(2.0, 2.0), translate=(5, 7))
    for k in (40, 256, 10):  # 256: all tiles, in batches; then changed before they finish
        w.set_threshold(between(w.scores, k) if k < w.scores.size else w.scores.max() * 2)
    settle(qtbot, w)
    w.set_threshold(between(w.scores, 100))
    settle(qtbot, w)
    updated = outline_state(w.outline_layer)
    assert len(updated[0]) == 100
    viewer.layers.remove(w.outline_layer)
    w.set_threshold(between(w.scores, 100))  # drawn anew in a new layer
    settle(qtbot, w)
    assert outline_state(w.outline_layer) == updated


def test_outlines_follow_an_image_moved_since_they_were_drawn(make_napari_viewer, qtbot):
    """The placement is set where it changed: the image's scale and translate changed."""
    viewer = make_napari_viewer()
    layer, w = scored(viewer, qtbot)
    w.set_threshold(between(w.scores, 10))
    settle(qtbot, w)
    outlines = w.outline_layer
    transforms = {key: counter(getattr(outlines.events, key)) for key in PLACEMENT}
    layer.scale = (3.0, 3.0)
    layer.translate = (10.0, 20.0)
    w.set_threshold(between(w.scores, 12))
    settle(qtbot, w)
    assert tuple(outlines.scale) == (3.0, 3.0) and tuple(outlines.translate) == (10.0, 20.0)
    assert [len(transforms[key]) for key in PLACEMENT] == [1, 1, 0, 0, 0]


def test_a_threshold_change_leaves_hidden_overlays_of_other_layers_alone(make_napari_viewer,
                                                                         qtbot):
    """The overlays of another scored layer, hidden already, were hidden again on every
    change (a refresh and a scene-graph update each)."""
    viewer = make_napari_viewer()
    _, first = scored(viewer, qtbot, name="first")
    first.set_threshold(between(first.scores, 10))
    settle(qtbot, first)
    theirs = [first.heatmap_layer, first.outline_layer]
    _, w = scored(viewer, qtbot, name="second")
    w.set_threshold(between(w.scores, 10))
    settle(qtbot, w)
    assert not any(la.visible for la in theirs)
    seen = [counter(la.events.visible) for la in theirs]
    for k in (12, 14, 9):
        w.set_threshold(between(w.scores, k))
    settle(qtbot, w)
    assert seen == [[], []]  # was three each
    assert not any(la.visible for la in theirs)


def test_outline_batches_are_sized_to_a_short_turn(make_napari_viewer, qtbot, monkeypatch):
    """A turn added 128 rectangles whatever they took (0.5 s a turn on Calibrate with 4096
    tiles). napari's cost is simulated here on a clock the batches read: 30 ms a call plus
    2 ms a rectangle; after the first turns, none takes more than 0.15 s."""
    viewer = make_napari_viewer()
    _, w = scored(viewer, qtbot, side=256)
    w.set_threshold(between(w.scores, 5))
    settle(qtbot, w)
    outlines = w.outline_layer
    clock = SimpleNamespace(now=0.0)
    turns = []
    add = outlines.add_rectangles

    def slow_add(data, **kwargs):
        cost = 0.030 + 0.002 * len(data)
        clock.now += cost
        turns.append(cost)
        return add(data, **kwargs)

    monkeypatch.setattr(outlines, "add_rectangles", slow_add)
    batches = sys.modules[type(w.overlays._batches).__module__]
    monkeypatch.setattr(batches, "time", SimpleNamespace(perf_counter=lambda: clock.now),
                        raising=False)
    w.set_threshold(w.scores.max() * 2)  # all 256 tiles
    settle(qtbot, w)
    assert outlines.nshapes == 256
    # the first turns may follow a size the dock's real turns set
    assert max(turns[2:], default=turns[0]) <= 0.15, turns  # was 0.286 s: 128 a turn


def test_batch_size_follows_the_time_a_turn_took():
    from napari_microdeblur._widgets._focus_outlines import (
        MAX_BATCH,
        MIN_BATCH,
        TURN_SECONDS,
        BatchSize,
    )

    size = BatchSize()
    for _ in range(8):  # 1 ms a rectangle: the size the turn time fits
        size.took(size.size, 0.001 * size.size)
    assert abs(size.size - TURN_SECONDS / 0.001) <= 2
    for _ in range(8):  # napari's refresh alone over the turn time: the least batch
        size.took(size.size, 0.2 + 0.001 * size.size)
    assert size.size == MIN_BATCH
    for _ in range(3):  # fast again: grows, at most twice a turn
        before = size.size
        size.took(size.size, 0.00001 * size.size)
        assert size.size <= 2 * before
    for _ in range(8):
        size.took(size.size, 0.00001 * size.size)
    assert size.size == MAX_BATCH


# ----------------------------------------------------------------------------- Side by side


def trio_viewer():
    from napari.components import ViewerModel

    viewer = ViewerModel()
    layers = {name: viewer.add_image(np.full((8, 8), value), name=name,
                                     contrast_limits=(0, value))
              for name, value in (("other 1", 1.0), ("truth", 2.0), ("hidden", 3.0),
                                  ("blurry", 4.0), ("other 2", 5.0), ("deblurred", 6.0))}
    layers["hidden"].visible = False
    return viewer, layers


def viewer_state(viewer):
    from napari_microdeblur._widgets._side_by_side import viewer_grid

    grid = viewer_grid(viewer)
    return ([la.name for la in viewer.layers],
            {la.name: (la.visible, la.name_overlay.visible, tuple(la.contrast_limits))
             for la in viewer.layers},
            (grid.enabled, grid.stride, tuple(grid.shape)))


def watch(viewer):
    """Per layer, the grid's state at each of its visibility changes; the same for each
    reorder of the list."""
    from napari_microdeblur._widgets._side_by_side import viewer_grid

    grid = viewer_grid(viewer)
    seen = {"reordered": []}
    for layer in viewer.layers:
        seen[layer.name] = []
        layer.events.visible.connect(
            lambda event, name=layer.name: seen[name].append(grid.enabled))
    viewer.layers.events.reordered.connect(lambda event: seen["reordered"].append(grid.enabled))
    return seen


def test_side_by_side_changes_each_visibility_once_and_reorders_once():
    """Was: every layer's visibility set (the trio's too: a refresh each), the trio moved one
    at a time and, on leaving, order and visibility restored with the grid on (napari rebuilt
    the grid at each)."""
    from napari_microdeblur._widgets._side_by_side import SideBySide

    viewer, layers = trio_viewer()
    side = SideBySide(viewer)
    seen = watch(viewer)
    side.show([layers["blurry"], layers["deblurred"], layers["truth"]])
    changed = {"other 1", "other 2"}  # shown before, hidden in the grid
    assert {name: len(v) for name, v in seen.items() if name != "reordered"} == {
        name: int(name in changed) for name in layers}
    assert seen["reordered"] == [False]  # once, before the grid is on
    for v in seen.values():
        v.clear()
    side.leave()
    assert {name: len(v) for name, v in seen.items() if name != "reordered"} == {
        name: int(name in changed) for name in layers}
    assert all(not on for v in seen.values() for on in v)  # all with the grid off
    assert len(seen["reordered"]) == 1


def test_side_by_side_shows_the_trio_and_restores_the_viewer_as_it_was():
    from napari_microdeblur._widgets._side_by_side import SideBySide, viewer_grid

    viewer, layers = trio_viewer()
    grid = viewer_grid(viewer)
    layers["truth"].name_overlay.visible = True  # the user's: kept
    grid.stride, grid.shape, grid.enabled = 2, (2, -1), True  # the user's grid: kept
    before = viewer_state(viewer)
    side = SideBySide(viewer)
    trio = [layers["blurry"], layers["deblurred"], layers["truth"]]
    side.show(trio)
    order, shown, grid_on = viewer_state(viewer)
    assert order == ["blurry", "deblurred", "truth", "other 1", "hidden", "other 2"]
    assert grid_on == (True, 1, (1, 3))
    assert {name for name, (visible, _, _) in shown.items() if visible} == {
        "blurry", "deblurred", "truth"}
    assert all(shown[la.name][1] and shown[la.name][2] == (0.0, 2.0) for la in trio)
    layers["truth"].contrast_limits = (0.5, 1.5)  # linked
    assert tuple(layers["blurry"].contrast_limits) == (0.5, 1.5)
    panel = viewer.add_image(np.zeros((8, 8)), name="difference")
    side.add_panel(panel)
    viewer.layers.remove(layers["other 2"])
    side.leave()
    order, shown, grid_after = viewer_state(viewer)
    expected = [name for name in before[0] if name != "other 2"] + ["difference"]
    assert order == expected
    assert {name: shown[name] for name in expected[:-1]} == {
        name: before[1][name] for name in expected[:-1]}
    assert shown["difference"] == (True, False, shown["difference"][2])
    assert grid_after == before[2]
    layers["truth"].contrast_limits = (0.0, 9.0)
    assert tuple(layers["blurry"].contrast_limits) == (0.0, 4.0)  # unlinked
