"""A deblur run stoppable inside a tile: Cancel, or closing the dock or the viewer, used to wait
for the current tile, the whole image for a one-tile Richardson-Lucy run (a 1024 x 1024 plane
at 1000 iterations went on 34-47 s after Cancel, and as long after the viewer closed). The
core's long loops call ``progress.check_stop``; here the stop they see is the run's
``cancelled``, which Cancel and a dock's close set. ``_jobs.DeblurRun`` runs every job so: the
Deblur dock's, the Focus QC dock's and the menu action's."""

from __future__ import annotations

import weakref

#: what the status line says once Cancel is pressed (a network's tile cannot be cut short)
CANCELLING = ("cancelling: Richardson-Lucy stops at its next iteration, Wiener or a network "
              "after the current tile...")


class RunStop:
    """True once its run is cancelled; read in the worker's thread. The run is held weakly:
    it holds the worker that holds this."""

    def __init__(self, run) -> None:
        self._run = weakref.ref(run)

    def __call__(self) -> bool:
        run = self._run()
        return run is not None and run.cancelled


def stoppable_job(job, stop: RunStop, *args):
    """``job(*args)`` with ``stop`` seen inside a tile's work; a run stopped there returns None,
    as one closed between two tiles (the run adds no layer: it is cancelled)."""
    from ..core.progress import stoppable

    return (yield from stoppable(job(*args), stop))
