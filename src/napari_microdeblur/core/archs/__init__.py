"""One file per network architecture; each registers itself in ``core.registry``.

Importing this package imports every architecture module so that all of them are
registered (``core.registry`` imports it lazily on first use).
"""

from napari_microdeblur.core.archs import c2f_unet, gran, psf_cyclegan, sgpn, wiener_unet  # noqa: F401

__all__ = ["c2f_unet", "gran", "psf_cyclegan", "sgpn", "wiener_unet"]
