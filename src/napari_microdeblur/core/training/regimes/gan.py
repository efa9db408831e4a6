"""GRAN_GAN: the content loss plus the adversarial game of eq. 4 of Zhang et al., "High-
throughput microscopy image deblurring with graph reasoning attention network", with the
SRGAN discriminator (:class:`~napari_microdeblur.core.archs.gran.GRANDiscriminator`).

Eq. 4 is a difference of raw scores, ``max_D D(y) - D(G(x))``, which has no bound without a
Lipschitz constraint; the same difference goes through a log-sigmoid (the relativistic GAN
form): ``L_D = softplus(D(G(x)) - D(y))``, ``L_G,adv = softplus(D(y) - D(G(x)))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.nn.functional as F
from torch import nn

from .base import Regime, as_float


class GranGan(Regime, declared="gran_gan"):  # its weights (SRGAN's, SGPN's): regime_facts

    def build_discriminator(self, channels: int, overrides: Mapping[str, Any]) -> nn.Module:
        from ...archs.gran import GRANDiscriminator

        return GRANDiscriminator(**{"in_channels": channels, **overrides})

    def step(self, trainer) -> dict[str, float]:
        w = trainer.weights
        x, y = trainer.sample_pairs()
        disc = trainer.discriminator
        # generator: content (+ perceptual) + relativistic adversarial term
        disc.requires_grad_(False)
        total, pred, terms = trainer.generator_loss(x, y)
        with trainer.autocast():
            d_fake = disc(pred).float()
            d_real = disc(y).float().detach()
        adv = F.softplus(d_real - d_fake).mean()
        total = total + w["adversarial"] * adv
        trainer.backward_step(total, "G", trainer.model.parameters())
        disc.requires_grad_(True)
        # discriminator: maximise D(y) - D(G(x))
        with trainer.autocast():
            d_real = disc(y).float()
            d_fake = disc(pred.detach()).float()
        loss_d = F.softplus(d_fake - d_real).mean()
        trainer.backward_step(loss_d, "D", disc.parameters())
        return {
            "loss": as_float(total),
            **terms,
            "adversarial": as_float(adv),
            "discriminator": as_float(loss_d),
        }
