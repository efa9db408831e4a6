"""The PSF a deblur will use, shown as a small image with its size and FWHM (``core.psf.
psf_preview`` computes both; an obliquely elongated PSF's FWHM is measured along its own axes,
``describe_psf``); a PSF that cannot be used shows its one-line error instead, and so does one
that does not fit the image the run would take (``fit_check``: Run's own check).

An optics PSF takes a second or more to compute, so the preview is computed in a worker of the
dock that owns it, a moment after the source stops changing; only the latest answer is shown.
A PSF per channel ('A;B', ``core.channel_psfs``) shows the channel the viewer shows; every
channel's PSF is computed once (moving the C slider shows another without recomputing), and an
error in any channel is shown as the error.
"""

from __future__ import annotations

import math
import os

import numpy as np
from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QHBoxLayout, QLabel, QWidget

from ..core.psf_estimate import is_estimate
from ._feedback import describe_error
from ._workers import start_worker

SIDE = 96  # pixels of the preview image on screen
SETTLE_MS = 300  # wait this long after the last change before computing
ROUND_SHAPE = 0.05  # second moments this close: a round PSF, no long axis to name
AXIS_ALIGNED_DEG = 2.0  # a long axis this close to Y or X: the Y and X profiles are its widths


class PsfPreview(QWidget):
    """A 96 px image of the PSF's in-focus plane (log scale) and a caption.

    ``show_source(source)`` takes what the deblur takes (a model string, a TIFF path, an array)
    or None (no PSF in use: the preview says so); ``owner`` is the dock whose workers compute
    it (a ``WorkerOwnerMixin``). ``shown`` fires whenever it shows a PSF or why there is none.

    ``fit_check``: None, or a callable that raises the run's one-line ValueError where the PSF
    does not fit the image the run would take (``check_run_psf``); it is asked each time a PSF
    is shown and by ``recheck()`` (the owner calls it when the image or scope changes), and its
    line is shown under the PSF's image as the preview's error.
    """

    shown = Signal()

    def __init__(self, owner, parent=None) -> None:
        super().__init__(parent)
        self.owner = owner
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.image_label = QLabel()
        self.image_label.setFixedSize(SIDE, SIDE)
        self.image_label.setAlignment(Qt.AlignCenter)
        self.image_label.setToolTip("The in-focus plane of the PSF the deblur will use, on a "
                                    "log scale (3 decades) so its faint wings show.")
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setToolTip("Size and full width at half maximum of the PSF, or why it "
                                "cannot be used.")
        layout.addWidget(self.image_label)
        layout.addWidget(self.caption, 1)
        self.error: str | None = None  # the one-line error of the last source, if any
        self.description: str | None = None
        self.fit_check = None
        self._shown_psf = None  # (image, caption) of the PSF shown, for recheck()
        self._pending = None
        self._generation = 0
        self._channels = None  # (sources, [(image, caption) per channel]) last computed
        self._channel = 0  # the channel shown of a PSF per channel
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._compute)

    @property
    def busy(self) -> bool:
        """Whether a change is waiting or being computed (tests wait until it is not)."""
        return self._timer.isActive() or self._pending is not None

    def show_source(self, source, image=None) -> None:
        """Show ``source`` (None: no PSF) once it has stopped changing for a moment.
        ``image``: the (data, axes) the deblur will run on, from which 'estimate' is
        estimated for the preview (without it, the preview says when it will be)."""
        self._generation += 1
        if source is None or (is_estimate(source) and image is None):
            self._timer.stop()
            self._pending = None
            self._show(None, "no PSF given" if source is None else
                       "estimated from the image when the deblur runs", error=None)
            return
        self._pending = (self._generation, (source, image) if is_estimate(source) else source)
        self._timer.start(SETTLE_MS)

    def show_channels(self, parts, index: int, image=None) -> None:
        """Show channel ``index``'s PSF of a PSF per channel (``parts``, one source each),
        captioned 'channel i of n: SOURCE; ...'. ``image``: the (data, axes with C) a part to
        estimate is estimated from, channel by channel."""
        self._generation += 1
        self._channel = index
        parts = tuple(parts)
        if self._channels is not None and self._channels[0] == parts and not any(
                is_estimate(p) for p in parts):  # another channel of the same PSFs
            self._timer.stop()
            self._pending = None
            self._show_channel()
            return
        self._pending = (self._generation, (_CHANNELS, parts, image))
        self._timer.start(SETTLE_MS)

    def _show_channel(self) -> None:
        parts, shown = self._channels
        index = min(max(int(self._channel), 0), len(parts) - 1)
        image, text = shown[index]
        self._show(image, f"channel {index + 1} of {len(parts)}: {parts[index]}; {text}",
                   error=None)

    def show_error(self, message: str) -> None:
        """Show why the PSF cannot be used (e.g. its layer is gone) instead of an image."""
        self._generation += 1
        self._timer.stop()
        self._pending = None
        self._show(None, message, error=message)

    def _compute(self) -> None:
        if self._pending is None or self.owner.closed:
            return
        generation, source = self._pending
        self.caption.setText("computing the PSF...")

        def done(value):
            if generation == self._generation and not self.owner.closed:
                self._pending = None
                self._show(*value, error=None)

        def failed(error):
            if generation == self._generation and not self.owner.closed:
                self._pending = None
                self._show(None, describe_error(error), error=describe_error(error))

        if isinstance(source, tuple) and source[0] is _CHANNELS:
            def channels_done(value):
                if generation == self._generation and not self.owner.closed:
                    self._pending = None
                    self._channels = (source[1], value)
                    self._show_channel()

            start_worker(self.owner, channel_previews, *source[1:], returned=channels_done,
                         errored=failed)
        elif isinstance(source, tuple):  # ('estimate', (data, axes))
            start_worker(self.owner, estimated_preview, *source[1], returned=done,
                         errored=failed)
        else:
            start_worker(self.owner, describe_psf, source, returned=done, errored=failed)

    def recheck(self) -> None:
        """Ask ``fit_check`` again about the PSF shown (the image or scope changed); a PSF
        being computed is checked once shown."""
        if self._shown_psf is not None and not self.busy and not self.owner.closed:
            self._show(*self._shown_psf, error=None)

    def _fit_error(self) -> str | None:
        if self.fit_check is None:
            return None
        try:
            self.fit_check()
        except (ValueError, TypeError, OSError) as error:
            return describe_error(error)
        return None

    def _show(self, image, text: str, *, error: str | None) -> None:
        self._shown_psf = (image, text) if error is None and image is not None else None
        if self._shown_psf is not None and (misfit := self._fit_error()) is not None:
            text = error = misfit  # the image stays: the PSF is fine, not on this image
        self.error, self.description = error, (text if error is None and image is not None
                                               else None)
        self.caption.setText(text)
        self.setToolTip(text)
        if image is None:
            self.image_label.clear()
            self.shown.emit()
            return
        height, width = image.shape
        self._bytes = image.tobytes()  # QImage does not copy: keep the buffer alive
        qimage = QImage(self._bytes, width, height, width, QImage.Format_Grayscale8)
        pixmap = QPixmap.fromImage(qimage).scaled(SIDE, SIDE, Qt.KeepAspectRatio,
                                                  Qt.FastTransformation)
        self.image_label.setPixmap(pixmap)
        self.shown.emit()


