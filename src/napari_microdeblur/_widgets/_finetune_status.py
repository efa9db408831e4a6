"""The Fine-tune dock's status lines: a run's progress (the starting weights' validation
labelled 'start' until the first validation of trained weights), a hint when the time limit
leaves little room after the learning-rate warm-up, and the final line, outcome first (how the
run ended, the step kept, validation PSNR start -> kept, the method added and where its weights
are kept), the core's details after."""

from __future__ import annotations

from ._finetune_plots import minutes_seconds

#: the leading words of the core's summary that say how the run ended (the dock says it first)
ENDINGS = {"stopped": "", "time limit reached": "time limit reached",
           "stopped early (no better validation)": "stopped early: no better validation"}
#: records timed before the speed is trusted (the first steps include warming caches)
TIMED_STEPS = 5
#: fewer steps than this many warm-ups in the time limit: the run is mostly warm-up
WARMUP_ROOM = 3


def warmup_steps(steps: int) -> int:
    """The linear warm-up of a run of ``steps`` steps (``TrainingConfig.warmup_steps``, no
    warm-up given)."""
    from ..core.training.config import TrainingConfig

    return TrainingConfig.from_options({"steps": int(steps)}).warmup_steps()


class WarmupHint:
    """Once the first steps' speed is known: whether the time limit fits fewer than
    ``WARMUP_ROOM`` warm-ups' worth of steps (Steps plans the warm-up and the learning-rate
    schedule, Minutes ends the run: most of it would be warm-up)."""

    def __init__(self, steps: int, minutes: float | None) -> None:
        self.steps, self.minutes = int(steps), minutes
        self.warmup = warmup_steps(steps) if minutes else 0
        self.first: tuple[int, float] | None = None  # (step, seconds) of the first record
        self.text = ""
        self.done = not self.warmup

    def observe(self, step: int, seconds: float) -> str:
        """Feed one progress record; the hint line ('' while none)."""
        if self.done:
            return self.text
        if self.first is None:  # the clock starts with the data: time the steps after it
            self.first = (step, seconds)
            return ""
        steps, elapsed = step - self.first[0], seconds - self.first[1]
        if steps < TIMED_STEPS or elapsed <= 0:
            return ""
        self.done = True
        fit = int(self.minutes * 60 * steps / elapsed)
        if fit < min(self.steps, WARMUP_ROOM * self.warmup):
            self.text = (f"about {fit} steps fit in {self.minutes:g} min at this speed; "
                         f"warm-up is {self.warmup} steps: give fewer Steps (e.g. {fit}) or "
                         "more minutes")
        return self.text


def progress_line(record, seconds: float, *, minutes: float | None, adapting: bool,
                  validated: bool) -> str:
    """One progress record as the status shows it; ``validated``: some record of the run
    validated trained weights (before that the validation shown is the start's)."""
    val = ""
    if record.val_psnr is not None:
        start = "" if validated or record.validated else " (start)"
        val = f" · val PSNR {record.val_psnr:.2f} dB{start}"
    elif adapting and record.val_loss is not None:
        val = f" · held-out loss {record.val_loss:.4g}"
    limit = f" of {minutes:g} min" if minutes else ""
    # adapting estimates its step total from the time limit: it changes as the run goes
    of = f" (~{record.steps} in the time)" if adapting else f"/{record.steps}"
    return (f"step {record.step}{of} · loss {record.loss:.4g}{val} · "
            f"{minutes_seconds(seconds)}{limit} · {minutes_seconds(record.seconds_left)} left")


def job_seconds(record, minutes: float | None, adapting: bool) -> float | None:
    """The seconds the job has run at ``record`` by its own clock, where the record tells:
    adapting without a reference counts its time limit from before its prior and the starting
    validation (``core.self_adapt``: ``seconds_left`` is the limit less its elapsed time); the
    dock's clock starts later, at the Notes, and its 'spent' plus 'left' fell short of the
    limit. None where the record does not tell (paired runs, a limit overrun: left is 0)."""
    if not adapting or not minutes or record.seconds_left <= 0:
        return None
    return max(0.0, minutes * 60 - record.seconds_left)


def kept_after_close(outcome, kept: str) -> str:
    """Say where a run's weights were kept (``kept``: ``keep_run_weights``' sentence) after
    its dock closed (``_finetune_close``): napari may be closing too (no window for a
    notification), so also on stderr. The line said."""
    import sys

    from ._feedback import notify_info

    lead = "napari-microdeblur: the Fine-tune dock was closed during its run"
    line = (f"{lead}; the fine-tuned weights it had kept are in {outcome.file} (Load "
            "weights... in the Deblur dock opens them)" if kept.startswith("Weights kept")
            else f"{lead}. {kept}")
    print(line, file=sys.stderr, flush=True)
    try:  # said from the run's thread, maybe with napari's window gone: stderr has it
        notify_info(line)
    except RuntimeError:
        pass
    return line


def ending(outcome, last_step: int, steps: int | None) -> tuple[str, str]:
    """(how the run ended, the core's summary without its leading words on that): 'stopped
    after N step(s)' (by the user), else 'finished after N step(s)' with why in brackets; a
    run that did every step says so (the core reports that as an early stop)."""
    summary = outcome.summary or ""
    why = ""
    for lead, words in ENDINGS.items():
        if summary == lead or summary.startswith(f"{lead}; "):
            summary, why = summary[len(lead):].removeprefix("; "), words
            break
    if outcome.stopped:
        return f"stopped after {last_step} step(s)", summary
    if steps and last_step >= steps:
        why = f"all {steps} steps done"
    return f"finished after {last_step} step(s)" + (f" ({why})" if why else ""), summary


def kept_line(outcome, start_psnr: float | None) -> str:
    """'kept step S, val PSNR start -> kept dB' from the kept weights' card."""
    fit = outcome.result
    if getattr(fit, "best_val_loss", None) is not None:  # adapting without a reference
        return (f"kept step {fit.best_step}, held-out loss {fit.start_val_loss:.3f} -> "
                f"{fit.best_val_loss:.3f}")
    metrics = (outcome.card.metrics or {}) if outcome.card is not None else {}
    step, psnr = metrics.get("step"), metrics.get("val_psnr")
    kept = "kept the last weights" if step is None else f"kept step {int(step)}"
    if psnr is None:
        return f"{kept} (no validation)"
    start_psnr = metrics.get("val_psnr_start", start_psnr)  # a stopped run's: the records'
    start = "" if start_psnr is None else f"{start_psnr:.2f} -> "
    return f"{kept}, val PSNR {start}{psnr:.2f} dB"


def psf_words(psf_text: str, lead: str = " ") -> str:
    """The PSF a run used, as the status names it ('' for a run without one)."""
    return f"{lead}(PSF {psf_text})" if psf_text else ""


def starting_line(req, adapting: bool, last: str | None, psf_text: str = "") -> str:
    """The status as a run starts, naming what it starts from: the Base model, not the last
    run's weights (``last``, its method label; offered in the Base model list), and the PSF
    (``psf_text``, as the PSF box gave it) of a run that uses one."""
    doing = ("estimating the noise and the base model's output..." if adapting
             else "building and aligning training pairs...")
    psf = f"; PSF {psf_text}" if psf_text else ""
    if req.base_card is None:  # no card: a new network
        return f"{doing} (starting from a new network{psf})"
    again = ("" if last is None or last == req.base_label else
             f"; to go on from the last run, choose {last!r} as Base model")
    return f"{doing} (starting from the base model {req.base_label!r}{psf}{again})"
