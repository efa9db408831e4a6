"""How `train` and `finetune` run a job from the command line: the progress bar, the
--checkpoint-dir check, and what is kept when a run is interrupted or diverges."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .cli import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, UserError
from .core.shown import shown_path


def drive_fit(run, *, quiet: bool, shown: list[str] | None = None, started: str = "",
              time_limit: float | None = None, latest: dict | None = None):
    """Drive a training or fine-tuning run with a tqdm bar showing loss and validation PSNR;
    notes (``progress.Notes``) go to stderr, and into ``shown`` when given (so that a result
    listing every note prints only the later ones); ``started``, a line printed at the first
    step, once the run's own checks passed. ``time_limit``: this session's seconds when a time
    limit bounds the run: the bar then follows the clock, not the step total (which said
    "87/2000 [00:17<05:10" with 0:00 left). ``latest`` gets the step and step total of the
    latest record (what an interrupted run reached). Returns the run's result."""
    from tqdm import tqdm

    from .core.progress import Notes, drive

    bar, last = None, {}

    def show(record) -> None:
        nonlocal bar
        if isinstance(record, Notes):
            for note in record.notes:
                print(f"note: {note}", file=sys.stderr)
            if shown is not None:
                shown.extend(record.notes)
            return
        if latest is not None:
            latest.update(step=record.step, steps=record.steps)
        if bar is None:
            if started:
                print(started, file=sys.stderr, flush=True)
            bar = (tqdm(total=record.steps, unit="step", disable=quiet, file=sys.stderr)
                   if time_limit is None else
                   tqdm(total=time_limit, disable=quiet, file=sys.stderr,
                        bar_format="{percentage:3.0f}%|{bar}| {elapsed}{postfix}"))
        postfix = {} if time_limit is None else {"step": f"{record.step}/{record.steps}"}
        postfix["loss"] = f"{record.loss:.4f}"
        if record.val_psnr is not None:
            postfix["val PSNR"] = f"{record.val_psnr:.2f}"
        minutes, seconds = divmod(int(round(record.seconds_left)), 60)
        postfix["left"] = f"{minutes}:{seconds:02d}"  # to the last step or the time limit
        bar.set_postfix(postfix, refresh=False)
        last.update(postfix=postfix, step=record.step, validated=record.validated)
        if time_limit is None:
            bar.update(record.step - bar.n)
        else:  # the share of the time to the end, whichever bound (steps or clock) comes first
            spent = bar.format_dict["elapsed"]
            bar.total = spent + record.seconds_left
            bar.n = spent
            bar.refresh()

    from .core.training.checkpoints import TemporaryFolderFull

    try:
        result = drive(run, show)
        if bar is not None:
            _show_last_validation(bar, last, result)
        return result
    except TemporaryFolderFull as error:  # the command line has one more way out
        raise UserError(f"{error}, or give --checkpoint-dir DIR on a disk with space") from None
    finally:
        if bar is not None:
            bar.close()


def _show_last_validation(bar, last: dict, result) -> None:
    """The bar's 'val PSNR' made the run's last validation's where it came after the last
    record (a run stopped by its time limit validates once more: the bar kept the step-0
    score that the closing line did not say)."""
    fit = getattr(result, "result", result)  # finetune's outcome holds the run's result
    history = getattr(fit, "history", None) or []
    final = history[-1] if history else {}
    if last.get("validated") or final.get("step") != last.get("step") \
            or final.get("val_psnr") is None:
        return
    bar.set_postfix({**last["postfix"], "val PSNR": f"{final['val_psnr']:.2f}"}, refresh=True)


def checkpoint_folder(path: str, *, resume: bool) -> Path:
    """--checkpoint-dir checked before any work (core ``check_checkpoint_dir``: a folder, made
    if missing, that a file can really be written in, used by no other run now, holding no
    earlier run unless ``resume``), its message naming the option; claimed for this run (two
    runs in one folder wrote over each other's checkpoints) until its command ends
    (``releasing_claims``)."""
    from .core.training.checkpoints import check_checkpoint_dir

    try:
        return check_checkpoint_dir(path, resume=resume, claim=True)
    except ValueError as error:
        raise UserError(str(error)) from None


def releasing_claims(command):
    """``command`` (`train`'s, `finetune`'s) with the --checkpoint-dir it claimed
    (``checkpoint_folder``) released when it returns or raises; a run killed outright leaves
    its claim, which the next run there takes over (its process is gone)."""
    import functools

    @functools.wraps(command)
    def run(args):
        from .core.run_paths import release_checkpoint_dirs

        try:
            return command(args)
        finally:
            release_checkpoint_dirs()

    return run


