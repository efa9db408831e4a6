"""The deblurring jobs the docks run in napari workers, and ``DeblurRun``, which owns one
worker with its progress bar, Cancel and what happens at the end.

A ``DeblurRequest`` is collected on the GUI thread: the image (never modified), its axes, a
``core.method.MethodSpec`` (or a network held in this session) and a ``TilingSpec``. The job
resolves the method, prepares the deblur once (``core.inference.prepare_deblur``) and drains
it; it yields the core's progress records and returns a ``JobOutcome``. A PSF per channel
('A;B', ``core.channel_psfs``) goes to the core as it is for a whole stack (each channel
prepared with its own PSF, named after what ran), and so does one PSF whose 'auto' iterations or
balance each channel finds (``channels_apart``); a slice of one channel runs its PSF alone.
The Focus QC dock's selective job is ``_focus_job``'s. What became of a run's input layer
(renamed, removed, given other data) and the last deblur's pair are ``_run_input``'s.
"""

from __future__ import annotations

import copy
import time
import warnings
import weakref
from dataclasses import dataclass, field, is_dataclass, replace
from typing import Any

from ..core.channel_psfs import channel_sources, channels_ran, methods_label, planned_methods
from ..core.thread_warnings import caught
from ._deblur_stop import RunStop, stoppable_job
from ._feedback import describe_error, notify_error, warning_relay
from ._layer_data import add_layer, deblurred_layer, source_now, with_channel_tiles
from ._layers import unwrap
from ._methods import SessionModel, method_card
from ._run_input import data_replaced, read_data, remember_deblur, replaced_fields
from ._run_input import last_deblur as last_deblur  # noqa: F401 - docks import them from here
from ._run_input import removed_note as removed_note  # noqa: F401
from ._workers import create_held_worker, release_handlers


@dataclass
class DeblurRequest:
    """Everything one run needs, collected on the GUI thread; the worker only reads it."""

    source_name: str
    image: Any  # the layer's array, or a view/crop of it (never modified)
    axes: str
    method: Any  # core.method.MethodSpec; for a session network, its precision only
    label: str  # the method as layer names and metadata show it
    network: SessionModel | None = None  # a network of this session, run instead of a spec
    tiling: Any = None  # core.tiling_spec.TilingSpec; None: the defaults
    auto_tile: bool = False  # size the tiles to a quarter of the device's free memory
    scope: str = "whole stack"
    offset: tuple[int, ...] = ()  # data offset of ``image`` inside the layer, per layer dim
    placement: dict = field(default_factory=dict)  # _layer_data.source_placement of the layer
    # for a slice or crop: the whole layer, whose intensities fix the normalisation, so that a
    # slice comes out as it would in a whole-stack run
    full_image: Any = None
    psf_text: str = ""  # the PSF box as typed ('layer:beads psf' is named so in the record)
    # why 'auto' ran its blind network (no PSF estimate from the image), set in the worker
    fallback: str = ""

    def __post_init__(self):
        if self.tiling is None:
            from ..core.tiling_spec import TilingSpec

            self.tiling = TilingSpec()


@dataclass
class JobOutcome:
    """What a job returns: the core's result, the model card (None: classical), seconds and
    the method that ran as layer names show it."""

    result: Any  # core.progress.DeblurResult or core.selective.SelectiveResult
    card: Any
    seconds: float
    label: str
    fallback: str = ""  # why 'auto' ran its blind network (``with_estimated_psf``), else ''
    record: dict = field(default_factory=dict)  # a PSF per channel: ``channels_ran``'s fields


def request_card(req: DeblurRequest):
    if req.network is not None:
        return req.network.card
    return method_card(req.method.name, rgb="S" in req.axes, spec=req.method)


def check_request(req: DeblurRequest) -> None:
    """Checks that need no pixels, run on the GUI thread so that mistakes show at once."""
    from ..core.axes import check_axes, colour_part

    check_axes(req.axes, tuple(req.image.shape))
    check_channel_psfs(req)
    from ..core.memory import check_result_fits

    # the result is held in memory, in the output dtype: refused here, not in the worker
    as_input = req.tiling.output_dtype == "input"
    check_result_fits(tuple(req.image.shape), req.image.dtype if as_input else "float32")
    req.method.check()
    req.tiling.check()
    card = request_card(req)
    if card is None:
        return
    has_rgb = "S" in req.axes
    # RGBA runs its colours (the core passes alpha through)
    n_channels = colour_part(req.image, req.axes).shape[req.axes.index("S")] if has_rgb else 1
    # a grayscale network runs an RGB layer as the core does: colour by colour, normalised on
    # the colours together (a PSF-aware one in core.psf_aware.OPPONENT's colour space)
    if has_rgb and card.in_channels not in (1, n_channels):
        raise ValueError(f"{req.label!r} expects {card.in_channels} channels but layer "
                         f"{req.source_name!r} has {n_channels} (axes {req.axes})")
    if not has_rgb and "C" not in req.axes and card.in_channels != 1:
        raise ValueError(
            f"{req.label!r} expects {card.in_channels} channels (RGB) but layer "
            f"{req.source_name!r} is grayscale; choose grayscale weights or an RGB layer"
        )


