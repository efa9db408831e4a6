"""Where a dock's PSF comes from: the text of a PSF box (a model such as ``gaussian:1.6`` or
``widefield:...``, a TIFF path, or ``layer:NAME`` for an image layer of the viewer), turned into
what the core takes, and "PSF from beads...", which measures a PSF from a bead image in a
worker and adds it as such a layer, and "Estimate PSF from image", which estimates one from the
image layer itself (``core.psf_estimate``) and writes it into the PSF box as a model string.
``PsfScalePrefill`` fills an optics model's pixel= (and dz= for a 3D one) from the image layer's
scale (or, where it is 1, the file the layer was opened from: ``_layer_file``), so that the PSF
is made for the image's pixels (``core.psf_scale`` warns otherwise).
The Deblur dock and the Fine-tune dock's "Adapt to this
image" take their PSF through this module, so both offer the same sources."""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np
from qtpy.QtCore import QObject

from ..core.psf import calibration_values, check_psf

# the docks import BEADS_TOOLTIP and choose_bead_layer from here, as before the chooser moved
from ._bead_chooser import BEADS_TOOLTIP as BEADS_TOOLTIP
from ._bead_chooser import bead_error_words, bead_words
from ._bead_chooser import choose_bead_layer as choose_bead_layer
from ._feedback import describe_error
from ._header_reads import HeaderReads
from ._layer_file import layer_pixel_sizes, unread_headers_deferred
from ._layers import alive_in, guess_layer_axes, is_image_layer, layer_data, unwrap
from ._workers import disconnect, start_worker

LAYER_PREFIX = "layer:"  # a PSF source naming an image layer of the viewer


# 'layer:NAME' -> the layer psf_of_text last took it from (weakly): the run resamples it by
# the two layers' scales (``_psf_checks.with_layer_psf``)
_TAKEN: dict[str, weakref.ref] = {}


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
    data = np.asarray(layer_data(layer))
    if data.ndim in (2, 3):  # its values checked here: the core's message knows no layer name
        try:
            check_psf(data, data.ndim)
        except (TypeError, ValueError) as err:
            what = str(err).removeprefix("psf ")
            raise ValueError(f"PSF layer {name!r} {what}; choose the layer of a measured PSF "
                             "(e.g. from PSF from beads...) or a model") from None
    _TAKEN[text.strip()] = weakref.ref(unwrap(layer))
    return data


def psf_layer_taken(text: str):
    """The image layer ``psf_of_text`` last took the PSF 'layer:NAME' ``text`` from, while it
    lives; else None."""
    ref = _TAKEN.get(text.strip())
    return ref() if ref is not None else None


def said_where(layer, origins: dict[str, str]) -> str:
    """The image as a message names it, with the file its pixel size came from, if any."""
    files = [o for o in dict.fromkeys(origins.values()) if o.startswith("file ")]
    return f"layer {layer.name!r}" + (f" (pixel size from {files[0]})" if files else "")


def psf_scale_note(viewer, text: str, layer, axes: str, *, in_3d: bool = True,
                   used=None) -> str | None:
    """One line when the PSF in the box (``text``) was made for other pixels than image
    ``layer`` (axes ``axes``) has by its scale: an optics model's pixel= or dz=, a PSF file's
    voxel size, or a 'layer:NAME' PSF layer's scale (a PSF from beads keeps the bead layer's);
    None when they agree or either does not say (``core.psf.psf_scale_note``). ``in_3d``
    False: the run goes plane by plane, where a 3D PSF's Z step does not matter (not compared,
    as ``core.files`` does for the CLI). ``used``: the PSF the run takes; where
    ``_psf_checks.with_layer_psf`` resampled it, the line saying so (the CLI's)."""
    from ..core.psf_scale import psf_scale_note as core_note
    from ..core.psf_scale import scale_mismatch
    from ._psf_checks import psf_resampling_of

    if used is not None and (resampled := psf_resampling_of(used)) is not None:
        return resampled[0]
    sizes, origins = image_pixel_sizes(layer, axes)
    image = said_where(layer, origins)
    compared = axes if in_3d else axes.replace("Z", "")  # the layer's sizes need all its axes
    if not sizes or not text.startswith(LAYER_PREFIX):
        return core_note(text, sizes, compared, image=image) if sizes else None
    name = text[len(LAYER_PREFIX):].strip()
    psf_layer = next((la for la in viewer.layers if la.name == name), None)
    if psf_layer is None or not is_image_layer(psf_layer):
        return None  # psf_of_text says what is wrong with it
    psf_axes = "ZYX"[-psf_layer.ndim:] if psf_layer.ndim <= 3 else ""
    psf_sizes, psf_origins = layer_pixel_sizes(psf_layer, psf_axes)
    off, _ = scale_mismatch(psf_sizes, sizes, compared)
    if not off:
        return None
    # a layer's scale has no stated unit: the sizes as they are
    said = ", ".join(f"{a} {psf_sizes[a]:.4g} (image {sizes[a]:.4g})" for a in off)
    files = [o for o in dict.fromkeys(psf_origins[a] for a in off) if o.startswith("file ")]
    by = f"by its {files[0]}" if files else "by its scale"
    return (f"PSF layer {name!r} has pixels {said} {by}, unlike {image}: measure the "
            "PSF at the image's pixel size (a PSF at another scale deblurs wrongly)")


