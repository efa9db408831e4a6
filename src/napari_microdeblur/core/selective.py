"""Deblur only what is out of focus: the slices of a stack, or the tiles of each plane, whose
focus score (``core.focus``) is below a threshold. Everything else is copied unchanged.

- **slices** (``tile=None``): one score per plane, i.e. per index of the axes other than Y, X
  and S (RGB planes scored on their luminance); a selected plane is deblurred whole, with the
  usual tiling of ``core.inference.iter_deblur``.
- **tiles** (``tile=N``): N x N squares of each plane (partial ones at the right and bottom),
  scored as ``focus_score(..., tile=N)``. A selected tile is deblurred from a crop ``halo`` px
  wider on every side (clipped at the border, padded there as a whole image is); only the tile
  is pasted. A ``halo`` of at least the method's reach (a network's receptive field, or
  ``classical.psf_halo``, the default) gives a tile as a whole-image deblur would: no seams.

The normalisation is computed on the whole image, as ``iter_deblur`` does; a grayscale network
normalises each channel on its own, as a plain deblur (``selective_norms``). The generator
``iter_deblur_selected`` yields a ``SelectiveProgress`` per deblurred tile and returns a
``SelectiveResult``; ``deblur_selected`` is its blocking twin. With no unit selected nothing is
set up (no PSF estimated, no balance searched): one DeblurNote says so, with the scores' range.

Units of background noise only (``focus.structure_tiles``, ``structure_planes``) are left out
when the scores are computed here (``skip_background=True``), as the Focus dock and ``watch``
leave them out: their score is noise's, often below the threshold, and deblurring them only
amplifies it (a blank section scored 0, ranked softest, got its zeros made non-zero).
``SelectiveResult.structure`` says which units held structure. Scores given by the caller are
used as they are (a NaN score is never selected).

What only the image settles (an estimated PSF; iterations and balance 'auto') is settled per
plane on the soft part deblurred (``settled_parts``: the sharp middle slice had given sigma 0.4
for a slice blurred 1.8); ``SelectiveResult.settled`` says what and from where. The threshold
is one number, or one per channel (C axis): DAPI scored 1.4-1.8e-4 beside GFP 2.5-7.1e-4 in
one time-lapse. Networks come from ``inference.RECENT_MODELS`` unless ``models`` is given.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Generator, Sequence
from dataclasses import dataclass

import numpy as np

from .axes import Layout, check_axes, key, loop_axes, plane_indices
from .devices import resolve_device
from .focus import (
    check_focus_tile,
    iter_focus_scores,
    iter_structure_planes,
    iter_structure_tiles,
    score_shape,
)
from .inference import (
    RECENT_MODELS,
    Normalization,
    as_method,
    check_image,
    prepare_deblur,
    spec_for_image,
    split_options,
)
from .memory import check_result_fits
from .method import Method, MethodSpec
from .notes import DeblurNote
from .output_cast import counted_steps
from .progress import SelectiveProgress, drive, map_records
from .selective_norms import plane_normalizations
from .thread_warnings import caught
from .tiling_spec import TilingSpec

__all__ = ["SelectiveProgress", "SelectiveResult", "SettledPart", "deblur_selected",
           "iter_deblur_selected", "check_thresholds", "iter_focus_scores", "part_words",
           "score_axes", "score_shape", "select_below", "selection_mask", "settle_box",
           "settled_method", "settled_parts", "tile_box"]


# ----------------------------------------------------------------------------- geometry


def score_axes(axes: str) -> str:
    """The axes that get one score each in 'slices' mode: all but Y, X and S, in order."""
    return loop_axes(axes, "YXS")


def tile_box(ty: int, tx: int, tile: int, shape_yx) -> tuple[int, int, int, int]:
    """Pixel bounds (y0, y1, x0, x1) of tile (ty, tx) of a plane of ``shape_yx`` (Y, X)."""
    ny, nx = (int(s) for s in shape_yx)
    y0, x0 = int(ty) * tile, int(tx) * tile
    if not (0 <= y0 < ny and 0 <= x0 < nx):
        raise ValueError(f"tile ({ty}, {tx}) of {tile} px is outside a plane of {ny} x {nx}")
    return y0, min(y0 + tile, ny), x0, min(x0 + tile, nx)


def select_below(scores, threshold: float) -> np.ndarray:
    """Boolean mask of the scores strictly below ``threshold`` (NaN scores are never below)."""
    threshold = _check_threshold(threshold)
    values = np.asarray(scores, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.less(values, threshold) & np.isfinite(values)


def check_thresholds(threshold, axes: str, shape) -> float | tuple[float, ...]:
    """A finite number, or one per channel: a sequence as long as the C axis of ``axes``."""
    if np.ndim(threshold) == 0:
        return _check_threshold(threshold)
    values = tuple(_check_threshold(t) for t in np.ravel(np.asarray(threshold, dtype=object)))
    channels = int(shape[axes.index("C")]) if "C" in axes else None
    if channels is None:
        raise ValueError(f"threshold has {len(values)} values, one per channel, but axes "
                         f"{axes!r} have no C axis: give one number")
    if len(values) != channels:
        raise ValueError(f"threshold has {len(values)} values; the C axis has {channels} "
                         "channels: give one per channel, or one number for all")
    return values


def threshold_limits(threshold, unit_axes: str, ndim: int):
    """``threshold`` to compare with scores over ``unit_axes``: one per channel along C."""
    if np.ndim(threshold) == 0:
        return float(threshold)
    shape = [1] * ndim
    shape[unit_axes.index("C")] = len(threshold)
    return np.asarray(threshold, dtype=np.float64).reshape(shape)


def _check_threshold(threshold) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise TypeError(f"threshold must be a number, not {type(threshold).__name__}") from None
    if not math.isfinite(value):
        raise ValueError(f"threshold={threshold} must be a finite number")
    return value


# ----------------------------------------------------------------------------- deblurring


@dataclass
class SelectiveResult:
    """The output and a record of what was deblurred: ``selected``, the units (indices into
    ``scores``); for tiles, ``boxes``, each one's (y0, y1, x0, x1) in its plane. ``tile`` and
    ``overlap``: the runs' (tiles: the focus tile, no overlap), for a tile-grid overlay of the
    units. ``threshold``: a number, or a tuple of one per channel (C axis). ``structure``
    (scores computed here with ``skip_background``, else None): True for the units with
    structure above the background noise; the others were never selected. With nothing
    selected nothing ran: ``parameters`` is {} for a MethodSpec, ``normalization`` kind 'none'.
    """

    image: np.ndarray
    mode: str  # "slices" or "tiles"
    axes: str
    unit_axes: str  # axes of ``scores``: score_axes(axes), plus "yx" (tile rows, columns)
    scores: np.ndarray
    threshold: float | tuple[float, ...]
    selected: tuple[tuple[int, ...], ...]
    boxes: tuple[tuple[int, int, int, int], ...]
    focus_tile: int | None
    halo: int
    method: str
    parameters: dict
    normalization: Normalization
    tile: tuple[int, ...]
    overlap: tuple[int, ...]
    device: str
    structure: np.ndarray | None = None
    settled: tuple[SettledPart, ...] = ()  # per plane with selected units (a spec given)

    @property
    def mask(self) -> np.ndarray:
        return selection_mask(self.scores, self.threshold, self.structure, self.unit_axes)

    @property
    def background(self) -> int:
        """How many tiles or slices of background noise only (or blank) were left out (0
        without ``structure``)."""
        return 0 if self.structure is None else int(self.structure.size - self.structure.sum())


def selection_mask(scores, threshold, structure, unit_axes: str) -> np.ndarray:
    """The units ``iter_deblur_selected`` deblurs: scores (over ``unit_axes``) below
    ``threshold`` (a number, or one per channel, as ``check_thresholds`` returns it), finite,
    and with structure where ``structure`` (None: all) says so. A caller can tell from it,
    before any method is settled, that nothing will be deblurred."""
    values = np.asarray(scores, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        below = np.less(values, threshold_limits(threshold, unit_axes, values.ndim))
    below &= np.isfinite(values)
    return below if structure is None else below & structure


def settled_method(method, image, axes: str, tiling, models=None, *, part=None):
    """The Method that deblurs the units of ``image``: an estimated PSF, iterations or balance
    'auto' settled on ``part`` ((array, its axes): the soft part of one plane, as
    ``settled_parts`` cuts it; None: the whole image, its middle plane); units are planes or
    tiles, so 'auto' stays 2D even with a 3D PSF. ``models`` None: ``inference.RECENT_MODELS``."""
    if models is None:
        models = RECENT_MODELS.on(tiling.device)
    on, on_axes = (image, axes) if part is None else part
    return as_method(spec_for_image(method, on, on_axes, in_3d=False), axes,
                     tuple(int(s) for s in image.shape), models)


#: The box a plane's selected tiles settle on is at most the PSF estimate's crop (256 px a
#: side) and at least 128 px: on a lone soft-scoring 32 px tile of a sharp EM slice, 64 px
#: estimated sigma 1.8 (41.2 dB where the input was 45.9), 96 and 128 px 0.4-0.5.
SETTLE_MAX, SETTLE_MIN = 256, 128
#: The parameters a plane's soft part settles, as ``SettledPart.settings`` gives them.
SETTINGS = ("psf", "iterations", "balance")


@dataclass(frozen=True)
class SettledPart:
    """What the selected units of one plane ran with, and the box of that plane it was settled
    on (``settle_box``)."""

    plane: tuple[int, ...]  # its index over score_axes(axes); () for a single plane
    box: tuple[int, int, int, int]  # (y0, y1, x0, x1) read in that plane
    method: Method

    @property
    def settings(self) -> dict:
        """The PSF, iterations and balance the method has (``SETTINGS``)."""
        return {k: self.method.parameters[k] for k in SETTINGS if k in self.method.parameters}


def settle_box(tiles, tile: int | None, shape_yx) -> tuple[int, int, int, int]:
    """The box (y0, y1, x0, x1) of a plane of ``shape_yx`` that its selected ``tiles`` ((ty,
    tx) pairs) settle on: their bounding box, at most ``SETTLE_MAX`` px a side (around their
    median centre), at least ``SETTLE_MIN`` (grown around it, within the plane). ``tile`` None
    (slices): the whole plane. On 4 blurred tiles of 64 px in a sharp 256 px plane the box gave
    a PSF of sigma 1.9, the whole plane 1.8 x 1.1 (0.16 dB less)."""
    ny, nx = (int(n) for n in shape_yx)
    if tile is None:
        return 0, ny, 0, nx
    boxes = np.array([tile_box(ty, tx, tile, (ny, nx)) for ty, tx in tiles], dtype=np.float64)
    spans = []
    for lo, hi, n in ((boxes[:, 0], boxes[:, 1], ny), (boxes[:, 2], boxes[:, 3], nx)):
        a, b = lo.min(), hi.max()
        side = int(min(max(b - a, SETTLE_MIN), SETTLE_MAX, n))
        centre = float(np.median((lo + hi) / 2)) if b - a > side else (a + b) / 2
        start = int(np.clip(round(centre - side / 2), 0, n - side))
        spans += [start, start + side]
    return tuple(spans)


def part_words(loop: str, plane, box=None, shape_yx=None) -> str:
    """'Z 2', 'T 3, channel 2' or 'the image' (no loop axes); with a ``box`` short of the
    plane (``shape_yx``), its bounds too: 'Z 2 (y 128-256, x 0-128)'. Channels are numbered
    from 1, as the command line's other lines number them; planes from 0, as napari does."""
    words = ", ".join(f"channel {int(i) + 1}" if a == "C" else f"{a} {int(i)}"
                      for a, i in zip(loop, plane)) or "the image"
    if box is not None and tuple(box) != (0, shape_yx[0], 0, shape_yx[1]):
        words += f" (y {box[0]}-{box[1]}, x {box[2]}-{box[3]})"
    return words


