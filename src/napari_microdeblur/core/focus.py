"""Focus (sharpness) score per image, per slice or per tile: band-pass energy.

score = mean((G_2 * I - G_4 * I)^2) / mean(I)^2

The difference of Gaussians (sigma 2 and 4 px) keeps the mid frequencies that defocus removes
first, ignores the pixel noise a plain Laplacian amplifies (measured on two real focus stacks:
Spearman correlation with distance from focus -0.988 for a light-sheet
mitochondria stack and -0.856 for a microtubule stack, against -0.888 and -0.144 for the
variance of the Laplacian), and dividing by the squared mean makes the score independent of
exposure and gain. Higher is sharper. Borders are half-sample symmetric (scipy's 'reflect').

A camera offset (an sCMOS's ~100 ADU dark level) adds to the mean but not to the band-pass, so
it lowers every score by (mean / (mean - offset))^2: measured on the light-sheet mitochondria
stack (dark level 100), the same field at half the signal and 100 ADU more offset had a
calibrated threshold 14x lower. ``camera_offset`` is subtracted from the pixels first (clipped
at 0); with the dark level given for each acquisition the threshold carries over (ratio 1.000).

Two exact ways to compute it. On the CPU the plane goes through one orthonormal DCT-II: a
symmetric kernel with a half-sample symmetric border is diagonal in that basis, so the
band-pass is a multiplication by the kernels' cosine transfer functions, and by Parseval the
whole-plane energy is a sum over coefficients (one transform, ~20x faster than the two
separable convolutions; per-tile scores add the inverse transform). On other devices the
convolutions run in torch. The two agree to float32 rounding (tested).

A border of exactly constant pixels (the black or white fill of a registered, shifted section;
``scored_region``) is left out with a margin of 3 coarse sigmas: its edge added band-pass
energy and its fill lowered the mean, so a volume-EM section with 55 % black border scored 3.2x
its sharp neighbours even after a sigma-3 blur. Planes without such a border take the path
above, bit for bit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Generator

import numpy as np
import torch
import torch.nn.functional as F

from .array_inputs import host_image
from .axes import check_axes, colour_part, iter_planes, loop_axes, plane_indices
from .devices import resolve_device
from .focus_defaults import (  # torch-free there (cli_focus); still importable from here
    MIN_TILE,
    check_camera_offset,
    check_focus_tile,
    structure_side,
)
from .focus_defaults import calibrate_threshold as calibrate_threshold  # callers import it here
from .progress import ScoreProgress, drive

SIGMA_FINE = 2.0
SIGMA_COARSE = 4.0
# G_4 = G_2 then G_sqrt(4^2 - 2^2): the coarse blur reuses the fine one
_SIGMA_EXTRA = math.sqrt(SIGMA_COARSE**2 - SIGMA_FINE**2)


def _gaussian_taps_np(sigma: float) -> np.ndarray:
    radius = int(math.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return taps / taps.sum()


def _gaussian_taps(sigma: float, device) -> torch.Tensor:
    return torch.as_tensor(_gaussian_taps_np(sigma), dtype=torch.float32, device=device)


def _symmetric_index(n: int, pad: int, device) -> torch.Tensor:
    # Half-sample symmetric extension, valid for any pad (even pad > n).
    i = torch.arange(-pad, n + pad, device=device) % (2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


def _blur(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian on (N, 1, Y, X), half-sample symmetric border."""
    r = taps.numel() // 2
    ny, nx = x.shape[-2:]
    x = F.conv2d(x.index_select(-1, _symmetric_index(nx, r, x.device)), taps.view(1, 1, 1, -1))
    x = F.conv2d(x.index_select(-2, _symmetric_index(ny, r, x.device)), taps.view(1, 1, -1, 1))
    return x


def _dog_energy(planes: torch.Tensor) -> torch.Tensor:
    """Squared DoG response of (N, Y, X) float planes (spatial convolutions in torch)."""
    x = planes[:, None]
    fine = _blur(x, _gaussian_taps(SIGMA_FINE, x.device))
    coarse = _blur(fine, _gaussian_taps(_SIGMA_EXTRA, x.device))
    return (fine - coarse)[:, 0] ** 2


