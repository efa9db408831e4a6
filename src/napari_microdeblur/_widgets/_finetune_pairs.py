"""The Fine-tune dock's two-layer pairs: which layers its Blurry and Sharp boxes propose, and
the training data of the two chosen.

A z-stack beside one in-focus image of its field ("mito stack", "mito in-focus") pairs every
plane of the stack with that image: the stack is the blurry input, the image the sharp target.
By name alone the two tied (neither says blurry or sharp) and the last added became Blurry;
the boxes now also read the shapes: an image with one dimension fewer than another layer,
whose planes it matches, is proposed as Sharp (and as Stack, never). A pair chosen the other
way round is refused in a line that says to swap them. Two layers of one shape that tie by
name ('wf stack', 'confocal stack') are told apart by their fine detail on a central crop
(``pair_checks.detail_ratio``): the measurably sharper is proposed as Sharp (the last added
had become Blurry: the confocal stack). Layers placed differently in Y-X (scale, translate,
rotate, shear, affine) are refused, as Compare & QC refuses them: training pairs them pixel for
pixel.

A layer chosen under the regime's Unpaired blurry / Unpaired sharp rows (images of other
fields) is no pair's target: the dock's Sharp box ranks it last but for the Blurry choice
(``pair_ranks``' ``chosen``, the dock's own: two docks on one viewer each avoid their own
choices); the walkthrough's Sharp box took the 'unpaired sharp' stack by name, and the pair was
then refused as swapped.
"""

from __future__ import annotations

import weakref

import numpy as np

from ._compare_placement import differing_parts, placement_fix, same_yx_placement, yx_place
from ._layers import (
    guess_layer_axes,
    input_rank,
    is_image_layer,
    layer_data,
    made_here,
    unwrap,
)

#: the Sharp box's rank of a layer chosen as an image without partner: after every other
#: layer, before the Blurry choice
ELSEWHERE_RANK = 50
#: the side (px) of the central crop whose fine detail tells two layers tied by name apart
DETAIL_CROP = 256
#: layer -> (its data, ``pair_checks.fine_detail`` of its crop): ranks are asked on every refresh
_details: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def is_among(layer, layers) -> bool:
    """Whether ``layer`` is one of ``layers`` (None items allowed; proxies unwrapped)."""
    layer = unwrap(layer)
    return any(unwrap(la) is layer for la in layers if la is not None)


def _shape(layer) -> tuple[int, ...]:
    return tuple(int(n) for n in layer_data(layer).shape)


def is_plane_of(plane, stack) -> bool:
    """Whether ``plane`` has the shape of one plane of ``stack`` (one dimension fewer: YX of
    ZYX or TYX, YXS of ZYXS)."""
    a, b = _shape(plane), _shape(stack)
    return len(b) == len(a) + 1 and b[1:] == a


def plane_of_a_stack(layer, layers) -> bool:
    """Whether ``layer`` is shaped as a plane of another image layer of ``layers`` (not one
    the plugin made: a result is no stack of the user's)."""
    layer = unwrap(layer)
    return any(is_image_layer(la) and unwrap(la) is not layer and not made_here(la)
               and is_plane_of(layer, la) for la in layers)