def settings_words(settings: dict) -> str:
    """'PSF astig:1.80,1.61,175, 32 iterations' of ``SettledPart.settings``."""
    words = [f"PSF {settings['psf']}"] if isinstance(settings.get("psf"), str) else []
    if isinstance(settings.get("iterations"), int):
        count = settings["iterations"]
        words.append(f"{count} iteration{'s' * (count != 1)}")
    if isinstance(settings.get("balance"), float):
        words.append(f"balance {settings['balance']:.3g}")
    return ", ".join(words) or "its fixed settings"


def settled_parts(spec: MethodSpec, image, axes: str, tiling, selected, tile, models=None):
    """{plane: SettledPart}: ``spec`` settled (``settled_method``) on the soft part of each
    plane holding ``selected`` units: a slice on its whole plane, tiles on ``settle_box``.
    The lines settling says are passed on once (``_pass_on``)."""
    loop = score_axes(axes)
    yx = (int(image.shape[axes.index("Y")]), int(image.shape[axes.index("X")]))
    planes: dict[tuple[int, ...], list] = {}
    for unit in selected:
        planes.setdefault(tuple(unit[: len(loop)]), []).append(tuple(unit[len(loop):]))
    plane_axes = "".join(a for a in axes if a in "YXS")
    parts, held = {}, {}
    for plane, tiles in planes.items():
        box = settle_box(tiles, tile, yx)
        where = {**dict(zip(loop, plane)), "Y": slice(box[0], box[1]), "X": slice(box[2], box[3])}
        with caught() as held[plane]:
            method = settled_method(spec, image, axes, tiling, models,
                                    part=(np.asarray(image[key(axes, where)]), plane_axes))
        parts[plane] = SettledPart(plane, box, method)
    _pass_on(held, parts, loop, yx)
    return parts


