"""CycleGAN with an explicit PSF layer for blind deconvolution (paper 003).

S. Lim, S.-E. Lee, S. Chang, J. C. Ye, "Blind deconvolution microscopy using cycle
consistent CNN with explicit PSF layer", MLMIR workshop at MICCAI 2019, LNCS 11905
(arXiv:1904.02910).

* ``G_AB`` (blurry -> sharp, the network used for inference): a 2D or 3D U-Net
  [Çiçek et al. 2016] of (conv 3x3(x3) - instance norm - ReLU) x 2 blocks, 64 channels at the
  first level doubling per level, max pooling, transposed-convolution upsampling, skip
  concatenation and a 1x1 output convolution (Fig. 2).
* ``G_BA`` (sharp -> blurry): :class:`PSFLayer`, a single learnable 2D or 3D convolution
  kernel (paper: size 20; default here 21, odd, so the blur has a centre pixel and does not
  shift the image by half a pixel), stored as amplitudes ``w`` with kernel ``w^2 / sum(w^2)``:
  non-negative and summing to 1 at every step. (A softmax over logits, tried first, barely
  moves at the paper's learning rate and makes the paper's L1 penalty a constant.)
  :func:`export_psf` writes it as a float32 TIFF that ``core.psf`` / Richardson-Lucy can read.
* Discriminators: :class:`MultiScalePatchDiscriminator` holds three independent
  :class:`PatchDiscriminator` (4 x (conv 3x3(x3) stride 2 - instance norm - ReLU), the last
  conv giving one channel, Fig. 3) on the full patch and on random half and quarter crops
  (Fig. 4). They are plain classes for training, not registered as inference architectures.

The registered model :class:`PSFCycleGAN` holds ``generator`` (G_AB) and ``psf`` (G_BA);
``forward`` deblurs with G_AB and ``blur`` applies the PSF. The paper does not print the
U-Net depth; we use 4 resolution levels (64-128-256-512) as in the 3D U-Net it cites.
Instance normalisation uses per-image statistics, so tiled inference is close to but not
exactly untiled inference (``exact_tiling`` False).
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
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

__all__ = [
    "MultiScalePatchDiscriminator",
    "PRESETS",
    "PSFCycleGAN",
    "PSFCycleGANConfig",
    "PSFLayer",
    "PatchDiscriminator",
    "UNetGenerator",
    "export_psf",
]


#: largest edge of the learnable PSF kernel, in 2D and in 3D (the paper's is 20)
PSF_SIZE_LIMITS = {2: 255, 3: 127}


class PSFCycleGANConfig(BaseModel):
    """Configuration of :class:`PSFCycleGAN`; the defaults are the paper's 3D configuration."""

    model_config = ConfigDict(extra="forbid")

    spatial_dims: Literal[2, 3] = Field(3, description="2 for images, 3 for volumes (paper: 3).")
    in_channels: int = Field(
        1, ge=1, le=CHANNELS_LIMIT,
        description="Input channels of G_AB (and output channels of the PSF layer).",
    )
    out_channels: int = Field(1, ge=1, le=CHANNELS_LIMIT, description="Output channels of G_AB.")
    base_channels: int = Field(
        64, ge=1, le=WIDTH_LIMIT, description="U-Net channels at the first level (paper: 64)."
    )
    depth: int = Field(4, ge=1, le=LEVELS_LIMIT,
                       description="U-Net resolution levels (poolings = depth - 1).")
    psf_size: int = Field(
        21, ge=1, le=PSF_SIZE_LIMITS[2],
        description="Edge length of the learnable PSF kernel (paper: 20; odd keeps a "
        "centre pixel).",
    )
    psf_init_sigma: float = Field(
        3.0, gt=0, description="Standard deviation (pixels) of the Gaussian the PSF starts from "
        "(start wider than the expected PSF)."
    )
    residual: bool = Field(
        False,
        description="Add the input to G_AB's output (not in the paper; needs in == out channels).",
    )
    psf_symmetry: Literal["none", "point"] = Field(
        "none", description="'point': the kernel is kept symmetric about its centre, "
        "h(-r) = h(r) (not in the paper). True of a 2D in-focus PSF without coma (defocus, "
        "spherical aberration, astigmatism); unpaired data cannot tell a lopsided kernel "
        "from a symmetric one, since its power spectrum is the same.",
    )

    @model_validator(mode="after")
    def _psf_fits(self) -> PSFCycleGANConfig:
        # the PSF layer computes its start in numpy even on the meta device: a 3D kernel of
        # 801 px (an edited card) took 10 GB before its shapes were compared
        limit = PSF_SIZE_LIMITS[self.spatial_dims]
        if self.psf_size > limit:
            raise ValueError(f"psf_size={self.psf_size} is larger than {limit}, the largest "
                             f"{self.spatial_dims}D kernel edge")
        return self


