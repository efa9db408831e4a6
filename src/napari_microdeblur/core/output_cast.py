"""What casting a result back to the input's integer type (or float16) costs, counted and said
once per output (``output_dtype='input'``).

``tiling.map_in_pieces`` rounds and clips a result to an integer type (clips it to float16's
finite range, +-65504, and float32's, +-3.4e38, where a float64 image's normalisation had it
worked in float64: ``tiling.work_type``) piece by piece; each piece is counted
(``OutputCast.count``) into the tally open on its thread, so no whole-image copy is held. A
tiled run (``tiling.iter_tiled_apply``) keeps one tally over its tiles and says it at its end;
a caller that runs several planes or channels into one output (``files``) opens its own tally
around the run (``counted_steps``), which the inner ones add to, and says it once.

Two lines may come out:

- a ``DeblurWarning`` where pixels were clipped: deconvolution overshoots (ringing tops over the
  type's maximum, undershoots below 0), and the values cut there were lost silently (float16's
  and float32's were cast to +-inf);
- a ``DeblurNote`` where rounding to an integer type measurably costs: a result whose 0.1-99.9
  percentile span is fewer than ``ROUNDING_SPAN`` levels (low-light fluorescence of a few photon
  counts). Rounding adds an error of 1/sqrt(12) = 0.29 level RMS whatever the span; against a
  span of a few levels that is a loss a deblur's own error does not hide. Measured on four
  fluorescence images scaled to peaks of 5 to 640 counts, blurred (sigma 2), given Poisson noise
  and deblurred by Richardson-Lucy and Wiener (``benchmarks/output_rounding.py``, its JSON in
  ``benchmarks/results/output_rounding.json``; 64 runs): rounding cost 0.65-6.7 dB (median 2.3)
  at spans under 20 levels, 0.14-0.57 dB at 20-39, at most 0.24 dB at 40-99 and 0.07 dB from 100
  on. The walkthrough's photon-count image (0-20 counts, a span of 9-10 levels) lost 1.2-2.7 dB
  by method. So the note comes under 40 levels, where the loss reaches 0.5 dB. Where a run
  summed the totals (``total_check``) and rounding and clipping moved the total by more than
  ``total_check.TOTAL_CHANGE``, the note says so; where the span is wider (a few hot pixels
  over a background of fractions) a note of its own says the total's change alone.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Generator

import numpy as np

from .notes import DeblurNote, DeblurWarning

__all__ = ["ROUNDING_SPAN", "OutputCast", "counted_steps", "open_tally"]

#: a result rounded to an integer type whose 0.1-99.9 percentile span is fewer levels than
#: this gets a note (up to 0.57 dB lost at 37-38 levels, 0.65 dB and more under 20: the
#: module's docstring)
ROUNDING_SPAN = 40
#: the most levels the histogram holds; a wider result spans far more than ROUNDING_SPAN
LEVELS_HELD = 1 << 16
#: the most values of one piece the histogram counts (a strided sample)
LEVELS_SAMPLED = 1 << 14
#: the percentiles whose distance is the result's span (those of the normalisation)
SPAN_PERCENTILES = (0.1, 99.9)
#: what the user can do, in words that fit the dock (Output dtype) and Python (output_dtype=)
#: alike; the command line says its option (``cli_words.settings_in_cli_words``)
KEEP = "set the output dtype to float32"
#: the same for a float32 output past float32's range (a float64 image of values over 3.4e38)
KEEP_WIDE = "set the output dtype to input (a float64 image), or scale the image down,"

#: (fewest levels of a span, its band, the PSNR rounding cost there on the benchmark's images):
#: benchmarks/results/output_rounding.json, the bands under ROUNDING_SPAN (module docstring)
ROUNDING_COST = ((20, "20-39", "0.14-0.57 dB"), (0, "under 20", "0.65-6.7 dB"))

_local = threading.local()


def type_range(dtype) -> tuple[int, int]:
    """The (lowest, highest) finite value of an integer or float type, as integers (float16's:
    -65504, 65504)."""
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else np.finfo(dtype)
    return int(info.min), int(info.max)


def rounding_cost(levels: int) -> tuple[str, str]:
    """(band, PSNR lost by rounding there) of a span of ``levels`` (under ROUNDING_SPAN)."""
    return next((name, cost) for least, name, cost in ROUNDING_COST if levels >= least)


class OutputCast:
    """The tally of one output cast to an integer type (or float16): values clipped below and
    above its range, and (integer types) a histogram of the rounded values (the span in levels)."""

    def __init__(self) -> None:
        self.dtype: np.dtype | None = None
        self.values = self.below = self.above = 0
        self._base = 0
        self._levels: np.ndarray | None = None  # counts of base, base + 1, ...
        self._wide = False  # the levels spread past LEVELS_HELD: no note, whatever the rest
        # the float result's total, the output's (it rounded and clipped) and the input's
        # summed absolute values, where a run summed them (``total_check``): the rounding note
        # says what rounding alone moved, not the network's change
        self.totals: tuple[float, float, float] | None = None

    def add_totals(self, before: float, after: float, magnitude: float) -> None:
        """The totals of one run of this output (its planes or channels add up): the float
        result's before the cast, the output's after it."""
        held = self.totals or (0.0, 0.0, 0.0)
        self.totals = (held[0] + before, held[1] + after, held[2] + magnitude)

    def count(self, rounded: np.ndarray, dtype, low, high) -> bool:
        """Count one piece of rounded values (float) before they are clipped to low..high;
        True where it holds values outside low..high (or NaN): to be clipped."""
        self.dtype = np.dtype(dtype)
        self.values += rounded.size
        if not rounded.size:
            return False
        least, most = float(np.min(rounded)), float(np.max(rounded))
        # min and max first: a piece inside the range (the usual case) needs no comparisons
        outside = not (low <= least and most <= high)
        if outside:
            self.below += int(np.count_nonzero(rounded < low)) if not least >= low else 0
            self.above += int(np.count_nonzero(rounded > high)) if not most <= high else 0
        # a float type is not rounded to levels: no span to count
        if self._wide or self.dtype.kind == "f" or not (np.isfinite(least) and np.isfinite(most)):
            return outside
        # the levels as clipped, each end held in low..high: a piece wholly above high (or
        # below low) is all at that end, not an empty or reversed span
        lo, hi = min(max(least, float(low)), float(high)), max(min(most, float(high)), float(low))
        if not self._grow(int(lo), int(hi) + 1):
            return outside
        # a strided sample of the piece is enough for two percentiles, and keeps this count's
        # memory at LEVELS_SAMPLED values, not a copy of the piece
        flat = rounded.reshape(-1)  # a view: map_in_pieces counts its contiguous work copies
        sample = flat[:: max(1, flat.size // LEVELS_SAMPLED)]
        if outside:
            sample = np.clip(sample, low, high)  # as clipped: the levels the output holds
        at = sample.astype(np.intp) - self._base
        self._levels += np.bincount(at, minlength=self._levels.size)
        return outside

    def _grow(self, base: int, top: int) -> bool:
        """The histogram made to hold levels base..top - 1; False (and no histogram kept) where
        they are more than LEVELS_HELD."""
        if self._levels is None:
            self._base, self._levels = base, np.zeros(0, np.int64)
        base = min(self._base, base)
        top = max(self._base + self._levels.size, top)
        if top - base > LEVELS_HELD:
            self._wide, self._levels = True, None
            return False
        if base < self._base or top > self._base + self._levels.size:
            grown = np.zeros(top - base, np.int64)
            grown[self._base - base : self._base - base + self._levels.size] = self._levels
            self._base, self._levels = base, grown
        return True

    def add(self, other: OutputCast) -> None:
        """``other``'s counts added to this tally (an inner run of one output)."""
        if other.dtype is None:
            return
        self.dtype, self.values = other.dtype, self.values + other.values
        self.below, self.above = self.below + other.below, self.above + other.above
        if other.totals is not None:
            self.add_totals(*other.totals)
        if self._wide or other._wide:
            self._wide, self._levels = True, None
        elif other._levels is not None and self._grow(other._base,
                                                      other._base + other._levels.size):
            first = other._base - self._base
            self._levels[first : first + other._levels.size] += other._levels

    def span(self) -> tuple[int, int] | None:
        """The (0.1, 99.9) percentile levels of the values as cast; None where not counted."""
        if self._wide or self._levels is None or not self._levels.sum():
            return None
        cumulative = np.cumsum(self._levels)
        n = cumulative[-1]
        at = [int(np.searchsorted(cumulative, p / 100 * n, side="left"))
              for p in SPAN_PERCENTILES]
        return self._base + at[0], self._base + at[1]

    def clip_message(self, where: str = "") -> str | None:
        clipped = self.below + self.above
        if not clipped or self.dtype is None:
            return None
        low, high = type_range(self.dtype)
        whole = self.dtype.kind in "iu"
        number = str if whole else "{:g}".format  # float32's top has 39 digits as an integer
        sides = ", ".join(f"{n} {side} {number(bound)}" for n, side, bound in
                          ((self.above, "above", high), (self.below, "below", low)) if n)
        span = f"{low}-{high}" if whole else f"the range {number(low)} to {number(high)}"
        share = 100 * clipped / self.values
        share_said = f"{share:.2g}" if share < 99.5 else "100"  # not '1e+02'
        head = (f"{where or 'output'}: {clipped} of {self.values} values ({share_said} %) "
                f"clipped to {span} for ")
        if self.dtype == np.float32:  # the widest output: float32 holds no larger value
            return f"{head}float32 output ({sides}); {KEEP_WIDE} to keep them"
        return (f"{head}{self.dtype} output, the input's type ({sides}; deconvolution "
                f"overshoots); {KEEP} to keep them")

    def rounding_message(self, where: str = "") -> str | None:
        span = self.span()
        if span is None or span[1] - span[0] >= ROUNDING_SPAN:
            return None
        levels = max(span[1] - span[0], 1)
        band, cost = rounding_cost(levels)  # the figure of this span's band, not the worst
        return (f"{where or 'output'}: rounded to {self.dtype}, the input's type, the result "
                f"spans only {span[1] - span[0]} levels (0.1-99.9 percentile {span[0]}-{span[1]})"
                f": rounding adds 0.29 level RMS, {100 * 0.2887 / levels:.2g} % of that span "
                f"({cost} PSNR lost on test images spanning {band} levels)"
                f"{self._total_said()}; {KEEP} to keep the fractional values")

    def _total_moved(self) -> float | None:
        """The total's relative change by rounding and clipping (the float result's total
        against the output's) where past ``total_check.TOTAL_CHANGE``; else None."""
        from .total_check import TOTAL_CHANGE, change

        if self.totals is None or (moved := change(*self.totals)) is None \
                or abs(moved) <= TOTAL_CHANGE:
            return None
        return moved

    def _total_said(self) -> str:
        """', and by rounding and clipping its total intensity went X -> Y (Z %)' where that
        passed ``total_check.TOTAL_CHANGE`` (background values under 0.5 rounded to 0,
        undershoots clipped to 0); else ''."""
        if (moved := self._total_moved()) is None:
            return ""
        before, after, _ = self.totals
        return (f", and by rounding and clipping its total intensity went {before:.6g} -> "
                f"{after:.6g} ({100 * moved:+.2g} %)")

    def total_message(self, where: str = "") -> str | None:
        """The total's change by rounding and clipping, said alone where the rounding note
        is not (a span of ROUNDING_SPAN levels or more: a few bright or hot pixels over a
        background of fractions; the walkthrough's photon counts with hot pixels lost 9.2 %
        of the float result's total, unsaid); None where within ``TOTAL_CHANGE``."""
        if (moved := self._total_moved()) is None or self.dtype is None:
            return None
        before, after, _ = self.totals
        low, high = type_range(self.dtype)
        if moved < 0:  # the usual way: a background of fractions rounded down
            why = "values under 0.5 rounded to 0" + (f", those over {high} clipped"
                                                      if self.above else "")
        elif low == 0:  # an unsigned output: deconvolution's undershoots set to 0
            why = "negative values rounded or clipped to 0"
        else:
            why = "values of 0.5 and over rounded up"
        return (f"{where or 'output'}: rounding and clipping to {self.dtype}, the input's type, "
                f"moved its total intensity {before:.6g} -> {after:.6g} ({100 * moved:+.2g} %: "
                f"{why}); {KEEP} to keep it")

    def say(self, where: str = "", stacklevel: int = 2) -> None:
        """Add this tally to the one open on this thread, else warn: the clipped values
        (DeblurWarning) and a costly rounding (DeblurNote), each once."""
        if (outer := active()) is not None and outer is not self:
            outer.add(self)
            return
        if message := self.clip_message(where):
            warnings.warn(message, DeblurWarning, stacklevel=stacklevel + 1)
        # the total's change is said in the rounding note where that comes, else on its own
        if message := self.rounding_message(where) or self.total_message(where):
            warnings.warn(message, DeblurNote, stacklevel=stacklevel + 1)


