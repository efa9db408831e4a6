"""Everything ``iter_fit`` checks and builds before the first step: the data sources, the
validation crops, the loss weights, the discriminator and the checkpoint to resume from.
Every problem raises a ``ValueError`` naming what to change, before any training."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import data as data_mod
from .. import devices
from ..data_volumes import UnpairedVolumes
from ..devices import autocast_supported, resolve_device
from .checkpoints import check_same_settings, checkpoint_path, load_training_checkpoint
from .config import TrainingConfig
from .losses import MicroscopyFeatures, VGGFeatures
from .regime_facts import psf_aware_refusal
from .regimes import Regime, get_regime, list_regimes
from .unseen import check_unseen, set_refusal, set_words

__all__ = ["SKIPPED_PERCEPTUAL", "Setup", "prepare"]

SKIPPED_PERCEPTUAL = ("perceptual loss skipped: no VGG weights (--perceptual microscopy uses "
                      "offline features)")


@dataclass
class Setup:
    """What the trainer starts from (all checked)."""

    model: nn.Module
    config: TrainingConfig
    regime: Regime
    train: Any
    sources: dict[str, Any]
    val_crops: list
    device: torch.device
    amp: str
    weights: dict[str, float]
    discriminator: nn.Module | None
    vgg: VGGFeatures | MicroscopyFeatures | None
    notes: list[str]
    checkpoint_dir: Path | None
    resume: dict | None
    #: what ``validation_fingerprint`` gives for ``val_crops``; last.pt keeps it for resumes
    val_fingerprint: str = ""


def resolve_amp(amp: str, device: torch.device, model: nn.Module | None = None) -> str:
    """The mixed precision a run uses on ``device`` ("off", "bf16" or "fp16"). 'auto' on a GPU
    without bf16 units (T4, V100): fp16, but "off" for a ``model`` that ``float16_overflows``."""
    if amp == "auto":
        auto = devices.cuda_auto_precision(model, device) if device.type == "cuda" else "float32"
        return {"bfloat16": "bf16", "float16": "fp16"}.get(auto, "off")
    if amp == "fp16" and device.type != "cuda":
        raise ValueError(f"amp='fp16' needs a CUDA device (device: {device}); use bf16 or off")
    if amp == "bf16" and not (autocast_supported(device.type)
                              and devices.autocasts_to(device.type, torch.bfloat16)):
        raise ValueError(f"amp='bf16' needs autocast on {device.type} to bfloat16, which torch "
                         f"{torch.__version__} lacks (MPS: torch >= 2.6, macOS 14+); use 'off'")
    return amp


def amp_notes(amp: str, resolved: str, device: torch.device, model: nn.Module) -> list[str]:
    """Why amp 'auto' trains in float32 on this GPU, or that an fp16 asked for may overflow."""
    if device.type != "cuda" or amp == "off" or resolved == "bf16" \
            or not devices.float16_overflows(model):
        return []
    why = "the model's GRAB block overflows in float16 (inf/NaN from 384 px crops)"
    return [f"amp auto: float32, no autocast: this GPU has no bf16 and {why}" if amp == "auto"
            else f"amp fp16: {why}; amp 'off' avoids it"]


def _check_model(model, config: TrainingConfig, regime: Regime) -> int:
    """The model's size divisor, after checking that the model can be trained."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model is a {type(model).__name__}; accepted: a torch.nn.Module")
    if spatial_dims(model) != 2 and not regime.trains_volumes:
        volume_regimes = [r for r in list_regimes() if get_regime(r).trains_volumes]
        raise ValueError(
            f"model works on volumes (spatial_dims=3); the {regime.name} regime trains 2D "
            f"models (YX planes); 3D training: regime {' or '.join(volume_regimes)}")
    if getattr(model, "needs_psf", False) and getattr(model, "bound_psf", None) is None:
        raise ValueError(psf_aware_refusal(getattr(model, "arch_name", type(model).__name__)))
    divisor = int(getattr(model, "size_divisor", 1))
    patch = config.patch
    if patch % divisor:
        raise ValueError(
            f"patch={patch} is not a multiple of the model's size_divisor {divisor}; use "
            f"{max(divisor, patch // divisor * divisor)} or {(patch // divisor + 1) * divisor}")
    return divisor


