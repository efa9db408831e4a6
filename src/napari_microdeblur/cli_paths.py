"""Odd paths on the command line: an output name longer than the file system takes, a file
name that is not valid UTF-8, a '~' the shell did not expand. Each had stopped a run with a
raw system error (a watch for good: every restart stopped the same way)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

#: how the watch's CSV log and a batch's failures list are opened: UTF-8 whatever the locale,
#: a name that is not valid UTF-8 (bytes from another system's disk, kept by Python as
#: surrogates) written and read back as its own bytes ('surrogates not allowed' had stopped
#: the watch before it logged the file, on every restart)
TEXT = {"encoding": "utf-8", "errors": "surrogateescape"}


def output_exists(path: Path) -> bool:
    """``path.exists()``, False for a name longer than the file system takes: no such file can
    be there, and the write refuses it with its length (``io_write.check_name_length``).
    Path.exists() raised 'File name too long', stopping a batch or a watch at that file."""
    try:
        return path.exists()
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:
            return False
        raise


def _tilde_prefix(value: str) -> str | None:
    """'~' or '~user' where ``value`` starts with a home folder's shorthand that is not a file
    or folder here (one named '~' is taken as it is); else None."""
    if not value.startswith("~"):
        return None
    head = value.replace(os.sep, "/").split("/", 1)[0]
    home = os.path.expanduser(head)
    # Windows expands '~name' to C:\Users\name whether or not that user exists: only a home
    # folder that is there counts (a new file '~out.tif' was refused)
    if home == head or not os.path.isdir(home) or os.path.lexists(head):
        return None  # no such user, or a real '~' here: the path is what it says
    return head


def _unexpanded_words() -> str:
    if os.name == "nt":  # cmd never expands it; PowerShell only for its own commands
        return "this command line does not expand it"
    return "the shell expands it only unquoted, and not after '='"


def check_tilde(args) -> None:
    """Refuse a path option or argument starting with an unexpanded '~' (quoted, or after
    '=' as in --psf=~/psf.tif: the shell leaves it): it had been told that the output folder
    '~' does not exist ('create it first' made a folder named '~') or that the PSF names no
    file. ValueError in one line naming the path to give instead."""
    options = getattr(args, "cli_options", None) or {}
    for dest, given in vars(args).items():
        for value in given if isinstance(given, list) else [given]:
            value = os.fspath(value) if isinstance(value, Path) else value
            head = _tilde_prefix(value) if isinstance(value, str) else None
            if head is None or os.path.lexists(value):
                continue
            where = f"{options[dest]} " if dest in options else ""  # a positional: its value
            raise ValueError(f"{where}{value!r}: '{head}' was not expanded to the home folder "
                             f"({_unexpanded_words()}); give "
                             f"{os.path.expanduser(head)}{value[len(head):]} instead")
