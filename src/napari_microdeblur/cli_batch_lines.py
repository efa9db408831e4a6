"""`deblur` on a folder: the lines each file would repeat, folded (``cli_batch.BatchLog``).

A warning that file after file repeats with only its details changed (the PSF estimated from
each EM tile: 303 lines of ~230 characters for 300 tiles) is said in full for the first file;
without -q each later file's is one short line, its first clause with its own numbers ('c.tif:
the file holds 2 images; ... (as for b.tif above)'): counted alone, the files a data warning
applied to went unnamed; with -q they are counted in one line at the closing, naming the
first few. Warnings of another kind are each said; each file's are in its --json object. An
output that exists is said for the first one, the others counted in one line at the closing
(a rerun over 10,000 tiles printed 10,000 lines before any new work). Each file's own result
line and its --json object are kept.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from .cli_progress import say
from .core.atomic_write import FOLDER, READ_ONLY, kept_reason

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


#: a later file's short line holds at most this many characters of its warning
SHORT = 100
#: files a -q count line names (``RepeatedWarnings.say``), the others counted
NAMED = 3


def warning_clause(words: str, limit: int = SHORT) -> str:
    """A repeated warning's first clause, for a later file's short line: its head
    (``warning_head``), and where that holds no number (a method's name, 'wiener: balance
    0.01 (...)'; 'PSF estimated ...: gaussian:0.92') its next clause too, so the file's own
    numbers are said; over ``limit`` characters, cut before its last bracket or ';' that
    fits (the reason of balance 'auto' is some 300 characters)."""
    head = warning_head(words)
    if head != words and not any(char.isdigit() for char in head):
        head = f"{head}: {warning_head(words[len(head) + 2:])}"
    if len(head) <= limit:
        return head
    depth, cut = 0, 0
    for i, char in enumerate(head[:limit]):
        if depth <= 0 and i and (head.startswith(" (", i) or head.startswith("; ", i)):
            cut = i
        depth += (char in "([{") - (char in ")]}")
    return head[:cut] if cut else head[:limit].rsplit(" ", 1)[0] + " ..."


def files_named(names: list[str], more: int) -> str:
    """'c.tif, d.tif, e.tif and 2 more': the first ``names`` of ``more`` files."""
    if more > len(names):
        return f"{', '.join(names)} and {more - len(names)} more"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


@dataclass
class RepeatedWarnings:
    """Warnings a batch's files repeat with only their names and numbers changed: said in
    full for the first file, then one short line per file with its own numbers; with -q
    counted in one line at the closing that names the first NAMED files it covers (a bare
    count had left every file but the first out of view)."""

    #: a warning's key (``warning_kind``) -> [the first file it was said for, its head, how
    #: many other files had it, the last of them]
    repeats: dict = field(default_factory=dict)
    #: a warning's key -> the first NAMED other files it was counted for
    named: dict = field(default_factory=dict)

    def line(self, message: str, file: str, words: str, names, quiet: bool) -> str | None:
        """The words to say after 'microdeblur: warning: ' for ``message``, raised for
        ``file`` (``words``: in full, naming it; ``names``: the file's and its output's, left
        out of the key): ``words`` for the first file, a short line for a later one, None
        for a later one under -q (``quiet``): counted."""
        seen, rest = self.seen(message, file, names)
        if seen is None:
            return words
        return None if quiet else f"{file}: {warning_clause(rest)} (as for {seen[0]} above)"

    def seen(self, message: str, file: str, names) -> tuple[list | None, str]:
        """(``repeats``' entry where an earlier file had the warning, else None; its words
        without ``names``), ``file`` counted once, and named if among the first NAMED."""
        key, message = warning_kind(message, names)
        seen = self.repeats.get(key)
        if seen is None or file == seen[0]:
            self.repeats.setdefault(key, [file, warning_head(message), 0, file])
            return None, message
        if file != seen[3]:  # a batch's files come one after another: counted once each
            seen[2], seen[3] = seen[2] + 1, file
            if len(others := self.named.setdefault(key, [])) < NAMED:
                others.append(file)
        return seen, message

    def say(self) -> None:
        """-q: one line per warning that other files repeated, naming the first of them."""
        for key, (file, words, more, _) in self.repeats.items():
            if more:
                print(f"microdeblur: warning: {words}: also for {more} more "
                      f"file{'s' * (more > 1)} ({files_named(self.named[key], more)}), each "
                      f"with its own details (said above for {file}; without -q each is "
                      "said)", file=sys.stderr, flush=True)


def kept_words(count: int, kept: dict) -> str:
    """What ends the line of ``count`` skipped outputs: '(--overwrite redoes them)', or, of
    those --overwrite keeps (``kept``: ``kept_count``'s), how many and why: another user's this
    one may not replace, whose; read-only ones (chmod a-w, or a link to one), and how to redo
    them; folders where a file goes. --overwrite had been advised for all of them."""
    others = {owner: n for owner, n in kept.items() if isinstance(owner, str)}
    reasons = []
    if others:
        names = list(others)
        whose = (f"another user's ({names[0]})" if len(names) == 1 else
                 f"other users' ({files_named(names[:NAMED], len(names))})")
        reasons.append((sum(others.values()), f"{whose}, which --overwrite cannot replace"))
    if read_only := kept.get(READ_ONLY, 0):
        them = "it" if read_only == 1 else "them"
        reasons.append((read_only, f"read-only, which --overwrite keeps (chmod u+w to redo "
                                   f"{them})"))
    if folders := kept.get(FOLDER, 0):
        what, them = ("a folder", "it") if folders == 1 else ("folders", "them")
        reasons.append((folders, f"{what}, which --overwrite does not replace (move {them} "
                                 f"away to redo {them})"))
    if not reasons:
        return " (--overwrite redoes them)"
    redone = count - sum(n for n, _ in reasons)
    said = [(("it is" if n == 1 else "they are") if n == count else
             f"{n} of them {'is' if n == 1 else 'are'}") + f" {why}" for n, why in reasons]
    return " (--overwrite redoes them)" * bool(redone) + "".join(f"; {s}" for s in said)


def redo_words(count: int, kept: dict, verb: str) -> str:
    """How a warning of ``count`` skipped outputs ends: ': VERB --overwrite to redo them', or,
    where --overwrite keeps some (``kept``: ``kept_count``'s), ``kept_words``: it had been
    advised for another user's and read-only files too."""
    if not kept:
        return f": {verb} --overwrite to redo {'them' if count > 1 else 'it'}"
    return kept_words(count, kept)


def kept_count(targets) -> dict:
    """Of the existing outputs ``targets``, those --overwrite keeps: another user's this one
    may not replace (owner -> how many), read-only ones (``READ_ONLY`` -> how many), folders
    (``FOLDER``); one lstat of each of this user's (``atomic_write.kept_reason``)."""
    kept: dict = {}
    for reason in map(kept_reason, targets):
        if reason is not None:
            kept[reason] = kept.get(reason, 0) + 1
    return kept


@dataclass
class ExistingOutputs:
    """Outputs a batch skipped as they exist: the first said on stdout as it is met, as
    before, the others counted and said in one line at the closing (the closing line counts
    them all, and the files bar takes them off its total). Those another user owns and this
    one may not replace, and this user's read-only ones, are told apart: --overwrite keeps
    them."""

    said: bool = False
    more: int = 0
    #: of the ``more``, those --overwrite keeps: their owner (``READ_ONLY``: this user's
    #: read-only ones) -> how many
    kept: dict = field(default_factory=dict)

    def skipped(self, target) -> None:
        reason = kept_reason(target)  # one lstat of a file of this user's
        if self.said:
            self.more += 1
            if reason is not None:
                self.kept[reason] = self.kept.get(reason, 0) + 1
            return
        self.said = True
        said = kept_words(1, {reason: 1}) if reason is not None else ""
        say(f"{target}: exists, skipped{said}")

    def say(self, output) -> None:
        if self.more:
            many = self.more > 1
            say(f"{output}: {self.more} more output{'s' * many} exist{'s' * (not many)}, "
                f"skipped{kept_words(self.more, self.kept)}")
