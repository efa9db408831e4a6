"""Supervised training on pairs: the content loss (L1, MSE or the multi-scale L1 of the C2F
U-Net), plus a perceptual loss when VGG-19 weights are given."""

from __future__ import annotations

from .base import Regime, as_float


class Supervised(Regime, declared="supervised"):  # its weights: regime_facts

    def step(self, trainer) -> dict[str, float]:
        x, y = trainer.sample_pairs()
        total, _, terms = trainer.generator_loss(x, y)
        trainer.backward_step(total, "G", trainer.model.parameters())
        return {"loss": as_float(total), **terms}
