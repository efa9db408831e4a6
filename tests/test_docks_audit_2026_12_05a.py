"""Audit of the Compare & QC dock (2026-12-05, first pass): layers placed at other Z positions
(translate / scale on Z, a short truth stack inside a long one), the 3D view, lazy layers in
the difference map, and what a biologist opens by mistake. Driven in a real viewer under
Xvfb; tests wait on conditions, never on fixed delays."""

from __future__ import annotations

import numpy as np
import pytest
from test_docks_audit_2026_12_04e import watched
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
    notes,
    wait_table,
)

from napari_microdeblur.core.metrics import evaluate


def stack(n=20, side=48, seed=0):
    """A uint8 stack whose planes all differ, and a blurred copy noisier plane by plane, so
    that scoring the wrong plane gives another PSNR."""
    rng = np.random.default_rng(seed)
    sharp = rng.integers(20, 200, size=(n, side, side)).astype(np.uint8)
    amount = np.arange(1, n + 1).reshape(n, 1, 1)
    noisy = np.clip(sharp + rng.normal(0, 1, sharp.shape) * amount, 0, 255).astype(np.uint8)
    return sharp, noisy


def psnr_of(blurry_plane, truth_plane):
    return evaluate(blurry_plane, truth_plane, border=0)["psnr"]


def compare(viewer, blurry, truth, deblurred=None):
    w = dock(viewer, "Compare & QC")
    w.set_layers(blurry=blurry, deblurred=deblurred, truth=truth)
    w.border_check.setChecked(False)
    return w


def settle(qtbot, w):
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)


# ----------------------------------------------------------------------------- placement


def test_a_short_truth_placed_inside_a_long_stack_is_scored_against_the_plane_beside_it(
        make_napari_viewer, qtbot):
    """A 5-plane ground truth placed by translate at Z 10-14 of a 20-plane blurry stack: was
    refused ('same shape'); each layer's plane at the Z shown is now scored, and a Z where
    the truth has no plane is refused in one line naming it."""
    sharp, noisy = stack()
    viewer = make_napari_viewer()
    b = viewer.add_image(noisy, name="blurry")
    g = viewer.add_image(sharp[10:15], name="truth", translate=(10, 0, 0))
    viewer.dims.set_current_step(0, 12)
    w = compare(viewer, b, g)
    result = wait_table(qtbot, w)
    assert result["psnr_blurry"] == pytest.approx(psnr_of(noisy[12], sharp[12]), abs=1e-9)
    settle(qtbot, w)
    viewer.dims.set_current_step(0, 3)
    qtbot.waitUntil(lambda: "no plane" in w.message_label.text(), timeout=TIMEOUT)
    text = w.message_label.text()
    assert "ground-truth layer 'truth' has no plane at Z = 3" in text
    assert "10 to 14" in text and "\n" not in text
    assert all(w.table.item(r, 0).text() == "" for r in range(3))
    # the whole stack: the truth's 5 planes, each against the blurry plane at its Z
    w.compute_stack()
    qtbot.waitUntil(lambda: w.stack_results is not None, timeout=TIMEOUT)
    np.testing.assert_allclose([r["psnr_blurry"] for r in w.stack_results],
                               [psnr_of(noisy[z], sharp[z]) for z in range(10, 15)],
                               atol=1e-9)
    assert w.psnr_plot.series["blurry"][0] == [0, 1, 2, 3, 4]  # the truth's planes
    settle(qtbot, w)


def test_stacks_of_the_same_shape_shifted_in_z_compare_the_planes_shown(make_napari_viewer,
                                                                         qtbot):
    """Same shape, the blurry stack shifted by one plane (translate) and the truth scaled: the
    dock scored blurry plane k against truth plane k, planes not shown together."""
    sharp, noisy = stack(n=6)
    viewer = make_napari_viewer()
    b = viewer.add_image(noisy, name="blurry", translate=(2, 0, 0), scale=(2, 1, 1))
    g = viewer.add_image(sharp, name="truth", scale=(2, 1, 1))
    viewer.dims.set_point(0, 6)  # truth plane 3, blurry plane 2
    w = compare(viewer, b, g)
    result = wait_table(qtbot, w)
    assert result["psnr_blurry"] == pytest.approx(psnr_of(noisy[2], sharp[3]), abs=1e-9)
    settle(qtbot, w)


