"""The Focus QC dock's threshold: the count of units below it, the soft-tile outlines (tiles)
or the per-slice plot (slices) that follow it, and its calibration on a known-good layer
(scored like the image in a worker, background tiles and those of faint structure scoring as
noise left out: ``core.focus_calibration``). A mixin of ``_focus.FocusWidget``, whose
controls, scores and settings it uses."""

from __future__ import annotations

import weakref

import numpy as np

from ..core.focus_calibration import iter_good_units, noise_note
from ._feedback import describe_error, notify_error, notify_warning
from ._focus_channels import (
    auto_thresholds,
    below,
    calibrated_thresholds,
    channel_axis,
    counts_words,
    for_core,
    listed,
    per_channel_layer,
    sharpest_words,
)
from ._focus_data import (
    NO_STRUCTURE,
    Calibration,
    calibration_change,
    counted,
    default_threshold,
    headers_unread,
    pixel_size_note,
    refuse_rgba,
)
from ._focus_views import show_slice_plot, show_time_plot
from ._layer_data import layer_yx
from ._layers import (
    check_image_layer,
    current_data_index,
    guess_layer_axes,
    is_image_layer,
    layer_data,
    made_here,
    reference_rank,
    unwrap,
)
from ._workers import start_worker


class ThresholdMixin:
    """``set_threshold``, ``soft_mask``, ``update_threshold_view`` and ``calibrate``; list it
    before ``WorkerOwnerMixin`` among the bases. Needs the dock's ``threshold_spin`` and its
    ``_threshold_timer``, ``count_label``, ``plot``, ``overlays``, ``status_label``,
    ``good_combo``, ``percentile_spin``, ``tile_spin``, ``camera_offset``, ``calibration_reads``,
    ``image``, ``scores``, ``structure``, ``calibration`` (a ``Calibration`` or None),
    ``_auto_threshold``, ``unit``, ``score_settings``, ``scores_fresh``, ``_refuse`` and the
    core modules it holds (``_focus``, ``_selective``)."""

    def set_threshold(self, value: float) -> None:
        """Set the threshold and update the count, outlines and plot at once."""
        self.threshold_spin.setValue(float(value))
        self._auto_threshold = False  # the user's, even where the value did not change
        self.calibration = None
        self.channel_thresholds = None  # one value for all channels
        self._threshold_timer.stop()
        self.update_threshold_view()

    def _threshold_changed(self, *_) -> None:
        self._auto_threshold = False  # the user's (typed, stepped or calibrated) from now on
        self.calibration = None  # a calibration sets it quietly: a change here was typed
        self.channel_thresholds = None  # typed: one value for all channels (said)
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
        axis = self._channel_axis()
        self.channel_thresholds = None
        if cal is not None and not change and cal.threshold > 0:
            self._set_quietly(cal.threshold)  # again after a score with other settings
            self._auto_threshold = False
            if cal.thresholds is not None and axis is not None \
                    and len(cal.thresholds) == self.scores.shape[axis]:
                self._use_channels(cal.thresholds, f"calibrated on {cal.layer!r}")
                return (f"; thresholds per channel, calibrated on {cal.layer!r}: "
                        f"{listed(cal.thresholds)}")
            return (f"; threshold {cal.threshold:.4g}: calibrated on {cal.layer!r}"
                    + self._one_for_all(axis))
        if cal is None and not self._auto_threshold and self.threshold > 0:
            return self._one_for_all(axis)  # typed: the user's
        # a stale calibration is kept for when the settings match again, not applied: its
        # count and outlines would call in-focus tiles soft, and Deblur would deblur them
        self._auto_threshold = True
        if not self.structure.any():  # no score to halve: 'threshold 0 ... (automatic)' was said
            self._set_quietly(0.0)
            return (f"; no automatic threshold: no {unit[:-1]} holds structure ({NO_STRUCTURE}),"
                    " nothing to deblur")
        if axis is not None:  # channels score on their own levels: pooled, one judged neither
            values = auto_thresholds(self.scores, self.structure, axis)
            self._use_channels(values, "half the median score of each channel (automatic)")
            note = ("; thresholds per channel, half the median score of each channel "
                    f"(automatic): {listed(values)}")
        else:
            self._set_quietly(default_threshold(self.scores[self.structure]))
            note = f"; threshold {self.threshold:.4g}: half the median score (automatic)"
        if change:
            note += (f", not the {cal.threshold:.4g} calibrated on {cal.layer!r} {change}: "
                     "calibrate again")
        return note

    def threshold_origin(self) -> str:
        """Where the threshold came from, as a deblur's record keeps it (``threshold_from``)."""
        cal = self.calibration
        if self._auto_threshold:
            return "Focus QC, automatic: half the median score of the units with structure"
        if cal is not None:  # applied: a stale one leaves the automatic threshold
            return f"Focus QC, calibrated: {cal.how or repr(cal.layer)}"
        return "Focus QC, typed"

    @property
    def threshold(self) -> float:
        """The threshold shown: with per-channel thresholds, the current channel's."""
        return float(self.threshold_spin.value())

    # ------------------------------------------------------------------ channels

    def _channel_axis(self) -> int | None:
        """Index of C among the scores' axes (None: no C axis, or nothing scored)."""
        if self._score_key is None:
            return None
        axes = self._score_key[3]
        return channel_axis(axes, self._selective.score_axes(axes))

    def _use_channels(self, values, how: str) -> None:
        self.channel_thresholds = np.asarray(values, dtype=np.float64)
        self._channel_how = how
        self._show_channel_threshold()

    def _show_channel_threshold(self) -> None:
        """Put the current channel's threshold in the spin box (quietly: not typed)."""
        if self.channel_thresholds is None:
            return
        c = 0
        try:
            layer, axes, _ = self.score_settings()
            lay_axes, _, _ = layer_yx(layer, axes)
            c = int(current_data_index(self.viewer, layer)[lay_axes.index("C")])
        except (ValueError, IndexError):  # no layer or no C axis any more: the first
            pass
        self._set_quietly(self.channel_thresholds[min(max(c, 0), self.channel_thresholds.size - 1)])

    def _one_for_all(self, axis: int | None) -> str:
        if axis is None:
            return ""
        n = self.scores.shape[axis]
        return (f"; one threshold {self.threshold:.4g} for all {n} channels (typed or "
                "calibrated on one channel; channels score on their own levels)")

    def selection_for_core(self, make_layer):
        """(scores, threshold, layer maker) for the deblur: per-channel thresholds reach
        ``core.selective``'s single threshold as scores of the selected units only."""
        scores = np.where(self.structure, self.scores, np.nan)
        if self.channel_thresholds is None:
            return scores, self.threshold, make_layer
        scores, threshold = for_core(self.scores, self.soft_mask())
        return scores, threshold, per_channel_layer(make_layer, self.channel_thresholds,
                                                    self._channel_how)

    def sharpest_line(self, loop: str, default: str) -> str:
        """The status's sharpest slice: one per channel where there is a C axis."""
        axis = self._channel_axis()
        return default if axis is None else \
            sharpest_words(self.scores, self.structure, loop, axis)

    def soft_mask(self) -> np.ndarray | None:
        """The units below the threshold (their channel's, if per channel), tiles without
        structure left out."""
        if not self.scores_fresh():
            return None
        axis = self._channel_axis()
        if self.channel_thresholds is not None and axis is not None:
            return below(self.scores, self.structure, self.channel_thresholds, axis)
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
        axis = self._channel_axis()
        if self.channel_thresholds is not None and axis is not None:
            count = counts_words(mask, self.channel_thresholds, axis, self.unit)
        else:
            count = (f"{int(mask.sum())} of {mask.size} {self.unit} below threshold "
                     f"{self.threshold:.4g}" + (" (all channels)" if axis is not None else ""))
        self.count_label.setText(count + self._blank_note())
        layer, axes, tile = self.score_settings()
        if tile:
            self.time_plot.setVisible(False)
            self.overlays.show_outlines(layer, axes, tile, mask, self.threshold,
                                        self._selective.tile_box)
        else:
            self._show_plot(layer, axes, mask)

    def _show_plot(self, layer, axes: str, mask) -> None:
        loop = self._selective.score_axes(axes)
        show_slice_plot(self.plot, self.viewer, layer, axes, loop, self.scores, mask,
                        self.threshold)
        show_time_plot(self.time_plot, self.viewer, layer, axes, loop, self.scores, mask,
                       self.structure, self.threshold)

    def _on_dims(self, event=None) -> None:
        if self.closed:
            return
        if self.channel_thresholds is not None and self.scores_fresh():
            self._show_channel_threshold()  # the spin box shows the current channel's
        if self.unit != "slices" or not self.plot.series:
            return
        mask = self.soft_mask()
        if mask is not None:
            layer, axes, _ = self.score_settings()
            self._show_plot(layer, axes, mask)

    # ------------------------------------------------------------------ calibration

    def connect_good_combo(self) -> None:
        """Preselect a sharp reference in the Good layer box now and as layers come, until
        the user picks in it (``preselect_good``)."""
        self._good_picked = False
        self._good_auto = None  # weak reference to the layer the box took by itself
        self.good_combo.activated.connect(self._good_was_picked)
        self.viewer.layers.events.inserted.connect(self.preselect_good, position="last")
        self.image.layer_combo.currentIndexChanged.connect(self.preselect_good)
        self.preselect_good()

    def release_good_combo(self) -> None:
        try:
            self.viewer.layers.events.inserted.disconnect(self.preselect_good)
        except (TypeError, ValueError, RuntimeError):
            pass

    def _good_was_picked(self, *_) -> None:
        self._good_picked = True  # the user's choice, '(known-good layer)' too: kept

    def preselect_good(self, *_) -> None:
        """Fill an empty Good layer box, the user not having picked in it, with the layer that
        marks itself a sharp reference: a sample's ground truth, or named sharp / ground truth
        / reference / gt; never the image scored, nor a layer the plugin made (a heatmap of
        the sharp layer carries its name). A layer it took that becomes the image is let go."""
        if self.closed or self._good_picked:
            return
        current, image = self.good_combo.value, self.image.layer_combo.value
        ours = self._good_auto() if self._good_auto is not None else None
        if current is not None and not (current is ours and current is image):
            return  # one set by code, or ours and still apt
        found = known_good_candidate(self.viewer.layers, image)
        if found is not None:
            self.good_combo.set_value(found)
        elif current is not None:
            self.good_combo.setCurrentIndex(0)  # '(known-good layer)': not the image itself
        self._good_auto = weakref.ref(found) if found is not None else None

    def _no_good_layer(self) -> ValueError:
        """What Calibrate says with no known-good layer chosen: pick one in the box."""
        image = self.image.layer_combo.value
        others = [la.name for la in self.viewer.layers
                  if is_image_layer(la) and la is not image and not made_here(la)]
        box = ("no known-good layer chosen: pick the in-focus layer to calibrate on in the "
               "'Good layer' box (beside the percentile), then press 'Calibrate from "
               "layer...' again")
        if not others:
            return ValueError(f"{box}; open one first: an in-focus image of the same kind "
                              "of sample and imaging")
        listed_names = ", ".join(repr(n) for n in others[:3]) + (", ..." if len(others) > 3
                                                                  else "")
        return ValueError(f"{box}; other image layers open: {listed_names}")

    def calibrate(self):
        """Score the known-good layer like the image (same tiles, or per slice) and set the
        threshold to the chosen percentile of its scores. The layers' file headers (the good
        layer's axes, both layers' pixel sizes) are read in a worker (``HeaderReads``), never
        on the GUI thread: the scoring starts once they are in. Returns the scoring worker
        when it started at once; None when refused or waiting for a header."""
        good = self.good_combo.value
        if good is None:
            self._refuse(self._no_good_layer())
            return None
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

    def _layer_channels_note(self, channels) -> str:
        """What the calibration's status adds for an image with channels calibrated on a
        layer without the same ones: its one value is applied to every channel."""
        try:
            layer, axes = self.image.checked()
        except ValueError:
            return ""
        if channels is not None or "C" not in axes:
            return ""
        n = layer_data(layer).shape[axes.index("C")]
        return (f"; applied to all {n} channels of {layer.name!r} (calibrate on a layer with "
                "the same channels for one threshold each)")

    def _calibrate_on(self, good):
        """``calibrate`` once the headers it needs are read (else a status that says so)."""
        axes = guess_layer_axes(good)
        try:
            layer, layer_axes = self.image.checked()
            # another pixel size is warned about, not refused: the user may know better
            note = pixel_size_note(layer, layer_axes, good, axes)
        except ValueError:  # no usable image layer: no pixel size to compare with
            layer, layer_axes, note = None, "", ""
        if headers_unread(good, layer):
            self.status_label.setText(
                f"reading the file header of {good.name!r} (its axes and pixel size) in the "
                "background; the calibration starts when it is in")
            return None
        try:
            refuse_rgba(good, axes)
            tile = int(self.tile_spin.value()) if self.unit == "tiles" else None
            # the tiles to calibrate on: with structure, and scoring above the pixel noise
            # where that structure is faint (its glow had put the threshold at the noise)
            run = iter_good_units(layer_data(good), axes=axes, tile=tile,
                                  camera_offset=self.camera_offset)
        except (ValueError, TypeError) as error:
            self._refuse(error)
            return None
        percentile = float(self.percentile_spin.value())
        calibrate_threshold = self._focus.calibrate_threshold
        # said: a threshold holds only for scores with the same offset subtracted
        offset = f" less camera offset {self.camera_offset:g}" if self.camera_offset else ""
        settings = (self.unit, tile, self.camera_offset)  # as scored, for the Score to compare
        axis = same_channels(good, axes, layer, layer_axes)
        unit = "tile" if tile else "slice"  # what was scored, for the words said of it

        def job():
            units = yield from run
            # a sparse layer's background tiles score their noise: calibrated on with the
            # cells, they put the threshold among the background (none of the blurred cells
            # fell below it); so do its tiles of faint glow (units.kept leaves both out)
            kept = units.scores[units.kept]
            if kept.size == 0:
                raise ValueError(f"no {unit} of {good.name!r} holds structure above its "
                                 "background noise; calibrate on an in-focus layer with content")
            channels = None if axis is None else tuple(calibrated_thresholds(
                units.scores, units.kept, axis,
                lambda k: calibrate_threshold(k, percentile=percentile), good.name))
            threshold = calibrate_threshold(kept, percentile=percentile)
            warned = noise_note(threshold, units, repr(good.name), unit) if channels is None \
                else ""
            return (threshold, kept.size, units.scores.size - int(units.structure.sum()),
                    units.faint, channels, warned)

        def done(value):
            threshold, n, blank, faint, channels, warned = value
            if self.closed:
                return
            self.set_threshold(threshold)
            what = f"{counted(n, 'tile score')} ({tile} px)" if tile else \
                counted(n, "slice score")
            how = f"percentile {percentile:g} of {what} of {good.name!r}{offset}"
            self.calibration = Calibration(float(threshold), good.name, *settings, channels, how)
            if channels is not None and self.scores_fresh() \
                    and self._channel_axis() is not None:
                self._use_channels(channels, f"calibrated on {good.name!r}")
                self.update_threshold_view()
            said = (f"thresholds per channel ({listed(channels)})" if channels is not None
                    else f"threshold {threshold:.4g}")
            self.status_label.setText(
                f"{said}: {how}{left_out_words(blank, faint, unit)}"
                + "".join(f"; note: {w}" for w in (note, warned) if w)
                + self._layer_channels_note(channels))
            for words in (note, warned):
                if words:
                    notify_warning(f"Calibration: {words}")

        def failed(error):
            message = f"Calibration on {good.name!r} failed: {describe_error(error)}"
            notify_error(message)
            if not self.closed:  # the notification goes away; the status line stays
                self.status_label.setText(message)

        return start_worker(self, job, returned=done, errored=failed)


