"""Fine-tune dock: adapt a network to the user's own data in a napari worker, with
``core.finetune.iter_finetune`` (paired data) or ``core.self_adapt`` (no reference).

Training pairs come from two layers of the same shape (blurry, sharp) or from one z-stack and
its in-focus plane (found by focus score or given), each plane aligned to its reference by
translation; "Adapt to this image" needs only the blurry layer and its PSF
(``_finetune_self``); a PSF-aware base network also fine-tunes on pairs with the blurry layer's
PSF from that same PSF panel. Validation holds out a band of every plane. A run is bounded by
Steps and, optionally, Minutes. Stop ends the run after the current step and keeps the best
checkpoint, written as ``best.safetensors`` with its model card; it becomes a method of the
Deblur dock, ``<base> fine-tuned on <layer>``, and the held-out region deblurred by the base
and the kept weights fills the Compare & QC dock (``_finetune_compare``). A run that returns
its starting weights (no validation beat them, or it ended before its first validation after
the start) adds no method, fills no comparison and has nothing to save: the status says so and
what to change. Kept weights that score below the unprocessed input on validation are added
all the same (an adversarial regime keeps its last step; a new network is the user's to
inspect), with a warning that they make images worse. From the dock's second run on, the
comparison layers' names carry the run's number. The kept file outlives the run's folder (gone at
exit) as a copy in ``_finetune_files.kept_weights_dir``, which Save... copies (same sha256).
Preview pauses the training between two steps and deblurs the current slice with the weights.
The folded "Small-data options" (paired runs) are `finetune`'s (``_finetune_options``).
psf_cyclegan with Unpaired layers trains on them alone, without a Blurry/Sharp pair
(``_finetune_unpaired``); a run that learns a PSF adds it as a layer and a file.
"""

from __future__ import annotations

import copy
from contextlib import suppress
from functools import partial

from qtpy.QtWidgets import QFormLayout, QWidget

from ._dock_scroll import scroll_body
from ._feedback import describe_error, notify_error, notify_info, notify_warning
from ._finetune_close import RunKeeper
from ._finetune_compare import add_comparison, iter_compare_job, plan_region, shown_line
from ._finetune_controls import MODE_KEYS, FinetuneControlsMixin
from ._finetune_files import checkpoint_dir, keep_run_weights, trained_pixel_size
from ._finetune_options import SmallDataOptions, check_options
from ._finetune_outcome import FinetuneOutcomeMixin
from ._finetune_pairs import pair_data
from ._finetune_preview import TrainingPreviewMixin
from ._finetune_regimes import RegimePanel
from ._finetune_saving import FinetuneSaveMixin
from ._finetune_self import (
    SelfAdaptRequest,
    is_info_note,
    iter_self_adapt_job,
    mode_defaults,
    self_adapt_config,
)
from ._finetune_status import (
    WarmupHint,
    ending,
    job_seconds,
    kept_line,
    progress_line,
    psf_words,
    starting_line,
)
from ._finetune_unpaired import (
    UnpairedRequestMixin,
    add_learned_psf,
    iter_unpaired_finetune,
    learns_psf,
)
from ._header_reads import AxesPrefill
from ._layers import (
    check_image_layer,
    check_stack_layer,
    guess_layer_axes,
    layer_data,
    layer_modality,
)
from ._methods import SESSION_MODELS, SessionModel, is_psf_aware
from ._panels import MethodPanel
from ._worker_exit import outlive_exit
from ._workers import WorkerOwnerMixin, start_worker

#: the progress bar's range under a time limit (per mille of the run's expected time)
TIME_TICKS = 1000