def channel_parts(req: DeblurRequest) -> list[str] | None:
    """The sources of a PSF per channel ('A;B', ``core.channel_psfs``), else None."""
    return channel_sources(getattr(req.method, "psf", None))


def check_channel_psfs(req: DeblurRequest) -> None:
    """Refuse, in the dock's words, a PSF per channel that the layer cannot take: a session
    network (it takes one PSF), a layer without a C axis (RGB's colours are no channels; a
    layer opened with channel_axis is one channel) and a count other than C's size. The core
    refuses the same, but only once the worker has started."""
    parts = channel_parts(req)
    if not parts:
        return
    given = f"the PSF box gives {len(parts)} PSFs (one per channel, separated by ';')"
    layer = f"layer {req.source_name!r}"
    if req.network is not None:
        raise ValueError(f"{given} but {req.label!r}, a network of this session, takes one "
                         "PSF; give one PSF, or choose a classical or bundled method")
    if "C" not in req.axes:
        if "S" in req.axes:
            raise ValueError(f"{given} but {layer} is RGB: one PSF per colour runs in "
                             "`microdeblur deblur` and deblur() with richardson_lucy or "
                             "wiener; here give one PSF")
        raise ValueError(f"{given} but {layer} (axes {req.axes}) has no channel axis C; set "
                         f"Axes to C{req.axes} if it holds channels, or give one PSF (a layer "
                         "opened with channel_axis is one channel)")
    whole = req.image if req.full_image is None else req.full_image
    count = int(whole.shape[req.axes.index("C")])
    if count != len(parts):
        raise ValueError(f"{given} but {layer} has {count} channels on its C axis; give "
                         f"{count} PSFs, in channel order")


def one_channel_request(req: DeblurRequest) -> DeblurRequest:
    """A request whose image holds one channel of a PSF per channel, or of one PSF run channel
    by channel (``channels_apart``; a 'current slice' or field of view): that channel's PSF,
    normalised on that channel of the whole layer, as a whole-stack run normalises each
    channel. Others are returned as they are."""
    from ._channel_psf_scale import channels_apart

    parts, full = channel_parts(req), req.full_image
    # one PSF found per channel: normalised on its channel, as the whole stack's run does
    apart = full is not None and channels_apart(req, full.shape)
    if not (parts or apart) or req.image.shape[c := req.axes.index("C")] != 1:
        return req
    index = int(req.offset[c]) if len(req.offset) > c else 0
    if full is not None:
        from ._layers import lazy_part

        key = tuple(slice(index, index + 1) if i == c else slice(None)
                    for i in range(len(full.shape)))
        full = lazy_part(full, key)
    method = req.method.replace(psf=parts[index]) if parts else req.method
    return replace(req, method=method, full_image=full)


def check_finite(req: DeblurRequest) -> None:
    """The core refuses NaN and Inf pixels (``inference.compute_normalization``), but only once
    the run has started, and one off its strided sample only at that tile: an in-memory layer
    is checked whole here, before the run (min and max carry a NaN, with no temporary copy:
    30 ms for 100 M pixels). A lazy (dask, zarr, memory-mapped) layer is not read on the GUI
    thread; its run still refuses."""
    import numpy as np

    data = req.image if req.full_image is None else req.full_image  # it sets the normalisation
    if (not isinstance(data, np.ndarray) or isinstance(data, np.memmap)
            or data.dtype.kind != "f" or data.size == 0):
        return
    if not (np.isfinite(data.min()) and np.isfinite(data.max())):
        raise ValueError(
            f"layer {req.source_name!r} contains NaN or Inf pixels; deblurring needs finite "
            "intensities: add a copy with them replaced (e.g. np.nan_to_num) and deblur that")


