"""Deblur only what is out of focus: the slices of a stack, or the tiles of each plane, whose
focus score (``core.focus``) is below a threshold. Everything else is copied unchanged.

Two kinds of units:

- **slices** (``tile=None``): one score per plane, i.e. per index of the axes other than Y, X
  and S (RGB planes are scored on their luminance). A selected plane is deblurred whole, with
  the usual tiling of ``core.inference.iter_deblur``.
- **tiles** (``tile=N``): each plane cut into N x N squares (partial ones at the right and
  bottom edges), one score per square as ``focus_score(..., tile=N)`` gives. A selected tile is
  deblurred from a crop that reaches ``halo`` pixels further on every side (clipped at the image
  border, where the method pads as it does for the whole image); only the tile itself is
  pasted. With ``halo`` at least the method's reach (a network's receptive field, or
  ``classical.psf_halo`` of the PSF, the default) a tile comes out as it would in a deblur of
  the whole image, so neighbouring selected tiles meet without seams.

The normalisation is computed once on the whole image, as ``iter_deblur`` does, so a slice or
tile is scaled exactly as in a whole-image run. ``iter_deblur_selected`` is a generator that
yields a ``SelectiveProgress`` after every deblurred tile (closing it stops there) and returns a
``SelectiveResult``; ``deblur_selected`` is its blocking twin; ``iter_focus_scores`` computes
the scores plane by plane with progress.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from . import inference
from .focus import focus_score

MIN_TILE = 8


# ----------------------------------------------------------------------------- geometry


def score_axes(axes: str) -> str:
    """The axes that get one score each in 'slices' mode: all but Y, X and S, in order."""
    return "".join(a for a in axes if a not in "YXS")


def score_shape(shape, axes: str, tile: int | None = None) -> tuple[int, ...]:
    """Shape of the scores of an image: one per slice, plus the tile grid (rows, columns)."""
    shape = tuple(int(s) for s in shape)
    loop = tuple(shape[axes.index(a)] for a in score_axes(axes))
    if tile is None:
        return loop
    ny, nx = shape[axes.index("Y")], shape[axes.index("X")]
    return loop + (math.ceil(ny / tile), math.ceil(nx / tile))


def tile_box(ty: int, tx: int, tile: int, shape_yx) -> tuple[int, int, int, int]:
    """Pixel bounds (y0, y1, x0, x1) of tile (ty, tx) of a plane of ``shape_yx`` (Y, X)."""
    ny, nx = (int(s) for s in shape_yx)
    y0, x0 = int(ty) * tile, int(tx) * tile
    if not (0 <= y0 < ny and 0 <= x0 < nx):
        raise ValueError(f"tile ({ty}, {tx}) of {tile} px is outside a plane of {ny} x {nx}")
    return y0, min(y0 + tile, ny), x0, min(x0 + tile, nx)


def select_below(scores, threshold: float) -> np.ndarray:
    """Boolean mask of the scores strictly below ``threshold`` (NaN scores are never below)."""
    threshold = _check_threshold(threshold)
    values = np.asarray(scores, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.less(values, threshold) & np.isfinite(values)


def _check_threshold(threshold) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise TypeError(f"threshold must be a number, not {type(threshold).__name__}") from None
    if not math.isfinite(value):
        raise ValueError(f"threshold={threshold} must be a finite number")
    return value


def _key(axes: str, where: dict) -> tuple:
    """Index into an array with ``axes``: ``where[a]`` (int or slice), everything else whole."""
    return tuple(where.get(a, slice(None)) for a in axes)


def _check_tile(tile) -> int | None:
    if tile is None:
        return None
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)):
        raise TypeError(f"tile must be an integer number of pixels or None, not {tile!r}")
    if int(tile) < MIN_TILE:
        raise ValueError(f"tile={tile} must be at least {MIN_TILE} px (focus scores need it)")
    return int(tile)


# ----------------------------------------------------------------------------- scores


@dataclass(frozen=True)
class ScoreProgress:
    """Planes scored so far: ``done`` of ``total``."""

    done: int
    total: int


def iter_focus_scores(
    image, *, axes: str | None = None, tile: int | None = None, device: str = "cpu"
) -> Generator[ScoreProgress, None, float | np.ndarray]:
    """``focus_score(image, axes=axes, tile=tile)``, one plane at a time: yields a
    ScoreProgress per plane (closing the generator stops there) and returns the same value
    ``focus_score`` would (a float for one plane without tiles, otherwise an array shaped
    ``score_shape(image.shape, axes, tile)``). Arguments are checked when this is called."""
    inference._check_image(image)
    shape = tuple(int(s) for s in image.shape)
    axes = inference.check_axes(axes, shape)
    tile = _check_tile(tile)
    loop = score_axes(axes)
    plane_axes = "".join(a for a in axes if a in "YXS")
    if min(shape[axes.index("Y")], shape[axes.index("X")]) < MIN_TILE:
        raise ValueError(
            f"image planes of {shape[axes.index('Y')]} x {shape[axes.index('X')]} px are too "
            f"small to score (>= {MIN_TILE})"
        )
    return _iter_scores(image, axes, loop, plane_axes, shape, tile, device)


def _iter_scores(image, axes, loop, plane_axes, shape, tile, device):
    sizes = [shape[axes.index(a)] for a in loop]
    planes = list(itertools.product(*(range(n) for n in sizes)))
    out = np.empty(score_shape(shape, axes, tile), dtype=np.float64)
    for done, plane in enumerate(planes, start=1):
        block = np.asarray(image[_key(axes, dict(zip(loop, plane)))])
        out[plane] = focus_score(block, axes=plane_axes, tile=tile, device=device)
        yield ScoreProgress(done, len(planes))
    if out.ndim == 0:
        return float(out)
    return out


# ----------------------------------------------------------------------------- deblurring


@dataclass(frozen=True)
class SelectiveProgress:
    """Progress of a selective run: ``done`` of ``total`` deblurring tiles, and which unit
    (an index into the scores) is being deblurred, the ``unit_done``-th of ``units``."""

    done: int
    total: int
    unit: tuple[int, ...]
    unit_done: int
    units: int


@dataclass
class SelectiveResult:
    """The output and a record of what was deblurred.

    ``selected`` lists the units (indices into ``scores``) that were deblurred; for tiles,
    ``boxes`` gives each one's pixel bounds (y0, y1, x0, x1) in its plane. ``tile`` and
    ``overlap`` are those of the deblurring runs (for 'tiles' mode: the focus tile, no overlap),
    so a tile-grid overlay drawn from them shows the units.
    """

    image: np.ndarray
    mode: str  # "slices" or "tiles"
    axes: str
    unit_axes: str  # axes of ``scores``: score_axes(axes), plus "yx" (tile rows, columns)
    scores: np.ndarray
    threshold: float
    selected: tuple[tuple[int, ...], ...]
    boxes: tuple[tuple[int, int, int, int], ...]
    focus_tile: int | None
    halo: int
    method: str
    parameters: dict
    normalization: inference.Normalization
    tile: tuple[int, ...]
    overlap: tuple[int, ...]
    device: str

    @property
    def mask(self) -> np.ndarray:
        return select_below(self.scores, self.threshold)


def iter_deblur_selected(
    image,
    method="auto",
    *,
    threshold: float,
    axes: str | None = None,
    scores=None,
    tile: int | None = None,
    halo: int | None = None,
    device="auto",
    psf=None,
    iterations: int = 30,
    balance: float = 0.01,
    tv_weight: float = 0.0,
    weights: str | None = None,
    precision: str = "auto",
    output_dtype: str = "float32",
    normalization: inference.Normalization | None = None,
    run_tile: int | tuple[int, ...] | None = None,
    overlap: int | tuple[int, ...] | None = None,
    window: str = "cosine",
    batch_size: int = 1,
) -> Generator[SelectiveProgress, None, SelectiveResult]:
    """Deblur the slices (``tile=None``) or the ``tile`` x ``tile`` tiles of ``image`` whose
    focus score is below ``threshold``; copy the rest unchanged.

    ``scores`` are the focus scores of the units, shaped ``score_shape(image.shape, axes,
    tile)`` (as ``focus_score(image, axes=axes, tile=tile)`` returns them); computed here if
    not given. ``halo`` (tiles mode) is how far a tile's crop reaches beyond it: by default the
    method's reach, ``max(method.halo, method.default_overlap)``. ``run_tile``, ``overlap`` and
    ``window`` tile the deblurring of a whole slice as in ``iter_deblur``. ``method``, ``psf``,
    ``iterations``, ``balance``, ``weights``, ``precision``, ``device``, ``output_dtype`` and
    ``normalization`` are as in ``iter_deblur``; with ``output_dtype='input'`` the units not
    selected are bit-identical to the input (with float32, they are the input cast to float32).

    Every argument is checked when this is called, before any work; the generator yields a
    SelectiveProgress per deblurred tile and returns a SelectiveResult.
    """
    inference._check_image(image)
    shape = tuple(int(s) for s in image.shape)
    axes = inference.check_axes(axes, shape)
    tile = _check_tile(tile)
    threshold = _check_threshold(threshold)
    if output_dtype not in inference.OUTPUT_DTYPES:
        raise ValueError(f"output_dtype={output_dtype!r} is not one of {inference.OUTPUT_DTYPES}")
    if isinstance(method, str) and method == "auto":
        method = inference._default_method(axes, shape)
    method = inference.resolve_method(
        method, psf=psf, iterations=iterations, balance=balance, tv_weight=tv_weight,
        weights=weights, precision=precision,
    )
    device = inference.resolve_device(device)
    if method.spatial_dims != 2:
        raise ValueError(
            f"method {method.name!r} is 3D; selective deblurring works plane by plane, so "
            "choose a 2D method"
        )
    if "C" in axes and method.in_channels not in (None, 1):
        raise ValueError(
            f"method {method.name!r} takes {method.in_channels} channels at once, but focus is "
            f"scored per channel (axes {axes!r}); choose a 1-channel method or split channels"
        )
    plane_axes = "".join(a for a in axes if a in "YXS")
    plane_shape = tuple(shape[axes.index(a)] for a in plane_axes)
    inference._layout(plane_axes, plane_shape, method)  # raises for a channel mismatch
    expected = score_shape(shape, axes, tile)
    if scores is None:
        scores = inference.drain(iter_focus_scores(image, axes=axes, tile=tile))
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != expected:
        raise ValueError(
            f"scores have shape {scores.shape}; an image of shape {shape} (axes {axes!r}) "
            + (f"in tiles of {tile} px " if tile else "")
            + f"has scores of shape {expected}: score it with the same axes and tile"
        )
    if halo is None:
        halo = max(int(method.halo), int(method.default_overlap))
    if isinstance(halo, bool) or not isinstance(halo, (int, np.integer)) or halo < 0:
        raise ValueError(f"halo={halo!r} must be a number of pixels >= 0")
    if normalization is None:
        normalization = inference.compute_normalization(
            image, axes, method.normalization, *method.percentiles
        )
    elif not isinstance(normalization, inference.Normalization):
        raise TypeError(f"normalization must be a Normalization, not {type(normalization)}")
    mask = select_below(scores, threshold)
    selected = tuple(tuple(int(i) for i in idx) for idx in np.argwhere(mask))
    options = {
        "tile": run_tile, "overlap": overlap, "window": window, "device": device,
        "output_dtype": output_dtype, "normalization": normalization,
        "batch_size": batch_size,
    }
    if tile is None and selected:
        # check the per-slice run's arguments now (tile sizes, PSF vs plane size)
        first = image[_key(axes, dict(zip(score_axes(axes), selected[0])))]
        inference.iter_deblur(first, method=method, axes=plane_axes, **options).close()
    return _run_selected(
        image, method, axes, shape, plane_axes, scores, threshold, selected, tile, int(halo),
        options,
    )


def _run_selected(image, method, axes, shape, plane_axes, scores, threshold, selected, tile,
                  halo, options):
    out_dtype = np.dtype(np.float32 if options["output_dtype"] == "float32" else image.dtype)
    out = np.empty(shape, dtype=out_dtype)
    loop = score_axes(axes)
    sizes = [shape[axes.index(a)] for a in loop]
    # everything starts as a copy of the input, plane by plane to bound the memory read at once
    for plane in itertools.product(*(range(n) for n in sizes)):
        key = _key(axes, dict(zip(loop, plane)))
        out[key] = np.asarray(image[key])
    yx = (shape[axes.index("Y")], shape[axes.index("X")])
    boxes = []
    run_tile, run_overlap = (), ()
    done, total = 0, None
    units = len(selected)
    for n_unit, unit in enumerate(selected, start=1):
        where = dict(zip(loop, unit[: len(loop)]))
        if tile is None:
            key = _key(axes, where)
            gen = inference.iter_deblur(
                image[key], method=method, axes=plane_axes, out=out[key], **options
            )
        else:
            y0, y1, x0, x1 = tile_box(*unit[len(loop):], tile, yx)
            boxes.append((y0, y1, x0, x1))
            cy0, cy1 = max(0, y0 - halo), min(yx[0], y1 + halo)
            cx0, cx1 = max(0, x0 - halo), min(yx[1], x1 + halo)
            crop = image[_key(axes, {**where, "Y": slice(cy0, cy1), "X": slice(cx0, cx1)})]
            div = max(1, int(method.size_divisor))
            # the whole crop in one tile (rounded up to the size divisor and padded)
            one = tuple(math.ceil(s / div) * div for s in (cy1 - cy0, cx1 - cx0))
            crop_options = {**options, "tile": one, "overlap": 0}
            gen = inference.iter_deblur(crop, method=method, axes=plane_axes, **crop_options)
        while True:
            try:
                record = next(gen)
            except StopIteration as stop:
                result = stop.value
                break
            done += 1
            if total is None:  # every unit has the same number of tiles, except OOM retries
                total = record.total * units
            total = max(total, done)
            yield SelectiveProgress(done, total, unit, n_unit, units)
        if tile is None:
            run_tile, run_overlap = result.tile, result.overlap
        else:
            inner = result.image[_key(plane_axes, {
                "Y": slice(y0 - cy0, y1 - cy0), "X": slice(x0 - cx0, x1 - cx0),
            })]
            out[_key(axes, {**where, "Y": slice(y0, y1), "X": slice(x0, x1)})] = inner
    if tile is not None:
        run_tile, run_overlap = (tile, tile), (0, 0)
    return SelectiveResult(
        image=out,
        mode="slices" if tile is None else "tiles",
        axes=axes,
        unit_axes=loop + ("" if tile is None else "yx"),
        scores=scores,
        threshold=threshold,
        selected=selected,
        boxes=tuple(boxes),
        focus_tile=tile,
        halo=halo if tile is not None else 0,
        method=method.name,
        parameters=dict(method.parameters),
        normalization=options["normalization"],
        tile=tuple(int(t) for t in run_tile),
        overlap=tuple(int(o) for o in run_overlap),
        device=str(options["device"]),
    )


def deblur_selected(image, method="auto", **kwargs) -> SelectiveResult:
    """Blocking twin of ``iter_deblur_selected``: returns the SelectiveResult."""
    return inference.drain(iter_deblur_selected(image, method, **kwargs))