def left_out_words(blank: int, faint: int, unit: str) -> str:
    """What a calibration's status says of the units it left out: background ones, and those
    whose faint structure scores as noise (``core.focus_calibration``); '' for none."""
    left = [counted(blank, "background " + unit)] if blank else []
    left += [f"{counted(faint, unit)} of faint structure scoring as noise"] if faint else []
    return f", {' and '.join(left)} left out" if left else ""


def same_channels(good, good_axes: str, layer, axes: str) -> int | None:
    """The score axis of C when the known-good layer and the image have the same number of
    channels (each then gets its own calibrated threshold), else None."""
    if layer is None or "C" not in good_axes or "C" not in axes:
        return None
    if layer_data(good).shape[good_axes.index("C")] != layer_data(layer).shape[axes.index("C")]:
        return None
    from ..core.axes import loop_axes

    return channel_axis(good_axes, loop_axes(good_axes, "YXS"))


def known_good_candidate(layers, image=None):
    """The layer of ``layers`` that marks itself a sharp reference, else None: a bundled
    sample's ground truth (its metadata 'sample_role'), else the first named sharp / ground
    truth / reference / gt (``reference_rank`` 0). Never ``image`` nor a layer the plugin
    made."""
    image = unwrap(image) if image is not None else None
    fitting = [unwrap(la) for la in layers if is_image_layer(la) and not made_here(la)
               and unwrap(la) is not image]

    def role(layer) -> str | None:
        metadata = getattr(layer, "metadata", None)
        return metadata.get("sample_role") if isinstance(metadata, dict) else None

    marked = [la for la in fitting if role(la) == "ground truth"]
    named = [la for la in fitting if role(la) is None and reference_rank(la) == 0]
    return (marked or named or [None])[0]