def _crop_detail(layer):
    """``pair_checks.fine_detail`` of a central crop (``DETAIL_CROP`` px) of the middle plane
    of ``layer`` (cached while its data stays), or None where it has none or is lazy."""
    from ..core.pair_checks import fine_detail

    data = layer_data(layer)
    if not isinstance(data, np.ndarray):  # a lazy layer (dask, Zarr) is not read on the GUI
        return None  # thread to rank the boxes (2 s reads had held the dock's opening 6 s)
    cached = _details.get(unwrap(layer))
    if cached is not None and cached[0]() is data:
        return cached[1]
    shape = _shape(layer)
    yx = len(shape) - (3 if getattr(layer, "rgb", False) else 2)
    key = tuple(n // 2 for n in shape[:yx]) + tuple(
        slice(max(0, (n - DETAIL_CROP) // 2), max(0, (n - DETAIL_CROP) // 2) + DETAIL_CROP)
        for n in shape[yx : yx + 2])
    try:  # a layer whose crop cannot be measured ranks by name alone
        crop = np.asarray(data[key], dtype=np.float32)
        crop = np.moveaxis(crop, -1, 0) if crop.ndim == 3 else crop[None]
        detail = fine_detail(crop) if np.all(np.isfinite(crop)) else None
    except (TypeError, ValueError):
        detail = None
    try:
        _details[unwrap(layer)] = (weakref.ref(data), detail)
    except TypeError:  # data that takes no weak reference: measured again
        pass
    return detail


def sharper_than_a_twin(layer, layers) -> bool:
    """Whether ``layer`` holds measurably more fine detail (``pair_checks.SWAP_DETAIL_RATIO``
    times, noise left out) than another image layer of its shape that no name tells apart
    (``input_rank`` 1, not made here): of such a pair, the sharp one."""
    from ..core.pair_checks import SWAP_DETAIL_RATIO, compare_detail

    layer = unwrap(layer)
    twins = [la for la in layers if is_image_layer(la) and unwrap(la) is not layer
             and not made_here(la) and input_rank(la) == 1 and _shape(la) == _shape(layer)
             and getattr(la, "rgb", False) == getattr(layer, "rgb", False)]
    if not twins:
        return False
    mine = _crop_detail(layer)
    return any((compare_detail(mine, _crop_detail(la)) or 0.0) >= SWAP_DETAIL_RATIO
               for la in twins)


def pair_ranks(viewer, chosen=None):
    """(Blurry's rank, Sharp's rank) for ``_layers.LayerCombo`` (lower is better): by name
    (``input_rank``: blurry/input 0, any other 1, a result 2, sharp/in-focus 3), then by
    shape: a layer named neither way that is a plane of a stack ranks as a reference, and so
    does one measurably sharper than a layer of its shape named neither way
    (``sharper_than_a_twin``); Sharp ranks the layers of ``chosen()`` (no arguments -> layers:
    the dock's Unpaired rows) last."""
    def blurry(layer) -> int:
        rank = input_rank(layer)
        if rank == 1 and (plane_of_a_stack(layer, viewer.layers)
                          or sharper_than_a_twin(layer, viewer.layers)):
            return 3
        return rank

    def sharp(layer) -> int:
        if chosen is not None and is_among(layer, chosen()):
            return ELSEWHERE_RANK
        return {3: 0, 1: 1, 2: 2, 0: 3}[blurry(layer)]

    return blurry, sharp


def pair_data(blurry, sharp, axes: str) -> dict:
    """The request's data fields of two layers: the same shape, or a stack (``blurry``) and
    one in-focus image of its field (``sharp``, repeated for every plane: the hold-out is a
    band of every plane, never whole planes). ``axes``: the Axes box (upper case, may be
    empty). ValueError says what to change; swapped layers are told to swap, layers placed
    apart in Y-X (``_check_placement``) to align."""
    from ..core.axes import repeated_target

    b, s = layer_data(blurry), layer_data(sharp)
    b_shape, s_shape = _shape(blurry), _shape(sharp)
    if b_shape == s_shape:
        _check_placement(blurry, sharp)
        return {"blurry": b, "sharp": s}
    target = repeated_target(s, guess_layer_axes(sharp), b_shape,
                             axes or guess_layer_axes(blurry))
    if target is not None:
        _check_placement(blurry, sharp)
        return {"blurry": b, "sharp": target}
    if is_plane_of(blurry, sharp):
        raise ValueError(f"blurry {blurry.name!r} {b_shape} is one plane of sharp "
                         f"{sharp.name!r} {s_shape}: swap them (Blurry: the stack "
                         f"{sharp.name!r}, Sharp: its in-focus image {blurry.name!r})")
    raise ValueError(f"blurry {blurry.name!r} has shape {b_shape} but sharp {sharp.name!r} "
                     f"has {s_shape}; choose layers of the same shape, or a stack and one "
                     "in-focus plane of its size (or 'z-stack + in-focus plane' for a stack "
                     "holding its in-focus plane)")


def _check_placement(blurry, sharp) -> None:
    """ValueError unless the two layers lie on the same Y-X places (Compare & QC's
    ``same_yx_placement``: scale, translate, rotate, shear and affine): training pairs them
    pixel for pixel, so layers placed apart (the walkthrough's 0.105 against 0.21 um pixels,
    moved by (50, 20); or moved by an affine, napari's transform-mode drag) paired other
    places. A scale of 1 is no calibration, not another grid (an in-focus PNG beside the
    plugin's calibrated TIFF of the same pixels): only the other parts must then agree."""
    differ = differing_parts(blurry, sharp)
    if same_yx_placement(blurry, sharp) or (
            differ == ["scale"] and (_uncalibrated(blurry) or _uncalibrated(sharp))):
        return
    raise ValueError(f"blurry {blurry.name!r} is placed at {yx_place(blurry)} but sharp "
                     f"{sharp.name!r} at {yx_place(sharp)}: training pairs them pixel for "
                     f"pixel, so it would pair different places; {placement_fix(differ)}, or "
                     "resample one onto the other's pixels")


def _uncalibrated(layer) -> bool:
    """Whether ``layer``'s Y-X scale is napari's default 1; a flipped axis (-1) is 1 too."""
    return bool(np.allclose(np.abs(layer.scale[-2:]), 1.0))
