"""Preview of a Fine-tune run: pause the training between two steps, deblur the current slice
with the weights as they are (a copy), show it in one preview layer, then resume.

``TrainingPreviewMixin`` is mixed into the Fine-tune dock; it reads the dock's ``viewer``,
``worker``, ``request`` (``model``, ``base_card``, ``base_label``, ``axes``, ``device``,
``psf``, ``stop``), ``_source_layer()``, ``_last_step``, ``preview_button`` and ``status_label``.
"""

from __future__ import annotations

import copy

from ._feedback import describe_error, notify_error, notify_info
from ._jobs import DeblurRequest, DeblurRun, removed_note
from ._layer_data import add_layer, preview_layer, source_placement
from ._layers import (
    check_image_layer,
    guess_layer_axes,
    layer_data,
    lazy_part,
    scope_selection,
)
from ._methods import SessionModel
from ._run_input import replaced_fields


class TrainingPreviewMixin:
    """Preview for a dock that trains in a pausable napari worker."""

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
        from ..core.method import MethodSpec
        from ..core.tiling_spec import TilingSpec

        layer = self._source_layer()
        check_image_layer(layer)
        train = self.request
        axes = train.axes or guess_layer_axes(layer)
        keep = getattr(train.model, "in_channels", 1) > 1
        psf = train.psf if getattr(train.model, "needs_psf", False) else None
        # the preview is of the plane at the sliders, and has no other scope to offer
        key, offset = scope_selection(self.viewer, layer, axes, "current slice", keep,
                                      other_scope=False)
        label_ = f"{train.base_label} fine-tuning, step {self._last_step}"
        network = SessionModel(label_, copy.deepcopy(train.model).eval(), train.base_card,
                               "preview")
        return DeblurRequest(
            source_name=layer.name, image=lazy_part(layer_data(layer), key), axes=axes,
            # a PSF-aware network fine-tuning at a calibrated noise scale previews at it
            method=MethodSpec(psf=psf, noise_scale=getattr(train.model, "bound_noise_scale", 1.0)),
            label=label_, network=network,
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
        self.preview_run = DeblurRun(self.viewer, req, layer=None, on_done=self._preview_done)
        self.own_worker(self.preview_run.worker)  # before it starts: it may finish at once
        self.preview_run.start()

    def _preview_done(self, run) -> None:
        if self.worker is not None and self.worker.is_running:
            self.worker.resume()
        if self.closed:
            return
        self.preview_button.setEnabled(self.worker is not None and self.worker.is_running)
        if run.outcome is None:
            return
        # run.req names the input layer as it is now (DeblurRun follows a rename)
        image, kwargs, kind = preview_layer(run.req, run.outcome.result.image)
        kwargs["metadata"]["microdeblur"].update(replaced_fields(run))
        self._show_preview(run.req.placement.get("source"), (image, kwargs, kind))
        if note := removed_note(run):  # training goes on, on the data it took at the start
            line = f"preview {kwargs['name']!r} added{note}"
            self.status_label.setText(line)
            notify_info(line)  # the next step's progress replaces the status line

    def _show_preview(self, source, layer_tuple) -> None:
        """Show a preview in the preview layer: a new one where the previous preview was of
        another input layer (it kept that layer's scale, rotation, contrast and colormap), or
        of another dimensionality; else the same layer, placed anew (scale, translate, rotate,
        shear, affine: the input may have moved since)."""
        image, kwargs, kind = layer_tuple
        old, before = self.preview_layer, getattr(self, "_preview_source", None)
        self._preview_source = source  # weak references to the input layers
        kept = old is not None and old in self.viewer.layers
        if kept and (before is None or source is None or before() is not source()
                     or old.data.ndim != image.ndim or old.rgb != kwargs["rgb"]):
            self.viewer.layers.remove(old)
            kept = False
        if not kept:
            self.preview_layer = add_layer(self.viewer, layer_tuple)
            return
        old.data = image
        old.name = kwargs["name"]
        old.metadata = {**old.metadata, "microdeblur": kwargs["metadata"]["microdeblur"]}
        for key in ("scale", "translate", "rotate", "shear", "affine"):
            setattr(old, key, kwargs[key])
