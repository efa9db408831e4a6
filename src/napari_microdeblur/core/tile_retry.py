"""The tiles a deblur's planes run with, and smaller ones once memory runs out (``inference._run``).

Out of memory (CUDA, MPS or the CPU: ``tiling.is_out_of_memory``), the plane that failed runs
again with tiles of half the side, and so do the planes after it; the planes already written
are kept. A z-stack had started again from its first plane: 3 finished planes of 6 were all
run again. Where the tiled result does not depend on the tile (an overlap of at least twice
the method's halo, as ``tiling`` blends it), the output is bit for bit a run's without the
failure.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from . import tiling
from .edge_fill import EdgeFills
from .flat_planes import chunk_edges

#: what an ``EdgeFills`` counts over the planes of a run (for its one note at the end)
_FILL_COUNTS = ("planes", "share", "values", "no_room")


@dataclass
class RunTiles:
    """One tile size of a run: its plan, whether a plane is read once (``tiling.read_once``),
    the image's chunk edges (``flat_values``) and the planes' edge fills."""

    image: object
    layout: object
    tile: tuple[int, ...]  # as asked: the plan's is cut to the image, rounded to the divisor
    size_divisor: int
    halo: int
    overlap: tuple[int, ...]
    passes_flat: bool
    plan: tiling.TilePlan
    once: bool
    edges: list
    fills: EdgeFills

    @classmethod
    def planned(cls, image, layout, tile, overlap, *, size_divisor: int, halo: int,
                passes_flat: bool) -> RunTiles:
        plan = tiling.plan_tiles(layout.spatial_shape, tile, overlap, size_divisor=size_divisor)
        # one reader for the flat check and the tiles, so a lazy plane is decoded once: a
        # one-tile plan reads the whole plane anyway
        once = len(plan) == 1 or tiling.holds_plane(image, layout.spatial_shape,
                                                    layout.channels)
        edges = chunk_edges(image, [layout.axes.index(a) for a in layout.spatial_axes])
        fills = EdgeFills(layout, passes_flat, once, image)  # planes whole in memory only
        return cls(image, layout, tuple(tile), size_divisor, halo, tuple(overlap),
                   passes_flat, plan, once, edges, fills)

    def reader(self, plane):
        """The reader of ``plane``'s tiles: read once where ``once``, its edge fill continued."""
        read = lambda sl: self.layout.read(self.image, plane, sl)  # noqa: E731
        read = tiling.read_once(read, self.layout.spatial_shape) if self.once else read
        return self.fills.reader(read)  # an edge fill continued (``core.edge_fill``)

    def fill_counts(self) -> dict:
        """What the edge fills counted so far: taken before a plane, so that a plane run
        again after running out of memory is counted once."""
        return {name: copy.copy(getattr(self.fills, name)) for name in _FILL_COUNTS}

    def smaller(self, error: BaseException, counts: dict) -> RunTiles | None:
        """Tiles of half the side after ``error``, the edge fills' ``counts`` carried on;
        None where ``error`` is no out-of-memory one or a smaller tile would not hold the
        overlap and twice the halo (the tiles would no longer agree where they overlap)."""
        half = tuple(max(self.size_divisor, t // 2) for t in self.tile)
        if not tiling.is_out_of_memory(error) or half == self.tile or any(
                s <= max(o, 2 * self.halo) for s, o in zip(half, self.overlap)):
            return None
        smaller = RunTiles.planned(self.image, self.layout, half, self.overlap,
                                   size_divisor=self.size_divisor, halo=self.halo,
                                   passes_flat=self.passes_flat)
        for name, value in counts.items():
            setattr(smaller.fills, name, value)
        return smaller
