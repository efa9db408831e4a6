"""One PSF file per channel ('A.tif;B.tif') on a Deblur dock layer, resampled to the layer's
voxels as ``microdeblur deblur`` resamples it (``core.psf_scale.channel_resampling``): the dock
had run each file as it was, where the CLI resamples each to the image (a 0.05 um PSF on
0.1 um pixels).

The dock's run takes the PSF text 'A;B' from its request (``_jobs``: each channel prepared by
``spec.replace(psf=part)``), so the resampled PSFs travel in the request's spec: the text is
kept (``ChannelPsfText``, a ``str`` holding each channel's PSF and record) in a spec that
gives a channel's resampled PSF where a channel's source is put in its place
(``ChannelResampledSpec``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..core.method import MethodSpec, PsfArray

_CACHE: dict = {}  # (files, sizes, axes, shape, spec, image) -> ChannelPsfText or None, last 4


class ChannelPsfText(str):
    """The per-channel PSF text as typed, with ``psfs`` (each channel's PSF as its run takes
    it: a PsfArray where resampled, else its source), ``records`` (each channel's
    ``psf_resampling`` record, None where not resampled) and ``line`` (the CLI's line)."""

    psfs: tuple = ()
    records: tuple = ()
    line: str = ""

    def by_part(self) -> dict:
        from ..core.channel_psfs import channel_sources

        return dict(zip(channel_sources(str(self)) or [], self.psfs, strict=False))


@dataclasses.dataclass(frozen=True)
class ChannelResampledSpec(MethodSpec):
    """A ``MethodSpec`` whose psf is a ``ChannelPsfText``: ``replace(psf=SOURCE)`` with one
    channel's source gives a plain spec with that channel's PSF as its run takes it (resampled),
    as the core prepares each channel and the dock runs a slice of one channel."""

    def replace(self, **changes) -> MethodSpec:
        psf = changes.get("psf", self.psf)
        if isinstance(psf, ChannelPsfText):
            return dataclasses.replace(self, **changes)
        if isinstance(psf, str) and isinstance(self.psf, ChannelPsfText):
            changes["psf"] = self.psf.by_part().get(psf, psf)
        kept = {f.name: getattr(self, f.name) for f in dataclasses.fields(MethodSpec)}
        return MethodSpec(**{**kept, **changes})


def _files_key(parts) -> tuple | None:
    """Each part's file, size and time (a part that is no file: itself); None on an error."""
    key = []
    for part in parts:
        try:
            path = Path(part)
            if path.is_file():
                stat = path.stat()
                key.append((str(path.resolve()), stat.st_size, stat.st_mtime_ns))
                continue
        except (OSError, ValueError):
            return None
        key.append(part)
    return tuple(key)


def per_channel(psf) -> list[str] | None:
    """The sources of a PSF per channel ('A;B'), else None (also for a text the run refuses,
    such as an empty channel: Run says what is wrong with it)."""
    from ..core.channel_psfs import channel_sources

    try:
        return channel_sources(psf)
    except ValueError:
        return None


def with_channel_psfs(req, sizes: dict, origins: dict, layer, done: dict):
    """``req`` (a ``DeblurRequest`` on image ``layer`` with a PSF per channel) with each
    channel's PSF file that states voxels more than 5 % off ``sizes`` (the layer's pixel
    size, from ``origins``) resampled to them (``channel_resampling``, Z only for a channel
    whose run is 3D); else ``req``. A slice of one channel (C of 1) is judged as the layer's
    channels. Each PSF resampled goes into ``done`` (``_psf_checks``'s: PsfArray -> (line,
    record)). Kept while the files and the layer are the same: Run and the preview ask again
    and again."""
    from ..core.psf_scale import channel_resampling
    from ._psf_sources import said_where

    parts = per_channel(req.method.psf)
    key_files = _files_key(parts) if parts and sizes else None
    if key_files is None or not isinstance(req.method, MethodSpec):
        return req
    image = said_where(layer, origins)
    shape = [int(n) for n in req.image.shape]
    if "C" in req.axes and len(shape) == len(req.axes) and shape[req.axes.index("C")] == 1:
        shape[req.axes.index("C")] = len(parts)  # a slice of one channel: its channel's PSF
    fields = {f.name: getattr(req.method, f.name) for f in dataclasses.fields(MethodSpec)}
    spec = MethodSpec(**{**fields, "psf": str(req.method.psf)})  # as typed, a plain spec
    key = (key_files, tuple(sorted(sizes.items())), req.axes, tuple(shape), spec, image)
    if key not in _CACHE:
        psfs, line, records = channel_resampling(spec, sizes, req.axes, shape, image=image)
        text = None
        if psfs is not None:
            text = ChannelPsfText(spec.psf)
            text.psfs, text.records, text.line = tuple(psfs), tuple(records), line or ""
            lines = _channel_lines(text.line, req.axes, len(psfs))
            done.update({p: (lines[i], r) for i, (p, r) in enumerate(zip(psfs, records,
                                                                          strict=True)) if r})
        _CACHE[key] = text
        while len(_CACHE) > 4:
            del _CACHE[next(iter(_CACHE))]
    text = _CACHE[key]
    if text is None:
        return req
    return dataclasses.replace(req, method=ChannelResampledSpec(**{**fields, "psf": text}))


def _channel_lines(line: str, axes: str, count: int) -> list[str]:
    """Each channel's own line out of ``channel_resampling``'s ('channel 1: ...; channel 2:
    ...'), without its label: what one PSF file resampled says ('' where none)."""
    from ..core.channel_psfs import part_label

    labels = [f"{part_label(axes, i)}: " for i in range(count)]
    starts = sorted((line.find(label), i) for i, label in enumerate(labels)
                    if line.startswith(label) or f"; {label}" in line)
    out = [""] * count
    for (start, i), (end, _) in zip(starts, [*starts[1:], (len(line) + 2, None)], strict=True):
        out[i] = line[start + len(labels[i]):end - 2]
    return out


def channel_records(psf) -> list | None:
    """Each channel's ``psf_resampling`` record (None: not resampled) where ``psf`` is a PSF per
    channel ``with_channel_psfs`` resampled, as ``microdeblur deblur`` records
    ``psf_resampled``; else None."""
    if isinstance(psf, ChannelPsfText) and any(psf.records):
        return list(psf.records)
    return None


def channel_used(psf, index: int):
    """Channel ``index``'s PSF as its run takes it where resampled (a PsfArray whose line and
    record ``_psf_checks.psf_resampling_of`` gives): of a ``ChannelPsfText``, or ``psf``
    itself where a slice of one channel runs with it; else None. For the dock's warning, which
    should say 'resampled' as the CLI does, not 'measure it ... or resample it'."""
    if isinstance(psf, PsfArray):
        return psf
    if isinstance(psf, ChannelPsfText) and 0 <= index < len(psf.psfs):
        used = psf.psfs[index]
        return used if isinstance(used, PsfArray) else None
    return None


def channels_apart(req, shape=None) -> bool:
    """Whether ``req``'s one PSF runs each channel of an image of ``shape`` (None: its own)
    as a deblur of its own, as ``deblur()`` and ``microdeblur deblur`` run it: each channel
    finds its own 'auto' iterations or balance (``core.image_settings.auto_per_channel``).
    The dock had settled channel 1's for all (a noisier channel's balance on a clean one).
    Never for a network of this session, which runs as it is."""
    from ..core.image_settings import auto_per_channel

    shape = tuple(int(n) for n in (req.image.shape if shape is None else shape))
    return req.network is None and auto_per_channel(req.method, req.axes, shape)
