"""The Compare & QC dock's "Whole stack": PSNR and SSIM of every slice along the stack axis
(other slider axes at their current index) computed in a worker and plotted, the plot's marker
following the slider, and the plot dropped once the slider leaves the T (or C) it was computed
at. A mixin of ``_compare.CompareWidget``, whose controls and caches it uses."""

from __future__ import annotations

from ._compare_parts import cache_key as plane_cache_key
from ._compare_parts import (
    marker_at,
    matched_layers,
    off_axis,
    plane_key,
    stack_axis,
    stack_entries,
    stack_summary,
    stale_stack_line,
    truth_scale,
)
from ._feedback import describe_error, notify_error
from ._layers import current_data_index, layer_data
from ._workers import start_worker

BORDER = 16  # pixels excluded at the image border (docs/evaluation.md)


class StackMetricsMixin:
    """``compute_stack`` and its plot; list it before ``WorkerOwnerMixin`` among the bases.
    Needs the dock's ``psnr_plot``, ``ssim_plot``, ``summary_label``, ``border_check``,
    ``truth_combo``, ``match_check``, ``_chosen``, ``region_box``, ``_reference_scale``,
    ``_plane_metrics``, ``_cache``, ``_scale_cache``, ``_matches``, ``_match_lock`` and the
    ``_stack_*`` attributes it sets in ``__init__``."""

    def _stack_job(self):
        """(layers, axis, box, border, entries, worker body) of a whole-stack run."""
        chosen = self._chosen()
        g = chosen["truth"]
        axis = stack_axis(g)
        box = self.region_box(g)
        border = BORDER if (self.border_check.isChecked() and box is None) else 0
        entries = stack_entries(self.viewer, chosen, axis)
        arrays = {role: layer_data(la) for role, la in chosen.items()}
        ref_scale, _ = self._reference_scale(g)
        rgb = bool(g.rgb)
        truth_name = f"the ground-truth layer {g.name!r}"
        match = self.match_check.isChecked()

        def job():
            scale = ref_scale if ref_scale is not None else \
                truth_scale(arrays["truth"], truth_name)
            keyed = [(i, {role: plane_key(at, rgb) for role, at in wheres.items()})
                     for i, wheres in entries]
            references = None
            if match:  # each layer matched, against the ground truth registered onto it
                found = matched_layers(chosen, self._matches, self._match_lock, BORDER)
                arrays.update({role: m["image"] for role, m in found.items()})
                references = {role: m["reference"] for role, m in found.items()}
            results = yield from self._plane_metrics.iter_stack_metrics(
                arrays, scale, keyed, border=border, box=box, rgb=rgb, references=references)
            return results, scale

        return chosen, axis, box, border, entries, job

    def compute_stack(self):
        """Per-slice metrics along Z (other slider axes at their current index), plotted."""
        try:
            chosen, axis, box, border, entries, job = self._stack_job()
        except ValueError as error:
            notify_error(describe_error(error))
            self._show_message(describe_error(error))
            return None
        g = chosen["truth"]
        _, scale_key = self._reference_scale(g)
        self._drop_stack_run()
        self.psnr_plot.clear()
        self.ssim_plot.clear()
        self.stack_results = None
        self._stack_axis_index = axis
        self._stack_at = off_axis(entries[0][1]["truth"], axis)
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
                    self.ssim_plot.append(name, i, result[f"ssim_{name}"], colors[name])
            self._cache[plane_cache_key(chosen, wheres[i], box, border)] = result

        def done(value):
            results, scale = value
            self._scale_cache[scale_key] = scale
            if not self.closed and self._stack_worker is run.get("worker"):
                self._show_stack_summary(results)

        self._stack_worker = run["worker"] = start_worker(
            self, job, yielded=one, returned=done,
            errored=lambda e: notify_error(f"Whole stack: {describe_error(e)}"))
        return self._stack_worker

    def _drop_stack_run(self) -> None:
        if self._stack_worker is not None:
            self._stack_worker.quit()  # stops at its next yield
        self._stack_worker = None

    def _show_stack_summary(self, results: list) -> None:
        self.stack_results = results
        self.summary_label.setText(stack_summary(results))
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
            self.summary_label.setText(stale_stack_line(self._stack_at))
            return
        marker = marker_at(self.viewer, g, axis, index)
        self.psnr_plot.set_marker(marker)
        self.ssim_plot.set_marker(marker)
