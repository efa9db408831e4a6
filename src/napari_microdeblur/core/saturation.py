"""Keep a few extreme pixels (saturated, hot, dead) from wrecking a network's whole tile.

A network sees the image normalised by its 0.1-99.9 percentiles (``inference.Normalization``),
so a 65535 pixel in a background of 103-119 became ~3850, far outside anything it was trained
on; its coarse scales spread the damage over the tile (a 128 px crop with 5 such pixels came
out at 17x its background). The network's input is clipped to ``NETWORK_INPUT_RANGE`` and
what was clipped off is added back to its output, so those pixels keep their value and the
result is continuous where a structure crosses the limit.

The range is measured (tests/test_saturation_2026_12_05.py and the report behind it):
c2f_unet.em_v2's output 8 px away from 5 pixels set to 5, 6, 10 times the percentile span
changed by 0.35, 0.81, 4.2 spans (fluorescence_v2: 0.05, 0.11, 0.88), while 238 test-split
images (raw and protocol A) normalised to -0.29 .. 2.53. Classical methods are not clipped:
they are linear in the image, or nearly so.

The clip alone held only while such pixels were under 0.1 % of the image: from there on they
ARE the 99.9th percentile, nothing lay outside the range, and the network saw the image
squeezed into a sliver of its range (ht29 crop, protocol A, 0.5 % of pixels at 40x its
maximum: the result 0.26x the truth, error 20.8 against the input's 4). ``percentile_range``
therefore leaves isolated outliers out of the percentiles (``isolated_outliers``): a pixel
beyond the range that at most one of its 8 neighbours joins, judged against the image with
such pixels cut to their neighbours. A compact bright object (a bead, a saturated cell: 3 or
more pixels together) is signal and stays in; so does anything on an image whose percentiles
the outliers did not move (``OUTLIER_SHIFT``): those runs are as before, bit for bit (153 test
images and samples: the same offset and scale). A strided sample (a plane over 4 Mpx) must
also show a leap in value, as a bead's sloping sides do not. Past the range, a pixel standing
alone is shown to the network as the median of its 3 x 3 (``_fill_isolated``): clipped, 2 %
of them were still spikes at the range's edge that hazed the image. Measured (ht29 crop,
protocol A, hot pixels at 40x the 8-bit maximum, fluorescence_v2; PSNR of the non-hot pixels):
0.5 % hot 1.9 dB before, 40.3 dB now (40.3 clean, input 37.2); 2 % -3.3 dB, 38.2 dB. More
than a few % (4 %: clusters of 3 then make up 0.15 % of the image) is beyond it.

A lone pixel within the range (a hot pixel at a 12-bit camera's 4095 on a peak of 3000, a
dead one at 0 under an offset of 100) is narrower than any blur and came out a blob or a
ring, classical methods included: ``lone_pixels`` finds those, by their lead over their
neighbours against the noise, the neighbours' spread and, above, how far above the dark level
(``LONE_RATIO``), and ``clipped_forward`` shows them to the method as the median of their
3 x 3 and adds back what it took off (classical methods: ``classical_input``). Over
/work/shared/data (160 Mpx: fluorescence, EM, brightfield, histology) it found 84 pixels:
the hot pixels of two 8-bit screens (8), a light-sheet sCMOS's low pixels (72) and 4 of the
dithered black border of an RGB scan; no bead or punctum. An image without one runs as
before, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

__all__ = ["NEIGHBOURS", "NETWORK_INPUT_RANGE", "OUTLIER_SHIFT", "OUTLIER_SUSPECT",
           "clip_and_record", "clip_note", "clipped_forward", "clips", "count_beyond",
           "isolated_outliers", "percentile_range"]

#: (low, high) of a network's input in normalised units (0 and 1: the 0.1 and 99.9
#: percentiles); pixels beyond are clipped (or, standing alone, replaced by their 3 x 3
#: median) for the network and their excess added back
NETWORK_INPUT_RANGE = (-3.0, 4.0)
#: isolated outliers are looked for only where the percentiles span more than this many times
#: the 5-95 % spread (outliers that set them span at least 4x: ``NETWORK_INPUT_RANGE``); an
#: image below (most: nuclei, tissue, EM) is normalised as before without further work
OUTLIER_SUSPECT = 3.0
#: ... and left out only where that moves either percentile by more than this fraction of the
#: span without them: a few hot pixels under 0.1 % leave the normalisation as it was (the clip
#: alone handles them, as before)
OUTLIER_SHIFT = 0.05


def clips(method, norm) -> bool:
    """Whether a run of ``method`` with ``norm`` runs its forward through ``clipped_forward``:
    a network on percentile-normalised input (clipped, lone pixels filled); a classical method
    on the units it scales the image to itself ('scale', 'shift': lone pixels filled,
    ``classical_input``), not on a normalisation given in another kind (nothing is read for
    a line on it: the flat check's chunk reads stay as they were). A classical run given its
    normalisation (a cluster's chunk) reads no sample for the line either (prepare_deblur):
    its tiles fill lone pixels unsaid, as a given normalisation had read nothing before."""
    if method.is_classical:
        return norm.kind in ("scale", "shift")
    return norm.kind == "percentile"


def classical_input(forward: Callable[[torch.Tensor], torch.Tensor]):
    """A classical method's ``forward`` as ``clipped_forward`` takes it: its input is not
    clipped (it is linear in it, or nearly), only its lone pixels (``lone_pixels``) filled. A
    lone pixel deconvolved rings: 20 of 65535 among 100-3000 left rings down to -2676 under
    Wiener (16.87 dB where 39.99 without), and pulled 753 pixels to 0 under 20 Richardson-Lucy
    iterations."""

    def run(x: torch.Tensor) -> torch.Tensor:
        return forward(x)

    run.input_range = (-math.inf, math.inf)
    run.dark_level = None  # its units start at 0 or the minimum: a plane's own level, whole
    return run


def clipped_forward(forward: Callable[[torch.Tensor], torch.Tensor],
                    low: float = NETWORK_INPUT_RANGE[0], high: float = NETWORK_INPUT_RANGE[1]):
    """``forward`` on its input clipped to [low, high] (a pixel beyond that stands alone: its
    3 x 3 median, ``_fill_isolated``) and with its lone pixels (``lone_pixels``) shown as their
    3 x 3 median, what was taken off added back to its output (where the output has the
    input's shape); a batch with neither runs unchanged. A forward's ``input_range``
    (``classical_input``) stands for [low, high]."""
    low, high = getattr(forward, "input_range", (low, high))
    # a network's input is normalised: 0 is the image's 0.1st percentile, below a tile's
    dark = getattr(forward, "dark_level", 0.0)
    bounded = math.isfinite(low) or math.isfinite(high)

    def run(x: torch.Tensor) -> torch.Tensor:
        held = x.clamp(low, high) if bounded else x
        lone = lone_pixels(x, dark=dark)
        if lone is None and (held is x or torch.equal(held, x)):
            return forward(x)  # the usual case: bit-identical to the method alone
        if held is not x:
            held = _fill_isolated(x, held)
        if lone is not None:
            held = fill_lone(held, lone)
        y = forward(held)
        if y.shape != x.shape:  # another channel count: no pixel to give the excess to
            return y
        return y + (x - held).to(y.device, y.dtype)

    return run


def _fill_isolated(x: torch.Tensor, held: torch.Tensor) -> torch.Tensor:
    """``held`` (``x`` clipped) with each clipped pixel that at most one of its 8 neighbours
    (in the last two axes) joins in being clipped set to the median of its 3 x 3: a hot pixel
    clipped to the range's edge was still a spike there, and 2 % of them spread into a bright
    haze (ht29, protocol A: error 5.4 against the input's 3.0). A compact bright object
    (3 or more pixels) stays clipped, as before."""
    if x.ndim < 3 or min(x.shape[-2:]) < 3:
        return held
    planes = held.reshape(-1, 1, *held.shape[-2:]).float()
    beyond = (held != x).reshape(planes.shape).float()
    neighbours = torch.nn.functional.unfold(
        torch.nn.functional.pad(beyond, (1, 1, 1, 1)), 3).sum(1).view(planes.shape) - beyond
    near = torch.nn.functional.unfold(torch.nn.functional.pad(planes, (1, 1, 1, 1),
                                                              mode="reflect"), 3)
    median = near.median(dim=1).values.view(planes.shape)
    alone = (beyond > 0) & (neighbours <= 1)
    return torch.where(alone, median, planes).view(held.shape).to(held.dtype)


def percentile_range(sample: np.ndarray, low: float, high: float, axes: str | None = None,
                     shape=None) -> tuple[float, float, float]:
    """(offset, span, left out): ``sample``'s ``low`` and ``high`` percentiles as offset and
    span (its min and max where those agree; a span of 1 where all agree), the isolated
    outliers (``isolated_outliers``) left out where they moved them (``OUTLIER_SHIFT``); left
    out: the fraction of ``sample`` that was. ``axes``: ``sample``'s (None: no outlier is
    looked for); ``shape``: the image's, which ``sample`` may stride (``isolated_outliers``)."""
    lo, hi, p5, p95 = (float(v) for v in np.percentile(sample, [low, high, 5, 95]))
    if hi - lo <= 0:
        lo, hi = float(sample.min()), float(sample.max())
    plain = (lo, hi - lo if hi > lo else 1.0, 0.0)
    if axes is None or hi - lo <= OUTLIER_SUSPECT * (p95 - p5):
        return plain
    mask = isolated_outliers(sample, axes, low, high, shape, (p5, p95))
    if mask is None:
        return plain
    rest = sample[~mask]
    lo_r, hi_r = (float(v) for v in np.percentile(rest, [low, high]))
    if hi_r - lo_r <= 0:
        lo_r, hi_r = float(rest.min()), float(rest.max())
    span = hi_r - lo_r if hi_r > lo_r else 1.0
    if max(abs(lo - lo_r), abs(hi - hi_r)) <= OUTLIER_SHIFT * span:
        return plain
    return lo_r, span, float(np.count_nonzero(mask) / mask.size)


def isolated_outliers(sample: np.ndarray, axes: str, low: float, high: float, shape=None,
                      tails: tuple[float, float] | None = None) -> np.ndarray | None:
    """Where ``sample`` (of ``axes``) holds isolated outliers, or None where it holds none: a
    pixel beyond ``NETWORK_INPUT_RANGE`` of the percentiles of ``sample`` with its extreme
    pixels cut to the 2nd highest and 2nd lowest of their 8 neighbours in Y, X, where at most
    one of those neighbours is beyond too (a hot pixel, or two side by side). Only the pixels
    beyond ``tails`` (its 5 and 95 % percentiles) are looked at: their neighbours are gathered,
    so an image costs a tenth of a pass over each neighbour. A sample strided from an image of
    ``shape`` has neighbours a stride apart, so a bead can stand alone in it: there the
    outliers must also lie past a leap in value (``_jump``)."""
    if "Y" not in axes or "X" not in axes:
        return None
    ends = (axes.index("Y"), axes.index("X"))
    x = np.moveaxis(sample, ends, (-2, -1))
    if min(x.shape[-2:]) < 3:
        return None
    flat = np.ravel(x if x.dtype.kind == "f" else x.astype(np.float64))
    t_low, t_high = tails if tails is not None else np.percentile(flat, [5, 95])
    picked = np.flatnonzero((flat > t_high) | (flat < t_low))
    if picked.size == 0:
        return None
    value, (bottom2, top2) = flat[picked], _second_neighbours(flat, picked, x.shape[-2:])
    lo, hi = _cut_percentiles(flat, picked, np.clip(value, bottom2, top2), (low, high),
                              (t_low, t_high))
    if hi <= lo:
        return None
    down, up = (lo + v * (hi - lo) for v in NETWORK_INPUT_RANGE)
    high_side, low_side = (value > up) & (top2 <= up), (value < down) & (bottom2 >= down)
    if shape is not None and tuple(x.shape[-2:]) != tuple(shape[i] for i in ends):
        high_side &= value >= _jump(value[value > t_high] - lo, up - lo) + lo  # strided
        low_side &= value <= hi - _jump(hi - value[value < t_low], hi - down)
    if not (high_side.any() or low_side.any()):
        return None
    mask = np.zeros(flat.size, bool)
    mask[picked[high_side | low_side]] = True
    return np.moveaxis(mask.reshape(x.shape), (-2, -1), ends)


def _jump(distances: np.ndarray, beyond: float) -> float:
    """The least of ``distances`` (from the range, >= 0) past ``beyond`` that is at least
    twice the next one below it: where the values leap, as hot pixels of a few values do
    over the image and a bead's sloping sides do not; inf where they never leap."""
    ordered = np.unique(distances)
    leaps = np.flatnonzero((ordered[1:] >= 2 * ordered[:-1]) & (ordered[1:] > beyond))
    return float(ordered[leaps[0] + 1]) if leaps.size else np.inf


def _second_neighbours(flat: np.ndarray, picked: np.ndarray, plane: tuple[int, int]):
    """The 2nd lowest and 2nd highest of the 8 neighbours in the last two axes (of size
    ``plane``) of the pixels ``picked`` of ``flat``; the border mirrored, so a border pixel's
    neighbours are other pixels."""
    height, width = plane
    row, col = (picked // width) % height, picked % width
    start = picked - row * width - col
    rows = [np.where(r >= height, 2 * height - 2 - r, np.abs(r)) * width
            for r in (row - 1, row, row + 1)]  # -1 -> 1, height -> height - 2
    cols = [np.where(c >= width, 2 * width - 2 - c, np.abs(c)) for c in (col - 1, col, col + 1)]
    low = low2 = np.full(picked.size, np.inf, flat.dtype)
    high = high2 = np.full(picked.size, -np.inf, flat.dtype)
    for i in range(9):
        if i != 4:
            near = flat[start + rows[i // 3] + cols[i % 3]]
            low2, low = np.minimum(low2, np.maximum(low, near)), np.minimum(low, near)
            high2, high = np.maximum(high2, np.minimum(high, near)), np.maximum(high, near)
    return low2, high2


def _cut_percentiles(flat, picked, cut, percents, tails) -> tuple[float, float]:
    """The low and high ``percents`` of ``flat`` with its ``picked`` pixels set to ``cut``
    (numpy's linear rule): from the cut values beyond ``tails`` alone (every other pixel lies
    within them) where the ranks fall among those, else from the whole."""
    n, found = flat.size, []
    for q, tail in zip(percents, (np.sort(cut[cut < tails[0]]), np.sort(cut[cut > tails[1]]))):
        rank = q / 100 * (n - 1)
        at = int(rank) - (n - tail.size if q > 50 else 0)  # its index in ``tail``
        if not (0 <= at and at + (rank > int(rank)) < tail.size):
            whole = flat.copy()
            whole[picked] = cut
            return tuple(float(v) for v in np.percentile(whole, percents))
        after = tail[min(at + 1, tail.size - 1)]
        found.append(float(tail[at] + (rank - int(rank)) * (after - tail[at])))
    return found[0], found[1]


# ----------------------------------------------------------------------------- lone pixels

#: A lone pixel (hot, or dead under a camera's offset) stands beyond its 2nd-nearest of 8
#: neighbours by more than this many times the noise at its brightness (``_PlaneScale``) ...
LONE_NOISE = 8.0
#: ... and by more than this many times the spread of its other neighbours (on texture as
#: sharp as itself it is content: 1 px specks of JPEG-compressed brightfield) ...
LONE_SPREAD = 3.0
#: ... and, above them, lies this many times as far above the dark level (the 0.1st
#: percentile) as its 2nd-brightest neighbour: a point blurred by a Gaussian of sigma 0.44 px,
#: on a pixel's centre, rises 6x over its 4 nearest neighbours. That is a network's bound (it
#: knows no PSF): in /work/shared/data the puncta of undersampled screens rose up to 4.3x, the
#: hot pixels found 6.6-21x. Below, a lone pixel lies under the dark level among neighbours
#: at it: no light is missing there.
LONE_RATIO = 6.0
_LONE_SAMPLE = 1 << 14  # pixels of a plane (evenly strided) its noise and levels are measured on
#: a pixel's 8 neighbours (row, column offsets), in the order their rows are stacked
NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
# made once: a tensor made from a Python list each plane kept ~250 B a file in a long batch
# (tests/test_batch_stability_2026_12_09.py)
_CUT_QUANTILES = torch.tensor([0.001, 0.999], dtype=torch.float64)
_LEVEL_QUANTILES = torch.tensor([0.5, 0.9], dtype=torch.float64)
_EDGES = torch.tensor([1, 3, 4, 6])  # of NEIGHBOURS: up, left, right, down


def lone_pixels(x: torch.Tensor, ratio: float = LONE_RATIO,
                dark: float | None = None) -> torch.Tensor | None:
    """Where ``x`` (planes in its last two axes, at least 3 x 3) holds lone pixels, hot or
    dead, as a bool tensor of its shape; None where it holds none. A pixel is one where it
    stands ``LONE_NOISE`` times its noise and ``LONE_SPREAD`` times its other neighbours'
    spread beyond its 2nd-nearest neighbour, and above, ``ratio`` times as high over the dark
    level as that neighbour (below: under the dark level among neighbours at it). Two side by
    side are two such pixels; a third beside them makes all three content (a bead's core).
    ``dark``: a level at or below the whole image's dark level, for a tile of it that lies all
    above it (in a cell: its puncta rose 5.1x over their neighbours from there, 3.75x from the
    image's); above, the ratio counts from the lower of the two."""
    if x.ndim < 2 or min(x.shape[-2:]) < 3:
        return None
    if x.device.type == "mps":  # no float64, and not every op: looked for on the CPU
        lone = lone_pixels(x.detach().cpu(), ratio, dark)
        return None if lone is None else lone.to(x.device)
    planes = x.detach().reshape(-1, *x.shape[-2:])
    found = [(i, _lone_in_plane(p, ratio, dark)) for i, p in enumerate(planes)]
    found = [(i, at) for i, at in found if at is not None]
    if not found:
        return None
    mask = torch.zeros(planes.shape, dtype=torch.bool, device=x.device)
    for i, (ys, xs) in found:
        mask[i, ys, xs] = True
    return mask.view(x.shape)


def fill_lone(x: torch.Tensor, lone: torch.Tensor) -> torch.Tensor:
    """``x`` with each pixel where ``lone`` holds set to the median of its 3 x 3 (mirrored at
    the border; the lower middle of two hot pixels side by side and 7 neighbours)."""
    planes = x.reshape(-1, *x.shape[-2:])
    index, ys, xs = torch.nonzero(lone.reshape(planes.shape), as_tuple=True)
    height, width = planes.shape[-2:]
    near = torch.stack([planes[index, _mirror(ys + dy, height), _mirror(xs + dx, width)]
                        for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    filled = planes.clone()
    filled[index, ys, xs] = near.median(dim=0).values
    return filled.view(x.shape)


def _mirror(i: torch.Tensor, n: int) -> torch.Tensor:
    """Indices one past either end mirrored in (-1 -> 1, n -> n - 2), as numpy's 'reflect'."""
    return torch.where(i < 0, -i, torch.where(i >= n, 2 * n - 2 - i, i))


class _PlaneScale:
    """A plane's noise at each brightness, dark level (0.1st percentile) and ceiling (99.9th),
    measured on up to ``_LONE_SAMPLE`` of its pixels: the noise as a Poisson-Gaussian line
    through the high-pass spread of the darker half and of the brightest tenth, at least
    their smaller and one grey level (the step between values: integers, 8-bit JPEG) or a
    1000th of the range (a noise-free image); the levels of the plane with each pixel cut to
    its 2nd-nearest neighbours, so lone pixels do not move them."""

    def __init__(self, plane: torch.Tensor, padded: torch.Tensor):
        from .devices import wide_dtype

        self.wide = wide = wide_dtype(plane.device)  # float64, where the device has it
        height, width = plane.shape
        stride = max(1, math.ceil(math.sqrt(plane.numel() / _LONE_SAMPLE)))
        ys, xs = torch.meshgrid(torch.arange(0, height, stride, device=plane.device),
                                torch.arange(0, width, stride, device=plane.device),
                                indexing="ij")
        ys, xs = ys.reshape(-1), xs.reshape(-1)
        value, around = plane[ys, xs], _around(padded, ys, xs)
        _, low2, high2, _ = _extremes(around)
        cut = torch.minimum(torch.maximum(value, low2), high2).to(wide)
        self.floor, self.ceiling = (float(v) for v in torch.quantile(
            cut, _CUT_QUANTILES.to(cut)))
        edges = around[_EDGES.to(around.device)]  # up, left, right, down
        residual = (value - edges.mean(dim=0)).to(wide)
        level = ((value + around.sum(dim=0)) / 9).to(wide)
        middle, top = (float(v) for v in torch.quantile(
            level, _LEVEL_QUANTILES.to(level)))
        dark, bright = level <= middle, level >= top
        self.var_dark, self.var_bright = _variance(residual[dark]), _variance(residual[bright])
        self.level_dark = float(level[dark].median())
        level_bright = float(level[bright].median())
        rise = self.var_bright - self.var_dark
        self.gain = max(0.0, rise / (level_bright - self.level_dark)) \
            if level_bright > self.level_dark else 0.0
        steps = torch.diff(torch.unique(value))
        self.least = max(float(steps.median()) if steps.numel() else 0.0,
                         (self.ceiling - self.floor) / 1000,
                         math.sqrt(min(self.var_dark, self.var_bright)))

    def noise(self, level: torch.Tensor) -> torch.Tensor:
        variance = self.var_dark + self.gain * (level.to(self.wide) - self.level_dark)
        return variance.clamp_min(0).sqrt().clamp_min(self.least)


def _variance(residual: torch.Tensor) -> float:
    """A pixel's noise variance from its high-pass ``residual`` (itself minus the mean of its 4
    nearest neighbours: 1.25x the variance), robustly (MAD); where most residuals are 0 (a
    photon-counting background), their mean deviation within the 99th percentile."""
    if residual.numel() == 0:
        return 0.0
    deviation = (residual - residual.median()).abs()
    spread = 1.4826 * float(deviation.median())
    if spread <= 0:
        kept = deviation[deviation <= torch.quantile(deviation, 0.99)]
        spread = 1.2533 * float(kept.mean()) if kept.numel() else 0.0
    return spread * spread / 1.25


def _around(padded: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """The 8 neighbours (rows of ``NEIGHBOURS``) of the pixels (ys, xs) of the plane ``padded``
    mirrors by one pixel on each side."""
    return torch.stack([padded[ys + 1 + dy, xs + 1 + dx] for dy, dx in NEIGHBOURS])


def _extremes(around: torch.Tensor):
    """(lowest, 2nd lowest, 2nd highest, highest) of each column of ``around``, in one pass
    (a sort of 8 rows took 15 ms for a 256 px tile)."""
    low = high = around[0]
    low2, high2 = torch.full_like(low, math.inf), torch.full_like(low, -math.inf)
    for row in around[1:]:
        low2, low = torch.minimum(low2, torch.maximum(low, row)), torch.minimum(low, row)
        high2, high = torch.maximum(high2, torch.minimum(high, row)), torch.maximum(high, row)
    return low, low2, high2, high


def _lone_in_plane(plane: torch.Tensor, ratio: float, dark: float | None):
    """(rows, columns) of ``plane``'s lone pixels (``lone_pixels``), or None where none."""
    work = plane if plane.dtype == torch.float64 else plane.float()
    padded = torch.nn.functional.pad(work[None, None], (1, 1, 1, 1), mode="reflect")[0, 0]
    scale = _PlaneScale(work, padded)
    # a lone pixel is at least 3/4 of its lead over its 2nd-nearest neighbour off the mean of
    # its 4 nearest (one may be its partner), a lead of LONE_NOISE times the noise at its own
    # level or above (the noise rises with the level): only those are looked at
    residual = work - (padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2]
                       + padded[1:-1, 2:]) / 4
    lead = (scale.var_dark + scale.gain * (work - scale.level_dark)).clamp_min_(0).sqrt_()
    lead = lead.clamp_min_(scale.least).mul_(0.75 * LONE_NOISE)
    ys, xs = torch.nonzero(residual.abs_() > lead, as_tuple=True)
    del residual, lead
    if ys.numel() == 0:
        return None
    value, around = work[ys, xs].to(scale.wide), _around(padded, ys, xs).to(scale.wide)
    low1, low2, high2, high1 = _extremes(around)
    floor = scale.floor
    at_floor = LONE_NOISE * float(scale.noise(torch.tensor(floor, device=plane.device)))
    spread = LONE_SPREAD * (high2 - low2)
    base = floor if dark is None else min(floor, dark)
    hot = ((value - high2 > LONE_NOISE * scale.noise(value)) & (value - high2 > spread)
           & (value - base > ratio * (high2 - base)) & (high2 >= floor - at_floor))
    dead = ((low2 - value > LONE_NOISE * scale.noise(low2)) & (low2 - value > spread)
            & (floor - value > at_floor) & (low2 >= floor - at_floor))
    # one neighbour beyond too: kept where that neighbour is lone as well (a pair)
    alone = torch.where(hot, value - high1 > LONE_NOISE * scale.noise(value),
                        low1 - value > LONE_NOISE * scale.noise(low1))
    partner = torch.where(hot, around.argmax(dim=0), around.argmin(dim=0))
    found = hot | dead
    if not found.any():
        return None
    height, width = plane.shape
    offsets = torch.tensor(NEIGHBOURS, device=plane.device)[partner]
    partner_at = (_mirror(ys + offsets[:, 0], height) * width
                  + _mirror(xs + offsets[:, 1], width))
    found &= alone | torch.isin(partner_at, (ys * width + xs)[found])
    if not found.any():
        return None
    return ys[found], xs[found]


def count_beyond(sample: np.ndarray, norm) -> int:
    """How many pixels of ``sample`` (in the image's units) ``norm`` maps beyond the range."""
    low, high = NETWORK_INPUT_RANGE
    x = norm.apply(sample)
    return int(np.count_nonzero((x < low) | (x > high)))


def clip_note(count: int, sampled: int, total: int, norm) -> str:
    """The line a network run gives when ``count`` of ``sampled`` pixels (of ``total``) lie
    beyond the range; '' when none do."""
    if count == 0:
        return ""
    low, high = (norm.undo(np.float32(v), np.float64) for v in NETWORK_INPUT_RANGE)
    beyond = round(count * total / sampled)
    many = f"{count}" if sampled == total else f"about {beyond}"
    line = (f"{many} pixel{'s' * (many != '1')} lie outside {low:.4g} .. {high:.4g} (saturated, "
            "hot or dead pixels?): the network saw them clipped to that range (one standing alone: "
            "as its neighbours' median), which keeps them from disturbing the pixels around "
            "them, and their excess was added back unchanged")
    if left_out := getattr(norm, "isolated", 0.0):  # ``percentile_range`` left them out
        alone = min(beyond, round(left_out * total))
        # the share of the count said beside it (was the percentiles' left-out share: 5 pixels
        # of 65 536 said as 0.23 %); sparse photon counts stand alone as well
        line += (f"; {alone} of them stand alone (hot or dead pixels, or single photon events? "
                 f"{100 * alone / total:.2g} % of the image), so the range was set by the other "
                 "pixels, which they would have squeezed into a sliver of it")
    return line


def lone_in_sample(sample: np.ndarray, shape, axes: str | None = None,
                   ratio: float = LONE_RATIO, image=None, key=None) -> np.ndarray | None:
    """Where the statistics ``sample`` of an image of ``shape`` (of ``axes``; None: Y, X are
    its last two axes, or the two before a last one of 2-4 colours) holds lone pixels
    (``lone_pixels``), or None where none. A sample strided by s takes neighbours s apart,
    where a blurred bead falls off as its peak over its nearest neighbour to the power s^2.
    Given the ``image`` itself and the ``key`` that read ``sample`` from it, the sample's
    candidates (at ``ratio``) are each checked in its 3 x 3 of the image (``lone_strided``): a
    4095 hot pixel in a 2048 px frame was filled by the tiles but never said. Without them,
    the ratio is raised to the power s^2, which finds fewer of them than the tiles do."""
    if axes is not None and ("Y" not in axes or "X" not in axes):
        return None
    if axes is not None:
        ends = (axes.index("Y"), axes.index("X"))
    elif sample.ndim >= 3 and sample.shape[-1] <= 4:
        ends = (sample.ndim - 3, sample.ndim - 2)
    else:
        ends = (sample.ndim - 2, sample.ndim - 1)
    if sample.ndim < 2 or min(sample.shape[i] for i in ends) < 3:
        return None
    stride = max(math.ceil(shape[i] / sample.shape[i]) for i in ends)
    planes = np.moveaxis(sample, ends, (-2, -1))
    values = torch.from_numpy(np.ascontiguousarray(
        planes, dtype=np.float64 if planes.dtype == np.float64 else np.float32))
    from .lone_strided import sample_steps

    steps = None if stride == 1 or image is None else sample_steps(sample.shape, shape, key)
    if steps is None:  # whole, or strided with no image to check it in: as before
        lone = lone_pixels(values, min(ratio ** (stride * stride), 1e12))
        return None if lone is None else np.moveaxis(lone.numpy(), (-2, -1), ends)
    lone = lone_pixels(values, ratio)
    if lone is None:
        return None
    dark = float(np.percentile(sample, 0.1))
    found = _verified(np.moveaxis(lone.numpy(), (-2, -1), ends), image, steps, ends, ratio, dark)
    return found if found.any() else None


def _verified(candidates: np.ndarray, image, steps, ends, ratio: float, dark: float):
    """``candidates`` (a mask of the sample) kept where the pixel still stands alone among
    its 8 neighbours in ``image`` at full resolution (``lone_pixels``' spread and ratio over
    the ``dark`` level, against its 2nd-highest or 2nd-lowest neighbour): a bead's core that
    stood alone among neighbours a stride apart has bright ones right beside it. The noise
    test is the sample's (the 7 x 7 of the image alone measured it badly: 4 of 14 hot
    pixels kept)."""
    from .lone_strided import read_around

    found = np.zeros(candidates.shape, bool)
    if (read := read_around(candidates, image, steps, ends)) is None:
        return found
    at, value, around = read
    _, low2, high2, _ = _extremes(around)
    spread = LONE_SPREAD * (high2 - low2)
    hot = (value - high2 > spread) & (value - dark > ratio * (high2 - dark))
    dead = (low2 - value > spread) & (value < low2)
    found[tuple(at[(hot | dead).numpy()].T)] = True
    return found


def lone_note(count: int, sampled: int, total: int, who: str) -> str:
    """The line a run of ``who`` gives when ``count`` of ``sampled`` pixels (of ``total``)
    stand alone (``lone_pixels``); '' when none do."""
    if count == 0:
        return ""
    many = _counted(count, sampled, total)
    one = many == "1"
    return (f"{many} pixel{'' if one else 's'} stand{'s' if one else ''} alone far above or "
            f"below {'its' if one else 'their'} neighbours (hot or dead pixel{'' if one else 's'}"
            f"?): {who} saw {'it' if one else 'each'} as the median of its 3 x 3, which keeps it "
            "from spreading into the pixels around it, and its value was put back unchanged")


def _counted(count: int, sampled: int, total: int) -> str:
    """``count`` of ``sampled`` pixels as a count of ``total``: 'about N' where sampled."""
    return f"{count}" if sampled == total else f"about {round(count * total / sampled)}"


def clip_and_record(sample: np.ndarray, shape, method, norm, axes: str | None = None,
                    image=None, key=None):
    """``method`` with the pixels its network input clips, and the lone pixels it is shown as
    their neighbours (``lone_pixels``), recorded in its parameters (the result's and the
    provenance record's: 'input_clipped', 'lone_pixels'), and one warning line saying how
    many; ``method`` unchanged where there are none. ``sample``: the image's statistics sample
    (in its units, of ``axes``: ``lone_in_sample``), ``shape`` the whole image's; ``image``
    and ``key``: the image and the index that read ``sample`` from it, where it is strided
    (its lone pixels are checked there)."""
    import warnings
    from dataclasses import replace

    from . import notes

    count = 0 if method.is_classical else count_beyond(sample, norm)
    lone = lone_in_sample(sample, shape, axes, image=image, key=key)
    if lone is not None and not method.is_classical:  # those beyond are said as clipped
        low, high = NETWORK_INPUT_RANGE
        within = norm.apply(sample)
        lone &= (within >= low) & (within <= high)
    alone = 0 if lone is None else int(np.count_nonzero(lone))
    if not count and not alone:
        return method
    total, parameters = math.prod(shape), dict(method.parameters)
    who = method.name if method.is_classical else "the network"
    line = lone_note(alone, sample.size, total, who)
    if alone:
        parameters["lone_pixels"] = {"pixels": round(alone * total / sample.size)}
    if count:
        more = (f"; {_counted(alone, sample.size, total)} within it stand alone (hot or dead "
                "pixels), shown to the network as the median of their 3 x 3 and put back "
                "unchanged") if alone else ""
        line = clip_note(count, sample.size, total, norm) + more
        limits = [float(norm.undo(np.float32(v), np.float64)) for v in NETWORK_INPUT_RANGE]
        clipped = {"pixels": round(count * total / sample.size), "range": limits}
        if getattr(norm, "isolated", 0.0):
            clipped["isolated"] = round(norm.isolated * total)  # left out of the percentiles
        parameters["input_clipped"] = clipped
    warnings.warn(line, notes.DeblurWarning, stacklevel=3)
    return replace(method, parameters=parameters)
