"""Compare & QC (2026-12-26 walkthrough), in a real viewer under Xvfb.

(1) With a 2-channel image added via channel_axis (DAPI, GFP) and DAPI deblurred, the dock
took GFP, an unmarked layer of the same shape, as the ground truth and scored 19.67 -> 18.76 dB
against another channel without a word: only a layer marked as the sharp reference (sample
role, metadata role, name) is taken; Ground truth stays empty and the line says how to choose
or name it.
(2) A blurry layer moved onto the truth by ``layer.affine`` (napari's transform-mode drag) was
scored pixel for pixel (19.09 dB) while the same shift by translate was refused: the whole Y-X
data-to-world transform counts, in Compare & QC and in Fine-tune's pairs.
(3) Side by side's way back unlinked the whole trio's contrast, also a link the user had made
between the ground truth and the blurry layer: only its own links are undone.
"""

from __future__ import annotations

import numpy as np
import pytest
from napari.experimental import link_layers
from napari.utils.transforms import Affine
from scipy.ndimage import gaussian_filter
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
    wait_run,
    wait_table,
)

from napari_microdeblur._widgets._compare_parts import check_pair
from napari_microdeblur._widgets._finetune_pairs import pair_data


def roles(w) -> tuple:
    return (w.blurry_combo.value, w.deblurred_combo.value, w.truth_combo.value)


def deblur(qtbot, viewer, layer):
    d = dock(viewer, "Deblur")
    d.layer_combo.set_value(layer)
    d.set_method("wiener")
    d.psf_edit.setText("gaussian:1.5")
    d.balance_spin.setValue(0.05)
    run = d.run()
    assert run is not None, d.status_label.text()
    wait_run(qtbot, run)
    assert run.layer is not None
    return run.layer


# ----------------------------------------------------------------------------- (1)


