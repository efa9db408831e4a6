"""The seam sizes the low-overlap warning quotes come from benchmarks/tile_seams.py's
measurements (they had none behind them, and Richardson-Lucy's 3.3 % at half its overlap was
outside the quoted '0.2-3 %'); the tile refusal is short and ends with the tile to use."""

import json
import math
import re
from pathlib import Path

import pytest

from napari_microdeblur.core.axes import Layout
from napari_microdeblur.core.method import Method
from napari_microdeblur.core.tile_options import low_overlap_note, tile_options
from napari_microdeblur.core.tiling_spec import TilingSpec

RESULTS = json.loads((Path(__file__).parents[1] / "benchmarks" / "results"
                      / "tile_seams.json").read_text())
MEASURED = [(run["method"], run["tile"], row["needed"], v["overlap"], v["max_diff"])
            for run in RESULTS["runs"] for row in run["images"]
            for v in row["percent"].values() if v["overlap"] < row["needed"]]


def _quoted(tile: int, overlap: int, needed: int) -> float:
    """The largest figure the warning quotes for ``overlap`` on a method needing ``needed``."""
    method = Method(name="m", forward=lambda x: x, halo=needed // 2, overlap=needed)
    note = low_overlap_note(method, (tile, tile), (overlap, overlap), (470, 500))
    assert note, (tile, overlap, needed)
    return max(float(x) for x in re.findall(r"(\d+(?:\.\d+)?) %", note))


@pytest.mark.parametrize("method, tile, needed, overlap, measured", MEASURED)
def test_the_warning_quotes_at_least_the_seams_measured(method, tile, needed, overlap,
                                                        measured):
    assert measured <= _quoted(tile, overlap, needed)


def test_the_warning_quotes_the_worst_measured_not_more():
    """At each measured fraction of the method's overlap the figure is the worst measured,
    rounded up to 2 significant figures, not a bound far above it."""
    for fraction, worst in RESULTS["worst_percent"].items():
        if float(fraction) >= 1:
            continue
        overlap = round(float(fraction) * 80)
        step = 10 ** (math.floor(math.log10(worst)) - 1)  # 2 significant figures
        assert _quoted(128, overlap, 80) == pytest.approx(math.ceil(worst / step) * step)


def test_the_walkthroughs_old_advice_is_the_work_the_advice_quotes():
    from napari_microdeblur.core import tile_options as module

    walk = RESULTS["walkthrough"]
    assert walk["old_advice_work"] > 1000 and walk["advised_work"] <= 3
    assert f"{walk['old_advice_work']:.0f}x" in module.tile_advice.__doc__


def test_the_refusal_is_one_short_sentence_ending_with_the_tile():
    method = Method(name="psf_net", forward=lambda x: x, halo=62, size_divisor=4)
    layout = Layout.for_method("YX", (500, 470), method)
    with pytest.raises(ValueError) as info:
        tile_options(method, layout, TilingSpec(tile=64))
    message = str(info.value)
    advised = re.search(r"; with an overlap of 124 px, tiles below (\d+) take over 3x the "
                        r"default tiling's work: use a tile of at least (\d+)$", message)
    assert advised and advised.group(1) == advised.group(2) and len(message) < 200
