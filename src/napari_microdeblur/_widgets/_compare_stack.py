"""The Compare & QC dock's "Whole stack": PSNR and SSIM of every slice along the stack axis
(other slider axes at their current index) computed in a worker and plotted, the plot's marker
following the slider, and the plot dropped once the slider leaves the T (or C) it was computed
at; the summary and plot titles name that T and C. A mixin of ``_compare.CompareWidget``, whose
controls and caches it uses.

A ground truth with a C axis (not RGB) is scaled per channel, as ``microdeblur evaluate``
scores it (``core.channel_metrics``): on one range a bright DAPI channel set the range a dim
GFP one was scored on, 4.5 dB off ``evaluate``'s figure for the same slice."""

from __future__ import annotations

from itertools import groupby

import numpy as np

from ._compare_parts import (
    axis_name,
    marker_at,
    matched_layers,
    matched_words,
    off_axis,
    plane_key,
    stack_axis,
    stack_entries,
    stack_summary,
    truth_scale,
)
from ._compare_parts import cache_key as plane_cache_key
from ._compare_small import scored_border
from ._feedback import describe_error, notify_error
from ._layer_file import file_key_of
from ._layers import current_data_index, layer_axes_origin, layer_data
from ._workers import start_worker

BORDER = 16  # pixels excluded at the image border (docs/evaluation.md)
_FILE_NAMES: dict = {}  # file key -> the channel names its header gives (read once)


def channel_axis(truth) -> int | None:
    """The ground truth's C axis (two channels or more, a slider axis, not RGB), or None; only
    where the axes are stated (a record, the file, axis labels): a C guessed from the shape
    alone (3 leading planes) may be T or Z, whose planes share one range."""
    from ..core.channel_metrics import is_multichannel

    axes, origin = layer_axes_origin(truth)
    if truth.rgb or not origin or len(axes) != truth.ndim or not is_multichannel(
            axes, layer_data(truth).shape):
        return None
    c = axes.index("C")
    return c if c < truth.ndim - 2 else None


def channel_scale(truth, name: str, c_axis: int | None, channel: int | None):
    """((offset, scale), rule or None) of the ground truth's data ``truth``: of its channel
    ``channel`` on axis ``c_axis`` by ``evaluate``'s own rule (``channel_metrics.
    channel_scale``: a constant channel takes the whole truth's range), read in slabs
    (``truth_scale``), else of the whole truth (rule None)."""
    from ..core import channel_metrics

    if c_axis is None or channel is None:
        return truth_scale(truth, name), None
    offset, scale, rule = channel_metrics.channel_scale(
        truth[(slice(None),) * c_axis + (int(channel),)], lambda: truth_scale(truth, name),
        name=f"channel {channel} of {name}", scale_of=truth_scale)
    return (offset, scale), rule


def scale_line(dtype, scale, rule: str | None, channel: str) -> str:
    """The dock's scale line: ``describe_scale`` of a whole truth, else naming the channel."""
    from ..core.plane_metrics import describe_scale

    if rule is None:
        return describe_scale(dtype, *scale)
    return (f"Intensity scale of channel {channel} of the {np.dtype(dtype)} ground truth: "
            f"{rule} (each channel on its own range, as evaluate); data_range 1.")


def file_channel_names(layer) -> list:
    """The channel names in the header of the file ``layer`` was opened from (OME-TIFF,
    ImageJ, Zarr; read once per file, off the GUI thread: OME-XML can be large), or []."""
    key = file_key_of(layer)
    if key is None:
        return []
    if key not in _FILE_NAMES:
        try:
            if key[0].lower().endswith((".tif", ".tiff")):
                from ..core.tiff_header import open_own_image
                from ..core.tiff_metadata import tiff_extras

                with open_own_image(key[0]) as tif:  # a position's file: its own channels
                    extras = tiff_extras(tif)
            else:
                from ..core.io import is_zarr, read_zarr

                extras = read_zarr(key[0]).metadata if is_zarr(key[0]) else {}
        except Exception:  # noqa: BLE001 - an unreadable header: channels go by number
            extras = {}
        _FILE_NAMES[key] = list(extras.get("channel_names") or [])
    return _FILE_NAMES[key]


def channel_words(layers, c_axis: int, channel: int, named: bool = True) -> str:
    """'C 1 (GFP)': the channel's index, and its name where a layer's metadata or file
    (``layers`` in that order) names every channel; 'C 1' without ``named`` (no file read)."""
    from ..core.channel_metrics import channel_names

    text = f"C {channel}"
    if not named:
        return text
    count = int(layer_data(layers[0]).shape[c_axis])
    metas = []
    for layer in layers:
        metas += [layer.metadata if isinstance(layer.metadata, dict) else {},
                  {"channel_names": file_channel_names(layer)}]
    name = channel_names(count, *metas)[channel]
    return text if name == f"C{channel}" else f"{text} ({name})"