def band_pass_energy_map(planes: torch.Tensor) -> torch.Tensor:
    """Squared DoG response of (N, Y, X) float planes, normalised by each plane's mean^2
    (spatial convolutions in torch, on the planes' device)."""
    mean = planes.mean(dim=(1, 2), keepdim=True)
    return _dog_energy(planes) / mean.clamp_min(1e-12) ** 2


def _cosine_transfer(taps: np.ndarray, n: int) -> np.ndarray:
    """Eigenvalues of a symmetric kernel with half-sample symmetric border in the DCT-II basis
    of length n: sum_t g[t] cos(pi k t / n), k = 0..n-1 (the kernel may be longer than n)."""
    r = len(taps) // 2
    t = np.arange(-r, r + 1, dtype=np.float64)
    k = np.arange(n, dtype=np.float64)[:, None]
    return np.cos(np.pi * k * t / n) @ taps


@functools.lru_cache(maxsize=8)
def _dog_factors(ny: int, nx: int) -> tuple[np.ndarray, ...]:
    """The 1D cosine transfer functions (fine Y, fine X, extra Y, extra X) of a plane shape."""
    taps = _gaussian_taps_np(SIGMA_FINE), _gaussian_taps_np(_SIGMA_EXTRA)
    return tuple(_cosine_transfer(t, n) for t in taps for n in (ny, nx))


