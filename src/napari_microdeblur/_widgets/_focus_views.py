"""What the Focus QC dock draws for scores: the heatmap and soft-tile outline layers (kept
one per image layer and updated in place, only the chosen layer's shown; a partial edge tile
ends at the image's edge; a gamma for scores that span decades) and the per-slice plot."""

from __future__ import annotations

import math
import weakref

import numpy as np

from ._focus_data import counted
from ._focus_outlines import (
    OutlineBatches,
    keep_drawn,
    outline_style,
    place_overlay,
)
from ._layer_data import add_layer, heatmap_layer, layer_yx, overlay_transform, soft_tiles_layer
from ._layers import current_data_index, layer_data, unwrap
from ._plot import LinePlot

# (kind, weak ref to the image layer, weak ref to the overlay) of every overlay drawn this
# session, shared by all docks: a reopened dock updates (and renames) the overlays an earlier
# one drew for a layer, even one renamed since, instead of adding a second set.
_DRAWN: list = []
# a partial edge tile is drawn in squares of at least 1/EDGE_SPLIT tile: one heatmap pixel a
# tile drew the last row of 128 px tiles of an 800 px image 96 px past its edge
EDGE_SPLIT = 8
# the heatmap's gamma over a range of R: 1.386 / ln R puts the middle decade where a log scale
# does (gamma 0.5 over 3.5 decades of the mitochondria stack: 38 % of its cell tiles black,
# under 10 % of the scale; now none), not below napari's slider (0.2) nor above the default
LOG_GAMMA = 2 * math.log(2)
MIN_GAMMA = 0.2


class FocusOverlays:
    """The heatmap and outline layers drawn for each image layer, updated in place while they
    are still in the viewer with the same number of dims."""

    def __init__(self, viewer) -> None:
        self.viewer = viewer
        self.heatmap_layer = None
        self.outline_layer = None
        self._batches = OutlineBatches(viewer)

    def _find(self, kind: str, layer, ndim: int):
        for k, source, overlay in _DRAWN:
            found = overlay()
            if k == kind and source() is unwrap(layer) and found is not None \
                    and found in self.viewer.layers and found.ndim == ndim:
                return found
        return None

    def _remember(self, kind: str, layer, overlay) -> None:
        _DRAWN[:] = [rec for rec in _DRAWN if rec[1]() is not None and rec[2]() is not None]
        _DRAWN.append((kind, weakref.ref(unwrap(layer)), weakref.ref(overlay)))

    def show_heatmap(self, layer, axes: str, scores: np.ndarray, tile: int) -> None:
        heat, kwargs, kind = heatmap_layer(layer, axes, scores, scored_tile(layer, axes, tile))
        heat = fit_edge_tiles(layer, axes, heat, kwargs)
        kwargs["gamma"] = log_like_gamma(kwargs["contrast_limits"], heat, kwargs["gamma"])
        existing = self._find("heatmap", layer, heat.ndim)
        if existing is not None:
            existing.data = heat
            for key in ("scale", "translate", "rotate", "shear", "affine", "contrast_limits",
                        "name", "metadata"):
                setattr(existing, key, kwargs[key])
            existing.gamma = kwargs["gamma"]
            self.heatmap_layer = existing
        else:
            self.heatmap_layer = unwrap(add_layer(self.viewer, (heat, kwargs, kind)))
            self._remember("heatmap", layer, self.heatmap_layer)
        self.show_only(layer)
        self.viewer.layers.selection.active = layer  # keep the image chosen for the user

    def show_only(self, layer, shown: bool = True) -> None:
        """Hide the heatmaps and outlines drawn for other layers than ``layer`` (two layers'
        heatmaps over one another, additive, read as one) and, ``shown``, show its own."""
        for _, source, overlay in _DRAWN:
            found = overlay()
            if found is None or found not in self.viewer.layers:
                continue
            # only where it changes: napari refreshes a layer on each set, even unchanged
            if source() is not unwrap(layer):
                if found.visible:
                    found.visible = False
            elif shown and not found.visible:
                found.visible = True

    def show_outlines(self, layer, axes: str, tile: int, mask: np.ndarray, threshold: float,
                      tile_box) -> None:
        """One rectangle per tile in ``mask``; those of the plane shown first. A layer drawn
        before keeps the outlines still soft and gets only the new ones (``keep_drawn``);
        napari triangulates each rectangle in Python, so past a batch they are added a batch
        per event-loop turn (``OutlineBatches``) and 3840 tiles do not block the GUI."""
        self._batches.stop()
        tile = scored_tile(layer, axes, tile)
        rects, kwargs, kind = soft_tiles_layer(layer, axes, tile, mask, threshold, tile_box)
        rects = self._shown_plane_first(layer, axes, mask, rects)
        style = outline_style(kwargs)
        existing = self._find("outline", layer, kwargs["ndim"])
        if existing is not None:
            # removing shapes, never ``data = []``: after that in the 3D view napari gives
            # a 2D shapes layer a mesh with 3D vertices and it refuses new rectangles
            place_overlay(existing, kwargs)
            rects = keep_drawn(existing, rects, style)
            self.outline_layer = existing
        else:
            first = rects[:self._batches.batch.size]
            self.outline_layer = unwrap(add_layer(self.viewer, (first or None, kwargs, kind)))
            self._remember("outline", layer, self.outline_layer)
            rects = rects[len(first):]  # the first batch: in the new layer already
        self._batches.start(self.outline_layer, rects, style, now=existing is not None)
        self.show_only(layer, shown=False)  # a threshold change leaves a hidden heatmap hidden
        self.viewer.layers.selection.active = layer

    def _shown_plane_first(self, layer, axes: str, mask: np.ndarray, rects: list) -> list:
        """``rects`` (one per tile of ``mask``, in its order) with those on the plane the
        viewer shows first."""
        if len(rects) <= 1 or mask.ndim <= 2:
            return rects
        lay_axes, iy, ix = layer_yx(layer, axes)
        loop = [i for i in range(len(lay_axes)) if i not in (iy, ix)]
        here = np.asarray(current_data_index(self.viewer, layer))[loop]
        elsewhere = (np.argwhere(mask)[:, :-2] != here).any(axis=1)
        return [rects[i] for i in np.argsort(elsewhere, kind="stable")]

    @property
    def pending(self) -> bool:
        """Whether outlines are still being added (tests wait until they are not)."""
        return self._batches.pending

    def stop(self) -> None:
        self._batches.stop()


