"""Self-describing checkpoints: safetensors weights with their :class:`ModelCard`.

A checkpoint is a ``.safetensors`` file whose metadata holds a :class:`ModelCard` as JSON
under the key ``"microdeblur_card"``: architecture name and config, channels, normalisation,
training data, degradation, the training config, validation metrics, licence and software
version. The file alone rebuilds its model (docs/architecture.md, "a checkpoint describes
itself")::

    save_weights(model, "my_gran.safetensors", {"training_data": "...", "license": "CC-BY-4.0"})
    model, card = load_model("my_gran.safetensors")
    model, card = load_model("gran.em_v1")                        # bundled, sha256-checked
    model, card = load_model("old.pth", arch="gran", config={...})  # plain state dict
    model, card = load_model("exported.zip")                      # our BioImage Model Zoo export

Every failure (truncated file, wrong sha256, weights of another architecture, a config with
unknown fields, a pickle that needs code, a missing ``arch`` for a state dict) raises one
``ValueError`` naming the file and the mismatch; a model is returned only when every tensor
loaded (nothing is partly loaded). ``torch.load`` is only ever called with
``weights_only=True``. The bundled table is in :mod:`.bundled`, the BioImage Model Zoo
format in :mod:`.export`, the reading of plain state dicts and the safetensors bytes (a
sha256 of the tensors, checked on load) in :mod:`.state_dict_files`, and the writing
(temporary file, rename, one-line ``OSError``) in :mod:`.atomic_write`.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from napari_microdeblur import __version__
from napari_microdeblur.core import atomic_write, card_checks, notes, registry, shown
from napari_microdeblur.core import state_dict_files as sd_files
from napari_microdeblur.core import weights_layouts as layouts
from napari_microdeblur.core.atomic_write import write_atomically  # re-exported, as before
from napari_microdeblur.core.run_paths import KERAS_SUFFIXES, STATE_DICT_SUFFIXES, missing_weights

__all__ = [
    "ArchitectureUnknownError", "CARD_FORMAT_VERSION", "CARD_KEY", "ModelCache", "ModelCard",
    "card_for_model", "check_channels", "earlier_layout", "list_user_weights", "load_model",
    "load_safetensors",
    "read_card", "save_weights", "sha256_file", "write_atomically",
]

#: safetensors metadata key holding the model card (JSON).
CARD_KEY = "microdeblur_card"
#: version of the card layout written by this module (2 added ``training``).
CARD_FORMAT_VERSION = 2

_STATE_DICT_SUFFIXES, _KERAS_SUFFIXES = STATE_DICT_SUFFIXES, KERAS_SUFFIXES


class ArchitectureUnknownError(ValueError):
    """Weights that do not name their architecture (a plain state dict, a .safetensors file
    without a model card): ``holds`` says what the file holds, ``like`` lists the registered
    architectures whose tensor names it mostly has (empty: not a microdeblur network)."""

    def __init__(self, where: str, found: str, names: list[str]):
        archs = registry.list_archs()
        share = {a: _name_share(names, a) for a in archs}
        # half the names: a smaller config of the same architecture names fewer blocks
        self.like = sorted((a for a in archs if share[a] >= 0.5), key=share.get, reverse=True)
        self.holds = (f"{len(names)} tensors such as {', '.join(map(repr, names[:2]))}, named "
                      + (f"as in a {self.like[0]} network" if self.like
                         else f"as in none of {', '.join(archs)}"))
        super().__init__(f"{where}: {found}; pass arch= (one of {archs}; on the command line "
                         f"--method ARCH) and, if needed, config= ({self.holds})")


class ModelCard(BaseModel):
    """Everything needed to rebuild and correctly use a set of weights."""

    model_config = ConfigDict(extra="forbid")

    card_format_version: int = Field(CARD_FORMAT_VERSION,
                                     description="Layout version of this card.")
    arch: str = Field(description="Registered architecture name (see registry.list_archs()).")
    config: dict[str, Any] = Field(default_factory=dict, description="Architecture config "
                                   "(fields of the arch's config class).")
    in_channels: int = Field(ge=1, le=registry.CHANNELS_LIMIT,
                             description="Image channels the model expects (1 gray, 3 RGB).")
    out_channels: int = Field(ge=1, le=registry.CHANNELS_LIMIT,
                              description="Channels the model returns.")
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
    metrics: dict[str, Any] = Field(default_factory=dict,
                                    description="Validation metrics, e.g. {'psnr': 31.2}.")
    training: dict[str, Any] = Field(
        default_factory=dict,
        description="The TrainingConfig of the run that made the weights (empty if unknown).",
    )
    license: str = Field("unknown", description="SPDX licence identifier of the weights.")
    tiling: dict[str, int] = Field(
        default_factory=dict,
        description=(
            "Measured tiling for these weights: 'halo', the pixels per side a tile's output "
            "depends on (scripts/measure_halo.py), and 'tile', the default tile. Empty: the "
            "architecture's theoretical receptive field and the default tile."
        ),
    )
    software_version: str = Field(__version__,
                                  description="napari-microdeblur version that wrote the file.")
    description: str = Field("", description="Free text.")
    sha256: str | None = Field(None, description="sha256 of the weights file; filled on load, "
                                                 "never stored.")
    source: str | None = Field(None, description="Where the weights were loaded from; filled on "
                                                 "load, never stored.")

    # what sizes or steers a run is checked as the card is read, naming the field (card_checks)
    _tiling = field_validator("tiling")(card_checks.checked_tiling)
    _normalization = field_validator("normalization")(card_checks.checked_normalization)
    _degradation = field_validator("degradation")(card_checks.checked_degradation)


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
    raise ValueError(f"cannot tell the architecture of a {type(model).__name__}; build models "
                     "with registry.build_model so they carry their architecture name")


def card_for_model(
    model: torch.nn.Module, card: ModelCard | Mapping[str, Any] | None
) -> ModelCard:
    """The full card of ``model``: the descriptive fields of ``card`` plus those the model
    determines (arch, config, channels); ``ValueError`` if ``card`` contradicts the model."""
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
        raise ValueError(f"invalid model card: {card_checks.one_line(exc)}") from None


# --------------------------------------------------------------------------- save


def save_weights(
    model: torch.nn.Module,
    path: str | os.PathLike,
    card: ModelCard | Mapping[str, Any] | None = None, *, overwrite: bool = True,
) -> ModelCard:
    """Write ``model``'s weights to ``path`` (``.safetensors``) with its card in the metadata.

    ``card`` supplies the descriptive fields (normalisation, training data, degradation,
    metrics, licence, description); arch, config and channels are taken from the model (a
    card that contradicts them is refused). Written to a temporary name, then renamed: a
    folder, read-only file or full disk is one ``OSError`` line, the file there kept; so is,
    without ``overwrite``, one there or written meanwhile by another run (``OutputExistsError``).
    Same weights and card, same bytes; the tensors' sha256 in the metadata is checked on load."""
    if not isinstance(path, (str, os.PathLike)) or isinstance(card, (str, os.PathLike)):
        # export_bioimageio takes (model, card, path): the swap raised pathlib's TypeError
        raise TypeError(f"save_weights takes (model, path, card), got a {type(path).__name__} "
                        f"as path; call save_weights(model, 'name.safetensors', card)")
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"save_weights: path must end in .safetensors, got {str(path)!r}")
    if not overwrite and os.path.lexists(path):  # there before: it did not 'appear meanwhile'
        raise atomic_write.exists_error(path)  # or why overwrite would not replace it either
    full_card = card_for_model(model, card)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    meta = {CARD_KEY: full_card.model_dump_json(exclude={"sha256", "source"}), "format": "pt"}
    write_atomically(path, lambda tmp: sd_files.write_safetensors(tensors, meta, tmp),
                     overwrite=overwrite)  # one line naming the file for a full disk ...
    return full_card


