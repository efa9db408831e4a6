"""The "PSF from beads..." chooser refuses, while still open, the Bead threshold and PSF radius
values the core would refuse only after the dialog closed (NaN, 0, negative, out of range); the
rule is the core's (``core.beads.check_threshold`` / ``check_radius``)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_microdeblur._widgets._bead_chooser import BeadDialog
from napari_microdeblur.core.beads import check_radius, check_threshold, psf_from_beads


@pytest.mark.parametrize("text", ["nan", "0", "-5", "inf"])
def test_the_chooser_refuses_a_threshold_the_core_refuses(qtbot, text):
    dialog = BeadDialog(None, [])
    qtbot.addWidget(dialog)
    dialog.threshold_edit.setText(text)
    dialog.accept()
    assert dialog.result() == 0  # stays open
    assert dialog.error_label.text() == (f"Bead threshold {text!r}: give a number above 0 in "
                                         "the image's units, or leave it blank for auto")


@pytest.mark.parametrize("text", ["0", "-3", "300", "7,7,7,7", "7.5"])
def test_the_chooser_refuses_a_radius_the_core_refuses(qtbot, text):
    dialog = BeadDialog(None, [])
    qtbot.addWidget(dialog)
    dialog.radius_edit.setText(text)
    dialog.accept()
    assert dialog.result() == 0
    assert dialog.error_label.text().startswith(f"PSF radius {text!r}: give whole pixels from 1 "
                                                "to 256")


def test_the_chooser_passes_values_the_core_takes(qtbot):
    dialog = BeadDialog(None, [])
    qtbot.addWidget(dialog)
    dialog.threshold_edit.setText("14.5")
    dialog.radius_edit.setText("7")
    dialog.accept()
    assert dialog.result() == 1
    assert dialog.options() == {"threshold": 14.5, "radius": 7}


def test_the_core_checks_are_the_ones_psf_from_beads_applies():
    image = np.zeros((64, 64), np.float32)
    for value in (float("nan"), 0.0, -1.0):
        with pytest.raises(ValueError, match="threshold=.*: give a number above 0"):
            check_threshold(value)
        with pytest.raises(ValueError, match="threshold=.*: give a number above 0"):
            psf_from_beads(image + np.random.default_rng(0).random((64, 64)), threshold=value)
    assert check_threshold(3) == 3.0 and check_threshold(None) is None
    assert check_radius((12, 7, 7)) == (12, 7, 7) and check_radius(5, 2) == (5, 5)
    with pytest.raises(ValueError, match="or 2 of them"):
        check_radius((5, 5, 5), 2)
    with pytest.raises(ValueError, match="one per axis"):
        check_radius((1, 2, 3, 4))
