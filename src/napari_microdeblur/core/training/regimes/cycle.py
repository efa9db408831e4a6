"""PSF-CycleGAN (Lim et al., "Blind deconvolution microscopy using cycle consistent CNN with
explicit PSF layer", Sec. 4): the deblurring network G_AB (the model) and its PSF layer G_BA
(``model.blur``) trained from unpaired blurry (A) and sharp (B) images.

LSGAN adversarial losses of both directions over three-scale PatchGANs, cycle consistency
(lambda_1 = 3) and the L1 norm of the PSF (lambda_2 = 0.01; with the softmax-parametrised PSF
layer it is identically 1, kept for fidelity and reported); the discriminators see a history
buffer of 50 generated images. Blurry images come from ``unpaired=`` (default: the training
inputs), sharp ones from ``unpaired_sharp=`` (default: the training targets), each drawn
independently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .base import Regime, as_float

#: "a frame buffer containing 50 previously generated volumes" (Lim et al.)
HISTORY_SIZE = 50


class HistoryBuffer:
    """CycleGAN's image pool: with probability 1/2 answer a stored image and keep the new one."""

    def __init__(self, size: int = HISTORY_SIZE):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        out = []
        for img in batch.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif float(torch.rand(1, generator=generator)) < 0.5:
                i = int(torch.randint(0, self.size, (1,), generator=generator))
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.cat(out, 0)

    def state(self) -> torch.Tensor | None:
        return torch.cat(self.images, 0).cpu() if self.images else None

    def load(self, t: torch.Tensor | None, device) -> None:
        self.images = [] if t is None else [t[i : i + 1].to(device) for i in range(t.shape[0])]


def _lsgan_discriminator_loss(disc, real, fake, generator) -> torch.Tensor:
    """Sum over the scales of 1/2 (D(real) - 1)^2 + 1/2 D(fake)^2."""
    return sum(
        0.5 * ((r.float() - 1) ** 2).mean() + 0.5 * (f.float() ** 2).mean()
        for r, f in zip(disc(real, generator), disc(fake, generator), strict=True)
    )


class PsfCycleGan(Regime):
    name = "psf_cyclegan"
    summary = ("unpaired blurry and sharp images, cycle consistency with an explicit PSF "
               "layer (PSF-CycleGAN, Lim et al.)")
    loss_weights = {"adversarial": 1.0, "cycle": 3.0, "psf": 0.01}
    adversarial = True
    extra_sources = ("unpaired", "unpaired_sharp")

    def __init__(self, config):
        super().__init__(config)
        self.pools = {"A": HistoryBuffer(), "B": HistoryBuffer()}

    def notes(self, sources: Mapping[str, Any]) -> list[str]:
        missing = [name for name in self.extra_sources if sources.get(name) is None]
        if not missing:
            return []
        return [f"psf_cyclegan: no {' or '.join(missing)} set given; its patches are drawn "
                "from the training pairs, independently of their partners"]

    def check_model(self, model: nn.Module) -> None:
        if not callable(getattr(model, "blur", None)):
            raise ValueError(
                "regime='psf_cyclegan' needs a model with a PSF layer (model.blur), such as "
                "build_model('psf_cyclegan', ...)"
            )

    def build_discriminator(self, channels: int, overrides: Mapping[str, Any]) -> nn.Module:
        from ...archs.psf_cyclegan import MultiScalePatchDiscriminator

        kw = {"spatial_dims": 2, "in_channels": channels, **overrides}
        return nn.ModuleDict(
            {"A": MultiScalePatchDiscriminator(**kw), "B": MultiScalePatchDiscriminator(**kw)}
        )

    def probe_discriminator(self, discriminator: nn.Module, probe: torch.Tensor) -> None:
        discriminator["A"](probe)

    def step(self, trainer) -> dict[str, float]:
        w = trainer.weights
        gen = trainer.generator
        a = trainer.sample_source("unpaired", "input")  # blurry domain A
        b = trainer.sample_source("unpaired_sharp", "target")  # sharp domain B
        m = trainer.model
        discs = trainer.discriminator
        d_a, d_b = discs["A"], discs["B"]
        discs.requires_grad_(False)
        with trainer.autocast():
            fake_b = m(a)
            rec_a = m.blur(fake_b)
            fake_a = m.blur(b)
            rec_b = m(fake_a)
            adv_b = sum(((s.float() - 1) ** 2).mean() for s in d_b(fake_b, gen))
            adv_a = sum(((s.float() - 1) ** 2).mean() for s in d_a(fake_a, gen))
        cycle = F.l1_loss(rec_a.float(), a) + F.l1_loss(rec_b.float(), b)
        psf_l1 = m.psf.kernel().abs().sum()
        total = w["adversarial"] * (adv_a + adv_b) + w["cycle"] * cycle + w["psf"] * psf_l1
        trainer.backward_step(total, "G", m.parameters())
        discs.requires_grad_(True)
        hist_b = self.pools["B"].query(fake_b, gen)
        hist_a = self.pools["A"].query(fake_a, gen)
        with trainer.autocast():
            loss_db = _lsgan_discriminator_loss(d_b, b, hist_b, gen)
            loss_da = _lsgan_discriminator_loss(d_a, a, hist_a, gen)
        loss_d = loss_da + loss_db
        trainer.backward_step(loss_d, "D", discs.parameters())
        return {
            "loss": as_float(total),
            "adversarial": as_float(adv_a + adv_b),
            "cycle": as_float(cycle),
            "psf": as_float(psf_l1),
            "discriminator": as_float(loss_d),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"pools": {k: p.state() for k, p in self.pools.items()}}

    def load_state_dict(self, state: Mapping[str, Any], device: torch.device) -> None:
        pools = state.get("pools") or {}
        for k, p in self.pools.items():
            p.load(pools.get(k), device)
