"""Ctrl-C and SIGTERM in `microdeblur watch` (``cli_watch``) stop between files: one coming
while a file is scored, deblurred or copied lets that file finish and be logged first (a long
deblur was dropped, with no row and no output, and done again at the next start); a second
signal stops at once, the file dropped. The exit code is deblur's: 130 for Ctrl-C, 143 for
SIGTERM (`timeout`, a cluster's time limit, kill); the watch exited 0 either way, so a script
could not tell a stopped watch from a finished --once."""

from __future__ import annotations

import signal
import sys
import threading

from .cli import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated
from .core.shown import shown_path


class FinishCurrentFile:
    """``with stopper.file(name):`` around one file's work; ``requested`` tells which signal
    came meanwhile ('Ctrl-C' or 'SIGTERM'; the watch then stops once the file is logged:
    ``stop``); ``finished`` and ``dropped`` name the file it was working on, for
    ``closing``."""

    def __init__(self):
        self.requested: str | None = None
        self.finished: str | None = None
        self.dropped: str | None = None
        self._name = ""
        self._previous: dict = {}

    def _handler(self, signum, frame):
        kind = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
        if self.requested:  # the second signal: at once, the file left unfinished
            self.requested, self.dropped = kind, self._name
            raise self.stop()
        self.requested = kind
        print(f"microdeblur: {kind}: finishing {self._name} first, then stopping; Ctrl-C "
              "again (or another SIGTERM) stops at once (it is then done again at the next "
              "start)", file=sys.stderr, flush=True)

    def stop(self) -> KeyboardInterrupt:
        """What stops the watch: ``Terminated`` for SIGTERM (exit 143), else Ctrl-C's."""
        return Terminated() if self.requested == "SIGTERM" else KeyboardInterrupt()

    def file(self, name: str) -> FinishCurrentFile:
        self._name = name
        return self

    def __enter__(self) -> FinishCurrentFile:
        # signal handlers can only be set from the main thread (a watch run from a thread
        # keeps Python's: Ctrl-C stops at once)
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            # None: set outside Python; the default is what was there
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        self._previous = {}

    def closing(self, stop: KeyboardInterrupt, log_path) -> int:
        """Say how the watch stopped (the file it was on finished, or dropped) and return its
        exit code: 143 for SIGTERM, 130 for Ctrl-C, as `microdeblur deblur`'s."""
        terminated = isinstance(stop, Terminated)
        how = "by SIGTERM" if terminated else "by Ctrl-C"
        if self.dropped:
            how += (f" at once: {self.dropped} was dropped, unfinished and not logged (it is "
                    "done again at the next start)")
        elif self.finished:
            how += f" after finishing and logging {self.finished}"
        print(f"microdeblur: watch stopped {how}; finished files are logged in "
              f"{shown_path(log_path)}", file=sys.stderr, flush=True)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
