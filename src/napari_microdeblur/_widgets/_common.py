"""Small helpers shared by the docks: layer pickers, notifications, worker bookkeeping, the
methods loaded in this session, and a matplotlib-free line plot.

No pixel numerics live here; torch and ``core`` are imported inside functions only.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from psygnal import Signal
from qtpy.QtCore import QEvent, QObject, QPointF, QRectF, Qt, QTimer
from qtpy.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QWidget,
)

# ----------------------------------------------------------------------------- notifications


def notify_error(message: str) -> None:
    """Show ``message`` in napari's notification area (never raises)."""
    from napari.utils.notifications import show_error

    show_error(str(message))


def notify_warning(message: str) -> None:
    from napari.utils.notifications import show_warning

    show_warning(str(message))


def notify_info(message: str) -> None:
    from napari.utils.notifications import show_info

    show_info(str(message))


def describe_error(error: BaseException) -> str:
    """The message a user sees: ValueError/TypeError from core already say what to change."""
    if isinstance(error, (ValueError, TypeError)):
        return str(error)
    return f"{type(error).__name__}: {error}"


# ----------------------------------------------------------------------------- layers


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
            "(integer or float)"
        )


def unwrap(obj):
    """The object behind napari's PublicOnlyProxy (plugins get proxies of the viewer and its
    layers; each access makes a new proxy, so identity and weak references need the object)."""
    return getattr(obj, "__wrapped__", obj)


def layer_data(layer):
    """The full-resolution array of an image layer (level 0 of a multiscale layer)."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def guess_layer_axes(layer) -> str:
    """Axes of an image layer: napari's RGB flag decides S; the rest as core guesses it."""
    shape = tuple(layer_data(layer).shape)
    if layer.rgb:
        prefix = {2: "", 3: "Z", 4: "TZ"}.get(len(shape) - 1, None)
        if prefix is None:
            prefix = "TZ"[: max(0, len(shape) - 3)]
        return prefix + "YXS"
    from ..core.inference import guess_axes

    try:
        axes = guess_axes(shape)
    except ValueError:
        return ""
    # napari decides RGB itself: a grey stack whose last side is 3 or 4 is not RGB here
    if axes.endswith("S"):
        axes = {3: "ZYX", 4: "TZYX"}.get(len(shape), axes)
    return axes


def current_data_index(viewer, layer) -> tuple[int, ...]:
    """Integer data index of the viewer's current point in ``layer`` (one per layer dim)."""
    point = np.asarray(layer.world_to_data(viewer.dims.point), dtype=float)
    shape = layer_data(layer).shape[: layer.ndim]
    return tuple(int(np.clip(np.round(p), 0, n - 1)) for p, n in zip(point, shape, strict=True))


def combo_key(data) -> tuple[str, str] | None:
    """Item data of the method combo boxes, "kind\tname", as (kind, name)."""
    if not data or not isinstance(data, str) or "\t" not in data:
        return None
    kind, name = data.split("\t", 1)
    return kind, name


