"""The command line's progress on stderr (tqdm): a file's tiles, a batch's files, and the
lines printed while bars are shown (above them, not through them); bars on a terminal only (a
log file got every redraw of a watch's tile bar). A batch's notes repeated for every file
(``RepeatedNotes``) are said for its first file and counted at its end."""

from __future__ import annotations

import re
import signal
import sys
import threading
import warnings


def say(text: str, stream=None) -> None:
    """``text`` as one line on ``stream`` (stdout by default), above any progress bar: tqdm
    clears the bars, prints, and draws them again (a bare print ran into the bar's line)."""
    from tqdm import tqdm

    stream = stream if stream is not None else sys.stdout
    with StopsHeld():
        tqdm.write(text, file=stream)
        stream.flush()


class StopsHeld:
    """``with StopsHeld():`` Ctrl-C and SIGTERM coming within the block are noted and raised at
    its end, each as its handler of before raises it: one landing inside tqdm's write (while it
    made its lock) ended a batch with "AttributeError: type object 'tqdm' has no attribute
    '_lock'" and exit 1, not its closing line and 130 or 143. Handlers run on the main thread
    only: elsewhere nothing is held (nor needs to be)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.came: list[int] = []
        self.previous: dict[int, object] = {}
        self.holding = False

    def __enter__(self) -> StopsHeld:
        if threading.current_thread() is threading.main_thread():
            self.holding = True
            try:
                for signum in self.SIGNALS:
                    self.previous[signum] = signal.signal(signum, self._note)
            except BaseException:  # a stop before all were held: none left held
                self.__exit__()
                raise
        return self

    def _note(self, signum, frame) -> None:
        if self.holding:
            self.came.append(signum)
        else:  # came while the handlers were being put back: passed on at once
            self._pass_on(signum)

    def _pass_on(self, signum: int) -> None:
        previous = self.previous.get(signum)
        signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        signal.raise_signal(signum)  # its handler runs (raises) here

    def __exit__(self, *exc) -> None:
        self.holding = False
        for signum, previous in self.previous.items():
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        for signum in dict.fromkeys(self.came):  # in the order they came, each once
            self._pass_on(signum)


def say_interrupted(terminated: bool, outcome: str = "no partial output was left") -> None:
    """The one line of a command stopped by Ctrl-C or SIGTERM, ``outcome`` after it. asyncio's
    logger is quieted first: zarr's I/O loop may still hold chunk writes the stop cut short,
    and at exit Python printed about 100 lines of 'Task was destroyed but it is pending!'
    after this line (the partial store is removed all the same)."""
    import logging

    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    print(f"microdeblur: {'stopped by SIGTERM' if terminated else 'interrupted'}; {outcome}",
          file=sys.stderr, flush=True)


def stopped_code(stop: KeyboardInterrupt, outcome: str) -> int:
    """For a command that writes no file (focus, info): its interrupt line, with ``outcome``
    (what it said before the stop; 'no partial output was left' spoke of a file it never
    writes), and its exit code, as ``cli.main`` says and returns them: 130, SIGTERM 143."""
    from .cli import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated

    terminated = isinstance(stop, Terminated)
    say_interrupted(terminated, outcome)
    return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def files_said(done: int, total: int, command: str, verb: str) -> str:
    """The outcome of ``stopped_code`` for a command stopped among its files: '2 of 5 files
    scored, said above; focus writes no file'."""
    above = ", said above" if done else ""
    return f"{done} of {total} file{'s' * (total > 1)} {verb}{above}; {command} writes no file"


class ProgressBar:
    """A tqdm bar for progress records with ``total``, created once a record counts more
    than one unit (a 512 px tile of a batch sat at '0/1 tile' until its file was done); a
    total that grows (a selective run's tiles, counted as it goes) grows the bar."""

    def __init__(self, *, quiet: bool, label: str = "", unit: str = "tile"):
        self.bar, self.quiet, self.label, self.unit = None, quiet, label, unit
        self.before = 0  # records seen before the bar was made

    def __call__(self, record) -> None:
        from tqdm import tqdm

        if self.bar is None and (self.quiet or record.total <= 1):
            self.before += 1
            return
        if self.bar is None:
            # disable=None: no bar where stderr is not a terminal (a log file, a pipe)
            self.bar = tqdm(total=record.total, unit=self.unit, desc=self.label or None,
                            file=sys.stderr, leave=False, initial=self.before, disable=None)
        self.bar.total = max(self.bar.total or 0, record.total)
        self.bar.update(1)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


class FilesBar:
    """A batch's files: done of total, files per second and the time left, on stderr when
    it is a terminal (a log file keeps its lines); none with -q. An output found existing
    (skipped) is taken off the total, so that the rate and the time left are those of the
    files deblurred."""

    def __init__(self, total: int, *, quiet: bool):
        from tqdm import tqdm

        # the bar lasts as long as the batch: so do its notes said once (``RepeatedNotes``)
        self.notes = RepeatedNotes().__enter__()
        self.bar = None if quiet else tqdm(total=total, unit="file", desc="files",
                                           file=sys.stderr, dynamic_ncols=True, disable=None)

    def done(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def skipped(self) -> None:
        if self.bar is not None:
            self.bar.total = max(self.bar.total - 1, self.bar.n)
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.leave = self.bar.n > 0  # a batch refused before any file: no bar left
            self.bar.close()
            self.bar = None
        self.notes.__exit__(None, None, None)


#: ``core.pixel_units``' note on a file's print resolution ('a01.tif: resolution 72 pixels
#: per inch ignored: ...'): the same for every file an image editor saved (13 lines a folder)
_PRINT_RESOLUTION = re.compile(r"resolution \S+ pixels per \w+ ignored: a print resolution")


class RepeatedNotes:
    """While open (``with``, or a batch's ``FilesBar``), the command line's notes that each
    file of a batch repeats word for word but for its name (a print resolution ignored) are
    said for the first file only, and once more on closing with how many other files had
    them; other warnings pass as they are. Closing twice is closing once."""

    def __init__(self):
        self.shown = None  # the showwarning of before, while open
        self.seen: dict[str, list] = {}  # the words after the name -> [first file, others]

    def __enter__(self) -> RepeatedNotes:
        self.shown, warnings.showwarning = warnings.showwarning, self._show
        return self

    def _show(self, message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message)
        found = _PRINT_RESOLUTION.search(text)
        if found is None:
            self.shown(message, category, filename, lineno, file, line)
            return
        words = text[found.start():]
        seen = self.seen.get(words)
        if seen is not None:
            seen[1] += 1
            return
        self.seen[words] = [text[:found.start()].rstrip(": ") or "the first file", 0]
        self.shown(message, category, filename, lineno, file, line)

    def __exit__(self, *exc) -> None:
        if self.shown is None:
            return
        if warnings.showwarning == self._show:  # not if another has been put in since
            warnings.showwarning = self.shown
        self.shown = None
        for words, (first, others) in self.seen.items():
            if others:
                said = words.split(": a print resolution")[0]
                say(f"microdeblur: warning: {said} for {others} more file"
                    f"{'s' * (others > 1)} too (said above for {first})", sys.stderr)
