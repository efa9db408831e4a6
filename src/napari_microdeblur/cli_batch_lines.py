"""`deblur` on a folder: the lines each file would repeat, folded (``cli_batch.BatchLog``).

A warning that file after file repeats with only its details changed (the PSF estimated from
each EM tile: 303 lines of ~230 characters for 300 tiles) is said for the first file and
counted in one line at the closing, with or without -q; warnings of another kind are each
said. An output that exists is said for the first one, the others counted in one line at the
closing (a rerun over 10,000 tiles printed 10,000 lines before any new work). Each file's own
result line and its --json object are kept.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from .cli_progress import say

#: a word holding a digit (a sigma, a count, a PSF written with them: 'astig:1.54,1.2,30' and
#: 'gaussian:1.7'): masked to tell a warning that repeats from file to file with only those
#: details changed
_WITH_DIGITS = re.compile(r"\S*\d\S*")


def warning_head(message: str) -> str:
    """The words of a warning before its details: up to its first ': ' outside brackets (the
    first ': ' inside '(image is constant: ...' had left a bracket open in -q's summary)."""
    depth = 0
    for i, char in enumerate(message):
        depth += (char in "([{") - (char in ")]}")
        if depth <= 0 and message.startswith(": ", i):
            return message[:i]
    return message


def without_file(message: str, file: str) -> str:
    """``message`` without the words naming ``file``, its whole path with them ('in/b.tif:
    ...' had left 'in/'), a name holding spaces too; by string search, not a regex per file
    name, which re caches (a batch of millions of names grew it:
    tests/test_batch_stability_2026_12_09.py)."""
    kept, rest = [], message
    while file and file in rest:
        before, rest = rest.split(file, 1)
        kept.append(before.rsplit(" ", 1)[0] if " " in before else "")  # 'in/', "'"
        rest = rest.split(" ", 1)[1] if " " in rest else ""  # "':", ':'
    return " ".join(w for w in [*kept, rest] if w)


def warning_kind(message: str, names) -> tuple[str, str]:
    """(the key a warning is told apart by, its words without ``names``: the file's and its
    output's, which a warning may hold, 'out/a_deblurred.tif': rounded ...). The key is the
    whole warning, numbers masked: 'colour R: 30 iterations' and 'colour R: balance ...' are
    two warnings."""
    for name in names:
        message = without_file(message, name)
    message = message.strip(" :'\"")
    return _WITH_DIGITS.sub("#", message), message


def say_repeats(repeats: dict) -> None:
    """One line per warning that other files repeated (``BatchLog.repeats``)."""
    for file, words, more, _ in repeats.values():
        if more:
            print(f"microdeblur: warning: {words}: also for {more} more "
                  f"file{'s' * (more > 1)}, each with its own details (said above for "
                  f"{file})", file=sys.stderr, flush=True)


@dataclass
class ExistingOutputs:
    """Outputs a batch skipped as they exist: the first said on stdout as it is met, as
    before, the others counted and said in one line at the closing (the closing line counts
    them all, and the files bar takes them off its total)."""

    said: bool = False
    more: int = 0

    def skipped(self, target) -> None:
        if self.said:
            self.more += 1
            return
        self.said = True
        say(f"{target}: exists, skipped")

    def say(self, output) -> None:
        if self.more:
            many = self.more > 1
            say(f"{output}: {self.more} more output{'s' * many} exist{'s' * (not many)}, "
                "skipped (--overwrite redoes them)")
