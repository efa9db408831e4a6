"""Wiener U-Net: deep Wiener deconvolution with a learned prior, given the PSF.

The image formation is part of the network, so the PSF the user gives (from a bead image,
from optics, or a parametric model) decides what is undone, and the learned part only has to
know what clean images look like. After Dong, Roth and Schiele, "Deep Wiener deconvolution:
Wiener meets deep learning for image deblurring", NeurIPS 2020, with the noise-level map input
of DPIR (Zhang et al., TPAMI 2021):

    x, psf -> sigma = MAD of x's diagonal Haar band (noise level, per image)
           -> W_k = Wiener-Hunt(x, psf, balance_k = gain_k * sigma^2 + floor_k), k = 1..K
              (extended and cropped exactly as ``core.classical.wiener``: mirror, then a
              seamless fade, so borders are restored like the interior)
           -> U-Net([x, W_1..W_K, sigma map]) -> residual r   (x left out: blurred_input)
           -> y = W_mid + r          (W_mid: the middle balance)
           -> optionally (``data_step``) y' = argmin_u |psf * u - x|^2 + mu |L (u - y)|^2
              (L the Laplacian, mu learned): a closed-form data-consistency step that
              takes the lowest frequencies, where the PSF passes nearly everything, from the
              data and keeps the network's result where the Laplacian outweighs the PSF.

``gain_k`` and ``floor_k`` are learned scalars. The FFT part runs in float32 even under
autocast; the U-Net may run in bfloat16. The last convolution starts at zero, so an untrained
model returns its Wiener estimate (with an identity PSF and no noise: about the input).

deepinv (a PyTorch library of physics operators and unrolled / plug-and-play solvers) was
considered, but it depends on torchvision, which pins a different torch than this project
ships with; the Wiener step here is ~30 lines over ``core.classical``'s extension helpers.

Grayscale only (one channel in, one out): colour and multichannel images run channel by
channel, z-stacks plane by plane (see ``core.psf_aware``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from napari_microdeblur.core.classical import crop, extend, extension_plan
from napari_microdeblur.core.devices import fft_device, full_precision
from napari_microdeblur.core.registry import (
    WIDTH_LIMIT,
    describe_model,
    register_arch,
)

__all__ = [
    "Fourier", "WienerUNet", "WienerUNetConfig", "batched_wiener", "check_psf", "clipped_blocks",
    "noise_sigma",
]

_MAD_TO_SIGMA = 1.0 / 0.6745  # median |N(0, s)| = 0.6745 s
_SIGMA_MIN = 1e-3  # noise floor: keeps balance_k > 0 on noise-free inputs
#: noise_sigma also measures the noise of the 2 x 2 blocks brighter than this quantile of the
#: image and takes the larger level; None: the whole-image median only (how wiener_unet.psf_v1
#: to psf_v4 were trained). Chosen by benchmarks/noise_estimate_select.py on validation data
#: (0.5-0.99 tried; the real-defocus gain grew with it, the synthetic cost stayed within bounds).
BRIGHT_QUANTILE: float | None = 0.99
#: ... but over at least this many blocks: a 64 px patch has 1024, of which 1 % is too few.
MIN_BRIGHT_BLOCKS = 64
#: Given the PSF, noise_sigma also measures the noise where the PSF passes less than this
#: fraction of a frequency (|OTF| below it): there a blurred image holds nothing but the noise
#: added after the blur, while the diagonal Haar band of a textured image (EM) also holds detail
#: and the sample's own noise, both blurred. Where the blocked band reads lower, the estimate is
#: scaled down by the ratio. None: no such check (how psf_v1 to psf_v4 were trained, and the
#: default: at 0.001-0.05 it moved the validation mean by +0.005 to +0.007 dB and real defocus
#: not at all, short of what the rule for the PSF-aware default asks; on the EM sets'
#: training-split crops +0.03 to +0.09 dB under A, C and the widefield optics PSF, on the
#: brightfield ones -0.01 dB; benchmarks/noise_blocked_band_select.py).
BLOCKED_OTF: float | None = None
#: ... on at least this fraction of the frequencies; else (a PSF that blocks little, such as a
#: small disk) the Haar estimate stands.
MIN_BLOCKED_FRACTION = 0.02


class WienerUNetConfig(BaseModel):
    """Configuration of :class:`WienerUNet`."""

    model_config = ConfigDict(extra="forbid")

    in_channels: int = Field(1, ge=1, le=1, description="Image channels (grayscale only: 1).")
    out_channels: int = Field(1, ge=1, le=1, description="Output channels (1).")
    base_channels: int = Field(
        16, ge=1, le=WIDTH_LIMIT,
        description="Channels at full resolution; doubled at every U-Net level.",
    )
    levels: int = Field(3, ge=1, le=4, description="Downsamplings by 2 in the U-Net.")
    wiener_gains: tuple[float, ...] = Field(
        (10.0, 100.0, 1000.0),
        min_length=1,
        max_length=16,
        description=(
            "Initial balance_k / sigma^2 of the K Wiener estimates (learned from there); "
            "sigma is the estimated noise standard deviation on the model's intensity scale."
        ),
    )
    wiener_floor: float = Field(
        3e-4, gt=0, description="Initial additive balance of every Wiener estimate (learned)."
    )
    wiener_flat: float | None = Field(
        None, gt=0,
        description=(
            "Initial weight c of a flat term in the Wiener estimates' regulariser (learned from "
            "there): balance_k x (|L|^2 + c) instead of balance_k x |L|^2. A defocused or "
            "aberrated PSF's transfer function vanishes at low frequencies, where |L|^2 is "
            "tiny, and there the Laplacian alone lets noise through. None: Laplacian only "
            "(wiener_unet.psf_v1, psf_v2; psf_v3 and psf_v4 have it)."
        ),
    )
    blurred_input: bool = Field(
        True,
        description=(
            "Give the U-Net the blurred input beside the Wiener estimates. False: the Wiener "
            "estimates and the noise map only, as in Dong et al. With it, the U-Net learns that "
            "the input is right at low frequencies, which holds for compact PSFs only: given a "
            "PSF with wide wings it put the haze back (wiener_unet.psf_v1-v3 have it, psf_v4 "
            "does not)."
        ),
    )
    data_step: float | None = Field(
        None, gt=0,
        description=(
            "Initial weight mu of a final data-consistency step (learned from there): the "
            "output is refitted to the input, frequency by frequency, where the PSF passes "
            "more than mu x the Laplacian's |L|^2. None: no step (wiener_unet.psf_v1)."
        ),
    )


TINY_CONFIG = {"base_channels": 4, "levels": 1, "wiener_gains": (100.0,)}


def check_psf(psf: torch.Tensor, batch: int) -> torch.Tensor:
    """A (Y, X) or (N, Y, X) PSF -> (N, Y, X) float32 summing to 1; ValueError if unusable."""
    if not isinstance(psf, torch.Tensor):
        raise TypeError(f"psf is a {type(psf).__name__}; accepted: a torch.Tensor (Y, X)")
    if psf.ndim == 2:
        psf = psf.expand(batch, *psf.shape)
    if psf.ndim != 3 or psf.shape[0] not in (1, batch) or min(psf.shape[1:]) < 1:
        raise ValueError(
            f"psf has shape {tuple(psf.shape)}; accepted: (Y, X) or (N, Y, X) with N = {batch}"
        )
    psf = psf.detach().float().expand(batch, *psf.shape[1:])
    if not bool(torch.isfinite(psf).all()) or bool((psf < 0).any()):
        raise ValueError("psf holds negative, NaN or infinite values; accepted: finite values >= 0")
    total = psf.sum(dim=(1, 2), keepdim=True)
    if bool((total <= 0).any()):
        raise ValueError(f"psf (shape {tuple(psf.shape)}) sums to 0; accepted: a positive sum")
    return psf / total


def noise_sigma(x: torch.Tensor, psf: torch.Tensor | None = None) -> torch.Tensor:
    """(N, 1, 1, 1) noise standard deviation from the diagonal Haar band, floored at 1e-3.

    The diagonal band of a blurred image holds almost no signal, so it measures the noise
    (Donoho and Johnstone 1994): its median absolute value / 0.6745 over the whole image, or
    over its brightest 2 x 2 blocks (above ``BRIGHT_QUANTILE``, at least ``MIN_BRIGHT_BLOCKS``
    of them) where that is larger. Shot noise grows with brightness: in a fluorescence image
    that is mostly dark background the whole-image median measures the background's noise, and
    the network, told too low a level, sharpened the noise of the bright structures
    (benchmarks/noise_estimate_select.py). An image with a clipped plateau (``clipped_blocks``)
    is measured without the blocks that touch its maximum. With ``psf`` ((Y, X) or (N, Y, X)),
    scaled down to the noise level of the frequencies it blocks where that is lower
    (``BLOCKED_OTF``).
    """
    full = x
    h, w = (x.shape[-2] // 2) * 2, (x.shape[-1] // 2) * 2
    x = x[..., :h, :w]
    d = (x[..., 0::2, 0::2] - x[..., 0::2, 1::2] - x[..., 1::2, 0::2] + x[..., 1::2, 1::2]) / 2
    d = d.abs().flatten(1)
    mean = (x[..., 0::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 0::2]
            + x[..., 1::2, 1::2]).flatten(1)
    median, sigma = _haar_levels(d, mean)
    clipped = clipped_blocks(x)
    if clipped is not None:
        for i in torch.nonzero(clipped.any(dim=1)).flatten().tolist():
            kept = ~clipped[i]
            if bool(kept.any()):  # else all clipped: nothing to measure, as before
                one = _haar_levels(d[i : i + 1, kept], mean[i : i + 1, kept])
                median[i], sigma[i] = one[0][0], one[1][0]
    median, sigma = median * _MAD_TO_SIGMA, sigma * _MAD_TO_SIGMA
    if psf is not None and BLOCKED_OTF is not None:
        blocked = blocked_band_sigma(full, psf)
        ratio = torch.where(torch.isnan(blocked), torch.ones_like(blocked),
                            blocked / median.clamp_min(1e-12))
        sigma = sigma * ratio.clamp(max=1.0)
    return sigma.clamp_min(_SIGMA_MIN).reshape(-1, 1, 1, 1)


def _haar_levels(d: torch.Tensor, mean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(the whole-image median, the level ``noise_sigma`` takes: that or the brightest blocks'
    median, the larger), (N,) each, of the |diagonal Haar| values ``d`` of (N, blocks) 2 x 2
    blocks whose sums are ``mean``."""
    median = d.median(dim=1).values
    if BRIGHT_QUANTILE is None:
        return median, median.clone()
    n = mean.shape[1]
    k = max(1, min(round(BRIGHT_QUANTILE * n), n - MIN_BRIGHT_BLOCKS + 1))
    # the k-th smallest block mean, as the (n - k + 1)-th largest: topk is 10x faster than
    # a sort here, and MPS before torch 2.9 has no kthvalue
    level = mean.topk(n - k + 1, dim=1).values[:, -1:]
    # image by image (a few tiles), every block at or above the level (ties included)
    bright = torch.stack([di[mi >= li].median() for di, mi, li in zip(d, mean, level)])
    return median, torch.maximum(median, bright)