# a PSF file (resolved) -> (the pixel sizes of the layer it was last taken for, the axes
# compared): ``file_words`` says it on them
PSF_FILE_AT: dict = {}


def file_preview(source):
    """``core.psf.psf_preview`` of the PSF file ``source``, its caption ending in what the run
    says on reading it (``file_words``)."""
    from ..core.psf import parse_psf, psf_preview

    image, description = psf_preview(source)
    words = file_words(source, parse_psf(source).shape)
    return image, "; ".join(filter(None, [description, words]))


def file_words(source, read_shape) -> str:
    """What the run says on reading the PSF file ``source`` (read as ``read_shape``) on the
    layer ``_psf_checks.with_layer_psf`` last took it for (``core.psf_scale.file_lines``)."""
    from ..core.psf_scale import file_lines

    try:
        at = PSF_FILE_AT.get(str(Path(source).resolve()), ({}, ""))
        return "; ".join(file_lines(source, *at, read_shape=read_shape))
    except (OSError, ValueError):
        return ""


# ----------------------------------------------------------------------------- PSF from beads

# bead layer -> weak reference to the PSF layer measured from it (neither is kept alive)
_PSF_LAYERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def psf_layer_of(viewer, beads):
    """The PSF layer an earlier "PSF from beads" made from the bead layer ``beads``, while it
    is in ``viewer`` and still records being measured from beads; else None."""
    layer = alive_in(viewer, _PSF_LAYERS.get(unwrap(beads)))
    if layer is None:
        return None
    meta = layer.metadata.get("microdeblur") if isinstance(layer.metadata, dict) else None
    return layer if isinstance(meta, dict) and "psf_from_beads" in meta else None


