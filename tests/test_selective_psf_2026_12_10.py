"""A selective deblur (--focus-below) settles its estimated PSF and its 'auto' iterations and
balance on the soft part it deblurs: each selected slice on its own plane, a plane's selected
tiles on the box around them. It had settled them on the whole image's middle plane, a sharp
one, so a slice blurred with sigma 3 ran with a PSF of sigma 0.4 and barely changed."""

import json
import warnings

import numpy as np
import pytest
import tifffile
from scipy.ndimage import gaussian_filter

from napari_microdeblur.cli import main
from napari_microdeblur.core import io, selective
from napari_microdeblur.core.focus import focus_score
from napari_microdeblur.core.image_settings import spec_for_image
from napari_microdeblur.core.inference import split_options
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.notes import DeblurNote
from napari_microdeblur.core.psf import parse_psf

SOFT = {1: 2.5, 3: 1.2}  # plane: blur sigma; plane 2, the middle one, is sharp
ESTIMATE = MethodSpec(name="wiener", psf="estimate")


def _widest_sigma(psf: str) -> float:
    """The larger sigma of a 'gaussian:s' or 'astig:sy,sx,angle' PSF model."""
    return max(float(v) for v in psf.split(":")[1].split(",")[:2])


def _psnr(a, b) -> float:
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


@pytest.fixture(scope="module")
def truth(fluo_u8):
    """5 sharp 128 px planes of real nuclei (the crop turned and flipped)."""
    a = fluo_u8.astype(np.float64)
    return np.stack([a, a[::-1], a[:, ::-1], a.T, a[::-1, ::-1]])


@pytest.fixture(scope="module")
def soft_stack(truth):
    """``truth`` with planes 1 and 3 blurred (``SOFT``), as uint8."""
    out = truth.copy()
    for z, sigma in SOFT.items():
        out[z] = gaussian_filter(truth[z], sigma)
    return np.round(out).astype(np.uint8)


def _run(stack, spec=ESTIMATE, **kwargs):
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        result = selective.deblur_selected(stack, spec, threshold=0.1, axes="ZYX",
                                           output_dtype="input", **kwargs)
    return result, [str(w.message) for w in said]


def test_each_soft_slice_runs_with_the_psf_estimated_from_it(soft_stack, truth):
    assert list(np.flatnonzero(focus_score(soft_stack, axes="ZYX") < 0.1)) == [1, 3]
    result, said = _run(soft_stack)
    assert result.selected == ((1,), (3,))
    assert [p.plane for p in result.settled] == [(1,), (3,)]
    for part in result.settled:
        z = part.plane[0]
        assert part.box == (0, 128, 0, 128)  # a slice: its whole plane
        own = spec_for_image(ESTIMATE, soft_stack[z], "YX", in_3d=False)
        assert part.settings == {"psf": own.psf, "balance": own.balance}
    # the middle plane is sharp: its estimate (about 0.5 px) had deblurred both
    assert _widest_sigma(result.settled[0].settings["psf"]) > 1.2
    assert result.settled[0].settings["psf"] != result.settled[1].settings["psf"]
    # +1.4 and +4.6 dB; with the middle plane's PSF (sigma 0.5) +0.1 and +0.7
    for z in SOFT:
        assert _psnr(result.image[z], truth[z]) > _psnr(soft_stack[z], truth[z]) + 1.0
    np.testing.assert_array_equal(result.image[[0, 2, 4]], soft_stack[[0, 2, 4]])
    line = next(s for s in said if s.startswith("settled on the soft part"))
    assert "Z 1: PSF " in line and "Z 3: PSF " in line and "balance" in line


def test_one_soft_slice_says_its_estimate_as_a_whole_run_does(soft_stack, truth):
    one = soft_stack.copy()
    one[3] = truth[3].astype(np.uint8)  # sharp again: only plane 1 is soft
    result, said = _run(one)
    assert result.selected == ((1,),)
    (part,) = result.settled
    assert any(s.startswith("PSF estimated from the image") and part.settings["psf"] in s
               for s in said)
    assert not any(s.startswith("settled on the soft part") for s in said)


def test_a_settled_method_given_runs_as_it_is_and_nothing_selected_settles_on_the_whole(
        soft_stack):
    method = selective.settled_method(MethodSpec(name="wiener", psf="gaussian:1.0",
                                                 balance=0.05), soft_stack, "ZYX",
                                      split_options("wiener")[1])
    result, _ = _run(soft_stack, method)
    assert result.settled == () and result.parameters["psf"] == "gaussian:1.0"
    result = selective.deblur_selected(soft_stack, ESTIMATE, threshold=1e-9, axes="ZYX",
                                       output_dtype="input")
    assert result.selected == () and result.settled == ()
    np.testing.assert_array_equal(result.image, soft_stack)


