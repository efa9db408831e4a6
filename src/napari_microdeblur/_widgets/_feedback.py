"""What the docks tell the user: napari notifications and the text of an error."""

from __future__ import annotations


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


def describe_error(error: BaseException) -> str:
    """The message a user sees: ValueError/TypeError from core already say what to change."""
    if isinstance(error, (ValueError, TypeError)):
        return str(error)
    return f"{type(error).__name__}: {error}"
