"""A PSF estimated from the blurred image itself, for users who have none.

Blur identification by generalised cross-validation (GCV; Reeves and Mersereau, "Blur
identification by the method of generalized cross-validation", IEEE Trans. Image Processing
1992): for a candidate blur H and a Tikhonov-Laplacian restoration of balance lam, the filter
A = |H|^2 / (|H|^2 + lam |L|^2) predicts the data; GCV scores how well it predicts each
frequency from the others,

    GCV(H, lam) = mean |(1 - A) X|^2 / mean(1 - A)^2,

and the blur (with its balance) that minimises it is the estimate. The candidates are
anisotropic Gaussians (sigma along a major axis, a minor one, an angle), which cover the
Gaussian, astigmatic and, approximately, defocus-disk PSFs of fluorescence, EM and brightfield
images; a measured or optics PSF (``--psf FILE``, ``widefield:...``) is better when the user
has one. Everything is computed on one Fourier grid of the periodic component of a centre crop
(256 px at most), so an estimate takes about a second on a CPU.

Where copies of the estimate made narrower or wider fit about as well (``FLAT_SHARE``,
``FLAT_RATIO``: at low noise GCV took a Gaussian blur of 4 px for 1.6-3 px, a narrower blur with
a larger balance making nearly the same filter), the estimate records that range and warns.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np

from .edge_fill import edge_fill_mask, filled
from .jpeg_blocks import looks_jpeg
from .notes import DeblurWarning
from .options import FIXED_BALANCE
from .plateaus import stepped_plateaus
from .psf import astigmatic_psf, gaussian_psf

__all__ = ["ESTIMATE", "EstimatedPsf", "estimate_psf", "estimation_plane", "estimation_region",
           "gcv_balance", "is_estimate"]

#: The PSF source string meaning "estimate it from the image" (``--psf estimate``).
ESTIMATE = "estimate"

_CROP = 256  # side of the centre crop the spectrum is taken from
_LAMBDAS = np.logspace(-6.0, 0.0, 25)  # Tikhonov balances searched with every blur
_SIGMAS = np.round(np.arange(0.3, 6.01, 0.1), 2)  # isotropic first pass (px)
#: The Gaussian widths (sigma, px) an estimate can have: a PSF from the image is never narrower
#: or wider (callers that must judge a run before its estimate use the two ends).
SIGMA_MIN, SIGMA_MAX = 0.2, 8.0
_MIN_SIDE = 32  # smaller images carry too few frequencies to tell blurs apart
_GCV_CHUNK = 4  # balances scored together by _Spectrum.gcv
#: On a JPEG-compressed image GCV reads only frequencies below this (cycles/px): quantisation
#: removes the noise above it, and GCV, which needs that noise, took the smallest blur and
#: balance (training crops of benchmarks/jpeg_input.py: estimate error 1.49 -> 0.41 px mean;
#: 0.15 and 0.25 did worse; chosen on training crops only).
JPEG_BAND = 0.2
#: ... but only where the whole band collapsed, as it does on JPEG (to 0.2-0.35 px, GCV's lower
#: balance): an 8-px grid, an image upscaled 4x or 8-px periodic content also look blocky, and
#: the band made their (sound) estimates worse (a calibration grid 1.8 -> 3.9 x 0.2 px)
COLLAPSED_SIGMA = 0.5
#: Copies of the estimate made wider or narrower (both axes by one factor) whose GCV lies within
#: this share of the crop's power of the estimate's own fit the image about equally well ...
FLAT_SHARE = 1e-5
#: ... and where the widest of them is this many times the narrowest, the estimate says its
#: width is poorly determined (``EstimatedPsf.sigma_range``). Chosen on the 15 test-split crops
#: of the psf-estimate walkthrough: of the Gaussian blurs of sigma 3 and 4 at noise 0.1 and
#: 0.5/255 where the PSF-aware network lost more than 1 dB given the estimate rather than the
#: true PSF (estimates 1.4-3.8 px), 43 of 44 flagged, and each range held the true sigma; of
#: the blurs at noise 2/255 where it lost 0.3 dB or less, 3 of 50. A share of the power, not
#: of GCV's minimum: relative to the minimum the width looked better determined at low noise
#: than at 2/255, the opposite of where it went wrong (there the image's content, which is no
#: Tikhonov-Laplacian prior, not its noise, pulls GCV toward narrower blurs).
FLAT_RATIO = 2.5
_FLAT_STEP = 1.1  # the widening per step of that search; its ends are then bisected to ~1 %


@dataclass(frozen=True)
class EstimatedPsf:
    """An estimated anisotropic Gaussian PSF: sigmas in px, angle in degrees from +X toward +Y
    (as ``core.psf.astigmatic_psf``), and the GCV balance that came with it."""

    sigma_major: float
    sigma_minor: float
    angle_deg: float
    balance: float
    jpeg_like: bool = False  # judged on JPEG_BAND only: the image showed JPEG's 8x8 blocks
    #: (narrowest, widest) major-axis sigma, px, of the copies that fit GCV about as well
    #: (``FLAT_SHARE``) where that range is wide (``FLAT_RATIO``), else None
    sigma_range: tuple[float, float] | None = None
    blocky: bool = False  # the crop shows an 8x8 grid (JPEG's, or content that looks like it)

    @property
    def isotropic_sigma(self) -> float | None:
        """The one sigma of a PSF this close to round (the major and minor within 3 %)."""
        if self.sigma_minor < 0.97 * self.sigma_major:
            return None
        return round(math.sqrt(self.sigma_major * self.sigma_minor), 2)

    @property
    def kernel(self) -> np.ndarray:
        if self.isotropic_sigma is not None:
            return gaussian_psf(self.isotropic_sigma)
        return astigmatic_psf(self.sigma_major, self.sigma_minor, self.angle_deg)

    @property
    def spec(self) -> str:
        """The same PSF as a ``--psf`` model string (to reuse it without estimating again)."""
        if self.isotropic_sigma is not None:
            return f"gaussian:{self.isotropic_sigma:.2f}"
        return f"astig:{self.sigma_major:.2f},{self.sigma_minor:.2f},{self.angle_deg:.0f}"

    def describe(self) -> str:
        line = (f"PSF estimated from the image (GCV blur identification): {self.spec} "
                f"(sigma in px{self._range_words()}); reuse it as the PSF '{self.spec}' (no "
                "estimate again), or give a measured PSF")
        if self.sigma_major >= 0.99 * SIGMA_MAX:
            line += (f"; it reached the widest blur searched ({SIGMA_MAX:g} px): the image may "
                     "hold too little structure to tell its blur from noise")
        return line + self._jpeg_words()

    @property
    def minor_collapsed(self) -> bool:
        """An astigmatic estimate whose minor axis is the narrowest searched on a blocky crop:
        JPEG's quantisation took the noise GCV needs there (an astigmatic blur on JPEG q90 got
        2.25 x 0.2 px for 2.5 x 0.8, the PSF-aware network 0.7-1.8 dB below the true PSF)."""
        return self.blocky and self.sigma_minor <= SIGMA_MIN < self.sigma_major

    def _range_words(self) -> str:
        if self.sigma_range is None:
            return ""
        axis = "sigmas" if self.isotropic_sigma is not None else "major-axis sigmas"
        return (f"; {axis} {self.sigma_range[0]:.1f}-{self.sigma_range[1]:.1f} px fit "
                "about equally well")

    def _jpeg_words(self) -> str:
        if not (self.jpeg_like or self.minor_collapsed):
            return ""
        words = "; the image shows JPEG's 8x8 blocks"
        if self.jpeg_like:
            words += f", so only its frequencies below {JPEG_BAND:g} cycles/px were read"
        if self.minor_collapsed:
            words += (f", and its minor axis reached the narrowest blur searched "
                      f"({SIGMA_MIN:g} px): the astigmatism is not trustworthy on this JPEG")
        return words + " (a lossless copy estimates better)"

    def flat_warning(self) -> str | None:
        """The line ``estimate_psf`` warns with where the width is poorly determined."""
        if self.sigma_range is None:
            return None
        low, high = self.sigma_range
        axis = "sigma" if self.isotropic_sigma is not None else "major-axis sigma"
        return (f"PSF estimate {self.spec}: the blur width is poorly determined by this image "
                f"({axis} {low:.1f}-{high:.1f} px fit about equally well); a PSF from beads or "
                "optics (psf-from-beads, or 'widefield:na=...,wavelength=...,pixel=...') will "
                "do better")


def _without_spikes(x: np.ndarray) -> np.ndarray:
    """``x`` with its isolated spikes (hot or dead camera pixels, cosmic rays: 5 times further
    from their 8 neighbours than those spread) set to the nearest neighbour value: a spike is
    white in the spectrum and reads as a wide blur under noise (25 hot pixels of a uint16 image
    widened a 1.5 px estimate to 6.6 px). A blurred point's neighbours are never that far."""
    p = np.pad(x, 1, mode="reflect")  # not "edge": a border spike would be its own neighbour
    h, w = x.shape
    near = np.stack([p[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1)
                     for dx in (-1, 0, 1) if dy or dx])
    hi, lo = near.max(axis=0), near.min(axis=0)
    spread = hi - lo
    return np.where(x - hi > 5 * spread, hi, np.where(lo - x > 5 * spread, lo, x))


