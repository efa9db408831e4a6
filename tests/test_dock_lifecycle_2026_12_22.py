"""What the docks do when the input layer changes while a run goes on (2026-12-22): its data
replaced (``layer.data = other``) during a Deblur or Focus QC run, a cropped run of a rotated
layer that is removed during the run, and the Fine-tune Preview moved to another layer. The
change happens before control returns to the event loop, so before the run's end is handled
whatever the run's speed. Driven in a real viewer under Xvfb with Wiener or a tiny GRAN."""

from __future__ import annotations

import numpy as np
from test_docks_audit_2026_12_04d import deblur_dock, wait_preview
from test_widget_finetune import finetune_dock, tiny_session_model  # noqa: F401
from test_widgets import TIMEOUT, _clean_session, dock, wait_idle, wait_run  # noqa: F401

from napari_microdeblur._widgets._compare_roles import guess_roles, input_of
from napari_microdeblur._widgets._jobs import last_deblur
from napari_microdeblur._widgets._layer_data import (
    placed_kwargs,
    source_placement,
    translate_for,
)

REPLACED = ("the data of input layer 'cells' was replaced during the run; the result is of "
            "the data it had at the start")


def field(seed: int, shape=(64, 64)) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) * 200).astype(np.float32)


def test_data_replaced_during_a_deblur_run_is_said_and_not_paired_for_qc(
        make_napari_viewer, qtbot):
    """Was: the result, of the old data, was remembered as the layer's pair, and Compare & QC
    scored it against the new data (a deblurred PSNR 10 dB below the blurry one)."""
    viewer = make_napari_viewer()
    layer, w = deblur_dock(viewer, field(0))
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")
    wait_preview(qtbot, w)
    run = w.run()
    layer.data = field(1)  # the next field of view, while the run goes on
    wait_run(qtbot, run)
    assert run.layer is not None
    last = last_deblur(viewer)
    assert last is None or last[1] is not run.layer  # Compare & QC does not pair them
    assert run.layer.metadata["microdeblur"]["input_replaced"] == REPLACED
    assert REPLACED in w.status_label.text()
    # nor by its record: the result is no role Compare & QC guesses (it is chosen by hand)
    assert run.layer not in guess_roles(viewer).values()
    assert input_of(viewer, run.layer) is None
    # a run of the data the layer holds now is its pair again, and says nothing of it
    run = w.run()
    wait_run(qtbot, run)
    assert "input_replaced" not in run.layer.metadata["microdeblur"]
    assert "replaced" not in w.status_label.text()
    assert last_deblur(viewer) == (layer, run.layer)


def test_data_replaced_during_a_focus_qc_run_is_said_and_not_paired_for_qc(
        make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    layer = viewer.add_image(fluo_u8, name="cells")
    w = dock(viewer, "Focus QC")
    w.layer_combo.set_value(layer)
    w.tile_spin.setValue(32)
    w.score()
    wait_idle(qtbot, w)
    w.set_threshold(float(np.median(w.scores)))
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")
    run = w.run()
    assert run is not None
    layer.data = fluo_u8[::-1].copy()
    wait_run(qtbot, run)
    assert run.layer is not None
    assert run.layer.metadata["microdeblur"]["input_replaced"] == REPLACED
    assert REPLACED in w.status_label.text()
    last = last_deblur(viewer)
    assert last is None or last[1] is not run.layer


def test_a_crop_of_a_transformed_layer_removed_during_the_run_stays_in_place():
    """A 'visible field of view' result is placed from the input layer's placement; once the
    layer was removed it fell back to translate + scale * offset, which put a crop of a
    rotated, sheared or affine-transformed layer elsewhere."""
    from napari.layers import Image

    data = field(0, (40, 50))
    offset = (7, 11)
    for transform in ({"rotate": 30}, {"shear": [0.3], "rotate": 10},
                      {"affine": np.array([[1, 0.2, 3], [0, 1.1, -4], [0, 0, 1]])}):
        layer = Image(data, scale=(0.5, 0.7), translate=(10, 20), **transform)
        placement = source_placement(layer)
        gone = dict(placement, source=lambda: None)  # the layer was removed
        assert np.allclose(translate_for(gone, offset), translate_for(placement, offset))
        kwargs = placed_kwargs(gone, offset)
        crop = Image(data[7:, 11:], **{k: kwargs[k] for k in
                                       ("scale", "translate", "rotate", "shear", "affine")})
        assert np.allclose(crop.data_to_world([0, 0]), layer.data_to_world(offset))


def test_a_preview_of_another_layer_is_placed_like_that_layer(
        make_napari_viewer, qtbot, tiny_session_model, focus_stack):  # noqa: F811
    """Was: the Preview layer was reused with the first layer's scale (only its data, name
    and translate changed), so a preview of a layer of another pixel size sat elsewhere."""
    viewer = make_napari_viewer()
    first = viewer.add_image(focus_stack[:, :64, :64], name="first", scale=(1, 0.2, 0.2))
    other = viewer.add_image(focus_stack[:, :64, :64], name="other", scale=(2, 1.0, 1.0),
                             translate=(0, 30, 40), colormap="magma")
    viewer.dims.set_current_step(0, 4)
    w = finetune_dock(viewer, 1, first, steps=100_000)
    w.start_button.click()
    qtbot.waitUntil(lambda: w._last_step >= 1, timeout=TIMEOUT)
    w.preview_button.click()
    qtbot.waitUntil(lambda: w.preview_layer is not None and w.preview_button.isEnabled(),
                    timeout=TIMEOUT)
    assert tuple(w.preview_layer.scale) == (1, 0.2, 0.2)
    w.stack_combo.set_value(other)
    w.preview_button.click()
    qtbot.waitUntil(lambda: w.preview_button.isEnabled()
                    and w.preview_layer.name.startswith("other preview"), timeout=TIMEOUT)
    preview = w.preview_layer
    w.stop_button.click()
    wait_idle(qtbot, w)
    assert tuple(preview.scale) == (2, 1.0, 1.0)
    assert preview.colormap.name == "magma"  # shown like its input, not like the first
    offset = w.preview_run.req.offset  # the plane at the sliders
    assert np.allclose(preview.data_to_world([0, 0, 0]), other.data_to_world(offset))
    assert [la.name for la in viewer.layers].count(preview.name) == 1
    assert not any(la.name.startswith("first preview") for la in viewer.layers)


def test_data_replaced_after_a_run_ends_the_pair(make_napari_viewer, qtbot):
    """Review of 010b6ed: a layer given the next field of view after its run (not during it)
    was still paired with the old field's result, by the last deblur and by the record's
    layer name, and Compare & QC scored one against the other."""
    viewer = make_napari_viewer()
    layer, w = deblur_dock(viewer, field(0))
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")
    wait_preview(qtbot, w)
    run = w.run()
    wait_run(qtbot, run)
    assert last_deblur(viewer) == (layer, run.layer)
    assert guess_roles(viewer)["deblurred"] is run.layer
    layer.data = field(1)  # the next field, once the run is over
    assert last_deblur(viewer) is None
    assert input_of(viewer, run.layer) is None
    assert run.layer not in guess_roles(viewer).values()
    # the same array given back: its pair again
    layer.data = layer.data
    assert input_of(viewer, run.layer) is None  # field(1) is still not what the run read
