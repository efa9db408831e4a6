"""Deblur dock: pick an image layer and a method, run ``core.inference.iter_deblur`` in a napari
worker (a progress bar per tile, Cancel between tiles), add the result as a new layer.

The run itself (``DeblurRequest`` -> ``iter_deblur_job`` -> ``start_deblur``) is shared with
the menu action "Deblur with default model" (``_actions.py``).
"""

from __future__ import annotations

import copy
import math
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ._common import (
    SESSION_MODELS,
    ClassicalOptions,
    LayerCombo,
    RunDockMixin,
    SessionModel,
    WorkerOwnerMixin,
    auto_tile_size,
    check_image_layer,
    current_data_index,
    describe_card,
    describe_error,
    guess_layer_axes,
    layer_data,
    notify_error,
    notify_info,
    unwrap,
)
from ._common import (
    combo_key as _key,
)

SCOPES = ("whole stack", "current slice", "visible field of view")
CLASSICAL_LABELS = {"richardson_lucy": "Richardson-Lucy (PSF)", "wiener": "Wiener (PSF)"}
TILE_MODES = ("model default", "auto (fits free memory)", "custom")


# ----------------------------------------------------------------------------- the run


@dataclass
class DeblurRequest:
    """Everything one run needs, collected on the GUI thread; the worker only reads it."""

    source_name: str
    image: Any  # the layer's array, or a view/crop of it (never modified)
    axes: str
    method_kind: str  # "bundled" | "session" | "classical" | "model"
    method_name: str  # bundled name, session label, classical method name, or a label
    psf: str | None = None
    iterations: int = 30
    balance: float = 0.01
    device: str = "auto"
    tile: int | str | None = None  # None: the method's default; "auto"; or pixels
    overlap: int | None = None
    window: str = "cosine"
    output_dtype: str = "float32"
    scope: str = "whole stack"
    offset: tuple[int, ...] = ()  # data offset of ``image`` inside the layer, per layer dim
    layer_props: dict = field(default_factory=dict)
    model: Any = None  # method_kind "model": a network given directly (fine-tune preview)
    card: Any = None
    # for a slice or crop: the whole layer, whose intensities fix the normalisation, so that a
    # slice comes out as it would in a whole-stack run
    full_image: Any = None


def _session_model(label: str):
    item = SESSION_MODELS.get(label)
    if item is None:
        raise ValueError(
            f"method {label!r} is no longer loaded in this session; load the weights again"
        )
    return item


def method_card(kind: str, name: str):
    """The model card of a method (None for classical methods); bundled: header only."""
    if kind == "session":
        return _session_model(name).card
    if kind == "bundled":
        from ..core import weights

        entry = weights.BUNDLED_WEIGHTS.get(name)
        if entry is None:
            raise ValueError(f"no bundled weights named {name!r}")
        card = weights.read_card(weights.WEIGHTS_DIR / entry.file)
        card.sha256 = entry.sha256
        return card
    return None


def request_card(req: DeblurRequest):
    if req.method_kind == "model":
        return req.card
    return method_card(req.method_kind, req.method_name)


def check_request(req: DeblurRequest) -> None:
    """Checks that need no pixels, run on the GUI thread so mistakes show at once."""
    from ..core.inference import check_axes

    check_axes(req.axes, tuple(req.image.shape))
    if req.method_kind == "classical" and not (req.psf or "").strip():
        raise ValueError(
            f"{CLASSICAL_LABELS.get(req.method_name, req.method_name)} needs a PSF: enter e.g. "
            "'gaussian:1.6', 'disk:3', 'astig:2.5,0.8,30' or choose a PSF TIFF"
        )
    card = request_card(req)
    if card is None:
        return
    has_rgb = "S" in req.axes
    n_channels = req.image.shape[req.axes.index("S")] if has_rgb else 1
    if has_rgb and card.in_channels != n_channels:
        raise ValueError(
            f"{req.method_name!r} is a {card.in_channels}-channel (grayscale) model but layer "
            f"{req.source_name!r} is RGB; choose RGB weights (e.g. gran.hist_v1), or split the "
            "layer into channels (right-click > Split RGB) and deblur each"
            if card.in_channels == 1 else
            f"{req.method_name!r} expects {card.in_channels} channels but layer "
            f"{req.source_name!r} has {n_channels} (axes {req.axes})"
        )
    if not has_rgb and "C" not in req.axes and card.in_channels != 1:
        raise ValueError(
            f"{req.method_name!r} expects {card.in_channels} channels (RGB) but layer "
            f"{req.source_name!r} is grayscale; choose grayscale weights or an RGB layer"
        )


