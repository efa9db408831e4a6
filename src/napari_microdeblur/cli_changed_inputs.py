"""Outputs a `deblur` rerun of a folder skips whose input changed since they were made: the
input was still being written on the first run (a microscope's output folder), or was
replaced since (its modification time set back or not: cp -p, rsync -t, a restore). Said and
counted, never redone without --overwrite."""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field

from .cli_batch_lines import redo_words
from .core.shown import shown_path

#: seconds an input's modification time must precede its output's record (``created``, to the
#: second) for the input to be taken as the one hashed into it, unread (FAT keeps times to 2 s)
CHANGED_SLACK_S = 2.0


@dataclass
class ChangedInputs:
    """Outputs a `deblur` rerun skips whose input changed since they were made (it was still
    being written, or was replaced): each said in one line (unless ``quiet``) and counted in
    the batch's closing line; kept, as every existing output is without --overwrite (they
    had been skipped silently). Cheap for unchanged inputs: two stats, and the record the
    skip check reads anyway; the input is hashed only where its size or modification time
    (ns) is not the one its record holds (an older version's record: where it was modified
    after the record was made), and past the records read a record is read only where the
    input was modified, or its inode changed (ctime), after its output."""

    quiet: bool = False
    count: int = 0
    first: str | None = None
    #: of the ``count``, those --overwrite keeps (another user's, read-only ones, folders):
    #: ``cli_batch_lines.kept_count``'s; --overwrite had been advised for them too
    kept: dict = field(default_factory=dict)

    def check(self, source, target, record, read, name: str) -> bool:
        """Whether ``source`` changed since its output ``target`` was made; ``record``:
        the output's record, or None where it holds none or, ``read`` given, where it was not
        read (``read()`` reads it)."""
        try:
            ours, theirs = os.stat(source), os.stat(target)
        except OSError:  # gone meanwhile: nothing to compare
            return False
        if stat.S_ISDIR(ours.st_mode):  # a Zarr store: its chunks are not hashed
            return False
        lead = ours.st_mtime - theirs.st_mtime  # > 0: the input modified after the output
        # an input replaced with its modification time set back still has a later ctime
        touched = max(lead, ours.st_ctime - theirs.st_mtime)
        if record is None and read is not None and touched > -CHANGED_SLACK_S:
            record = read()  # changed after the output, or about when it was written
        why = changed_words(source, ours, record, lead > CHANGED_SLACK_S)
        if why is None:
            return False
        from .core.atomic_write import kept_reason

        self.count += 1
        self.first = self.first or name
        reason = kept_reason(target)  # one lstat of an output of this user's
        if reason is not None:
            self.kept[reason] = self.kept.get(reason, 0) + 1
        if not self.quiet:  # above the files bar
            from .cli_progress import say

            ending = redo_words(1, {} if reason is None else {reason: 1}, 'give')
            say(f"microdeblur: warning: {name}: input changed since {shown_path(target)} was "
                f"written ({why}){ending}", sys.stderr)
        return True

    def words(self) -> str:
        """The closing line's words on them ('' for none)."""
        if not self.count:
            return ""
        many = self.count > 1
        they = ("s", " and others", "they were", "them") if many else ("", "", "it was", "it")
        return (f"; the input of {self.count} skipped output{they[0]} ({self.first}{they[1]}) "
                f"changed since {they[2]} written{redo_words(self.count, self.kept, 'give')}")


def changed_words(source, info: os.stat_result, record, after: bool) -> str | None:
    """Why ``source`` (``info``: its stat) is not the input its output's ``record`` was made
    from, or None where it is, or cannot be told: its sha256 differs from the record's, or,
    where the record holds none, it was modified after the output was (``after``). Hashed
    only where its size or modification time (ns) differs from the record's (a touch with
    the same bytes is not a change); a record without them (an older version's): where it
    was modified after the record was made."""
    from .core.checkpoint import sha256_file

    sha = record.get("input_sha256") if isinstance(record, dict) else None
    if not isinstance(sha, str):
        return "modified after it" if after else None
    same_stat = _same_stat(record, info)
    if same_stat:
        return None  # the size and time of the file it hashed
    if same_stat is None and _before_record(record, info):
        return None  # an older record: last modified before it was made, the file it hashed
    try:
        same = sha256_file(source) == sha
    except OSError:
        return None
    return None if same else "its sha256 differs from the one the output's record holds"


def _same_stat(record: dict, info: os.stat_result) -> bool | None:
    """Whether ``info`` has the size and modification time (ns) the record holds of the input
    it hashed (``provenance.input_identity``); None where it holds them not (older versions)."""
    size, mtime = record.get("input_size"), record.get("input_mtime_ns")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (size, mtime)):
        return None
    return info.st_size == size and info.st_mtime_ns == mtime


def _before_record(record: dict, info: os.stat_result) -> bool:
    """Whether ``info``'s modification time precedes the record's ``created`` (to the
    second) by more than ``CHANGED_SLACK_S``: the rule for a record without the input's size
    and time; a file replaced with its time set back passes it."""
    from datetime import datetime

    try:
        made = datetime.fromisoformat(str(record.get("created"))).timestamp()
    except ValueError:
        return False
    return info.st_mtime < made - CHANGED_SLACK_S
