"""Tiling: a tile plan (pure geometry) and a blended merge that runs where the model runs.

The plan cuts the spatial axes of one image into equal tiles that overlap by at least the
method's receptive field; edge tiles are snapped back inside the image, so every tile has the
same size (batching needs that) and no tile reads outside the image, except for images smaller
than a tile, which are padded (reflect) up to one tile, and for a network's ``size_divisor``:
every tile starts on its grid (a multiple of it), so the end of an axis that is not a multiple
is padded up to the next one. A network that downsamples by its divisor then sees every tile
as it sees the whole image, and tiles agree where they overlap.

The merge accumulates ``prediction * window`` on the model's device, in a band
that spans one tile along the first spatial axis the plan cuts into several tiles (Y for 3D
tiles that span all of Z). As soon as no later tile touches a row (a z-plane, or a Y-row of
every plane), the row is normalised and written to the host output, so device memory is
bounded by the band, not by the image.

The window of each tile is 1 in the middle and tapers towards the sides it shares with another
tile. The outer ``halo`` pixels of a shared side, where the network saw zero padding instead of
its neighbour's pixels, get a tiny weight (``WINDOW_FLOOR``), never zero, so every pixel keeps a
positive total weight but the invalid border of a tile does not leak into the result: with an
overlap of at least twice the halo the tiled output equals the untiled one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import output_cast
from .devices import wide_dtype
from .memory import host_available_bytes
from .tiling_spec import WINDOWS  # torch-free there, for the CLI's checks before torch

WINDOW_FLOOR = 1e-6


@dataclass(frozen=True)
class Tile:
    """One tile: ``start``/``stop`` per spatial axis in padded-image coordinates."""

    index: int
    start: tuple[int, ...]
    stop: tuple[int, ...]

    @property
    def slices(self) -> tuple[slice, ...]:
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop))


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles of one image go. Pure geometry: no arrays, no device."""

    image_shape: tuple[int, ...]  # spatial shape of the image
    # image_shape padded (at the end) up to one tile where smaller, and to a multiple of the
    # size divisor
    padded_shape: tuple[int, ...]
    tile: tuple[int, ...]
    overlap: tuple[int, ...]
    tiles: tuple[Tile, ...]  # sorted by start along the first spatial axis
    starts: tuple[tuple[int, ...], ...]  # the tile starts along each axis

    @property
    def ndim(self) -> int:
        return len(self.image_shape)

    def __len__(self) -> int:
        return len(self.tiles)


def as_tuple(value: int | Sequence[int], ndim: int, name: str) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)):
        return (int(value),) * ndim
    values = tuple(int(v) for v in value)
    if len(values) != ndim:
        raise ValueError(
            f"{name}={tuple(value)!r} has {len(values)} values; the image has {ndim} spatial axes: "
            f"give one integer or {ndim} integers"
        )
    return values


