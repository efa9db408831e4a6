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


def safe_name(name: str) -> str:
    """``name`` as a kept file's name holds it (``keep_weights``; ``_kept_models`` reads it
    back): runs of characters other than letters, digits, '.', '_' and '-' become '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]


def kept_copy_of(source: Path, folder: Path) -> Path | None:
    """The file in ``folder`` that holds the very bytes of ``source`` (its sha256; only files
    of its size are read), else None: the same weights kept twice had become two files and
    two methods ('... on stack' and '... on stack (2)')."""
    from ..core.checkpoint import sha256_file

    try:
        size = Path(source).stat().st_size
        same_size = [p for p in folder.glob("*.safetensors")
                     if not p.name.startswith(".") and p.stat().st_size == size]
    except OSError:  # no folder yet, or a file gone meanwhile: copied as before
        return None
    if not same_size:
        return None
    digest = sha256_file(source)
    for path in sorted(same_size):
        try:
            if sha256_file(path) == digest:
                return path
        except OSError:
            continue
    return None


def keep_weights(source: Path, name: str, folder: Path | None = None) -> Path:
    """Copy the weights file ``source`` to ``folder`` (default ``kept_weights_dir()``) as
    ``<timestamp>_<name>.safetensors``, never over another file: a name taken meanwhile
    (another napari, or a shared folder, keeping the same name in the same second) gives the
    next free one, claimed atomically (``copy_atomically(overwrite=False)`` links or fails).
    Weights already kept there (the same sha256: ``kept_copy_of``) are not copied again: that
    file is returned. The path written; OSError when it cannot."""
    return _keep(source, name, folder)[0]


def _keep(source: Path, name: str, folder: Path | None) -> tuple[Path, bool]:
    """``keep_weights``' path, and whether it held the same weights before."""
    from ..core.atomic_write import OutputExistsError

    folder = kept_weights_dir() if folder is None else Path(folder)
    if (same := kept_copy_of(source, folder)) is not None:
        return same, True
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}_{safe_name(name)}"
    path, n = folder / f"{stem}.safetensors", 2
    while True:
        try:
            return copy_weights(source, path, overwrite=False), False
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


def save_from_memory(outcome, path: str | os.PathLike) -> tuple[Path, str]:
    """Save... where the kept copy ``outcome.file`` is gone (the README invites deleting old
    ones; Save... then failed with '[Errno 2] No such file or directory'): the run's network
    in memory written with its card (``core.checkpoint.save_weights``: the same weights and
    card give the same bytes). (The path written, '' or the line saying its sha256 differs
    from the one layers deblurred with it recorded.) ValueError when the folder does not
    exist or no network is in memory; OSError when the write fails."""
    from ..core.checkpoint import save_weights, sha256_file

    path = weights_path(path)
    if outcome.model is None or outcome.card is None:
        raise ValueError(f"the kept copy {outcome.file} was deleted and the weights are no "
                         "longer in memory: fine-tune again to save them")
    if not path.parent.is_dir():
        raise ValueError(f"folder {str(path.parent)!r} does not exist; choose another place")
    save_weights(outcome.model, path, outcome.card)
    digest, recorded = sha256_file(path), outcome.card.sha256
    if recorded and digest != recorded:
        return path, (f"its sha256 {digest[:12]}... differs from the {recorded[:12]}... that "
                      "layers deblurred with them recorded")
    return path, ""


def keep_run_weights(outcome, name: str, folder: Path | None = None) -> str:
    """Copy a run's kept weights out of its temporary folder (removed at exit) with
    ``keep_weights``; ``outcome.file`` then names the copy. The sentence for the status."""
    try:
        outcome.file, before = _keep(outcome.file, name, folder)
        if outcome.card is not None:  # the card names the file it was read from
            outcome.card.source = str(outcome.file)
    except OSError as error:
        from ._feedback import notify_warning

        # the folder is chosen before napari starts: say which variable chooses it
        where = f"set {KEPT_DIR_ENV} to a folder you can write to before starting napari"
        notify_warning(f"could not keep the fine-tuned weights: {error}; {where}")
        return ("Weights NOT kept after napari closes (could not write the kept-weights "
                f"folder: {error}): Save... them, or {where}.")
    if before:  # one file per weights: the list offers each kept fine-tune once
        return (f"The same weights were already kept in {outcome.file} (not copied again; "
                "Save... copies them elsewhere).")
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
