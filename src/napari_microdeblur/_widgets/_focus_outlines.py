"""Updating the Focus QC dock's soft-tile outline layer without stalling napari's window.

Each change of a shapes layer costs napari a refresh of the whole layer, and each new
rectangle a triangulation in Python (0.3-1.5 ms): a threshold change emptied the layer and
set its name and five transforms again (seven refreshes, 0.3-0.7 s with 2048^2 layers open)
before drawing every soft tile anew. Here a threshold change removes the outlines no longer
soft (in one call), adds only the new ones, and sets the placement only where it changed;
rectangles are added in batches sized to a time per event-loop turn (``BatchSize``)."""

from __future__ import annotations

import time
import weakref

import numpy as np
from qtpy.QtCore import QTimer

# rectangles added at once before a turn was timed (the first batch of a dock)
OUTLINE_BATCH = 64
# own work one turn of outlines may take (napari's redraw of the canvas comes on top)
TURN_SECONDS = 0.08
# fewer per turn would add more turns than the refresh they save; more would not show the
# plane in view first (a plane of 256 tiles: 4096 px in 16 px tiles)
MIN_BATCH, MAX_BATCH = 32, 256
# what the placement of an overlay is set from (``overlay_transform``)
PLACEMENT = ("scale", "translate", "rotate", "shear", "affine")


def _matrix(value) -> np.ndarray:
    return np.asarray(getattr(value, "affine_matrix", value), dtype=float)


def place_overlay(overlay, kwargs: dict) -> None:
    """``overlay``'s name, placement and metadata as in ``kwargs``: each transform set only
    where it differs (each set is a refresh of the layer and of napari's dims)."""
    overlay.name = kwargs["name"]  # napari ignores an unchanged name
    for key in PLACEMENT:
        now, wanted = _matrix(getattr(overlay, key)), _matrix(kwargs[key])
        if now.shape != wanted.shape or not np.allclose(now, wanted, rtol=0, atol=1e-9):
            setattr(overlay, key, kwargs[key])
    overlay.metadata = kwargs["metadata"]  # no refresh: a dict napari only reports


def _key(vertices) -> bytes:
    # napari keeps a shape's vertices as float32
    return np.ascontiguousarray(vertices, dtype=np.float32).tobytes()


def keep_drawn(layer, rects: list, style: dict) -> list:
    """Remove from ``layer`` the shapes that are not among ``rects`` drawn in ``style`` (in
    one call) and return the ``rects``, in their order, it does not show yet."""
    from napari.utils.colormaps.standardize_color import transform_color

    wanted: dict[bytes, int] = {}
    for i, rect in enumerate(rects):
        wanted.setdefault(_key(rect), i)
    drawn = layer.data
    n = len(drawn)
    if n == 0:
        return list(rects)
    edge = transform_color(style["edge_color"])[0]
    face = transform_color(style["face_color"])[0]
    styled = (np.array([kind == "rectangle" for kind in layer.shape_type], dtype=bool)
              & np.isclose(np.asarray(layer.edge_width, dtype=float), style["edge_width"])
              & np.isclose(np.asarray(layer.edge_color).reshape(n, -1), edge).all(axis=1)
              & np.isclose(np.asarray(layer.face_color).reshape(n, -1), face).all(axis=1))
    kept, gone = set(), []
    for i, vertices in enumerate(drawn):
        index = wanted.get(_key(vertices)) if styled[i] else None
        if index is None or index in kept:
            gone.append(i)
        else:
            kept.add(index)
    if gone:
        layer.remove(gone)
    return [rect for i, rect in enumerate(rects) if i not in kept]


class BatchSize:
    """Rectangles for the next turn, so that adding them takes about TURN_SECONDS: the time a
    rectangle took in the last turns (an average: a turn slowed by something else does not
    set the size alone), napari's refresh of the whole layer on each add included. As the
    layer grows, its refresh takes more of a turn and fewer rectangles are added."""

    def __init__(self) -> None:
        self.size = OUTLINE_BATCH
        self.per_rect: float | None = None

    def took(self, count: int, seconds: float) -> None:
        if count <= 0:
            return
        per = seconds / count
        self.per_rect = per if self.per_rect is None else (self.per_rect + per) / 2
        fit = int(TURN_SECONDS / max(self.per_rect, 1e-6))
        self.size = max(MIN_BATCH, min(MAX_BATCH, 2 * count, fit))  # grows at most 2x a turn


class OutlineBatches:
    """Adds rectangles to a shapes layer a batch (``BatchSize``) per event-loop turn, the
    first at once; a new ``start`` or ``stop`` drops the ones not added yet."""

    def __init__(self, viewer) -> None:
        self._viewer = viewer
        self._layer = None
        self._rects: list = []
        self._style: dict = {}
        self.batch = BatchSize()
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._next)

    @property
    def pending(self) -> bool:
        return bool(self._rects)

    def start(self, layer, rects: list, style: dict, now: bool = True) -> None:
        """Add ``rects`` to ``layer`` in ``style`` (``outline_style``), the first batch at
        once when ``now``."""
        self.stop()
        self._layer, self._rects, self._style = weakref.ref(layer), list(rects), style
        if now:
            self._next()
        elif self._rects:
            self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self._layer, self._rects = None, []

    def _next(self) -> None:
        layer = self._layer() if self._layer is not None else None
        if layer is None or not self._rects or layer not in self._viewer.layers:
            self.stop()  # the outline layer was removed: a new Score or threshold redraws it
            return
        size = self.batch.size
        batch, self._rects = self._rects[:size], self._rects[size:]
        started = time.perf_counter()
        layer.add_rectangles(batch, **self._style)
        self.batch.took(len(batch), time.perf_counter() - started)
        if self._rects:
            self._timer.start()


def outline_style(kwargs: dict) -> dict:
    """The edge width and colours each outline rectangle is added with."""
    return {"edge_width": kwargs["edge_width"], "edge_color": kwargs["edge_color"],
            "face_color": "transparent"}