def test_a_whole_stack_run_of_a_layer_swapped_meanwhile_is_not_plotted(make_napari_viewer,
                                                                         qtbot):
    """Choosing another deblurred layer (or removing it) while Whole stack ran: the plot was
    cleared, then filled with the old layer's curve and means under the new choice."""
    sharp, noisy = stack(n=6)
    viewer = make_napari_viewer()
    g = viewer.add_image(sharp, name="truth")
    d = viewer.add_image(noisy, name="deblurred a")
    other = viewer.add_image(sharp // 2 + 10, name="deblurred b")
    w = compare(viewer, None, g, deblurred=d)
    wait_table(qtbot, w)
    settle(qtbot, w)
    w.compute_stack()
    w.deblurred_combo.set_value(other)  # before any result of the run came back
    settle(qtbot, w)
    assert w.stack_results is None and not w.psnr_plot.series
    assert w.summary_label.text() == ""
    w.deblurred_combo.set_value(d)
    wait_table(qtbot, w)
    settle(qtbot, w)
    assert w.compute_stack() is not None
    viewer.layers.remove(d)  # removing the layer during a run: the same
    settle(qtbot, w)
    assert w.stack_results is None and not w.psnr_plot.series


# ----------------------------------------------------------------------------- 3D view


def test_the_3d_view_says_what_the_table_cannot_show(make_napari_viewer, qtbot):
    """In 3D the Z slider is hidden: the table showed a slice the user could not see."""
    sharp, noisy = stack(n=4)
    viewer = make_napari_viewer()
    b = viewer.add_image(noisy, name="blurry")
    g = viewer.add_image(sharp, name="truth")
    viewer.dims.set_current_step(0, 2)
    w = compare(viewer, b, g)
    wait_table(qtbot, w)
    settle(qtbot, w)
    viewer.dims.ndisplay = 3
    qtbot.waitUntil(lambda: "3D view" in w.message_label.text(), timeout=TIMEOUT)
    assert "Whole stack" in w.message_label.text()
    assert all(w.table.item(r, 0).text() == "" for r in range(3))
    assert w.slice_label.text() == ""
    w.compute_stack()  # what the message offers works in 3D
    qtbot.waitUntil(lambda: w.stack_results is not None, timeout=TIMEOUT)
    assert len(w.stack_results) == 4
    with qtbot.waitSignal(w.table_updated, timeout=TIMEOUT) as blocker:
        viewer.dims.ndisplay = 2  # back: the current slice again
    assert blocker.args[0]["psnr_blurry"] == pytest.approx(psnr_of(noisy[2], sharp[2]),
                                                           abs=1e-9)
    settle(qtbot, w)


def test_a_transposed_view_is_not_scored_as_the_yx_plane(make_napari_viewer, qtbot):
    sharp, noisy = stack(n=4)
    viewer = make_napari_viewer()
    b = viewer.add_image(noisy, name="blurry")
    g = viewer.add_image(sharp, name="truth")
    w = compare(viewer, b, g)
    wait_table(qtbot, w)
    settle(qtbot, w)
    viewer.dims.order = (1, 0, 2)  # a Z-X section on screen
    qtbot.waitUntil(lambda: "section across" in w.message_label.text(), timeout=TIMEOUT)
    with qtbot.waitSignal(w.table_updated, timeout=TIMEOUT):
        viewer.dims.order = (0, 2, 1)  # X-Y: the same plane, transposed
    settle(qtbot, w)


# ----------------------------------------------------------------------------- difference map


def test_difference_map_of_a_lazy_stack_reads_only_the_plane_shown(make_napari_viewer, qtbot):
    """The map read both dask stacks whole (a 4 GB EM volume into memory); it is now the
    current plane, placed on it."""
    reads = []
    sharp, noisy = stack(n=12)
    viewer = make_napari_viewer()
    g = viewer.add_image(watched(sharp, (1, 48, 48), reads), name="truth",
                         translate=(5, 0, 0))
    d = viewer.add_image(watched(noisy, (1, 48, 48), reads), name="deblurred",
                         translate=(5, 0, 0))
    viewer.dims.set_point(0, 12)  # plane 7
    w = compare(viewer, None, g, deblurred=d)
    w.prefetch = False
    wait_table(qtbot, w)
    settle(qtbot, w)
    reads.clear()
    n = len(viewer.layers)
    w.diff_button.click()
    qtbot.waitUntil(lambda: len(viewer.layers) == n + 1, timeout=TIMEOUT)
    out = viewer.layers[-1]
    assert {z for z, _ in reads} == {7}  # was: all 12 planes of both
    assert out.data.shape == (1, 48, 48)
    expected = np.abs(noisy[7].astype(np.float32) - sharp[7])
    np.testing.assert_array_equal(out.data[0], expected)
    assert out.data_to_world((0, 0, 0))[0] == pytest.approx(12)
    assert out.name.endswith("at 7")
    settle(qtbot, w)


def test_difference_map_of_in_memory_aligned_stacks_stays_whole(make_napari_viewer, qtbot):
    sharp, noisy = stack(n=3)
    viewer = make_napari_viewer()
    g = viewer.add_image(sharp, name="truth")
    d = viewer.add_image(noisy.astype(np.float32), name="deblurred")  # uint8 truth, float
    w = compare(viewer, None, g, deblurred=d)
    n = len(viewer.layers)
    w.diff_button.click()
    qtbot.waitUntil(lambda: len(viewer.layers) == n + 1, timeout=TIMEOUT)
    np.testing.assert_array_equal(viewer.layers[-1].data,
                                  np.abs(noisy.astype(np.float32) - sharp))
    settle(qtbot, w)


# ----------------------------------------------------------------------------- by mistake


def test_an_rgb_truth_with_a_gray_result_is_refused_in_one_line(
        make_napari_viewer, qtbot, notes):  # noqa: F811 - the fixture from test_widgets
    sharp, noisy = stack(n=3)
    viewer = make_napari_viewer()
    g = viewer.add_image(np.stack([sharp[0]] * 3, axis=-1), name="truth rgb", rgb=True)
    d = viewer.add_image(noisy[0], name="deblurred")
    w = compare(viewer, None, g, deblurred=d)
    qtbot.waitUntil(lambda: "same shape" in w.message_label.text(), timeout=TIMEOUT)
    assert "RGB" in w.message_label.text() and "\n" not in w.message_label.text()
    assert w.add_difference_map() is None and any("same shape" in m for m in notes.errors())
    assert len(viewer.layers) == 2


def test_an_empty_viewer_refuses_every_button_in_words(
        make_napari_viewer, qtbot, notes):  # noqa: F811 - the fixture from test_widgets
    viewer = make_napari_viewer()
    w = dock(viewer, "Compare & QC")
    qtbot.waitUntil(lambda: "choose a ground truth" in w.message_label.text(),
                    timeout=TIMEOUT)
    for press in (w.compute_stack, w.add_difference_map, w.add_tile_grid, w.add_region):
        assert press() is None
    w.side_button.click()
    assert not w.side_button.isChecked()
    assert len(notes.errors()) == 5 and len(viewer.layers) == 0
