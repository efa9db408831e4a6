"""The Fine-tune dock's two-layer pairs: which layers its Blurry and Sharp boxes propose, and
the training data of the two chosen.

A z-stack beside one in-focus image of its field ("mito stack", "mito in-focus") pairs every
plane of the stack with that image: the stack is the blurry input, the image the sharp target.
By name alone the two tied (neither says blurry or sharp) and the last added became Blurry;
the boxes now also read the shapes: an image with one dimension fewer than another layer,
whose planes it matches, is proposed as Sharp (and as Stack, never). A pair chosen the other
way round is refused in a line that says to swap them.

A layer chosen under the regime's Unpaired blurry / Unpaired sharp rows (images of other
fields) is no pair's target: the dock's Sharp box ranks it last but for the Blurry choice
(``pair_ranks``' ``chosen``, the dock's own: two docks on one viewer each avoid their own
choices); the walkthrough's Sharp box took the 'unpaired sharp' stack by name, and the pair was
then refused as swapped.
"""

from __future__ import annotations

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


def pair_ranks(viewer, chosen=None):
    """(Blurry's rank, Sharp's rank) for ``_layers.LayerCombo`` (lower is better): by name
    (``input_rank``: blurry/input 0, any other 1, a result 2, sharp/in-focus 3), then by
    shape: a layer named neither way that is a plane of a stack ranks as a reference; Sharp
    ranks the layers of ``chosen()`` (no arguments -> layers: the dock's Unpaired rows) last."""
    def blurry(layer) -> int:
        rank = input_rank(layer)
        return 3 if rank == 1 and plane_of_a_stack(layer, viewer.layers) else rank

    def sharp(layer) -> int:
        if chosen is not None and is_among(layer, chosen()):
            return ELSEWHERE_RANK
        return {3: 0, 1: 1, 2: 2, 0: 3}[blurry(layer)]

    return blurry, sharp


def pair_data(blurry, sharp, axes: str) -> dict:
    """The request's data fields of two layers: the same shape, or a stack (``blurry``) and
    one in-focus image of its field (``sharp``, repeated for every plane: the hold-out is a
    band of every plane, never whole planes). ``axes``: the Axes box (upper case, may be
    empty). ValueError says what to change; swapped layers are told to swap."""
    from ..core.axes import repeated_target

    b, s = layer_data(blurry), layer_data(sharp)
    b_shape, s_shape = _shape(blurry), _shape(sharp)
    if b_shape == s_shape:
        return {"blurry": b, "sharp": s}
    target = repeated_target(s, guess_layer_axes(sharp), b_shape,
                             axes or guess_layer_axes(blurry))
    if target is not None:
        return {"blurry": b, "sharp": target}
    if is_plane_of(blurry, sharp):
        raise ValueError(f"blurry {blurry.name!r} {b_shape} is one plane of sharp "
                         f"{sharp.name!r} {s_shape}: swap them (Blurry: the stack "
                         f"{sharp.name!r}, Sharp: its in-focus image {blurry.name!r})")
    raise ValueError(f"blurry {blurry.name!r} has shape {b_shape} but sharp {sharp.name!r} "
                     f"has {s_shape}; choose layers of the same shape, or a stack and one "
                     "in-focus plane of its size (or 'z-stack + in-focus plane' for a stack "
                     "holding its in-focus plane)")
