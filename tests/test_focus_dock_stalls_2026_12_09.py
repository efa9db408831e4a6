"""GUI stalls of the Focus QC dock (walkthrough 2026-12-09): the pixel checksum taken on Score
and Deblur made one crc32 call per RGB pixel (2.3 s on 8192^2 RGB), and the soft-tile outlines
were all triangulated at once on the GUI thread (0.9 s for 3840 tiles)."""

from __future__ import annotations

import time
import zlib

import numpy as np
from test_docks_audit_2026_12_05f import structured
from test_focus_dock import dock, score
from test_widgets import TIMEOUT, _clean_session  # noqa: F401 - the same autouse fixture

# ----------------------------------------------------------------------------- fingerprint


def crc_calls(monkeypatch):
    """Counts the crc32 calls the Focus dock's fingerprint makes."""
    from napari_microdeblur._widgets import _focus_data

    calls = []

    class Counting:
        @staticmethod
        def crc32(data, value=0):
            calls.append(memoryview(data).nbytes)
            return zlib.crc32(data, value)

    monkeypatch.setattr(_focus_data, "zlib", Counting)
    return calls


def test_an_rgb_fingerprint_hashes_image_rows_not_pixels(monkeypatch):
    """Above FINGERPRINT_BYTES an RGB array was sampled in rows of its last axis: 3 bytes, one
    crc32 call per pixel sampled (10923 calls here; 22 million on 8192^2 RGB)."""
    from napari_microdeblur._widgets import _focus_data

    monkeypatch.setattr(_focus_data, "FINGERPRINT_BYTES", 32 * 1024)
    rgb = np.random.default_rng(0).integers(0, 255, (64, 2048, 3), dtype=np.uint8)
    calls = crc_calls(monkeypatch)
    before = _focus_data.fingerprint(rgb)
    assert len(calls) <= 8  # 1 for shape and dtype, 6 sampled image rows of 6 KB
    assert sum(calls) <= 32 * 1024 + 2 * 6144
    # an edit as tall as the sampling step (12 rows) is seen, at any column
    for x in (0, 777, 2047):
        edited = rgb.copy()
        edited[20:32, x] = 255 - edited[20:32, x]
        assert _focus_data.fingerprint(edited) != before
    assert _focus_data.fingerprint(rgb.copy()) == before


def test_fingerprints_of_large_layers_take_well_under_100_ms():
    """8192^2 RGB: 1.9 s on this machine before (all in crc32 calls of 3 bytes)."""
    from napari_microdeblur._widgets._focus_data import fingerprint

    for shape, dtype in (((8192, 8192, 3), np.uint8), ((60, 2048, 2048), np.uint16)):
        data = np.zeros(shape, dtype=dtype)
        seconds = []
        for _ in range(3):
            t = time.perf_counter()
            fingerprint(data)
            seconds.append(time.perf_counter() - t)
        assert min(seconds) < 0.3, (shape, seconds)


# ----------------------------------------------------------------------------- outlines


def pending(w) -> bool:
    """Whether outlines are still being added (the old dock added them all at once)."""
    return getattr(w.overlays, "pending", False)


def all_tiles_soft(viewer, qtbot, planes=4, side=256, tile=16):
    layer = viewer.add_image(np.stack([structured((side, side), seed=z) for z in range(planes)]),
                             name="stack", scale=(2.0, 0.5, 0.5), translate=(0, 3, -2))
    w = dock(viewer)
    w.unit_combo.setCurrentIndex(w.unit_combo.findData("tiles"))
    w.tile_spin.setValue(tile)
    score(qtbot, w)
    qtbot.waitUntil(lambda: not pending(w), timeout=TIMEOUT)
    return layer, w


def corners(outlines):
    return sorted(tuple(float(v) for v in r.min(axis=0)) for r in outlines.data)


def test_outlines_of_many_tiles_are_added_in_batches_shown_plane_first(make_napari_viewer,
                                                                      qtbot):
    """1024 soft tiles: set_threshold triangulated every rectangle before returning (0.9 s
    for 3840 tiles); now the plane shown gets its outlines at once, the rest follow."""
    viewer = make_napari_viewer()
    layer, w = all_tiles_soft(viewer, qtbot)
    viewer.dims.set_current_step(0, 2)
    w.set_threshold(float(w.scores.max()) * 2)
    outlines = w.outline_layer
    n = w.scores.size
    assert n == 1024 and int(w.soft_mask().sum()) == n
    assert 0 < outlines.nshapes < n  # was: all 1024 before set_threshold returned
    assert {float(r[0, 0]) for r in outlines.data} == {2.0}  # the plane shown first
    qtbot.waitUntil(lambda: outlines.nshapes == n, timeout=TIMEOUT)
    assert not pending(w)
    expected = sorted((float(z), ty * 16 - 0.5, tx * 16 - 0.5)
                      for z in range(4) for ty in range(16) for tx in range(16))
    assert corners(outlines) == expected
    assert tuple(outlines.scale) == tuple(layer.scale)
    assert tuple(outlines.translate) == tuple(layer.translate)
    assert outlines.name == "stack soft tiles [tile 16]"
    assert outlines.metadata["microdeblur"]["tiles"] == n


def test_a_new_threshold_drops_the_outlines_not_added_yet(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, w = all_tiles_soft(viewer, qtbot)
    w.set_threshold(float(w.scores.max()) * 2)  # 1024 to add, most of them still to come
    assert pending(w)
    w.set_threshold(float(np.median(w.scores)))
    k = int(w.soft_mask().sum())
    qtbot.waitUntil(lambda: not pending(w), timeout=TIMEOUT)
    qtbot.wait(50)
    assert w.outline_layer.nshapes == k  # not k plus the rest of the 1024
    viewer.layers.remove(w.outline_layer)
    w.set_threshold(float(w.scores.max()) * 2)
    assert w.outline_layer in viewer.layers  # drawn again as a new layer
    qtbot.waitUntil(lambda: w.outline_layer.nshapes == 1024, timeout=TIMEOUT)
