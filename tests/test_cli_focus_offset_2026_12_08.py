"""`microdeblur focus --camera-offset`: the dark level is subtracted before scoring."""

import json

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main


def _scored(capsys, *argv) -> dict:
    assert main(["focus", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_camera_offset_makes_an_offset_image_score_as_without_it(tmp_path, capsys):
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 50, (96, 96)).astype(np.float32)
    tifffile.imwrite(tmp_path / "a.tif", image)
    tifffile.imwrite(tmp_path / "b.tif", image + 100)
    plain = _scored(capsys, str(tmp_path / "a.tif"))["score"]
    offset = _scored(capsys, str(tmp_path / "b.tif"))["score"]
    assert offset < plain / 4  # the dark level lowers the score
    given = _scored(capsys, str(tmp_path / "b.tif"), "--camera-offset", "100")
    assert given["score"] == pytest.approx(plain, rel=1e-5)
    assert given["camera_offset"] == 100


def test_a_negative_camera_offset_is_one_line_before_reading(tmp_path, capsys):
    assert main(["focus", str(tmp_path / "missing.tif"), "--camera-offset", "-5"]) == 2
    err = capsys.readouterr().err
    assert "--camera-offset -5" in err and "missing" not in err