def spatial_dims(model_or_source) -> int:
    """2 for a model or patch source of images, 3 for one of volumes."""
    return int(getattr(model_or_source, "spatial_dims", 2))


def _same_dims(source, model: nn.Module, name: str) -> None:
    """One line when a source of images meets a 3D model or a source of volumes a 2D one."""
    if spatial_dims(source) == spatial_dims(model):
        return
    if spatial_dims(model) == 3:
        raise ValueError(f"{name} holds 2D images but the model is 3D (spatial_dims=3); give "
                         "z-stacks (data_volumes.UnpairedVolumes) or a model with spatial_dims=2")
    raise ValueError(f"{name} holds z-stacks but the model is 2D (spatial_dims=2); give 2D "
                     "images or a model with spatial_dims=3")


def _training_source(model: nn.Module, train):
    train = data_mod.as_training_data(train, "train")
    _same_dims(train, model, "train")
    in_ch = getattr(model, "in_channels", None)
    out_ch = getattr(model, "out_channels", None)
    if in_ch is not None and train.channels != in_ch:
        raise ValueError(
            f"the training images have {train.channels} channel(s) but the network takes "
            f"{in_ch} (1: grayscale, 3: RGB); give {in_ch}-channel images, or start from "
            f"weights (or a config) with in_channels {train.channels}")
    if out_ch is not None and in_ch is not None and out_ch != in_ch:
        raise ValueError(f"the model maps {in_ch} to {out_ch} channels; training needs in == out")
    return train


def _extra_sources(regime: Regime, given: Mapping[str, Any], train, patch: int,
                   model: nn.Module, advice: PatchAdvice | None = None) -> dict:
    """The regime's extra image sets as patch sources (None: drawn from ``train``)."""
    sources: dict[str, Any] = {}
    for name, obj in given.items():
        if obj is None:
            continue
        if name not in regime.extra_sources:
            users = [r for r in list_regimes() if name in get_regime(r).extra_sources]
            raise ValueError(f"{name}= is for the regimes {users}, not {regime.name!r}")
        is_source = hasattr(obj, "sample_inputs") and hasattr(obj, "check_patch")
        as_source = UnpairedVolumes if spatial_dims(model) == 3 else data_mod.UnpairedImages
        src = obj if is_source else as_source(
            obj, augment=name not in regime.unaugmented_sources)
        _same_dims(src, model, name)
        if src.channels != train.channels:  # named as the user gave it ("--unlabelled DIR")
            raise ValueError(
                f"{set_words(src, name)} has {src.channels}-channel images but the training "
                f"images {train.channels}; give {train.channels}-channel images")
        sources[name] = src
    missing = [name for name in regime.required_sources if name not in sources]
    if missing:
        raise ValueError(
            f"regime {regime.name!r} needs {' and '.join(f'{n}=' for n in missing)} (images "
            "without partners); it does not draw them from the training pairs")
    checked = [(sources[n], regime.patch_margin(n), n) for n in sources]
    checked += [(train, regime.patch_margin(n), n) for n in regime.extra_sources
                if n not in sources]  # drawn from the training pairs
    if advice is not None:
        advice.sets = [(src, margin) for src, margin, _ in checked] + [(train, 0)]
    # the sets with the widest margin first: the blurry z-stacks' plain check said 'a patch of
    # at most 24' where the sharp ones, with the PSF's margin, then asked for 44 px
    for src, margin, name in sorted(checked, key=lambda c: -c[1]):
        try:
            _check_patch(src, patch, margin, name, advice)
        except ValueError as error:  # the set named ("--unlabelled DIR"), not the pairs
            raise ValueError(str(error) if src is train else set_refusal(src, name, error)) \
                from None
    return {name: sources.get(name) for name in regime.extra_sources}


