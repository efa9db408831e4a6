"""A result cast back to the input's integer type (``output_dtype='input'``), said (dtypes
walkthrough, /tmp/wt_dtypes):

- the values clipped to the type's range were counted nowhere (a PNG output counted them):
  deconvolution overshoots, so ringing tops and undershoots were lost silently. Now one
  DeblurWarning per output names how many, tiled or not, one plane or a stack of them;
- rounding a result of few levels (photon counts, 0-20) costs 1-3 dB, said nowhere. Now a
  DeblurNote where the result spans fewer than ``output_cast.ROUNDING_SPAN`` levels.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile

import napari_microdeblur as md
from napari_microdeblur.core import output_cast, tiling
from napari_microdeblur.core.files import deblur_file
from napari_microdeblur.core.notes import DeblurNote, DeblurWarning

WIENER = {"method": "wiener", "psf": "gaussian:1.6", "balance": 0.001, "device": "cpu"}


def _spots(h: int = 96, w: int = 96, top: float = 60000.0) -> np.ndarray:
    """Sharp spots near the top of uint16 on a zero background: Wiener overshoots both ends."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[:h, :w]
    image = np.zeros((h, w))
    for cy, cx in rng.uniform(8, [h - 8, w - 8], size=(8, 2)):
        image += np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 6)
    return np.rint(np.clip(image / image.max(), 0, 1) * top).astype(np.uint16)


def _said(run):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run()
    return result, [w for w in caught if issubclass(w.category, (DeblurNote, DeblurWarning))]


def _clipped(floats: np.ndarray, dtype) -> tuple[int, int]:
    info = np.iinfo(dtype)
    rounded = np.rint(floats.astype(np.float64))
    return int((rounded < info.min).sum()), int((rounded > info.max).sum())


def _clip_lines(said) -> list[str]:
    return [str(w.message) for w in said if issubclass(w.category, DeblurWarning)
            and "clipped to" in str(w.message)]


@pytest.mark.parametrize("tile", [None, 48])
def test_clipped_values_are_counted_once_per_output(tile):
    image = _spots()
    options = dict(WIENER, **({"tile": tile, "overlap": 16} if tile else {}))
    floats, said = _said(lambda: md.deblur(image, **options))
    below, above = _clipped(floats, np.uint16)
    assert below > 0 and above > 0  # the case: Wiener rings below 0 and above 65535
    assert _clip_lines(said) == []  # float32 keeps them: nothing to say
    got, said = _said(lambda: md.deblur(image, output_dtype="input", **options))
    assert got.dtype == np.uint16
    lines = _clip_lines(said)
    assert len(lines) == 1, lines  # tiled: once, not once per band of rows
    assert f"{below + above} of {image.size} values" in lines[0]
    assert f"{above} above 65535" in lines[0] and f"{below} below 0" in lines[0]
    assert "output dtype to float32" in lines[0]


def test_a_stack_written_to_a_file_says_its_clipping_once(tmp_path):
    plane = _spots()
    stack = np.stack([plane, plane[::-1], plane[:, ::-1]])
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, stack, photometric="minisblack", metadata={"axes": "ZYX"})
    tiles = {"tile": 48, "overlap": 16}
    floats, _ = _said(lambda: md.deblur(stack, axes="ZYX", **tiles, **WIENER))
    below, above = _clipped(floats, np.uint16)
    output = tmp_path / "out.tif"
    _, said = _said(lambda: deblur_file(source, output, axes="ZYX", output_dtype="input",
                                        **tiles, **WIENER))
    lines = _clip_lines(said)
    assert len(lines) == 1, lines  # three planes of tiles: one line for the file
    assert lines[0].startswith(repr(str(output)))
    assert f"{below + above} of {stack.size} values" in lines[0]
    assert tifffile.imread(output).dtype == np.uint16


def test_map_in_pieces_counts_every_piece_in_one_line(monkeypatch):
    monkeypatch.setattr(tiling, "PIECE_ELEMENTS", 100)  # 1000 values: ten pieces
    values = np.linspace(-50.0, 300.0, 1000).reshape(10, 100)
    expected = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    got, said = _said(lambda: tiling.map_in_pieces(values, np.uint8, lambda p: p))
    np.testing.assert_array_equal(got, expected)
    lines = _clip_lines(said)
    below, above = int((np.rint(values) < 0).sum()), int((np.rint(values) > 255).sum())
    assert len(lines) == 1, lines
    assert f"{below + above} of 1000 values" in lines[0] and "0-255" in lines[0]


def _photons(peak: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:96, :96]
    cells = sum(np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 40)
                for cy, cx in rng.uniform(10, 86, size=(10, 2)))
    return rng.poisson(np.clip(cells, 0, 1) * peak).astype(np.uint16)


def _rounding_notes(said) -> list[str]:
    return [str(w.message) for w in said if issubclass(w.category, DeblurNote)
            and "levels" in str(w.message) and "rounded to" in str(w.message)]