def with_lr_advice(text: str, lr: float | None = None) -> str:
    """A core message with the divergence advice in the CLI's words (lower --lr, and its value
    now); the core's argument names become options where the error is printed (cli_words)."""
    from .core.training.loop import DIVERGED_ADVICE

    advice = "lower --lr" + (f" (now {lr:g})" if lr is not None else "")
    return text.replace(DIVERGED_ADVICE, advice)


def load_start_weights(weights: str, arch: str):
    """(model, card) of train's --weights: a plain state dict with the tensors of --arch is
    read as that architecture (its paper configuration); others as load_model reads them."""
    from .core.checkpoint import ArchitectureUnknownError, load_model

    try:
        return load_model(weights)
    except ArchitectureUnknownError as error:
        if arch not in error.like:
            raise
    return load_model(weights, arch=arch)


def combined_license(start: str, given: str | None) -> str:
    """The licence of weights trained from ``start``'s weights on data under ``given`` (None:
    not given, the start's): both as an SPDX AND, as finetune's card (``finetuned_license``):
    'BSD-3-Clause AND NOASSERTION' where the data's states none, 'NOASSERTION AND CC0-1.0'
    where the start's does (the data's terms had been dropped)."""
    from .core.licences import joined_license

    return start if given is None else joined_license(start, given)


def continued_card(label: str, start_card, training_data: str, license: str | None) -> dict:
    """The training data and licence of weights `train --weights` trained further from
    ``start_card``'s: the start's data and licence kept with the new ones, as finetune's card
    keeps them (the card said the new set only, licence unknown)."""
    return {"training_data": f"{label} ({start_card.training_data}) trained further on "
                             f"{training_data}",
            "license": combined_license(start_card.license, license)}


#: what a stopped run's weights are named beside an --out another run wrote meanwhile
STOPPED_NAME = "{stem}.stopped{n}{suffix}"
#: ... and a finished run's (the loser of two runs given one --out had lost its weights)
FINISHED_NAME = "{stem}.finished{n}{suffix}"


def write_kept(write, out: Path, overwrite: bool, name: str = STOPPED_NAME) -> Path:
    """Write a run's weights, ``write(path, overwrite)``, to ``out``; where ``out`` appeared
    while the run ran (another run wrote it; checked free when this one began) and there is no
    --overwrite, it is kept (``copy_atomically``'s no-overwrite rename), and the weights go to
    the first free name beside it, ``name``: OUT.stopped.safetensors, OUT.stopped-2.safetensors
    ... for a stopped run (they had been written over it), OUT.finished.safetensors ... for a
    finished one (``keep_finished``: they were lost with its temporary folder). Where they
    went."""
    from .core.atomic_write import OutputExistsError

    for n in range(1000):
        path = out if n == 0 else out.with_name(name.format(
            stem=out.stem, n="" if n == 1 else f"-{n}", suffix=out.suffix))
        try:
            write(path, overwrite and n == 0)
            return path
        except OutputExistsError:  # written by another run meanwhile: the next name
            continue
    raise UserError(f"{out} and 999 names beside it exist; this run's weights were not kept")


def taken_words(out: Path, kept: Path) -> str:
    """What a stop says after 'wrote ... to KEPT' where ``kept`` is not ``out``."""
    return ("" if kept == out else f" instead of {out}, which another run wrote while this "
            "one ran (kept: without --overwrite no file is replaced)")


def keep_finished(best: Path, out: Path, overwrite: bool, stopped: bool = False) -> Path:
    """Copy a finished run's weights ``best`` to ``out``, or beside it where another run wrote
    it meanwhile (``write_kept``; ``stopped``: a diverged run's, named as a stopped one's);
    where they went."""
    from .core.files import copy_atomically

    return write_kept(lambda path, replace: copy_atomically(best, path, overwrite=replace),
                      out, overwrite, STOPPED_NAME if stopped else FINISHED_NAME)


def say_taken(out: Path, kept: Path) -> None:
    """The line of a finished run whose weights went beside ``out`` (``keep_finished``)."""
    if kept != out:
        print(f"microdeblur: wrote this run's weights to {kept}{taken_words(out, kept)}",
              file=sys.stderr)


