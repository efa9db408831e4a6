"""Deblur dock: pick an image layer and a method, deblur it in a napari worker (a progress bar
per tile; Cancel between tiles, or between two Richardson-Lucy iterations: ``_deblur_stop``)
and add the result as a new layer.

The dock is assembled from the image, method, tiling and run panels (``_panels.py``); the run
is ``_jobs.DeblurRun``, which the menu action "Deblur with default model" uses too. The method
is 'auto' by default, with an image type; a method that takes a PSF shows the PSF it will use
(``_psf_preview``), and "PSF from beads..." measures one from a bead image layer.
"""

from __future__ import annotations

from pathlib import Path

from napari.layers import Layer
from napari.viewer import Viewer
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFileDialog, QInputDialog, QWidget

from ..core.channel_psfs import CHANNEL_SEPARATOR, channel_sources
from ..core.psf_estimate import is_estimate
from ._auto_modality import AutoModalityPanel
from ._controls import button, enable_saying_why
from ._deblur_stop import CANCELLING
from ._dock_fit import press_with_return, tab_in_order
from ._dock_scroll import scroll_body
from ._feedback import describe_error, notify_error, notify_info, notify_warning, replace_asked
from ._jobs import DeblurRequest, DeblurRun, request_card, start_deblur
from ._kept_models import remember_weights_folder, weights_start_folder
from ._layer_data import source_placement
from ._layers import (
    current_data_index,
    is_image_layer,
    layer_data,
    lazy_part,
    scope_selection,
)
from ._methods import (
    AUTO,
    SESSION_MODELS,
    add_loaded_weights,
    architecture_question,
    auto_modality_note,
    load_failure_line,
    method_card,
)
from ._panels import TICK_USE_PSF, ImagePanel, RunControls, TilingPanel, row
from ._psf_checks import (
    auto_rule_of,
    fit_check_of,
    record_psf_resampling,
    used_psf_of,
    with_layer_psf,
)
from ._psf_preview import PsfLayerWatch, PsfPreview, beside_use_psf
from ._psf_sources import (
    BEADS_TOOLTIP,
    ESTIMATE_TOOLTIP,
    LAYER_PREFIX,
    PsfScalePrefill,
    choose_bead_layer,
    estimate_psf_of_layer,
    image_pixel_sizes,
    measure_psf_from_beads,
    psf_of_text,
    psf_scale_note,
)
from ._run_status import ResultLine, done_line, run_line
from ._workers import RunDockMixin, WorkerOwnerMixin, start_worker

METHOD_TOOLTIP = ("auto: the bundled network for the image type, or with a PSF the PSF-aware "
                  "network; bundled weights, weights loaded or fine-tuned in this session, "
                  "fine-tunes kept from earlier sessions (kept DATE), or a classical "
                  "deconvolution (Richardson-Lucy, Wiener) that needs a PSF.")
LOAD_TOOLTIP = ("Load a .safetensors checkpoint (with its model card), a PyTorch .pt/.pth state "
                "dict (you will be asked for its architecture), or a BioImage Model Zoo .zip "
                "exported by napari-microdeblur. It becomes a method for this session.")


def psf_runs_in_3d(req: DeblurRequest) -> bool:
    """Whether ``req``'s run deconvolves with its PSF over Z (the core lays out a method of
    spatial_dims 3 as ZYX: ``Layout.for_method``). Plane by plane, a 3D PSF's Z step does not
    matter: a network takes its in-focus plane (a PSF-aware Method is 2D), and so does a run of
    one plane. A PSF per channel: whether any channel's runs in 3D (``channel_runs_in_3d``)."""
    from ..core.psf_fit import runs_in_3d

    if req.network is not None:  # a session network: PSF-aware (2D) or blind
        return False
    if (parts := channel_sources(req.method.psf)) is not None:
        return any(in_3d for _, in_3d in channel_runs_in_3d(req, parts))
    return runs_in_3d(req.method, req.axes, tuple(int(n) for n in req.image.shape))


