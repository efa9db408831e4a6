"""Architecture registry: name -> (nn.Module class, pydantic config class).

An architecture is one file under ``core/archs/`` plus one ``register_arch`` call in that
file (docs/architecture.md, rule 4). The registry is explicit and refuses duplicate names
(as timm and torchvision do); there is no directory scanning and no if/elif factory.

Typical use::

    from napari_microdeblur.core.registry import build_model, list_archs, preset_config
    list_archs()  # ['c2f_unet', 'gran', 'psf_cyclegan', 'sgpn', 'wiener_unet']
    model = build_model("gran")                    # the paper's configuration
    model = build_model("gran", preset_config("gran", "cpu_small"))
    model = build_model("gran", {"n_resblocks": 8, "use_grab": False})

Every model returned by :func:`build_model` carries ``config`` (the validated config
instance), ``size_divisor``, ``receptive_field``, ``in_channels``, ``out_channels``,
``spatial_dims`` and ``exact_tiling`` (False when the network has a non-local operation,
such as GRAB or instance normalisation, so tiled and untiled results can differ).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = [
    "ArchRecord",
    "build_model",
    "describe_model",
    "get_arch",
    "list_archs",
    "list_presets",
    "preset_config",
    "register_arch",
    "validate_config",
]

# Upper bounds of the config fields that size a network (channels, widths, blocks, levels),
# far above any published configuration: a config comes from a weights file's card, which
# anyone can edit, and a billion features overflowed even the meta device's size check.
#: image channels in or out
CHANNELS_LIMIT = 256
#: channels of any inner layer (the architectures' papers use up to 512)
WIDTH_LIMIT = 4096
#: repeated blocks of one kind (GRAN's paper: 40)
BLOCKS_LIMIT = 256
#: resolution levels of a U-Net (each halves the image)
LEVELS_LIMIT = 8

#: Attributes that every registered model must expose after construction.
MODEL_ATTRIBUTES = (
    "config",
    "size_divisor",
    "receptive_field",
    "in_channels",
    "out_channels",
    "spatial_dims",
)


def describe_model(model, cfg: BaseModel, *, size_divisor: int, exact_tiling: bool | None = None,
                   spatial_dims: int | None = None) -> None:
    """Give ``model`` the attributes the tiler and the loaders read (``MODEL_ATTRIBUTES``) that
    its config fixes: ``config``, ``in_channels``, ``out_channels`` and ``size_divisor``, and
    ``exact_tiling`` / ``spatial_dims`` where given (otherwise the class says them). Its
    ``receptive_field`` depends on the layers, so the architecture sets it after building them."""
    model.config = cfg
    model.in_channels = cfg.in_channels
    model.out_channels = cfg.out_channels
    model.size_divisor = size_divisor
    if exact_tiling is not None:
        model.exact_tiling = exact_tiling
    if spatial_dims is not None:
        model.spatial_dims = spatial_dims


@dataclass(frozen=True)
class ArchRecord:
    """What the registry knows about one architecture."""

    name: str
    module_cls: type
    config_cls: type[BaseModel]
    tiny_config: dict[str, Any]
    description: str
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)


_REGISTRY: dict[str, ArchRecord] = {}
_ARCHS_IMPORTED = False


def register_arch(
    name: str,
    module_cls: type,
    config_cls: type[BaseModel],
    *,
    tiny_config: dict[str, Any],
    description: str,
    presets: Mapping[str, Mapping[str, Any]] | None = None,
) -> ArchRecord:
    """Register an architecture under ``name``.

    ``tiny_config`` is a small configuration (a few thousand parameters) used by the tests;
    it is required and must be non-empty. ``presets`` maps preset names to config overrides;
    ``"paper"`` (``{}``, the paper's defaults) and ``"tiny"`` (``tiny_config``) are always
    added. Raises ``ValueError`` for a duplicate name, a missing tiny config, or a tiny config
    or preset that does not validate.
    """
    if not isinstance(name, str) or not name or not name.isidentifier():
        raise ValueError(f"register_arch: name must be a Python identifier, got {name!r}")
    if name in _REGISTRY:
        raise ValueError(
            f"register_arch: an architecture named {name!r} is already registered "
            f"({_REGISTRY[name].module_cls.__module__}.{_REGISTRY[name].module_cls.__name__})"
        )
    if not (isinstance(config_cls, type) and issubclass(config_cls, BaseModel)):
        raise TypeError(f"register_arch({name!r}): config_cls must be a pydantic BaseModel class")
    if config_cls.model_config.get("extra") != "forbid":
        raise ValueError(
            f"register_arch({name!r}): {config_cls.__name__} must set "
            "model_config = ConfigDict(extra='forbid')"
        )
    undocumented = [k for k, f in config_cls.model_fields.items() if not f.description]
    if undocumented:
        raise ValueError(
            f"register_arch({name!r}): config fields without a description: {undocumented}"
        )
    if not isinstance(tiny_config, Mapping) or not tiny_config:
        raise ValueError(
            f"register_arch({name!r}): a non-empty tiny_config is required "
            "(a small configuration the tests build and run on CPU)"
        )
    if not description:
        raise ValueError(f"register_arch({name!r}): a description is required")
    all_presets: dict[str, dict[str, Any]] = {"paper": {}}
    for pname, pcfg in (presets or {}).items():
        all_presets[pname] = dict(pcfg)
    all_presets["tiny"] = dict(tiny_config)
    for pname, pcfg in all_presets.items():
        _validate(name, config_cls, pcfg, what=f"preset {pname!r}")
    record = ArchRecord(
        name=name,
        module_cls=module_cls,
        config_cls=config_cls,
        tiny_config=dict(tiny_config),
        description=description,
        presets=all_presets,
    )
    _REGISTRY[name] = record
    return record


def _unregister(name: str) -> None:
    """Remove ``name`` (for tests that register throw-away architectures)."""
    _REGISTRY.pop(name, None)


def _ensure_archs_imported() -> None:
    global _ARCHS_IMPORTED
    if not _ARCHS_IMPORTED:
        importlib.import_module("napari_microdeblur.core.archs")
        _ARCHS_IMPORTED = True


def list_archs() -> list[str]:
    """Names of all registered architectures, sorted."""
    _ensure_archs_imported()
    return sorted(_REGISTRY)


def get_arch(name: str) -> ArchRecord:
    """The :class:`ArchRecord` for ``name``; ``ValueError`` listing the known names if unknown."""
    _ensure_archs_imported()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown architecture {name!r}; registered architectures: {', '.join(list_archs())}"
        ) from None


def check_file_arch(name: str, where: str) -> None:
    """``ValueError`` when a weights file (``where``) names an architecture not registered here:
    a valid file of a newer version or another plugin, so the line says so and what to do."""
    if name in list_archs():
        return
    from .. import __version__

    raise ValueError(
        f"{where}: its model card names architecture {name!r}, which this napari-microdeblur "
        f"({__version__}) does not have (it has {', '.join(list_archs())}); the file may come "
        "from a newer version or another plugin: update napari-microdeblur, or use weights "
        "written by this version")


def list_presets(name: str) -> list[str]:
    """Preset names of an architecture (always includes ``"paper"`` and ``"tiny"``)."""
    return list(get_arch(name).presets)


def preset_config(name: str, preset: str) -> dict[str, Any]:
    """The config overrides (a dict) of a preset, e.g. ``preset_config("gran", "cpu_small")``."""
    record = get_arch(name)
    try:
        return dict(record.presets[preset])
    except KeyError:
        raise ValueError(
            f"architecture {name!r} has no preset {preset!r}; presets: {list(record.presets)}"
        ) from None


def _validate(name: str, config_cls: type[BaseModel], config: Any, what: str = "config"):
    try:
        return config_cls.model_validate(config)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ())) or "<config>"
            if err.get("type") == "extra_forbidden":
                problems.append(
                    f"unknown field {loc!r} (accepted fields: {sorted(config_cls.model_fields)})"
                )
            else:
                said = str(err.get("msg")).removeprefix("Value error, ")  # pydantic's prefix
                problems.append(f"field {loc!r}: {said} (got {_clipped(err.get('input'))})")
        raise ValueError(
            f"invalid {what} for architecture {name!r}: " + "; ".join(problems)
        ) from None


def _clipped(value: Any) -> str:
    """``repr(value)`` cut to 80 characters: a card's edited field may be a million long."""
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "..."


def validate_config(name: str, config: Mapping[str, Any] | BaseModel | None = None) -> BaseModel:
    """Validate ``config`` (None, dict or config instance) for ``name``; ValueError if invalid."""
    record = get_arch(name)
    if config is None:
        return record.config_cls()
    if isinstance(config, record.config_cls):
        return config
    if isinstance(config, BaseModel):
        raise ValueError(
            f"config for architecture {name!r} must be a {record.config_cls.__name__} or a dict, "
            f"got a {type(config).__name__}"
        )
    if not isinstance(config, Mapping):
        raise ValueError(
            f"config for architecture {name!r} must be None, a dict or a "
            f"{record.config_cls.__name__}, got {type(config).__name__}"
        )
    return _validate(name, record.config_cls, dict(config))


def build_model(name: str, config: Mapping[str, Any] | BaseModel | None = None, *,
                seed: int | None = None):
    """Build the network ``name`` with ``config`` (None = the paper's configuration).

    ``config`` may be a dict of overrides or an instance of the architecture's config class.
    Unknown or invalid fields raise ``ValueError`` naming the field and the architecture.
    ``seed``: the starting weights come from it (else from torch's global random numbers, so
    two trainings with the same training seed started from different weights), leaving the
    global random state as it was.
    """
    record = get_arch(name)
    cfg = validate_config(name, config)
    if seed is None:
        model = record.module_cls(**cfg.model_dump())
    else:
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = record.module_cls(**cfg.model_dump())
    missing = [a for a in MODEL_ATTRIBUTES if not hasattr(model, a)]
    if missing:  # pragma: no cover - guards new architectures
        raise TypeError(f"architecture {name!r} built a model without attributes {missing}")
    model.arch_name = name
    return model