PRESETS: dict[str, dict] = {
    "paper_2d": {"spatial_dims": 2},
    "cpu_small": {"spatial_dims": 2, "base_channels": 32},
}

TINY_CONFIG = {"spatial_dims": 2, "base_channels": 4, "depth": 2, "psf_size": 5}


def _conv(dims: int):
    return nn.Conv2d if dims == 2 else nn.Conv3d


def _inorm(dims: int, ch: int) -> nn.Module:
    return (nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d)(ch, affine=True)


class PSFLayer(nn.Module):
    """A single learnable blur kernel ``w^2 / sum(w^2)``: non-negative and summing to 1
    (with ``symmetry='point'``, w^2 averaged with its point reflection first).

    Applies the same kernel to every channel ("same" output size, replicate padding; even
    sizes pad one more pixel after than before). Besides the kernel it offers the priors the
    training regime puts on it: :meth:`sparsity`, :meth:`roughness` and :meth:`off_centre`.
    """

    def __init__(self, spatial_dims: int = 3, size: int = 21, init_sigma: float = 3.0,
                 symmetry: str = "none"):
        super().__init__()
        self.spatial_dims = spatial_dims
        self.size = size
        self.symmetry = symmetry
        # sqrt of the Gaussian: the kernel starts as the Gaussian itself. Computed in numpy:
        # a tensor op here, under the loader's meta device, imported torch's compiler stack
        # (1.2 s and 70 MB per process)
        coords = np.arange(size, dtype=np.float32) - (size - 1) / 2
        r2 = sum(g**2 for g in np.meshgrid(*([coords] * spatial_dims), indexing="ij"))
        self.amplitude = nn.Parameter(torch.tensor(np.exp(-r2 / (4 * init_sigma**2)),
                                                   dtype=torch.float32))

    def _grids(self) -> list[torch.Tensor]:
        coords = torch.arange(self.size, dtype=torch.float32) - (self.size - 1) / 2
        return list(torch.meshgrid(*([coords] * self.spatial_dims), indexing="ij"))

    def kernel(self) -> torch.Tensor:
        """The PSF: non-negative, sums to 1, shape (size,) * spatial_dims."""
        power = self.amplitude**2
        if self.symmetry == "point":
            power = 0.5 * (power + power.flip(list(range(self.spatial_dims))))
        return power / power.sum().clamp_min(1e-12)

    def sparsity(self) -> torch.Tensor:
        """The paper's L1 sparsity made scale-free: ``sum(sqrt(k)) = ||w||_1 / ||w||_2``
        (Krishnan et al. 2011). A plain L1 of a kernel that sums to 1 is constant; this one is
        1 for a single pixel and grows as the mass spreads (a halo costs more than a core)."""
        w = self.amplitude.abs()
        return w.sum() / w.pow(2).sum().sqrt().clamp_min(1e-12)

    def roughness(self) -> torch.Tensor:
        """Squared finite differences of the kernel relative to its squared norm (about
        1 / sigma^2 for a Gaussian): large for a spike or a ragged kernel."""
        k = self.kernel()
        diffs = sum(torch.diff(k, dim=d).pow(2).sum() for d in range(self.spatial_dims))
        return diffs / k.pow(2).sum().clamp_min(1e-12)

    def off_centre(self) -> torch.Tensor:
        """Squared distance (pixels^2) of the kernel's centroid from the kernel's centre: a
        shifted PSF explains unpaired data as well as a centred one, so it is pinned here."""
        k = self.kernel()
        return sum((k * g.to(k)).sum() ** 2 for g in self._grids())

    def forward(self, x: torch.Tensor, fixed: bool = False) -> torch.Tensor:
        """Blur ``x``; ``fixed``: no gradient reaches the kernel (x still gets one)."""
        k = self.kernel().detach() if fixed else self.kernel()
        c = x.shape[1]
        lo = (self.size - 1) // 2
        hi = self.size - 1 - lo
        x = F.pad(x, [lo, hi] * self.spatial_dims, mode="replicate")
        weight = k.flip(list(range(self.spatial_dims))).expand(c, 1, *k.shape)  # true convolution
        conv = F.conv2d if self.spatial_dims == 2 else F.conv3d
        return conv(x, weight.to(x.dtype), groups=c)


