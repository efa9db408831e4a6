"""Coarse-to-fine multi-level U-Net with feature interaction.

J. Wang, B. Han, "Defocus deblur microscopy via feature interactive coarse-to-fine network",
arXiv:2211.00416 (2022).

N levels (``levels`` = 1..4). Level n (n = 1 finest) sees the input downsampled by 2^(n-1)
(2x2 average pooling per step) and is a U-Net [Ronneberger et al. 2015] of its own
(eq. 3: sub-network n has its own parameters) with one fewer resolution level than the
next finer one, so every level reaches the same coarsest resolution (1/16 of the input for
the paper's depth 5). Blocks are (3x3 conv - BatchNorm - ReLU) x 2, 2x2 max pooling,
2x2 stride-2 transposed convolutions, skip concatenation, and a 1x1 output convolution.

Coarse-to-fine input (eq. 3): every level but the coarsest receives its own downsampled input
x_n concatenated with the coarser level's output upsampled to x_n's size (bilinear), so its first
convolution takes ``in_channels + out_channels`` channels.

Feature interaction (eq. 4, 6, 7): the output of encoder block i of level n, E_i^(n), is
combined with the decoder features D_{i-1}^(n+1) of the next coarser level, which have the
same spatial size (the coarser level works at half the resolution), for every decoder level
of the coarser U-Net below its bottleneck:

* ``"residual"`` (eq. 6): E_i <- E_i + D_{i-1}. D_{i-1} has half the channels of E_i; it is
  added to the first half of E_i's channels (zero-padded), which adds no parameters, as the
  paper's Table 1 requires (concat and residual counts differ exactly by the extra
  concatenation weights below).
* ``"concat"`` (eq. 7): E_i <- [E_i : D_{i-1}], which widens the inputs of both consumers of
  E_i (the next encoder block and the skip into decoder block i).

The finest output is the restored image; :meth:`C2FUNet.forward_pyramid` returns every
level's output, coarse to fine, for the multi-scale content loss (eq. 5).

Widths are not printed in the paper; the parameter counts of its Table 1 pin them down:
base width 16 doubling per level, finest depth 5, levels of depth 5, 4, 3, 2. This gives
(1 input / 1 output channel, eq. 3's extra input channel included) N=1 1,942,289 (paper
1,942,962), N=3 2,542,099 (2,543,478), N=4 residual 2,567,764 (2,569,512), N=4 concat 2,941,012
(2,942,760): every count within 0.07 %, and concat minus residual for N=4 = 373,248 exactly as
in the paper. The remaining
offset of a few hundred parameters per level comes from layer details the paper does not
give (biases, output layer). The paper's N=2 row (1,986,116, only 43,154 above N=1) does
not fit the structure that reproduces the other four rows (a depth-4 U-Net alone has
~482 k parameters); its concat rows for N=2 and N=3 equal the residual ones, which no
concatenation can do, so we take those rows as copy errors (benchmarks/model_size.py).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from napari_microdeblur.core.registry import (
    CHANNELS_LIMIT,
    LEVELS_LIMIT,
    WIDTH_LIMIT,
    describe_model,
    register_arch,
)

__all__ = ["C2FUNet", "C2FUNetConfig", "PRESETS"]


class C2FUNetConfig(BaseModel):
    """Configuration of :class:`C2FUNet`; the defaults are the paper's N=4 residual model."""

    model_config = ConfigDict(extra="forbid")

    in_channels: int = Field(1, ge=1, le=CHANNELS_LIMIT,
                             description="Input image channels (1 gray, 3 RGB).")
    out_channels: int = Field(1, ge=1, le=CHANNELS_LIMIT, description="Output image channels.")
    levels: int = Field(
        4, ge=1, le=4, description="Number of coarse-to-fine levels N (paper: 1-4; best 4)."
    )
    depth: int = Field(
        5,
        ge=2,
        le=LEVELS_LIMIT,
        description=(
            "Resolution levels of the finest U-Net; level n has depth - (n - 1). Must be at "
            "least levels + 1 so the coarsest U-Net has two resolution levels."
        ),
    )
    base_channels: int = Field(
        16, ge=1, le=WIDTH_LIMIT,
        description="Channels of the first U-Net level; doubled per level.",
    )
    interaction: Literal["residual", "concat"] = Field(
        "residual", description="Feature interaction between levels (eq. 6 residual, eq. 7 concat)."
    )
    norm: Literal["batch", "instance", "none"] = Field(
        "batch",
        description="Normalisation after each 3x3 convolution (convs have no bias unless 'none').",
    )
    global_skip: bool = Field(
        False,
        description=(
            "Each level predicts a correction added to its own input (not in the paper; the "
            "blind defaults use it so an untrained or unsure network stays near the input)."
        ),
    )

    border_mirror: int = Field(
        0,
        ge=0,
        le=1024,
        description=(
            "Pixels of mirror added to each side of the input and cropped from the output, a "
            "multiple of 2**(depth-2). The v2 defaults were trained with a loss that left out "
            "a 16-px patch margin: without 32 px of mirror they fail at every input border."
        ),
    )

    @model_validator(mode="after")
    def _check_depth(self) -> C2FUNetConfig:
        if self.depth < self.levels + 1:
            raise ValueError(
                f"depth must be at least levels + 1 = {self.levels + 1} (got depth={self.depth})"
            )
        if self.global_skip and self.in_channels != self.out_channels:
            raise ValueError("global_skip=True needs in_channels == out_channels "
                             f"(got {self.in_channels} and {self.out_channels})")
        step = 2 ** (self.depth - 2)
        if self.border_mirror % step:
            raise ValueError(f"border_mirror={self.border_mirror} must be a multiple of {step} "
                             "(2**(depth-2)) so every level's output crops back exactly")
        return self