def check_custom_tile(req: DeblurRequest) -> None:
    """Refuse a custom tile the method cannot run (smaller than its reach) before the run,
    with the rule and message of the run itself (``core.tile_options``), which applies it
    only once the run has started. The method is resolved as the run resolves it (weights
    load in tens of ms); the iteration count and balance the run finds on the image do not
    change a method's reach. A PSF the run estimates from the image is not known yet: the
    tile is refused now only where every estimate refuses it (``_refused_whatever_estimate``)."""
    from ..core.axes import Layout, colour_part
    from ..core.devices import resolve_device
    from ..core.image_settings import spec_before_image
    from ..core.options import FIXED_BALANCE, FIXED_ITERATIONS
    from ..core.psf_estimate import is_estimate
    from ..core.tile_options import tile_options

    if req.tiling.tile is None:
        return
    if parts := channel_parts(req):  # each channel's PSF (the stack's C is a loop axis)
        for i, part in enumerate(parts):
            try:
                check_custom_tile(replace(req, method=req.method.replace(psf=part)))
            except ValueError as error:
                raise ValueError(f"channel {i + 1} of psf: {error}") from None
        return
    image = colour_part(req.image, req.axes)  # RGBA: the colours run, alpha passes through
    if req.network is None:  # the spec a run settles, as far as it can before the image
        spec = spec_before_image(req.method, req.axes, image.shape)
    elif not is_estimate(req.method.psf):  # a session network: its spec as given
        spec = req.method.replace(iterations=FIXED_ITERATIONS, balance=FIXED_BALANCE)
    else:
        spec = None
    # a session network is checked where it is (resolve_request would copy it elsewhere)
    params = req.network.model.parameters() if req.network is not None else ()
    device = next((p.device for p in params), None) or resolve_device(req.tiling.device)
    if spec is None:  # the PSF comes from the image
        _refused_whatever_estimate(req, image, device)
        return
    try:
        with caught():  # dropped: the run gives them (a PSF cut to its support)
            method = resolve_request(replace(req, method=spec, image=image), device)
    except (ValueError, TypeError, OSError):
        raise  # what the run would refuse, said now
    except Exception:  # noqa: BLE001 - anything else the run reports, as it did
        return
    with caught():  # its warnings (a low overlap) are the run's to give: said once, there
        tile_options(method, Layout.for_method(req.axes, tuple(image.shape), method), req.tiling)


def _refused_whatever_estimate(req: DeblurRequest, image, device) -> None:
    """Raise the run's tile refusal where it cannot depend on the PSF the run estimates (the
    run would otherwise refuse only after the estimate, seconds later). An estimate is a
    Gaussian of sigma ``SIGMA_MIN`` to ``SIGMA_MAX`` and a wider PSF only widens a method's
    reach, so the narrowest stands in for it. Not refused here: a PSF-aware network that falls
    back to Wiener on a wide estimate, and an 'auto' whose blind network (what runs where the
    image gives no estimate) takes the tile."""
    from ..core.axes import Layout, is_rgb
    from ..core.bundled import auto_blind_fallback, auto_psf
    from ..core.options import FIXED_BALANCE, FIXED_ITERATIONS
    from ..core.psf_estimate import SIGMA_MAX, SIGMA_MIN
    from ..core.tile_options import tile_options

    spec = req.method.replace(iterations=FIXED_ITERATIONS, balance=FIXED_BALANCE)
    if req.network is None and not spec.takes_psf():
        return  # a blind network given 'estimate': the run says what to change
    shape = tuple(image.shape)

    def resolved(route):
        try:
            with caught():  # dropped, for this thread only (a deblur may run beside it)
                return resolve_request(replace(req, method=route, image=image), device)
        except Exception:  # noqa: BLE001 - the run reports what it cannot resolve
            return None

    def refusal(method) -> ValueError | None:
        try:
            with caught():  # warnings: the run's to give
                tile_options(method, Layout.for_method(req.axes, shape, method), req.tiling)
        except ValueError as error:
            return error
        return None

    narrowest = resolved(spec.replace(psf=f"gaussian:{SIGMA_MIN:g}"))
    widest = resolved(spec.replace(psf=f"gaussian:{SIGMA_MAX:g}"))
    if narrowest is None or widest is None or "fallback_from" in widest.parameters:
        return  # unresolved (the run says why), or a Wiener in place of the network
    error = refusal(narrowest)
    if error is None:
        return
    rgb = is_rgb(req.axes, shape)
    if req.network is None and auto_psf(req.method, rgb) is not None:
        fallback = auto_blind_fallback(req.method, rgb)
        blind = resolved(spec.replace(name=fallback)) if fallback else None
        if blind is None or refusal(blind) is None:
            return  # where the image gives no estimate, the blind network takes this tile
    if narrowest.halo == widest.halo:  # a network that reads no PSF: its reach as it is
        raise error
    raise ValueError(f"{error}, or more: the PSF estimated from the image widens it") from None


