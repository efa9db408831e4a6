"""`microdeblur finetune --self IMG --psf PSF`: the job's setup once cli_training has checked
the options, and its closing lines (core.self_adapt runs it; cli_training drives it)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from . import cli_training_data as training_data
from .cli import EXIT_INTERRUPTED, UserError
from .cli_runs import (
    FINISHED_NAME,
    checkpoint_folder,
    interrupted_kept,
    recorded,
    resume_hint,
    say_taken,
    stop_words,
    taken_words,
    write_kept,
)

#: the core's words for what --self sets, where cli_words has no option of that name
_SELF_WORDS = {"max_steps= ": "--steps ", "prior_from=": "--self-prior ",
               "the same weights as before": "the same --weights as before",
               "the same images as before": "the same --self images as before",
               "the same PSF as before": "the same --psf as before",
               "resume=True continues": "--resume continues"}


def self_words(text: str) -> str:
    """A core message of a --self run in the options' words (cli_words does the rest)."""
    for python, option in _SELF_WORDS.items():
        text = text.replace(python, option)
    return text


@dataclass
class SelfJob:
    """A --self run about to be driven: its job (records kept in ``records``), the network and
    its starting weights, the images (name, array, axes) and its checkpoint folder."""

    job: Any
    model: Any
    base_card: Any
    config: Any
    images: list
    start: dict
    folder: Path | None
    records: list = field(default_factory=list)
    shown: list = field(default_factory=list)

    @property
    def what(self) -> str:
        return ", ".join(name for name, _, _ in self.images)


def start_self_job(args, config) -> SelfJob:
    """The --self job of ``args`` with ``config`` (checked): --checkpoint-dir and the run a
    --resume continues are checked before the weights and images are read, the rest of a
    resume (same weights, images, PSF, settings; steps left) by the job when it
    is made, before any work."""
    from .core.checkpoint import load_model
    from .core.self_adapt import iter_self_adapt
    from .core.self_adapt_checkpoints import read_self_checkpoint
    from .core.self_adapt_planes import image_names

    folder = (checkpoint_folder(args.checkpoint_dir, resume=args.resume)
              if args.checkpoint_dir else None)
    try:
        saved = read_self_checkpoint(folder) if args.resume else None
    except ValueError as error:  # a paired run's folder, no last.pt ...
        raise UserError(self_words(str(error))) from None
    model, base_card = load_model(args.weights)
    images = [image for spec in args.self_images
              for image in training_data.read_images(spec, args.axes)]
    start = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    records: list = []  # its held-out checks: which weights a Ctrl-C kept
    if saved is not None:  # the best of earlier sessions, as one of its checks
        best = saved["best"]
        records.append(SimpleNamespace(validated=True, step=int(best["step"]),
                                       val_loss=float(best["loss"])))
    run = SelfJob(None, model, base_card, config, images, start, folder, records)
    try:
        job = iter_self_adapt(model, [a for _, a, _ in images], args.psf,
                              axes=[ax for _, _, ax in images], config=config, card=base_card,
                              checkpoint_dir=folder, resume=args.resume,
                              checkpoint_card={"base_label": str(args.weights),
                                               "what": run.what, "psf_text": args.psf,
                                               "license": args.license})
    except ValueError as error:  # its images named as the command was given them
        raise UserError(image_names(self_words(str(error)),
                                    [repr(str(n)) for n, _, _ in images])) from None
    run.job = recorded(job, records)
    return run


def holds_start(run: SelfJob) -> bool:
    """Whether the model holds its starting weights: no held-out check beat them (the job,
    closed, loads its best weights; before its first step the model is untouched)."""
    state = run.model.state_dict()
    return all(state[k].detach().cpu().equal(v) for k, v in run.start.items())


def stopped_at(run: SelfJob, resumed: bool) -> str:
    """Where a stopped run was: the step and step total of its latest step record."""
    steps = [r for r in run.records if hasattr(r, "steps")]  # not a resume's earlier best
    if steps:
        return f"at step {steps[-1].step} of {steps[-1].steps}"
    return "before the first training step" + (" of this session" if resumed else "")


