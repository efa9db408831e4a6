"""The categories of the package's warnings, for users to filter them.

``DeblurNote``: a line that only says what was chosen or done automatically (a PSF estimated
from the image, the iterations or balance 'auto' found, alpha passed through). In a loop over
thousands of tiles each says something slightly different, so Python's default filter never
merges them: ``warnings.simplefilter("ignore", DeblurNote)`` silences them alone.

``DeblurWarning``: a line on a risk to the result (clipped pixels, a PSF cut off, a safeguard
that blended toward Wiener, a guess of axes in doubt, images of a file left out).

Both subclass ``UserWarning``: code that catches or filters UserWarning sees them as before.

``said_at_caller``: the warnings a public entry point's work raises name the caller's line, the
first outside this package, not the package line that raised them (a ``stacklevel`` counted
from deep inside pointed at ``inference.py`` whatever the route)."""

from __future__ import annotations

import functools
import inspect
import os
import sys
import warnings

__all__ = ["DeblurNote", "DeblurWarning", "said_at_caller"]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class DeblurNote(UserWarning):
    """What a deblur chose or did by itself; safe to ignore."""


class DeblurWarning(UserWarning):
    """A risk to the result that the user may have to act on."""


def said_at_caller(function):
    """``function`` with the package's warnings raised in it (and, where it returns a
    generator, in each of its steps) said at the first line outside the package that called it
    (or asked for the step); others' warnings keep their own line."""

    @functools.wraps(function)
    def said(*args, **kwargs):
        with _AtCaller():
            result = function(*args, **kwargs)
        return _steps_at_caller(result) if inspect.isgenerator(result) else result

    return said


def _steps_at_caller(steps):
    """``steps``, each step's warnings said at the line that asked for it; closed with it."""
    try:
        while True:
            with _AtCaller():
                try:
                    step = next(steps)
                except StopIteration as stop:
                    return stop.value
            yield step
    finally:
        steps.close()


class _AtCaller:
    """Holds this thread's warnings (``thread_warnings.caught``), then says each again: the
    package's at the first frame outside the package (a class, not a contextlib generator,
    so no frame of contextlib's stands in between)."""

    def __enter__(self):
        from .thread_warnings import caught

        self._caught = caught()
        self._held = self._caught.__enter__()

    def __exit__(self, *error):
        self._caught.__exit__(*error)
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
            frame = frame.f_back
        for w in self._held:
            if frame is None or not w.filename.startswith(_PACKAGE):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno,
                                       source=w.source)
                continue
            names = frame.f_globals
            warnings.warn_explicit(w.message, w.category, frame.f_code.co_filename,
                                   frame.f_lineno, module=names.get("__name__"),
                                   registry=names.setdefault("__warningregistry__", {}),
                                   source=w.source)
        return False
