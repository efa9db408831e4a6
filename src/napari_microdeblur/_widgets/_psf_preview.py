"""The PSF a deblur will use, shown as a small image with its size and FWHM (``core.psf.
psf_preview`` computes both; an obliquely elongated PSF's FWHM along its own axes); a PSF that
cannot be used shows its one-line error instead, and so does one that does not fit the image
the run would take (``fit_check``: Run's own check). A PSF file stating other voxels than the
layer's is shown as the run takes it, resampled to the layer's (``used_psf``; ``_psf_checks``:
the CLI's ``core.psf_scale.psf_resampling``), and an optics model deeper than the stack as
'auto' in 3D computes it, at the stack's depth.

An optics PSF takes seconds to compute, so the preview and Run's check of it are computed in a
worker of the dock that owns it, a moment after the source stops changing; only the latest
answer is shown. An image or scope changed while one computes asks again once it is done, in
a worker too: the answer for the old one is not shown, nor checked on the GUI thread. A PSF per
channel ('A;B', ``core.channel_psfs``) shows the channel the viewer shows; every channel's PSF
is computed once (moving the C slider shows another without recomputing), and an error in any
channel is shown as the error.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QHBoxLayout, QLabel, QWidget

from ..core.psf_estimate import is_estimate
from ._feedback import describe_error
from ._psf_checks import RunPsf, checked, is_psf_file, psf_resampling_of
from ._psf_sources import file_preview, file_words
from ._workers import start_worker

#: pixels of the preview image on screen: about two lines of its caption, beside which it
#: sits on the 'Use a PSF' row (``beside_use_psf``; at 96 px on a row of its own, ticking Use a
#: PSF pushed the Deblur dock's Run out of a 1366 x 768 screen's view)
SIDE = 40
SETTLE_MS = 300  # wait this long after the last change before computing


class PsfPreview(QWidget):
    """A small image of the PSF's in-focus plane (log scale; ``SIDE`` px) and a caption.

    ``show_source(source)`` takes what the deblur takes (a model string, a TIFF path, an array)
    or None (no PSF in use: the preview says so); ``owner`` is the dock whose workers compute
    it (a ``WorkerOwnerMixin``). ``shown`` fires whenever it shows a PSF or why there is none.

    ``fit_check``: None, or a callable that raises the run's one-line ValueError where the PSF
    does not fit the image the run would take (``_psf_checks.fit_check_of``: its ``prepare``
    runs it in the worker first, which caches what it computes); it is asked each time a PSF
    is shown and by ``recheck()`` (the owner calls it when the image or scope changes), and its
    line is shown under the PSF's image as the preview's error.

    ``used_psf``: None, or a callable giving the PSF the run takes for a source (``_psf_checks.
    used_psf_of``: a PSF file resampled to the layer's voxels, or cut to the image, an optics
    model at the stack's depth: ``RunPsf``); the preview shows that one, and ``recheck()``
    shows it again where the image or scope now gives another. An exception it raises is shown
    as the preview's error, as a worker's is.

    ``layer_note``: None, or a callable giving Run's line for an optics model lacking pixel=
    that the chosen layer cannot give ('' when none); None asks the owner's ``psf_prefill``
    (``missing_pixel``). Where it has one, an error is shown as that line, as Run says it.
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
        self.image_label.hide()  # until there is a PSF to show: an error gets its room
        self.image_label.setToolTip("The in-focus plane of the PSF the deblur will use, on a "
                                    "log scale (3 decades) so its faint wings show.")
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setToolTip("Size and full width at half maximum of the PSF, or why it "
                                "cannot be used.")
        layout.addWidget(self.image_label, 0, Qt.AlignTop)
        layout.addWidget(self.caption, 1, Qt.AlignTop)
        self.error: str | None = None  # the one-line error of the last source, if any
        self.description: str | None = None
        self.fit_check = None
        self.used_psf = None
        self.layer_note = None
        self._source = None  # (source, used) of the file or model shown, for recheck()
        self._shown_psf = None  # (image, caption) of the PSF shown, for recheck()
        self._pending = None
        self._generation = 0
        self._asked = None  # ('show_source' or 'show_channels', its arguments) being computed
        self._recheck_due = False  # recheck() asked while busy: asked again once computed
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
        self._source = None
        self._asked, self._recheck_due = None, False
        if source is None or (is_estimate(source) and image is None):
            self._timer.stop()
            self._pending = None
            self._show(None, "no PSF given" if source is None else
                       "estimated from the image when the deblur runs", error=None)
            return
        if self.used_psf is not None and (hasattr(source, "ndim") or (
                isinstance(source, str) and not is_estimate(source))):
            used, failure = self._used_psf(source)
            if failure is not None:
                self._show_failure(failure)
                return
            self._source = (source, used)
            source = used
        self._recheck_due = False  # the image and scope of now are in ``used``
        self._asked = ("show_source", (self._source[0] if self._source else source, image))
        self._pending = (self._generation, (source, image) if is_estimate(source) else source)
        self._timer.start(SETTLE_MS)

    def _used_psf(self, source) -> tuple:
        """(``used_psf(source)``, None), or (None, the exception it raised); the preview is
        busy meanwhile (the dock's 'auto' in 3D waits for it), and not after, whatever it
        raised (a preview left busy read 'computing' until the PSF text changed)."""
        self._pending = (self._generation, None)
        try:
            return self.used_psf(source), None
        except Exception as error:  # a worker's error is shown too: Run would meet it
            return None, error
        finally:
            self._pending = None

    def _show_failure(self, error: Exception) -> None:
        self._timer.stop()
        self._source = None
        message = describe_error(error)
        self._show(None, message, error=message)

    def show_channels(self, parts, index: int, image=None) -> None:
        """Show channel ``index``'s PSF of a PSF per channel (``parts``, one source each),
        captioned 'channel i of n: SOURCE; ...'. ``image``: the (data, axes with C) a part to
        estimate is estimated from, channel by channel."""
        self._generation += 1
        self._source = None
        self._channel = index
        parts = tuple(parts)
        self._asked, self._recheck_due = None, False
        if self._channels is not None and self._channels[0] == parts and not any(
                is_estimate(p) for p in parts):  # another channel of the same PSFs
            self._timer.stop()
            self._pending = None
            self._show_channel()
            return
        self._asked = ("show_channels", (parts, index, image))
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
        self._source = None
        self._asked, self._recheck_due = None, False
        self._timer.stop()
        self._pending = None
        self._show(None, message, error=message)

    def _compute(self) -> None:
        from ..core.psf import psf_preview

        if self._pending is None or self.owner.closed:
            return
        if self._recheck_due:  # the image or scope changed while it settled: ask anew
            self._ask_again()
            return
        generation, source = self._pending
        self.caption.setText("computing the PSF...")

        def done(value):
            if self._answered(generation):
                self._show(*value, error=None)

        def failed(error):
            if self._answered(generation):
                self._show(None, describe_error(error), error=describe_error(error))

        def channels_done(value):
            if self._answered(generation):
                self._channels = (source[1], value)
                self._show_channel()

        returned = done
        if isinstance(source, tuple) and source[0] is _CHANNELS:
            job, returned = (channel_previews, *source[1:]), channels_done
        elif isinstance(source, RunPsf):  # a file (or deep model) as the run takes it here
            job = (run_psf_preview, source)
        elif isinstance(source, tuple):  # ('estimate', (data, axes))
            job = (estimated_preview, *source[1])
        elif (resampled := psf_resampling_of(source)) is not None:  # a file at the layer's
            job = (resampled_preview, source, resampled[1])
        else:  # a file's caption says what reading it changed, as the CLI does
            file = isinstance(source, str) and is_psf_file(source)
            job = (file_preview if file else psf_preview, source)
        prepare = getattr(self.fit_check, "prepare", None)  # its request read on this thread
        start_worker(self.owner, checked, prepare() if prepare else None, *job,
                     returned=returned, errored=failed)

    def _answered(self, generation: int) -> bool:
        """Whether the worker's answer for ``generation`` is to be shown: the latest asked, the
        dock open, and no image or scope changed meanwhile; after such a change the source is
        asked again instead (``_ask_again``): the answer was for the old one, and its fit
        check, for the new one on the GUI thread, computed a stack-depth model there (1.2 s)."""
        if generation != self._generation or self.owner.closed:
            return False
        self._pending = None
        if self._recheck_due:
            self._ask_again()
            return False
        self._asked = None  # nor kept: an estimate's holds the layer's data
        return True

    def _ask_again(self) -> None:
        """The last ``show_source`` or ``show_channels`` asked again: the PSF the run takes and
        Run's check of it for the image and scope of now, computed in a worker."""
        asked, self._asked, self._recheck_due = self._asked, None, False
        if asked is None:
            return
        ask, args = asked
        if ask == "show_channels":
            self._channels = None  # computed again with the check of now, in the worker
            args = (args[0], self._channel, args[2])
        getattr(self, ask)(*args)

    def recheck(self) -> None:
        """Ask ``fit_check`` again about the PSF shown (the image or scope changed); a PSF
        being computed is asked again once computed (``_answered``). A PSF the run now takes
        otherwise (a file at another layer's voxels, a model at another stack's depth) is
        shown anew."""
        if self.owner.closed:
            return
        if self.busy:
            self._recheck_due = True
            return
        if self._source is not None:
            source, shown = self._source
            used, failure = self._used_psf(source)
            if failure is not None:
                self._show_failure(failure)
                return
            if not (used is shown or (type(used) is type(shown) and used == shown)):
                self.show_source(source)
                return
        if self._shown_psf is not None:
            self._show(*self._shown_psf, error=None)
        elif self.error is not None:
            note = self._layer_note()  # the layer chosen now may state a pixel size, or not
            if note and note != self.error:
                self._show(None, note, error=note)

    def _layer_note(self) -> str:
        """Run's line for an optics model lacking pixel= that the chosen layer cannot give
        (``layer_note``, else the owner's ``psf_prefill.missing_pixel``); '' where none."""
        note = self.layer_note
        if note is None:
            note = getattr(getattr(self.owner, "psf_prefill", None), "missing_pixel", None)
        try:
            return (note() or "") if callable(note) else ""
        except (ValueError, TypeError, RuntimeError):  # no layer, or a dock being closed
            return ""

    def _fit_error(self) -> str | None:
        if self.fit_check is None:
            return None
        try:
            self.fit_check()
        except (ValueError, TypeError, OSError) as error:
            return describe_error(error)
        return None

    def _show(self, image, text: str, *, error: str | None) -> None:
        if error is not None and (note := self._layer_note()):
            # the core's "lacks pixel" reads as a spec to fix; Run says to set the layer's scale
            text = error = note
        self._shown_psf = (image, text) if error is None and image is not None else None
        if self._shown_psf is not None and (misfit := self._fit_error()) is not None:
            text = error = misfit  # the image stays: the PSF is fine, not on this image
        self.error, self.description = error, (text if error is None and image is not None
                                               else None)
        self.caption.setText(text)
        self.setToolTip(text)
        self.image_label.setVisible(image is not None)
        if image is None:
            self.image_label.clear()
            self.shown.emit()
            return
        image = pooled(image, SIDE)
        height, width = image.shape
        self._bytes = image.tobytes()  # QImage does not copy: keep the buffer alive
        qimage = QImage(self._bytes, width, height, width, QImage.Format_Grayscale8)
        pixmap = QPixmap.fromImage(qimage).scaled(SIDE, SIDE, Qt.KeepAspectRatio,
                                                  Qt.FastTransformation)
        self.image_label.setPixmap(pixmap)
        self.shown.emit()


def pooled(image, side: int):
    """``image`` (uint8, 2D) shrunk by its block maxima to at most about ``side`` px a side,
    so the PSF's bright core shows: picking pixels, a 129 px PSF of sigma 1.2 shown at 40 px
    had lost its core (max 152 of 255). Smaller images as they are (scaled up by Qt)."""
    import numpy as np

    step = -(-max(image.shape) // side)
    if step <= 1:
        return image
    h, w = (-(-n // step) * step for n in image.shape)
    padded = np.zeros((h, w), image.dtype)
    padded[:image.shape[0], :image.shape[1]] = image
    return np.ascontiguousarray(padded.reshape(h // step, step, w // step, step).max(axis=(1, 3)))


def beside_use_psf(form, check, preview: PsfPreview) -> None:
    """Put ``preview`` on the row of the 'Use a PSF' tick ``check`` of ``form`` (a PSF box's),
    right of it, instead of on a row of its own under the PSF field: ticked, the preview and
    the Noise scale row had pushed the Deblur dock's Run to 751-775 px in its 701 px of view on
    a 1366 x 768 screen. Where the tick is hidden (a method that takes a PSF), the preview
    keeps the row."""
    row, _ = form.getWidgetPosition(check)
    form.takeRow(row)  # the tick and its row item; the tick itself is kept
    line = QHBoxLayout()
    line.addWidget(check, 0, Qt.AlignTop)
    line.addWidget(preview, 1)
    form.insertRow(row, line)


def estimated_preview(data, axes: str):
    """(preview image, caption) of the PSF ``--psf estimate`` would use on ``data``."""
    from ..core.axes import colour_part
    from ..core.psf import psf_preview
    from ..core.psf_estimate import estimate_psf, estimation_plane

    estimated = estimate_psf(estimation_plane(colour_part(data, axes), axes))  # RGBA: no alpha
    image, description = psf_preview(estimated.kernel)
    return image, f"estimated from the image: {estimated.spec}; {description}"


_CHANNELS = object()  # marks a pending PSF per channel


def channel_previews(parts, image=None) -> list:
    """(preview image or None, caption) of each channel's PSF; the first that cannot be used
    raises its one-line error, naming the channel. A part 'estimate' is estimated from its
    channel of ``image`` (data, axes with C) with as many channels, else said when it will be."""
    from ..core.channel_psfs import channel_of
    from ..core.psf import psf_preview

    data, axes = image if image is not None else (None, "")
    has_channels = "C" in axes and data.shape[axes.index("C")] == len(parts)
    shown = []
    for i, part in enumerate(parts):
        try:
            if not is_estimate(part):
                shown.append(psf_preview(part))
            elif has_channels:
                channel = channel_of(data, axes.index("C"), i)
                shown.append(estimated_preview(channel, axes.replace("C", "")))
            else:
                shown.append((None, "estimated from the image when the deblur runs"))
        except (ValueError, TypeError, OSError) as error:
            raise ValueError(f"channel {i + 1} of psf: {describe_error(error)}") from None
    return shown


def run_psf_preview(run: RunPsf):
    """(preview image, caption) of the PSF of ``run`` as the run takes it: a file resampled to
    the layer's voxels, cut where as large as the image (``core.psf_fit.fit_psf_to_image_of``;
    the size and in-focus share shown the cut's: a 31 x 201 x 201 file read "3% of the light"
    uncut), an optics model at the stack's depth (``stack_depth_preview``), each said."""
    import re
    import warnings

    from ..core.psf import is_psf_model, parse_psf, psf_preview
    from ..core.psf_fit import fit_psf_to_image_of, stack_depth_preview

    if is_psf_model(run.source):  # deeper than the stack: at its depth where 'auto' goes 3D
        shown = psf_preview(run.source)  # refused in the model's own words
        return stack_depth_preview(run.spec, run.axes, run.shape) or shown
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = fit_psf_to_image_of(run.spec, run.axes, run.shape)
    done = psf_resampling_of(run.psf)
    if fitted is run.spec:  # not cut
        return resampled_preview(run.psf, done[1]) if done else file_preview(run.source)
    whole = run.psf.shape if done else parse_psf(run.source).shape
    cut = fitted.psf.array
    image, description = psf_preview(cut)
    # "3D PSF 23 x 55 x 55 px, FWHM ...": the FWHM and in-focus share are the cut's
    size = " x ".join(map(str, cut.shape))
    rest = description.removeprefix(f"{cut.ndim}D PSF {size} px, ")
    kept = next((m.group(1) for w in caught if (m := re.search(
        r"\(([\d.]+%) of its intensity kept", str(w.message)))), None)
    said = [_resampled_words(run.psf, done[1])] if done else []
    said.append(f"{cut.ndim}D PSF {' x '.join(map(str, whole))} px, as large as the layer or "
                f"larger: cut by the run to {size} px around its centroid"
                + (f" ({kept} of its light kept)" if kept else "") + f", {rest}")
    said.append(file_words(run.source, done[1]["shape"] if done else whole))
    return image, "; ".join(filter(None, said))


def _resampled_words(psf, done: dict) -> str:
    def at(um: dict) -> str:
        return ", ".join(f"{a} {v:.4g}" for a, v in um.items())

    shapes = [" x ".join(map(str, done[k])) for k in ("shape", "resampled_shape")]
    name = done.get("source") or Path(psf.origin).name  # a PSF layer's, or a file's
    return (f"{name} resampled to the layer's voxels: {shapes[0]} at "
            f"{at(done['psf_um'])} um -> {shapes[1]} at {at(done['image_um'])} um")


def resampled_preview(psf, done: dict):
    """(preview image, caption) of a PSF file resampled to the layer's voxels (``psf``, a
    PsfArray; ``done``: ``psf_resampling``'s record), saying from what to what."""
    from ..core.psf import psf_preview

    image, description = psf_preview(psf.array)
    words = file_words(psf.origin, done["shape"]) if psf.origin else ""
    return image, "; ".join(filter(None, [_resampled_words(psf, done), description, words]))


class PsfLayerWatch:
    """Calls ``changed()`` when the PSF a 'layer:NAME' source (``text()``: the PSF box's) names
    may be another: an image layer added, removed or renamed, or the named layer's pixels
    replaced (a preview kept showing a PSF layer that was gone or had new data)."""

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
