"""GRAN: graph reasoning attention network (paper 000).

Y. Zhang, D. Wei, R. Schalek, Y. Wu, S. Turney, J. Lichtman, H. Pfister, Y. Fu,
"High-throughput microscopy image deblurring with graph reasoning attention network",
ISBI 2023 (arXiv:2212.09977).

Layout (Fig. 1 and Sec. 4.2 of the paper)::

    x -> Conv(head) -> Down -> [RB x n_resblocks, GRAB at the high-level position]
      -> GRAB's Conv -> (+ skip from Down) -> Up -> Conv(tail) -> (+ x) -> y

* ``RB`` is the EDSR residual block (conv-ReLU-conv, no normalisation) [Lim et al. 2017];
  the backbone is EDSR with 40 residual blocks, 64 channels, 3x3 convolutions.
* ``Down`` is one stride-2 3x3 convolution per factor 2 and ``Up`` is EDSR's upsampler
  (3x3 conv to 4C channels + pixel shuffle) per factor 2, so most of the work runs at the
  coarse scale (the paper's reason for its low FLOPs).
* ``GRAB`` (eq. 2-3): embeddings ``theta(V)`` and ``phi(V)`` (1x1 convs, ``W_theta`` and
  ``W_phi``) give the P x P affinity ``R = theta^T phi`` over the P coarse positions; the GCN
  weight ``W_g`` (C x C, a 1x1 conv; this is the "g" embedding of the non-local / VSRN
  formulation) and the residual weight ``W_r`` (C x C) give
  ``V <- sigmoid(((R V^T W_g) W_r)^T) * V + V``.
  Eq. 3 has no softmax, so ``R V^T W_g = theta^T (phi (V^T W_g))``: we compute it in that
  order, linear in P, and never materialise the P x P matrix. :func:`grab_explicit` keeps the
  literal P x P form as a test oracle.

GRAB is a global (non-local) operation: every output pixel depends on the whole image, so
tiled inference cannot reproduce untiled inference exactly (``exact_tiling`` is False when
``use_grab``). ``receptive_field`` is the receptive field of the convolutions only.

Paper-size model: 3,195,971 parameters here vs 3.20 M in Table 3.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from napari_microdeblur.core.registry import (
    BLOCKS_LIMIT,
    CHANNELS_LIMIT,
    WIDTH_LIMIT,
    describe_model,
    register_arch,
)

__all__ = [
    "GRAB",
    "GRAN",
    "GRANConfig",
    "GRANDiscriminator",
    "GRANDiscriminatorConfig",
    "PRESETS",
    "grab_explicit",
    "grab_reordered",
]


class GRANConfig(BaseModel):
    """Configuration of :class:`GRAN`; the defaults are the paper's configuration."""

    model_config = ConfigDict(extra="forbid")

    in_channels: int = Field(3, ge=1, le=CHANNELS_LIMIT,
                             description="Input image channels (1 gray, 3 RGB; paper: 3).")
    out_channels: int = Field(
        3,
        ge=1,
        le=CHANNELS_LIMIT,
        description="Output channels; the global residual is used when equal to in_channels.",
    )
    n_feats: int = Field(64, ge=1, le=WIDTH_LIMIT,
                         description="Channels of every inner convolution (paper: 64).")
    n_resblocks: int = Field(
        40, ge=0, le=BLOCKS_LIMIT,
        description="EDSR residual blocks at the coarse scale (paper: 40).",
    )
    res_scale: float = Field(
        1.0, gt=0, description="Scale of each residual block's branch (EDSR baseline: 1.0)."
    )
    scale: Literal[2, 4] = Field(
        2, description="Feature downscaling factor between head and body ('Down'/'Up' modules)."
    )
    use_grab: bool = Field(
        True,
        description="Insert the graph reasoning attention block; False gives the EDSR baseline.",
    )
    grab_position: Literal["low", "middle", "high"] = Field(
        "high",
        description=(
            "Where GRAB sits among the residual blocks (Table 1; paper: 'high', after the "
            "last block)."
        ),
    )
    grab_embed_channels: int | None = Field(
        None, ge=1, le=WIDTH_LIMIT,
        description="Channels of the theta/phi embeddings (None: n_feats).",
    )
    grab_normalize: bool = Field(
        True,
        description=(
            "Divide the affinity R by the number of positions P (as in the released code of the "
            "VSRN reasoning block the paper follows, ref. [15]); keeps the attention "
            "independent of "
            "the image size. False is eq. 3 literally."
        ),
    )