PRESETS: dict[str, dict] = {
    "concat": {"interaction": "concat"},
    # Half the width: about a quarter of the paper's parameters and FLOPs.
    "cpu_small": {"base_channels": 8},
}

TINY_CONFIG = {"levels": 2, "depth": 3, "base_channels": 4}


def _norm(kind: str, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "instance":
        return nn.InstanceNorm2d(ch, affine=True)
    return nn.Identity()


class DoubleConv(nn.Sequential):
    """(3x3 conv - norm - ReLU) x 2."""

    def __init__(self, cin: int, cout: int, norm: str):
        bias = norm == "none"
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=bias),
            _norm(norm, cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=bias),
            _norm(norm, cout),
            nn.ReLU(inplace=True),
        )


def _run_consuming(block: nn.Sequential, parts: list[torch.Tensor]) -> torch.Tensor:
    """``block(torch.cat(parts, 1))`` holding no reference to the inputs or the concatenation
    once the first layer has used them (the caller's own references go with ``parts``)."""
    h = torch.cat(parts, 1)
    parts.clear()
    for layer in block:
        h = layer(h)
    return h


def _add_padded(e: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """E + D where D may have fewer channels: D is added to E's first channels."""
    if d.shape[1] == e.shape[1]:
        return e + d
    return torch.cat([e[:, : d.shape[1]] + d, e[:, d.shape[1] :]], dim=1)


def _max_pool2(h: torch.Tensor) -> torch.Tensor:
    """2 x 2 max pooling (stride 2, odd edges dropped, as ``F.max_pool2d(h, 2)``). Without a
    gradient to keep, the maximum of the four strided quarters: the same values, 3-5x faster on
    this CPU for bf16 channels-last tiles, and none of the int64 indices max_pool2d allocates
    (four times its output's bytes)."""
    if h.requires_grad and torch.is_grad_enabled():
        return F.max_pool2d(h, 2)
    rows, cols = h.shape[-2] // 2 * 2, h.shape[-1] // 2 * 2
    top = torch.maximum(h[..., 0:rows:2, 0:cols:2], h[..., 0:rows:2, 1:cols:2])
    bottom = torch.maximum(h[..., 1:rows:2, 0:cols:2], h[..., 1:rows:2, 1:cols:2])
    return torch.maximum(top, bottom, out=top)


def _reflected_indices(size: int, pad: int, device: torch.device) -> torch.Tensor:
    """Indices of ``pad`` pixels reflected onto each end of an axis of ``size``, reflecting
    again off the far end where ``pad`` passes it (a 1-px axis repeats its pixel)."""
    index = torch.arange(-pad, size + pad, device=device)
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * (size - 1)
    index = index.remainder(period)
    return torch.where(index >= size, period - index, index)


def mirror_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """``x`` reflect-padded by ``pad`` on both spatial axes, also where an axis is shorter.

    The v2 weights never learned the 16-32 px next to an input border: narrowed to the short
    side of a thin strip (8 px on a 16-px tile), the mirror left the image inside that zone,
    where the net's output blows up, worst at the top border (an 8 x 1000 EM strip: 12.4 dB
    from 33.5, its transpose 31.4). Inputs wider than the mirror keep ``F.pad`` bit for bit."""
    rows, cols = x.shape[-2:]
    if pad < rows and pad < cols:
        return F.pad(x, (pad, pad, pad, pad), mode="reflect")
    x = x.index_select(-2, _reflected_indices(rows, pad, x.device))
    return x.index_select(-1, _reflected_indices(cols, pad, x.device))


class UNetLevel(nn.Module):
    """One level's U-Net; takes decoder features of the next coarser level for ``inject`` levels."""

    def __init__(
        self, cin: int, cout: int, depth: int, base: int, norm: str, inject: int, interaction: str
    ):
        super().__init__()
        w = [base * 2**i for i in range(depth)]
        self.widths = w
        self.depth = depth
        self.inject = inject  # encoder outputs E_1..E_inject receive D_0..D_{inject-1}
        self.interaction = interaction

        def extra(i: int) -> int:  # channels added to E_i by concatenation
            return w[i - 1] if (interaction == "concat" and 1 <= i <= inject) else 0

        self.enc = nn.ModuleList([DoubleConv(cin, w[0], norm)])
        for i in range(1, depth):
            self.enc.append(DoubleConv(w[i - 1] + extra(i - 1), w[i], norm))
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in range(depth - 2, -1, -1):
            self.up.append(nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2))
            self.dec.append(DoubleConv(2 * w[i] + extra(i), w[i], norm))
        self.out = nn.Conv2d(w[0], cout, 1)

    def forward(self, x: torch.Tensor, coarse: list[torch.Tensor] | None = None,
                features: bool = True):
        """Returns (output, decoder features D_0..D_{depth-2} at this level, or [] when
        ``features`` is False: the finest level's are not needed, and not keeping them, nor
        a skip once the decoder used it, lowers the peak memory of a large tile)."""
        skips = []
        h = x
        for i, block in enumerate(self.enc):
            if i > 0:
                h = _max_pool2(h)
            h = block(h)
            if coarse is not None and 1 <= i <= self.inject:
                d = coarse[i - 1]
                h = torch.cat([h, d], 1) if self.interaction == "concat" else _add_padded(h, d)
            skips.append(h)
        h = skips.pop()  # the bottleneck
        dec_feats: list[torch.Tensor] = []  # D_{depth-2} .. D_0
        for up, block in zip(self.up, self.dec, strict=True):
            parts = [up(h), skips.pop()]
            h = _run_consuming(block, parts)
            if features:
                dec_feats.append(h)
        return self.out(h), dec_feats[::-1]

    def receptive_radius(
        self, r_in: float, pix: float, coarse: list[float] | None
    ) -> tuple[float, list[float]]:
        """Conservative receptive radius (input pixels) of the output and of D_0..D_{depth-2}."""
        skips = []
        r, s = r_in, pix
        for i in range(self.depth):
            if i > 0:
                r += s  # 2x2 max pool
                s *= 2
            r += 2 * s  # two 3x3 convs
            if coarse is not None and 1 <= i <= self.inject:
                r = max(r, coarse[i - 1])
            skips.append(r)
        dec = [0.0] * (self.depth - 1)
        for i in range(self.depth - 2, -1, -1):
            s /= 2
            r = max(r + s, skips[i]) + 2 * s
            dec[i] = r
        return r, dec