def _pass_on(held: dict, parts: dict, loop: str, yx) -> None:
    """The lines settling each plane said: one plane's as they were; of several, a line all
    said once, a risk (DeblurWarning) with the planes that said it, and the notes that differ
    (the PSF, iterations, balance found) as one note naming each plane's settings."""
    said: dict[tuple, list] = {}
    for plane, lines in held.items():
        for line in lines:
            said.setdefault((line.category, str(line.message)), []).append(plane)
    differ = False
    for (category, text), planes in said.items():
        if len(planes) == len(held):
            warnings.warn(text, category, stacklevel=4)
        elif issubclass(category, DeblurNote):
            differ = True
        else:
            where = "; ".join(part_words(loop, p, parts[p].box, yx) for p in planes)
            warnings.warn(f"{where}: {text}", category, stacklevel=4)
    if differ:
        shown = [f"{part_words(loop, p.plane, p.box, yx)}: {settings_words(p.settings)}"
                 for p in list(parts.values())[:6]]
        more = f"; and {len(parts) - 6} more" if len(parts) > 6 else ""
        warnings.warn("settled on the soft part of each plane it deblurs, not the whole "
                      f"image: {'; '.join(shown)}{more}", DeblurNote, stacklevel=4)


def iter_deblur_selected(
    image, method: MethodSpec | Method | str = "auto", *, threshold: float | Sequence[float],
    axes: str | None = None, scores=None, tile: int | None = None, halo: int | None = None,
    normalization: Normalization | None = None, tiling: TilingSpec | None = None,
    run_tile: int | tuple[int, ...] | None = None, skip_background: bool = True,
    camera_offset: float = 0.0, models=None, **options,
) -> Generator[SelectiveProgress, None, SelectiveResult]:
    """Deblur the slices (``tile=None``) or the ``tile`` x ``tile`` tiles of ``image`` whose
    focus score is below ``threshold`` (a number, or one per channel: a sequence as long as
    the C axis); copy the rest unchanged (bit-identical with output dtype 'input').

    ``scores``: the units' focus scores, shaped ``score_shape(image.shape, axes, tile)``;
    computed here if not given, less ``camera_offset`` (``focus.focus_score``), leaving out
    units of background noise only with ``skip_background`` (``SelectiveResult.background``).
    ``halo`` (tiles): how far a tile's crop reaches beyond it; by default the method's reach,
    ``max(method.halo, method.default_overlap)``. ``method`` and ``tiling``: a MethodSpec (or
    Method) and a TilingSpec, or a name and ``inference.iter_deblur``'s keyword options
    (``run_tile`` for its ``tile``, applied to a whole slice's deblur). A MethodSpec is settled
    per plane on the soft part it deblurs (``settled_parts``), and not at all where no unit is
    selected (a DeblurNote says so); a Method runs as it is. ``models``: a
    ``checkpoint.ModelCache``; None: ``inference.RECENT_MODELS``.

    Every argument is checked when this is called, before any work (settling follows the
    scores); the generator yields a SelectiveProgress per deblurred tile and returns a
    SelectiveResult.
    """
    check_image(image)
    shape = tuple(int(s) for s in image.shape)
    axes = check_axes(axes, shape)
    tile = check_focus_tile(tile)
    threshold = check_thresholds(threshold, axes, shape)
    if not isinstance(skip_background, (bool, np.bool_)):
        raise TypeError(f"skip_background must be True or False, not {skip_background!r}")
    if tiling is None:
        method, tiling = split_options(method, tile=run_tile, **options)
    elif options or run_tile is not None:
        raise TypeError(f"unexpected options {sorted(options)} next to tiling=TilingSpec(...)")
    tiling.check()
    if halo is not None and (isinstance(halo, bool) or not isinstance(halo, (int, np.integer))
                             or halo < 0):
        raise ValueError(f"halo={halo!r} must be a number of pixels >= 0")
    if normalization is not None and not isinstance(normalization, Normalization):
        raise TypeError(f"normalization must be a Normalization, not {type(normalization)}")
    spec = method.check() if isinstance(method, MethodSpec) else None
    if spec is None:  # a Method (or network): settled already, checked before the scores
        method = settled_method(method, image, axes, tiling, models)
        _check_method_fits(method, axes, shape)
    scores, structure = _checked_scores(image, axes, shape, scores, tile, skip_background,
                                        camera_offset)
    unit_axes = score_axes(axes) + ("" if tile is None else "yx")
    mask = selection_mask(scores, threshold, structure, unit_axes)
    selected = tuple(tuple(int(i) for i in idx) for idx in np.argwhere(mask))
    if not selected:  # no PSF estimate, no balance search: their notes said a method ran
        return _unchanged(image, axes, method, scores, threshold, structure, tile, halo, tiling)
    parts = {} if spec is None else settled_parts(spec, image, axes, tiling, selected, tile,
                                                  models)  # each plane's on its soft part
    units = _checked_units(image, axes, tile, halo, method, parts, tiling, normalization,
                           selected, spec)
    # casts to the input's type said once for the output, not once per unit's run (per plane)
    return counted_steps(_run_selected(image, units, scores, threshold, selected, structure,
                                       tuple(parts.values())))


