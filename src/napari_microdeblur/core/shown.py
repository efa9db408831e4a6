"""How messages quote a path the user gave, so that they can find it as they typed it."""

from __future__ import annotations

__all__ = ["shown_path"]


def shown_path(path) -> str:
    """A path quoted for a message: as repr() quotes it, but a Windows path keeps single
    backslashes ('C:\\data\\psf.tif' would send the user looking for doubled ones)."""
    text = str(path)
    # repr stays for a quote or an unprintable character, where plain quoting would mislead
    plain = "\\" in text and "'" not in text and text.isprintable()
    return f"'{text}'" if plain else repr(text)