def channel_runs_in_3d(req: DeblurRequest, parts: list[str]) -> list[tuple[int, bool]]:
    """For a PSF per channel (``parts``, in channel order): (channel index, whether that
    channel's run deconvolves over Z) for each channel ``req``'s run deblurs. Each channel runs
    as an image without C with its own PSF ('auto' may take one to Richardson-Lucy in 3D and
    keep another to the network), as the CLI judges it (``core.files``); a slice of one channel
    (``_jobs.one_channel_request``) runs that channel's PSF alone. Empty where the run is
    refused (no C axis, another count, a session network)."""
    from ..core.psf_fit import runs_in_3d

    shape = tuple(int(n) for n in req.image.shape)
    if req.network is not None or "C" not in req.axes:
        return []
    c = req.axes.index("C")
    if shape[c] == 1 and len(parts) > 1:  # one channel of the layer: the slice's
        index = int(req.offset[c]) if len(req.offset) > c else 0
        if index >= len(parts):
            return []
        return [(index, runs_in_3d(req.method.replace(psf=parts[index]), req.axes, shape))]
    if shape[c] != len(parts):
        return []
    axes, plane = req.axes.replace("C", ""), shape[:c] + shape[c + 1:]
    return [(i, runs_in_3d(req.method.replace(psf=p), axes, plane))
            for i, p in enumerate(parts)]
SAVE_TOOLTIP = ("Save the last result (else the selected image layer) as ImageJ TIFF, "
                "OME-TIFF or OME-Zarr with its axes, pixel size and deblur record. File > Save "
                "Selected Layers... may pick napari's own writer, which keeps the pixels only.")


def save_calibrated_dialog(layer: Layer, viewer: Viewer) -> list[str]:
    """File > IO Utilities > Save image layer with calibration...: the selected image layer
    through this plugin's writer; napari's own save dialog may preselect its builtin writer.
    Returns the paths written ([] if cancelled or refused, said in a notification)."""
    import re

    from napari.utils.history import get_save_history

    from .._writer import save_calibrated, saved_contents
    from .._writer_paths import calibrated_path, check_not_a_source, save_filter

    if not is_image_layer(layer):
        notify_warning("select an image layer in the layer list, then save it with calibration")
        return []
    start = Path(get_save_history()[0]) / re.sub(r'[\\/:*?"<>|]', "_", layer.name)
    path, chosen = QFileDialog.getSaveFileName(
        None, f"Save {layer.name!r} with its calibration", str(start), save_filter())
    if not path:
        return []
    try:
        # Qt asked to replace the name typed ('cells'), not the one the suffix makes
        final = calibrated_path(path, chosen)
        check_not_a_source(final, layer, viewer)  # nor that of any layer in the viewer
        if final != path and Path(final).exists() and not replace_asked(final):
            return []
        written = save_calibrated(layer, final, chosen)
    except (ValueError, OSError) as error:
        notify_error(describe_error(error))
        return []
    # what the file holds, read back: a save may leave axes, sizes or the record out (said)
    contents = saved_contents(written[0])
    notify_info(f"saved {layer.name!r} to {written[0]}" + (f" {contents}" if contents else ""))
    return written


