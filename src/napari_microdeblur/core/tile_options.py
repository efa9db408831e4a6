"""The tile and overlap a deblur runs with: the method's defaults for the image, checked
against its receptive field, its PSF and the image's size (``inference.prepare_deblur``)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from . import tiling
from .axes import Layout
from .devices import resolve_device
from .method import DEFAULT_TILE, Method
from .notes import DeblurWarning
from .tiling_spec import TilingSpec

#: the fewest pixels along a spatial axis a deblur runs on (a 2 x 256 image ran with the
#: bundled networks); a PSF's method needs the PSF's size, said by its own check
MIN_SPATIAL = 2


@dataclass(frozen=True)
class TileOptions:
    tile: tuple[int, ...]
    overlap: tuple[int, ...]
    window: str
    batch_size: int
    device: torch.device


def tile_options(method: Method, layout: Layout, spec: TilingSpec) -> TileOptions:
    """Tile and overlap for this method and image, checked against its reach and size."""
    spatial_axes, spatial_shape = layout.spatial_axes, layout.spatial_shape
    if any(s < MIN_SPATIAL for s in spatial_shape):
        # a 3D PSF deconvolves over Z: one plane (a slice of a stack) cannot hold it
        fix = ("; a 3D PSF needs the stack's planes: give the whole stack, or a 2D PSF"
               if len(spatial_axes) == 3 and spatial_shape[0] < 2
               else f"; every method needs at least {MIN_SPATIAL} px along each of "
               f"{spatial_axes} (with a PSF, its size): give a larger image or region")
        raise ValueError(
            f"image is too small: spatial axes {spatial_axes} have size {spatial_shape}{fix}"
        )
    tile = spec.tile
    if tile is None:
        tile = default_tile(method, spatial_shape)
    footprint = method.psf_shape or (2 * method.halo + 1,) * len(spatial_shape)
    if method.is_classical and any(k > s for k, s in zip(footprint[::-1], spatial_shape[::-1])):
        raise ValueError(
            f"the PSF of {method.name!r} ({' x '.join(map(str, footprint))} px) is larger "
            f"than the image {spatial_axes} {spatial_shape}"
        )
    step = method.size_divisor
    # the tiler rounds tiles down to the network's size divisor: check the tile it will run
    # (--tile 131 ran as 128 against an overlap of 128, and 'at least 130' was wrong advice)
    given = tiling.as_tuple(tile, len(spatial_axes), "tile")
    tile_t = tuple(tiling.rounded_tile(t, step) or t for t in given)
    # each axis against its own reach: a 7-plane PSF reaches 3 planes in Z, not its lateral 5
    halos = axis_halos(method, len(spatial_axes))
    for axis, (t, asked, size, halo) in enumerate(zip(tile_t, given, spatial_shape, halos)):
        # an axis that fits in one tile has no seams, whatever the receptive field
        if t <= 2 * halo and size > t:
            ran = f" (run as {t}, a multiple of {step})" if t != asked else ""
            along = f" along {spatial_axes[axis]}" if len(set(halos)) > 1 else ""
            raise ValueError(
                f"tile={tile}{ran} is smaller than the receptive field of {method.name!r}"
                f"{along} ({2 * halo + 1} px); "
                + tile_advice(method, spatial_shape, spec.overlap, len(spatial_axes))
            )
    overlap = spec.overlap
    if overlap is None:  # the method's default, but never as large as a small tile, and none
        # along an axis one tile covers (a z-stack of few planes under a laterally wide PSF)
        overlap = tuple(overlap_for(method, t, n) for t, n in zip(tile_t, spatial_shape))
    overlap_t = tiling.as_tuple(overlap, len(spatial_axes), "overlap")
    for t, o, n in zip(tile_t, overlap_t, spatial_shape):
        if o >= t:
            raise ValueError(overlap_refusal(method, overlap, spec.tile, tile_t, t))
        if n > t and t - o < step:  # the tiles step on the network's grid (``plan_tiles``)
            raise ValueError(off_grid_refusal(method, overlap, t, o))
    device = resolve_device(spec.device)
    # a given tile too small for the method's full overlap runs a smaller one: seams as a low
    # given overlap leaves (tile 33 under RL gaussian:2: 16 of 32 px, 3.2 % of the range)
    if (spec.tile is not None or spec.overlap is not None) and \
            seams_left(method, tile_t, overlap_t, spatial_shape):
        work = (tiling_work(method, layout, tile_t, overlap_t, device)
                if spec.tile is not None else None)
        note = low_overlap_note(method, tile_t, overlap_t, spatial_shape,
                                given_tile=spec.tile, given_overlap=spec.overlap is not None,
                                work=work)
        warnings.warn(note, DeblurWarning, stacklevel=2)
    return TileOptions(tile_t, overlap_t, spec.window, int(spec.batch_size), device)


def overlap_refusal(method: Method, overlap, tile, tile_t: tuple, at: int) -> str:
    """Why ``overlap`` is refused against the tile ``tile_t`` (``at``: the tile along the axis
    it fails); a ``tile`` not given (None) is the method's default, and said so: 'smaller than
    tile=1024' read as if the user had given one."""
    if tile is not None:
        return f"overlap={overlap} must be smaller than tile={tile}"
    return (f"overlap={overlap} must be smaller than the tile, {' x '.join(map(str, tile_t))} "
            f"px (the default for {method.name!r}: no tile= given); give overlap= below {at}, "
            "or tile= larger than the overlap")


