"""Self-describing checkpoints, the bundled-weights table, and BioImage Model Zoo export.

A checkpoint is a ``.safetensors`` file whose metadata holds a :class:`ModelCard` as JSON
under the key ``"microdeblur_card"``: architecture name and config, channels, normalisation,
training data, degradation, validation metrics, licence and software version. The file alone
rebuilds its model (ARCHITECTURE.md, principle 4)::

    save_weights(model, "my_gran.safetensors", {"training_data": "...", "license": "CC-BY-4.0"})
    model, card = load_model("my_gran.safetensors")
    model, card = load_model("gran.em_v1")                        # bundled, sha256-checked
    model, card = load_model("old.pth", arch="gran", config={...})  # plain state dict
    model, card = load_model("exported.zip")                      # our BioImage Model Zoo export

Every failure (truncated file, wrong sha256, weights of another architecture, a config with
unknown fields, a pickle that needs code, a missing ``arch`` for a state dict) raises one
``ValueError`` naming the file and the mismatch; a model is returned only when every tensor
loaded (nothing is partly loaded). ``torch.load`` is only ever called with
``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import struct
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from napari_microdeblur import __version__
from napari_microdeblur.core import registry

__all__ = [
    "BUNDLED_WEIGHTS",
    "CARD_KEY",
    "BundledWeights",
    "ModelCard",
    "WEIGHTS_DIR",
    "check_channels",
    "export_bioimageio",
    "list_bundled_weights",
    "list_user_weights",
    "load_model",
    "read_card",
    "save_weights",
    "sha256_file",
]

#: safetensors metadata key holding the model card (JSON).
CARD_KEY = "microdeblur_card"
#: version of the card layout written by this module.
CARD_FORMAT_VERSION = 1
#: folder of the bundled ``*.safetensors`` files.
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"

_STATE_DICT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")


class ModelCard(BaseModel):
    """Everything needed to rebuild and correctly use a set of weights."""

    model_config = ConfigDict(extra="forbid")

    card_format_version: int = Field(
        CARD_FORMAT_VERSION, description="Layout version of this card."
    )
    arch: str = Field(description="Registered architecture name (see registry.list_archs()).")
    config: dict[str, Any] = Field(
        default_factory=dict, description="Architecture config (fields of the arch's config class)."
    )
    in_channels: int = Field(ge=1, description="Image channels the model expects (1 gray, 3 RGB).")
    out_channels: int = Field(ge=1, description="Channels the model returns.")
    spatial_dims: int = Field(2, ge=2, le=3, description="2 for images (YX), 3 for volumes (ZYX).")
    normalization: dict[str, Any] = Field(
        default_factory=lambda: {"kind": "percentile", "low": 0.1, "high": 99.9},
        description=(
            "Input normalisation used in training, e.g. "
            "{'kind': 'percentile', 'low': 0.1, 'high': 99.9}."
        ),
    )
    training_data: str = Field("", description="What the model was trained on.")
    degradation: str = Field("", description="The blur/noise it was trained to remove.")
    metrics: dict[str, Any] = Field(
        default_factory=dict, description="Validation metrics, e.g. {'psnr': 31.2}."
    )
    license: str = Field("unknown", description="SPDX licence identifier of the weights.")
    software_version: str = Field(
        __version__, description="napari-microdeblur version that wrote the file."
    )
    description: str = Field("", description="Free text.")
    sha256: str | None = Field(
        None, description="sha256 of the weights file; filled on load, never stored."
    )
    source: str | None = Field(
        None, description="Where the weights were loaded from; filled on load, never stored."
    )


class BundledWeights(BaseModel):
    """One entry of :data:`BUNDLED_WEIGHTS`."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="File name inside the package's weights/ folder.")
    sha256: str = Field(description="Expected sha256 of the file (checked on every load).")
    license: str = Field(description="SPDX licence identifier.")
    description: str = Field(description="What the weights are for.")