def with_estimated_psf(req: DeblurRequest) -> DeblurRequest:
    """The request with a PSF to estimate ('estimate', or 'auto' for EM and brightfield)
    estimated from the image deblurred; none for a session network that takes no PSF. Where
    the image gives none and 'auto' runs the blind network, or Richardson-Lucy in 3D, the label
    names what runs; ``fallback`` keeps the core's line on why the blind network ran."""
    from ..core.axes import is_rgb
    from ..core.bundled import auto_blind_fallback
    from ..core.image_settings import spec_for_image

    if req.network is not None and not getattr(req.network.model, "needs_psf", False):
        return req
    with caught() as held:  # this thread's lines, passed on below to the worker's `warned`
        method = spec_for_image(req.method, req.image, req.axes)
    for w in held:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if req.network is not None or method.name == req.method.name:
        return replace(req, method=method)
    blind = auto_blind_fallback(req.method, is_rgb(req.axes, tuple(req.image.shape)))
    why = next((str(w.message) for w in held if method.name == blind and blind in
                str(w.message)), "")
    return replace(req, method=method, label=method.name, fallback=why)


def planned_label(req: DeblurRequest) -> str:
    """``req.label`` as a run's start says it: where 'auto' estimates the PSF from the image,
    also the blind network that runs when the image gives none (``with_estimated_psf``); for
    a PSF per channel, what each channel runs (``channel_psfs.planned_methods``)."""
    from ..core.axes import is_rgb
    from ..core.bundled import auto_blind_fallback

    if req.network is not None:
        return req.label
    if channel_parts(req):
        return methods_label(planned_methods(req.method, req.axes, tuple(req.image.shape)))
    blind = auto_blind_fallback(req.method, is_rgb(req.axes, tuple(req.image.shape)))
    return req.label if blind in (None, req.label) else f"{req.label} or {blind}"


def resolve_request(req: DeblurRequest, device):
    """The runnable core Method of a request whose PSF estimate is resolved
    (``with_estimated_psf``); a session network is copied to ``device`` if it lives elsewhere
    (the session's copy stays where it is)."""
    from ..core.axes import is_rgb
    from ..core.method import network_method
    from ..core.psf_fit import fit_psf_to_image_of

    rgb = is_rgb(req.axes, tuple(req.image.shape))
    # a PSF file or layer as large as the image (a whole bead image) is cut to its support,
    # as the core's deblur does for a MethodSpec; it was refused as larger than the image
    req = replace(req, method=fit_psf_to_image_of(req.method, req.axes, tuple(req.image.shape)))
    if req.network is None:
        return req.method.resolve(rgb=rgb)
    model = req.network.model
    current = next((p.device for p in model.parameters()), device)
    if current.type != device.type or device.index not in (None, current.index):
        model = copy.deepcopy(model).to(device)
    if getattr(model, "needs_psf", False):  # e.g. weights fine-tuned with finetune --psf
        from ..core.psf_aware import psf_aware_method

        if req.method.psf is None:
            raise ValueError(f"{req.label!r} is PSF-aware: give its PSF in the PSF field")
        return psf_aware_method(model, req.method.psf_value, req.network.card,
                                precision=req.method.precision, name=req.label,
                                noise_scale=req.method.noise_scale, rgb=rgb)
    return network_method(model, name=req.label, card=req.network.card,
                          precision=req.method.precision)


def prepared_method(req: DeblurRequest):
    """(Method, TilingSpec with an 'auto' tile sized, normalisation or None, the request with
    its PSF estimate resolved and an RGBA image's colours only) of a request."""
    from ..core.axes import colour_part
    from ..core.devices import resolve_device
    from ..core.inference import compute_normalization
    from ..core.memory import auto_tile_size

    device = resolve_device(req.tiling.device)
    # RGBA: all is settled on the colours; prepare_deblur passes the alpha through
    full = req.full_image
    req = replace(req, image=colour_part(req.image, req.axes),
                  full_image=None if full is None else colour_part(full, req.axes))
    req = with_estimated_psf(req)
    method = resolve_request(req, device)
    tiling = req.tiling
    if req.auto_tile:
        channels = req.image.shape[req.axes.index("S")] if "S" in req.axes else 1
        tiling = tiling.replace(tile=auto_tile_size(method, device, channels))
    normalization = None
    if req.full_image is not None:
        normalization = compute_normalization(req.full_image, req.axes,
                                              method.normalization_kind, *method.percentiles)
    return method, tiling, normalization, req