def _check_patch(src, patch: int, margin: int, name: str, advice: PatchAdvice | None = None
                 ) -> None:
    """The set's check_patch asked for a patch no larger than its images, which the regime's
    margin (the PSF's reach) around every patch makes too large: say what fits, in numbers
    that pass every check before training (``advice``: it said --patch 24 to 48-plane stacks,
    which the discriminator then refused)."""
    shapes = getattr(src, "shapes", None)  # a caller's own source may not list them
    if not margin or not shapes or min(min(s) for s in shapes) >= patch + 2 * margin:
        return src.check_patch(patch + 2 * margin)
    smallest = min(min(s) for s in shapes)
    fits = advice.ways_out(patch) if advice else f"images of at least {patch + 2 * margin} px"
    raise ValueError(f"{name}= patches are the patch ({patch} px) plus the PSF's reach ({margin} "
                     f"px) on each side, {patch + 2 * margin} px: larger than its smallest image "
                     f"side ({smallest} px); accepted: {fits}, or a smaller psf_size in the "
                     "model's config")


class PatchAdvice:
    """The patches (and discriminator configs, and image sizes) that pass every check before
    training together: the size divisor, the regime's own check of the model, the image sets
    with their margins and the discriminator; each refusal's way out is said in these."""

    def __init__(self, model: nn.Module, config: TrainingConfig, divisor: int, channels: int):
        self.model, self.config, self.divisor, self.channels = model, config, divisor, channels
        self.dims = spatial_dims(model)
        self.sets: list[tuple[Any, int]] = []  # (image set, margin); _extra_sources fills it
        self.overrides = dict(config.discriminator or {})
        self._regime, self._disc = None, None  # built once, when first needed

    def regime_at(self, patch: int) -> Regime | None:
        """The regime at ``patch``, its model checked, or None when it refuses the model."""
        regime = get_regime(self.config.regime)(self.config.model_copy(update={"patch": patch}))
        try:
            regime.check_model(self.model)
        except ValueError:
            return None
        return regime

    def least(self) -> int | None:
        """The smallest multiple of the divisor the regime takes the model at (None: none)."""
        cap = 128 if self.dims == 3 else 1024
        return next((p for p in range(self.divisor, cap + 1, self.divisor)
                     if self.regime_at(p) is not None), None)

    def largest(self) -> int | None:
        """The largest multiple of the divisor every set's images hold (with their margins)."""
        sides = [min(min(s) for s in src.shapes) - 2 * margin for src, margin in self.sets
                 if getattr(src, "shapes", None)]
        return min(sides) // self.divisor * self.divisor if sides else None

    def images(self, patch: int) -> str:  # what every set needs for ``patch``
        side = patch + 2 * max((m for _, m in self.sets), default=0)
        if self.dims == 3:
            return f"z-stacks of at least {side} planes and {side} px a side"
        return f"images of at least {side} px a side"

    def _discriminator(self, least: int) -> tuple[Regime, nn.Module] | None:
        regime = self._regime or self.regime_at(least)
        if regime is None or not regime.adversarial:
            return None
        if self._disc is None:
            with torch.random.fork_rng(devices=[]):
                self._disc = regime.build_discriminator(self.channels, self.overrides)
        self._regime = regime
        return regime, self._disc

    def disc_least(self, least: int) -> int:
        """The smallest patch the discriminator in effect takes (``least`` without one)."""
        built = self._discriminator(least)
        if built is None or _takes(built[0], built[1], self.channels, least, self.dims):
            return least
        return _smallest_patch(built[0], built[1], self.channels, least, self.dims,
                               self.divisor) or 10 ** 6

    def with_disc(self, patch: int, least: int) -> str | None:
        """'' when the discriminator in effect takes ``patch``, else the shallower config
        that does (' with discriminator={...}'), or None."""
        built = self._discriminator(least)
        if built is None or _takes(built[0], built[1], self.channels, patch, self.dims):
            return ""
        option = _shallower(built[0], built[1], self.channels, patch, self.dims, self.overrides)
        return f" with discriminator={json.dumps(option)}" if option else None

    def ways_out(self, given: int | None = None) -> str:
        """The ways out, each passing every check: patches the images hold (with the
        discriminator config they need), or the images a patch needs."""
        least = self.least()
        if least is None:
            return "a smaller psf_size in the model's config"
        top, low = self.largest(), max(least, self.disc_least(least))
        ways, small = [], top if top is not None and least <= top < low else least
        shallow = self.with_disc(small, least) if small < low else None
        if top is not None and top >= low:  # below the discriminator's least: fewer layers
            below = f"; patch={small}{shallow}" if shallow else ""
            ways.append(f"patch={top} or smaller" + (
                f" (the discriminator takes {low} and up{below})" if low > least else ""))
        elif (top is None or top >= least) and shallow:
            ways.append(f"patch={small}{shallow}")
        if given is not None and given >= least and given % self.divisor == 0:
            extra = self.with_disc(given, least)
            if extra is not None:
                ways.append(f"{self.images(given)}{extra.replace(' with', ' and')}")
        if top is None or top < least:
            extra = self.with_disc(least, least)
            psf = 2 * max((m for _, m in self.sets), default=0) + 1
            if extra is not None and given != least:
                multiple = f"multiple of {self.divisor} " if self.divisor > 1 else "patch "
                ways.append(f"patch={least} (the smallest {multiple}that holds the {psf}-px PSF)"
                            f" with {self.images(least)}{extra.replace(' with', ' and')}")
        if low < 10 ** 6 and (top is None or top < low) and given != low:
            ways.append(f"patch={low} (the smallest the discriminator takes) with "
                        f"{self.images(low)}")
        return ", or ".join(dict.fromkeys(ways)) or "a smaller psf_size in the model's config"

    def regime_refusal(self, exc: Exception, train, sources: Mapping[str, Any]) -> str:
        """The regime's refusal of the model at this patch ('give a patch of at least 21 px':
        21 is no multiple of 8) with the patches that pass every check."""
        least = self.least()
        regime = self.regime_at(least) if least else None
        if regime is not None:
            try:  # fills self.sets; a set's own refusal is said once the patch passes
                _extra_sources(regime, sources, _training_source(self.model, train),
                               least, self.model, self)
            except ValueError:
                pass
        text, ways = str(exc), self.ways_out()
        found = re.search(r"a patch of at least \d+ px", text)
        return (text[:found.start()] + ways + text[found.end():] if found
                else f"{text}; accepted: {ways}")


