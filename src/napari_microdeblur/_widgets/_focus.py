"""Focus QC dock: score an image layer's focus per tile (a heatmap layer over the image) or per
slice (a plot), set a threshold on the scores (typed, or calibrated on a known-good layer), and
deblur only the tiles or slices below it.

The scores come from ``core.selective.iter_focus_scores`` and the deblurring from
``core.selective.iter_deblur_selected``, both in napari workers; the method list, the method
building, the progress bar, Cancel and the result layer's placement are the Deblur dock's
(``_deblur.py``). The user's layers are never modified.
"""

from __future__ import annotations

import math
import time
import weakref

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtGui import QValidator
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
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
    LinePlot,
    RunDockMixin,
    WorkerOwnerMixin,
    check_image_layer,
    current_data_index,
    default_weights_name,
    describe_error,
    guess_layer_axes,
    layer_data,
    notify_error,
    notify_info,
    unwrap,
)
from ._common import combo_key as _key
from ._deblur import (
    DeblurRequest,
    DeblurRun,
    _build_method,
    _layer_props,
    _plain,
    add_result_layer,
    check_request,
    fill_method_combo,
)

UNITS = ("tiles", "slices")
HEATMAP_COLORMAP = "inferno"
HEATMAP_GAMMA = 0.5  # scores span decades: a gamma below 1 keeps the middling ones visible
OUTLINE_COLOR = "#00e5ff"


def focus_result_name(source_name: str, method_label: str, threshold: float) -> str:
    return f"{source_name} deblurred [{method_label}] (focus < {threshold:.3g})"


def heatmap_name(source_name: str, tile: int) -> str:
    return f"{source_name} focus [tile {tile}]"


def outline_name(source_name: str, tile: int) -> str:
    return f"{source_name} soft tiles [tile {tile}]"


def default_threshold(scores) -> float:
    """A first threshold before the user sets one: half the median score (units with less
    than half the typical band-pass energy)."""
    values = np.asarray(scores, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0
    return float(0.5 * np.median(values))


class LogSpinBox(QDoubleSpinBox):
    """A spin box for positive values that span decades (focus scores): shown with 4
    significant digits (scientific when small), typed in any float notation, and stepped by a
    factor of 10^(1/10) per arrow press (ten steps a decade)."""

    STEPS_PER_DECADE = 10

    def __init__(self, parent=None, floor: float = 1e-6) -> None:
        super().__init__(parent)
        self.floor = floor  # where stepping up from 0 starts
        self.setDecimals(15)  # QDoubleSpinBox rounds to ``decimals``: keep small values whole
        self.setRange(0.0, 1e9)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt override
        return f"{value:.4g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt override
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):  # Qt override
        s = text.strip().lower()
        try:
            value = float(s)
        except ValueError:
            partial = s in ("", ".", "-", "+") or s.endswith(("e", "e-", "e+"))
            return (QValidator.Intermediate if partial else QValidator.Invalid), text, pos
        ok = self.minimum() <= value <= self.maximum()
        return (QValidator.Acceptable if ok else QValidator.Intermediate), text, pos

    def fixup(self, text: str) -> str:  # Qt override
        return self.textFromValue(self.value())

    def stepBy(self, steps: int) -> None:  # noqa: N802 - Qt override
        value = self.value()
        if value <= 0:
            if steps > 0:
                self.setValue(self.floor)
            return
        self.setValue(value * 10 ** (steps / self.STEPS_PER_DECADE))


# ----------------------------------------------------------------------------- the run


def iter_focus_job(req: DeblurRequest, selection: dict):
    """Worker body: build the method, drain ``iter_deblur_selected``; yields its progress
    records and returns ``(SelectiveResult, card, seconds)``. Closing it stops after the tile
    in flight."""
    from ..core import inference, selective

    start = time.perf_counter()
    device = inference.resolve_device(req.device)
    method, card = _build_method(req, device)
    result = yield from selective.iter_deblur_selected(
        req.image,
        method,
        threshold=selection["threshold"],
        axes=req.axes,
        scores=selection["scores"],
        tile=selection["tile"],
        halo=selection["halo"],
        device=device,
        output_dtype=req.output_dtype,
    )
    return result, card, time.perf_counter() - start