def iter_deblur_job(req: DeblurRequest):
    """Worker body: resolve, prepare and run the deblur; yields DeblurProgress records and
    returns a JobOutcome. Closing it stops between two tiles."""
    from ..core.inference import prepare_deblur
    from ._channel_psf_scale import channels_apart

    start = time.perf_counter()
    # the core prepares and settles each channel: with its own PSF, or one PSF's 'auto'
    if channel_parts(req) or channels_apart(req):
        tiling = req.tiling.replace(tile=channels_auto_tile(req)) if req.auto_tile else req.tiling
        prepared = prepare_deblur(req.image, req.axes, req.method, tiling)
        result = with_channel_tiles((yield from prepared.iter_run()), prepared)
        label, card, record = channels_ran(prepared)  # what ran, not what 'auto' names
        return JobOutcome(result, card, time.perf_counter() - start, label, record=record)
    method, tiling, normalization, ran = prepared_method(req)
    prepared = prepare_deblur(req.image, req.axes, method, tiling, normalization=normalization)
    result = yield from prepared.iter_run()
    return JobOutcome(result, request_card(ran), time.perf_counter() - start, ran.label,
                      ran.fallback)


def channels_auto_tile(req: DeblurRequest) -> int:
    """The 'auto' tile of a PSF per channel: the largest channel's (each at least 4 x its
    method's reach; the memory budget is the same). A PSF estimated from the image stands in
    as the widest estimate (``SIGMA_MAX``), the PSF that needs the largest tile."""
    from ..core.channel_psfs import channel_of
    from ..core.devices import resolve_device
    from ..core.image_settings import spec_before_image
    from ..core.memory import auto_tile_size
    from ..core.psf_estimate import SIGMA_MAX, is_estimate

    device = resolve_device(req.tiling.device)
    c = req.axes.index("C")
    plane = replace(req, image=channel_of(req.image, c, 0), axes=req.axes.replace("C", ""))
    sides = []
    for part in channel_parts(req) or [req.method.psf]:  # one PSF: alike on every channel
        spec = req.method.replace(psf=f"gaussian:{SIGMA_MAX:g}" if is_estimate(part) else part)
        spec = spec_before_image(spec, plane.axes, plane.image.shape) or spec  # 'auto': RL in 3D
        sides.append(auto_tile_size(resolve_request(replace(plane, method=spec), device), device))
    return max(sides)


# ----------------------------------------------------------------------------- the run