def _checked_units(image, axes: str, tile, halo, method, parts: dict, tiling, normalization,
                   selected, spec=None) -> _Units:
    """The _Units of a run: ``method``, or each plane's of ``parts``, checked on the planes
    they deblur; ``halo`` None: the widest reach of those methods. ``spec``: the MethodSpec
    settled (None: a Method given), which says whether each channel is normalised alone."""
    shape = tuple(int(s) for s in image.shape)
    methods = {plane: part.method for plane, part in parts.items()}
    method = next(iter(methods.values()), method)
    for each in (method, *methods.values()):
        plane_axes = _check_method_fits(each, axes, shape)
    if halo is None:
        halo = max(max(int(m.halo), int(m.default_overlap)) for m in (method, *methods.values()))
    planes = dict.fromkeys(tuple(unit[: len(score_axes(axes))]) for unit in selected)
    norms = plane_normalizations(image, axes, spec, method, methods, planes, normalization)
    units = _Units(axes, shape, plane_axes, tile, int(halo), method, tiling, norms[()],
                   methods, norms)
    for unit in selected[: len(selected) if methods else 1] if tile is None else ():
        # check each slice's run now (tile sizes, PSF vs plane size); one method: the first
        each, norm = units.of(unit)
        prepare_deblur(image[key(axes, dict(zip(units.loop, unit)))], plane_axes, each, tiling,
                       normalization=norm)
    return units