class FocusRun(DeblurRun):
    """A selective deblur run: the Deblur dock's run (napari progress bar, Cancel between
    tiles, no layer after a cancel) driving ``iter_focus_job``; the result layer is named
    ``<name> deblurred [<method>] (focus < T)`` and its metadata lists what was deblurred."""

    def __init__(self, viewer, req: DeblurRequest, selection: dict, *, on_done=None,
                 on_progress=None) -> None:
        self.selection = selection
        unit = "tiles" if selection["tile"] else "slices"
        super().__init__(
            viewer,
            req,
            on_done=on_done,
            on_progress=on_progress,
            job=(iter_focus_job, req, selection),
            description=f"Deblurring soft {unit} of {req.source_name} [{req.method_name}]",
        )

    def _returned(self, value) -> None:
        if self.cancelled:
            return
        self.result = value
        result, card, seconds = value
        try:
            layer = add_result_layer(self.viewer, self.req, result, card, seconds)
            layer.name = focus_result_name(
                self.req.source_name, self.req.method_name, result.threshold
            )
            layer.metadata["microdeblur"]["focus"] = _plain({
                "mode": result.mode,
                "score_axes": result.unit_axes,
                "threshold": float(result.threshold),
                "focus_tile": result.focus_tile,
                "halo": int(result.halo),
                "units": int(result.scores.size),
                "deblurred": len(result.selected),
                "selected": [list(u) for u in result.selected],
                "boxes": [list(b) for b in result.boxes],
            })
            self.layer = layer
        except Exception as error:  # noqa: BLE001 - the viewer may be closing
            self.error = error
            notify_error(f"could not add the result layer: {describe_error(error)}")


# ----------------------------------------------------------------------------- the dock