def keep_best_so_far(ckdir: Path, out: Path, *, trained_only: bool = False,
                     overwrite: bool = False, why: str = "",
                     metrics: dict | None = None) -> Path | None:
    """Copy the run's best checkpoint so far (written by the run when it stopped) to ``out``
    (``write_kept``: beside it where another run wrote it meanwhile), its card saying ``why``
    the run stopped where given (``mark_stopped``, with ``metrics`` added); where it went, None
    when there is none, or, with ``trained_only``, when it is no validated trained step (a
    network trained from scratch: the random start or unvalidated weights)."""
    from .core.checkpoint import read_card
    from .core.files import copy_atomically

    best = ckdir / "best.safetensors"
    if not best.is_file():
        return None
    if trained_only:
        metrics = read_card(best).metrics or {}
        if "val_psnr" not in metrics or not int(metrics.get("step", 0)) > 0:
            return None
    if why:  # written with its mark at once: marked after, another run could write between
        return write_kept(lambda path, replace: mark_stopped(
            path, why, source=best, overwrite=replace, metrics=metrics), out, overwrite)
    return write_kept(lambda path, replace: copy_atomically(best, path, overwrite=replace),
                      out, overwrite)


def stop_words(stop: KeyboardInterrupt) -> tuple[str, int]:
    """How a run's stop is said, and its exit code: SIGTERM (`timeout`, a cluster's time limit,
    scancel) as `deblur` says it, 143, which scripts tell from Ctrl-C's 130."""
    if isinstance(stop, Terminated):
        return "stopped by SIGTERM", EXIT_TERMINATED
    return "interrupted", EXIT_INTERRUPTED


def interrupted_words(out: Path, stopped: str = "interrupted", stepped: bool = True) -> str:
    """What Ctrl-C (or ``stopped``: SIGTERM) left in ``out`` (the run's best checkpoint so
    far): said as the starting weights where no validation beat them (its card says step 0),
    which "the best weights so far" hid; ``stepped``: whether a training step was done."""
    from .core.checkpoint import read_card

    metrics = read_card(out).metrics or {}
    if int(metrics.get("step", -1)) == 0:
        if not stepped:
            return (f"{stopped} before the first training step: {out} holds the starting "
                    "weights unchanged")
        return (f"{stopped} before any validation beat the starting weights: {out} holds "
                "them unchanged")
    psnr = metrics.get("val_psnr")  # which weights, as the --self line says them
    which = (f" (step {metrics['step']}, validation PSNR {psnr:.2f} dB)"
             if isinstance(psnr, (int, float)) and "step" in metrics else "")
    return f"{stopped}; wrote the best weights so far{which} to {out}"


def resume_hint(folder: Path | None, written: bool, taken: bool = False) -> str:
    """How to continue a stopped run of checkpoint ``folder`` (None: a temporary one, gone
    with it), ``written``: whether its --out was written (a rerun without --overwrite is then
    refused); ``taken``: another run wrote --out meanwhile (the rerun wants another --out, not
    --overwrite, which replaces that run's file). last.pt is written every validation
    interval, and on a stop between two steps (not within one: the step's state is half made)."""
    if folder is None:  # its last.pt went with the temporary folder
        return " (--checkpoint-dir DIR keeps a run that --resume can continue)"
    if not (Path(folder) / "last.pt").is_file():
        return ""
    rerun = " and another --out" if taken else " --overwrite" if written else ""
    return (f"; the same command with --resume{rerun} continues it from "
            f"{shown_path(Path(folder) / 'last.pt')}")


@dataclass(frozen=True)
class FinetuneStop:
    """A paired fine-tune's stop: its --out, --checkpoint-dir given (``resumable``: the
    folder is the user's), --overwrite, --resume, --weights (the start, by its name) and the
    step and step total of its latest record (``latest``: none before the first step)."""

    out: Path
    resumable: bool = False
    overwrite: bool = False
    resumed: bool = False
    weights: str = ""
    latest: dict | None = None


def kept_step(ckdir: Path) -> int | None:
    """The step of the run's best checkpoint so far (0: the starting weights); None: none."""
    from .core.checkpoint import read_card

    best = Path(ckdir) / "best.safetensors"
    return int((read_card(best).metrics or {}).get("step", 0)) if best.is_file() else None


def start_psnr(ckdir: Path) -> float | None:
    """The starting weights' validation PSNR, from the run's last.pt (a stopped run has no
    result to read it from; finetune writes it in a finished run's card, val_psnr_start)."""
    from .core.training.checkpoints import checkpoint_path, load_training_checkpoint

    try:
        history = load_training_checkpoint(checkpoint_path(ckdir)).get("history") or []
    except (ValueError, OSError):  # no last.pt yet (or unreadable): not said
        return None
    first = history[0] if history else {}
    return float(first["val_psnr"]) if first.get("step") == 0 and "val_psnr" in first else None


