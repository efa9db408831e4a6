"""Focus QC dock: score an image layer's focus per tile (a heatmap layer over the image) or per
slice (a plot), set a threshold on the scores (typed, or calibrated on a known-good layer), and
deblur only the tiles or slices below it. Tiles of background noise only
(``core.focus.structure_tiles``: sparse fluorescence) are left out of the default threshold,
the calibration and the deblur, and the status says how many.

The scores come from ``core.focus.iter_focus_scores`` and the deblurring from
``core.selective.iter_deblur_selected``, both in napari workers (``_focus_job.iter_focus_job``:
an estimated PSF and 'auto' settings settled on each soft plane, as the command line does);
the method panel, the run and the result layer's placement are the Deblur dock's parts; the
threshold's views and calibration are ``_focus_threshold``. The user's layers are never
modified.
"""

from __future__ import annotations

import weakref

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFormLayout, QGroupBox, QWidget

from ._controls import LogSpinBox, button, combo, double_spin, label, spin
from ._dock_scroll import scroll_body
from ._feedback import describe_error, notify_error, notify_info
from ._focus_data import (
    DataWatch,
    ScoreCache,
    all_soft_hint,
    auto_focus_tile,
    counted,
    image_type_note,
    nothing_below,
    refuse_rgba,
    sharpest_note,
)
from ._focus_job import Selection, iter_focus_job, recorded_layer, settled_layer, settled_note
from ._focus_threshold import ThresholdMixin
from ._focus_views import FocusOverlays, one_unit_hint, plane_yx, tiles_words, time_plot
from ._header_reads import HeaderReads
from ._jobs import (
    DeblurRequest,
    DeblurRun,
    check_request,
    planned_label,
    removed_note,
)
from ._layer_data import focus_deblurred_layer, source_placement
from ._layers import LayerCombo, layer_data, unwrap
from ._methods import AUTO, SESSION_MODELS
from ._panels import ImagePanel, MethodPanel, RunControls, row
from ._plot import LinePlot
from ._run_status import fallback_note, warnings_note
from ._workers import RunDockMixin, WorkerOwnerMixin, start_worker

UNITS = ("tiles", "slices")


