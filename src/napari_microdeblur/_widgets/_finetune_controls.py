"""The Fine-tune dock's controls, as its ``__init__`` lays them out: where the training pairs
come from (two layers, a z-stack and its in-focus plane, or one image to adapt to with its PSF
panel), the axes and pair options, the training settings, and Start / Stop / Preview / Save with
the progress and the loss plots. A mixin of ``_finetune.FinetuneWidget``."""

from __future__ import annotations

from qtpy.QtWidgets import QCheckBox, QFormLayout, QLineEdit, QStackedWidget, QWidget

from ._controls import button, combo, double_spin, label, spin
from ._feedback import describe_error, notify_error, notify_info
from ._finetune_pairs import pair_ranks
from ._finetune_plots import TrainingPlots
from ._finetune_self import SelfAdaptPage, mode_defaults
from ._layers import LayerCombo, check_image_layer, layer_data
from ._panels import DeviceRow, form_layout, row
from ._psf_panel import PsfPanel
from ._workers import start_worker

MODES = ("two layers (blurry, sharp)", "z-stack + in-focus plane",
         "adapt to this image (no reference)")
MODE_KEYS = ("pair", "stack", "self")


#: the Stack box's rank of a layer without a Z axis: after every stack (it is refused there)
FLAT_RANK = 10


def has_z_axis(layer) -> bool:
    """Whether ``layer`` has planes to pair: three or more dimensions besides RGB samples."""
    return layer_data(layer).ndim - (1 if getattr(layer, "rgb", False) else 0) >= 3


def stack_rank(blurry_rank):
    """The Stack box's rank: ``blurry_rank`` (by name, then shape) among the layers with a Z
    axis, every 2D layer after them; by name alone 'em blurred' (2D) beat 'mito stack'."""
    return lambda layer: blurry_rank(layer) + (0 if has_z_axis(layer) else FLAT_RANK)


class FinetuneControlsMixin:
    """``_add_pair_controls``, ``_training_controls`` and ``_add_run_controls``: they make the
    dock's widgets its attributes (``mode_combo``, ``steps_spin``, ``start_button``, ...);
    ``find_focus``, the Find button's."""

    def _add_pair_controls(self, form: QFormLayout) -> None:
        from napari.layers import Image

        viewer = self.viewer
        self.mode_combo = combo(MODES, (
            "Where training pairs come from: two layers of the same shape (blurry input, sharp "
            "target, paired plane by plane), one z-stack whose planes are all paired to its "
            "in-focus plane, or no reference at all: adapt to one blurry layer with its PSF "
            "(the network's output, re-blurred by the PSF, must match the image)."))
        form.addRow("Pairs from", self.mode_combo)
        pair_page, stack_page = QWidget(), QWidget()
        pair_form, stack_form = form_layout(pair_page), form_layout(stack_page)
        # by name, then shape (a stack's in-focus image is Sharp): the blurry and the sharp
        # layer of a pair, never one layer twice
        # ... and the layers of the dock's own Unpaired rows last (its RegimePanel comes later)
        blurry_rank, sharp_rank = pair_ranks(viewer, lambda: self.regimes.chosen_layers()
                                             if hasattr(self, "regimes") else ())
        self.blurry_combo = LayerCombo(viewer, (Image,), rank=blurry_rank,
                                       tooltip="Blurry (input) layer of the training pairs.")
        self.sharp_combo = LayerCombo(viewer, (Image,), rank=sharp_rank,
                                      avoid=lambda: self.blurry_combo.value,
                                      tooltip="Sharp (target) layer, same shape as the blurry.")
        self.blurry_combo.currentIndexChanged.connect(self.sharp_combo.reconsider)
        pair_form.addRow("Blurry", self.blurry_combo)
        pair_form.addRow("Sharp", self.sharp_combo)
        self.stack_combo = LayerCombo(viewer, (Image,), rank=stack_rank(blurry_rank),
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
        self.self_page = SelfAdaptPage(viewer)
        self.pages.addWidget(self.self_page)
        form.addRow(self.pages)
        self.psf_panel = PsfPanel(viewer, self)  # adapting, or a PSF-aware base on pairs
        form.addRow(self.psf_panel)
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
        self._shown_defaults = steps, lr, minutes = mode_defaults("pair", "supervised")
        box = QWidget()
        form = form_layout(box)
        self.steps_spin = spin(1, 1_000_000, steps, "Training steps (each one batch of patches).")
        self.patch_spin = spin(8, 1024, 64, (
            "Side of the square training patches in pixels (a multiple of the network's size "
            "divisor; at most the size of the images)."), step=16)
        self.batch_spin = spin(1, 512, 8, "Patches per step.")
        self.lr_spin = double_spin(0.000001, 1.0, lr, "Peak learning rate "
                                   "(Adam, warm-up then cosine decay).", decimals=6, step=0.00005)
        # at most half: one field holds out a band, and a larger share is refused by the core
        self.val_spin = double_spin(0.0, 0.5, 0.2, (
            "Share held out for validation: a band of every plane (the last share of its "
            "longer axis, 16 px apart from what trains; adapting without a reference: the last "
            "columns), never seen by a training patch. The starting weights are kept unless "
            "a later validation beats them. 0 (paired data only): no validation, the last "
            "weights are kept."), decimals=2, step=0.05)
        self.minutes_spin = double_spin(0.0, 10_000.0, minutes, (
            "Time limit of the run in minutes; Steps is then the upper bound. 'no limit': the "
            "run ends after Steps (or when validation stops improving). Adapting without a "
            "reference always has a limit (3 by default)."), decimals=2, step=0.5)
        self.minutes_spin.setSpecialValueText("no limit")
        self.device_row = DeviceRow("Where to train: auto picks CUDA, then MPS, then the CPU.")
        self.device_combo = self.device_row.combo
        for text, widget in (("Steps", self.steps_spin), ("Minutes", self.minutes_spin),
                             ("Patch size", self.patch_spin),
                             ("Batch size", self.batch_spin), ("Learning rate", self.lr_spin),
                             ("Validation fraction", self.val_spin),
                             ("Device", self.device_row)):
            form.addRow(text, widget)
        return box

    def _add_run_controls(self, layout) -> None:
        self.start_button = button("Start", "Build the training pairs and start fine-tuning.")
        self.stop_button = button("Stop", "Stop after the current step and keep the best "
                                  "validated weights so far (pairs validate every 50 steps at "
                                  "most and after 12 s of training without a validation).")
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
        self.status_label = label("Step, loss, validation and the estimated time left.")
        layout.addWidget(self.status_label)
        self.plots = TrainingPlots()
        self.loss_plot, self.val_plot = self.plots.loss_plot, self.plots.val_plot
        layout.addWidget(self.plots)

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

        # a lazy (dask, zarr) stack is read in the worker, not on the GUI thread
        return start_worker(self, best_focus_plane, layer_data(layer), axes,
                            returned=found,
                            errored=lambda e: notify_error(f"Find focus: {describe_error(e)}"))
