"""SGPN: semisupervised learning guided progressive decoding network (paper 004).

A. Cheng, K. Kang, Z. Zhu, R. Zhang, L. Wang, "Improving the neural segmentation of blurry
serial SEM images by blind deblurring", Computational Intelligence and Neuroscience 2023,
article 8936903.

Generator (G-Net, Fig. 2 and 3):

* Feature-pyramid encoder [Lin et al. 2017] over 5 scales i = 0..4 (0 = full resolution):
  on each scale a convolution block (3x3 conv - instance norm - ReLU; stride 2 from scale 1
  on) followed by light-weight residual blocks (EDSR's conv-ReLU-conv, no normalisation).
* Coarse decoding (left of Fig. 2): 1x1 convolutions reduce each scale's encoder features to
  the decoder width and are summed with the upsampled coarser decoded features, followed by a
  convolution block and light residual blocks; these are X^{i,1}.
* Progressive fine decoding (right of Fig. 2): hybrid feature extractors (HFE, Fig. 3c)
  compute X^{i,j} for j = 2..5-i from X^{i,j-1}, the upsampled X^{i+1,j-1} and (when it
  exists) the upsampled X^{i+2,j-2}: the inputs are concatenated inside a light residual
  block (conv-ReLU-conv), added to X^{i,j-1} (skip) and followed by a convolution block.
* Output: a 3x3 conv of X^{0,5}, Tanh, plus the input (global residual).

Discriminator (D-Net, Sec. 3.2/3.3.5): :class:`PatchDiscriminator`, 4x4 stride-2
convolutions with instance normalisation and LeakyReLU (LSGAN scores per patch).

Widths are not given in the paper. The defaults (encoder 32-64-128-256-512 doubling per
scale, each 1x1 skip reduction halving the channels, two light residual blocks per scale in
encoder and decoder) give 19,836,513 parameters, +2.6 % of the paper's 19.34 M (Table 7), at
69.5 G multiply-adds for a 400 x 400 image. The preset "fpn128" (one FPN width of 128,
18.47 M parameters) is the alternative reading; it costs 10x more compute at full
resolution. Instance normalisation (which the paper found necessary for stable training)
uses per-image statistics, so tiled inference is not exactly untiled inference
(``exact_tiling`` is False unless ``norm="none"``).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from napari_microdeblur.core.registry import (
    CHANNELS_LIMIT,
    WIDTH_LIMIT,
    describe_model,
    register_arch,
)

__all__ = ["PRESETS", "PatchDiscriminator", "PatchDiscriminatorConfig", "SGPN", "SGPNConfig"]

N_SCALES = 5
#: light residual blocks per scale (the paper: 2; five scales of them, and two decoders)
BLOCKS_LIMIT = 64


def _clipped(widths) -> str:
    """A list of widths for a message: an edited card's million-entry list is cut."""
    text = repr(widths)
    return text if len(text) <= 60 else text[:60] + "...]"


class SGPNConfig(BaseModel):
    """Configuration of :class:`SGPN`; the defaults approximate the paper's 19.34 M model."""

    model_config = ConfigDict(extra="forbid")

    in_channels: int = Field(1, ge=1, le=CHANNELS_LIMIT,
                             description="Input image channels (1 gray EM, 3 RGB).")
    out_channels: int = Field(
        1,
        ge=1,
        le=CHANNELS_LIMIT,
        description="Output channels; the global residual is used when equal to in_channels.",
    )
    encoder_channels: list[int] = Field(
        [32, 64, 128, 256, 512],
        description="Encoder channels of the 5 pyramid scales, fine to coarse.",
    )
    decoder_channels: int | list[int] = Field(
        [16, 32, 64, 128, 256],
        description=(
            "Width of the 1x1-reduced decoder features: one int for all scales (FPN style) or "
            "5 widths, fine to coarse."
        ),
    )
    encoder_blocks: int = Field(2, ge=0, le=BLOCKS_LIMIT,
                                description="Light residual blocks per encoder scale.")
    decoder_blocks: int = Field(
        2, ge=0, le=BLOCKS_LIMIT, description="Light residual blocks per coarse-decoder scale."
    )
    norm: Literal["instance", "none"] = Field(
        "instance", description="Normalisation in the convolution blocks (paper: instance norm)."
    )
    upsample: Literal["bilinear", "nearest"] = Field(
        "bilinear", description="Upsampling of coarser features in the decoders."
    )

    @field_validator("encoder_channels")
    @classmethod
    def _five(cls, v: list[int]) -> list[int]:
        if len(v) != N_SCALES or any(not 1 <= c <= WIDTH_LIMIT for c in v):
            raise ValueError(f"encoder_channels needs {N_SCALES} widths from 1 to {WIDTH_LIMIT}, "
                             f"got {_clipped(v)}")
        return v

    @field_validator("decoder_channels")
    @classmethod
    def _dec(cls, v: int | list[int]) -> int | list[int]:
        widths = [v] * N_SCALES if isinstance(v, int) else v
        if len(widths) != N_SCALES or any(not 1 <= c <= WIDTH_LIMIT for c in widths):
            raise ValueError(f"decoder_channels needs one or {N_SCALES} widths from 1 to "
                             f"{WIDTH_LIMIT}, got {_clipped(v)}")
        return v

    def decoder_widths(self) -> list[int]:
        """Decoder width of every scale, fine to coarse."""
        v = self.decoder_channels
        return [v] * N_SCALES if isinstance(v, int) else list(v)