def stack_where(labels, layers, axis: int | None, at: tuple, named: bool = True) -> tuple:
    """(the stack axis's name, the indices held fixed: 'T 3, C 1 (GFP)') of a whole-stack
    run along ``axis`` at the truth's (``layers[0]``) other indices ``at``; ``labels``: the
    viewer's axis labels. ('', '') for a 2D image."""
    g = layers[0]
    if axis is None:
        return "", ""
    c_axis = channel_axis(g)
    fixed = [k for k in range(g.ndim - 2) if k != axis]
    parts = [channel_words(layers, k, i, named) if k == c_axis else
             f"{axis_name(g, k, labels)} {i}" for k, i in zip(fixed, at, strict=True)]
    return axis_name(g, axis, labels), ", ".join(parts)


def plotted_layers(chosen: dict) -> str:
    """The layers of a whole-stack run as its stale line names them: "blurry 'a' and
    deblurred 'b' against ground truth 'c'"."""
    compared = [f"{role} {chosen[role].name!r}" for role in ("blurry", "deblurred")
                if role in chosen]
    return f"{' and '.join(compared)} against ground truth {chosen['truth'].name!r}"


def stale_stack_line(drawn: dict, at: tuple, now: str) -> str:
    """What the summary says once the other sliders (T, C: not the stack axis) left the index
    ``at`` a whole-stack plot was computed at: the layers and the slices the plot was of
    (``drawn``: 'layers', 'axis', 'fixed') and where the sliders are ``now`` ('T 0'); the
    old line named bare indices ('index 2 of the other sliders') and no layer."""
    index = ", ".join(str(i) for i in at)
    return (f"the whole-stack plot was of the {drawn['axis']} slices at {drawn['fixed']} "
            f"(index {index} of the other sliders) of {drawn['layers']}; the sliders are now "
            f"at {now}: press Whole stack again to plot the slice shown")


def covered_entries(entries: list, matches) -> list:
    """The ``entries`` whose planes every match's shifted reference covers (``keep``: a Z
    shift uncovers edge planes, which hold copies of an edge plane), as ``microdeblur
    evaluate --match`` scores them; all without ``matches``. Scoring them too had the dock
    say 'mean over 45 slice(s)', 28.82 dB, where evaluate said planes 0-43, 28.70 dB."""
    if not matches:
        return list(entries)

    def covered(wheres) -> bool:
        for role, m in matches.items():
            for k, at in enumerate(wheres[role]):
                s = m["keep"][k]
                if not (s.start or 0) <= at < (at + 1 if s.stop is None else s.stop):
                    return False
        return True

    return [(i, wheres) for i, wheres in entries if covered(wheres)]


