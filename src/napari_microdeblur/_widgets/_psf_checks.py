"""The PSF a Deblur run takes on the chosen layer and scope, and Run's checks of it, asked by
the dock (``build_request``) and its PSF preview (``_psf_preview``):

- a PSF file (or a 'layer:NAME' PSF) at other voxels than the layer's is resampled to them, as
  ``microdeblur deblur`` does (``with_layer_psf``: the CLI's ``core.psf_scale.psf_resampling``;
  ``psf_resampling_of`` says from what to what, ``record_psf_resampling`` records it);
- ``used_psf_of``: the PSF the run takes for a source, ``RunPsf`` where it is another than the
  source (resampled, cut to an image as small as it, an optics model deeper than the stack at
  the stack's depth), which the preview shows;
- ``fit_check_of``: Run's check of the PSF against the image it takes, its work done in the
  preview's worker first (``checked``: an optics model at the stack's depth takes seconds);
- ``auto_rule_of``: the rule by which 'auto' runs Richardson-Lucy in 3D or not, with its numbers,
  for the image-type line (``MethodPanel.auto_rule``).

No Qt here; the core (and torch) is imported when first asked.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from ..core.psf_estimate import is_estimate
from ._psf_sources import LAYER_PREFIX, PSF_FILE_AT, image_pixel_sizes, psf_layer_taken, said_where

# ----------------------------------------------------------------------------- Run's checks


def fit_check_of(build_request):
    """A ``PsfPreview.fit_check`` for a dock whose ``build_request()`` gives the run's
    ``DeblurRequest``: Run's PSF check against it (``check_run_psf``); ``check.prepare()``, the
    same on the request of now as a callable for a worker (``checked``). Settings the request
    refuses are no verdict on the PSF: Run says what is wrong with them."""
    def prepare():
        try:
            req = build_request()
        except (ValueError, TypeError, OSError):
            return None
        return lambda: check_run_psf(req)

    def check() -> None:
        if (job := prepare()) is not None:
            job()

    check.prepare = prepare
    return check


def checked(check, preview, *args):
    """``preview(*args)``, then Run's PSF check ``check`` (``fit_check_of``'s ``prepare()``) in
    the same worker. The optics models the check computes are cached (``core.psf.parse_psf``),
    so when the preview's ``_show`` asks the check again on the GUI thread, to show its line,
    it finds them computed (a model at the stack's depth computed there froze the GUI 10 s)."""
    value = preview(*args)
    if check is not None:
        with contextlib.suppress(ValueError, TypeError, OSError):  # _show says it
            check()
    return value


def check_run_psf(req) -> None:
    """Run's check of its PSF against the image it takes (``core.psf_fit.
    check_psf_model_fits``, without the tile, which the run checks itself), for a
    ``DeblurRequest``: ValueError with the run's line. A session network takes no PSF here."""
    from ..core.psf_fit import check_psf_model_fits

    if req.network is None:
        check_psf_model_fits(req.method, req.axes, tuple(req.image.shape),
                             image=f"layer {req.source_name!r}")


def auto_rule_of(build_request, preview):
    """A ``MethodPanel.auto_rule`` for a dock whose ``build_request()`` gives the run's
    ``DeblurRequest``: by which rule 'auto' runs Richardson-Lucy in 3D or not, with its numbers
    (``core.psf_fit.auto_3d_rule`` on the request of now), once ``preview`` (the dock's
    ``PsfPreview``) shows a usable PSF; '' while it computes one, where the PSF or the
    settings are refused (the preview or Run says why), and for a session network."""
    def rule() -> str:
        from ..core.psf_fit import auto_3d_rule

        if preview.busy or preview.error is not None:
            return ""
        try:
            req = build_request()
            if req.network is not None:
                return ""
            return auto_3d_rule(req.method, req.axes, req.image.shape) or ""
        except (ValueError, TypeError, OSError):
            return ""

    return rule


# ----------------------------------------------------------------------------- PSF file scale
# the PSF a run takes: a PSF file at other voxels than the layer's, resampled to them


_RESAMPLED: dict = {}  # (file, size, mtime, sizes, axes, image) -> PsfArray or None, last 4
_DONE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # -> (its line, its record)


def with_layer_psf(req, layer, runs_in_3d):
    """``req`` (a ``DeblurRequest`` on image ``layer``) with its PSF file resampled to the
    layer's pixel size (``image_pixel_sizes``) where the file states voxels more than 5 % off
    it, as ``microdeblur deblur`` does (``core.psf_scale.psf_resampling``; Z only where
    ``runs_in_3d(req)``; one file per channel: ``_channel_psf_scale``); else ``req``. Kept
    while the file is the same: Run and the preview ask for it again and again."""
    from dataclasses import replace

    from ..core.method import MethodSpec
    from ..core.psf import is_psf_model
    from ..core.psf_scale import psf_resampling
    from ._channel_psf_scale import per_channel, with_channel_psfs

    psf = getattr(req.method, "psf", None)
    if getattr(psf, "origin", "") is None and req.psf_text.startswith(LAYER_PREFIX):
        return _with_psf_layer(req, layer, runs_in_3d)
    if per_channel(psf):  # 'A.tif;B.tif': each file resampled as the CLI does (it ran as is)
        return with_channel_psfs(req, *image_pixel_sizes(layer, req.axes), layer, _DONE)
    try:
        if not isinstance(psf, str) or is_psf_model(psf) or not Path(psf).is_file():
            return req
        stat = Path(psf).stat()
    except (OSError, ValueError):  # no file by that name: Run says what the text is
        return req
    sizes, origins = image_pixel_sizes(layer, req.axes)
    compared = req.axes if "Z" in req.axes and runs_in_3d(req) else req.axes.replace("Z", "")
    PSF_FILE_AT[str(Path(psf).resolve())] = (sizes, compared)  # the preview's ``file_words``
    if not sizes:
        return req
    image = said_where(layer, origins)
    key = (str(Path(psf).resolve()), stat.st_size, stat.st_mtime_ns,
           tuple(sorted(sizes.items())), compared, image)
    if key not in _RESAMPLED:
        spec, note, done = psf_resampling(MethodSpec(psf=psf), sizes, compared, image=image)
        _RESAMPLED[key] = spec.psf if done else None
        if done:
            _DONE[spec.psf] = (note, done)
        while len(_RESAMPLED) > 4:
            del _RESAMPLED[next(iter(_RESAMPLED))]
    used = _RESAMPLED[key]
    return req if used is None else replace(req, method=req.method.replace(psf=used))


def _with_psf_layer(req, layer, runs_in_3d):
    """``req`` with its 'layer:NAME' PSF resampled to image ``layer``'s pixel size by the two
    layers' scales where both are known (not all 1) and differ, as a file's voxel size is
    (``core.psf_scale.array_resampling``: cleaned first, as a file is); else ``req``."""
    from dataclasses import replace

    from ..core.method import PsfArray
    from ..core.psf_scale import array_resampling
    from ._layer_file import layer_pixel_sizes

    psf_layer = psf_layer_taken(req.psf_text)
    sizes, origins = image_pixel_sizes(layer, req.axes)
    if psf_layer is None or not sizes or psf_layer.ndim not in (2, 3):
        return req
    psf_sizes, _ = layer_pixel_sizes(psf_layer, "ZYX"[-psf_layer.ndim:])
    compared = req.axes if "Z" in req.axes and runs_in_3d(req) else req.axes.replace("Z", "")
    image = said_where(layer, origins)
    key = (req.method.psf, tuple(sorted(psf_sizes.items())), tuple(sorted(sizes.items())),
           compared, image)
    if key not in _RESAMPLED:
        found = array_resampling(req.method.psf.array, psf_sizes, sizes, compared,
                                 name=f"layer {psf_layer.name!r}", image=image)
        _RESAMPLED[key] = PsfArray.from_array(found[0]) if found else None
        if found:
            _DONE[_RESAMPLED[key]] = found[1:]
        while len(_RESAMPLED) > 4:
            del _RESAMPLED[next(iter(_RESAMPLED))]
    used = _RESAMPLED[key]
    return req if used is None else replace(req, method=req.method.replace(psf=used))


def psf_resampling_of(psf) -> tuple[str, dict] | None:
    """(the run's one line, ``psf_resampling``'s record) where ``psf`` is a PSF file as
    ``with_layer_psf`` resampled it; else None."""
    from ..core.method import PsfArray

    # a file's, or a PSF layer's (one of the same values as a file's resampled one was not)
    found = _DONE.get(psf) if isinstance(psf, PsfArray) else None
    return found if found and (psf.origin or "source" in found[1]) else None


def record_psf_resampling(layer, psf) -> None:
    """Add ``psf_resampled`` (``psf_resampling``'s: the um resampled from and to, the shapes)
    to result ``layer``'s record where its PSF ``psf`` was resampled (``with_layer_psf``)."""
    from ._channel_psf_scale import channel_records

    found = psf_resampling_of(psf)  # one file per channel: a list, as the CLI records it
    done = found[1] if found is not None else channel_records(psf)
    meta = layer.metadata if isinstance(layer.metadata, dict) else {}
    if done is not None and isinstance(meta.get("microdeblur"), dict):
        layer.metadata = {**meta, "microdeblur": {**meta["microdeblur"], "psf_resampled": done}}


def used_psf_of(build_request):
    """A ``PsfPreview.used_psf`` for a dock whose ``build_request()`` gives the run's request
    (``with_layer_psf`` in it): the PSF file ``source`` as the run takes it on the request's
    image (``RunPsf``: resampled, or cut where as large as the image), and an optics model
    deeper than the stack; else ``source``, also where the request is refused (Run says why)."""
    from ..core.psf_fit import may_be_cut, model_at_stack_depth

    def used(source):
        try:
            req = build_request() if isinstance(source, str) or hasattr(source, "ndim") else None
        except (ValueError, TypeError, OSError):
            return source
        if not isinstance(source, str):  # a PSF layer's array: as the run resamples it
            done = psf_resampling_of(req.method.psf) if req is not None else None
            return req.method.psf if done and "source" in done[1] else source
        psf, shape = req.method.psf, tuple(int(n) for n in req.image.shape)
        if psf == source and (deeper := model_at_stack_depth(req.method, req.axes, shape)):
            return RunPsf(source, deeper, req.axes, shape, req.method.name, req.method)
        resampled = psf_resampling_of(psf) is not None and psf.origin == source
        if not (resampled or (psf == source and is_psf_file(source))):
            return source
        if not may_be_cut(req.method, req.axes, shape):
            # as before: not recomputed where only the scope changed
            return psf if resampled else source
        return RunPsf(source, psf, req.axes, shape, req.method.name, req.method)

    return used


def is_psf_file(source: str) -> bool:
    """Whether ``source`` names a PSF file (not a model, 'estimate' or a PSF per channel)."""
    from ..core.channel_psfs import channel_sources
    from ..core.psf import is_psf_model

    if is_psf_model(source) or is_estimate(source) or channel_sources(source):
        return False
    try:
        return Path(source).is_file()
    except (OSError, ValueError):
        return False


@dataclass(frozen=True)
class RunPsf:
    """A PSF file ``source`` as a run takes it on an image of ``axes`` and ``shape``: ``psf``
    (the file, or its ``with_layer_psf`` resampling; an optics model's at the stack's depth) in
    ``spec``, the run's method (named ``name``), cut to the image where it is as large
    (``_psf_preview.run_psf_preview``). Equal while those are: the preview is computed again
    only when the image or the PSF changes."""

    source: str
    psf: object
    axes: str
    shape: tuple
    name: str
    spec: object = field(compare=False)

