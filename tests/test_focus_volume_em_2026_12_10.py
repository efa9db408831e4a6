"""From a volume-EM walkthrough (a FIB-SEM stack with an alignment-border section and a blank
section): a constant border is left out of the focus score, blank planes are left out of
per-slice selection and labelled by `microdeblur focus`, and `microdeblur info` reads the Focus
dock's record."""

import json

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage

from napari_microdeblur import cli_info
from napari_microdeblur.cli import main
from napari_microdeblur.core import focus, selective

N = 256


def _texture(seed=0, n=N) -> np.ndarray:
    """A sharp EM-like uint8 section: smoothed noise around 120, never 0 or 255."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=(n, n)), 1.0)
    return np.clip(120 + 30 * field / field.std(), 1, 254).astype(np.uint8)


def _shifted(image, dy, dx, fill=0) -> np.ndarray:
    """``image`` moved by (dy, dx) px, the uncovered part filled: an aligned section."""
    out = np.full_like(image, fill)
    out[dy:, dx:] = image[: image.shape[0] - dy, : image.shape[1] - dx]
    return out


def _blur(image, sigma) -> np.ndarray:
    return np.round(ndimage.gaussian_filter(image.astype(np.float32), sigma)).astype(np.uint8)


# ----------------------------------------------------------------------------- 1. the border


def test_a_black_alignment_border_is_left_out_of_the_score():
    sharp = _texture()
    border = _shifted(sharp, 90, 100)  # 57 % of the plane black, as the walkthrough's 55 %
    # before: 3-4x the same section's score (the border's edge added band-pass energy)
    margin = 12  # 3 coarse sigmas: the band-pass reach of the border's edge
    alone = focus.focus_score(sharp[margin:N - 90, margin:N - 100])
    assert focus.focus_score(border) == pytest.approx(alone, rel=0.03)
    # blurred, it ranks below the sharp sections (before: a sigma-3 blur scored above them)
    for sigma in (1.5, 3.0):
        assert focus.focus_score(_blur(border, sigma)) < 0.7 * focus.focus_score(sharp)


@pytest.mark.parametrize("fill", [0, 255])
def test_a_rotated_section_with_a_black_or_white_fill_scores_as_its_inside(fill):
    sharp = _texture(1, 320)
    turned = ndimage.rotate(sharp, 9, reshape=False, order=0, cval=fill)
    inside = turned[80:240, 80:240]  # well inside the rotated square
    assert focus.focus_score(turned) == pytest.approx(focus.focus_score(inside), rel=0.1)
    assert focus.scored_region(turned.astype(np.float32)) is not None


def test_tiles_in_the_border_score_0_and_the_others_their_inside():
    border = _shifted(_texture(), 128, 0)
    tiles = focus.focus_score(border, tile=64)
    assert (tiles[:2] == 0).all()  # all in the border: no structure, as a constant plane
    assert (tiles[2:] > 0).all() and np.isfinite(tiles).all()


def _dark_blobs_at_the_edge(image) -> np.ndarray:
    """Dark round cell interiors (exactly 0) cut by the plane's edge, as axons in SEM."""
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    out = image.copy()
    for cy, cx in ((0, 60), (128, 0), (255, 190), (90, 255), (0, 200)):
        out[(yy - cy) ** 2 + (xx - cx) ** 2 < 30**2] = 0
    return out


