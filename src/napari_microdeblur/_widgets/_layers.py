"""Image layers as the docks see them: checks, axes, the viewer's current index, a combo box
of layers kept in sync with the layer list, and the part of a layer a scope selects."""

from __future__ import annotations

import math
import weakref

import numpy as np
from qtpy.QtWidgets import QWidget

from ._dock_fit import ElidedCombo
from ._layer_rank import (  # noqa: F401  (the docks import the rank rules from here)
    FITTING_RANK,
    INPUT_WORDS,
    REFERENCE_WORDS,
    input_rank,
    made_here,
    may_follow,
    name_words,
    names_reference,
    reference_rank,
    run_in_progress,
)

SCOPES = ("whole stack", "current slice", "visible field of view")

def is_image_layer(layer) -> bool:
    from napari.layers import Image

    return isinstance(layer, Image)


def check_image_layer(layer, role: str = "image") -> None:
    """Raise ValueError (saying what to change) unless ``layer`` is a usable image layer."""
    if layer is None:
        raise ValueError(f"no {role} layer chosen: open or select an image layer first")
    if not is_image_layer(layer):
        kind = type(layer).__name__.lower()
        raise ValueError(
            f"layer {layer.name!r} is a {kind} layer; choose an image layer as {role} "
            "(deblurring and metrics work on intensities, not on labels, points or shapes)"
        )
    data = layer_data(layer)
    shape = tuple(int(s) for s in data.shape)
    spatial = shape[:-1] if layer.rgb else shape
    if int(np.prod(shape)) == 0 or len(spatial) < 2 or min(spatial[-2:]) < 2:
        raise ValueError(
            f"layer {layer.name!r} is empty or too small (shape {shape}); choose an image with "
            "at least 2 x 2 pixels in Y and X"
        )
    dtype = np.dtype(data.dtype)
    if dtype.kind not in "uif":
        raise ValueError(
            f"layer {layer.name!r} has dtype {dtype}; choose an image of real intensities "
            "(integer or float); a mask or label layer is not one (to deblur it anyway, add a "
            "copy as 8-bit: viewer.add_image(layer.data.astype('uint8')) in the console)"
        )


def unwrap(obj):
    """The object behind napari's PublicOnlyProxy (plugins get proxies of the viewer and its
    layers; each access makes a new proxy, so identity and weak references need the object)."""
    return getattr(obj, "__wrapped__", obj)


def alive_in(viewer, ref):
    """The layer behind the weak reference ``ref`` (or None) while it is in ``viewer``."""
    layer = ref() if ref is not None else None
    if layer is None or not any(unwrap(la) is layer for la in viewer.layers):
        return None
    return layer


def layer_data(layer):
    """The full-resolution array of an image layer (level 0 of a multiscale layer)."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def lazy_part(data, key):
    """``data[key]`` without reading pixels: a numpy (or memory-mapped) array gives a view, a
    dask array a lazy slice, and any other array (zarr, h5py), which reads when indexed, is
    wrapped in dask so that the part is read in the worker, not on the GUI thread."""
    if isinstance(data, np.ndarray):  # importing dask took 1.6-2 s on the GUI thread
        return data[key]
    import dask.array as da

    if not isinstance(data, da.Array):
        chunks = getattr(data, "chunks", None)
        # meta given: dask would otherwise index the array for it, on this thread
        meta = np.empty((0,) * len(data.shape), dtype=data.dtype)
        data = da.from_array(data, chunks=chunks if isinstance(chunks, tuple) else "auto",
                             meta=meta)
    return data[key]


def guess_layer_axes(layer) -> str:
    """Axes of an image layer: those the plugin recorded for a layer it made, else those the
    file it was opened from states (``_layer_file.file_axes_of``), else guessed from its shape
    (``shape_axes``)."""
    return layer_axes_origin(layer)[0]


#: where ``layer_axes_origin`` found axes in the layer's napari axis labels
LABELS = "axis labels"


def layer_axes_origin(layer) -> tuple[str, str]:
    """(``guess_layer_axes``, where they came from: 'record', 'file NAME', ``LABELS`` or '' for
    a shape guess). napari's own reader names no axes (a ZCYX hyperstack opens as a bare
    array); a reader plugin that sets ``layer.axis_labels`` takes them from the file's header,
    which is read here too, so the file ranks above the labels (they agree but for a reader's
    mistake), and the labels above the shape's guess."""
    recorded = _recorded_axes(layer)
    if recorded:
        return recorded, "record"
    if getattr(layer, "source", None) is not None:  # the writer's stand-in has none
        from ._layer_file import file_axes_of

        found = file_axes_of(layer)
        if found:
            return found[0], f"file {found[1]}"
    labelled = label_axes(layer)
    if labelled:
        return labelled, LABELS
    return shape_axes(layer), ""