def finetune_stopped(stop: KeyboardInterrupt, ckdir: Path, how: FinetuneStop) -> int:
    """What a paired fine-tune stopped by ``stop`` (Ctrl-C or SIGTERM) kept: its best trained
    checkpoint so far in ``ckdir`` copied to ``how.out`` (beside it where another run wrote it
    meanwhile: ``write_kept``), its card saying where it stopped, as train's; said in one line
    naming the resume command where the folder is the user's. The starting weights (no
    validation beat them by --min-gain) are not written: with --overwrite they had replaced
    an earlier fine-tune in --out. The exit code."""
    stopped, code = stop_words(stop)
    latest, out, ckdir = how.latest or {"steps": 0}, how.out, Path(ckdir)
    stepped = bool(latest.get("steps"))
    at = (f"at step {latest['step']} of {latest['steps']}" if stepped else
          "before the first training step" + (" of this session" if how.resumed else ""))
    step = kept_step(ckdir)
    kept = None
    if step:  # a trained step, beating the start by --min-gain (or no validation)
        by = "interrupted (Ctrl-C)" if code == EXIT_INTERRUPTED else stopped
        start = start_psnr(ckdir)
        kept = keep_best_so_far(ckdir, out, overwrite=how.overwrite, why=f"{by} {at}",
                                metrics=None if start is None else {"val_psnr_start": start})
    hint = resume_hint(ckdir, kept is not None, taken=kept not in (None, out)) \
        if how.resumable else ""
    left = f"nothing written to {out}" + (", left as it was" if out.exists() else "")
    if kept is not None:
        print(f"microdeblur: {interrupted_words(kept, stopped, stepped)}"
              f"{taken_words(out, kept)}{hint}", file=sys.stderr)
    elif step == 0 and stepped:
        print(f"microdeblur: {stopped} {at}, before any validation beat the starting weights "
              f"({how.weights}, unchanged: use them as they are); {left}{hint}", file=sys.stderr)
    else:
        when = "the first checkpoint" if stepped else "the first training step"
        print(f"microdeblur: {stopped} before {when}; {left}{hint}", file=sys.stderr)
    return code


def keep_finetuned(outcome, out: Path, *, overwrite: bool, weights: str, lr: float) -> int:
    """Write what a paired fine-tune that ran to its end (or diverged) kept to ``out``, and say
    so (``say_finetuned``); its exit code. A divergence before any validation beat the start
    writes nothing (as train's: the starting weights had replaced an --out with --overwrite);
    a run that ends with the start kept writes it, as the README says, and the line says so."""
    if outcome.file is None:
        raise UserError(f"fine-tuning kept nothing: {with_lr_advice(outcome.summary)}")
    if outcome.diverged and outcome.kept_start:
        left = ", left as it was" if out.exists() else ""
        raise UserError(f"{with_lr_advice(outcome.diverged, lr)}; no validation beat the "
                        f"starting weights ({weights}, unchanged: use them as they are) "
                        f"before that, so {out} was not written{left}")
    replaced = out.exists()
    # beside --out where another run wrote it meanwhile: the temporary folder goes with the run
    kept = keep_finished(outcome.file, out, overwrite, stopped=bool(outcome.diverged))
    if outcome.diverged:  # the card of a diverged run read as a finished one
        mark_stopped(kept, outcome.diverged.split(";")[0])
    code = say_finetuned(outcome, kept, weights, lr, replaced=replaced and kept == out)
    say_taken(out, kept)
    return code


def recorded(job, records: list):
    """``job`` with each record kept in ``records``; closing it closes ``job``."""
    try:
        while True:
            try:
                record = next(job)
            except StopIteration as stop:
                return stop.value
            records.append(record)
            yield record
    finally:
        job.close()


def interrupted_kept(model, start: dict, records: list) -> str:
    """Which weights an interrupted --self run holds (the job keeps its first lowest check)."""
    checks = [r for r in records if getattr(r, "validated", False) and r.val_loss is not None]
    if all(model.state_dict()[k].detach().cpu().equal(v) for k, v in start.items()):
        return "the starting weights (" + (f"none of {len(checks)} held-out check(s) beat "
                                           "them)" if checks else "no held-out check yet)")
    best = min(checks, key=lambda r: r.val_loss, default=None)  # None: its check unrecorded
    return ("the weights of its last held-out check" if best is None else f"the weights of "
            f"step {best.step} (held-out data-consistency loss {best.val_loss:.3f}, below the "
            "starting weights')")


