"""The Deblur dock's run, stoppable inside a tile: Cancel, or closing the dock or the viewer,
used to wait for the current tile, the whole image for a one-tile Richardson-Lucy run (a
1024 x 1024 plane at 1000 iterations went on 34-47 s after Cancel, and as long after the
viewer closed). The core's long loops call ``progress.check_stop``; here the stop they see
is the run's ``cancelled``, which Cancel and the dock's close set."""

from __future__ import annotations

import weakref

from ._jobs import iter_deblur_job, start_deblur

#: what the status line says once Cancel is pressed (a network's tile cannot be cut short)
CANCELLING = ("cancelling: Richardson-Lucy stops at its next iteration, Wiener or a network "
              "after the current tile...")


class RunStop:
    """True once its run is cancelled; read in the worker's thread. The run is held weakly
    (the run holds the worker that holds this) and set once the run exists."""

    def __init__(self) -> None:
        self._run = None

    def follow(self, run) -> None:
        self._run = weakref.ref(run)

    def __call__(self) -> bool:
        run = self._run() if self._run is not None else None
        return run is not None and run.cancelled


def stoppable_deblur_job(req, stop: RunStop):
    """``_jobs.iter_deblur_job`` with ``stop`` seen inside a tile's work; a run stopped there
    returns None, as one closed between two tiles (the run adds no layer: it is cancelled)."""
    from ..core.progress import stoppable

    return (yield from stoppable(iter_deblur_job(req), stop))


def start_stoppable(viewer, req, **kwargs):
    """``_jobs.start_deblur(viewer, req, **kwargs)`` running ``stoppable_deblur_job``."""
    stop = RunStop()
    run = start_deblur(viewer, req, job=stoppable_deblur_job, job_args=(stop,), **kwargs)
    stop.follow(run)
    return run