def clipped_blocks(x: torch.Tensor) -> torch.Tensor | None:
    """(N, blocks) bool: the 2 x 2 blocks of (N, 1, Y, X) ``x`` (even sides) that touch their
    image's maximum, in the images where at least one block lies flat at it (a clipped
    plateau); False in the others. None where no image has one: ``noise_sigma`` runs as before,
    bit for bit.

    A clipped plateau has no Haar detail and is the brightest part of its image, so it stood for
    the bright signal's noise: a 12-bit nuclei image with 1.3 % of its pixels clipped at 4095
    read 20 counts instead of 61, and the network's result fell 1.7 dB under the blurred input
    (far from the plateaus). A blood smear with a third of its background blown out to white
    lost half its level in the whole-image median as well. Left out of both, the estimate came
    back to 0.96 of the unclipped nuclei's, and both results to within 0.2 dB of the unclipped
    runs. Leaving out only the flat blocks, not their rim of partly clipped ones, came back to
    0.70 (0.3 dB short; at 6.7 % clipped, 2.9 dB). Flat alone is not clipping: 8-bit EM and
    other quantised images hold flat blocks below their maximum, and those stay in. Test images
    that are themselves saturated, degraded as benchmarks/generalization.py does: 29 of 128
    crops changed, by -0.22 to +0.28 dB (mean +0.02).
    """
    x = x[..., : x.shape[-2] // 2 * 2, : x.shape[-1] // 2 * 2]  # whole 2 x 2 blocks only
    top = x.amax(dim=(-3, -2, -1), keepdim=True)
    corners = [x[..., 0::2, 0::2] == top, x[..., 0::2, 1::2] == top,
               x[..., 1::2, 0::2] == top, x[..., 1::2, 1::2] == top]
    flat = (corners[0] & corners[1] & corners[2] & corners[3]).flatten(1).any(dim=1)
    if not bool(flat.any()):
        return None
    touching = (corners[0] | corners[1] | corners[2] | corners[3]).flatten(1)
    return touching & flat[:, None]


def blocked_band_sigma(x: torch.Tensor, psf: torch.Tensor) -> torch.Tensor:
    """(N,) noise standard deviation of (N, 1, Y, X) ``x`` from its power at the frequencies
    ``psf`` passes less than ``BLOCKED_OTF`` of, under a Hann window (against the tile's edges);
    NaN where those are fewer than ``MIN_BLOCKED_FRACTION`` or the PSF is larger than ``x``."""
    home = x.device
    x = x.to(fft_device(home))
    n, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    psf = psf.float().to(x.device)
    psf = psf.expand(n, *psf.shape[-2:]) if psf.ndim == 2 else psf
    ky, kx = psf.shape[-2:]
    if ky > h or kx > w:
        return torch.full((n,), float("nan"), device=home)
    big = torch.zeros((psf.shape[0], h, w), device=x.device)
    big[:, :ky, :kx] = psf / psf.sum(dim=(-2, -1), keepdim=True)
    big = torch.roll(big, shifts=(-(ky // 2), -(kx // 2)), dims=(1, 2))
    blocked = torch.fft.rfft2(big).abs() < BLOCKED_OTF  # (N or 1, Y, X // 2 + 1)
    window = torch.outer(torch.hann_window(h, periodic=False, device=x.device),
                         torch.hann_window(w, periodic=False, device=x.device))
    t = x.float().reshape(n, h, w)
    t = (t - t.mean(dim=(-2, -1), keepdim=True)) * window
    power = torch.fft.rfft2(t).abs() ** 2
    # the rfft half-plane: the columns other than 0 and Nyquist stand for two frequencies each
    weight = torch.full((w // 2 + 1,), 2.0, device=x.device)
    weight[0] = 1.0
    if w % 2 == 0:
        weight[-1] = 1.0
    mask = blocked.float() * weight
    count = mask.sum(dim=(-2, -1))
    mean_power = (power * mask).sum(dim=(-2, -1)) / count.clamp_min(1e-12)
    sigma = torch.sqrt(mean_power / (window**2).sum())
    return torch.where(count >= MIN_BLOCKED_FRACTION * h * w, sigma,
                       torch.full_like(sigma, float("nan"))).to(home)


class Fourier:
    """The mirror-extended image, the PSF's transfer function and the Laplacian's |L|^2 on one
    FFT grid: what the Wiener estimates and the data-consistency step share (float32). They
    live where ``devices.fft_device`` says (the CPU on an MPS without FFTs); the images
    ``image`` gives are on ``x``'s device (autograd follows the moves)."""

    def __init__(self, x: torch.Tensor, psf: torch.Tensor):
        self.home, self.where = x.device, fft_device(x.device)
        x, psf = x.to(self.where), psf.to(self.where)
        self.spatial = tuple(x.shape[-2:])
        kshape = tuple(psf.shape[-2:])
        self.plan = extension_plan(self.spatial, kshape)
        extended = extend(x.float(), self.plan)
        self.shape = tuple(extended.shape[-2:])
        big = torch.zeros((psf.shape[0], *self.shape), dtype=torch.float32, device=x.device)
        big[:, : kshape[0], : kshape[1]] = psf
        big = torch.roll(big, shifts=(-(kshape[0] // 2), -(kshape[1] // 2)), dims=(1, 2))
        self.otf = torch.fft.rfft2(big).unsqueeze(1)  # (N, 1, Fy, Fx)
        fy = torch.fft.fftfreq(self.shape[0], device=x.device)
        fx = torch.fft.rfftfreq(self.shape[1], device=x.device)
        lap = (2 - 2 * torch.cos(2 * math.pi * fy))[:, None] + (2 - 2 * torch.cos(2 * math.pi * fx))
        self.lap2 = lap**2
        self.x_hat = torch.fft.rfft2(extended)

    def spectrum(self, t: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft2(extend(t.float().to(self.where), self.plan))

    def image(self, spectrum: torch.Tensor) -> torch.Tensor:
        return crop(torch.fft.irfft2(spectrum, s=self.shape), self.plan, self.spatial).to(
            self.home)

    def wiener(self, balance: torch.Tensor, flat: torch.Tensor | None = None) -> torch.Tensor:
        """(N, K, Y, X) Wiener-Hunt estimates for (N, K) balances; ``flat``: a constant added
        to the Laplacian's |L|^2 in the regulariser."""
        otf = self.otf
        reg = self.lap2 if flat is None else self.lap2 + flat.to(self.where)
        filt = otf.conj() / (otf.abs() ** 2 + balance.to(self.where)[:, :, None, None] * reg)
        return self.image(self.x_hat * filt)

    def data_step(self, y: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """argmin_u |psf * u - x|^2 + mu |L (u - y)|^2 for (N, 1, Y, X) ``y``."""
        otf, weight = self.otf, mu.to(self.where) * self.lap2
        return self.image((otf.conj() * self.x_hat + weight * self.spectrum(y))
                          / (otf.abs() ** 2 + weight))


def batched_wiener(x: torch.Tensor, psf: torch.Tensor, balance: torch.Tensor) -> torch.Tensor:
    """Wiener-Hunt deconvolutions of (N, 1, Y, X) ``x``, one PSF per image, K balances each.

    ``psf``: (N, ky, kx) summing to 1; ``balance``: (N, K). Returns (N, K, Y, X). The same
    filter and boundary handling as ``core.classical.wiener`` (Laplacian regulariser), in float32.
    """
    return Fourier(x, psf).wiener(balance)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.ReLU(inplace=True),
    )


class WienerUNet(nn.Module):
    """Deep Wiener deconvolution with a U-Net prior; ``forward(x, psf)``.

    Keyword arguments are the fields of :class:`WienerUNetConfig`.
    """

    spatial_dims = 2
    needs_psf = True
    exact_tiling = False  # the noise level is estimated per tile
    #: the PSF ``forward(x)`` uses when none is given (``bind_psf``): training on pairs calls
    #: ``model(x)`` like any network's. Not a buffer: it is not saved with the weights.
    bound_psf: torch.Tensor | None = None
    #: ... and the noise scale it multiplies in then (fine-tuning at a calibrated scale)
    bound_noise_scale: float = 1.0

    def __init__(self, **kwargs):
        super().__init__()
        cfg = WienerUNetConfig(**kwargs)
        describe_model(self, cfg, size_divisor=2**cfg.levels)
        k = len(cfg.wiener_gains)
        # logs taken in Python: a tensor op here, under the loader's meta device, imported
        # torch's compiler stack (1.2 s and 70 MB per process)
        self.log_gain = nn.Parameter(torch.tensor([math.log(g) for g in cfg.wiener_gains],
                                                  dtype=torch.float32))
        self.log_floor = nn.Parameter(torch.full((k,), math.log(cfg.wiener_floor)))
        self.mid = k // 2
        if cfg.data_step is not None:
            self.log_data_step = nn.Parameter(torch.tensor(math.log(cfg.data_step)))
        if cfg.wiener_flat is not None:
            self.log_wiener_flat = nn.Parameter(torch.tensor(math.log(cfg.wiener_flat)))
        widths = [cfg.base_channels * 2**i for i in range(cfg.levels + 1)]
        # inputs: [the blurred image,] the K Wiener estimates, the noise map
        self.enc = nn.ModuleList([_block(k + 1 + int(cfg.blurred_input), widths[0])])
        self.down = nn.ModuleList()
        for i in range(cfg.levels):
            self.down.append(nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1))
            self.enc.append(_block(widths[i + 1], widths[i + 1]))
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in reversed(range(cfg.levels)):
            self.up.append(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2))
            self.dec.append(_block(2 * widths[i], widths[i]))
        self.tail = nn.Conv2d(widths[0], 1, 3, padding=1)
        nn.init.zeros_(self.tail.weight)  # untrained: the Wiener estimate itself
        nn.init.zeros_(self.tail.bias)
        # 3x3 convolutions: two per block per level on the way down and up, at scale 2^level;
        # the stride-2 and transposed convolutions add about one coarse pixel each.
        rf = 1
        for i in range(cfg.levels + 1):
            rf += 2 * 2**i * (2 if i < cfg.levels else 1)  # encoder + decoder blocks
            rf += 2**i  # down / up
        self.receptive_field = int(rf + 1)  # + tail

    def bind_psf(self, psf: torch.Tensor | None, noise_scale: float = 1.0) -> None:
        """Make ``forward(x)`` use ``psf`` (Y, X) when it is given none, with its noise level
        times ``noise_scale``; None unbinds."""
        self.bound_psf = None if psf is None else check_psf(psf, 1)[0]
        self.bound_noise_scale = 1.0 if psf is None else float(noise_scale)

    def balances(self, sigma: torch.Tensor) -> torch.Tensor:
        """(N, K) Wiener balances for noise levels ``sigma`` (N, 1, 1, 1)."""
        return self.log_gain.exp() * sigma.reshape(-1, 1) ** 2 + self.log_floor.exp()

    def wiener_estimates(self, fourier: Fourier, sigma: torch.Tensor) -> torch.Tensor:
        """(N, K, Y, X) the K Wiener estimates the U-Net is given, for noise levels ``sigma``
        (N, 1, 1, 1): the learned balances and, where the config has it, the flat term."""
        flat = None if self.config.wiener_flat is None else self.log_wiener_flat.exp()
        return fourier.wiener(self.balances(sigma), flat)

    def forward(self, x: torch.Tensor, psf: torch.Tensor | None = None,
                noise_scale: float = 1.0, sigma: torch.Tensor | None = None,
                unet_pad: int | tuple[int, int] = 0) -> torch.Tensor:
        """``noise_scale`` multiplies the estimated noise level: above 1 the Wiener estimates
        and the U-Net regularise more, for a PSF that is only approximately right. ``sigma``
        (N values): the noise level to use instead of estimating it from ``x`` (for an ``x``
        extended beyond the image, whose mirrored pixels would bias the estimate).
        ``unet_pad``: mirror this many pixels around the U-Net's input (the estimates and the
        noise map), cropped from its output: the U-Net's outer pixels are untrained, while the
        Fourier steps extend the image themselves (extending the image instead changes their
        FFT grid, which costs dB where the PSF's transfer function crosses zero)."""
        n, c, h, w = x.shape
        if c != 1:
            raise ValueError(f"x has {c} channels; accepted: (N, 1, Y, X), one channel")
        if psf is None:
            if self.bound_psf is None:
                raise ValueError("WienerUNet needs the PSF: forward(x, psf), or bind_psf(psf) "
                                 "first")
            psf = self.bound_psf
            noise_scale = noise_scale * self.bound_noise_scale
        psf = check_psf(psf.to(x.device), n)
        if psf.shape[1] > h or psf.shape[2] > w:
            raise ValueError(
                f"psf shape {tuple(psf.shape[1:])} is larger than the image ({h}, {w}); "
                "accepted: a PSF no larger than the image"
            )
        with full_precision(x.device.type):
            x32 = x.float()
            sigma = (noise_sigma(x32, psf) if sigma is None
                     else sigma.float().reshape(-1, 1, 1, 1).to(x.device)) * noise_scale
            fourier = Fourier(x32, psf)
            est = self.wiener_estimates(fourier, sigma)
        residual = self.unet_residual(est, sigma, unet_pad, x32 if self.config.blurred_input
                                      else None)
        y = est[:, self.mid : self.mid + 1] + residual
        if self.config.data_step is None:
            return y
        with full_precision(x.device.type):
            return fourier.data_step(y, self.log_data_step.exp())

    def unet_residual(self, est: torch.Tensor, sigma: torch.Tensor,
                      unet_pad: int | tuple[int, int] = 0,
                      blurred: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 1, Y, X) the U-Net's correction to the middle Wiener estimate, given the (N, K,
        Y, X) estimates ``est``, noise levels ``sigma`` (N, 1, 1, 1) and, for a config with
        ``blurred_input``, the blurred image."""
        n, _, h, w = est.shape
        feats = [est, sigma.expand(n, 1, h, w) * 10.0]
        feats = torch.cat(feats if blurred is None else [blurred, *feats], dim=1)
        # one mirror for both axes, or (Y, X): a strip 24 px high keeps its long axis's
        py, px = (int(unet_pad), int(unet_pad)) if isinstance(unet_pad, (int, float)) else (
            int(unet_pad[0]), int(unet_pad[1]))
        if py or px:
            feats = F.pad(feats, (px, px, py, py),
                          mode="reflect" if h > py and w > px else "replicate")
        # the U-Net needs sides divisible by size_divisor: pad by edge values, crop afterwards
        d = self.size_divisor
        ph, pw = (-(h + 2 * py)) % d, (-(w + 2 * px)) % d
        if ph or pw:
            feats = F.pad(feats, (0, pw, 0, ph), mode="replicate")
        skips = []
        f = self.enc[0](feats)
        for down, enc in zip(self.down, self.enc[1:]):
            skips.append(f)
            f = enc(down(f))
        for up, dec in zip(self.up, self.dec):
            f = dec(torch.cat([up(f), skips.pop()], dim=1))
        return self.tail(f)[..., py : py + h, px : px + w].float()


register_arch(
    "wiener_unet",
    WienerUNet,
    WienerUNetConfig,
    tiny_config=TINY_CONFIG,
    description=(
        "Deep Wiener deconvolution (Dong et al., NeurIPS 2020) with a noise-level-aware U-Net "
        "prior: needs the PSF (forward(x, psf)); grayscale, any microscopy modality."
    ),
)
