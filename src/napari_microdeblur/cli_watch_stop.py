"""Ctrl-C in `microdeblur watch` (``cli_watch``) stops between files: pressed while a file is
scored, deblurred or copied, that file is finished and logged first (a long deblur was dropped,
with no row and no output, and done again at the next start); a second Ctrl-C stops at once."""

from __future__ import annotations

import signal
import sys
import threading


class FinishCurrentFile:
    """``with stopper.file(name):`` around one file's work; ``requested`` tells whether a
    Ctrl-C came meanwhile (the watch then stops once the file is logged)."""

    def __init__(self):
        self.requested = False
        self._name = ""
        self._previous = None

    def _handler(self, signum, frame):
        if self.requested:  # the second Ctrl-C: at once, the file left unfinished
            raise KeyboardInterrupt
        self.requested = True
        print(f"microdeblur: Ctrl-C: finishing {self._name} first, then stopping; Ctrl-C "
              "again stops at once (it is then done again at the next start)",
              file=sys.stderr, flush=True)

    def file(self, name: str) -> FinishCurrentFile:
        self._name = name
        return self

    def __enter__(self) -> FinishCurrentFile:
        # signal handlers can only be set from the main thread (a watch run from a thread
        # keeps Python's: Ctrl-C stops at once)
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
