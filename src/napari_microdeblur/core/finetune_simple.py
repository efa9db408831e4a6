"""``finetune(weights, blurry, sharp)``: fine-tuning from Python in one blocking call, over the
jobs the CLI and the Fine-tune dock run (``finetune.iter_finetune`` with a pair,
``self_adapt.self_adapt`` without one), with `microdeblur finetune`'s defaults. Re-exported by
``core.finetune``."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import load_model, save_weights
from .finetune_request import FinetuneRequest
from .job_defaults import PAIRED_MINUTES
from .progress import drive

__all__ = ["finetune"]


def finetune(weights, blurry, sharp=None, *, psf=None, axes: str | None = None,
             minutes: float | None = None, out=None, overwrite: bool = False, callback=None,
             **options):
    """Fine-tune a network, blocking: the job of `microdeblur finetune` with its defaults.
    With ``sharp`` (the same field, in focus) the paired job (``iter_finetune``; ``psf`` only
    for a PSF-aware network); without, the self-supervised adaptation of `--self` (needs
    ``psf``: 'gaussian:1.6', a TIFF, an array or 'estimate'; ``core.self_adapt``).

    ``weights``: a bundled name ('gran.fluo_v1'), a weights file, or a ``(network, card)``
    pair as ``load_model`` returns it (that network is trained in place). ``minutes`` bounds
    the run (None: 5 with a pair, 3 without). ``options``: ``FinetuneRequest`` fields with a
    pair (``steps``, ``lr``, ``patience``, ``val_fraction``, ``device``, ``checkpoint_dir``,
    ``pixel_size_um``: the images' pixel size, which the card records so a deblur of images
    at another scale warns ...), ``SelfAdaptConfig`` fields without (``max_steps``, ``lr``,
    ``device`` ...). ``steps`` bounds the steps of either job (without a pair it is
    ``max_steps``, which is also taken there). ``resume=True`` continues the run kept in
    ``checkpoint_dir`` (refused without one).
    ``license``: the SPDX licence of the images fine-tuned on; the card records the starting
    weights' AND it (NOASSERTION when not given, which the Zoo export refuses).
    ``out``: a .safetensors path the kept weights are written to, with their model card
    (then ``deblur(img, method='auto', weights=out)``); a file there already is kept and
    refused before the run unless ``overwrite=True`` (a notebook cell run again had replaced
    the weights the first run kept). Records go to ``callback``.
    Returns the job's ``FinetuneResult`` (pair) or ``SelfAdaptResult`` (its weights in
    ``model``, no file). ``FinetuneResult.file``: ``out`` when given; else the kept
    ``best.safetensors`` in ``checkpoint_dir``, or in a temporary folder removed when Python
    exits (give ``out=`` or ``checkpoint_dir=`` to keep it)."""
    from .finetune import iter_finetune  # finetune re-exports this function
    from .self_adapt import self_adapt

    if sharp is None and psf is None:  # else self_adapt failed late, on 'psf is a NoneType'
        raise ValueError(
            "finetune() needs sharp= or psf=: sharp= (the same field, in focus) for paired "
            "fine-tuning, or psf= to adapt to the image without a reference (a TIFF path, "
            "an array, a model such as 'gaussian:1.6', 'widefield:...' or 'confocal:...', or "
            "'estimate')")
    if options.get("resume") and not options.get("checkpoint_dir"):
        # else a paired run resumed from the temporary folder it had just made ("no checkpoint
        # there"), after reading the weights
        raise ValueError("resume=True needs checkpoint_dir= (the folder of the run to continue)")
    if out is not None:  # before the run: a folder that cannot be written lost all its work
        from .run_paths import check_weights_output

        check_weights_output(out, overwrite=overwrite, starting=weights)
    model, card = load_model(weights) if isinstance(weights, (str, Path)) else weights
    label = str(weights) if isinstance(weights, (str, Path)) else type(model).__name__
    if sharp is None:
        if minutes is not None:
            options["minutes"] = minutes
        license = options.pop("license", None)  # the card's, not a SelfAdaptConfig field
        options = _steps_as_max_steps(options)
        result = self_adapt(model, blurry, psf, axes=axes, card=card, callback=callback,
                            **options)
        if out is not None and result.stopped == "diverged" and not result.improved:
            _diverged_before_any_gain(out)
        if out is not None:
            save_weights(result.model, out, result.card(card, base_label=label, what="image",
                                                        psf_text=psf if isinstance(psf, str)
                                                        else "", license=license),
                         overwrite=overwrite)
        return result
    taken = set(FinetuneRequest.__dataclass_fields__) - {
        "mode", "layer_name", "axes", "model", "base_label", "base_card", "blurry", "sharp",
        "psf", "minutes", "source_kind"}
    if unknown := sorted(set(options) - taken):
        raise TypeError(f"finetune() got {', '.join(map(repr, unknown))}; accepted with a "
                        f"pair: {', '.join(sorted(taken))}")
    request = FinetuneRequest(
        mode="pair", layer_name="image", axes=axes or "", model=model, base_label=label,
        base_card=card, blurry=blurry, sharp=sharp, psf=psf,
        minutes=PAIRED_MINUTES if minutes is None else minutes, **options)
    outcome = drive(iter_finetune(request), callback)
    if out is not None:
        _write_kept(outcome, out, overwrite)
    return outcome


def _write_kept(outcome, out, overwrite: bool) -> None:
    """Copy a paired run's kept weights to ``out``, which the result then names."""
    if outcome.diverged and outcome.kept_start:
        _diverged_before_any_gain(out, outcome.diverged)
    if outcome.file is None:
        raise ValueError(f"fine-tuning kept nothing to write to {out}: {outcome.summary}")
    from .files import copy_atomically

    copy_atomically(outcome.file, out, overwrite=overwrite)
    # not the temporary best.safetensors, removed when Python exits (the card's source too)
    outcome.file = Path(out)
    outcome.card = outcome.card.model_copy(update={"source": str(out)})


def _diverged_before_any_gain(out, why: str = "the loss diverged") -> None:
    """A run that diverged before any validation beat the start writes nothing: it had
    written the starting weights over ``out`` (with overwrite=True, a user's earlier weights),
    as the CLI no longer does."""
    raise ValueError(f"{why}; no validation beat the starting weights before that, so {out} "
                     "was not written (left as it was): lower lr=")


def _steps_as_max_steps(options: dict) -> dict:
    """The self-adaptation's options with ``steps`` (the paired job's keyword, so one call
    pattern serves both) given as ``SelfAdaptConfig.max_steps``."""
    if "steps" not in options:
        return options
    options = dict(options)
    steps = options.pop("steps")
    if "max_steps" in options and options["max_steps"] != steps:
        raise TypeError(f"finetune() got steps={steps!r} and max_steps="
                        f"{options['max_steps']!r}; give one (both bound the steps)")
    options["max_steps"] = steps
    return options
