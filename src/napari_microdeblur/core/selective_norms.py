"""The normalisation each plane of a selective deblur (``core.selective``) runs with: one given
for all; else computed on the whole image once per method kind, as a whole-image deblur's
(Wiener: shift). A grayscale network looping over channels (``image_settings.
network_per_channel``) takes each channel's own range instead, as a plain deblur does
(``channel_psfs.prepare_channels``): on the brightest channel's range a dim channel's soft
plane came out under-restored, unlike the same plane of a plain deblur.
"""

from __future__ import annotations

from .axes import loop_axes
from .channel_psfs import channel_of
from .image_settings import network_per_channel
from .inference import Normalization, compute_normalization
from .method import Method, MethodSpec

__all__ = ["plane_normalizations"]


def plane_normalizations(image, axes: str, spec, method: Method, methods: dict, planes,
                         given: Normalization | None) -> dict:
    """{(): the run's, plane: ...}: for each plane of ``methods`` (``selective.settled_parts``)
    its method's, and where each channel is normalised on its own (``network_per_channel`` of
    ``spec``, a MethodSpec or None), for each of ``planes`` (indices over the loop axes, all
    but Y, X and S) its channel's; the run's is then that of the first of ``planes``."""
    shape = tuple(int(n) for n in image.shape)
    found: dict = {}
    if (given is None and isinstance(spec, MethodSpec)
            and network_per_channel(spec, axes, shape)):
        c, at = axes.index("C"), loop_axes(axes, "YXS").index("C")
        own_axes = axes.replace("C", "")

        def of(m: Method, plane) -> Normalization:
            kind = (int(plane[at]), m.normalization_kind, *m.percentiles)
            if kind not in found:  # the channel's range, as that channel deblurred alone
                found[kind] = compute_normalization(channel_of(image, c, kind[0]), own_axes,
                                                    *kind[1:])
            return found[kind]

        norms = {tuple(p): of(methods.get(tuple(p), method), p) for p in planes}
        return {(): norms[next(iter(norms))], **norms}

    def of_kind(m: Method) -> Normalization:
        kind = (m.normalization_kind, *m.percentiles)
        if kind not in found:
            found[kind] = given or compute_normalization(image, axes, *kind)
        return found[kind]

    return {(): of_kind(method), **{plane: of_kind(m) for plane, m in methods.items()}}
