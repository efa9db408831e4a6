"""Fine-tune dock: adapt a network to the user's own paired data with
``core.finetune.iter_finetune`` in a napari worker.

Training pairs come from two layers of the same shape (blurry, sharp) or from one z-stack and
its in-focus plane (found by focus score or given), each plane aligned to its reference by
translation. Validation holds out whole planes. Stop ends the run after the current step and
keeps the best checkpoint (by validation PSNR), written as ``best.safetensors`` with its model
card; it becomes a method of the Deblur dock, ``<base> fine-tuned on <layer>``. Save... copies
that file (so its sha256 is the one recorded in layers deblurred with it). Preview pauses the
training between two steps and deblurs the current slice with the weights as they are.
"""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QLineEdit,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ._controls import button, combo, double_spin, label, spin
from ._feedback import describe_error, notify_error, notify_info, notify_warning
from ._jobs import DeblurRequest, DeblurRun
from ._layer_data import add_layer, preview_layer, source_placement
from ._layers import LayerCombo, check_image_layer, guess_layer_axes, layer_data, scope_selection
from ._methods import SESSION_MODELS, SessionModel
from ._panels import DeviceRow, MethodPanel, form_layout, row
from ._plot import LinePlot
from ._workers import WorkerOwnerMixin, start_worker

MODES = ("two layers (blurry, sharp)", "z-stack + in-focus plane")

_CHECKPOINT_DIRS: list[str] = []


def checkpoint_dir() -> str:
    """A fresh folder for one run's checkpoints; removed when Python exits (the fine-tuned
    weights of the session live in memory and in that folder until then, for Save...)."""
    if not _CHECKPOINT_DIRS:
        atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True) for d in _CHECKPOINT_DIRS])
    path = tempfile.mkdtemp(prefix="microdeblur-finetune-")
    _CHECKPOINT_DIRS.append(path)
    return path


