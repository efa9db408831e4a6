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
:func:`fitting_configs` names the configurations of an architecture whose tensors a file
has (a plain state dict of weights trained in another configuration than the paper's), and
:func:`other_config_advice` says how to convert such a file to a ``.safetensors`` one.
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

from .foreign_files import safetensors_header as _header  # torch-free: sniff reads it too

__all__ = ["TENSORS_HASH_KEY", "checkpoint_facts", "checkpoint_words",
           "clipped", "read_checkpoint_facts",
           "conversion_code", "converted_name", "extract_state_dict",
           "fitting_configs", "looks_like_safetensors", "named_as", "other_config_advice",
           "read_safetensors_file", "read_state_dict_file", "write_safetensors"]

#: safetensors metadata key of the sha256 of the tensors, written by :func:`write_safetensors`
TENSORS_HASH_KEY = "microdeblur_tensors_sha256"
#: what to do with a damaged weights file
AGAIN = "copy or download it again, or save the weights again"
#: what a .pth file must hold, said where one holds something else
SAVE_STATE_DICT = ("give a weights file saved from the trained model with "
                   "torch.save(model.state_dict(), path) (a dict of tensor names to tensors)")


def clipped(text: object, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters: a damaged header's error quoted its whole 3 KB
    model card in one line (CLI and dock status line)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit].rstrip() + "..."


def extract_state_dict(obj: Any, where: str) -> dict[str, torch.Tensor]:
    """The tensors of a loaded object: the dict itself, or the dict under a known key. A
    training run's checkpoint (last.pt, best.pt) with the run's .safetensors weights beside it
    is refused, naming them: read as a state dict it was 'without a model card', and the
    advice to convert it named the run's own last.safetensors, which the conversion would
    have replaced. Alone (copied or renamed), its weights are read as before."""
    if (facts := checkpoint_facts(obj, where)) is not None and facts["beside"]:
        raise ValueError(f"{where}: {checkpoint_words(facts)}")
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
                    f"{where}: holds no network's weights (a dict of the keys "
                    f"{', '.join(sorted(map(str, obj))[:8])}); {SAVE_STATE_DICT}"
                )
    else:
        raise ValueError(
            f"{where}: holds a {type(obj).__name__}, not a network's weights; {SAVE_STATE_DICT}"
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


# --------------------------------------------------------------------------- configurations


def _model_shapes(arch: str, config: Mapping[str, Any]) -> dict[str, tuple] | None:
    """Tensor names and shapes of ``arch`` in ``config``, built on the meta device (no
    memory); None where the config is invalid or the model cannot be built so."""
    from . import registry

    try:
        with torch.device("meta"):
            model = registry.build_model(arch, dict(config))
    except Exception:  # noqa: BLE001 - an invalid candidate, or an arch that computes values
        return None
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _gran_from_shapes(shapes: Mapping[str, tuple]) -> list[dict[str, Any]]:
    """GRAN configs the tensor shapes point to: channels, width, blocks, down steps and
    GRAB's embedding (its position in all three places); each is checked by the caller."""
    head, tail = shapes.get("head.weight"), shapes.get("tail.weight")
    if not (head and tail and len(head) == 4 and len(tail) == 4):
        return []
    blocks = sum(1 for k in shapes if re.fullmatch(r"body\.\d+\.conv1\.weight", k))
    theta = [v for k, v in shapes.items() if re.fullmatch(r"body\.\d+\.theta\.weight", k)]
    steps = sum(1 for k in shapes if re.fullmatch(r"down\.\d+\.weight", k))
    base = {"in_channels": head[1], "out_channels": tail[0], "n_feats": head[0],
            "n_resblocks": blocks, "scale": 2 ** steps, "use_grab": bool(theta)}
    if not theta:
        return [base]
    embed = None if theta[0][0] == head[0] else theta[0][0]
    return [{**base, "grab_position": where, "grab_embed_channels": embed}
            for where in ("high", "low", "middle")]


#: config fields no tensor shape shows: a config read from the shapes takes the defaults
_NOT_IN_SHAPES = {"gran": ("res_scale", "grab_normalize")}


def _candidates(arch: str, shapes: Mapping[str, tuple]) -> list[tuple[int, str, dict]]:
    """(rank, where from, config overrides) worth trying for ``arch``: the paper's, the
    presets', the bundled weights' (rank 0), one read from the shapes (1), and each of
    the others as gray and RGB (2); a config is named by its lowest-ranked labels."""
    from . import bundled, registry
    from .checkpoint import CARD_KEY  # checkpoint imports this module

    found = [(0, "the paper configuration", {})]
    found += [(0, f"preset {name!r}", registry.preset_config(arch, name))
              for name in registry.list_presets(arch) if name != "paper"]
    for name in sorted(bundled.BUNDLED_WEIGHTS):
        if name.split(".")[0] == arch and bundled.is_installed(name):
            try:
                card = read_safetensors_file(bundled.bundled_path(name), name,
                                             tensors=False)[0].get(CARD_KEY)
                found.append((0, f"bundled {name}", json.loads(card)["config"]))
            except (ValueError, TypeError, KeyError):  # a damaged file: not a candidate
                continue
    if arch == "gran":
        unseen = " and ".join(_NOT_IN_SHAPES["gran"])
        found += [(1, f"read from the tensor shapes; {unseen}, which they do not show, are "
                   "assumed the defaults", config) for config in _gran_from_shapes(shapes)]
    return found + [(2, f"{label} with {c} channel{'s' * (c > 1)}",
                     {**config, "in_channels": c, "out_channels": c})
                    for _, label, config in found for c in (1, 3)]


def fitting_configs(arch: str, tensors: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(where from, config)`` of each known configuration of ``arch`` (paper, presets,
    bundled weights', read from the shapes) whose tensor names and shapes are exactly those
    of ``tensors`` (tensors or shapes), first found first; ``config`` holds the fields that
    differ from the paper's, as ``load_model(..., config=)`` takes them."""
    from . import registry

    shapes = {k: tuple(getattr(v, "shape", v)) for k, v in tensors.items()}
    default = registry.validate_config(arch).model_dump(mode="json")
    labels: dict[str, list[tuple[int, str]]] = {}  # full config as JSON -> where from
    fits: dict[str, dict[str, Any]] = {}
    for rank, label, config in _candidates(arch, shapes):
        try:
            full = registry.validate_config(arch, config).model_dump(mode="json")
        except ValueError:
            continue
        key = json.dumps(full, sort_keys=True)
        if key not in labels:
            labels[key] = []
            if _model_shapes(arch, full) == shapes:
                fits[key] = {k: v for k, v in full.items() if default.get(k) != v}
        labels[key].append((rank, label))
    return [(_label([text for rank, text in labels[key]
                     if rank == min(r for r, _ in labels[key])]), config)
            for key, config in fits.items()]


def _label(texts: list[str]) -> str:
    """'preset 'x'; the configuration of bundled a, b' of a config's labels."""
    names = [t[len("bundled "):] for t in texts if t.startswith("bundled ")]
    others = [t for t in texts if not t.startswith("bundled ")]
    return "; ".join(others + ([f"the configuration of bundled {', '.join(names)}"]
                               if names else []))


def named_as(names: list[str]) -> list[str]:
    """The architectures in whose paper configuration most of ``names`` are found."""
    from . import registry

    share = {}
    for arch in registry.list_archs():
        own = _model_shapes(arch, {}) or {}
        share[arch] = len(set(names) & set(own)) / max(1, len(names))
    return sorted((a for a in share if share[a] >= 0.5), key=share.get, reverse=True)


def converted_name(where: str) -> str:
    """The ``.safetensors`` file a conversion of ``where`` writes, beside it: a name no file
    has (save_weights replaces a file of that name: ``w.pt`` beside a ``w.safetensors``)."""
    path = Path(where)
    names = [] if path.suffix.lower() == ".safetensors" else [path.stem]
    names += [f"{path.stem}_with_card"] + [f"{path.stem}_with_card_{n}" for n in range(2, 100)]
    free = (path.with_name(f"{n}.safetensors") for n in names)
    return str(next((p for p in free if not os.path.lexists(p)), path.with_name(
        f"{names[-1]}.safetensors")))


def conversion_code(where: str, arch: str, config: Mapping[str, Any] | str) -> str:
    """The two Python lines that write ``where``'s tensors with a model card."""
    given = config if isinstance(config, str) else repr(dict(config))
    return (f"model, card = load_model({where!r}, arch={arch!r}, config={given}); "
            f"save_weights(model, {converted_name(where)!r}, card)")


def other_config_advice(arch: str, tensors: Mapping[str, Any], where: str) -> str:
    """What to append to a message saying that the tensors of the card-less file ``where``
    do not fit ``arch`` in the configuration tried: the configuration they do fit (where one
    of the known ones does), and how to convert the file once so that it loads by itself
    (a state dict is read in the paper configuration on the command line). Several fitting
    configs (fields no shape shows) are all named, none chosen. The Python code is in double
    quotes, which the command line's wording leaves as it is."""
    like = named_as(list(tensors))
    if arch not in like:  # not another configuration: another network
        return (f"; its tensors are named as in a {like[0]} network, not a {arch} one"
                if like else "")
    fits = fitting_configs(arch, tensors)
    if fits and not fits[0][1]:  # config= was given, and the file is of the paper's
        return f"; its tensors fit the paper configuration of {arch}: leave config= out"
    how = ("convert it once, in Python (napari_microdeblur.core.checkpoint)"
           + (", with the config it was trained with" if len(fits) != 1 else ""))
    code = conversion_code(where, arch, fits[0][1] if len(fits) == 1 else "{...}")
    then = (f", then it loads by itself (--weights {converted_name(where)}, or "
            "load_model of that file)")
    if not fits:
        return (f"; if the file holds another configuration of {arch} (its tensors fit none "
                f"of the paper's, the presets' or the bundled weights'), {how}: \"{code}\"{then}")
    found = " or ".join(f"config={config!r} ({label})" for label, config in fits)
    several = (", which differ in what no tensor shape shows: choose the one it was "
               "trained with" if len(fits) > 1 else "")
    return (f"; the file holds another configuration of {arch}: its tensors fit {found}"
            f"{several}; {how}: \"{code}\"{then}")


# --------------------------------------------------------------------------- run checkpoints


def _run_metrics(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Regime, step, steps and best validation of a train/finetune last.pt or best.pt."""
    from .training.checkpoints import CHECKPOINT_FORMAT, VALIDATION_SCORING_KEY

    last = obj.get("format") == CHECKPOINT_FORMAT
    best = obj.get("best_metrics") if last else obj.get("metrics")
    best = best if isinstance(best, Mapping) else {}
    card = (obj.get("config") or {}).get("card") if last else None
    return {"kind": "last" if last else "best", "job": "train or finetune",
            "regime": obj.get("regime"), "arch": obj.get("arch"),
            "step": obj.get("step") if last else best.get("step"),
            "steps": obj.get("steps"), "best_step": best.get("step"),
            "best_psnr": best.get("val_psnr"),
            "earlier_scoring": VALIDATION_SCORING_KEY not in obj and "val_psnr" in best,
            "run": " ".join(str((card or {}).get("description") or "").split()) or None}


def checkpoint_facts(obj: Any, where: str | os.PathLike) -> dict[str, Any] | None:
    """What a loaded file is where it is a run's checkpoint: the ``last.pt`` of `train` /
    `finetune` (``CHECKPOINT_FORMAT``) or `finetune --self` (``SELF_CHECKPOINT_FORMAT``), or
    a run's ``best.pt`` (model, metrics and regime); None for anything else. ``folder`` and
    ``beside``: the run's folder and the .safetensors weights in it."""
    from .training.checkpoints import CHECKPOINT_FORMAT, SELF_CHECKPOINT_FORMAT

    if not isinstance(obj, Mapping):
        return None
    if obj.get("format") == SELF_CHECKPOINT_FORMAT:
        best = obj.get("best") if isinstance(obj.get("best"), Mapping) else {}
        facts = {"kind": "last", "job": "finetune --self", "step": obj.get("step"),
                 "steps": obj.get("max_steps"), "best_step": best.get("step"),
                 "best_loss": best.get("loss")}
    elif obj.get("format") == CHECKPOINT_FORMAT or (
            set(obj) >= {"model", "metrics", "regime"} and isinstance(obj["regime"], str)
            and isinstance(obj["metrics"], Mapping) and "format" not in obj):
        facts = _run_metrics(obj)
    else:
        return None
    folder = Path(where).parent
    beside = [str(folder / n) for n in ("best.safetensors", "last.safetensors")
              if (folder / n).is_file()]
    return {**facts, "folder": str(folder), "beside": beside,
            "resumable": (folder / "last.pt").is_file()}


def read_checkpoint_facts(path: str | os.PathLike) -> dict[str, Any] | None:
    """``checkpoint_facts`` of the file ``path``; None where it is not a run's checkpoint (or
    cannot be read: reading it as weights says why)."""
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - not a checkpoint of ours
        return None
    return checkpoint_facts(obj, path)


def checkpoint_words(facts: Mapping[str, Any], use: str = "give --weights {}") -> str:
    """One line for a run's checkpoint given as weights: what it is and the files to give
    instead (``use``: how one is given; a dock's 'load {} here')."""
    what = (f"the last.pt of a {facts['job']} run" if facts["kind"] == "last"
            else "the best.pt of a train or finetune run")
    step = facts.get("step")
    if step is not None:
        what += f" (step {step}" + (f" of {facts['steps']}" if facts.get("steps") else "") + ")"
    beside = facts["beside"]  # refused only with weights beside it (extract_state_dict)
    use = use.format(beside[0]) + (f" (or {beside[1]}, the latest weights)"
                                   if len(beside) > 1 else "")
    again = "finetune --self" if facts["job"] == "finetune --self" else "train or finetune"
    resume = (f"; to continue the run: its {again} command with --checkpoint-dir "
              f"{facts['folder']} --resume" if facts.get("resumable") else "")
    return f"{what}, a checkpoint to resume, not weights with a model card; {use}{resume}"
