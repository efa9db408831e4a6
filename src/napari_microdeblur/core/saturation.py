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
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

__all__ = ["NETWORK_INPUT_RANGE", "OUTLIER_SHIFT", "OUTLIER_SUSPECT", "clip_and_record",
           "clip_note", "clipped_forward", "clips", "count_beyond", "isolated_outliers",
           "percentile_range"]

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
    """Whether a run of ``method`` with ``norm`` clips the network's input: networks (not
    classical methods) on percentile-normalised input."""
    return not method.is_classical and norm.kind == "percentile"


def clipped_forward(forward: Callable[[torch.Tensor], torch.Tensor],
                    low: float = NETWORK_INPUT_RANGE[0], high: float = NETWORK_INPUT_RANGE[1]):
    """``forward`` on its input clipped to [low, high] (a pixel beyond that stands alone: its
    3 x 3 median, ``_fill_isolated``), the excess taken off added back to its output (where the
    output has the input's shape); a batch within range runs unchanged."""

    def run(x: torch.Tensor) -> torch.Tensor:
        held = x.clamp(low, high)
        if torch.equal(held, x):  # the usual case: bit-identical to the network alone
            return forward(x)
        held = _fill_isolated(x, held)
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
        line += (f"; {alone} of them stand alone (hot or dead pixels, {100 * left_out:.2g} % of "
                 "the image), so the range was set by the other pixels, which they would have "
                 "squeezed into a sliver of it")
    return line


def clip_and_record(sample: np.ndarray, shape, method, norm):
    """``method`` with the pixels its network input clips recorded in its parameters (the
    result's and the provenance record's: 'input_clipped'), and one warning line saying how
    many; ``method`` unchanged where none are. ``sample``: the image's statistics sample (in
    its units), ``shape`` the whole image's."""
    import math
    import warnings
    from dataclasses import replace

    from . import notes

    count = count_beyond(sample, norm)
    if not count:
        return method
    total = math.prod(shape)
    warnings.warn(clip_note(count, sample.size, total, norm), notes.DeblurWarning, stacklevel=3)
    limits = [float(norm.undo(np.float32(v), np.float64)) for v in NETWORK_INPUT_RANGE]
    clipped = {"pixels": round(count * total / sample.size), "range": limits}
    if getattr(norm, "isolated", 0.0):
        clipped["isolated"] = round(norm.isolated * total)  # left out of the percentiles
    return replace(method, parameters=method.parameters | {"input_clipped": clipped})