def test_rounding_a_result_of_few_counts_is_noted_once():
    options = dict(method="richardson_lucy", psf="gaussian:2", iterations=10, device="cpu")
    image = _photons(20)
    _, said = _said(lambda: md.deblur(image, output_dtype="input", tile=48, overlap=16,
                                      **options))
    notes = _rounding_notes(said)
    assert len(notes) == 1, notes
    assert "uint16" in notes[0] and "float32" in notes[0]
    # a result of hundreds of levels: rounding costs nothing measurable, nothing said
    _, said = _said(lambda: md.deblur(_photons(2000), output_dtype="input", **options))
    assert _rounding_notes(said) == []
    _, said = _said(lambda: md.deblur(image, **options))  # float32 output: nothing rounded
    assert _rounding_notes(said) == []


# review of the tally (castfix): a piece wholly outside the range, one line per selective or
# cluster output, the rounding figure of the span's own band


@pytest.mark.parametrize("value, side, level", [(300.0, "64 above 255", 255),
                                                (-5.0, "64 below 0", 0)])
def test_a_piece_wholly_outside_the_range_is_clipped_and_counted(value, side, level):
    # all above 255 had crashed in np.bincount; all below 0 had lost its levels
    got, said = _said(lambda: tiling.map_in_pieces(np.full((8, 8), value), np.uint8,
                                                   lambda p: p))
    np.testing.assert_array_equal(got, np.full((8, 8), level, np.uint8))
    lines = _clip_lines(said)
    assert len(lines) == 1 and "64 of 64 values" in lines[0] and side in lines[0], lines
    tally = output_cast.OutputCast()
    tally.count(np.full(100, value), np.uint8, 0, 255)
    assert tally.span() == (level, level)  # its levels as clipped, held in the histogram


def test_pieces_outside_and_inside_the_range_add_up(monkeypatch):
    monkeypatch.setattr(tiling, "PIECE_ELEMENTS", 100)
    values = np.concatenate([np.full(100, 400.0), np.arange(100) % 10 + 20.0, np.full(100, -9.0)])
    got, said = _said(lambda: tiling.map_in_pieces(values.reshape(3, 100), np.uint8,
                                                   lambda p: p))
    np.testing.assert_array_equal(got.ravel(), np.clip(values, 0, 255).astype(np.uint8))
    lines = _clip_lines(said)
    assert len(lines) == 1 and "200 of 300 values" in lines[0], lines
    assert "100 above 255" in lines[0] and "100 below 0" in lines[0]
    tally = output_cast.OutputCast()
    for piece in values.reshape(3, 100):
        tally.count(piece, np.uint8, 0, 255)
    assert tally.span() == (0, 255) and (tally.below, tally.above) == (100, 100)
    inside = output_cast.OutputCast()
    assert inside.count(np.arange(50.0), np.uint8, 0, 255) is False  # nothing to clip
    assert inside.span() == (0, 49) and inside.below == inside.above == 0


def _stack_u8() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = np.full((6, 64, 64), 5, np.uint8)
    image[:, 20:44, 20:44] = 250
    return image + rng.integers(0, 4, image.shape).astype(np.uint8)


@pytest.mark.parametrize("tile", [None, 32])
def test_a_focus_selective_stack_says_its_clipping_once(tile):
    from napari_microdeblur.core.selective import deblur_selected

    options = dict(method="wiener", psf="gaussian:2", balance=0.01, threshold=1e9, axes="ZYX",
                   tile=tile, skip_background=False, device="cpu")
    result, said = _said(lambda: deblur_selected(_stack_u8(), output_dtype="input", **options))
    assert result.image.dtype == np.uint8
    lines = _clip_lines(said)
    assert len(lines) == 1, lines  # six planes (or their tiles): one line, not one each
    assert lines[0].startswith("output: ") and "above 255" in lines[0]


def test_a_cluster_volume_names_the_chunk_of_each_clipping_line(tmp_path):
    distributed = pytest.importorskip("distributed")
    from napari_microdeblur.core import io_write
    from napari_microdeblur.core.cluster import deblur_zarr_on_cluster

    image = _stack_u8()[:3]
    src = tmp_path / "stack.zarr"
    with io_write.open_zarr_output(src, image.shape, image.dtype, axes="ZYX") as target:
        target[...] = image
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local, \
            distributed.Client(local) as client:
        _, said = _said(lambda: deblur_zarr_on_cluster(
            src, tmp_path / "out.zarr", scheduler=client, axes="ZYX", output_dtype="input",
            method="wiener", psf="gaussian:2", balance=0.01, device="cpu"))
    lines = _clip_lines(said)
    # a line per block (in the worker's log), each saying which chunk, not "output"
    assert sorted(line.split(": ")[0] for line in lines) == [
        f"chunk Z {z}:{z + 1}, Y 0:64, X 0:64" for z in range(3)], lines


@pytest.mark.parametrize("top, band, cost", [(10, "under 20", "0.65-6.7 dB"),
                                             (30, "20-39", "0.14-0.57 dB")])
def test_the_rounding_note_quotes_the_loss_of_its_spans_band(top, band, cost):
    tally = output_cast.OutputCast()
    tally.count(np.arange(top + 1, dtype=float).repeat(100), np.uint16, 0, 65535)
    note = tally.rounding_message()
    assert f"spans only {top} levels" in note
    assert f"({cost} PSNR lost on test images spanning {band} levels)" in note
