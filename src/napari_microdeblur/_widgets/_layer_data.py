"""The layers the docks add, built as napari layer-data tuples ``(data, kwargs, kind)`` from
the source layer's placement and a job's result; ``add_layer`` hands one to the viewer.

A source layer's placement is read once on the GUI thread (``source_placement``) so that a
result lands where its input is, with the input's contrast, even if the input changed since.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..core.provenance import plain_values
from ._layers import alive_in, layer_data, unwrap

HEATMAP_COLORMAP = "inferno"
HEATMAP_GAMMA = 0.5  # focus scores span decades: a gamma below 1 keeps the middling ones visible
OUTLINE_COLOR = "#00e5ff"
GRID_COLOR = "#ffeb3b"


def add_layer(viewer, layer_tuple):
    """Add a ``(data, kwargs, kind)`` tuple to the viewer; returns the new layer."""
    data, kwargs, kind = layer_tuple
    return getattr(viewer, f"add_{kind}")(data, **kwargs)


def card_field(card, name: str):
    """A field of a model card given as a ModelCard, a dict or None."""
    if isinstance(card, dict):
        return card.get(name)
    return getattr(card, name, None)


# ----------------------------------------------------------------------------- placement


def source_placement(layer) -> dict:
    """Where and how ``layer`` is shown: transforms, contrast, colormap, units, dims."""
    placement = {
        "scale": tuple(layer.scale),
        "translate": tuple(layer.translate),
        "rotate": np.asarray(layer.rotate).copy(),
        "shear": np.asarray(layer.shear).copy(),
        "affine": layer.affine,
        "contrast_limits": tuple(layer.contrast_limits),
        "gamma": float(layer.gamma),
        # channels opened with channel_axis are 'additive': a result on top stays a composite
        "blending": str(layer.blending),
        "opacity": float(layer.opacity),
        "rgb": bool(layer.rgb),
        "ndim": int(layer.ndim),
        "source": weakref.ref(unwrap(layer)),
        # a pyramid (OME-Zarr) runs its full-resolution level: the status line says so
        "levels": len(layer.data) if getattr(layer, "multiscale", False) else 1,
        # the file it was opened from, for the result's record (read now: it may be removed)
        "source_path": getattr(getattr(layer, "source", None), "path", None),
    }
    if not layer.rgb:
        placement["colormap"] = layer.colormap.name
    for key in ("units", "axis_labels"):
        if hasattr(layer, key):
            placement[key] = tuple(getattr(layer, key))
    return placement


def source_now(viewer, placement: dict):
    """The layer ``placement`` was read from, while it is still in ``viewer`` (its name may
    have changed since); None once removed."""
    return alive_in(viewer, placement.get("source"))


def translate_for(placement: dict, offset: tuple[int, ...]) -> tuple[float, ...]:
    """Translate that puts data pixel 0 of a crop where pixel ``offset`` of the layer was when
    ``placement`` was read (the run's start): its data-to-physical map of ``offset`` (scale,
    rotate, shear and translate), as a whole-stack result takes that placement's scale and
    translate. The layer as it is now is not read: its scale changed during a run had given a
    slice the start's scale and a translate of the new scale, matching neither placement."""
    if not offset or not any(offset):
        return placement["translate"]
    # CompositeAffine keeps the parts as given; translate + scale * offset alone misplaced a
    # crop of a rotated or sheared layer
    from napari.utils.transforms import CompositeAffine

    physical = CompositeAffine(scale=placement["scale"], translate=placement["translate"],
                               rotate=placement["rotate"], shear=placement["shear"],
                               ndim=len(placement["scale"]))
    return tuple(float(v) for v in physical(np.asarray(offset, dtype=float)))