class LayerCombo(QComboBox):
    """A combo box of the viewer's layers of some types, kept in sync with the layer list."""

    def __init__(
        self,
        viewer,
        types: tuple[type, ...],
        *,
        none_label: str | None = None,
        tooltip: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._viewer = viewer
        self._types = types
        self._none_label = none_label
        self._layers: list = []  # weak references, index-aligned with the items
        self.setToolTip(tooltip)
        self.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        events = viewer.layers.events
        for name in ("inserted", "removed", "reordered"):
            getattr(events, name).connect(self.refresh)
        # renames: napari emits per-layer name events; refresh on any of them
        events.inserted.connect(self._watch_names)
        for layer in viewer.layers:
            layer.events.name.connect(self.refresh)
        self.refresh()

    def _watch_names(self, event=None) -> None:
        layer = getattr(event, "value", None)
        if layer is not None:
            layer.events.name.connect(self.refresh)

    def refresh(self, event=None) -> None:
        try:
            self._refresh()
        except RuntimeError:  # the combo box was deleted with its dock: stop listening
            self.disconnect_viewer()

    def _refresh(self) -> None:
        current = self.value
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
            if current is not None and current in candidates:
                self.setCurrentIndex(self._index_of(current))
            elif candidates and self._none_label is None:
                # prefer the selected layer if it fits
                active = unwrap(self._viewer.layers.selection.active)
                self.setCurrentIndex(
                    self._index_of(active) if active in candidates else 0
                )
        finally:
            self.blockSignals(False)
        if self.value is not current:
            self.currentIndexChanged.emit(self.currentIndex())

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
        self.setCurrentIndex(i)

    def disconnect_viewer(self) -> None:
        events = self._viewer.layers.events
        for name in ("inserted", "removed", "reordered"):
            try:
                getattr(events, name).disconnect(self.refresh)
            except (TypeError, ValueError, RuntimeError):
                pass
        try:
            events.inserted.disconnect(self._watch_names)
        except (TypeError, ValueError, RuntimeError):
            pass
        for layer in self._viewer.layers:
            try:
                layer.events.name.disconnect(self.refresh)
            except (TypeError, ValueError, RuntimeError):
                pass


# ----------------------------------------------------------------------------- workers


class WorkerOwnerMixin:
    """Bookkeeping for docks that run napari workers: every worker is quit when the dock is
    closed or removed from the window, or when the viewer closes; handlers see ``closed``.

    Call ``_init_workers()`` in ``__init__`` and ``_own(worker)`` for each worker started.
    """

    def _init_workers(self) -> None:
        self._workers: list = []
        self.closed = False

    def _own(self, worker) -> None:
        self._watch_window()
        self._workers.append(worker)
        worker.finished.connect(lambda w=worker: self._forget(w))

    def _forget(self, worker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)

    @property
    def busy(self) -> bool:
        return any(w.is_running for w in self._workers)

    def quit_workers(self) -> None:
        for worker in list(self._workers):
            try:
                worker.quit()
            except RuntimeError:  # its Qt side is already gone
                pass

    def shutdown(self) -> None:
        """Quit workers, disconnect from the viewer; safe to call more than once."""
        if self.closed:
            return
        self.closed = True
        self.quit_workers()
        self._disconnect_viewer()

    def _disconnect_viewer(self) -> None:  # docks override
        pass

    # Qt hooks. napari docks a widget by re-parenting it into a QDockWidget of the main
    # window and removes it by re-parenting it to None; the main window's Close event comes
    # before its docks are deleted. No private napari attribute is needed for either.
    _was_docked = False
    _window_watcher = None

    def event(self, ev):  # noqa: D401 - Qt override
        if ev.type() == QEvent.ParentChange:
            if self.parent() is None:
                if self._was_docked:
                    self.shutdown()
            else:
                self._was_docked = True
                self._watch_window()
                QTimer.singleShot(0, self._watch_window)  # once the dock is in the window
        elif ev.type() == QEvent.Show:
            self._watch_window()
        return super().event(ev)

    def _watch_window(self) -> None:
        from qtpy.QtWidgets import QMainWindow

        if self.closed or self._window_watcher is not None:
            return
        try:
            window = self.window()
        except RuntimeError:  # deleted
            return
        if not isinstance(window, QMainWindow):
            return
        self._window_watcher = _CloseWatcher(self.shutdown, window)
        window.installEventFilter(self._window_watcher)

    def closeEvent(self, ev):  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(ev)


class ClassicalOptions(QGroupBox):
    """PSF, Richardson-Lucy iterations and Wiener balance, as the docks that run the classical
    methods show them."""

    def __init__(self, parent=None) -> None:
        super().__init__("Classical deconvolution", parent)
        form = QFormLayout(self)
        row = QHBoxLayout()
        self.psf_edit = QLineEdit("gaussian:1.6")
        self.psf_edit.setToolTip(
            "PSF model: gaussian:SIGMA, gaussian:SY,SX, disk:RADIUS, astig:S1,S2,ANGLE (pixels, "
            "degrees) or the path of a PSF TIFF."
        )
        self.psf_browse = QPushButton("...")
        self.psf_browse.setToolTip("Choose a PSF image (TIFF).")
        self.psf_browse.clicked.connect(self._choose_psf)
        row.addWidget(self.psf_edit)
        row.addWidget(self.psf_browse)
        form.addRow("PSF", row)
        self.iterations_spin = QSpinBox()
        self.iterations_spin.setRange(1, 1000)
        self.iterations_spin.setValue(30)
        self.iterations_spin.setToolTip("Richardson-Lucy iterations (more: sharper and noisier).")
        form.addRow("Iterations", self.iterations_spin)
        self.balance_spin = QDoubleSpinBox()
        self.balance_spin.setDecimals(4)
        self.balance_spin.setRange(0.0001, 10.0)
        self.balance_spin.setSingleStep(0.005)
        self.balance_spin.setValue(0.01)
        self.balance_spin.setToolTip("Wiener balance: noise-to-signal regularisation (> 0).")
        form.addRow("Balance", self.balance_spin)

    def _choose_psf(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "PSF image", "", "TIFF (*.tif *.tiff)")
        if path:
            self.psf_edit.setText(path)


class RunDockMixin:
    """For docks that start a ``DeblurRun`` as ``self.run_handle`` (Deblur, Focus QC): a closed
    dock's run adds no layer, and tile progress goes to ``self.progress_bar``. List it before
    ``WorkerOwnerMixin`` among the bases."""

    run_handle = None

    def quit_workers(self) -> None:  # also cancel the run so that it adds no layer
        if self.run_handle is not None:
            self.run_handle.cancelled = True
        super().quit_workers()

    def _run_progress(self, record) -> None:
        if self.closed:
            return
        self.progress_bar.setRange(0, record.total)
        self.progress_bar.setValue(record.done)


class _CloseWatcher(QObject):
    """Event filter that calls back when the watched window receives its Close event."""

    def __init__(self, callback: Callable[[], None], parent: QObject) -> None:
        super().__init__(parent)
        self._callback = callback

    def eventFilter(self, obj, ev):  # noqa: N802 - Qt override
        if ev.type() == QEvent.Close:
            try:
                self._callback()
            except RuntimeError:  # the dock's Qt side is already gone
                pass
        return False


# ----------------------------------------------------------------------------- methods


@dataclass
class SessionModel:
    """A network available in this session: loaded from a file or fine-tuned here."""

    label: str  # shown in the method list and used in result names
    model: Any  # torch.nn.Module
    card: Any  # core.weights.ModelCard
    origin: str = "loaded"  # "loaded" or "fine-tuned"
    extra: dict = field(default_factory=dict)


class SessionModels:
    """Networks loaded or fine-tuned in this session, shared by every dock of every viewer."""

    changed = Signal()

    def __init__(self) -> None:
        self._items: dict[str, SessionModel] = {}

    def add(self, item: SessionModel) -> str:
        label = item.label
        n = 2
        while label in self._items and self._items[label].model is not item.model:
            label = f"{item.label} ({n})"
            n += 1
        item.label = label
        self._items[label] = item
        self.changed.emit()
        return label

    def get(self, label: str) -> SessionModel | None:
        return self._items.get(label)

    def remove(self, label: str) -> None:
        if self._items.pop(label, None) is not None:
            self.changed.emit()

    def labels(self) -> list[str]:
        return list(self._items)

    def clear(self) -> None:
        self._items.clear()
        self.changed.emit()


SESSION_MODELS = SessionModels()


def default_weights_name(rgb: bool) -> str | None:
    """The bundled weights "Deblur with default model" uses (see core.weights)."""
    from ..core import weights

    return weights.default_weights_name(rgb)


def describe_card(card) -> str:
    """Rich text summary of a model card for the docks."""
    if card is None:
        return ""
    metrics = ", ".join(
        f"{k} {v:.4g}" if isinstance(v, (int, float)) else f"{k} {v}"
        for k, v in (card.metrics or {}).items()
    )
    rows = [
        ("architecture", f"{card.arch} ({card.in_channels}&rarr;{card.out_channels} ch, "
                         f"{card.spatial_dims}D)"),
        ("training data", card.training_data or "not stated"),
        ("degradation", card.degradation or "not stated"),
        ("metrics", metrics or "none recorded"),
        ("licence", card.license),
        ("sha256", (card.sha256 or "not saved yet")[:16] + ("&hellip;" if card.sha256 else "")),
    ]
    if card.description:
        rows.append(("notes", card.description))
    return "<br>".join(f"<b>{k}</b>: {_escape(str(v))}" for k, v in rows)


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace("&amp;rarr;", "&rarr;").replace("&amp;hellip;", "&hellip;")
    )


