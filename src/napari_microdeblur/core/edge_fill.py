"""Edge fill: the constant border (black or white) that aligned, registered or stitched images
carry where the field was shifted or rotated out, passed through a deblur unchanged.

The fill's edge is a step no PSF made: every method rang at it (within 8 px of a 40 px black
stripe on a 768 x 1024 EPFL FIB-SEM slice, the PSF-aware network with the true PSF fell from
28.8 to 19.2 dB, input 28.1; the fill came back at -37..+10), and the PSF estimate followed the
wedge's edge (astig:3.1,0.3,30 for gaussian:1.6 on a crop with an 11.7 % wedge). So a plane
with such a border (``focus.constant_border``: solid, touching the plane's edge, outside the
convex hull of the rest), holding at least ``MIN_SHARE`` of it, is deblurred (and its PSF
estimated) with the fill replaced by a continuation of the image next to it (``filled``), and
the fill's own values are written back into the output. Planes without one run as before, bit
for bit; a plane read tile by tile (an uncompressed TIFF, a memory map) is read whole only where
its edges may hold one (``may_hold_fill``)."""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_SHARE", "EdgeFills", "edge_fill_mask", "fill_note", "fill_type", "filled",
           "may_hold_fill"]

#: the least share of a plane in edge fill that is continued and passed through
MIN_SHARE = 0.01
#: The continuation is push-pull (pyramid) inpainting: the image's valid pixels are halved
#: down (a [1 3 3 1] / 8 kernel, the transpose of bilinear upsampling) until every coarse pixel
#: sees some, each coarse pixel the mean of the valid ones it sees, then pulled back up
#: bilinearly into the pixels that saw none: smooth, local next to the fill's edge (the mean of
#: the nearest few pixels) and O(N) in float32. Measured on the walkthrough's 4 EM crops with a
#: wedge (pad2.py, auto): valid and 8 px band within 0.06 dB of the nearest pixel blended over
#: 4 px into a smoothed copy that it replaces (whose float64 copies and int64 indices took 72
#: bytes a pixel beyond the output and 6 s at 4096 x 4096 uint8; this: 2.4 and 0.3 s); the
#: coarse means weighted by their share of valid pixels (a softer pull) lost up to 0.9 dB in
#: the band; a mirror of the image through the edge (its texture kept) read as a blur across
#: the edge (astig:1.7,0.2 for 1.9,1.4)
#: rows of the plane pushed or pulled at a time: the only plane-sized float work is this band
_ROWS = 256


def edge_fill_mask(plane: np.ndarray) -> np.ndarray | None:
    """(Y, X) bool: the edge fill of a 2D plane (its ``constant_border``, with the pixels of
    that value joined to it that the border's 3 px opening left off: a wedge's thin tip, a
    slanted edge's steps), or None where it has none or it holds under ``MIN_SHARE``."""
    from scipy import ndimage

    from .focus import constant_border  # here: focus imports torch, the PSF estimate does not

    plane = np.asarray(plane)
    if plane.ndim != 2 or plane.size == 0 or plane.dtype == bool:
        return None
    if plane.dtype.kind == "f" and not np.all(np.isfinite(plane)):  # no plane-sized temporary
        return None  # for integers
    low, high = float(plane.min()), float(plane.max())
    if low == high or _no_border(plane, low, high):
        return None
    if (border := constant_border(plane, low, high)) is None:
        return None
    mask = np.zeros(plane.shape, bool)
    for value in (low, high):  # each through its own value: not into content at the other
        if (seed := border & (plane == value)).any():
            mask |= ndimage.binary_propagation(seed, mask=plane == value)
    if np.count_nonzero(mask) < MIN_SHARE * mask.size:
        return None
    rest = plane[~mask]
    # a plane that is fill and one other value is not continued: it would come out flat
    if rest.size == 0 or rest.min() == rest.max():
        return None
    return mask if _steps_at(plane, mask, rest, (low, high)) else None


#: the least median step from the fill to the image next to it, over the image's p1-p99
#: spread: a fill is cut into the image (real fills measured 1.2-1.9); a specimen's straight
#: edge against a clipped background (brightfield cells on saturated white, tissue masked to
#: 0) is not (0.08-0.15), and continuing that background had cost 1-3 dB at the edge
MIN_STEP = 0.5