class DeblurWidget(RunDockMixin, WorkerOwnerMixin, QWidget):
    """Plugins > napari-microdeblur > Deblur."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ..core import inference  # noqa: F401 - the core (and torch) loads with the dock

        self.viewer = napari_viewer
        self.init_workers()
        self.run_handle: DeblurRun | None = None
        self.last_run: DeblurRun | None = None
        self._scale_warning = ""  # the PSF-scale warning of the last run, kept in its status
        self.image = ImagePanel(
            napari_viewer,
            "Image layer to deblur (2D, 3D, 4D, multichannel or RGB). Labels, points and "
            "shapes layers are not offered.",
            "Axes of the layer, one letter per dimension: T time, C channel, Z depth, Y, X, S "
            "RGB samples (e.g. YX, ZYX, TZYX, CZYX, YXS). Guessed from the layer; edit if wrong.")
        self.method = AutoModalityPanel(
            self.image, "Method", METHOD_TOOLTIP, leading=(("auto (default for the image)", AUTO),),
            card_tooltip="Model card of the chosen weights: what they were trained on.",
            image_types=True, network_psf=True)
        self.method.psf_value = self.psf_of_text
        self.load_button = button("Load weights...", LOAD_TOOLTIP)
        self.method.form.insertRow(1, "", self.load_button)
        self.beads_button = button("PSF from beads...", BEADS_TOOLTIP)
        self.estimate_button = button("Estimate PSF from image", ESTIMATE_TOOLTIP)
        self.psf_preview = PsfPreview(self)
        psf_form = self.method.classical_box.form
        psf_form.insertRow(2, "", row(self.beads_button, self.estimate_button))
        beside_use_psf(psf_form, self.method.classical_box.use_psf_check, self.psf_preview)
        self.tiling = TilingPanel()
        self.controls = RunControls(
            "Run", "Deblur in the background; the result is added as a new layer.",
            "Stop the run: Richardson-Lucy at its next iteration, Wiener or a network after "
            "the current tile; no layer is added.", "Tiles done over all planes.",
            "What the last run did.")
        self.save_button = button("Save result...", SAVE_TOOLTIP)
        self.controls.layout().addRow(self.save_button)
        layout = scroll_body(self)  # a dock fits a 1080-px screen: it scrolls
        for panel in (self.image, self.method, self.tiling, self.controls):
            layout.addWidget(panel)
        layout.addStretch(1)
        self._name_controls()
        # made last, these buttons came after Use a PSF (and its Noise scale) in Tab's order
        tab_in_order(self.method_combo, self.load_button)
        tab_in_order(self.psf_box.psf_browse, self.beads_button, self.estimate_button)
        press_with_return(self, tab_only=self.run_button)
        self.load_button.clicked.connect(self._choose_weights)
        self.beads_button.clicked.connect(self._choose_beads)
        self.estimate_button.clicked.connect(self.estimate_psf)
        self.method.changed.connect(self.update_psf_preview)
        self.psf_edit.textChanged.connect(self.update_psf_preview)
        self.psf_edit.textChanged.connect(self.method.show_auto_choice)  # once it previews
        # a 'layer:NAME' PSF changes with the layer list and that layer's pixels
        self._psf_layer_watch = PsfLayerWatch(napari_viewer, self.psf_edit.text,
                                              self._psf_layer_changed)
        # whether 'auto' goes 3D depends on the PSF (known once previewed), image and scope
        self.method.runs_in_3d = self.auto_runs_in_3d
        self.method.auto_rule = auto_rule_of(self.build_request, self.psf_preview)  # and why
        self.psf_preview.shown.connect(self.method.show_auto_choice)
        # the preview runs Run's check of the PSF against the chosen layer and scope
        self.psf_preview.fit_check = fit_check_of(self.build_request)
        self.psf_preview.used_psf = used_psf_of(self.build_request)  # a file as Run resamples it
        # an error shown for the PSF before the one now being previewed is not its error
        self.method.psf_error = lambda: None if self.psf_preview.busy else self.psf_preview.error
        self.image.changed.connect(self.psf_preview.recheck)
        self.scope_combo.currentIndexChanged.connect(self.psf_preview.recheck)
        self.scope_combo.currentIndexChanged.connect(self.method.show_auto_choice)
        # a PSF per channel: the preview shows the channel the viewer shows
        napari_viewer.dims.events.current_step.connect(self._dims_changed)
        # the Image type follows what a layer's metadata states until the user picks one
        self.image.changed.connect(self._image_changed)
        self._image_changed()
        # an optics PSF's pixel= and dz= follow the layer's scale (after its axes are guessed)
        self.psf_prefill = PsfScalePrefill(
            self.psf_edit, lambda: (self.layer_combo.value, self.axes_edit.text().strip().upper()),
            form=psf_form, follow=(self.image.changed,))
        self.update_psf_preview()
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.save_button.clicked.connect(self.save_result)

    def _name_controls(self) -> None:
        """The controls as attributes of the dock (what tests and scripts drive)."""
        self.layer_combo, self.axes_edit = self.image.layer_combo, self.image.axes_edit
        self.method_combo = self.method.combo
        self.modality_combo = self.method.modality_combo
        self.card_label = self.method.card_view.summary_label
        self.psf_box = self.method.classical_box
        self.psf_edit = self.psf_box.psf_edit
        self.use_psf_check = self.psf_box.use_psf_check
        self.iterations_spin = self.psf_box.iterations_spin
        self.balance_spin = self.psf_box.balance_spin
        self.tv_spin = self.psf_box.tv_spin
        self.precision_combo = self.method.precision_combo
        self.details_button = self.method.card_view.details_button
        t = self.tiling
        self.device_combo, self.device_label = t.device_row.combo, t.device_row.resolved_label
        self.tile_mode, self.tile_spin, self.overlap_spin = t.tile_mode, t.tile_spin, \
            t.overlap_spin
        self.window_combo, self.dtype_combo, self.scope_combo = t.window_combo, t.dtype_combo, \
            t.scope_combo
        c = self.controls
        self.run_button, self.cancel_button = c.run_button, c.cancel_button
        self.progress_bar, self.status_label = c.progress_bar, c.status_label
        self.result_line = ResultLine(self.status_label)  # amended once its result is removed

    # ------------------------------------------------------------------ methods

    def method_choices(self) -> list[str]:
        return self.method.choices()

    def set_method(self, name: str) -> None:
        self.method.set_name(name)

    def set_modality(self, modality: str) -> None:
        """Choose the image type ('auto', 'em', 'fluorescence', 'brightfield'); it then stays
        across layers (``MethodPanel.set_modality``)."""
        self.method.set_modality(modality)

    def _image_changed(self) -> None:
        self.method.follow_layer(self.layer_combo.value)
        text = self.psf_edit.text()
        if is_estimate(text) or CHANNEL_SEPARATOR in text:  # previewed on the layer's data
            self.update_psf_preview()

    def _dims_changed(self, *_) -> None:
        """A per-channel PSF's preview follows the C slider; other sliders (Z, T) change
        nothing it shows (an 'estimate' part was estimated again at every Z step)."""
        if self.closed or CHANNEL_SEPARATOR not in self.psf_edit.text():
            return
        try:
            layer, axes = self.image.checked()
        except ValueError:
            return
        if self._shown_channel(layer, axes) != getattr(self, "_preview_channel", None):
            self.update_psf_preview()

    def auto_runs_in_3d(self) -> bool:
        """Whether 'auto' will run Richardson-Lucy in 3D on the chosen layer as a whole stack
        with the PSF field's PSF (``core.bundled.auto_runs_in_3d``); False while the PSF is
        still being previewed (an optics PSF is then computed once, not here) or unusable."""
        from ..core.bundled import auto_runs_in_3d

        if (self.scope_combo.currentText() != "whole stack" or self.psf_preview.busy
                or self.psf_preview.error is not None):
            return False
        try:
            layer, axes = self.image.checked()
            spec, shape = self.method.spec(AUTO), tuple(layer_data(layer).shape)
            parts = channel_sources(spec.psf)
            if parts is not None and "C" in axes and shape[axes.index("C")] == len(parts):
                # a PSF per channel: each channel runs on its own ('A;B' as one PSF said 2D)
                c = axes.index("C")
                return any(auto_runs_in_3d(spec.replace(psf=p), axes.replace("C", ""),
                                           shape[:c] + shape[c + 1:]) for p in parts)
            return auto_runs_in_3d(spec, axes, shape)
        except (ValueError, TypeError, OSError):  # said where the run would say it
            return False

    def _choose_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load weights", weights_start_folder(),  # the kept fine-tunes' folder
            "Weights (*.safetensors *.pt *.pth *.ckpt *.bin *.zip);;All files (*)",
        )
        if not path:
            return
        remember_weights_folder(path)
        arch = None
        # a state dict (.pt, or .safetensors without a card) does not name its architecture
        if (question := architecture_question(path)) is not None:
            arch, ok = QInputDialog.getItem(self, "Architecture", *question, False)
            if not ok:
                return
        self.load_weights(path, arch=arch)

    def load_weights(self, path: str | Path, arch: str | None = None):
        """Load weights in a worker; on success they become a session method and are chosen."""
        from ..core.checkpoint import load_model

        def loaded(value):
            if self.closed:
                return
            label, line = add_loaded_weights(path, *value)
            self.set_method(label)
            self.status_label.setText(line)
            notify_info(line)

        def failed(error):
            line = load_failure_line(path, describe_error(error), arch)
            if not self.closed:  # the status line kept the last run's line
                self.status_label.setText(line)
            notify_error(line)

        def load():
            return load_model(str(path), arch=arch)

        return start_worker(self, load, returned=loaded, errored=failed)

    # ------------------------------------------------------------------ the PSF

    def psf_of_text(self, text: str):
        """A PSF source as the core takes it ('layer:NAME' becomes that layer's array); a PSF
        per channel ('A;B') stays text, which takes no layer."""
        if (parts := channel_sources(text)) is not None:
            if any(part.startswith(LAYER_PREFIX) for part in parts):
                raise ValueError(f"psf {text!r}: a PSF per channel takes PSF files and models, "
                                 "not layers; save the PSF layer as a .tif and give its path")
            return text
        return psf_of_text(self.viewer, text)

    def update_psf_preview(self, *_) -> None:
        """Show the PSF the chosen method will use (hidden when it takes none)."""
        in_use = self.psf_box.psf_in_use
        self.psf_preview.setVisible(in_use)
        # greyed only for 'auto' with Use a PSF unticked: their tooltips say so
        enable_saying_why(self.beads_button, in_use, BEADS_TOOLTIP, TICK_USE_PSF)
        enable_saying_why(self.estimate_button, in_use, ESTIMATE_TOOLTIP, TICK_USE_PSF)
        if not in_use:
            return
        try:
            source = self.method.psf_source()
        except ValueError as error:
            self.psf_preview.show_error(describe_error(error))
            return
        try:
            layer, axes = self.image.checked()
        except ValueError:  # no usable layer yet: an estimate says when it will be made
            layer, axes = None, ""
        if source is None and self.method.name == AUTO:
            from ..core.bundled import auto_psf

            # 'auto' estimates the PSF itself for EM and brightfield images
            source = auto_psf(self.method.spec(AUTO), "S" in axes)
        image = (layer_data(layer), axes) if layer is not None else None
        if isinstance(source, str) and (parts := channel_sources(source)):
            self._preview_channel = self._shown_channel(layer, axes)
            self.psf_preview.show_channels(parts, self._preview_channel, image)
            return
        self.psf_preview.show_source(source, image if is_estimate(source) else None)

    def _shown_channel(self, layer, axes: str) -> int:
        """The index on the C axis that the viewer shows of ``layer`` (0 without C)."""
        if layer is None or layer.rgb or "C" not in axes[:layer.ndim]:
            return 0
        return current_data_index(self.viewer, layer)[axes.index("C")]

    def _psf_layer_changed(self) -> None:
        if not self.closed:
            self.update_psf_preview()

    def _choose_beads(self) -> None:
        chosen = choose_bead_layer(self, self.viewer)  # (layer, threshold and radius) or None
        if chosen is not None:
            self.psf_from_beads(*chosen)

    def psf_from_beads(self, layer, options=None):
        """Measure a PSF from the bead image ``layer`` in a worker (``core.beads``); on success
        it is added as the layer "PSF from <layer>" (again from the same bead layer: that
        layer is updated) and becomes this dock's PSF. The bead layer is only read."""
        self.status_label.setText(f"measuring the PSF from the beads in {layer.name!r}...")
        return measure_psf_from_beads(self, self.viewer, layer, measured=self._use_found_psf,
                                      failed=self._psf_failed, options=options)

    def estimate_psf(self):
        """Estimate the chosen layer's PSF in a worker (``core.psf_estimate``); on success it
        becomes this dock's PSF as a model string (shown in the preview, editable)."""
        try:
            layer, axes = self.image.checked()
        except ValueError as error:
            self.status_label.setText(describe_error(error))
            return None
        self.status_label.setText(f"estimating the PSF of {layer.name!r}...")
        return estimate_psf_of_layer(self, layer, axes, estimated=self._use_found_psf,
                                     failed=self._psf_failed)

    def _use_found_psf(self, psf_text: str, line: str) -> None:
        """A PSF measured or estimated in a worker becomes this dock's PSF; ``line`` says
        what it is."""
        if self.method.name == AUTO:
            self.use_psf_check.setChecked(True)
        if self.psf_edit.text() == psf_text:  # the same PSF layer, measured again: new pixels
            self.update_psf_preview()
        self.psf_edit.setText(psf_text)
        self.status_label.setText(line)
        notify_info(line)

    def _psf_failed(self, message: str) -> None:
        self.status_label.setText(message)
        notify_error(message)

    # ------------------------------------------------------------------ running

    def build_request(self) -> DeblurRequest:
        """Collect the dock's settings into a request (raises ValueError saying what to fix)."""
        layer, axes = self.image.checked()
        name = self.method.name
        if name is None:
            raise ValueError("no method chosen")
        network = SESSION_MODELS.get(name)
        scope = self.tiling.scope
        spec = self.method.spec("auto" if network is not None else name)
        rgb = "S" in axes
        card = network.card if network is not None else method_card(name, rgb, spec)
        keep_channels = card is not None and card.in_channels > 1
        key, offset = scope_selection(self.viewer, layer, axes, scope, keep_channels)
        whole = scope == "whole stack"
        if name == AUTO:  # results are named after what runs: a network, or RL in 3D
            from ..core.bundled import auto_method_name

            name = "richardson_lucy" if self.auto_runs_in_3d() else auto_method_name(spec, rgb)
        req = DeblurRequest(
            source_name=layer.name,
            image=layer_data(layer) if whole else lazy_part(layer_data(layer), key),
            axes=axes,
            method=spec,
            label=name,
            network=network,
            tiling=self.tiling.tiling_spec(),
            auto_tile=self.tiling.auto_tile,
            scope=scope,
            offset=offset,
            placement=source_placement(layer),
            full_image=None if whole else layer_data(layer),
            psf_text=self.psf_edit.text().strip() if self.psf_box.psf_in_use else "",
        )
        # a PSF file at other voxels than the layer's: resampled to them, as the CLI does
        return with_layer_psf(req, layer, psf_runs_in_3d)

    def run(self) -> DeblurRun | None:
        """Start a run; bad settings go to a notification and nothing starts."""
        if self.refuse_while_running():
            return None
        if self.psf_box.psf_in_use:  # pixel= filled for another layer: the chosen one's now
            self.psf_prefill.settle()
        try:
            # the preview has already read the PSF: what it refused, the run would refuse too,
            # only after starting
            preview = self.psf_preview
            preview.recheck()  # against the layer and scope chosen now
            if self.psf_box.psf_in_use and not preview.busy and preview.error is not None:
                # an optics model lacking pixel= on a layer with no pixel size: said in the
                # layer's terms (the core's line gives an example value that reads as the one)
                raise ValueError(self.psf_prefill.missing_pixel() or preview.error)
            req = self.build_request()
            from ..core.psf_fit import check_psf_model_fits

            if req.network is None:  # PSF rules the run would apply only after it started
                check_psf_model_fits(req.method, req.axes, tuple(req.image.shape),
                                     tile=req.tiling.tile, image=f"layer {req.source_name!r}")
            run = start_deblur(self.viewer, req, on_done=self._run_done,
                               on_progress=self.show_run_progress, start=False)
        except (ValueError, TypeError, OSError) as error:
            notify_error(describe_error(error))
            self.status_label.setText(describe_error(error))
            return None
        focused = self.window().focusWidget() is self.run_button  # greyed, it passes it on
        self.track_run(run)
        if focused:  # to Cancel, not Save result...: Space or Return again stops the run
            self.cancel_button.setFocus(Qt.TabFocusReason)
        # as it runs: a slice of one channel has its PSF. In the dock too: a notification
        # is gone after a while (and was off screen when the docks were taller than it)
        self._scale_warning = self._warn_psf_scale(run.req) + self._warn_pixel_size(run.req)
        self.status_label.setText(run_line(req) + self._scale_warning)
        return run

    def _warn_psf_scale(self, req: DeblurRequest) -> str:
        """Warn (the run goes on) when the PSF was made for other pixels than the layer's scale
        says: a PSF at the wrong scale deblurs wrongly without any error. Its Z step only where
        the run deconvolves in 3D (``psf_runs_in_3d``), as ``microdeblur deblur`` says it."""
        text = self.psf_edit.text().strip() if self.psf_box.psf_in_use else ""
        layer = next((la for la in self.viewer.layers if la.name == req.source_name), None)
        if not (text and layer):
            return ""
        if (parts := channel_sources(text)) is not None:
            from ._channel_psf_scale import channel_used  # the core: not at napari's start

            # each channel's PSF against its own run, worded 'channel N: ...' as the CLI does
            notes = [(i, psf_scale_note(self.viewer, parts[i], layer, req.axes, in_3d=in_3d,
                                        used=channel_used(req.method.psf, i)))
                     for i, in_3d in channel_runs_in_3d(req, parts)]
            note = "; ".join(f"channel {i + 1}: {n}" for i, n in notes if n) or None
        else:
            note = psf_scale_note(self.viewer, text, layer, req.axes,
                                  in_3d=psf_runs_in_3d(req), used=req.method.psf)
        if note:
            notify_warning(note)
        return f" Warning: {note}" if note else ""

    def _warn_pixel_size(self, req: DeblurRequest) -> str:
        """Warn (the run goes on) when fine-tuned weights were trained at a pixel size far
        from the layer's (``files.card_pixel_note``), or scored below the unprocessed input
        on their validation (``files.card_below_input_note``), as ``microdeblur deblur`` warns."""
        from ..core.files import card_below_input_note, card_pixel_note

        layer = next((la for la in self.viewer.layers if la.name == req.source_name), None)
        card = request_card(req) if layer is not None else None
        if card is None:
            return ""
        sizes, _ = image_pixel_sizes(layer, req.axes)
        notes = (card_pixel_note(card, sizes, image=f"layer {layer.name!r}"),
                 card_below_input_note(card))
        note = "; ".join(n for n in notes if n)
        if note:
            notify_warning(note)
        return f" Warning: {note}" if note else ""

    def cancel(self) -> None:
        self.cancel_run()
        if self.run_handle is not None and not self.closed:
            self.status_label.setText(CANCELLING)

    def save_result(self) -> list[str]:
        """The last result, while it is in the viewer, else the selected layer, with its
        calibration (``save_calibrated_dialog``)."""
        result = self.last_run.layer if self.last_run is not None else None
        if result is None or result not in self.viewer.layers:
            result = self.viewer.layers.selection.active
        return save_calibrated_dialog(result, self.viewer)

    def _run_done(self, run: DeblurRun) -> None:
        if self.run_finished(run) and run.layer is not None:
            record_psf_resampling(run.layer, run.req.method.psf)  # from what to what
            req = run.req  # after the run too, as the command line says it
            note = "" if req.network else auto_modality_note(
                req.method, req.axes, req.image.shape, req.image.dtype)
            self.result_line.show(run, done_line(run, self._scale_warning
                                                 + (note and f"; {note}")))

    def release_viewer(self) -> None:
        try:
            self.viewer.dims.events.current_step.disconnect(self._dims_changed)
        except (TypeError, ValueError, RuntimeError):
            pass
        self._psf_layer_watch.release()
        self.result_line.release()
        self.psf_prefill.release()
        self.method.release()
        self.image.release()
