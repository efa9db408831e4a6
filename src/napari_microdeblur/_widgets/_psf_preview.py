"""The PSF a deblur will use, shown as a small image with its size and FWHM (``core.psf.
psf_preview``; an oblique PSF's FWHM along its own axes), or the one-line error of a PSF that
cannot be used or does not fit the image the run would take (``fit_check``: Run's own check).
A PSF file at other voxels than the layer's is shown resampled to them as the run takes it
(``used_psf``, ``with_layer_psf``: the CLI's ``core.psf_scale.psf_resampling``), and an optics
model deeper than the stack as 'auto' in 3D computes it, at the stack's depth.

An optics PSF takes seconds, so the preview and Run's check of it are computed in a worker of
the dock, a moment after the source stops changing; only the latest answer is shown. A PSF per
channel ('A;B') shows the channel the viewer shows; each channel's PSF is computed once (the
C slider shows another without recomputing), and an error in any channel is the error.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QHBoxLayout, QLabel, QWidget

from ..core.psf_estimate import is_estimate
from ._feedback import describe_error
from ._psf_sources import (
    LAYER_PREFIX,
    PSF_FILE_AT,
    file_preview,
    file_words,
    image_pixel_sizes,
    psf_layer_taken,
    said_where,
)
from ._workers import start_worker

SIDE = 96  # pixels of the preview image on screen
SETTLE_MS = 300  # wait this long after the last change before computing


class PsfPreview(QWidget):
    """A 96 px image of the PSF's in-focus plane (log scale) and a caption.

    ``show_source(source)`` takes what the deblur takes (a model string, a TIFF path, an array)
    or None (no PSF in use: the preview says so); ``owner`` is the dock whose workers compute
    it (a ``WorkerOwnerMixin``). ``shown`` fires whenever it shows a PSF or why there is none.

    ``fit_check``: None, or a callable raising Run's one-line ValueError where the PSF does not
    fit the image the run would take (``fit_check_of``: its ``prepare`` runs it in the worker
    first, which caches what it computes); asked when a PSF is shown and by ``recheck()`` (on a
    change of image or scope), its line is shown under the PSF's image as the preview's error.

    ``used_psf``: None, or a callable giving the PSF the run takes for a source (``used_psf_of``:
    a PSF file resampled to the layer's voxels, or cut to the image, ``RunPsf``); the preview
    shows that one, and ``recheck()`` shows it again where the image or scope now gives another.

    ``layer_note``: None (the owner's ``psf_prefill.missing_pixel``), or a callable giving Run's
    line for an optics model lacking pixel= that the chosen layer cannot give ('' when none);
    where it has one, an error is shown as that line, as Run says it.
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
        self.used_psf = None
        self.layer_note = None
        self._source = None  # (source, used) of the file or model shown, for recheck()
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
        """Show ``source`` (None: no PSF) once it has stopped changing for a moment. ``image``:
        the (data, axes) the deblur runs on, 'estimate' estimated from (else: said when)."""
        self._generation += 1
        self._source = None
        if source is None or (is_estimate(source) and image is None):
            self._timer.stop()
            self._pending = None
            self._show(None, "no PSF given" if source is None else
                       "estimated from the image when the deblur runs", error=None)
            return
        self._pending = (self._generation, None)  # busy: the dock's 'auto' in 3D waits for it
        if self.used_psf is not None and (hasattr(source, "ndim") or (
                isinstance(source, str) and not is_estimate(source))):
            self._source = (source, used := self.used_psf(source))
            source = used
        self._pending = (self._generation, (source, image) if is_estimate(source) else source)
        self._timer.start(SETTLE_MS)

    def show_channels(self, parts, index: int, image=None) -> None:
        """Show channel ``index``'s PSF of a PSF per channel (``parts``), captioned 'channel i of
        n: SOURCE; ...'. ``image``: the (data, axes with C) a part 'estimate' is estimated on."""
        self._generation += 1
        self._source = None
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
        self._source = None
        self._timer.stop()
        self._pending = None
        self._show(None, message, error=message)

    def _compute(self) -> None:
        from ..core.psf import psf_preview

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

        def channels_done(value):
            if generation == self._generation and not self.owner.closed:
                self._pending = None
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
            file = isinstance(source, str) and _is_psf_file(source)
            job = (file_preview if file else psf_preview, source)
        prepare = getattr(self.fit_check, "prepare", None)  # its request read on this thread
        start_worker(self.owner, checked, prepare() if prepare else None, *job,
                     returned=returned, errored=failed)

    def recheck(self) -> None:
        """Ask ``fit_check`` again about the PSF shown (the image or scope changed; one being
        computed is checked once shown); a PSF the run now takes otherwise is shown anew."""
        if self._source is not None and not self.busy and not self.owner.closed:
            source, shown = self._source
            self._pending = (self._generation, None)  # busy meanwhile, as in show_source
            used = self.used_psf(source)
            self._pending = None
            if not (used is shown or (type(used) is type(shown) and used == shown)):
                self.show_source(source)
                return
        if self._shown_psf is not None and not self.busy and not self.owner.closed:
            self._show(*self._shown_psf, error=None)
        elif self.error is not None and not self.busy and not self.owner.closed:
            note = self._layer_note()  # the layer chosen now may state a pixel size, or not
            if note and note != self.error:
                self._show(None, note, error=note)

    def _layer_note(self) -> str:
        """Run's line for an optics model lacking pixel= the chosen layer cannot give ('' if none;
        ``layer_note``, else the owner's ``psf_prefill.missing_pixel``)."""
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
    from ..core.psf import psf_preview
    from ..core.psf_estimate import estimate_psf, estimation_plane

    estimated = estimate_psf(estimation_plane(colour_part(data, axes), axes))  # RGBA: no alpha
    image, description = psf_preview(estimated.kernel)
    return image, f"estimated from the image: {estimated.spec}; {description}"


_CHANNELS = object()  # marks a pending PSF per channel


def fit_check_of(build_request):
    """A ``PsfPreview.fit_check`` for a dock whose ``build_request()`` gives the run's
    ``DeblurRequest``: Run's PSF check against it (``check_run_psf``); ``check.prepare()``, the
    same on the request of now as a callable for a worker (``checked``). Settings the request
    refuses are no verdict on the PSF: Run says what is wrong with them."""
    def prepare():
        try:
            req = build_request()
        except (ValueError, TypeError, OSError):
            return None
        return lambda: check_run_psf(req)

    def check() -> None:
        if (job := prepare()) is not None:
            job()

    check.prepare = prepare
    return check


def checked(check, preview, *args):
    """``preview(*args)``, then Run's PSF check ``check`` (``fit_check_of``) in the same worker:
    the optics models it computes are cached (``core.psf.parse_psf``) when ``_show`` asks it on
    the GUI thread, and shows its line (one at the stack's depth froze the GUI there 10 s)."""
    value = preview(*args)
    if check is not None:
        with contextlib.suppress(ValueError, TypeError, OSError):  # _show says it
            check()
    return value


def check_run_psf(req) -> None:
    """Run's check of its PSF against the image it takes (``core.psf_fit.
    check_psf_model_fits``, without the tile, which the run checks itself), for a
    ``DeblurRequest``: ValueError with the run's line. A session network takes no PSF here."""
    from ..core.psf_fit import check_psf_model_fits

    if req.network is None:
        check_psf_model_fits(req.method, req.axes, tuple(req.image.shape),
                             image=f"layer {req.source_name!r}")


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


# ----------------------------------------------------------------------------- PSF file scale
# the PSF a run takes: a PSF file at other voxels than the layer's, resampled to them


_RESAMPLED: dict = {}  # (file, size, mtime, sizes, axes, image) -> PsfArray or None, last 4
_DONE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # -> (its line, its record)


def with_layer_psf(req, layer, runs_in_3d):
    """``req`` (a ``DeblurRequest`` on image ``layer``) with its PSF file resampled to the
    layer's pixel size (``image_pixel_sizes``) where the file states voxels more than 5 % off
    it, as ``microdeblur deblur`` does (``core.psf_scale.psf_resampling``; Z only where
    ``runs_in_3d(req)``; one file per channel: ``_channel_psf_scale``); else ``req``. Kept
    while the file is the same (Run and the preview ask again and again)."""
    from dataclasses import replace

    from ..core.method import MethodSpec
    from ..core.psf import is_psf_model
    from ..core.psf_scale import psf_resampling
    from ._channel_psf_scale import per_channel, with_channel_psfs

    psf = getattr(req.method, "psf", None)
    if getattr(psf, "origin", "") is None and req.psf_text.startswith(LAYER_PREFIX):
        return _with_psf_layer(req, layer, runs_in_3d)
    if per_channel(psf):  # 'A.tif;B.tif': each file resampled as the CLI does (it ran as is)
        return with_channel_psfs(req, *image_pixel_sizes(layer, req.axes), layer, _DONE)
    try:
        if not isinstance(psf, str) or is_psf_model(psf) or not Path(psf).is_file():
            return req
        stat = Path(psf).stat()
    except (OSError, ValueError):  # no file by that name: Run says what the text is
        return req
    sizes, origins = image_pixel_sizes(layer, req.axes)
    compared = req.axes if "Z" in req.axes and runs_in_3d(req) else req.axes.replace("Z", "")
    PSF_FILE_AT[str(Path(psf).resolve())] = (sizes, compared)  # the preview's ``file_words``
    if not sizes:
        return req
    image = said_where(layer, origins)
    key = (str(Path(psf).resolve()), stat.st_size, stat.st_mtime_ns,
           tuple(sorted(sizes.items())), compared, image)
    if key not in _RESAMPLED:
        spec, note, done = psf_resampling(MethodSpec(psf=psf), sizes, compared, image=image)
        _RESAMPLED[key] = spec.psf if done else None
        if done:
            _DONE[spec.psf] = (note, done)
        while len(_RESAMPLED) > 4:
            del _RESAMPLED[next(iter(_RESAMPLED))]
    used = _RESAMPLED[key]
    return req if used is None else replace(req, method=req.method.replace(psf=used))


def _with_psf_layer(req, layer, runs_in_3d):
    """``req`` with its 'layer:NAME' PSF resampled to image ``layer``'s pixel size where both
    scales are known (not all 1) and differ, as a file is (``psf_scale.array_resampling``)."""
    from dataclasses import replace

    from ..core.method import PsfArray
    from ..core.psf_scale import array_resampling
    from ._layer_file import layer_pixel_sizes

    psf_layer = psf_layer_taken(req.psf_text)
    sizes, origins = image_pixel_sizes(layer, req.axes)
    if psf_layer is None or not sizes or psf_layer.ndim not in (2, 3):
        return req
    psf_sizes, _ = layer_pixel_sizes(psf_layer, "ZYX"[-psf_layer.ndim:])
    compared = req.axes if "Z" in req.axes and runs_in_3d(req) else req.axes.replace("Z", "")
    image = said_where(layer, origins)
    key = (req.method.psf, tuple(sorted(psf_sizes.items())), tuple(sorted(sizes.items())),
           compared, image)
    if key not in _RESAMPLED:
        found = array_resampling(req.method.psf.array, psf_sizes, sizes, compared,
                                 name=f"layer {psf_layer.name!r}", image=image)
        _RESAMPLED[key] = PsfArray.from_array(found[0]) if found else None
        if found:
            _DONE[_RESAMPLED[key]] = found[1:]
        while len(_RESAMPLED) > 4:
            del _RESAMPLED[next(iter(_RESAMPLED))]
    used = _RESAMPLED[key]
    return req if used is None else replace(req, method=req.method.replace(psf=used))


def psf_resampling_of(psf) -> tuple[str, dict] | None:
    """(the run's one line, ``psf_resampling``'s record) where ``psf`` is a PSF file as
    ``with_layer_psf`` resampled it; else None."""
    from ..core.method import PsfArray

    # a file's, or a PSF layer's (one of the same values as a file's resampled one was not)
    found = _DONE.get(psf) if isinstance(psf, PsfArray) else None
    return found if found and (psf.origin or "source" in found[1]) else None


def record_psf_resampling(layer, psf) -> None:
    """Add ``psf_resampled`` (``psf_resampling``'s: the um resampled from and to, the shapes)
    to result ``layer``'s record where its PSF ``psf`` was resampled (``with_layer_psf``)."""
    from ._channel_psf_scale import channel_records

    found = psf_resampling_of(psf)  # one file per channel: a list, as the CLI records it
    done = found[1] if found is not None else channel_records(psf)
    meta = layer.metadata if isinstance(layer.metadata, dict) else {}
    if done is not None and isinstance(meta.get("microdeblur"), dict):
        layer.metadata = {**meta, "microdeblur": {**meta["microdeblur"], "psf_resampled": done}}


def used_psf_of(build_request):
    """A ``PsfPreview.used_psf`` for a dock whose ``build_request()`` gives the run's request
    (``with_layer_psf`` in it): the PSF file ``source`` as the run takes it on the request's
    image (``RunPsf``: resampled, or cut where as large as the image), and an optics model
    deeper than the stack; else ``source``, also where the request is refused (Run says why)."""
    from ..core.psf_fit import may_be_cut, model_at_stack_depth

    def used(source):
        try:
            req = build_request() if isinstance(source, str) or hasattr(source, "ndim") else None
        except (ValueError, TypeError, OSError):
            return source
        if not isinstance(source, str):  # a PSF layer's array: as the run resamples it
            done = psf_resampling_of(req.method.psf) if req is not None else None
            return req.method.psf if done and "source" in done[1] else source
        psf, shape = req.method.psf, tuple(int(n) for n in req.image.shape)
        if psf == source and (deeper := model_at_stack_depth(req.method, req.axes, shape)):
            return RunPsf(source, deeper, req.axes, shape, req.method.name, req.method)
        resampled = psf_resampling_of(psf) is not None and psf.origin == source
        if not (resampled or (psf == source and _is_psf_file(source))):
            return source
        if not may_be_cut(req.method, req.axes, shape):
            # as before: not recomputed where only the scope changed
            return psf if resampled else source
        return RunPsf(source, psf, req.axes, shape, req.method.name, req.method)

    return used


def _is_psf_file(source: str) -> bool:
    from ..core.channel_psfs import channel_sources
    from ..core.psf import is_psf_model

    if is_psf_model(source) or is_estimate(source) or channel_sources(source):
        return False
    try:
        return Path(source).is_file()
    except (OSError, ValueError):
        return False


@dataclass(frozen=True)
class RunPsf:
    """A PSF file ``source`` as a run takes it on an image of ``axes`` and ``shape``: ``psf``
    (the file, or its ``with_layer_psf`` resampling; an optics model's at the stack's depth) in
    ``spec``, the run's method (named ``name``), cut to the image where as large. Equal while
    those are: the preview (``run_psf_preview``) is computed again when the image or PSF is."""

    source: str
    psf: object
    axes: str
    shape: tuple
    name: str
    spec: object = field(compare=False)


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
