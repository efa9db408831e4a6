"""Parts of the Compare & QC dock: the region a shapes layer marks, the table of PSNR and SSIM
(which layers it opens on: ``_compare_roles``)."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem

from ._compare_placement import same_yx_placement, yx_placement_line
from ._compare_small import ssim_cell
from ._layers import current_data_index, guess_layer_axes, layer_data

ROWS = ("blurry vs GT", "deblurred vs GT", "gain")
UNDEFINED = "\u2013"  # a dash: the table's undefined figure (NaN or Inf pixels)
SLAB_BYTES = 64 * 2**20  # a lazy ground truth is read this much at a time for its range


def truth_scale(truth, name: str):
    """``core.metrics.reference_scale`` of the ground truth without loading a lazy one (dask,
    zarr) whole: its dtype, min and max decide the scale, so uint8 reads nothing and other
    dtypes are read in slabs along the first axis (a 4 GB EM volume is not copied to memory
    to score one slice). numpy arrays, memory-mapped ones too, are passed as they are."""
    from ..core.metrics import reference_scale

    if isinstance(truth, np.ndarray) or truth.size == 0 or truth.ndim == 0:
        return reference_scale(np.asarray(truth), name=name)
    dtype = np.dtype(truth.dtype)
    if dtype == np.uint8:
        return reference_scale(np.zeros(1, dtype), name=name)
    plane = max(1, int(np.prod(truth.shape[1:])) * dtype.itemsize)
    step = max(1, SLAB_BYTES // plane)
    lo = hi = None
    for i in range(0, truth.shape[0], step):
        slab = np.asarray(truth[i:i + step])
        # np.minimum / np.maximum carry a NaN on (the core refuses it with its own message)
        lo = slab.min() if lo is None else np.minimum(lo, slab.min())
        hi = slab.max() if hi is None else np.maximum(hi, slab.max())
    return reference_scale(np.array([lo, hi], dtype=dtype), name=name)


MATCH_LABEL = "match intensities and position (real pairs)"


def match_axes(truth) -> str:
    """The ground truth's axes for matching (``guess_layer_axes``; unknown leading axes are
    not registered)."""
    ndim = layer_data(truth).ndim
    axes = guess_layer_axes(truth)
    if len(axes) == ndim and "Y" in axes and "X" in axes:
        return axes
    rgb = bool(truth.rgb)
    return "C" * (ndim - 2 - rgb) + "YX" + "S" * rgb


def matched_layers(chosen: dict, cache: dict, lock, border: int) -> dict:
    """``{role: core.plane_metrics.match_to_reference(role's layer, ground truth)}`` for the
    chosen layers, each computed once per layer pair (kept in ``cache``, under ``lock``: the
    slice, prefetch and stack workers share it); the layers are read whole. The shift is
    registered once, on the blurry layer where there is one, and shared: each layer scored
    against its own registration had part of a method's gain come from registration alone."""
    from ..core.plane_metrics import match_to_reference

    g = chosen["truth"]
    out, shared = {}, None
    roles = sorted((r for r in chosen if r != "truth"), key=lambda r: r != "blurry")
    with lock:
        for role in roles:
            la = chosen[role]
            shape, shape_g = tuple(layer_data(la).shape), tuple(layer_data(g).shape)
            if shape != shape_g:
                raise ValueError(
                    f"{role} layer {la.name!r} has shape {shape} but ground truth {g.name!r} "
                    f"has {shape_g}; '{MATCH_LABEL}' registers whole layers: choose layers "
                    "of the same shape, or untick it")
            key = (role, id(la), id(layer_data(la)), id(g), id(layer_data(g)), border,
                   None if shared is None else shared[0])
            if key not in cache:
                cache[key] = match_to_reference(
                    np.asarray(layer_data(la)), np.asarray(layer_data(g)), axes=match_axes(g),
                    border=border, shift=None if shared is None else shared[1]["shift"])
                if shared is not None:
                    cache[key]["registered_on"] = f"the {shared[2]} layer"
            out[role] = cache[key]
            if shared is None:
                shared = (key, cache[key], role)
    return out


def matched_words(matches: dict) -> str:
    """What matching did to each layer (``plane_metrics.match_words``), one sentence each."""
    from ..core.plane_metrics import match_doubt, match_words

    words = []
    for role, m in matches.items():
        doubt = match_doubt(m)
        words.append(match_words(m, f"the {role} layer", scored=False) + "."
                     + (f" The {role} layer is {doubt}." if doubt else ""))
    return " ".join(words)


def region_box(viewer, layer, truth):
    """Bounding box ((y0, y1), (x0, x1)) in ground-truth pixels of the region, or None."""
    if layer is None or len(layer.data) == 0:
        return None
    vertices = np.asarray(layer.data[0], dtype=float)
    points = []
    for vertex in vertices:
        world = np.asarray(layer.data_to_world(vertex), dtype=float)
        point = np.array(viewer.dims.point, dtype=float)
        point[-len(world):] = world
        points.append(truth.world_to_data(point)[-2:])
    points = np.asarray(points)
    ny, nx = layer_data(truth).shape[truth.ndim - 2:truth.ndim]
    y0 = int(np.clip(np.floor(points[:, 0].min() + 0.5), 0, ny))
    y1 = int(np.clip(np.floor(points[:, 0].max() + 0.5), 0, ny))
    x0 = int(np.clip(np.floor(points[:, 1].min() + 0.5), 0, nx))
    x1 = int(np.clip(np.floor(points[:, 1].max() + 0.5), 0, nx))
    # at least 11 x 11 for SSIM, or the whole of a side thinner than that (an 8 px strip's
    # region is scored with PSNR alone, as the slice is: it could not be enlarged)
    if y1 - y0 < min(11, ny) or x1 - x0 < min(11, nx) or y1 == y0 or x1 == x0:
        raise ValueError(
            f"the region of {layer.name!r} covers {y1 - y0} x {x1 - x0} pixels of the image;"
            " SSIM needs at least 11 x 11: enlarge the rectangle or move it onto the image"
        )
    return (y0, y1), (x0, x1)


def check_pair(layer, role: str, truth) -> None:
    """ValueError unless ``layer`` can be compared plane by plane with ``truth``: the same
    axes, Y-X size, Y-X placement (``same_yx_placement``: scale, translate, rotate, shear and
    affine) and RGB-ness. The planes may differ in number: they are matched by their position
    in the world (a 5-plane truth placed inside a 20-plane stack)."""
    shape, shape_g = tuple(layer_data(layer).shape), tuple(layer_data(truth).shape)
    lead, lead_g = layer.ndim - 2, truth.ndim - 2
    if lead != lead_g or layer.rgb != truth.rgb or shape[lead:] != shape_g[lead_g:]:
        raise ValueError(
            f"{role} layer {layer.name!r} has shape {shape}{' RGB' if layer.rgb else ''}"
            f" but ground truth {truth.name!r} has {shape_g}{' RGB' if truth.rgb else ''};"
            " choose layers of the same shape (the same Y-X size and axes)")
    if not same_yx_placement(layer, truth):
        raise ValueError(yx_placement_line(layer, role, truth))


def view_problem(viewer, truth) -> str:
    """Why the view shows no single Y-X plane of ``truth`` to score ('' when it does)."""
    if line := channels_last_line(truth):
        return line
    offset = viewer.dims.ndim - truth.ndim
    yx = {offset + truth.ndim - 2, offset + truth.ndim - 1}
    shown = set(viewer.dims.displayed)
    if shown == yx or truth.ndim == 2:  # a 2D image is its only slice, in any view
        return ""
    if viewer.dims.ndisplay == 3:
        return ("the 3D view shows the whole volume, not one slice: press Whole stack for "
                "the metrics of every slice, or switch to the 2D view for the current slice")
    return ("the view shows a section across the Y-X planes, which the metrics do not take: "
            "reset the displayed axes (or transpose back) to score the current slice")


def channels_last_line(truth) -> str:
    """Why ``truth`` is not scored where its channel axis is among its last two (YXC by its
    record, file or labels; a (80, 80, 2) shape): napari shows the last two axes, and the line
    said an 80 x 2 slice was 'too small to exclude a 16-pixel border'; '' otherwise."""
    from ..core.axes import MAX_SAMPLES, guess_axes
    from ._layers import LABELS, layer_axes_origin, narrow_guess_note

    shape = tuple(int(n) for n in layer_data(truth).shape)
    axes, origin = layer_axes_origin(truth)
    if not origin and shape[-1] <= MAX_SAMPLES and narrow_guess_note(truth):
        axes, origin = guess_axes(shape[:-1]) + "C", "shape"  # as core's note reads it
    if truth.rgb or len(axes) != truth.ndim or "C" not in axes[-2:] or axes.count("C") > 1:
        return ""
    said = {"record": "its record says", LABELS: "its axis labels say",
            "shape": f"its shape {shape} suggests"}.get(origin, f"{origin} states")
    first = "C" + axes.replace("C", "")
    return (f"the ground truth {truth.name!r} has its channel axis among the last two (axes "
            f"{axes}, as {said}): napari shows {axes[-2]}-{axes[-1]} planes of {shape[-2]} x "
            f"{shape[-1]} px, not Y-X; put the channel axis first (numpy.moveaxis(data, "
            f"{axes.index('C') - len(axes)}, 0): axes {first}) and add the layers again, or "
            f"score the files with microdeblur evaluate --axes {axes}")


def plane_at(layer, world) -> tuple | None:
    """Leading (non-YX) data index of the plane of ``layer`` napari shows at world point
    ``world`` (rounded as napari slices); None when the layer has no plane there."""
    lead = layer.ndim - 2
    point = np.asarray(layer.world_to_data(np.asarray(world, dtype=float)), dtype=float)
    index = tuple(int(np.round(p)) for p in point[:lead])
    shape = layer_data(layer).shape[:lead]
    if all(0 <= i < n for i, n in zip(index, shape, strict=True)):
        return index
    return None


def planes_at(layers: dict, world, dims) -> dict:
    """{role: plane_at(layer, world)} of every layer; ValueError naming a layer (and where
    its planes lie, on the slider) when it has no plane at ``world``."""
    wheres = {}
    for role, layer in layers.items():
        index = plane_at(layer, world)
        if index is None:
            raise ValueError(no_plane_line(role, layer, world, dims))
        wheres[role] = index
    return wheres


def axis_name(layer, k: int, labels=()) -> str:
    """The name of ``layer``'s axis ``k``: the viewer's label, else the guessed axis letter."""
    labels = tuple(labels)[-layer.ndim:] if len(labels) >= layer.ndim else ()
    axis = labels[k] if labels else ""
    if not axis or axis.lstrip("-").isdigit():  # napari's default labels are numbers
        guessed = guess_layer_axes(layer)
        axis = guessed[k] if len(guessed) > k else f"axis {k}"
    return axis


def on_slider(dims, layer, k: int, axis: str, values, after: str = "") -> str:
    """World coordinates ``values`` on ``layer``'s axis ``k`` as the slider reads them ('4',
    '10 to 14'), the world coordinate and unit added where they differ ('4 (world Z = 6.2
    um)'; ``after`` goes between): a message that named world coordinates alone read as
    slider positions."""
    rng = dims.range[dims.ndim - layer.ndim + k]
    steps = [round((v - rng.start) / (rng.step or 1)) for v in values]
    text = " to ".join(dict.fromkeys(map(str, steps))) + after
    if np.allclose(values, steps):
        return text
    units = getattr(layer, "units", None)
    unit = str(units[k]) if units is not None and len(units) > k else "pixel"
    unit = "" if unit == "pixel" else f" {format(units[k], '~')}"
    world = " to ".join(dict.fromkeys(f"{float(v):g}" for v in values))
    return f"{text} (world {axis} = {world}{unit})"


def no_plane_line(role: str, layer, world, dims) -> str:
    """Where the slider is, where ``layer``'s planes are (slider first, world beside it) and
    what to do: move the slider there, or deblur the whole stack for a partial result."""
    lead = layer.ndim - 2
    point = np.asarray(layer.world_to_data(np.asarray(world, dtype=float)), dtype=float)
    shape = layer_data(layer).shape[:lead]
    k = next(k for k in range(lead) if not 0 <= np.round(point[k]) < shape[k])
    axis = axis_name(layer, k, dims.axis_labels)
    here = float(np.asarray(world, dtype=float)[-layer.ndim:][k])
    held = plane_extent(layer, k)
    lies = (f"it holds only the plane at slider {axis} = {on_slider(dims, layer, k, axis, held)}"
            if len(held) == 1 else
            f"its planes lie at slider {axis} {on_slider(dims, layer, k, axis, held)}")
    meta = layer.metadata.get("microdeblur") if isinstance(layer.metadata, dict) else None
    scope = meta.get("scope") if isinstance(meta, dict) else None
    partial = role == "deblurred" and scope not in (None, "whole stack")
    role = "ground-truth" if role == "truth" else role
    return (f"the {role} layer {layer.name!r} has no plane at {axis} = "
            f"{on_slider(dims, layer, k, axis, [here], ' on the slider')}; {lies}: move the "
            f"{axis} slider there" + (", or deblur the whole stack (Deblur dock, Scope: whole "
                                      "stack)" if partial else ""))


def plane_extent(layer, k: int) -> list[float]:
    """World coordinates of ``layer``'s first and last plane along axis ``k`` (one if one)."""
    n = layer_data(layer).shape[k]
    first, last = np.zeros(layer.ndim), np.zeros(layer.ndim)
    last[k] = n - 1
    ends = sorted(float(layer.data_to_world(p)[k]) for p in (first, last))
    return ends[:1] if n == 1 else ends


def plane_world(truth, where) -> np.ndarray:
    """World point of the ground truth's plane at leading index ``where``."""
    return np.asarray(truth.data_to_world(np.asarray(tuple(where) + (0, 0), dtype=float)))


def stack_entries(viewer, chosen: dict, axis) -> list:
    """[(i, {role: leading index})] of the truth's planes i along ``axis`` (other sliders at
    the truth's current index) that every chosen layer has a plane at; ValueError if none."""
    g = chosen["truth"]
    if line := channels_last_line(g):  # its 'slices' would be X-C planes
        raise ValueError(line)
    at = list(current_data_index(viewer, g)[: g.ndim - 2])
    entries, refused = [], None
    for i in range(1 if axis is None else layer_data(g).shape[axis]):
        if axis is not None:
            at[axis] = i
        try:
            entries.append((i, planes_at(chosen, plane_world(g, at), viewer.dims)))
        except ValueError as error:
            refused = refused or error
    if not entries:
        raise refused if axis is None else ValueError(no_overlap_line(viewer.dims, chosen, axis))
    return entries


def no_overlap_line(dims, chosen: dict, k: int) -> str:
    """Why Whole stack has no plane to score: where each layer's planes lie along axis ``k``
    (the old line told to move the slider, which Whole stack does not read)."""
    g = chosen["truth"]
    axis = axis_name(g, k, dims.axis_labels)
    roles = sorted(chosen, key=lambda role: role != "truth")  # the truth first
    where = "; ".join(
        f"{'ground truth' if role == 'truth' else role} {chosen[role].name!r} at slider "
        f"{axis} {on_slider(dims, chosen[role], k, axis, plane_extent(chosen[role], k))}"
        for role in roles)
    return (f"Whole stack: at no plane of the ground truth along {axis} do all the chosen "
            f"layers have a plane ({where}); choose layers whose planes overlap along {axis}")


def placed_difference(deblurred, truth, diff, where):
    """``difference_layer``; a map of one plane (``where``: the truth's leading index) is
    placed on the truth's plane it is of."""
    from ._layer_data import difference_layer, overlay_transform

    data, kwargs, kind = difference_layer(deblurred, truth, diff)
    if where is not None:
        kwargs.update(overlay_transform(truth, offset=tuple(where) + (0, 0)),
                      name=f"{kwargs['name']} at {', '.join(map(str, where))}")
    return data, kwargs, kind


def difference_planes(viewer, deblurred, truth) -> tuple:
    """(deblurred data, truth data, truth's leading index or None) of a difference map: the
    whole layers when in memory with the same planes at the same places, else the plane each
    shows at the viewer's point (a lazy stack is not read whole). Only these two layers
    count: a blurry layer with no plane there does not stop the map."""
    if truth.ndim == 2 or (aligned(deblurred, truth) and all(
            isinstance(layer_data(la), np.ndarray) for la in (deblurred, truth))):
        return layer_data(deblurred), layer_data(truth), None
    problem = view_problem(viewer, truth)
    if problem:
        raise ValueError(problem)
    wheres = planes_at({"deblurred": deblurred, "truth": truth}, viewer.dims.point,
                       viewer.dims)
    return (layer_data(deblurred)[plane_key(wheres["deblurred"], deblurred.rgb)],
            layer_data(truth)[plane_key(wheres["truth"], truth.rgb)], wheres["truth"])


def truth_gone(truth) -> str:
    """Why a difference map computed against ``truth`` is not added: notified (a warning)
    and returned for the dock's message line."""
    from ._feedback import notify_warning

    line = (f"difference map not added: the ground-truth layer {truth.name!r} was removed "
            "while it was computed; choose a ground truth and press Difference map again")
    notify_warning(line)
    return line


def marker_at(viewer, truth, axis: int, index) -> int | None:
    """Where the whole-stack plots' 'current slice' marker goes: the truth's index along
    ``axis``, or None while that axis is on screen (the 3D view, a transposed one): its
    slider is hidden and the view shows no single slice."""
    if viewer.dims.ndim - truth.ndim + axis in viewer.dims.displayed:
        return None
    return index[axis]


def cache_key(chosen: dict, wheres: dict, box, border, version=None) -> tuple:
    """The key a plane's metrics are cached under: the layers (and ``version(layer)``, their
    refreshes: ``DataWatcher.version``), each one's plane, the region."""
    ids = tuple((role, id(la), id(layer_data(la)), version(la) if version else 0)
                for role, la in chosen.items())
    return ids, tuple(sorted(wheres.items())), box, border


def add_tile_grid(viewer, deblurred, plan_tiles):
    """Add the tiles ``deblurred`` was computed in as a shapes layer (None, said, if it has no
    tile record); where its channels had tilings of their own (a PSF per channel), those of
    the channel the viewer shows, said."""
    from ._feedback import describe_error, notify_error, notify_info
    from ._layer_data import add_layer, tile_grid_layer
    from ._layers import check_image_layer

    try:
        check_image_layer(deblurred, "deblurred")
        grid = tile_grid_layer(deblurred, plan_tiles, shown_channel(viewer, deblurred))
    except ValueError as error:
        notify_error(describe_error(error))
        return None
    layer = add_layer(viewer, grid)
    meta = grid[1]["metadata"]["microdeblur"]
    which = (f"{meta['channel']} (channels were tiled differently: move the C slider and add "
             "the grid again for another): ") if meta["channel"] else ""
    notify_info(f"{which}{meta['tiles']} tiles of {meta['tile']} px overlapping by "
                f"{meta['overlap']} px")
    return layer


def shown_channel(viewer, layer) -> int | None:
    """The index on the C axis of ``layer``'s record (its axes) the viewer shows, or None."""
    meta = layer.metadata.get("microdeblur") if isinstance(layer.metadata, dict) else None
    axes = meta.get("axes") if isinstance(meta, dict) else None
    if not isinstance(axes, str) or "C" not in axes or layer.rgb or len(axes) != layer.ndim:
        return None
    return current_data_index(viewer, layer)[axes.index("C")]


def slice_words(viewer, chosen: dict, wheres: dict) -> str:
    """The current slice as the viewer's sliders read it ('7'; 't 2, z 4' of two), then each
    layer's own plane where it is another ('(the ground truth's plane 2, the deblurred
    layer's plane 4)': a truth inside a longer stack, layers of other Z scale or translate),
    so the label says which planes the table compares."""
    truth = chosen["truth"]
    lead, offset = truth.ndim - 2, viewer.dims.ndim - truth.ndim
    steps = tuple(int(s) for s in viewer.dims.current_step[offset:offset + lead])
    text = ", ".join(map(str, steps))
    if lead > 1:  # 't 2, z 4' (as stack_where): '2, 4' did not say which slider is which
        text = ", ".join(f"{axis_name(truth, k, viewer.dims.axis_labels)} {i}"
                         for k, i in enumerate(steps))
    names = {"truth": "the ground truth's", "deblurred": "the deblurred layer's",
             "blurry": "the blurry layer's"}
    own = [f"{names[role]} plane {', '.join(map(str, wheres[role]))}"
           for role in ("truth", "deblurred", "blurry")
           if role in wheres and tuple(wheres[role]) != steps]
    if own:
        text += f" ({', '.join(own)})"
    return text


def plane_key(where, rgb: bool) -> tuple:
    """Index of the whole Y-X (RGB) plane at leading index ``where``."""
    key = tuple(where) + (slice(None), slice(None))
    return key + (slice(None),) if rgb else key


def aligned(a, b) -> bool:
    """Whether ``a`` and ``b`` hold the same planes at the same places (one index fits both)."""
    lead = b.ndim - 2
    return (tuple(layer_data(a).shape) == tuple(layer_data(b).shape)
            and np.allclose(a.scale[:lead], b.scale[:lead])
            and np.allclose(a.translate[:lead], b.translate[:lead]))


def stack_axis(truth) -> int | None:
    """The axis a whole-stack run goes along: Z (else the first); None for a 2D image."""
    if truth.ndim < 3:
        return None
    axes = guess_layer_axes(truth)[: truth.ndim]
    return axes.index("Z") if "Z" in axes else 0


def off_axis(where, axis: int | None) -> tuple:
    """The leading (non-YX) indices ``where`` without the stack axis ``axis``: the slice of
    the other slider axes (a T, a C) that a whole-stack run holds fixed."""
    return tuple(int(v) for k, v in enumerate(where) if k != axis)


def stack_summary(results: list, where: str = "") -> str:
    """The whole-stack figures of a run: the mean over the slices that differ from the truth
    (``metrics.stack_psnr``, as ``evaluate`` scores a stack) and the PSNR of the squared error
    pooled over every slice (``plane_metrics.pooled_stack_psnr``), the mean SSIM, and how many
    slices equal the truth. The mean alone had covered other slices for blurry and deblurred
    (5 against 14 on an EM volume whose sharp sections the deblur had damaged: 'blurry 28.43,
    deblurred 31.23 dB'); the pooled figure shows the damage. ``where``: which slices (' of Z
    at T 3, C 1 (GFP)')."""
    from ..core.metrics import stack_psnr
    from ..core.plane_metrics import pooled_stack_psnr

    parts = []
    for name in ("blurry", "deblurred"):
        if f"psnr_{name}" in results[0]:
            psnrs = np.array([r[f"psnr_{name}"] for r in results], dtype=np.float64)
            p = stack_psnr(psnrs)
            ssims = [r[f"ssim_{name}"] for r in results]  # None: a plane under SSIM's window
            s = "n/a" if None in ssims else f"{float(np.mean(ssims)):.4f}"
            if np.isnan(p):  # a slice with NaN or Inf pixels: no mean says anything
                parts.append(f"{name}: PSNR and SSIM undefined (a slice holds NaN or Inf "
                             "pixels)")
                continue
            same = int(np.isposinf(psnrs).sum())
            note = f", {same} slice(s) equal to the truth left out" if same else ""
            parts.append(f"{name}: PSNR {p:.2f} dB (pooled over all: "
                         f"{pooled_stack_psnr(psnrs):.2f} dB{note}), SSIM {s}")
    return f"mean over {len(results)} slice(s){where}: " + "; ".join(parts)


def undefined_roles(result: dict) -> list[str]:
    """The roles ('blurry', 'deblurred') whose PSNR or SSIM in ``result`` is NaN: their layer
    holds NaN or Inf pixels, so the metrics say nothing."""
    return [name for name in ("blurry", "deblurred")
            if any(result.get(f"{m}_{name}") is not None
                   and np.isnan(result[f"{m}_{name}"]) for m in ("psnr", "ssim"))]


def result_message(result: dict, truth) -> str:
    """The line a result calls for: layers with NaN or Inf pixels, or layers on another
    intensity scale than the ground truth (``core.plane_metrics.unit_mismatch``: other units
    or exposure, so the scores mean little); '' when none."""
    undefined = undefined_roles(result)
    if undefined:
        which = (f"the {undefined[0]} layer holds" if len(undefined) == 1 else
                 "the blurry and deblurred layers hold")
        return (f"{which} NaN or Inf pixels: PSNR and SSIM are undefined (NaN) there; replace "
                "them (e.g. np.nan_to_num) to compare")
    if flat := result.get("flat"):
        from ..core.plane_metrics import flat_words

        name = getattr(truth, "name", "ground truth")
        return "; ".join(
            f"the ground truth {name!r} holds one value ({value:.4g}) in every pixel: no sharp "
            "image to score against; choose the sharp reference" if role == "truth"
            else flat_words(value, f"the {role} layer") for role, value in flat.items())
    units, gap = result.get("units"), result.get("ssim_na", "")  # gap: a plane under 11 px
    if not units:
        return gap
    parts = [f"the {name} layer is on a {max(ratio, 1 / ratio):.3g}x "
             f"{'larger' if ratio > 1 else 'smaller'} intensity scale"
             for name, ratio in units.items()]
    name = getattr(truth, "name", "ground truth")
    return (f"{' and '.join(parts)} than the ground truth {name!r}: not the same "
            "intensity units (uint8 against uint16? 0-1 against counts? another exposure?), "
            "so PSNR and SSIM say little; compare a copy rescaled to the ground truth's "
            f"units, or for a pair recorded apart tick '{MATCH_LABEL}'" + (gap and f"; {gap}"))


class MetricsTable(QTableWidget):
    """PSNR and SSIM of blurry and deblurred against the ground truth, and the gain."""

    def __init__(self, parent=None) -> None:
        super().__init__(len(ROWS), 2, parent)
        self.setHorizontalHeaderLabels(["PSNR (dB)", "SSIM"])
        self.setVerticalHeaderLabels(list(ROWS))
        self.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.setEditTriggers(QTableWidget.NoEditTriggers)
        self.setTabKeyNavigation(False)  # Tab leaves the table (70 presses cycled its cells)
        self.setToolTip("PSNR and SSIM of the current slice against the ground truth; 'gain' is "
                        "deblurred minus blurry. Updated whenever a dims slider moves.")
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setFixedHeight(self.horizontalHeader().sizeHint().height()
                            + len(ROWS) * self.verticalHeader().defaultSectionSize()
                            + 2 * self.frameWidth() + 2)

    def name_rows(self, before: str = "blurry", after: str = "deblurred") -> None:
        """Row headers '<before> vs GT', '<after> vs GT' (the Fine-tune dock compares the base
        model's result with the fine-tuned one: 'blurry' named the base model's)."""
        self.setVerticalHeaderLabels([f"{before} vs GT", f"{after} vs GT", ROWS[2]])

    def clear_values(self) -> None:
        for r in range(len(ROWS)):
            for c in range(2):
                self.setItem(r, c, QTableWidgetItem(""))

    def show_values(self, result: dict) -> None:
        """Fill the table from a result dict (``psnr_<name>``, ``ssim_<name>``); missing
        values stay empty, undefined ones (NaN: a layer with NaN or Inf pixels; the gain of
        two perfect scores, inf - inf) show a dash whose tooltip says why."""
        rows = [tuple(None if result.get(f"{m}_{name}") is None
                      else float(result[f"{m}_{name}"]) for m in ("psnr", "ssim"))
                for name in ("blurry", "deblurred")]
        rows.append(tuple(gain(b, d) for b, d in zip(rows[0], rows[1], strict=True)))
        why = {name: f"undefined: the {name} layer holds NaN or Inf pixels"
               for name in ("blurry", "deblurred")}
        whys = (why["blurry"], why["deblurred"],
                "undefined: a layer holds NaN or Inf pixels, or both score perfectly")
        roles = (("blurry",), ("deblurred",), ("blurry", "deblurred"))
        for r, values in enumerate(rows):
            for c, (value, digits) in enumerate(zip(values, (2, 4), strict=True)):
                item = QTableWidgetItem(cell_text(value, digits, signed=r == 2)
                                        or c * ssim_cell(result, roles[r]))
                if value is not None and np.isnan(value):
                    item.setToolTip(whys[r])
                elif item.text() == "n/a":  # a plane under SSIM's window: PSNR alone
                    item.setToolTip(result["ssim_na"])
                self.setItem(r, c, item)


def gain(before: float | None, after: float | None) -> float | None:
    """``after - before`` (None if either is missing), NaN where undefined: either NaN, or
    both infinite (two perfect scores gain nothing measurable); Python floats: numpy's
    scalars warned 'invalid value encountered in scalar subtract' for inf - inf."""
    if before is None or after is None:
        return None
    if np.isinf(before) and np.isinf(after):
        return float("nan")
    return after - before


def cell_text(value: float | None, digits: int, signed: bool = False) -> str:
    """A table cell: '' (not computed), a dash (NaN: undefined, not a perfect score or a
    number), 'inf', or the value ('+' before a non-negative gain)."""
    if value is None:
        return ""
    if np.isnan(value):
        return UNDEFINED
    sign = "+" if signed and value >= 0 else ""
    if np.isinf(value):
        return sign + ("inf" if value > 0 else "-inf")
    return f"{sign}{value:.{digits}f}"