def _build_method(req: DeblurRequest, device):
    """(Method, card) for a request, with the network on ``device``."""
    from ..core import inference

    if req.method_kind == "classical":
        method = inference.resolve_method(
            req.method_name, psf=req.psf, iterations=req.iterations, balance=req.balance
        )
        return method, None
    if req.method_kind == "bundled":
        from ..core import weights

        model, card = weights.load_model(req.method_name, map_location=device)
        name = req.method_name
    else:
        if req.method_kind == "model":
            model, card, name = req.model, req.card, req.method_name
        else:
            item = _session_model(req.method_name)
            model, card, name = item.model, item.card, item.label
        current = next((p.device for p in model.parameters()), device)
        if current.type != device.type or device.index not in (None, current.index):
            model = copy.deepcopy(model).to(device)  # the session's copy stays where it is
    return inference.network_method(model, name=name, card=card), card


def iter_deblur_job(req: DeblurRequest):
    """Worker body: build the method, drain ``iter_deblur``; yields DeblurProgress records and
    returns ``(DeblurResult, card, seconds)``. Closing it stops between two tiles."""
    from ..core import inference

    start = time.perf_counter()
    device = inference.resolve_device(req.device)
    method, card = _build_method(req, device)
    tile = req.tile
    if tile == "auto":
        channels = req.image.shape[req.axes.index("S")] if "S" in req.axes else 1
        tile = auto_tile_size(method, device, channels)
    normalization = None
    if req.full_image is not None:
        normalization = inference.compute_normalization(
            req.full_image, req.axes, method.normalization, *method.percentiles
        )
    result = yield from inference.iter_deblur(
        req.image,
        method=method,
        axes=req.axes,
        tile=tile,
        overlap=req.overlap,
        window=req.window,
        device=device,
        output_dtype=req.output_dtype,
        normalization=normalization,
    )
    return result, card, time.perf_counter() - start


def fill_method_combo(combo, weights, inference=None, leading=()) -> None:
    """(Re)fill a method combo box: ``leading`` (label, data) items, then the bundled weights,
    this session's models and, given ``inference``, the classical methods; the current choice
    is kept if it is still there. ``weights`` and ``inference`` are the core modules (imported
    when the dock opens)."""
    current = combo.currentData()
    combo.blockSignals(True)
    try:
        combo.clear()
        for label, data in leading:
            combo.addItem(label, data)
        for name, entry in weights.BUNDLED_WEIGHTS.items():
            combo.addItem(f"{name} (bundled)", f"bundled\t{name}")
            combo.setItemData(combo.count() - 1, entry.description, Qt.ToolTipRole)
        for label in SESSION_MODELS.labels():
            item = SESSION_MODELS.get(label)
            combo.addItem(f"{label} ({item.origin})", f"session\t{label}")
        for name in inference.CLASSICAL_METHODS if inference is not None else ():
            combo.addItem(CLASSICAL_LABELS.get(name, name), f"classical\t{name}")
        index = combo.findData(current) if current else -1
        combo.setCurrentIndex(max(index, 0))
    finally:
        combo.blockSignals(False)


def result_name(source_name: str, method_label: str) -> str:
    return f"{source_name} deblurred [{method_label}]"


def _layer_props(layer) -> dict:
    props = {
        "scale": tuple(layer.scale),
        "translate": tuple(layer.translate),
        "rotate": np.asarray(layer.rotate).copy(),
        "shear": np.asarray(layer.shear).copy(),
        "contrast_limits": tuple(layer.contrast_limits),
        "gamma": float(layer.gamma),
        "rgb": bool(layer.rgb),
        "ndim": int(layer.ndim),
    }
    if not layer.rgb:
        props["colormap"] = layer.colormap.name
    for key in ("units", "axis_labels"):
        if hasattr(layer, key):
            props[key] = tuple(getattr(layer, key))
    props["affine"] = layer.affine
    props["_layer"] = weakref.ref(unwrap(layer))
    return props


