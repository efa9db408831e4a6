"""A Fine-tune run whose dock closes (alone, or with napari) keeps the weights that beat the
start, from the run's side.

The dock's handler of the outcome kept them; it never runs once napari's window is gone.
Closing napari also quits the worker (napari's task list holds ``worker.quit``), which closed
the job at its next record, before it returned any outcome, and Python's exit then removed
the run's folder (``temporary_checkpoint_dir``) with its ``best.safetensors``. Here a
``RunKeeper`` runs the job: a close finishes the job in its thread (stopped, it ends within
its current step) instead of dropping it, and the weights are kept by whichever of the close
and the job's end comes last, once; Python's exit waits for a closed run up to
``EXIT_WAIT_S``. While the dock is open its handler keeps them (``claim``), as before.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time

from ._finetune_files import keep_run_weights, kept_weights_dir
from ._finetune_status import kept_after_close
from ._worker_exit import worker_running

#: how long Python's exit waits for a run closed mid-step to end it and keep its weights
EXIT_WAIT_S = 60.0
#: after this long waiting, stderr says why napari has not exited yet
SAY_AFTER_S = 1.0

_PENDING: set = set()  # keepers closed before their job ended: the exit waits for them


class RunKeeper:
    """One run's outcome and who keeps its weights: the dock's handler while the dock is open
    (``claim``), else the close (``close``) or the job's end (``finish``), whichever comes
    last, once."""

    def __init__(self, name: str) -> None:
        self.name = name  # '<base> fine-tuned on <layer>': the kept file's name
        self.closed = False
        self.outcome = None
        self.line: str | None = None  # said on stderr when kept after a close
        self.ended = threading.Event()  # the job returned, failed or was dropped
        self._claimed = False
        self._folder = None  # the kept-weights folder when the dock closed
        self._job = None  # the job's generator while it runs (finished at exit if left)
        self._worker = None
        self._lock = threading.Lock()

    def run(self, job, *args):
        """Worker body: ``job(*args)``'s records, then its outcome (``finish``). Closed by a
        quit after the dock's close stopped it, the job is run to its end, not dropped."""
        gen = self._job = job(*args)
        outcome, value = None, None
        try:
            while True:
                try:
                    record = gen.send(value)
                except StopIteration as stop:
                    outcome = stop.value
                    break
                try:
                    value = yield record
                except GeneratorExit:
                    if not self.closed:
                        raise
                    outcome = run_out(gen)
                    break
            self.finish(outcome)
            return outcome
        finally:
            gen.close()
            self._job = None
            self.ended.set()
            _PENDING.discard(self)

    def claim(self) -> bool:
        """The dock's handler keeps the weights (its dock is open): False if already kept."""
        with self._lock:
            taken, self._claimed = self._claimed, True
        return not taken

    def close(self, worker) -> None:
        """The dock closes (GUI thread, before its run is stopped): keep the outcome now if
        the job already returned it, else when it does; Python's exit waits for it."""
        with self._lock:
            self.closed, self._worker = True, worker
            self._folder = kept_weights_dir()  # chosen now: the session's, not the exit's
            keep = self._take()
        if keep:
            self._keep()
        elif not self.ended.is_set():
            _wait_at_exit(self)

    def finish(self, outcome) -> None:
        """The job's outcome (its thread): kept here if the dock was closed meanwhile."""
        with self._lock:
            if self.outcome is None:
                self.outcome = outcome
            keep = self.closed and self._take()
        if keep:
            self._keep()

    def _take(self) -> bool:  # under the lock
        if self._claimed or self.outcome is None:
            return False
        self._claimed = True
        return True

    def _keep(self) -> None:
        outcome = self.outcome
        if outcome.model is None or outcome.kept_start:  # nothing beat the start
            return
        self.line = kept_after_close(outcome, keep_run_weights(outcome, self.name, self._folder))

    def settle(self, seconds: float) -> None:
        """At exit: wait up to ``seconds`` for the job to end; one the worker left paused at
        a record (quit while paused or between two steps) is run to its end here."""
        start = time.monotonic()
        said = False
        while not self.ended.is_set() and worker_running(self._worker):
            waited = time.monotonic() - start
            if waited >= seconds:
                return
            if waited >= SAY_AFTER_S and not said:
                said = True
                print(f"napari-microdeblur: waiting up to {seconds:.0f} s for the Fine-tune "
                      "run to end its current step and keep its weights", file=sys.stderr,
                      flush=True)
            self.ended.wait(0.05)
        gen = self._job
        if not self.ended.is_set() and gen is not None:  # no thread runs it any more
            self.finish(run_out(gen))
            self.ended.set()
            _PENDING.discard(self)


def run_out(gen):
    """The return value of the generator ``gen``, its records dropped."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def _wait_at_exit(keeper: RunKeeper) -> None:
    if not _PENDING:
        # registered after the run folders' removal (at the first run), so it runs before it
        atexit.unregister(_settle_all)
        atexit.register(_settle_all)
    _PENDING.add(keeper)
    if keeper.ended.is_set():  # it ended meanwhile
        _PENDING.discard(keeper)


def _settle_all() -> None:
    deadline = time.monotonic() + EXIT_WAIT_S
    for keeper in list(_PENDING):
        keeper.settle(max(0.0, deadline - time.monotonic()))
