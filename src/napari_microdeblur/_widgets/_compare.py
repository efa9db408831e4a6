"""Compare & QC dock: blurry / deblurred / ground truth side by side (napari's grid mode), PSNR
and SSIM of the current slice that follow the dims sliders (computed off the GUI thread),
per-slice curves over the whole stack (``_compare_stack``), a region of interest, a difference
map and the tile grid of a deblurred layer.

The dock opens on what the user just did: the last deblur's input and result, and a ground
truth only when a layer of the same shape that is neither exists; otherwise it asks for one
(``_compare_roles``). Layers added later fill the roles still empty, and a new result of the
blurry layer becomes Deblurred; a role the user chose in its list is never changed.

Metrics are ``core.plane_metrics`` (see docs/evaluation.md): the ground-truth *layer* fixes the
intensity scale (uint8 / 255; other integers / the layer's maximum; floats: its min-max), each
channel of a C axis its own (``core.channel_metrics``), so a slice is scored on the same scale
as the whole stack and as ``core.metrics.evaluate`` would score it; PSNR and SSIM use
data_range 1, with a 16-pixel border excluded unless a region is chosen.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from qtpy.QtCore import QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QWidget,
)

from ._compare_parts import (
    MATCH_LABEL,
    MetricsTable,
    add_tile_grid,
    difference_planes,
    matched_layers,
    matched_words,
    placed_difference,
    plane_key,
    plane_world,
    planes_at,
    region_box,
    result_message,
    slice_words,
    stack_axis,
    truth_gone,
    view_problem,
)
from ._compare_parts import cache_key as plane_cache_key
from ._compare_roles import (
    DataWatcher,
    RoleKeeper,
    checked_roles,
    guess_roles,
    same_layer_line,
)
from ._compare_small import border_words, scored_border
from ._compare_stack import (
    BORDER,
    StackMetricsMixin,
    channel_axis,
)
from ._controls import button, label
from ._dock_scroll import scroll_body
from ._feedback import describe_error, notify_error, notify_info
from ._layer_data import add_layer, region_layer
from ._layers import (
    LayerCombo,
    check_image_layer,
    layer_data,
)
from ._panels import row
from ._plot import LinePlot
from ._side_by_side import SideBySide, SideBySideMixin
from ._workers import WorkerOwnerMixin, disconnect, start_worker

CHOOSE_TRUTH = "(choose a ground truth)"


class CompareWidget(StackMetricsMixin, SideBySideMixin, WorkerOwnerMixin, QWidget):
    """Plugins > napari-microdeblur > Compare & QC."""

    table_updated = Signal(object)  # the result dict shown in the table (complete ones only)

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ..core import plane_metrics, tiling

        self._plane_metrics, self._tiling = plane_metrics, tiling
        self.viewer = napari_viewer
        self.init_workers()
        self._cache: dict = {}
        self._scale_cache: dict = {}
        self._matches: dict = {}  # matched_layers' results, by layer pair
        self._match_lock = threading.Lock()
        self._request_id = 0
        self._slice_worker = self._stack_worker = None
        self._region_layer = None
        self._data_watch = DataWatcher(self._data_changed, napari_viewer.dims)
        self.side_by_side = SideBySide(napari_viewer)
        self.last_result: dict | None = None
        self.last_update_seconds: float | None = None  # slider move -> complete table
        self.last_partial_seconds: float | None = None  # slider move -> PSNR shown
        self._update_started = None
        self._first_partial = True
        self.stack_results: list | None = None
        self._stack_axis_index, self._stack_at = None, ()  # stack axis, other indices
        self._stack_drawn = {"layers": "", "axis": "", "fixed": ""}  # the plot's layers, slices
        self.prefetch = True  # compute the next slice ahead, in the slider's direction
        self._prefetch_worker = self._prefetch_key = None
        self._wanted = (None, None)
        self._last_where = None
        layout = scroll_body(self)  # a dock fits a 1080-px screen: it scrolls
        self._add_layer_controls(layout)
        self._add_table(layout)
        self._add_stack_controls(layout)
        layout.addStretch(1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        # roles are filled a turn after a layer is added: the layer lists of the combo boxes
        # are refreshed by then, and the deblur that added a result has recorded its input
        self._roles_timer = QTimer(self)
        self._roles_timer.setSingleShot(True)
        self._roles_timer.setInterval(0)
        self._connect()
        self.roles.take(guess_roles(napari_viewer))
        self._layers_changed()

    # ------------------------------------------------------------------ assembling

    def _add_layer_controls(self, layout) -> None:
        from napari.layers import Image, Shapes

        viewer = self.viewer
        self.blurry_combo = LayerCombo(viewer, (Image,), none_label="(none)",
                                       tooltip="The degraded (blurry) input image layer.")
        self.deblurred_combo = LayerCombo(viewer, (Image,), none_label="(none)",
                                          tooltip="The deblurred result to judge (same shape).")
        self.truth_combo = LayerCombo(
            viewer, (Image,), none_label=CHOOSE_TRUTH,
            tooltip="The sharp reference (ground truth); it fixes the intensity scale.")
        form = QFormLayout()
        form.addRow("Blurry", self.blurry_combo)
        form.addRow("Deblurred", self.deblurred_combo)
        form.addRow("Ground truth", self.truth_combo)
        self.roles = RoleKeeper(viewer, (self.blurry_combo, self.deblurred_combo,
                                         self.truth_combo))
        layout.addLayout(form)
        self.roles_label = label("Why a role changed by itself, and whether the deblurred "
                                 "layer was made from the ground truth.")
        layout.addWidget(self.roles_label)
        self.message_label = label("Why the chosen layers cannot be compared, if they cannot.")
        self.message_label.setStyleSheet("color: #ff8a65")
        layout.addWidget(self.message_label)
        self.side_button = button(
            "Side by side", "Show blurry, deblurred and ground truth in napari's grid mode "
            "(left to right) with their names, linked contrast and the shared camera; click "
            "again to go back.", checkable=True)
        layout.addWidget(self.side_button)
        self.region_combo = LayerCombo(
            viewer, (Shapes,), none_label="whole image",
            tooltip="Restrict the metrics to the first rectangle of a shapes layer (no border "
                    "excluded then), or use the whole image.")
        self.region_button = button("New region", "Add a shapes layer 'QC region' with a "
                                    "rectangle to move and resize.")
        form2 = QFormLayout()
        form2.addRow("Region", row(self.region_combo, self.region_button))
        self.border_check = QCheckBox(f"exclude {BORDER}-px border")
        self.border_check.setChecked(True)
        self.border_check.setToolTip(
            f"The evaluation protocol (docs/evaluation.md) excludes a {BORDER}-pixel border; "
            "untick for the whole-image figure.")
        form2.addRow("", self.border_check)
        self.match_check = QCheckBox(MATCH_LABEL)
        self.match_check.setToolTip(
            "For a ground truth recorded apart (real defocus, another exposure or microscope): "
            "register it onto each layer by a subpixel translation (Y, X and Z of 8 slices or "
            "more) and fit each layer's gain and offset onto it by least squares, then score "
            "on the ground truth's scale, as 'microdeblur evaluate --match' (docs/"
            "evaluation.md); reads the layers whole.")
        form2.addRow("", self.match_check)
        layout.addLayout(form2)

    def _add_table(self, layout) -> None:
        self.slice_label = label("The slice the table describes.", wrap=False)
        layout.addWidget(self.slice_label)
        self.table = MetricsTable()
        self._named_pair = None  # the layers the table's rows are named for (set_layers)
        layout.addWidget(self.table)
        self.scale_label = label("How intensities were mapped before computing the metrics.")
        layout.addWidget(self.scale_label)

    def _add_stack_controls(self, layout) -> None:
        self.stack_button = button("Whole stack", "Compute PSNR and SSIM of every slice along "
                                   "Z (or the first slider axis) in the background and plot "
                                   "them.")
        layout.addWidget(self.stack_button)
        self.psnr_plot = LinePlot("PSNR (dB) per slice", "slice")
        self.psnr_plot.setToolTip("PSNR of each slice; the dashed line marks the current one.")
        self.ssim_plot = LinePlot("SSIM per slice", "slice")
        self.ssim_plot.setToolTip("SSIM of each slice; the dashed line marks the current one.")
        layout.addWidget(self.psnr_plot)
        layout.addWidget(self.ssim_plot)
        self.summary_label = label("Means over the slices of the last 'Whole stack' run.")
        layout.addWidget(self.summary_label)
        self.diff_button = button("Difference map",
                                  "Add a layer |deblurred - ground truth| (in intensity units).")
        self.grid_button = button("Tile grid", "Add a shapes layer with the tiles the "
                                  "deblurred layer was computed in, to check for seams where "
                                  "they meet.")
        layout.addLayout(row(self.diff_button, self.grid_button))

    def _connect(self) -> None:
        self._timer.timeout.connect(self._start_slice_job)
        for combo in (self.blurry_combo, self.deblurred_combo, self.truth_combo):
            combo.currentIndexChanged.connect(self._layers_changed)
            combo.activated.connect(self._picked_by_hand)  # the user's pick, in the list
        self._roles_timer.timeout.connect(self._fill_roles)
        self.viewer.layers.events.inserted.connect(self._layer_inserted)
        self.region_combo.currentIndexChanged.connect(self._region_changed)
        self.border_check.toggled.connect(self._border_toggled)
        self.match_check.toggled.connect(self._layers_changed)
        self.side_button.toggled.connect(self._side_toggled)
        self.region_button.clicked.connect(self.add_region)
        self.stack_button.clicked.connect(self.compute_stack)
        self.diff_button.clicked.connect(self.add_difference_map)
        self.grid_button.clicked.connect(self.add_tile_grid)
        self.viewer.dims.events.current_step.connect(self._dims_changed)
        # 3D or a transposed view shows no single Y-X plane: the table says so
        self.viewer.dims.events.ndisplay.connect(self._dims_changed)
        self.viewer.dims.events.order.connect(self._dims_changed)

    # ------------------------------------------------------------------ choosing layers

    def set_layers(self, blurry=None, deblurred=None, truth=None, rows=None) -> None:
        """Choose layers for roles, as the user would: layers added later leave them. ``rows``:
        what the table calls the first two layers, e.g. ('base model', 'fine-tuned'), until
        the user picks another layer."""
        self.roles.take({"blurry": blurry, "deblurred": deblurred, "truth": truth},
                        by_hand=True)
        self.table.name_rows(*(rows or ()))
        # the names hold for these two layers only (a pick, or a removed layer, ends them)
        self._named_pair = (blurry, deblurred) if rows else None

    def _picked_by_hand(self, *_) -> None:
        self.roles.picked_by_hand(self.sender())
        self._show_roles()  # the note of a role that moved by itself goes

    def _layer_inserted(self, event=None) -> None:
        if getattr(event, "value", None) is not None and not self.closed:
            self.roles.added(event.value)
            self._roles_timer.start()

    def _fill_roles(self) -> None:
        if not self.closed:
            self.roles.fill()
            self._show_roles()

    def _show_roles(self) -> None:
        text = self.roles.line()
        self.roles_label.setText(text)
        self.roles_label.setVisible(bool(text))

    def layers(self) -> tuple:
        """(blurry, deblurred, truth) after checking them; ValueError says what to change."""
        return checked_roles(self.blurry_combo.value, self.deblurred_combo.value,
                             self.truth_combo.value)

    def _layers_changed(self, *_) -> None:
        pair = (self.blurry_combo.value, self.deblurred_combo.value)
        named = self._named_pair
        if named is not None and any(a is not b for a, b in zip(pair, named, strict=True)):
            self._named_pair = None
            self.table.name_rows()
        self._data_watch.watch((*pair, self.truth_combo.value))
        self._show_roles()
        self._cache.clear()
        self._matches = {}  # a matching worker still running fills the old one
        self._drop_stack_run()  # its curve would be of the layers chosen before
        self.stack_results = None
        self.psnr_plot.clear()
        self.ssim_plot.clear()
        self._title_plots()
        self.summary_label.setText("")
        self._settings_changed()

    def _data_changed(self, *_) -> None:
        self._scale_cache.clear()  # new truth pixels may have a new intensity scale
        self._layers_changed()

    def _region_changed(self, *_) -> None:
        layer = self.region_combo.value
        if self._region_layer is not None:
            disconnect(self._region_layer.events.data, self._settings_changed)
        self._region_layer = layer
        if layer is not None:
            layer.events.data.connect(self._settings_changed)
        self._settings_changed()

    def _settings_changed(self, *_) -> None:
        self._cache.clear()
        self.schedule_update()

    def _border_toggled(self, *_) -> None:
        # the cache keeps both borders' figures (computed together): no need to clear it
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

    def _chosen(self) -> dict:
        """{role: layer} of the chosen layers, after checking them (``layers``)."""
        roles = ("blurry", "deblurred", "truth")
        return {r: la for r, la in zip(roles, self.layers(), strict=True) if la is not None}

    def _slice_request(self, where=None):
        """(planes, box, border, cache key, {role: leading index}) of each layer's own plane at
        the viewer's world point, or at that of the truth's plane at leading index ``where``."""
        chosen = self._chosen()
        g = chosen["truth"]
        if where is None:
            problem = view_problem(self.viewer, g)
            if problem:
                raise ValueError(problem)
            world = self.viewer.dims.point
        else:
            world = plane_world(g, where)
        wheres = planes_at(chosen, world, self.viewer.dims)
        box = self.region_box(g)
        border = scored_border(g, BORDER if (self.border_check.isChecked() and box is None)
                               else 0)  # narrowed on a plane under SSIM's window
        planes = {role: layer_data(la)[plane_key(wheres[role], g.rgb)]
                  for role, la in chosen.items()}
        key = plane_cache_key(chosen, wheres, box, border, self._data_watch.version)
        return planes, box, border, key, wheres

    def region_box(self, truth):
        """Bounding box ((y0, y1), (x0, x1)) in ground-truth pixels of the region, or None."""
        return region_box(self.viewer, self.region_combo.value, truth)

    def _start_slice_job(self) -> None:
        if self.closed:
            return
        if self.side_by_side.active:  # roles changed (all settled by now): the grid follows
            self._side_toggled(True)
        try:
            planes, box, border, cache_key, wheres = self._slice_request()
        except ValueError as error:
            self._show_message(describe_error(error))
            self._clear_table()
            self.slice_label.setText("")
            self._update_started = None
            self._mark_current_slice()  # the 3D view: no current slice to mark
            return
        # one layer as Blurry and Deblurred: scored, and said (the truth's twin is refused)
        self._show_message(same_layer_line(self.blurry_combo.value,
                                           self.deblurred_combo.value, None))
        where = wheres["truth"]
        self.slice_label.setText(
            "current slice: " + (slice_words(self.viewer, self._chosen(), wheres)
                                 if where else "2D image")
            + (f"; region {box[0][1] - box[0][0]} x {box[1][1] - box[1][0]} px" if box else "")
            + ("" if box else border_words(self.truth_combo.value, border,
                                           BORDER * self.border_check.isChecked()))
        )
        step = 0
        if self._last_where is not None and len(where) == len(self._last_where) and where:
            diff = [a - b for a, b in zip(where, self._last_where, strict=True)]
            step = next((int(np.sign(v)) for v in diff if v), 0)
        self._last_where = where
        self._request_id += 1
        self._wanted = (cache_key, self._request_id)
        if cache_key in self._cache:  # (figures, the scale line they were computed on)
            self._show_result(*self._cache[cache_key], complete=True)
            self._prefetch(where, step or 1)
            return
        if self._slice_worker is not None:
            self._slice_worker.quit()  # stale: stops at its next yield
        if (self._prefetch_worker is not None and self._prefetch_worker.is_running
                and self._prefetch_key == cache_key):
            return  # the slice is being computed ahead already: it will be shown when done
        self._slice_worker = self._compute(planes, box, border, cache_key, self._request_id,
                                           where, step or 1, wheres=wheres)

    def _compute(self, planes, box, border, cache_key, request_id, where, step, show=True,
                 wheres=None):
        """Metrics of one slice in a worker; shown if still the latest request, always cached.
        A slice shown is followed by a prefetch of the next one in the slider's direction.
        With matching, each layer's plane (at ``wheres``) against its matched ground truth."""
        truth = self.truth_combo.value
        full_truth = layer_data(truth)
        rgb, c_axis = bool(truth.rgb), channel_axis(truth)
        channel = where[c_axis] if c_axis is not None else None  # its own range: evaluate's
        metrics = self._plane_metrics
        truth_name = f"the ground-truth layer {truth.name!r}"
        key = (id(truth), id(full_truth), self._data_watch.version(truth))
        layers = [truth] + [la for la in (self.blurry_combo.value, self.deblurred_combo.value)
                            if la is not None]

        borders = (border,)
        other = 0 if border else BORDER
        if box is None and min(planes["truth"].shape[:2]) - 2 * other >= metrics.MIN_SIDE:
            borders = (border, other)  # one SSIM map gives both: the toggle is then cached

        chosen = self._chosen() if self.match_check.isChecked() else None
        shown = {}  # the scale line, set before the first partial figures are yielded

        def job():
            scale, line = self._truth_scale(key, full_truth, truth_name, c_axis, channel,
                                            layers)
            shown["line"] = line
            if chosen is None:
                with np.errstate(invalid="ignore"):  # NaN pixels: the message line says so
                    results = yield from metrics.iter_plane_metrics_borders(
                        planes, scale, borders=borders, box=box, rgb=rgb)
                return results, line
            found = matched_layers(chosen, self._matches, self._match_lock, BORDER)
            shown["line"] = line = line + " " + matched_words(found)
            keys = {role: plane_key(wheres[role], rgb) for role in found}
            pairs = {role: (m["reference"][keys[role]], m["image"][keys[role]])
                     for role, m in found.items()}
            with np.errstate(invalid="ignore"):
                results = yield from metrics.iter_pair_metrics_borders(
                    pairs, scale, borders=borders, box=box, rgb=rgb)
            return results, line

        def partial(result):
            if show and request_id == self._request_id and not self.closed:
                self._show_result(result, shown.get("line"), complete=False)

        def done(value):
            results, line = value
            result = results[border]
            if self.closed:
                return
            for b, res in results.items():  # the key's last item is the border
                self._cache[(*cache_key[:-1], b)] = res, line
            wanted_key, wanted_id = self._wanted
            if not show and wanted_key == cache_key and wanted_id == self._request_id:
                show_now = True  # a prefetch the slider caught up with
            else:
                show_now = show and request_id == self._request_id
            if show_now:
                self._show_result(result, line, complete=True)
                self._prefetch(where, step)

        def failed(error):
            if show and request_id == self._request_id and not self.closed:
                self._show_message(describe_error(error))
                self._clear_table()
                self._update_started = None

        return start_worker(self, job, yielded=partial, returned=done, errored=failed)

    def _prefetch(self, where, step) -> None:
        """Compute the next slice along the last-moved axis in the background (cached)."""
        if self.closed or not where or self.prefetch is False:
            return
        g = self.truth_combo.value
        axis = stack_axis(g)
        if axis is None or axis >= len(where):
            return
        nxt = list(where)
        nxt[axis] += step
        if not 0 <= nxt[axis] < layer_data(g).shape[axis]:
            return
        try:
            planes, box, border, cache_key, wheres = self._slice_request(tuple(nxt))
        except ValueError:
            return
        if cache_key in self._cache or (self._prefetch_worker is not None
                                        and self._prefetch_worker.is_running):
            return
        self._prefetch_key = cache_key
        self._prefetch_worker = self._compute(planes, box, border, cache_key, None,
                                              tuple(nxt), step, show=False, wheres=wheres)

    def _show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    def _clear_table(self) -> None:
        self.table.clear_values()
        self.scale_label.setText("")  # it describes figures no longer shown

    def _show_result(self, result: dict, line: str | None, complete: bool) -> None:
        """Figures and the scale line they were computed on (a cached slice had shown its
        figures under the line of the channel last computed)."""
        self.table.show_values(result)
        if line is not None:
            self.scale_label.setText(line)
        message = result_message(result, self.truth_combo.value)
        if message:
            self._show_message(message)
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

    # ------------------------------------------------------------------ added layers

    def add_region(self):
        """Add a 'QC region' shapes layer with a rectangle over the middle of the image."""
        g = self.truth_combo.value
        try:
            check_image_layer(g, "ground truth")
        except ValueError as error:
            notify_error(describe_error(error))
            return None
        layer = add_layer(self.viewer, region_layer(g))
        self.region_combo.set_value(layer)
        self.leave_grid_for(layer)
        return layer

    def add_difference_map(self):
        """Add |deblurred - ground truth| (computed in a worker): whole for in-memory layers with
        the same planes at the same places, else of the current slice (lazy: not read whole)."""
        try:
            _, d, g = self.layers()
            if d is None:
                raise ValueError("choose a deblurred layer for the difference map")
            dd, gg, where = difference_planes(self.viewer, d, g)
        except ValueError as error:
            notify_error(describe_error(error))
            return None

        def job():
            with np.errstate(invalid="ignore"):  # Inf - Inf: NaN, without numpy's warning
                diff = np.abs(np.subtract(np.asarray(dd), np.asarray(gg), dtype=np.float32))
            return diff if where is None else diff.reshape((1,) * len(where) + diff.shape)

        def done(diff):
            if self.closed:
                return
            if g not in self.viewer.layers:  # removed meanwhile: said, not dropped silently
                return self._show_message(truth_gone(g))
            layer = add_layer(self.viewer, placed_difference(d, g, diff, where))
            if self.side_by_side.active:  # read beside the others: a column of its own
                self.side_by_side.add_panel(layer)
            if where is not None:
                notify_info("difference map of the current slice only (the layers are "
                            "read lazily or placed apart): move the slider and press again "
                            "for another slice")

        return start_worker(self, job, returned=done,
                            errored=lambda e: notify_error(f"Difference map: {describe_error(e)}"))

    def add_tile_grid(self):
        """Add the tiles the deblurred layer was computed in, as rectangles (shapes layer)."""
        layer = add_tile_grid(self.viewer, self.deblurred_combo.value, self._tiling.plan_tiles)
        if layer is not None:
            self.leave_grid_for(layer)
        return layer

    # ------------------------------------------------------------------ teardown

    def release_viewer(self) -> None:
        self._timer.stop()
        self.set_side_by_side(False)  # the viewer as it was: no grid, other layers shown
        self._roles_timer.stop()
        disconnect(self.viewer.layers.events.inserted, self._layer_inserted)
        for event in ("current_step", "ndisplay", "order"):
            disconnect(getattr(self.viewer.dims.events, event), self._dims_changed)
        for combo in (self.blurry_combo, self.deblurred_combo, self.truth_combo,
                      self.region_combo):
            combo.disconnect_viewer()
        self._data_watch.release()
        if self._region_layer is not None:
            disconnect(self._region_layer.events.data, self._settings_changed)