def estimated_preview(data, axes: str):
    """(preview image, caption) of the PSF ``--psf estimate`` would use on ``data``."""
    from ..core.axes import colour_part
    from ..core.psf_estimate import estimate_psf, estimation_plane

    estimated = estimate_psf(estimation_plane(colour_part(data, axes), axes))  # RGBA: no alpha
    image, description = describe_psf(estimated.kernel)
    return image, f"estimated from the image: {estimated.spec}; {description}"


_CHANNELS = object()  # marks a pending PSF per channel


def fit_check_of(build_request):
    """A ``PsfPreview.fit_check`` for a dock whose ``build_request()`` gives the run's
    ``DeblurRequest``: Run's PSF check against it (``check_run_psf``). Settings the request
    refuses are no verdict on the PSF: Run says what is wrong with them."""
    def check() -> None:
        try:
            req = build_request()
        except (ValueError, TypeError, OSError):
            return
        check_run_psf(req)

    return check


def check_run_psf(req) -> None:
    """Run's check of its PSF against the image it takes (``core.psf_fit.
    check_psf_model_fits``, without the tile, which the run checks itself), for a
    ``DeblurRequest``: ValueError with the run's line. A session network takes no PSF here."""
    from ..core.psf_fit import check_psf_model_fits

    if req.network is None:
        check_psf_model_fits(req.method, req.axes, tuple(req.image.shape),
                             image=f"layer {req.source_name!r}")