def overlay_transform(layer, step=None, offset=None, dims: int | None = None) -> dict:
    """Scale, translate, rotate, shear and affine that put pixel ``j`` of an overlay on pixel
    ``step * j + offset`` of ``layer`` (a rotated or sheared layer too), and its units and
    axis labels (napari 0.6+: without them napari warned 'Inconsistent units across layers'
    and dropped the units of the view); ``dims``: the overlay spans only the layer's last
    ``dims`` dims (a 2D region over a stack)."""
    # CompositeAffine keeps the parts as given (Affine would re-decompose its matrix)
    from napari.utils.transforms import CompositeAffine

    nd = int(layer.ndim)
    step = np.ones(nd) if step is None else np.asarray(step, dtype=float)
    offset = np.zeros(nd) if offset is None else np.asarray(offset, dtype=float)
    physical = CompositeAffine(scale=layer.scale, translate=layer.translate,
                               rotate=layer.rotate, shear=layer.shear, ndim=nd)
    placed = CompositeAffine(scale=np.asarray(layer.scale) * step, translate=physical(offset),
                             rotate=layer.rotate, shear=layer.shear, ndim=nd)
    affine = layer.affine
    if dims is not None and dims < nd:
        axes = list(range(nd - dims, nd))
        placed, affine = placed.set_slice(axes), affine.set_slice(axes)
    out = {"scale": tuple(placed.scale), "translate": tuple(placed.translate),
           "rotate": placed.rotate, "shear": placed.shear, "affine": affine}
    for key in ("units", "axis_labels"):
        if hasattr(layer, key):
            out[key] = tuple(getattr(layer, key))[-(dims or nd):]
    return out


def placed_kwargs(placement: dict, offset: tuple[int, ...]) -> dict:
    """Layer keyword arguments that show a result of a crop at ``offset`` like its source."""
    kwargs = {key: placement[key] for key in ("scale", "rotate", "shear", "affine",
                                              "contrast_limits", "gamma", "rgb")}
    kwargs["translate"] = translate_for(placement, offset)
    for key in ("colormap", "units", "axis_labels"):
        if key in placement:
            kwargs[key] = placement[key]
    return kwargs


def shown_like(placement: dict) -> dict:
    """The blending and opacity of the source, for a result shown in its place (a deblurred
    channel of a composite keeps 'additive' and does not hide the others)."""
    return {key: placement[key] for key in ("blending", "opacity") if key in placement}


# ----------------------------------------------------------------------------- deblur results


#: a PSF named in a layer name is cut to this many characters (optics texts are long)
PSF_NAME_CHARS = 40
#: a PSF per channel is cut to this many, with a tag of the whole text so runs stay apart
CHANNEL_PSFS_CHARS = 64


def result_name(source_name: str, method_label: str, psf_text: str = "",
                part: str = "") -> str:
    """``<name> deblurred [<method>]``, with ``, PSF <source>`` where the user gave a PSF, so
    that runs of one layer with other PSFs are told apart (napari only numbered them), and
    `` (<part>)`` for a part of the layer (``part_words``: 'Z=7')."""
    psf = psf_label(psf_text)
    name = f"{source_name} deblurred [{method_label}{f', PSF {psf}' if psf else ''}]"
    return f"{name} ({part})" if part else name


def part_words(req) -> str:
    """The part of the layer a run of ``req`` took, for its result's name: the index of each
    axis a slice fixes ('T=1, Z=7'), 'field of view' before them for a crop; '' for a whole
    stack (or a slice of a 2D layer, which is all of it) and the Focus QC's selection, which
    its name says itself."""
    fixed = ", ".join(fixed_indices(req))
    if req.scope == "current slice":
        return fixed
    if req.scope == "visible field of view":
        return f"field of view, {fixed}" if fixed else "field of view"
    return ""


def fixed_indices(req) -> list[str]:
    """'A=i' for each axis but Y, X, S that the run of ``req`` takes one index of."""
    return [f"{a}={o}" for a, o, n in zip(req.axes, req.offset, req.image.shape)
            if a not in "YXS" and n == 1]


