"""Warnings caught per thread. ``warnings.catch_warnings`` swaps the process's
``showwarning`` and filters: two threads catching at once (the tasks of one dask worker, a
dock's deblur next to another) took each other's warnings, lost some to stderr and left a
recorder in place. ``caught()`` records only its own thread's warnings.

While any ``caught()`` is open, one process-wide dispatcher is installed (with one
``catch_warnings()``, entered by the first and exited by the last, so the state before comes
back as it was) under an "always" filter; it hands each warning to the innermost ``caught()``
of the thread that raised it. A thread catching nothing is judged by the filters of before and
shown by the ``showwarning`` of before."""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator

_lock = threading.Lock()
_local = threading.local()
_open = 0  # caught() blocks open in the process
_session: warnings.catch_warnings | None = None
# (showwarning, filters) of before; kept after the last exit for a warning still in flight
_before: tuple = (warnings.showwarning, list(warnings.filters))
_shown: set = set()  # what 'once', 'module' and 'default' filters already let through


@contextlib.contextmanager
def caught() -> Iterator[list[warnings.WarningMessage]]:
    """Like ``catch_warnings(record=True)`` with ``simplefilter("always")``, for this thread
    alone: the list holds the warnings this thread raised inside (nested: the innermost)."""
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
    global _open, _session, _before
    with _lock:
        if _open == 0:
            if warnings.showwarning is not _dispatch:  # not one left by a foreign catch_warnings
                _before = (warnings.showwarning, list(warnings.filters))
                _shown.clear()
            _session = warnings.catch_warnings()
            _session.__enter__()
            warnings.simplefilter("always")
            warnings.showwarning = _dispatch
        _open += 1


def _leave() -> None:
    global _open, _session
    with _lock:
        _open -= 1
        if _open == 0:
            _session.__exit__(None, None, None)
            _session = None


def _dispatch(message, category, filename, lineno, file=None, line=None) -> None:
    stack = getattr(_local, "stack", None)
    if stack:
        stack[-1].append(warnings.WarningMessage(message, category, filename, lineno, file,
                                                 line))
        return
    show, filters = _before
    if _wanted(filters, message, category, filename, lineno):
        show(message, category, filename, lineno, file, line)


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