def test_another_channel_of_the_file_is_never_guessed_as_ground_truth(
        make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    dapi, gfp = viewer.add_image(np.stack([fluo_u8[:64, :64], fluo_u8[64:128, 64:128]]),
                                 channel_axis=0, name=["DAPI", "GFP"])
    result = deblur(qtbot, viewer, dapi)
    w = dock(viewer, "Compare & QC")
    assert roles(w) == (dapi, result, None)  # before: (DAPI, its result, GFP)
    qtbot.waitUntil(lambda: "choose a ground truth" in w.message_label.text(), timeout=TIMEOUT)
    line = w.message_label.text()
    assert "in-focus" in line and "metadata role 'ground truth'" in line and "\n" not in line
    assert w.last_result is None
    # a layer named as the reference fills the empty role as it comes, and is scored
    sharp = viewer.add_image(fluo_u8[:64, :64], name="DAPI in-focus")
    qtbot.waitUntil(lambda: w.truth_combo.value is sharp, timeout=TIMEOUT)
    w.schedule_update()
    assert np.isfinite(wait_table(qtbot, w)["psnr_deblurred"])
    assert gfp in viewer.layers


def test_an_unmarked_layer_of_the_same_shape_stays_out_of_the_ground_truth(
        make_napari_viewer, qtbot, fluo_u8):
    """Without channel_axis too: an unnamed second image is not taken as the reference; one
    whose metadata says it is, is."""
    viewer = make_napari_viewer()
    cells = viewer.add_image(fluo_u8[:64, :64], name="cells")
    viewer.add_image(fluo_u8[64:128, :64], name="cells 2")
    result = deblur(qtbot, viewer, cells)
    w = dock(viewer, "Compare & QC")
    assert roles(w) == (cells, result, None)
    viewer.window.remove_dock_widget(w)
    ref = viewer.add_image(fluo_u8[:64, :64], name="scan 7", metadata={"role": "ground truth"})
    assert roles(dock(viewer, "Compare & QC")) == (cells, result, ref)


# ----------------------------------------------------------------------------- (2)


def nuclei(fluo_u8):
    full = fluo_u8[:110, :110].astype(np.float32)
    truth = full[:96, :96]
    blurry = gaussian_filter(full[9:105, 6:102], 1.5)  # the field offset by (9, 6) px
    return truth, blurry


def test_a_layer_moved_by_its_affine_is_refused_as_one_moved_by_translate(
        make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    truth, blurry = nuclei(fluo_u8)
    g = viewer.add_image(truth, name="nuclei in-focus")
    b = viewer.add_image(blurry, name="nuclei")
    b.affine = Affine(translate=(9, 6))  # what a drag in napari's transform mode sets
    w = dock(viewer, "Compare & QC")
    w.set_layers(blurry=b, truth=g)
    w.schedule_update()
    qtbot.waitUntil(lambda: "pixel for pixel" in w.message_label.text(), timeout=TIMEOUT)
    said = w.message_label.text()
    assert "'nuclei' is placed at Y-X scale (1, 1), translate (0, 0), affine translate (9, 6)" \
        in said and "the same Y-X affine" in said and "transform mode" in said
    assert w.last_result is None  # before: scored pixel for pixel, 19.09 dB
    # the same place given by the truth's translate: one placement, scored
    g.translate = (9, 6)
    check_pair(b, "blurry", g)
    w.schedule_update()
    assert np.isfinite(wait_table(qtbot, w)["psnr_blurry"])


@pytest.mark.parametrize("placed, words", [
    ({"rotate": 30}, "rotate 30 degrees"),
    ({"shear": [0.2]}, "shear 0.2"),
    ({"affine": Affine(rotate=10)}, "affine matrix (0.984808, -0.173648, 0.173648, 0.984808)"),
])
def test_rotate_shear_and_affine_are_part_of_the_placement(fluo_u8, placed, words):
    from napari.layers import Image

    truth, blurry = nuclei(fluo_u8)
    g = Image(truth, name="truth")
    b = Image(blurry, name="blurry", **placed)
    with pytest.raises(ValueError) as caught:
        check_pair(b, "blurry", g)
    assert words in str(caught.value) and "translate (0, 0)" in str(caught.value)
    # Z placement still does not count: planes are matched by world position
    check_pair(Image(np.stack([blurry] * 3), scale=(4, 1, 1), translate=(2, 0, 0)), "blurry",
               Image(np.stack([truth] * 5)))


def test_fine_tune_refuses_a_pair_moved_apart_by_an_affine(fluo_u8, focus_stack):
    from napari.layers import Image

    truth, blurry = nuclei(fluo_u8)
    sharp = Image(truth, name="sharp")
    moved = Image(blurry, name="blurry", affine=Affine(translate=(9, 6)))
    with pytest.raises(ValueError, match="affine translate \\(9, 6\\)"):
        pair_data(moved, sharp, "")
    # an uncalibrated layer beside a calibrated one may differ in scale only, not by an affine
    calibrated = Image(truth, name="sharp um", scale=(0.1, 0.1))
    assert set(pair_data(Image(blurry), calibrated, "")) == {"blurry", "sharp"}
    with pytest.raises(ValueError, match="pixel for pixel"):
        pair_data(moved, calibrated, "")
    # a stack and its in-focus plane moved by an affine: refused as well
    plane = Image(np.array(focus_stack[7]), name="plane", affine=Affine(translate=(3, 0)))
    with pytest.raises(ValueError, match="affine translate \\(3, 0\\)"):
        pair_data(Image(focus_stack[4:11], name="stack"), plane, "ZYX")


# ----------------------------------------------------------------------------- (3)


def test_side_by_side_keeps_the_users_own_contrast_link(make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    truth, blurry = nuclei(fluo_u8)
    g = viewer.add_image(truth, name="nuclei in-focus", contrast_limits=(0, 200))
    b = viewer.add_image(blurry, name="nuclei", contrast_limits=(0, 200))
    d = viewer.add_image(truth * 0.9, name="nuclei deblurred", contrast_limits=(0, 150))
    link_layers([g, b], ("contrast_limits",))  # the user compares them with one contrast
    w = dock(viewer, "Compare & QC")
    w.set_layers(b, d, g)
    w.set_side_by_side(True)
    g.contrast_limits = (0, 180)
    assert tuple(d.contrast_limits) == (0, 180)  # linked while on
    w.set_side_by_side(False)
    assert tuple(d.contrast_limits) == (0, 150)  # restored
    g.contrast_limits = (0, 120)
    assert tuple(b.contrast_limits) == (0, 120)  # the user's link stays (before: cut)
    assert tuple(d.contrast_limits) == (0, 150)  # Side by side's own links are gone
    d.contrast_limits = (0, 90)
    assert tuple(g.contrast_limits) == (0, 120)


# ----------------------------------------------------------------------------- (4)
# napari 0.5.0-0.6.1 (setup.cfg allows napari>=0.5) put the grid cell's offset in
# data_to_world: with the grid on (Side by side turns it on) identical layers were refused as
# 'placed at Y-X scale (1, 1), translate (0, 0) but ... at Y-X scale (1, 1), translate (0, 0)';
# and data_to_world cost ~0.2 ms a point there (check_pair on 3D layers 904 -> 4268 us).


def grid_offset_data_to_world(monkeypatch, viewer):
    """data_to_world as napari 0.5.0-0.6.1 had it with the grid on: each layer shifted by its
    cell (128 px a column here)."""
    from napari.layers import Image

    plain = Image.data_to_world

    def with_cell(layer, position):
        column = list(viewer.layers).index(layer) if layer in viewer.layers else 0
        return np.asarray(plain(layer, position), dtype=float) + np.r_[
            np.zeros(layer.ndim - 1), 128.0 * column]

    monkeypatch.setattr(Image, "data_to_world", with_cell)


def test_identical_layers_in_napari_grid_mode_are_accepted(
        make_napari_viewer, qtbot, monkeypatch, fluo_u8):
    viewer = make_napari_viewer()
    truth, blurry = nuclei(fluo_u8)
    b = viewer.add_image(blurry, name="nuclei")
    d = viewer.add_image(truth * 0.9, name="nuclei deblurred")
    g = viewer.add_image(truth, name="nuclei in-focus")
    viewer.add_image(truth, name="another")
    grid_offset_data_to_world(monkeypatch, viewer)
    w = dock(viewer, "Compare & QC")
    w.set_layers(b, d, g)
    w.set_side_by_side(True)  # napari's grid on, a cell a layer
    check_pair(b, "blurry", g)  # before: refused, naming two identical placements
    check_pair(d, "deblurred", g)
    assert set(pair_data(b, g, "")) == {"blurry", "sharp"}
    w.schedule_update()
    assert np.isfinite(wait_table(qtbot, w)["psnr_blurry"])
    # a real difference in the grid is still refused
    b.translate = (0, 3)
    with pytest.raises(ValueError, match="translate \\(0, 3\\)"):
        check_pair(b, "blurry", g)


def test_placement_is_composed_without_data_to_world(monkeypatch, fluo_u8):
    from napari.layers import Image

    truth, blurry = nuclei(fluo_u8)
    parts = dict(scale=(0.5, 0.2, 0.3), translate=(1, 2, 3), rotate=20, shear=[0.1, 0, 0.2],
                 affine=Affine(translate=(0, 9, 6), scale=(1, 1.5, 1)))
    b, g = Image(np.stack([blurry] * 3), **parts), Image(np.stack([truth] * 3), **parts)
    expected = [g.data_to_world(p) for p in ((0, 0, 0), (1, 2, 3), (0, 5, 0), (0, 0, 7))]
    from napari_microdeblur._widgets._compare_placement import world_rows

    def refused(*_):  # ~0.2 ms a point on napari 0.5-0.6, and the grid offset there
        raise AssertionError("data_to_world called")

    monkeypatch.setattr(Image, "data_to_world", refused)
    check_pair(b, "blurry", g)  # before: data_to_world, each call
    rows = world_rows(g, 1)
    for point, world in zip(((0, 0, 0), (1, 2, 3), (0, 5, 0), (0, 0, 7)), expected):
        assert np.allclose(rows[:, :3] @ point + rows[:, 3], world[-2:])
    moved = Image(np.stack([blurry] * 3), **{**parts, "translate": (1, 2, 4)})
    with pytest.raises(ValueError, match="translate \\(2, 4\\)"):
        check_pair(moved, "blurry", g)