def psf_label(psf_text: str) -> str:
    """The PSF box's text as a layer name shows it: a file by its name, 'estimated' for
    'estimate', a model or a layer as typed, long texts cut; one PSF per channel as
    'c1 <PSF>, c2 <PSF>' (``channel_psfs_label``); '' for none."""
    from ..core.channel_psfs import channel_sources

    text = (psf_text or "").strip()
    try:
        parts = channel_sources(text)
    except ValueError:  # an empty channel: refused by the run, shown as typed
        parts = None
    if parts:
        return channel_psfs_label(text, parts)
    label = one_psf_label(text)
    if len(label) <= PSF_NAME_CHARS:
        return label
    # cut, with a tag of the whole text: optics models that differ past the cut (pixel=, nz=)
    # had one name, and napari told their results apart by [1], [2] only
    return f"{label[:PSF_NAME_CHARS - 9].rstrip(', ')}... #{text_tag(text)}"


def text_tag(text: str) -> str:
    """Four hex digits of ``text``'s hash: long labels cut at the same place stay apart."""
    import hashlib

    return hashlib.blake2s(text.encode(), digest_size=2).hexdigest()


def one_psf_label(text: str) -> str:
    """A file by its name (not its folders), 'estimated' for 'estimate', others as typed."""
    from pathlib import PureWindowsPath

    if text.lower() == "estimate":
        return "estimated"
    if text.lower().endswith((".tif", ".tiff")):
        return PureWindowsPath(text).name  # splits at / and \ alike
    return text


def channel_psfs_label(text: str, parts: list[str]) -> str:
    """'widefield c1 0.46um, c2 0.52um (na=1.2,ni=1.33)': channels numbered as the dock's
    lines number them, files by name; optics models of one kind by what differs between
    channels (wavelengths in um), the kind and the values they share said once. A label over
    ``CHANNEL_PSFS_CHARS`` is cut and ends with a tag of the whole text, so runs that differ
    anywhere keep apart."""
    optics = [optics_values(p) for p in parts]
    one_kind = all(optics) and len({kind for kind, _ in optics}) == 1
    shared: dict[str, str] = {}
    if one_kind:
        shared = {k: v for k, v in optics[0][1].items()
                  if all(o[1].get(k) == v for o in optics)}
    words = []
    for i, (part, model) in enumerate(zip(parts, optics)):
        if model is None:
            words.append(f"c{i + 1} {one_psf_label(part)}")
            continue
        kind, values = model
        own = {k: v for k, v in values.items() if k not in shared}
        wavelength = own.pop("wavelength", None)
        words.append(" ".join([f"c{i + 1}", *([] if one_kind else [kind]),
                               *([f"{wavelength}um"] if wavelength else []),
                               *([" ".join(f"{k}={v}" for k, v in own.items())] if own
                                 else [])]))
    label = (f"{optics[0][0]} " if one_kind else "") + ", ".join(words)
    if shared:
        label += f" ({','.join(f'{k}={v}' for k, v in shared.items())})"
    if len(label) <= CHANNEL_PSFS_CHARS:
        return label
    return f"{label[:CHANNEL_PSFS_CHARS - 9].rstrip(', (')}... #{text_tag(text)}"


def optics_values(part: str) -> tuple[str, dict[str, str]] | None:
    """(kind, {key: value as typed}) of a widefield or confocal model, else None."""
    kind, colon, rest = part.partition(":")
    kind = kind.strip().lower()
    if not colon or kind not in ("widefield", "confocal"):
        return None
    pairs = [item.partition("=") for item in rest.split(",") if item.strip()]
    if not all(eq for _, eq, _ in pairs):
        return None
    return kind, {k.strip().lower(): v.strip() for k, _, v in pairs}