def minutes_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class FinetuneWidget(WorkerOwnerMixin, QWidget):
    """Plugins > napari-microdeblur > Fine-tune."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ..core import finetune

        self._finetune = finetune
        self.viewer = napari_viewer
        self.init_workers()
        self.worker = None
        self.request = None  # core.finetune.FinetuneRequest of the run
        self.outcome = None  # core.finetune.FinetuneResult of the last run
        self.session_label: str | None = None
        self.preview_layer = None
        self.preview_run = None
        self._last_step = 0
        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)
        self._add_pair_controls(form)
        self.base = MethodPanel(
            "Base model", "The network to start from: bundled weights or weights loaded (or "
            "fine-tuned) in this session (Deblur dock > Load weights...).", classical=False,
            card_tooltip="Model card of the base model.")
        self.base_combo = self.base.combo
        self.card_label = self.base.card_view.summary_label
        layout.addWidget(self.base)
        layout.addWidget(self._training_controls())
        self._add_run_controls(layout)
        layout.addStretch(1)
        self.mode_combo.currentIndexChanged.connect(self._mode_changed)
        self.blurry_combo.currentIndexChanged.connect(self._guess_axes)
        self.stack_combo.currentIndexChanged.connect(self._guess_axes)
        self.base.changed.connect(self._base_changed)
        self.focus_button.clicked.connect(self.find_focus)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.preview_button.clicked.connect(self.preview)
        self.save_button.clicked.connect(self._choose_save)
        self._base_changed()
        self._mode_changed()
        self._set_running(False)

    # ------------------------------------------------------------------ assembling

    def _add_pair_controls(self, form: QFormLayout) -> None:
        from napari.layers import Image

        viewer = self.viewer
        self.mode_combo = combo(MODES, (
            "Where training pairs come from: two layers of the same shape (blurry input, sharp "
            "target, paired plane by plane) or one z-stack whose planes are all paired to its "
            "in-focus plane."))
        form.addRow("Pairs from", self.mode_combo)
        pair_page, stack_page = QWidget(), QWidget()
        pair_form, stack_form = form_layout(pair_page), form_layout(stack_page)
        self.blurry_combo = LayerCombo(viewer, (Image,),
                                       tooltip="Blurry (input) layer of the training pairs.")
        self.sharp_combo = LayerCombo(viewer, (Image,),
                                      tooltip="Sharp (target) layer, same shape as the blurry.")
        pair_form.addRow("Blurry", self.blurry_combo)
        pair_form.addRow("Sharp", self.sharp_combo)
        self.stack_combo = LayerCombo(viewer, (Image,),
                                      tooltip="A z-stack (ZYX) through focus of one field.")
        stack_form.addRow("Stack", self.stack_combo)
        self.focus_spin = spin(-1, 100000, -1, (
            "Index of the in-focus plane; 'auto' picks the sharpest plane by focus score "
            "when training starts."), special="auto")
        self.focus_button = button("Find", "Find the in-focus plane now by focus score; you "
                                   "can edit it.")
        stack_form.addRow("In-focus plane", row(self.focus_spin, self.focus_button))
        self.pages = QStackedWidget()
        self.pages.addWidget(pair_page)
        self.pages.addWidget(stack_page)
        form.addRow(self.pages)
        self.axes_edit = QLineEdit()
        self.axes_edit.setToolTip(
            "Axes of the training layer(s), e.g. YX, ZYX, YXS (RGB); guessed, edit if wrong.")
        form.addRow("Axes", self.axes_edit)
        self.align_check = QCheckBox("align planes")
        self.align_check.setToolTip(
            "Register each input plane to its target by subpixel translation (phase correlation).")
        self.match_check = QCheckBox("match intensities")
        self.match_check.setToolTip(
            "Affine-match the target's intensities to the input (real pairs differ in exposure "
            "and bleaching). Untick for synthetic pairs already in the same units.")
        for check in (self.align_check, self.match_check):
            check.setChecked(True)
        form.addRow("", row(self.align_check, self.match_check))

    def _training_controls(self) -> QWidget:
        box = QWidget()
        form = form_layout(box)
        self.steps_spin = spin(1, 1_000_000, 200, "Training steps (each one batch of patches).")
        self.patch_spin = spin(8, 1024, 64, (
            "Side of the square training patches in pixels (a multiple of the network's size "
            "divisor; at most the size of the images)."), step=16)
        self.batch_spin = spin(1, 512, 8, "Patches per step.")
        self.lr_spin = double_spin(0.000001, 1.0, 0.0001, "Peak learning rate (Adam, warm-up "
                                   "then cosine decay).", decimals=6, step=0.00005)
        self.val_spin = double_spin(0.0, 0.9, 0.2, (
            "Fraction of whole planes held out for validation (never crops of a training "
            "plane); 0 keeps the last weights instead of the best."), decimals=2, step=0.05)
        self.device_row = DeviceRow("Where to train: auto picks CUDA, then MPS, then the CPU.")
        self.device_combo = self.device_row.combo
        for text, widget in (("Steps", self.steps_spin), ("Patch size", self.patch_spin),
                             ("Batch size", self.batch_spin), ("Learning rate", self.lr_spin),
                             ("Validation fraction", self.val_spin),
                             ("Device", self.device_row)):
            form.addRow(text, widget)
        return box

    def _add_run_controls(self, layout) -> None:
        self.start_button = button("Start", "Build the training pairs and start fine-tuning.")
        self.stop_button = button("Stop", "Stop after the current step and keep the best "
                                  "weights so far.")
        self.preview_button = button("Preview", (
            "Pause training and deblur the current slice with the weights as they are now; "
            "training resumes when the preview is shown."))
        self.save_button = button("Save...", "Write the fine-tuned weights (.safetensors with "
                                  "their model card).")
        layout.addLayout(row(self.start_button, self.stop_button, self.preview_button,
                             self.save_button))
        from qtpy.QtWidgets import QProgressBar

        self.progress_bar = QProgressBar()
        self.progress_bar.setToolTip("Training steps done.")
        layout.addWidget(self.progress_bar)
        self.status_label = label("Step, loss, validation PSNR and the estimated time left.")
        layout.addWidget(self.status_label)
        self.loss_plot = LinePlot("training loss", "step")
        self.loss_plot.setToolTip("Training loss after every step.")
        self.val_plot = LinePlot("validation PSNR (dB)", "step")
        self.val_plot.setToolTip(
            "Validation PSNR (reference scale, see docs/evaluation.md) at each validation; "
            "step 0 is the input itself (no deblurring).")
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.val_plot)

    # ------------------------------------------------------------------ controls

    @property
    def mode(self) -> str:
        return "pair" if self.mode_combo.currentIndex() == 0 else "stack"

    def _mode_changed(self, *_) -> None:
        self.pages.setCurrentIndex(self.mode_combo.currentIndex())
        self._guess_axes()

    def _source_layer(self):
        return self.blurry_combo.value if self.mode == "pair" else self.stack_combo.value

    def _guess_axes(self, *_) -> None:
        layer = self._source_layer()
        self.axes_edit.setText(guess_layer_axes(layer) if layer is not None else "")

    def set_base(self, name: str) -> None:
        index = self.base_combo.findData(name)
        if index < 0:
            raise ValueError(f"base model {name!r} is not offered")
        self.base_combo.setCurrentIndex(index)

    def _base_changed(self, *_) -> None:
        if self.base.name is None:
            self.base.card_view.show_message(
                "no network yet: load weights in the Deblur dock (Load weights...)")

    def find_focus(self):
        """Find the in-focus plane of the stack layer in a worker and put it in the spin box."""
        from ..core.focus import best_focus_plane

        layer = self.stack_combo.value
        try:
            check_image_layer(layer, "stack")
        except ValueError as error:
            notify_error(describe_error(error))
            return None
        axes = self.axes_edit.text().strip().upper() or None

        def found(z):
            if not self.closed:
                self.focus_spin.setValue(int(z))
                notify_info(f"in-focus plane of {layer.name!r}: {z} (by focus score)")

        return start_worker(self, best_focus_plane, np.asarray(layer_data(layer)), axes,
                            returned=found,
                            errored=lambda e: notify_error(f"Find focus: {describe_error(e)}"))

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.preview_button.setEnabled(running)
        self.save_button.setEnabled(not running and self.outcome is not None
                                    and self.outcome.model is not None)
        for w in (self.mode_combo, self.base_combo, self.steps_spin, self.patch_spin,
                  self.batch_spin, self.lr_spin, self.val_spin, self.device_combo):
            w.setEnabled(not running)

    # ------------------------------------------------------------------ running

    def _training_data(self) -> tuple[dict, str]:
        """The request's data fields and the name of the layer trained on."""
        if self.mode == "stack":
            st = self.stack_combo.value
            check_image_layer(st, "stack")
            focus = self.focus_spin.value()
            return {"stack": layer_data(st), "focus": "auto" if focus < 0 else int(focus)}, \
                st.name
        b, s = self.blurry_combo.value, self.sharp_combo.value
        check_image_layer(b, "blurry")
        check_image_layer(s, "sharp")
        if b is s:
            raise ValueError("blurry and sharp are the same layer; choose two layers")
        if tuple(layer_data(b).shape) != tuple(layer_data(s).shape):
            raise ValueError(
                f"blurry {b.name!r} has shape {tuple(layer_data(b).shape)} but sharp "
                f"{s.name!r} has {tuple(layer_data(s).shape)}; choose layers of the same shape"
            )
        return {"blurry": layer_data(b), "sharp": layer_data(s)}, b.name

    def build_request(self):
        """Collect the settings into a FinetuneRequest (ValueError says what to change)."""
        name = self.base.name
        if name is None:
            raise ValueError(
                "no base model: load weights in the Deblur dock (Load weights...), or install "
                "bundled weights, then choose one here"
            )
        data, layer_name = self._training_data()
        item = SESSION_MODELS.get(name)
        if item is None:
            from ..core.bundled import load_bundled

            model, card = load_bundled(name)
        else:
            model, card = copy.deepcopy(item.model), item.card
        return self._finetune.FinetuneRequest(
            mode=self.mode, layer_name=layer_name, axes=self.axes_edit.text().strip().upper(),
            model=model, base_label=name, base_card=card, align=self.align_check.isChecked(),
            match_intensity=self.match_check.isChecked(), steps=int(self.steps_spin.value()),
            patch=int(self.patch_spin.value()), batch_size=int(self.batch_spin.value()),
            lr=float(self.lr_spin.value()), val_fraction=float(self.val_spin.value()),
            device=self.device_row.device, checkpoint_dir=checkpoint_dir(), **data,
        )

    def start(self):
        """Start fine-tuning in a worker; bad settings go to a notification."""
        if self.worker is not None and self.worker.is_running:
            notify_info("fine-tuning is already running")
            return None
        try:
            req = self.build_request()
        except (ValueError, TypeError, OSError) as error:
            notify_error(describe_error(error))
            self.status_label.setText(describe_error(error))
            return None
        self.request = req
        self.outcome = None
        self._last_step = 0
        self.loss_plot.clear()
        self.val_plot.clear()
        self.worker = start_worker(self, self._finetune.iter_finetune, req,
                                   yielded=self._yielded, returned=self._returned,
                                   errored=self._errored, finished=self._finished, start=False)
        self.progress_bar.setRange(0, 0)
        self.status_label.setText("building and aligning training pairs...")
        self._set_running(True)
        self.worker.start()
        return self.worker

    def stop(self) -> None:
        """Stop after the current step (any moment: also while pairs are built or paused)."""
        if self.request is not None:
            self.request.stop.set()
        if self.worker is not None and self.worker.is_running:
            self.worker.resume()  # a paused worker must run on to see the stop
            self.status_label.setText("stopping after the current step...")

    def _yielded(self, record) -> None:
        from ..core.progress import Notes

        if self.closed:
            return
        if isinstance(record, Notes):
            self._show_notes(record)
            return
        self._last_step = record.step
        self.progress_bar.setRange(0, record.steps)
        self.progress_bar.setValue(record.step)
        self.loss_plot.append("loss", record.step, record.loss, "#ffb74d")
        if record.validated and record.val_psnr is not None:
            self.val_plot.append("validation PSNR", record.step, record.val_psnr, "#4fc3f7")
        val = "" if record.val_psnr is None else f" · val PSNR {record.val_psnr:.2f} dB"
        self.status_label.setText(
            f"step {record.step}/{record.steps} · loss {record.loss:.4g}{val} · "
            f"{minutes_seconds(record.seconds_left)} left"
        )
        if record.message:
            notify_info(record.message)

    def _show_notes(self, notes) -> None:
        for note in notes.notes:
            notify_warning(note)
        focus = notes.get("focus")
        if focus is not None and self.focus_spin.value() < 0:
            self.focus_spin.setValue(int(focus))
        where = "" if focus is None else f", in-focus plane {focus}"
        self.status_label.setText(
            f"{notes.get('train')} training / {notes.get('val')} validation plane(s){where}; "
            "training..."
        )

    def _returned(self, outcome) -> None:
        self.outcome = outcome
        if self.closed:
            return
        if outcome.model is None:
            self.status_label.setText("stopped before the first step: nothing to keep")
            return
        fit = outcome.result
        for h in (fit.history if fit is not None else ()):
            if h["step"] == 0:
                self.val_plot.set_series("input (no deblurring)", [0, fit.steps_done],
                                         [h["val_psnr"], h["val_psnr"]], "#9e9e9e")
        req = self.request
        label = SESSION_MODELS.add(SessionModel(
            f"{req.base_label} fine-tuned on {req.layer_name}", outcome.model, outcome.card,
            "fine-tuned", {"file": str(outcome.file)},
        ))
        self.session_label = label
        metrics = outcome.card.metrics or {}
        best = (f"best val PSNR {metrics['val_psnr']:.2f} dB at step {metrics.get('step')}"
                if "val_psnr" in metrics else "no validation: last weights kept")
        how = "stopped" if outcome.stopped else "finished"
        self.status_label.setText(
            f"{how} after {self._last_step} step(s); {best}. Added method {label!r} to the "
            "Deblur dock. Save... writes it to a file."
        )
        notify_info(f"fine-tuning {how}: {label!r} is available in the Deblur dock")

    def _errored(self, error) -> None:
        notify_error(f"Fine-tuning failed: {describe_error(error)}")
        if not self.closed:
            self.status_label.setText(f"failed: {describe_error(error)}")

    def _finished(self) -> None:
        if self.closed:
            return
        self.progress_bar.setRange(0, 1)
        kept = self.outcome is not None and self.outcome.model is not None
        self.progress_bar.setValue(1 if kept else 0)
        self._set_running(False)

    # ------------------------------------------------------------------ preview

    def preview(self):
        """Pause training, deblur the current slice with the current weights, then resume."""
        if self.worker is None or not self.worker.is_running or self.request is None:
            notify_info("Preview needs a running fine-tuning")
            return None
        self.preview_button.setEnabled(False)
        self.status_label.setText("pausing for a preview...")
        self.worker.paused.connect(self._paused_for_preview)
        self.worker.pause()
        return self.worker

    def _preview_request(self) -> DeblurRequest:
        from ..core.method import MethodSpec, TilingSpec

        layer = self._source_layer()
        check_image_layer(layer)
        train = self.request
        axes = train.axes or guess_layer_axes(layer)
        keep = getattr(train.base_card, "in_channels", 1) > 1
        key, offset = scope_selection(self.viewer, layer, axes, "current slice", keep)
        label_ = f"{train.base_label} fine-tuning, step {self._last_step}"
        network = SessionModel(label_, copy.deepcopy(train.model).eval(), train.base_card,
                               "preview")
        return DeblurRequest(
            source_name=layer.name, image=layer_data(layer)[key], axes=axes,
            method=MethodSpec(), label=label_, network=network,
            tiling=TilingSpec(device=train.device), scope="current slice", offset=offset,
            placement=source_placement(layer), full_image=layer_data(layer),
        )

    def _paused_for_preview(self) -> None:
        try:
            self.worker.paused.disconnect(self._paused_for_preview)
        except (TypeError, RuntimeError):
            pass
        if self.closed or self.request is None or self.request.stop.is_set():
            self.worker.resume()
            return
        try:
            req = self._preview_request()
        except (ValueError, TypeError) as error:
            notify_error(f"Preview: {describe_error(error)}")
            self.worker.resume()
            self.preview_button.setEnabled(True)
            return
        self.preview_run = DeblurRun(self.viewer, req, layer=None,
                                     on_done=self._preview_done).start()
        self.own_worker(self.preview_run.worker)

    def _preview_done(self, run) -> None:
        if self.worker is not None and self.worker.is_running:
            self.worker.resume()
        if self.closed:
            return
        self.preview_button.setEnabled(self.worker is not None and self.worker.is_running)
        if run.outcome is None:
            return
        image, kwargs, kind = preview_layer(run.req, run.outcome.result.image)
        if self.preview_layer is not None and self.preview_layer in self.viewer.layers:
            self.preview_layer.data = image
            self.preview_layer.name = kwargs["name"]
            self.preview_layer.translate = kwargs["translate"]
        else:
            self.preview_layer = add_layer(self.viewer, (image, kwargs, kind))

    # ------------------------------------------------------------------ saving

    def _choose_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save fine-tuned weights", "", "safetensors (*.safetensors)"
        )
        if path:
            self.save(path)

    def save(self, path: str | os.PathLike) -> Path | None:
        """Copy the fine-tuned checkpoint (weights + model card) to ``path``."""
        if self.outcome is None or self.outcome.file is None:
            notify_error("nothing to save yet: run (or stop) a fine-tuning first")
            return None
        path = Path(path)
        if path.suffix != ".safetensors":
            path = path.with_suffix(path.suffix + ".safetensors") if path.suffix else \
                path.with_suffix(".safetensors")
        if not path.parent.is_dir():
            notify_error(f"folder {str(path.parent)!r} does not exist; choose another place")
            return None
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            shutil.copyfile(self.outcome.file, tmp)
            os.replace(tmp, path)
        except OSError as error:
            tmp.unlink(missing_ok=True)
            notify_error(f"could not save {path}: {error}")
            return None
        notify_info(f"saved {path.name} (sha256 {self.outcome.card.sha256[:12]}...)")
        self.status_label.setText(f"saved {path}")
        return path

    # ------------------------------------------------------------------ teardown

    def quit_workers(self) -> None:
        """The training worker is stopped through its flag, so that ``iter_fit`` is closed in
        its own thread (writing its checkpoint) within one step; other workers just quit."""
        if self.request is not None:
            self.request.stop.set()
        for worker in list(self._workers):
            try:
                if worker is self.worker:
                    worker.resume()
                else:
                    worker.quit()
            except RuntimeError:  # its Qt side is already gone
                pass

    def release_viewer(self) -> None:
        self.base.release()
        for combo_ in (self.blurry_combo, self.sharp_combo, self.stack_combo):
            combo_.disconnect_viewer()