def measure_psf_from_beads(owner, viewer, layer, *, measured, failed, options=None):
    """Measure a PSF from the bead image ``layer`` in a worker of ``owner`` (``core.beads``).
    On success it is added as the layer "PSF from <layer>" (measured again from the same bead
    layer: the PSF layer the first measurement made is updated, ``psf_layer_of``) and
    ``measured(psf_text, summary)`` gets its source ('layer:NAME') and the report's line;
    otherwise ``failed`` gets one line, naming the chooser's fields. ``options``: the chooser's
    Bead threshold and PSF radius (threshold=, radius= of ``core.beads.psf_from_beads``; None:
    its defaults). The bead layer is only read. Returns the worker (None: not a grayscale
    image layer)."""
    from ..core.beads import psf_from_beads

    if not is_image_layer(layer) or layer.rgb:
        failed(f"layer {layer.name!r} is not a grayscale image layer; choose the bead image "
               "(YX or ZYX, one channel)")
        return None
    data, axes, name = layer_data(layer), guess_layer_axes(layer) or None, layer.name
    options = dict(options or {})
    layer_scale, psf_axes = tuple(layer.scale), axes or "ZYX"[-layer.ndim:]
    # the bead file by name (no folders): a result deblurred with this PSF records it
    bead_path = getattr(layer.source, "path", None)
    bead_file = Path(str(bead_path).replace("\\", "/")).name if bead_path else None

    def measure():
        psf, report = psf_from_beads(np.asarray(data), axes=axes, **options)
        # the PSF's pixels are the beads' pixels, in um where the layer's scale or its file
        # says (a TIFF napari opened at scale 1 kept 1: the PSF-vs-image checks never fired);
        # here, as a file's header can take seconds to read
        sizes, _ = layer_pixel_sizes(layer, psf_axes)
        return psf, report, sizes

    beads = unwrap(layer)

    def done(value):
        if owner.closed:
            return
        psf, report, sizes = value
        # the core warns of few or dim beads in the worker thread: said here, or not at all
        # in the chooser's words ('PSF radius 11', not the core's 'radius=11')
        said = report.summary(words="dock") + (
            f"; warning: {bead_words(report.warning)}" if report.warning else "")
        # the sizes are positive: a flipped bead axis stays flipped, as the beads are shown
        scale = tuple(float(np.copysign(sizes.get(a, abs(v)), v))
                      for a, v in zip(psf_axes, layer_scale))
        meta = {"microdeblur": {"psf_from_beads": name, "bead_file": bead_file,
                                "report": said, "threshold": options.get("threshold"),
                                "radius": options.get("radius"),
                                "pixel_size": dict(sizes)}}  # as the CLI's PSF TIFF keeps
        added = psf_layer_of(viewer, beads)
        if added is not None and added.ndim != psf.ndim:  # a stack now: a layer of its own
            added = None
        if added is None:
            added = unwrap(viewer.add_image(psf, name=f"PSF from {name}", colormap="magma",
                                            scale=scale, metadata=meta))
            _PSF_LAYERS[beads] = weakref.ref(added)
        else:  # measured again (beads re-imaged, say): one PSF layer per bead layer
            added.data, added.scale, added.metadata = psf, scale, meta
            added.reset_contrast_limits()
        measured(f"{LAYER_PREFIX}{added.name}", f"{added.name!r}: {said}")

    def error(exc):
        if not owner.closed:
            failed(f"PSF from {name!r}: {bead_error_words(exc)}")

    return start_worker(owner, measure, returned=done, errored=error)


# ----------------------------------------------------------------------------- PSF estimate

ESTIMATE_TOOLTIP = ("Estimate the blur of the chosen image layer as a Gaussian, possibly "
                    "astigmatic (generalised cross-validation on the centre of its middle "
                    "plane), and put it in the PSF box. Typing 'estimate' there does the same "
                    "when the deblur runs. A measured (beads) or optics PSF is better when you "
                    "have one.")


def estimate_psf_of_layer(owner, layer, axes: str, *, estimated, failed):
    """Estimate a PSF from image ``layer`` (axes ``axes``) in a worker of ``owner``; on success
    ``estimated(spec, line)`` gets the PSF as a model string and one line saying what it is,
    otherwise ``failed`` gets one line. The layer is only read."""
    from ..core.axes import colour_part
    from ..core.psf_estimate import estimate_psf, estimation_plane

    data, name = colour_part(layer_data(layer), axes), layer.name  # RGBA: not its alpha

    def estimate():
        return estimate_psf(estimation_plane(data, axes))

    def done(value):
        if not owner.closed:
            estimated(value.spec, f"{name!r}: {value.describe()}")

    def error(exc):
        if not owner.closed:
            failed(f"PSF estimate from {name!r}: {describe_error(exc)}")

    return start_worker(owner, estimate, returned=done, errored=error)


# ----------------------------------------------------------------------------- pixel prefill

_OPTICS = ("widefield", "confocal")  # the models whose pixels are given in um


def sampling_with_origins(layer, axes: str) -> tuple[dict[str, float], dict[str, str]]:
    """(pixel= and dz= for ``layer`` (axes ``axes``), where each came from: "layer 'A' scale"
    or "file cells.tif"): an axis at napari's default of 1 says nothing unless the layer's file
    does (``layer_pixel_sizes``, the rule of the Run warning); pixel= needs Y and X known and equal
    within 5 % (the model has square pixels)."""
    sizes, origins = image_pixel_sizes(layer, axes) if layer is not None else ({}, {})
    found = calibration_values(sizes)  # the rule the CLI applies to a file's sizes
    return found, {key: origins["X" if key == "pixel" else "Z"] for key in found}


def image_pixel_sizes(layer, axes: str) -> tuple[dict[str, float], dict[str, str]]:
    """``layer_pixel_sizes`` of image ``layer`` under the dock's ``axes``: an RGB layer's
    axes end in S, a dim napari does not give it (its scale is Y, X only), which left the H&E
    sample's 0.495 um unread."""
    if getattr(layer, "rgb", False):
        axes = axes.replace("S", "")
    return layer_pixel_sizes(layer, axes)


