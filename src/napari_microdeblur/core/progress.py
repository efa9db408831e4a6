"""The progress protocol: long work is a generator that yields typed records and returns a
typed result (``return value`` of the generator, ``StopIteration.value``).

Closing the generator stops the work where it is. ``drive`` runs one to its end, handing
each record to a callback (a tqdm bar in the CLI, a Qt signal in a dock) and returns the
result. The records of deblurring live here; training and fine-tuning yield their own
(``FitProgress``) and may yield a ``Notes`` record for messages to show the user.

A generator stops only at its records; ``stoppable`` lets a stop reach inside one record's
work too: long loops (``classical.richardson_lucy``'s iterations) call ``check_stop``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

Result = TypeVar("Result")


def drive(run: Iterator | Generator[Any, Any, Result],
          callback: Callable[[Any], object] | None = None) -> Result:
    """Run a progress generator to its end, passing each record to ``callback``; its result.

    If the callback raises (a cancel button, KeyboardInterrupt), the generator is closed, so
    its ``finally`` clauses (temporary files, say) run before the exception propagates.
    """
    try:
        while True:
            try:
                record = next(run)
            except StopIteration as stop:
                return stop.value
            if callback is not None:
                callback(record)
    finally:
        close = getattr(run, "close", None)
        if close is not None:
            close()


class Cancelled(BaseException):
    """Raised by ``check_stop`` where the stop of the ``stoppable`` run it is in says so. A
    BaseException, as KeyboardInterrupt: an ``except Exception`` on the way (a fallback, an
    out-of-memory retry) must not take a cancel for a failure."""


class _ThreadStop(threading.local):
    stop: Callable[[], bool] | None = None  # of the run this thread is working on


_STOP = _ThreadStop()


def check_stop() -> None:
    """Raise ``Cancelled`` if the ``stoppable`` run this thread is working on was asked to
    stop; nothing outside one (the CLI, the Python API). Cheap: call it once per iteration."""
    stop = _STOP.stop
    if stop is not None and stop():
        raise Cancelled("stopped on request")


def stoppable(run: Generator[Any, Any, Result],
              stop: Callable[[], bool]) -> Generator[Any, Any, Result | None]:
    """``run``'s records and result, with ``stop`` seen by ``check_stop`` while ``run`` works
    (each resume, in whatever thread resumes it). Once ``stop()`` is true, a loop that checks
    ends ``run`` where it is (its ``finally`` clauses run), and this returns None, as a job
    closed between two records gives nothing; a closed ``stoppable`` closes ``run``."""
    value = None
    try:
        while True:
            previous, _STOP.stop = _STOP.stop, stop
            try:
                record = run.send(value)
            except StopIteration as end:
                return end.value
            except Cancelled:
                return None
            finally:
                _STOP.stop = previous
            value = yield record
    finally:
        run.close()


def map_records(run: Generator[Any, Any, Result],
                convert: Callable[[Any], Any]) -> Generator[Any, None, Result]:
    """``run`` with every record passed through ``convert``; returns ``run``'s result. Use it
    with ``yield from`` to re-label the records of inner work (one unit of a larger job)."""
    while True:
        try:
            record = next(run)
        except StopIteration as stop:
            return stop.value
        yield convert(record)


@dataclass(frozen=True)
class Notes:
    """Messages for the user that come before or during the work (not progress)."""

    notes: tuple[str, ...]
    info: tuple[tuple[str, Any], ...] = ()

    def get(self, name: str, default=None):
        return dict(self.info).get(name, default)


@dataclass(frozen=True)
class DeblurProgress:
    """Progress of a deblur: ``done`` of ``total`` tiles over all planes."""

    done: int
    total: int
    plane: tuple[int, ...]
    tile: Any  # tiling.Tile


@dataclass
class DeblurResult:
    """The output of a deblur and how it was made (the numbers a report needs)."""

    image: Any  # the output array (numpy, or the ``out`` that was given)
    method: str
    axes: str
    normalization: Any  # inference.Normalization
    parameters: dict
    tile: tuple[int, ...]  # the last tile used: smaller after out of memory (a note says from
    # which plane)
    overlap: tuple[int, ...]
    device: str


@dataclass(frozen=True)
class ScoreProgress:
    """Planes focus-scored so far: ``done`` of ``total``."""

    done: int
    total: int


@dataclass(frozen=True)
class SelectiveProgress:
    """Progress of a selective run: ``done`` of ``total`` deblurring tiles, and which unit
    (an index into the scores) is being deblurred, the ``unit_done``-th of ``units``."""

    done: int
    total: int
    unit: tuple[int, ...]
    unit_done: int
    units: int
