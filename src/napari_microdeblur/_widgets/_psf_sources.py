"""Where a dock's PSF comes from: the text of a PSF box (a model such as ``gaussian:1.6`` or
``widefield:...``, a TIFF path, or ``layer:NAME`` for an image layer of the viewer, e.g. the one
"PSF from beads..." adds), turned into what the core takes. The Deblur dock and the Fine-tune
dock's "Adapt to this image" read their PSF through it, so both accept the same sources."""

from __future__ import annotations

import numpy as np

from ._layers import is_image_layer, layer_data

LAYER_PREFIX = "layer:"  # a PSF source naming an image layer of the viewer


def psf_of_text(viewer, text: str):
    """A PSF source as the core takes it: 'layer:NAME' becomes that image layer's array (read,
    never modified); anything else is passed on as it is."""
    if not text.startswith(LAYER_PREFIX):
        return text
    name = text[len(LAYER_PREFIX):].strip()
    layer = next((la for la in viewer.layers if la.name == name), None)
    if layer is None or not is_image_layer(layer) or layer.rgb:
        raise ValueError(f"psf {text!r}: the viewer has no grayscale image layer {name!r}; "
                         "choose a layer that holds a PSF, a PSF file or a model")
    return np.asarray(layer_data(layer))