def missing_pixel_note(text: str, layer, axes: str) -> str | None:
    """One line when an optics model in the PSF box (``text``) lacks pixel= and image
    ``layer`` (axes ``axes``) states no pixel size to fill it with: what the user can change
    (the core's own message gives an example value that reads as the one to use). None where
    nothing lacks pixel=, or the layer gives one (the prefill fills it)."""
    from ..core.channel_psfs import channel_sources
    from ..core.psf import calibration_gaps

    try:
        parts = channel_sources(text) or [text]
    except ValueError:  # an empty channel: the PSF's own check says so
        return None
    lacking = next((p.strip() for p in parts if "pixel" in calibration_gaps(p.strip())), None)
    if layer is None or lacking is None or "pixel" in sampling_with_origins(layer, axes)[0]:
        return None
    sizes, _ = image_pixel_sizes(layer, axes)
    if {"Y", "X"} <= sizes.keys():
        stated = (f"states Y {sizes['Y']:.4g} and X {sizes['X']:.4g} um, no pixel size "
                  "(unequal, or no light microscope's)")
    else:
        stated = "states no pixel size (scale 1)"
    return (f"psf {lacking!r} lacks pixel= and layer {layer.name!r} {stated}: add pixel= (um "
            "per pixel) to the PSF, or set the layer's scale in um (napari: layer.scale)")


def _optics_items(part: str) -> tuple[str, list[list[str]]] | None:
    """('kind', [[key, value], ...]) of an optics model, or None for any other source or a
    model still being typed (an item that is no KEY=VALUE)."""
    kind, sep, rest = part.partition(":")
    if not sep or kind.strip().lower() not in _OPTICS:
        return None
    items = []
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = (p.strip() for p in item.partition("="))
        if not eq or not key:
            return None
        items.append([key, value])
    return kind, items


def _is_3d(items) -> bool:
    nz = next((v for k, v in items if k.lower() == "nz"), "1")
    try:
        return int(nz) > 1
    except ValueError:
        return False


def with_sampling(text: str, values: dict[str, str], written: dict[str, str]) -> str:
    """``text`` with pixel= and dz= (dz= only in a 3D model: nz > 1) of each optics model in
    it (one per channel: 'A;B') set to ``values``, where the key is absent or holds what the
    prefill ``written`` there; a value the user typed is kept."""
    try:
        if Path(text.strip()).is_file():
            return text  # a PSF file, whatever its name
    except (OSError, ValueError):
        pass
    parts = text.split(";")
    for i, part in enumerate(parts):
        parsed = _optics_items(part)
        if parsed is None:
            continue
        kind, items = parsed
        keys = {item[0].lower(): item for item in items}
        changed = False
        for key, value in values.items():
            if key == "dz" and not _is_3d(items):
                continue
            item = keys.get(key)
            if item is None:
                items.append([key, value])
                changed = True
            elif item[1] != value and item[1] == written.get(key):
                item[1] = value
                changed = True
        if changed:
            parts[i] = f"{kind}:" + ",".join(f"{k}={v}" for k, v in items)
    return ";".join(parts)


