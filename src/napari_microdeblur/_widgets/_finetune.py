"""Fine-tune dock: adapt a network to the user's own paired data with ``core.training.iter_fit``
in a napari worker.

Training pairs come from two layers of the same shape (blurry, sharp; ``data.pairs_from_arrays``)
or from one z-stack and its in-focus plane (``data.pairs_from_stack``; the plane found by focus
score or given), each plane aligned to its reference by translation. Validation holds out whole
planes (``data.split_validation``). Stop ends the run after the current step and keeps the best
checkpoint (by validation PSNR), which ``iter_fit`` writes as ``best.safetensors`` with its model
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
from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ._common import (
    SESSION_MODELS,
    LayerCombo,
    LinePlot,
    SessionModel,
    WorkerOwnerMixin,
    check_image_layer,
    describe_card,
    describe_error,
    guess_layer_axes,
    layer_data,
    notify_error,
    notify_info,
    notify_warning,
)
from ._common import (
    combo_key as _key,
)

if TYPE_CHECKING:  # the core (and torch) load when the dock runs, not on import
    from ..core.finetune import FinetuneRequest

MODES = ("two layers (blurry, sharp)", "z-stack + in-focus plane")


_CHECKPOINT_DIRS: list[str] = []


def _checkpoint_dir() -> str:
    """A fresh folder for one run's checkpoints; removed when Python exits (the fine-tuned
    weights of the session live in memory and in that folder until then, for Save...)."""
    if not _CHECKPOINT_DIRS:
        atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True) for d in _CHECKPOINT_DIRS])
    path = tempfile.mkdtemp(prefix="microdeblur-finetune-")
    _CHECKPOINT_DIRS.append(path)
    return path


def _fmt_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class FinetuneWidget(WorkerOwnerMixin, QWidget):
    """Plugins > napari-microdeblur > Fine-tune."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from napari.layers import Image

        from ..core import data, training, weights  # noqa: F401 - the core loads with the dock

        self._weights = weights
        self.viewer = napari_viewer
        self._init_workers()
        self.worker = None
        self.request: FinetuneRequest | None = None
        self.outcome: dict | None = None
        self.session_label: str | None = None
        self.preview_layer = None
        self.preview_run = None
        self._last_step = 0

        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(MODES)
        self.mode_combo.setToolTip(
            "Where training pairs come from: two layers of the same shape (blurry input, sharp "
            "target, paired plane by plane) or one z-stack whose planes are all paired to its "
            "in-focus plane."
        )
        form.addRow("Pairs from", self.mode_combo)
        self.pages = QStackedWidget()
        pair_page = QWidget()
        pair_form = QFormLayout(pair_page)
        pair_form.setContentsMargins(0, 0, 0, 0)
        self.blurry_combo = LayerCombo(napari_viewer, (Image,),
                                       tooltip="Blurry (input) layer of the training pairs.")
        self.sharp_combo = LayerCombo(napari_viewer, (Image,),
                                      tooltip="Sharp (target) layer, same shape as the blurry.")
        pair_form.addRow("Blurry", self.blurry_combo)
        pair_form.addRow("Sharp", self.sharp_combo)
        stack_page = QWidget()
        stack_form = QFormLayout(stack_page)
        stack_form.setContentsMargins(0, 0, 0, 0)
        self.stack_combo = LayerCombo(napari_viewer, (Image,),
                                      tooltip="A z-stack (ZYX) through focus of one field.")
        stack_form.addRow("Stack", self.stack_combo)
        focus_row = QHBoxLayout()
        self.focus_spin = QSpinBox()
        self.focus_spin.setRange(-1, 100000)
        self.focus_spin.setValue(-1)
        self.focus_spin.setSpecialValueText("auto")
        self.focus_spin.setToolTip(
            "Index of the in-focus plane; 'auto' picks the sharpest plane by focus score "
            "(normalised variance of the Laplacian) when training starts."
        )
        self.focus_button = QPushButton("Find")
        self.focus_button.setToolTip("Find the in-focus plane now by focus score; you can edit it.")
        focus_row.addWidget(self.focus_spin)
        focus_row.addWidget(self.focus_button)
        stack_form.addRow("In-focus plane", focus_row)
        self.pages.addWidget(pair_page)
        self.pages.addWidget(stack_page)
        form.addRow(self.pages)
        self.axes_edit = QLineEdit()
        self.axes_edit.setToolTip(
            "Axes of the training layer(s), e.g. YX, ZYX, YXS (RGB); guessed, edit if wrong."
        )
        form.addRow("Axes", self.axes_edit)
        checks = QHBoxLayout()
        self.align_check = QCheckBox("align planes")
        self.align_check.setChecked(True)
        self.align_check.setToolTip(
            "Register each input plane to its target by subpixel translation (phase correlation)."
        )
        self.match_check = QCheckBox("match intensities")
        self.match_check.setChecked(True)
        self.match_check.setToolTip(
            "Affine-match the target's intensities to the input (real pairs differ in exposure "
            "and bleaching). Untick for synthetic pairs already in the same units."
        )
        checks.addWidget(self.align_check)
        checks.addWidget(self.match_check)
        form.addRow("", checks)

        self.base_combo = QComboBox()
        self.base_combo.setToolTip(
            "The network to start from: bundled weights or weights loaded (or fine-tuned) in "
            "this session (Deblur dock > Load weights...)."
        )
        form.addRow("Base model", self.base_combo)
        self.card_label = QLabel("")
        self.card_label.setWordWrap(True)
        self.card_label.setToolTip("Model card of the base model.")
        form.addRow("", self.card_label)

        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 1_000_000)
        self.steps_spin.setValue(200)
        self.steps_spin.setToolTip("Training steps (each one batch of patches).")
        form.addRow("Steps", self.steps_spin)
        self.patch_spin = QSpinBox()
        self.patch_spin.setRange(8, 1024)
        self.patch_spin.setSingleStep(16)
        self.patch_spin.setValue(64)
        self.patch_spin.setToolTip(
            "Side of the square training patches in pixels (a multiple of the network's size "
            "divisor; at most the size of the images)."
        )
        form.addRow("Patch size", self.patch_spin)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 512)
        self.batch_spin.setValue(8)
        self.batch_spin.setToolTip("Patches per step.")
        form.addRow("Batch size", self.batch_spin)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(0.000001, 1.0)
        self.lr_spin.setSingleStep(0.00005)
        self.lr_spin.setValue(0.0001)
        self.lr_spin.setToolTip("Peak learning rate (Adam, warm-up then cosine decay).")
        form.addRow("Learning rate", self.lr_spin)
        self.val_spin = QDoubleSpinBox()
        self.val_spin.setDecimals(2)
        self.val_spin.setRange(0.0, 0.9)
        self.val_spin.setSingleStep(0.05)
        self.val_spin.setValue(0.2)
        self.val_spin.setToolTip(
            "Fraction of whole planes held out for validation (never crops of a training "
            "plane); 0 keeps the last weights instead of the best."
        )
        form.addRow("Validation fraction", self.val_spin)
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda", "mps"])
        self.device_combo.setToolTip("Where to train: auto picks CUDA, then MPS, then the CPU.")
        form.addRow("Device", self.device_combo)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Build the training pairs and start fine-tuning.")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip(
            "Stop after the current step and keep the best weights so far."
        )
        self.preview_button = QPushButton("Preview")
        self.preview_button.setToolTip(
            "Pause training and deblur the current slice with the weights as they are now; "
            "training resumes when the preview is shown."
        )
        self.save_button = QPushButton("Save...")
        self.save_button.setToolTip(
            "Write the fine-tuned weights (.safetensors with their model card)."
        )
        for b in (self.start_button, self.stop_button, self.preview_button, self.save_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.progress_bar = QProgressBar()
        self.progress_bar.setToolTip("Training steps done.")
        layout.addWidget(self.progress_bar)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setToolTip("Step, loss, validation PSNR and the estimated time left.")
        layout.addWidget(self.status_label)
        self.loss_plot = LinePlot("training loss", "step")
        self.loss_plot.setToolTip("Training loss after every step.")
        self.val_plot = LinePlot("validation PSNR (dB)", "step")
        self.val_plot.setToolTip(
            "Validation PSNR (EVALUATION.md scale) at each validation; step 0 is the input "
            "itself (no deblurring)."
        )
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.val_plot)
        layout.addStretch(1)

        self.mode_combo.currentIndexChanged.connect(self._mode_changed)
        self.blurry_combo.currentIndexChanged.connect(self._guess_axes)
        self.stack_combo.currentIndexChanged.connect(self._guess_axes)
        self.base_combo.currentIndexChanged.connect(self._base_changed)
        self.focus_button.clicked.connect(self.find_focus)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.preview_button.clicked.connect(self.preview)
        self.save_button.clicked.connect(self._choose_save)
        SESSION_MODELS.changed.connect(self._refresh_bases)
        self._refresh_bases()
        self._mode_changed()
        self._set_running(False)

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

    def _refresh_bases(self) -> None:
        if self.closed:
            return
        from ._deblur import fill_method_combo

        fill_method_combo(self.base_combo, self._weights)  # networks only
        self._base_changed()

    def set_base(self, kind: str, name: str) -> None:
        index = self.base_combo.findData(f"{kind}\t{name}")
        if index < 0:
            raise ValueError(f"base model {name!r} ({kind}) is not offered")
        self.base_combo.setCurrentIndex(index)

    def _base_card(self):
        from ._deblur import method_card

        data = _key(self.base_combo.currentData())
        return None if not data else method_card(*data)

    def _base_changed(self, *_) -> None:
        try:
            card = self._base_card()
        except (ValueError, OSError) as error:
            self.card_label.setText(describe_error(error))
            return
        self.card_label.setText(
            describe_card(card) if card is not None else
            "<i>no network yet: load weights in the Deblur dock (Load weights...)</i>"
        )

    def find_focus(self):
        """Find the in-focus plane of the stack layer in a worker and put it in the spin box."""
        from napari.qt.threading import create_worker

        from ..core import data

        layer = self.stack_combo.value
        try:
            check_image_layer(layer, "stack")
        except ValueError as error:
            notify_error(describe_error(error))
            return None
        axes = self.axes_edit.text().strip().upper() or None
        worker = create_worker(data.find_focus_plane, np.asarray(layer_data(layer)), axes,
                               _start_thread=False, _ignore_errors=True)

        def found(z):
            if not self.closed:
                self.focus_spin.setValue(int(z))
                notify_info(f"in-focus plane of {layer.name!r}: {z} (by focus score)")

        worker.returned.connect(found)
        worker.errored.connect(lambda e: notify_error(f"Find focus: {describe_error(e)}"))
        self._own(worker)
        worker.start()
        return worker

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.preview_button.setEnabled(running)
        self.save_button.setEnabled(not running and self.outcome is not None
                                    and self.outcome.get("model") is not None)
        for w in (self.mode_combo, self.base_combo, self.steps_spin, self.patch_spin,
                  self.batch_spin, self.lr_spin, self.val_spin, self.device_combo):
            w.setEnabled(not running)

    # ------------------------------------------------------------------ running

    def build_request(self) -> FinetuneRequest:
        """Collect the settings (ValueError says what to change)."""
        from ..core.finetune import FinetuneRequest

        data = _key(self.base_combo.currentData())
        if not data:
            raise ValueError(
                "no base model: load weights in the Deblur dock (Load weights...), or install "
                "bundled weights, then choose one here"
            )
        kind, name = data
        axes = self.axes_edit.text().strip().upper()
        if self.mode == "pair":
            b, s = self.blurry_combo.value, self.sharp_combo.value
            check_image_layer(b, "blurry")
            check_image_layer(s, "sharp")
            if b is s:
                raise ValueError("blurry and sharp are the same layer; choose two layers")
            if tuple(layer_data(b).shape) != tuple(layer_data(s).shape):
                raise ValueError(
                    f"blurry {b.name!r} has shape {tuple(layer_data(b).shape)} but sharp "
                    f"{s.name!r} has {tuple(layer_data(s).shape)}; choose layers of the same "
                    "shape"
                )
            extra = {"blurry": layer_data(b), "sharp": layer_data(s)}
            layer_name = b.name
        else:
            st = self.stack_combo.value
            check_image_layer(st, "stack")
            focus = self.focus_spin.value()
            extra = {"stack": layer_data(st), "focus": "auto" if focus < 0 else int(focus)}
            layer_name = st.name
        if kind == "bundled":
            model, card = self._weights.load_model(name)
        else:
            item = SESSION_MODELS.get(name)
            if item is None:
                raise ValueError(f"base model {name!r} is no longer loaded")
            model, card = copy.deepcopy(item.model), item.card
        tmp = _checkpoint_dir()
        return FinetuneRequest(
            mode=self.mode, layer_name=layer_name, axes=axes, model=model, base_label=name,
            base_card=card, align=self.align_check.isChecked(),
            match_intensity=self.match_check.isChecked(), steps=int(self.steps_spin.value()),
            patch=int(self.patch_spin.value()), batch_size=int(self.batch_spin.value()),
            lr=float(self.lr_spin.value()), val_fraction=float(self.val_spin.value()),
            device=self.device_combo.currentText(), checkpoint_dir=tmp, **extra,
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
        from napari.qt.threading import create_worker

        self.request = req
        self.outcome = None
        self._last_step = 0
        self.loss_plot.clear()
        self.val_plot.clear()
        from ..core.finetune import iter_finetune_job

        worker = create_worker(iter_finetune_job, req, _start_thread=False, _ignore_errors=True)
        worker.yielded.connect(self._yielded)
        worker.returned.connect(self._returned)
        worker.errored.connect(self._errored)
        worker.finished.connect(self._finished)
        self._own(worker)
        self.worker = worker
        self.progress_bar.setRange(0, 0)
        self.status_label.setText("building and aligning training pairs...")
        self._set_running(True)
        worker.start()
        return worker

    def stop(self) -> None:
        """Stop after the current step (any moment: also while pairs are built or paused)."""
        if self.request is not None:
            self.request.stop.set()
        if self.worker is not None and self.worker.is_running:
            self.worker.resume()  # a paused worker must run on to see the stop
            self.status_label.setText("stopping after the current step...")

    def _yielded(self, value) -> None:
        if self.closed:
            return
        kind, payload = value
        if kind == "info":
            for note in payload["notes"]:
                notify_warning(note)
            focus = "" if payload["focus"] is None else f", in-focus plane {payload['focus']}"
            if payload["focus"] is not None and self.focus_spin.value() < 0:
                self.focus_spin.setValue(int(payload["focus"]))
            self.status_label.setText(
                f"{payload['train']} training / {payload['val']} validation plane(s){focus}; "
                "training..."
            )
            return
        rec = payload
        self._last_step = rec.step
        self.progress_bar.setRange(0, rec.steps)
        self.progress_bar.setValue(rec.step)
        self.loss_plot.append("loss", rec.step, rec.loss, "#ffb74d")
        if rec.validated and rec.val_psnr is not None:
            if not self.val_plot.series and self.outcome is None:
                pass
            self.val_plot.append("validation PSNR", rec.step, rec.val_psnr, "#4fc3f7")
        val = "" if rec.val_psnr is None else f" · val PSNR {rec.val_psnr:.2f} dB"
        self.status_label.setText(
            f"step {rec.step}/{rec.steps} · loss {rec.loss:.4g}{val} · "
            f"{_fmt_seconds(rec.seconds_left)} left"
        )
        if rec.message:
            notify_info(rec.message)

    def _returned(self, outcome: dict) -> None:
        self.outcome = outcome
        if self.closed:
            return
        req = self.request
        if outcome.get("model") is None:
            self.status_label.setText("stopped before the first step: nothing to keep")
            return
        result = outcome.get("result")
        if result is not None and result.history:
            for h in result.history:
                if h["step"] == 0:
                    self.val_plot.set_series(
                        "input (no deblurring)", [0, result.steps_done],
                        [h["val_psnr"], h["val_psnr"]], "#9e9e9e",
                    )
        label = SESSION_MODELS.add(SessionModel(
            f"{req.base_label} fine-tuned on {req.layer_name}", outcome["model"],
            outcome["card"], "fine-tuned", {"file": str(outcome.get("file"))},
        ))
        self.session_label = label
        metrics = outcome["card"].metrics or {}
        best = (f"best val PSNR {metrics['val_psnr']:.2f} dB at step {metrics.get('step')}"
                if "val_psnr" in metrics else "no validation: last weights kept")
        how = "stopped" if outcome["stopped"] else "finished"
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
        self.progress_bar.setValue(1 if self.outcome and self.outcome.get("model") else 0)
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

    def _paused_for_preview(self) -> None:
        from ._deblur import DeblurRequest, DeblurRun, _layer_props, scope_selection

        try:
            self.worker.paused.disconnect(self._paused_for_preview)
        except (TypeError, RuntimeError):
            pass
        if self.closed or self.request is None or self.request.stop.is_set():
            self.worker.resume()
            return
        layer = self._source_layer()
        try:
            check_image_layer(layer)
            model = copy.deepcopy(self.request.model).eval()
            axes = self.request.axes or guess_layer_axes(layer)
            keep = getattr(self.request.base_card, "in_channels", 1) > 1
            key, offset = scope_selection(self.viewer, layer, axes, "current slice", keep)
            req = DeblurRequest(
                source_name=layer.name, image=layer_data(layer)[key], axes=axes,
                method_kind="model",
                method_name=f"{self.request.base_label} fine-tuning, step {self._last_step}",
                device=self.request.device, offset=offset, layer_props=_layer_props(layer),
                model=model, card=self.request.base_card, scope="current slice",
                full_image=layer_data(layer),
            )
        except (ValueError, TypeError) as error:
            notify_error(f"Preview: {describe_error(error)}")
            self.worker.resume()
            self.preview_button.setEnabled(True)
            return
        self.preview_run = DeblurRun(self.viewer, req, add_layer=False,
                                     on_done=self._preview_done).start()
        self._own(self.preview_run.worker)

    def _preview_done(self, run) -> None:
        if self.worker is not None and self.worker.is_running:
            self.worker.resume()
        if self.closed:
            return
        self.preview_button.setEnabled(self.worker is not None and self.worker.is_running)
        if run.result is None:
            return
        from ._deblur import _translate_for

        result = run.result[0]
        name = f"{run.req.source_name} preview [{run.req.method_name}]"
        props = run.req.layer_props
        if self.preview_layer is not None and self.preview_layer in self.viewer.layers:
            self.preview_layer.data = result.image
            self.preview_layer.name = name
            self.preview_layer.translate = _translate_for(props, run.req.offset)
        else:
            kwargs = {"colormap": props["colormap"]} if "colormap" in props else {}
            self.preview_layer = self.viewer.add_image(
                result.image, name=name, scale=props["scale"],
                translate=_translate_for(props, run.req.offset),
                contrast_limits=props["contrast_limits"], rgb=props["rgb"],
                metadata={"microdeblur": {"preview_of": run.req.method_name}}, **kwargs,
            )

    # ------------------------------------------------------------------ saving

    def _choose_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save fine-tuned weights", "", "safetensors (*.safetensors)"
        )
        if path:
            self.save(path)

    def save(self, path: str | os.PathLike) -> Path | None:
        """Copy the fine-tuned checkpoint (weights + model card) to ``path``."""
        if self.outcome is None or self.outcome.get("file") is None:
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
            shutil.copyfile(self.outcome["file"], tmp)
            os.replace(tmp, path)
        except OSError as error:
            tmp.unlink(missing_ok=True)
            notify_error(f"could not save {path}: {error}")
            return None
        notify_info(f"saved {path.name} (sha256 {self.outcome['card'].sha256[:12]}...)")
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

    def _disconnect_viewer(self) -> None:
        try:
            SESSION_MODELS.changed.disconnect(self._refresh_bases)
        except (TypeError, ValueError, RuntimeError):
            pass
        for combo in (self.blurry_combo, self.sharp_combo, self.stack_combo):
            combo.disconnect_viewer()