def _steps_at(plane: np.ndarray, mask: np.ndarray, rest: np.ndarray, values) -> bool:
    """Whether the image (``rest``: its pixels outside the fill) steps away from the fill
    ``mask`` (at ``values``, the plane's min and max) at its edge (``MIN_STEP``)."""
    from scipy import ndimage

    rest = rest[:: max(1, rest.size // 100_000)]  # the spread of a sample: no full sort
    spread = float(np.percentile(rest, 99)) - float(np.percentile(rest, 1))
    steps = []
    for value in values:
        if not (part := mask & (plane == value)).any():
            continue
        ring = ndimage.binary_dilation(part) & ~mask
        steps.append(np.abs(plane[ring].astype(np.float64) - float(value)))
    steps = np.concatenate(steps)
    if steps.size == 0:
        return False
    # a rest of one value but a few pixels is no image to continue (as one value alone)
    return spread > 0 and float(np.median(steps)) >= MIN_STEP * spread


def _no_border(plane: np.ndarray, low: float, high: float) -> bool:
    """Whether ``constant_border`` surely finds no border in ``plane``, told without its
    opening, labelling and hull of the whole plane (110 ms, 44 MiB at 2048 x 2048 on a dark
    field's exact zeros): for each of ``low``, ``high`` on the plane's edge, too few pixels at
    it, or too few outside the convex hull of the pixels not at it (``_outside_hull``)."""
    from .focus import BORDER_HULL_SHARE, BORDER_WIDTH

    edge = np.concatenate([plane[0], plane[-1], plane[:, 0], plane[:, -1]])
    least = BORDER_WIDTH * min(plane.shape)  # a border's least pixel count
    for value in {low, high}:
        if not np.any(edge == value):
            continue
        same = plane == value
        if np.count_nonzero(same) < least:
            continue
        # a border B (>= least px) keeps all but BORDER_HULL_SHARE of B plus the staircase
        # (sum(shape)) outside the hull of the rest, which holds that of the pixels not at the
        # value: so (1 - share) * least - staircase <= the value's pixels outside that hull
        if _outside_hull(same) + sum(plane.shape) + 1 >= (1 - BORDER_HULL_SHARE) * least:
            return False
    return True


def _outside_hull(same: np.ndarray) -> int:
    """How many ``same`` pixels lie not wholly inside the convex hull of the other pixels
    (as squares, as ``focus._hull_area``): a row's interval whose both edges lie inside."""
    from scipy.spatial import ConvexHull

    h, w = same.shape
    rows = np.flatnonzero(~same.all(axis=1))
    first = same.argmin(axis=1)[rows] - 0.5
    last = w - same[:, ::-1].argmin(axis=1)[rows] - 0.5
    corners = [np.stack([rows + dy, cols], axis=1)
               for dy in (-0.5, 0.5) for cols in (first, last)]
    ny, nx, d = ConvexHull(np.concatenate(corners)).equations.T  # inside: ny y + nx x + d <= 0
    y = np.arange(h + 1)[:, None] - 0.5  # the rows' edges
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = (-d - ny * y) / nx
    lo = np.where(nx < 0, bound, -np.inf).max(axis=1)
    hi = np.where(nx > 0, bound, np.inf).min(axis=1)
    lo[((nx == 0) & (ny * y + d > 1e-9)).any(axis=1)] = np.inf  # a line past the hull
    # the columns whose squares lie inside at both edges of the row (to float rounding: a
    # pixel's 1e-7 px past the hull is in the caller's margin of 1)
    start = np.ceil(np.maximum(lo[:-1], lo[1:]) + 0.5 - 1e-7)
    stop = np.floor(np.minimum(hi[:-1], hi[1:]) - 0.5 + 1e-7)
    cols, count = np.arange(w), 0
    for r0 in range(0, h, _ROWS):  # no plane-sized temporaries
        r1 = min(h, r0 + _ROWS)
        inside = (cols >= start[r0:r1, None]) & (cols <= stop[r0:r1, None])
        count += int(np.count_nonzero(same[r0:r1] & ~inside))
    return count


def filled(plane: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``plane`` (2D) with its ``mask`` pixels replaced by a smooth continuation of the rest
    (push-pull: the mean of the nearest valid pixels at the finest scale that has some, pulled
    up bilinearly). Same dtype (integers rounded); the other pixels are the plane's own."""
    plane, mask = np.asarray(plane), np.asarray(mask, dtype=bool)
    out = plane.copy()
    if not mask.any() or mask.all():  # nothing to fill, or nothing to continue it from
        return out
    work = np.float64 if plane.dtype.itemsize > 4 else np.float32  # float64 keeps 8-byte data
    levels = [_push(plane, mask, work)]  # (mean, has): the coarser levels, 1/4 each
    while not levels[-1][1].all() and max(levels[-1][1].shape) > 1:
        mean, has = levels[-1]
        levels.append(_push(mean, ~has, work))
    for (fine, has), (coarse, _) in zip(levels[-2::-1], levels[:0:-1]):
        _pull(fine, ~has, coarse)  # the pixels that saw no valid one: from the coarser level
    _pull(out, mask, levels[0][0])
    return out


def _push(plane: np.ndarray, skip: np.ndarray, work) -> tuple[np.ndarray, np.ndarray]:
    """The next coarser level of ``plane`` without its ``skip`` pixels: (the mean of the valid
    pixels each coarse one sees, whether it sees any), half size, ``_ROWS`` rows at a time (no
    plane-sized float copy)."""
    h, w = plane.shape
    rows = (h + 1) // 2
    mean = np.empty((rows, (w + 1) // 2), work)
    has = np.empty(mean.shape, bool)
    for k0 in range(0, rows, _ROWS // 2):
        k1 = min(rows, k0 + _ROWS // 2)
        r0, r1 = 2 * k0 - 1, 2 * k1 + 1  # the [1 3 3 1] kernel's reach, zero beyond the plane
        value = np.zeros((r1 - r0, w), work)
        valid = np.zeros((r1 - r0, w), work)
        a, b = max(r0, 0), min(r1, h)
        value[a - r0:b - r0] = plane[a:b]
        valid[a - r0:b - r0] = ~skip[a:b]
        value *= valid
        m, hs = _normalized(_down(_down_rows(value).T, work).T,
                            _down(_down_rows(valid).T, work).T)
        mean[k0:k1], has[k0:k1] = m, hs
    return mean, has


def _down_rows(p: np.ndarray) -> np.ndarray:
    """Rows of ``p`` (2m + 2 rows, one row of the kernel's reach either side) halved: m rows."""
    return (p[0:-2:2] + p[3::2]) * 0.125 + (p[1:-1:2] + p[2::2]) * 0.375


def _down(a: np.ndarray, work) -> np.ndarray:
    """``a`` halved along its rows (zero beyond its edges)."""
    rows = (a.shape[0] + 1) // 2
    p = np.zeros((2 * rows + 2, *a.shape[1:]), work)
    p[1:a.shape[0] + 1] = a
    return _down_rows(p)


def _normalized(value: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the mean of the valid pixels a coarse pixel sees, whether it sees any)."""
    has = weight > 0
    np.divide(value, weight, out=value, where=has)
    return value, has


def _up(coarse: np.ndarray, start: int, stop: int, axis: int) -> np.ndarray:
    """Rows (``axis`` 0) or columns ``start:stop`` of ``coarse`` upsampled 2 x bilinearly (its
    pixels' centres between two of the fine ones'; the edge one repeated beyond the edge)."""
    i = np.arange(start, stop)
    near = i // 2
    other = np.clip(np.where(i % 2, near + 1, near - 1), 0, coarse.shape[axis] - 1)
    return 0.75 * np.take(coarse, near, axis) + 0.25 * np.take(coarse, other, axis)


def _pull(fine: np.ndarray, need: np.ndarray, coarse: np.ndarray) -> None:
    """``fine``'s ``need`` pixels from ``coarse`` upsampled, ``_ROWS`` rows at a time, over the
    columns that need it; rounded into an integer ``fine``'s range."""
    integer = fine.dtype.kind in "iu"
    for r0 in range(0, fine.shape[0], _ROWS):
        r1 = min(fine.shape[0], r0 + _ROWS)
        if not (cols := np.flatnonzero(need[r0:r1].any(axis=0))).size:
            continue
        c0, c1 = int(cols[0]), int(cols[-1]) + 1
        up = _up(_up(coarse, r0, r1, 0), c0, c1, 1)
        if integer:
            info = np.iinfo(fine.dtype)
            up = np.clip(np.rint(up, out=up), info.min, info.max, out=up)
        np.copyto(fine[r0:r1, c0:c1], up, where=need[r0:r1, c0:c1], casting="unsafe")


def fill_note(planes: int, total: int, share: float, values: set[float]) -> str:
    """The line a deblur says where ``planes`` of its ``total`` held an edge fill (at most
    ``share`` of a plane, at ``values``); '' where none did."""
    if not planes:
        return ""
    at = " and ".join(f"{v:.6g}" for v in sorted(values))
    where = (f"{100 * share:.3g} % of the plane is" if total == 1 else
             f"{planes} of {total} planes hold (up to {100 * share:.3g} % of a plane)")
    return (f"edge fill: {where} a constant border at {at} touching the image's edge (an "
            "aligned or stitched image's fill): the method ran with it continued from the "
            "image next to it, and the fill was passed through unchanged")


class EdgeFills:
    """The edge fills of the planes of one run (``inference._run``): ``reader`` gives a plane's
    reader with its fill continued, ``restore`` writes the fill's values back into the output,
    ``note`` says it once. 3D or multichannel planes, or ``enabled`` False (a Method of one's
    own): read as they are. A plane read tile by tile (an uncompressed TIFF's ``io.TiffArray``,
    a memory map) is read whole only where its edges may hold a fill (``may_hold_fill``) and it
    fits the budget ``tiling.holds_plane`` reads a plane in: a file-to-file run still holds no
    whole plane without a fill, and the same image rings no more as a file than in memory."""

    def __init__(self, layout, enabled: bool, read_whole: bool, image):
        self.layout = layout
        # whole in memory: read whole anyway (``tiling.read_once``) or numpy, not a file's map
        self.in_memory = read_whole or (isinstance(image, np.ndarray)
                                        and not isinstance(image, np.memmap))
        self.enabled = (enabled and len(layout.spatial_shape) == 2 and layout.channels == 1
                        and (self.in_memory or _fits(layout.spatial_shape, image.dtype)))
        self.current: tuple | None = None
        self.planes, self.share, self.values = 0, 0.0, set()
        self.no_room = 0  # planes whose fill could not be looked for: out of memory

    def reader(self, read):
        """``read`` (slices -> the plane's (1, Y, X) block) for the plane's tiles: over the
        plane with its edge fill continued where it has one."""
        self.current = None
        if not self.enabled:
            return read
        shape = self.layout.spatial_shape
        if not self.in_memory and not may_hold_fill(read, shape):
            return read  # tile by tile, as before: no whole plane read
        try:
            whole = np.asarray(read(tuple(slice(0, n) for n in shape)))
            if (mask := edge_fill_mask(whole[0])) is None:
                return read  # as before, bit for bit (a file's or map's: its tiles read again)
            current = (mask, whole[0][mask])
            whole = filled(whole[0], mask)[None]
        except MemoryError:  # finding and continuing it takes 10-15 bytes a pixel
            self.no_room += 1
            return read  # the plane runs with its fill as it is, as before, and is said
        self.current = current
        self.planes += 1
        self.share = max(self.share, float(np.count_nonzero(mask)) / mask.size)
        self.values.update(float(v) for v in np.unique(current[1]))
        return lambda slices: whole[(slice(None), *slices)]

    def restore(self, out, plane, dtype) -> None:
        """The fill's own values back into ``out``'s ``plane`` (after its tiles), ``_ROWS``
        rows at a time: no plane-sized copy of the output."""
        if self.current is None:
            return
        mask, values = self.current[0], self.current[1].astype(fill_type(out, dtype))
        readable = _readable(self.layout, out, plane)
        done = 0  # ``values`` are the mask's pixels in row-major order
        for r0 in range(0, mask.shape[0], _ROWS):
            band = mask[r0:r0 + _ROWS]
            if not (n := int(np.count_nonzero(band))):
                continue
            part, done = values[done:done + n], done + n
            if not readable:  # a write-only file: the fill's runs alone, row by row
                _write_runs(self.layout, out, plane, r0, band, part)
                continue
            cols = np.flatnonzero(band.any(axis=0))
            c0, c1 = int(cols[0]), int(cols[-1]) + 1
            region = (slice(r0, r0 + band.shape[0]), slice(c0, c1))
            block = np.array(self.layout.read(out, plane, region))
            block[0][band[:, c0:c1]] = part
            self.layout.write(out, plane, region, block)

    def note(self, total: int) -> str:
        said = fill_note(self.planes, total, self.share, self.values)
        if self.no_room:
            said += ("; " if said else "") + (
                f"{self.no_room} of {total} planes had no memory left to look for an edge fill "
                "(10-15 bytes a pixel): they ran as they are, and a fill there rings at its edge")
        return said


#: bytes a pixel that finding and continuing a fill takes beyond the plane itself: its peak
#: measured 10.3 (8192^2 uint8) to 14.9 (float32), and 2.3-3.1 held while the tiles run
_FILL_BYTES = 16


def _fits(shape: tuple[int, ...], dtype) -> bool:
    """Whether a plane read tile by tile may be read whole to continue its fill: at most
    ``tiling.READ_ONCE_MAX_BYTES`` (the plane, as ``tiling.holds_plane``), and the plane with
    the fill's work (``_FILL_BYTES``) in half the host memory available (counted on the plane
    alone, an 8192^2 uint8 wedge had run out of memory where the run without it fit). A larger
    plane runs tile by tile with its fill as it is (it rings at the fill's edge)."""
    from . import tiling  # here: tiling imports torch, the PSF estimate does not
    from .memory import host_available_bytes

    pixels, itemsize = int(np.prod(shape)), np.dtype(dtype).itemsize
    free = host_available_bytes()
    return pixels * itemsize <= tiling.READ_ONCE_MAX_BYTES and (
        free is None or pixels * (_FILL_BYTES + itemsize) <= free // 2)


def may_hold_fill(read, shape: tuple[int, int]) -> bool:
    """Whether a 2D plane (``read``: slices -> its (1, Y, X) region) may hold an edge fill,
    told from its four edge strips ``BORDER_WIDTH`` px wide alone (positioned reads: 35 ms on
    a 4096 x 4096 uint8 TIFF, whose wiener run took 10 s). Never False where
    ``edge_fill_mask`` finds one: its fill holds a ``constant_border``, whose opening by a
    ``BORDER_WIDTH`` px square keeps a pixel on the plane's edge only inside such a square,
    wholly in the plane and at the plane's min or max; that square lies in a strip, and a
    value that is the plane's min (max) and in the strips is the strips' min (max). So: no
    such square at the strips' min or max, no fill. Of the 131 EM planes in /work/shared/data
    (none with a fill), 125 are told so; the other 6 (SEM with black or clipped patches at
    the edge) are read whole once, as numpy is."""
    from .focus import BORDER_WIDTH

    h, w = shape
    k = BORDER_WIDTH
    if min(h, w) < k:
        return False  # no square fits: the opening keeps nothing
    strips = [np.asarray(read(region))[0] for region in (
        (slice(0, k), slice(0, w)), (slice(h - k, h), slice(0, w)))]
    strips += [np.asarray(read(region))[0].T for region in (
        (slice(0, h), slice(0, k)), (slice(0, h), slice(w - k, w)))]
    if strips[0].dtype == bool:
        return False  # a bool plane is no fill (``edge_fill_mask``)
    # a NaN in a strip may make a bound NaN (min/max over numpy scalars follow their order),
    # equal to nothing: at worst the plane is read whole once, and edge_fill_mask says no fill
    low, high = min(s.min() for s in strips), max(s.max() for s in strips)
    for value in {low, high}:
        for strip in strips:  # (k, along the edge): a column at the value across the strip
            across = (strip == value).all(axis=0)
            if np.lib.stride_tricks.sliding_window_view(across, k).all(axis=1).any():
                return True
    return False


def fill_type(out, dtype) -> np.dtype:
    """The type the fill's values (the input's own) are written back in: ``dtype``, but an
    integer output's own where the run writes its float result (``dtype`` a float:
    ``total_check.SummedWrites`` rounds that, counting it; a fill written as floats to a TIFF
    was counted a second time: a 512 x 512 plane's clip line said 'of 273469 values')."""
    own = getattr(out, "dtype", None)
    if own is not None and np.dtype(own).kind in "iu" and np.dtype(dtype).kind == "f":
        return np.dtype(own)
    return np.dtype(dtype)


def _readable(layout, out, plane) -> bool:
    """Whether ``out`` reads back (numpy, zarr). A TIFF output (``io_write.TiffWriteArray``)
    is written only: reading it back raised TypeError, so every CLI run of an image with an
    edge fill to a .tif failed ("'TiffWriteArray' object is not subscriptable")."""
    try:
        layout.read(out, plane, (slice(0, 1), slice(0, 1)))
    except TypeError:
        return False
    return True


def _write_runs(layout, out, plane, r0: int, band: np.ndarray, values: np.ndarray) -> None:
    """``values`` (``band``'s pixels, row-major) into the runs of ``band`` (rows from ``r0``),
    one write each: a wedge or stripe has one or two a row."""
    edges = np.diff(np.pad(band, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    done = 0
    for (row, start), (_, stop) in zip(np.argwhere(edges == 1), np.argwhere(edges == -1)):
        region = (slice(r0 + row, r0 + row + 1), slice(start, stop))
        layout.write(out, plane, region, values[done:done + stop - start][None, None])
        done += stop - start
