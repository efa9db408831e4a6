"""Why a checkpoint or weights file could not be read, in a few words, without torch. A file
another user keeps private (umask 077 on a shared folder) was called 'no PyTorch file' or
'truncated or corrupt', and a kept fine-tune's 'No such file or directory' (safetensors says
so for permission denied) came with advice to delete it: permission denied is said as such,
with who can change it, and never as damage."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["permission_words", "probe_permission", "unreadable_reason"]


def _owner(path: str | os.PathLike) -> str:
    """The name of the user who owns ``path`` (its uid where this host has no name for it)."""
    from ..claims import user_name

    if not hasattr(os, "geteuid"):  # Windows: st_uid is 0 for every file, no owner to name
        return ""
    try:
        uid = Path(path).stat().st_uid
    except OSError:  # a folder that cannot be searched: its owner is not known here
        return ""
    return user_name(uid)


def permission_words(path: str | os.PathLike) -> str:
    """'cannot read it (Permission denied); check its permissions or ask its owner (alice)'."""
    owner = _owner(path)
    return ("cannot read it (Permission denied); check its permissions or ask its owner"
            + (f" ({owner})" if owner else ""))


def probe_permission(path: str | os.PathLike) -> PermissionError | None:
    """The PermissionError that opening ``path`` for reading gives this user, else None
    (readable, or missing or damaged: its reader says that). Root is never refused."""
    try:
        with open(path, "rb") as f:
            f.read(1)
    except PermissionError as exc:
        return exc
    except OSError:
        return None
    return None


def unreadable_reason(exc: BaseException) -> str:
    """Why ``torch.load(..., weights_only=True)`` could not read a file, in a few words: torch's
    own messages run to several lines, a bare pickle opcode ('174812789'), or advise
    ``weights_only=False``, which would run code stored in the file and is never the fix."""
    if isinstance(exc, PermissionError):  # another user's private file: not damaged
        return ("permission denied: this user cannot read it; check its permissions or ask "
                "its owner")
    text = str(exc)
    if "zip archive" in text:
        return "a damaged zip archive: truncated or corrupt"
    if isinstance(exc, EOFError) or "unpack requires" in text or "Ran out of input" in text:
        return "the file ends too early: truncated?"
    if "Unsupported global" in text:
        return "it holds Python objects besides tensors, which are never loaded"
    if isinstance(exc, OSError) and exc.strerror:  # EIO on a share, a folder: not the format
        return f"cannot read it ({exc.strerror})"
    return "no PyTorch file: neither a zip archive nor a pickle of tensors"