def deblur_metadata(req, outcome) -> dict:
    """What a deblurred layer records about how it was made (``layer.metadata['microdeblur']``):
    as a file's record (``core.provenance``), files by their names, not the user's folders.
    A PSF array (a PSF layer) is 'array' in the spec, with its shape, sha256 and (small) values
    and its layer's origin beside it (``_layer_record``: File > Save writes this into the
    file); the precision a network ran in, 'auto' resolved; the input's file."""
    from ..core.provenance import file_names, spec_dict
    from ._layer_record import input_file, psf_array_fields, ran_precision

    result, card = outcome.result, outcome.card
    parameters = {k: v for k, v in result.parameters.items() if k != "card"}
    method_spec = spec_dict(ran_spec(req))
    if method_spec and getattr(req, "psf_text", "").startswith("layer:"):
        method_spec["psf"] = req.psf_text  # the PSF layer by name, not 'array'
    return file_names({
        "source_layer": req.source_name,
        "source_file": input_file(req.placement),
        "method": outcome.label,
        "method_spec": method_spec,
        "weights_sha256": card_field(card, "sha256"),
        "weights_source": card_field(card, "source"),
        "arch": card_field(card, "arch"),
        "parameters": plain_values(parameters),
        "precision": ran_precision(req, result),  # 'auto' as it ran: bf16 or float32 differ
        **psf_array_fields(req),
        "axes": result.axes,
        "scope": req.scope,
        "offset": tuple(int(o) for o in req.offset),
        "tile": tuple(int(t) for t in result.tile),
        "overlap": tuple(int(o) for o in result.overlap),
        "window": req.tiling.window,
        "device": result.device,
        **cli_fields(req, result),  # psf (an estimated one's model), psf_sha256, device_name
        "output_dtype": req.tiling.output_dtype,
        "normalization": {
            "kind": result.normalization.kind,
            "offset": float(result.normalization.offset),
            "scale": float(result.normalization.scale),
        },
        "seconds": round(float(outcome.seconds), 3),
        # a result has no file to read them from: its input's, by scale or by file
        "pixel_size": input_pixel_sizes(req),
        **input_channels(req),
    })


#: fields of the CLI's record (``provenance.run_record``) that a dock's result records too
CLI_FIELDS = ("psf", "psf_estimated", "psf_sha256", "device_name")
#: session networks whose card names the file their weights are in (a fine-tuning preview's
#: card is its base's, its weights a step's that no file holds)
FILE_HELD = ("loaded", "fine-tuned", "kept", "base")


def ran_spec(req):
    """The MethodSpec a CLI run of ``req`` takes: the dock's, and for a session network its
    weights file as ``--weights`` (so that a `deblur` rerun over a saved result compares its
    settings); None for a network held in no file."""
    network = req.network
    if network is None:
        return req.method
    source = card_field(network.card, "source")
    if getattr(network, "origin", None) not in FILE_HELD or not isinstance(source, str):
        return None
    from ..core.export import weights_file_of

    # the image type is unread beside weights: the CLI's default then, as it records it
    return req.method.replace(weights=weights_file_of(source)).without_unused()


def cli_fields(req, result) -> dict:
    """What the CLI's record holds at its top level and a dock's lacked: the PSF as the user
    gave it, one estimated from the image as the model string found (``psf_estimated``), so
    that ``microdeblur info`` shows it and its ``--command`` passes it as ``--psf``; a PSF
    file's sha256; the device's hardware by name. Taken from ``provenance.run_record`` itself,
    so the two records cannot drift. A session network held in no file (``ran_spec``)
    records the device's name only."""
    from ..core.provenance import run_record

    parameters = {k: v for k, v in result.parameters.items() if k != "card"}
    spec = ran_spec(req)
    record = run_record({"device": str(result.device), "parameters": parameters},
                        spec, axes=str(result.axes), output_dtype="float32")
    keys = ("device_name",) if spec is None else CLI_FIELDS
    return {k: record[k] for k in keys if k in record}


def input_channels(req) -> dict:
    """The input's channel names and time interval (its record's, else its file's headers), so
    that Save writes them with the result as the CLI does (napari's reader drops them)."""
    from .._writer import source_channels

    layer = req.placement["source"]()
    return {} if layer is None else source_channels({"metadata": layer.metadata}, layer)