#: napari axis labels (case aside) that name an axis; napari's default labels ('-3', '-2',
#: '-1', or '0', '1', '2') name none
LABEL_LETTERS = {
    "t": "T", "time": "T", "z": "Z", "c": "C", "ch": "C", "channel": "C", "channels": "C",
    "y": "Y", "x": "X", "s": "S", "rgb": "S", "rgba": "S", "sample": "S", "samples": "S",
}


def label_axes(layer) -> str:
    """The axes ``layer.axis_labels`` (napari 0.6+) name, where every label names one
    (``LABEL_LETTERS``) and they fit the layer's data; '' else. napari labels no colour axis
    of an RGB layer: S is added for it."""
    from ..core.axes import check_axes

    labels = tuple(str(a).strip().lower() for a in (getattr(layer, "axis_labels", None) or ()))
    letters = "".join(LABEL_LETTERS.get(a, "?") for a in labels)
    if not letters or "?" in letters:
        return ""
    if getattr(layer, "rgb", False) and not letters.endswith("S"):
        letters += "S"
    if letters.endswith("S") != bool(getattr(layer, "rgb", False)):
        return ""
    try:
        return check_axes(letters, tuple(layer_data(layer).shape))
    except (TypeError, ValueError):  # a letter twice, no Y or X, another number of dims
        return ""


def _recorded_axes(layer) -> str:
    """The axes in ``layer.metadata['microdeblur']`` (a layer the plugin made) where they
    still fit its data and RGB flag; '' else."""
    from ..core.axes import check_axes

    metadata = getattr(layer, "metadata", None)
    record = metadata.get("microdeblur") if isinstance(metadata, dict) else None
    axes = record.get("axes") if isinstance(record, dict) else None
    if not isinstance(axes, str) or axes.endswith("S") != bool(layer.rgb):
        return ""
    try:
        return check_axes(axes, tuple(layer_data(layer).shape))
    except (TypeError, ValueError):
        return ""


#: How a dock's note on guessed axes says to give others (``core.axes.guess_note``)
TYPE_AXES = "type {0} in Axes"


def shape_axes(layer) -> str:
    """Axes of an image layer by its shape: napari's RGB flag decides S; the rest as core
    guesses it, '' where that guess makes planes of a few pixels (``narrow_guess_note`` says
    what to type instead: core refuses such a guess, and a 128 x 128 x 2 layer ran as 128
    planes of 128 x 2 px)."""
    from ..core.axes import narrow_plane_note

    shape = tuple(layer_data(layer).shape)
    if layer.rgb:
        prefix = {2: "", 3: "Z", 4: "TZ"}.get(len(shape) - 1, None)
        if prefix is None:
            prefix = "TZ"[: max(0, len(shape) - 3)]
        return prefix + "YXS"
    axes = _grey_guess(shape)
    return "" if axes and narrow_plane_note(shape, axes) else axes


def _grey_guess(shape: tuple[int, ...]) -> str:
    """core's guess for ``shape`` with no S axis: napari decides RGB itself, and a grey stack
    whose last side is 3 or 4 is not RGB here; '' where core has no guess."""
    from ..core.axes import guess_axes

    try:
        axes = guess_axes(shape)
    except ValueError:
        return ""
    return {3: "ZYX", 4: "TZYX"}.get(len(shape), axes) if axes.endswith("S") else axes