def describe_psf(source) -> tuple[np.ndarray, str]:
    """``core.psf.psf_preview`` of ``source``, with the FWHM of a PSF elongated obliquely
    measured along its own axes (``principal_fwhm``): the profiles along Y and X understate
    its long axis ('astig:2.31,0.61,30' read 1.6 x 2.7 px; its long axis is 5.4 px)."""
    from ..core.beads import fwhm
    from ..core.psf import in_focus_plane, parse_psf, psf_preview

    image, description = psf_preview(source)
    kernel = parse_psf(source) if isinstance(source, (str, os.PathLike)) else source
    kernel = np.asarray(kernel, dtype=np.float64)
    principal = principal_fwhm(in_focus_plane(kernel)[0])
    if principal is None:
        return image, description
    long_axis, short_axis, angle = principal
    widths = fwhm(kernel)  # what psf_preview wrote: Z (of a 3D PSF), Y, X
    depth = f"{widths[0]:.2g} x " if kernel.ndim == 3 else ""
    shown = "FWHM " + " x ".join(f"{w:.2g}" for w in widths) + " px"
    along = (f"FWHM {depth}{long_axis:.2g} x {short_axis:.2g} px along its axes at "
             f"{angle:.0f} and {(angle + 90) % 180:.0f} deg")
    return image, description.replace(shown, along, 1)


def principal_fwhm(plane) -> tuple[float, float, float] | None:
    """(FWHM along the long axis, along the short axis, the long axis's angle in degrees from
    +X towards +Y, as 'astig:' takes it) of a 2D PSF elongated obliquely, its axes those of
    its second moments above a tenth of the peak (no background; a soft cut, as a hard one
    turned the axes by a degree or two on the pixel grid); None for a round PSF or
    one elongated along Y or X, whose widths the profiles along Y and X give."""
    plane = np.asarray(plane, dtype=np.float64)
    peak = np.unravel_index(int(np.argmax(plane)), plane.shape)
    weights = np.clip(plane - 0.1 * plane[peak], 0.0, None)
    gy, gx = np.indices(plane.shape, dtype=np.float64)
    total = weights.sum()
    dy = gy - (weights * gy).sum() / total
    dx = gx - (weights * gx).sum() / total
    moments = np.array([[(weights * dy * dy).sum(), (weights * dy * dx).sum()],
                        [(weights * dy * dx).sum(), (weights * dx * dx).sum()]]) / total
    values, vectors = np.linalg.eigh(moments)  # ascending: the long axis last
    if values[1] - values[0] <= ROUND_SHAPE * values.sum():
        return None
    angle = math.degrees(math.atan2(vectors[0, 1], vectors[1, 1])) % 180.0
    if min(angle % 90.0, 90.0 - angle % 90.0) < AXIS_ALIGNED_DEG:
        return None
    return (_profile_fwhm(plane, peak, angle), _profile_fwhm(plane, peak, angle + 90.0),
            angle)


