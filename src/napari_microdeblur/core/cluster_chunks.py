"""A chunk of a Zarr volume on a cluster (``core.cluster``) run as its part of one machine's run.

A chunk holds a piece of each of its planes where a plane is wider than a chunk (2048 px), and
dask grows every chunk by the method's overlap on each side, mirroring the volume at its ends.
What a chunk would otherwise settle on its own piece is the whole plane's on one machine:

- the volume's ends: one machine's tiles start on the plane's first pixel (and are mirrored past
  its last by the tiler). Run on dask's mirror, a PSF-aware network's first 128 columns of a
  2600 px EM plane came out up to 17 grey levels from one machine's. ``without_mirror`` takes it
  off the chunk, ``with_margin`` pads the result back for dask to trim, and
  ``last_chunk_merged`` keeps dask from moving a chunk's start off the tile grid.
- a PSF-aware network's noise level, estimated once per plane on the whole plane (``core.
  psf_aware``): ``whole_plane_levels`` estimates it once per plane on the client, as one machine
  does, ``levels_array`` hands each task its own planes' alone, and ``run_by_plane`` gives each
  plane of a chunk its own (``PIECE_OF_PLANE``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PlaneLevels", "block_levels", "last_chunk_merged", "levels_array", "levels_for_chunks",
           "run_by_plane", "whole_plane_levels", "with_margin", "without_mirror"]


def last_chunk_merged(chunks: tuple, shape: tuple, depth: dict) -> tuple[tuple[int, ...], ...]:
    """Each axis's chunk sizes (``chunks`` a side), a last chunk smaller than the axis's
    ``depth`` merged into the one before it: dask would grow it to the depth and move the
    boundary before it off the tile grid (to 1932 px on a 2060 px plane, whose last 107
    columns came out up to 6 grey levels from one machine's)."""
    sizes = []
    for i, (c, n) in enumerate(zip(chunks, shape)):
        axis = [c] * (n // c) + ([n % c] if n % c else [])
        if len(axis) > 1 and axis[-1] < depth.get(i, 0):
            axis[-2:] = [axis[-2] + axis[-1]]
        sizes.append(tuple(axis))
    return tuple(sizes)


def without_mirror(block: np.ndarray, depth: dict, block_info) -> tuple[np.ndarray, list]:
    """(``block`` without the mirror dask added at the volume's ends, what each axis lost as
    (before, after)): a chunk at the start (end) of an axis of ``depth`` grew there by a mirror
    of the volume, not by its neighbour's pixels."""
    info = (block_info or {}).get(0)
    margin = [(0, 0)] * block.ndim
    if not info:
        return block, margin
    for i, (k, n) in enumerate(zip(info["chunk-location"], info["num-chunks"])):
        if d := depth.get(i, 0):
            margin[i] = (d if k == 0 else 0, d if k == n - 1 else 0)
    inner = tuple(slice(a, block.shape[i] - b) for i, (a, b) in enumerate(margin))
    return block[inner], margin


def with_margin(image: np.ndarray, margin: list) -> np.ndarray:
    """``image`` padded back by ``margin`` (``without_mirror``): dask trims it after."""
    if not any(a or b for a, b in margin):
        return image
    return np.pad(image, margin)


@dataclass(frozen=True)
class PlaneLevels:
    """A PSF-aware network's noise levels for each plane of one run (or channel) of a volume:
    ``by_plane`` maps a plane's indices over ``loop_axes`` (in the volume) to its levels."""

    loop_axes: tuple[str, ...]
    by_plane: dict


def whole_plane_levels(prepared, device="cpu") -> PlaneLevels | None:
    """On the client: each plane's noise levels as one machine's run of ``prepared`` (a
    ``PreparedDeblur`` of the whole volume, or one channel's run) estimates them on the whole
    plane, its edge fill continued (``inference._run``); None for a method without any
    (``psf_aware._PsfRunner.plane_noise_levels``)."""
    from .edge_fill import EdgeFills
    from .tiling import holds_plane, plan_tiles

    run = getattr(prepared, "grey", None) or prepared  # grey RGB runs its grey channel
    estimate = getattr(run.method.forward, "plane_noise_levels", None)
    if estimate is None:
        return None
    layout, image, norm = run.layout, run.image, run.normalization
    shape = layout.spatial_shape
    # as one machine reads the plane: whole when lazy and small enough (its fill looked for)
    plan = plan_tiles(shape, run.options.tile, run.options.overlap,
                      size_divisor=run.method.size_divisor)
    fills = EdgeFills(layout, True, len(plan.tiles) == 1 or holds_plane(
        image, shape, layout.channels), image)
    by_plane = {}
    for plane in layout.planes:
        read = fills.reader(lambda sl, plane=plane: layout.read(image, plane, sl))
        levels = estimate(read, shape, norm.apply, device=device)
        if levels is None:
            return None
        by_plane[tuple(plane)] = levels
    return PlaneLevels(tuple(layout.loop_axes), by_plane)


def levels_for_chunks(whole, apart: bool, chunks: tuple):
    """Each plane's noise levels for the chunks (``whole_plane_levels``) where
    ``chunks`` cut a plane: of each channel's run where channels run ``apart``; None where
    the method estimates none, or a chunk holds whole planes (it estimates them as a whole)."""
    layout = whole.layout
    if all(c >= n for a, n, c in zip(layout.axes, layout.shape, chunks)
           if a in layout.spatial_axes):
        return None
    if not apart:
        return whole_plane_levels(whole, whole.options.device)
    found = tuple(whole_plane_levels(run, run.options.device) for run in whole.channel_runs)
    return None if all(f is None for f in found) else found


def levels_array(found, axes: str, chunks: tuple):
    """``found`` (a ``PlaneLevels``, or a tuple of them per channel, None for a channel without)
    as a dask array of objects for map_overlap to hand each task beside its chunk: one element
    per plane (a ``PlaneLevels`` of that plane alone, a tuple of them per channel), 1 long on
    every other axis and chunked along the loop axes as the volume's ``chunks``. Given whole to
    every task, 3000 planes' levels had made each task 118 KB (1.3 KB without), 355 MB in all."""
    import dask.array as da

    per_channel = isinstance(found, tuple)
    first = next(f for f in (found if per_channel else (found,)) if f is not None)
    loop = [axes.index(a) for a in first.loop_axes]
    sizes = [sum(chunks[i]) if i in loop else 1 for i in range(len(axes))]
    elements = np.empty(sizes, dtype=object)
    for key in first.by_plane:
        def alone(levels, key=key):
            return None if levels is None else PlaneLevels(
                levels.loop_axes, {key: levels.by_plane[key]})
        where = [0] * len(axes)
        for i, k in zip(loop, key):
            where[i] = k
        elements[tuple(where)] = (tuple(alone(f) for f in found) if per_channel
                                  else alone(found))
    return da.from_array(elements, chunks=tuple(chunks[i] if i in loop else (1,)
                                                for i in range(len(axes))))


def block_levels(levels_block) -> PlaneLevels | tuple | None:
    """A task's planes' levels (``PlaneLevels``, or a tuple per channel) from its block of
    ``levels_array``; None for none."""
    items = [] if levels_block is None else list(np.asarray(levels_block).ravel())
    if not items or items[0] is None:
        return None

    def joined(parts):
        if parts[0] is None:
            return None
        return PlaneLevels(parts[0].loop_axes, {k: v for p in parts for k, v in p.by_plane.items()})

    if isinstance(items[0], PlaneLevels):
        return joined(items)
    return tuple(joined([item[j] for item in items]) for j in range(len(items[0])))


def run_by_plane(block: np.ndarray, axes: str, levels: PlaneLevels | None, block_info,
                 run) -> np.ndarray:
    """``run(block)``; with ``levels``, ``run`` on each plane of ``block`` alone, given that
    plane's levels (``psf_aware.PIECE_OF_PLANE``), and the results put together."""
    if levels is None:
        return run(block)
    from .psf_aware import PIECE_OF_PLANE, PlanePiece

    info = (block_info or {}).get(0)
    loop = [a for a in levels.loop_axes if a in axes]
    # loop axes are not overlapped: a block's bounds there are the volume's
    origin = [int(info["array-location"][axes.index(a)][0]) if info else 0 for a in loop]
    out = None
    for index in np.ndindex(*(block.shape[axes.index(a)] for a in loop)):
        where = [slice(None)] * block.ndim
        for a, i in zip(loop, index):
            where[axes.index(a)] = slice(i, i + 1)
        key = tuple(o + i for o, i in zip(origin, index))
        token = PIECE_OF_PLANE.set(PlanePiece(levels.by_plane[key]))
        try:
            part = run(block[tuple(where)])
        finally:
            PIECE_OF_PLANE.reset(token)
        if out is None:
            out = np.empty(tuple(block.shape[i] if a in loop else part.shape[i]
                                 for i, a in enumerate(axes)), part.dtype)
        out[tuple(where)] = part
    return out
