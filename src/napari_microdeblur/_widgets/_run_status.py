"""The Deblur dock's status lines for a run: the line when it starts and the line when its
layer is added. Both name the axes it runs with, the part of the layer it takes and what
happens to an alpha channel; the last line also says why 'auto' ran its blind network, since
the dock keeps only its last line, which ``ResultLine`` amends once the result is removed."""

from __future__ import annotations

import weakref

from ._jobs import DeblurRequest, DeblurRun, planned_label, removed_note
from ._layer_data import fixed_indices
from ._layers import unwrap


def run_line(req: DeblurRequest) -> str:
    """What a started run does, with the axes it takes (a guess may be wrong) and, for a
    layer with alpha (RGBA, gray + alpha), what happens to the alpha. The name is quoted: a
    layer name may hold a newline, and the line stays one line."""
    return (f"deblurring {req.source_name!r} (axes {req.axes}{part_note(req)}) with "
            f"{planned_label(req)}...{alpha_note(req)}")


def alpha_note(req: DeblurRequest) -> str:
    """' <note>' for a layer with alpha (RGBA, gray + alpha), else ''."""
    from ..core.axes import is_gray_alpha, is_rgba
    from ..core.inference import ALPHA_NOTE, GRAY_ALPHA_NOTE

    if is_rgba(req.axes, req.image.shape):
        return f" {ALPHA_NOTE}"
    return f" {GRAY_ALPHA_NOTE}" if is_gray_alpha(req.axes, req.image.shape) else ""


def part_note(req: DeblurRequest) -> str:
    """Which part of the layer a run takes, when not all of it: a pyramid's full-resolution
    level (the levels napari shows when zoomed out are not deblurred), and for a slice or
    crop the index of each axis it fixes (e.g. 'current slice T=1, Z=2')."""
    note = ""
    levels = req.placement.get("levels", 1)
    if levels > 1:
        note += f", full-resolution level of {levels}"
    if req.scope != "whole stack":
        fixed = fixed_indices(req)
        note += f", {req.scope}" + (f" {', '.join(fixed)}" if fixed else "")
    return note


def done_line(run: DeblurRun, warning: str = "") -> str:
    """The line once ``run``'s layer is added: where and how it ran, the classical setting it
    found on the image, and the start line's notes (axes, part, alpha), which it replaces;
    then why 'auto' ran its blind network, a 3D PSF a 2D network took one plane of, a removed
    input and ``warning`` (PSF scale)."""
    req, meta = run.req, run.layer.metadata["microdeblur"]
    # the classical setting that ran: with 'auto' it was found on the image just now
    params = meta.get("parameters") or {}
    # one PSF per channel: each channel's own setting, in channel order
    each = params.get("channels") or [params]
    setting = ""
    if all("iterations" in p for p in each):
        setting += f", {'/'.join(str(p['iterations']) for p in each)} iterations"
    if all("balance" in p for p in each):
        setting += f", balance {'/'.join(format(p['balance'], '.3g') for p in each)}"
    head = (f"added {run.layer.name!r} in {meta['seconds']:.1f} s on {meta['device']} "
            f"(axes {req.axes}{part_note(req)}, tile {meta['tile']}, overlap "
            f"{meta['overlap']}{setting})")
    tail = f"{fallback_note(run)}{in_focus_note(run)}{removed_note(run)}{warning}"
    warned, alpha = warnings_note(run, head + tail), alpha_note(req)
    # the core warns the alpha note too: said once, among the warnings (it was said twice)
    return head + ("" if alpha.strip() and alpha.strip() in warned else alpha) + tail + warned


def warnings_note(run: DeblurRun, shown: str = "") -> str:
    """'; warned: ...' with the first line of each warning the run raised (each was also a
    notification), but for what the line says already: why 'auto' ran its blind network
    (``fallback_note``), the in-focus plane of a 3D PSF (``in_focus_note``) and any warning
    found word for word in ``shown``, the line before it (an RGBA layer's alpha note was
    said twice: once from the start line, again after 'warned:')."""
    said = run.outcome.fallback if run.outcome is not None else ""
    in_focus = bool(in_focus_note(run))
    lines = [line for line in run.warnings if not (said and line in said)
             and not (in_focus and "in-focus plane" in line) and line not in shown]
    return f"; warned: {' | '.join(lines)}" if lines else ""