def _translate_for(props: dict, offset: tuple[int, ...]) -> tuple[float, ...]:
    """Translate that puts data pixel 0 of a crop where pixel ``offset`` of the layer is:
    the layer's data-to-physical map of ``offset`` (scale, rotate, shear and translate)."""
    if not offset or not any(offset):
        return props["translate"]
    layer = props["_layer"]()
    if layer is not None:
        world = np.asarray(layer.data_to_world(np.asarray(offset, dtype=float)), dtype=float)
        return tuple(float(v) for v in props["affine"].inverse(world))
    pairs = zip(props["translate"], props["scale"], offset, strict=True)
    return tuple(t + s * o for t, s, o in pairs)


def add_result_layer(viewer, req: DeblurRequest, result, card, seconds: float = 0.0):
    """Add the result as ``<name> deblurred [<method>]`` with the input's placement/contrast."""
    props = req.layer_props
    kwargs = {
        "name": result_name(req.source_name, req.method_name),
        "scale": props["scale"],
        "translate": _translate_for(props, req.offset),
        "rotate": props["rotate"],
        "shear": props["shear"],
        "affine": props["affine"],
        "contrast_limits": props["contrast_limits"],
        "gamma": props["gamma"],
        "rgb": props["rgb"],
    }
    if "colormap" in props:
        kwargs["colormap"] = props["colormap"]
    for key in ("units", "axis_labels"):
        if key in props:
            kwargs[key] = props[key]
    metadata = {
        "microdeblur": {
            "source_layer": req.source_name,
            "method": req.method_name,
            "method_kind": req.method_kind,
            "weights_sha256": getattr(card, "sha256", None),
            "weights_source": getattr(card, "source", None),
            "arch": getattr(card, "arch", None),
            "parameters": _plain(result.parameters if req.method_kind == "classical"
                                 else {k: v for k, v in result.parameters.items() if k != "card"}),
            "axes": result.axes,
            "scope": req.scope,
            "offset": tuple(int(o) for o in req.offset),
            "tile": tuple(int(t) for t in result.tile),
            "overlap": tuple(int(o) for o in result.overlap),
            "window": req.window,
            "device": result.device,
            "output_dtype": req.output_dtype,
            "normalization": {
                "kind": result.normalization.kind,
                "offset": float(result.normalization.offset),
                "scale": float(result.normalization.scale),
            },
            "seconds": round(float(seconds), 3),
        }
    }
    return viewer.add_image(result.image, metadata=metadata, multiscale=False, **kwargs)