def _check_method_fits(method: Method, axes: str, shape) -> str:
    """The axes of one plane, after checking the method can deblur planes of them."""
    if method.spatial_dims != 2:
        raise ValueError(
            f"method {method.name!r} is 3D; selective deblurring works plane by plane, so "
            "choose a 2D method"
        )
    if "C" in axes and method.in_channels not in (None, 1):
        raise ValueError(
            f"method {method.name!r} takes {method.in_channels} channels at once, but focus is "
            f"scored per channel (axes {axes!r}); choose a 1-channel method or split channels"
        )
    plane_axes = "".join(a for a in axes if a in "YXS")
    plane_shape = tuple(shape[axes.index(a)] for a in plane_axes)
    Layout.for_method(plane_axes, plane_shape, method)  # raises for a channel mismatch
    return plane_axes


def _checked_scores(image, axes: str, shape, scores, tile, skip_background, camera_offset):
    """(scores, structure): structure is None unless the scores are computed here."""
    expected = score_shape(shape, axes, tile)
    structure = None
    if scores is None:
        scores = drive(iter_focus_scores(image, axes=axes, tile=tile,
                                         camera_offset=camera_offset))
        if skip_background:
            # background tiles score their noise, often below any threshold (the dock's rule);
            # a blank slice scores 0 (watch's rule)
            found = (iter_structure_planes(image, axes=axes) if tile is None
                     else iter_structure_tiles(image, axes=axes, tile=tile))
            structure = np.asarray(drive(found), dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != expected:
        raise ValueError(
            f"scores have shape {scores.shape}; an image of shape {shape} (axes {axes!r}) "
            + (f"in tiles of {tile} px " if tile else "")
            + f"has scores of shape {expected}: score it with the same axes and tile"
        )
    return scores, structure


@dataclass(frozen=True)
class _Units:
    """What a selective run deblurs, and with what: everything but the image and scores."""

    axes: str
    shape: tuple[int, ...]
    plane_axes: str
    tile: int | None  # the focus tile; None for slices
    halo: int
    method: Method
    tiling: TilingSpec
    normalization: Normalization
    methods: dict | None = None  # {plane: Method} settled per plane (``settled_parts``)
    normalizations: dict | None = None  # {plane: Normalization} of those

    @property
    def loop(self) -> str:
        return score_axes(self.axes)

    def of(self, unit) -> tuple[Method, Normalization]:
        """The method and normalisation a unit runs with: its plane's, else the one."""
        plane = tuple(unit[: len(self.loop)])
        return ((self.methods or {}).get(plane, self.method),
                (self.normalizations or {}).get(plane, self.normalization))

    def run(self, image, out, unit):
        """The deblur of one unit: (its generator, the tile's box and crop origin or None)."""
        where = dict(zip(self.loop, unit[: len(self.loop)]))
        method, normalization = self.of(unit)
        if self.tile is None:
            where_key = key(self.axes, where)
            prepared = prepare_deblur(image[where_key], self.plane_axes, method, self.tiling,
                                      normalization=normalization)
            return prepared.iter_run(out[where_key]), None
        yx = (self.shape[self.axes.index("Y")], self.shape[self.axes.index("X")])
        y0, y1, x0, x1 = tile_box(*unit[len(self.loop):], self.tile, yx)
        cy0, cy1 = max(0, y0 - self.halo), min(yx[0], y1 + self.halo)
        cx0, cx1 = max(0, x0 - self.halo), min(yx[1], x1 + self.halo)
        crop = image[key(self.axes, {**where, "Y": slice(cy0, cy1), "X": slice(cx0, cx1)})]
        div = max(1, int(method.size_divisor))
        # the whole crop in one tile (rounded up to the size divisor and padded)
        one = tuple(math.ceil(s / div) * div for s in (cy1 - cy0, cx1 - cx0))
        prepared = prepare_deblur(crop, self.plane_axes, method,
                                  self.tiling.replace(tile=one, overlap=0),
                                  normalization=normalization)
        return prepared.iter_run(), (y0, y1, x0, x1, cy0, cx0)

    def paste(self, out, unit, box, result) -> None:
        """Paste a deblurred tile (without its halo) into ``out``."""
        y0, y1, x0, x1, cy0, cx0 = box
        where = dict(zip(self.loop, unit[: len(self.loop)]))
        inner = result.image[key(self.plane_axes, {
            "Y": slice(y0 - cy0, y1 - cy0), "X": slice(x0 - cx0, x1 - cx0),
        })]
        out[key(self.axes, {**where, "Y": slice(y0, y1), "X": slice(x0, x1)})] = inner


def _run_selected(image, units: _Units, scores, threshold, selected, structure=None,
                  settled=()):
    out_dtype = np.dtype(np.float32 if units.tiling.output_dtype == "float32" else image.dtype)
    check_result_fits(units.shape, out_dtype)  # a lazy stack past memory: refused, not filled
    out = np.empty(units.shape, dtype=out_dtype)
    # everything starts as a copy of the input, plane by plane to bound the memory read at once
    for _, plane_key in _plane_keys(units.axes, units.shape):
        out[plane_key] = np.asarray(image[plane_key])
    boxes, run_tile, run_overlap = [], (), ()
    count = {"done": 0, "total": 0}

    def progress(record, unit, n_unit) -> SelectiveProgress:
        count["done"] += 1
        # every unit has the same number of tiles, except after an out-of-memory retry
        count["total"] = max(count["total"] or record.total * len(selected), count["done"])
        return SelectiveProgress(count["done"], count["total"], unit, n_unit, len(selected))

    for n_unit, unit in enumerate(selected, start=1):
        gen, box = units.run(image, out, unit)
        result = yield from map_records(
            gen, lambda record, unit=unit, n_unit=n_unit: progress(record, unit, n_unit))
        if box is None:
            run_tile, run_overlap = result.tile, result.overlap
        else:
            boxes.append(box[:4])
            units.paste(out, unit, box, result)
    if units.tile is not None:
        run_tile, run_overlap = (units.tile, units.tile), (0, 0)
    return SelectiveResult(
        image=out,
        mode="slices" if units.tile is None else "tiles",
        axes=units.axes,
        unit_axes=units.loop + ("" if units.tile is None else "yx"),
        scores=scores, threshold=threshold, selected=selected,
        boxes=tuple(boxes),
        focus_tile=units.tile,
        halo=units.halo if units.tile is not None else 0,
        method=units.method.name,
        parameters=dict(units.method.parameters),
        normalization=units.normalization,
        tile=tuple(int(t) for t in run_tile),
        overlap=tuple(int(o) for o in run_overlap),
        device=str(resolve_device(units.tiling.device)),
        structure=structure,
        settled=settled,
    )


def _unchanged(image, axes: str, method, scores, threshold, structure, tile, halo, tiling):
    """The run where no unit is selected: the input copied, a note; nothing set up or run."""
    cast = np.float32 if tiling.output_dtype == "float32" else image.dtype
    warnings.warn(_unchanged_words(scores, threshold, structure, tile, image.dtype, cast),
                  DeblurNote, stacklevel=3)
    if isinstance(method, MethodSpec):  # never run
        method = Method(method.name, forward=None)
    halo = max(method.halo, method.default_overlap) if halo is None else halo
    plane_axes, shape = "".join(a for a in axes if a in "YXS"), tuple(map(int, image.shape))
    units = _Units(axes, shape, plane_axes, tile, int(halo), method, tiling,
                   Normalization(0.0, 1.0, "none"))
    return counted_steps(_run_selected(image, units, scores, threshold, (), structure))


def _unchanged_words(scores, threshold, structure, tile, in_dtype, out_dtype) -> str:
    """'0 of 4 tiles (64 px) below 0.002 (scores 0.01026 to 0.273): returned unchanged (...)',
    as `microdeblur deblur --focus-below` says it of a file it writes unchanged."""
    total, values = int(np.size(scores)), np.asarray(scores, dtype=np.float64)
    unit = ("plane" if np.ndim(scores) == 0 else "slice" if tile is None else "tile") \
        + "s" * (total != 1) + (f" ({tile} px)" if tile else "")
    below = (f"below their channel's threshold ({', '.join(f'{t:.4g}' for t in threshold)})"
             if isinstance(threshold, tuple) else f"below {threshold:.4g}")
    kept = values[np.isfinite(values) & (True if structure is None else structure)]
    found, hint = ((f" (scores {kept.min():.4g} to {kept.max():.4g})",
                    f"; a threshold above {kept.min():.4g} deblurs the softest") if kept.size
                   else (" (none holds structure: blank or background noise only)", ""))
    blank = 0 if structure is None else int(structure.size - structure.sum())
    blank = f", {blank} without structure, never deblurred" if blank else ""
    cast = "" if np.dtype(in_dtype) == np.dtype(out_dtype) else f", as {np.dtype(out_dtype)}"
    return (f"0 of {total} {unit} {below}{found}: returned unchanged (copied as is{cast}; "
            f"nothing deblurred, no PSF estimated{blank}){hint}")


def _plane_keys(axes: str, shape):
    loop = score_axes(axes)
    for index in plane_indices(axes, shape):
        yield index, key(axes, dict(zip(loop, index)))


def deblur_selected(image, method="auto", **kwargs) -> SelectiveResult:
    """Blocking twin of ``iter_deblur_selected``: returns the SelectiveResult."""
    return drive(iter_deblur_selected(image, method, **kwargs))
