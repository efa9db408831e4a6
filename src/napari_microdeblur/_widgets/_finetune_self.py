"""The Fine-tune dock's "Adapt to this image" mode: no sharp reference, only the blurry layer
and its PSF (``core.self_adapt``, the job behind `microdeblur finetune --self`).

The page offers the blurry layer; the dock's ``_psf_panel.PsfPanel`` (shown for this mode and for a
PSF-aware base network on pairs) reads the PSF from the same sources as the Deblur dock
(``_psf_sources``: a model such as gaussian:1.6, optics, a TIFF, or ``layer:NAME``, e.g. a PSF
measured from beads). ``iter_self_adapt_job`` runs the adaptation in the dock's worker, writes
the kept weights as ``best.safetensors`` with their model card and returns a
``core.finetune.FinetuneResult``, the same outcome as a paired run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtWidgets import QWidget

from ._layers import LayerCombo, check_image_layer, input_rank
from ._panels import form_layout

#: how the notes that say what the job does begin (core.self_adapt's "prior: ..."); the
#: others say what may go wrong (a PSF cropped, a held-out strip of background) and warn
INFO_NOTE_PREFIXES = ("prior: ",)


def is_info_note(note: str) -> bool:
    """Whether a job's note is information (a notification of severity info) or a warning."""
    return note.startswith(INFO_NOTE_PREFIXES)


def mode_defaults(mode: str, regime: str = "supervised") -> tuple[int, float, float]:
    """(steps, learning rate, minutes) a run starts with: adapting without a reference ("self")
    takes core.self_adapt's, pairs and stacks core.finetune's (both time-boxed, measured), the
    adversarial regimes `microdeblur train`'s learning rate."""
    from ..core import job_defaults as d  # numbers only: no torch while the dock opens

    if mode == "self":
        return d.SELF_ADAPT_MAX_STEPS, d.SELF_ADAPT_LR, d.SELF_ADAPT_MINUTES
    lr = d.PAIRED_LR if regime == "supervised" else d.TRAIN_LR
    return d.PAIRED_STEPS, lr, d.PAIRED_MINUTES


@dataclass
class SelfAdaptRequest:
    """One adaptation without a reference, collected on the GUI thread. The fields the dock's
    preview reads (model, base_card, base_label, axes, device, stop) are named as in
    ``core.finetune.FinetuneRequest``."""

    layer_name: str
    image: Any  # the layer's array (never modified)
    axes: str
    psf: Any  # a PSF source string or array
    psf_text: str
    model: Any  # a copy of the base network; adapted in place
    base_label: str
    base_card: Any
    config: Any  # core.self_adapt.SelfAdaptConfig, checked
    checkpoint_dir: str
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        check_layer_room(self)  # before the job starts, as a paired run's layers are

    @property
    def device(self) -> str:
        return self.config.device


def check_layer_room(req: SelfAdaptRequest) -> None:
    """What the adaptation refuses of the layer's size (``self_adapt_planes.check_room``),
    asked when the request is made: it was found once the job had started ("failed: image 0
    plane 0 is 12 x 12 px ... val_fraction"). Its ``patch=``/``val_fraction=`` are said as the
    dock's fields (``describe_error``). The PSF is the job's: a model or file cut to the
    plane as the job cuts it; an estimated one (not known yet) counts as 1 px."""
    from ..core.axes import check_axes
    from ..core.psf_estimate import is_estimate
    from ..core.self_adapt_planes import check_room

    shape = tuple(int(n) for n in np.shape(req.image))
    axes = check_axes(req.axes, shape)
    plane = (shape[axes.index("Y")], shape[axes.index("X")])
    kernel = (1, 1)
    if not (isinstance(req.psf, str) and is_estimate(req.psf)):
        from ..core.psf import fit_psf_to_image
        from ..core.psf_aware import plane_kernel

        kernel = fit_psf_to_image(plane_kernel(req.psf)[0], plane)[0].shape
    check_room(f"layer {req.layer_name!r}", plane, kernel, req.config.patch,
               req.config.val_fraction, int(getattr(req.model, "size_divisor", 1)))


class SelfAdaptPage(QWidget):
    """The blurry layer to adapt to (its PSF is in the dock's ``PsfPanel``)."""

    def __init__(self, viewer, parent=None) -> None:
        from napari.layers import Image

        super().__init__(parent)
        form = form_layout(self)
        self.layer_combo = LayerCombo(viewer, (Image,), rank=input_rank, tooltip=(
            "The blurry image to adapt the network to (no sharp reference needed): every plane "
            "is used; the last 'Validation fraction' of its columns is held out."))
        form.addRow("Blurry image", self.layer_combo)

    def checked_layer(self):
        layer = self.layer_combo.value
        check_image_layer(layer, "blurry image")
        return layer

    def release(self) -> None:
        self.layer_combo.disconnect_viewer()