class DeblurRun:
    """One running deblur: the worker, its napari progress bar, and what happens at the end.

    ``cancel()`` asks the worker to stop at its next tile; a cancelled run adds no layer, even
    if its last tile finished while the request was on its way. ``job`` is the worker body
    (``iter_deblur_job`` by default; with its arguments after the request) and ``layer`` how
    the result becomes a layer-data tuple (None: no layer is added).
    """

    def __init__(self, viewer, req: DeblurRequest, *, on_done=None, on_progress=None,
                 job=iter_deblur_job, job_args=(), layer=deblurred_layer,
                 description: str | None = None) -> None:
        from napari.utils import progress

        self.viewer = viewer
        self.req = req
        self.cancelled = False
        self.done = False  # set when the worker has finished and its handlers ran
        self._layer = None  # weak: a run kept by a dock must not keep a removed result alive
        self.outcome: JobOutcome | None = None
        self.warnings: list[str] = []  # the first line of each warning the run raised
        self.error: BaseException | None = None
        self.source_removed = False  # the input layer was removed while the run went on
        self.source_replaced = False  # ... or given other data (``layer.data = other``)
        self._read = read_data(viewer, req.placement)  # the input's array, as the run reads it
        self.yields_after_cancel = 0
        self._build_layer = layer
        self._on_done = on_done
        self._on_progress = on_progress
        self.pbar = progress(
            total=0, desc=description or f"Deblurring {req.source_name!r} [{planned_label(req)}]"
        )
        self.worker = create_held_worker(stoppable_job, job, RunStop(self), req, *job_args)
        self.worker.warned.connect(warning_relay(self.warnings))
        self.worker.yielded.connect(self._yielded)
        self.worker.returned.connect(self._returned)
        self.worker.errored.connect(self._errored)
        self.worker.aborted.connect(self._aborted)
        self.worker.finished.connect(self._finished)

    def start(self) -> DeblurRun:
        self.worker.start()
        return self

    @property
    def layer(self):
        """The result layer, while it exists; None if none was added."""
        return self._layer() if self._layer is not None else None

    @layer.setter
    def layer(self, layer) -> None:
        # the layer itself: a weak reference to napari's proxy of it would die at once
        self._layer = weakref.ref(unwrap(layer)) if layer is not None else None

    @property
    def is_running(self) -> bool:
        return self.worker.is_running

    def cancel(self) -> None:
        self.cancelled = True
        self.worker.quit()

    def _yielded(self, record) -> None:
        if self.cancelled:
            self.yields_after_cancel += 1
            return
        if self.pbar.total != record.total:
            self.pbar.total = record.total
        self.pbar.n = record.done
        self.pbar.refresh()
        if self._on_progress is not None:
            self._on_progress(record)

    def _returned(self, outcome: JobOutcome) -> None:
        if self.cancelled:
            return
        self.outcome = outcome
        self._follow_source()
        if self._build_layer is None:
            return
        try:
            data, kwargs, kind = self._build_layer(self.req, outcome)
            meta, why = kwargs.get("metadata", {}).get("microdeblur", {}), outcome.fallback
            meta.update(outcome.record, **{"fallback": why} if why else {})  # the core's lacks
            meta.update(replaced_fields(self))
            self.layer = add_layer(self.viewer, (data, kwargs, kind))
        except Exception as error:  # noqa: BLE001 - the viewer may be closing
            self.error = error
            notify_error(f"could not add the result layer: {describe_error(error)}")
            return
        if self.source_replaced:  # Compare & QC would score it against the layer's new data
            return
        source = self.req.placement.get("source")
        remember_deblur(source() if source is not None else None, self.layer, self._read)

    def _follow_source(self) -> None:
        """The result is named after the input layer as it is now: the user may have renamed
        it while the run went on. A removed one keeps its old name (the result is still added)
        and ``source_removed`` is set, for the dock to say why; ``source_replaced`` where the
        layer holds other data than the run read."""
        layer = source_now(self.viewer, self.req.placement)
        if layer is None:
            self.source_removed = "source" in self.req.placement
            return
        self.source_replaced = data_replaced(layer, self._read)
        if layer.name != self.req.source_name:
            self.req = replace(self.req, source_name=layer.name)

    def _errored(self, error) -> None:
        self.error = error
        notify_error(f"Deblurring {self.req.source_name!r} failed: {describe_error(error)}")

    def _aborted(self) -> None:
        self.cancelled = True

    def _finished(self) -> None:
        # `returned` has just added the result layer in this turn of the event loop (napari
        # takes 60-90 ms for a 2048 x 2048 layer on our 2-core machine); closing the progress
        # bar and updating the dock (~40 ms) wait for a later turn, so the viewer never freezes
        # for the sum of both. 1 ms, not 0: Qt runs a 0-ms single shot in the same turn.
        from qtpy.QtCore import QTimer

        QTimer.singleShot(1, self._wrap_up)

    def _wrap_up(self) -> None:
        self.done = True
        try:
            self.pbar.close()
        except Exception:  # noqa: BLE001 - napari may be tearing down
            pass
        if self._on_done is not None:
            self._on_done(self)
        self._let_go()

    def _let_go(self) -> None:
        """Drop the pixels once the run is over (the result layer holds its own): a dock keeps
        its last run, and kept the input and result arrays after their layers were removed."""
        self._read = None
        if is_dataclass(self.req):
            self.req = replace(self.req, image=None, full_image=None)
        result = getattr(self.outcome, "result", None)
        if is_dataclass(result) and hasattr(result, "image"):
            self.outcome = replace(self.outcome, result=replace(result, image=None))
        release_handlers(self.worker)  # its handlers hold this run (an action has no dock)


def start_deblur(viewer, req: DeblurRequest, *, start: bool = True, **kwargs) -> DeblurRun:
    """Check ``req`` (raises ValueError saying what to change) and start it in a worker
    (``start=False``: the run is returned unstarted, for a dock's ``track_run``)."""
    check_request(req)
    req = one_channel_request(req)  # a slice of one channel: that channel's PSF
    check_finite(req)
    check_custom_tile(req)
    run = DeblurRun(viewer, req, **kwargs)
    return run.start() if start else run