def narrow_guess_note(layer, give: str = TYPE_AXES) -> str:
    """The line on why ``shape_axes`` left a layer's axes out (its shape's guess makes planes
    of a few pixels: ``core.axes.narrow_plane_note``); '' where it did not."""
    from ..core.axes import narrow_plane_note

    if layer is None or layer.rgb or layer_axes_origin(layer) != ("", ""):
        return ""
    shape = tuple(int(n) for n in layer_data(layer).shape)
    axes = _grey_guess(shape)
    note = axes and narrow_plane_note(
        shape, axes, give=give,
        give_any=give.format("one letter of T, C, Z, Y, X, S per dimension"))
    return f"axes not filled in: the guess {note}" if note else ""


def layer_axes_note(layer, axes: str, give: str = TYPE_AXES) -> str:
    """One line saying what ``axes``, as guessed for ``layer``, assumed where its first axis of
    2 to 4 may hold something else (``core.axes.guess_note``) or a longer one read as Z may
    hold time points (``core.axes.z_guess_note``), or that they are the file's or the axis
    labels'; for no axes, why none were filled in (``narrow_guess_note``); '' for axes the user
    typed, for the plugin's record and for RGB layers (napari decided those)."""
    from ..core.axes import guess_note, z_guess_note

    if not axes:
        return narrow_guess_note(layer, give)
    if layer is None or layer.rgb:
        return ""
    guessed, origin = layer_axes_origin(layer)
    if axes != guessed or origin == "record":
        return ""
    shape = tuple(int(n) for n in layer_data(layer).shape)
    if origin:  # not the shape's guess: say whose they are, in case the file is wrong
        said = (f"the layer's axis labels {tuple(layer.axis_labels)} state" if origin == LABELS
                else f"{origin} states")
        return (f"axes {axes} as {said} them, not guessed from shape {shape}; if they are "
                f"wrong, {give.format('others')}")
    return guess_note(shape, axes, give=give) or z_guess_note(shape, axes, give=give) or ""


def current_data_index(viewer, layer) -> tuple[int, ...]:
    """Integer data index of the viewer's current point in ``layer`` (one per layer dim)."""
    point = np.asarray(layer.world_to_data(viewer.dims.point), dtype=float)
    shape = layer_data(layer).shape[: layer.ndim]
    return tuple(int(np.clip(np.round(p), 0, n - 1)) for p, n in zip(point, shape, strict=True))


def layer_modality(layer) -> str:
    """The image type ``layer``'s metadata states ('modality': em, fluorescence, brightfield;
    also in the plugin's 'microdeblur' record), else 'auto' (RGB brightfield, grayscale
    fluorescence: ``core.bundled.image_type``)."""
    from ..core.method import MODALITIES

    metadata = getattr(layer, "metadata", None)
    if not isinstance(metadata, dict):
        return "auto"
    record = metadata.get("microdeblur")
    for said in (metadata.get("modality"),
                 record.get("modality") if isinstance(record, dict) else None):
        if isinstance(said, str) and said.strip().lower() in MODALITIES:  # 'auto' too
            return said.strip().lower()
    return "auto"


