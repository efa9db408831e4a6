"""A tile too small for the method's reach is refused with advice that runs sensibly, and an
overlap below the method's gets a warning (2026-12-16 determinism walkthrough): 'use a tile of
at least 144' under an overlap of 142 stepped tiles 2 px, 2603x the work (> 15 min), and
--overlap 8 against gran.em_v1's 80 left seams of 4 % of the range with no word."""

import re
import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core.axes import Layout
from napari_microdeblur.core.deblur_notes import small_tile_note
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.method import Method
from napari_microdeblur.core.notes import DeblurWarning
from napari_microdeblur.core.tile_options import tile_options
from napari_microdeblur.core.tiling_spec import TilingSpec

SHAPE = (500, 470)  # the walkthrough's images


def _wide(halo: int, divisor: int = 1, tile: int | None = None) -> Method:
    """A method of ``halo`` (the identity: only its reach matters here)."""
    return Method(name="wide", forward=lambda x: x, halo=halo, size_divisor=divisor,
                  default_tile=tile)


def _refusal(method: Method, tile: int, **tiling) -> str:
    layout = Layout.for_method("YX", SHAPE, method)
    with pytest.raises(ValueError, match="smaller than the receptive field") as info:
        tile_options(method, layout, TilingSpec(tile=tile, **tiling))
    return str(info.value)


@pytest.mark.parametrize("halo, divisor, tile", [(71, 1, None), (64, 16, 1024), (40, 2, None)])
def test_the_advised_tile_runs_without_the_work_warning(halo, divisor, tile):
    """The advised tile, with the overlap it then runs with, is under the 'x the work'
    warning's limit; the old advice (144 for a reach of 143 px) was 2603x the work."""
    method = _wide(halo, divisor, tile)
    message = _refusal(method, 128 if halo > 64 else 64)
    advised = int(re.search(r"use a tile of at least (\d+)", message).group(1))
    layout = Layout.for_method("YX", SHAPE, method)
    options = tile_options(method, layout, TilingSpec(tile=advised))
    assert small_tile_note(method, layout, options, advised) == ""
    # and it is the smallest such tile on the divisor's grid
    smaller = tile_options(method, layout, TilingSpec(tile=advised - divisor))
    assert small_tile_note(method, layout, smaller, advised - divisor) != ""


def test_the_refusal_says_why_the_tile_it_advises_is_larger():
    """The reach's least tile (144) is too slow under the method's 142 px overlap: the refusal
    says so in one clause and ends with the tile to use (a dock appends to it)."""
    message = _refusal(_wide(71), 128)
    advised = int(re.search(r"use a tile of at least (\d+)$", message).group(1))
    assert f"with an overlap of 142 px, tiles below {advised} take over 3x" in message
    assert advised > 144 and len(message) < 200


def test_a_given_overlap_is_used_for_the_advice():
    """With overlap=8 given, a tile just above the reach already runs cheaply."""
    assert "use a tile of at least 144" in _refusal(_wide(71), 128, overlap=8)
    assert "use a tile of at least 144" not in _refusal(_wide(71), 128)


def test_the_cli_advice_before_any_image(tmp_path, capsys):
    """The command line refuses --tile before reading a file, with the same kind of advice."""
    src = tmp_path / "a.tif"
    tifffile.imwrite(src, np.ones((300, 300), np.uint16))
    code = main(["deblur", str(src), "-o", str(tmp_path / "o.tif"), "--method",
                 "c2f_unet.fluorescence_v2", "--device", "cpu", "-q", "--tile", "64"])
    err = capsys.readouterr().err
    assert code == 2
    advised = int(re.search(r"use a tile of at least (\d+)$", err.strip()).group(1))
    assert f"tiles below {advised} take over 3x the default tiling's work" in err
    assert advised > 144 and not (tmp_path / "o.tif").exists()


def _deblurred(overlap, tile=64):
    image = np.random.default_rng(0).random((160, 160)).astype(np.float32)
    method = Method(name="reach8", forward=lambda x: x * 2, halo=8)  # overlap 16
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        deblur(image, method=method, axes="YX", tile=tile, overlap=overlap, device="cpu")
    return [str(w.message) for w in said if issubclass(w.category, DeblurWarning)
            and "seams" in str(w.message)]


def test_an_overlap_below_the_methods_warns_with_the_overlap_to_use():
    said = _deblurred(4)
    assert len(said) == 1
    assert "overlap of 4 px is below the 16 px 'reach8' needs" in said[0]
    assert "give an overlap of 16 px or more" in said[0] and "%" in said[0]


@pytest.mark.parametrize("overlap, tile", [(None, 64), (16, 64), (24, 64), (2, 160)])
def test_no_seam_warning_for_the_default_a_larger_overlap_or_one_tile(overlap, tile):
    assert _deblurred(overlap, tile) == []