def _quantisation(x: np.ndarray) -> float:
    """The quantisation step of the values of ``x``, at most 8-bit's (its range / 255): the
    step between its levels where they lie on one grid of at most 65536 levels (8- or 16-bit
    data, as integers or scaled), else 0 (float data)."""
    eight_bit = float(np.ptp(x)) / 255.0
    levels = np.unique(x)
    if len(levels) < 2 or len(levels) > 65536:
        return 0.0 if len(levels) > 65536 else eight_bit
    step = float(np.diff(levels).min())
    grid = (levels - levels[0]) / step
    if step <= 0 or np.abs(grid - np.round(grid)).max() > 1e-3:
        return 0.0
    return min(step, eight_bit)


class _Spectrum:
    """|X|^2 of the periodic component of a centre crop (Moisan's periodic-plus-smooth
    decomposition: no edge jump, and unlike a mirror extension the blur's orientation stays),
    with the frequency grids GCV needs; the frequency axes (fx = 0, fy = 0) carry no weight,
    nor, when ``band_limited`` (``jpeg_like``: a blocky crop whose whole band collapsed),
    frequencies above ``JPEG_BAND``; ``blocky``: the crop shows an 8x8 grid (``looks_jpeg``)."""

    def __init__(self, plane: np.ndarray, crop: int | tuple[int, int] = _CROP,
                 band_limited: bool = False, data_floor: bool = False,
                 unfilled: np.ndarray | None = None):
        # an int: a square of that side (the shorter side where the plane is smaller); a
        # (Y, X) pair: that rectangle (``balance_crop_sides``: a strip's balance);
        # ``unfilled``: ``plane`` before its edge fill was continued, for ``data_floor``
        h, w = plane.shape
        if isinstance(crop, tuple):
            cy, cx = min(crop[0], h), min(crop[1], w)
        else:
            cy = cx = min(crop, h, w)
        y0, x0 = (h - cy) // 2, (w - cx) // 2
        x = plane[y0 : y0 + cy, x0 : x0 + cx].astype(np.float64)
        # the crop before any fill, whose values lie on the data's grid (a fill's do not)
        raw = x if unfilled is None else unfilled[y0 : y0 + cy, x0 : x0 + cx].astype(np.float64)
        if (flat := stepped_plateaus(x)) is not None:
            # a flat plateau at the crop's max or min that steps from the image (a burned-in
            # scale bar, a mask) is an edge no PSF made: continued from the image around it,
            # a white bar's estimate went 0.51,0.42 -> 1.93,1.62 px (blur 2; 1.89,1.75 without
            # the bar) and balance 'auto' with the true PSF no longer blamed the PSF
            x = filled(x, flat)
        self.blocky = looks_jpeg(x)  # JPEG's 8x8 grid, or content that looks like it
        self.jpeg_like = band_limited
        x = _without_spikes(x)
        # the quantisation ``data_floor`` reads, of the crop before any fill: of the filled
        # one it read 0 (8-bit blobs, white bar, noise 0: balance 0.000158 -> 0.000398, Wiener
        # 38.4 -> 41.3 dB away from the bar; no bar 0.000631)
        was_filled = flat is not None or unfilled is not None
        grid = _without_spikes(raw) if data_floor and was_filled else x
        x_hat = np.fft.fft2(x - x.mean())
        # the smooth component: the solution of a Laplace equation driven by the edge jumps
        v = np.zeros_like(x)
        v[0, :] += x[-1, :] - x[0, :]
        v[-1, :] += x[0, :] - x[-1, :]
        v[:, 0] += x[:, -1] - x[:, 0]
        v[:, -1] += x[:, 0] - x[:, -1]
        qy, qx = np.fft.fftfreq(cy), np.fft.fftfreq(cx)
        denom = (2 * np.cos(2 * np.pi * qy)[:, None] + 2 * np.cos(2 * np.pi * qx)[None, :] - 4)
        denom[0, 0] = 1.0
        smooth = np.fft.fft2(v) / denom
        smooth[0, 0] = 0.0
        periodic = (x_hat - smooth)[:, : cx // 2 + 1]
        # at least the noise of 8-bit quantisation: without any noise (a smoothed float
        # image) every blur fits with a tiny balance and GCV cannot choose among them;
        # ``data_floor`` (a known PSF's balance): the data's own quantisation, as 16-bit and
        # float data hold far less (floor.py of the 'classic' walkthrough: up to 1.17 dB)
        floor = x.size * (_quantisation(grid) if data_floor else float(np.ptp(x)) / 255.0) ** 2 / 12
        fy = np.fft.fftfreq(cy)[:, None]
        fx = np.fft.rfftfreq(cx)[None, :]
        self.sides = (cy, cx)
        self.fy, self.fx = fy, fx
        lap = (2 - 2 * np.cos(2 * np.pi * fy)) + (2 - 2 * np.cos(2 * np.pi * fx))
        self.lap2 = lap**2
        # rfft holds half the plane: count the other half, normalised to a mean; computed
        # once here, as gcv() runs a few hundred times per estimate
        weight = np.where(fx == 0, 1.0, 2.0) * np.ones_like(self.lap2)
        # left out: the two frequency axes, where EM scan lines, row or column offsets and
        # stripes along X or Y put their power (read as a blur along the other direction, or
        # as no noise to regularise); the blur shows as well on every other frequency
        weight[fy[:, 0] == 0, :] = 0.0
        weight[:, 0] = 0.0
        if self.jpeg_like:  # quantisation took the noise GCV needs above JPEG_BAND
            weight[np.hypot(fy, fx) >= JPEG_BAND] = 0.0
        self.weight = weight / weight.sum()
        self.weighted_power = self.weight * (np.abs(periodic) ** 2 + floor)
        self.periodic = periodic

    def gcv(self, otf2: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
        """GCV for one blur (|H|^2 on the grid) at each balance."""
        # a few balances at a time, so that the arrays stay in the CPU's cache: all 25 at once
        # (6.6 MB each) made an estimate 3x slower (benchmarks/batch_overhead.py); the same
        # sums in the same order, so the same estimates to the last bit
        values = np.empty(len(lambdas))
        for i in range(0, len(lambdas), _GCV_CHUNK):
            reg = lambdas[i : i + _GCV_CHUNK, None, None] * self.lap2
            one_minus_a = reg / (otf2 + reg)
            residual = (one_minus_a**2 * self.weighted_power).sum(axis=(1, 2))
            trace = (self.weight * one_minus_a).sum(axis=(1, 2))
            values[i : i + _GCV_CHUNK] = residual / np.maximum(trace, 1e-12) ** 2
        return values

    def gaussian_otf2(self, s_major: float, s_minor: float, angle_deg: float) -> np.ndarray:
        # angle as core.psf.astigmatic_psf: the major axis turned from +X toward +Y
        t = math.radians(angle_deg)
        u = self.fx * math.cos(t) + self.fy * math.sin(t)
        v = -self.fx * math.sin(t) + self.fy * math.cos(t)
        return np.exp(-4 * math.pi**2 * (s_major**2 * u**2 + s_minor**2 * v**2))


#: The Wiener balances ``gcv_balance`` chooses from (the Laplacian regulariser of
#: ``classical.wiener``); wider than the estimate's, as a known PSF on a very noisy image
#: wants more than 1.
GCV_BALANCES = np.logspace(-6.0, 2.0, 41)


def gcv_balance(plane: np.ndarray, psf: np.ndarray) -> float:
    """The Wiener balance (``classical.wiener``'s) of ``GCV_BALANCES`` that minimises GCV for
    the 2D ``psf`` on the centre crop of a 2D ``plane`` (256 px, or twice the PSF where that is
    larger): how well the restoration predicts each frequency of the data from the others,
    Reeves and Mersereau's criterion with the blur known. No reference needed;
    ``balance='auto'``. On a crop that shows JPEG's 8x8 blocks, the larger of the balances
    of the whole band and of the frequencies below ``JPEG_BAND`` (quantisation removed the
    noise above: GCV took 1e-6, and the output fell 10-20 dB below the input). Where GCV's
    minimum is the smallest balance searched, ``FIXED_BALANCE`` and a line saying why
    (``gcv_balance_read``); at the largest, that balance and a DeblurWarning (``TOP_NOTE``)."""
    kernel = np.asarray(psf, dtype=np.float64)
    if kernel.ndim != 2:
        raise ValueError(f"psf of shape {kernel.shape}: balance 'auto' needs a 2D PSF; give a "
                         "number for a 3D one")
    balance, _, at_floor = gcv_balance_read(plane, psf)
    if at_floor:
        warnings.warn(f"balance 'auto': {FLOOR_NOTE}", DeblurWarning, stacklevel=2)
    return balance


#: The most GCV's balance may widen the range of the crop (its periodic component through the
#: Wiener filter, over its own): above it, as at the floor, the filter amplifies detail the PSF
#: cannot explain (a PSF wider than the blur), and ``FIXED_BALANCE`` is taken. PSFs 1.5x the
#: blur's width gave 5.2-11.2 (ISBI EM crop, 1.58e-6: output -4.0..4.8 on 0..1, 0.5 dB; discs,
#: 1.6e-5: 8 dB, input 24); matched PSFs at noise 0.0005-0.03 at most 2.1 above the floor.
GAIN_MAX = 4.0
#: A plane under this many PSF sides per side is shorter than the crop GCV reads (twice the
#: PSF) and gives it too few frequencies (a 32 px image with a 25 px PSF chose 4e-5-1.6e-4 and
#: came out 1.5-8 dB below the fixed balance)
MIN_GCV_PSF_WIDTHS = 2
#: why balance 'auto' took FIXED_BALANCE where GCV's minimum was the smallest balance searched
#: or widened the crop's range over ``GAIN_MAX``-fold
FLOOR_NOTE = (
    f"GCV found no noise to regularise (its balance would widen the image's range over "
    f"{GAIN_MAX:g}-fold, or was the smallest balance searched, {GCV_BALANCES[0]:g}): the PSF "
    "looks wider than the image's blur, or the image is not "
    f"blurred; took the fixed balance {FIXED_BALANCE:g} instead. Give a narrower PSF (or "
    "'estimate' to measure the blur), or a balance number (e.g. 0.1)")
#: why balance 'auto' warns where GCV's minimum was the largest balance searched (kept)
TOP_NOTE = (
    f"GCV chose {GCV_BALANCES[-1]:g}, the largest balance searched: the image holds little "
    "structure above its noise (near-empty or mostly noise), and the output is smoothed "
    "nearly flat. Give a balance number (e.g. 0.1) to keep more detail, or deblur a region "
    "with more structure")


def gcv_size_check(ny: int, nx: int, psf_side: int) -> None:
    """ValueError where an ``ny`` x ``nx`` image is too small for GCV to judge a balance for a
    PSF ``psf_side`` px wide (``MIN_GCV_PSF_WIDTHS``), naming the size and the size needed."""
    if min(ny, nx) < MIN_GCV_PSF_WIDTHS * psf_side:
        raise ValueError(f"the image is too small for GCV to judge it ({ny} x {nx} px, Y x X; "
                         f"accepted: {MIN_GCV_PSF_WIDTHS} x the PSF's {psf_side} px, "
                         f"{MIN_GCV_PSF_WIDTHS * psf_side} px, along both or more)")


def gcv_balance_read(plane: np.ndarray, psf: np.ndarray) -> tuple[float, bool, bool]:
    """(``gcv_balance``, whether only the frequencies below ``JPEG_BAND`` were read: on a
    blocky crop, where they give a larger balance than the whole band, as JPEG's do, whether
    GCV's minimum was at the floor and ``FIXED_BALANCE`` was taken: ``FLOOR_NOTE``).

    GCV's minimum at the smallest balance searched means it found no noise to regularise: the
    image holds detail the PSF would have removed (a PSF wider than the image's blur, or an
    unblurred image), and that balance amplified it to garbage (a sharp 8-bit EM crop with
    gaussian:1.6: output -5743..5634, 91 % of pixels outside 0-255). No benchmark row of
    benchmarks/classical_auto.py chose below 0.004; there ``FIXED_BALANCE`` is taken instead,
    said by the caller in one line. GCV's minimum at the largest balance searched is kept but
    warned of here (``TOP_NOTE``, a DeblurWarning): it flattens the output (a near-empty 96 px
    8-bit crop, std 0.73, came out std 0.12)."""
    kernel = np.asarray(psf, dtype=np.float64)
    plane = unfilled = np.asarray(plane, dtype=np.float64)
    crop = balance_crop_sides(*plane.shape, max(_CROP, 2 * max(kernel.shape)))
    if (fill := edge_fill_mask(plane)) is not None:
        # its edge is no blur, and the run continues it (``edge_fill.EdgeFills``), as
        # ``estimate_psf`` does: EM with 40 px of zeros at its edge hit the floor with the true
        # PSF (0.01 where the plain image chose 0.00158)
        plane = filled(plane, fill)
    else:
        unfilled = None
    spectrum = _Spectrum(plane, crop, data_floor=True, unfilled=unfilled)
    if max(kernel.shape) > min(spectrum.sides):
        raise ValueError(f"psf of shape {kernel.shape} is larger than the {min(spectrum.sides)} "
                         "px the image offers to judge balance 'auto' on; give a number")
    if min(plane.shape) < MIN_GCV_PSF_WIDTHS * max(kernel.shape):
        gcv_size_check(*plane.shape, max(kernel.shape))
    padded = np.zeros(spectrum.sides)
    padded[: kernel.shape[0], : kernel.shape[1]] = kernel / kernel.sum()
    padded = np.roll(padded, (-(kernel.shape[0] // 2), -(kernel.shape[1] // 2)), (0, 1))
    otf = np.fft.rfft2(padded)
    otf2 = np.abs(otf) ** 2
    balance, band_limited = _gcv_minimum(spectrum, otf2), False
    if spectrum.blocky:
        # blocky: JPEG's took balances far too small (1e-6 to 1e-5: output 10 dB below the
        # input); the larger of the two readings, so content that only looks blocky (an 8 px
        # grid) is at worst regularised a little more, never less
        limited = _gcv_minimum(_Spectrum(plane, crop, True, True, unfilled), otf2)
        if limited > balance:
            balance, band_limited = limited, True
    if balance > GCV_BALANCES[0] and _range_gain(spectrum, otf, balance) <= GAIN_MAX:
        if balance >= GCV_BALANCES[-1]:
            # the top is a bound, not a minimum, as the floor is; its output is smooth, not
            # garbage, so it stands, but flattened (std 0.73 -> 0.12), which the user must know
            warnings.warn(f"balance 'auto': {TOP_NOTE}", DeblurWarning, stacklevel=3)
        return balance, band_limited, False
    return FIXED_BALANCE, False, True


def _range_gain(spectrum: _Spectrum, otf: np.ndarray, balance: float) -> float:
    """The range of the crop's periodic component through the Wiener filter over its own."""
    filtered = spectrum.periodic * otf.conj() / (np.abs(otf) ** 2 + balance * spectrum.lap2)
    before = float(np.ptp(np.fft.irfft2(spectrum.periodic, s=spectrum.sides)))
    return float(np.ptp(np.fft.irfft2(filtered, s=spectrum.sides))) / max(before, 1e-300)


def balance_crop_sides(ny: int, nx: int, crop: int) -> tuple[int, int]:
    """The (Y, X) sides of the centre crop GCV judges a balance on, for an ``ny`` x ``nx``
    plane: ``crop`` each, but where one side is shorter the other takes the pixels it leaves
    (as ``image_settings.crop_sides``). A square of the short side threw most of a strip
    away: 47 x 47 of a 47 x 1024 fluorescence strip, mostly background, chose balance 10
    where the 256 x 1024 image it was cut from chose 0.25 (output 2.2 dB below the input)."""
    from .image_settings import crop_sides  # here: image_settings reads this module

    return crop_sides(ny, nx, crop)


def _gcv_minimum(spectrum: _Spectrum, otf2: np.ndarray) -> float:
    return float(GCV_BALANCES[int(np.argmin(spectrum.gcv(otf2, GCV_BALANCES)))])


def is_estimate(source) -> bool:
    """Whether a PSF source asks for the PSF to be estimated from the image."""
    return isinstance(source, str) and source.strip().lower() == ESTIMATE


def estimation_plane(image, axes: str) -> np.ndarray:
    """The 2D plane a PSF is estimated from: the centre crop (at most 256 px) of the middle
    plane of a stack or time series, averaged over colour channels. Only that crop is read
    (a dask, zarr or memory-mapped image stays where it is)."""
    if len(axes) != len(image.shape) or "Y" not in axes or "X" not in axes:
        raise ValueError(f"axes {axes!r} do not describe an image of shape {tuple(image.shape)} "
                         "with Y and X: a PSF is estimated on YX planes")
    # said here, in the image's own size: estimate_psf sees only the crop (256 x 20 of 4000 x 20)
    small_plane_check(int(image.shape[axes.index("Y")]), int(image.shape[axes.index("X")]))
    data = np.asarray(image[estimation_region(image.shape, axes)], dtype=np.float64)
    kept = [a for a in axes if a in "YXSC"]
    for i in reversed(range(len(kept))):
        if kept[i] in "SC":
            data = data.mean(axis=i)
    return data


def estimation_region(shape, axes: str) -> tuple:
    """The index ``estimation_plane`` reads of an image of ``shape`` and ``axes``: the centre
    crop (at most 256 px) of Y and X, the middle of every other axis but colour (S, C: all),
    so that a PSF file can record the plane it was estimated on."""
    index = []
    for a, n in zip(axes, shape):
        if a in "YX":
            c = min(_CROP, int(n))
            index.append(slice((int(n) - c) // 2, (int(n) - c) // 2 + c))
        else:
            index.append(slice(None) if a in "SC" else int(n) // 2)
    return tuple(index)


def small_plane_check(ny: int, nx: int) -> None:
    """ValueError where an ``ny`` x ``nx`` plane is too small to estimate a PSF from, naming
    its size and the size needed: the estimate reads a square of at least ``_MIN_SIDE`` px."""
    if min(ny, nx) < _MIN_SIDE:
        raise ValueError(f"the image plane is {ny} x {nx} px (Y x X), too small to estimate a "
                         f"PSF from: that needs at least {_MIN_SIDE} px along both Y and X "
                         f"({_MIN_SIDE} x {_MIN_SIDE} or more); give a PSF (file or model)")


def estimate_psf(plane: np.ndarray) -> EstimatedPsf:
    """The anisotropic Gaussian PSF that best explains a 2D blurred ``plane`` by GCV.

    Raises ValueError for a plane that cannot carry an estimate (not 2D, smaller than 32 px,
    constant, NaN/Inf).
    """
    plane = np.asarray(plane)
    if plane.ndim != 2:
        raise ValueError(f"a PSF is estimated from a 2D plane; got shape {plane.shape}")
    small_plane_check(*plane.shape)
    if not np.all(np.isfinite(plane)):
        raise ValueError("image holds NaN or infinite values; a PSF cannot be estimated from it")
    if float(np.ptp(plane)) == 0:
        raise ValueError("image is constant: it holds no blur to estimate a PSF from")
    if (fill := edge_fill_mask(plane)) is not None:  # its edge is no blur: continue the image
        plane = filled(plane, fill)
    spectrum = _Spectrum(plane)
    found = _best_blur(spectrum)
    if spectrum.blocky and found.sigma_major <= COLLAPSED_SIGMA:
        # collapsed, as on JPEG: quantisation took the noise GCV needs above JPEG_BAND
        spectrum = _Spectrum(plane, band_limited=True)
        found = _best_blur(spectrum)
    low, high = _width_range(spectrum, found)
    if high >= FLAT_RATIO * low:  # only a flag: the estimate itself stays as found
        found = replace(found, sigma_range=(round(low, 2), round(high, 2)))
        warnings.warn(found.flat_warning(), DeblurWarning, stacklevel=2)
    return found


def _width_range(spectrum: _Spectrum, found: EstimatedPsf) -> tuple[float, float]:
    """(narrowest, widest) major-axis sigma of the copies of ``found`` scaled in width (both
    axes by one factor, within SIGMA_MIN-SIGMA_MAX) whose GCV, at its best balance, exceeds
    that of ``found`` by at most ``FLAT_SHARE`` of the crop's power."""
    smaj, smin, angle = found.sigma_major, found.sigma_minor, found.angle_deg
    power = float(spectrum.weighted_power.sum())

    def gcv(factor: float) -> float:
        otf2 = spectrum.gaussian_otf2(factor * smaj, max(factor * smin, SIGMA_MIN), angle)
        return float(spectrum.gcv(otf2, _LAMBDAS).min())

    best = gcv(1.0)

    def fits(factor: float) -> bool:
        return gcv(factor) - best <= FLAT_SHARE * power

    ends = []
    for step, limit in ((1 / _FLAT_STEP, SIGMA_MIN / smaj), (_FLAT_STEP, SIGMA_MAX / smaj)):
        inside, outside = 1.0, None
        while outside is None and inside != limit:
            factor = max(inside * step, limit) if step < 1 else min(inside * step, limit)
            if fits(factor):
                inside = factor
            else:
                outside = factor
        for _ in range(3 if outside is not None else 0):  # the end to 1.1 ** (1 / 8)
            middle = math.sqrt(inside * outside)
            inside, outside = (middle, outside) if fits(middle) else (inside, middle)
        ends.append(inside * smaj)
    return ends[0], ends[1]


def _best_blur(spectrum: _Spectrum) -> EstimatedPsf:
    """The GCV search of ``estimate_psf`` on one spectrum."""

    def score(s_major, s_minor, angle, lambdas=_LAMBDAS):
        values = spectrum.gcv(spectrum.gaussian_otf2(s_major, s_minor, angle), lambdas)
        i = int(np.argmin(values))
        return float(values[i]), float(lambdas[i])

    # 1. isotropic
    iso = min(_SIGMAS, key=lambda s: score(s, s, 0.0)[0])
    best = (score(iso, iso, 0.0), (float(iso), float(iso), 0.0))
    # the balance barely moves with the blur's shape: search near the isotropic one from here
    i = int(np.searchsorted(_LAMBDAS, best[0][1]))
    near = _LAMBDAS[max(i - 4, 0) : i + 5]

    def score_near(s_major, s_minor, angle):
        return score(s_major, s_minor, angle, near)

    # 2. anisotropic around it: major >= the isotropic sigma, minor <= it
    for factor in (1.0, 1.2, 1.4, 1.7, 2.0, 2.5):
        for ratio in (0.25, 0.4, 0.55, 0.7, 0.85):
            for angle in np.arange(0.0, 180.0, 22.5):
                major = min(iso * factor, SIGMA_MAX)
                cand = (major, max(major * ratio, SIGMA_MIN), float(angle))
                s = score_near(*cand)
                if s[0] < best[0][0]:
                    best = (s, cand)
    # 3. refine by coordinate steps that shrink
    (value, _), (smaj, smin, angle) = best
    for step, angle_step in ((0.1, 10.0), (0.05, 5.0), (0.025, 2.5)):
        improved = True
        while improved:
            improved = False
            for cand in ((smaj * (1 + step), smin, angle), (smaj * (1 - step), smin, angle),
                         (smaj, smin * (1 + step), angle), (smaj, smin * (1 - step), angle),
                         (smaj, smin, angle + angle_step), (smaj, smin, angle - angle_step)):
                cmaj, cmin, cang = cand
                if not (SIGMA_MIN <= cmin <= cmaj <= SIGMA_MAX):
                    continue
                s = score_near(cmaj, cmin, cang)
                if s[0] < value:
                    value, (smaj, smin, angle), improved = s[0], cand, True
    _, balance = score(smaj, smin, angle)
    # rounded as the spec string writes them, so the spec and the kernel are the same PSF
    return EstimatedPsf(round(float(smaj), 2), round(float(smin), 2),
                        float(round(angle) % 180), balance, spectrum.jpeg_like,
                        blocky=spectrum.blocky)
