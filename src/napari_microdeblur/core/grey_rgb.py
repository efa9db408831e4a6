"""A grey image saved as RGB (R, G and B exactly equal) is deblurred as one grey channel and
written back as three identical channels, so its output keeps the input's RGB shape.

As colour it ran the colour path (the PSF-aware network in an opponent colour space, with
chroma channels of zero signal): the R channel of a grey EM tile came out a mean 15 and up to
104 grey levels from the same tile deblurred as grey (range -30..296 against 6..261). The
pixels are grey, so the method is the one a grey image of the same modality gets ('auto'
with modality 'auto' on it: the grey default, fluorescence). ``inference.prepare_deblur``
checks every RGB image (``identical_channels``: a strided sample first, then every pixel),
so the command line, the Python API and the docks all get it; a PSF per colour ('a;b;c')
and a ready ``Method`` or network are run as given.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .axes import AxisView, Layout, colour_part, copy_sample, is_rgb, key, plane_indices
from .image_settings import gray_auto, gray_auto_words
from .inference import PreparedDeblur, check_out, prepare_deblur
from .memory import check_result_fits
from .method import Method, MethodSpec
from .notes import DeblurNote

__all__ = ["GREY_RGB_COLOUR", "GREY_RGB_NOTE", "AllChannels", "GreyRgbDeblur",
           "identical_channels", "prepare_grey_rgb"]

GREY_RGB_NOTE = ("the three colour channels are identical: deblurred as one grey channel and "
                 "written back as RGB")
#: the record's ``colour`` (``Method.parameters``) of such a run
GREY_RGB_COLOUR = "identical channels, deblurred as grey"
#: values the strided sample reads before every pixel is compared
SAMPLE_ELEMENTS = 1_000_000
#: values one piece of the full comparison reads (a lazy image is read piece by piece)
PIECE_ELEMENTS = 4_000_000


def _channels_equal(block: np.ndarray, s: int) -> bool:
    block = np.asarray(block)
    first = np.take(block, 0, axis=s)
    # array_equal: NaNs differ, so an image with NaNs keeps its own error later
    return all(np.array_equal(first, np.take(block, i, axis=s)) for i in (1, 2))


def identical_channels(image, axes: str) -> bool:
    """Whether ``image`` is RGB (an S axis of 3) whose three channels are exactly equal. A
    strided sample settles a colour image without reading it all; a grey one is then read
    plane by plane (in row bands of ``PIECE_ELEMENTS``) and every pixel compared."""
    shape = tuple(int(n) for n in image.shape)
    if not is_rgb(axes, shape):
        return False
    stride = max(1, math.ceil((math.prod(shape) / 3 / SAMPLE_ELEMENTS) ** 0.5))
    sample = image[tuple(slice(None, None, stride) if a in "YX" else
                         (slice(None) if a == "S" else 0) for a in axes)]
    sample_axes = "".join(a for a in axes if a in "YXS")
    if not _channels_equal(sample, sample_axes.index("S")):
        return False
    loop = "".join(a for a in axes if a not in "YXS")
    plane_s = sample_axes.index("S")
    row = math.prod(shape[axes.index(a)] for a in "XS" if a in axes)
    rows = shape[axes.index("Y")]
    band = max(1, PIECE_ELEMENTS // max(row, 1))
    for index in plane_indices(axes, shape):
        where = dict(zip(loop, index))
        for y in range(0, rows, band):
            piece = image[key(axes, {**where, "Y": slice(y, y + band)})]
            if not _channels_equal(piece, plane_s):
                return False
    return True


class AllChannels(AxisView):
    """Channel 0 of an array's S axis ``axis`` as an array without it; an assignment writes
    all three channels at once (one write per tile: a TIFF output is written in order)."""

    def __init__(self, array, axis: int):
        super().__init__(array, axis,
                         tuple(n for i, n in enumerate(array.shape) if i != int(axis)))

    def _at_axis(self, where: tuple) -> tuple:
        return where[:self.axis] + (0,) + where[self.axis:]

    def __setitem__(self, where, value) -> None:
        inner = list(self._inner(where))
        inner[self.axis] = slice(None)
        # the S axis of the value: after the view's axes an integer index leaves out
        position = sum(not isinstance(w, (int, np.integer)) for w in inner[:self.axis])
        value = np.asarray(value)
        self.array[tuple(inner)] = np.repeat(np.expand_dims(value, position), 3, axis=position)


@dataclass
class GreyRgbDeblur(PreparedDeblur):
    """``PreparedDeblur`` of an RGB image with identical channels: ``grey`` (the deblur of
    its first channel) runs into all three channels of the output."""

    grey: PreparedDeblur | None = None

    def iter_run(self, out=None):
        if out is None:
            check_result_fits(self.shape, self.output_dtype)
            out = np.empty(self.shape, dtype=self.output_dtype)
        else:
            check_out(out, self.shape, self.output_dtype, self.image.dtype)
        return _run_grey(self, out)


def _run_grey(prepared: GreyRgbDeblur, out):
    axes = prepared.axes
    colours = out if prepared.rgba is None else colour_part(out, axes)
    result = yield from prepared.grey.iter_run(AllChannels(colours, axes.index("S")))
    if prepared.rgba is not None:  # RGBA: the alpha, the last sample, as it is
        copy_sample(prepared.rgba, out, axes, 3, prepared.output_dtype)
    return replace(result, image=out, axes=axes)


def _names_rgb_only(spec: MethodSpec) -> bool:
    """Whether ``spec`` names a network that takes 3 channels only (gran.hist_v1): as grey it
    was refused ('expects 3 channels but axes='YX' has no channel axis'), so it gets the RGB
    image as it is. Its card says (weights file, a Zoo .zip's attachment as load_model reads
    it: read_card alone refused the .zip and it ran as grey, or bundled name); the name alone
    does not."""
    from .bundled import BUNDLED_WEIGHTS, bundled_path
    from .checkpoint import read_card

    try:
        if spec.weights is not None:
            if Path(spec.weights).suffix.lower() == ".zip":
                from .export import read_bioimageio_card

                return read_bioimageio_card(spec.weights).in_channels not in (None, 1)
            return read_card(spec.weights).in_channels not in (None, 1)
        if spec.name in BUNDLED_WEIGHTS:
            return read_card(bundled_path(spec.name)).in_channels not in (None, 1)
    except (ValueError, OSError):  # a missing or damaged file: refused later, in its words
        return False
    return False


def prepare_grey_rgb(image, axes: str, method, tiling_spec, normalization, models):
    """``inference.prepare_deblur`` of an RGB image with identical channels (None for any
    other image, and for a network, ``Method`` or spec naming one, that takes RGB only): its
    first channel prepared as a grey image, its record's ``colour`` ``GREY_RGB_COLOUR``, with one
    DeblurNote. A ``MethodSpec`` is resolved as for a grey image; a ``Method`` resolved for
    RGB (the docks') runs its grey twin (``Method.grey``), one that takes any channel count
    runs as it is."""
    ready = isinstance(method, Method)
    if not (method is None or isinstance(method, MethodSpec) or (ready and (
            method.grey is not None or method.in_channels in (None, 1)))):
        return None
    if isinstance(method, MethodSpec) and _names_rgb_only(method):
        return None
    if not identical_channels(image, axes):
        return None
    if ready and method.grey is not None:
        method = method.grey()
    s = axes.index("S")
    grey_axes = axes.replace("S", "")
    first = AllChannels(image, s) if not isinstance(image, np.ndarray) else image[
        (slice(None),) * s + (0,)]
    grey = prepare_deblur(first, grey_axes, method, tiling_spec, normalization=normalization,
                          models=models)
    spec = MethodSpec() if method is None else method
    note = GREY_RGB_NOTE
    if gray_auto(spec, grey_axes, first.shape):  # modality 'auto' picked the grey default
        words = gray_auto_words(lambda value: f"modality={value!r}")
        note += f"; method 'auto' ran {grey.method.name} ({words})"
    warnings.warn(note, DeblurNote, stacklevel=3)
    parameters = dict(grey.method.parameters, colour=GREY_RGB_COLOUR)
    parameters.pop("chroma_noise_scale", None)
    grey = replace(grey, method=replace(grey.method, parameters=parameters))
    shape = tuple(int(n) for n in image.shape)
    return GreyRgbDeblur(image, grey.method, Layout.for_method(axes, shape, grey.method),
                         grey.normalization, grey.options, grey.output_dtype, grey=grey)
