"""Audit of the docks as a biologist uses them (2026-12-04): layers removed or given new data
while Compare & QC is open, and overlays on layers with a rotation and shear (placed in
physical space, as napari allows). Driven in a real viewer under Xvfb; tiny layers, no
network runs."""

from __future__ import annotations

import numpy as np
import pytest

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms
PLACED = {"scale": (0.5, 0.3), "translate": (10.0, 20.0), "rotate": 30.0, "shear": [0.2]}


def image(shape, seed=0):
    return (np.random.default_rng(seed).random(shape) * 200).astype(np.float32)


def structured(shape, seed=0):
    """``image`` plus an 8 px checkerboard: every tile holds structure (the Focus dock leaves
    tiles of background noise only out of its threshold and outlines)."""
    yy, xx = np.indices(shape)
    return image(shape, seed) + 300 * (((yy // 8) + (xx // 8)) % 2).astype(np.float32)


def table(w):
    return [[w.table.item(r, c).text() if w.table.item(r, c) else "" for c in range(2)]
            for r in range(3)]


def same_place(overlay, j, layer, i):
    """Overlay pixel ``j`` and layer pixel ``i`` land on the same world point."""
    np.testing.assert_allclose(overlay.data_to_world(np.asarray(j, float)),
                               layer.data_to_world(np.asarray(i, float)), atol=1e-6)


@pytest.fixture
def trio(make_napari_viewer, qtbot):
    truth = image((48, 48))
    viewer = make_napari_viewer()
    layers = (viewer.add_image(truth + 20, name="blurry"),
              viewer.add_image(truth + 1, name="deblurred"),
              viewer.add_image(truth, name="truth"))
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Compare & QC")
    with qtbot.waitSignal(w.table_updated, timeout=TIMEOUT):
        w.set_layers(*layers)
    yield viewer, layers, w
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)


def test_compare_table_drops_the_row_of_a_removed_deblurred_layer(trio, qtbot):
    viewer, (_, deblurred, _), w = trio
    assert table(w)[1][0] not in ("", "NaN")
    with qtbot.waitSignal(w.table_updated, timeout=TIMEOUT):
        viewer.layers.remove(deblurred)  # was: the combo said '(none)', the row stayed
    assert w.deblurred_combo.value is None
    assert table(w)[1] == ["", ""] and table(w)[0][0] not in ("", "NaN")


def test_compare_table_follows_new_data_of_a_chosen_layer(trio, qtbot):
    _, (_, deblurred, truth), w = trio
    before = float(table(w)[1][0])
    with qtbot.waitSignal(w.table_updated, timeout=TIMEOUT):
        deblurred.data = np.asarray(truth.data) + 30  # was: the old numbers stayed
    assert float(table(w)[1][0]) < before - 5


def test_focus_heatmap_and_soft_tiles_sit_on_a_rotated_layer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer = viewer.add_image(structured((64, 64)), name="cells", **PLACED)
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Focus QC")
    w.layer_combo.set_value(layer)
    w.tile_spin.setValue(32)
    w.score()
    qtbot.waitUntil(lambda: w.scores is not None, timeout=TIMEOUT)
    w.set_threshold(float(w.scores.max()) * 2)  # every tile soft: outlines drawn
    same_place(w.heatmap_layer, (1, 0), layer, (32 + 15.5, 15.5))  # tile centres
    outline = np.asarray(w.outline_layer.data[0])[0]
    same_place(w.outline_layer, outline, layer, outline)
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)


def test_compare_overlays_sit_on_a_rotated_truth(make_napari_viewer, qtbot):
    from napari_microdeblur._widgets._layer_data import region_layer, tile_grid_layer
    from napari_microdeblur.core.tiling import plan_tiles

    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    viewer = make_napari_viewer()
    truth = viewer.add_image(image((2, 48, 48)), name="truth", scale=(2.0, 0.5, 0.3),
                             translate=(0.0, 10.0, 20.0), shear=[0.0, 0.0, 0.2],
                             rotate=[[1, 0, 0], [0, c, -s], [0, s, c]])  # in the YX plane
    result = viewer.add_image(image((2, 48, 48), 1), name="result", scale=truth.scale,
                              translate=truth.translate, rotate=truth.rotate, shear=truth.shear,
                              metadata={"microdeblur": {"axes": "ZYX", "tile": (32, 32),
                                                        "overlap": (8, 8)}})
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Compare & QC")
    w.set_layers(deblurred=result, truth=truth)
    worker = w.add_difference_map()
    qtbot.waitUntil(lambda: len(viewer.layers) == 3, timeout=TIMEOUT)
    same_place(viewer.layers[-1], (1, 5, 7), truth, (1, 5, 7))
    region = viewer.add_shapes(**region_layer(truth)[1])
    grid = viewer.add_shapes(**tile_grid_layer(result, plan_tiles)[1])
    for shapes in (region, grid):  # 2D shapes over the stack: compare Y, X
        np.testing.assert_allclose(shapes.data_to_world(np.array([5.0, 7.0])),
                                   truth.data_to_world(np.array([0.0, 5.0, 7.0]))[-2:],
                                   atol=1e-6)
    qtbot.waitUntil(lambda: not worker.is_running and not w._workers, timeout=TIMEOUT)


def test_finetune_preview_layer_keeps_the_rotation(make_napari_viewer):
    from napari_microdeblur._widgets._jobs import DeblurRequest
    from napari_microdeblur._widgets._layer_data import preview_layer, source_placement

    viewer = make_napari_viewer()
    layer = viewer.add_image(image((3, 32, 32)), name="stack", scale=(2.0, 0.5, 0.3),
                             rotate=np.eye(3)[[0, 2, 1]] * [1, 1, -1])
    req = DeblurRequest(source_name="stack", image=layer.data[1:2], axes="ZYX", method=None,
                        label="tuned", offset=(1, 0, 0), placement=source_placement(layer))
    data, kwargs, kind = preview_layer(req, layer.data[1:2])
    preview = viewer.add_image(data, **kwargs)
    same_place(preview, (0, 4, 9), layer, (1, 4, 9))


def test_choosing_another_layer_under_an_unavailable_image_type_raises_nothing(
        make_napari_viewer, monkeypatch):
    from napari_microdeblur.core import bundled

    # brightfield's defaults reduced to the RGB-only network: none for a grayscale layer
    monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS", {
        name: w for name, w in bundled.BUNDLED_WEIGHTS.items()
        if name in ("gran.hist_v1", "gran.fluo_v1")})
    viewer = make_napari_viewer()
    first = viewer.add_image(image((32, 32)), name="cells")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(first)
    w.set_modality("brightfield")
    second = viewer.add_image(image((32, 32), 1), name="more cells")
    w.layer_combo.set_value(second)  # was: a ValueError traceback from the event loop
    viewer.layers.remove(second)
    assert "brightfield' on a grayscale image" in w.method.auto_label.text()
    assert "RGB images only" in w.card_label.text()
