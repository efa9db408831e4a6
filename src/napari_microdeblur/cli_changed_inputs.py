"""Outputs a `deblur` rerun of a folder skips whose input changed since they were made: the
input was still being written on the first run (a microscope's output folder), or was
replaced since. Said and counted, never redone without --overwrite."""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass

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
    skip check reads anyway; the input is hashed only where it was modified after its
    record was made, and past the records read a record is read only where the input was
    modified after its output."""

    quiet: bool = False
    count: int = 0
    first: str | None = None

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
        if record is None and read is not None and lead > -CHANGED_SLACK_S:
            record = read()  # modified after the output, or about when it was written
        why = changed_words(source, ours, record, lead > CHANGED_SLACK_S)
        if why is None:
            return False
        self.count += 1
        self.first = self.first or name
        if not self.quiet:  # above the files bar
            from .cli_progress import say

            say(f"microdeblur: warning: {name}: input changed since {shown_path(target)} was "
                f"written ({why}): give --overwrite to redo it", sys.stderr)
        return True

    def words(self) -> str:
        """The closing line's words on them ('' for none)."""
        if not self.count:
            return ""
        many = self.count > 1
        they = ("s", " and others", "they were", "them") if many else ("", "", "it was", "it")
        return (f"; the input of {self.count} skipped output{they[0]} ({self.first}{they[1]}) "
                f"changed since {they[2]} written: give --overwrite to redo {they[3]}")


def changed_words(source, info: os.stat_result, record, after: bool) -> str | None:
    """Why ``source`` (``info``: its stat) is not the input its output's ``record`` was made
    from, or None where it is, or cannot be told: its sha256 differs from the record's, or,
    where the record holds none, it was modified after the output was (``after``)."""
    from datetime import datetime

    from .core.checkpoint import sha256_file

    sha = record.get("input_sha256") if isinstance(record, dict) else None
    if not isinstance(sha, str):
        return "modified after it" if after else None
    try:
        made = datetime.fromisoformat(str(record.get("created"))).timestamp()
    except ValueError:
        made = None
    if made is not None and info.st_mtime < made - CHANGED_SLACK_S:
        return None  # last modified before the record was made: the file it hashed
    try:
        same = sha256_file(source) == sha
    except OSError:
        return None
    return None if same else "its sha256 differs from the one the output's record holds"
