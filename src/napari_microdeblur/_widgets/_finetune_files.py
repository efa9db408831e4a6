"""Files of the Fine-tune dock's runs: a fresh checkpoint folder per run (removed when Python
exits), the kept weights of a run copied to a per-user folder that outlives the session
(``kept_weights_dir``), and Save..., which copies the kept weights file so that its sha256,
recorded in layers deblurred with it, stays the same."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

#: where the dock keeps every run's fine-tuned weights (tests point it at a temporary folder)
KEPT_DIR_ENV = "MICRODEBLUR_FINETUNED_DIR"


def kept_weights_dir() -> Path:
    """``$MICRODEBLUR_FINETUNED_DIR``, else ``$XDG_CACHE_HOME/napari-microdeblur/finetuned``
    (napari's own cache honours it: a read-only home with a writable cache elsewhere), else
    ``~/.cache/...``: the run's checkpoint folder is removed when Python exits, and with it
    the only copy of weights not saved (layers deblurred with them record their sha256)."""
    given = os.environ.get(KEPT_DIR_ENV)
    if given:
        return Path(given).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "")
    # the XDG spec ignores a relative path
    base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    return base / "napari-microdeblur" / "finetuned"


def keep_weights(source: Path, name: str, folder: Path | None = None) -> Path:
    """Copy the weights file ``source`` to ``folder`` (default ``kept_weights_dir()``) as
    ``<timestamp>_<name>.safetensors``, never over another file: a name taken meanwhile
    (another napari, or a shared folder, keeping the same name in the same second) gives the
    next free one, claimed atomically (``copy_atomically(overwrite=False)`` links or fails).
    The path written; OSError when it cannot."""
    from ..core.atomic_write import OutputExistsError

    folder = kept_weights_dir() if folder is None else Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}_{re.sub(r'[^A-Za-z0-9._-]+', '_', name)[:80]}"
    path, n = folder / f"{stem}.safetensors", 2
    while True:
        try:
            return copy_weights(source, path, overwrite=False)
        except OutputExistsError:  # written by another run: the next name
            path, n = folder / f"{stem}_{n}.safetensors", n + 1


def checkpoint_dir() -> str:
    """A fresh folder for one run's checkpoints, removed when Python exits (the fine-tuned
    weights of the session live in memory and in that folder until then, for Save...).
    Imported when called: napari's start-up path imports the docks, and no torch."""
    from ..core.training.checkpoints import temporary_checkpoint_dir

    return temporary_checkpoint_dir()


def weights_path(path: str | os.PathLike) -> Path:
    """``path`` as the weights file is written: ``.safetensors`` added when missing."""
    path = Path(path)
    return path if path.suffix == ".safetensors" else path.with_name(path.name + ".safetensors")


def copy_weights(source: Path, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Copy the weights file ``source`` to ``path`` (``.safetensors`` added when missing),
    never leaving it half-written (``core.files.copy_atomically``; ``overwrite=False``: a file
    there is kept, ``OutputExistsError``). ValueError when the folder does not exist, OSError
    when the copy fails."""
    path = weights_path(path)
    if not path.parent.is_dir():
        raise ValueError(f"folder {str(path.parent)!r} does not exist; choose another place")
    from ..core.files import copy_atomically

    copy_atomically(source, path, overwrite=overwrite)
    return path


def keep_run_weights(outcome, name: str, folder: Path | None = None) -> str:
    """Copy a run's kept weights out of its temporary folder (removed at exit) with
    ``keep_weights``; ``outcome.file`` then names the copy. The sentence for the status."""
    try:
        outcome.file = keep_weights(outcome.file, name, folder)
        if outcome.card is not None:  # the card names the file it was read from
            outcome.card.source = str(outcome.file)
    except OSError as error:
        from ._feedback import notify_warning

        # the folder is chosen before napari starts: say which variable chooses it
        where = f"set {KEPT_DIR_ENV} to a folder you can write to before starting napari"
        notify_warning(f"could not keep the fine-tuned weights: {error}; {where}")
        return ("Weights NOT kept after napari closes (could not write the kept-weights "
                f"folder: {error}): Save... them, or {where}.")
    return f"Weights kept in {outcome.file} (Save... copies them elsewhere)."


def trained_pixel_size(layer, axes: str) -> float | None:
    """The Y/X pixel size (um) of the layer trained on, for the card
    (``FinetuneRequest.pixel_size_um``), as the Deblur dock reads it (scale or file); None
    where it states none. A deblur at another pixel size then warns."""
    from ..core.pixel_units import stated_pixel_size
    from ._layers import guess_layer_axes
    from ._psf_sources import image_pixel_sizes

    sizes, _ = image_pixel_sizes(layer, axes or guess_layer_axes(layer))
    return stated_pixel_size([sizes])
