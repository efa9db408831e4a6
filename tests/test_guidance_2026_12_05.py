"""Guidance walkthrough 'choose' (2026-12-05): evaluate --match on a pair that is not one field
said '--border 139 leaves -22 x -22 pixels', a border never given; `methods` did not say the
networks are 2D; a brightfield network's card said only 'grayscale images (YX)' and cut its
training data after the first set; the Image type tooltip did not warn about phase contrast."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core import bundled

BRIGHTFIELD = "c2f_unet.brightfield_v2"


def _field(seed: int, shape=(64, 64)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 3.0).astype(np.float32)


def test_match_refuses_a_shift_that_leaves_nothing_to_score(tmp_path, capsys):
    """Two fields that are not one register by a spurious shift (x -31 px in 64 px): refused in
    one line that says why and what to do, not with a --border the user never gave."""
    rng = np.random.default_rng(5)
    truth = ndimage.gaussian_filter(rng.random((64, 64)), 3.0).astype(np.float32)
    other = ndimage.gaussian_filter(rng.random((64, 64)), 3.0).astype(np.float32)
    tifffile.imwrite(tmp_path / "p.tif", other)
    tifffile.imwrite(tmp_path / "r.tif", truth)
    assert main(["evaluate", str(tmp_path / "p.tif"), "--reference", str(tmp_path / "r.tif"),
                 "--match", "--border", "8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("microdeblur: error: --match: ") and "--border" not in err
    assert "x -31.0 px" in err and "score without --match" in err


def test_match_still_scores_a_pair_and_a_wide_border_is_still_the_users(tmp_path, capsys):
    truth = _field(0)
    moved = ndimage.shift(ndimage.gaussian_filter(truth, 1.5), (1.5, -2.0), order=3,
                          mode="nearest").astype(np.float32)
    tifffile.imwrite(tmp_path / "p.tif", moved)
    tifffile.imwrite(tmp_path / "r.tif", truth)
    args = ["evaluate", str(tmp_path / "p.tif"), "--reference", str(tmp_path / "r.tif"),
            "--match"]
    assert main(args) == 0 and "PSNR" in capsys.readouterr().out
    assert main([*args, "--border", "30"]) == 2  # the user's own border: metrics says it
    assert "--border 30 leaves" in capsys.readouterr().err


def test_methods_text_says_which_methods_run_in_3d(capsys):
    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[:-1]}
    assert rows["richardson_lucy"][2] == "2D/3D" and rows["wiener"][2] == "2D/3D"
    assert rows["c2f_unet"][2] == "2D" and rows["psf_cyclegan"][2] == "2D/3D"
    for name in bundled.BUNDLED_WEIGHTS:  # every bundled network is 2D
        assert rows[name][2] == "2D", name
    assert "plane by plane on a z-stack" in lines[-1]


@pytest.fixture
def brightfield_card():
    from napari_microdeblur.core.checkpoint import read_card

    if not bundled.is_installed(BRIGHTFIELD):
        pytest.skip(f"{BRIGHTFIELD} is not installed")
    return read_card(bundled.WEIGHTS_DIR / bundled.BUNDLED_WEIGHTS[BRIGHTFIELD].file)


def test_dock_card_names_the_image_type_and_every_training_set(brightfield_card):
    from napari_microdeblur._widgets._cards import card_summary

    text = card_summary(brightfield_card)
    assert "<b>image type</b>: brightfield and histology; grayscale images (YX)" in text
    for name in bundled.BUNDLED_WEIGHTS[BRIGHTFIELD].training_sets:
        assert name in text, name
    assert "\u2026" not in text


def test_info_prints_a_weights_files_card(brightfield_card, capsys):
    assert main(["info", brightfield_card.source]) == 0
    out = capsys.readouterr().out
    assert "  image type: brightfield and histology; grayscale images (YX)" in out
    sets = ", ".join(bundled.BUNDLED_WEIGHTS[BRIGHTFIELD].training_sets)
    assert f"  training data: training splits of {sets}\n" in out


def test_image_type_tooltip_warns_about_phase_contrast_and_dic(make_napari_viewer):
    from test_widgets import dock

    w = dock(make_napari_viewer(), "Deblur")
    tip = w.modality_combo.toolTip()
    assert "Phase contrast and DIC images are not blurred absorption images" in tip
    assert "sharpens their halos rather than removing them" in tip
