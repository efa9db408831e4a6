"""What the Focus QC dock needs to tell whether its scores still describe a layer's pixels
(``DataWatch``), the words of its status lines, and its first threshold.

napari says when a layer's data is replaced (``layer.data = ...``: a data event) but not when
its pixels are edited in place: ``layer.data[...] = v`` then ``layer.refresh()`` only sends
``set_data``, the event a slider move sends too. So a scored layer's pixels get a cheap
fingerprint, compared again a moment after ``set_data`` events stop, and when the user asks
for scores or a deblur.
"""

from __future__ import annotations

import weakref
import zlib
from dataclasses import dataclass

import numpy as np
from qtpy.QtCore import QTimer

from ..core.focus_defaults import auto_focus_tile, default_threshold  # noqa: F401 - the dock's
from ._layer_data import layer_yx
from ._layer_file import file_key_of, header_read, in_background, layer_pixel_sizes
from ._layers import layer_data, unwrap
from ._panels import IMAGE_TYPES
from ._workers import disconnect

FINGERPRINT_BYTES = 64 * 2**20  # read at most this much (crc32, ~2-4 GB/s: ~20-40 ms)
# a sampled row is one image row (the last axis, with the axes after X folded in: RGB), kept
# between these sizes: each crc32 call costs ~1 us, so 3-byte rows (one RGB pixel) made
# 22 million calls (1.5 s) on an 8192^2 RGB layer
ROW_BYTES = (4096, 2**20)
SETTLE_MS = 250  # after the last set_data event (a slider being dragged sends many)


def sampled_row_bytes(shape, itemsize: int) -> int:
    """Bytes of the rows ``fingerprint`` samples: the last axis times the itemsize, with the
    axes before it folded in while under ROW_BYTES[0] (an RGB row is X * 3 samples), kept
    within ROW_BYTES."""
    row = itemsize
    for n in reversed(shape):
        row *= int(n)
        if row >= ROW_BYTES[0]:
            break
    return min(max(row, ROW_BYTES[0]), ROW_BYTES[1])


def fingerprint(data) -> int | None:
    """A checksum of an in-memory array's pixels: all of them up to FINGERPRINT_BYTES, evenly
    spaced image rows above (an edit between them goes unnoticed); None for a lazy array
    (dask, zarr, memory-mapped), which is not read on the GUI thread."""
    if not isinstance(data, np.ndarray) or isinstance(data, np.memmap) or data.ndim == 0:
        return None
    crc = zlib.crc32(f"{data.shape} {data.dtype}".encode())
    if data.nbytes <= FINGERPRINT_BYTES:
        return zlib.crc32(np.ascontiguousarray(data), crc)
    step = -(-data.nbytes // FINGERPRINT_BYTES)
    if not data.flags.c_contiguous:  # a view: copy only the sample
        return zlib.crc32(np.ascontiguousarray(data[..., ::step, :]), crc)
    flat = data.reshape(-1).view(np.uint8)  # no copy
    row = sampled_row_bytes(data.shape, data.itemsize)
    for start in range(0, flat.size, step * row):  # at most FINGERPRINT_BYTES / 4096 calls
        crc = zlib.crc32(flat[start:start + row], crc)
    return crc


class DataWatch:
    """Counts the changes of each layer's data: data events, and pixels that differ from the
    fingerprint last taken (``check``). Only layers fingerprinted (scored) are fingerprinted
    again after ``set_data`` events; ``changed()`` is called when one of them changed."""

    def __init__(self, changed, parent) -> None:
        self._changed = changed
        self._versions = weakref.WeakKeyDictionary()
        self._prints = weakref.WeakKeyDictionary()
        self._pending = weakref.WeakSet()
        self._timer = QTimer(parent)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SETTLE_MS)
        self._timer.timeout.connect(self._settle)

    @property
    def pending(self) -> bool:
        """Whether a fingerprint comparison is waiting (tests wait until it is not)."""
        return self._timer.isActive() or len(self._pending) > 0

    def version(self, layer) -> int:
        """How many changes of ``layer``'s data were seen since the dock first looked at it."""
        layer = unwrap(layer)
        if layer not in self._versions:
            self._versions[layer] = 0
            layer.events.data.connect(self._on_data)
            layer.events.set_data.connect(self._on_set_data)
        return self._versions[layer]

    def check(self, layer) -> int:
        """The version of ``layer`` once its pixels are compared with the last fingerprint
        (and fingerprinted anew)."""
        layer = unwrap(layer)
        version = self.version(layer)
        now, before = fingerprint(layer_data(layer)), self._prints.get(layer)
        self._prints[layer] = now
        if before is not None and now != before:
            self._versions[layer] = version + 1
        return self._versions[layer]

    def _on_data(self, event) -> None:
        layer = unwrap(event.source)
        if layer in self._versions:
            self._versions[layer] += 1
        self._changed()

    def _on_set_data(self, event) -> None:
        layer = unwrap(event.source)
        if self._prints.get(layer) is not None:
            self._pending.add(layer)
            self._timer.start()

    def _settle(self) -> None:
        layers = list(self._pending)
        self._pending.clear()
        before = [self._versions.get(layer) for layer in layers]
        if [self.check(layer) for layer in layers] != before:
            self._changed()

    def release(self) -> None:
        self._timer.stop()
        for layer in list(self._versions):
            disconnect(layer.events.data, self._on_data)
            disconnect(layer.events.set_data, self._on_set_data)
        self._versions.clear()
        self._prints.clear()
        self._pending.clear()


