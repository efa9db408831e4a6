"""The tiles a deblur's planes run with, and smaller ones once memory runs out (``inference._run``).

Out of memory (CUDA, MPS or the CPU: ``tiling.is_out_of_memory``), the plane that failed runs
again with tiles of half the side, and so do the planes after it; the planes already written
are kept. A z-stack had started again from its first plane: 3 finished planes of 6 were all
run again. The planes kept are bit for bit a failure-free run's, those from the failed plane
on a run's at the smaller tile. The two need not agree at the tiles' seams (a Wiener filter of
halo 6 with an overlap of 16: up to 3 levels of uint8 between tiles of 96 and 48 px; a 3D PSF
cut in Z: 32.6 on a range of 1211), so ``note`` says where the tile changed. The planes'
edge fills are looked for and continued as on the first try (``smaller``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

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
    # (the first plane's index, the plan's tile) of each tile size the run has used
    spans: list = field(default_factory=list)

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
                   passes_flat, plan, once, edges, fills, [(0, plan.tile)])

    def reader(self, plane):
        """The reader of ``plane``'s tiles: read once where ``once``, its edge fill continued."""
        read = lambda sl: self.layout.read(self.image, plane, sl)  # noqa: E731
        read = tiling.read_once(read, self.layout.spatial_shape) if self.once else read
        return self.fills.reader(read)  # an edge fill continued (``core.edge_fill``)

    def fill_counts(self) -> dict:
        """What the edge fills counted so far: taken before a plane, so that a plane run
        again after running out of memory is counted once."""
        return {name: copy.copy(getattr(self.fills, name)) for name in _FILL_COUNTS}

    def smaller(self, error: BaseException, counts: dict, index: int) -> RunTiles | None:
        """Tiles of half the side after ``error`` in the ``index``-th plane, the edge fills'
        ``counts`` carried on; None where ``error`` is no out-of-memory one or a smaller tile
        would not hold the overlap and twice the halo (the tiles would no longer agree where
        they overlap). The planes are read (``once``) and their edge fills looked for
        (``fills``) as on the first try: planned anew, a memory map's or uncompressed TIFF's
        plane that one tile had read whole was read tile by tile after, and its fill,
        continued before, rang where ``edge_fill._fits`` said no (4 of 6 planes)."""
        half = tuple(max(self.size_divisor, t // 2) for t in self.tile)
        if not tiling.is_out_of_memory(error) or half == self.tile or any(
                s <= max(o, 2 * self.halo) for s, o in zip(half, self.overlap)):
            return None
        plan = tiling.plan_tiles(self.layout.spatial_shape, half, self.overlap,
                                 size_divisor=self.size_divisor)
        for name, value in counts.items():
            setattr(self.fills, name, value)
        # the first try's tile kept first; a plane failing again replaces its own size
        spans = [self.spans[0], *(s for s in self.spans[1:] if s[0] < index), (index, plan.tile)]
        return replace(self, tile=half, plan=plan, spans=spans)

    def note(self, total: int, word: str = "planes") -> str:
        """Where the run went on with smaller tiles after running out of memory ('' where it
        did not): ``DeblurResult.tile`` is the last tile alone, which the planes before the
        failure did not run with."""
        if len(self.spans) == 1:
            return ""
        asked = self.spans[0][1]
        ran = self.spans[1:] if self.spans[1][0] == 0 else self.spans  # none at the first?
        if len(ran) == 1:
            where = "the image" if total == 1 else f"all {total} {word}"
            return f"out of memory with tile {asked}: {where} ran with tile {ran[0][1]}"
        stops = [s for s, _ in ran[1:]] + [total]
        failed = ", ".join(str(s + 1) for s, _ in ran[1:])
        if len(ran) == 2:  # one change: the planes from it on, the planes before it
            return (f"out of memory at {word[:-1]} {failed} of {total}: "
                    f"{_numbers(word, ran[1][0], total)} ran with tile {ran[1][1]}, {word} "
                    f"before it with {ran[0][1]}; seams may differ slightly between the two")
        runs = ", ".join(f"{_numbers(word, s, stop)} with tile {t}"
                         for (s, t), stop in zip(ran, stops))
        return (f"out of memory at {word} {failed} of {total}: {runs}; seams may differ "
                "slightly between the tile sizes")


def _numbers(word: str, start: int, stop: int) -> str:
    """Planes ``start``..``stop - 1`` (from 0) counted from 1: 'planes 4-6', or 'plane 6'."""
    return f"{word[:-1]} {start + 1}" if stop == start + 1 else f"{word} {start + 1}-{stop}"
