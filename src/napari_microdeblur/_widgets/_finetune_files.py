"""Files of the Fine-tune dock's runs: Save..., which copies the kept weights file so that its
sha256, recorded in layers deblurred with it, stays the same. (Each run's checkpoint folder is
``core.training.checkpoints.temporary_checkpoint_dir``, removed when Python exits.)"""

from __future__ import annotations

import os
from pathlib import Path


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
