"""A PSF-aware network (``needs_psf``, ``forward(x, psf)``) bound to one PSF as a tileable Method.

The network is grayscale and 2D: RGB images run in an opponent colour space (``OPPONENT``),
other multichannel images channel by channel, and z-stacks plane by plane (the tiler loops over
every axis that is not Y, X). A 3D PSF is
reduced to its in-focus plane (the plane holding the brightest pixel) and the Method's
``parameters`` say so; the network does not deconvolve along Z. The U-Net's input is extended
by ``BORDER_PAD`` mirrored pixels, past the reach of its convolutions' zero padding (a network
without ``unet_pad`` gets the tile extended by ``IMAGE_PAD`` instead) and ``noise_scale`` scales
the noise level it
estimates once per plane, on the whole plane, for all its tiles (``_PsfRunner.start_plane``);
a caller that runs a plane in pieces (``core.cluster``: the chunks of a plane wider than a
chunk) gives every piece the whole plane's (``PIECE_OF_PLANE``, ``plane_noise_levels``).

Safeguard (``core.psf_safeguard``, on by default): a PSF far wider than any trained on runs a
conservative Wiener (``psf_safeguard.conservative_wiener``) instead, and a plane whose result
departs from what the PSF can explain is blended toward that Wiener; each says so in one warning
line. A plane no larger than ``default_tile`` cut into several tiles (a custom tile) is
judged once, as a whole, and every tile takes that share; a larger plane, tile by tile.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import warnings
from contextvars import ContextVar

import numpy as np
import torch
from torch import nn

from . import classical, psf_safeguard
from .archs.wiener_unet import noise_sigma
from .devices import full_precision, release_cached
from .method import DEFAULT_TILE, Method, NetworkRunner, classical_method
from .notes import DeblurNote, DeblurWarning
from .psf import in_focus_plane
from .tiling import is_out_of_memory

__all__ = [
    "CALIBRATED_NOISE_SCALE_KEY", "DEFAULT_PSF_AWARE", "NOISE_SCALE_GRID", "OPPONENT",
    "OPPONENT_PARTS", "PIECE_OF_PLANE", "PlanePiece", "calibrate_noise_scale",
    "calibrated_noise_scale", "from_opponent",
    "in_focus_plane", "load_psf_aware", "plane_kernel", "psf_aware_method", "to_opponent",
    "forward_takes", "unet_mirror",
]

#: The bundled PSF-aware weights that ``MethodSpec(name='auto', psf=...)`` resolves to.
DEFAULT_PSF_AWARE = "wiener_unet.psf_v4"
#: Pixels of mirror added on every side of the U-Net's input, removed after: the training loss
#: leaves out a 16 px margin of each patch (scripts/train_psf_aware.py), so the U-Net's outer
#: pixels are untrained. Without it, psf_v2 lost 3 dB in a 12 px band along the image border on
#: noisy RGB brightfield (benchmarks/generalization.py, protocol B). Mirroring the U-Net's input
#: (``WienerUNet.forward(unet_pad=)``), not the image: extending the image changes the FFT grid
#: of the Wiener steps, which cost psf_v4 0.8-1.1 dB with aberrated PSFs on the validation
#: planes (benchmarks/psf_aware_select.py, 256 px: 24.28 against 25.08 dB; protocol B level).
#: In the outer 16 px band protocol B keeps most of the border gain (31.09 dB against 31.42
#: with the image extended, 27.80 with neither); the other classes score higher there.
#: The noise level is estimated on the image itself (on a mirrored extension it came out up to
#: 5 % lower and cost 0.35 dB on noisy fluorescence).
#: 48, not the loss margin (16): the zero padding of the U-Net's convolutions reaches about 55 px
#: inward (its gradient's support; 99.98 % of its weight within 48 px), and on a shot-noise image
#: (dark background, noise level set by the bright structures) the U-Net answered it with a bump
#: peaking about 20 px inside its input. At 16 px of mirror that bump sat on the image's edge, and
#: the data-consistency step, which mirrors the estimate at the edge, kept the kink of it: a
#: dark-then-bright band (a 0-3000 photon Hoechst crop, gaussian:1.6: row 0 -53 photons, rows
#: 3-6 +20..+26, a 10-photon corner read 1). At 48 the band is within 5 photons of the interior,
#: as with a wider mirror (64, 96: the same to 0.3 photons); at 32 it flipped sign (row 0 +32).
#: Border-excluded PSNR: +0.0006 dB on average (-0.002 to +0.011 per image; whole image +0.03)
#: on 2 images of 4 of generalization.py's sets under its 5 degradations, 256 px crops. Cost:
#: the U-Net's area, (n + 96)^2 against (n + 32)^2: a 1024 px tile's forward +9 % CPU time,
#: a 256 px image's +47 % (0.14 to 0.20 s, float32, one thread).
BORDER_PAD = 48
#: A network without ``unet_pad`` gets the tile itself extended by this many mirrored pixels.
IMAGE_PAD = 16
#: The noise level is estimated once per plane, on the whole plane (a centred crop of at most
#: this many pixels a side of a larger one), and every tile of it uses it: estimated tile by
#: tile it changed with the tile size (0.044 to 0.079 on the 160 px tiles of a 256 px ssTEM
#: crop, 0.053 on the whole), and a tiled result departed from the untiled one by up to 17 %
#: of the range, where the README promises 1e-4.
PLANE_NOISE_MAX_SIDE = 2048
#: RGB runs as three grayscale images in an orthonormal opponent colour space (luminance,
#: red - blue, red + blue - 2 green: the transform of colour BM3D, Dabov et al., ICIP 2007)
#: instead of as R, G and B. One PSF blurs every channel, so a blur commutes with any mix of
#: them; an orthonormal mix keeps white noise white at the same level; and stained or coloured
#: samples put most of their detail in the luminance (with sqrt(3) x the signal of one channel
#: against the same noise) and little in the smooth chroma channels. On the Kather H&E training
#: tiles (validation, not a benchmark test set) it gained +0.49 / +0.68 / +0.49 dB over channel
#: by channel under protocols A / B / C with psf_v4 and the true PSF, with the noise level
#: shared as below (benchmarks/psf_aware_colour.py).
OPPONENT = np.array([[1, 1, 1], [1, 0, -1], [1, -2, 1]]) / np.sqrt([[3.0], [2.0], [6.0]])
#: The mix is divided by sqrt(3), so the luminance is the mean of R, G and B, in the [0, 1]
#: range the network was trained on (unscaled, spanning 0 to sqrt(3), it scored 0.13-0.19 dB
#: lower on the tiles above), and the chroma channels are centred on 0.5. A
#: blur keeps a constant (its PSF sums to 1) and a uniform scale keeps white noise white, so
#: both commute with the blur too.
OPPONENT_GAIN = float(np.sqrt(3.0))
OPPONENT_OFFSET = (0.0, 0.5, 0.5)
#: What the three opponent channels are called where a user sees them.
OPPONENT_PARTS = ("luminance", "chroma 1", "chroma 2")
#: The mix is orthonormal (up to the common scale), so noise of one level in R, G and B has that
#: same level in all three opponent channels: they share one estimate, the lowest of the three.
#: Each channel's own estimate is raised by the detail its diagonal Haar band holds, most in
#: the luminance (per channel: 0.10-0.17 dB lower on the tiles above given the true PSF; with a
#: PSF estimated from the image -0.09 / +0.17 / -0.11 dB under A / B / C).
SHARE_NOISE_LEVEL = True
#: The chroma channels are deconvolved with the shared noise level times this. A stained
#: sample's chroma channels hold far less signal than its luminance at every frequency, and for
#: the same noise a Wiener filter regularises a channel with less signal more; the network,
#: trained on grayscale images, does not see that. Chosen on the Kather H&E training tiles
#: (benchmarks/psf_aware_chroma_select.py: of 1.15, 1.3 and 1.5, the best mean gain, +0.01 to
#: +0.07 dB under protocols A, B and C given the true PSF or estimating it; 1.5 lost 0.03 dB
#: under B); 1 is the same level as the luminance.
CHROMA_NOISE_SCALE = 1.3
#: Fine-tuning a PSF-aware network on pairs (``core.finetune``) tries these noise scales on
#: its held-out region, before training (it trains at the best) and after; the best after is
#: written into the kept weights' card under ``CALIBRATED_NOISE_SCALE_KEY`` and every later run
#: of those weights multiplies its noise level by it (times the user's ``noise_scale``). What
#: level a sample wants is a property of the sample (an earlier check on ssTEM training slices:
#: psf_v4 at 0.5 instead of 1 gained 0.4 dB on one set and lost 0.5-0.8 dB on the other).
NOISE_SCALE_GRID = (0.5, 0.6, 0.7, 0.85, 1.0, 1.2, 1.4, 1.7, 2.0)
#: ... but only where it beats 1 by this much on the held-out region: less is within what one
#: region can tell apart.
NOISE_SCALE_MIN_GAIN_DB = 0.05
CALIBRATED_NOISE_SCALE_KEY = "calibrated_noise_scale"
#: the card's record of the PSF fine-tuning bound (the spec as given, 'array' for an array), so
#: a run without one can name it (cli_info_weights)
FINETUNED_PSF_KEY = "finetuned_psf"


#: Why the caller deblurs the planes of a z-stack one by one (``core.selective`` for the
#: CLI's --focus-below), said by ``plane_kernel`` in place of what a 3D PSF is for
PLANES_ALONE: ContextVar[str | None] = ContextVar("planes_alone", default=None)


@dataclasses.dataclass(frozen=True)
class PlanePiece:
    """What the plane a run holds a piece of gives that piece (``PIECE_OF_PLANE``): its noise
    levels (``_PsfRunner.plane_noise_levels`` of the whole plane: (C,) float32), or None for a
    network that estimates its own."""

    levels: np.ndarray | None


#: Set by a caller that runs each plane of its image as a piece of a larger plane (``core.
#: cluster``: a chunk of a plane wider than a chunk): every tile uses the whole plane's noise
#: levels, not the piece's (estimated on each chunk, a 2600 px EM plane's two chunks came out
#: 0.043 and 0.058 against the plane's 0.055, and the result up to 20 grey levels from one
#: machine's), and the safeguard judges tile by tile, as for a plane larger than its crop.
PIECE_OF_PLANE: ContextVar[PlanePiece | None] = ContextVar("piece_of_plane", default=None)


def plane_kernel(psf) -> tuple[np.ndarray, str]:
    """(2D float32 kernel summing to 1, a short description of where it came from): what a
    grayscale 2D PSF-aware network is given for ``psf`` (a model text, a TIFF path, an array;
    a 3D PSF gives its in-focus plane)."""
    from .psf import check_psf, parse_psf

    if isinstance(psf, str) or hasattr(psf, "__fspath__"):
        kernel, spec = parse_psf(psf), str(psf)
    elif isinstance(psf, torch.Tensor):
        kernel, spec = psf.detach().cpu().numpy(), "array"
    elif isinstance(psf, np.ndarray):
        kernel, spec = psf, "array"
    else:
        raise TypeError(
            f"psf is a {type(psf).__name__}; accepted: a numpy array, a torch tensor, a TIFF "
            "path or a model such as 'gaussian:1.6'"
        )
    if kernel.ndim not in (2, 3):
        raise ValueError(f"psf has shape {kernel.shape}; accepted: a 2D (Y, X) or 3D (Z, Y, X) PSF")
    # the same value checks (NaN, negatives, zeros) as every other PSF, then the in-focus plane
    planes = kernel.shape[0] if kernel.ndim == 3 else 1
    kernel, plane = in_focus_plane(check_psf(kernel, kernel.ndim))
    if plane is not None:
        # the network sees one plane at a time: light other planes send into it stays. The
        # image is not known here: the words hold for a 2D image too, on which richardson_lucy
        # and wiener refuse a 3D PSF (they said 'deconvolve in 3D' there as well)
        spec += f" (3D, in-focus plane z={plane} of {planes} used: the network takes a 2D PSF)"
        if planes > 1:
            # a caller that deblurs a z-stack plane by plane knows why it is the plane here
            why = PLANES_ALONE.get() or ("a 3D PSF is for z-stacks (richardson_lucy and "
                                         "wiener deconvolve them in 3D), a 2D image takes a "
                                         "2D PSF (they refuse a 3D one)")
            warnings.warn(f"the PSF-aware network takes a 2D PSF: the 3D PSF's in-focus "
                          f"plane (z={plane} of {planes}) is used for every plane of the image; "
                          f"{why}", DeblurNote, stacklevel=2)
    if kernel.sum() <= 0:
        raise ValueError("the in-focus plane of the 3D psf sums to 0; accepted: a positive sum")
    return (kernel / kernel.sum()).astype(np.float32), spec


def to_opponent(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in model units -> (B, 3, H, W) luminance and chroma (float32)."""
    mix = torch.as_tensor(OPPONENT / OPPONENT_GAIN, dtype=torch.float32, device=rgb.device)
    offset = torch.tensor(OPPONENT_OFFSET, dtype=torch.float32, device=rgb.device)
    return torch.einsum("ij,bjhw->bihw", mix, rgb.float()) + offset.view(1, 3, 1, 1)


