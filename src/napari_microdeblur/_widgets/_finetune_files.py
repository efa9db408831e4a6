"""Files of the Fine-tune dock's runs: a fresh checkpoint folder per run (removed when Python
exits) and Save..., which copies the kept weights file so that its sha256, recorded in layers
deblurred with it, stays the same."""

from __future__ import annotations

import os
from pathlib import Path


def checkpoint_dir() -> str:
    """A fresh folder for one run's checkpoints, removed when Python exits (the fine-tuned
    weights of the session live in memory and in that folder until then, for Save...).
    Imported when called: napari's start-up path imports the docks, and no torch."""
    from ..core.training.checkpoints import temporary_checkpoint_dir

    return temporary_checkpoint_dir()


def copy_weights(source: Path, path: str | os.PathLike) -> Path:
    """Copy the weights file ``source`` to ``path`` (``.safetensors`` added when missing),
    never leaving it half-written (``core.files.copy_atomically``). ValueError when the folder
    does not exist, OSError when the copy fails."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    if not path.parent.is_dir():
        raise ValueError(f"folder {str(path.parent)!r} does not exist; choose another place")
    from ..core.files import copy_atomically

    copy_atomically(source, path)
    return path
