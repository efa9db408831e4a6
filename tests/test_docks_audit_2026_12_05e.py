"""Audit of the Compare & QC and Fine-tune docks (2026-12-05, fifth pass): layers placed
differently in Y-X (scale, translate) are refused in one line rather than compared pixel for
pixel, and "Adapt to this image" with a 3D PSF on a 2D image says it uses the PSF's in-focus
plane, as the PSF-aware network's deblur does. Driven in a real viewer under Xvfb; tests wait
on conditions, never on fixed delays."""

from __future__ import annotations

import numpy as np
import pytest
from test_docks_audit_2026_12_05a import compare, stack
from test_widget_finetune import tiny_session_model  # noqa: F401 - the base network
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
    notes,
    snapshot,
    wait_idle,
    wait_table,
)

from napari_microdeblur.core.psf import gaussian_psf

# ----------------------------------------------------------------------------- Compare & QC


@pytest.mark.parametrize("placement,said", [
    ({"scale": (2.0, 2.0)}, "scale (2, 2)"),
    ({"translate": (0.0, 10.0)}, "translate (0, 10)"),
])
def test_a_truth_placed_elsewhere_in_yx_is_refused_naming_the_placements(
        make_napari_viewer, qtbot, notes, placement, said):  # noqa: F811
    """A ground truth at twice the pixel size, or shifted 10 px in the world, was scored pixel
    for pixel against the blurry layer (different places of the sample); now one line names
    the layer and both placements, and nothing is computed or changed."""
    sharp, noisy = stack(n=1)
    viewer = make_napari_viewer()
    b = viewer.add_image(noisy[0], name="blurry")
    g = viewer.add_image(sharp[0], name="truth", **placement)
    before = snapshot(viewer)
    w = compare(viewer, b, g)
    qtbot.waitUntil(lambda: "placed" in w.message_label.text(), timeout=TIMEOUT)
    line = w.message_label.text()
    assert "blurry layer 'blurry'" in line and "'truth'" in line and said in line
    assert "\n" not in line and w.last_result is None
    assert w.compute_stack() is None and w.add_difference_map() is None
    assert any(said in m for m in notes.errors())
    assert snapshot(viewer) == before
    # placed like the truth again: scored, without touching the dock (it follows placement)
    b.scale, b.translate = g.scale, g.translate
    result = wait_table(qtbot, w)
    assert result["psnr_blurry"] > 0 and not w.message_label.text()


def test_layers_placed_alike_in_yx_but_apart_in_z_are_still_scored(make_napari_viewer, qtbot):
    """Layers with the same Y-X scale and translate (both not 1 / 0) that differ only in their
    Z placement are compared plane by plane, as before."""
    sharp, noisy = stack(n=6)
    viewer = make_napari_viewer()
    b = viewer.add_image(noisy, name="blurry", scale=(1.0, 0.5, 0.5), translate=(0, 3, 4))
    g = viewer.add_image(sharp[2:5], name="truth", scale=(1.0, 0.5, 0.5),
                         translate=(2, 3, 4))
    viewer.dims.set_point(0, 3)
    w = compare(viewer, b, g)
    result = wait_table(qtbot, w)
    assert result["psnr_blurry"] > 0 and not w.message_label.text()


# ----------------------------------------------------------------------------- Fine-tune


def test_adapt_with_a_3d_psf_on_a_2d_image_says_it_uses_the_in_focus_plane(
        make_napari_viewer, qtbot, tiny_session_model, fluo_u8, notes):  # noqa: F811
    """A 3-plane PSF layer on a 2D image: the adaptation blurred with the PSF's in-focus plane
    (as the PSF-aware network's deblur does) without a word in the dock; a warning now says
    so when the run starts, and the status line after it."""
    viewer = make_napari_viewer()
    blurry = viewer.add_image(fluo_u8[:96, :128].astype(np.float32), name="blurry")
    psf = gaussian_psf(1.5, size=9)
    viewer.add_image(np.stack([0.2 * psf, psf, 0.5 * psf]).astype(np.float32), name="psf3")
    w = dock(viewer, "Fine-tune")
    w.mode_combo.setCurrentIndex(2)
    w.self_page.layer_combo.set_value(blurry)
    w.set_base(tiny_session_model)
    w.psf_panel.psf_edit.setText("layer:psf3")
    w.minutes_spin.setValue(0.05)
    w.steps_spin.setValue(1)
    w.patch_spin.setValue(16)
    w.batch_spin.setValue(2)
    w.device_combo.setCurrentText("cpu")
    w.start_button.click()
    wait_idle(qtbot, w)
    assert w.outcome.model is not None
    said = "in-focus plane (z=1 of 3)"
    assert any(said in m for s, m in notes.all() if s.lower() == "warning")
    assert said in w.status_label.text() and "\n" not in w.status_label.text()


def test_the_in_focus_note_is_only_for_a_psf_with_several_planes():
    from napari_microdeblur._widgets._finetune_self import in_focus_note

    psf = gaussian_psf(1.5, size=9)
    assert in_focus_note(psf) is None and in_focus_note("gaussian:1.6") is None
    assert in_focus_note("estimate") is None and in_focus_note(psf[None]) is None
    assert "(z=2 of 3)" in in_focus_note(np.stack([0.1 * psf, 0.5 * psf, psf]))