def _profile_fwhm(plane: np.ndarray, peak, angle: float, step: float = 0.05) -> float:
    """FWHM of the profile through ``peak`` at ``angle`` (degrees from +X towards +Y), cubic
    interpolation between pixels; a side that never falls to half counts to the edge."""
    from scipy.ndimage import map_coordinates

    t = math.radians(angle)
    reach = np.arange(0.0, float(np.hypot(*plane.shape)), step)
    width = 0.0
    for sign in (1.0, -1.0):
        y, x = peak[0] + sign * reach * math.sin(t), peak[1] + sign * reach * math.cos(t)
        inside = (y >= 0) & (y <= plane.shape[0] - 1) & (x >= 0) & (x <= plane.shape[1] - 1)
        n = len(reach) if inside.all() else int(np.argmin(inside))
        line = map_coordinates(plane, [y[:n], x[:n]], order=3) / plane[peak]
        below = np.nonzero(line < 0.5)[0]
        if below.size == 0:
            width += reach[n - 1]
            continue
        i = int(below[0])
        width += reach[i - 1] + step * (line[i - 1] - 0.5) / (line[i - 1] - line[i])
    return float(width)


def channel_previews(parts, image=None) -> list:
    """(preview image or None, caption) of each channel's PSF; the first channel whose PSF
    cannot be used raises its one-line error, naming the channel. A part to estimate is
    estimated from its channel of ``image`` (data, axes with C), where the layer has as many
    channels as PSFs; otherwise the caption says when it will be."""
    from ..core.channel_psfs import channel_of

    data, axes = image if image is not None else (None, "")
    has_channels = "C" in axes and data.shape[axes.index("C")] == len(parts)
    shown = []
    for i, part in enumerate(parts):
        try:
            if not is_estimate(part):
                shown.append(describe_psf(part))
            elif has_channels:
                channel = channel_of(data, axes.index("C"), i)
                shown.append(estimated_preview(channel, axes.replace("C", "")))
            else:
                shown.append((None, "estimated from the image when the deblur runs"))
        except (ValueError, TypeError, OSError) as error:
            raise ValueError(f"channel {i + 1} of psf: {describe_error(error)}") from None
    return shown


class PsfLayerWatch:
    """Calls ``changed()`` when the PSF a 'layer:NAME' source names may be another one: an
    image layer added, removed or renamed, or the named layer's pixels replaced (a preview
    otherwise kept showing a PSF layer that was gone or had new data). ``text()`` gives the
    PSF box's current text; other sources are not affected by layers."""

    def __init__(self, viewer, text, changed) -> None:
        self.viewer, self._text, self._changed = viewer, text, changed
        events = viewer.layers.events
        events.inserted.connect(self._inserted)
        events.removed.connect(self._layers_changed)
        for layer in viewer.layers:
            self._connect(layer)

    def _name(self) -> str | None:
        from ._psf_sources import LAYER_PREFIX

        text = self._text().strip()
        return text[len(LAYER_PREFIX):].strip() if text.startswith(LAYER_PREFIX) else None

    def _connect(self, layer) -> None:
        layer.events.name.connect(self._layers_changed)
        layer.events.data.connect(self._data_changed)

    def _inserted(self, event=None) -> None:
        layer = getattr(event, "value", None)
        if layer is not None:
            self._connect(layer)
        self._layers_changed()

    def _layers_changed(self, event=None) -> None:
        if self._name() is not None:
            self._changed()

    def _data_changed(self, event=None) -> None:
        layer = getattr(event, "source", None)
        if self._name() is not None and getattr(layer, "name", None) == self._name():
            self._changed()

    def release(self) -> None:
        events = self.viewer.layers.events
        for emitter, slot in ((events.inserted, self._inserted),
                              (events.removed, self._layers_changed)):
            try:
                emitter.disconnect(slot)
            except (TypeError, ValueError, RuntimeError):
                pass
        for layer in self.viewer.layers:
            for emitter, slot in ((layer.events.name, self._layers_changed),
                                  (layer.events.data, self._data_changed)):
                try:
                    emitter.disconnect(slot)
                except (TypeError, ValueError, RuntimeError):
                    pass
