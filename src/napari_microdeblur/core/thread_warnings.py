"""Warnings caught per thread. ``warnings.catch_warnings`` swaps the process's
``showwarning`` and filters: two threads catching at once (the tasks of one dask worker, a
dock's deblur next to another) took each other's warnings, lost some to stderr and left a
recorder in place. ``caught()`` records only its own thread's warnings.

While any ``caught()`` is open, one process-wide dispatcher is installed (by the first to
enter, removed by the last to leave) behind an "always" filter; it hands each warning to the
innermost ``caught()`` of the thread that raised it. A thread catching nothing is judged by the
filters of before and shown by the ``showwarning`` of before.

The filter goes into the filter list in place, and out again, without ``catch_warnings`` or
``simplefilter``: either bumps the filters' version, on which Python empties every module's
``__warningregistry__``, its memory of what 'default', 'once' and 'module' filters showed, so
each deblur in a loop said its lines again and the user's own warnings repeated too."""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import warnings
from collections.abc import Iterator

_lock = threading.Lock()
_local = threading.local()
_open = 0  # caught() blocks open in the process
# an "always" filter no user's equals (``simplefilter`` drops an equal one): '' matches any text
_ALWAYS = ("always", re.compile("", re.DOTALL), Warning, None, 0)
_held_in: list | None = None  # the filter list _ALWAYS was put in
_PACKAGE = __name__.rsplit(".", 2)[0]  # napari_microdeblur
_package_modules: tuple[int, list] = (-1, [])  # (len(sys.modules) when listed, the modules)
# (showwarning, the user's filters) when the first caught() opened: the showwarning given back
# and that shows other threads' warnings (kept after the last exit for one still in flight)
_before: tuple = (warnings.showwarning, list(warnings.filters), warnings.filters)
_shown: set = set()  # what 'once', 'module' and 'default' filters already let through


@contextlib.contextmanager
def caught() -> Iterator[list[warnings.WarningMessage]]:
    """Like ``catch_warnings(record=True)`` with ``simplefilter("always")``, for this thread
    alone: the list holds the warnings this thread raised inside (nested: the innermost).
    Unlike it, the filters' version is left as it is, so Python keeps its memory of shown
    warnings (a loop of calls had repeated the user's own): a line of another module that
    Python already showed under a 'default' or 'once' filter is not shown or held again."""
    held: list[warnings.WarningMessage] = []
    stack = _thread_stack()  # this one at exit too: a generator may resume in another thread
    _enter()
    stack.append(held)
    try:
        yield held
    finally:
        # by identity: an inner block of another generator may close out of order
        del stack[next(i for i in range(len(stack) - 1, -1, -1) if stack[i] is held)]
        _leave()


def _thread_stack() -> list:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def _enter() -> None:
    global _open, _before, _held_in
    with _lock:
        if _open == 0:
            filters = warnings.filters
            if warnings.showwarning is not _dispatch:  # not one left by a foreign catch_warnings
                # as Python forgets what it showed when the filters change: also another list
                # of equal filters (each catch_warnings, each pytest test, installs its own)
                own = [f for f in filters if f is not _ALWAYS]
                if filters is not _before[2] or own != _before[1]:
                    _shown.clear()
                _before = (warnings.showwarning, own, filters)
            _forget_package_lines()
            if not any(f is _ALWAYS for f in filters):
                filters.insert(0, _ALWAYS)
            _held_in = filters
            warnings.showwarning = _dispatch
        _open += 1


def _leave() -> None:
    global _open, _held_in
    with _lock:
        _open -= 1
        if _open == 0:
            # and from the list in place now: a catch_warnings entered since copied it in
            for filters in (_held_in, warnings.filters):
                if filters is not None:
                    filters[:] = [f for f in filters if f is not _ALWAYS]
            _held_in = None
            if warnings.showwarning is _dispatch:
                warnings.showwarning = _before[0]


def _forget_package_lines() -> None:
    """Empties this package's modules' warning registries: a line one of them showed outside
    any ``caught()`` would otherwise be dropped inside, before the filters are read (its
    warnings are judged again where ``notes.said_at_caller`` says them)."""
    global _package_modules
    if _package_modules[0] != len(sys.modules):
        _package_modules = (len(sys.modules), [
            m for name, m in list(sys.modules.items())
            if name == _PACKAGE or name.startswith(_PACKAGE + ".")])
    for module in _package_modules[1]:
        registry = vars(module).get("__warningregistry__")  # no module __getattr__ (lazy)
        if registry:
            registry.clear()


def _dispatch(message, category, filename, lineno, file=None, line=None) -> None:
    stack = getattr(_local, "stack", None)
    if stack:
        stack[-1].append(warnings.WarningMessage(message, category, filename, lineno, file,
                                                 line))
        return
    filters = [f for f in warnings.filters if f is not _ALWAYS]  # the user's, as they are now
    if _wanted(filters, message, category, filename, lineno):
        _before[0](message, category, filename, lineno, file, line)


def _action(filters, text: str, category, module: str, lineno: int) -> str:
    for action, msg, cat, mod, ln in filters:
        if ((msg is None or msg.match(text)) and issubclass(category, cat)
                and (mod is None or mod.match(module)) and (ln == 0 or lineno == ln)):
            return action
    return warnings.defaultaction


def _wanted(filters, message, category, filename: str, lineno: int) -> bool:
    """Whether the filters of before show this warning (the "always" filter of the open
    blocks must not show another thread what it had ignored); raises it for "error"."""
    text = str(message)
    module = filename[:-3] if filename.lower().endswith(".py") else filename
    action = _action(filters, text, category, module, lineno)
    if action == "error":
        raise message if isinstance(message, Warning) else category(message)
    if action in ("ignore", "always"):
        return action == "always"
    key = {"once": (text, category), "module": (text, category, module)}.get(
        action, (text, category, filename, lineno))
    with _lock:
        if key in _shown:
            return False
        _shown.add(key)
    return True