class FinetuneWidget(FinetuneControlsMixin, TrainingPreviewMixin, FinetuneSaveMixin,
                     FinetuneOutcomeMixin, UnpairedRequestMixin, WorkerOwnerMixin, QWidget):
    """Plugins > napari-microdeblur > Fine-tune."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.init_workers()
        self.worker = None
        self.request = None  # core.finetune.FinetuneRequest of the run
        self.outcome = None  # core.finetune.FinetuneResult of the last run
        self.keeper: RunKeeper | None = None  # who keeps the run's weights (a close: the run)
        self.session_label: str | None = None
        self.preview_layer = None
        self.preview_run = None
        self.base_network = None  # the base model as it started (for the comparison)
        self.comparison: dict = {}  # the layers the last comparison added, by role
        self._notes: dict = {}  # info of the run's Notes (held-out region, focus plane)
        self._sources: tuple = (None, None, "")  # (layer, sharp layer, axes) of the run
        self._psf_text = ""  # the PSF box's text a paired run took (a PSF-aware base)
        self._unpaired = None  # the UnpairedRun of a run on the Unpaired layers alone
        self._last_step = 0
        # the starting weights' validation PSNR, whether trained weights were validated yet,
        # and the warm-up hint of the run (``_finetune_status``)
        self._start_psnr, self._validated, self._hint = None, False, WarmupHint(1, None)
        self.run_number = 0  # this dock's runs, naming their comparison layers
        layout = scroll_body(self)  # a dock fits a 1080-px screen: it scrolls
        form = QFormLayout()
        layout.addLayout(form)
        self._add_pair_controls(form)
        self.base = MethodPanel(
            "Base model", "The network to start from: by default the image type's blind network "
            "(what auto runs without a PSF estimate), or weights loaded (Load weights...).",
            classical=False, card_tooltip="Model card of the base model.")
        self.base_combo = self.base.combo
        self.card_label = self.base.card_view.summary_label
        layout.addWidget(self.base)
        self.regimes = RegimePanel(napari_viewer)
        layout.addWidget(self.regimes)
        layout.addWidget(self._training_controls())
        self.options = SmallDataOptions(napari_viewer)  # paired runs only: folded until opened
        layout.addWidget(self.options)
        self._add_run_controls(layout)
        layout.addStretch(1)
        self.mode_combo.currentIndexChanged.connect(self._mode_changed)
        self.regimes.regime_combo.currentIndexChanged.connect(self._mode_defaults)
        self.regimes.start_combo.currentIndexChanged.connect(self._show_psf_panel)
        # the Sharp box ranks the Unpaired rows' layers last; an unpaired run hides the pair
        self.regimes.changed.connect(self.sharp_combo.reconsider)
        self.regimes.changed.connect(self._show_pair_rows)
        # an optics PSF's pixel= and dz= follow the source layer's scale, once its axes are
        # guessed (which may wait for its file's header: ``AxesPrefill``)
        prefill = self.psf_panel.follow_image(
            lambda: (self._source_layer(), self.axes_edit.text().strip().upper()))
        self.axes_prefill = AxesPrefill(self.axes_edit, self._source_layer, then=prefill.update)
        # the Adapt box follows the active layer, but not while this dock trains
        self.self_page.layer_combo.busy = lambda: self.worker in self._workers
        for layer_combo in (self.blurry_combo, self.stack_combo, self.self_page.layer_combo):
            layer_combo.currentIndexChanged.connect(self.axes_prefill.guess)
            layer_combo.currentIndexChanged.connect(self._default_base)
        self._base_chosen = False  # the user picked a base model: it no longer follows
        self.base_combo.activated.connect(self._base_picked)
        self.base.changed.connect(self._base_changed)
        self.focus_button.clicked.connect(self.find_focus)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.preview_button.clicked.connect(self.preview)
        self.save_button.clicked.connect(self._choose_save)
        self._base_changed()
        self._mode_changed()
        self._default_base()
        self._set_running(False)

    @property
    def _finetune(self):
        """``core.finetune``, imported when first used (Start), not when the dock opens: its
        pair and training pipeline (data, focus, pairs) was 473 more modules there."""
        from ..core import finetune

        return finetune

    # ------------------------------------------------------------------ controls

    @property
    def mode(self) -> str:
        return MODE_KEYS[self.mode_combo.currentIndex()]

    def _mode_changed(self, *_) -> None:
        self.pages.setCurrentIndex(self.mode_combo.currentIndex())
        self.regimes.setVisible(self.mode != "self")
        self._show_pair_rows()
        self._show_psf_panel()
        self._mode_defaults()
        self._default_base()
        if self.mode == "self" and self.minutes_spin.value() == 0:
            self.minutes_spin.setValue(mode_defaults("self")[2])  # the adaptation is time-boxed
        self.axes_prefill.guess()

    def _mode_defaults(self, *_) -> None:
        """Steps, learning rate and time limit follow the defaults of the mode and regime
        (see mode_defaults), each unless the user changed it."""
        new = mode_defaults(self.mode, self.regimes.regime)
        for widget, before, after in zip((self.steps_spin, self.lr_spin, self.minutes_spin),
                                         self._shown_defaults, new, strict=True):
            if widget.value() == before:
                widget.setValue(after)
        self._shown_defaults = new

    @property
    def unpaired_only(self) -> bool:
        """Whether Start trains on the Unpaired layers alone (no Blurry/Sharp pair)."""
        return self.mode != "self" and self.regimes.unpaired_only

    def _show_pair_rows(self, *_) -> None:
        """The pair's rows and options are hidden while a run would not use a pair."""
        pairs = self.mode != "self" and not self.unpaired_only
        self.pages.setVisible(self.mode == "self" or pairs)
        for widget in (self.align_check, self.match_check, self.options):
            widget.setVisible(pairs)
        if getattr(self, "axes_prefill", None) is not None:
            self.axes_prefill.guess()

    def _source_layer(self):
        if self.unpaired_only:  # its axes, image type and pixel size are the run's
            return self.regimes.source_combos["unpaired"].value
        return {"pair": self.blurry_combo, "stack": self.stack_combo,
                "self": self.self_page.layer_combo}[self.mode].value

    @property
    def minutes(self) -> float | None:
        """The time limit; None for 'no limit' (the core refuses 0 minutes)."""
        value = float(self.minutes_spin.value())
        return value if value > 0 else None

    def set_base(self, name: str) -> None:
        self._base_chosen = True
        self.base.set_name(name)

    def _base_picked(self, *_) -> None:
        self._base_chosen = True

    def _default_base(self, *_) -> None:
        """Until the user picks one, the base model is the blind network of the layer's image
        type (``core.bundled.default_for_modality``: its metadata's 'modality', else RGB
        brightfield, grayscale fluorescence), not what 'auto' runs with a PSF estimate (EM,
        brightfield); the comparison shows auto too. The list's first was the EM network."""
        from ..core.bundled import default_for_modality

        layer = self._source_layer()
        if self._base_chosen or layer is None:
            return
        try:
            name = default_for_modality(layer_modality(layer), bool(layer.rgb))
        except ValueError:  # no bundled network for it: the list's first stays
            return
        if name in self.base.choices():
            self.base.set_name(name)

    def _show_psf_panel(self, *_) -> None:
        scratch = self.regimes.from_scratch  # a new network: does its architecture take one
        self.psf_panel.setVisible(self.mode == "self" or (
            self.regimes.new_network_needs_psf if scratch else is_psf_aware(self.base.name)))

    def _base_changed(self, *_) -> None:
        self._show_psf_panel()
        if self.base.name is None:
            self.base.card_view.show_message(
                "no network yet: load weights in the Deblur dock (Load weights...)")

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.preview_button.setEnabled(running)
        self.save_button.setEnabled(not running and self.outcome is not None
                                    and self.outcome.model is not None
                                    and not self.outcome.kept_start)
        for w in (self.mode_combo, self.base_combo, self.steps_spin, self.minutes_spin,
                  self.patch_spin, self.batch_spin, self.lr_spin, self.val_spin,
                  self.device_combo, self.regimes, self.options):
            w.setEnabled(not running)

    # ------------------------------------------------------------------ running

    def _training_data(self) -> tuple[dict, str]:
        """The request's data fields and the name of the layer trained on."""
        if self.mode == "stack":
            st = self.stack_combo.value
            check_image_layer(st, "stack")
            focus = self.focus_spin.value()
            check_stack_layer(st, self.axes_edit.text().strip().upper(), focus)
            return {"stack": layer_data(st), "focus": "auto" if focus < 0 else int(focus)}, \
                st.name
        b, s = self.blurry_combo.value, self.sharp_combo.value
        check_image_layer(b, "blurry")
        check_image_layer(s, "sharp")
        if b is s:
            raise ValueError("blurry and sharp are the same layer; choose two layers")
        return pair_data(b, s, self.axes_edit.text().strip().upper()), b.name

    def _base_model(self, channels: int = 1, scratch: bool = False) -> tuple:
        """(a copy of the base network to train, its card, its name); with ``scratch``, a new
        network when 'Start from' asks for one (no card)."""
        new = self.regimes.new_network(channels) if scratch else None
        if new is not None:
            return new[0], None, new[1]
        name = self.base.name
        if name is None:
            raise ValueError(
                "no base model: load weights in the Deblur dock (Load weights...), or install "
                "bundled weights, then choose one here"
            )
        item = SESSION_MODELS.get(name)
        if item is None:
            from ..core.bundled import load_bundled

            return (*load_bundled(name), name)
        return copy.deepcopy(item.model), item.card, name

    def build_request(self):
        """Collect the settings into a FinetuneRequest, or a SelfAdaptRequest for "adapt to
        this image" (ValueError says what to change)."""
        scratch = self.mode != "self" and self.regimes.from_scratch
        if self.base.name is None and not scratch:
            self._base_model()  # raises: no base model
        axes = self.axes_edit.text().strip().upper()
        if self.mode == "self":
            layer = self.self_page.checked_layer()
            psf, psf_text = self.psf_panel.psf()
            config = self_adapt_config(
                minutes=self.minutes, steps=int(self.steps_spin.value()),
                patch=int(self.patch_spin.value()), batch_size=int(self.batch_spin.value()),
                lr=float(self.lr_spin.value()), val_fraction=float(self.val_spin.value()),
                device=self.device_row.device)
            model, card, name = self._base_model()
            return SelfAdaptRequest(layer.name, layer_data(layer), axes or None, psf, psf_text,
                                    model, name, card, config, checkpoint_dir())
        if self.unpaired_only:
            return self._unpaired_request(scratch)
        data, layer_name = self._training_data()
        rgb = "S" in (axes or guess_layer_axes(self._source_layer()))
        model, card, name = self._base_model(3 if rgb else 1, scratch)
        sets = self.regimes.image_sets(model, name)  # and whether the regime trains the model
        # a PSF-aware network trains and validates with the blurry layer's PSF
        psf, self._psf_text = (self.psf_panel.psf(f"{name} (PSF-aware)")
                               if getattr(model, "needs_psf", False) else (None, ""))
        req = self._finetune.FinetuneRequest(
            mode=self.mode, layer_name=layer_name, axes=axes,
            model=model, base_label=name, base_card=card, align=self.align_check.isChecked(),
            match_intensity=self.match_check.isChecked(), steps=int(self.steps_spin.value()),
            patch=int(self.patch_spin.value()), batch_size=int(self.batch_spin.value()),
            lr=float(self.lr_spin.value()), val_fraction=float(self.val_spin.value()),
            minutes=self.minutes, regime=self.regimes.regime, device=self.device_row.device,
            checkpoint_dir=checkpoint_dir(), psf=psf, **sets, **data,
            pixel_size_um=trained_pixel_size(self._source_layer(), axes),
            **self.options.request_options())
        self._finetune.check_field_sizes(req)  # now, not after aligning (a while on a stack)
        check_options(req)  # the small-data options, by the job's own checks
        return req

    def start(self):
        """Start fine-tuning in a worker; bad settings go to a notification."""
        if self.worker is not None and self.worker in self._workers:  # queued counts too
            notify_info("fine-tuning is already running")
            return None
        self._unpaired = None
        try:
            req = self.build_request()
        except (ValueError, TypeError, OSError) as error:
            notify_error(describe_error(error))
            self.status_label.setText(describe_error(error))
            return None
        self.request, self.outcome, self._last_step, self._notes = req, None, 0, {}
        adapting = isinstance(req, SelfAdaptRequest)
        self._start_psnr, self._validated = None, False  # adapting has no warm-up to plan:
        self._hint = WarmupHint(req.steps, self.minutes) if not adapting else WarmupHint(1, None)
        self.run_number += 1
        before = self.session_label  # the last run's weights: a base for this one if chosen
        self.comparison, self.session_label = {}, None
        self.base_network = SessionModel(req.base_label, copy.deepcopy(req.model).eval(),
                                         req.base_card, "base")
        layer = self._source_layer()
        self._sources = (None, None, "") if self._unpaired else (
            layer, self.sharp_combo.value if self.mode == "pair" else None,
            req.axes or guess_layer_axes(layer))
        self.plots.start()
        timed = self._time_bound()
        self.progress_bar.setFormat("%p% of the time" if timed else "%v/%m steps")
        self.progress_bar.setToolTip("Time gone of the run's time limit (Minutes), or of its "
                                     "Steps if they end it sooner." if timed else
                                     "Training steps done.")
        self.plots.set_kind("loss" if adapting else "psnr")
        job = iter_self_adapt_job if adapting else self._finetune.iter_finetune
        if self._unpaired is not None:
            job = partial(iter_unpaired_finetune, run=self._unpaired)  # still a generator
        self.keeper = RunKeeper(self._run_name())  # the run keeps its weights after a close
        self.worker = start_worker(self, self.keeper.run, job, req,
                                   yielded=self._yielded, returned=self._returned,
                                   errored=self._errored, finished=self._finished, start=False)
        self.progress_bar.setRange(0, 0)
        self.status_label.setText(starting_line(req, adapting, before, self.psf_text))
        self._set_running(True)
        self.worker.start()
        return self.worker

    @property
    def psf_text(self) -> str:
        """The PSF of the run, as the PSF box gave it ('' for a run without one)."""
        req = self.request
        if isinstance(req, SelfAdaptRequest):
            return req.psf_text
        return self._psf_text if getattr(req, "psf", None) is not None else ""

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
        minutes = getattr(self.request, "minutes", None) or getattr(
            getattr(self.request, "config", None), "minutes", None)
        adapting = isinstance(self.request, SelfAdaptRequest)
        told = job_seconds(record, minutes, adapting)
        if told is not None:  # the job's own clock (adapting): the plots' follows it
            self.plots.follow(told)
        seconds = self.plots.add(record)
        self._show_progress(record, seconds)
        if not (self._validated or record.validated) and self._start_psnr is None:
            self._start_psnr = record.val_psnr  # until a validation: the start's
        line = progress_line(record, seconds, minutes=minutes, validated=self._validated,
                             adapting=adapting)
        self._validated = self._validated or record.validated
        hint = self._hint.observe(record.step, seconds)
        self.status_label.setText(f"{line}\n{hint}" if hint else line)
        if record.message:
            notify_info(record.message)

    def _show_progress(self, record, seconds: float) -> None:
        """Under a time limit the bar shows the time gone of the run's expected length (the
        limit, or sooner the last step): a run ending on Minutes stopped at a few % of Steps."""
        if not self._time_bound():
            self.progress_bar.setRange(0, record.steps)
            self.progress_bar.setValue(record.step)
            return
        total = seconds + max(0.0, record.seconds_left)
        self.progress_bar.setRange(0, TIME_TICKS)
        self.progress_bar.setValue(int(TIME_TICKS * min(1.0, seconds / total)) if total else 0)

    def _time_bound(self) -> bool:
        req = self.request
        return bool(getattr(req, "minutes", None)
                    or getattr(getattr(req, "config", None), "minutes", None))

    def _show_notes(self, notes) -> None:
        for note in notes.notes:  # what the job does is info; what may go wrong, a warning
            (notify_info if is_info_note(note) else notify_warning)(note)
        self._notes = dict(notes.info)
        self.plots.begin()
        if isinstance(self.request, SelfAdaptRequest):
            self.plots.add_start(notes.get("start_val_loss"))  # the base line's value
            held = (notes.get("held_out_columns") or ["?"])[0]
            self.status_label.setText(f"{notes.get('planes')} plane(s), the last {held} "
                                      "columns held out; adapting...")
            return
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
        if self.closed or not self.keeper.claim():  # closed mid-run: the run kept them
            return
        if outcome.model is None:
            self.status_label.setText("stopped before the first step: nothing to keep")
            return
        self._draw_references(outcome.result)
        if outcome.kept_start:
            self._nothing_learned(outcome)
            return
        req = self.request
        name = self._run_name()
        kept = keep_run_weights(outcome, name)
        label = SESSION_MODELS.add(SessionModel(
            name, outcome.model, outcome.card, "fine-tuned", {"file": str(outcome.file)}))
        self.session_label = label
        if learns_psf(outcome, getattr(req, "regime", "")):  # as --export-psf: layer, file
            kept += " " + add_learned_psf(self.viewer, outcome,
                                          self._notes.get("checkpoint_dir"), label)
        how = "stopped" if outcome.stopped else "finished"
        below = self._finetune.scores_below_input(outcome)
        worse = " (below the input: compare before deblurring with it)" if below else ""
        ended, details = ending(outcome, self._last_step, getattr(req, "steps", None))
        self.status_label.setText(
            f"{ended}: {kept_line(outcome, self._start_psnr)}{psf_words(self.psf_text)}. "
            f"Added method {label!r} to the "
            f"Deblur dock{worse}. {kept} Details: {details}.")
        if below:
            notify_warning(f"fine-tuning {how}: {label!r} is in the Deblur dock but scores "
                           f"below the unprocessed input ({below[0]:.2f} dB vs {below[1]:.2f} "
                           "dB on validation): it makes images worse")
        else:
            notify_info(f"fine-tuning {how}: {label!r} is available in the Deblur dock")
        self.compare()

    def _run_name(self) -> str:
        """'<base> fine-tuned on <layer>': the method and kept file of the run's weights."""
        req = self.request
        verb = "trained" if req.base_card is None else "fine-tuned"  # no card: a new network
        on = self._unpaired.blurry_name if self._unpaired else req.layer_name
        return f"{req.base_label} {verb} on {on}"

    def compare(self):
        """Deblur the held-out region with the base model and the kept weights in a worker,
        then add the results as layers and show them in Compare & QC (``_finetune_compare``).
        Returns the worker (None when there is nothing to compare)."""
        layer, sharp, axes = self._sources
        tuned = SESSION_MODELS.get(self.session_label or "")
        if layer is None and tuned is not None and not self.closed:  # an unpaired run
            self.status_label.setText(
                f"{self.status_label.text()} Compare & QC not filled: the run had no real "
                "pair to hold out; deblur a blurry layer with the new method in the Deblur "
                "dock.")
            return None
        gone = [la for la in (layer, sharp) if la is not None and la not in self.viewer.layers]
        if gone and not self.closed:
            self.status_label.setText(f"{self.status_label.text()} Compare & QC not filled: "
                                      f"layer {gone[0].name!r} was removed during the run.")
        if tuned is None or self.base_network is None or gone:
            return None
        region, auto = self._notes.get("val_region"), layer_modality(layer)  # auto: paired only
        if isinstance(self.request, SelfAdaptRequest):
            width = layer_data(layer).shape[axes.index("X")]
            region, auto = ("X", width - self._notes["held_out_columns"][0], width), None
        # only the arrays here: the band of a lazy stack is read in the worker
        plan = plan_region(layer, axes, region, sharp=sharp, focus=self._notes.get("focus"),
                           sharp_data=getattr(self.request, "sharp", None))
        run = self.run_number  # the run being compared, even if another starts meanwhile

        def shown(result):
            held, images = result
            if self.closed:
                return
            self.comparison = add_comparison(self.viewer, held, self.base_network.label,
                                             tuned.label, images, run=run)
            self.status_label.setText(f"{self.status_label.text()} {shown_line(self.viewer, held)}")

        def failed(error):
            notify_error(f"Comparing on the held-out region failed: {describe_error(error)}")

        return start_worker(self, iter_compare_job, plan, [self.base_network, tuned],
                            self.request.device, self.request.psf, auto, returned=shown,
                            errored=failed)

    def _errored(self, error) -> None:
        notify_error(f"Fine-tuning failed: {describe_error(error)}")
        if not self.closed:
            self.status_label.setText(f"failed: {describe_error(error)}")

    def _finished(self) -> None:
        if self.closed:
            return
        self.progress_bar.setFormat("%p%")
        self.progress_bar.setRange(0, 1)
        kept = self.outcome is not None and self.outcome.model is not None
        self.progress_bar.setValue(1 if kept else 0)
        self._set_running(False)

    # ------------------------------------------------------------------ teardown

    def quit_workers(self) -> None:
        """The training worker is stopped through its flag, so that ``iter_fit`` is closed in
        its own thread (writing its checkpoint) within one step, and keeps the weights that
        beat the start (``_finetune_close``); other workers just quit."""
        if self.keeper is not None:  # first: the stop may end the job at once
            self.keeper.close(self.worker)
        if self.request is not None:
            self.request.stop.set()
        for worker in list(self._workers):  # the training worker runs on to see its stop
            end = worker.resume if worker is self.worker else worker.quit
            with suppress(RuntimeError):  # its Qt side is already gone
                end()
        # as ``WorkerOwnerMixin``'s: the interpreter's exit must not delete their signals
        outlive_exit(list(self._workers))

    def release_viewer(self) -> None:
        self.axes_prefill.release()
        self.psf_panel.prefill.release()
        self.base.release()
        self.self_page.release()
        self.regimes.release()
        self.options.release()
        for combo_ in (self.blurry_combo, self.sharp_combo, self.stack_combo):
            combo_.disconnect_viewer()
