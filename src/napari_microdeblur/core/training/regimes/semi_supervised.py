"""SGPN's semi-supervised regime (Cheng et al., "Improving the neural segmentation of blurry
serial SEM images by blind deblurring", Sec. 4.1).

G loss = L1 content + 0.1 LSGAN adversarial ``(D(T(G(z_s))) - 1)^2`` + 0.01 unsupervised
``(D(T(G(z_s))) - D(T(G(z_u))))^2`` + 0.02 perceptual; D loss = 1/2 ``(D(T(x)) - 1)^2`` +
1/2 ``D(T(G(z)))^2`` over the supervised and unsupervised outputs. ``T`` is the
differentiable augmentation (:func:`..losses.diff_augment`); ``z_u`` are blurry images
without targets (``unpaired=``, required: drawing them from the labelled inputs would make
the unsupervised term a second supervised one). D is the PatchGAN of
:class:`~napari_microdeblur.core.archs.sgpn.PatchDiscriminator`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..losses import diff_augment
from .base import Regime, as_float


class SemiSupervised(Regime, declared="sgpn"):  # its weights (the paper's): regime_facts
    extra_sources = ("unpaired",)
    required_sources = ("unpaired",)
    unseen_sources = ("unpaired",)  # the unsupervised term trains on them
    discriminator_betas = (0.5, 0.999)

    def build_discriminator(self, channels: int, overrides: Mapping[str, Any]) -> nn.Module:
        from ...archs.sgpn import PatchDiscriminator

        return PatchDiscriminator(**{"in_channels": channels, **overrides})

    def step(self, trainer) -> dict[str, float]:
        w = trainer.weights
        x, y = trainer.sample_pairs()
        zu = trainer.sample_source("unpaired", "input")
        disc = trainer.discriminator
        T = trainer.generator
        disc.requires_grad_(False)
        total, pred_s, terms = trainer.generator_loss(x, y)
        with trainer.autocast():
            pred_u = trainer.model(zu)
            ds = disc(diff_augment(pred_s, T)).float()
            du = disc(diff_augment(pred_u, T)).float()
        adv = ((ds - 1) ** 2).mean()
        us = ((ds - du) ** 2).mean()
        total = total + w["adversarial"] * adv + w["unsupervised"] * us
        trainer.backward_step(total, "G", trainer.model.parameters())
        disc.requires_grad_(True)
        fakes = torch.cat([pred_s.detach(), pred_u.detach()], 0)
        with trainer.autocast():
            dr = disc(diff_augment(y, T)).float()
            df = disc(diff_augment(fakes, T)).float()
        loss_d = 0.5 * ((dr - 1) ** 2).mean() + 0.5 * (df**2).mean()
        trainer.backward_step(loss_d, "D", disc.parameters())
        return {
            "loss": as_float(total),
            **terms,
            "adversarial": as_float(adv),
            "unsupervised": as_float(us),
            "discriminator": as_float(loss_d),
        }