def _validation_pairs(val, channels: int) -> list | None:
    if val is None:
        return None
    if hasattr(val, "validation_pairs"):
        pairs = val.validation_pairs()
    elif isinstance(val, tuple) and len(val) == 2 and not isinstance(val[0], data_mod.Pair):
        pairs = data_mod.pairs_from_arrays(val[0], val[1], name="val")
    elif isinstance(val, (list, tuple)) and val and all(isinstance(p, data_mod.Pair) for p in val):
        pairs = list(val)
    else:
        raise ValueError(
            f"val is a {type(val).__name__}; accepted: None, a list of data.Pair, a patch "
            "source (its validation_pairs()), or a (blurry, sharp) tuple of arrays")
    bad = {p.channels for p in pairs} - {channels}
    if bad:
        raise ValueError(f"validation pairs have {sorted(bad)} channels, training data {channels}")
    return pairs


def _validation_crops(val, channels: int, config: TrainingConfig, divisor: int,
                      dims: int) -> list:
    if val is not None and dims == 3:
        raise ValueError("val: 3D models are trained without validation (the adversarial "
                         "regimes keep the last weights); pass val=None")
    pairs = _validation_pairs(val, channels)
    size = config.validation_size()
    if size < divisor:
        raise ValueError(f"val_size={size}; accepted: an integer >= {divisor}")
    if not pairs:
        return []
    return data_mod.validation_crops(
        pairs, size=size, size_divisor=divisor, max_crops=config.val_crops, seed=config.seed)