def input_pixel_sizes(req) -> dict[str, float]:
    """{'Z', 'Y', 'X': um} of the input of ``req`` as the docks read them (its scale, else its
    file or record: ``_layer_file``); a scale with a length unit in um. From the placement's
    scale once the input is gone."""
    from ..core.pixel_units import um_per_unit
    from ._layer_file import layer_pixel_sizes

    placement = req.placement
    dims = req.axes.replace("S", "") if placement.get("rgb") else req.axes[:placement["ndim"]]
    layer = placement["source"]()
    if layer is not None and tuple(layer.scale) == tuple(placement["scale"]):
        sizes, _ = layer_pixel_sizes(layer, dims)  # in um, whatever they came from
    else:
        units = dict(zip(dims, placement.get("units") or ()))
        pairs = zip(dims, placement["scale"])
        sizes = {a: float(v) * (um_per_unit(units.get(a, "")) or 1.0) for a, v in pairs
                 if a in "ZYX" and float(v) != 1.0}
    return {a: float(sizes[a]) for a in "ZYX" if a in sizes}


def deblurred_layer(req, outcome):
    """``<name> deblurred [<method>(, PSF <source>)]`` (`` (Z=7)`` for a slice), placed,
    contrasted and blended like its input."""
    kwargs = {**placed_kwargs(req.placement, req.offset), **shown_like(req.placement)}
    kwargs.update(name=result_name(req.source_name, outcome.label, getattr(req, "psf_text", ""),
                                   part_words(req)),
                  multiscale=False,
                  metadata={"microdeblur": deblur_metadata(req, outcome)})
    return outcome.result.image, kwargs, "image"


def focus_deblurred_layer(req, outcome):
    """A selective deblur's result: ``... (focus < T)``, recording what was deblurred."""
    data, kwargs, kind = deblurred_layer(req, outcome)
    result = outcome.result
    kwargs["name"] = f"{kwargs['name']} (focus < {result.threshold:.3g})"
    kwargs["metadata"]["microdeblur"]["focus"] = plain_values({
        "mode": result.mode,
        "score_axes": result.unit_axes,
        "threshold": float(result.threshold),
        "focus_tile": result.focus_tile,
        "halo": int(result.halo),
        "units": int(result.scores.size),
        "deblurred": len(result.selected),
        "selected": [list(u) for u in result.selected],
        "boxes": [list(b) for b in result.boxes],
    })
    return data, kwargs, kind


def preview_layer(req, image):
    """A fine-tuning preview of the current slice, named after the weights' step."""
    # rotated layers too; a channel of a composite keeps its blending
    kwargs = {**placed_kwargs(req.placement, req.offset), **shown_like(req.placement)}
    kwargs.update(name=f"{req.source_name} preview [{req.label}]",
                  metadata={"microdeblur": {"preview_of": req.label}})
    return image, kwargs, "image"


# ----------------------------------------------------------------------------- focus overlays


def layer_yx(layer, axes: str) -> tuple[str, int, int]:
    """The axes of the layer's napari dims and the positions of Y and X among them."""
    lay_axes = axes.replace("S", "") if layer.rgb else axes[: layer.ndim]
    return lay_axes, lay_axes.index("Y"), lay_axes.index("X")


def heatmap_layer(layer, axes: str, scores: np.ndarray, tile: int):
    """Per-tile focus scores as an image over ``layer``: one pixel per tile, centred on it."""
    lay_axes, iy, ix = layer_yx(layer, axes)
    heat = np.moveaxis(scores.astype(np.float32), [-2, -1], [iy, ix])
    shape = layer_data(layer).shape
    # a tile larger than the plane is the whole plane, as the scores take it: the heatmap
    # pixel must not reach past the image
    side = np.array([min(tile, shape[axes.index(a)]) for a in "YX"], dtype=float)
    step, centre = np.ones(layer.ndim), np.zeros(layer.ndim)
    step[[iy, ix]], centre[[iy, ix]] = side, (side - 1) / 2  # tile centres on the image's pixels
    finite = heat[np.isfinite(heat)]
    limits = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if limits[1] <= limits[0]:
        limits = (limits[0], limits[0] + 1e-12)
    kwargs = {
        "name": f"{layer.name} focus [tile {tile}]", **overlay_transform(layer, step, centre),
        "contrast_limits": limits,
        "metadata": {"microdeblur": {"focus_heatmap_of": layer.name, "tile": tile,
                                     "axes": lay_axes}},
        "colormap": HEATMAP_COLORMAP, "opacity": 0.5, "blending": "additive",
        "gamma": HEATMAP_GAMMA, "interpolation2d": "nearest",
    }
    return heat, kwargs, "image"