def from_opponent(opp: torch.Tensor) -> torch.Tensor:
    """The inverse of ``to_opponent`` (the mix is orthonormal: its inverse is its transpose)."""
    mix = torch.as_tensor(OPPONENT * OPPONENT_GAIN, dtype=torch.float32, device=opp.device)
    offset = torch.tensor(OPPONENT_OFFSET, dtype=torch.float32, device=opp.device)
    return torch.einsum("ji,bjhw->bihw", mix, opp.float() - offset.view(1, 3, 1, 1))


class _PlaneLevels:
    """The noise levels and safeguard ratios of the plane being tiled (``start_plane``); one
    object shared with the model's folded copy (``fusion.InferenceCopy`` deep-copies it)."""

    value: torch.Tensor | None = None  # (C,): per channel (opponent channels for RGB)
    ratio: torch.Tensor | None = None  # (C,): the plane's blocked_correction_ratio per channel
    measured: list | None = None  # while measuring ``ratio``: each channel's, no blend

    def __deepcopy__(self, memo):
        return self


class _BoundPsf(nn.Module):
    """``model(x, psf)`` with the PSF fixed, so the tiler's NetworkRunner can run it as ``f(x)``.

    With ``safeguard``, a tile whose correction at the frequencies the PSF blocks is implausible
    (``psf_safeguard.blocked_correction_ratio``) is blended toward, or replaced by, a
    conservative Wiener of it (``psf_safeguard.network_share``); ``fallback_tiles`` counts them
    and the first one warns. With ``opponent`` it takes RGB
    tiles (B, 3, H, W) and deconvolves them in the ``OPPONENT`` colour space.
    """

    def __init__(self, model: nn.Module, kernel: np.ndarray, safeguard: bool = True,
                 label: str = "the PSF-aware network",
                 limit: float = psf_safeguard.CORRECTION_LIMIT, noise_scale: float = 1.0,
                 opponent: bool = False):
        super().__init__()
        self.model = model
        self.opponent = opponent
        self.noise_scale = noise_scale
        self.plane = _PlaneLevels()  # set per plane by start_plane; else estimated per tile
        self.takes_sigma = forward_takes(model, "sigma")
        self.takes_unet_pad = forward_takes(model, "unet_pad")
        self.safeguard = safeguard
        self.limit = limit
        self.label = label
        self.fallback_tiles = 0
        self.register_buffer("psf", torch.from_numpy(np.ascontiguousarray(kernel)))

    def start_plane(self, plane: torch.Tensor | None, levels=None) -> None:
        """Estimate the noise levels on ``plane`` ((C, Y, X), model units) once, for every
        tile of it (``forward``), as a whole-plane run estimates them, or use ``levels`` ((C,)
        values: the whole plane's, for a piece of it); none for a model that takes no noise
        level (it estimates its own). Forgets the last plane's ratios."""
        self.plane.ratio = self.plane.value = None
        if not self.takes_sigma:
            return
        if levels is not None:
            self.plane.value = torch.as_tensor(np.asarray(levels, dtype=np.float32))
            return
        x = plane.float()[None]
        with torch.no_grad(), full_precision(x.device.type):
            self.plane.value = self.noise_levels(to_opponent(x) if self.opponent else x)[0]

    def noise_levels(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C) noise levels of (N, C, Y, X) images, channel by channel."""
        return noise_sigma(x.reshape(-1, 1, *x.shape[-2:]), self.psf).reshape(x.shape[:2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        each, ratio = (None if t is None else t.to(x.device).expand(x.shape[0], -1)
                       for t in (self.plane.value, self.plane.ratio))
        ratios = [None if ratio is None else ratio[:, c] for c in range(x.shape[1])]
        if not self.opponent:
            return self.deconvolve(x, None if each is None else each[:, 0], ratios[0])
        # the colour mix (and the shared noise level) in float32 even under bfloat16 autocast
        with full_precision(x.device.type):
            z = to_opponent(x)
            if each is None and SHARE_NOISE_LEVEL and self.takes_sigma:
                each = self.noise_levels(z)
        # one channel at a time: as one batch of three, a 1024 px RGB image took 1.02 s against
        # 0.78 s channel by channel (a check, not committed); this way about as long as channel
        # by channel (benchmarks/psf_aware_colour.py)
        if each is None or not SHARE_NOISE_LEVEL:
            levels = [None if each is None else each[:, c] for c in range(3)]
        else:
            sigma = each.min(dim=1).values
            levels = [sigma, *[sigma * CHROMA_NOISE_SCALE] * 2]
        y = torch.cat([self.deconvolve(z[:, c : c + 1], levels[c], ratios[c]) for c in range(3)],
                      dim=1)
        with full_precision(x.device.type):
            return from_opponent(y)

    def deconvolve(self, x: torch.Tensor, sigma: torch.Tensor | None = None,
                   ratio: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 1, H, W) grayscale tiles -> their deconvolution (safeguarded); ``sigma`` (N
        values): the noise level to use (their plane's), else estimated on each tile;
        ``ratio`` (N values): the safeguard's ratio (their plane's), else measured per tile."""
        options = {} if self.noise_scale == 1.0 else {"noise_scale": self.noise_scale}
        if sigma is not None and self.takes_sigma:
            options["sigma"] = sigma
        if self.takes_unet_pad:
            y = self.model(x, self.psf, unet_pad=unet_mirror(x.shape[-2:]), **options)
        else:
            m = IMAGE_PAD
            mode = "reflect" if min(x.shape[-2:]) > m else "replicate"
            padded = torch.nn.functional.pad(x, (m, m, m, m), mode=mode)
            if self.takes_sigma and "sigma" not in options:
                with full_precision(x.device.type):
                    options["sigma"] = noise_sigma(x.float(), self.psf)
            y = self.model(padded, self.psf, **options)[..., m:-m, m:-m]
        if not self.safeguard:
            return y
        with full_precision(x.device.type):
            if ratio is None:
                ratio = psf_safeguard.blocked_correction_ratio(x, y, self.psf)
            if self.plane.measured is not None:  # _PsfRunner.start_plane's crop: no blend
                self.plane.measured.append(ratio)
                return y
            share = psf_safeguard.network_share(ratio, self.limit)
            bad = share < 1.0
            if not bool(bad.any()):
                return y
            y = y.float().clone()
            kept = share[bad].view(-1, 1, 1, 1)
            fallback = psf_safeguard.conservative_wiener(x[bad], self.psf)
            y[bad] = kept * y[bad] + (1.0 - kept) * fallback
        if self.fallback_tiles == 0:
            wiener = f"a conservative Wiener (balance {psf_safeguard.FALLBACK_BALANCE:g})"
            how = (f"used {wiener} there instead" if float(kept.min()) == 0
                   else f"blended its result toward {wiener} there")
            warnings.warn(
                f"{self.label}: the result holds {float(ratio.max()):.0f} x the input's energy at "
                "frequencies the PSF blocks (the PSF or noise model does not fit this image); "
                + how, DeblurWarning, stacklevel=2)
        self.fallback_tiles += int(bad.sum())
        return y


