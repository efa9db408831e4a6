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


def trained_pixel_size(layer, axes: str) -> float | None:
    """The Y/X pixel size (um) of the layer trained on, for the card
    (``FinetuneRequest.pixel_size_um``), as the Deblur dock reads it (scale or file); None
    where it states none. A deblur at another pixel size then warns."""
    from ..core.pixel_units import stated_pixel_size
    from ._layers import guess_layer_axes
    from ._psf_sources import image_pixel_sizes

    sizes, _ = image_pixel_sizes(layer, axes or guess_layer_axes(layer))
    return stated_pixel_size([sizes])
