"""`microdeblur watch` refuses what would do nothing or everything wrong, before any file is
touched: --percentile or --margin beside --threshold (they only shape a calibrated threshold,
and were ignored), and a --threshold of 0 or below (no score is below it: every file was
copied, none deblurred, exit 0)."""

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main


@pytest.fixture
def folders(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    tifffile.imwrite(src / "a.tif", np.random.default_rng(0).integers(0, 255, (64, 64),
                                                                      dtype=np.uint8))
    return src, out


@pytest.mark.parametrize("extra, named", [
    (["--margin", "0.1"], "--margin sets"),
    (["--percentile", "50"], "--percentile sets"),
    (["--percentile", "5", "--margin", "0.4"], "--percentile and --margin set"),
])
def test_calibration_options_beside_threshold_are_refused(folders, capsys, extra, named):
    src, out = folders
    assert main(["watch", str(src), str(out), "--once", "--threshold", "1", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"microdeblur: error: {named} how --calibrate puts the threshold")
    assert "drop" in err and len(err.splitlines()) == 1
    assert list(out.iterdir()) == []  # no log, no output


@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_threshold_of_zero_or_below_is_refused(folders, capsys, value):
    src, out = folders
    assert main(["watch", str(src), str(out), "--once", "--threshold", value]) == 2
    assert f"--threshold {value}: give a focus score > 0" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_the_default_percentile_still_calibrates(folders, tmp_path, capsys, fluo_u8):
    src, out = folders
    good = tmp_path / "good"
    good.mkdir()
    for i, image in enumerate((fluo_u8, fluo_u8.T, fluo_u8[::-1])):  # real nuclei, sharp
        tifffile.imwrite(good / f"g{i}.tif", image)
    assert main(["watch", str(src), str(out), "--once", "--calibrate", str(good),
                 "--method", "wiener", "--psf", "gaussian:1.2"]) == 0
    assert "x percentile 5.0 of 3 known-good images" in capsys.readouterr().out