class PsfScalePrefill:
    """Keeps an optics model's pixel= (and dz= for a 3D one) in the PSF box ``psf_edit`` at the
    scale of the image layer ``image_of()`` returns ((layer, axes) or None): filled where the
    model lacks them, and following another layer while they hold what was filled; a value
    the user typed is kept (the Run warning then says when it is off). A hint under the field
    (inserted in ``form``, when given) says which layer's scale (or which file, where the scale
    is 1: ``_layer_file``) the values came from, or, where the layer states no pixel size, that
    it does not and what to give (``missing_pixel_note``). Updates
    when a signal of ``follow`` fires, when the layer's scale or units change, when editing the
    PSF box ends, and on a text set by a program (the box has no focus): never while the user
    types (an update then waits for the end of the editing). A file's sizes come once its
    header is read, in a worker (``HeaderReads``). The layer's events are let go
    when another layer is chosen and on ``release()`` (the dock closing: the layer may
    outlive it)."""

    def __init__(self, psf_edit, image_of, *, form=None, follow=()) -> None:
        from qtpy.QtCore import QEvent
        from qtpy.QtWidgets import QLabel

        self.psf_edit, self._image_of = psf_edit, image_of
        self._written: dict[str, tuple[str, str]] = {}  # key -> (value, where it came from)
        self._pending = False  # a layer change came while the user was typing in the box
        self._layer_ref = None  # weak reference to the layer whose scale and units we follow
        self._released = False  # the dock closed (its release_viewer calls ``release``)
        self._reads = HeaderReads()
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setToolTip("pixel= and dz= of the optics PSF model, taken from the image "
                             "layer's scale (Layer > scale), or, where that is 1, from the "
                             "file the layer was opened from; type other values to keep yours.")
        self.hint.setVisible(False)
        # said before Run: a pixel= or dz= off the layer's (typed, or filled for another layer
        # and waiting for the end of the editing); the Run warning says it again
        self.scale_note = QLabel()
        self.scale_note.setWordWrap(True)
        self.scale_note.setToolTip("The PSF's pixel= or dz= differs by over 5 % from what the "
                                   "image layer's scale or file states.")
        self.scale_note.setVisible(False)
        if form is not None:
            form.insertRow(_row_of(form, psf_edit) + 1, "", self.hint)
            form.insertRow(_row_of(form, psf_edit) + 2, "", self.scale_note)
        psf_edit.textChanged.connect(self._text_changed)
        psf_edit.editingFinished.connect(self._apply)
        # Qt 6 sends editingFinished on focus loss only after an edit: a pending update too
        self._focus_watch = _EventWatch(psf_edit, self, {QEvent.FocusOut: "_focus_out"})
        for signal in follow:
            signal.connect(self.update)
        self.update()

    def update(self, *_) -> None:
        """Set pixel= and dz= from the current layer's scale where they are not the user's;
        while the user is in the PSF box, once the editing ends (not under the cursor)."""
        layer, axes = self._image()
        self._follow_layer(layer)
        if self.psf_edit.hasFocus():
            self._pending = True
            self._show_hint()  # the values still there may be another layer's: said
            return
        self._apply()

    def _image(self):
        try:
            image = self._image_of()
        except (ValueError, RuntimeError):  # no usable layer, or a dock being closed
            image = None
        return image if image else (None, "")

    def _apply(self, *_) -> None:
        # a file header still being read: filled when it arrives, unless typed in meanwhile
        self._reads.run(lambda: self._apply_for(*self._image()), self._image()[0],
                        refresh=self.update)

    def _focus_out(self) -> None:
        if self._pending:
            self._apply()

    def settle(self) -> None:
        """Make an update still waiting (for the end of the editing, or for a file header
        being read) now, reading the header here: a run starts with the chosen layer's
        pixel= (Run was pressed, the box may still have the focus)."""
        if self._pending or self._reads.busy:
            self._apply_for(*self._image())

    def _apply_for(self, layer, axes: str) -> None:
        self._pending = False
        found, origins = sampling_with_origins(layer, axes)
        values = {k: f"{v:.4g}" for k, v in found.items()}
        text = self.psf_edit.text()
        new = with_sampling(text, values, {k: v for k, (v, _) in self._written.items()})
        if new != text:
            before, after = _values_of(text), _values_of(new)
            for key, value in values.items():
                if before.get(key) != value == after.get(key):  # filled now, not typed
                    self._written[key] = (value, origins[key])
            self.psf_edit.setText(new)
        self._show_hint()

    def _text_changed(self, *_) -> None:
        if not self.psf_edit.hasFocus():  # set by a program (a test, a script): fill it now
            self.update()
        else:
            self._show_hint()

    def _show_hint(self) -> None:
        shown = _values_of(self.psf_edit.text())
        kept = {k: w for k, w in self._written.items() if shown.get(k) == w[0]}
        by_origin: dict[str, list[str]] = {}  # "layer 'A' scale" / "file cells.tif": k=v
        for key, (value, origin) in kept.items():
            by_origin.setdefault(origin, []).append(f"{key}={value}")
        line = "; ".join(f"{', '.join(said)} from {origin}" for origin, said in by_origin.items())
        # nothing to fill from: why the model is refused, under the field, in this layer's terms
        line = line or self.missing_pixel()
        self.hint.setText(line)
        self.hint.setVisible(bool(line))
        note = self._scale_mismatch(shown)
        self.scale_note.setText(note)
        self.scale_note.setVisible(bool(note))

    def missing_pixel(self) -> str:
        """``missing_pixel_note`` for the PSF box and the chosen layer ('' when none, or while
        the layer's file header is still being read: its pixel size may be there)."""
        layer, axes = self._image()
        if layer is None or self._reads.busy:
            return ""
        with unread_headers_deferred() as unread:
            note = missing_pixel_note(self.psf_edit.text(), layer, axes)
        return "" if unread else note or ""

    def _scale_mismatch(self, shown: dict[str, str]) -> str:
        """One line for each pixel= or dz= in the box more than 5 % off what the chosen layer
        states (a header still being read states nothing yet), '' when none is."""
        from ..core.psf_scale import scale_mismatch

        layer, axes = self._image()
        if layer is None:
            return ""
        with unread_headers_deferred():
            found, origins = sampling_with_origins(layer, axes)
        notes = []
        for key, value in found.items():
            try:
                given = float(shown[key])
            except (KeyError, ValueError):
                continue
            along = ("Y", "X") if key == "pixel" else ("Z",)
            off, _ = scale_mismatch(dict.fromkeys(along, given), dict.fromkeys(along, value),
                                    "ZYX")
            if not off:
                continue
            wanted, written = f"{value:.4g}", self._written.get(key)
            if written is not None and written[0] == shown[key]:  # filled for another layer
                notes.append(f"{key}={shown[key]} is from {written[1]}, not {origins[key]} "
                             f"({wanted} um): updated when you leave the PSF box or press Run")
            else:
                notes.append(f"{key}={shown[key]} differs from {origins[key]} ({wanted} um): "
                             f"give {key}={wanted} unless yours is right (a PSF at another "
                             "scale deblurs wrongly)")
        return "; ".join(notes)

    # the layer's scale and units (the console, a reader plugin setting them after opening)
    def _follow_layer(self, layer) -> None:
        layer = unwrap(layer) if layer is not None else None
        followed = self._layer_ref() if self._layer_ref is not None else None
        if layer is followed or self._released:
            return
        self._let_go()
        if layer is not None:
            layer.events.scale.connect(self._layer_changed)
            layer.events.units.connect(self._layer_changed)
            self._layer_ref = weakref.ref(layer)

    def _layer_changed(self, *_) -> None:
        try:
            self.update()
        except RuntimeError:  # the box was deleted with its dock
            self.release()

    def _let_go(self) -> None:
        layer = self._layer_ref() if self._layer_ref is not None else None
        self._layer_ref = None
        if layer is not None:
            disconnect(layer.events.scale, self._layer_changed)
            disconnect(layer.events.units, self._layer_changed)

    def release(self) -> None:
        """Stop following layers (the dock closes); safe to call more than once."""
        self._released = True
        self._reads.release()
        self._let_go()