def counted(n: int, noun: str) -> str:
    """'1 tile', '16 tiles' (``noun`` singular)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def image_type_note(req) -> str:
    """'; image type EM' where the default model ran: the Image type it ran for; under 'auto'
    also what auto took the layer for, as a layer opened from a file states no type (an EM
    volume ran the fluorescence network without a word)."""
    from ..core.axes import is_rgb
    from ..core.bundled import image_type

    spec = req.method
    if req.network is not None or spec.name != "auto":
        return ""
    if spec.modality != "auto":  # in the combo's words ('EM')
        return f"; image type {dict((v, k) for k, v in IMAGE_TYPES).get(spec.modality)}"
    rgb = is_rgb(req.axes, tuple(req.image.shape))
    kind = image_type("auto", rgb)
    others = " or ".join(t for t in ("EM", "fluorescence", "brightfield") if t != kind)
    return (f"; image type auto: {kind} for {'an RGB' if rgb else 'a grayscale'} layer (set "
            f"Image type if it is {others})")


NO_STRUCTURE = "blank or background noise only"


def sharpest_note(scores, loop: str, structure=None) -> str:
    """'; sharpest: Z 7' (the slice with the highest score, by the score axes ``loop``, among
    those with ``structure``: None, all), '; no sharpest slice: ...' where none has structure
    (a blank stack's 0 scores read 'sharpest: Z 0'), or '' for a single plane or no finite
    score."""
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim == 0:
        return ""
    if structure is not None and not np.any(structure):
        return f"; no sharpest slice: none holds structure ({NO_STRUCTURE})"
    if structure is not None:
        values = np.where(structure, values, np.nan)
    if not np.isfinite(values).any():
        return ""
    best = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(values), values, np.nan))),
                            values.shape)
    return "; sharpest: " + ", ".join(f"{a} {int(i)}" for a, i in zip(loop, best, strict=True))


def nothing_below(unit: str, name: str, threshold: float, structured: bool) -> str:
    """What Deblur says where no tile or slice is below the threshold; where none holds
    structure, that (a blank stack's was 'no slices ... score below 0')."""
    below = f"scores below {threshold:.4g}" if structured else f"holds structure ({NO_STRUCTURE})"
    return f"no {unit[:-1]} of {name!r} {below}: nothing to deblur, no layer added"


def all_soft_hint(n: int, unit: str, threshold: float) -> str:
    """What the status adds when all ``n`` scored units (tiles or slices) are soft: only under
    a typed or calibrated threshold, as the automatic one is half the median of the scores."""
    what = f"the only {unit[:-1]} scores" if n == 1 else f"all {n} {unit} score"
    return (f"; {what} below the threshold {threshold:.4g}: "
            "if parts of this image are in focus, the threshold does not suit this image "
            "type; calibrate it on an in-focus layer of the same kind (Good layer, then "
            "Calibrate from layer...) or type a lower one")


@dataclass(frozen=True)
class Calibration:
    """A threshold calibrated on a known-good layer and the settings it was scored with: it
    holds only for scores of the same unit ('tiles' or 'slices'), tile side and camera offset
    (a per-slice threshold put 19 of 28 tiles of the same in-focus image below it)."""

    threshold: float
    layer: str  # the known-good layer's name, for the status line
    unit: str
    tile: int | None
    camera_offset: float
    # one per channel when both layers have the same C axis (channels score on their own levels)
    thresholds: tuple | None = None
    how: str = ""  # 'percentile 5 of 8 slice scores of 'good'', for a deblur's record


class ScoreCache:
    """The last few layers' scores, by the dock's score key (layer, data version, axes, tile,
    camera offset): choosing a scored layer again shows its scores, where it had asked to
    press Score again. Each entry holds a weak reference to its layer, so a new layer that
    happens to get a removed one's id is not taken for it."""

    SIZE = 8

    def __init__(self) -> None:
        self._entries: dict = {}

    def put(self, key, layer, scores, structure) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (weakref.ref(unwrap(layer)), scores, structure)
        while len(self._entries) > self.SIZE:
            self._entries.pop(next(iter(self._entries)))

    def get(self, key, layer):
        """(scores, structure) kept for ``key`` of ``layer``, or None."""
        entry = self._entries.get(key)
        if entry is None or entry[0]() is not unwrap(layer):
            return None
        return entry[1], entry[2]


def _offset_words(offset: float) -> str:
    return f"with camera offset {offset:g}" if offset else "with no camera offset"


def calibration_change(cal: Calibration, unit: str, tile: int | None,
                       camera_offset: float) -> str:
    """'' when scores of these settings compare with ``cal``'s, else the settings that
    differ, then and now: 'per slice, now per tile'."""
    then, now = [], []
    if cal.unit != unit:
        then.append(f"per {cal.unit[:-1]}")
        now.append(f"per {unit[:-1]}")
    elif unit == "tiles" and cal.tile != tile:
        then.append(f"with {cal.tile} px tiles")
        now.append(f"with {tile} px tiles")
    if float(cal.camera_offset) != float(camera_offset):
        then.append(_offset_words(cal.camera_offset))
        now.append(_offset_words(camera_offset))
    return f"{' '.join(then)}, now {' '.join(now)}" if then else ""


def pixel_size_note(layer, axes: str, good, good_axes: str) -> str:
    """'' when the two layers' pixels along Y and X match within 1%, else a line saying that a
    threshold calibrated on ``good`` does not carry over to ``layer``. Pixel sizes as the
    other docks read them (``layer_pixel_sizes``: the scale, else the file's header, which a
    caller reads in the background first); 1 where neither gives one."""
    def yx(la, ax):
        _, iy, ix = layer_yx(la, ax)
        sizes, origins = layer_pixel_sizes(la, ax)
        # a negative scale only flips the axis on screen: (-1, 1) is as unset as (1, 1)
        values = (sizes.get("Y", abs(float(la.scale[iy]))),
                  sizes.get("X", abs(float(la.scale[ix]))))
        return values, origins.get("Y") or origins.get("X") or f"layer {la.name!r} unset"

    (here, here_from), (there, there_from) = yx(layer, axes), yx(good, good_axes)
    if np.allclose(here, there, rtol=0.01, atol=0.0):
        return ""
    return (f"{good.name!r} has pixels of {there[0]:.4g} x {there[1]:.4g} but {layer.name!r} "
            f"of {here[0]:.4g} x {here[1]:.4g} (by {there_from}; {here_from}): focus scores "
            "are measured in pixels, so calibrate on a layer imaged at the same pixel size (or "
            "set the scale of both layers if one is only unset)")


def headers_unread(*layers) -> bool:
    """Whether the file header of one of ``layers`` (None: skipped) is one the docks read in
    the background (``_header_reads``) and not read yet."""
    for layer in layers:
        key = file_key_of(layer) if layer is not None else None
        if key is not None and in_background(key[0]) and not header_read(key):
            return True
    return False


#: layers told that their alpha is left out of their scores: {layer: id of the data told of}
_ALPHA_TOLD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def alpha_dropped(layer, axes: str) -> str:
    """The line saying that the focus scores of an RGBA ``layer`` (napari's RGB flag set) leave
    its alpha out (the core scores the colours only, ``axes.colour_part``), in the words of
    ``microdeblur focus``, which drops it on reading the file; '' for any other layer."""
    from ..core.axes import is_rgba

    if not getattr(layer, "rgb", False) or not is_rgba(axes, layer_data(layer).shape):
        return ""
    return (f"Focus QC: layer {layer.name!r}: alpha channel dropped, scored as RGB (the Deblur "
            "dock passes it through)")


def refuse_rgba(layer, axes: str) -> None:
    """Refuse an alpha napari does not show as one (gray + alpha: napari's reader splits such
    a file into its gray and its alpha; a (Y, X, 2) or non-RGB (Y, X, 4) layer typed YXS is
    no layer the heatmap fits), saying what to do; for an RGBA layer, say once per layer (and
    per data it is given) in a napari notification that its alpha is left out of its scores
    (``alpha_dropped``), as ``microdeblur focus`` drops it: the dock had refused it too ('its
    alpha would be scored as a colour'). Named as the docks call it (``_focus``,
    ``_focus_threshold``)."""
    from ..core.axes import is_gray_alpha, is_rgba

    shape = layer_data(layer).shape
    line = alpha_dropped(layer, axes)
    if not line and (is_rgba(axes, shape) or is_gray_alpha(axes, shape)):
        kind, keep = ("RGBA", "[..., :3]") if is_rgba(axes, shape) else ("gray + alpha", "[..., 0]")
        raise ValueError(
            f"layer {layer.name!r} is {kind}: its alpha would be scored as a colour; add a copy "
            f"without it (layer.data{keep}) and score that, or deblur the whole layer in "
            "the Deblur dock, which passes alpha through")
    layer = unwrap(layer)
    if not line or _ALPHA_TOLD.get(layer) == id(layer_data(layer)):
        return
    _ALPHA_TOLD[layer] = id(layer_data(layer))
    from napari.utils.notifications import show_info

    show_info(line)