def soft_tiles_layer(layer, axes: str, tile: int, mask: np.ndarray, threshold: float,
                     tile_box):
    """Outlines of the tiles marked in ``mask``; ``tile_box(ty, tx, tile, yx)`` gives each
    tile's pixel bounds."""
    lay_axes, iy, ix = layer_yx(layer, axes)
    shape = layer_data(layer).shape
    yx = (shape[axes.index("Y")], shape[axes.index("X")])
    loop = [i for i in range(len(lay_axes)) if i not in (iy, ix)]
    rects = []
    for unit in np.argwhere(mask):
        y0, y1, x0, x1 = tile_box(unit[-2], unit[-1], tile, yx)
        rect = np.zeros((4, len(lay_axes)), dtype=float)
        rect[:, loop] = unit[:-2]
        rect[:, iy] = np.array([y0, y0, y1, y1]) - 0.5
        rect[:, ix] = np.array([x0, x1, x1, x0]) - 0.5
        rects.append(rect)
    kwargs = {
        "name": f"{layer.name} soft tiles [tile {tile}]", "ndim": len(lay_axes),
        "shape_type": "rectangle", "edge_color": OUTLINE_COLOR, "face_color": "transparent",
        "edge_width": max(1.0, min(yx) / 250), **overlay_transform(layer),
        "metadata": {"microdeblur": {"soft_tiles_of": layer.name, "tile": tile,
                                     "threshold": threshold, "tiles": len(rects)}},
    }
    return rects, kwargs, "shapes"


# ----------------------------------------------------------------------------- QC layers


def region_layer(truth):
    """A 'QC region' rectangle over the middle half of the ground truth's Y and X."""
    ny, nx = layer_data(truth).shape[truth.ndim - 2:truth.ndim]
    rect = np.array([[ny / 4, nx / 4], [ny / 4, 3 * nx / 4], [3 * ny / 4, 3 * nx / 4],
                     [3 * ny / 4, nx / 4]]) - 0.5
    kwargs = {
        "shape_type": "rectangle", "name": "QC region", "edge_color": OUTLINE_COLOR,
        "face_color": "transparent", "edge_width": max(1.0, min(ny, nx) / 200),
        **overlay_transform(truth, dims=2),
    }
    return [rect], kwargs, "shapes"


def difference_layer(deblurred, truth, diff: np.ndarray):
    """|deblurred - ground truth| (RGB: averaged over the samples), over the truth."""
    kwargs = {} if truth.rgb else {"colormap": "magma"}
    if truth.rgb:
        diff = diff.mean(axis=-1)
    kwargs.update(
        name=f"|{deblurred.name} - {truth.name}|", **overlay_transform(truth),
        blending="additive",
        metadata={"microdeblur": {"difference_of": (deblurred.name, truth.name)}},
    )
    return diff, kwargs, "image"


def with_channel_tiles(result, prepared):
    """``result`` of a PSF per channel (``core.channel_psfs``) with each channel's tile and
    overlap in ``parameters['channels']`` (the core keeps channel 1's as the result's, yet each
    PSF has its own overlap): as each channel's run planned them, where the core has not
    recorded them itself."""
    from dataclasses import replace

    from ..core.tiling import plan_tiles

    channels = result.parameters.get("channels")
    if not isinstance(channels, list) or len(channels) != len(prepared.channel_runs):
        return result
    found = []
    for run, entry in zip(prepared.channel_runs, channels):
        plan = plan_tiles(run.layout.spatial_shape, run.options.tile, run.options.overlap,
                          size_divisor=run.method.size_divisor)
        found.append({"tile": tuple(plan.tile), "overlap": tuple(plan.overlap), **entry})
    return replace(result, parameters=dict(result.parameters, channels=found))


