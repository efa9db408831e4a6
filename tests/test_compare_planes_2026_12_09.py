"""Compare & QC (2026-12-09): messages that name planes say the slider position first, with
the world coordinate and unit beside it where the layer is scaled (a current-slice result at
slider Z 8 of a stack at 0.3 um per plane was said to lie 'at Z 7.4 to 7.4' while the slider
read 4 and 8), and the slice label names each layer's own plane the table compares."""

from __future__ import annotations

from test_docks_audit_2026_12_05a import compare, stack
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
    wait_table,
)

PLACED = {"scale": (0.3, 0.1, 0.1), "translate": (5, 10, 20), "units": ("um", "um", "um")}


def settle(qtbot, w):
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)


def test_a_one_plane_result_of_a_scaled_stack_is_named_by_slider_position(
        make_napari_viewer, qtbot):
    """A current-slice result (one plane, placed at slider Z 8) with the slider at 4: said
    'no plane at Z = 6.2 (its planes lie at Z 7.4 to 7.4)', world units mixed with the
    slider's 4 and 8; now slider first, world and unit beside, and what to do."""
    sharp, noisy = stack(n=12)
    viewer = make_napari_viewer()
    b = viewer.add_image(noisy, name="blurry", **PLACED)
    g = viewer.add_image(sharp, name="truth", **PLACED)
    one = dict(PLACED, translate=(5 + 8 * 0.3, 10, 20))
    d = viewer.add_image(noisy[8:9], name="slice result", metadata={
        "microdeblur": {"scope": "current slice"}}, **one)
    viewer.dims.set_current_step(0, 8)
    w = compare(viewer, b, g, deblurred=d)
    wait_table(qtbot, w)
    settle(qtbot, w)
    viewer.dims.set_current_step(0, 4)
    qtbot.waitUntil(lambda: "no plane" in w.message_label.text(), timeout=TIMEOUT)
    text = w.message_label.text()
    assert ("the deblurred layer 'slice result' has no plane at Z = 4 on the slider "
            "(world Z = 6.2 µm); it holds only the plane at slider Z = 8 (world Z = 7.4 µm): "
            "move the Z slider there, or deblur the whole stack") in text
    assert "7.4 to 7.4" not in text and "\n" not in text
    settle(qtbot, w)


def test_an_unscaled_layer_is_named_by_slider_alone(make_napari_viewer, qtbot):
    """Where the world coordinate is the slider position, no world part is added; the range
    of the layer's planes is said as the slider reads it, with the slider to move."""
    sharp, noisy = stack(n=20)
    viewer = make_napari_viewer()
    b = viewer.add_image(noisy, name="blurry")
    g = viewer.add_image(sharp[10:15], name="truth", translate=(10, 0, 0))
    viewer.dims.set_current_step(0, 3)
    w = compare(viewer, b, g)
    qtbot.waitUntil(lambda: "no plane" in w.message_label.text(), timeout=TIMEOUT)
    assert w.message_label.text() == (
        "the ground-truth layer 'truth' has no plane at Z = 3 on the slider; its planes lie "
        "at slider Z 10 to 14: move the Z slider there")
    settle(qtbot, w)


def test_slice_label_names_each_layers_plane_when_placements_differ(make_napari_viewer,
                                                                     qtbot):
    """An unscaled ground truth against a result at Z scale 2 shifted by 2: the label read
    'current slice: 3' and said nothing of the deblurred plane 2 the table compared with
    the truth's plane 6."""
    sharp, noisy = stack(n=12)
    viewer = make_napari_viewer()
    g = viewer.add_image(sharp, name="truth")
    d = viewer.add_image(noisy[:6], name="deblurred", scale=(2, 1, 1), translate=(2, 0, 0))
    viewer.dims.set_current_step(0, 6)
    w = compare(viewer, None, g, deblurred=d)
    wait_table(qtbot, w)
    assert w.slice_label.text().startswith(
        "current slice: 6 (the deblurred layer's plane 2)")
    settle(qtbot, w)


def test_whole_stack_without_overlap_says_where_each_layer_lies(make_napari_viewer, qtbot):
    """No truth plane has a deblurred plane beside it: Whole stack said the first plane's
    refusal, 'move the slider', which Whole stack does not read."""
    sharp, noisy = stack(n=6)
    viewer = make_napari_viewer()
    g = viewer.add_image(sharp, name="truth", scale=(0.5, 1, 1))
    d = viewer.add_image(noisy, name="deblurred", scale=(0.5, 1, 1), translate=(10, 0, 0))
    w = compare(viewer, None, g, deblurred=d)
    settle(qtbot, w)
    assert w.compute_stack() is None  # refused at once, before any worker
    text = w.message_label.text()
    assert ("ground truth 'truth' at slider Z 0 to 5 (world Z = 0 to 2.5); deblurred "
            "'deblurred' at slider Z 20 to 25 (world Z = 10 to 12.5)") in text
    assert "move the slider" not in text
    settle(qtbot, w)
