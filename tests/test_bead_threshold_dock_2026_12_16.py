"""The "PSF from beads..." chooser's Bead threshold (and PSF radius): faint beads that the core's
default threshold (8 noise sigmas) misses are found with a lower one given in the chooser, in
the Deblur dock and in the Fine-tune dock's PSF panel alike, and the no-bead message names the
field as the dock does, not the core's threshold= (driven in a real viewer under Xvfb; the
modal chooser's exec_ is replaced by one that fills its fields and presses OK)."""

from __future__ import annotations

import numpy as np
import pytest
from test_beads import gaussian, on_grid
from test_widgets import TIMEOUT, dock, wait_idle

from napari_microdeblur._widgets._bead_chooser import BeadDialog
from napari_microdeblur.core.beads import psf_from_beads
from napari_microdeblur.core.notes import DeblurWarning

FOUND_WITH = "14"  # about 5 noise sigmas of the smoothed image: the beads stand 6


def faint_beads():
    """Nine beads of peak 26 (18 once lightly smoothed) over noise of sigma 10: under the
    default threshold of 22.8, above 14."""
    rng = np.random.default_rng(0)
    shape = (160, 160)
    clean = np.full(shape, 100.0)
    for c in on_grid(shape, 40, 24, rng):
        bead = gaussian(shape, c, (1.5, 1.5))
        clean += 26 * bead / bead.max()
    return (clean + rng.normal(0, 10, shape)).astype(np.float32)


@pytest.fixture
def errors():
    from napari.utils.notifications import notification_manager

    start = len(notification_manager.records)
    return lambda: [str(n.message) for n in notification_manager.records[start:]
                    if str(n.severity).lower() == "error"]


@pytest.fixture
def chooser(monkeypatch):
    """The chooser answers with the bead layer and the Bead threshold in ``answer`` (its
    fields as the user found them go to ``seen``) instead of waiting for a user."""
    answer, seen = {"threshold": ""}, []

    def exec_(dialog):
        dialog.layer_combo.setCurrentText("faint")
        seen.append(dialog.threshold_edit.text())
        dialog.threshold_edit.setText(answer["threshold"])
        dialog.accept()
        return dialog.result()

    monkeypatch.setattr(BeadDialog, "exec_", exec_)
    return answer, seen


def test_the_core_default_misses_these_beads_and_a_lower_threshold_finds_them():
    image = faint_beads()
    with pytest.raises(ValueError, match="has no bead.*give a lower threshold="):
        psf_from_beads(image)
    with pytest.warns(DeblurWarning, match="too dim"):  # found, and said to be faint
        assert psf_from_beads(image, threshold=float(FOUND_WITH))[1].used >= 5


def test_deblur_dock_bead_threshold_from_the_chooser(make_napari_viewer, qtbot, errors,
                                                      chooser):
    answer, seen = chooser
    viewer = make_napari_viewer()
    w = dock(viewer, "Deblur")
    beads = faint_beads()
    before = beads.copy()
    layer = viewer.add_image(beads, name="faint")
    w.set_method("wiener")
    w.beads_button.click()  # the default threshold: no bead, and the field to lower named
    wait_idle(qtbot, w)
    said = w.status_label.text()
    assert "has no bead" in said and "give a lower Bead threshold, e.g. Bead threshold " in said
    assert "threshold=" not in said and any("Bead threshold" in m for m in errors())
    assert [la.name for la in viewer.layers] == ["faint"]
    answer["threshold"] = FOUND_WITH
    w.beads_button.click()
    wait_idle(qtbot, w)
    assert seen == ["", ""]  # nothing given for the layer yet: blank (auto)
    assert [la.name for la in viewer.layers] == ["faint", "PSF from faint"]
    psf = viewer.layers["PSF from faint"]
    assert w.psf_edit.text() == "layer:PSF from faint"
    assert psf.metadata["microdeblur"]["threshold"] == float(FOUND_WITH)
    with pytest.warns(DeblurWarning, match="too dim"):
        expected = psf_from_beads(before, threshold=float(FOUND_WITH))[0]
    np.testing.assert_array_equal(psf.data, expected)
    assert layer.data is beads
    np.testing.assert_array_equal(beads, before)  # the bead layer is only read
    w.beads_button.click()  # the chooser shows the threshold given for this layer
    wait_idle(qtbot, w)
    assert seen[-1] == FOUND_WITH


def test_finetune_psf_panel_bead_threshold_from_the_chooser(make_napari_viewer, qtbot,
                                                             errors, chooser):
    answer, _ = chooser
    viewer = make_napari_viewer()
    w = dock(viewer, "Fine-tune")
    beads = faint_beads()
    before = beads.copy()
    viewer.add_image(beads, name="faint")
    w.psf_panel.beads_button.click()
    wait_idle(qtbot, w)
    assert any("give a lower Bead threshold, e.g. Bead threshold " in m for m in errors())
    assert not any("threshold=" in m for m in errors())
    answer["threshold"] = FOUND_WITH
    w.psf_panel.beads_button.click()
    qtbot.waitUntil(lambda: not w._workers and "PSF from faint" in viewer.layers,
                    timeout=TIMEOUT)
    assert w.psf_panel.psf_edit.text() == "layer:PSF from faint"
    np.testing.assert_array_equal(beads, before)


def test_the_chooser_refuses_a_threshold_that_is_no_number(qtbot):
    dialog = BeadDialog(None, [])
    qtbot.addWidget(dialog)
    dialog.threshold_edit.setText("faint")
    dialog.accept()  # OK: the dialog stays open and says which field to change
    assert dialog.result() == 0
    assert dialog.error_label.text().startswith("Bead threshold 'faint': give a number")
    dialog.threshold_edit.setText("")
    dialog.radius_edit.setText("12,7,7")
    dialog.accept()
    assert dialog.result() == 1 and dialog.options() == {"threshold": None,
                                                          "radius": (12, 7, 7)}