def plane_yx(shape, axes: str) -> tuple[int, int]:
    """(Y, X) size of one plane of data of ``shape`` with ``axes``."""
    return int(shape[axes.index("Y")]), int(shape[axes.index("X")])


def scored_tile(layer, axes: str, tile: int) -> int:
    """The tile as the core scores it: one larger than the plane is the whole plane, named by
    the plane's larger side (the overlays were named '[tile 8192]' on a 64 px image). The
    same tiles: the core cuts a plane into min(tile, side) px along each side."""
    return min(int(tile), max(plane_yx(layer_data(layer).shape, axes)))


def edge_step(tile: int, n: int) -> int:
    """The side of the squares a tile is drawn in along an axis of ``n`` px: the tile, or where
    the last tile is partial a divisor of it that ends it within a square of the image's edge
    (exactly where the remainder allows: 32 px for 800 px in 128 px tiles)."""
    if n <= tile or n % tile == 0:
        return min(tile, n)  # whole tiles (or one tile: the axis) end at the edge
    split = tile // math.gcd(tile, n % tile)
    if split > EDGE_SPLIT:  # a coarser split, still dividing the tile (at worst 1: as before)
        split = next(k for k in range(EDGE_SPLIT, 0, -1) if tile % k == 0)
    return tile // split