class FocusWidget(RunDockMixin, WorkerOwnerMixin, QWidget):
    """Plugins > napari-microdeblur > Focus QC."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from napari.layers import Image

        # the core (and torch) is imported when the dock opens, not when napari starts
        from ..core import focus, inference, selective, weights  # noqa: F401

        self._inference = inference
        self._weights = weights
        self._selective = selective
        self.viewer = napari_viewer
        self._init_workers()
        self.scores: np.ndarray | None = None
        self._score_key = None
        self._score_worker = None
        self.heatmap_layer = None
        self.outline_layer = None
        self._overlays: list = []  # (kind, weak ref to the image layer, weak ref to overlay)
        self.run_handle: FocusRun | None = None
        self.last_run: FocusRun | None = None

        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)
        self.layer_combo = LayerCombo(
            napari_viewer, (Image,),
            tooltip="Image layer to score and deblur (2D, a stack, or RGB). Labels, points and "
                    "shapes layers are not offered.",
        )
        form.addRow("Image", self.layer_combo)
        self.axes_edit = QLineEdit()
        self.axes_edit.setToolTip(
            "Axes of the layer, one letter per dimension: T time, C channel, Z depth, Y, X, S "
            "RGB samples (e.g. YX, ZYX, YXS). Guessed from the layer; edit if wrong."
        )
        form.addRow("Axes", self.axes_edit)
        unit_row = QHBoxLayout()
        self.unit_combo = QComboBox()
        self.unit_combo.addItem("per tile (heatmap)", "tiles")
        self.unit_combo.addItem("per slice (plot)", "slices")
        self.unit_combo.setToolTip(
            "Per tile: each plane is cut into squares, scored, shown as a heatmap layer over "
            "the image, and only soft squares are deblurred. Per slice: one score per plane of "
            "a stack, plotted against the slice, and only soft planes are deblurred."
        )
        self.tile_spin = QSpinBox()
        self.tile_spin.setRange(8, 8192)
        self.tile_spin.setSingleStep(32)
        self.tile_spin.setValue(256)
        self.tile_spin.setSuffix(" px")
        self.tile_spin.setToolTip(
            "Side of the scored squares in pixels (per-tile scoring only). Smaller tiles follow "
            "the focus more closely but score fewer structures each."
        )
        unit_row.addWidget(self.unit_combo)
        unit_row.addWidget(self.tile_spin)
        form.addRow("Score", unit_row)
        self.score_button = QPushButton("Score")
        self.score_button.setToolTip(
            "Compute the focus scores (band-pass energy over mean intensity squared; higher is "
            "sharper) in the background and show them."
        )
        layout.addWidget(self.score_button)

        threshold_box = QGroupBox("Threshold")
        tform = QFormLayout(threshold_box)
        self.threshold_spin = LogSpinBox()
        self.threshold_spin.setToolTip(
            "Tiles or slices scoring below this are 'soft' and get deblurred. Type a value "
            "(e.g. 0.002 or 2e-3); the arrows step by about 26% (ten steps a decade). While "
            "it is 0, scoring sets it to half the median score."
        )
        tform.addRow("Focus below", self.threshold_spin)
        calib_row = QHBoxLayout()
        self.good_combo = LayerCombo(
            napari_viewer, (Image,), none_label="(known-good layer)",
            tooltip="An image layer known to be in focus, of the same kind of sample and "
                    "imaging, to calibrate the threshold on.",
        )
        self.percentile_spin = QDoubleSpinBox()
        self.percentile_spin.setRange(0.0, 100.0)
        self.percentile_spin.setDecimals(1)
        self.percentile_spin.setValue(5.0)
        self.percentile_spin.setSuffix(" %")
        self.percentile_spin.setToolTip(
            "Calibration percentile: the threshold becomes this percentile of the known-good "
            "layer's scores (5%: one in twenty good tiles or slices would be called soft)."
        )
        calib_row.addWidget(self.good_combo)
        calib_row.addWidget(self.percentile_spin)
        tform.addRow("Good layer", calib_row)
        self.calibrate_button = QPushButton("Calibrate from layer...")
        self.calibrate_button.setToolTip(
            "Score the known-good layer the same way (same tiles or per slice) and set the "
            "threshold to the chosen percentile of its scores."
        )
        tform.addRow("", self.calibrate_button)
        self.count_label = QLabel("not scored yet")
        self.count_label.setToolTip("How many tiles or slices are below the threshold.")
        tform.addRow("", self.count_label)
        layout.addWidget(threshold_box)

        self.plot = LinePlot("focus score per slice", "slice")
        self.plot.setToolTip(
            "Focus score of every slice (blue), the soft ones (red) and the threshold (grey); "
            "the dashed line marks the current slice."
        )
        self.plot.setVisible(False)
        layout.addWidget(self.plot)

        method_form = QFormLayout()
        layout.addLayout(method_form)
        self.method_combo = QComboBox()
        self.method_combo.setToolTip(
            "How the soft tiles or slices are deblurred: the bundled default model for the "
            "layer (RGB or grayscale), other bundled or session weights (as in the Deblur "
            "dock), or a classical deconvolution with a PSF."
        )
        method_form.addRow("Method", self.method_combo)
        self.psf_box = ClassicalOptions()
        self.psf_edit = self.psf_box.psf_edit
        self.iterations_spin = self.psf_box.iterations_spin
        self.balance_spin = self.psf_box.balance_spin
        layout.addWidget(self.psf_box)
        self.halo_spin = QSpinBox()
        self.halo_spin.setRange(-1, 1024)
        self.halo_spin.setValue(-1)
        self.halo_spin.setSpecialValueText("method default")
        self.halo_spin.setSuffix(" px")
        self.halo_spin.setToolTip(
            "Per-tile deblurring reads this many pixels around each soft tile (the halo) and "
            "keeps only the tile, so it comes out as in a whole-image deblur. 'method "
            "default' uses the method's reach: the network's receptive field, or twice the "
            "PSF radius (at least 32 px) for classical methods."
        )
        method_form.addRow("Halo", self.halo_spin)

        buttons = QHBoxLayout()
        self.run_button = QPushButton("Deblur soft tiles")
        self.run_button.setToolTip(
            "Deblur, in the background, only the tiles or slices below the threshold; the "
            "others are copied unchanged into a new layer."
        )
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip(
            "Stop deblurring after the current tile (no layer is added), or stop scoring after "
            "the current plane."
        )
        self.cancel_button.setEnabled(False)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        self.progress_bar = QProgressBar()
        self.progress_bar.setToolTip("Planes scored, or tiles deblurred, so far.")
        self.progress_bar.setValue(0)
        layout.addWidget(self.progress_bar)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setToolTip("What the last step did.")
        layout.addWidget(self.status_label)
        layout.addStretch(1)

        self._threshold_timer = QTimer(self)
        self._threshold_timer.setSingleShot(True)
        self._threshold_timer.setInterval(120)  # typing or holding an arrow: redraw once
        self._threshold_timer.timeout.connect(self.update_threshold_view)

        self.layer_combo.currentIndexChanged.connect(self._on_layer_changed)
        self.unit_combo.currentIndexChanged.connect(self._on_settings_changed)
        self.tile_spin.valueChanged.connect(self._on_settings_changed)
        self.axes_edit.editingFinished.connect(self._on_settings_changed)
        self.threshold_spin.valueChanged.connect(lambda *_: self._threshold_timer.start())
        self.method_combo.currentIndexChanged.connect(self._on_method_changed)
        self.score_button.clicked.connect(self.score)
        self.calibrate_button.clicked.connect(self.calibrate)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        SESSION_MODELS.changed.connect(self._refresh_methods)
        napari_viewer.dims.events.current_step.connect(self._on_dims)

        self._refresh_methods()
        self._on_layer_changed()

    # ------------------------------------------------------------------ settings

    @property
    def unit(self) -> str:
        return self.unit_combo.currentData()

    def _on_layer_changed(self, *_) -> None:
        layer = self.layer_combo.value
        axes = guess_layer_axes(layer) if layer is not None else ""
        self.axes_edit.setText(axes)
        stack = any(a not in "YXS" for a in axes)
        self.unit_combo.blockSignals(True)
        self.unit_combo.setCurrentIndex(UNITS.index("slices" if stack else "tiles"))
        self.unit_combo.blockSignals(False)
        self._on_settings_changed()

    def _on_settings_changed(self, *_) -> None:
        tiles = self.unit == "tiles"
        self.tile_spin.setEnabled(tiles)
        self.run_button.setText(f"Deblur soft {self.unit}")
        self.plot.setVisible(not tiles)
        self.update_threshold_view()

    def score_settings(self):
        """(layer, axes, tile or None) for scoring; raises ValueError saying what to fix."""
        layer = self.layer_combo.value
        check_image_layer(layer)
        axes = self.axes_edit.text().strip().upper()
        self._inference.check_axes(axes, tuple(layer_data(layer).shape))
        tile = int(self.tile_spin.value()) if self.unit == "tiles" else None
        return layer, axes, tile

    def _key_for(self, layer, axes, tile):
        return (id(unwrap(layer)), id(layer_data(layer)), axes, tile)

    def scores_fresh(self) -> bool:
        """Whether the scores held describe the chosen layer with the current settings."""
        if self.scores is None:
            return False
        try:
            layer, axes, tile = self.score_settings()
        except ValueError:
            return False
        return self._key_for(layer, axes, tile) == self._score_key

    # ------------------------------------------------------------------ scoring

    def score(self):
        """Score the chosen layer in a worker; the heatmap or the plot follows."""
        try:
            layer, axes, tile = self.score_settings()
            gen = self._selective.iter_focus_scores(layer_data(layer), axes=axes, tile=tile)
        except (ValueError, TypeError) as error:
            notify_error(describe_error(error))
            self.status_label.setText(describe_error(error))
            return None
        from napari.qt.threading import create_worker

        def job():
            return (yield from gen)

        if self._score_worker is not None:
            self._score_worker.quit()
        worker = create_worker(job, _start_thread=False, _ignore_errors=True)
        key = self._key_for(layer, axes, tile)
        layer_ref = unwrap(layer)

        def progressed(record):
            if not self.closed:
                self.progress_bar.setRange(0, record.total)
                self.progress_bar.setValue(record.done)

        def done(scores):
            if self.closed or worker is not self._score_worker:
                return
            self._score_worker = None
            if layer_ref not in self.viewer.layers:
                return
            self.show_scores(layer_ref, axes, tile, scores, key)

        def failed(error):
            if worker is self._score_worker:
                self._score_worker = None
            notify_error(f"Scoring {layer_ref.name!r} failed: {describe_error(error)}")
            if not self.closed:
                self.status_label.setText(f"scoring failed: {describe_error(error)}")

        def finished():
            if worker is self._score_worker:  # quit before it returned: cancelled
                self._score_worker = None
                if not self.closed:
                    self.status_label.setText("scoring cancelled")
                    self.progress_bar.setRange(0, 1)
                    self.progress_bar.setValue(0)
            if not self.closed and self.run_handle is None:
                self.cancel_button.setEnabled(self._score_worker is not None)

        worker.yielded.connect(progressed)
        worker.returned.connect(done)
        worker.errored.connect(failed)
        worker.finished.connect(finished)
        self._own(worker)
        self._score_worker = worker
        self.cancel_button.setEnabled(True)
        self.progress_bar.setRange(0, 0)
        self.status_label.setText(f"scoring {layer.name}...")
        worker.start()
        return worker

    def show_scores(self, layer, axes: str, tile: int | None, scores, key=None) -> None:
        """Keep ``scores`` of ``layer`` and show them (heatmap, or plot)."""
        self.scores = np.asarray(scores, dtype=np.float64)
        self._score_key = key if key is not None else self._key_for(layer, axes, tile)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1)
        if self.threshold_spin.value() <= 0:
            self.threshold_spin.blockSignals(True)
            self.threshold_spin.setValue(default_threshold(self.scores))
            self.threshold_spin.blockSignals(False)
        finite = self.scores[np.isfinite(self.scores)]
        span = f"{finite.min():.3g} to {finite.max():.3g}" if finite.size else "no finite score"
        what = f"{self.scores.size} tiles of {tile} px" if tile else \
            f"{max(1, self.scores.size)} slice(s)"
        self.status_label.setText(f"scored {layer.name}: {what}, scores {span}")
        if tile:
            self._show_heatmap(layer, axes, tile)
        self.update_threshold_view()

    def _layer_yx(self, layer, axes: str):
        """Positions of Y and X among the layer's napari dims, and those dims' axes."""
        lay_axes = axes.replace("S", "") if layer.rgb else axes[: layer.ndim]
        return lay_axes, lay_axes.index("Y"), lay_axes.index("X")

    def _overlay(self, kind: str, layer, ndim: int):
        """The heatmap or outline layer (``kind``) this dock drew for ``layer``, if it is still
        in the viewer with ``ndim`` dims, to update in place; None to add a new one."""
        for k, source, overlay in self._overlays:
            found = overlay()
            if k == kind and source() is unwrap(layer) and found is not None \
                    and found in self.viewer.layers and found.ndim == ndim:
                return found
        return None

    def _remember(self, kind: str, layer, overlay) -> None:
        self._overlays = [
            rec for rec in self._overlays if rec[1]() is not None and rec[2]() is not None
        ]
        self._overlays.append((kind, weakref.ref(unwrap(layer)), weakref.ref(overlay)))

    def _show_heatmap(self, layer, axes: str, tile: int) -> None:
        lay_axes, iy, ix = self._layer_yx(layer, axes)
        heat = np.moveaxis(self.scores.astype(np.float32), [-2, -1], [iy, ix])
        scale = [float(s) for s in layer.scale]
        translate = [float(t) for t in layer.translate]
        for i in (iy, ix):
            translate[i] += (tile - 1) / 2 * scale[i]  # tile centres on the image's pixels
            scale[i] *= tile
        finite = heat[np.isfinite(heat)]
        limits = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if limits[1] <= limits[0]:
            limits = (limits[0], limits[0] + 1e-12)
        name = heatmap_name(layer.name, tile)
        meta = {"microdeblur": {"focus_heatmap_of": layer.name, "tile": tile, "axes": lay_axes}}
        existing = self._overlay("heatmap", layer, heat.ndim)
        if existing is not None:
            self.heatmap_layer = existing
            existing.data = heat
            existing.scale = scale
            existing.translate = translate
            existing.contrast_limits = limits
            existing.name = name
            existing.metadata = meta
        else:
            self.heatmap_layer = unwrap(self.viewer.add_image(
                heat, name=name, scale=scale, translate=translate, colormap=HEATMAP_COLORMAP,
                opacity=0.5, blending="additive", contrast_limits=limits, gamma=HEATMAP_GAMMA,
                metadata=meta, interpolation2d="nearest",
            ))
            self._remember("heatmap", layer, self.heatmap_layer)
        self.viewer.layers.selection.active = layer  # keep the image chosen for the user

    # ------------------------------------------------------------------ threshold

    def set_threshold(self, value: float) -> None:
        """Set the threshold and update the count, outlines and plot at once."""
        self.threshold_spin.setValue(float(value))
        self._threshold_timer.stop()
        self.update_threshold_view()

    @property
    def threshold(self) -> float:
        return float(self.threshold_spin.value())

    def soft_mask(self) -> np.ndarray | None:
        if not self.scores_fresh():
            return None
        return self._selective.select_below(self.scores, self.threshold)

    def update_threshold_view(self) -> None:
        """Count label, soft-tile outlines (tiles) or the plot (slices) for the threshold."""
        if self.closed:
            return
        mask = self.soft_mask()
        if mask is None:
            self.count_label.setText(
                "not scored yet: press Score" if self.scores is None
                else "settings changed: press Score again"
            )
            return
        unit = self.unit
        self.count_label.setText(
            f"{int(mask.sum())} of {mask.size} {unit} below threshold {self.threshold:.4g}"
        )
        layer, axes, tile = self.score_settings()
        if tile:
            self._show_outlines(layer, axes, tile, mask)
        else:
            self._show_plot(layer, axes, mask)

    def _show_outlines(self, layer, axes: str, tile: int, mask: np.ndarray) -> None:
        lay_axes, iy, ix = self._layer_yx(layer, axes)
        shape = layer_data(layer).shape
        yx = (shape[axes.index("Y")], shape[axes.index("X")])
        rects = []
        for unit in np.argwhere(mask):
            y0, y1, x0, x1 = self._selective.tile_box(unit[-2], unit[-1], tile, yx)
            rect = np.zeros((4, len(lay_axes)), dtype=float)
            loop = [i for i in range(len(lay_axes)) if i not in (iy, ix)]
            rect[:, loop] = unit[:-2]
            rect[:, iy] = np.array([y0, y0, y1, y1]) - 0.5
            rect[:, ix] = np.array([x0, x1, x1, x0]) - 0.5
            rects.append(rect)
        name = outline_name(layer.name, tile)
        width = max(1.0, min(yx) / 250)
        meta = {"microdeblur": {"soft_tiles_of": layer.name, "tile": tile,
                                "threshold": self.threshold, "tiles": len(rects)}}
        existing = self._overlay("outline", layer, len(lay_axes))
        if existing is not None:
            self.outline_layer = existing
            existing.selected_data = set()
            existing.data = []
            if rects:
                existing.add_rectangles(rects, edge_width=width, edge_color=OUTLINE_COLOR,
                                        face_color="transparent")
            existing.name = name
            existing.scale = tuple(layer.scale)
            existing.translate = tuple(layer.translate)
            existing.metadata = meta
        else:
            self.outline_layer = unwrap(self.viewer.add_shapes(
                rects or None, ndim=len(lay_axes), shape_type="rectangle", name=name,
                edge_color=OUTLINE_COLOR, face_color="transparent", edge_width=width,
                scale=tuple(layer.scale), translate=tuple(layer.translate), metadata=meta,
            ))
            self._remember("outline", layer, self.outline_layer)
        self.viewer.layers.selection.active = layer

    def _plot_axis(self, layer, axes: str):
        """The score axis the plot runs along (Z if there is one) and the score indices of the
        current slice."""
        loop = self._selective.score_axes(axes)
        if not loop:
            return None, ()
        axis = loop.index("Z") if "Z" in loop else len(loop) - 1
        lay_axes, _, _ = self._layer_yx(layer, axes)
        index = current_data_index(self.viewer, layer)
        here = tuple(index[lay_axes.index(a)] for a in loop)
        return axis, here

    def _show_plot(self, layer, axes: str, mask: np.ndarray) -> None:
        axis, here = self._plot_axis(layer, axes)
        self.plot.clear()
        if axis is None:  # one plane: a single point
            xs = [0]
            ys = [float(self.scores)]
            soft = [bool(mask)]
            self.plot.xlabel = "image"
        else:
            key = list(here)
            key[axis] = slice(None)
            ys = list(self.scores[tuple(key)])
            soft = list(mask[tuple(key)])
            xs = list(range(len(ys)))
            self.plot.xlabel = self._selective.score_axes(axes)[axis] + " (slice)"
            self.plot.set_marker(here[axis])
        self.plot.set_series("focus", xs, ys, "#4fc3f7")
        self.plot.set_series(
            "below threshold", xs, [y if s else math.nan for y, s in zip(ys, soft)], "#e57373"
        )
        self.plot.set_series(
            f"threshold {self.threshold:.3g}", [xs[0], xs[-1]], [self.threshold] * 2, "#9e9e9e"
        )

    def _on_dims(self, event=None) -> None:
        if self.closed or self.unit != "slices" or not self.plot.series:
            return
        mask = self.soft_mask()
        if mask is not None:
            layer, axes, _ = self.score_settings()
            self._show_plot(layer, axes, mask)

    # ------------------------------------------------------------------ calibration

    def calibrate(self):
        """Score the known-good layer like the image (same tiles, or per slice) and set the
        threshold to the chosen percentile of its scores."""
        good = self.good_combo.value
        try:
            check_image_layer(good, "known-good")
            axes = guess_layer_axes(good)
            tile = int(self.tile_spin.value()) if self.unit == "tiles" else None
            gen = self._selective.iter_focus_scores(layer_data(good), axes=axes, tile=tile)
        except (ValueError, TypeError) as error:
            notify_error(describe_error(error))
            self.status_label.setText(describe_error(error))
            return None
        from napari.qt.threading import create_worker

        from ..core.focus import calibrate_threshold

        percentile = float(self.percentile_spin.value())

        def job():
            scores = yield from gen
            return calibrate_threshold(scores, percentile=percentile), np.size(scores)

        worker = create_worker(job, _start_thread=False, _ignore_errors=True)

        def done(value):
            threshold, n = value
            if self.closed:
                return
            self.set_threshold(threshold)
            what = f"tile scores ({tile} px)" if tile else "slice scores"
            self.status_label.setText(
                f"threshold {threshold:.4g}: percentile {percentile:g} of {n} {what} of "
                f"{good.name!r}"
            )

        worker.returned.connect(done)
        worker.errored.connect(
            lambda e: notify_error(f"Calibration on {good.name!r} failed: {describe_error(e)}")
        )
        self._own(worker)
        worker.start()
        return worker

    # ------------------------------------------------------------------ methods

    def _refresh_methods(self) -> None:
        if self.closed:
            return
        fill_method_combo(self.method_combo, self._weights, self._inference,
                          leading=[("default model (RGB or grayscale)", "default\tauto")])
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
        classical = bool(data) and data[0] == "classical"
        self.psf_box.setVisible(classical)
        if classical:
            self.iterations_spin.setEnabled(data[1] == "richardson_lucy")
            self.balance_spin.setEnabled(data[1] == "wiener")

    # ------------------------------------------------------------------ running

    def build_request(self) -> tuple[DeblurRequest, dict]:
        """The run's request and selection (threshold, scores, tile, halo); raises ValueError
        saying what to fix."""
        layer, axes, tile = self.score_settings()
        if not self.scores_fresh():
            raise ValueError(
                f"score {layer.name!r} first (press Score): the threshold applies to the "
                "scores of the chosen layer with the current tile setting"
            )
        data = _key(self.method_combo.currentData())
        if not data:
            raise ValueError("no method chosen")
        kind, name = data
        if kind == "default":
            name = default_weights_name(bool(layer.rgb))
            if name is None:
                raise ValueError(
                    "no default weights are installed; choose a classical method (with a PSF) "
                    "or load weights in the Deblur dock"
                )
            kind = "bundled"
        req = DeblurRequest(
            source_name=layer.name,
            image=layer_data(layer),
            axes=axes,
            method_kind=kind,
            method_name=name,
            psf=self.psf_edit.text().strip() or None,
            iterations=int(self.iterations_spin.value()),
            balance=float(self.balance_spin.value()),
            device="auto",
            scope=f"focus below threshold ({self.unit})",
            layer_props=_layer_props(layer),
        )
        check_request(req)
        halo = None if self.halo_spin.value() < 0 else int(self.halo_spin.value())
        selection = {
            "threshold": self.threshold,
            "scores": self.scores.copy(),
            "tile": tile,
            "halo": halo,
        }
        return req, selection

    def run(self) -> FocusRun | None:
        """Start deblurring the soft tiles or slices; bad settings go to a notification."""
        if self.run_handle is not None and self.run_handle.is_running:
            notify_info("a run is in progress; cancel it first")
            return None
        try:
            req, selection = self.build_request()
        except (ValueError, TypeError, OSError) as error:
            notify_error(describe_error(error))
            self.status_label.setText(describe_error(error))
            return None
        n_soft = int(self._selective.select_below(selection["scores"],
                                                  selection["threshold"]).sum())
        if n_soft == 0:
            message = (f"no {self.unit} of {req.source_name!r} score below "
                       f"{selection['threshold']:.4g}: nothing to deblur, no layer added")
            notify_info(message)
            self.status_label.setText(message)
            return None
        run = FocusRun(self.viewer, req, selection, on_done=self._run_done,
                       on_progress=self._run_progress).start()
        self._own(run.worker)
        self.run_handle = self.last_run = run
        self.run_button.setEnabled(False)
        self.score_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress_bar.setRange(0, 0)
        self.status_label.setText(
            f"deblurring {n_soft} soft {self.unit} of {req.source_name} with "
            f"{req.method_name}..."
        )
        return run

    def cancel(self) -> None:
        """Stop the run after its current tile, or the scoring after its current plane."""
        if self._score_worker is not None and self.run_handle is None:
            self._score_worker.quit()
            return
        if self.run_handle is not None:
            self.run_handle.cancel()
            if not self.closed:
                self.status_label.setText("cancelling after the current tile...")

    def _run_done(self, run: FocusRun) -> None:
        if run is self.run_handle:
            self.run_handle = None
        if self.closed:
            return
        self.run_button.setEnabled(True)
        self.score_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1 if run.layer is not None else 0)
        if run.layer is not None:
            meta = run.layer.metadata["microdeblur"]
            focus = meta["focus"]
            self.status_label.setText(
                f"added {run.layer.name!r}: {focus['deblurred']} of {focus['units']} "
                f"{'tiles' if focus['focus_tile'] else 'slices'} deblurred in "
                f"{meta['seconds']:.1f} s on {meta['device']}"
            )
        elif run.error is not None:
            self.status_label.setText(f"failed: {describe_error(run.error)}")
        else:
            self.status_label.setText("cancelled; no layer added")

    def _disconnect_viewer(self) -> None:
        self._threshold_timer.stop()
        try:
            SESSION_MODELS.changed.disconnect(self._refresh_methods)
        except (TypeError, ValueError, RuntimeError):
            pass
        try:
            self.viewer.dims.events.current_step.disconnect(self._on_dims)
        except (TypeError, ValueError, RuntimeError):
            pass
        self.layer_combo.disconnect_viewer()
        self.good_combo.disconnect_viewer()