# --------------------------------------------------------------------------- load


def _parse_card(raw: str, where: str) -> ModelCard:
    try:  # not JSON, or nested too deep for json (a RecursionError) or for a card
        data = card_checks.card_json(raw)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    version = data.get("card_format_version", 1) if isinstance(data, dict) else 1
    if not isinstance(version, int):  # a hand-edited card: compare no str with an int
        raise ValueError(f"{where}: invalid model card: card_format_version is {version!r}, "
                         f"not a whole number{_EDITED}")
    if version > CARD_FORMAT_VERSION:
        raise ValueError(
            f"{where}: card format {data['card_format_version']} is newer than this "
            f"napari-microdeblur understands ({CARD_FORMAT_VERSION}); please upgrade"
        )
    try:
        card = ModelCard.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{where}: {card_checks.card_problem(exc, data, __version__)}") from None
    registry.check_file_arch(card.arch, where)  # a valid card of a network built elsewhere
    return card


_EDITED = card_checks.EDITED
_NEWER = ("; the model card comes from another napari-microdeblur version, or was edited: "
          "update napari-microdeblur, or use the original file")


def read_card(path: str | os.PathLike) -> ModelCard:
    """The card of a ``.safetensors`` checkpoint, reading the header (and the tensors, where
    the file has their hash, to check it: ``info`` of a damaged file said nothing)."""
    path = Path(path)
    if path.is_dir():  # safetensors says only "No such device (os error 19)" of a folder
        raise ValueError(f"{path}: is a folder, not a .safetensors weights file")
    if not path.is_file():  # not "truncated or corrupt?"
        raise ValueError(f"{path}: no such file; check the name and the folder")
    _check_readable(path)
    meta, _ = sd_files.read_safetensors_file(path, str(path), tensors=False)
    if CARD_KEY not in meta:
        raise ValueError(f"{path}: no napari-microdeblur model card in the metadata")
    card = _parse_card(meta[CARD_KEY], str(path))
    card.source = str(path)
    return card


