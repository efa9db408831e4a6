"""The networks ``deblur`` and ``iter_deblur`` loaded last, kept for their next calls
(``RECENT_MODELS``); ``inference`` re-exports both names."""

from __future__ import annotations

import functools
import threading
from types import SimpleNamespace

import torch

from . import bundled, checkpoint
from .devices import resolve_device

__all__ = ["RECENT_MODELS", "RecentModels"]


class RecentModels:
    """The networks ``deblur`` and ``iter_deblur`` loaded last, kept for their next calls: a
    loop over tiles read, sha256-checked and rebuilt the network on every call (0.058 s of a
    128 px tile's 0.06 s). Unlike a batch's ``ModelCache`` it lives for the process, so:

    - bounded (``most`` networks, the least recently used dropped), so memory does not grow;
    - keyed by the weights file (path, mtime, size: a rewritten file is reloaded; a bundled
      name by its file and sha256 too) and by device, as ``NetworkRunner`` moves its model to
      the tiles' device in place: calls on two devices never share one. Not by precision:
      autocast applies it per call, the weights stay float32;
    - a network whose weights changed since it was loaded (trained in place) or that was bound
      to a PSF (``bind_psf``) is loaded anew, never reused; a load that fails stores nothing;
    - one lock: threads load a network once, and share it only as a batch's ``ModelCache`` does
      (inference does not change it; a PSF-aware network gets each call's PSF as an argument).
    Fine-tuning loads its own network (``load_model``), never one of these."""

    def __init__(self, most: int = 2):
        self.most = most
        self._loaded: dict[tuple, tuple] = {}  # oldest first
        self._lock = threading.Lock()

    def load(self, path_or_name, *, arch: str | None = None, device="cpu"):
        """``load_model(path_or_name, arch=arch)`` for a run on ``device``, once while kept."""
        key = (*_weights_key(path_or_name, arch), str(resolve_device(device)))
        with self._lock:
            kept = self._loaded.pop(key, None)
            if kept is None or _changed(*kept):
                # a load that raises stores nothing: the next call tries again
                model, card = checkpoint.load_model(path_or_name, arch=arch)
                kept = (model, card, _versions(model))
            self._loaded[key] = kept
            while len(self._loaded) > max(self.most, 0):
                del self._loaded[next(iter(self._loaded))]
        return kept[:2]

    def on(self, device) -> SimpleNamespace:
        """This cache as ``MethodSpec.resolve(models=)`` takes it, for runs on ``device``."""
        return SimpleNamespace(load=functools.partial(self.load, device=device))

    def clear(self) -> None:
        """Forget every kept network (its memory is freed once no Method holds it)."""
        with self._lock:
            self._loaded.clear()

    def __len__(self) -> int:
        return len(self._loaded)


def _weights_key(path_or_name, arch: str | None) -> tuple:
    key = checkpoint.ModelCache.key(path_or_name, arch)
    entry = bundled.BUNDLED_WEIGHTS.get(path_or_name) if isinstance(path_or_name, str) else None
    if entry is None:
        return key
    # a bundled name by its file too: tests (and installs) swap the table and the folder
    return (*key, *checkpoint.ModelCache.key(bundled.WEIGHTS_DIR / entry.file), entry.sha256)


def _versions(model: torch.nn.Module) -> tuple[int, ...]:
    # torch counts in-place writes per tensor: an optimiser step raises them
    return tuple(t._version for t in (*model.parameters(), *model.buffers()))


def _changed(model: torch.nn.Module, card, versions: tuple[int, ...]) -> bool:
    return _versions(model) != versions or getattr(model, "bound_psf", None) is not None


#: the cache ``deblur`` and ``iter_deblur`` use when given no ``models``
RECENT_MODELS = RecentModels()
