"""The progress protocol: long work is a generator that yields typed records and returns a
typed result (``return value`` of the generator, ``StopIteration.value``).

Closing the generator stops the work where it is. ``drive`` runs one to its end, handing
each record to a callback (a tqdm bar in the CLI, a Qt signal in a dock) and returns the
result. The records of deblurring live here; training and fine-tuning yield their own
(``FitProgress``) and may yield a ``Notes`` record for messages to show the user.
"""

from __future__ import annotations

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
    tile: tuple[int, ...]
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
