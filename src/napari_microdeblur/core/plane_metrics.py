"""PSNR and SSIM of one plane, or of every plane along an axis, against a ground truth, as
progress generators (the Compare & QC dock shows PSNR while SSIM is computed).

Intensities are first mapped with the ground truth's reference scale
(``metrics.reference_scale``: uint8 / 255, other integers / their maximum, floats and integers
holding negative values min-max), the scale of the whole ground-truth image, so a plane is
scored as ``metrics.evaluate`` scores it inside the stack; data_range is then 1 (see
docs/evaluation.md).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable

import numpy as np

from . import metrics
from .progress import drive

MIN_SIDE = 11  # SSIM's window
UNITS_FACTOR = 4.0  # mean intensities further apart than this: not the same units


def unit_mismatch(mapped: dict) -> dict:
    """``{name: ratio}`` for the planes whose mean intensity is over ``UNITS_FACTOR`` times
    above or below the ground truth's, on its scale. Blurring and deconvolution keep the
    mean, so such a ratio means other units (uint8 against uint16, a 0-1 float against
    counts), which would score a meaningless PSNR silently."""
    truth = float(np.mean(mapped["truth"]))
    out = {}
    for name in ("blurry", "deblurred"):
        if name not in mapped or truth <= 1e-6:
            continue
        mean = float(np.mean(mapped[name]))
        if np.isfinite(mean) and mean > 0:
            ratio = mean / truth
            if not 1 / UNITS_FACTOR <= ratio <= UNITS_FACTOR:
                out[name] = ratio
    return out


def describe_scale(dtype, offset: float, scale: float) -> str:
    """One sentence on how intensities were mapped for a ground truth of ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        rule = "uint8 ground truth: divided by 255"
    elif dtype.kind in "iu" and offset < 0:
        # reference_scale's offset is non-zero for an integer only when it holds negatives
        rule = (f"{dtype} ground truth with negative values: min-max [{offset:g}, "
                f"{offset + scale:g}] mapped to [0, 1]")
    elif dtype.kind in "iu":
        rule = f"{dtype} ground truth: divided by its maximum ({scale:g})"
    else:
        rule = f"float ground truth: min-max [{offset:g}, {offset + scale:g}] mapped to [0, 1]"
    return f"Intensity scale: {rule}; data_range 1."


def _crop(truth_plane, border: int, box):
    if box is not None:
        (y0, y1), (x0, x1) = box
        return slice(y0, y1), slice(x0, x1)
    ny, nx = truth_plane.shape[:2]
    if min(ny, nx) - 2 * border < MIN_SIDE:
        raise ValueError(
            f"the slice is {ny} x {nx} pixels: too small to exclude a {border}-pixel border "
            "and keep SSIM's 11 x 11 window; untick 'exclude border' or use a larger image"
        )
    return slice(border, ny - border), slice(border, nx - border)


def iter_plane_metrics(planes: dict, ref_scale, *, border: int, box=None,
                       rgb: bool = False) -> Generator[dict, None, dict]:
    """PSNR, then SSIM, of the ``planes['blurry']`` and ``planes['deblurred']`` (either may be
    absent) against ``planes['truth']``, on the reference scale ``(offset, scale)``.

    Yields the PSNR-only dict, returns the full one (``psnr_<name>``, ``ssim_<name>``, and
    ``units`` when a plane is not in the truth's units: ``unit_mismatch``). ``box``
    ((y0, y1), (x0, x1)) restricts the metrics to a region (no border then); otherwise
    ``border`` pixels are excluded at each side.
    """
    results = yield from iter_plane_metrics_borders(planes, ref_scale, borders=(border,),
                                                    box=box, rgb=rgb)
    return results[border]


def iter_plane_metrics_borders(planes: dict, ref_scale, *, borders=(16, 0), box=None,
                               rgb: bool = False) -> Generator[dict, None, dict]:
    """``iter_plane_metrics`` for each of ``borders`` at once (the PSNR yielded is that of
    ``borders[0]``); returns ``{border: result}``. Every border's SSIM comes from one SSIM
    map, so the dock's border option costs no second computation. With ``box`` the region
    is scored alone and ``borders`` must be ``(0,)``."""
    offset, scale = ref_scale
    if box is not None:
        (y0, y1), (x0, x1) = box
        planes = {k: v[y0:y1, x0:x1] for k, v in planes.items()}
    first = (slice(None), slice(None))
    if box is None:
        for b in reversed(borders):
            first = _crop(planes["truth"], b, None)  # says which border is too wide
    # means on the truth's scale without full float64 copies (the 4x test needs no more)
    means = {k: (np.mean(np.asarray(v)[first], dtype=np.float64) - offset) / scale
             for k, v in planes.items()}
    names = [n for n in ("blurry", "deblurred") if n in planes]
    ca = -1 if rgb else None

    def as_planes(a):  # (1, C, Y, X) views, the layout metrics.plane_scores takes
        a = np.asarray(a)
        return np.moveaxis(a, -1, 0)[None] if ca is not None else a[None, None]

    truth = as_planes(planes["truth"])
    psnrs = metrics.plane_scores([as_planes(planes[n]) for n in names], truth,
                                 ref_scale=ref_scale, borders=borders, ssim=False)["psnr"]
    out = {b: {} for b in borders}
    units = unit_mismatch(means)
    for b in borders:
        if units:
            out[b]["units"] = units
        for i, n in enumerate(names):
            out[b][f"psnr_{n}"] = float(psnrs[i][borders.index(b)][0])
    yield dict(out[borders[0]])
    order = [n for n in ("deblurred", "blurry") if n in planes]
    ssims = metrics.plane_scores([as_planes(planes[n]) for n in order], truth,
                                 ref_scale=ref_scale, borders=borders, psnr=False)["ssim"]
    for j, b in enumerate(borders):
        out[b].update({f"ssim_{n}": float(ssims[i][j][0]) for i, n in enumerate(order)})
    return out


def iter_stack_metrics(arrays: dict, ref_scale, entries: Iterable[tuple[int, dict]], *,
                       border: int, box=None, rgb: bool = False
                       ) -> Generator[tuple[int, dict], None, list[dict]]:
    """The metrics of one 2D (or RGB) plane of each array per entry ``(i, {name: key})``,
    ``key`` indexing that plane of ``arrays[name]`` (arrays placed differently along Z have
    different keys for the same ``i``); yields ``(i, result)`` and returns the results."""
    results = []
    for i, keys in entries:
        planes = {k: np.asarray(a[keys[k]]) for k, a in arrays.items()}
        result = drive(iter_plane_metrics(planes, ref_scale, border=border, box=box, rgb=rgb))
        results.append(result)
        yield i, result
    return results
