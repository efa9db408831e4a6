"""Rounding and clipping to the input's integer type that move the total are said even where
the rounding note is not (``output_cast.OutputCast.total_message``: a result spanning 40
levels or more, as photon counts with hot pixels), once a run, in each front end's words; the
plateau note's remedy fits a scale bar as well as saturation (``plateaus.plateau_note``)."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from napari_microdeblur.core.inference import Normalization, deblur
from napari_microdeblur.core.output_cast import KEEP, OutputCast


class Smoothing(torch.nn.Module):
    """Keeps the total, spreads counts into fractions under 0.5 (which round to 0)."""

    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, 5, stride=1, padding=2, count_include_pad=False)


def _counts_with_hot_pixels(seed=0, shape=(128, 128)) -> np.ndarray:
    """0.3 photons a pixel and 40 lone hot pixels at 1000: the smoothed hot pixels spread the
    result's 0.1-99.9 percentile span past 40 levels (the walkthrough's pc03_hot400: 0-60)."""
    rng = np.random.default_rng(seed)
    sharp = gaussian_filter(rng.random(shape), 3) ** 4
    image = rng.poisson(gaussian_filter(sharp * (0.3 / sharp.mean()), 1.7)).astype(np.uint16)
    ys, xs = rng.integers(4, shape[0] - 4, 40), rng.integers(4, shape[1] - 4, 40)
    image[ys, xs] = 1000
    return image


def _lines(**kwargs) -> tuple[np.ndarray, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deblur(device="cpu", method=Smoothing(), normalization=Normalization(0.0, 1.0),
                     **kwargs)
    return out, [str(w.message) for w in caught]


def test_wide_span_rounding_that_moves_the_total_says_so_alone():
    image = _counts_with_hot_pixels()
    floats, lines = _lines(image=image, axes="YX")
    assert not any("total intensity" in line for line in lines)  # the stand-in kept it
    out, lines = _lines(image=image, axes="YX", output_dtype="input")
    result, after = floats.sum(dtype=np.float64), out.sum(dtype=np.float64)
    assert after / result - 1 < -0.05  # the fractions under 0.5 were rounded to 0
    assert np.percentile(out, 99.9) - np.percentile(out, 0.1) >= 40  # no rounding note
    assert not any("spans only" in line for line in lines)
    said = [line for line in lines if "total intensity" in line]
    assert len(said) == 1, said
    assert said[0].startswith("output: rounding and clipping to uint16, the input's type")
    assert f"{result:.6g} -> {after:.6g} ({100 * (after / result - 1):+.2g} %" in said[0]
    assert "values under 0.5 rounded to 0" in said[0] and said[0].endswith(f"{KEEP} to keep it")
    assert len(said[0]) <= 250 and "\n" not in said[0]


def test_a_stack_gets_the_line_once():
    stack = np.stack([_counts_with_hot_pixels(seed) for seed in range(3)])
    _, lines = _lines(image=stack, axes="ZYX", output_dtype="input")
    said = [line for line in lines if "rounding and clipping to uint16" in line]
    assert len(said) == 1, lines


def _tally(before: float, after: float, negatives: int = 0) -> OutputCast:
    """A uint16 tally spanning 0-99 (no rounding note) with the totals given."""
    tally = OutputCast()
    rounded = np.concatenate([np.arange(100.0).repeat(10), -np.ones(negatives)])
    tally.count(rounded, np.uint16, 0, 65535)
    tally.add_totals(before, after, before)
    return tally


def test_the_line_says_why_the_total_moved_and_nothing_within_the_threshold():
    assert _tally(1000.0, 900.0).rounding_message() is None
    lowered = _tally(1000.0, 900.0).total_message("out.tif")
    assert lowered.startswith("out.tif: ") and "1000 -> 900 (-10 %: values under 0.5" in lowered
    raised = _tally(1000.0, 1100.0, negatives=5).total_message()
    assert "(+10 %: negative values rounded or clipped to 0)" in raised
    assert _tally(1000.0, 990.0).total_message() is None  # -1 %: within TOTAL_CHANGE


def test_the_command_line_names_its_option():
    from napari_microdeblur.cli_batch import once_a_run
    from napari_microdeblur.core.notes import DeblurNote

    line = once_a_run(_tally(1000.0, 900.0).total_message("out.tif"), DeblurNote, set())
    assert line.endswith("give --output-dtype float32 to keep it") and KEEP not in line


def test_plateau_note_remedy_fits_a_scale_bar_and_stays_short():
    from napari_microdeblur.core.plateaus import plateau_note

    image = np.zeros((100, 100), np.float32)
    image[:4, :4] = 1.23456789e6  # the widest share and value the length tests use
    image[50, 50] = 3
    note = plateau_note(image, "YX", "c2f_unet.fluorescence_v2")
    assert "scale bar?" in note and "Re-acquire if saturated" in note
    assert note.endswith("either way, mask them") and "or mask them" not in note
    assert len(note) <= 250