def _axis_starts(size: int, tile: int, overlap: int, divisor: int = 1) -> list[int]:
    if size <= tile:
        return [0]
    # every step (and so every start) on the divisor's grid: a 2 px step under a 126 px
    # overlap put tiles off the 8 px grid (0.75 % of the range) and ran 1454x the work
    step = max((tile - overlap) // divisor, 1) * divisor
    starts = list(range(0, size - tile, step))
    starts.append(size - tile)  # the edge tile snapped inside the image
    return starts


def rounded_tile(tile: int, size_divisor: int) -> int:
    """The tile side the tiler runs for ``tile``: rounded down to a multiple of ``size_divisor``
    (0 when ``tile`` is smaller; ``plan_tiles`` refuses that)."""
    return (tile // size_divisor) * size_divisor


def plan_tiles(
    image_shape: Sequence[int],
    tile: int | Sequence[int],
    overlap: int | Sequence[int],
    *,
    size_divisor: int = 1,
) -> TilePlan:
    """Plan equal, overlapping tiles over a 2D or 3D spatial shape.

    Tile sizes are rounded down to a multiple of ``size_divisor`` (the network needs it); along an
    axis shorter than a tile, the tile shrinks to the axis length rounded up to ``size_divisor``
    and the image is padded to it. Tiles start on multiples of ``size_divisor``, an axis padded
    up to one: along an axis cut into tiles the overlap is at most ``tile - size_divisor``
    (``tile_options`` trims a default overlap so, and refuses a given one above it).
    """
    image_shape = tuple(int(s) for s in image_shape)
    ndim = len(image_shape)
    if ndim not in (2, 3):
        raise ValueError(f"image_shape={image_shape} must have 2 or 3 spatial axes")
    if any(s < 1 for s in image_shape):
        raise ValueError(f"image_shape={image_shape} has an empty axis")
    if size_divisor < 1:
        raise ValueError(f"size_divisor={size_divisor} must be >= 1")
    tile_t = as_tuple(tile, ndim, "tile")
    overlap_t = as_tuple(overlap, ndim, "overlap")
    tiles, overlaps, padded = [], [], []
    for axis, (size, t, o) in enumerate(zip(image_shape, tile_t, overlap_t)):
        if o < 0:
            raise ValueError(f"overlap={overlap_t} must be >= 0")
        t = rounded_tile(t, size_divisor)
        if t < size_divisor or t <= o:
            raise ValueError(
                f"tile={tile_t} must be larger than overlap={overlap_t} on every axis and at "
                f"least size_divisor={size_divisor} (axis {axis} gives tile {t}, overlap {o})"
            )
        on_grid = math.ceil(size / size_divisor) * size_divisor
        t = min(t, on_grid)
        tiles.append(t)
        # a step of at least one divisor where the axis is cut (on_grid > t); t - 1 where not
        overlaps.append(min(o, t - size_divisor if on_grid > t else t - 1))
        # padded to the divisor's grid: a network that downsamples by it gives other values
        # on a tile that starts off its grid (GRAN: up to 4.7% of the range on a 601 px image)
        padded.append(max(on_grid, t))
    starts = [_axis_starts(p, t, o, size_divisor)
              for p, t, o in zip(padded, tiles, overlaps)]
    plan_tiles_ = []
    for i, start in enumerate(itertools.product(*starts)):
        stop = tuple(s + t for s, t in zip(start, tiles))
        plan_tiles_.append(Tile(i, tuple(start), stop))
    return TilePlan(
        image_shape=image_shape,
        padded_shape=tuple(padded),
        tile=tuple(tiles),
        overlap=tuple(overlaps),
        tiles=tuple(plan_tiles_),
        starts=tuple(tuple(s) for s in starts),
    )


def _taper(length: int, window: str) -> np.ndarray:
    """Rising edge of a window over ``length`` pixels, strictly between 0 and 1."""
    u = (np.arange(length, dtype=np.float64) + 0.5) / length
    if window == "cosine":
        return 0.5 - 0.5 * np.cos(np.pi * u)
    if window == "gaussian":
        return np.exp(-0.5 * ((1.0 - u) / 0.4) ** 2)
    return np.ones(length)


def window_profile(
    tile: int, overlap: int, halo: int, window: str, *, shared_before: bool, shared_after: bool
) -> np.ndarray:
    """1D weights of one tile along one axis.

    A side shared with another tile gets ``halo`` pixels at the floor, then the taper over the
    rest of the overlap; a side on the image border keeps weight 1 (nobody else covers it).
    """
    if window not in WINDOWS:
        raise ValueError(f"window={window!r} is not one of {WINDOWS}")
    profile = np.ones(tile, dtype=np.float64)
    halo = min(halo, overlap // 2)
    ramp = np.ones(overlap, dtype=np.float64)
    ramp[:halo] = WINDOW_FLOOR
    if overlap - 2 * halo > 0:
        ramp[halo : overlap - halo] = _taper(overlap - 2 * halo, window)
    ramp = np.maximum(ramp, WINDOW_FLOOR)
    if overlap:
        if shared_before:
            profile[:overlap] = np.minimum(profile[:overlap], ramp)
        if shared_after:
            profile[tile - overlap :] = np.minimum(profile[tile - overlap :], ramp[::-1])
    return profile


@dataclass(frozen=True)
class TileProgress:
    """One progress record: a tile has been merged."""

    done: int
    total: int
    tile: Tile


class TileMerger:
    """Blended accumulation of tile predictions in a band on the device, flushed row by row.

    ``write(slices, block)`` receives finished rows: ``slices`` index the spatial axes of the
    (unpadded) image and ``block`` is a float32 numpy array shaped (C, *rows).
    """

    def __init__(
        self,
        plan: TilePlan,
        channels: int,
        write: Callable[[tuple[slice, ...], np.ndarray], None],
        *,
        window: str = "cosine",
        halo: int = 0,
        device: torch.device | str = "cpu",
    ):
        self.plan = plan
        self.write = write
        self.device = torch.device(device)
        # float64 makes the merge exact for an identity model (x*w/w rounds back to x in float32);
        # MPS has no float64.
        self.dtype = wide_dtype(self.device)
        # the band runs along the first axis cut into several tiles: tiles come in start order
        # along it (the axes before it hold one tile each). Along Z always, a 3D tile spanning
        # all of Z made the band the whole volume in float64 (1 GB for 16 planes of 4096 x 2048)
        self.band_axis = next((axis for axis, starts in enumerate(plan.starts)
                               if len(starts) > 1), 0)
        band_shape = list(plan.padded_shape)
        band_shape[self.band_axis] = plan.tile[self.band_axis]
        self.acc = torch.zeros((channels, *band_shape), dtype=self.dtype, device=self.device)
        self.band_start = 0
        self.window = window
        self.halo = halo
        # Every tile's window is a product of per-axis profiles that depend only on the tile's
        # position along that axis, and the tiles form a full grid. So the windows are applied
        # one axis at a time (no tile-sized window per position is kept: nine of them were 75 MB
        # at 1024-px tiles) and the summed weight is the product of per-axis sums (no
        # image-sized weight buffer).
        self._profiles: dict[tuple[int, int], torch.Tensor] = {}
        self.axis_weights = [self._axis_weight(axis) for axis in range(plan.ndim)]

    def _profile(self, axis: int, start: int) -> np.ndarray:
        starts = self.plan.starts[axis]
        return window_profile(
            self.plan.tile[axis],
            self.plan.overlap[axis],
            self.halo,
            self.window,
            shared_before=start != starts[0],
            shared_after=start != starts[-1],
        )

    def _axis_weight(self, axis: int) -> torch.Tensor:
        """The summed window of all tiles along one axis, over the padded length."""
        total = np.zeros(self.plan.padded_shape[axis], dtype=np.float64)
        for start in self.plan.starts[axis]:
            total[start : start + self.plan.tile[axis]] += self._profile(axis, start)
        return torch.from_numpy(total).to(self.device, self.dtype)

    def _along(self, axis: int, values: torch.Tensor) -> torch.Tensor:
        """A 1D tensor shaped to broadcast along spatial ``axis`` of a (C, *spatial) array."""
        shape = [1] * (self.plan.ndim + 1)
        shape[axis + 1] = -1
        return values.view(shape)

    def _tile_profile(self, axis: int, start: int) -> torch.Tensor:
        """The window of the tiles starting at ``start`` along ``axis`` (cached)."""
        key = (axis, start)
        if key not in self._profiles:
            profile = torch.from_numpy(self._profile(axis, start)).to(self.device, self.dtype)
            self._profiles[key] = self._along(axis, profile)
        return self._profiles[key]

    def _band(self, rows: slice) -> tuple[slice, ...]:
        """The index of ``rows`` (band coordinates) along the band axis of ``acc``."""
        return (slice(None),) * (self.band_axis + 1) + (rows,)

    def _flush_until(self, row: int) -> None:
        """Normalise and write band rows before ``row`` (no later tile touches them)."""
        n = row - self.band_start
        if n <= 0:
            return
        axis_b, image_shape = self.band_axis, self.plan.image_shape
        rows_out = min(row, image_shape[axis_b]) - self.band_start
        if rows_out > 0:
            spatial = [slice(0, s) for s in image_shape]
            spatial[axis_b] = slice(self.band_start, self.band_start + rows_out)
            in_band = list(spatial)
            in_band[axis_b] = slice(0, rows_out)
            # normalised in place, one axis at a time (in axis order, so the values are those
            # a band along Z gave bit for bit): these band rows are dropped just below
            block = self.acc[(slice(None), *in_band)]
            for axis, sl in enumerate(spatial):
                block /= self._along(axis, self.axis_weights[axis][sl])
            self.write(tuple(spatial), block.to(torch.float32).cpu().numpy())
            del block
        # shift the band: keep the unfinished rows, zero the rest. Copied forward in chunks of
        # at most n rows, a chunk never overlaps its source, so no band-sized copy is needed.
        keep = self.acc.shape[axis_b + 1] - n
        for first in range(0, max(keep, 0), n):
            count = min(n, keep - first)
            self.acc[self._band(slice(first, first + count))] = \
                self.acc[self._band(slice(first + n, first + n + count))]
        self.acc[self._band(slice(max(keep, 0), None))] = 0
        self.band_start = row

    def add(self, tile: Tile, prediction: torch.Tensor) -> None:
        """Merge one tile's prediction, shaped (C, *tile)."""
        axis_b = self.band_axis
        self._flush_until(tile.start[axis_b])
        weighted = prediction.to(self.dtype, copy=True)
        for axis, start in enumerate(tile.start):
            weighted *= self._tile_profile(axis, start)
        offset = tile.start[axis_b] - self.band_start
        region = list(tile.slices)
        region[axis_b] = slice(offset, offset + self.plan.tile[axis_b])
        self.acc[(slice(None), *region)] += weighted

    def finish(self) -> None:
        self._flush_until(self.plan.padded_shape[self.band_axis])


#: The largest plane of a lazy image ``read_once`` holds (host memory, input dtype)
READ_ONCE_MAX_BYTES = 1 << 30


def holds_plane(image, plane_shape: tuple[int, ...], channels: int) -> bool:
    """Whether ``read_once`` should read the planes of ``image``: a lazy one (dask, zarr, TIFF
    pages; not numpy or a memory map, which read only what a tile slices) whose plane takes at
    most ``READ_ONCE_MAX_BYTES`` and an eighth of the host memory available. An image whose
    regions are cheap reads (``cheap_regions``: an uncompressed TIFF read by positioned reads)
    is read tile by tile, so a file-to-file run holds no whole plane."""
    if isinstance(image, np.ndarray) or getattr(image, "cheap_regions", False):
        return False
    nbytes = math.prod(plane_shape) * channels * np.dtype(image.dtype).itemsize
    free = host_available_bytes()
    return nbytes <= (READ_ONCE_MAX_BYTES if free is None else
                      min(READ_ONCE_MAX_BYTES, free // 8))


def read_once(
    read: Callable[[tuple[slice, ...]], np.ndarray], shape: tuple[int, ...]
) -> Callable[[tuple[slice, ...]], np.ndarray]:
    """``read`` for the tiles of one plane of a lazy (dask, zarr) image: the whole plane read
    on the first tile, then sliced. Read tile by tile, such an image decodes every chunk a tile
    touches, again for each tile (a 2048 px plane in 1024 px chunks: 25 times at 256 px tiles)."""
    held: list[np.ndarray] = []

    def cached(slices: tuple[slice, ...]) -> np.ndarray:
        if not held:
            held.append(np.asarray(read(tuple(slice(0, n) for n in shape))))
        return held[0][(slice(None), *slices)]

    return cached


def read_tile(
    read: Callable[[tuple[slice, ...]], np.ndarray], plan: TilePlan, tile: Tile
) -> np.ndarray:
    """Read a tile (C, *tile) through ``read``, reflect-padding where it passes the image end."""
    inside = tuple(
        slice(a, min(b, s)) for a, b, s in zip(tile.start, tile.stop, plan.image_shape)
    )
    block = np.asarray(read(inside))
    pad = [(0, 0)] + [(0, b - min(b, s)) for b, s in zip(tile.stop, plan.image_shape)]
    if any(after for _, after in pad):
        # numpy's 'symmetric' reflects repeatedly, so it works for pads larger than the image
        block = np.pad(block, pad, mode="symmetric")
    return block


def iter_tiled_apply(
    forward: Callable[[torch.Tensor], torch.Tensor],
    read: Callable[[tuple[slice, ...]], np.ndarray],
    write: Callable[[tuple[slice, ...], np.ndarray], None],
    plan: TilePlan,
    *,
    channels: int,
    out_channels: int | None = None,
    window: str = "cosine",
    halo: int = 0,
    batch_size: int = 1,
    device: torch.device | str = "cpu",
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Iterator[TileProgress]:
    """Run ``forward`` over the tiles of one image, yielding a TileProgress per tile.

    ``read(slices)`` returns the image region (C, *region) for spatial slices of the image;
    ``prepare`` turns it into the float32 the model expects (normalisation); ``forward`` maps a
    batch (B, C, *tile) on ``device`` to (B, C_out, *tile). Finished rows go to ``write``.
    Stopping the generator between tiles cancels the run; rows already written stay written.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    device = torch.device(device)
    # values cast to an integer type (or float16) are counted over the whole image, said once
    # at its end (``output_cast``): a band of rows at a time they were said once per band
    tally = output_cast.OutputCast()
    write = _counted(write, tally)
    if len(plan.tiles) == 1:
        yield from _apply_whole(forward, read, write, plan, device, prepare)
        tally.say()
        return
    # inference mode per step, not around the loop: a generator must not leave it switched on
    # in its caller between yields
    with torch.inference_mode():
        merger = TileMerger(
            plan, out_channels or channels, write, window=window, halo=halo, device=device
        )
    total = len(plan.tiles)
    done = 0
    for first in range(0, total, batch_size):
        batch_tiles = plan.tiles[first : first + batch_size]
        arrays = []
        for tile in batch_tiles:
            block = read_tile(read, plan, tile)
            arrays.append(prepare(block) if prepare is not None else block.astype(np.float32))
        with torch.inference_mode():
            # one tile needs no stacked copy
            stacked = arrays[0][None] if len(arrays) == 1 else np.stack(arrays)
            batch = torch.from_numpy(stacked).to(device)
            prediction = forward(batch)
        for tile, pred in zip(batch_tiles, prediction):
            with torch.inference_mode():
                merger.add(tile, pred)
            done += 1
            yield TileProgress(done, total, tile)
    with torch.inference_mode():
        merger.finish()
    tally.say()


def _counted(write, tally: output_cast.OutputCast):
    """``write`` with the casts made in it counted in ``tally`` (opened per call, never across
    a yield: the generator may resume in another thread)."""

    def counted(slices: tuple[slice, ...], block: np.ndarray) -> None:
        with output_cast.open_tally(tally):
            write(slices, block)

    return counted


def _apply_whole(forward, read, write, plan: TilePlan, device, prepare) -> Iterator[TileProgress]:
    """A plan of one tile: no blending, so no merge buffers (a window of ones over one tile
    would give back the prediction exactly; the buffers would cost five float64 copies)."""
    tile = plan.tiles[0]
    block = read_tile(read, plan, tile)
    x = prepare(block) if prepare is not None else block.astype(np.float32)
    del block
    with torch.inference_mode():
        prediction = forward(torch.from_numpy(x[None]).to(device))[0]
        del x
        inside = tuple(slice(0, s) for s in plan.image_shape)
        write(inside, prediction[(slice(None), *inside)].to(torch.float32).cpu().numpy())
    yield TileProgress(1, 1, tile)


#: elements of one piece ``map_in_pieces`` works on: its float64 copies stay at 8 MB each
PIECE_ELEMENTS = 1 << 20


#: a constant (a normalisation's scale or offset) above float32's top over this works in
#: float64: results of a few times it (ringing) then stay finite, and are clipped on the way
#: to float32 output and counted, not cast to inf (1e300 became inf, then NaN, in float32)
FLOAT32_HEADROOM = 2.0**16


def work_type(dtype, *constants: float) -> type:
    """np.float32 where it holds every value of ``dtype`` (floats up to 32 bits, integers up
    to 16), np.float64 where not: float32 rounds 2**32 - 1 to 2**32 and 1e6 to 0.0625 steps;
    np.float64 too where one of ``constants`` (used with the values) nears float32's top
    (``FLOAT32_HEADROOM``)."""
    dtype = np.dtype(dtype)
    top = float(np.finfo(np.float32).max) / FLOAT32_HEADROOM
    if any(abs(float(c)) > top for c in constants):
        return np.float64
    return np.float32 if dtype.itemsize <= (4 if dtype.kind == "f" else 2) else np.float64


def map_in_pieces(x, dtype, fn: Callable[[np.ndarray], np.ndarray], work=np.float64):
    """A new array of ``dtype`` and ``x``'s shape (a scalar for a scalar): ``fn`` of a copy of
    ``x`` as ``work`` (``fn`` may change it in place), for an integer ``dtype`` rounded and
    clipped to its range, for float16 clipped to its finite range (+-65504), and so for
    float32 values worked in float64 and cast back (a normalisation's constant past float32's
    range, ``work_type``: +-3.4e38), a piece of at most ``PIECE_ELEMENTS`` at a time, so no
    float64 copy of a whole image or tile is held."""
    x, dtype = np.asarray(x), np.dtype(dtype)
    # a float16 result over 65504, or a float64 one over 3.4e38 for float32, was cast to inf
    # (numpy's overflow warning alone). float32 from float32 work (the model's results, the
    # usual case) can pass no range in the cast: left bit for bit, with no counting pass; a
    # wider input made float32 (the model's units) is no output: not counted into its tally
    narrow = dtype.kind == "f" and (dtype.itemsize < 4 or (
        x.dtype == dtype and np.dtype(work).itemsize > dtype.itemsize))
    if dtype.kind not in "iu" and not narrow:
        return _map_pieces(x, dtype, fn, work)
    low, top = output_cast.type_range(dtype)
    # the top as a value of ``work`` that casts back inside: float64(2**63 - 1) is 2**63
    high = np.dtype(work).type(top)
    high = high if int(high) <= top else np.nextafter(high, 0)
    # counted into the tally of the run (or output) this piece belongs to, else said here
    tally = output_cast.active() or output_cast.OutputCast()

    def step_of(p: np.ndarray) -> np.ndarray:
        p = fn(p) if narrow else np.rint(fn(p), out=p)
        # a piece inside the type's range (the count says) needs no clip pass
        return np.clip(p, low, high, out=p) if tally.count(p, dtype, low, high) else p

    out = _map_pieces(x, dtype, step_of, work)
    if tally is not output_cast.active():
        tally.say(stacklevel=3)
    return out


def _map_pieces(x: np.ndarray, dtype: np.dtype, step_of, work):
    """``map_in_pieces``' loop: ``step_of`` of each piece of ``x`` as ``work``, into ``dtype``."""
    out = np.empty(x.shape, dtype)
    shape, k, inner = x.shape, x.ndim, 1
    while k and inner * shape[k - 1] <= PIECE_ELEMENTS:  # trailing axes a piece holds whole
        k -= 1
        inner *= shape[k]
    if k == 0:
        out[...] = step_of(x.astype(work))
        return out[()]
    step = max(1, PIECE_ELEMENTS // inner)
    for lead in np.ndindex(*shape[:k - 1]):
        for first in range(0, shape[k - 1], step):
            piece = (*lead, slice(first, first + step))
            out[piece] = step_of(x[piece].astype(work))
    return out


#: how torch says a tensor did not fit: CUDA's and MPS's allocators ("... out of memory"), the
#: CPU allocator on Linux and macOS (posix_memalign) and on Windows (_aligned_malloc; c10's
#: alloc_cpu.cpp), whose words a batch had not known: a traceback, the advice lost
OUT_OF_MEMORY_WORDS = ("out of memory", "DefaultCPUAllocator: can't allocate memory",
                       "DefaultCPUAllocator: not enough memory")


def says_out_of_memory(text: str) -> bool:
    """Whether an error's ``text`` (or a worker's message) says torch ran out of memory: the
    one list the retry with smaller tiles and the command line's 'out of memory' line read."""
    text = text.lower()
    return any(words.lower() in text for words in OUT_OF_MEMORY_WORDS)


def is_out_of_memory(error: BaseException) -> bool:
    """True for an out-of-memory error of the device (CUDA, MPS, the CPU on any system), which
    smaller tiles can avoid."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and says_out_of_memory(str(error))