#: Bundled weights, named ``arch.tag``, trained on this project's 2-core CPU by
#: ``scripts/train_default.py`` (each file's model card holds data, degradation, steps, metrics).
BUNDLED_WEIGHTS: dict[str, BundledWeights] = {
    "gran.em_v1": BundledWeights(
        file="gran.em_v1.safetensors",
        sha256="707d276602eb5e641ed99c66b30f8f53104140d4dd5ccf87134ecf1691003d38",
        license="NOASSERTION",
        description="GRAN for grayscale electron micrographs (EPFL FIB-SEM training split; "
        "the dataset states no licence)",
    ),
    "gran.fluo_v1": BundledWeights(
        file="gran.fluo_v1.safetensors",
        sha256="a0b8208417717122b8a756d936ae436c0c41ef71e90c0bd2af40f40b72a89939",
        license="BSD-3-Clause",
        description="GRAN for grayscale widefield fluorescence (CellProfiler examples)",
    ),
    "gran.hist_v1": BundledWeights(
        file="gran.hist_v1.safetensors",
        sha256="99796dba366833afbd92c76aacf7e3ddf3a2d1616ba95d3e9c8268a727cb8330",
        license="CC-BY-4.0",
        description="GRAN for RGB brightfield histology, H&E (Kather 2016 tiles)",
    ),
}


# --------------------------------------------------------------------------- helpers


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _arch_name_of(model: torch.nn.Module) -> str:
    name = getattr(model, "arch_name", None)
    if name:
        return name
    for cand in registry.list_archs():
        if type(model) is registry.get_arch(cand).module_cls:
            return cand
    raise ValueError(
        f"cannot tell the architecture of a {type(model).__name__}; build models with "
        "registry.build_model so they carry their architecture name"
    )


def _card_from_model(
    model: torch.nn.Module, card: ModelCard | Mapping[str, Any] | None
) -> ModelCard:
    arch = _arch_name_of(model)
    cfg = model.config.model_dump(mode="json")
    derived = {
        "arch": arch,
        "config": cfg,
        "in_channels": int(model.in_channels),
        "out_channels": int(model.out_channels),
        "spatial_dims": int(model.spatial_dims),
    }
    if card is None:
        data: dict[str, Any] = {}
    elif isinstance(card, ModelCard):
        data = card.model_dump(exclude_unset=True)
    elif isinstance(card, Mapping):
        data = dict(card)
    else:
        raise TypeError(f"card must be a ModelCard or a dict, got {type(card).__name__}")
    for key, value in derived.items():
        if key in data and key != "config" and data[key] != value:
            raise ValueError(f"card.{key}={data[key]!r} does not match the model ({value!r})")
    if "config" in data and data["config"]:
        given = registry.validate_config(arch, data["config"]).model_dump(mode="json")
        if given != cfg:
            raise ValueError(
                "card.config does not match the model's config; leave it out to use the model's"
            )
    data.update(derived)
    data.pop("sha256", None)
    data.pop("source", None)
    data["software_version"] = __version__
    data["card_format_version"] = CARD_FORMAT_VERSION
    try:
        return ModelCard.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"invalid model card: {exc}") from None


