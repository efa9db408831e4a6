"""Losses of the training regimes: content (L1, MSE, multi-scale), perceptual (VGG-19 from a
local file) and the differentiable augmentation of the semi-supervised regime."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..shown import first_line

__all__ = [
    "MICROSCOPY_FEATURES",
    "MicroscopyFeatures",
    "VGGFeatures",
    "content_loss",
    "diff_augment",
    "multiscale_l1",
    "perceptual_loss",
]


def multiscale_l1(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """Multi-scale L1 (eq. 5 of Wang and Han, "Defocus deblur microscopy via feature interactive
    coarse-to-fine network"): the sum over levels of the mean absolute error, coarse to fine,
    which the paper prefers to the squared error; returns (loss, finest prediction). A network
    with its own pyramid is scored on its levels: a 1-level C2F U-Net on plain L1, as eq. 5
    with N = 1 (benchmarks/model_size.py's Table 1 row, and runs it resumes, trained so). A
    network without one (gran, sgpn, ...) is scored on 2x-pooled copies of its output too."""
    if hasattr(model, "forward_pyramid"):
        outs = model.forward_pyramid(x)
        if hasattr(model, "input_pyramid"):
            targets = model.input_pyramid(y)
        else:
            targets = [y]
            for _ in range(len(outs) - 1):
                targets.append(F.avg_pool2d(targets[-1], 2))
            targets = targets[::-1]
        loss = sum(F.l1_loss(o.float(), t.float()) for o, t in zip(outs, targets, strict=True))
        return loss, outs[-1]
    pred = model(x)
    loss = F.l1_loss(pred.float(), y.float())
    p, t = pred.float(), y.float()
    for _ in range(2):
        if min(p.shape[-2:]) < 8:
            break
        p, t = F.avg_pool2d(p, 2), F.avg_pool2d(t, 2)
        loss = loss + F.l1_loss(p, t)
    return loss, pred


def content_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, kind: str):
    """(content loss, prediction) for loss kind l1 / mse / multiscale."""
    if kind == "multiscale":
        return multiscale_l1(model, x, y)
    pred = model(x)
    if kind == "mse":
        return F.mse_loss(pred.float(), y.float()), pred
    return F.l1_loss(pred.float(), y.float()), pred


# torchvision's VGG-19 configuration up to conv3_3 (SGPN takes its feature maps): layer
# indices match torchvision's ``features`` so its state dict loads; conv3_3 is index 14
VGG19_LAYERS = [64, 64, "M", 128, 128, "M", 256, 256, 256]


class VGGFeatures(nn.Module):
    """VGG-19 feature extractor up to conv3_3, weights from a local file (never downloaded).

    ``weights_path``: a ``.safetensors`` or ``.pth``/``.pt`` state dict of torchvision's
    ``vgg19`` (``features.N.weight`` keys; a bare ``N.weight`` layout is accepted too), read
    with ``weights_only=True``. Input in [0, 1] (model units), gray repeated to RGB, ImageNet
    mean/std applied.
    """

    def __init__(self, weights_path: str | os.PathLike | None = None):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in VGG19_LAYERS:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                cin = int(v)
        layers.pop()  # end at conv3_3 itself, before its ReLU
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        if weights_path is not None:
            self.load_weights(weights_path)
        self.requires_grad_(False)
        self.eval()

    def load_weights(self, path: str | os.PathLike) -> None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"vgg_weights={str(path)!r} is not a file")
        unreadable = f"vgg_weights={str(path)!r} is not a VGG-19 weights file PyTorch can read"
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            try:
                sd = load_file(str(path))
            except Exception as exc:  # noqa: BLE001 - SafetensorError and others: one line
                raise ValueError(f"{unreadable} (not a readable safetensors file: "
                                 f"{first_line(exc)})") from None
        else:
            try:
                sd = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # noqa: BLE001 - one clear message
                from .checkpoints import unreadable_reason

                raise ValueError(f"{unreadable} ({unreadable_reason(exc)})") from None
            if isinstance(sd, Mapping) and "state_dict" in sd:
                sd = sd["state_dict"]
        if not isinstance(sd, Mapping):
            raise ValueError(f"vgg_weights={str(path)!r} holds no state dict")
        own = self.features.state_dict()
        picked = {}
        for key in own:
            for cand in (f"features.{key}", key):
                if cand in sd:
                    picked[key] = sd[cand]
                    break
        missing = sorted(set(own) - set(picked))
        if missing:
            raise ValueError(
                f"vgg_weights={str(path)!r} lacks VGG-19 layers {missing[:4]} (expected "
                "torchvision's vgg19 state dict, keys features.0.weight ...)"
            )
        bad = [k for k in own if tuple(picked[k].shape) != tuple(own[k].shape)]
        if bad:
            raise ValueError(f"vgg_weights={str(path)!r}: shapes do not fit VGG-19 at {bad[:3]}")
        self.features.load_state_dict(picked)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        elif x.shape[1] != 3:
            x = x.mean(1, keepdim=True).repeat(1, 3, 1, 1)
        return self.features((x - self.mean) / self.std)


#: the bundled network whose encoder gives the offline perceptual features
MICROSCOPY_FEATURES = "c2f_unet.em_v2"


class MicroscopyFeatures(nn.Module):
    """Perceptual features that need no download: the first three encoder blocks (full, 1/2
    and 1/4 resolution; 8, 16, 32 channels) of the finest level of a bundled v2 blind network,
    a C2F U-Net trained in this project on six microscopy sets, frozen. That level reads the
    image together with the coarser levels' estimate of it; both are the image here. Colour
    is averaged to gray."""

    def __init__(self, name: str = MICROSCOPY_FEATURES):
        super().__init__()
        from ..bundled import load_bundled

        model, _ = load_bundled(name)
        self.source = name
        self.blocks = nn.ModuleList(list(model.nets[0].enc)[:3])
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> MicroscopyFeatures:  # frozen BatchNorm statistics
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[1] != 1:
            x = x.mean(1, keepdim=True)
        h = torch.cat([x, x], 1)
        features = []
        for i, block in enumerate(self.blocks):
            if i:
                h = F.max_pool2d(h, 2)
            h = block(h)
            features.append(h)
        return features


def diff_augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Differentiable augmentation T of SGPN (Zhao et al. 2020, "Differentiable augmentation for
    data-efficient GAN training"): colour, translation, cutout.

    Brightness (+U(-0.5, 0.5)), saturation (x U(0, 2), RGB only) and contrast (x U(0.5, 1.5));
    translation by up to 1/8 of the side with zero padding; one cutout of half the side. Random
    numbers come from ``generator`` (CPU), so runs repeat.
    """
    n, c, h, w = x.shape
    dev = x.device

    def rand(*shape):
        return torch.rand(*shape, generator=generator).to(dev, x.dtype)

    x = x + (rand(n, 1, 1, 1) - 0.5)
    if c == 3:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (rand(n, 1, 1, 1) * 2) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    x = (x - mean) * (rand(n, 1, 1, 1) + 0.5) + mean
    # translation
    sy, sx = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
    ty = torch.randint(-sy, sy + 1, (n, 1, 1), generator=generator).to(dev)
    tx = torch.randint(-sx, sx + 1, (n, 1, 1), generator=generator).to(dev)
    gb, gy, gx = torch.meshgrid(
        torch.arange(n, device=dev),
        torch.arange(h, device=dev),
        torch.arange(w, device=dev),
        indexing="ij",
    )
    gy = torch.clamp(gy + ty + 1, 0, h + 1)
    gx = torch.clamp(gx + tx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    x = padded.permute(0, 2, 3, 1)[gb, gy, gx].permute(0, 3, 1, 2)
    # cutout
    cy, cx = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
    oy = torch.randint(0, h + (1 - cy % 2), (n, 1, 1), generator=generator).to(dev)
    ox = torch.randint(0, w + (1 - cx % 2), (n, 1, 1), generator=generator).to(dev)
    gb, gy, gx = torch.meshgrid(
        torch.arange(n, device=dev),
        torch.arange(cy, device=dev),
        torch.arange(cx, device=dev),
        indexing="ij",
    )
    gy = torch.clamp(gy + oy - cy // 2, 0, h - 1)
    gx = torch.clamp(gx + ox - cx // 2, 0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=dev)
    mask[gb, gy, gx] = 0
    return x * mask.unsqueeze(1)


def perceptual_loss(features: nn.Module, pred: torch.Tensor, target: torch.Tensor
                    ) -> torch.Tensor:
    """VGGFeatures: mean squared distance of the conv3_3 features (SGPN's perceptual term).
    MicroscopyFeatures: the squared distance of each block's features relative to the
    target's mean square (the blocks' scales differ), averaged over the blocks."""
    fp, ft = features(pred.float()), features(target.float())
    if isinstance(fp, torch.Tensor):
        return F.mse_loss(fp, ft)
    terms = [F.mse_loss(a, b) / b.detach().pow(2).mean().clamp_min(1e-8)
             for a, b in zip(fp, ft, strict=True)]
    return torch.stack(terms).mean()