def _build_transfer(ny: int, nx: int) -> np.ndarray:
    """The (ny, nx) float32 DCT-domain transfer function of G_2 - G_4, made in float64 bands
    of BAND_PX (the same numbers, bit for bit, as made whole: 8 GB at 16384 x 16384)."""
    fy, fx, ey, ex = _dog_factors(ny, nx)
    h = np.empty((ny, nx), dtype=np.float32)
    step = max(1, BAND_PX // nx)
    for a in range(0, ny, step):
        h[a:a + step] = np.outer(fy[a:a + step], fx) * (1.0 - np.outer(ey[a:a + step], ex))
    return h


BAND_PX = 1 << 18  # pixels per band where a plane-sized temporary is made in bands
# planes up to TRANSFER_CACHE_PX (16 MB of transfer function) keep theirs for 8 shapes; a
# larger plane's is kept for its shape alone (1 GB at 16384 x 16384; 8 of those were kept)
TRANSFER_CACHE_PX = 1 << 22
_dog_transfer = functools.lru_cache(maxsize=8)(_build_transfer)
_large_transfer = functools.lru_cache(maxsize=1)(_build_transfer)


def _apply_transfer(coeffs: np.ndarray) -> None:
    """Multiply (Y, X) DCT coefficients by the DoG transfer function, in place."""
    ny, nx = coeffs.shape
    coeffs *= (_dog_transfer if ny * nx <= TRANSFER_CACHE_PX else _large_transfer)(ny, nx)


def _spectral_band_pass(plane: np.ndarray, own: bool = False) -> tuple[np.ndarray, float]:
    """DoG-filtered DCT coefficients of a (Y, X) float32 plane, and the plane's mean; ``own``:
    the plane is a scratch copy, transformed in place (one plane of memory less)."""
    from scipy import fft

    coeffs = fft.dctn(plane, type=2, norm="ortho", workers=1, overwrite_x=own)
    mean = float(coeffs[0, 0]) / math.sqrt(plane.size)  # the DC coefficient, orthonormal
    _apply_transfer(coeffs)
    return coeffs, mean


def _spectral_score(plane: np.ndarray, own: bool = False) -> float:
    coeffs, mean = _spectral_band_pass(plane, own)
    energy = float(np.einsum("ij,ij->", coeffs, coeffs, dtype=np.float64)) / coeffs.size
    return energy / max(mean, 1e-12) ** 2


def _spectral_energy_map(plane: np.ndarray, own: bool = False) -> np.ndarray:
    from scipy import fft

    coeffs, mean = _spectral_band_pass(plane, own)
    # the coefficients are this function's: inverse-transformed and squared in their memory
    band = fft.idctn(coeffs, type=2, norm="ortho", workers=1, overwrite_x=True)
    np.multiply(band, band, out=band)
    band /= max(mean, 1e-12) ** 2
    return band


def score_shape(shape, axes: str, tile: int | None = None) -> tuple[int, ...]:
    """Shape of the scores of an image: one per slice (the axes but Y, X, S), plus the tile
    grid (rows, columns) when scored in tiles."""
    shape = tuple(int(s) for s in shape)
    loop = tuple(shape[axes.index(a)] for a in loop_axes(axes, "YXS"))
    if tile is None:
        return loop
    ny, nx = shape[axes.index("Y")], shape[axes.index("X")]
    return loop + (math.ceil(ny / tile), math.ceil(nx / tile))


def _sample_mean(array: np.ndarray, axis: int) -> np.ndarray:
    """``array.mean(axis=axis)`` as float32, in bands (no 8-byte-a-pixel float64 mean)."""
    out = np.empty(array.shape[:axis] + array.shape[axis + 1:], dtype=np.float32)
    step = max(1, BAND_PX // max(1, out.size // max(1, out.shape[0])))
    for start in range(0, out.shape[0], step):
        band = (slice(None),) * (axis == 0) + (slice(start, start + step),)
        out[start:start + step] = array[band].mean(axis=axis)
    return out


def gray_plane(plane, plane_axes: str, camera_offset: float = 0.0) -> tuple[np.ndarray, bool]:
    """A (Y, X) float32 plane: RGB planes are scored on their luminance (mean of S, alpha
    left out by the caller), less ``camera_offset`` (clipped at 0); and whether it is a copy
    made here, which the caller may overwrite."""
    given = np.asarray(plane)
    array = _sample_mean(given, plane_axes.index("S")) if "S" in plane_axes else given
    array = array.astype(np.float32, copy=False)
    owned = array is not given
    # integer pixels are finite as float32 (2^64 < 3.4e38): no look at every pixel for them
    if given.dtype.kind not in "iub" and not np.all(np.isfinite(array)):
        raise ValueError("image contains NaN or Inf pixels; replace them (e.g. np.nan_to_num) "
                         "to score its focus")
    if camera_offset:  # 0: the plane as it is, bit for bit (negative pixels included)
        array = np.subtract(array, np.float32(camera_offset), out=array if owned else None)
        array, owned = np.maximum(array, np.float32(0), out=array), True
    # the score divides by the plane's squared mean: at a mean of 0 or below (an image with a
    # negative offset) it came out near 1e25, so no threshold could tell sharp from blurred
    mean = float(array.mean(dtype=np.float64))
    if mean <= 0 and array.max() > array.min():
        raise ValueError(
            f"a plane's mean intensity is {mean:.3g}: focus scores are relative to the mean "
            f"intensity, so they need intensities that are 0 where there is no light (this "
            f"image goes down to {float(array.min()):.3g}, e.g. after background "
            "subtraction); score the image from before the subtraction, or add an offset that "
            "makes every pixel >= 0 (on the command line, to the file: --camera-offset only "
            "subtracts a dark level >= 0)")
    return array, owned


def _plane_scores(plane: np.ndarray, tile: int | None, device: torch.device,
                  valid: np.ndarray | None = None, own: bool = False):
    """The score of one (Y, X) plane, or its per-tile scores; ``valid`` (``scored_region``):
    the pixels scored, None for all; ``own``: ``plane`` is scratch, overwritten (CPU)."""
    with torch.inference_mode():
        if valid is not None:
            return _region_scores(plane, valid, tile, device)
        if device.type == "cpu" and tile is None:
            return _spectral_score(plane, own)
        if device.type == "cpu":
            energy = torch.from_numpy(_spectral_energy_map(plane, own))
        else:
            energy = band_pass_energy_map(torch.from_numpy(plane).to(device)[None])[0]
        if tile is None:
            return energy.mean().item()
        return _tile_means(energy, tile).cpu().numpy()


def _tile_means(energy: torch.Tensor, tile: int) -> torch.Tensor:
    """(rows, columns) nan-means of ``tile`` px squares of a (Y, X) map."""
    # a tile larger than the plane is the whole plane (as the deblur's tiler shrinks it):
    # padding to the tile as given could need gigabytes
    ty, tx = min(tile, energy.shape[0]), min(tile, energy.shape[1])
    nx = math.ceil(energy.shape[1] / tx)
    # bands of tile rows (the same means, bit for bit): padded, reordered and nanmean'd whole,
    # a 16384 x 16384 map took several GB
    rows = max(1, BAND_PX // (ty * nx * tx))
    means = []
    for start in range(0, energy.shape[0], rows * ty):
        band = energy[start:start + rows * ty]
        ny = math.ceil(band.shape[0] / ty)
        # per-tile means with a partial last tile: pad with NaN and use nanmean
        padded = F.pad(band, (0, nx * tx - band.shape[1], 0, ny * ty - band.shape[0]),
                       value=float("nan"))
        blocks = padded.reshape(ny, ty, nx, tx).permute(0, 2, 1, 3).reshape(ny, nx, -1)
        means.append(torch.nanmean(blocks, dim=-1))
    return torch.cat(means)


def _region_scores(plane: np.ndarray, valid: np.ndarray, tile: int | None,
                   device: torch.device):
    """``_plane_scores`` over the ``valid`` pixels only: their band-pass energy over their
    mean^2. A tile with no valid pixel lies in the constant border: it scores 0, as a constant
    plane does."""
    from scipy import fft

    if device.type == "cpu":
        band = fft.idctn(_spectral_band_pass(plane)[0], type=2, norm="ortho", workers=1,
                         overwrite_x=True)
        energy = torch.from_numpy(np.multiply(band, band, out=band))
    else:
        energy = _dog_energy(torch.from_numpy(plane).to(device)[None])[0]
    mean = float(plane[valid].mean(dtype=np.float64))
    energy /= max(mean, 1e-12) ** 2
    energy[~torch.from_numpy(valid).to(energy.device)] = float("nan")
    if tile is None:
        return torch.nanmean(energy).item()
    return torch.nan_to_num(_tile_means(energy, tile), nan=0.0).cpu().numpy()


# a border: pixels exactly at the plane's min or max, in solid parts (BORDER_WIDTH px squares)
# touching the plane's edge, at least as many as a BORDER_WIDTH px strip along its shorter side
# (a 3 px black strip raised an EM section's score 1.24x), lying outside the convex hull of the
# rest (all but BORDER_HULL_SHARE of them, and the pixel staircase of a slanted edge: at most
# half a pixel per pixel of edge): the fill around a shifted or rotated section. Dark cell
# interiors or clipped background at an edge lie between scored pixels, inside that hull.
BORDER_WIDTH = 3
BORDER_HULL_SHARE = 0.1
# the DoG's reach: a step's response is 0.14 % of the step 3 coarse sigmas away
BORDER_MARGIN = 3 * SIGMA_COARSE


def scored_region(gray: np.ndarray, low: float | None = None, high: float | None = None
                  ) -> np.ndarray | None:
    """(Y, X) bool: the pixels of a plane that are scored: all but its ``constant_border`` and
    the BORDER_MARGIN px next to it; None without such a border or under MIN_TILE^2 px left."""
    if (border := constant_border(gray, low, high)) is None:
        return None
    from scipy import ndimage
    # a square margin (chessboard distance): covers the round one, 15x faster than Euclidean
    valid = ndimage.distance_transform_cdt(~border, metric="chessboard") > BORDER_MARGIN
    return valid if np.count_nonzero(valid) >= MIN_TILE**2 else None


def constant_border(gray: np.ndarray, low: float | None = None, high: float | None = None
                    ) -> np.ndarray | None:
    """(Y, X) bool: a plane's border of pixels exactly at its min or max (see BORDER_*), None
    where it has none. ``low``, ``high``: the plane's min and max, if known."""
    low = float(gray.min()) if low is None else low
    high = float(gray.max()) if high is None else high
    edge = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    border = None
    for value in {low, high}:
        # an image without that value on its edge (nearly all) costs one look at the edge
        if not np.any(edge == value):
            continue
        same = gray == value
        if np.count_nonzero(same) < BORDER_WIDTH * min(same.shape):
            continue
        part = _edge_border(same)
        if part is not None:
            border = part if border is None else border | part
    return border


def _edge_border(same: np.ndarray) -> np.ndarray | None:
    """The solid parts of ``same`` touching the plane's edge, if they make a border."""
    from scipy import ndimage

    solid = ndimage.binary_opening(same, np.ones((BORDER_WIDTH, BORDER_WIDTH), dtype=bool))
    if not solid.any():  # scattered pixels at the min or max: no int32 label plane to make
        return None
    labels, _ = ndimage.label(solid)
    touching = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    border = np.isin(labels, touching[touching > 0])
    count = np.count_nonzero(border)
    if count < BORDER_WIDTH * min(border.shape):
        return None
    rest = ~border
    inside = _hull_area(rest) - np.count_nonzero(rest)  # border pixels amid the valid ones
    staircase = sum(border.shape)  # half a pixel along the valid region's perimeter, at most
    return border if inside <= BORDER_HULL_SHARE * count + staircase else None


def _hull_area(mask: np.ndarray) -> float:
    """Area (px) of the convex hull of a (Y, X) mask's pixels (as squares)."""
    from scipy.spatial import ConvexHull

    rows = np.flatnonzero(mask.any(axis=1))
    first = mask.argmax(axis=1)[rows] - 0.5
    last = mask.shape[1] - mask[:, ::-1].argmax(axis=1)[rows] - 0.5
    corners = [np.stack([rows + dy, cols], axis=1)
               for dy in (-0.5, 0.5) for cols in (first, last)]
    return float(ConvexHull(np.concatenate(corners)).volume)  # a 2D hull's volume: its area


def iter_focus_scores(
    image, *, axes: str | None = None, tile: int | None = None, device: str = "cpu",
    camera_offset: float = 0.0,
) -> Generator[ScoreProgress, None, float | np.ndarray]:
    """The focus scores of ``image``, one plane at a time: yields a ScoreProgress per plane
    (closing the generator stops there) and returns what ``focus_score`` returns. Arguments
    are checked when this is called."""
    image = host_image(image)
    if not all(hasattr(image, a) for a in ("shape", "dtype", "__getitem__")):
        raise TypeError(f"image must be an array, not {type(image).__name__}")
    if np.dtype(image.dtype).kind not in "uif":
        raise TypeError(f"image has dtype {image.dtype}; give integer or float intensities")
    shape = tuple(int(s) for s in image.shape)
    axes = check_axes(axes, shape)
    tile = check_focus_tile(tile)
    offset = check_camera_offset(camera_offset)
    ny, nx = shape[axes.index("Y")], shape[axes.index("X")]
    if min(ny, nx) < MIN_TILE:
        raise ValueError(f"image planes of {ny} x {nx} px are too small to score (>= {MIN_TILE})")
    # an alpha sample is opacity: averaged in as intensity it lowered an RGBA plane's score
    # about 3x (gray + alpha 10x), so RGBA and RGB images of one field scored apart
    return _iter_scores(colour_part(image, axes), axes, shape, tile, resolve_device(device),
                        offset)


# a plane whose largest magnitude has a frexp exponent outside these is scaled by a power of two
# (exact; the score is a ratio): below, the mean's 1e-12 floor and float32 squares took over (a
# plane times 1e-12 scored 1.6e-4, not 0.105); above, squares overflowed (tiles inf at 1e20)
SCALED_EXPONENTS = (-16, 48)


def _in_range(gray: np.ndarray, owned: bool, low: float, high: float):
    """(gray, owned, low, high) of a plane brought into SCALED_EXPONENTS, as they are if in."""
    exponent = math.frexp(max(abs(low), abs(high)))[1]
    if SCALED_EXPONENTS[0] <= exponent <= SCALED_EXPONENTS[1]:
        return gray, owned, low, high
    gray = np.ldexp(gray, -exponent, out=gray if owned else None)
    return gray, True, *(float(np.ldexp(np.float32(v), -exponent)) for v in (low, high))


def _iter_scores(image, axes, shape, tile, device, offset):
    out = np.empty(score_shape(shape, axes, tile), dtype=np.float64)
    plane_axes = "".join(a for a in axes if a in "YXS")
    planes = plane_indices(axes, shape, "YXS")
    for done, (index, plane) in enumerate(iter_planes(image, axes, "YXS"), start=1):
        gray, owned = gray_plane(plane, plane_axes, offset)
        low, high = float(gray.min()), float(gray.max())
        gray, owned, low, high = _in_range(gray, owned, low, high)
        # a constant plane has no structure: its band-pass is rounding noise, which divided by
        # a mean at or below 0 (clamped to 1e-12) scored a blank plane 1e10, above any image
        out[index] = (0.0 if high == low else _plane_scores(
            gray, tile, device, scored_region(gray, low, high), own=owned))
        del gray  # transformed in place when owned: not held while the next plane is read
        yield ScoreProgress(done, len(planes))
    return float(out) if out.ndim == 0 else out


def focus_score(
    image, *, axes: str | None = None, tile: int | None = None, device: str = "cpu",
    camera_offset: float = 0.0,
) -> float | np.ndarray:
    """Sharpness of an image (float), of each slice (array over the non-YX axes), or of each
    tile (``tile`` px squares; array (..., tiles_y, tiles_x)). Higher is sharper.
    ``camera_offset``: the camera's dark level, subtracted first (clipped at 0) so that scores
    of acquisitions at other brightness compare; calibrate and score with the same value.

    Tiles are scored on the band-pass response of the whole plane, so tile borders are not
    edges; a partial tile at the right or bottom edge is scored over the pixels it has.
    """
    return drive(iter_focus_scores(image, axes=axes, tile=tile, device=device,
                                   camera_offset=camera_offset))


# a tile holds structure when some pixel, smoothed over STRUCTURE_SIGMA px, lies this many
# noise sigmas (of the smoothed noise) from the plane's median (``structure_mask``)
STRUCTURE_SIGMA = 2.0
STRUCTURE_NOISE_SIGMAS = 6.0
# ... and, where the noise is at or below one grey level (``noise_unmeasured``), also this
# share of the plane's contrast (99.9th percentile of that distance from the median). The sharp
# 8-bit HT29 nuclei sample (MAD 1 grey level): 6 sigmas were 0.89 levels, so a background 1
# level darker (1.2) and a dust speck (4.4, 4.6) counted as structure, against 37 to 139 for
# its tiles with nuclei (the contrast: 101): calibrated on, those near-empty tiles (scores
# 2e-5 to 1.7e-4) put the threshold under every tile of the noisy blurred copy
STRUCTURE_MIN_CONTRAST = 0.07


def noise_unmeasured(diff: np.ndarray, mad: float) -> bool:
    """Whether neighbour differences ``diff`` (their median absolute deviation ``mad``) say
    nothing of the noise: ``mad`` is 0, or no more than the grey-level step (the smallest
    non-zero difference: 1 in an integer image, 1/3 in the mean of three 8-bit channels). A
    clean 8-bit image or a noise-free float one; a noisy image's ``mad`` spans several steps."""
    steps = diff[diff != 0]
    # a MAD of whole steps: 1.5 tells 1 from 2 through float rounding of the steps
    return mad == 0 or steps.size == 0 or mad <= 1.5 * float(np.abs(steps, out=steps).min())


def structure_mask(gray: np.ndarray, *, min_contrast: float = 0.0, overwrite: bool = False
                   ) -> np.ndarray:
    """(Y, X) bool: pixels of a plane that rise above (or sink below: brightfield's dark cells)
    its background noise: the plane smoothed by STRUCTURE_SIGMA px, more than
    STRUCTURE_NOISE_SIGMAS noise sigmas (from neighbour differences) from its median, on a
    one-sided plane (``focus_defaults.structure_side``: bright cells on a dark background, or
    the reverse) on that side only and beyond the background's spread. Also what training
    patches are drawn on (``pair_matching``).

    ``min_contrast`` (the focus tiles' test passes STRUCTURE_MIN_CONTRAST) applies only where
    ``noise_unmeasured``: there a pixel must also lie that share of the plane's contrast from
    the median, as the noise no longer keeps background shading and specks out. ``overwrite``:
    a float32 ``gray`` is scratch, smoothed in place (one plane of memory less)."""
    return _structure_mask(gray.astype(np.float32, copy=False), min_contrast, overwrite)


def _structure_mask(g: np.ndarray, min_contrast: float, overwrite: bool) -> np.ndarray:
    """``structure_mask`` of a float32 plane; ``overwrite``: ``g`` is scratch, smoothed in place."""
    from scipy import ndimage

    step = max(1, math.isqrt(g.size // 2**20))  # medians of ~1 M pixels: as good, faster
    diff = np.diff(g[::step], axis=-1).ravel()
    deviation = diff - np.median(diff)
    mad = float(np.median(np.abs(deviation, out=deviation), overwrite_input=True))
    del deviation  # a copy of the differences: not held while the plane is smoothed
    noise = 1.4826 * mad / math.sqrt(2)
    smooth = ndimage.gaussian_filter(g, STRUCTURE_SIGMA, output=g if overwrite else None)
    # white noise of sigma n smoothed by a Gaussian of sigma s has sigma n / (2 sqrt(pi) s)
    level = STRUCTURE_NOISE_SIGMAS * noise / (2 * math.sqrt(math.pi) * STRUCTURE_SIGMA)
    sample = smooth[::step, ::step]
    median = float(np.median(sample))
    low, below, above, high = np.percentile(sample, (0.1, 15.87, 84.13, 99.9))
    side, margin = structure_side(low, below, median, above, high)
    level = max(level, margin)
    distance = np.subtract(smooth, median, out=smooth)  # in smooth's memory: ours, or scratch
    # one-sided: that side's distance only (a background under the median is no structure)
    distance = np.multiply(distance, side, out=distance) if side else np.abs(distance, out=distance)
    if min_contrast > 0 and noise_unmeasured(diff, mad):
        contrast = float(np.percentile(distance[::step, ::step], 99.9))
        level = max(level, min_contrast * contrast)
    return distance > level


def iter_structure_tiles(image, *, axes: str | None = None, tile: int
                         ) -> Generator[ScoreProgress, None, np.ndarray]:
    """Bool array shaped like ``focus_score(image, axes=axes, tile=tile)``: True for the tiles
    with some structure above the background noise, one plane at a time (yields a
    ScoreProgress per plane; ``structure_mask``). A sparse fluorescence image's background
    tiles score only their noise: calibrated on with the cells, they put the threshold among
    themselves (synthetic sparse image, percentile 25: 13 of 37 background tiles selected,
    none of 11 blurred cell tiles); so the Focus dock leaves them out of both."""
    image = host_image(image)
    shape = tuple(int(s) for s in image.shape)
    axes = check_axes(axes, shape)
    tile = check_focus_tile(tile)
    return _iter_structure(colour_part(image, axes), axes, shape, tile)


def _iter_structure(image, axes, shape, tile):
    out = np.zeros(score_shape(shape, axes, tile), dtype=bool)
    plane_axes = "".join(a for a in axes if a in "YXS")
    total = len(plane_indices(axes, shape, "YXS"))
    for done, (index, plane) in enumerate(iter_planes(image, axes, "YXS"), start=1):
        mask = _structure_mask(scratch_float_plane(plane, plane_axes),
                               STRUCTURE_MIN_CONTRAST, overwrite=True)
        ty, tx = min(tile, mask.shape[0]), min(tile, mask.shape[1])
        # whether any pixel of each tile: an OR, not an int64 count (2-10x faster)
        rows = np.logical_or.reduceat(mask, np.arange(0, mask.shape[0], ty), axis=0)
        out[index] = np.logical_or.reduceat(rows, np.arange(0, mask.shape[1], tx), axis=1)
        yield ScoreProgress(done, total)
    return out


def scratch_float_plane(plane, plane_axes: str) -> np.ndarray:
    """``np.nan_to_num`` of a plane's float32 (channel mean), a copy the caller may overwrite."""
    given = np.asarray(plane)
    array = given.astype(np.float32, copy=False)
    if "S" in plane_axes:
        array = array.mean(axis=plane_axes.index("S"))
    if given.dtype.kind in "iub" and array is not given:  # a new copy, and finite already
        return array
    return np.nan_to_num(array, copy=array is given)


def structure_tiles(image, *, axes: str | None = None, tile: int) -> np.ndarray:
    """Blocking twin of ``iter_structure_tiles``."""
    return drive(iter_structure_tiles(image, axes=axes, tile=tile))


def iter_structure_planes(image, *, axes: str | None = None
                          ) -> Generator[ScoreProgress, None, np.ndarray]:
    """Bool array shaped like ``focus_score(image, axes=axes)``: True for the planes with some
    structure above the background noise (``iter_structure_tiles`` with one tile as large as
    the plane; a blank or constant plane has none), one plane at a time. Its score is that of
    noise, or 0: ranked softest, it is no soft focus, so selection and ``watch`` leave it out."""
    shape = tuple(int(s) for s in image.shape)
    axes = check_axes(axes, shape)
    side = max(shape[axes.index("Y")], shape[axes.index("X")], MIN_TILE)
    return _reshaped(iter_structure_tiles(image, axes=axes, tile=side), score_shape(shape, axes))


def _reshaped(tiles, shape):
    found = yield from tiles
    return found.reshape(shape)


def structure_planes(image, *, axes: str | None = None) -> np.ndarray:
    """Blocking twin of ``iter_structure_planes``."""
    return drive(iter_structure_planes(image, axes=axes))


def focus_scores(stack, axes: str | None = "ZYX") -> np.ndarray:
    """The score of every plane of a z-stack (axes Z, Y, X and perhaps a channel axis), as a
    1D array, one score per plane (a plane's channels averaged, as RGB samples are); a plane
    that is constant or holds NaN/Inf pixels is an error (training data pairs planes by these
    scores). A lazy stack (dask, zarr) is read one plane at a time."""
    stack = host_image(stack)
    if not all(hasattr(stack, a) for a in ("shape", "dtype", "__getitem__")):
        raise TypeError(f"stack is a {type(stack).__name__}; accepted: an array (numpy, dask)")
    if np.dtype(stack.dtype).kind not in "uif":
        raise TypeError(f"stack has dtype {stack.dtype}; accepted: integer or float pixels")
    axes = check_axes(axes, tuple(int(n) for n in stack.shape))
    if "Z" not in axes:
        raise ValueError(f"axes={axes!r} has no Z axis; accepted: a stack such as 'ZYX'")
    # a T axis (or another besides Z) was looped over too, its scores flattened into one list
    if loop_axes(axes, "YXCS") != "Z":
        raise ValueError(
            f"axes={axes!r}: a focus stack has one Z axis (plus Y, X and perhaps a channel); "
            "score each time point's stack on its own (e.g. stack[t] with axes 'ZYX')")
    plane_axes = "".join(a for a in axes if a in "YXCS")
    scores = []
    for _, plane in iter_planes(stack, axes, "YXCS"):
        plane = np.asarray(plane, dtype=np.float32)
        if not np.all(np.isfinite(plane)):
            raise ValueError("a plane of stack holds NaN or infinite pixels; replace them "
                             "(np.nan_to_num)")
        if float(plane.max()) == float(plane.min()):
            raise ValueError(f"a plane of stack is constant (every pixel {float(plane.min())}"
                             "); accepted: an image with structure to learn from")
        # a channel axis gives one score per channel: their mean is the plane's (before, the
        # (Z, C) scores were flattened and best_focus_plane's index pointed into them)
        scores.append(float(np.mean(focus_score(plane, axes=plane_axes))))
    return np.asarray(scores, dtype=np.float64)


def best_focus_plane(stack, axes: str | None = "ZYX") -> int:
    """Index of the sharpest plane of a z-stack by ``focus_scores`` (one Z axis, plus Y, X and
    perhaps a channel axis)."""
    return int(np.argmax(focus_scores(stack, axes)))