def grid_tiling(meta: dict, channel: int | None) -> tuple[tuple, tuple, str]:
    """(tile, overlap, which channel's: '' where all channels share them) of a result's record
    ``meta``: channel ``channel``'s (0-based) where channels were deblurred with tilings of
    their own (a PSF per channel), else the result's."""
    tile, overlap = tuple(meta["tile"])[-2:], tuple(meta["overlap"])[-2:]
    channels = (meta.get("parameters") or {}).get("channels")
    if not isinstance(channels, list) or not all(
            isinstance(c, dict) and "tile" in c and "overlap" in c for c in channels):
        return tile, overlap, ""
    tilings = [(tuple(c["tile"])[-2:], tuple(c["overlap"])[-2:]) for c in channels]
    if len(set(tilings)) == 1:
        return (*tilings[0], "")
    k = min(max(int(channel or 0), 0), len(tilings) - 1)
    return (*tilings[k], f"channel {k + 1} of {len(tilings)}")


def tiling_record(layer) -> dict:
    """The deblur record holding ``layer``'s tiles: its metadata's (a result of a dock), else
    the one in the file napari opened it from (a CLI or saved .tif, .zarr, .ome.zarr output:
    napari's reader keeps no metadata). ValueError saying what to do where neither has one."""
    from ._layer_file import file_record_of

    meta = layer.metadata.get("microdeblur") if isinstance(layer.metadata, dict) else None
    if isinstance(meta, dict) and "tile" in meta and "axes" in meta:
        return meta
    found = file_record_of(layer)
    if found is not None and "tile" in found[0] and "axes" in found[0]:
        record, name, differs = found
        if not differs or differs.startswith("the layer's data is "):  # a dtype: same tiles
            return record
        raise ValueError(f"layer {layer.name!r} no longer holds the pixels of file {name}, "
                         f"whose record gives the tiles ({differs}); open the file again")
    raise ValueError(
        f"layer {layer.name!r} has no record of its tiles (in its metadata, or in a file it was "
        "opened from); deblur it with this plugin, or open the output file it wrote"
    )


def tile_grid_layer(deblurred, plan_tiles, channel: int | None = None):
    """The tiles ``deblurred`` was computed in (from its record: ``tiling_record``), as
    rectangles; ``plan_tiles`` is ``core.tiling.plan_tiles``. Channels deblurred with tilings
    of their own (a PSF per channel): those of channel ``channel`` (0-based), said in the
    layer's name. ValueError if the layer has no record."""
    meta = tiling_record(deblurred)
    shape = layer_data(deblurred).shape
    axes = str(meta["axes"])
    # a reader may squeeze a file's axes of 1 (C of 1): Y and X counted from the end then
    yx = tuple(shape[axes.index(a) - (len(axes) if len(axes) != len(shape) else 0)]
               for a in "YX")
    tile, overlap, which = grid_tiling(meta, channel)
    # a network's tiles start on its size divisor's grid (recorded by the core since 2026-12)
    divisor = int((meta.get("parameters") or {}).get("size_divisor", 1))
    rects = []
    for t in plan_tiles(yx, tile, overlap, size_divisor=divisor).tiles:
        (y0, x0), (y1, x1) = t.start[-2:], t.stop[-2:]
        y1, x1 = min(y1, yx[0]), min(x1, yx[1])
        rects.append(np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], dtype=float) - 0.5)
    kwargs = {
        "shape_type": "rectangle",
        "name": f"tile grid of {deblurred.name}" + (f" ({which})" if which else ""),
        "edge_color": GRID_COLOR, "face_color": "transparent",
        "edge_width": max(1.0, min(yx) / 300), "opacity": 0.8,
        **overlay_transform(deblurred, dims=2),
        "metadata": {"microdeblur": {"tile": tile, "overlap": overlap, "tiles": len(rects),
                                     "channel": which}},
    }
    return rects, kwargs, "shapes"
