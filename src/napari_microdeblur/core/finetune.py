"""Fine-tuning a network on the user's own pairs: the job behind the Fine-tune dock and
`microdeblur finetune`.

Pairs come from fields: a blurry and a sharp array of the same field, paired plane by plane
(2D, z-stacks, RGB), or a z-stack and its in-focus plane (``core.pairs``). Validation holds out
pixels the training never sees: whole fields when there are enough of them, whole planes of one
pair of stacks, otherwise a band of every plane (``finetune_split``). The starting weights are
scored first and kept unless a later validation beats them, so the job never returns weights
that score worse on validation than where it started; ``patience`` validations without a better
one stop it early. Validation comes every ``val_every`` steps and, between those, once
VAL_SECONDS of training passed without one (a Stop keeps what they validated; ``patience``
counts only the former). Training is ``core.training.iter_fit``, writing ``best.safetensors``
and ``last.safetensors`` with their model cards (and ``last.pt`` to resume from) into
``checkpoint_dir``.

The request, its fields and the checks made on it are ``finetune_request``.
``iter_finetune(request)`` checks everything and builds the pairs, yields one
:class:`~.progress.Notes` (info: pairs, train, val, focus, holdout, val_region, val_scored), then a
``FitProgress`` per step, and returns a :class:`FinetuneResult`. A diverging run (NaN/Inf loss, a
``FloatingPointError`` or ``RuntimeError`` in a step) ends with the best weights so far and
``diverged`` saying why; a ``KeyboardInterrupt`` leaves them in ``checkpoint_dir``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import data, training
from .axes import check_axes, is_rgb
from .catalog import finetuned_lineage
from .checkpoint import ModelCard, load_model
from .finetune_data import JitteredPairs, request_replay
from .finetune_planes import channel_planes, opponent_planes
from .finetune_request import (
    FinetuneRequest,
    ImageSet,
    PairField,
    StackField,
    check_request,
    finetuned_license,
    replay_from,
    request_fields,
    validation_scored,
)
from .finetune_simple import finetune
from .finetune_split import band_region as _band_region
from .finetune_split import check_field_sizes, split_pairs
from .job_defaults import (
    DEFAULT_ANCHOR_WEIGHT,
    DEFAULT_INTENSITY_JITTER,
    DEFAULT_MIN_GAIN_DB,
    DEFAULT_PATIENCE,
    PAIRED_MINUTES,
)
from .progress import Notes
from .psf_aware import DEFAULT_PSF_AWARE
from .training.checkpoints import temporary_checkpoint_dir
from .training.loop import Trainer, run, stopped_by
from .training.regimes.base import KEEP_LAST

__all__ = [
    "BEFORE_FIRST_VALIDATION", "STARTING_WEIGHTS_RETURNED", "DEFAULT_ANCHOR_WEIGHT",
    "DEFAULT_INTENSITY_JITTER", "DEFAULT_MIN_GAIN_DB", "DEFAULT_PATIENCE", "PAIRED_MINUTES",
    "FinetuneRequest", "FinetuneResult", "ImageSet", "JitteredPairs", "PairField", "StackField",
    "check_field_sizes", "finetune", "iter_finetune", "opponent_planes", "scores_below_input",
]

#: how a summary ends when no validation beat the starting weights (the dock rewords it)
STARTING_WEIGHTS_RETURNED = "the starting weights are returned"
#: how a summary says that no validation came after the start's (the dock words its advice)
BEFORE_FIRST_VALIDATION = "before its first validation after the start"
#: at most this many steps between two validations (time-boxed runs have many steps)
MAX_VAL_EVERY = 50
#: a validation is also due after this many seconds of training without one: at 50 steps a
#: CPU run (2.3 steps/s) first validated after 21 s, and a Stop before that kept nothing
VAL_SECONDS = 12.0


@dataclass
class FinetuneResult:
    """The kept weights (loaded back from ``file``), or ``model=None`` when the run ended
    before a checkpoint was written; ``stopped`` when the user stopped it; ``diverged`` says
    why a diverging run ended; ``improved`` is False when no validation beat the starting
    weights (they are returned), None without validation; ``kept_start`` when the weights
    returned are the starting ones (the kept checkpoint is step 0 and, PSF-aware, the noise
    scale calibrated is the base's: nothing was learned, so the dock adds no method);
    ``summary`` is one line for the user; ``input_val_psnr`` is the unprocessed input's
    validation PSNR (for a stopped run too, read back from its ``last.pt``), None without
    validation; ``unvalidated`` when the run ended before any weights after the start were
    validated (the starting weights are returned: the advice is to run longer). ``file``:
    the kept weights, ``out`` when ``finetune_simple.finetune`` was given one, else the
    checkpoint folder's (a temporary one is removed when Python exits)."""

    stopped: bool
    model: Any = field(repr=False)  # a notebook's repr: ~4,000 lines of layers and weights
    card: ModelCard | None = field(repr=False)
    result: training.FitResult | None = field(repr=False)
    file: Path | None = None
    diverged: str | None = None
    improved: bool | None = None
    summary: str = ""
    kept_start: bool = False
    input_val_psnr: float | None = None
    unvalidated: bool = False


# ----------------------------------------------------------------------------- pairs


def _field_pairs(f: PairField | StackField, req: FinetuneRequest) -> tuple[list, int | None]:
    """The pairs of one field and its in-focus plane (None for a blurry/sharp pair)."""
    if isinstance(f, PairField):
        b, s = np.asarray(f.blurry), np.asarray(f.sharp)
        if b.shape != s.shape:
            raise ValueError(f"{f.name}: blurry has shape {b.shape} but sharp {s.shape}; "
                             "accepted: the same field with the same shape, axes and planes")
        return data.pairs_from_arrays(b, s, axes=f.axes, align=req.align,
                                      match_intensity=req.match_intensity, name=f.name), None
    stack = np.asarray(f.stack)
    focus = data.find_focus_plane(stack, f.axes) if f.focus == "auto" else f.focus
    found = data.pairs_from_stack(stack, focus_plane=focus, axes=f.axes, align=req.align,
                                  match_intensity=req.match_intensity,
                                  target_neighbours=f.target_neighbours, name=f.name)
    return found, focus


def _source_noun(req: FinetuneRequest, fields) -> str:
    """'layer' or 'file' as the card calls the sources; plural for several fields or a pair
    of files (a dock pair is named after its blurry layer)."""
    several = len(fields) > 1 or (req.source_kind == "file" and isinstance(fields[0], PairField))
    return req.source_kind + ("s" if several else "")


def _narrow_validation(req: FinetuneRequest, val) -> str:
    """A short clause when validation rests on 2 or fewer fields (a band of one acquisition,
    say): an H&E fine-tune that gained there lost 0.4-1.5 dB on an unseen blood smear."""
    n = len({p.group.split(":")[0] for p in val or ()})
    if not val or n > 2:
        return ""
    return (f"validation rests on {n} {req.source_kind}{'s' if n > 1 else ''}: a gain there "
            "says little about other samples")


def _opponent_planes_wanted(req: FinetuneRequest, fields) -> bool:
    """A PSF-aware network given RGB fields trains on what it runs on: luminance and chroma."""
    if req.psf is None or not getattr(req.model, "needs_psf", False):
        return False
    shapes = [np.shape(f.blurry if isinstance(f, PairField) else f.stack) for f in fields]
    return all(is_rgb(check_axes(f.axes, s), s) for f, s in zip(fields, shapes, strict=True))


def _bind_psf(req: FinetuneRequest, train_pairs: list, val) -> tuple[str, np.ndarray | None]:
    """Bind ``req.psf`` to a PSF-aware network (it then trains as ``model(x)``): what the
    model card says about it ("" without a PSF) and the kernel. ValueError when the PSF and
    the network do not go together."""
    needs = bool(getattr(req.model, "needs_psf", False))
    if req.psf is None:
        if needs:
            raise ValueError(
                f"{req.base_label} is PSF-aware: give the PSF of the blurry images (psf=; "
                "--psf on the CLI: a TIFF, gaussian:SIGMA, widefield:... or confocal:...)")
        return "", None
    if not needs:
        raise ValueError(f"{req.base_label} takes no PSF; leave the PSF out (or fine-tune a "
                         f"PSF-aware network such as {DEFAULT_PSF_AWARE})")
    if req.regime != "supervised":
        raise ValueError(f"a PSF-aware network fine-tunes with the supervised regime only, "
                         f"not {req.regime!r}")
    from .psf_aware import plane_kernel

    kernel, text = plane_kernel(req.psf)
    channels = sorted({p.input.shape[0] for p in train_pairs})
    if channels != [1]:
        raise ValueError(f"the pairs have {channels[-1]} channels; a PSF-aware network takes "
                         "grayscale or RGB pairs (RGB with axes ending in S, e.g. YXS; other "
                         "channels one at a time)")
    smallest = min([req.patch] + [min(p.input.shape[-2:]) for p in val or []])
    if max(kernel.shape) > smallest:
        raise ValueError(
            f"the PSF ({kernel.shape[0]} x {kernel.shape[1]} px) is larger than the patches or "
            f"the validation region ({smallest} px); give a larger patch (now {req.patch}) or "
            "validation fraction, larger images, or a PSF cropped to its support")
    import torch

    scale = 1.0
    if req.noise_scale_calibration == "before and after" and val:
        from .psf_aware import calibrate_noise_scale

        scale = calibrate_noise_scale(req.model, val, kernel)[0]
    req.model.bind_psf(torch.from_numpy(kernel), noise_scale=scale)
    trained_at = f", trained at noise scale {scale:g} (calibrated)" if scale != 1 else ""
    return f"; PSF: {text}{trained_at}", kernel


def _record_psf_aware_metrics(outcome: FinetuneResult, val, kernel: np.ndarray,
                              base_card, calibrate: bool = True, psf=None) -> None:
    """Write into the kept weights' card what their later runs read: how much energy they add,
    on the held-out region, at frequencies the PSF blocks (``psf_safeguard``: the per-tile
    safeguard then lets these validated weights do as much on the user's images,
    ``psf_safeguard.correction_limit``); the widest PSF the start was trained on, which the
    fine-tuned weights still know; and the noise scale that scores best on the held-out region
    (``psf_aware.calibrate_noise_scale``; 1 without ``calibrate``), with the summary saying so
    when it is not 1."""
    import torch

    from .checkpoint import save_weights, sha256_file
    from .psf_aware import (
        CALIBRATED_NOISE_SCALE_KEY,
        FINETUNED_PSF_KEY,
        calibrate_noise_scale,
        calibrated_noise_scale,
    )
    from .psf_safeguard import TRAINED_WIDTH_KEY, held_out_ratio, trained_half_max_width

    model = outcome.model.eval()
    scale, scores = calibrate_noise_scale(model, val, kernel) if calibrate else (1.0, {})
    inputs = (torch.from_numpy(np.ascontiguousarray(p.input))[None] for p in val)
    # at the scale the weights will run at: a lower one lets more through where the PSF blocks
    ratio = held_out_ratio(model, inputs, torch.from_numpy(kernel), noise_scale=scale)
    card = outcome.card.model_dump()
    card["metrics"] = {**(card.get("metrics") or {}), "blocked_correction_ratio": ratio,
                       TRAINED_WIDTH_KEY: round(trained_half_max_width(base_card), 2),
                       CALIBRATED_NOISE_SCALE_KEY: scale, FINETUNED_PSF_KEY: (
                           str(psf) if isinstance(psf, (str, os.PathLike)) else "array"),
                       **({"val_psnr_by_noise_scale": {f"{s:g}": round(v, 3)
                                                       for s, v in scores.items()}}
                          if scores else {})}
    if scale != calibrated_noise_scale(base_card):  # the start at another noise scale: a gain
        outcome.kept_start = False
    outcome.card = save_weights(outcome.model, outcome.file, card)
    outcome.card.sha256, outcome.card.source = sha256_file(outcome.file), str(outcome.file)
    if scale != 1:
        outcome.summary += (f"; noise scale {scale:g} calibrated on validation "
                            f"({scores[scale] - scores[1.0]:+.2f} dB)")


def _record_reference_psnr(outcome: FinetuneResult) -> None:
    """Write the input's and the start's validation PSNR beside the kept weights' (a card
    below the input showed "46.00 dB" alone, not the input's 46.09 dB that beat it)."""
    from .checkpoint import save_weights, sha256_file

    metrics = dict(outcome.card.metrics or {})
    start = (metrics.get("val_psnr") if int(metrics.get("step", -1)) == 0
             else _start_psnr(outcome.result))
    found = {"val_psnr_input": outcome.input_val_psnr, "val_psnr_start": start}
    metrics.update({k: float(v) for k, v in found.items() if v is not None})
    if "val_psnr" in metrics and metrics != outcome.card.metrics:
        outcome.card = save_weights(outcome.model, outcome.file,
                                    {**outcome.card.model_dump(), "metrics": metrics})
        outcome.card.sha256, outcome.card.source = sha256_file(outcome.file), str(outcome.file)


def _image_sets(req: FinetuneRequest) -> dict:
    """The regime's image sets as iter_fit's patch sources (``unpaired``, ``unpaired_sharp``),
    unaugmented where the regime says, as `train` builds them (PSF-CycleGAN's blurry set
    flipped and turned had an anisotropic PSF learned as its average over orientations)."""
    fixed = training.get_regime(req.regime).unaugmented_sources
    return {name: data.UnpairedImages([np.asarray(a) for a in given.images], axes=given.axes,
                                      description=given.name, augment=name not in fixed)
            for name in ("unpaired", "unpaired_sharp")
            if (given := getattr(req, name)) is not None}


def _validate_by_time(tr: Trainer, record, last: float | None, timed: list) -> tuple:
    """(``record``, validated now once VAL_SECONDS of training passed since the last validation
    (or the first step); when the last validation came). Kept as the step rule's are, it goes
    to ``timed``, not the trainer's history: ``patience`` counts the step rule's."""
    if (tr.setup.val_crops and not record.validated and last is not None
            and time.monotonic() - last >= VAL_SECONDS):
        v = tr.record_validation()
        timed.append(tr.history.pop())
        record = replace(record, val_psnr=v["val_psnr"], val_ssim=v.get("val_ssim"),
                         val_loss=v.get("val_loss"), validated=True)
    return record, time.monotonic() if record.validated or last is None else last


def _val_every(req: FinetuneRequest) -> int:
    return req.val_every or max(1, min(req.steps // 10, MAX_VAL_EVERY))


def _bound(req: FinetuneRequest, earlier: float) -> str:
    """How long the run could train, in all its sessions (``earlier``: the seconds before this
    one; a resumed card said this session's minutes alone, of a run trained over three)."""
    if req.minutes is None:
        return f"at most {req.steps} steps"
    total = f"{req.minutes:g} minute(s)" if not earlier else (
        f"{req.minutes + earlier / 60:.3g} minute(s) of training in all sessions "
        f"({earlier / 60:.3g} before this resumed one, which had {req.minutes:g})")
    return f"at most {req.steps} steps or {total}, whichever came first"


def _config(req: FinetuneRequest, ckdir: Path, card: dict, validate: bool, earlier: float):
    val_every = _val_every(req)  # the minutes are this session's: the clock counts earlier ones
    time_limit = None if req.minutes is None else req.minutes * 60 + earlier
    return training.TrainingConfig.from_options(dict(
        steps=req.steps, batch_size=req.batch_size, patch=req.patch, lr=req.lr,
        device=req.device, checkpoint_dir=str(ckdir), card=card, seed=req.seed,
        val_every=val_every if validate else None, checkpoint_every=val_every,
        patience=req.patience if validate else None, anchor_weight=req.anchor_weight,
        trainable=req.trainable, replay=req.replay, min_gain_db=req.min_gain_db,
        intensity_jitter=req.intensity_jitter, augment=req.augment,  # the card's recipe
        replay_from=replay_from(req.replay_images) if req.replay else None,
        time_limit=time_limit,
        regime=req.regime, amp=req.amp,
    ))


# ----------------------------------------------------------------------------- the job


def _prepare(req: FinetuneRequest):
    """Every check and the pairs, before any training: (iter_fit generator, Notes, ckdir,
    (validation pairs, the PSF kernel or None))."""
    fields = request_fields(req)
    ckdir = check_request(req)
    training.TrainingConfig.from_options(dict(  # bad numbers fail before the pair work
        steps=req.steps, batch_size=req.batch_size, patch=req.patch, lr=req.lr, seed=req.seed,
        anchor_weight=req.anchor_weight, regime=req.regime, min_gain_db=req.min_gain_db,
        trainable=req.trainable))
    if req.seed >= 2**63:  # an integer >= 0 by now; torch's generators overflow at 2**64
        raise ValueError(f"seed={req.seed!r}; accepted: an integer from 0 to 2**63 - 1")
    sources = _image_sets(req)
    check_field_sizes(req)
    built = [_field_pairs(f, req) for f in fields]
    per_field = [ps for ps, _ in built]
    focus = built[0][1] if len(built) == 1 else None
    divisor = int(getattr(req.model, "size_divisor", 1))
    train_pairs, val, held = split_pairs(per_field, req, divisor, fields)
    if _opponent_planes_wanted(req, fields):
        train_pairs = opponent_planes(train_pairs)
        val = opponent_planes(val) if val else val
        held += " (RGB as luminance and chroma planes)"
    elif (getattr(req.model, "in_channels", 1) == 1 and not getattr(req.model, "needs_psf", 0)
          and any(p.channels > 1 for p in [*train_pairs, *(val or [])])):
        # a one-channel blind network runs RGB channel by channel (on the image's one
        # normalisation): it trains on those planes, as --self adapts it
        train_pairs, val = channel_planes(train_pairs), channel_planes(val) if val else val
        held += " (each channel a grayscale plane)"
    psf_note, kernel = _bind_psf(req, train_pairs, val)
    ckdir = ckdir or Path(temporary_checkpoint_dir())
    # the K each side the targets used: pairs cut K to the stack (an 'auto' focus too)
    averaged = sorted({max(abs(t - p.info["focus_plane"]) for t in p.info["target_planes"])
                       for ps in per_field for p in ps if "target_planes" in p.info} - {0})
    target = (f" (targets: mean of {', '.join(map(str, averaged))} plane(s) each side of focus "
              "and the focus plane, the input's own plane left out)" if averaged else "")
    source = f"stack, in focus at plane {focus}{target}" if focus is not None else (
        "blurry/sharp pair" if len(fields) == 1 else f"{len(fields)} fields")
    what = f"{_source_noun(req, fields)} {req.layer_name!r}: {source}, {len(train_pairs)} " \
           "training plane(s)"
    replay, replayed = request_replay(req, train_pairs)
    train = JitteredPairs(train_pairs, jitter=req.intensity_jitter, augment=req.augment,
                          description=what, replay=replay, replay_share=req.replay)
    base = req.base_card
    # no base card: a network trained here from random weights
    verb = "fine-tuned" if base is not None else "trained"
    start = (f"{req.base_label} ({getattr(base, 'training_data', '')}) {verb}"
             if base is not None else f"{req.base_label} {verb}")
    extra = "".join(f"; {name}: {s.description}" for name, s in sources.items())
    narrow = _narrow_validation(req, val)
    earlier = (float(training.read_checkpoint_info(ckdir)["elapsed"] or 0)  # the run's clock
               if req.resume and req.minutes is not None else 0.0)  # before this session
    card = {
        "training_data": f"{start} on {what}{replayed}{extra}{psf_note}; validation: {held}",
        "license": finetuned_license(base, req.license),  # the start's AND the data's
        # a minutes-bounded run usually stops long before its step cap
        "description": f"{req.base_label} {verb} for {_bound(req, earlier)}"
                       + ("" if req.regime == "supervised" else f", regime {req.regime}")
                       + (f"; {narrow}" if narrow else ""),
        # the images' pixel size: a deblur at another scale warns (files.card_pixel_note)
        "metrics": {**finetuned_lineage(base, f"{verb} on {what}"),
                    **({"pixel_size_um": float(req.pixel_size_um)}
                       if req.pixel_size_um is not None else {})},
    }
    config = _config(req, ckdir, card, validate=val is not None, earlier=earlier)
    from .training.setup import prepare  # iter_fit's, keeping the trainer (VAL_SECONDS)

    resume = ckdir if req.resume else None
    trainer = Trainer(prepare(req.model, config, train, val, sources, resume))
    if trainer.setup.resume is not None:
        trainer.load(trainer.setup.resume)
    notes = [] if val is not None else ["no validation: the last weights are kept"]
    info = {"pairs": sum(len(ps) for ps in per_field), "train": len(train_pairs),
            "val": len(val) if val else 0, "focus": focus, "holdout": held,
            "val_region": _band_region(val), "checkpoint_dir": str(ckdir),
            "val_scored": validation_scored(req.match_intensity, fields) if val else None,
            "narrow_validation": narrow}
    return trainer, Notes(tuple(notes), tuple(info.items())), ckdir, (val, kernel)


def iter_finetune(req: FinetuneRequest) -> Generator[Any, None, FinetuneResult]:
    """The job (see the module docstring); ``req.stop`` stops it after the current step."""
    try:
        trainer, notes, ckdir, (val, kernel) = _prepare(req)
    except BaseException:  # refused after _bind_psf: the caller's network must not keep it
        if getattr(req.model, "bound_psf", None) is not None:
            req.model.bind_psf(None)
        raise
    yield notes
    gen, last, timed = run(trainer), None, []
    stopped, result, diverged, step = False, None, None, 0
    try:
        while True:
            if req.stop.is_set():
                gen.close()  # iter_fit writes best.safetensors in its finally
                stopped = True
                break
            try:
                record, last = _validate_by_time(trainer, next(gen), last, timed)
            except StopIteration as stop:
                result = stop.value
                break
            except (FloatingPointError, RuntimeError) as error:  # best.* written in its finally
                diverged = stopped_by(error, step + 1)
                break
            step = record.step
            yield record
    finally:
        gen.close()  # closed from outside (Ctrl-C in the caller): the best is written too
        if getattr(req.model, "bound_psf", None) is not None:
            req.model.bind_psf(None)
    if result is not None:  # every validation, by steps and by time
        result.history = sorted(result.history + timed, key=lambda h: h["step"])
    outcome = _outcome(ckdir, stopped, result, diverged, req.regime,
                       ended=(step, min([_val_every(req), *(h["step"] for h in timed)])),
                       margin=req.min_gain_db)
    if val and outcome.card is not None and "val_psnr" in (outcome.card.metrics or {}):
        outcome.summary += f" ({notes.get('val_scored')})"  # the scale of the data given
    narrow = _narrow_validation(req, val)
    if narrow and outcome.model is not None:
        outcome.summary += f"; {narrow}"
    if outcome.model is not None:  # the network trained in place deblurs as the kept file
        req.model.load_state_dict(outcome.model.state_dict())
        _record_reference_psnr(outcome)
    req.model.eval()
    if kernel is not None and val and outcome.model is not None:
        _record_psf_aware_metrics(outcome, val, kernel, req.base_card,
                                  calibrate=req.noise_scale_calibration != "off",
                                  psf=req.psf)
    return outcome


def _outcome(ckdir: Path, stopped: bool, result, diverged: str | None,
             regime: str = "supervised", ended: tuple[int, int] = (0, 1),
             margin: float = 0.0) -> FinetuneResult:
    """``ended``: (the last step done, the step of the first validation after the start);
    ``margin``: the request's min_gain_db (a stopped run has no result to read it from)."""
    best = ckdir / "best.safetensors"
    if not best.is_file():
        why = diverged or "stopped before the first checkpoint"
        return FinetuneResult(stopped=stopped, model=None, card=None, result=result,
                              diverged=diverged, summary=f"{why}; nothing to keep")
    model, card = load_model(best)
    metrics = card.metrics or {}
    unprocessed = _input_psnr(result, ckdir)
    improved, kept = _kept(metrics, result, regime, ended, unprocessed, margin)
    how = {"early_stop": "stopped early (no better validation)",
           "time_limit": "time limit reached"}.get(getattr(result, "stopped", ""), "")
    summary = "; ".join(s for s in (diverged, "stopped" if stopped else how, kept) if s)
    return FinetuneResult(stopped=stopped, model=model, card=card, result=result, file=best,
                          diverged=diverged, improved=improved, summary=summary,
                          kept_start=int(metrics.get("step", -1)) == 0,
                          input_val_psnr=unprocessed,
                          unvalidated=("val_psnr" in metrics
                                       and _ended_unvalidated(metrics, result, ended)))


def _input_psnr(result, ckdir: Path) -> float | None:
    """The unprocessed input's validation PSNR: from the run's result or, for a stopped run
    (which has none), from the ``last.pt`` its cancel wrote."""
    baseline = getattr(result, "baseline", None)
    if baseline is None and (ckdir / "last.pt").is_file():
        baseline = training.read_checkpoint_info(ckdir).get("baseline")
    return (baseline or {}).get("val_psnr")


def _kept(metrics: dict, result, regime: str, ended: tuple[int, int] = (0, 1),
          unprocessed: float | None = None, margin: float = 0.0) -> tuple[bool | None, str]:
    """(improved, what was kept) of the kept checkpoint's metrics, saying when they score
    below the unprocessed input (``unprocessed``, the validation of the input itself)."""
    if "val_psnr" not in metrics:
        return None, "no validation: the last weights are kept"
    improved, kept = _kept_words(metrics, result, regime, ended, margin)
    if below := _below_input(metrics["val_psnr"], unprocessed):
        kept += (f"; below the unprocessed input ({below[0]:.2f} dB vs {below[1]:.2f} dB on "
                 "validation): these weights make images worse")
    return improved, kept


def _ended_unvalidated(metrics: dict, result, ended: tuple[int, int]) -> bool:
    """The kept weights are the start's and no weights after it were validated: the run
    ended before its first validation (``ended``: last step, the first validation's step)."""
    trained = [h for h in getattr(result, "history", None) or [] if h["step"] > 0]
    step, every = ended
    return (int(metrics.get("step", 0)) == 0 and not trained
            and (result is not None or step < every))


def _kept_words(metrics: dict, result, regime: str, ended: tuple[int, int],
                margin: float = 0.0) -> tuple[bool | None, str]:
    psnr, start = metrics["val_psnr"], _start_psnr(result)
    from_start = "" if start is None else f" (start {start:.2f} dB)"
    at_start = int(metrics.get("step", 0)) == 0
    trained = [h["val_psnr"] for h in getattr(result, "history", None) or [] if h["step"] > 0]
    step, every = ended
    if _ended_unvalidated(metrics, result, ended):
        # stopped before any weights after the start were validated: none could be kept
        return False, (f"the run ended at step {step}, {BEFORE_FIRST_VALIDATION} (every "
                       f"{every} steps; validation PSNR {psnr:.2f} dB): "
                       f"{STARTING_WEIGHTS_RETURNED}")
    if training.get_regime(regime).checkpoint_criterion == KEEP_LAST:
        if at_start:  # every later validation gave a non-finite output, never kept
            return False, (f"no later step gave a finite output on validation ({psnr:.2f} dB "
                           f"at the start): {STARTING_WEIGHTS_RETURNED}")
        # validation only reports here: the regime keeps its last weights whatever they score
        return (None if start is None else psnr > start,
                f"kept the last step ({regime} keeps the last checkpoint): validation PSNR "
                f"{psnr:.2f} dB{from_start}")
    if not at_start:
        return True, f"kept step {metrics['step']}: validation PSNR {psnr:.2f} dB{from_start}"
    margin = getattr(getattr(result, "config", None), "min_gain_db", margin)
    by = f" by {margin:g} dB" if margin else ""
    best = f"; best trained step {max(trained):.2f} dB" if trained else ""
    return False, (f"no step beat the starting weights{by} on validation ({psnr:.2f} dB{best})"
                   f": {STARTING_WEIGHTS_RETURNED}")


def _below_input(psnr: float | None, unprocessed: float | None) -> tuple[float, float] | None:
    """(``psnr``, the unprocessed input's validation PSNR) where ``psnr`` is below it; None
    otherwise or when either is unknown."""
    if psnr is None or unprocessed is None or not psnr < unprocessed:
        return None
    return float(psnr), float(unprocessed)


def scores_below_input(outcome: FinetuneResult) -> tuple[float, float] | None:
    """(the kept weights' validation PSNR, the input's) when the kept weights score below the
    unprocessed input; None otherwise or when either is unknown."""
    metrics = (outcome.card.metrics or {}) if outcome.card is not None else {}
    return _below_input(metrics.get("val_psnr"), outcome.input_val_psnr)


def _start_psnr(result) -> float | None:
    history = getattr(result, "history", None) or []
    return history[0]["val_psnr"] if history and history[0]["step"] == 0 else None