def fit_edge_tiles(layer, axes: str, heat: np.ndarray, kwargs: dict) -> np.ndarray:
    """``heatmap_layer``'s one pixel a tile, drawn in ``edge_step`` squares where an edge tile
    is partial, so it ends at the image's edge (``kwargs`` placed again); as it is elsewhere."""
    lay_axes, iy, ix = layer_yx(layer, axes)
    shape = layer_data(layer).shape
    tile = int(kwargs["metadata"]["microdeblur"]["tile"])
    sizes = [int(shape[axes.index(a)]) for a in "YX"]
    steps = [edge_step(tile, n) for n in sizes]
    if steps == [min(tile, n) for n in sizes]:
        return heat
    for dim, n, step in zip((iy, ix), sizes, steps):
        heat = np.repeat(heat, min(tile, n) // step, axis=dim)
        heat = np.take(heat, np.arange(math.ceil(n / step)), axis=dim)
    step, centre = np.ones(layer.ndim), np.zeros(layer.ndim)
    step[[iy, ix]] = steps
    centre[[iy, ix]] = (np.asarray(steps) - 1) / 2  # square centres on the image's pixels
    kwargs.update(overlay_transform(layer, step, centre))
    return heat


def log_like_gamma(limits, heat: np.ndarray, default: float) -> float:
    """The heatmap's gamma: ``default`` over less than a decade or so, lower over more
    (``LOG_GAMMA``): scores span decades, and a linear scale showed most tiles black."""
    positive = heat[np.isfinite(heat) & (heat > 0)]
    if positive.size == 0 or float(limits[1]) <= float(positive.min()):
        return default
    ratio = float(limits[1]) / float(positive.min())
    return float(min(default, max(MIN_GAMMA, LOG_GAMMA / math.log(ratio))))


def tiles_words(n: int, tile: int, yx) -> str:
    """'16 tiles of 256 px'; a tile the plane's size or larger covers the plane, said by the
    plane's size ('1 tile of 64 x 64 px (the whole plane: ...)'; it read '1 tile of 8192 px'
    when 100000 was typed on a 64 x 64 image)."""
    ny, nx = yx
    if tile < max(ny, nx):
        return f"{counted(n, 'tile')} of {tile} px"
    larger = f": the tile, {tile} px, is larger than the image" if tile > max(ny, nx) else ""
    return f"{counted(n, 'tile')} of {ny} x {nx} px (the whole plane{larger})"


def one_unit_hint(unit: str, yx, auto_tile: int) -> str:
    """What the status adds when one tile or slice alone was scored under the automatic
    threshold: half the median is half that unit's own score, which selects nothing;
    ``auto_tile``: the tile suggested (``auto_focus_tile`` of the plane ``yx``). A threshold
    from in-focus images comes first: tiles of one field are ranked by their content as much
    as their focus (scored per tile, a sharp field had 22 of 48 sparse tiles picked, a soft
    one none), so they are named only for focus that varies within the field."""
    tiles = ("score per tile" if unit == "slices" else f"choose a smaller tile (e.g. "
             f"{auto_tile} px)" if auto_tile < max(yx) else "")
    within = (f"; {tiles} only where focus varies within this one field (a tile's score follows "
              "its content as much as its focus)" if tiles else "")
    return (f"; one {unit[:-1]} cannot be compared with others, so the automatic threshold "
            "(half the median: half its own score) selects nothing: type a threshold below "
            "in-focus images' scores (Calibrate from layer... with a known-good one, or "
            f"`microdeblur focus` on in-focus files) to judge the image as a whole{within}")


def plot_axis(viewer, layer, axes: str, loop: str):
    """The score axis a per-slice plot runs along (Z if there is one; ``loop`` are the score
    axes) and the score indices of the current slice."""
    if not loop:
        return None, ()
    axis = loop.index("Z") if "Z" in loop else len(loop) - 1
    lay_axes, _, _ = layer_yx(layer, axes)
    index = current_data_index(viewer, layer)
    return axis, tuple(index[lay_axes.index(a)] for a in loop)


def show_slice_plot(plot, viewer, layer, axes: str, loop: str, scores, mask,
                    threshold: float) -> None:
    """Scores along the plot axis through the current slice, the soft ones, the threshold."""
    axis, here = plot_axis(viewer, layer, axes, loop)
    plot.clear()
    if axis is None:  # one plane: a single point
        xs, ys, soft = [0], [float(scores)], [bool(mask)]
        plot.xlabel = "image"
    else:
        key = list(here)
        key[axis] = slice(None)
        ys = list(scores[tuple(key)])
        soft = list(mask[tuple(key)])
        xs = list(range(len(ys)))
        plot.xlabel = loop[axis] + " (slice)"
        plot.set_marker(here[axis])
    plot.set_series("focus", xs, ys, "#4fc3f7")
    plot.set_series("below threshold", xs,
                    [y if s else math.nan for y, s in zip(ys, soft, strict=True)], "#e57373")
    plot.set_series(f"threshold {threshold:.3g}", [xs[0], xs[-1]], [threshold] * 2, "#9e9e9e")


def time_plot() -> LinePlot:
    """The per-slice view's second plot, for a stack with a T axis: focus against time (a
    drift check over a time-lapse), hidden until such scores are shown."""
    plot = LinePlot("focus score over time", "T (time point)")
    plot.setToolTip(
        "For a time-lapse: the score of the current slice at every time point (blue; soft "
        "ones red), the best slice of each time point (orange; focus drift shows as a fall), "
        "and the threshold (grey); the dashed line marks the current time point.")
    plot.setVisible(False)
    return plot


def show_time_plot(plot, viewer, layer, axes: str, loop: str, scores, mask, structure,
                   threshold: float) -> None:
    """Scores against T through the current slice, and each time point's best over Z (slices
    with structure); hidden without a T axis or where the main plot already runs along T."""
    axis, here = plot_axis(viewer, layer, axes, loop)
    if axis is None or "T" not in loop or loop[axis] == "T":
        plot.setVisible(False)
        return
    t = loop.index("T")
    key = list(here)
    key[t] = slice(None)
    ys = [float(v) for v in scores[tuple(key)]]
    soft = list(mask[tuple(key)])
    xs = list(range(len(ys)))
    plot.clear()
    plot.set_series("this slice", xs, ys, "#4fc3f7")
    plot.set_series("below threshold", xs,
                    [y if s else math.nan for y, s in zip(ys, soft, strict=True)], "#e57373")
    if "Z" in loop:
        key[loop.index("Z")] = slice(None)  # (T, Z) or (Z, T): as the score axes run
        values = np.where(structure[tuple(key)], scores[tuple(key)], np.nan)
        z_first = loop.index("Z") < t
        with np.errstate(all="ignore"):
            best = [float(np.nanmax(row)) if np.isfinite(row).any() else math.nan
                    for row in (values.T if z_first else values)]
        plot.set_series("best Z", xs, best, "#ffb74d")
    plot.set_series(f"threshold {threshold:.3g}", [xs[0], xs[-1]], [threshold] * 2, "#9e9e9e")
    plot.set_marker(here[t])
    plot.setVisible(True)