class FocusWidget(ThresholdMixin, RunDockMixin, WorkerOwnerMixin, QWidget):
    """Plugins > napari-microdeblur > Focus QC."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # the core (and torch) is imported when the dock opens, not when napari starts
        from ..core import focus, selective

        self._focus, self._selective = focus, selective
        self.viewer = napari_viewer
        self.init_workers()
        self.scores: np.ndarray | None = None
        self.structure: np.ndarray | None = None  # the scored tiles with structure
        self._score_key = None
        self._score_worker = None
        self._score_layer = None  # weak reference to the layer being scored
        self._score_stop = "scoring cancelled"  # what the status says if scoring stops early
        # scores of a layer whose data was replaced, or edited (in place too), are stale even
        # when the array keeps its id
        self.data_watch = DataWatch(self.update_threshold_view, self)
        self.score_cache = ScoreCache()  # a layer chosen again shows its scores
        self._auto_threshold = True  # set from each scoring until the user types or calibrates
        self.channel_thresholds = None  # one per channel (C axis), else the spin box's for all
        self._channel_how = ""
        self.calibration = None  # the last calibration (_focus_data.Calibration) until typed
        self._tile_picked = False  # until the user sets a tile, each layer gets auto_focus_tile
        self.overlays = FocusOverlays(napari_viewer)
        self.calibration_reads = HeaderReads()  # the known-good layer's file header
        self.run_handle: DeblurRun | None = None
        self.last_run: DeblurRun | None = None
        layout = scroll_body(self)  # a dock fits a 1080-px screen: it scrolls
        self.image = ImagePanel(
            napari_viewer,
            "Image layer to score and deblur (2D, a stack, or RGB). Labels, points and "
            "shapes layers are not offered.",
            "Axes of the layer, one letter per dimension: T time, C channel, Z depth, Y, X, S "
            "RGB samples (e.g. YX, ZYX, YXS). Guessed from the layer; edit if wrong.")
        layout.addWidget(self.image)
        self._add_score_controls(self.image.form)
        layout.addWidget(self.score_button)
        layout.addWidget(self._threshold_box(napari_viewer))
        self.plot = LinePlot("focus score per slice", "slice")
        self.plot.setToolTip(
            "Focus score of every slice (blue), the soft ones (red) and the threshold (grey); "
            "the dashed line marks the current slice.")
        self.plot.setVisible(False)
        layout.addWidget(self.plot)
        self.time_plot = time_plot()  # shown for a stack with a T axis: focus drift
        layout.addWidget(self.time_plot)
        self._add_method_controls(layout)
        layout.addStretch(1)
        self._threshold_timer = QTimer(self)
        self._threshold_timer.setSingleShot(True)
        self._threshold_timer.setInterval(120)  # typing or holding an arrow: redraw once
        self._connect()
        self._on_layer_changed()
        self.connect_good_combo()  # a sharp reference open: the Good layer box takes it

    # ------------------------------------------------------------------ assembling

    def _add_score_controls(self, form: QFormLayout) -> None:
        self.layer_combo, self.axes_edit = self.image.layer_combo, self.image.axes_edit
        self.unit_combo = combo([("per tile (heatmap)", "tiles"), ("per slice (plot)", "slices")],
                                "Per tile: each plane is cut into squares, scored, shown as a "
                                "heatmap layer over the image, and only soft squares are "
                                "deblurred. Per slice: one score per plane of a stack, plotted "
                                "against the slice, and only soft planes are deblurred.")
        self.tile_spin = spin(8, 8192, 256, "Side of the scored squares in pixels (per-tile "
                              "scoring only). Smaller tiles follow the focus more closely but "
                              "score fewer structures each. Until you set one, each layer "
                              "gets the largest of 256, 128, 64 or 32 px that cuts its shorter "
                              "side into 4 or more.", step=32, suffix=" px")
        form.addRow("Score", row(self.unit_combo, self.tile_spin))
        self.offset_spin = double_spin(
            0.0, 1e9, 0.0, "The camera's dark level (offset) in the layer's units, e.g. 100 "
            "for many sCMOS cameras: subtracted (clipped at 0) before scoring. An offset left "
            "in lowers every score by (mean / (mean - offset))^2, so a threshold would not "
            "carry to an acquisition of other brightness. Calibrate with the same value you "
            "score with. 0: the pixels as they are.", decimals=3, step=10.0)
        form.addRow("Camera offset", self.offset_spin)
        self.score_button = button(
            "Score", "Compute the focus scores (band-pass energy over mean intensity squared; "
            "higher is sharper) in the background and show them. A camera offset or added "
            "background lowers every score (+1 on an image of 0.1 to 0.9: about 9x lower): "
            "set Camera offset to the dark level, or compare and calibrate only layers with "
            "the same offset. Tiles of background noise only are left out of the threshold "
            "and the deblur.")

    def _threshold_box(self, viewer) -> QGroupBox:
        from napari.layers import Image

        box = QGroupBox("Threshold")
        form = QFormLayout(box)
        self.threshold_spin = LogSpinBox(special="auto")  # 0: half the median, as it says
        self.threshold_spin.setToolTip(
            "Tiles or slices scoring below this are 'soft' and get deblurred. Type a value "
            "(e.g. 0.002 or 2e-3); the arrows step by about 26% (ten steps a decade). Until "
            "you type or calibrate one (auto, or 0), each scoring sets it to half the "
            "median score of the layer scored.")
        form.addRow("Focus below", self.threshold_spin)
        self.good_combo = LayerCombo(
            viewer, (Image,), none_label="(known-good layer)",
            tooltip="An image layer known to be in focus, of the same kind of sample and "
                    "imaging, to calibrate the threshold on.")
        self.percentile_spin = double_spin(
            0.0, 100.0, 5.0, "Calibration percentile: the threshold becomes this percentile "
            "of the known-good layer's scores (5%: one in twenty good tiles or slices would be "
            "called soft).", decimals=1, suffix=" %")
        form.addRow("Good layer", row(self.good_combo, self.percentile_spin))
        self.calibrate_button = button(
            "Calibrate from layer...", "Score the known-good layer the same way (same tiles "
            "or per slice) and set the threshold to the chosen percentile of its scores. It "
            "holds for that unit, tile and camera offset: a Score with others uses the "
            "automatic threshold and says so.")
        form.addRow("", self.calibrate_button)
        self.count_label = label("How many tiles or slices are below the threshold.",
                                 "not scored yet", wrap=False)
        form.addRow("", self.count_label)
        return box

    def _add_method_controls(self, layout) -> None:
        self.method = MethodPanel(
            "Method", "How the soft tiles or slices are deblurred: the bundled default model "
            "for the Image type below (as the Deblur dock's 'auto' picks it; EM and "
            "brightfield with a PSF estimated from the image), other bundled or session "
            "weights, or a classical deconvolution with a PSF.",
            leading=[("default model (the layer's image type)", AUTO)], image_types=True)
        self.method_combo = self.method.combo
        # as in the Deblur dock: the type the layer's metadata states until the user picks one
        # (a file opened by the user states none: 'auto', grayscale ran fluorescence on EM)
        self.modality_combo = self.method.modality_combo
        self.psf_box = self.method.classical_box
        self.psf_edit = self.psf_box.psf_edit
        self.iterations_spin = self.psf_box.iterations_spin
        self.balance_spin = self.psf_box.balance_spin
        self.halo_spin = spin(
            -1, 1024, -1, "Per-tile deblurring reads this many pixels around each soft tile "
            "(the halo) and keeps only the tile, so it comes out as in a whole-image deblur. "
            "'method default' uses the method's reach: the network's receptive field, or twice "
            "the PSF radius (at least 32 px) for classical methods.",
            suffix=" px", special="method default")
        self.method.form.addRow("Halo", self.halo_spin)
        layout.addWidget(self.method)
        self.controls = RunControls(
            "Deblur soft tiles", "Deblur, in the background, only the tiles or slices below "
            "the threshold; the others are copied unchanged into a new layer.",
            "Stop deblurring after the current tile (no layer is added), or stop scoring after "
            "the current plane.", "Planes scored, or tiles deblurred, so far.",
            "What the last step did.")
        c = self.controls
        self.run_button, self.cancel_button = c.run_button, c.cancel_button
        self.progress_bar, self.status_label = c.progress_bar, c.status_label
        layout.addWidget(self.controls)

    def _connect(self) -> None:
        self._threshold_timer.timeout.connect(self.update_threshold_view)
        self.layer_combo.currentIndexChanged.connect(self._on_layer_changed)
        self.unit_combo.currentIndexChanged.connect(self._on_settings_changed)
        self.tile_spin.valueChanged.connect(self._tile_was_picked)
        self.tile_spin.valueChanged.connect(self._on_settings_changed)
        self.image.changed.connect(self._on_axes_set)  # axes from a file header, read later
        self.offset_spin.valueChanged.connect(self._on_settings_changed)
        self.axes_edit.editingFinished.connect(self._on_settings_changed)
        self.threshold_spin.valueChanged.connect(self._threshold_changed)
        self.score_button.clicked.connect(self.score)
        self.calibrate_button.clicked.connect(self.calibrate)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.viewer.dims.events.current_step.connect(self._on_dims)
        self.viewer.layers.events.removed.connect(self._on_layer_removed)

    # ------------------------------------------------------------------ settings

    @property
    def unit(self) -> str:
        return self.unit_combo.currentData()

    @property
    def camera_offset(self) -> float:
        """The dark level subtracted before scoring (``core.focus.focus_score``)."""
        return float(self.offset_spin.value())

    @property
    def heatmap_layer(self):
        return self.overlays.heatmap_layer

    @property
    def outline_layer(self):
        return self.overlays.outline_layer

    def _on_layer_changed(self, *_) -> None:
        stack = any(a not in "YXS" for a in self.axes_edit.text())
        self.unit_combo.blockSignals(True)
        self.unit_combo.setCurrentIndex(UNITS.index("slices" if stack else "tiles"))
        self.unit_combo.blockSignals(False)
        self._set_auto_tile()
        self._follow_layer_type()
        self._on_settings_changed()

    def set_modality(self, modality: str) -> None:
        """Choose the image type ('auto', 'em', 'fluorescence', 'brightfield'); it then stays
        across layers (``MethodPanel.set_modality``)."""
        self.method.set_modality(modality)

    def _follow_layer_type(self) -> None:
        self.method.follow_layer(self.layer_combo.value)

    def _tile_was_picked(self, *_) -> None:
        self._tile_picked = True

    def _on_axes_set(self) -> None:
        if self._set_auto_tile():
            self._on_settings_changed()

    def _set_auto_tile(self) -> bool:
        """Give the chosen layer ``auto_focus_tile`` unless the user has set a tile; whether
        the tile changed. A 256 px default on a 256 px image made one tile, which can never
        score below half its own score."""
        layer = self.layer_combo.value
        if self._tile_picked or layer is None:
            return False
        shape = layer_data(layer).shape
        axes = self.axes_edit.text().strip().upper()
        if len(axes) == len(shape) and "Y" in axes and "X" in axes:
            yx = (shape[axes.index("Y")], shape[axes.index("X")])
        else:  # axes not readable yet: napari's last two spatial dims
            yx = shape[-3:-1] if layer.rgb else shape[-2:]
        if len(yx) < 2:
            return False
        tile = auto_focus_tile(*yx)
        if tile == self.tile_spin.value():
            return False
        self.tile_spin.blockSignals(True)  # not the user's choice
        self.tile_spin.setValue(tile)
        self.tile_spin.blockSignals(False)
        return True

    def _on_settings_changed(self, *_) -> None:
        tiles = self.unit == "tiles"
        self.tile_spin.setEnabled(tiles)
        self.run_button.setText(f"Deblur soft {self.unit}")
        self.plot.setVisible(not tiles)
        if not self._restore_scores():
            self.update_threshold_view()

    def _restore_scores(self) -> bool:
        """Show the chosen layer's kept scores for these settings (``score_cache``), if any."""
        try:
            layer, axes, tile = self.score_settings()
        except ValueError:
            return False
        key = self._key_for(layer, axes, tile)
        kept = None if key == self._score_key else self.score_cache.get(key, layer)
        if kept is not None:
            self.show_scores(layer, axes, tile, kept[0], key, structure=kept[1])
        return kept is not None

    def score_settings(self):
        """(layer, axes, tile or None) for scoring; raises ValueError saying what to fix."""
        layer, axes = self.image.checked()
        refuse_rgba(layer, axes)
        tile = int(self.tile_spin.value()) if self.unit == "tiles" else None
        return layer, axes, tile

    def _key_for(self, layer, axes, tile):
        return (id(unwrap(layer)), id(layer_data(layer)), self.data_watch.version(layer), axes,
                tile, self.camera_offset)

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
            gen = self._focus.iter_focus_scores(layer_data(layer), axes=axes, tile=tile,
                                                camera_offset=self.camera_offset)
        except (ValueError, TypeError) as error:
            self._refuse(error)
            return None
        if self._score_worker is not None:
            self._score_worker.quit()
        self.data_watch.check(layer)  # the pixels scored, to tell later edits by
        key = self._key_for(layer, axes, tile)
        layer_ref = unwrap(layer)
        structure_of = self._structure_job(layer_data(layer), axes, tile)

        def job():
            scores = yield from structure_of(gen, 0)
            return scores, (yield from structure_of(None, 1))

        def done(value):
            if self.closed or worker is not self._score_worker:
                return
            self._score_worker = None
            scores, structure = value
            if layer_ref in self.viewer.layers:
                self.show_scores(layer_ref, axes, tile, scores, key, structure=structure)
            else:  # removed just as the last plane was scored
                self._scoring_stopped(self._removed_message(layer_ref))

        def failed(error):
            if worker is self._score_worker:
                self._score_worker = None
            notify_error(f"Scoring {layer_ref.name!r} failed: {describe_error(error)}")
            if not self.closed:
                self.status_label.setText(f"scoring failed: {describe_error(error)}")

        worker = start_worker(self, job, yielded=self.show_run_progress, returned=done,
                              errored=failed, finished=lambda: self._score_finished(worker),
                              start=False)
        self._score_worker = worker
        self._score_layer = weakref.ref(layer_ref)
        self._score_stop = "scoring cancelled"
        self.cancel_button.setEnabled(True)
        self.progress_bar.setRange(0, 0)
        self.status_label.setText(f"scoring {layer.name}...")
        worker.start()
        return worker

    def _structure_job(self, data, axes: str, tile: int | None):
        """``part(scoring, 0)`` runs the scoring generator, ``part(None, 1)`` then finds the
        tiles (or slices) with structure; each fills half the progress bar. A blank slice,
        scored softest, had been selected and 'deblurred' (its zeros made non-zero)."""
        from ..core.progress import ScoreProgress, map_records

        def part(scoring, half: int):
            if scoring is not None:
                run = scoring
            elif tile is None:
                run = self._focus.iter_structure_planes(data, axes=axes)
            else:
                run = self._focus.iter_structure_tiles(data, axes=axes, tile=tile)
            return (yield from map_records(run, lambda r: ScoreProgress(
                r.done + half * r.total, 2 * r.total)))

        return part

    def _score_finished(self, worker) -> None:
        if worker is self._score_worker:  # quit before it returned: cancelled
            self._score_worker = None
            self._scoring_stopped(self._score_stop)
        if not self.closed and self.run_handle is None:
            self.cancel_button.setEnabled(self._score_worker is not None)

    def _scoring_stopped(self, message: str) -> None:
        if not self.closed:
            self.status_label.setText(message)
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)

    @staticmethod
    def _removed_message(layer) -> str:
        return (f"scoring stopped: layer {layer.name!r} was removed from the viewer, so no "
                "scores were kept; choose another layer and press Score")

    def _on_layer_removed(self, event) -> None:
        """Stop scoring a layer the user removed (a large stack would score on for nothing)."""
        layer = unwrap(event.value)
        scoring = self._score_layer() if self._score_layer is not None else None
        if self._score_worker is not None and scoring is layer:
            self._score_stop = self._removed_message(layer)
            self._score_worker.quit()

    def show_scores(self, layer, axes: str, tile: int | None, scores, key=None,
                    structure=None) -> None:
        """Keep ``scores`` of ``layer`` and show them (heatmap, or plot). ``structure``: which
        tiles hold structure (``focus.structure_tiles``; None: all)."""
        self.scores = np.asarray(scores, dtype=np.float64)
        self.structure = (np.ones(self.scores.shape, dtype=bool) if structure is None
                          else np.asarray(structure, dtype=bool))
        self._score_key = key if key is not None else self._key_for(layer, axes, tile)
        self.score_cache.put(self._score_key, layer, self.scores, self.structure)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1)
        # an automatic threshold follows the layer scored; a typed one stays, a calibrated one
        # with its settings (the key's last item: the camera offset of these scores)
        threshold_note = self.threshold_for_scores(tile, self._score_key[-1])
        finite = self.scores[np.isfinite(self.scores) & self.structure]
        span = f"{finite.min():.3g} to {finite.max():.3g}" if finite.size else "no finite score"
        shape = layer_data(layer).shape
        what = tiles_words(self.scores.size, tile, plane_yx(shape, axes)) if tile else \
            counted(max(1, self.scores.size), "slice")
        line = f"scored {layer.name}: {what}, scores {span}{self._blank_note()}"
        if not tile:
            loop = self._selective.score_axes(axes)
            line += self.sharpest_line(loop, sharpest_note(self.scores, loop, self.structure))
        line += threshold_note + self._one_unit_note(shape, axes)
        mask = self.soft_mask()
        if finite.size and mask is not None and mask.sum() == finite.size:  # said, not painted
            line += all_soft_hint(finite.size, self.unit, self.threshold)
        self.status_label.setText(line)
        if tile:
            self.overlays.show_heatmap(layer, axes, self.scores, tile)
        self.update_threshold_view()

    def _one_unit_note(self, shape, axes: str) -> str:
        """``one_unit_hint`` where one tile or slice alone was scored under the automatic
        threshold (''): it can never select anything."""
        if self.scores is None or self.scores.size != 1 or not self._auto_threshold:
            return ""
        yx = plane_yx(shape, axes)
        return one_unit_hint(self.unit, yx, auto_focus_tile(*yx))

    # ------------------------------------------------------------------ running

    def method_choices(self) -> list[str]:
        return self.method.choices()

    def set_method(self, name: str) -> None:
        self.method.set_name(name)

    def build_request(self) -> tuple[DeblurRequest, Selection]:
        """The run's request and selection; raises ValueError saying what to fix."""
        layer, axes, tile = self.score_settings()
        self.data_watch.check(layer)  # pixels edited in place since, without layer.refresh()
        if not self.scores_fresh():
            raise ValueError(
                f"score {layer.name!r} first (press Score): the threshold applies to the "
                "scores of the chosen layer with the current tile setting"
            )
        name = self.method.name
        network = SESSION_MODELS.get(name)
        spec = self.method.spec(AUTO if (name == AUTO or network is not None) else name)
        if name == AUTO:  # the spec stays 'auto', so a grayscale default runs RGB per channel
            spec, name = self._default_model(axes, spec)
        req = DeblurRequest(
            source_name=layer.name, image=layer_data(layer), axes=axes,
            method=spec, label=name,
            network=network, scope=f"focus below threshold ({self.unit})",
            placement=source_placement(layer),
            psf_text=self.method.psf_text or "",  # named in the result, as the Deblur dock does
        )
        from ..core.channel_psfs import one_psf_only
        from ..core.psf_fit import check_psf_model_fits

        one_psf_only(req.method)  # selective deblurring runs one PSF: said before the count
        check_request(req)

        if req.network is None:
            check_psf_model_fits(req.method, axes, tuple(req.image.shape),
                                 image=f"layer {layer.name!r}")
        halo = None if self.halo_spin.value() < 0 else int(self.halo_spin.value())
        # tiles without structure get no score, so the core never selects them; per-channel
        # thresholds reach the core's one threshold as the selected units' scores only
        scores, threshold, made = self.selection_for_core(focus_deblurred_layer)
        self._result_layer = settled_layer(recorded_layer(  # plane settings, offset, origin
            made, self._score_key[-1], self.threshold_origin()))
        return req, Selection(threshold, scores, tile, halo)

    @staticmethod
    def _default_model(axes: str, spec):
        """('auto' for the dock's Image type, the network it runs): the spec carries the Image
        type, which follows the layer's metadata as the Deblur dock's does until picked."""
        from ..core import bundled

        if not bundled.BUNDLED_WEIGHTS:
            raise ValueError("no default weights are installed; choose a classical method (with "
                             "a PSF) or load weights in the Deblur dock")
        return spec, bundled.auto_method_name(spec, "S" in axes)

    def run(self) -> DeblurRun | None:
        """Start deblurring the soft tiles or slices; bad settings go to a notification."""
        if self.refuse_while_running():
            return None
        try:
            req, selection = self.build_request()
        except (ValueError, TypeError, OSError) as error:
            self._refuse(error)
            return None
        n_soft = int(self._selective.select_below(selection.scores, selection.threshold).sum())
        if n_soft == 0:
            message = (nothing_below(self.unit, req.source_name, selection.threshold,
                                     self.structure.any())
                       + self._one_unit_note(req.image.shape, req.axes))
            notify_info(message)
            self.status_label.setText(message)
            return None
        unit = "tiles" if selection.tile else "slices"
        run = DeblurRun(
            self.viewer, req, on_done=self._run_done, on_progress=self.show_run_progress,
            job=iter_focus_job, job_args=(selection,), layer=self._result_layer,
            description=f"Deblurring soft {unit} of {req.source_name} [{planned_label(req)}]",
        )
        self.track_run(run)
        self.score_button.setEnabled(False)
        self.status_label.setText(f"deblurring {counted(n_soft, 'soft ' + self.unit[:-1])} of "
                                  f"{req.source_name} with {planned_label(req)}...")
        return run

    def _refuse(self, error: BaseException) -> None:
        notify_error(describe_error(error))
        self.status_label.setText(describe_error(error))

    def cancel(self) -> None:
        """Stop the run after its current tile, or the scoring after its current plane."""
        if self._score_worker is not None and self.run_handle is None:
            self._score_worker.quit()
            return
        self.cancel_run()

    def _run_done(self, run: DeblurRun) -> None:
        if not self.run_finished(run):
            return
        self.score_button.setEnabled(True)
        if run.layer is None:
            return
        meta = run.layer.metadata["microdeblur"]
        focus = meta["focus"]
        unit = "tile" if focus["focus_tile"] else "slice"
        line = (f"added {run.layer.name!r}: {focus['deblurred']} of "
                f"{counted(focus['units'], unit)} deblurred in {meta['seconds']:.1f} s on "
                f"{meta['device']}{settled_note(run)}{image_type_note(run.req)}"
                f"{fallback_note(run)}{removed_note(run)}")
        self.status_label.setText(line + warnings_note(run, line))  # nothing said twice

    def release_viewer(self) -> None:
        self._threshold_timer.stop()
        self.overlays.stop()
        self.method.release()
        try:
            self.viewer.dims.events.current_step.disconnect(self._on_dims)
        except (TypeError, ValueError, RuntimeError):
            pass
        try:
            self.viewer.layers.events.removed.disconnect(self._on_layer_removed)
        except (TypeError, ValueError, RuntimeError):
            pass
        self.data_watch.release()
        self.calibration_reads.release()
        self.image.release()
        self.release_good_combo()
        self.good_combo.disconnect_viewer()