class LayerCombo(ElidedCombo):
    """A combo box of the viewer's layers of some types, kept in sync with the layer list; a
    long name shows elided in the middle, named whole in the tooltip (``ElidedCombo``).

    ``rank`` (layer -> int, lower is better; e.g. ``input_rank``): until the user chooses a
    layer, the combo takes the best ranked one (the selected layer among equals), and moves
    to a better one added later; ``avoid`` (no arguments -> a layer) ranks that layer last
    (the Sharp combo avoids the Blurry choice; ``reconsider()`` when it changes). Without
    ``rank``: the selected layer, else the first. A choice of the user's is kept.

    With ``rank``, once filled, the combo never picks by itself a layer the plugin made (a
    result of the Run about to be pressed again), and when the chosen layer is removed it
    takes only a layer that fits (rank up to ``FITTING_RANK``), else none, until one comes:
    the Deblur dock's Image box moved to the result of its removed input, which the next Run
    would have deblurred again.

    ``follow_active`` (default: for ``rank=input_rank``): the combo starts on the active layer
    and takes a layer added later once napari makes it active, where it fits (``may_follow``:
    no reference, result or PSF); the rank decides only where it does not, and never moves the
    combo off a layer it followed. The combo moves by itself (but off a removed layer) only
    while not ``busy()`` (default: a run of its dock is going on, ``run_in_progress``)."""

    def __init__(
        self,
        viewer,
        types: tuple[type, ...],
        *,
        none_label: str | None = None,
        tooltip: str = "",
        rank=None,
        avoid=None,
        follow_active: bool | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._viewer = viewer
        self._types = types
        self._none_label = none_label
        self._rank, self._avoid = rank, avoid
        self._follow = rank is input_rank if follow_active is None else follow_active
        self._followed = False  # the current layer was taken as the active one: kept
        self._added = None  # weak reference to the layer inserted last, until napari activates it
        self.busy = None  # no arguments -> True while the combo must not move by itself
        self._user_chose = False  # a layer picked in the list (or set_value): kept
        self._filled = False  # the first fill may pick any layer
        self._lost = False  # the chosen layer was removed and no fitting one came since
        self.activated.connect(self._chosen_by_user)
        self._layers: list = []  # weak references, index-aligned with the items
        self.setToolTip(tooltip)
        events = viewer.layers.events
        for name in ("inserted", "removed", "reordered"):
            getattr(events, name).connect(self.refresh)
        # renames: napari emits per-layer name events; refresh on any of them
        events.inserted.connect(self._watch_names)
        # napari makes an added layer active only after its 'inserted' event
        viewer.layers.selection.events.active.connect(self._on_active)
        for layer in viewer.layers:
            layer.events.name.connect(self.refresh)
        self.refresh()

    def _watch_names(self, event=None) -> None:
        layer = getattr(event, "value", None)
        if layer is not None:
            layer.events.name.connect(self.refresh)
            self._added = weakref.ref(unwrap(layer))  # for _on_active

    def refresh(self, event=None) -> None:
        try:
            self._refresh()
        except RuntimeError:  # the combo box was deleted with its dock: stop listening
            self.disconnect_viewer()

    def _refresh(self) -> None:
        current = self.value
        # the layer chosen before, even if just removed: its removal must be announced
        previous = self._chosen()
        candidates = [unwrap(la) for la in self._viewer.layers if isinstance(la, self._types)]
        self.blockSignals(True)
        try:
            self.clear()
            self._layers = []
            if self._none_label is not None:
                self.addItem(self._none_label)
                self._layers.append(None)
            for layer in candidates:
                self.addItem(layer.name)
                self._layers.append(weakref.ref(unwrap(layer)))
            if current is None or current not in candidates:
                self._user_chose = self._followed = False
            kept = current is not None and current in candidates
            self._lost = not kept and (self._lost or previous is not None)
            pool = self._pool(candidates)
            active = None if self._filled else self._fitting_active()  # the dock opens
            if active is not None:
                self.setCurrentIndex(self._index_of(active))
                self._followed = True
            elif kept and not self._better(current, pool):
                self.setCurrentIndex(self._index_of(current))
            elif pool and (self._none_label is None or kept):
                self.setCurrentIndex(self._index_of(self._best(pool)))
            elif self._lost and self._rank is not None:
                self.setCurrentIndex(0 if self._none_label is not None else -1)
            self._lost = self._lost and self.value is None
            self._filled = True
        finally:
            self.blockSignals(False)
        if self.value is not previous:
            self.currentIndexChanged.emit(self.currentIndex())

    def _pool(self, candidates: list) -> list:
        """The layers the combo may pick by itself (see the class docstring)."""
        if self._rank is None or not self._filled:
            return candidates
        pool = [la for la in candidates if not made_here(la)]
        return [la for la in pool if self._score(la) <= FITTING_RANK] if self._lost else pool

    def _score(self, layer) -> int:
        avoided = self._avoid() if self._avoid is not None else None
        if avoided is not None and unwrap(avoided) is layer:
            return 99
        return self._rank(layer) if self._rank is not None else 0

    def _best(self, candidates: list):
        """The best ranked of ``candidates``; among equals the selected layer, else the
        first."""
        active = unwrap(self._viewer.layers.selection.active)
        return min(candidates, key=lambda la: (self._score(la), la is not active,
                                               candidates.index(la)))

    def _better(self, current, candidates: list) -> bool:
        """Whether a layer fits better than ``current``, the combo's own pick (never the
        user's)."""
        if (self._user_chose or self._followed or not candidates
                or (self._rank is None and self._avoid is None) or self._held()):
            return False
        return self._score(self._best(candidates)) < self._score(current)

    def _chosen_by_user(self, *_) -> None:
        self._user_chose = self.value is not None

    def _held(self) -> bool:
        return bool(self.busy()) if self.busy is not None else run_in_progress(self)

    def _fitting_active(self, layer=None):
        """``layer`` (default: the active layer) where the combo may follow it, else None."""
        if not self._follow or self._user_chose:
            return None
        layer = unwrap(layer if layer is not None else self._viewer.layers.selection.active)
        fits = self._index_of(layer) >= 0 and may_follow(layer, self._score(layer))
        return layer if fits and not self._held() else None

    def _on_active(self, event=None) -> None:
        """Take the layer just added once napari makes it active (see the class docstring);
        a layer merely selected later is not taken."""
        layer = unwrap(getattr(event, "value", None))
        if layer is None:  # napari clears the selection before it selects the added layer
            return
        added, self._added = (self._added() if self._added is not None else None), None
        try:
            if added is not layer or self._fitting_active(layer) is None:
                return
            self._followed, self._lost = True, False
            self.setCurrentIndex(self._index_of(layer))
        except RuntimeError:  # the combo box was deleted with its dock: stop listening
            self.disconnect_viewer()

    def reconsider(self, *_) -> None:
        """Pick again by rank (what ``avoid`` returns changed), unless the user chose."""
        self.refresh()

    def _chosen(self):
        i = self.currentIndex()
        ref = self._layers[i] if 0 <= i < len(self._layers) else None
        return ref() if ref is not None else None

    def _index_of(self, layer) -> int:
        layer = unwrap(layer)
        for i, ref in enumerate(self._layers):
            if ref is not None and ref() is layer:
                return i
        return -1

    @property
    def value(self):
        i = self.currentIndex()
        if i < 0 or i >= len(self._layers) or self._layers[i] is None:
            return None
        layer = self._layers[i]()
        return layer if layer is not None and layer in self._viewer.layers else None

    def set_value(self, layer) -> None:
        i = self._index_of(layer)
        if i < 0:
            raise ValueError(f"layer {getattr(layer, 'name', layer)!r} is not offered here")
        self._user_chose = True
        self.setCurrentIndex(i)

    def disconnect_viewer(self) -> None:
        events = self._viewer.layers.events
        for name in ("inserted", "removed", "reordered"):
            try:
                getattr(events, name).disconnect(self.refresh)
            except (TypeError, ValueError, RuntimeError):
                pass
        for event, slot in ((events.inserted, self._watch_names),
                            (self._viewer.layers.selection.events.active, self._on_active)):
            try:
                event.disconnect(slot)
            except (TypeError, ValueError, RuntimeError):
                pass
        for layer in self._viewer.layers:
            try:
                layer.events.name.disconnect(self.refresh)
            except (TypeError, ValueError, RuntimeError):
                pass


def scope_selection(viewer, layer, axes: str, scope: str, keep_channels: bool,
                    other_scope: bool = True):
    """(key into the layer's data, data offset per layer dim) for a scope; ``other_scope``:
    whether a refusal may point to another scope (the Fine-tune preview has none).

    'current slice' keeps Y, X (and S; and C when the model takes channels whole) and one index
    of every other axis, as singleton dimensions so the result sits at that slice.
    'visible field of view' also crops Y and X to what the canvas shows.
    """
    data = layer_data(layer)
    nd = layer.ndim  # napari's dims: RGB's S axis is not one of them
    layer_axes = axes[:nd]
    if scope == "whole stack":
        return (slice(None),) * len(data.shape), (0,) * nd
    whole = "YXC" if keep_channels else "YX"  # the axes a slice keeps whole
    if viewer.dims.ndisplay == 2:  # a transposed view shows a ZX (or ZY) plane, not a YX one
        check_yx_displayed(viewer, layer, layer_axes, scope)
    elif scope == "current slice":  # the 3D view hides the slider of the plane taken
        check_plane_in_3d(viewer, layer, layer_axes, whole, other_scope)
    index = current_data_index(viewer, layer)
    key: list = []
    offset: list = []
    for i, a in enumerate(layer_axes):
        if a in whole:
            key.append(slice(None))
            offset.append(0)
        else:
            key.append(slice(index[i], index[i] + 1))
            offset.append(index[i])
    if scope == "visible field of view":
        (y0, y1), (x0, x1) = visible_yx_box(viewer, layer, layer_axes)
        iy, ix = layer_axes.index("Y"), layer_axes.index("X")
        key[iy], key[ix] = slice(y0, y1), slice(x0, x1)
        offset[iy], offset[ix] = y0, x0
    key += [slice(None)] * (len(data.shape) - nd)
    return tuple(key), tuple(offset)


def check_yx_displayed(viewer, layer, layer_axes: str, scope: str) -> tuple[int, int]:
    """The viewer dims of the layer's Y and X; ValueError unless they are the ones on screen
    (the slice a scope takes is a YX plane)."""
    offset = viewer.dims.ndim - layer.ndim
    yx = (layer_axes.index("Y") + offset, layer_axes.index("X") + offset)
    shown = tuple(viewer.dims.displayed)
    # Y and X swapped show the same plane, which the current slice takes whole
    if shown != yx and (scope != "current slice" or set(shown) != set(yx)):
        raise ValueError(
            f"scope {scope!r} takes a Y-X plane but the view shows other axes; reset the "
            "displayed axes (or transpose back) or choose 'whole stack'"
        )
    return yx


def check_plane_in_3d(viewer, layer, layer_axes: str, whole: str, other_scope: bool) -> None:
    """ValueError when the 3D view shows whole an axis that the current slice takes one index
    of (Z of a z-stack): the plane taken is at a slider the view hides, not what is seen."""
    offset = viewer.dims.ndim - layer.ndim
    shown = [layer_axes[d - offset] for d in viewer.dims.displayed if d >= offset]
    hidden = [a for a in shown if a not in whole]
    if hidden or not set("YX") <= set(shown):
        axis = hidden[0] if hidden else "another axis"
        raise ValueError(
            f"scope 'current slice' takes one Y-X plane but the 3D view shows {axis} whole; "
            "switch the viewer to 2D (and pick the plane with the sliders)"
            + (" or choose 'whole stack'" if other_scope else "")
        )


def visible_yx_box(viewer, layer, layer_axes: str):
    """Data-pixel bounds ((y0, y1), (x0, x1)) of the part of ``layer`` the canvas shows."""
    if viewer.dims.ndisplay != 2:
        raise ValueError(
            "scope 'visible field of view' needs the 2D view; switch the viewer to 2D or choose "
            "'whole stack'"
        )
    offset = viewer.dims.ndim - layer.ndim
    yx = check_yx_displayed(viewer, layer, layer_axes, "visible field of view")
    try:
        height, width = viewer.canvas.viewbox_size(viewer.layers)
    except (AttributeError, TypeError):
        height, width = viewer.canvas.size
    scene = getattr(viewer, "scene", None)  # napari >= 0.9; viewer.camera before
    camera = scene.camera if scene is not None else viewer.camera
    zoom = camera.zoom
    cy, cx = camera.center[-2:]
    corners = []
    for dy in (-1, 1):
        for dx in (-1, 1):
            point = list(viewer.dims.point)
            point[yx[0]] = cy + dy * height / (2 * zoom)
            point[yx[1]] = cx + dx * width / (2 * zoom)
            corners.append(layer.world_to_data(point))
    corners = np.asarray(corners)
    shape = layer_data(layer).shape
    bounds = []
    for axis in yx:
        d = axis - offset
        lo = int(np.clip(math.floor(corners[:, d].min()), 0, shape[d]))
        hi = int(np.clip(math.ceil(corners[:, d].max()) + 1, 0, shape[d]))
        bounds.append((lo, hi))
    if any(hi - lo < 2 for lo, hi in bounds):
        raise ValueError(
            f"layer {layer.name!r} is not in view; pan or zoom so that it shows, or choose "
            "another scope"
        )
    return bounds[0], bounds[1]


def check_stack_layer(layer, axes: str, focus: int) -> None:
    """What fine-tuning on a focus stack would refuse once started (``pairs.check_focus_stack``),
    said before it starts; ``axes`` empty: guessed from the layer; ``focus`` < 0: 'auto'."""
    from ..core.pairs import check_focus_stack

    check_focus_stack(layer_data(layer).shape, axes or guess_layer_axes(layer),
                      "auto" if focus < 0 else int(focus), option="In-focus plane ")