def _stack() -> list:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def active() -> OutputCast | None:
    """The innermost tally open on this thread, or None."""
    stack = _stack()
    return stack[-1] if stack else None


class open_tally:  # noqa: N801 - used as a context manager, like open()
    """Count the casts made inside into ``tally`` (on this thread; nested ones: the
    innermost). Opened per step of a generator, never across a yield (it may resume in
    another thread, or another run may step between)."""

    def __init__(self, tally: OutputCast):
        self.tally = tally

    def __enter__(self) -> OutputCast:
        _stack().append(self.tally)
        return self.tally

    def __exit__(self, *error) -> bool:
        stack = _stack()
        # by identity: another generator's block may close out of order
        del stack[next(i for i in range(len(stack) - 1, -1, -1) if stack[i] is self.tally)]
        return False


def counted_steps(steps: Generator, where: str = "", stacklevel: int = 2) -> Generator:
    """``steps`` (a run's progress generator; its result returned) with every cast to an
    integer type (or float16) made in it counted in one tally, said once at its end
    (``OutputCast.say``)."""
    tally = OutputCast()
    try:
        while True:
            with open_tally(tally):
                try:
                    step = next(steps)
                except StopIteration as stop:
                    result = stop.value
                    break
            yield step
    finally:
        steps.close()
    tally.say(where, stacklevel + 1)
    return result
