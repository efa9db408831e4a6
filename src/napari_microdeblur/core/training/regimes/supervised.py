"""Supervised training on pairs: the content loss (L1, MSE or the multi-scale L1 of the C2F
U-Net), plus a perceptual loss when VGG-19 weights are given."""

from __future__ import annotations

from .base import Regime, as_float


class Supervised(Regime):
    name = "supervised"
    summary = "pairs, content loss only (l1, mse, or multiscale: C2F U-Net, Wang and Han)"
    loss_weights = {"content": 1.0, "perceptual": 0.0}
    # the perceptual term is off unless asked for (VGG weights alone ask for SGPN's 0.02)
    loss_weight_sources = {"content": "the only term",
                           "perceptual": "ours: off; 0.02, SGPN's, with VGG weights"}

    def step(self, trainer) -> dict[str, float]:
        x, y = trainer.sample_pairs()
        total, _, terms = trainer.generator_loss(x, y)
        trainer.backward_step(total, "G", trainer.model.parameters())
        return {"loss": as_float(total), **terms}
