"""What a training regime is: a class that declares its loss weights, its data, its
discriminator and its checkpoint criterion, and does one training step.

A new regime is one file with a subclass of :class:`Regime` and one ``register_regime`` line in
``regimes/__init__.py``; a built-in one is declared with ``declared="name"`` and its entry in
``regime_facts`` (its summary and loss weights, which `train --help` reads without torch).
Its ``step`` gets the :class:`~..loop.Trainer`, which samples
patches (``sample_pairs``, ``sample_source``), computes the content and perceptual loss
(``generator_loss``), runs mixed precision (``autocast``) and steps the optimisers
(``backward_step("G" | "D", ...)``); ``trainer.discriminator`` is what
``build_discriminator`` returned, on the training device.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from ..regime_facts import KEEP_BEST, KEEP_LAST, REGIME_FACTS

__all__ = ["KEEP_LAST", "Regime", "as_float"]


def as_float(t: torch.Tensor) -> float:
    """A loss tensor as a Python float (detached), for the progress records."""
    return float(t.detach())


class Regime(ABC):
    """Base class of the training regimes (one instance per run); a subclass must define
    :meth:`step`."""

    #: the name ``TrainingConfig.regime`` and ``--regime`` take
    name: ClassVar[str]
    #: one line for ``--help``: what it trains and which paper it follows
    summary: ClassVar[str]
    #: the loss terms and their default weights (``loss_weights=`` overrides single terms)
    loss_weights: ClassVar[Mapping[str, float]]
    #: where each default weight comes from, in words ("the paper's", another paper's, or
    #: "ours"): ``--help`` says it beside the weight (a term not named: the regime's paper)
    loss_weight_sources: ClassVar[Mapping[str, str]] = {}
    #: whether the regime trains a discriminator (``discriminator=`` overrides its config)
    adversarial: ClassVar[bool] = False
    #: extra image sets the regime can use besides the pairs: "unpaired", "unpaired_sharp"
    extra_sources: ClassVar[tuple[str, ...]] = ()
    #: the extra image sets sampled without flips and rotations (built so from arrays)
    unaugmented_sources: ClassVar[tuple[str, ...]] = ()
    #: the extra image sets it cannot run without (refused before training when missing)
    required_sources: ClassVar[tuple[str, ...]] = ()
    #: the extra image sets a loss term trains on that must hold no validation image
    #: (``unseen.check_unseen``)
    unseen_sources: ClassVar[tuple[str, ...]] = ()
    #: whether the regime learns a PSF layer (psf_lr and psf_warmup apply)
    learns_psf: ClassVar[bool] = False
    #: whether the regime trains 3D models (spatial_dims=3) on z-stacks
    trains_volumes: ClassVar[bool] = False
    #: Adam betas of the discriminator
    discriminator_betas: ClassVar[tuple[float, float]] = (0.9, 0.999)
    #: how the kept checkpoint is chosen, stated in the model card (KEEP_LAST: the last one;
    #: the default of the adversarial regimes)
    checkpoint_criterion: ClassVar[str] = KEEP_BEST

    def __init_subclass__(cls, declared: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if declared is not None:  # a built-in regime: the torch-free declaration is the one
            facts = REGIME_FACTS[declared]
            cls.name, cls.summary, cls.adversarial = declared, facts.summary, facts.adversarial
            cls.loss_weights = facts.loss_weights
            cls.loss_weight_sources = facts.loss_weight_sources
        if cls.adversarial and "checkpoint_criterion" not in cls.__dict__:
            cls.checkpoint_criterion = KEEP_LAST

    def __init__(self, config):
        self.config = config

    def check_model(self, model: nn.Module) -> None:
        """``ValueError`` if the regime cannot train ``model``; by default any model will do."""
        return None

    def parameter_groups(self, model: nn.Module) -> list[dict[str, Any]]:
        """The network's parameters as optimiser groups, each with its peak ``"lr"`` (the
        schedule scales every group alike); by default one group at the config's lr."""
        return [{"params": list(model.parameters()), "lr": self.config.lr}]

    def patch_margin(self, source: str) -> int:
        """Pixels the regime samples beyond the patch on every side from the image set
        ``source`` (the sets are checked for ``patch + 2 * margin`` before training)."""
        return 0

    def notes(self, sources: Mapping[str, Any]) -> list[str]:
        """Notes for the user, given the extra image sets that were passed (name -> source)."""
        return []

    def build_discriminator(self, channels: int, overrides: Mapping[str, Any]) -> nn.Module | None:
        """The discriminator (built under the run's seed), or None."""
        return None

    def probe_discriminator(self, discriminator: nn.Module, probe: torch.Tensor) -> None:
        """Run the discriminator on a batch of zero patches (fails if the patch is too small)."""
        discriminator(probe)

    @abstractmethod
    def step(self, trainer) -> dict[str, float]:
        """One training step; the loss terms, with the optimised total under ``"loss"``."""

    def is_better(self, validation: Mapping[str, Any], best: Mapping[str, Any],
                  min_gain_db: float = 0.0) -> bool:
        """Whether the weights just validated replace the kept ones (always, for KEEP_LAST).
        The starting weights (step 0) are replaced only by a gain of at least min_gain_db."""
        if self.checkpoint_criterion == KEEP_LAST or not best:
            return True
        margin = min_gain_db if best.get("step", 0) == 0 else 0.0
        return validation["val_psnr"] > best["val_psnr"] + margin

    def card_fields(self, model: nn.Module) -> dict[str, Any]:
        """Fields the regime adds to the ``training`` record of a weights file's card, of
        ``model`` holding the weights written; none by default."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """State of the regime beyond the networks and optimisers (saved in ``last.pt``)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any], device: torch.device) -> None:
        """Restore :meth:`state_dict` on resume; by default there is nothing to restore."""
        return None