def _plain(value):
    """JSON-friendly copy of parameters (arrays summarised)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return f"array{tuple(value.shape)}"
    return value


class DeblurRun:
    """One running deblur: the worker, its napari progress bar, and what happens at the end.

    ``cancel()`` asks the worker to stop at its next tile; a cancelled run adds no layer, even
    if its last tile finished while the request was on its way.
    """

    def __init__(
        self,
        viewer,
        req: DeblurRequest,
        *,
        on_done=None,
        on_progress=None,
        add_layer=True,
        job: tuple | None = None,
        description: str | None = None,
    ) -> None:
        """``job``: ``(generator function, *args)`` the worker runs (default
        ``iter_deblur_job(req)``); ``description`` labels the progress bar."""
        from napari.qt.threading import create_worker
        from napari.utils import progress

        self.viewer = viewer
        self.req = req
        self.cancelled = False
        self.done = False  # set when the worker has finished and its handlers ran
        self.layer = None
        self.result = None  # (DeblurResult, card, seconds) once returned
        self.add_layer = add_layer
        self.error: BaseException | None = None
        self.yields_after_cancel = 0
        self._on_done = on_done
        self._on_progress = on_progress
        self.pbar = progress(
            total=0, desc=description or f"Deblurring {req.source_name} [{req.method_name}]"
        )
        func, *args = job or (iter_deblur_job, req)
        self.worker = create_worker(func, *args, _start_thread=False, _ignore_errors=True)
        self.worker.yielded.connect(self._yielded)
        self.worker.returned.connect(self._returned)
        self.worker.errored.connect(self._errored)
        self.worker.aborted.connect(self._aborted)
        self.worker.finished.connect(self._finished)

    def start(self) -> DeblurRun:
        self.worker.start()
        return self

    @property
    def is_running(self) -> bool:
        return self.worker.is_running

    def cancel(self) -> None:
        self.cancelled = True
        self.worker.quit()

    def _yielded(self, record) -> None:
        if self.cancelled:
            self.yields_after_cancel += 1
            return
        if self.pbar.total != record.total:
            self.pbar.total = record.total
        self.pbar.n = record.done
        self.pbar.refresh()
        if self._on_progress is not None:
            self._on_progress(record)

    def _returned(self, value) -> None:
        if self.cancelled:
            return
        self.result = value
        if not self.add_layer:
            return
        result, card, seconds = value
        try:
            self.layer = add_result_layer(self.viewer, self.req, result, card, seconds)
        except Exception as error:  # noqa: BLE001 - the viewer may be closing
            self.error = error
            notify_error(f"could not add the result layer: {describe_error(error)}")

    def _errored(self, error) -> None:
        self.error = error
        notify_error(f"Deblurring {self.req.source_name!r} failed: {describe_error(error)}")

    def _aborted(self) -> None:
        self.cancelled = True

    def _finished(self) -> None:
        # `returned` has just added the result layer in this turn of the event loop (napari
        # takes 60-90 ms for a 2048 x 2048 layer on our 2-core machine); closing the progress
        # bar and updating the dock (~40 ms) wait for a later turn, so the viewer never freezes
        # for the sum of both. 1 ms, not 0: Qt runs a 0-ms single shot in the same turn.
        from qtpy.QtCore import QTimer

        QTimer.singleShot(1, self._wrap_up)

    def _wrap_up(self) -> None:
        self.done = True
        try:
            self.pbar.close()
        except Exception:  # noqa: BLE001 - napari may be tearing down
            pass
        if self._on_done is not None:
            self._on_done(self)


def start_deblur(viewer, req: DeblurRequest, **kwargs) -> DeblurRun:
    """Check ``req`` (raises ValueError saying what to change) and start it in a worker."""
    check_request(req)
    return DeblurRun(viewer, req, **kwargs).start()


# ----------------------------------------------------------------------------- scope


def scope_selection(viewer, layer, axes: str, scope: str, keep_channels: bool):
    """(key into the layer's data, data offset per layer dim) for a scope.

    'current slice' keeps Y, X (and S; and C when the model takes channels whole) and one index
    of every other axis, as singleton dimensions so the result sits at that slice.
    'visible field of view' also crops Y and X to what the canvas shows.
    """
    data = layer_data(layer)
    nd = layer.ndim  # napari's dims: RGB's S axis is not one of them
    layer_axes = axes[:nd]
    if scope == "whole stack":
        return (slice(None),) * len(data.shape), (0,) * nd
    index = current_data_index(viewer, layer)
    key: list = []
    offset: list = []
    for i, a in enumerate(layer_axes):
        if a in "YX" or (a == "C" and keep_channels):
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


def visible_yx_box(viewer, layer, layer_axes: str):
    """Data-pixel bounds ((y0, y1), (x0, x1)) of the part of ``layer`` the canvas shows."""
    if viewer.dims.ndisplay != 2:
        raise ValueError(
            "scope 'visible field of view' needs the 2D view; switch the viewer to 2D or choose "
            "'current slice'"
        )
    offset = viewer.dims.ndim - layer.ndim
    yx = (layer_axes.index("Y") + offset, layer_axes.index("X") + offset)
    if tuple(viewer.dims.displayed) != yx:
        raise ValueError(
            "scope 'visible field of view' needs the Y and X axes on screen; reset the "
            "displayed axes (or transpose back) or choose 'current slice'"
        )
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


# ----------------------------------------------------------------------------- the dock


class DeblurWidget(RunDockMixin, WorkerOwnerMixin, QWidget):
    """Plugins > napari-microdeblur > Deblur."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from napari.layers import Image

        # the core (and torch) is imported when the dock opens, not when napari starts
        from ..core import inference, registry, weights  # noqa: F401

        self._inference = inference
        self._weights = weights
        self.viewer = napari_viewer
        self._init_workers()
        self.run_handle: DeblurRun | None = None
        self.last_run: DeblurRun | None = None

        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)

        self.layer_combo = LayerCombo(
            napari_viewer, (Image,),
            tooltip="Image layer to deblur (2D, 3D, 4D, multichannel or RGB). Labels, points "
                    "and shapes layers are not offered.",
        )
        form.addRow("Image", self.layer_combo)
        self.axes_edit = QLineEdit()
        self.axes_edit.setToolTip(
            "Axes of the layer, one letter per dimension: T time, C channel, Z depth, Y, X, S "
            "RGB samples (e.g. YX, ZYX, TZYX, CZYX, YXS). Guessed from the layer; edit if wrong."
        )
        form.addRow("Axes", self.axes_edit)

        self.method_combo = QComboBox()
        self.method_combo.setToolTip(
            "Bundled weights, weights loaded or fine-tuned in this session, or a classical "
            "deconvolution (Richardson-Lucy, Wiener) that needs a PSF."
        )
        form.addRow("Method", self.method_combo)
        load_row = QHBoxLayout()
        self.load_button = QPushButton("Load weights...")
        self.load_button.setToolTip(
            "Load a .safetensors checkpoint (with its model card), a PyTorch .pt/.pth state dict "
            "(you will be asked for its architecture), or a BioImage Model Zoo .zip exported by "
            "napari-microdeblur. It becomes a method for this session."
        )
        load_row.addWidget(self.load_button)
        form.addRow("", load_row)
        self.card_label = QLabel()
        self.card_label.setWordWrap(True)
        self.card_label.setTextFormat(Qt.RichText)
        self.card_label.setToolTip("Model card of the chosen weights: what they were trained on.")
        form.addRow("", self.card_label)

        self.psf_box = ClassicalOptions()
        self.psf_edit = self.psf_box.psf_edit
        self.iterations_spin = self.psf_box.iterations_spin
        self.balance_spin = self.psf_box.balance_spin
        layout.addWidget(self.psf_box)

        opts = QFormLayout()
        layout.addLayout(opts)
        device_row = QHBoxLayout()
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda", "mps"])
        self.device_combo.setToolTip(
            "Where the work runs: auto picks CUDA, then Apple MPS, then the CPU."
        )
        self.device_label = QLabel()
        self.device_label.setToolTip("The device 'auto' resolves to on this machine.")
        device_row.addWidget(self.device_combo)
        device_row.addWidget(self.device_label)
        opts.addRow("Device", device_row)
        tile_row = QHBoxLayout()
        self.tile_mode = QComboBox()
        self.tile_mode.addItems(TILE_MODES)
        self.tile_mode.setToolTip(
            "Tile size: the method's default (from its receptive field), 'auto' sized to a "
            "quarter of the device's free memory, or a custom side in pixels."
        )
        self.tile_spin = QSpinBox()
        self.tile_spin.setRange(16, 8192)
        self.tile_spin.setSingleStep(32)
        self.tile_spin.setValue(256)
        self.tile_spin.setToolTip("Custom tile side in pixels (used when the tile mode is custom).")
        tile_row.addWidget(self.tile_mode)
        tile_row.addWidget(self.tile_spin)
        opts.addRow("Tile", tile_row)
        self.overlap_spin = QSpinBox()
        self.overlap_spin.setRange(-1, 1024)
        self.overlap_spin.setValue(-1)
        self.overlap_spin.setSpecialValueText("model default")
        self.overlap_spin.setToolTip(
            "Overlap between tiles in pixels; 'model default' uses the receptive field (or the "
            "PSF's reach for classical methods)."
        )
        opts.addRow("Overlap", self.overlap_spin)
        self.window_combo = QComboBox()
        self.window_combo.addItems(["cosine", "gaussian", "constant"])
        self.window_combo.setToolTip("Blend window used where tiles overlap.")
        opts.addRow("Blend window", self.window_combo)
        self.dtype_combo = QComboBox()
        self.dtype_combo.addItem("float32", "float32")
        self.dtype_combo.addItem("as input", "input")
        self.dtype_combo.setToolTip(
            "float32 keeps the input's intensity units; 'as input' rounds and clips back to the "
            "input's dtype."
        )
        opts.addRow("Output dtype", self.dtype_combo)
        self.scope_combo = QComboBox()
        self.scope_combo.addItems(SCOPES)
        self.scope_combo.setToolTip(
            "whole stack: every plane; current slice: the plane under the dims sliders; "
            "visible field of view: that plane cropped to what the canvas shows."
        )
        opts.addRow("Scope", self.scope_combo)

        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Deblur in the background; the result is added as a new layer.")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current tile; no layer is added.")
        self.cancel_button.setEnabled(False)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        self.progress_bar = QProgressBar()
        self.progress_bar.setToolTip("Tiles done over all planes.")
        self.progress_bar.setValue(0)
        layout.addWidget(self.progress_bar)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setToolTip("What the last run did.")
        layout.addWidget(self.status_label)
        layout.addStretch(1)

        self.layer_combo.currentIndexChanged.connect(self._on_layer_changed)
        self.method_combo.currentIndexChanged.connect(self._on_method_changed)
        self.device_combo.currentIndexChanged.connect(self._on_device_changed)
        self.tile_mode.currentIndexChanged.connect(self._on_tile_mode)
        self.load_button.clicked.connect(self._choose_weights)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        SESSION_MODELS.changed.connect(self._refresh_methods)

        self._refresh_methods()
        self._on_layer_changed()
        self._on_device_changed()
        self._on_tile_mode()

    # ------------------------------------------------------------------ methods list

    def _refresh_methods(self) -> None:
        if self.closed:
            return
        fill_method_combo(self.method_combo, self._weights, self._inference)
        self._on_method_changed()

    def method_choices(self) -> list[tuple[str, str]]:
        return [_key(self.method_combo.itemData(i)) for i in range(self.method_combo.count())]

    def set_method(self, kind: str, name: str) -> None:
        index = self.method_combo.findData(f"{kind}\t{name}")
        if index < 0:
            raise ValueError(
                f"method {name!r} ({kind}) is not in the list: {self.method_choices()}"
            )
        self.method_combo.setCurrentIndex(index)

    def _on_method_changed(self, *_) -> None:
        data = _key(self.method_combo.currentData())
        kind = data[0] if data else "classical"
        self.psf_box.setVisible(kind == "classical")
        if data and kind == "classical":
            self.iterations_spin.setEnabled(data[1] == "richardson_lucy")
            self.balance_spin.setEnabled(data[1] == "wiener")
        card = None
        if data and kind != "classical":
            try:
                card = method_card(kind, data[1])
            except (ValueError, OSError) as error:
                self.card_label.setText(f"<i>{describe_error(error)}</i>")
                return
        self.card_label.setText(describe_card(card))
        self.card_label.setVisible(card is not None)

    # ------------------------------------------------------------------ loading weights

    def _choose_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load weights", "",
            "Weights (*.safetensors *.pt *.pth *.ckpt *.bin *.zip);;All files (*)",
        )
        if not path:
            return
        arch = None
        if Path(path).suffix.lower() in (".pt", ".pth", ".ckpt", ".bin"):
            from ..core.registry import list_archs

            arch, ok = QInputDialog.getItem(
                self, "Architecture",
                "A PyTorch state dict does not record its architecture.\nWhich one is it?",
                list_archs(), 0, False,
            )
            if not ok:
                return
        self.load_weights(path, arch=arch)

    def load_weights(self, path: str | Path, arch: str | None = None):
        """Load weights in a worker; on success they become a session method and are chosen."""
        from napari.qt.threading import create_worker

        weights = self._weights
        worker = create_worker(
            weights.load_model, str(path), arch=arch, _start_thread=False, _ignore_errors=True
        )

        def loaded(value):
            if self.closed:
                return
            model, card = value
            label = SESSION_MODELS.add(SessionModel(Path(path).stem, model, card, "loaded"))
            self.set_method("session", label)
            notify_info(f"loaded {card.arch} weights from {Path(path).name} as {label!r}")

        worker.returned.connect(loaded)
        worker.errored.connect(
            lambda e: notify_error(f"could not load weights: {describe_error(e)}")
        )
        self._own(worker)
        worker.start()
        return worker

    # ------------------------------------------------------------------ other controls

    def _on_layer_changed(self, *_) -> None:
        layer = self.layer_combo.value
        self.axes_edit.setText(guess_layer_axes(layer) if layer is not None else "")

    def _on_device_changed(self, *_) -> None:
        name = self.device_combo.currentText()
        try:
            resolved = self._inference.resolve_device(name)
            self.device_label.setText(f"\u2192 {resolved}" if name == "auto" else "")
        except ValueError as error:
            self.device_label.setText("<i>not available</i>")
            self.device_label.setToolTip(str(error))

    def _on_tile_mode(self, *_) -> None:
        self.tile_spin.setEnabled(self.tile_mode.currentText() == "custom")

    # ------------------------------------------------------------------ running

    def build_request(self) -> DeblurRequest:
        """Collect the dock's settings into a request (raises ValueError saying what to fix)."""
        layer = self.layer_combo.value
        check_image_layer(layer)
        data = _key(self.method_combo.currentData())
        if not data:
            raise ValueError("no method chosen")
        kind, name = data
        axes = self.axes_edit.text().strip().upper()
        from ..core.inference import check_axes

        check_axes(axes, tuple(layer_data(layer).shape))
        scope = self.scope_combo.currentText()
        card = method_card(kind, name)
        keep_channels = card is not None and card.in_channels > 1
        key, offset = scope_selection(self.viewer, layer, axes, scope, keep_channels)
        image = layer_data(layer)
        if scope != "whole stack":
            image = image[key]
        mode = self.tile_mode.currentText()
        tile = None if mode == "model default" else "auto" if mode.startswith("auto") \
            else int(self.tile_spin.value())
        overlap = None if self.overlap_spin.value() < 0 else int(self.overlap_spin.value())
        return DeblurRequest(
            source_name=layer.name,
            image=image,
            axes=axes,
            method_kind=kind,
            method_name=name,
            psf=self.psf_edit.text().strip() or None,
            iterations=int(self.iterations_spin.value()),
            balance=float(self.balance_spin.value()),
            device=self.device_combo.currentText(),
            tile=tile,
            overlap=overlap,
            window=self.window_combo.currentText(),
            output_dtype=self.dtype_combo.currentData(),
            scope=scope,
            offset=offset,
            layer_props=_layer_props(layer),
            full_image=None if scope == "whole stack" else layer_data(layer),
        )

    def run(self) -> DeblurRun | None:
        """Start a run; bad settings go to a notification and nothing starts."""
        if self.run_handle is not None and self.run_handle.is_running:
            notify_info("a run is in progress; cancel it first")
            return None
        try:
            req = self.build_request()
            run = start_deblur(
                self.viewer, req, on_done=self._run_done, on_progress=self._run_progress
            )
        except (ValueError, TypeError, OSError) as error:
            notify_error(describe_error(error))
            self.status_label.setText(describe_error(error))
            return None
        self._own(run.worker)
        self.run_handle = self.last_run = run
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress_bar.setRange(0, 0)
        self.status_label.setText(f"deblurring {req.source_name} with {req.method_name}...")
        return run

    def cancel(self) -> None:
        if self.run_handle is not None:
            self.run_handle.cancel()
            if not self.closed:
                self.status_label.setText("cancelling after the current tile...")

    def _run_done(self, run: DeblurRun) -> None:
        if run is self.run_handle:
            self.run_handle = None
        if self.closed:
            return
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1 if run.layer is not None else 0)
        if run.layer is not None:
            meta = run.layer.metadata["microdeblur"]
            self.status_label.setText(
                f"added {run.layer.name!r} in {meta['seconds']:.1f} s on {meta['device']} "
                f"(tile {meta['tile']}, overlap {meta['overlap']})"
            )
        elif run.error is not None:
            self.status_label.setText(f"failed: {describe_error(run.error)}")
        else:
            self.status_label.setText("cancelled; no layer added")

    def _disconnect_viewer(self) -> None:
        try:
            SESSION_MODELS.changed.disconnect(self._refresh_methods)
        except (TypeError, ValueError, RuntimeError):
            pass
        self.layer_combo.disconnect_viewer()