def self_adapt_config(*, minutes: float | None, steps: int, patch: int, batch_size: int,
                      lr: float, val_fraction: float, device: str):
    """The checked SelfAdaptConfig of the dock's settings (ValueError says what to change)."""
    from ..core.self_adapt import SelfAdaptConfig

    if minutes is None:
        raise ValueError("Adapt to this image runs for a time limit: set Minutes above 0 "
                         "(default 3)")
    return SelfAdaptConfig(minutes=float(minutes), max_steps=steps, patch=patch,
                           batch_size=batch_size, lr=lr, val_fraction=val_fraction,
                           device=device).check()


def iter_self_adapt_job(req: SelfAdaptRequest):
    """Worker body: adapt, write the kept weights with their card, return a FinetuneResult."""
    from ..core.checkpoint import load_model, save_weights
    from ..core.finetune import STARTING_WEIGHTS_RETURNED, FinetuneResult
    from ..core.self_adapt import iter_self_adapt
    from ..core.self_adapt_planes import image_names

    said: list[str] = []
    try:
        run = iter_self_adapt(req.model, np.asarray(req.image), req.psf, axes=req.axes,
                              config=req.config, card=req.base_card, stop=req.stop)
    except ValueError as error:  # its 'image 0' is the layer
        raise ValueError(image_names(str(error), [f"layer {req.layer_name!r}"])) from None
    result = yield from with_in_focus_note(run, req.psf, said)
    best = Path(req.checkpoint_dir) / "best.safetensors"
    save_weights(result.model, best, result.card(req.base_card, base_label=req.base_label,
                                                 what=f"layer {req.layer_name!r}",
                                                 psf_text=req.psf_text))
    model, card = load_model(best)
    kept = (f"held-out loss {result.start_val_loss:.3f} -> {result.best_val_loss:.3f} "
            f"(kept step {result.best_step})" if result.improved else
            f"no step beat the starting weights{by_share(req.config.min_gain)} on the held-out "
            f"columns ({result.start_val_loss:.3f}{best_trained(result)}): "
            f"{STARTING_WEIGHTS_RETURNED}")
    diverged = next((n for n in result.notes if "the loss became" in n), None)
    how = {"time_limit": "time limit reached", "stopped": "stopped"}.get(result.stopped, "")
    return FinetuneResult(stopped=result.stopped == "stopped", model=model, card=card,
                          result=result, file=best, diverged=diverged,
                          improved=result.improved, kept_start=not result.improved,
                          summary="; ".join(s for s in (diverged, *said, how, kept) if s))


def by_share(min_gain: float) -> str:
    """' by 1.0%' of a self-adaptation's ``min_gain``; '' for its default, any gain."""
    return f" by {min_gain:.1%}" if min_gain else ""


def best_trained(result) -> str:
    """', best step N L' of an adaptation's validations after the start ('' without)."""
    trained = [h for h in result.history if h["step"] > 0]
    best = min(trained, key=lambda h: h["val_loss"], default=None)
    return "" if best is None else f", best step {best['step']} {best['val_loss']:.3f}"


def in_focus_note(psf) -> str | None:
    """The line saying that a PSF with several planes adapts with its in-focus plane, which
    blurs every plane of the image (``core.psf_aware.plane_kernel``: what the PSF-aware
    network deblurs with, too); None for a 2D PSF or one estimated from the image."""
    from ..core.psf import parse_psf
    from ..core.psf_estimate import is_estimate
    from ..core.psf_shape import in_focus_words

    if isinstance(psf, str) and is_estimate(psf):
        return None
    kernel = parse_psf(psf) if isinstance(psf, str) else np.asarray(psf)  # a model: cached
    plane = in_focus_words(kernel)
    return None if plane is None else (
        f"3D PSF: its in-focus plane ({plane}) blurs every plane of the image, as the "
        "PSF-aware network deblurs with it")


def with_in_focus_note(run, psf, said: list):
    """``run``'s records, its first Notes (yielded once the core has checked the PSF) led by
    ``in_focus_note`` (which also goes into ``said``): the core's own warning is worded for
    deblurring and, raised on the worker, did not reach the dock."""
    from ..core.progress import Notes

    try:
        first = next(run)
    except StopIteration as stop:
        return stop.value
    note = in_focus_note(psf) if isinstance(first, Notes) else None
    if note:
        said.append(note)
        first = replace(first, notes=(note, *first.notes))
    try:
        yield first
    except GeneratorExit:  # the dock stopped the worker: the core restores its best weights
        run.close()
        raise
    return (yield from run)