def fallback_note(run: DeblurRun) -> str:
    """What a dock adds to its status when 'auto' ran its blind network: the core's line on
    why (the layer's record keeps it as 'fallback')."""
    why = run.outcome.fallback if run.outcome is not None else ""
    return f"; {why}" if why else ""


def in_focus_note(run: DeblurRun) -> str:
    """'; ...' where a 2D PSF-aware network ran with a 3D PSF: every plane was deblurred with
    the PSF's in-focus plane only (the core warns so in the worker, which the dock's line did
    not say; the record has it in ``parameters['psf']``). A PSF per channel: each channel's."""
    from ..core.channel_psfs import channel_sources

    if run.outcome is None:
        return ""
    req, params = run.req, run.outcome.result.parameters
    parts, entries = channel_sources(req.method.psf), params.get("channels")
    if parts and isinstance(entries, list) and len(entries) == len(parts):
        pairs = list(zip(parts, entries))
    else:
        pairs = [(req.method.psf, params)]
    found = []
    for i, (psf, entry) in enumerate(pairs):
        # a PSF-aware network records its card and PSF; classical and blind runs do not both
        plane = in_focus_of(req.method.replace(psf=psf)) if {"card", "psf"} <= set(entry) \
            else None
        if plane is not None:
            found.append((f"channel {i + 1} " if len(pairs) > 1 else "") + plane)
    if not found:
        return ""
    if "Z" not in req.axes:  # richardson_lucy and wiener refuse a 3D PSF on a 2D image
        return (f"; 3D PSF reduced to its in-focus plane ({', '.join(found)}): "
                f"{run.outcome.label} is a 2D network and the image is 2D (a 3D PSF is for "
                "z-stacks: give a 2D PSF)")
    return (f"; 3D PSF reduced to its in-focus plane ({', '.join(found)}) for every plane: "
            f"{run.outcome.label} is a 2D network (richardson_lucy and wiener deconvolve in 3D)")


def in_focus_of(spec) -> str | None:
    """'z=2 of 5' for the in-focus plane of ``spec``'s PSF where it has several planes, else
    None (2D, estimated, unreadable: the run said what it could not read)."""
    from ..core.psf_shape import in_focus_words

    try:
        kernel = spec.psf_kernel()  # a model is cached; a PSF file is small
    except (ValueError, OSError):
        return None
    return None if kernel is None else in_focus_words(kernel)


class ResultLine:
    """The dock's status label showing ``done_line``, amended once the result layer it names
    is removed: it went on saying "added 'NAME' ..." of a layer no longer in the viewer. The
    dock calls ``show(run, line)`` instead of setting the line, and ``release()`` when closed."""

    def __init__(self, label) -> None:
        self._label = label
        self._viewer = self._layer = None
        self._line = ""

    def show(self, run: DeblurRun, line: str) -> None:
        self.release()
        self._label.setText(line)
        if run.layer is None:
            return
        self._viewer, self._layer, self._line = run.viewer, weakref.ref(unwrap(run.layer)), line
        self._viewer.layers.events.removed.connect(self._removed)

    def _removed(self, event=None) -> None:
        layer = self._layer() if self._layer is not None else None
        if layer is None or unwrap(getattr(event, "value", None)) is not layer:
            return
        try:
            if self._label.text() == self._line:  # not once another line replaced it
                self._label.setText(f"the last result, {layer.name!r}, was removed")
        except RuntimeError:  # the label was deleted with its dock
            pass
        self.release()

    def release(self) -> None:
        if self._viewer is not None:
            try:
                self._viewer.layers.events.removed.disconnect(self._removed)
            except (TypeError, ValueError, RuntimeError):
                pass
        self._viewer = self._layer = None