def _clipped_background(image) -> np.ndarray:
    """Fluorescence with a dark-level subtraction clipped at 0: noisy zeros everywhere."""
    rng = np.random.default_rng(3)
    spots = np.zeros(image.shape)
    spots[rng.integers(0, N, 40), rng.integers(0, N, 40)] = 4000
    signal = ndimage.gaussian_filter(spots, 3) + rng.normal(0, 2, image.shape)
    return np.clip(signal, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("make", [
    lambda s: s,
    lambda s: _shifted(s, 2, 0),  # a 2 px strip: thinner than a border
    _dark_blobs_at_the_edge,
    _clipped_background,
])
def test_ordinary_images_are_scored_over_the_whole_plane_as_before(make):
    image = make(_texture(2))
    assert focus.scored_region(image.astype(np.float32)) is None
    plane = image.astype(np.float32)
    # the whole-plane formula: the band-pass energy over the squared mean
    spatial = focus.band_pass_energy_map(torch.from_numpy(plane)[None])
    assert focus.focus_score(image) == pytest.approx(float(spatial.mean()), rel=1e-4)


# ----------------------------------------------------------------------------- 2. blank planes


def _stack_with_a_blank_plane() -> np.ndarray:
    sharp = [_texture(i, 96) for i in range(4)]
    stack = np.stack([sharp[0], _blur(sharp[1], 2.0), np.zeros_like(sharp[2]), sharp[3]])
    return stack


def test_structure_planes_finds_the_blank_plane():
    stack = _stack_with_a_blank_plane()
    np.testing.assert_array_equal(focus.structure_planes(stack, axes="ZYX"),
                                  [True, True, False, True])
    assert bool(focus.structure_planes(stack[0])) and not focus.structure_planes(stack[2])


def test_per_slice_selection_leaves_a_blank_plane_as_it_was():
    stack = _stack_with_a_blank_plane()
    scores = focus.focus_score(stack, axes="ZYX")
    threshold = 0.5 * float(scores[0])
    result = selective.deblur_selected(stack, "wiener", psf="gaussian:2.0", axes="ZYX",
                                       threshold=threshold, output_dtype="input")
    assert result.selected == ((1,),)  # before: ((1,), (2,)): the blank plane 'deblurred'
    assert result.background == 1
    np.testing.assert_array_equal(result.structure, [True, True, False, True])
    assert result.image[2].tobytes() == stack[2].tobytes()
    # scores given by the caller are used as they are (the dock's own rule)
    given = selective.deblur_selected(stack, "wiener", psf="gaussian:2.0", axes="ZYX",
                                      threshold=threshold, scores=scores)
    assert given.selected == ((1,), (2,)) and given.structure is None


def test_cli_focus_labels_a_blank_plane(tmp_path, capsys):
    path = tmp_path / "vol.tif"
    tifffile.imwrite(path, _stack_with_a_blank_plane(), photometric="minisblack")
    assert main(["focus", str(path), "--axes", "ZYX"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[3] == "(2,): 0 blank (no structure)"
    assert not any("blank" in line for line in lines[1:3] + lines[4:])  # [0] names the file
    assert main(["focus", str(path), "--axes", "ZYX", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["structure"] == [True, True, False, True] and len(found["scores"]) == 4
    # several files: one line each, the blank plane named at its end
    assert main(["focus", str(path), str(path), "--axes", "ZYX"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(
        "(ZYX); blank (no structure): (2,)")


def test_cli_focus_labels_a_blank_image_and_its_tiles(tmp_path, capsys):
    image = np.zeros((96, 96), np.uint8)
    image[:32, :32] = _texture(5, 32)  # in one tile of 48 px (its blur's reach too)
    tifffile.imwrite(tmp_path / "half.tif", image)
    tifffile.imwrite(tmp_path / "blank.tif", np.zeros((64, 64), np.uint8))
    assert main(["focus", str(tmp_path / "blank.tif")]) == 0
    assert capsys.readouterr().out.strip().endswith(": focus score 0 blank (no structure)")
    assert main(["focus", str(tmp_path / "half.tif"), "--tile", "48", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["structure"] == [[True, False], [False, False]]


# ----------------------------------------------------------------------------- 3. info


def _info(record: dict) -> dict:
    return {"file": "out.tif", "shape": [34, 64, 64], "dtype": "float32", "axes": "ZYX",
            "axes_stated": True, "axes_note": None, "pixel_size_um": {},
            "microdeblur": {"method": "gran.em_v1", "source_layer": "vol", "focus": record}}


def test_info_prints_the_focus_docks_record_of_slices():
    record = {"mode": "slices", "score_axes": "Z", "threshold": 0.002, "focus_tile": None,
              "halo": 0, "units": 34, "deblurred": 5,
              "selected": [[4], [10], [17], [22], [23]], "boxes": []}
    text = cli_info.text_block(_info(record))
    # before: "focus: score None, threshold 0.002 (from an unrecorded origin): decision not
    # recorded"
    assert ("  focus: threshold 0.002 (from an unrecorded origin); 5 of 34 slices (Z) below "
            "it deblurred: 4, 10, 17, 22, 23") in text.splitlines()
    assert "None" not in text and "decision" not in text
    record["threshold_from"] = "percentile 5 of 8 slice scores of 'known good'"
    assert "(from percentile 5 of 8 slice scores of 'known good')" in cli_info.text_block(
        _info(record))


def test_info_prints_the_focus_docks_record_of_tiles():
    selected = [[0, r, c] for r in range(5) for c in range(5)]
    record = {"mode": "tiles", "score_axes": "Zyx", "threshold": 1.5e-3, "focus_tile": 128,
              "halo": 16, "units": 200, "deblurred": 25, "selected": selected,
              "boxes": [[0, 128, 0, 128]] * 25}
    line = [s for s in cli_info.text_block(_info(record)).splitlines() if "focus:" in s][0]
    assert line.startswith("  focus: threshold 0.0015 (from an unrecorded origin); 25 of 200 "
                           "tiles of 128 px (Z, tile row, tile column) below it deblurred: "
                           "(0, 0, 0), (0, 0, 1), ")
    assert line.endswith(", ... (5 more)")  # 20 named; --json has them all


def test_focus_qc_per_slice_leaves_a_blank_slice_out(make_napari_viewer, qtbot):
    """The Focus QC dock per slice: a blank slice scored softest was selected and 'deblurred'
    (its zeros made non-zero); now it is left out and the status says so."""
    viewer = make_napari_viewer()
    layer = viewer.add_image(_stack_with_a_blank_plane().astype(np.float32), name="volume")
    _, w = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Focus QC")
    w.layer_combo.set_value(layer)
    w.unit_combo.setCurrentIndex(1)  # per slice
    assert w.score() is not None
    qtbot.waitUntil(lambda: not w._workers, timeout=60000)
    np.testing.assert_array_equal(w.structure, [True, True, False, True])
    assert "1 slice of background noise only, left out" in w.status_label.text()
    w.set_threshold(float(np.nanmax(w.scores)) * 2)  # every slice with structure below it
    mask = w.soft_mask()
    assert mask is not None and not mask[2] and mask[[0, 1, 3]].all()  # never the blank one