def earlier_layout(path: str | os.PathLike) -> str | None:
    """What ``load_model`` says of a ``.safetensors`` weights file saved in an earlier
    release's tensor layout, which it converts ('made with an earlier layout of c2f_unet
    (before 2026-11-30, ...); converted as it loads (...)'); None for today's layout (and no
    tensor read where the architecture never changed its layout)."""
    card = read_card(path)
    if card.arch not in layouts.CHANGED_ARCHS:
        return None
    try:
        model = (_build_on_meta(card.arch, card.config, str(path), _NEWER, True)
                 or _build(card.arch, card.config, str(path), _NEWER))
    except ValueError:  # a config no network is built of: not converted but refused on load
        return None
    tensors = sd_files.read_safetensors_file(Path(path), str(path))[1]
    earlier = layouts.converted(card.arch, model, tensors)
    return None if earlier is None else earlier.loaded()


def _name_share(names: list[str], arch: str) -> float:
    """The share of ``names`` that ``arch`` in its paper configuration has."""
    try:
        own = registry.build_model(arch, {}).state_dict()
    except Exception:  # noqa: BLE001 - an architecture that needs a config names nothing here
        return 0.0
    return len(set(names) & set(own)) / max(1, len(names))


def _build(arch: str, config: Any, where: str, advice: str = "") -> torch.nn.Module:
    try:
        # its random init (overwritten by the weights) left torch's seeded stream moved on, so
        # a notebook's first deblur with a network changed what it drew after (4 us a build)
        with torch.random.fork_rng(devices=[]):
            return registry.build_model(arch, config)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}{advice}") from None


#: Where the model's configuration came from, as a mismatch says it (no config=: the command
#: line cannot give one for a state dict)
_OTHER = "they are of another architecture, or of another configuration of it"
_SETTING = {"paper": f"in its paper configuration ({_OTHER})",
            "given": f"in the configuration given ({_OTHER})",
            "card": "in the configuration its model card names (a damaged or edited file)"}


def _build_on_meta(arch: str, config: Any, where: str, advice: str,
                   card: bool) -> torch.nn.Module | None:
    """The model on the meta device (shapes, no memory); None where it cannot be built so
    (then built for real: a config given in code). A card's config is checked first against
    its fields' bounds, naming the field (a million blocks took 35 min on the meta device
    too), and never built for real unchecked (a billion features: a 36 GB allocation)."""
    if card:
        try:
            registry.validate_config(arch, config)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}{advice}") from None
    try:
        with torch.device("meta"):
            return registry.build_model(arch, config)
    except Exception as exc:  # noqa: BLE001 - an architecture that computes values while built
        if card:
            raise ValueError(f"{where}: the configuration its model card names cannot be "
                             f"checked against the weights ({shown.first_line(exc)}){advice}"
                             ) from None
        return None


def _check_channels(model: torch.nn.Module, card, where: str) -> None:
    if (card.in_channels, card.out_channels) != (model.in_channels, model.out_channels):
        raise ValueError(
            f"{where}: card channels {card.in_channels}->{card.out_channels} do not match its "
            f"config ({model.in_channels}->{model.out_channels}){_EDITED}"
        )


