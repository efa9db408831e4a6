"""How `train` and `finetune` run a job from the command line: the progress bar, the
--checkpoint-dir check, and what is kept when a run is interrupted or diverges."""

from __future__ import annotations

import sys
from pathlib import Path

from .cli import EXIT_INTERRUPTED, UserError
from .core.shown import shown_path


def drive_fit(run, *, quiet: bool, shown: list[str] | None = None, started: str = ""):
    """Drive a training or fine-tuning run with a tqdm bar showing loss and validation PSNR;
    notes (``progress.Notes``) go to stderr, and into ``shown`` when given (so that a result
    listing every note prints only the later ones); ``started``, a line printed at the first
    step, once the run's own checks passed. Returns the run's result."""
    from tqdm import tqdm

    from .core.progress import Notes, drive

    bar = None

    def show(record) -> None:
        nonlocal bar
        if isinstance(record, Notes):
            for note in record.notes:
                print(f"note: {note}", file=sys.stderr)
            if shown is not None:
                shown.extend(record.notes)
            return
        if bar is None:
            if started:
                print(started, file=sys.stderr, flush=True)
            bar = tqdm(total=record.steps, unit="step", disable=quiet, file=sys.stderr)
        postfix = {"loss": f"{record.loss:.4f}"}
        if record.val_psnr is not None:
            postfix["val PSNR"] = f"{record.val_psnr:.2f}"
        minutes, seconds = divmod(int(round(record.seconds_left)), 60)
        postfix["left"] = f"{minutes}:{seconds:02d}"  # to the last step or the time limit
        bar.set_postfix(postfix, refresh=False)
        bar.update(record.step - bar.n)

    try:
        return drive(run, show)
    finally:
        if bar is not None:
            bar.close()


def checkpoint_folder(path: str, *, resume: bool, can_resume: bool = True) -> Path:
    """--checkpoint-dir checked before any work (core ``check_checkpoint_dir``: a folder, made
    if missing, that a file can really be written in), its message naming the option."""
    from .core.training.checkpoints import RUN_FILES, check_checkpoint_dir

    earlier = [n for n in RUN_FILES if (Path(path) / n).exists()]
    if earlier and not can_resume:  # train cannot continue a run: never overwrite one
        raise UserError(f"--checkpoint-dir {shown_path(path)} holds an earlier run ({earlier[0]}); "
                        "give another folder")
    try:
        return check_checkpoint_dir(path, resume=resume)
    except ValueError as error:
        raise UserError(str(error)) from None


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


def keep_best_so_far(ckdir: Path, out: Path, *, trained_only: bool = False) -> bool:
    """Copy the run's best checkpoint so far (written by the run when it stopped) to ``out``;
    False when there is none, or, with ``trained_only``, when it is no validated trained
    step (a network trained from scratch: the random start or unvalidated weights)."""
    from .core.checkpoint import read_card
    from .core.files import copy_atomically

    best = ckdir / "best.safetensors"
    if not best.is_file():
        return False
    if trained_only:
        metrics = read_card(best).metrics or {}
        if "val_psnr" not in metrics or not int(metrics.get("step", 0)) > 0:
            return False
    copy_atomically(best, out)
    return True


def interrupted_words(out: Path) -> str:
    """What Ctrl-C left in ``out`` (the run's best checkpoint so far): said as the starting
    weights where no validation beat them (its card says step 0), which "the best weights
    so far" hid."""
    from .core.checkpoint import read_card

    if int((read_card(out).metrics or {}).get("step", -1)) == 0:
        return (f"interrupted before any validation beat the starting weights: {out} holds "
                "them unchanged")
    return f"interrupted; wrote the best weights so far to {out}"


def say_finetuned(outcome, out: Path, weights: str, lr: float) -> int:
    """The last line of a paired fine-tune and its exit code (1: it diverged). Where no
    validation beat the start, the file holds it, said so: "fine-tuned" said otherwise."""
    start_kept = outcome.kept_start
    if outcome.diverged:
        kept = " (the starting weights, unchanged)" if start_kept else ""
        print(f"microdeblur: {with_lr_advice(outcome.diverged, lr)}; wrote the best weights so far"
              f"{kept} to {out}", file=sys.stderr)
        return 1
    done = (f"holds the starting weights of {weights}, unchanged" if start_kept
            else f"{weights} fine-tuned")
    print(f"{out}: {done}; {outcome.summary}")
    return 0


def resumed_words(ckdir: str) -> str:
    """One line saying where a --resume continues: the step of its last.pt and the best
    validation so far (the run's own log is gone with the process that wrote it)."""
    from .core.training.checkpoints import checkpoint_path, read_checkpoint_info

    info = read_checkpoint_info(ckdir)
    best = info.get("best_metrics") or {}
    if "val_psnr" not in best:
        so_far = "no validation so far"
    elif int(best.get("step", 0)) == 0:
        so_far = f"best so far: the starting weights, {best['val_psnr']:.2f} dB on validation"
    else:
        so_far = f"best so far: {best['val_psnr']:.2f} dB on validation, step {best['step']}"
    return (f"microdeblur: resuming from step {info['step']} of "
            f"{shown_path(checkpoint_path(ckdir))} ({so_far})")


#: what `train` keeps when it stops early: an adversarial regime keeps its last checked step,
#: not the best one (the regime's card says which)
KEPT_SO_FAR = "the weights kept so far (the best on validation; adversarial regimes: the last)"


def finish_train_run(run, ckdir: Path, out: Path, *, lr: float | None, quiet: bool):
    """Drive a `train` run; its result, or the exit code where it stopped early: Ctrl-C
    (``EXIT_INTERRUPTED``) or a divergence after a validated step (1), each keeping the best
    weights so far in ``out``, as finetune does. A divergence before any is one error line."""
    from .core.training.loop import stopped_by

    try:
        return drive_fit(run, quiet=quiet)
    except KeyboardInterrupt:
        run.close()  # the run writes its best checkpoint when closed
        if not keep_best_so_far(ckdir, out, trained_only=True):
            print("microdeblur: interrupted before a validated checkpoint; nothing written",
                  file=sys.stderr)
        else:
            print(f"microdeblur: interrupted; wrote {KEPT_SO_FAR} to {out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (FloatingPointError, RuntimeError) as error:  # best.* written in its finally
        why = with_lr_advice(stopped_by(error), lr)
        if not keep_best_so_far(ckdir, out, trained_only=True):
            raise UserError(f"{why}; no step after the start was kept on validation before "
                            f"that, so {out} was not written") from None
        print(f"microdeblur: {why}; wrote {KEPT_SO_FAR} to {out}", file=sys.stderr)
        return 1