def say_finetuned(outcome, out: Path, weights: str, lr: float, replaced: bool = False) -> int:
    """The last line of a paired fine-tune and its exit code (1: it diverged). Where no
    validation beat the start, the file holds it, said so: "fine-tuned" said otherwise; and
    ``replaced``: that what --out held before (--overwrite) is gone."""
    start_kept = outcome.kept_start
    if outcome.diverged:
        kept = " (the starting weights, unchanged)" if start_kept else ""
        print(f"microdeblur: {with_lr_advice(outcome.diverged, lr)}; wrote the best weights so far"
              f"{kept} to {out}", file=sys.stderr)
        return 1
    done = (f"holds the starting weights of {weights}, unchanged" + (
        " (replacing what it held before)" if replaced else "") if start_kept
        else f"{weights} fine-tuned")
    print(f"{out}: {done}; {outcome.summary}")
    return 0


def resumed_words(ckdir: str) -> str:
    """One line saying where a --resume continues: the step of its last.pt and the best
    validation so far (the run's own log is gone with the process that wrote it)."""
    from .core.training.checkpoints import (
        VALIDATION_SCORING,
        VALIDATION_SCORING_KEY,
        checkpoint_path,
        read_checkpoint_info,
    )

    info = read_checkpoint_info(ckdir)
    best = info.get("best_metrics") or {}
    if "val_psnr" not in best:
        so_far = "no validation so far"
    elif info.get(VALIDATION_SCORING_KEY) != VALIDATION_SCORING:  # its dB are re-measured
        so_far = (f"best so far: step {best.get('step', 0)}, scored by an earlier release "
                  "and re-measured at the start of this session")
    elif int(best.get("step", 0)) == 0:
        so_far = f"best so far: the starting weights, {best['val_psnr']:.2f} dB on validation"
    else:
        so_far = f"best so far: {best['val_psnr']:.2f} dB on validation, step {best['step']}"
    return (f"microdeblur: resuming from step {info['step']} of "
            f"{shown_path(checkpoint_path(ckdir))} ({so_far})")


def kept_so_far(regime: str, validated: bool = True) -> str:
    """What `train` keeps when it stops early, for ``regime`` alone: an adversarial regime
    keeps its last validated step, not the best one (both were said, whatever the regime);
    a run without validation (3D psf_cyclegan), its last weights."""
    from .core.training import get_regime
    from .core.training.regimes.base import KEEP_LAST

    if not validated:
        return "the last weights (the run has no validation)"
    if get_regime(regime).checkpoint_criterion == KEEP_LAST:
        return f"the weights kept so far (the last validated step, as {regime} keeps)"
    return "the weights kept so far (the best on validation)"


def mark_stopped(out: Path, why: str, *, source: Path | None = None,
                 overwrite: bool = True, metrics: dict | None = None) -> None:
    """Say in the card of ``out`` (copied from the run's best checkpoint, or written from
    ``source``, that checkpoint, with ``overwrite`` as save_weights takes it) that the run
    stopped early: its ``training.steps`` is the planned total, which read as a finished run;
    ``metrics``: more of them for the card."""
    from .core.checkpoint import load_model, save_weights

    model, card = load_model(out if source is None else source)
    description = f"{card.description}; {why}" if card.description else why
    save_weights(model, out, card.model_copy(update={
        "description": description, "metrics": {**card.metrics, **(metrics or {}),
                                                 "stopped": why}}),
        overwrite=overwrite)


@dataclass(frozen=True)
class TrainRun:
    """How `train` drives a run: its output, regime, --lr, --checkpoint-dir (None: a
    temporary folder), the validation interval and the time limit of this session."""

    out: Path
    regime: str
    lr: float
    quiet: bool
    folder: Path | None = None
    val_every: int = 1
    time_limit: float | None = None
    started: str = ""
    overwrite: bool = False  # --overwrite: else an --out that appeared meanwhile is kept

    def resume_hint(self, written: bool, taken: bool = False) -> str:
        """How to continue (``resume_hint``)."""
        return resume_hint(self.folder, written, taken)