def _perceptual(config: TrainingConfig, weights: dict[str, float], notes: list[str]):
    """The perceptual loss's feature extractor (VGG-19 from vgg_weights, else the offline
    microscopy features when asked for), or None (and a note when the loss was asked for)."""
    if weights.get("perceptual", 0) <= 0:
        return None
    if config.vgg_weights is not None:
        return VGGFeatures(config.vgg_weights)
    if config.perceptual_features == "microscopy":
        features = MicroscopyFeatures()
        notes.append(f"perceptual loss on offline microscopy features ({features.source} "
                     "encoder), not VGG-19")
        return features
    weights["perceptual"] = 0.0
    notes.append(SKIPPED_PERCEPTUAL)
    return None


def _one_line(exc: Exception) -> str:
    """A pydantic ValidationError (several lines and a link) as one line."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def discriminator_fields(regime: Regime, channels: int) -> list[str]:
    """The config fields the regime's discriminator takes: its pydantic config's, else the
    named arguments of its class (and, past a ``**options``, of the networks it is made of)."""
    import inspect

    from pydantic import BaseModel

    module: nn.Module | None = regime.build_discriminator(channels, {})
    names: set[str] = set()
    while module is not None:
        if isinstance(module, (nn.ModuleDict, nn.ModuleList)):  # psf_cyclegan: one per domain
            module = next(iter(module.children()), None)
            continue
        config = getattr(module, "config", None)
        if isinstance(config, BaseModel):
            return sorted(names | set(type(config).model_fields))
        params = inspect.signature(type(module)).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
        module = next((m for m in module.modules() if m is not module
                       and not type(m).__module__.startswith("torch")), None)
    return sorted(names)


def _discriminator(regime: Regime, channels: int, config: TrainingConfig,
                   dims: int, divisor: int = 1, advice: PatchAdvice | None = None
                   ) -> nn.Module | None:
    """The regime's discriminator, built under the run's seed and tried on a patch."""
    if not regime.adversarial:
        return None
    overrides = dict(config.discriminator or {})
    with torch.random.fork_rng(devices=[]):
        if overrides:
            fields = discriminator_fields(regime, channels)
            unknown = sorted(set(overrides) - set(fields))
            if unknown:
                raise ValueError(f"discriminator={overrides!r}: unknown field {unknown[0]!r} "
                                 f"for the {regime.name} discriminator; accepted: {fields}")
        torch.manual_seed(config.seed)
        try:
            disc = regime.build_discriminator(channels, overrides)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"discriminator={config.discriminator!r}: {_one_line(exc)}"
                             ) from None
    try:
        with torch.no_grad():
            regime.probe_discriminator(disc, torch.zeros(2, channels, *(config.patch,) * dims))
    except (RuntimeError, ValueError) as exc:
        raise ValueError(_too_small(regime, disc, channels, config.patch, dims, divisor,
                                    overrides, exc, advice)) from None
    return disc


#: the config fields that set a discriminator's depth (sgpn's and psf_cyclegan's; GRAN's)
DEPTH_FIELDS = ("n_layers", "n_blocks")


def _takes(regime: Regime, disc: nn.Module, channels: int, patch: int, dims: int) -> bool:
    """Whether ``disc`` scores a batch of ``patch``-sized zeros (its random crops aside)."""
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            regime.probe_discriminator(disc, torch.zeros(2, channels, *(patch,) * dims))
    except (RuntimeError, ValueError):
        return False
    return True


def _smallest_patch(regime: Regime, disc: nn.Module, channels: int, patch: int, dims: int,
                   divisor: int = 1) -> int | None:
    """The smallest multiple of ``divisor`` above ``patch`` (which ``disc`` refuses) that
    ``disc`` takes; None past 128 px in 3D, 1024 in 2D (probes grow as the patch's volume)."""
    cap = (128 if dims == 3 else 1024) // divisor
    low, step = patch // divisor, 1  # in multiples of the divisor; low is refused
    while not _takes(regime, disc, channels, (low + step) * divisor, dims):
        low += step
        step = min(step * 2, cap - low)
        if step <= 0:
            return None
    high = low + step
    while high - low > 1:  # the sizes a stride-2 stack refuses all lie below those it takes
        middle = (low + high) // 2
        low, high = (low, middle) if _takes(regime, disc, channels, middle * divisor,
                                            dims) else (middle, high)
    return high * divisor


def _depth_now(disc: nn.Module, overrides: Mapping[str, Any], field: str) -> int | None:
    """The discriminator's ``field`` (its config's, else its class's default), or None."""
    import inspect

    if field in overrides:
        return int(overrides[field])
    for module in disc.modules():
        config = getattr(module, "config", None)
        if config is not None and isinstance(getattr(config, field, None), int):
            return int(getattr(config, field))
        if not type(module).__module__.startswith("torch"):
            param = inspect.signature(type(module)).parameters.get(field)
            if param is not None and isinstance(param.default, int):
                return param.default
    return None


def _shallower(regime: Regime, disc: nn.Module, channels: int, patch: int, dims: int,
               overrides: Mapping[str, Any]) -> dict | None:
    """The deepest discriminator config with fewer layers that takes ``patch`` (the user's
    overrides kept), or None."""
    fields = discriminator_fields(regime, channels)
    for field in (f for f in DEPTH_FIELDS if f in fields):
        now = _depth_now(disc, overrides, field)
        for depth in range((now or 1) - 1, 0, -1):
            option = {**overrides, field: depth}
            with torch.random.fork_rng(devices=[]):
                try:
                    smaller = regime.build_discriminator(channels, option)
                except (TypeError, ValueError):
                    break
            if _takes(regime, smaller, channels, patch, dims):
                return option
    return None


def _too_small(regime: Regime, disc: nn.Module, channels: int, patch: int, dims: int,
               divisor: int, overrides: Mapping[str, Any], exc: Exception,
               advice: PatchAdvice | None = None) -> str:
    """The one line of a patch the discriminator cannot score: the smallest patch it takes
    (and the images that patch needs), and the config with fewer layers that takes this one
    (torch's words said neither)."""
    least = _smallest_patch(regime, disc, channels, patch, dims, divisor)
    which = f"the {regime.name} discriminator" + (" in 3D" if dims == 3 else "")
    if overrides:
        which += f" of discriminator={json.dumps(dict(overrides))}"
    takes = (f"it takes patch={least} or larger"
             + (f" (a multiple of {divisor}, the network's size divisor)" if divisor > 1 else "")
             if least else f"({_one_line(exc)}); use a larger patch")
    top = advice.largest() if advice and least else None
    if top is not None and top < least:  # 48-plane stacks hold no 40-px patch with the PSF
        takes += f", which needs {advice.images(least)}"
    elif top is not None:
        takes += f", up to {top} with these images"
    option = _shallower(regime, disc, channels, patch, dims, overrides)
    fewer = (f"; or keep patch={patch} with fewer layers: discriminator={json.dumps(option)}"
             if option else "; or a discriminator with fewer layers")
    return f"patch={patch} is too small for {which}: {takes}{fewer}"


def validation_fingerprint(crops) -> str:
    """A digest of the validation crops (inputs and targets): two runs share it only when they
    validate on the same pixels."""
    digest = hashlib.sha256()
    for c in crops:
        for array in (c.input, c.target):
            array = np.ascontiguousarray(array)
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def _resume(resume_from, config: TrainingConfig, model: nn.Module, fingerprint: str,
            scoring: tuple, regime: Regime) -> dict | None:
    if resume_from is None:
        return None
    ck = load_training_checkpoint(path := checkpoint_path(resume_from))
    run = f"resume_from={str(path.parent)!r}: its last.pt"  # the folder: --checkpoint-dir's
    if ck.get("regime") != config.regime:
        raise ValueError(f"{run} was trained in regime {ck.get('regime')!r}, not "
                         f"{config.regime!r}")
    arch = getattr(model, "arch_name", None)
    if ck.get("arch") and arch and ck["arch"] != arch:
        raise ValueError(f"resume_from holds a {ck['arch']!r} model, not {arch!r}")
    # the kept best is the best on the run's validation pixels: on other pixels its score
    # would be compared with numbers from another test (checkpoints before this have none)
    earlier = ck.get("validation_fingerprint")
    if earlier is not None and earlier != fingerprint:
        raise ValueError(
            f"{run} validated on other images (other data, held-out "
            "region or seed than this run's), so its best weights cannot be compared with "
            "this run's; resume with the same data and options, or start a new run from its "
            "best weights (best.safetensors) in another checkpoint folder")
    check_same_settings(ck.get("config"), config.model_dump(mode="json"), run)
    ck["where"] = str(path)
    from .checkpoints import in_todays_layout, rescore_resumed

    in_todays_layout(ck, model, regime.parameter_groups(model), config.trainable)  # old layouts
    rescore_resumed(ck, model, *scoring)  # (crops, device, amp): earlier scores re-measured
    return ck


def _checkpoint_dir(config: TrainingConfig) -> Path | None:
    path = None if config.checkpoint_dir is None else Path(config.checkpoint_dir)
    if path is not None and path.exists() and not path.is_dir():
        raise ValueError(f"checkpoint_dir={str(path)!r} exists and is not a folder")
    return path


def prepare(
    model: nn.Module,
    config: TrainingConfig,
    train,
    val,
    sources: Mapping[str, Any],
    resume_from: str | os.PathLike | None,
) -> Setup:
    """Check everything and build what the run starts from."""
    regime = get_regime(config.regime)(config)
    divisor = _check_model(model, config, regime)
    device = resolve_device(config.device)
    amp = resolve_amp(config.amp, device, model)
    advice = PatchAdvice(model, config, divisor, int(getattr(model, "in_channels", 1) or 1))
    try:
        regime.check_model(model)
    except ValueError as exc:
        raise ValueError(advice.regime_refusal(exc, train, sources)) from None
    train = _training_source(model, train)
    advice.channels = train.channels
    # the sets with a margin first: a 3D run's training set is its unpaired_sharp set, and
    # its plain check said 'a patch of at most 24' where the margin then asked for 44 px
    extra = _extra_sources(regime, sources, train, config.patch, model, advice)
    train.check_patch(config.patch)
    notes = regime.notes(extra) + amp_notes(config.amp, amp, device, model)
    dims = spatial_dims(model)
    crops = _validation_crops(val, train.channels, config, divisor, dims)
    check_unseen(regime, extra, train, lambda: _validation_pairs(val, train.channels))
    weights = config.weights()
    vgg = _perceptual(config, weights, notes)
    disc = _discriminator(regime, train.channels, config, dims, divisor, advice)
    fp = validation_fingerprint(crops)
    return Setup(
        model=model, config=config, regime=regime, train=train, sources=extra,
        val_crops=crops, device=device, amp=amp, weights=weights, discriminator=disc,
        vgg=vgg, notes=notes, checkpoint_dir=_checkpoint_dir(config), val_fingerprint=fp,
        resume=_resume(resume_from, config, model, fp, (crops, device, amp), regime))
