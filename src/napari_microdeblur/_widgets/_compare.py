"""Compare & QC dock: blurry / deblurred / ground truth side by side (napari's grid mode), PSNR
and SSIM of the current slice that follow the dims sliders (computed off the GUI thread),
per-slice curves over the whole stack, a region of interest, a difference map and the tile
grid of a deblurred layer.

Metrics follow EVALUATION.md through ``core.metrics``: the ground-truth *layer* fixes the
intensity scale (uint8 / 255; other integers / the layer's maximum; floats: its min-max), so a
slice is scored on the same scale as the whole stack and as ``core.metrics.evaluate`` would
score it; PSNR and SSIM use data_range 1, with a 16-pixel border excluded unless a region is
chosen.
"""

from __future__ import annotations

import time

import numpy as np
from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ._common import (
    LayerCombo,
    LinePlot,
    WorkerOwnerMixin,
    check_image_layer,
    current_data_index,
    describe_error,
    guess_layer_axes,
    layer_data,
    notify_error,
    notify_info,
    unwrap,
)

BORDER = 16  # pixels excluded at the image border (EVALUATION.md)
ROWS = ("blurry vs GT", "deblurred vs GT", "gain")


# ----------------------------------------------------------------------------- pure helpers


def describe_scale(dtype, offset: float, scale: float) -> str:
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        rule = "uint8 ground truth: divided by 255"
    elif dtype.kind in "iu":
        rule = f"{dtype} ground truth: divided by its maximum ({scale:g})"
    else:
        rule = f"float ground truth: min-max [{offset:g}, {offset + scale:g}] mapped to [0, 1]"
    return f"Intensity scale (EVALUATION.md): {rule}; data_range 1."


def iter_plane_metrics(planes: dict, ref_scale, *, border: int, box, rgb: bool):
    """Worker body: PSNR first (fast), then SSIM, of blurry and deblurred planes against the
    ground-truth plane, on the reference scale ``ref_scale = (offset, scale)``.

    Yields partial result dicts; returns the full one. ``box`` ((y0, y1), (x0, x1)) restricts
    the metrics to a region (no border then); otherwise ``border`` pixels are excluded.
    """
    from ..core import metrics

    offset, scale = ref_scale
    if box is not None:
        (y0, y1), (x0, x1) = box
        crop = (slice(y0, y1), slice(x0, x1))
    else:
        ny, nx = planes["truth"].shape[:2]
        if min(ny, nx) - 2 * border < 11:
            raise ValueError(
                f"the slice is {ny} x {nx} pixels: too small to exclude a {border}-pixel border "
                "and keep SSIM's 11 x 11 window; untick 'exclude border' or use a larger image"
            )
        crop = (slice(border, ny - border), slice(border, nx - border))
    mapped = {
        k: (np.asarray(v, dtype=np.float64)[crop] - offset) / scale for k, v in planes.items()
    }
    channel_axis = -1 if rgb else None
    out: dict = {}
    for name in ("blurry", "deblurred"):
        if name in mapped:
            out[f"psnr_{name}"] = metrics.psnr(mapped[name], mapped["truth"], data_range=1.0)
    names = [n for n in ("deblurred", "blurry") if n in mapped]
    yield dict(out)  # PSNR shows while SSIM runs
    values = metrics.ssim_many(
        [mapped[n] for n in names], mapped["truth"], data_range=1.0, channel_axis=channel_axis
    )
    out.update({f"ssim_{n}": v for n, v in zip(names, values)})
    return out


def iter_stack_metrics(arrays: dict, ref_scale, key_for, n: int, *, border, box, rgb):
    """Worker body for 'Whole stack': metrics of every slice ``i`` in ``range(n)``, where
    ``key_for(i)`` indexes one 2D plane (or RGB plane) of each array. Yields (i, result)."""
    results = []
    for i in range(n):
        planes = {k: np.asarray(a[key_for(i)]) for k, a in arrays.items()}
        gen = iter_plane_metrics(planes, ref_scale, border=border, box=box, rgb=rgb)
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                result = stop.value
                break
        results.append(result)
        yield i, result
    return results