# ----------------------------------------------------------------------------- tile sizing


def free_memory_bytes(device) -> int:
    """Free memory of a torch device (host RAM for the CPU); a conservative guess if unknown."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "mps":
        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
        except (AttributeError, RuntimeError):
            pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        import os

        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return 2 << 30


def auto_tile_size(method, device, channels: int = 1) -> int:
    """A square tile side that fits a quarter of the free memory of ``device``.

    A rough model, not a measurement: a network keeps about 8 float32 feature maps of its
    widest layer alive per pixel (its config's ``n_feats``/``features``/``width``, 64 if not
    stated); a classical method about 16 float32 values per pixel (FFT buffers). The side is
    clamped to [64, 2048], a multiple of the method's size divisor, and at least
    4 x its receptive field.
    """
    card = (method.parameters or {}).get("card") or {}
    config = card.get("config", {}) if isinstance(card, dict) else {}
    widths = [
        int(v) for k, v in config.items()
        if isinstance(v, int) and not isinstance(v, bool)
        and any(w in k for w in ("feat", "width", "channels_base", "base_channels"))
    ]
    width = max(widths) if widths else (4 if card == {} and method.normalization == "scale" else 64)
    per_pixel = 4 * 8 * width * max(1, channels)
    budget = free_memory_bytes(device) / 4
    side = int(math.sqrt(max(budget, 1) / per_pixel))
    side = max(64, min(2048, side), 4 * method.halo)
    div = max(1, int(method.size_divisor))
    return max(div, (side // div) * div)


# ----------------------------------------------------------------------------- plot


class LinePlot(QWidget):
    """A small line plot drawn with QPainter (no matplotlib): series of (x, y) points, a
    vertical marker, axis labels and a legend. Enough for metric curves in a dock."""

    COLORS = ("#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8")

    def __init__(self, title: str = "", xlabel: str = "", parent=None) -> None:
        super().__init__(parent)
        self.title = title
        self.xlabel = xlabel
        self.series: dict[str, tuple[list[float], list[float], str]] = {}
        self.marker: float | None = None
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)

    def set_series(self, name: str, xs: Iterable[float], ys: Iterable[float],
                   color: str | None = None) -> None:
        color = color or self.COLORS[len(self.series) % len(self.COLORS)]
        if name in self.series:
            color = color if color else self.series[name][2]
        self.series[name] = ([float(x) for x in xs], [float(y) for y in ys], color)
        self.update()

    def append(self, name: str, x: float, y: float, color: str | None = None) -> None:
        if name not in self.series:
            self.set_series(name, [], [], color)
        xs, ys, _ = self.series[name]
        xs.append(float(x))
        ys.append(float(y))
        self.update()

    def clear(self) -> None:
        self.series.clear()
        self.marker = None
        self.update()

    def set_marker(self, x: float | None) -> None:
        self.marker = x
        self.update()

    def _ranges(self):
        xs = [x for s in self.series.values() for x in s[0]]
        ys = [y for s in self.series.values() for y in s[1] if math.isfinite(y)]
        if not xs or not ys:
            return None
        x0, x1 = min(xs), max(xs)
        y0, y1 = min(ys), max(ys)
        if x1 == x0:
            x0, x1 = x0 - 0.5, x1 + 0.5
        if y1 == y0:
            pad = abs(y0) * 0.05 or 1.0
            y0, y1 = y0 - pad, y1 + pad
        pad = (y1 - y0) * 0.08
        return x0, x1, y0 - pad, y1 + pad

    def paintEvent(self, event):  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        fg = self.palette().color(self.foregroundRole())
        font = QFont(painter.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        fm = painter.fontMetrics()
        w, h = self.width(), self.height()
        left, right, top, bottom = fm.horizontalAdvance("-000.00") + 6, 8, fm.height() + 6, \
            fm.height() * 2 + 6
        plot = QRectF(left, top, max(10, w - left - right), max(10, h - top - bottom))
        painter.setPen(QPen(fg, 1))
        painter.drawText(QRectF(0, 0, w, fm.height() + 4), Qt.AlignHCenter, self.title)
        painter.drawRect(plot)
        ranges = self._ranges()
        if ranges is None:
            painter.drawText(plot, Qt.AlignCenter, "no data yet")
            painter.end()
            return
        x0, x1, y0, y1 = ranges

        def to_px(x, y):
            return QPointF(plot.left() + (x - x0) / (x1 - x0) * plot.width(),
                           plot.bottom() - (y - y0) / (y1 - y0) * plot.height())

        for value in (y0, (y0 + y1) / 2, y1):
            p = to_px(x0, value)
            painter.drawText(QRectF(0, p.y() - fm.height() / 2, left - 4, fm.height()),
                             Qt.AlignRight | Qt.AlignVCenter, f"{value:.4g}")
        for value in (x0, x1):
            p = to_px(value, y0)
            painter.drawText(QRectF(p.x() - 40, plot.bottom() + 2, 80, fm.height()),
                             Qt.AlignHCenter, f"{value:g}")
        painter.drawText(QRectF(plot.left(), plot.bottom() + fm.height(), plot.width(),
                                fm.height() + 4), Qt.AlignHCenter, self.xlabel)
        if self.marker is not None and x0 <= self.marker <= x1:
            pen = QPen(QColor("#9e9e9e"), 1, Qt.DashLine)
            painter.setPen(pen)
            painter.drawLine(to_px(self.marker, y0), to_px(self.marker, y1))
        legend_y = plot.top() + 2
        for name, (xs, ys, color) in self.series.items():
            pen = QPen(QColor(color), 2)
            painter.setPen(pen)
            path = QPainterPath()
            started = False
            for x, y in zip(xs, ys, strict=True):
                if not math.isfinite(y):
                    started = False
                    continue
                p = to_px(x, y)
                if started:
                    path.lineTo(p)
                else:
                    path.moveTo(p)
                    started = True
                if len(xs) <= 60:
                    painter.drawEllipse(p, 1.8, 1.8)
            painter.drawPath(path)
            painter.drawText(QRectF(plot.left() + 6, legend_y, plot.width() - 12, fm.height()),
                             Qt.AlignRight, name)
            legend_y += fm.height()
        painter.end()
