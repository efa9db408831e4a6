"""The command line's progress on stderr (tqdm): a file's tiles, a batch's files, and the
lines printed while bars are shown (above them, not through them)."""

from __future__ import annotations

import sys


def say(text: str, stream=None) -> None:
    """``text`` as one line on ``stream`` (stdout by default), above any progress bar: tqdm
    clears the bars, prints, and draws them again (a bare print ran into the bar's line)."""
    from tqdm import tqdm

    stream = stream if stream is not None else sys.stdout
    tqdm.write(text, file=stream)
    stream.flush()


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
            self.bar = tqdm(total=record.total, unit=self.unit, desc=self.label or None,
                            file=sys.stderr, leave=False, initial=self.before)
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