class _PsfRunner(NetworkRunner):
    """The NetworkRunner of a ``_BoundPsf``, shown each plane before its tiles. ``side``: the
    crop a tiled plane's safeguard is judged on (the Method's default tile); ``divisor``: the
    network's size divisor."""

    def __init__(self, model: _BoundPsf, precision: str, side: int = 1024, divisor: int = 1):
        super().__init__(model, precision)
        self.side, self.divisor = int(side), int(divisor)
        self.plane_too_big = False  # the whole-plane check ran out of memory once: not again

    def start_plane(self, read, shape: tuple[int, ...], prepare, *, device="cpu",
                    tiles: int = 1, forward=None) -> None:
        """Called by the tiler (``inference._run``) before the ``tiles`` tiles of each plane:
        ``read`` (spatial slices -> (C, *region) in input units) reads the plane of spatial
        ``shape``, ``prepare`` takes a region to model units. Its noise level is estimated on
        the whole plane (a centred crop of ``PLANE_NOISE_MAX_SIDE`` of a larger one), on
        ``device``; with the safeguard and several tiles of a plane no larger than ``side``,
        the network's ratio is measured once on the whole plane, so a custom tile blends as a
        whole-plane run does (judged tile by tile it differed by up to
        36 % of the range at 160 px tiles on a PSF that did not fit). ``forward``: what the
        tiles run (this runner, or it on clipped input: ``saturation.clipped_forward``)."""
        bound: _BoundPsf = self.model
        if (piece := PIECE_OF_PLANE.get()) is not None:  # the whole plane's level, tile by tile
            bound.start_plane(None, levels=piece.levels)
            return
        # one tile is judged as a whole already; a plane larger than the crop keeps the local
        # judgement of each tile (a bad region off the centre still falls back)
        judged_whole = (bound.safeguard and tiles > 1 and not self.plane_too_big
                        and all(n <= self.side for n in shape))
        crop = _crop(read, shape, prepare, self.side, device, self.divisor) if judged_whole \
            else None
        if not bound.takes_sigma:
            bound.start_plane(None)  # the level would go unused: the model estimates its own
        elif crop is not None and all(n <= PLANE_NOISE_MAX_SIDE for n in shape):
            # the whole plane is read already: its noise level from it, not a second read
            bound.start_plane(crop[(slice(None), *(slice(0, n) for n in shape))])
        else:
            bound.start_plane(None, levels=self.plane_noise_levels(read, shape, prepare, device))
        if crop is None:
            return
        bound.plane.measured = []
        try:
            (forward or self)(crop[None])
            bound.plane.ratio = torch.cat(bound.plane.measured).reshape(-1)
        except Exception as error:  # noqa: BLE001 - out of memory: judged tile by tile
            if not is_out_of_memory(error):
                raise
            self.plane_too_big = True  # every later plane would fail the same way
        finally:
            bound.plane.measured = None
        if self.plane_too_big:  # out of the except block: its traceback held the attempt
            del crop
            release_cached(device)
            warnings.warn(f"{bound.label}: the plane did not fit in memory for the safeguard's "
                          "whole-plane check, so it is judged tile by tile: with this tile the "
                          "result may differ from the whole image's", DeblurNote, stacklevel=2)

    def plane_noise_levels(self, read, shape: tuple[int, ...], prepare, device="cpu"
                           ) -> np.ndarray | None:
        """(C,) float32: the noise levels ``start_plane`` gives the tiles of the plane
        ``read`` reads (its arguments), estimated on its centred crop of at most
        ``PLANE_NOISE_MAX_SIDE``; None for a network that estimates its own."""
        bound: _BoundPsf = self.model
        if not bound.takes_sigma:
            return None
        bound.start_plane(_crop(read, shape, prepare, PLANE_NOISE_MAX_SIDE, device))
        levels, bound.plane.value = bound.plane.value, None
        return levels.cpu().numpy()


