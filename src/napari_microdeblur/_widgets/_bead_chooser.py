"""The "PSF from beads..." chooser both docks open (the Deblur dock's and the Fine-tune dock's
PSF panel, through ``_psf_sources``): the bead image, a grayscale layer or a file opened as a
layer, and how its beads are found, the Bead threshold and PSF radius that ``core.beads`` (and
`microdeblur psf-from-beads` as --threshold and --radius) takes. What was given is kept for
that layer to fill the chooser in again, and the core's messages name these fields
(``bead_error_words``; ``bead_words`` for the report's warning lines)."""

from __future__ import annotations

import re
import weakref

import numpy as np
from qtpy.QtWidgets import QDialog

from ._feedback import DOCK_FIELDS, describe_error, in_dock_words
from ._layers import is_image_layer, unwrap

FROM_FILE = "a file..."
BEADS_TOOLTIP = ("Measure the PSF from an image of isolated fluorescent beads (a layer or a "
                 "file; YX or ZYX, one channel, same objective and pixel size as the images "
                 "to deblur), with a Bead threshold and PSF radius of your own if given. It is "
                 "added as a layer and becomes the PSF here.")
# bead layer -> the threshold= and radius= its chooser last gave (only to fill it in again)
_BEAD_OPTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class BeadDialog(QDialog):
    """The bead image (a layer's name, or FROM_FILE) and how its beads are found: the Bead
    threshold (core.beads' threshold=, blank: 8 noise sigmas) and the PSF radius (radius=,
    blank: from the beads' width), filled with what was last given for the layer chosen."""

    def __init__(self, parent, layers) -> None:
        from qtpy.QtWidgets import QComboBox, QDialogButtonBox, QFormLayout, QLabel, QLineEdit

        super().__init__(parent)
        self.setWindowTitle("PSF from beads")
        self.layers, self.error_label = layers, QLabel()
        self.layer_combo, self.threshold_edit, self.radius_edit = (QComboBox(), QLineEdit(),
                                                                    QLineEdit())
        self.layer_combo.addItems([la.name for la in layers] + [FROM_FILE])
        self.threshold_edit.setPlaceholderText("auto: 8 noise sigmas")
        self.threshold_edit.setToolTip("The least peak height above the local background (a "
                                       "running median 31 px wide) for a bead, in the image's "
                                       "units; lower it for faint beads.")
        self.radius_edit.setPlaceholderText("auto: 2.5 x the beads' FWHM")
        self.radius_edit.setToolTip("Half the PSF's side in pixels, one value or one per axis "
                                    "(ZYX), e.g. 12,7,7; smaller if the beads are dense.")
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Image of isolated beads (YX or ZYX, one channel):", self.layer_combo)
        form.addRow(f"{DOCK_FIELDS['threshold']}:", self.threshold_edit)
        form.addRow(f"{DOCK_FIELDS['radius']} (px):", self.radius_edit)
        form.addRow(self.error_label)
        form.addRow(buttons)
        self.layer_combo.currentIndexChanged.connect(self._fill)
        self._fill()

    def _fill(self, *_) -> None:
        index = self.layer_combo.currentIndex()
        if index < len(self.layers):  # a file to open keeps what is there
            given = _BEAD_OPTIONS.get(unwrap(self.layers[index]), {})
            threshold, radius = given.get("threshold"), given.get("radius")
            self.threshold_edit.setText("" if threshold is None else f"{threshold:g}")
            self.radius_edit.setText(",".join(map(str, np.atleast_1d(radius)))
                                     if radius is not None else "")

    def options(self) -> dict:
        """threshold= and radius= as core.beads takes them (None: its default); ValueError
        naming the field whose text is no such value."""
        from ..core.beads import check_radius, check_threshold

        threshold, radius = self.threshold_edit.text().strip(), self.radius_edit.text().strip()
        try:  # the core's rule, said before the dialog closes (NaN or 0 had passed here)
            threshold = check_threshold(float(threshold)) if threshold else None
        except ValueError:
            raise ValueError(f"{DOCK_FIELDS['threshold']} {threshold!r}: give a number above 0 "
                             "in the image's units, or leave it blank for auto") from None
        try:
            radii = (check_radius(tuple(int(v) for v in radius.split(",")))
                     if radius else None)
        except ValueError:
            raise ValueError(f"{DOCK_FIELDS['radius']} {radius!r}: give whole pixels from 1 to "
                             "256, one value or one per axis (e.g. 7 or 12,7,7), or leave it "
                             "blank for auto") from None
        return {"threshold": threshold,
                "radius": radii[0] if radii and len(radii) == 1 else radii}

    def accept(self) -> None:
        try:
            self.options()
        except ValueError as error:  # said in the dialog, which stays open to change it
            self.error_label.setText(str(error))
            return
        super().accept()


def choose_bead_layer(parent, viewer):
    """Ask for the bead image, a grayscale layer or a file opened as a layer, and its Bead
    threshold and PSF radius (``BeadDialog``): (layer, {threshold=, radius=} as
    ``core.beads.psf_from_beads`` takes them); None if the user cancels."""
    from qtpy.QtWidgets import QFileDialog

    dialog = BeadDialog(parent, [la for la in viewer.layers if is_image_layer(la) and not la.rgb])
    if not dialog.exec_():
        return None
    index, options = dialog.layer_combo.currentIndex(), dialog.options()
    if index < len(dialog.layers):
        layer = dialog.layers[index]
    else:
        path, _ = QFileDialog.getOpenFileName(parent, "Bead image", "",
                                              "Images (*.tif *.tiff *.png);;All files (*)")
        opened = [la for la in viewer.open(path) if is_image_layer(la)] if path else []
        layer = opened[0] if opened else None
    if layer is None:
        return None
    _BEAD_OPTIONS[unwrap(layer)] = options
    return layer, options


def bead_error_words(error: BaseException) -> str:
    """``describe_error`` with the core's 'threshold=' and 'radius=' as the fields of the
    chooser (``_in_fields``)."""
    return _in_fields(describe_error(error))


def bead_words(text: str) -> str:
    """A line of the core's (the report's warning of a radius that cut the PSF) with its
    'radius=11' and 'threshold=' as the chooser's fields (``in_dock_words``, ``_in_fields``)."""
    return _in_fields(in_dock_words(text))


def _in_fields(text: str) -> str:
    """A bare 'threshold=' or 'radius=' ('give a lower threshold=, e.g. ...': ``in_dock_words``
    renders a name with a value only) as the field's name."""
    return re.sub(r"(?<![\w.-])(threshold|radius)=(?![\w'\"])",
                  lambda m: DOCK_FIELDS[m.group(1)], text)
