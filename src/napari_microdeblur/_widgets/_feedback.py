"""What the docks tell the user: napari notifications and the text of an error."""

from __future__ import annotations

import re


def replace_asked(path) -> bool:
    """Qt's question for a file a save dialog's typed name became once a suffix was added
    (Qt asked about the name as typed): replace it? Default No. The Deblur and Fine-tune
    docks' saves ask it."""
    from pathlib import Path

    from qtpy.QtWidgets import QMessageBox

    path = Path(path)
    answer = QMessageBox.question(
        None, "Replace file?", f"{path.name} already exists in {path.parent}. Replace it?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def notify_error(message: str) -> None:
    """Show ``message`` in napari's notification area (never raises)."""
    from napari.utils.notifications import show_error

    show_error(str(message))


def notify_warning(message: str) -> None:
    from napari.utils.notifications import show_warning

    show_warning(str(message))


def notify_info(message: str) -> None:
    from napari.utils.notifications import show_info

    show_info(str(message))


#: the bare CLI subcommand a core line names (the PSF estimate's 'a PSF from beads or optics
#: (psf-from-beads, ...)'); a whole command ('microdeblur psf-from-beads --radius 11') stays
_BEADS_COMMAND = re.compile(r"(?<!microdeblur )(?<![\w'./-])psf-from-beads(?![\w'-])")


def dock_note_words(text: str) -> str:
    """A core line the docks relay, with the CLI's psf-from-beads as the docks' own
    "PSF from beads..." button (the command line keeps its words)."""
    return _BEADS_COMMAND.sub('the "PSF from beads..." button', text)


def warning_relay(seen: list[str]):
    """A handler for a napari worker's ``warned`` signal (``showwarning``'s arguments).
    napari 0.9.2 relays none: its notifying mixin comes after the Qt base among the worker's
    bases, so its ``__init__`` never runs. Each new warning becomes a notification, in the
    docks' words (``dock_note_words``), and its first line goes to ``seen`` (for a dock's
    status line). A ``DeblurNote`` (what a run chose by itself, e.g. Wiener's balance 'auto')
    is an info notification: a warning's toast was for a risk the user may act on."""
    from ..core.notes import DeblurNote  # light (no numpy, no torch)

    def relay(args: tuple) -> None:
        text = dock_note_words(str(args[0]).strip())
        first = text.splitlines()[0] if text else ""
        if first and first not in seen:
            seen.append(first)
            category = args[1] if len(args) > 1 else None
            is_note = isinstance(category, type) and issubclass(category, DeblurNote)
            (notify_info if is_note else notify_warning)(text)

    return relay


#: the core's Python arguments as the docks' fields name them, where a field sets them (the
#: Fine-tune dock's 'Patch size' and 'Validation fraction': a region too small names both, and
#: its Small-data options; core.beads' threshold= and radius=: the "PSF from beads..." chooser's
#: fields)
DOCK_FIELDS = {"axes": "Axes", "psf": "PSF", "patch": "Patch size",
               "val_fraction": "Validation fraction", "threshold": "Bead threshold",
               "radius": "PSF radius", "replay_images": "Replay images",
               "replay": "Replay share", "batch_size": "Batch size", "trainable": "Trainable",
               "anchor_weight": "Anchor weight", "intensity_jitter": "Intensity jitter",
               "min_gain_db": "Min gain (dB)"}

_NAMES = "|".join(sorted(DOCK_FIELDS, key=len, reverse=True))
# a quoted value stays as it is (a path may hold 'psf='); then 'give replay= the share ...'
# (the field to set, as the dock says it); a clause that opens with 'replay_images: ...';
# 'axes=' before a value, not a bare 'threshold=,' ('give a lower threshold=, e.g. ...'), nor
# bare words ('psf has ...'): the docks' own lines say them so too
_KEYWORD = re.compile(
    r"(?<!\w)'[^']*'"
    rf"|\bgive ({_NAMES})= "
    rf"|(?:^|(?<=; )|(?<=: ))({_NAMES}):(?= )"
    rf"|(?<![\w.-])({_NAMES})=(?=['\"\d+-]|(?:nan|inf|None|True|False)\b)")


def _field_words(match: re.Match) -> str:
    give, opens, keyword = match.groups()
    if give:
        return f"set {DOCK_FIELDS[give]} to "
    if opens:
        return f"{DOCK_FIELDS[opens]}:"
    return f"{DOCK_FIELDS[keyword]} " if keyword else match.group(0)


def in_dock_words(text: str) -> str:
    """``text`` with the core's ``axes='ZYX'``, ``psf='a.tif'`` written as the dock's fields
    (``Axes 'ZYX'``), as the command line writes them as its options (cli_words); and its
    'give replay= the share ...' and 'replay_images: ...' ('set Replay share to the share
    ...', 'Replay images: ...')."""
    return _KEYWORD.sub(_field_words, text)


def describe_error(error: BaseException) -> str:
    """The message a user sees, in the dock's words: ValueError/TypeError from core already say
    what to change, and a missing file's message names it (its type name adds nothing)."""
    if isinstance(error, (ValueError, TypeError, FileNotFoundError)):
        return in_dock_words(str(error))
    return f"{type(error).__name__}: {error}"