def _grid(viewer):
    """napari >= 0.9 keeps the grid on the canvas; older versions on the viewer."""
    canvas = getattr(viewer, "canvas", None)
    return canvas.grid if canvas is not None and hasattr(canvas, "grid") else viewer.grid


def reference_scale_of(array):
    from ..core import metrics

    return metrics.reference_scale(np.asarray(array))


# ----------------------------------------------------------------------------- the dock


class CompareWidget(WorkerOwnerMixin, QWidget):
    """Plugins > napari-microdeblur > Compare & QC."""

    table_updated = Signal(object)  # the result dict shown in the table (complete ones only)

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from napari.layers import Image, Shapes

        from ..core import metrics, tiling  # noqa: F401 - the core loads with the dock

        self.viewer = napari_viewer
        self._init_workers()
        self._cache: dict = {}
        self._scale_cache: dict = {}
        self._request_id = 0
        self._slice_worker = None
        self._stack_worker = None
        self._grid_state = None
        self._region_layer = None
        self.last_result: dict | None = None
        self.last_update_seconds: float | None = None  # slider move -> complete table
        self.last_partial_seconds: float | None = None  # slider move -> PSNR shown
        self._update_started = None
        self._first_partial = True
        self.stack_results: list | None = None
        self.prefetch = True  # compute the next slice ahead, in the slider's direction
        self._prefetch_worker = None
        self._prefetch_key = None
        self._wanted = (None, None)
        self._last_where = None

        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)
        self.blurry_combo = LayerCombo(
            napari_viewer, (Image,), tooltip="The degraded (blurry) input image layer."
        )
        self.deblurred_combo = LayerCombo(
            napari_viewer, (Image,), tooltip="The deblurred result to judge (same shape)."
        )
        self.truth_combo = LayerCombo(
            napari_viewer, (Image,),
            tooltip="The sharp reference (ground truth); it fixes the intensity scale.",
        )
        form.addRow("Blurry", self.blurry_combo)
        form.addRow("Deblurred", self.deblurred_combo)
        form.addRow("Ground truth", self.truth_combo)
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("color: #ff8a65")
        self.message_label.setToolTip("Why the chosen layers cannot be compared, if they cannot.")
        layout.addWidget(self.message_label)

        self.side_button = QPushButton("Side by side")
        self.side_button.setCheckable(True)
        self.side_button.setToolTip(
            "Show blurry, deblurred and ground truth in napari's grid mode (left to right) with "
            "their names, linked contrast and the shared camera; click again to go back."
        )
        layout.addWidget(self.side_button)

        region_row = QHBoxLayout()
        self.region_combo = LayerCombo(
            napari_viewer, (Shapes,), none_label="whole image",
            tooltip="Restrict the metrics to the first rectangle of a shapes layer (no border "
                    "excluded then), or use the whole image.",
        )
        self.region_button = QPushButton("New region")
        self.region_button.setToolTip(
            "Add a shapes layer 'QC region' with a rectangle to move and resize."
        )
        region_row.addWidget(self.region_combo)
        region_row.addWidget(self.region_button)
        form2 = QFormLayout()
        form2.addRow("Region", region_row)
        self.border_check = QCheckBox(f"exclude {BORDER}-px border")
        self.border_check.setChecked(True)
        self.border_check.setToolTip(
            "EVALUATION.md compares images with a 16-pixel border excluded; untick for the "
            "whole-image figure."
        )
        form2.addRow("", self.border_check)
        layout.addLayout(form2)

        self.slice_label = QLabel("")
        self.slice_label.setToolTip("The slice the table describes.")
        layout.addWidget(self.slice_label)
        self.table = QTableWidget(len(ROWS), 2)
        self.table.setHorizontalHeaderLabels(["PSNR (dB)", "SSIM"])
        self.table.setVerticalHeaderLabels(list(ROWS))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setToolTip(
            "PSNR and SSIM of the current slice against the ground truth; 'gain' is deblurred "
            "minus blurry. Updated whenever a dims slider moves."
        )
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.setFixedHeight(
            self.table.horizontalHeader().sizeHint().height()
            + len(ROWS) * self.table.verticalHeader().defaultSectionSize()
            + 2 * self.table.frameWidth() + 2
        )
        layout.addWidget(self.table)
        self.scale_label = QLabel("")
        self.scale_label.setWordWrap(True)
        self.scale_label.setToolTip("How intensities were mapped before computing the metrics.")
        layout.addWidget(self.scale_label)

        self.stack_button = QPushButton("Whole stack")
        self.stack_button.setToolTip(
            "Compute PSNR and SSIM of every slice along Z (or the first slider axis) in the "
            "background and plot them."
        )
        layout.addWidget(self.stack_button)
        self.psnr_plot = LinePlot("PSNR (dB) per slice", "slice")
        self.psnr_plot.setToolTip("PSNR of each slice; the dashed line marks the current one.")
        self.ssim_plot = LinePlot("SSIM per slice", "slice")
        self.ssim_plot.setToolTip("SSIM of each slice; the dashed line marks the current one.")
        layout.addWidget(self.psnr_plot)
        layout.addWidget(self.ssim_plot)
        self.summary_label = QLabel("")
        self.summary_label.setWordWrap(True)
        self.summary_label.setToolTip("Means over the slices of the last 'Whole stack' run.")
        layout.addWidget(self.summary_label)

        tools = QHBoxLayout()
        self.diff_button = QPushButton("Difference map")
        self.diff_button.setToolTip("Add a layer |deblurred - ground truth| (in intensity units).")
        self.grid_button = QPushButton("Tile grid")
        self.grid_button.setToolTip(
            "Add a shapes layer with the tiles the deblurred layer was computed in, to check "
            "for seams where they meet."
        )
        tools.addWidget(self.diff_button)
        tools.addWidget(self.grid_button)
        layout.addLayout(tools)
        layout.addStretch(1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._start_slice_job)

        for combo in (self.blurry_combo, self.deblurred_combo, self.truth_combo):
            combo.currentIndexChanged.connect(self._layers_changed)
        self.region_combo.currentIndexChanged.connect(self._region_changed)
        self.border_check.toggled.connect(self._settings_changed)
        self.side_button.toggled.connect(self._side_toggled)
        self.region_button.clicked.connect(self.add_region)
        self.stack_button.clicked.connect(self.compute_stack)
        self.diff_button.clicked.connect(self.add_difference_map)
        self.grid_button.clicked.connect(self.add_tile_grid)
        napari_viewer.dims.events.current_step.connect(self._dims_changed)
        self._guess_roles()
        self._layers_changed()

    # ------------------------------------------------------------------ choosing layers

    def _guess_roles(self) -> None:
        """Pre-select layers by name: '...blurred...', '...deblurred...', '...sharp/truth...'."""
        names = {layer.name.lower(): layer for layer in self.viewer.layers
                 if layer in self.viewer.layers}
        picks = {}
        for lname, layer in names.items():
            if "deblurred" in lname:
                picks.setdefault("deblurred", layer)
            elif "blur" in lname:
                picks.setdefault("blurry", layer)
            elif "truth" in lname or "sharp" in lname:
                picks.setdefault("truth", layer)
        for role, combo in (("blurry", self.blurry_combo), ("deblurred", self.deblurred_combo),
                            ("truth", self.truth_combo)):
            if role in picks:
                try:
                    combo.set_value(picks[role])
                except ValueError:
                    pass

    def set_layers(self, blurry=None, deblurred=None, truth=None) -> None:
        for layer, combo in ((blurry, self.blurry_combo), (deblurred, self.deblurred_combo),
                             (truth, self.truth_combo)):
            if layer is not None:
                combo.set_value(layer)

    def layers(self) -> tuple:
        """(blurry, deblurred, truth) after checking them; ValueError says what to change."""
        b, d, g = self.blurry_combo.value, self.deblurred_combo.value, self.truth_combo.value
        check_image_layer(g, "ground truth")
        shape_g = tuple(layer_data(g).shape)
        for layer, role in ((b, "blurry"), (d, "deblurred")):
            if layer is None:
                continue
            check_image_layer(layer, role)
            shape = tuple(layer_data(layer).shape)
            if shape != shape_g or layer.rgb != g.rgb:
                hint = ""
                if len(shape) == len(shape_g) and 1 in shape and shape[0] == 1:
                    hint = " (a single slice: deblur with scope 'whole stack' to compare stacks)"
                raise ValueError(
                    f"{role} layer {layer.name!r} has shape {shape}{' RGB' if layer.rgb else ''}"
                    f" but ground truth {g.name!r} has {shape_g}"
                    f"{' RGB' if g.rgb else ''}{hint}; choose layers of the same shape"
                )
        if b is None and d is None:
            raise ValueError("choose a blurry and/or a deblurred layer to compare with the truth")
        return b, d, g

    def _layers_changed(self, *_) -> None:
        self._cache.clear()
        self.stack_results = None
        self.psnr_plot.clear()
        self.ssim_plot.clear()
        self.summary_label.setText("")
        self._settings_changed()

    def _region_changed(self, *_) -> None:
        layer = self.region_combo.value
        if self._region_layer is not None:
            try:
                self._region_layer.events.data.disconnect(self._settings_changed)
            except (TypeError, ValueError, RuntimeError):
                pass
        self._region_layer = layer
        if layer is not None:
            layer.events.data.connect(self._settings_changed)
        self._settings_changed()

    def _settings_changed(self, *_) -> None:
        self._cache.clear()
        self.schedule_update()

    def _dims_changed(self, *_) -> None:
        self.schedule_update()

    # ------------------------------------------------------------------ current slice

    def schedule_update(self) -> None:
        if self.closed:
            return
        if self._update_started is None:
            self._update_started = time.perf_counter()
            self._first_partial = True
        self._timer.start()

    def _slice_request(self, where=None):
        """(planes, box, border, cache key, leading index) of the current slice, or of the
        slice at leading (non-YX) index ``where``."""
        b, d, g = self.layers()
        nd = g.ndim
        if where is None:
            where = tuple(current_data_index(self.viewer, g)[: nd - 2])
        key = tuple(where) + (slice(None), slice(None))
        if g.rgb:
            key = key + (slice(None),)
        box = self.region_box(g)
        border = BORDER if (self.border_check.isChecked() and box is None) else 0
        planes = {"truth": layer_data(g)[key]}
        if b is not None:
            planes["blurry"] = layer_data(b)[key]
        if d is not None:
            planes["deblurred"] = layer_data(d)[key]
        ids = tuple(None if x is None else (id(x), id(layer_data(x))) for x in (b, d, g))
        cache_key = (ids, tuple(where), box, border)
        return planes, box, border, cache_key, tuple(where)

    def region_box(self, truth):
        """Bounding box ((y0, y1), (x0, x1)) in ground-truth pixels of the region, or None."""
        layer = self.region_combo.value
        if layer is None or len(layer.data) == 0:
            return None
        vertices = np.asarray(layer.data[0], dtype=float)
        points = []
        for vertex in vertices:
            world = np.asarray(layer.data_to_world(vertex), dtype=float)
            point = np.array(self.viewer.dims.point, dtype=float)
            point[-len(world):] = world
            points.append(truth.world_to_data(point)[-2:])
        points = np.asarray(points)
        ny, nx = layer_data(truth).shape[truth.ndim - 2:truth.ndim]
        y0 = int(np.clip(np.floor(points[:, 0].min() + 0.5), 0, ny))
        y1 = int(np.clip(np.floor(points[:, 0].max() + 0.5), 0, ny))
        x0 = int(np.clip(np.floor(points[:, 1].min() + 0.5), 0, nx))
        x1 = int(np.clip(np.floor(points[:, 1].max() + 0.5), 0, nx))
        if y1 - y0 < 11 or x1 - x0 < 11:
            raise ValueError(
                f"the region of {layer.name!r} covers {y1 - y0} x {x1 - x0} pixels of the image;"
                " SSIM needs at least 11 x 11: enlarge the rectangle or move it onto the image"
            )
        return (y0, y1), (x0, x1)

    def _reference_scale(self, truth):
        key = (id(truth), id(layer_data(truth)))
        return self._scale_cache.get(key), key

    def _start_slice_job(self) -> None:
        if self.closed:
            return
        try:
            planes, box, border, cache_key, where = self._slice_request()
        except ValueError as error:
            self._show_message(describe_error(error))
            self._clear_table()
            self._update_started = None
            return
        self._show_message("")
        self.slice_label.setText(
            "current slice: " + (", ".join(f"{i}" for i in where) if where else "2D image")
            + (f"; region {box[0][1] - box[0][0]} x {box[1][1] - box[1][0]} px" if box else "")
            + ("" if box or not border else f"; {border}-px border excluded")
        )
        step = 0
        if self._last_where is not None and len(where) == len(self._last_where) and where:
            diff = [a - b for a, b in zip(where, self._last_where, strict=True)]
            step = next((int(np.sign(v)) for v in diff if v), 0)
        self._last_where = where
        self._request_id += 1
        self._wanted = (cache_key, self._request_id)
        if cache_key in self._cache:
            self._show_result(self._cache[cache_key], complete=True)
            self._prefetch(where, step or 1)
            return
        if self._slice_worker is not None:
            self._slice_worker.quit()  # stale: stops at its next yield
        if (self._prefetch_worker is not None and self._prefetch_worker.is_running
                and self._prefetch_key == cache_key):
            return  # the slice is being computed ahead already: it will be shown when done
        self._slice_worker = self._compute(planes, box, border, cache_key, self._request_id,
                                           where, step or 1)

    def _compute(self, planes, box, border, cache_key, request_id, where, step, show=True):
        """Metrics of one slice in a worker; shown if still the latest request, always cached.
        A slice shown is followed by a prefetch of the next one in the slider's direction."""
        from napari.qt.threading import create_worker

        truth = self.truth_combo.value
        ref_scale, scale_key = self._reference_scale(truth)
        full_truth = layer_data(truth)
        rgb = bool(truth.rgb)

        def job():
            scale = ref_scale if ref_scale is not None else reference_scale_of(full_truth)
            result = yield from iter_plane_metrics(
                planes, scale, border=border, box=box, rgb=rgb
            )
            return result, scale

        worker = create_worker(job, _start_thread=False, _ignore_errors=True)

        def partial(result):
            if show and request_id == self._request_id and not self.closed:
                self._show_result(result, complete=False)

        def done(value):
            result, scale = value
            self._scale_cache[scale_key] = scale
            if self.closed:
                return
            self._cache[cache_key] = result
            wanted_key, wanted_id = self._wanted
            if not show and wanted_key == cache_key and wanted_id == self._request_id:
                show_now = True  # a prefetch the slider caught up with
            else:
                show_now = show and request_id == self._request_id
            if show_now:
                self.scale_label.setText(describe_scale(full_truth.dtype, *scale))
                self._show_result(result, complete=True)
                self._prefetch(where, step)

        def failed(error):
            if show and request_id == self._request_id and not self.closed:
                self._show_message(describe_error(error))
                self._clear_table()
                self._update_started = None

        worker.yielded.connect(partial)
        worker.returned.connect(done)
        worker.errored.connect(failed)
        self._own(worker)
        worker.start()
        return worker

    def _prefetch(self, where, step) -> None:
        """Compute the next slice along the last-moved axis in the background (cached)."""
        if self.closed or not where or self.prefetch is False:
            return
        g = self.truth_combo.value
        axis = self._stack_axis(g)
        if axis is None or axis >= len(where):
            return
        nxt = list(where)
        nxt[axis] += step
        if not 0 <= nxt[axis] < layer_data(g).shape[axis]:
            return
        try:
            planes, box, border, cache_key, _ = self._slice_request(tuple(nxt))
        except ValueError:
            return
        if cache_key in self._cache or (self._prefetch_worker is not None
                                        and self._prefetch_worker.is_running):
            return
        self._prefetch_key = cache_key
        self._prefetch_worker = self._compute(planes, box, border, cache_key, None,
                                              tuple(nxt), step, show=False)

    def _show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    def _clear_table(self) -> None:
        for r in range(len(ROWS)):
            for c in range(2):
                self.table.setItem(r, c, QTableWidgetItem(""))

    def _show_result(self, result: dict, complete: bool) -> None:
        def fmt(v, digits):
            return "" if v is None else ("inf" if not np.isfinite(v) else f"{v:.{digits}f}")

        rows = [
            (result.get("psnr_blurry"), result.get("ssim_blurry")),
            (result.get("psnr_deblurred"), result.get("ssim_deblurred")),
        ]
        gain = tuple(
            (d - b) if (b is not None and d is not None) else None
            for b, d in zip(rows[0], rows[1], strict=True)
        )
        rows.append(gain)
        for r, (p, s) in enumerate(rows):
            sign = "+" if r == 2 else ""
            self.table.setItem(r, 0, QTableWidgetItem(
                (sign if p is not None and p >= 0 else "") + fmt(p, 2)))
            self.table.setItem(r, 1, QTableWidgetItem(
                (sign if s is not None and s >= 0 else "") + fmt(s, 4)))
        if not complete and self._update_started is not None and self._first_partial:
            self.last_partial_seconds = time.perf_counter() - self._update_started
            self._first_partial = False
        if complete:
            self.last_result = dict(result)
            if self._update_started is not None:
                self.last_update_seconds = time.perf_counter() - self._update_started
                self._update_started = None
            self._mark_current_slice()
            self.table_updated.emit(dict(result))

    # ------------------------------------------------------------------ whole stack

    def _stack_axis(self, truth) -> int | None:
        if truth.ndim < 3:
            return None
        axes = guess_layer_axes(truth)[: truth.ndim]
        if "Z" in axes:
            return axes.index("Z")
        return 0

    def compute_stack(self):
        """Per-slice metrics along Z (other slider axes at their current index), plotted."""
        try:
            b, d, g = self.layers()
            axis = self._stack_axis(g)
            box = self.region_box(g)
        except ValueError as error:
            notify_error(describe_error(error))
            self._show_message(describe_error(error))
            return None
        border = BORDER if (self.border_check.isChecked() and box is None) else 0
        index = current_data_index(self.viewer, g)
        n = 1 if axis is None else layer_data(g).shape[axis]

        def key_for(i):
            key = list(index[: g.ndim - 2]) + [slice(None), slice(None)]
            if axis is not None:
                key[axis] = i
            if g.rgb:
                key.append(slice(None))
            return tuple(key)

        arrays = {"truth": layer_data(g)}
        if b is not None:
            arrays["blurry"] = layer_data(b)
        if d is not None:
            arrays["deblurred"] = layer_data(d)
        ref_scale, scale_key = self._reference_scale(g)
        from napari.qt.threading import create_worker

        rgb = bool(g.rgb)

        def job():
            scale = ref_scale if ref_scale is not None else reference_scale_of(arrays["truth"])
            results = yield from iter_stack_metrics(
                arrays, scale, key_for, n, border=border, box=box, rgb=rgb
            )
            return results, scale

        if self._stack_worker is not None:
            self._stack_worker.quit()
        self.psnr_plot.clear()
        self.ssim_plot.clear()
        self.stack_results = None
        self._stack_axis_index = axis
        worker = create_worker(job, _start_thread=False, _ignore_errors=True)
        colors = {"blurry": "#ffb74d", "deblurred": "#4fc3f7"}

        def one(value):
            i, result = value
            if self.closed:
                return
            for name in ("blurry", "deblurred"):
                if f"psnr_{name}" in result:
                    self.psnr_plot.append(name, i, result[f"psnr_{name}"], colors[name])
                    self.ssim_plot.append(name, i, result[f"ssim_{name}"], colors[name])
            where = tuple(key_for(i)[: g.ndim - 2])
            ids = tuple(None if x is None else (id(x), id(layer_data(x))) for x in (b, d, g))
            self._cache[(ids, where, box, border)] = result

        def done(value):
            results, scale = value
            self._scale_cache[scale_key] = scale
            if self.closed:
                return
            self.stack_results = results
            self._mark_current_slice()
            parts = []
            for name in ("blurry", "deblurred"):
                if f"psnr_{name}" in results[0]:
                    p = float(np.mean([r[f"psnr_{name}"] for r in results]))
                    s = float(np.mean([r[f"ssim_{name}"] for r in results]))
                    parts.append(f"{name}: PSNR {p:.2f} dB, SSIM {s:.4f}")
            self.summary_label.setText(
                f"mean over {len(results)} slice(s): " + "; ".join(parts)
            )

        worker.yielded.connect(one)
        worker.returned.connect(done)
        worker.errored.connect(lambda e: notify_error(f"Whole stack: {describe_error(e)}"))
        self._own(worker)
        self._stack_worker = worker
        worker.start()
        return worker

    def _mark_current_slice(self) -> None:
        axis = getattr(self, "_stack_axis_index", None)
        g = self.truth_combo.value
        if axis is None or g is None or not self.psnr_plot.series:
            return
        z = current_data_index(self.viewer, g)[axis]
        self.psnr_plot.set_marker(z)
        self.ssim_plot.set_marker(z)

    # ------------------------------------------------------------------ side by side

    def _side_toggled(self, on: bool) -> None:
        try:
            self.set_side_by_side(on)
        except ValueError as error:
            notify_error(describe_error(error))
            self.side_button.blockSignals(True)
            self.side_button.setChecked(False)
            self.side_button.blockSignals(False)

    def set_side_by_side(self, on: bool) -> None:
        """Grid mode with blurry, deblurred, truth left to right (names shown, contrast linked),
        or back to the viewer as it was."""
        from napari.experimental import link_layers, unlink_layers

        viewer = self.viewer
        if on and self._grid_state is None:
            b, d, g = self.layers()
            trio = [layer for layer in (b, d, g) if layer is not None]
            grid = _grid(viewer)
            self._grid_state = {
                "grid": (grid.enabled, grid.stride, tuple(grid.shape)),
                "order": list(viewer.layers),
                "visible": {id(unwrap(la)): la.visible for la in viewer.layers},
                "names": {id(la): la.name_overlay.visible for la in trio},
                "contrast": {id(la): tuple(la.contrast_limits) for la in trio},
                "trio": trio,
            }
            for layer in viewer.layers:
                layer.visible = unwrap(layer) in trio
            for i, layer in enumerate(trio):
                viewer.layers.move(viewer.layers.index(layer), i)
            for layer in trio:
                if layer is not g:
                    layer.contrast_limits = tuple(g.contrast_limits)
                layer.name_overlay.visible = True
            link_layers(trio, ("contrast_limits",))
            grid.stride = 1
            grid.shape = (1, len(trio))
            grid.enabled = True
            if not self.side_button.isChecked():
                self.side_button.blockSignals(True)
                self.side_button.setChecked(True)
                self.side_button.blockSignals(False)
        elif not on and self._grid_state is not None:
            state, self._grid_state = self._grid_state, None
            trio = [la for la in state["trio"] if la in viewer.layers]
            if len(trio) > 1:
                try:
                    unlink_layers(trio, ("contrast_limits",))
                except (ValueError, KeyError):
                    pass
            for layer in trio:
                layer.contrast_limits = state["contrast"][id(layer)]
                layer.name_overlay.visible = state["names"][id(layer)]
            order = [la for la in state["order"] if la in viewer.layers]
            for i, layer in enumerate(order):
                viewer.layers.move(viewer.layers.index(layer), i)
            for layer in viewer.layers:
                if id(unwrap(layer)) in state["visible"]:
                    layer.visible = state["visible"][id(unwrap(layer))]
            enabled, stride, shape = state["grid"]
            grid = _grid(viewer)
            grid.stride = stride
            grid.shape = shape
            grid.enabled = enabled
            if self.side_button.isChecked():
                self.side_button.blockSignals(True)
                self.side_button.setChecked(False)
                self.side_button.blockSignals(False)

    # ------------------------------------------------------------------ added layers

    def add_region(self):
        """Add a 'QC region' shapes layer with a rectangle over the middle of the image."""
        g = self.truth_combo.value
        try:
            check_image_layer(g, "ground truth")
        except ValueError as error:
            notify_error(describe_error(error))
            return None
        ny, nx = layer_data(g).shape[g.ndim - 2:g.ndim]
        rect = np.array([[ny / 4, nx / 4], [ny / 4, 3 * nx / 4], [3 * ny / 4, 3 * nx / 4],
                         [3 * ny / 4, nx / 4]]) - 0.5
        layer = self.viewer.add_shapes(
            [rect], shape_type="rectangle", name="QC region", edge_color="#00e5ff",
            face_color="transparent", edge_width=max(1.0, min(ny, nx) / 200),
            scale=tuple(g.scale)[-2:], translate=tuple(g.translate)[-2:],
        )
        self.region_combo.set_value(layer)
        return layer

    def add_difference_map(self):
        """Add |deblurred - ground truth| as a new layer (computed in a worker)."""
        try:
            _, d, g = self.layers()
            if d is None:
                raise ValueError("choose a deblurred layer for the difference map")
        except ValueError as error:
            notify_error(describe_error(error))
            return None
        from napari.qt.threading import create_worker

        dd, gg = layer_data(d), layer_data(g)

        def job():
            return np.abs(np.subtract(np.asarray(dd), np.asarray(gg), dtype=np.float32))

        worker = create_worker(job, _start_thread=False, _ignore_errors=True)

        def done(diff):
            if self.closed or g not in self.viewer.layers:
                return
            kwargs = {"colormap": "magma"} if not g.rgb else {}
            if g.rgb:
                diff = diff.mean(axis=-1)
            self.viewer.add_image(
                diff, name=f"|{d.name} - {g.name}|", scale=tuple(g.scale),
                translate=tuple(g.translate), blending="additive", **kwargs,
                metadata={"microdeblur": {"difference_of": (d.name, g.name)}},
            )

        worker.returned.connect(done)
        worker.errored.connect(lambda e: notify_error(f"Difference map: {describe_error(e)}"))
        self._own(worker)
        worker.start()
        return worker

    def add_tile_grid(self):
        """Add the tiles the deblurred layer was computed in, as rectangles (shapes layer)."""
        from ..core.tiling import plan_tiles

        d = self.deblurred_combo.value
        try:
            check_image_layer(d, "deblurred")
            meta = d.metadata.get("microdeblur") if isinstance(d.metadata, dict) else None
            if not meta or "tile" not in meta:
                raise ValueError(
                    f"layer {d.name!r} has no record of its tiles; deblur it with this plugin "
                    "(the result layer's metadata holds the tile plan)"
                )
            shape = layer_data(d).shape
            axes = meta["axes"]
            yx = tuple(shape[axes.index(a)] for a in "YX")
            tile = tuple(meta["tile"])[-2:]
            overlap = tuple(meta["overlap"])[-2:]
            plan = plan_tiles(yx, tile, overlap)
        except ValueError as error:
            notify_error(describe_error(error))
            return None
        rects = []
        for t in plan.tiles:
            (y0, x0), (y1, x1) = t.start[-2:], t.stop[-2:]
            y1, x1 = min(y1, yx[0]), min(x1, yx[1])
            rects.append(np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], dtype=float) - 0.5)
        layer = self.viewer.add_shapes(
            rects, shape_type="rectangle", name=f"tile grid of {d.name}",
            edge_color="#ffeb3b", face_color="transparent",
            edge_width=max(1.0, min(yx) / 300), opacity=0.8,
            scale=tuple(d.scale)[-2:], translate=tuple(d.translate)[-2:],
            metadata={"microdeblur": {"tile": tile, "overlap": overlap, "tiles": len(rects)}},
        )
        notify_info(f"{len(rects)} tiles of {tile} px overlapping by {overlap} px")
        return layer

    # ------------------------------------------------------------------ teardown

    def _disconnect_viewer(self) -> None:
        self._timer.stop()
        try:
            self.viewer.dims.events.current_step.disconnect(self._dims_changed)
        except (TypeError, ValueError, RuntimeError):
            pass
        for combo in (self.blurry_combo, self.deblurred_combo, self.truth_combo,
                      self.region_combo):
            combo.disconnect_viewer()
        if self._region_layer is not None:
            try:
                self._region_layer.events.data.disconnect(self._settings_changed)
            except (TypeError, ValueError, RuntimeError):
                pass