PRESETS: dict[str, dict] = {
    # A quarter of the channels' squares: about 1/4 of the parameters and compute.
    "cpu_small": {
        "encoder_channels": [16, 32, 64, 128, 256],
        "decoder_channels": [8, 16, 32, 64, 128],
    },
    # The classic FPN layout: one decoder width of 128 at every scale (heavier at full resolution).
    "fpn128": {"decoder_channels": 128, "encoder_blocks": 1},
}

TINY_CONFIG = {"encoder_channels": [4, 4, 8, 8, 8], "decoder_channels": 4, "decoder_blocks": 1}


class ConvBlock(nn.Sequential):
    """3x3 conv - instance norm - ReLU."""

    def __init__(self, cin: int, cout: int, norm: str, stride: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1),
            nn.InstanceNorm2d(cout, affine=True) if norm == "instance" else nn.Identity(),
            nn.ReLU(inplace=True),
        )


class LightResBlock(nn.Module):
    """EDSR's light residual block: conv-ReLU-conv plus identity (Fig. 3b)."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class HybridFeatureExtractor(nn.Module):
    """HFE (Fig. 3c): cat(X^{i,j-1}, coarser) -> conv-ReLU-conv, + X^{i,j-1}, conv block."""

    def __init__(self, ch: int, in_total: int, norm: str):
        super().__init__()
        self.conv1 = nn.Conv2d(in_total, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.block = ConvBlock(ch, ch, norm)

    def forward(self, same: torch.Tensor, *coarser: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(torch.cat([same, *coarser], 1))))
        return self.block(same + h)


class SGPN(nn.Module):
    """SGPN generator (Cheng et al. 2023); keyword args = :class:`SGPNConfig`."""

    spatial_dims = 2
    #: its training steps are no faster channels-last on CPU (0.90-0.98x, unlike the other
    #: architectures: benchmarks/train_step_layout.py), so core.memory.fast_layout leaves it
    trains_channels_last = False

    def __init__(self, **kwargs):
        super().__init__()
        cfg = SGPNConfig(**kwargs)
        describe_model(self, cfg, size_divisor=2 ** (N_SCALES - 1), exact_tiling=cfg.norm == "none")
        c, d = cfg.encoder_channels, cfg.decoder_widths()
        self.encoder = nn.ModuleList()
        for i in range(N_SCALES):
            cin = cfg.in_channels if i == 0 else c[i - 1]
            self.encoder.append(
                nn.Sequential(
                    ConvBlock(cin, c[i], cfg.norm, stride=1 if i == 0 else 2),
                    *[LightResBlock(c[i]) for _ in range(cfg.encoder_blocks)],
                )
            )
        self.lateral = nn.ModuleList([nn.Conv2d(c[i], d[i], 1) for i in range(N_SCALES)])
        # 1x1 channel match of the upsampled coarser decoded features (only where widths differ)
        self.topdown = nn.ModuleList(
            [
                nn.Conv2d(d[i + 1], d[i], 1) if d[i + 1] != d[i] else nn.Identity()
                for i in range(N_SCALES - 1)
            ]
        )
        self.coarse_decoder = nn.ModuleList(
            [
                nn.Sequential(
                    ConvBlock(d[i], d[i], cfg.norm),
                    *[LightResBlock(d[i]) for _ in range(cfg.decoder_blocks)],
                )
                for i in range(N_SCALES)
            ]
        )
        # HFE nodes X^{i,j}, j = 2..N_SCALES-i
        self.hfe = nn.ModuleDict()
        for i in range(N_SCALES - 1):
            for j in range(2, N_SCALES - i + 1):
                in_total = d[i] + d[i + 1] + (d[i + 2] if j >= 3 else 0)
                self.hfe[f"{i}_{j}"] = HybridFeatureExtractor(d[i], in_total, cfg.norm)
        self.out_conv = nn.Conv2d(d[0], cfg.out_channels, 3, padding=1)
        self.global_residual = cfg.in_channels == cfg.out_channels
        self.receptive_field = self._receptive_radius()

    def _up(self, x: torch.Tensor, factor: int) -> torch.Tensor:
        if self.config.upsample == "nearest":
            return F.interpolate(x, scale_factor=factor, mode="nearest")
        return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = []
        h = x
        for enc in self.encoder:
            h = enc(h)
            feats.append(h)
        nodes: dict[tuple[int, int], torch.Tensor] = {}
        top = None
        for i in range(N_SCALES - 1, -1, -1):
            lat = self.lateral[i](feats[i])
            if top is not None:
                lat = lat + self._up(self.topdown[i](top), 2)
            top = self.coarse_decoder[i](lat)
            nodes[(i, 1)] = top
        for j in range(2, N_SCALES + 1):
            for i in range(N_SCALES - j, -1, -1):
                ins = [nodes[(i, j - 1)], self._up(nodes[(i + 1, j - 1)], 2)]
                if j >= 3:
                    ins.append(self._up(nodes[(i + 2, j - 2)], 4))
                nodes[(i, j)] = self.hfe[f"{i}_{j}"](*ins)
        out = torch.tanh(self.out_conv(nodes[(0, N_SCALES)]))
        if self.global_residual:
            out = out + x
        return out

    def _receptive_radius(self) -> int:
        """Conservative receptive radius in input pixels (convolutions and interpolation)."""
        cfg = self.config
        up_r = 1.0 if cfg.upsample == "bilinear" else 0.5  # interpolation support, coarse pixels
        r_enc = []
        r, s = 0.0, 1.0
        for i in range(N_SCALES):
            if i > 0:
                r += s  # stride-2 3x3 conv: 1 pixel at the finer scale, then jump doubles
                s *= 2
            else:
                r += s
            r += 2 * s * cfg.encoder_blocks
            r_enc.append(r)
        node: dict[tuple[int, int], float] = {}
        top = None
        for i in range(N_SCALES - 1, -1, -1):
            s = 2.0**i
            r = r_enc[i]
            if top is not None:
                r = max(r, top + up_r * 2 * s)
            r += s * (1 + 2 * cfg.decoder_blocks)
            node[(i, 1)] = top = r
        for j in range(2, N_SCALES + 1):
            for i in range(N_SCALES - j, -1, -1):
                s = 2.0**i
                r = max(node[(i, j - 1)], node[(i + 1, j - 1)] + up_r * 2 * s)
                if j >= 3:
                    r = max(r, node[(i + 2, j - 2)] + up_r * 4 * s)
                node[(i, j)] = r + 3 * s  # conv, conv, conv block
        return int(node[(0, N_SCALES)] + 1) + 1


# --------------------------------------------------------------------------- discriminator


class PatchDiscriminatorConfig(BaseModel):
    """Configuration of :class:`PatchDiscriminator`."""

    model_config = ConfigDict(extra="forbid")

    in_channels: int = Field(1, ge=1, description="Image channels.")
    base_channels: int = Field(64, ge=1, description="Channels of the first convolution.")
    n_layers: int = Field(3, ge=1, description="4x4 stride-2 convolutions after the first one.")


class PatchDiscriminator(nn.Module):
    """SGPN's D-Net: a PatchGAN of 4x4 stride-2 convs with instance norm and LeakyReLU.

    conv4x4/2 (no norm) - LReLU, then ``n_layers`` x (conv4x4/2 - IN - LReLU) doubling the
    channels (capped at 8x), then a 4x4 conv to one score per patch (LSGAN, no sigmoid).
    """

    def __init__(self, **kwargs):
        super().__init__()
        cfg = PatchDiscriminatorConfig(**kwargs)
        self.config = cfg
        c = cfg.base_channels
        layers: list[nn.Module] = [
            nn.Conv2d(cfg.in_channels, c, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        ]
        ch = c
        for k in range(1, cfg.n_layers + 1):
            out = c * min(2**k, 8)
            layers += [
                nn.Conv2d(ch, out, 4, stride=2, padding=1),
                nn.InstanceNorm2d(out, affine=True),
                nn.LeakyReLU(0.2),
            ]
            ch = out
        layers.append(nn.Conv2d(ch, 1, 4, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


register_arch(
    "sgpn",
    SGPN,
    SGPNConfig,
    tiny_config=TINY_CONFIG,
    description=(
        "SGPN generator (Cheng et al. 2023): feature pyramid with light residual blocks and "
        "progressive decoding through hybrid feature extractors; blind deblurring of serial SEM."
    ),
    presets=PRESETS,
)
