"""The Focus QC dock's threshold: the count of units below it, the soft-tile outlines (tiles)
or the per-slice plot (slices) that follow it, and its calibration on a known-good layer
(scored like the image in a worker, background tiles left out). A mixin of
``_focus.FocusWidget``, whose controls, scores and settings it uses."""

from __future__ import annotations

import numpy as np

from ._feedback import describe_error, notify_error, notify_warning
from ._focus_data import (
    Calibration,
    calibration_change,
    counted,
    default_threshold,
    headers_unread,
    pixel_size_note,
    refuse_rgba,
)
from ._focus_views import show_slice_plot
from ._layers import check_image_layer, guess_layer_axes, layer_data
from ._workers import start_worker


class ThresholdMixin:
    """``set_threshold``, ``soft_mask``, ``update_threshold_view`` and ``calibrate``; list it
    before ``WorkerOwnerMixin`` among the bases. Needs the dock's ``threshold_spin`` and its
    ``_threshold_timer``, ``count_label``, ``plot``, ``overlays``, ``status_label``,
    ``good_combo``, ``percentile_spin``, ``tile_spin``, ``camera_offset``, ``calibration_reads``,
    ``image``, ``scores``, ``structure``, ``calibration`` (a ``Calibration`` or None),
    ``_auto_threshold``, ``unit``, ``score_settings``, ``scores_fresh``, ``_structure_job``,
    ``_refuse`` and the core modules it holds (``_focus``, ``_selective``)."""

    def set_threshold(self, value: float) -> None:
        """Set the threshold and update the count, outlines and plot at once."""
        self.threshold_spin.setValue(float(value))
        self._auto_threshold = False  # the user's, even where the value did not change
        self.calibration = None
        self._threshold_timer.stop()
        self.update_threshold_view()

    def _threshold_changed(self, *_) -> None:
        self._auto_threshold = False  # the user's (typed, stepped or calibrated) from now on
        self.calibration = None  # a calibration sets it quietly: a change here was typed
        self._threshold_timer.start()

    def _set_quietly(self, value: float) -> None:
        self.threshold_spin.blockSignals(True)  # not the user's typing
        self.threshold_spin.setValue(float(value))
        self.threshold_spin.blockSignals(False)

    def threshold_for_scores(self, tile: int | None, camera_offset: float) -> str:
        """Set the threshold for the scores just kept and return what the status line says
        of it: a typed one stays; a calibration applies only to scores of its unit, tile and
        camera offset, else (and with neither) half the median score is used and said."""
        cal = self.calibration
        unit = "tiles" if tile else "slices"
        change = calibration_change(cal, unit, tile, camera_offset) if cal else ""
        if cal is not None and not change and cal.threshold > 0:
            self._set_quietly(cal.threshold)  # again after a score with other settings
            self._auto_threshold = False
            return f"; threshold {cal.threshold:.4g}: calibrated on {cal.layer!r}"
        if cal is None and not self._auto_threshold and self.threshold > 0:
            return ""  # typed: the user's
        # a stale calibration is kept for when the settings match again, not applied: its
        # count and outlines would call in-focus tiles soft, and Deblur would deblur them
        self._set_quietly(default_threshold(self.scores[self.structure]))
        self._auto_threshold = True
        note = f"; threshold {self.threshold:.4g}: half the median score (automatic)"
        if change:
            note += (f", not the {cal.threshold:.4g} calibrated on {cal.layer!r} {change}: "
                     "calibrate again")
        return note

    @property
    def threshold(self) -> float:
        return float(self.threshold_spin.value())

    def soft_mask(self) -> np.ndarray | None:
        """The units below the threshold, tiles without structure left out."""
        if not self.scores_fresh():
            return None
        return self._selective.select_below(self.scores, self.threshold) & self.structure

    def _blank_note(self) -> str:
        """'' or what the status and count say of the tiles left out for lack of structure."""
        blank = int(self.structure.size - self.structure.sum()) if self.scores is not None else 0
        if not blank:
            return ""
        per_tile = self._score_key is not None and self._score_key[4] is not None  # key: tile
        unit = "tile" if per_tile else "slice"
        return f" ({counted(blank, unit)} of background noise only, left out)"

    def update_threshold_view(self) -> None:
        """Count label, soft-tile outlines (tiles) or the plot (slices) for the threshold."""
        if self.closed:
            return
        mask = self.soft_mask()
        if mask is None:
            self.count_label.setText(
                "not scored yet: press Score" if self.scores is None
                else "layer, its data or settings changed: press Score again"
            )
            return
        self.count_label.setText(
            f"{int(mask.sum())} of {mask.size} {self.unit} below threshold {self.threshold:.4g}"
            + self._blank_note())
        layer, axes, tile = self.score_settings()
        if tile:
            self.overlays.show_outlines(layer, axes, tile, mask, self.threshold,
                                        self._selective.tile_box)
        else:
            self._show_plot(layer, axes, mask)

    def _show_plot(self, layer, axes: str, mask) -> None:
        show_slice_plot(self.plot, self.viewer, layer, axes, self._selective.score_axes(axes),
                        self.scores, mask, self.threshold)

    def _on_dims(self, event=None) -> None:
        if self.closed or self.unit != "slices" or not self.plot.series:
            return
        mask = self.soft_mask()
        if mask is not None:
            layer, axes, _ = self.score_settings()
            self._show_plot(layer, axes, mask)

    # ------------------------------------------------------------------ calibration

    def calibrate(self):
        """Score the known-good layer like the image (same tiles, or per slice) and set the
        threshold to the chosen percentile of its scores. The layers' file headers (the good
        layer's axes, both layers' pixel sizes) are read in a worker (``HeaderReads``), never
        on the GUI thread: the scoring starts once they are in. Returns the scoring worker
        when it started at once; None when refused or waiting for a header."""
        good = self.good_combo.value
        try:
            check_image_layer(good, "known-good")
        except (ValueError, TypeError) as error:
            self._refuse(error)
            return None
        started = []
        reads = self.calibration_reads

        def update():
            started.append(self._calibrate_on(good))

        # again within a run when the headers arrive: a header missed meanwhile (another
        # image layer chosen) is read in the background too
        reads.run(update, good, refresh=lambda: reads.run(update, good))
        return started[0] if started else None

    def _calibrate_on(self, good):
        """``calibrate`` once the headers it needs are read (else a status that says so)."""
        axes = guess_layer_axes(good)
        try:
            layer, layer_axes = self.image.checked()
            # another pixel size is warned about, not refused: the user may know better
            note = pixel_size_note(layer, layer_axes, good, axes)
        except ValueError:  # no usable image layer: no pixel size to compare with
            layer, note = None, ""
        if headers_unread(good, layer):
            self.status_label.setText(
                f"reading the file header of {good.name!r} (its axes and pixel size) in the "
                "background; the calibration starts when it is in")
            return None
        try:
            refuse_rgba(good, axes)
            tile = int(self.tile_spin.value()) if self.unit == "tiles" else None
            gen = self._focus.iter_focus_scores(layer_data(good), axes=axes, tile=tile,
                                                camera_offset=self.camera_offset)
        except (ValueError, TypeError) as error:
            self._refuse(error)
            return None
        structure_of = self._structure_job(layer_data(good), axes, tile)
        percentile = float(self.percentile_spin.value())
        calibrate_threshold = self._focus.calibrate_threshold
        # said: a threshold holds only for scores with the same offset subtracted
        offset = f" less camera offset {self.camera_offset:g}" if self.camera_offset else ""
        settings = (self.unit, tile, self.camera_offset)  # as scored, for the Score to compare

        def job():
            scores = np.asarray((yield from structure_of(gen, 0)))
            structure = yield from structure_of(None, 1)
            # a sparse layer's background tiles score their noise: calibrated on with the
            # cells, they put the threshold among the background (none of the blurred cells
            # fell below it)
            kept = scores if structure is None else scores[structure]
            if kept.size == 0:
                raise ValueError(f"no tile of {good.name!r} holds structure above its "
                                 "background noise; calibrate on an in-focus layer with content")
            return (calibrate_threshold(kept, percentile=percentile), kept.size,
                    scores.size - kept.size)

        def done(value):
            threshold, n, blank = value
            if self.closed:
                return
            self.set_threshold(threshold)
            self.calibration = Calibration(float(threshold), good.name, *settings)
            what = f"{counted(n, 'tile score')} ({tile} px)" if tile else \
                counted(n, "slice score")
            left = f", {counted(blank, 'background tile')} left out" if blank else ""
            self.status_label.setText(
                f"threshold {threshold:.4g}: percentile {percentile:g} of {what} of "
                f"{good.name!r}{offset}{left}" + (f"; note: {note}" if note else "")
            )
            if note:
                notify_warning(f"Calibration: {note}")

        def failed(error):
            message = f"Calibration on {good.name!r} failed: {describe_error(error)}"
            notify_error(message)
            if not self.closed:  # the notification goes away; the status line stays
                self.status_label.setText(message)

        return start_worker(self, job, returned=done, errored=failed)
