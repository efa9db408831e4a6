"""A small tile shrinks the method's overlap to fit and left seams with no seam warning
(2026-12-16 tile walkthrough: Richardson-Lucy gaussian:2 on a 256^2 crop, tile 33 ran with
16 of its 32 px, 3.2 % of the range off the untiled result, and said only 'x the work'); a
tile refused as not larger than the PSF was advised 'at least 18', 14 400 tiles, 71x the work.
"""

import re
import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core.axes import Layout
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.method import MethodSpec, classical_method
from napari_microdeblur.core.notes import DeblurWarning
from napari_microdeblur.core.psf_fit import check_psf_model_fits
from napari_microdeblur.core.tile_options import seam_size, tile_options
from napari_microdeblur.core.tiling_spec import TilingSpec

RL = {"method": "richardson_lucy", "psf": "gaussian:2", "iterations": 2, "device": "cpu"}
SHAPE = (256, 256)


def _said(shape=SHAPE, **tiling) -> list[str]:
    image = np.random.default_rng(0).random(shape).astype(np.float32) * 100 + 10
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        deblur(image, axes="YX", **RL, **tiling)
    return [str(w.message) for w in said if issubclass(w.category, DeblurWarning)]


@pytest.mark.parametrize("tile, used", [(33, 16), (40, 20), (48, 24)])
def test_a_tile_too_small_for_the_full_overlap_warns_of_seams_once(tile, used):
    """One line: the seams (the measured figure for that share of the 32 px) and the work,
    not a second 'cuts each plane' note, ending with a tile where the full overlap fits."""
    said = _said(tile=tile)
    assert len(said) == 1, said
    line = said[0]
    assert f"a tile of {tile} px leaves room for an overlap of {used} px, below the 32 px " \
        "'richardson_lucy' needs" in line
    assert seam_size(used, 32) in line and "x the work of the default tile (256 x 256)" in line
    assert "cuts each plane" not in line
    advised = int(re.search(r"give a tile of at least (\d+) px, or leave the tile to the "
                            r"method$", line).group(1))
    assert advised >= 64  # the method's 32 px overlap fits (a tile of 64 runs it whole)
    assert _said(tile=advised) == []  # neither seams nor the work note


def test_the_full_overlap_is_quiet_and_the_work_note_stays_alone():
    """A tile of 64 runs the whole 32 px: no seams, only the work note (3.1x)."""
    said = _said(tile=64)
    assert len(said) == 1 and "cuts each plane into 49 tiles" in said[0]
    assert "seams" not in said[0]


def test_an_axis_one_tile_covers_needs_no_overlap():
    """A 30 px wide image under a 40 px tile: one tile across, so no seams to warn of; its
    long axis runs 64 px tiles with the full overlap."""
    assert _said(shape=(300, 30), tile=(64, 40)) == []
    assert any("seams" in s for s in _said(shape=(30, 30), tile=20))  # cut along both
    assert _said(shape=(30, 30), tile=40) == []


def test_a_given_low_overlap_on_a_small_tile_asks_for_both():
    said = _said(tile=40, overlap=20)
    assert len(said) == 1
    assert said[0].endswith("give a tile of at least 70 px and an overlap of 32 px or more, "
                            "or leave the tile and the overlap to the method")


@pytest.mark.parametrize("psf, shape, advised", [("gaussian:2", SHAPE, 70),
                                                  ("gaussian:3", (48, 48), 48)])
def test_the_psf_refusal_gives_the_runs_advice(psf, shape, advised):
    """check_psf_model_fits (before any work; the docks') and the run's own refusal agree."""
    with pytest.raises(ValueError) as before:
        check_psf_model_fits(MethodSpec("richardson_lucy", psf=psf), "YX", shape, tile=16)
    method = classical_method("richardson_lucy", psf)
    with pytest.raises(ValueError) as run:
        tile_options(method, Layout.for_method("YX", shape, method), TilingSpec(tile=16))
    advice = str(before.value).split("; ", 1)[1]
    assert advice == str(run.value).split("; ", 1)[1]
    assert advice.endswith(f"use a tile of at least {advised}")


def test_the_cli_refusal_advises_a_tile_that_runs_quietly(tmp_path, capsys):
    src = tmp_path / "bright16.tif"
    tifffile.imwrite(src, (np.random.default_rng(1).random(SHAPE) * 4000 + 60000)
                     .astype(np.uint16))
    args = ["deblur", str(src), "-o", str(tmp_path / "o.tif"), "--method", "richardson_lucy",
            "--psf", "gaussian:2", "--iterations", "2", "--device", "cpu"]
    assert main([*args, "--tile", "16"]) == 2
    err = capsys.readouterr().err
    assert "at least 18" not in err and err.strip().endswith("use a tile of at least 70")
    assert main([*args, "--tile", "70"]) == 0
    err = capsys.readouterr().err
    assert "seams" not in err and "the work" not in err