PRESETS: dict[str, dict] = {
    # About a quarter of the paper's compute (26.5 % of its multiply-adds at 400x400x3, measured
    # by benchmarks/model_size.py): same width, 8 instead of 40 residual blocks.
    "cpu_small": {"n_resblocks": 8},
    # The paper's EDSR baseline (Table 1 'Baseline'): GRAN without GRAB.
    "edsr_baseline": {"use_grab": False},
}

TINY_CONFIG = {"in_channels": 1, "out_channels": 1, "n_feats": 8, "n_resblocks": 2}


def grab_reordered(
    theta: torch.Tensor, phi: torch.Tensor, g: torch.Tensor, normalize: bool = True
) -> torch.Tensor:
    """``(R G^T)^T`` with ``R = theta^T phi`` computed as ``theta^T (phi G^T)``, linear in P.

    ``theta``, ``phi``: (N, E, P); ``g`` (= V^T W_g, channels first): (N, C, P).
    Returns (N, C, P). Memory and time are O(P E C); no P x P matrix is formed.
    """
    m = torch.bmm(phi, g.transpose(1, 2))  # (N, E, C) = phi G^T
    out = torch.bmm(m.transpose(1, 2), theta)  # (N, C, P) = (theta^T m)^T
    if normalize:
        out = out / theta.shape[-1]
    return out


def grab_explicit(
    theta: torch.Tensor, phi: torch.Tensor, g: torch.Tensor, normalize: bool = True
) -> torch.Tensor:
    """Test oracle: the literal eq. 2-3 with the explicit P x P affinity matrix ``R``."""
    r = torch.bmm(theta.transpose(1, 2), phi)  # (N, P, P): R_ij = theta_i . phi_j
    if normalize:
        r = r / theta.shape[-1]
    return torch.bmm(r, g.transpose(1, 2)).transpose(1, 2)  # (R G^T)^T: (N, C, P)


class GRAB(nn.Module):
    """Graph reasoning attention block (eq. 2-3), 1x1 convolutions only."""

    def __init__(self, channels: int, embed_channels: int | None = None, normalize: bool = True):
        super().__init__()
        e = embed_channels or channels
        self.theta = nn.Conv2d(channels, e, 1)  # W_theta (eq. 2, first embedding)
        self.phi = nn.Conv2d(channels, e, 1)  # W_phi (eq. 2, second embedding)
        self.w_g = nn.Conv2d(channels, channels, 1)  # GCN weight W_g (C x C)
        self.w_r = nn.Conv2d(channels, channels, 1)  # residual weight W_r (C x C)
        self.normalize = normalize
        self.explicit = False  # True: use the P x P oracle (tests only)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        n, c, h, w = v.shape
        theta = self.theta(v).flatten(2)
        phi = self.phi(v).flatten(2)
        g = self.w_g(v).flatten(2)
        fn = grab_explicit if self.explicit else grab_reordered
        reasoned = fn(theta, phi, g, self.normalize).reshape(n, c, h, w)
        attention = torch.sigmoid(self.w_r(reasoned))
        return attention * v + v


class ResBlock(nn.Module):
    """EDSR residual block: conv-ReLU-conv, scaled, plus identity."""

    def __init__(self, channels: int, res_scale: float = 1.0):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.conv2(F.relu(self.conv1(x)))


