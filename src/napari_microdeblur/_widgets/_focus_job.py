"""The Focus QC dock's deblur job (``core.selective.iter_deblur_selected`` on the units below
the threshold, in a napari worker) and what the dock says and records of what it ran.

Without a session network the job hands the core the request's MethodSpec, so a PSF estimated
from the image ('estimate', or 'auto' for EM and brightfield) and 'auto' iterations or balance
are settled on each soft plane (a plane's soft tiles: the box around them), as `microdeblur
deblur --focus-below` settles them. Settled once on the whole image, from its middle plane, a
sharp plane's blur had run on the soft ones. The status line, the layer name and the record
say what each plane got, in the command line's words (``core.selective_words.settled_words``,
``settled_entries``). A session network (loaded or fine-tuned in the dock) is a Method
already: it runs as before, its PSF (if it takes one) estimated once on the whole image.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace
from typing import Any

from ..core.notes import DeblurNote
from ..core.thread_warnings import caught
from ._jobs import DeblurRequest, JobOutcome, prepared_method, request_card, resolve_request

#: How the core's note on per-plane settings starts; the status line says them instead.
SETTLED_NOTE = "settled on the soft part"
#: The most planes a mixed label names per method (the record lists every plane).
LABEL_PLANES = 3


@dataclass(frozen=True)
class Selection:
    """Which units a selective deblur takes: scores below ``threshold``, per ``tile`` (None:
    per slice), each tile read with ``halo`` pixels around it (None: the method's reach)."""

    threshold: float
    scores: Any
    tile: int | None
    halo: int | None


def iter_focus_job(req: DeblurRequest, selection: Selection):
    """Worker body: deblur only the units that score below the threshold
    (``core.selective``); yields its progress records and returns a JobOutcome."""
    from ..core.selective import iter_deblur_selected

    start = time.perf_counter()
    units = dict(threshold=selection.threshold, axes=req.axes, scores=selection.scores,
                 tile=selection.tile, halo=selection.halo)
    if req.network is not None:  # a Method already: settled once on the whole image
        method, tiling, _, ran = prepared_method(req)
        result = yield from iter_deblur_selected(req.image, method, tiling=tiling, **units)
        return JobOutcome(result, request_card(ran), time.perf_counter() - start, ran.label,
                          ran.fallback)
    tiling = req.tiling.replace(tile=spec_auto_tile(req)) if req.auto_tile else req.tiling
    with caught() as held:  # the core settles each soft plane in this call, before any tile
        run = iter_deblur_selected(req.image, req.method, tiling=tiling, **units)
    for w in held:  # to the worker's `warned`; the per-plane note is the status line's
        if not (issubclass(w.category, DeblurNote) and str(w.message).startswith(SETTLED_NOTE)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno,
                                   source=w.source)
    result = yield from run
    fallback = fallback_words(req, held)
    return JobOutcome(result, ran_card(req, result), time.perf_counter() - start,
                      ran_label(result, req.label), fallback)


def blind_name(req: DeblurRequest) -> str | None:
    """The blind network 'auto' runs where the image gives no PSF estimate, else None."""
    from ..core.axes import is_rgb
    from ..core.bundled import auto_blind_fallback

    return auto_blind_fallback(req.method, is_rgb(req.axes, tuple(req.image.shape)))


def fallback_words(req: DeblurRequest, held) -> str:
    """The core's lines on why 'auto' ran its blind network, on every soft plane (its line as
    a whole run says it) or on some ('Z 1: no PSF could be estimated ...'); '' where none."""
    blind = blind_name(req)
    if blind is None:
        return ""
    said = f"ran the blind network {blind} instead"
    return "; ".join(dict.fromkeys(str(w.message) for w in held if said in str(w.message)))


def ran_card(req: DeblurRequest, result):
    """The model card of what the first soft plane ran (the record's parameters are its
    own): the blind network where 'auto' fell back to it there, else the request's."""
    from ._methods import method_card

    blind = blind_name(req)
    if blind is not None and result.settled and result.settled[0].method.name == blind:
        return method_card(blind, rgb="S" in req.axes)
    return request_card(req)


def ran_label(result, named: str) -> str:
    """What ran, as the layer name and the record's ``method`` say it: the method every soft
    plane ran; where planes ran different ones ('auto' fell back to its blind network on some),
    each with its planes: 'wiener_unet.psf_v4 (Z 0, Z 2), c2f_unet.em_v2 (Z 1)'. ``named``
    where nothing was settled."""
    from ..core.selective import part_words, score_axes

    parts = tuple(result.settled)
    names = list(dict.fromkeys(p.method.name for p in parts))
    if not names:
        return named
    if len(names) == 1:
        return names[0]
    loop = score_axes(result.axes)

    def planes(name: str) -> str:
        where = [part_words(loop, p.plane) for p in parts if p.method.name == name]
        more = len(where) - LABEL_PLANES
        return ", ".join(where[:LABEL_PLANES]) + (f" and {more} more" if more > 0 else "")

    return ", ".join(f"{name} ({planes(name)})" for name in names)


def spec_auto_tile(req: DeblurRequest) -> int:
    """The 'auto' tile of a spec the core settles per plane, sized as ``prepared_method``
    sizes a settled one: a PSF the image gives stands in as the widest estimate
    (``SIGMA_MAX``, the PSF needing the largest tile), and where 'auto' may run its blind
    network instead, the larger of the two."""
    from ..core.axes import colour_part, is_rgb
    from ..core.bundled import auto_psf
    from ..core.devices import resolve_device
    from ..core.image_settings import spec_before_image
    from ..core.memory import auto_tile_size
    from ..core.psf_estimate import SIGMA_MAX, is_estimate

    image = colour_part(req.image, req.axes)  # RGBA: the colours run, alpha passes through
    device = resolve_device(req.tiling.device)
    spec, stand_ins = req.method, [req.method]
    if is_estimate(spec.psf) or auto_psf(spec, is_rgb(req.axes, tuple(image.shape))):
        stand_ins = [spec.replace(psf=f"gaussian:{SIGMA_MAX:g}")]
        if (blind := blind_name(req)) is not None:
            stand_ins.append(spec.replace(name=blind, psf=None))
    plane_axes = "".join(a for a in req.axes if a in "YXS")  # settled plane by plane (2D)
    plane_shape = tuple(image.shape[req.axes.index(a)] for a in plane_axes)
    channels = image.shape[req.axes.index("S")] if "S" in req.axes else 1
    sides = []
    for each in stand_ins:
        each = spec_before_image(each, plane_axes, plane_shape) or each
        method = resolve_request(replace(req, method=each, image=image), device)
        sides.append(auto_tile_size(method, device, channels))
    return max(sides)


# ----------------------------------------------------------------------------- what it says


def settled_note(run) -> str:
    """What the status adds where the image settled a setting on the soft planes, in the
    command line's words: ', settings found on each soft slice (Z 1: PSF ...; Z 3: PSF
    ...)'; '' where nothing was settled (a session network, fixed settings)."""
    from ..core.selective_words import settled_words  # one wording for the CLI and the dock

    if run.outcome is None or run.req.network is not None:
        return ""
    return settled_words(run.outcome.result, run.req.method)


def recorded_layer(make_layer, camera_offset: float, origin: str):
    """``make_layer`` (``focus_deblurred_layer``) recording the camera offset the scores were
    made with and where the threshold came from (``origin``; a per-channel maker's words
    stay): a threshold holds only for scores with that offset, and `microdeblur info` read
    'threshold 0.2 (from an unrecorded origin)' of the dock's result."""

    def made(req, outcome):
        data, kwargs, kind = make_layer(req, outcome)
        focus = kwargs["metadata"]["microdeblur"]["focus"]
        focus.setdefault("threshold_from", origin)
        focus["camera_offset"] = float(camera_offset)
        return data, kwargs, kind

    return made


def settled_layer(make_layer):
    """``make_layer`` (``focus_deblurred_layer``, maybe per channel) recording what each soft
    plane ran with as the command line's record does: ``focus.settled`` (one entry a plane:
    where from, the method, PSF, iterations and balance, which of them the image settled);
    the settings that differ between planes taken out of ``parameters``, and a PSF that
    differs recorded as 'estimate' (a rerun estimates each plane's again)."""

    def made(req, outcome):
        data, kwargs, kind = make_layer(req, outcome)
        if req.network is None and outcome.result.settled:
            record_settled(kwargs["metadata"]["microdeblur"], outcome.result, req.method)
        return data, kwargs, kind

    return made


def record_settled(meta: dict, result, spec) -> None:
    """Add what each soft plane ran with to the layer's record ``meta`` (``settled_layer``)."""
    from ..core.provenance import plain_values
    from ..core.selective_words import settled_entries  # the CLI's record, field for field

    settled = plain_values(settled_entries(result, spec))
    varied = {k for e in settled for k in e["found"] if e.get(k) != settled[0].get(k)}
    for k in varied:  # each plane's own, under focus.settled
        meta["parameters"].pop(k, None)
    meta["focus"]["settled"] = settled
    if "psf" in varied:
        meta["psf"] = "estimate"
        meta.pop("psf_estimated", None)
