"""Reading a PyTorch state dict file (``.pt``, ``.pth``, ``.ckpt``, ``.bin``) safely.

``torch.load`` is only called with ``weights_only=True``, so a file that needs code to be
unpickled is refused, never run. The tensors may sit at the top level or under one of the
keys other tools use (``state_dict`` for Lightning, ``params_ema`` for BasicSR, ...); a
``module.`` prefix left by ``DataParallel`` is dropped. Every failure is one ``ValueError``
naming the file and what to do. :mod:`.checkpoint` builds the model around the tensors.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = ["extract_state_dict", "read_state_dict_file"]


def extract_state_dict(obj: Any, where: str) -> dict[str, torch.Tensor]:
    """The tensors of a loaded object: the dict itself, or the dict under a known key."""
    if isinstance(obj, Mapping):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            sd = dict(obj)
        else:
            for key in ("state_dict", "model", "params_ema", "params", "generator",
                        "model_state_dict"):
                inner = obj.get(key)
                if (
                    isinstance(inner, Mapping)
                    and inner
                    and all(isinstance(v, torch.Tensor) for v in inner.values())
                ):
                    sd = dict(inner)
                    break
            else:
                raise ValueError(
                    f"{where}: no state dict found (top-level keys: {sorted(map(str, obj))[:8]})"
                )
    else:
        raise ValueError(
            f"{where}: expected a state dict (a dict of tensors), got {type(obj).__name__}"
        )
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd


def read_state_dict_file(path: Path, where: str) -> dict[str, torch.Tensor]:
    """The state dict in ``path`` (``where`` names it in messages); ``ValueError`` if none."""
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's text also says "file an issue" and how to load unsafely: keep only which
        # object the file holds. No "Unsupported global": random or foreign bytes instead.
        detail = next((ln.strip().split(" was not an allowed global")[0]
                       for ln in str(exc).splitlines() if "Unsupported global" in ln), "")
        if not detail:
            raise ValueError(
                f"{where}: not a readable PyTorch weights file (truncated, corrupt or another "
                "format); give a .safetensors file or one saved with "
                "torch.save(model.state_dict(), path)"
            ) from None
        raise ValueError(
            f"{where}: refused: this file contains pickled Python objects that need code to be "
            "run to load (not a plain state dict of tensors), and loading it could execute "
            "arbitrary code. Re-save it as torch.save(model.state_dict(), path) or as "
            ".safetensors." + (f" ({detail})" if detail else "")
        ) from None
    except Exception as exc:  # truncated zip, not a torch file, ...
        raise ValueError(
            f"{where}: not a readable PyTorch file (truncated or corrupt?): {exc}; copy or "
            "download it again, or re-save it"
        ) from None
    return extract_state_dict(obj, where)
