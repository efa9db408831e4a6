"""The Fine-tune dock's live plots: training loss and validation against elapsed time (seconds,
then minutes once a run passes two minutes), with the input's and the base model's validation
drawn as flat reference lines when the run ends."""

from __future__ import annotations

import time

from qtpy.QtWidgets import QVBoxLayout, QWidget

from ._plot import LinePlot

MINUTES_AFTER_S = 120  # the time axis switches from seconds to minutes after this
HELD_OUT = "held-out loss"  # the validation curve of adapting without a reference
LOSS_COLOR, VAL_COLOR, INPUT_COLOR, BASE_COLOR = "#ffb74d", "#4fc3f7", "#9e9e9e", "#81c784"
VAL_TOOLTIP = {
    "psnr": ("Validation PSNR on the held-out region (reference scale, see docs/evaluation.md) "
             "against time; at 0 s the base model as it starts. When the run ends the input's "
             "own PSNR (no deblurring) is drawn for reference."),
    "loss": ("Held-out data-consistency loss (adapting without a reference: lower is better, "
             "about 1 is a fit to the noise) against time; at 0 s the base model as it starts."),
}


def minutes_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class TrainingPlots(QWidget):
    """Loss and validation curves of one run against the seconds since ``start()``."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.loss_plot = LinePlot("training loss", "seconds")
        self.loss_plot.setToolTip("Training loss after every step, against time.")
        self.val_plot = LinePlot("validation PSNR (dB)", "seconds")
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.val_plot)
        self.kind = "psnr"
        self.t0: float | None = None
        self.first = True  # no record plotted yet in this run
        self.unit = 1.0  # seconds per x unit (60 after the switch to minutes)
        self.set_kind("psnr")

    def set_kind(self, kind: str) -> None:
        """'psnr' (paired fine-tuning) or 'loss' (adapting without a reference)."""
        self.kind = kind
        self.val_plot.title = ("validation PSNR (dB)" if kind == "psnr"
                               else "held-out data-consistency loss")
        self.val_plot.setToolTip(VAL_TOOLTIP[kind])
        self.val_plot.update()

    def start(self) -> None:
        """A new run: clear the curves; the clock starts with ``begin()`` (training starts)
        or else at the first record."""
        self.t0 = None
        self.first = True
        self.loss_plot.clear()
        self.val_plot.clear()
        self._set_unit(1.0)

    def begin(self) -> None:
        """Start the clock: the data is ready and training starts."""
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        if self.t0 is None:
            self.begin()
        return time.perf_counter() - self.t0

    def follow(self, seconds: float) -> None:
        """Set the clock to the job's own, ``seconds`` gone now (records after go on from it)."""
        self.t0 = time.perf_counter() - seconds

    def add(self, record) -> float:
        """Plot one FitProgress record; returns the seconds since the run's first record."""
        start, self.first = self.first, False
        seconds = self.elapsed()
        if seconds > MINUTES_AFTER_S and self.unit == 1.0:
            self._set_unit(60.0)
        x = seconds / self.unit
        self.loss_plot.append("loss", x, record.loss, LOSS_COLOR)
        value = record.val_psnr if self.kind == "psnr" else record.val_loss
        name = "validation PSNR" if self.kind == "psnr" else HELD_OUT
        if value is not None and (record.validated or start):
            # the first record carries the validation of the starting weights (time 0)
            self.val_plot.append(name, 0.0 if start and not record.validated else x, value,
                                 VAL_COLOR)
        return seconds

    def add_start(self, value: float | None) -> None:
        """The starting weights' validation at 0 s, known before the first step (adapting:
        the first record may carry a validation after that step, which was drawn at 0 s)."""
        if value is not None:
            self.val_plot.append(HELD_OUT, 0.0, value, VAL_COLOR)
            self.first = False

    def add_reference(self, name: str, value: float | None, color: str) -> None:
        """A flat line across the run at ``value`` (e.g. the input's own PSNR)."""
        xs = [x for plot in (self.loss_plot, self.val_plot) for s in plot.series.values()
              for x in s[0]]
        if value is None or not xs:
            return
        self.val_plot.set_series(name, [0.0, max(xs)], [value, value], color)

    def _set_unit(self, unit: float) -> None:
        """Rescale what is drawn to ``unit`` seconds per x unit."""
        for plot in (self.loss_plot, self.val_plot):
            for name, (xs, ys, color) in list(plot.series.items()):
                plot.set_series(name, [x * self.unit / unit for x in xs], ys, color)
            plot.xlabel = "minutes" if unit == 60.0 else "seconds"
            plot.update()
        self.unit = unit