def _crop(read, shape: tuple[int, ...], prepare, side: int, device, divisor: int = 1
          ) -> torch.Tensor:
    """(C, *crop) float32 on ``device``, model units: the centred crop of at most ``side`` of a
    plane of spatial ``shape``, mirrored at its end to a multiple of ``divisor`` as the tiler
    pads a tile (``tiling.read_tile``)."""
    box = tuple(slice(a := max(0, n - side) // 4 * 2, min(n, a + side)) for n in shape)
    block = np.asarray(read(box))
    pad = [(0, 0)] + [(0, -(b.stop - b.start) % divisor) for b in box]
    if any(after for _, after in pad):
        block = np.pad(block, pad, mode="symmetric")
    plane = np.ascontiguousarray(prepare(block), dtype=np.float32)
    return torch.from_numpy(plane).to(device)


def psf_aware_method(
    model: nn.Module, psf, card=None, *, precision: str = "auto", name: str | None = None,
    safeguard: bool = True, noise_scale: float = 1.0, rgb: bool = False,
) -> Method:
    """A PSF-aware network with its PSF as a Method for ``inference.deblur``.

    ``psf``: a 2D or 3D array/tensor, a TIFF path or a model such as ``'gaussian:1.6'``.
    ``safeguard`` (see ``core.psf_safeguard``): a PSF far wider than the network was trained on
    returns a conservative Wiener Method instead (one warning line), and tiles whose result the
    PSF cannot explain fall back to that Wiener. Raises ValueError for a PSF with negative, NaN
    or infinite values or a zero sum, and for a model that does not take a PSF.
    ``noise_scale`` multiplies the noise level the network estimates (``MethodSpec.noise_scale``):
    above 1 it regularises more, for a fitted or guessed PSF; weights fine-tuned on pairs also
    apply the scale calibrated on their held-out region (``calibrated_noise_scale(card)``).
    ``rgb``: the Method takes the three channels of an RGB image together and deconvolves them
    in the ``OPPONENT`` colour space (for an image with an S axis of 3: ``axes.is_rgb``);
    otherwise channel by channel.
    """
    if not getattr(model, "needs_psf", False):
        raise ValueError(
            f"model {type(model).__name__} does not take a PSF (needs_psf is not set); "
            "accepted: a PSF-aware architecture such as 'wiener_unet'"
        )
    if noise_scale != 1 and not forward_takes(model, "noise_scale"):
        raise ValueError(f"{type(model).__name__} takes no noise_scale; leave it at 1")
    kernel, spec = plane_kernel(psf)
    label = name or getattr(model, "arch_name", type(model).__name__)
    calibrated = calibrated_noise_scale(card) if card is not None else 1.0
    reason = psf_safeguard.untrained_psf_reason(kernel, card) if safeguard else None
    if reason is not None:
        return _untrained_psf_fallback(kernel, spec, label, reason)
    normalization = {"kind": "percentile", "low": 0.1, "high": 99.9}
    if card is not None and getattr(card, "normalization", None):
        normalization.update(card.normalization)
    rf = int(model.receptive_field)
    # The Wiener step reaches past the PSF (classical.psf_halo); the U-Net adds its field.
    halo = max(k // 2 for k in kernel.shape) + rf
    overlap = max(max(classical.psf_halo(kernel)), 2 * halo)
    # large tiles: the overlap is wide (2 x 73 px for protocol A's PSF), and a 1024 px tile
    # (a few hundred MB in bfloat16) runs a 1024 x 1024 image without seams or overhead
    default_tile = max(4 * DEFAULT_TILE[2], 4 * overlap)
    return Method(
        name=label,
        forward=_PsfRunner(_BoundPsf(model, kernel, safeguard, label,
                                     psf_safeguard.correction_limit(card),
                                     noise_scale * calibrated, opponent=rgb),
                           precision, default_tile, int(model.size_divisor)),
        spatial_dims=2,
        halo=halo,
        overlap=overlap,
        size_divisor=int(model.size_divisor),
        in_channels=3 if rgb else 1,
        out_channels=3 if rgb else 1,
        normalization=normalization["kind"],
        percentiles=(float(normalization.get("low", 0.1)), float(normalization.get("high", 99.9))),
        parameters={
            "psf": spec,
            "card": card.model_dump() if hasattr(card, "model_dump") else card,
            "precision": precision,
            "safeguard": safeguard,
            "noise_scale": noise_scale,
            **({CALIBRATED_NOISE_SCALE_KEY: calibrated} if calibrated != 1 else {}),
            "colour": "opponent" if rgb else "channel by channel",
            **({"chroma_noise_scale": CHROMA_NOISE_SCALE} if rgb else {}),
        },
        default_tile=default_tile,
        grey=functools.partial(_grey_twin, model, psf, card, precision=precision, name=label,
                               safeguard=safeguard, noise_scale=noise_scale) if rgb else None,
    )


def _grey_twin(model: nn.Module, psf, card, **options) -> Method:
    """``psf_aware_method`` for one grey channel; the PSF's lines were said for the RGB one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeblurNote)
        return psf_aware_method(model, psf, card, rgb=False, **options)


def calibrated_noise_scale(card) -> float:
    """The noise scale fine-tuning calibrated for these weights (1 when it did not)."""
    metrics = getattr(card, "metrics", None) if not isinstance(card, dict) else card.get("metrics")
    return float((metrics or {}).get(CALIBRATED_NOISE_SCALE_KEY, 1.0))


def calibrate_noise_scale(model: nn.Module, pairs, kernel: np.ndarray
                          ) -> tuple[float, dict[float, float]]:
    """(the noise scale of ``NOISE_SCALE_GRID`` with the best mean PSNR of ``model`` on the
    held-out ``pairs`` (``core.pairs.Pair``, grayscale, model units), or 1 where none beats 1 by
    ``NOISE_SCALE_MIN_GAIN_DB``; the PSNR per scale). Float32, each pair as one tile of
    ``psf_aware_method`` (its border handling; no safeguard, as the job's validation)."""
    from .metrics import psnr

    was = model.training
    model.eval()
    scores = {}
    with torch.inference_mode():
        for scale in sorted({*NOISE_SCALE_GRID, 1.0}):  # 1: the bar a scale must beat
            tile = _BoundPsf(model, kernel, safeguard=False, noise_scale=scale)
            values = []
            for p in pairs:
                x = torch.from_numpy(np.ascontiguousarray(p.input, dtype=np.float32))[None]
                y = tile.deconvolve(x)[0].cpu().double().numpy()
                gain, offset = p.to_reference
                values.append(psnr(y * gain + offset, np.asarray(p.target, np.float64) * gain
                                   + offset, data_range=1.0))
            scores[scale] = float(np.mean(values))
    model.train(was)
    best = max(scores, key=scores.get)
    if scores[best] - scores[1.0] < NOISE_SCALE_MIN_GAIN_DB:
        best = 1.0
    return best, scores


def unet_mirror(spatial: tuple[int, ...]) -> tuple[int, int]:
    """The (Y, X) mirror the U-Net's input gets for a tile of ``spatial`` (Y, X), axis by axis:
    ``BORDER_PAD``, or along a side no longer than that the widest mirror it holds (a pad must
    be shorter than the side; the U-Net replicates the edge instead), and ``IMAGE_PAD`` at least
    (a side of ``IMAGE_PAD`` px or less: replicated, as before). Axis by axis: one pad from the
    shorter side gave a 24 x 240 strip a 23 px mirror along its length too, which brought the
    edge band back (+49 photons in its first column)."""
    return tuple(max(IMAGE_PAD, min(BORDER_PAD, side - 1)) for side in spatial[-2:])




def forward_takes(model, argument: str) -> bool:
    """Whether ``model``'s forward (or ``model`` itself, a function) takes ``argument``."""
    return argument in inspect.signature(getattr(model, "forward", model)).parameters


def _untrained_psf_fallback(kernel: np.ndarray, spec: str, label: str, reason: str) -> Method:
    """The conservative Wiener that runs in place of the network, with one warning line: tiled
    as the classical Wiener, with the safeguard's regulariser (``conservative_wiener``)."""
    balance = psf_safeguard.FALLBACK_BALANCE
    warnings.warn(f"{label}: {reason}; running a conservative Wiener deconvolution (balance "
                  f"{balance:g}) instead", DeblurWarning, stacklevel=3)
    method = classical_method("wiener", kernel, balance=balance)
    kernel_t = torch.from_numpy(np.ascontiguousarray(kernel, dtype=np.float32))

    def forward(x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, 1, *x.shape[-2:])
        return psf_safeguard.conservative_wiener(flat, kernel_t).reshape(x.shape).to(x.dtype)

    # the classical Wiener's tiling, normalisation and name, with the conservative filter
    return dataclasses.replace(method, forward=forward, parameters=method.parameters | {
        "psf": spec, "fallback_from": label, "fallback_reason": reason,
        "flat": psf_safeguard.FALLBACK_FLAT})


def load_psf_aware(psf, weights: str = DEFAULT_PSF_AWARE, *, precision: str = "auto",
                   safeguard: bool = True, noise_scale: float = 1.0, rgb: bool = False
                   ) -> Method:
    """The bundled (or a file's) PSF-aware network bound to ``psf`` as a Method (``rgb``: for
    RGB images, see ``psf_aware_method``)."""
    from .bundled import BUNDLED_WEIGHTS
    from .checkpoint import load_model

    model, card = load_model(weights)
    name = weights if weights in BUNDLED_WEIGHTS else card.arch
    return psf_aware_method(model, psf, card, precision=precision, name=name,
                            safeguard=safeguard, noise_scale=noise_scale, rgb=rgb)
