"""The training configuration: every setting of a run in one validated, serialisable object.

It is written into the training checkpoints (``last.pt``) and, without the run's folders,
into the model card of the weights it produced (``ModelCard.training``)::

    config = TrainingConfig(regime="gran_gan", steps=5000, batch_size=16, patch=64, lr=2e-4)
    TrainingConfig.from_options({"steps": 0})   # ValueError: steps=0; accepted: ...

Checks that need the hardware (the device, mixed precision) or the data (patch against the
images and the model) run in ``iter_fit``, before the first step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..job_defaults import TRAIN_LR, TRAIN_STEPS  # noqa: F401 (re-exported)
from .regime_facts import DEFAULT_PERCEPTUAL_FEATURES, KEEP_LAST, LOSSES
from .regimes import get_regime
from .trainable import TRAINABLE

__all__ = ["AMP_MODES", "LOSSES", "PSF_WARMUP_SHARE", "SCHEDULES", "TrainingConfig"]

AMP_MODES = ("auto", "off", "fp16", "bf16")
SCHEDULES = ("cosine", "constant")
#: psf_cyclegan: the share of the run the PSF-only warm-up takes when ``psf_warmup`` is not
#: given: of ``steps``, and with a ``time_limit`` also of the time, whichever ends first (a
#: 1-minute run of 2000 planned steps stopped at step 171 of a 600-step warm-up: its deblurring
#: network never trained)
PSF_WARMUP_SHARE = 0.3
#: card fields the model determines; a training run may not set them
_DERIVED_CARD_FIELDS = {"arch", "config", "in_channels", "out_channels", "spatial_dims",
                        "sha256", "source", "training"}


def _integer(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r}; accepted: an integer >= {minimum}")
    return int(value)


def _number(value, name: str, positive: bool = True) -> float:
    finite = (not isinstance(value, bool) and isinstance(value, (int, float, np.floating))
              and math.isfinite(value))
    if not finite or (positive and not value > 0):
        raise ValueError(f"{name}={value!r}; accepted: a finite number" + (" > 0" if positive
                                                                          else ""))
    return float(value)


def _loss_weight(value, name: str) -> float:
    """A loss weight: finite and >= 0 (a negative weight would maximise its term)."""
    value = _number(value, name, positive=False)
    if value < 0:
        raise ValueError(f"{name}={value!r}; accepted: a finite number >= 0")
    return value


def _one_of(value, name: str, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        raise ValueError(f"{name}={value!r}; accepted: one of {accepted}")
    return value




class TrainingConfig(BaseModel):
    """Settings of a training run (see ``iter_fit`` for what each one does)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    regime: str = Field("supervised", description="A registered regime (list_regimes()).")
    loss: str = Field("l1", description="Content loss: l1, mse or multiscale.")
    steps: int = Field(description="Training steps.")
    batch_size: int = Field(8, description="Patches per step.")
    patch: int = Field(64, description="Side of the square training patches (pixels).")
    lr: float = Field(1e-4, description="Peak learning rate of the network.")
    d_lr: float | None = Field(None, description="Discriminator learning rate (default lr).")
    psf_lr: float | None = Field(
        None, description="psf_cyclegan: learning rate of the PSF layer (default 0.01).")
    psf_warmup: int | None = Field(
        None, description="psf_cyclegan: first steps fit only the PSF (default 30 % of steps "
        "and, with time_limit, of the time: whichever ends first).")
    warmup: int | None = Field(None, description="Linear warm-up steps (default 5 %, <= 500).")
    schedule: str = Field("cosine", description="After warm-up: cosine or constant.")
    min_lr_ratio: float = Field(0.05, description="Cosine decay ends at this share of lr.")
    grad_clip: float | None = Field(None, description="Clip the gradient norm to this.")
    seed: int = Field(0, description="Fixes every random draw of the run.")
    device: str = Field("auto", description="auto, cpu, cuda[:N] or mps.")
    amp: str = Field("auto", description="Mixed precision: auto, off, bf16 or fp16.")
    loss_weights: dict[str, float] = Field(
        default_factory=dict, description="Overrides of the regime's loss weights.")
    perceptual_weight: float | None = Field(None, description="Weight of the VGG loss.")
    vgg_weights: str | None = Field(None, description="Local VGG-19 state dict file.")
    # regime_facts.PERCEPTUAL_FEATURES (--help reads them there)
    perceptual_features: Literal["microscopy", "none"] = Field(
        DEFAULT_PERCEPTUAL_FEATURES, description="Features of the perceptual loss of the "
        "regimes that have one, without vgg_weights: 'microscopy' (a bundled network's encoder, "
        "losses.MicroscopyFeatures; measured in benchmarks/results/perceptual_offline.json) or "
        "'none' (the term is left out).")
    discriminator: dict[str, Any] | None = Field(
        None, description="Config overrides of the regime's discriminator.")
    val_every: int | None = Field(None, description="Validate every N steps (default steps/10).")
    val_size: int | None = Field(None, description="Side of the validation crops (2 x patch).")
    val_crops: int = Field(16, description="At most this many validation crops.")
    time_limit: float | None = Field(None, description="Stop after this many seconds.")
    patience: int | None = Field(
        None, description="Stop after this many validations without a better one (None: never).")
    anchor_weight: float = Field(
        0.0, description="L2-SP: weight of sum((w - w_start)^2), pulling toward the start.")
    trainable: str = Field(
        "all", description="Weights trained: all, late (the half nearest the output) or "
        "norm-bias (biases and normalisation scales only); see training.trainable.")
    replay: float = Field(
        0.0, ge=0.0, lt=1.0, description="Share of each batch the fine-tuning data replays "
        "from the starting weights' synthetic mixture (finetune_data; recorded here so that a "
        "resumed run replays as it started).")
    replay_from: str | None = Field(
        None, description="What the replay blurs: 'the training targets', or the replay "
        "images by count and sha256 (a resumed run must replay the same).")
    intensity_jitter: float | None = Field(
        None, ge=0.0, lt=1.0, description="Fine-tuning: gain and offset jitter of each patch "
        "pair (finetune_data.JitteredPairs; recorded so that the card states the recipe and a "
        "resumed run jitters as it started). None: not a setting of the run.")
    augment: bool | None = Field(
        None, description="Fine-tuning: patches flipped and turned (recorded as "
        "intensity_jitter is). None: not a setting of the run.")
    min_gain_db: float = Field(
        0.0, ge=0.0, description="Trained weights replace the starting ones only when they "
        "beat them on validation by at least this many dB (fine-tuning: a smaller gain is "
        "within the validation's noise).")
    checkpoint_dir: str | None = Field(None, description="Folder for best.* and last.pt.")
    checkpoint_every: int = Field(0, description="Write last.pt every N steps (0: at the end).")
    restore_best: bool = Field(True, description="Load the best weights into the model at the end.")
    card: dict[str, Any] = Field(default_factory=dict,
                                 description="Extra model-card fields of best.safetensors.")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> TrainingConfig:
        """A config from keyword options; a ``ValueError`` of one line per problem."""
        try:
            return cls.model_validate(dict(options))
        except ValidationError as exc:
            lines = []
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                msg = err["msg"].removeprefix("Value error, ")
                lines.append(msg if msg.startswith(where) or not where else f"{where}: {msg}")
            raise ValueError("; ".join(lines)) from None

    # -- field checks -------------------------------------------------------------------

    @field_validator("regime", mode="before")
    @classmethod
    def _known_regime(cls, v):
        get_regime(v)  # ValueError naming the registered regimes
        return v

    @field_validator("loss", mode="before")
    @classmethod
    def _known_loss(cls, v):
        return _one_of(v, "loss", LOSSES)

    @field_validator("schedule", mode="before")
    @classmethod
    def _known_schedule(cls, v):
        return _one_of(v, "schedule", SCHEDULES)

    @field_validator("trainable", mode="before")
    @classmethod
    def _known_trainable(cls, v):
        return _one_of(v, "trainable", TRAINABLE)

    @field_validator("amp", mode="before")
    @classmethod
    def _known_amp(cls, v):
        return _one_of(v, "amp", AMP_MODES)

    @field_validator("device", "vgg_weights", "checkpoint_dir", mode="before")
    @classmethod
    def _as_text(cls, v):
        return None if v is None else str(v)  # torch.device and paths are stored as text

    @field_validator("steps", "batch_size", "val_crops", mode="before")
    @classmethod
    def _positive_int(cls, v, info):
        return _integer(v, info.field_name, 1)

    @field_validator("seed", "checkpoint_every", mode="before")
    @classmethod
    def _natural(cls, v, info):
        return _integer(v, info.field_name, 0)

    @field_validator("patch", mode="before")
    @classmethod
    def _patch(cls, v):
        return _integer(v, "patch", 8)

    @field_validator("warmup", "psf_warmup", "val_every", "val_size", "patience", mode="before")
    @classmethod
    def _optional_int(cls, v, info):
        minimum = 0 if info.field_name in ("warmup", "psf_warmup") else 1
        return None if v is None else _integer(v, info.field_name, minimum)

    @field_validator("lr", mode="before")
    @classmethod
    def _lr(cls, v):
        return _number(v, "lr")

    @field_validator("d_lr", "psf_lr", "grad_clip", "time_limit", mode="before")
    @classmethod
    def _optional_positive(cls, v, info):
        return None if v is None else _number(v, info.field_name)

    @field_validator("perceptual_weight", mode="before")
    @classmethod
    def _perceptual(cls, v):
        return None if v is None else _loss_weight(v, "perceptual_weight")

    @field_validator("anchor_weight", mode="before")
    @classmethod
    def _anchor(cls, v):
        return _loss_weight(v, "anchor_weight")

    @field_validator("min_lr_ratio", mode="before")
    @classmethod
    def _ratio(cls, v):
        v = _number(v, "min_lr_ratio", positive=False)
        if not 0 <= v <= 1:
            raise ValueError(f"min_lr_ratio={v!r}; accepted: within [0, 1]")
        return v

    @field_validator("loss_weights", mode="before")
    @classmethod
    def _weights(cls, v):
        return {k: _loss_weight(w, f"loss_weights[{k!r}]") for k, w in dict(v or {}).items()}

    @field_validator("card", mode="before")
    @classmethod
    def _card(cls, v):
        from ..checkpoint import ModelCard

        v = dict(v or {})
        accepted = set(ModelCard.model_fields) - _DERIVED_CARD_FIELDS
        if set(v) - accepted:
            raise ValueError(f"card: unknown or derived fields {sorted(set(v) - accepted)}; "
                             f"accepted: {sorted(accepted)}")
        return v

    # -- checks across fields -----------------------------------------------------------

    @model_validator(mode="after")
    def _fits_the_regime(self):
        regime = get_regime(self.regime)
        terms = regime.loss_weights
        unknown = set(self.loss_weights) - set(terms)
        if unknown:
            raise ValueError(f"loss_weights: unknown term {sorted(unknown)[0]!r} for regime "
                             f"{self.regime!r}; terms: {sorted(terms)}")
        if self.perceptual_weight is not None and "perceptual" not in terms:
            raise ValueError(f"perceptual_weight: the {self.regime} regime has no perceptual loss")
        if self.discriminator is not None and not regime.adversarial:
            raise ValueError(f"discriminator= is for the adversarial regimes, not {self.regime!r}")
        for name in ("psf_lr", "psf_warmup"):
            if getattr(self, name) is not None and not regime.learns_psf:
                raise ValueError(f"{name} is for the psf_cyclegan regime, not {self.regime!r}")
        if self.checkpoint_every and self.checkpoint_dir is None:
            raise ValueError("checkpoint_every needs checkpoint_dir")
        return self

    # -- values that follow from others ------------------------------------------------

    def warmup_steps(self) -> int:
        return min(500, self.steps // 20) if self.warmup is None else self.warmup

    def validation_interval(self) -> int:
        return max(1, self.steps // 10) if self.val_every is None else self.val_every

    def validation_size(self) -> int:
        return max(2 * self.patch, 64) if self.val_size is None else self.val_size

    def discriminator_lr(self) -> float:
        return self.lr if self.d_lr is None else self.d_lr

    def psf_learning_rate(self) -> float:
        return 0.01 if self.psf_lr is None else self.psf_lr

    def psf_warmup_steps(self) -> int:
        return int(PSF_WARMUP_SHARE * self.steps) if self.psf_warmup is None else self.psf_warmup

    def psf_warmup_seconds(self) -> float | None:
        """The seconds of the PSF-only warm-up under a time limit (its share of the time, when
        ``psf_warmup`` is not given); None: the warm-up is counted in steps only."""
        if self.psf_warmup is not None or self.time_limit is None:
            return None
        return PSF_WARMUP_SHARE * self.time_limit

    def weights(self) -> dict[str, float]:
        """The regime's loss weights with this config's overrides (before the VGG check)."""
        weights = dict(get_regime(self.regime).loss_weights)
        if self.vgg_weights is not None and weights.get("perceptual") == 0:
            weights["perceptual"] = 0.02  # giving VGG weights asks for the loss (paper 004's)
        if self.perceptual_weight is not None:
            weights["perceptual"] = self.perceptual_weight
        weights.update(self.loss_weights)
        return weights

    def for_card(self) -> dict[str, Any]:
        """The config as the model card keeps it: without this machine's files and folders,
        with the loss weights the run used (``loss_weights`` holds only the overrides), and
        what ran rather than the unused defaults: ``loss`` None for a regime without a content
        loss, ``restore_best`` False where the regime keeps the last step, and
        ``perceptual_features`` ('vgg19' with VGG weights) only when the term ran."""
        card = self.model_dump(mode="json", exclude={"card", "checkpoint_dir", "vgg_weights"})
        used = self.weights()
        if "perceptual" in used and self.vgg_weights is None and self.perceptual_features == "none":
            used["perceptual"] = 0.0  # left out without features (setup._perceptual)
        card["loss_weights_used"] = used
        regime = get_regime(self.regime)
        if "content" not in regime.loss_weights:  # psf_cyclegan: "l1" was never used
            card["loss"] = None
        if regime.checkpoint_criterion == KEEP_LAST:  # the kept weights are the last ones
            card["restore_best"] = False
        card.pop("perceptual_features")
        for name in ("intensity_jitter", "augment"):  # fine-tuning's only: train sets neither
            if card[name] is None:
                card.pop(name)
        if used.get("perceptual", 0) > 0:
            card["perceptual_features"] = ("vgg19" if self.vgg_weights is not None
                                           else self.perceptual_features)
        return card
