"""Closing a dock (or the viewer) while its worker computes.

The worker is asked to quit, but it sees that only at its next yield: a Compare & QC slice's
SSIM runs to its end first (about 4 s for a 2k RGB plane on one core), a Deblur tile or a
training step likewise. Closing the viewer is followed by the
interpreter's exit, which deleted the worker's Qt signals object (Python owns it) under the
thread still computing; the thread's last emit then raised inside Qt ('wrapped C/C++ object of
type GeneratorWorkerSignals has been deleted') and Qt aborted the process.
"""

from __future__ import annotations

import time
from functools import partial

#: how long closing waits for a running worker where its signals cannot be kept (PySide); the
#: GUI is frozen meanwhile
WAIT_S = 5.0


def _ownership():
    """PyQt's ``sip`` (hands a Qt object's ownership to C++ and back), or None (PySide)."""
    try:
        from qtpy import sip
    except ImportError:  # PySide: no sip
        return None
    has = all(hasattr(sip, name) for name in ("transferto", "transferback"))
    return sip if has else None


def wait_until_stopped(workers, seconds: float) -> list:
    """The workers of ``workers`` still running after waiting up to ``seconds``."""
    deadline = time.monotonic() + seconds
    running = [w for w in workers if worker_running(w)]
    while running and time.monotonic() < deadline:
        time.sleep(0.01)
        running = [w for w in running if worker_running(w)]
    return running


def outlive_exit(workers) -> None:
    """For ``workers`` already asked to quit: hand the signals object of each one still running
    to C++ until it has finished, so that the interpreter's exit does not delete it under the
    thread; it goes back to Python then (freed as before). Without PyQt, wait up to ``WAIT_S``
    for them to stop instead."""
    sip = _ownership()
    if sip is None:
        wait_until_stopped(workers, WAIT_S)
        return
    for worker in workers:
        if not worker_running(worker):
            continue
        try:
            signals = worker.signals
            # connected first: a finish after this check still hands it back. Queued to this
            # thread, it runs once the worker emitted its last signal but one; the worker,
            # held by superqt until its very last, still holds the object then
            worker.finished.connect(partial(sip.transferback, signals))
            if worker_running(worker):
                sip.transferto(signals, None)
        except (AttributeError, RuntimeError, TypeError):  # gone, or not a superqt worker
            pass


def worker_running(worker) -> bool:
    """Whether ``worker`` runs its job now (False once its Qt side is gone)."""
    try:
        return bool(worker.is_running)
    except RuntimeError:  # its Qt side is gone
        return False
