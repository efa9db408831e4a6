"""Reading weights files into state dicts safely, and writing safetensors files.

PyTorch pickles (``.pt``, ``.pth``, ``.ckpt``, ``.bin``): ``torch.load`` is only called with
``weights_only=True``, so a file that needs code to be unpickled is refused, never run. The
tensors may sit at the top level or under one of the keys other tools use (``state_dict`` for
Lightning, ``params_ema`` for BasicSR, ...); a ``module.`` prefix left by ``DataParallel`` is
dropped. ``.safetensors`` files: :func:`write_safetensors` writes the same bytes for the same
tensors and metadata, with a sha256 of the tensors (names, dtypes, shapes, bytes) under
``TENSORS_HASH_KEY``; :func:`read_safetensors_file` checks it where a file has one (older
files, bundled ones and other tools' have none and load as before), so bit-rot inside the
tensors is refused instead of giving a wrong image. Every failure is one ``ValueError``
naming the file and what to do. :mod:`.checkpoint` builds the model around the tensors.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = ["TENSORS_HASH_KEY", "clipped", "extract_state_dict", "looks_like_safetensors",
           "read_safetensors_file", "read_state_dict_file", "write_safetensors"]

#: safetensors metadata key of the sha256 of the tensors, written by :func:`write_safetensors`
TENSORS_HASH_KEY = "microdeblur_tensors_sha256"
#: what to do with a damaged weights file
AGAIN = "copy or download it again, or save the weights again"
_MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header


def clipped(text: object, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters: a damaged header's error quoted its whole 3 KB
    model card in one line (CLI and dock status line)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit].rstrip() + "..."


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
            f"{where}: not a readable PyTorch file (truncated or corrupt?): {clipped(exc)}; "
            "copy or download it again, or re-save it"
        ) from None
    return extract_state_dict(obj, where)


# --------------------------------------------------------------------------- safetensors


def _header(f) -> tuple[dict, int] | None:
    """The JSON header of an open safetensors file and where its data start; None if the
    bytes are not a safetensors header (u64 little-endian size, then a JSON object)."""
    size = int.from_bytes(f.read(8), "little")
    if not 2 <= size <= _MAX_HEADER:
        return None
    text = f.read(size)
    if len(text) < size or not text.startswith(b"{"):
        return None
    try:
        header = json.loads(text)
    except ValueError:
        return None
    return (header, 8 + size) if isinstance(header, dict) else None


def looks_like_safetensors(path: Path) -> bool:
    """Whether ``path`` holds a safetensors header, whatever its name ends in (a mail client
    or a user renamed ``w.safetensors`` to ``w.pt`` or dropped the ending)."""
    try:
        with open(path, "rb") as f:
            return _header(f) is not None
    except OSError:
        return False


def _tensors_sha256(header: Mapping[str, Any], start: int, data) -> str:
    """sha256 over the tensors sorted by name: name, dtype, shape and size as JSON, then the
    bytes (little-endian, as the file holds them); independent of the order in the file."""
    h = hashlib.sha256()
    for name in sorted(k for k in header if k != "__metadata__"):
        entry = header[name]
        begin, end = entry["data_offsets"]
        h.update(json.dumps([name, entry["dtype"], entry["shape"], end - begin],
                            separators=(",", ":")).encode())
        h.update(data[start + begin:start + end])
    return h.hexdigest()


def _check_tensors_hash(path: Path, stored: str, where: str) -> None:
    """``ValueError`` unless the tensors in ``path`` hash to ``stored``."""
    actual = None
    with open(path, "rb") as f:
        found = _header(f)
        if found is not None:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:  # no copy
                try:
                    actual = _tensors_sha256(found[0], found[1], memoryview(data))
                except (KeyError, TypeError, ValueError):  # an entry damaged past reading
                    actual = None
    if actual != stored:
        raise ValueError(f"{where}: damaged: its tensors do not match the hash written when it "
                         "was saved; copy it again (or, if you changed the weights yourself, "
                         "save them again with save_weights)")


def read_safetensors_file(path: Path, where: str, *, tensors: bool = True
                          ) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """The metadata and (``tensors``) the tensors of a safetensors file, its tensors hash
    checked where it has one (also for the metadata alone: ``info`` of a damaged file)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            out = {k: f.get_tensor(k) for k in f.keys()} if tensors else {}  # noqa: SIM118
    except Exception as exc:  # SafetensorError, OSError, ... : one clear message
        raise ValueError(f"{where}: not a readable safetensors file (truncated or corrupt?): "
                         f"{clipped(exc)}; {AGAIN}") from None
    if TENSORS_HASH_KEY in meta:
        _check_tensors_hash(path, meta[TENSORS_HASH_KEY], where)
    return meta, out


def write_safetensors(tensors: dict[str, torch.Tensor], meta: dict[str, str], tmp: Path) -> None:
    """A safetensors file whose bytes depend on ``tensors`` and ``meta`` only (safetensors
    writes the metadata keys in a random order, a Rust HashMap, so a repeated fine-tune gave
    the same weights and card under two sha256s, the file's identity in a deblur's record),
    with the sha256 of its tensors in the metadata."""
    from safetensors.torch import save_file

    try:
        save_file(tensors, str(tmp), metadata=meta)
    except Exception as exc:  # SafetensorError: "I/O error: ... (os error 28) at path ..."
        code = re.search(r"os error (\d+)", str(exc))
        if code is None:
            raise
        raise OSError(int(code[1]), os.strerror(int(code[1]))) from None
    raw = tmp.read_bytes()
    end = 8 + int.from_bytes(raw[:8], "little")  # u64 header size, JSON header, data
    header = json.loads(raw[8:end])
    digest = _tensors_sha256(header, end, memoryview(raw))
    meta = {**header["__metadata__"], TENSORS_HASH_KEY: digest}
    header["__metadata__"] = dict(sorted(meta.items()))  # keeps its place, first
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # spaces to 8 bytes, as safetensors pads; offsets unchanged
    tmp.write_bytes(len(text).to_bytes(8, "little") + text + raw[end:])