def self_stopped(stop: KeyboardInterrupt, run: SelfJob, args, out: Path) -> int:
    """Ctrl-C or SIGTERM: the job closed (its best weights loaded into the model; with
    --checkpoint-dir its best and last state kept there), trained weights written to ``out``
    (beside it where another run wrote it meanwhile), their card saying where the run stopped,
    said in one line with how to go on. The starting weights (no held-out check beat them)
    are not written, as the paired path's (cli_runs.finetune_stopped): with --overwrite they
    had replaced an earlier adaptation in ``out``."""
    from .core.checkpoint import save_weights
    from .core.self_adapt import interrupted_card

    run.job.close()  # closing the job loads its best weights into the model
    stopped, code = stop_words(stop)
    at = stopped_at(run, args.resume)
    if holds_start(run):
        left = f"nothing written to {out}" + (", left as it was" if out.exists() else "")
        beat = ("" if at.startswith("before") else ", before any held-out check beat the "
                f"starting weights ({args.weights}, unchanged: use them as they are)")
        print(f"microdeblur: {stopped} {at}{beat}; {left}{resume_hint(run.folder, False)}",
              file=sys.stderr)
        return code
    by = "interrupted (Ctrl-C)" if code == EXIT_INTERRUPTED else stopped
    card = interrupted_card(run.model, run.base_card, args.weights, args.license,
                            stopped=f"{by} {at}")
    checks = [r for r in run.records if getattr(r, "validated", False) and r.val_loss is not None]
    best = min(checks, key=lambda r: r.val_loss, default=None)  # the check the job kept
    if best is not None:
        card["metrics"].update(best_step=best.step, self_val_loss=best.val_loss)
    written = write_kept(lambda path, replace: save_weights(run.model, path, card,
                                                            overwrite=replace),
                         out, args.overwrite)
    kept = interrupted_kept(run.model, run.start, run.records)  # which step's weights
    hint = resume_hint(run.folder, True, taken=written != out)
    print(f"microdeblur: {stopped}; wrote {kept} to {written}{taken_words(out, written)}{hint}",
          file=sys.stderr)
    return code


def self_finished(result, run: SelfJob, args, out: Path) -> int:
    """The adapted weights to ``out`` and the closing line; the exit code (1: diverged). A
    divergence before any held-out check beat the start writes nothing (one error line), as
    the paired path: with --overwrite the starting weights had replaced ``out``."""
    from .core.checkpoint import save_weights

    diverged = next((n.split(": stopped")[0] for n in result.notes
                     if n.startswith("the loss became")), "")
    if result.stopped == "diverged" and not result.improved:
        left = ", left as it was" if out.exists() else ""
        raise UserError(f"{diverged or 'the loss diverged'} (lower --lr, now "
                        f"{result.config.lr:g}); no held-out check beat the starting weights "
                        f"({args.weights}, unchanged: use them as they are) before that, so "
                        f"{out} was not written{left}")
    for note in result.notes[len(run.shown):]:  # the notes of the run's end
        print(f"note: {note}", file=sys.stderr)
    card = result.card(run.base_card, base_label=str(args.weights), what=run.what,
                       psf_text=args.psf, license=args.license)
    if result.stopped == "diverged" and diverged:  # the card read as a finished run's
        card["description"] += f"; {diverged}"
        card["metrics"]["stopped"] = diverged
    # another run's --out written meanwhile is kept, these weights beside it (they were lost)
    kept = write_kept(lambda path, replace: save_weights(result.model, path, card,
                                                         overwrite=replace),
                      out, args.overwrite, FINISHED_NAME)
    say_taken(out, kept)
    print(f"{kept}: {args.weights} adapted to {run.what} in {result.steps_done} steps "
          f"({result.seconds / 60:.1f} min); held-out data-consistency loss "
          f"{result.start_val_loss:.3f} -> {result.best_val_loss:.3f}"
          + ("" if result.improved else " (no improvement: the starting weights)"))
    return 1 if result.stopped == "diverged" else 0
