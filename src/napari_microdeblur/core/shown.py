"""How messages show what they quote: a path as the user typed it, an error on one line."""

from __future__ import annotations

__all__ = ["first_line", "shown_path"]


def shown_path(path) -> str:
    """A path quoted for a message: as repr() quotes it, but a Windows path keeps single
    backslashes ('C:\\data\\psf.tif' would send the user looking for doubled ones)."""
    text = str(path)
    # repr stays for a quote or an unprintable character, where plain quoting would mislead
    plain = "\\" in text and "'" not in text and text.isprintable()
    return f"'{text}'" if plain else repr(text)


def first_line(error) -> str:
    """The first non-empty line of an error's message (CUDA's out of memory, imageio's
    missing backend and pydantic go on for lines), else the error's type name."""
    lines = (line.strip() for line in str(error).splitlines())
    fallback = type(error).__name__ if isinstance(error, BaseException) else ""
    return next((line for line in lines if line), fallback)