def off_grid_refusal(method: Method, overlap, tile: int, at: int) -> str:
    """Why ``overlap`` (``at`` along the axis it fails) is refused for tiles of ``tile`` px:
    it leaves a step under the network's size divisor, and tiles off its grid differ from the
    whole image (a 2 px step under a 126 px overlap: 0.75 % of the range, 1454x the work)."""
    step = method.size_divisor
    least = math.ceil((at + step) / step) * step
    return (f"overlap={overlap} leaves tiles of {tile} px a step of {tile - at} px, under the "
            f"{step} px grid {method.name!r} runs on: give overlap= at most {tile - step}, or "
            f"a tile of at least {least} px (overlap + {step})")


def axis_halos(method: Method, ndim: int) -> tuple[int, ...]:
    """The reach of ``method`` along each of ``ndim`` spatial axes: a classical method's PSF
    half-size per axis (a 7 x 11 x 11 PSF: 3 planes in Z, 5 px in Y and X), else its halo."""
    shape = method.psf_shape
    if shape is not None and len(shape) == ndim:
        return tuple(min(k // 2, method.halo) for k in shape)
    return (method.halo,) * ndim


def default_network_tile(method: Method, ndim: int) -> int:
    """DEFAULT_TILE, or larger (up to 4x) for a receptive field that would leave no room."""
    wanted = max(DEFAULT_TILE[ndim], 4 * method.halo)
    wanted = min(wanted, 4 * DEFAULT_TILE[ndim])
    return math.ceil(wanted / method.size_divisor) * method.size_divisor


#: the work (tiles x tile pixels) of a given tiling, relative to the method's default one for
#: the image, above which a deblur says it costs too much (``deblur_notes.small_tile_note``):
#: the tile a refusal advises stays under it
WORK_LIMIT = 3.0

#: (overlap as a fraction of the method's, the most the result then differed from the run with
#: the method's overlap, in % of the image's 0.1-99.9 % range off a 16 px border): the
#: ``worst_percent`` of benchmarks/results/tile_seams.json (gran.em_v1, c2f_unet.em_v2 and
#: richardson_lucy gaussian:2 on 500 x 470 EM and fluorescence test images), rounded up
SEAMS_MEASURED = ((0.0, 80.0), (0.125, 35.0), (0.25, 17.0), (0.5, 5.7), (0.75, 4.9))


def seam_size(overlap: int, needed: int) -> str:
    """The seams an overlap below the method's ``needed`` leaves: the most measured at the
    largest fraction of ``needed`` not above it (``SEAMS_MEASURED``)."""
    share = overlap / needed
    worst = next(p for f, p in reversed(SEAMS_MEASURED) if f <= share)
    return f"up to {worst:g} % of the image's range where measured"


def default_tile(method: Method, shape: tuple[int, ...] | None) -> int | tuple[int, ...]:
    """The tile a deblur of an image of spatial ``shape`` runs without one given (``shape``
    None: a classical method's whole image stands for its tile)."""
    ndim = method.spatial_dims if shape is None else len(shape)
    if method.tile_for and shape is not None:
        return method.tile_for(shape)
    if method.tile_for:
        return 0  # the whole image, whatever its size
    return method.default_tile or default_network_tile(method, ndim)


def overlap_for(method: Method, tile: int, size: int | None) -> int:
    """The overlap a deblur runs a ``tile`` with along an axis of ``size`` px when none is
    given: the method's default, but never as large as a small tile, and none along an axis
    one tile covers (a z-stack of few planes under a laterally wide PSF). It leaves a step of
    at least the size divisor: a tile of 128 px under a 126 px overlap stepped 2 px, off an
    8 px grid (``plan_tiles``); a Z tile of 8 planes under a 7-plane PSF (``axis_halos``)
    steps 1. The trimmed overlap is said by ``low_overlap_note``."""
    if size is not None and tile >= size:
        return 0
    return max(0, min(method.default_overlap, max(2 * method.halo, tile // 2),
                      tile - method.size_divisor))


def _axis_work(method: Method, tile: int, overlap: int, size: int | None) -> float:
    """Pixels run per image pixel along one axis (``size`` None: a very long axis; tile 0:
    the whole axis)."""
    div = method.size_divisor
    if tile == 0:
        return 1.0
    if size is None:
        return tile / (max((tile - overlap) // div, 1) * div)  # on the grid, as plan_tiles
    plan = tiling.plan_tiles((size, div), (tile, div), (min(overlap, tile - 1), 0),
                             size_divisor=div)
    return len(plan.starts[0]) * plan.tile[0] / size


def work_factor(method: Method, shape, ndim: int, tile: int, overlap=None) -> float:
    """The work of ``tile`` (with ``overlap``, None: the one a run would use) over an image of
    spatial ``shape`` (None: a large one), relative to the method's default tiling."""
    sizes = (None,) * ndim if shape is None else tuple(shape)
    usual = tiling.as_tuple(default_tile(method, shape), ndim, "tile")
    given = tiling.as_tuple(overlap, ndim, "overlap") if overlap is not None else None
    ratio = 1.0
    for axis, n in enumerate(sizes):
        t = tiling.rounded_tile(tile, method.size_divisor) or tile
        o = overlap_for(method, t, n) if given is None else given[axis]
        u = tiling.rounded_tile(usual[axis], method.size_divisor) or usual[axis]
        ratio *= (_axis_work(method, t, o, n)
                  / _axis_work(method, u, overlap_for(method, u, n), n))
    return ratio


def tile_advice(method: Method, shape, overlap=None, ndim: int | None = None) -> str:
    """What a tile too small for ``method``'s reach should become: the smallest tile whose
    tiling, with the overlap it would run with (``overlap`` given, else the method's, which
    then fits whole: below it the tiles leave seams, ``low_overlap_note``), costs at most
    ``WORK_LIMIT`` x the default's for an image of spatial ``shape`` (None: a large one). The
    advice was the smallest tile that merely runs: on the determinism walkthrough's
    500 x 470 image, --tile 144 under an overlap of 142 stepped 2 px, 2603x the work
    (benchmarks/results/tile_seams.json, ``walkthrough``)."""
    ndim = ndim or (len(shape) if shape is not None else method.spatial_dims)
    step = method.size_divisor
    least = math.ceil((2 * method.halo + 2) / step) * step
    if overlap is not None:  # a step of one divisor at least (``off_grid_refusal``)
        most = max(tiling.as_tuple(overlap, ndim, "overlap"))
        least = max(least, math.ceil((most + step) / step) * step)
    fit = least if overlap is not None else max(least, full_overlap_tile(method, shape))
    tile = least_tile(method, shape, overlap, ndim, fit)
    advice = f"use a tile of at least {fitted(tile, shape, step)}"
    if tile == least:
        return advice
    # the advice last: a dock adds ', or more: the PSF estimated from the image widens it'
    if tile == fit:
        return (f"tiles below {tile} leave no room for the {method.default_overlap} px overlap "
                f"{method.name!r} needs between tiles: {advice}")
    # the overlap the advised tile runs with (a tile of the reach's least had a shrunk one:
    # 'with an overlap of 16 px ... at least 70' for gaussian:2, which runs 70 with 32)
    given = max(tiling.as_tuple(overlap, ndim, "overlap")) if overlap is not None else \
        overlap_for(method, tile, None)
    return (f"with an overlap of {given} px, tiles below {tile} take over {WORK_LIMIT:g}x "
            f"the default tiling's work: {advice}")


def fitted(tile: int, shape, step: int) -> str:
    """``tile`` as advice for an image of spatial ``shape``: per axis, no more than the whole
    axis (on the size divisor ``step``), where ``tile`` is longer than one: 'at least 64' for a
    28-plane stack read as more planes than it has."""
    if shape is None or all(tile <= n for n in shape):
        return str(tile)
    each = tuple(min(tile, math.ceil(n / step) * step) for n in shape)
    return str(each[0]) if len(set(each)) == 1 else str(each)  # 128 for a 128 x 128 image


def full_overlap_tile(method: Method, shape) -> int:
    """The least tile the method runs with its whole overlap (``overlap_for`` shrinks it in
    a smaller one), on its size divisor; at most the longest axis of ``shape``, which one
    tile covers (no seams)."""
    step = method.size_divisor
    tile = 2 * method.default_overlap if 2 * method.halo < method.default_overlap else 1
    # and a step of one divisor past the overlap (``overlap_for``): 128 px ran 120 of 126
    tile = max(tile, method.default_overlap + step)
    if shape is not None:
        tile = min(tile, max(shape))
    return math.ceil(tile / step) * step


def least_tile(method: Method, shape, overlap, ndim: int, start: int) -> int:
    """The smallest tile from ``start`` up, on the method's size divisor, whose tiling costs at
    most ``WORK_LIMIT`` x the default's (``tile_advice``)."""
    step = method.size_divisor
    start = math.ceil(start / step) * step
    longest = max(shape) if shape is not None else None
    tile = start
    while work_factor(method, shape, ndim, tile, overlap) > WORK_LIMIT and \
            (longest is None or tile < longest) and tile < 64 * start:
        tile += step
    return tile


def full_overlap(method: Method, tile: tuple[int, ...], shape: tuple[int, ...]):
    """The overlap the method needs along each axis: its whole default (``overlap_for`` shrinks
    it to fit a small tile, which leaves seams), none along an axis one tile covers."""
    return tuple(0 if t >= n else method.default_overlap for t, n in zip(tile, shape))


def seams_left(method: Method, tile: tuple[int, ...], overlap: tuple[int, ...],
               shape: tuple[int, ...]) -> bool:
    """Whether ``overlap`` (given, or shrunk to fit a small tile) is below the method's full
    overlap along an axis cut into tiles: the tiles' unreliable borders reach the result."""
    return any(o < w for o, w in zip(overlap, full_overlap(method, tile, shape)))


@dataclass(frozen=True)
class TilingWork:
    """A tiling's pixels run over those of the method's default tiling for the image."""
    ratio: float
    tiles: int
    usual_tiles: int
    usual_tile: tuple[int, ...]


def tiling_work(method: Method, layout: Layout, tile, overlap, device=None) -> TilingWork | None:
    """The work of ``tile`` with ``overlap`` on ``layout``'s planes against the default tiling
    (None where the image has no default tiling to compare with)."""
    try:  # the default tiling: no tile or overlap given, so no warning and no recursion
        default = tile_options(method, layout, TilingSpec(device=str(device or "cpu")))
    except ValueError:
        return None
    shape, step = layout.spatial_shape, method.size_divisor
    given = tiling.plan_tiles(shape, tile, overlap, size_divisor=step)
    usual = tiling.plan_tiles(shape, default.tile, default.overlap, size_divisor=step)
    ratio = (len(given) * math.prod(given.tile)) / (len(usual) * math.prod(usual.tile))
    return TilingWork(ratio, len(given), len(usual), tuple(usual.tile))


def low_overlap_note(method: Method, tile: tuple[int, ...], overlap: tuple[int, ...],
                     shape: tuple[int, ...], *, given_tile=None, given_overlap: bool = True,
                     work: TilingWork | None = None) -> str:
    """The warning an overlap gets when, along an axis cut into tiles, it is below the
    method's full overlap (twice its reach, or its card's): the tiles' unreliable borders then
    reach into the result ('' otherwise). ``given_overlap`` False: the overlap was shrunk to
    fit ``given_tile``; ``work``: that tile's cost, said here too where above ``WORK_LIMIT``
    (one line, not a second: a larger tile is the fix for both)."""
    needed = full_overlap(method, tile, shape)
    if not any(o < w for o, w in zip(overlap, needed)):
        return ""
    side, low = max(needed), min(o for o, w in zip(overlap, needed) if o < w)
    cut = max(t for t, w in zip(tile, needed) if w)
    costly = work is not None and work.ratio > WORK_LIMIT
    seams = f"the result shows seams along the tile lines ({seam_size(low, side)})"
    if costly:
        seams += (f", and its {work.tiles} tiles take {work.ratio:.1f}x the work of the "
                  f"default tile ({' x '.join(map(str, work.usual_tile))})")
    fixes = []  # (what to give, what to leave to the method instead)
    if given_tile is not None and (costly or not given_overlap or cut <= side):
        # from where the method's full overlap fits (``overlap_for``), within WORK_LIMIT
        tile_fix = least_tile(method, shape, None, len(tile), full_overlap_tile(method, shape))
        tile_fix = fitted(tile_fix, shape, method.size_divisor)  # no more than an axis holds
        fixes.append((f"a tile of at least {tile_fix} px", "the tile"))
    if given_overlap:
        fixes.append((f"an overlap of {side} px or more", "it" if not fixes else "the overlap"))
    give = " and ".join(f for f, _ in fixes)
    leave = " and ".join(n for _, n in fixes)
    # one wording for every front end (--tile, --overlap, tile=, the docks' Tile/Overlap boxes)
    if given_overlap:
        head = (f"an overlap of {low} px is below the {side} px {method.name!r} needs between "
                f"tiles of {cut} px")
    else:
        head = (f"a tile of {given_tile} px leaves room for an overlap of {low} px, below the "
                f"{side} px {method.name!r} needs between tiles")
    return f"{head}: {seams}; give {give}, or leave {leave} to the method"