def _atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path`` (same folder, so the rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# --------------------------------------------------------------------------- save


def save_weights(
    model: torch.nn.Module,
    path: str | os.PathLike,
    card: ModelCard | Mapping[str, Any] | None = None,
) -> ModelCard:
    """Write ``model``'s weights to ``path`` (``.safetensors``) with its card in the metadata.

    ``card`` supplies the descriptive fields (normalisation, training data, degradation,
    metrics, licence, description); arch, config and channels are taken from the model (a
    card that contradicts them is refused). The file is written to a temporary name and
    renamed, so an interrupted save never leaves a half-written checkpoint. Returns the card.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"save_weights: path must end in .safetensors, got {str(path)!r}")
    full_card = _card_from_model(model, card)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    meta = {
        CARD_KEY: full_card.model_dump_json(exclude={"sha256", "source"}),
        "format": "pt",
    }
    _atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))
    return full_card


# --------------------------------------------------------------------------- load


def _parse_card(raw: str, where: str) -> ModelCard:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{where}: the model card in the metadata is not valid JSON ({exc})"
        ) from None
    if isinstance(data, dict) and data.get("card_format_version", 1) > CARD_FORMAT_VERSION:
        raise ValueError(
            f"{where}: card format {data['card_format_version']} is newer than this "
            f"napari-microdeblur understands ({CARD_FORMAT_VERSION}); please upgrade"
        )
    try:
        return ModelCard.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{where}: invalid model card: {exc}") from None


def _read_safetensors(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except Exception as exc:  # SafetensorError, OSError, ... : one clear message
        raise ValueError(
            f"{path}: not a readable safetensors file (truncated or corrupt?): {exc}"
        ) from None
    return meta, tensors


def read_card(path: str | os.PathLike) -> ModelCard:
    """The card of a ``.safetensors`` checkpoint, reading the header only."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
    except Exception as exc:
        raise ValueError(
            f"{path}: not a readable safetensors file (truncated or corrupt?): {exc}"
        ) from None
    if CARD_KEY not in meta:
        raise ValueError(f"{path}: no napari-microdeblur model card in the metadata")
    card = _parse_card(meta[CARD_KEY], str(path))
    card.source = str(path)
    return card


def _build(arch: str, config: Any, where: str) -> torch.nn.Module:
    try:
        return registry.build_model(arch, config)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _fill(
    model: torch.nn.Module, tensors: Mapping[str, torch.Tensor], where: str, arch: str
) -> None:
    """Load ``tensors`` into ``model`` only if keys and shapes match exactly."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        raise ValueError(
            f"{where}: the weights do not fit architecture {arch!r} with this config "
            f"(keys of another architecture or config?): " + ", ".join(parts)
        )
    bad = [
        f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if tuple(tensors[k].shape) != tuple(v.shape)
    ]
    if bad:
        raise ValueError(
            f"{where}: tensor shapes do not fit architecture {arch!r} with this config: "
            + "; ".join(bad[:3])
            + (f" (and {len(bad) - 3} more)" if len(bad) > 3 else "")
        )
    model.load_state_dict(dict(tensors), strict=True)


def _load_safetensors(
    path: Path,
    *,
    arch: str | None,
    config: Any,
    map_location: Any,
    expected_sha256: str | None = None,
    source: str | None = None,
) -> tuple[torch.nn.Module, ModelCard]:
    where = source or str(path)
    digest = sha256_file(path)
    if expected_sha256 is not None and digest.lower() != expected_sha256.lower():
        raise ValueError(
            f"{where}: sha256 mismatch: expected {expected_sha256}, the file {path} has {digest} "
            "(corrupt or replaced file; reinstall the package or re-download the weights)"
        )
    meta, tensors = _read_safetensors(path)
    if CARD_KEY in meta:
        card = _parse_card(meta[CARD_KEY], where)
        if arch is not None and arch != card.arch:
            raise ValueError(f"{where}: the file holds a {card.arch!r} model, not {arch!r}")
        if config is not None:
            raise ValueError(f"{where}: the file carries its own config; do not pass config=")
    elif arch is not None:
        _known_arch(arch, where)
        try:
            cfg = registry.validate_config(arch, config)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        card = _card_for_import(arch, cfg, path)
    else:
        raise ValueError(
            f"{where}: this .safetensors file has no napari-microdeblur model card; pass arch= "
            f"(one of {registry.list_archs()}) and, if needed, config="
        )
    model = _build(card.arch, card.config, where)
    if (card.in_channels, card.out_channels) != (model.in_channels, model.out_channels):
        raise ValueError(
            f"{where}: card channels {card.in_channels}->{card.out_channels} do not match its "
            f"config ({model.in_channels}->{model.out_channels})"
        )
    _fill(model, tensors, where, card.arch)
    card.sha256 = digest
    card.source = where
    return model.to(map_location).eval(), card


def _known_arch(arch: str, where: str) -> bool:
    try:
        registry.get_arch(arch)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return True


def _card_for_import(arch: str, cfg: BaseModel, path: Path) -> ModelCard:
    return ModelCard(
        arch=arch,
        config=cfg.model_dump(mode="json"),
        in_channels=cfg.in_channels,
        out_channels=cfg.out_channels,
        spatial_dims=getattr(cfg, "spatial_dims", 2),
        description=f"imported from {path.name} (no model card; normalisation assumed)",
    )


def _extract_state_dict(obj: Any, where: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            sd = dict(obj)
        else:
            for key in (
                "state_dict",
                "model",
                "params_ema",
                "params",
                "generator",
                "model_state_dict",
            ):
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


def _load_state_dict_file(
    path: Path, *, arch: str | None, config: Any, map_location: Any
) -> tuple[torch.nn.Module, ModelCard]:
    where = str(path)
    if arch is None:
        raise ValueError(
            f"{where}: a PyTorch state dict does not say which architecture it belongs to; "
            f"pass arch= (one of {registry.list_archs()}) and, if needed, config="
        )
    _known_arch(arch, where)
    try:
        cfg = registry.validate_config(arch, config)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    digest = sha256_file(path)
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = next(
            (
                ln.strip()
                for ln in str(exc).splitlines()
                if "WeightsUnpickler error" in ln or "Unsupported" in ln
            ),
            "",
        )
        raise ValueError(
            f"{where}: refused: this file contains pickled Python objects that need code to be "
            "run to load (not a plain state dict of tensors), and loading it could execute "
            "arbitrary code. Re-save it as torch.save(model.state_dict(), path) or as "
            ".safetensors." + (f" ({detail})" if detail else "")
        ) from None
    except Exception as exc:  # truncated zip, not a torch file, ...
        raise ValueError(
            f"{where}: not a readable PyTorch file (truncated or corrupt?): {exc}"
        ) from None
    sd = _extract_state_dict(obj, where)
    model = _build(arch, cfg, where)
    _fill(model, sd, where, arch)
    card = _card_for_import(arch, cfg, path)
    card.sha256 = digest
    card.source = where
    return model.to(map_location).eval(), card


def _load_zip(
    path: Path, *, arch: str | None, map_location: Any
) -> tuple[torch.nn.Module, ModelCard]:
    where = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            st = [n for n in names if n.endswith(".safetensors")]
            if not st:
                raise ValueError(
                    f"{where}: no .safetensors attachment; only BioImage Model Zoo packages "
                    "exported by napari-microdeblur (export_bioimageio) can be read"
                )
            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / Path(st[0]).name
                target.write_bytes(zf.read(st[0]))
                model, card = _load_safetensors(
                    target,
                    arch=arch,
                    config=None,
                    map_location=map_location,
                    source=f"{where}:{st[0]}",
                )
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(
            f"{where}: not a readable zip file (truncated or corrupt?): {exc}"
        ) from None
    return model, card


def load_model(
    path_or_name: str | os.PathLike,
    *,
    arch: str | None = None,
    config: Mapping[str, Any] | BaseModel | None = None,
    map_location: str | torch.device = "cpu",
) -> tuple[torch.nn.Module, ModelCard]:
    """Load weights and rebuild their model; returns ``(model in eval mode, card)``.

    ``path_or_name`` is a ``.safetensors`` checkpoint (rebuilt from its card), a
    ``.pt``/``.pth`` state dict (needs ``arch`` and, if not the paper's, ``config``), a
    BioImage Model Zoo ``.zip`` written by :func:`export_bioimageio`, or the name of bundled
    weights ``arch.tag`` (see :func:`list_bundled_weights`; the sha256 is verified).
    """
    if (
        isinstance(path_or_name, str)
        and path_or_name in BUNDLED_WEIGHTS
        and not Path(path_or_name).exists()
    ):
        return _load_bundled(path_or_name, map_location=map_location)
    path = Path(path_or_name)
    if not path.is_file():
        bundled = sorted(BUNDLED_WEIGHTS)
        raise ValueError(
            f"no weights file {str(path_or_name)!r} and no bundled weights of that name "
            f"(bundled: {bundled if bundled else 'none yet'})"
        )
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return _load_safetensors(path, arch=arch, config=config, map_location=map_location)
    if suffix in _STATE_DICT_SUFFIXES:
        return _load_state_dict_file(path, arch=arch, config=config, map_location=map_location)
    if suffix == ".zip":
        if config is not None:
            raise ValueError(f"{path}: the package carries its own config; do not pass config=")
        return _load_zip(path, arch=arch, map_location=map_location)
    raise ValueError(
        f"{path}: unknown weights format {suffix!r}; accepted: .safetensors, "
        f"{', '.join(_STATE_DICT_SUFFIXES)} (state dicts, with arch=), .zip (BioImage Model Zoo)"
    )


def _load_bundled(name: str, *, map_location: Any) -> tuple[torch.nn.Module, ModelCard]:
    entry = BUNDLED_WEIGHTS[name]
    arch = name.split(".", 1)[0]
    path = WEIGHTS_DIR / entry.file
    if not path.is_file():
        raise ValueError(
            f"bundled weights {name!r}: file {path} is missing (reinstall napari-microdeblur)"
        )
    model, card = _load_safetensors(
        path,
        arch=arch,
        config=None,
        map_location=map_location,
        expected_sha256=entry.sha256,
        source=name,
    )
    return model, card


def list_bundled_weights() -> dict[str, BundledWeights]:
    """The bundled weights table (``arch.tag`` -> entry)."""
    return dict(BUNDLED_WEIGHTS)


def list_user_weights(directory: str | os.PathLike) -> list[tuple[Path, ModelCard]]:
    """``(path, card)`` of every readable ``*.safetensors`` file in ``directory`` (headers only).

    Files without a readable card are skipped with a warning.
    """
    out = []
    for p in sorted(Path(directory).glob("*.safetensors")):
        try:
            out.append((p, read_card(p)))
        except ValueError as exc:
            warnings.warn(f"skipping {p}: {exc}", stacklevel=2)
    return out


def check_channels(card: ModelCard, n_channels: int) -> None:
    """Raise ``ValueError`` if an image with ``n_channels`` channels does not fit the weights."""
    if int(n_channels) != card.in_channels:
        kind = {1: "grayscale", 3: "RGB"}
        raise ValueError(
            f"weights {card.source or card.arch!r} expect {card.in_channels} input channel(s) "
            f"({kind.get(card.in_channels, 'multichannel')}), but the image has {n_channels}; "
            "choose weights trained for this kind of image or convert the image"
        )


# --------------------------------------------------------------------------- BioImage Model Zoo


def _png_bytes(img: np.ndarray) -> bytes:
    """Minimal PNG encoder for an 8-bit grayscale (H, W) or RGB (H, W, 3) array."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    color = 2 if img.ndim == 3 else 0
    h, w = img.shape[:2]
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _tiff_bytes(a: np.ndarray) -> bytes:
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, np.ascontiguousarray(a, dtype=np.float32))
    return buf.getvalue()


def _to_uint8(a: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(a, [0.5, 99.5])
    return (np.clip((a - lo) / (hi - lo + 1e-12), 0, 1) * 255).astype(np.uint8)


def _cover(x: np.ndarray, y: np.ndarray) -> bytes:
    """Input | output side by side (first channel, middle slice for volumes)."""

    def plane(a: np.ndarray) -> np.ndarray:
        a = a[0, 0]
        while a.ndim > 2:
            a = a[a.shape[0] // 2]
        return a

    left, right = plane(x), plane(y)
    return _png_bytes(np.concatenate([_to_uint8(left), _to_uint8(right)], axis=1))


def _normalize_like_bioimageio(
    x: np.ndarray, norm: Mapping[str, Any], axes: tuple[int, ...]
) -> np.ndarray:
    if norm.get("kind") == "percentile":
        lo = np.percentile(x, norm.get("low", 0.1), axis=axes, keepdims=True)
        hi = np.percentile(x, norm.get("high", 99.9), axis=axes, keepdims=True)
        return ((x - lo) / (hi - lo + 1e-6)).astype(np.float32)
    return x.astype(np.float32)


def export_bioimageio(
    model: torch.nn.Module,
    card: ModelCard | Mapping[str, Any] | None,
    path_zip: str | os.PathLike,
    *,
    test_input: np.ndarray,
    name: str | None = None,
    authors: list[dict[str, str]] | None = None,
    cite: list[dict[str, str]] | None = None,
) -> Path:
    """Write a BioImage Model Zoo package (format 0.5) for ``model``.

    The zip holds ``rdf.yaml``; weights as ``pytorch_state_dict`` (architecture imported from
    ``napari_microdeblur.core.archs.<arch>``) and ``torchscript`` (converted from it, runs
    without our package); ``test_input.npy``/``test_output.npy`` (batch, channel, [z,] y, x);
    a cover PNG; and, as attachments, our ``.safetensors`` checkpoint and its card as JSON,
    which :func:`load_model` reads back. ``test_input`` is a raw image with axes
    ``[C,] [Z,] Y, X`` (or already ``(1, C, ...)``); its spatial sizes must be multiples of
    the model's ``size_divisor``.
    """
    full_card = _card_from_model(model, card)
    path_zip = Path(path_zip)
    if path_zip.suffix != ".zip":
        raise ValueError(f"export_bioimageio: path must end in .zip, got {str(path_zip)!r}")
    sd = model.spatial_dims
    x = np.asarray(test_input, dtype=np.float32)
    if x.ndim == sd:
        x = x[None, None]
    elif x.ndim == sd + 1:
        x = x[None]
    if x.ndim != sd + 2 or x.shape[1] != full_card.in_channels:
        raise ValueError(
            f"test_input must be ([C,] {'Z, ' if sd == 3 else ''}Y, X) "
            f"with C={full_card.in_channels}; "
            f"got shape {np.shape(test_input)}"
        )
    div = model.size_divisor
    if any(s % div for s in x.shape[2:]):
        raise ValueError(f"test_input spatial sizes {x.shape[2:]} must be multiples of {div}")
    spatial_ids = ["z", "y", "x"][-sd:]
    xn = _normalize_like_bioimageio(x, full_card.normalization, tuple(range(2, x.ndim)))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        y = model(torch.from_numpy(xn).to(device)).cpu().numpy().astype(np.float32)
        example = torch.from_numpy(xn).to(device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(model, example, check_trace=False)
    model.train(was_training)

    arch = full_card.arch
    module_cls = registry.get_arch(arch).module_cls
    torch_version = torch.__version__.split("+")[0]
    rdf_name = name or f"napari-microdeblur {arch}"

    def npy(a: np.ndarray) -> bytes:
        buf = io.BytesIO()
        np.save(buf, a)
        return buf.getvalue()

    def sha(b: bytes) -> str:
        return hashlib.sha256(b).hexdigest()

    files: dict[str, bytes] = {}
    files["test_input.npy"] = npy(x)
    files["test_output.npy"] = npy(y)
    files["cover.png"] = _cover(x, y)
    files["sample_input.tif"] = _tiff_bytes(x[0])
    files["sample_output.tif"] = _tiff_bytes(y[0])
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    files["weights_state_dict.pt"] = buf.getvalue()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", DeprecationWarning
        )  # torch.jit is deprecated, still read everywhere
        torch.jit.save(traced, buf)
    files["weights_torchscript.pt"] = buf.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        st_path = Path(tmp) / f"{arch}.safetensors"
        save_weights(model, st_path, full_card)
        files[f"{arch}.safetensors"] = st_path.read_bytes()
    files["microdeblur_card.json"] = full_card.model_dump_json(
        indent=2, exclude={"sha256", "source"}
    ).encode()
    files["environment.yaml"] = (
        "name: napari-microdeblur\nchannels: [conda-forge]\ndependencies:\n"
        f"  - python>=3.10\n  - pip\n  - pip:\n    - napari-microdeblur>={__version__}\n"
        f"    - torch>={torch_version}\n"
    ).encode()
    files["README.md"] = (
        f"# {rdf_name}\n\n{full_card.description or module_cls.__doc__.splitlines()[0]}\n\n"
        f"Architecture `{arch}` of napari-microdeblur.\n\n"
        f"- training data: {full_card.training_data or 'not stated'}\n"
        f"- degradation: {full_card.degradation or 'not stated'}\n"
        f"- metrics: {json.dumps(full_card.metrics)}\n"
        f"- normalisation: {json.dumps(full_card.normalization)}\n"
        f"- licence: {full_card.license}\n\n"
        "## Validation\n\n"
        f"Validation metrics reported by the trainer: {json.dumps(full_card.metrics)}.\n\n"
        "Read back with `napari_microdeblur.core.weights.load_model(path_to_zip)`.\n"
    ).encode()

    ch_names = [f"c{i}" for i in range(full_card.in_channels)]
    out_ch_names = [f"c{i}" for i in range(full_card.out_channels)]
    in_axes: list[dict[str, Any]] = [
        {"type": "batch"},
        {"type": "channel", "channel_names": ch_names},
    ]
    out_axes: list[dict[str, Any]] = [
        {"type": "batch"},
        {"type": "channel", "channel_names": out_ch_names},
    ]
    for ax in spatial_ids:
        in_axes.append({"type": "space", "id": ax, "size": {"min": div, "step": div}})
        out_axes.append({"type": "space", "id": ax, "size": {"tensor_id": "input0", "axis_id": ax}})
    preprocessing: list[dict[str, Any]] = []
    if full_card.normalization.get("kind") == "percentile":
        preprocessing.append(
            {
                "id": "scale_range",
                "kwargs": {
                    "axes": spatial_ids,
                    "min_percentile": float(full_card.normalization.get("low", 0.1)),
                    "max_percentile": float(full_card.normalization.get("high", 99.9)),
                },
            }
        )
    license_id = full_card.license if full_card.license not in ("", "unknown") else "CC-BY-4.0"
    rdf: dict[str, Any] = {
        "type": "model",
        "format_version": "0.5.4",
        "name": rdf_name,
        "description": (full_card.description or f"napari-microdeblur {arch} deblurring network")[
            :1000
        ],
        "authors": authors or [{"name": "napari-microdeblur developers"}],
        "cite": cite
        or [{"text": f"napari-microdeblur {arch}", "url": "https://github.com/napari/napari"}],
        "license": license_id,
        "documentation": "README.md",
        "covers": ["cover.png"],
        "tags": ["deblurring", "microscopy", "napari-microdeblur", arch, f"{sd}d"],
        "inputs": [
            {
                "id": "input0",
                "axes": in_axes,
                "test_tensor": {"source": "test_input.npy", "sha256": sha(files["test_input.npy"])},
                "sample_tensor": {
                    "source": "sample_input.tif",
                    "sha256": sha(files["sample_input.tif"]),
                },
                "data": {"type": "float32"},
                "preprocessing": preprocessing,
            }
        ],
        "outputs": [
            {
                "id": "output0",
                "axes": out_axes,
                "test_tensor": {
                    "source": "test_output.npy",
                    "sha256": sha(files["test_output.npy"]),
                },
                "sample_tensor": {
                    "source": "sample_output.tif",
                    "sha256": sha(files["sample_output.tif"]),
                },
                "data": {"type": "float32"},
            }
        ],
        "weights": {
            "pytorch_state_dict": {
                "source": "weights_state_dict.pt",
                "sha256": sha(files["weights_state_dict.pt"]),
                "architecture": {
                    "callable": module_cls.__name__,
                    "import_from": module_cls.__module__,
                    "kwargs": full_card.config,
                },
                "pytorch_version": torch_version,
                "dependencies": {
                    "source": "environment.yaml",
                    "sha256": sha(files["environment.yaml"]),
                },
            },
            "torchscript": {
                "source": "weights_torchscript.pt",
                "sha256": sha(files["weights_torchscript.pt"]),
                "pytorch_version": torch_version,
                "parent": "pytorch_state_dict",
            },
        },
        "attachments": [
            {"source": f"{arch}.safetensors", "sha256": sha(files[f"{arch}.safetensors"])},
            {"source": "microdeblur_card.json", "sha256": sha(files["microdeblur_card.json"])},
        ],
        "config": {"napari_microdeblur": {"arch": arch, "card": "microdeblur_card.json"}},
    }
    try:
        import yaml

        rdf_text = yaml.safe_dump(rdf, sort_keys=False)
    except ImportError:  # JSON is valid YAML
        rdf_text = json.dumps(rdf, indent=2)
    files = {"rdf.yaml": rdf_text.encode(), **files}

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for fname, data in files.items():
                zf.writestr(fname, data)

    _atomic_write(path_zip, write)
    return path_zip


def default_weights_name(rgb: bool) -> str | None:
    """The default network: used by `microdeblur deblur` without --method and by napari's
    "Deblur with default model":
    ``gran.hist_v1`` for RGB, ``gran.fluo_v1`` otherwise; failing those, the first bundled
    weights whose card fits the channel count; None when no weights are bundled."""
    table = BUNDLED_WEIGHTS
    preferred = "gran.hist_v1" if rgb else "gran.fluo_v1"
    if preferred in table:
        return preferred
    wanted = 3 if rgb else 1
    for name, entry in table.items():
        try:
            card = read_card(WEIGHTS_DIR / entry.file)
        except (ValueError, OSError):
            continue
        if card.in_channels == wanted and card.spatial_dims == 2:
            return name
    return None