def test_soft_tiles_settle_on_the_box_around_them(fluo_u8):
    sharp = np.block([[fluo_u8, fluo_u8[:, ::-1]], [fluo_u8[::-1], fluo_u8[::-1, ::-1]]])
    plane = sharp.astype(np.float64)
    plane[128:, :128] = gaussian_filter(plane, 2.5)[128:, :128]
    plane = np.round(plane).astype(np.uint8)
    scores = focus_score(plane, axes="YX", tile=64)
    inside = np.zeros(scores.shape, dtype=bool)
    inside[2:, :2] = True
    # the blurred quadrant's 4 tiles, no other (the crop's dark corners score low too)
    scores = np.where(inside, scores, np.nan)
    result = selective.deblur_selected(plane, ESTIMATE, threshold=1.0, axes="YX", tile=64,
                                       scores=scores, output_dtype="input")
    assert len(result.selected) == 4
    (part,) = result.settled
    assert part.plane == () and part.box == (128, 256, 0, 128)
    whole = spec_for_image(ESTIMATE, plane, "YX", in_3d=False).psf
    assert _widest_sigma(part.settings["psf"]) > _widest_sigma(whole) + 0.5


def test_settle_box_grows_a_lone_tile_and_caps_a_spread():
    assert selective.settle_box([(0, 0)], 32, (192, 192)) == (0, 128, 0, 128)
    assert selective.settle_box([(2, 3)], 32, (192, 192)) == (16, 144, 48, 176)
    assert selective.settle_box([(0, 0), (0, 1)], None, (90, 70)) == (0, 90, 0, 70)
    # spread wider than 256 px: 256 px around the tiles' median centre
    tiles = [(0, 0), (3, 3), (4, 4), (7, 7)]
    assert selective.settle_box(tiles, 64, (512, 512)) == (128, 384, 128, 384)
    # a plane smaller than the least box: the plane
    assert selective.settle_box([(1, 1)], 32, (96, 200)) == (0, 96, 0, 128)


def test_cli_says_and_records_where_each_setting_came_from(tmp_path, soft_stack, capsys):
    src = tmp_path / "fib.tif"
    tifffile.imwrite(src, soft_stack, imagej=True, metadata={"axes": "ZYX"})
    out = tmp_path / "out.tif"
    args = ["deblur", str(src), "-o", str(out), "--method", "wiener", "--psf", "estimate",
            "--focus-below", "0.1", "--device", "cpu", "--output-dtype", "input"]
    assert main(args) == 0
    line = capsys.readouterr().out
    assert "settings found on each soft slice (Z 1: PSF " in line and "; Z 3: PSF " in line
    record = io.read_image(out).metadata["microdeblur"]
    settled = record["focus"]["settled"]
    assert [(e["from"], e["plane"], e["box"], e["found"]) for e in settled] == [
        ("Z 1", [1], [0, 128, 0, 128], ["psf", "balance"]),
        ("Z 3", [3], [0, 128, 0, 128], ["psf", "balance"])]
    parse_psf(settled[0]["psf"])  # a model string that runs again
    # the planes' PSFs differ: a rerun estimates each again, not plane 1's for both
    assert record["psf"] == "estimate" and "psf_estimated" not in record
    assert "psf" not in record["parameters"] and "balance" not in record["parameters"]
    assert main(["deblur", str(src), "-o", str(tmp_path / "j.tif"), *args[4:], "--json"]) == 0
    (entry,) = [json.loads(t) for t in capsys.readouterr().out.splitlines()
                if t.startswith("{")]
    assert entry["settled_on"] == settled
    assert main(["info", "--command", str(out)]) == 0
    command = capsys.readouterr().out.strip()
    assert "--psf estimate" in command and "--balance" not in command
    assert main(["info", str(out)]) == 0  # each plane's own settings, as the run said them
    (line,) = [t for t in capsys.readouterr().out.splitlines() if "settings found per" in t]
    assert line.strip() == ("settings found per deblurred plane: " + "; ".join(
        f"{e['from']}: PSF {e['psf']}, balance {e['balance']:.3g}" for e in settled))


def test_settled_note_category(soft_stack):
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        selective.deblur_selected(soft_stack, ESTIMATE, threshold=0.1, axes="ZYX")
    notes = [w for w in said if str(w.message).startswith("settled on the soft part")]
    assert len(notes) == 1 and notes[0].category is DeblurNote


def test_one_iteration_is_said_in_the_singular():
    from napari_microdeblur.core.selective import settings_words

    assert settings_words({"psf": "gaussian:1.00", "iterations": 1}) == \
        "PSF gaussian:1.00, 1 iteration"
    assert settings_words({"iterations": 32}) == "32 iterations"


def test_a_plane_of_a_channel_is_named_with_the_channel_numbered_from_1():
    """A recheck: 'channel 1: 1 of 4 below ...' and 'Z 1, C 0: PSF ...' on one line."""
    from napari_microdeblur.core.selective import part_words

    assert part_words("ZC", (1, 0)) == "Z 1, channel 1"
    assert part_words("TC", (3, 1), (0, 64, 0, 64), (128, 128)) == \
        "T 3, channel 2 (y 0-64, x 0-64)"
    assert part_words("", ()) == "the image"