class _EventWatch(QObject):
    """An event filter on ``target`` calling ``prefill``'s method named ``calls[event type]``;
    the event goes on. A child of ``target`` (it lives and dies with it) holding ``prefill``
    weakly: a strong reference made a cycle that garbage collection emptied while Qt still
    sent events to the filter."""

    def __init__(self, target, prefill, calls: dict) -> None:
        super().__init__(target)
        self._prefill, self._calls = weakref.ref(prefill), calls
        target.installEventFilter(self)

    def eventFilter(self, obj, ev):  # noqa: N802 - Qt override
        ref, calls = getattr(self, "_prefill", None), getattr(self, "_calls", None)
        prefill = ref() if ref is not None else None  # None: being deleted
        name = calls.get(ev.type()) if calls and prefill is not None else None
        try:
            if name is not None:
                getattr(prefill, name)()
        except RuntimeError:  # the box is deleted: an exception here would abort Qt
            prefill.release()
        return False


def _values_of(text: str) -> dict[str, str]:
    """pixel= and dz= of the optics models in ``text`` (the first where several differ)."""
    found: dict[str, str] = {}
    for part in text.split(";"):
        for key, value in (_optics_items(part) or ("", []))[1]:
            if key.lower() in ("pixel", "dz"):
                found.setdefault(key.lower(), value)
    return found


def _row_of(form, widget) -> int:
    """The form row whose field is ``widget`` or a layout holding it (-1: none: appended)."""
    from qtpy.QtWidgets import QFormLayout

    for row in range(form.rowCount()):
        item = form.itemAt(row, QFormLayout.FieldRole)
        if item is not None and (item.widget() is widget or (
                item.layout() is not None and item.layout().indexOf(widget) >= 0)):
            return row
    return form.rowCount() - 1