class GRAN(nn.Module):
    """Graph reasoning attention network (Zhang et al., ISBI 2023); keyword args = GRANConfig."""

    spatial_dims = 2

    def __init__(self, **kwargs):
        super().__init__()
        cfg = GRANConfig(**kwargs)
        describe_model(self, cfg, size_divisor=cfg.scale, exact_tiling=not cfg.use_grab)
        n = cfg.n_feats
        n_steps = int(math.log2(cfg.scale))

        self.head = nn.Conv2d(cfg.in_channels, n, 3, padding=1)
        self.down = nn.Sequential(
            *[nn.Conv2d(n, n, 3, stride=2, padding=1) for _ in range(n_steps)]
        )
        blocks: list[nn.Module] = [ResBlock(n, cfg.res_scale) for _ in range(cfg.n_resblocks)]
        if cfg.use_grab:
            pos = {"low": 0, "middle": cfg.n_resblocks // 2, "high": cfg.n_resblocks}[
                cfg.grab_position
            ]
            blocks.insert(pos, GRAB(n, cfg.grab_embed_channels, cfg.grab_normalize))
        self.body = nn.Sequential(*blocks)
        self.body_conv = nn.Conv2d(n, n, 3, padding=1)  # "GRAB (followed by a Conv layer)"
        up: list[nn.Module] = []
        for _ in range(n_steps):
            up += [nn.Conv2d(n, 4 * n, 3, padding=1), nn.PixelShuffle(2)]
        self.up = nn.Sequential(*up)
        self.tail = nn.Conv2d(n, cfg.out_channels, 3, padding=1)
        self.global_residual = cfg.in_channels == cfg.out_channels

        # Receptive field of the convolutions, in input pixels per side (conservative).
        jump = 1
        rf = 1  # head
        for _ in range(n_steps):
            rf += jump  # 3x3 stride-2 conv at the current jump
            jump *= 2
        rf += jump * (2 * cfg.n_resblocks + 1)  # residual blocks + body conv
        for _ in range(n_steps):
            rf += jump  # upsampler conv
            jump //= 2
            rf += jump  # pixel-shuffle phase
        rf += 1  # tail
        self.receptive_field = int(rf)

    @property
    def grab(self) -> GRAB | None:
        for m in self.body:
            if isinstance(m, GRAB):
                return m
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.down(self.head(x))
        res = self.body_conv(self.body(feat)) + feat
        out = self.tail(self.up(res))
        if self.global_residual:
            out = out + x
        return out


# --------------------------------------------------------------------------- discriminator


class GRANDiscriminatorConfig(BaseModel):
    """Configuration of :class:`GRANDiscriminator` (SRGAN's discriminator, Ledig et al. 2017)."""

    model_config = ConfigDict(extra="forbid")

    in_channels: int = Field(3, ge=1, description="Image channels.")
    base_channels: int = Field(
        64, ge=1, description="Channels of the first convolution (SRGAN: 64)."
    )
    n_blocks: int = Field(
        7,
        ge=1,
        description="Conv-BN-LeakyReLU blocks after the first conv (SRGAN 7, alternate stride 2).",
    )
    fc_channels: int = Field(1024, ge=1, description="Width of the dense layer (SRGAN: 1024).")


class GRANDiscriminator(nn.Module):
    """The classic SRGAN discriminator used for GRAN_GAN (paper 000, Sec. 2.4, ref. [4]).

    conv3x3(64)-LReLU, then blocks conv3x3-BN-LReLU with strides 2,1,2,1,2,1,2 and channels
    64,128,128,256,256,512,512, then the dense layers (1024, LReLU, 1) as 1x1 convolutions
    after global average pooling so any patch size works. Returns raw scores (N, 1): eq. 4 is
    a difference of scores, so no sigmoid.
    """

    def __init__(self, **kwargs):
        super().__init__()
        cfg = GRANDiscriminatorConfig(**kwargs)
        self.config = cfg
        c = cfg.base_channels
        layers: list[nn.Module] = [nn.Conv2d(cfg.in_channels, c, 3, padding=1), nn.LeakyReLU(0.2)]
        ch = c
        for i in range(cfg.n_blocks):
            stride = 2 if i % 2 == 0 else 1
            out = c * 2 ** ((i + 1) // 2)
            layers += [
                nn.Conv2d(ch, out, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.LeakyReLU(0.2),
            ]
            ch = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(ch, cfg.fc_channels, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(cfg.fc_channels, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x)).flatten(1)


register_arch(
    "gran",
    GRAN,
    GRANConfig,
    tiny_config=TINY_CONFIG,
    description=(
        "GRAN (Zhang et al., ISBI 2023): EDSR backbone at half resolution with a graph reasoning "
        "attention block; EM and histology deblurring. use_grab=False is the EDSR baseline."
    ),
    presets=PRESETS,
)