class StackMetricsMixin:
    """``compute_stack`` and its plot; list it before ``WorkerOwnerMixin`` among the bases.
    Needs the dock's ``psnr_plot``, ``ssim_plot``, ``summary_label``, ``border_check``,
    ``truth_combo``, ``match_check``, ``_chosen``, ``region_box``, ``_plane_metrics``,
    ``_cache``, ``_scale_cache``, ``_matches``, ``_match_lock``, ``_data_watch`` and the
    ``_stack_*``
    attributes it sets in ``__init__`` (``_stack_drawn``: what the plot is of, for the line
    that says it went stale)."""

    def _truth_scale(self, key: tuple, data, name: str, c_axis, channel, layers) -> tuple:
        """(scale, its line) of the truth's ``data`` (``channel_scale``), cached under ``key``
        (the layer's and its data's ids, its refreshes) and the channel, the line naming the
        channel of ``layers``; called in workers (one dict item set at a time)."""
        key = (*key, channel)
        if key not in self._scale_cache:
            self._scale_cache[key] = channel_scale(data, name, c_axis, channel)
        scale, rule = self._scale_cache[key]
        return scale, scale_line(data.dtype, scale, rule, "" if rule is None else
                                 channel_words(layers, c_axis, channel))

    def _stack_job(self):
        """(layers, axis, box, border, entries, worker body, {entry: its scale line}) of a
        whole-stack run (the lines are filled by the worker before it yields the entries)."""
        chosen = self._chosen()
        g = chosen["truth"]
        axis = stack_axis(g)
        box = self.region_box(g)
        border = scored_border(g, BORDER if (self.border_check.isChecked() and box is None)
                               else 0)  # narrowed on a plane under SSIM's window
        entries = stack_entries(self.viewer, chosen, axis)
        arrays = {role: layer_data(la) for role, la in chosen.items()}
        rgb, c_axis = bool(g.rgb), channel_axis(g)
        key = (id(g), id(arrays["truth"]), self._data_watch.version(g))
        truth_data, lines = arrays["truth"], {}
        truth_name = f"the ground-truth layer {g.name!r}"
        match = self.match_check.isChecked()
        layers = [g] + [la for role, la in chosen.items() if role != "truth"]
        where = (tuple(self.viewer.dims.axis_labels), layers, axis,
                 off_axis(entries[0][1]["truth"], axis))

        def job():
            references, matched = None, ""
            if match:  # each layer matched, against the ground truth registered onto it
                found = matched_layers(chosen, self._matches, self._match_lock, BORDER)
                arrays.update({role: m["image"] for role, m in found.items()})
                references = {role: m["reference"] for role, m in found.items()}
                matched = " " + matched_words(found)
            results = []
            # a stack along C scores each slice on its channel's range: runs of one channel
            for channel, group in groupby(covered_entries(entries, references and found),
                                          key=lambda e: None if c_axis is None
                                          else e[1]["truth"][c_axis]):
                scale, line = self._truth_scale(key, truth_data, truth_name, c_axis, channel,
                                                layers)
                keyed = [(i, {role: plane_key(at, rgb) for role, at in wheres.items()})
                         for i, wheres in group]
                lines.update((i, line + matched) for i, _ in keyed)
                with np.errstate(invalid="ignore"):  # NaN pixels: the summary says so
                    results += yield from self._plane_metrics.iter_stack_metrics(
                        arrays, scale, keyed, border=border, box=box, rgb=rgb,
                        references=references)
            return results, stack_where(*where)

        return chosen, axis, box, border, entries, job, lines

    def compute_stack(self):
        """Per-slice metrics along Z (other slider axes at their current index), plotted."""
        try:
            chosen, axis, box, border, entries, job, lines = self._stack_job()
        except ValueError as error:
            notify_error(describe_error(error))
            self._show_message(describe_error(error))
            return None
        g = chosen["truth"]
        self._drop_stack_run()
        self.psnr_plot.clear()
        self.ssim_plot.clear()
        self.stack_results = None
        self._stack_axis_index = axis
        self._stack_at = off_axis(entries[0][1]["truth"], axis)
        layers = [g] + [la for role, la in chosen.items() if role != "truth"]
        where = stack_where(self.viewer.dims.axis_labels, layers, axis, self._stack_at,
                            named=False)  # channel names: read in the job
        self._title_plots(*where)
        self._stack_drawn = {"layers": plotted_layers(chosen), "axis": where[0],
                             "fixed": where[1]}
        colors = {"blurry": "#ffb74d", "deblurred": "#4fc3f7"}
        wheres = dict(entries)

        run = {}  # this run's worker: results of a run dropped since are not shown

        def one(value):
            i, result = value
            if self.closed or self._stack_worker is not run.get("worker"):
                return
            for name in ("blurry", "deblurred"):
                if f"psnr_{name}" in result:
                    self.psnr_plot.append(name, i, result[f"psnr_{name}"], colors[name])
                    if result[f"ssim_{name}"] is not None:  # None: under SSIM's window
                        self.ssim_plot.append(name, i, result[f"ssim_{name}"], colors[name])
            # with its scale line: a slice served from the cache shows the line of its channel
            key = plane_cache_key(chosen, wheres[i], box, border, self._data_watch.version)
            self._cache[key] = result, lines.get(i)

        def done(value):
            results, where = value
            if not self.closed and self._stack_worker is run.get("worker"):
                self._title_plots(*where)
                self._stack_drawn.update(axis=where[0], fixed=where[1])
                self._show_stack_summary(results, *where)

        self._stack_worker = run["worker"] = start_worker(
            self, job, yielded=one, returned=done,
            errored=lambda e: notify_error(f"Whole stack: {describe_error(e)}"))
        return self._stack_worker

    def _title_plots(self, axis: str = "", fixed: str = "") -> None:
        """Plot titles and x label naming the stack axis and the indices held fixed ('PSNR
        (dB) per Z slice at T 3, C 1 (GFP)'): 'per slice' alone did not say which T or C."""
        per = (f"per {axis} slice" if axis else "per slice") + (f" at {fixed}" if fixed else "")
        for plot, what in ((self.psnr_plot, "PSNR (dB)"), (self.ssim_plot, "SSIM")):
            plot.title, plot.xlabel = f"{what} {per}", axis or "slice"
            plot.update()

    def _drop_stack_run(self) -> None:
        if self._stack_worker is not None:
            self._stack_worker.quit()  # stops at its next yield
        self._stack_worker = None

    def _show_stack_summary(self, results: list, axis: str = "", fixed: str = "") -> None:
        self.stack_results = results
        where = (f" of {axis}" if axis else "") + (f" at {fixed}" if fixed else "")
        self.summary_label.setText(stack_summary(results, where))
        self._mark_current_slice()  # after: a plot gone stale says so in the summary

    def _mark_current_slice(self) -> None:
        axis = self._stack_axis_index
        g = self.truth_combo.value
        if axis is None or g is None or not self.psnr_plot.series:
            return
        index = current_data_index(self.viewer, g)
        if off_axis(index[: g.ndim - 2], axis) != self._stack_at:
            # the slider left the T (or C) the plot was computed at: its curve is not of the
            # slices shown, and its marker would say it is
            self._drop_stack_run()
            self.psnr_plot.clear()
            self.ssim_plot.clear()
            self.stack_results = None
            self._title_plots()
            now = stack_where(self.viewer.dims.axis_labels, [g], axis,
                              off_axis(index[: g.ndim - 2], axis), named=False)[1]
            self.summary_label.setText(stale_stack_line(self._stack_drawn, self._stack_at,
                                                        now))
            return
        marker = marker_at(self.viewer, g, axis, index)
        self.psnr_plot.set_marker(marker)
        self.ssim_plot.set_marker(marker)
