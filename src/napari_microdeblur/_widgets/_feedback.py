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


def warning_relay(seen: list[str]):
    """A handler for a napari worker's ``warned`` signal (``showwarning``'s arguments).
    napari 0.9.2 relays none: its notifying mixin comes after the Qt base among the worker's
    bases, so its ``__init__`` never runs. Each new warning becomes a notification and its
    first line goes to ``seen`` (for a dock's status line)."""

    def relay(args: tuple) -> None:
        text = str(args[0]).strip()
        first = text.splitlines()[0] if text else ""
        if first and first not in seen:
            seen.append(first)
            notify_warning(text)

    return relay


def describe_error(error: BaseException) -> str:
    """The message a user sees: ValueError/TypeError from core already say what to change."""
    if isinstance(error, (ValueError, TypeError)):
        return str(error)
    return f"{type(error).__name__}: {error}"