def finish_train_run(run, ckdir: Path, how: TrainRun):
    """Drive a `train` run; its result, or the exit code where it stopped early: Ctrl-C
    (``EXIT_INTERRUPTED``), SIGTERM (``EXIT_TERMINATED``) or a divergence after a validated
    step (1), each keeping the best weights so far in ``how.out`` (beside it where another run
    wrote it meanwhile: ``write_kept``), as finetune does, its card saying the run stopped
    there. A divergence before any is one error line."""
    from .core.training.loop import stopped_by

    out, latest = how.out, {"step": 0, "steps": 0}
    try:
        return drive_fit(run, quiet=how.quiet, started=how.started, time_limit=how.time_limit,
                         latest=latest)
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM (cli.Terminated)
        run.close()  # the run writes its best checkpoint (and last.pt) when closed
        return say_train_stopped(stop, ckdir, how, latest)
    except (FloatingPointError, RuntimeError) as error:  # best.* written in its finally
        why = with_lr_advice(stopped_by(error), how.lr)
        kept = keep_best_so_far(ckdir, out, trained_only=True, overwrite=how.overwrite,
                                why=stopped_by(error).split(":")[0])
        if kept is None:
            raise UserError(f"{why}; no step after the start was kept on validation before "
                            f"that, so {out} was not written") from None
        print(f"microdeblur: {why}; wrote {kept_so_far(how.regime)} to {kept}"
              f"{taken_words(out, kept)}", file=sys.stderr)
        return 1


def say_train_stopped(stop: KeyboardInterrupt, ckdir: Path, how: TrainRun,
                      latest: dict) -> int:
    """Keep what a `train` run stopped by ``stop`` (Ctrl-C or SIGTERM) had (``latest``: the
    step and step total of its latest record; none before the first step), say it in one
    line, and give its exit code."""
    stopped, code = stop_words(stop)
    validated = how.val_every > 0
    if latest["steps"]:
        at = f"at step {latest['step']} of {latest['steps']}"
    else:  # no record yet: "at step 0 of 0" said nothing true (started: said by --resume)
        at = "before the first training step" + (" of this session" if how.started else "")
    kept = None
    # unvalidated, the last weights are the run's result: kept once a step changed them
    if validated or latest["step"]:
        by = "interrupted (Ctrl-C)" if code == EXIT_INTERRUPTED else stopped
        kept = keep_best_so_far(ckdir, how.out, trained_only=validated,
                                overwrite=how.overwrite, why=f"{by} {at}")
    if kept is None:
        before = ("" if not latest["steps"] else
                  f", before the first validation (every {how.val_every} steps)" if validated
                  else ", before any trained step")
        print(f"microdeblur: {stopped} {at}{before}; nothing written to {how.out}"
              f"{how.resume_hint(False)}", file=sys.stderr)
    else:
        print(f"microdeblur: {stopped} {at}; wrote {kept_so_far(how.regime, validated)} to "
              f"{kept}{taken_words(how.out, kept)}"
              f"{how.resume_hint(True, taken=kept != how.out)}", file=sys.stderr)
    return code


def stack_targets(fields: list, quiet: bool) -> list:
    """finetune's --stack fields as the job is to train on them: --focus-plane auto found
    here and said in one line (unless -q), with a warning where it is the first or last
    plane (auto took plane 0 of a light-sheet stack's 9, and nothing said so); and
    --target-neighbours K cut to the planes the nearer end leaves each side, said in one
    line, the card recording the K used (it said 10 each side of 4)."""
    from dataclasses import replace

    from .core.finetune_planes import stack_focus
    from .core.finetune_request import StackField, neighbours_kept

    given = []
    for f in fields:
        if not isinstance(f, StackField):
            given.append(f)
            continue
        if f.focus == "auto":
            focus, planes = stack_focus(f)
            f = replace(f, focus=focus)
            end = "first" if focus == 0 else "last" if focus == planes - 1 else ""
            if end:
                print(f"microdeblur: warning: {f.name}: --focus-plane auto picked plane {focus} "
                      f"of {planes}, the {end}; if that is not the in-focus plane, give "
                      f"--focus-plane N (0 to {planes - 1})", file=sys.stderr)
            elif not quiet:
                print(f"microdeblur: {f.name}: in-focus plane {focus} of {planes} (--focus-plane "
                      "auto: the best focus score)", file=sys.stderr)
        kept = neighbours_kept(f)
        if kept.target_neighbours != f.target_neighbours:
            print(f"microdeblur: warning: --target-neighbours {f.target_neighbours}: {f.name} "
                  f"has {kept.target_neighbours} plane(s) on the nearer side of its in-focus "
                  f"plane {f.focus}: each target averages {kept.target_neighbours} each side "
                  "(the card says so)", file=sys.stderr)
        given.append(kept)
    return given
