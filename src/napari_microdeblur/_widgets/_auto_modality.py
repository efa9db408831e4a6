"""A method panel whose image-type line also says where Image type auto takes the chosen
grayscale layer for fluorescence (``_methods.gray_auto_note``), as the command line and the
Python API do: the Deblur dock said only the network, so an EM image opened from a TIFF got the
fluorescence network (21.6 dB against 23.2 dB with EM) with no hint."""

from __future__ import annotations

from ._layers import layer_data
from ._methods import AUTO, GRAY_AUTO_SUFFIX, gray_auto_note
from ._panels import MethodPanel


class AutoModalityPanel(MethodPanel):
    """``MethodPanel`` that reads the chosen layer of ``image`` (an ``ImagePanel``): where
    'auto' runs it as fluorescence for want of an image type, the line gets
    ``GRAY_AUTO_SUFFIX`` on a second line (the dock widens little) and its tooltip the whole
    line, as the command line words it."""

    def __init__(self, image, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._image = image
        self.show_auto_choice()

    def gray_auto_note(self) -> str:
        """The whole line (``gray_auto_note``) for the chosen layer and settings, else ''."""
        from ..core.method import MethodSpec

        image = getattr(self, "_image", None)  # None while MethodPanel's __init__ runs
        # a required PSF missing (psf_missing): Run refuses it, nothing runs as fluorescence
        if image is None or self.modality_combo is None or self.name != AUTO or self.psf_missing():
            return ""
        try:
            layer, axes = image.checked()
        except ValueError:  # no usable layer: Run says why
            return ""
        spec = MethodSpec(AUTO, psf=self.psf_text, modality=self.modality)
        data = layer_data(layer)
        return gray_auto_note(spec, axes, data.shape, data.dtype)

    def show_auto_choice(self, *_) -> None:
        super().show_auto_choice()
        if self.modality_combo is None:
            return
        note, text = self.gray_auto_note(), self.auto_label.text()
        if note and text and GRAY_AUTO_SUFFIX not in text:
            self.auto_label.setText(f"{text}\n{GRAY_AUTO_SUFFIX}")
        base = self.auto_label.toolTip().split("\n")[0]  # the panel's own tooltip
        self.auto_label.setToolTip(f"{base}\n{note}" if note else base)
