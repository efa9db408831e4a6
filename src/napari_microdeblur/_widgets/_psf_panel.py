"""The Fine-tune dock's PSF panel: the PSF of the blurry layer, read from the same sources as
the Deblur dock (``_psf_sources``: a model such as gaussian:1.6, optics, a TIFF, or
``layer:NAME``, e.g. a PSF measured from beads). Shown for "Adapt to this image", for a
PSF-aware base network (on pairs and stacks too) and for a new PSF-aware network. Once the dock
calls ``follow_image``, an optics model's pixel= and dz= follow the blurry layer's scale.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import QWidget

from ._controls import button
from ._feedback import notify_error, notify_info
from ._panels import ClassicalOptions, form_layout, row
from ._psf_sources import (
    BEADS_TOOLTIP,
    PsfScalePrefill,
    choose_bead_layer,
    measure_psf_from_beads,
    psf_of_text,
)

NO_PSF = ("blurry image's PSF: type a model (gaussian:1.6, "
          "widefield:na=1.4,wavelength=0.52,pixel=0.065), choose a PSF file, or give "
          "layer:NAME (e.g. a PSF measured from beads in the Deblur dock)")

#: what the empty PSF box shows: the forms it takes
PLACEHOLDER = "required: gaussian:1.6, widefield:na=..., confocal:..., a PSF file, layer:NAME"


class PsfPanel(QWidget):
    """The PSF of the blurry layer: what "Adapt to this image" re-blurs with, and what a
    PSF-aware base network fine-tunes with on pairs. ``owner`` (the dock) runs the bead
    measurement's worker."""

    def __init__(self, viewer, owner, parent=None) -> None:
        super().__init__(parent)
        self.viewer, self.owner = viewer, owner
        form = form_layout(self)
        self.psf_box = ClassicalOptions()
        self.psf_box.show_for(None, psf="needed")
        self.psf_box.setToolTip("The PSF that blurred the blurry layer: adapting without a "
                                "reference re-blurs the network's output with it; a PSF-aware "
                                "network trains and validates with it.")
        self.psf_edit = self.psf_box.psf_edit
        # no PSF until the user gives one (as in the Deblur dock): adapting with a PSF nobody
        # chose ran on it silently
        self.psf_edit.setPlaceholderText(PLACEHOLDER)
        self.beads_button = button("PSF from beads...", BEADS_TOOLTIP)
        self.psf_box.form.insertRow(2, "", row(self.beads_button))
        form.addRow(self.psf_box)
        self.beads_button.clicked.connect(self._choose_beads)
        self.prefill: PsfScalePrefill | None = None

    def follow_image(self, image_of, *signals) -> PsfScalePrefill:
        """Fill an optics model's pixel= (and dz=) from the scale of the layer ``image_of()``
        gives ((layer, axes) or None), again when one of ``signals`` fires (the dock's layer
        and mode changes); a value the user typed is kept (``PsfScalePrefill``)."""
        self.prefill = PsfScalePrefill(self.psf_edit, image_of, form=self.psf_box.form,
                                       follow=signals)
        return self.prefill

    def _choose_beads(self) -> None:
        chosen = choose_bead_layer(self, self.viewer)  # (layer, threshold and radius) or None
        if chosen is not None:
            self.psf_from_beads(*chosen)

    def psf_from_beads(self, layer, options=None):
        """Measure the PSF from a bead image layer (as the Deblur dock does); it is added as
        a layer and becomes this panel's PSF. Returns the worker."""
        def measured(psf_text: str, summary: str) -> None:
            self.psf_edit.setText(psf_text)
            notify_info(summary)

        return measure_psf_from_beads(self.owner, self.viewer, layer, measured=measured,
                                      failed=notify_error, options=options)

    def psf(self, needed_by: str = "Adapt to this image") -> tuple[Any, str]:
        """(the PSF as the core takes it, its text); ValueError naming ``needed_by`` when none
        is given."""
        text = self.psf_edit.text().strip()
        if not text:
            raise ValueError(f"{needed_by} needs the {NO_PSF}")
        from ..core.psf import parse_psf
        from ..core.psf_estimate import is_estimate

        missing = self.prefill.missing_pixel() if self.prefill is not None else ""
        if missing:  # said in the layer's terms: the core's line gives an example value
            raise ValueError(missing)
        source = psf_of_text(self.viewer, text)
        if isinstance(source, str) and not is_estimate(source):
            parse_psf(source)  # a bad model or file is refused now, not once the run started
        return source, text