class UNetGenerator(nn.Module):
    """G_AB: 2D/3D U-Net with (conv - instance norm - ReLU) x 2 blocks."""

    def __init__(self, spatial_dims: int, cin: int, cout: int, base: int, depth: int):
        super().__init__()
        conv = _conv(spatial_dims)
        tconv = nn.ConvTranspose2d if spatial_dims == 2 else nn.ConvTranspose3d
        self.pool = F.max_pool2d if spatial_dims == 2 else F.max_pool3d
        w = [base * 2**i for i in range(depth)]

        def block(a: int, b: int) -> nn.Sequential:
            return nn.Sequential(
                conv(a, b, 3, padding=1),
                _inorm(spatial_dims, b),
                nn.ReLU(inplace=True),
                conv(b, b, 3, padding=1),
                _inorm(spatial_dims, b),
                nn.ReLU(inplace=True),
            )

        self.enc = nn.ModuleList([block(cin if i == 0 else w[i - 1], w[i]) for i in range(depth)])
        self.up = nn.ModuleList(
            [tconv(w[i + 1], w[i], 2, stride=2) for i in range(depth - 2, -1, -1)]
        )
        self.dec = nn.ModuleList([block(2 * w[i], w[i]) for i in range(depth - 2, -1, -1)])
        self.out = conv(w[0], cout, 1)
        self.depth = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for i, b in enumerate(self.enc):
            if i > 0:
                h = self.pool(h, 2)
            h = b(h)
            skips.append(h)
        for k, (up, b) in enumerate(zip(self.up, self.dec, strict=True)):
            h = b(torch.cat([up(h), skips[self.depth - 2 - k]], 1))
        return self.out(h)


class PSFCycleGAN(nn.Module):
    """Blurry->sharp U-Net (inference) plus the explicit PSF layer (Lim et al. 2019)."""

    def __init__(self, **kwargs):
        super().__init__()
        cfg = PSFCycleGANConfig(**kwargs)
        # instance normalisation: tiles are not exact
        describe_model(self, cfg, size_divisor=2 ** (cfg.depth - 1), exact_tiling=False,
                       spatial_dims=cfg.spatial_dims)
        if cfg.residual and cfg.in_channels != cfg.out_channels:
            raise ValueError("psf_cyclegan: residual=True needs in_channels == out_channels")
        self.generator = UNetGenerator(
            cfg.spatial_dims, cfg.in_channels, cfg.out_channels, cfg.base_channels, cfg.depth
        )
        self.psf = PSFLayer(cfg.spatial_dims, cfg.psf_size, cfg.psf_init_sigma,
                            cfg.psf_symmetry)
        # conv receptive radius of the U-Net: 2 convs per level on the way down and up
        r, s = 0, 1
        for i in range(cfg.depth):
            if i > 0:
                r += s
                s *= 2
            r += 2 * s
        for _ in range(cfg.depth - 1):
            s //= 2
            r += s + 2 * s
        self.receptive_field = int(r) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """G_AB: deblur."""
        y = self.generator(x)
        return y + x if self.config.residual else y

    def blur(self, y: torch.Tensor, fixed_psf: bool = False) -> torch.Tensor:
        """G_BA: blur a sharp image with the learned PSF (``fixed_psf``: as a constant)."""
        return self.psf(y, fixed=fixed_psf)