def _check_fits(expected: Mapping[str, torch.Tensor], tensors: Mapping[str, torch.Tensor],
                where: str, arch: str, setting: str) -> None:
    """ValueError unless ``tensors`` has exactly the keys and shapes of ``expected``; without
    a card it names the configurations the tensors fit and how to convert the file."""
    def advice() -> str:  # only on failure: it builds candidate configurations (0.5-0.8 s)
        return "" if setting == "card" else sd_files.other_config_advice(arch, tensors, where)

    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        raise ValueError(
            f"{where}: the weights do not fit architecture {arch!r} {_SETTING[setting]}: "
            + ", ".join(parts) + advice()
        )
    bad = [
        f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if tuple(tensors[k].shape) != tuple(v.shape)
    ]
    if bad:
        raise ValueError(
            f"{where}: tensor shapes do not fit architecture {arch!r} {_SETTING[setting]}: "
            + "; ".join(bad[:3])
            + (f" (and {len(bad) - 3} more)" if len(bad) > 3 else "") + advice()
        )


def load_safetensors(
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
    meta, tensors = sd_files.read_safetensors_file(path, where)
    if CARD_KEY in meta:
        card = _parse_card(meta[CARD_KEY], where)
        if arch is not None and arch != card.arch:
            raise ValueError(f"{where}: the file holds a {card.arch!r} model, not {arch!r}; give "
                             f"method={card.arch!r} or 'auto' (the CLI's default) with it")
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
        raise ArchitectureUnknownError(
            where, "this .safetensors file has no napari-microdeblur model card", list(tensors))
    setting = "card" if CARD_KEY in meta else "paper" if config is None else "given"
    advice = _NEWER if CARD_KEY in meta else ""
    # meta first (no memory): an edited card's 100k features allocated GBs before the check
    for build in (lambda a, c: _build_on_meta(a, c, where, advice, CARD_KEY in meta),
                  lambda a, c: _build(a, c, where, advice)):
        if (model := build(card.arch, card.config)) is not None:
            _check_channels(model, card, where)
            tensors = layouts.upgraded(card.arch, model, tensors, where)  # an earlier layout
            _check_fits(model.state_dict(), tensors, where, card.arch, setting)
    model.load_state_dict(dict(tensors), strict=True)
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
    return ModelCard(arch=arch, config=cfg.model_dump(mode="json"), in_channels=cfg.in_channels,
                     out_channels=cfg.out_channels, spatial_dims=getattr(cfg, "spatial_dims", 2),
                     description=f"imported from {path.name} (no model card; normalisation "
                                 "assumed)")


def _load_state_dict_file(
    path: Path, *, arch: str | None, config: Any, map_location: Any
) -> tuple[torch.nn.Module, ModelCard]:
    where = str(path)
    if arch is None:  # read first, to say what the file holds
        raise ArchitectureUnknownError(
            where, "a PyTorch state dict does not say which architecture it belongs to",
            list(sd_files.read_state_dict_file(path, where)))
    _known_arch(arch, where)
    try:
        cfg = registry.validate_config(arch, config)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    digest = sha256_file(path)
    sd = sd_files.read_state_dict_file(path, where)
    model = _build(arch, cfg, where)
    sd = layouts.upgraded(arch, model, sd, where)  # a state dict of an earlier layout
    _check_fits(model.state_dict(), sd, where, arch, "paper" if config is None else "given")
    model.load_state_dict(dict(sd), strict=True)
    card = _card_for_import(arch, cfg, path)
    card.sha256 = digest
    card.source = where
    return model.to(map_location).eval(), card


def _weights_path(path_or_name: str | os.PathLike, bundled_names: list[str]) -> Path:
    """``path_or_name`` as a readable file; else one line saying what to change."""
    missing_weights(path_or_name, bundled_names)
    path = Path(path_or_name)
    _check_readable(path)
    return path


def _check_readable(path: Path) -> None:
    """``ValueError`` for a file that cannot be opened (the readers would call it corrupt)."""
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the file ({exc.strerror or exc}); check its "
                         "permissions, or copy it somewhere you can read it") from None


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
    BioImage Model Zoo ``.zip`` written by :func:`.export.export_bioimageio`, or the name of
    bundled weights ``arch.tag`` (see :mod:`.bundled`; the sha256 is verified).
    """
    from . import bundled  # bundled imports this module

    # a bundled name is always the bundled weights: a file or folder of that name in the
    # working folder made `--method gran.em_v1` (and `auto`) fail; give it as ./gran.em_v1
    if isinstance(path_or_name, str) and path_or_name in bundled.BUNDLED_WEIGHTS:
        return bundled.load_bundled(path_or_name, map_location=map_location)
    path = _weights_path(path_or_name, sorted(bundled.BUNDLED_WEIGHTS))
    suffix = path.suffix.lower()
    if suffix != ".safetensors" and sd_files.looks_like_safetensors(path):  # renamed by mail
        named = f"its name ends in {suffix}" if suffix else "its name has no ending"
        warnings.warn(f"{path}: holds .safetensors weights but {named}; read as .safetensors "
                      f"(rename it to {path.stem}.safetensors)",
                      notes.DeblurNote, stacklevel=2)
        suffix = ".safetensors"
    if suffix == ".safetensors":
        return load_safetensors(path, arch=arch, config=config, map_location=map_location)
    if suffix in _STATE_DICT_SUFFIXES:
        return _load_state_dict_file(path, arch=arch, config=config, map_location=map_location)
    if suffix == ".zip":
        if config is not None:
            raise ValueError(f"{path}: the package carries its own config; do not pass config=")
        from .export import read_bioimageio_zip  # export imports this module

        return read_bioimageio_zip(path, arch=arch, map_location=map_location)
    if suffix in _KERAS_SUFFIXES:  # CSBDeep / CARE / n2v weights_best.h5
        raise ValueError(
            f"{path}: unknown weights format {suffix!r}: Keras (HDF5) weights, as CSBDeep/CARE "
            "and n2v write, are not a napari-microdeblur network and cannot be read; run them "
            "in their own tool, or give .safetensors weights (microdeblur methods lists the "
            "bundled ones)")
    raise ValueError(
        f"{path}: unknown weights format {suffix!r}; accepted: .safetensors, "
        f"{', '.join(_STATE_DICT_SUFFIXES)} (state dicts, with arch=), .zip (BioImage Model Zoo)"
    )


class ModelCache:
    """Networks loaded once for a batch of images: ``load`` gives the same (model, card) for
    the same weights, so a batch of many small files does not read, verify and rebuild the
    network (and fold its BatchNorm) for each (``benchmarks/batch_overhead.py``). A weights
    file rewritten during the batch is loaded anew. For inference only: a model from the
    cache must not be trained, or every later image would run the trained weights."""

    def __init__(self) -> None:
        import threading

        self._loaded: dict[tuple, tuple[torch.nn.Module, ModelCard]] = {}
        # a cluster worker's threads share one cache: two loading the same weights at once
        # had each built a copy (3 copies of one network in a stress run), on a GPU too
        self._loading = threading.Lock()

    @staticmethod
    def key(path_or_name: str | os.PathLike, arch: str | None = None) -> tuple:
        """A network's identity: its file (path, mtime, size) or bundled name, and ``arch``."""
        from . import bundled  # bundled imports this module

        path = Path(path_or_name)
        try:
            if isinstance(path_or_name, str) and path_or_name in bundled.BUNDLED_WEIGHTS:
                raise FileNotFoundError  # loaded by name, whatever the working folder holds
            stat = path.stat()
            return (str(path.resolve()), stat.st_mtime_ns, stat.st_size, arch)
        except OSError:  # a bundled name
            return (str(path_or_name), None, None, arch)

    def load(self, path_or_name: str | os.PathLike, *, arch: str | None = None):
        """``load_model(path_or_name, arch=arch)``, once per weights."""
        key = self.key(path_or_name, arch)
        with self._loading:
            if key not in self._loaded:
                self._loaded[key] = load_model(path_or_name, arch=arch)
            return self._loaded[key]


def list_user_weights(directory: str | os.PathLike) -> list[tuple[Path, ModelCard]]:
    """``(path, card)`` of every readable ``*.safetensors`` file in ``directory`` (headers only);
    files without a readable card are skipped with a warning."""
    out = []
    for p in sorted(Path(directory).glob("*.safetensors")):
        try:
            out.append((p, read_card(p)))
        except ValueError as exc:
            warnings.warn(f"skipping {p}: {exc}", notes.DeblurWarning, stacklevel=2)
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
