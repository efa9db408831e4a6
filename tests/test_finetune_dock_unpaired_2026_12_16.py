"""From a walkthrough (2026-12-16): the Fine-tune dock trains psf_cyclegan on unpaired blurry
images and sharp images of OTHER fields alone (no Blurry/Sharp pair, no pairing checks), its
Sharp box does not take a layer chosen as unpaired, the unpaired layers are refused in one line
each, and the learned PSF comes out as a layer and a file (as train --export-psf). Headless
under Xvfb, tiny images, one or two steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    _clean_session,
    dock,
    wait_idle,
)


def errors_since(start: int) -> list[str]:
    from napari.utils.notifications import notification_manager

    return [str(n.message) for n in notification_manager.records[start:]
            if str(n.severity).lower() == "error"]


def n_records() -> int:
    from napari.utils.notifications import notification_manager

    return len(notification_manager.records)


def fields(fluo_u8):
    """(a blurry image, a stack of blurry images, a stack of sharp images of other fields):
    the sharp ones are flipped and turned copies, so no pair is of one field."""
    sharp = fluo_u8.astype(np.float32)
    blurry = ndimage.gaussian_filter(sharp, 2.0)
    others = np.stack([np.rot90(sharp, k) for k in (1, 2)])
    return blurry, np.stack([blurry, blurry[::-1]]), np.ascontiguousarray(others[:, :, ::-1])


def unpaired_dock(viewer, fluo_u8):
    blurry, ub, us = fields(fluo_u8)
    viewer.add_image(blurry, name="blurry0")
    layers = (viewer.add_image(ub, name="unpaired blurry"),
              viewer.add_image(us, name="unpaired sharp"))
    w = dock(viewer, "Fine-tune")
    w.mode_combo.setCurrentIndex(0)
    w.steps_spin.setValue(2)
    w.batch_spin.setValue(1)
    w.patch_spin.setValue(64)  # the default discriminator needs 64-px patches
    w.minutes_spin.setValue(0)
    w.device_combo.setCurrentText("cpu")
    w.regimes.set_start("psf_cyclegan", "tiny")
    w.regimes.set_regime("psf_cyclegan")
    return w, layers


def test_psf_cyclegan_trains_on_the_unpaired_layers_alone_and_adds_the_learned_psf(
        make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    w, (ub, us) = unpaired_dock(viewer, fluo_u8)
    w.regimes.source_combos["unpaired"].set_value(ub)
    w.regimes.source_combos["unpaired_sharp"].set_value(us)
    assert not w.pages.isVisibleTo(w)  # no Blurry/Sharp pair is used: its rows are hidden
    start = n_records()
    assert w.start() is not None, errors_since(start)
    wait_idle(qtbot, w)
    assert errors_since(start) == []
    assert w.session_label == "new psf_cyclegan (tiny) trained on unpaired blurry"
    card = w.outcome.card
    assert "layer 'unpaired blurry'" in card.training_data
    # validation: a synthetic blur of the sharp images; the job's band is not trained on
    assert "layer 'unpaired sharp' less its band X 102-128" in card.training_data
    assert "a band of every plane (X 102-128" in card.training_data
    psf_layers = [la for la in viewer.layers if la.name.startswith("learned PSF")]
    assert [la.name for la in psf_layers] == [f"learned PSF ({w.session_label})"]
    kernel = np.asarray(psf_layers[0].data)
    assert kernel.ndim == 2 and kernel.sum() == pytest.approx(1.0, abs=1e-4)
    written = Path(w.outcome.file).with_name(Path(w.outcome.file).stem + "_learned_psf.tif")
    assert written.is_file() and str(written) in w.status_label.text()
    assert np.allclose(tifffile.imread(written), kernel, atol=1e-6)
    # the user's layers are as they were; no comparison of a pair that did not exist
    assert not w.comparison and "Compare & QC not filled" in w.status_label.text()


def test_sharp_box_does_not_take_a_layer_chosen_as_unpaired(make_napari_viewer, fluo_u8):
    viewer = make_napari_viewer()
    w, (ub, us) = unpaired_dock(viewer, fluo_u8)
    # named neither way, and no plane of a stack (which would rank as a reference)
    other = viewer.add_image(fluo_u8.astype(np.float32)[:120, :120], name="field 2")
    w.blurry_combo.set_value(viewer.layers["blurry0"])
    w.regimes.source_combos["unpaired_sharp"].set_value(us)
    assert w.sharp_combo.value is other  # was 'unpaired sharp', by its name
    w.regimes.source_combos["unpaired_sharp"].setCurrentIndex(0)  # (none): it may again
    assert w.sharp_combo.value is us


def test_unpaired_layers_are_refused_in_one_line(make_napari_viewer, fluo_u8):
    viewer = make_napari_viewer()
    w, (ub, us) = unpaired_dock(viewer, fluo_u8)
    rows = w.regimes.source_combos

    def refused() -> str:
        start = n_records()
        assert w.start() is None
        said = errors_since(start)
        assert len(said) == 1 and "\n" not in said[0]
        return said[0]

    rows["unpaired"].set_value(ub)  # no sharp images of other fields
    assert "choose sharp images of other fields under 'Unpaired sharp'" in refused()
    rows["unpaired_sharp"].set_value(ub)
    assert "'unpaired blurry' is chosen as both Unpaired blurry and Unpaired sharp" in refused()
    rgb = viewer.add_image(np.zeros((128, 128, 3), np.uint8) + 9, name="rgb", rgb=True)
    rows["unpaired_sharp"].set_value(rgb)
    assert "has 1 channel(s) (ZYX) but Unpaired sharp 'rgb' has 3 (YXS)" in refused()
    tiny = viewer.add_image(np.ones((1, 1), np.float32), name="dot")
    rows["unpaired_sharp"].set_value(tiny)
    assert "layer 'dot' is empty or too small" in refused()
    small = viewer.add_image(fluo_u8[:60, :60].astype(np.float32), name="small")
    rows["unpaired_sharp"].set_value(small)
    assert "Unpaired sharp 'small' (60 x 60) is too small to hold out validation" in refused()
    assert w.outcome is None and w.worker is None  # nothing started


def test_validate_on_the_pair_keeps_the_paired_run(make_napari_viewer, fluo_u8):
    """Ticked, the pair is used (and checked) as before: a request of the pair's layers."""
    viewer = make_napari_viewer()
    w, (ub, us) = unpaired_dock(viewer, fluo_u8)
    target = viewer.add_image(fluo_u8.astype(np.float32), name="sharp0")
    w.blurry_combo.set_value(viewer.layers["blurry0"])
    w.sharp_combo.set_value(target)
    w.regimes.source_combos["unpaired"].set_value(ub)
    w.regimes.source_combos["unpaired_sharp"].set_value(us)
    assert w.unpaired_only
    req = w.build_request()
    assert req.axes == "TCYX" and req.sharp is None and req.layer_name.startswith("synthetic")
    w.regimes.pair_check.setChecked(True)
    assert not w.unpaired_only and w.pages.isVisibleTo(w)
    req = w.build_request()
    assert req.layer_name == "blurry0" and req.sharp is not None