# --------------------------------------------------------------------------- discriminators


class PatchDiscriminator(nn.Module):
    """One PatchGAN of Fig. 3: 4 x (conv 3 stride 2 - IN - ReLU), the last conv to 1 channel."""

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 1,
        base_channels: int = 64,
        n_layers: int = 4,
    ):
        super().__init__()
        conv = _conv(spatial_dims)
        layers: list[nn.Module] = []
        ch = in_channels
        for k in range(n_layers - 1):
            out = base_channels * 2**k
            layers += [
                conv(ch, out, 3, stride=2, padding=1),
                _inorm(spatial_dims, out),
                nn.ReLU(inplace=True),
            ]
            ch = out
        layers.append(conv(ch, 1, 3, stride=2, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MultiScalePatchDiscriminator(nn.Module):
    """Three independent PatchGANs on the full patch and random half and quarter crops (Fig. 4)."""

    scales = (1, 2, 4)

    def __init__(self, spatial_dims: int = 3, **patch_options):
        """``patch_options`` (in_channels, base_channels, n_layers) and ``spatial_dims`` are
        :class:`PatchDiscriminator`'s, the same for the three."""
        super().__init__()
        self.spatial_dims = spatial_dims
        self.discriminators = nn.ModuleList(
            [PatchDiscriminator(spatial_dims, **patch_options) for _ in self.scales]
        )

    def crops(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> list[torch.Tensor]:
        """The full patch and one random crop of 1/2 and 1/4 its edge length."""
        out = []
        spatial = x.shape[2:]
        for s in self.scales:
            if s == 1:
                out.append(x)
                continue
            idx = [slice(None), slice(None)]
            for n in spatial:
                size = max(1, n // s)
                start = int(torch.randint(0, n - size + 1, (1,), generator=generator))
                idx.append(slice(start, start + size))
            out.append(x[tuple(idx)])
        return out

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> list[torch.Tensor]:
        """Patch scores of each discriminator on its crop (list of 3 tensors)."""
        return [d(c) for d, c in zip(self.discriminators, self.crops(x, generator), strict=True)]


def export_psf(model_or_layer: PSFCycleGAN | PSFLayer, path: str | os.PathLike) -> np.ndarray:
    """Write the learned PSF as a float32 TIFF (axes YX or ZYX, sum 1) and return it."""
    import tifffile

    layer = model_or_layer.psf if isinstance(model_or_layer, PSFCycleGAN) else model_or_layer
    if not isinstance(layer, PSFLayer):
        raise TypeError(
            f"export_psf needs a PSFCycleGAN or PSFLayer, got {type(model_or_layer).__name__}"
        )
    with torch.no_grad():
        psf = layer.kernel().detach().to("cpu", torch.float32).numpy()
    axes = "YX" if psf.ndim == 2 else "ZYX"
    # grayscale: tifffile tagged a 3- or 4-plane (or -column) PSF RGB, and warns it will stop
    tifffile.imwrite(os.fspath(path), psf.astype(np.float32), photometric="minisblack",
                     metadata={"axes": axes})
    return psf


register_arch(
    "psf_cyclegan",
    PSFCycleGAN,
    PSFCycleGANConfig,
    tiny_config=TINY_CONFIG,
    description=(
        "CycleGAN with an explicit PSF layer (Lim et al. 2019): 2D/3D U-Net deblurring "
        "generator trained unpaired; the learned PSF can be exported for Richardson-Lucy."
    ),
    presets=PRESETS,
)