class C2FUNet(nn.Module):
    """Feature-interactive coarse-to-fine U-Nets (Wang & Han 2022).

    Keyword arguments are the fields of :class:`C2FUNetConfig`.
    """

    spatial_dims = 2

    def __init__(self, **kwargs):
        super().__init__()
        cfg = C2FUNetConfig(**kwargs)
        describe_model(self, cfg, size_divisor=2 ** (cfg.depth - 1),
                       exact_tiling=cfg.norm != "instance")
        self.nets = nn.ModuleList()
        for n in range(cfg.levels):  # index 0 = finest
            depth = cfg.depth - n
            coarsest = n == cfg.levels - 1
            inject = 0 if coarsest else depth - 2
            # eq. 3: a finer level also sees the coarser level's upsampled output
            cin = cfg.in_channels if coarsest else cfg.in_channels + cfg.out_channels
            self.nets.append(
                UNetLevel(
                    cin,
                    cfg.out_channels,
                    depth,
                    cfg.base_channels,
                    cfg.norm,
                    inject,
                    cfg.interaction,
                )
            )
        # receptive field, coarse to fine
        dec: list[float] | None = None
        r = 0.0
        for n in range(cfg.levels - 1, -1, -1):
            pix = 2.0**n
            # eq. 3: the coarser output (radius r, upsampled bilinearly) is part of this input
            r_in = pix if dec is None else r + pix
            r, dec = self.nets[n].receptive_radius(r_in, pix, dec)
        self.receptive_field = int(r) + 1

    def input_pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The inputs of every level, coarse to fine (also the targets' pyramid for eq. 5)."""
        xs = [x]
        for _ in range(self.config.levels - 1):
            xs.append(F.avg_pool2d(xs[-1], 2))
        return xs[::-1]

    def mirror_width(self, x: torch.Tensor) -> int:
        """The border mirror every input gets: the configured one, whatever the input's size
        (``mirror_pad`` reflects repeatedly where the input is narrower than the mirror)."""
        return self.config.border_mirror

    def forward_pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Restored images of every level, coarse to fine (the last one is full size)."""
        p = self.mirror_width(x)
        if p == 0:
            return self._pyramid(x)
        outs = self._pyramid(mirror_pad(x, p))
        crops = (p >> n for n in range(self.config.levels - 1, -1, -1))
        return [y[..., c:-c, c:-c] for y, c in zip(outs, crops, strict=True)]

    def _pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        xs = self.input_pyramid(x)
        outs: list[torch.Tensor] = []
        coarse = None
        for n, xn in zip(range(self.config.levels - 1, -1, -1), xs, strict=True):
            if outs:  # eq. 3: x_n together with the upsampled coarser output
                up = F.interpolate(
                    outs[-1], size=xn.shape[-2:], mode="bilinear", align_corners=False
                )
                xn = torch.cat([xn, up], dim=1)
            y, coarse = self.nets[n](xn, coarse, features=n > 0)
            if self.config.global_skip:
                y = y + xn[:, : self.config.out_channels]
            outs.append(y)
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_pyramid(x)[-1]


register_arch(
    "c2f_unet",
    C2FUNet,
    C2FUNetConfig,
    tiny_config=TINY_CONFIG,
    description=(
        "Coarse-to-fine U-Nets with feature interaction (Wang & Han 2022): N levels, coarser "
        "decoder features feed finer encoders; defocused fluorescence (U2OS) deblurring."
    ),
    presets=PRESETS,
)
