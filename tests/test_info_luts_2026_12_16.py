"""``microdeblur info`` names an ImageJ file's channel colours (its --json had printed each
3 x 256 LUT as numpy's repr, and the text said nothing of them)."""

import json

import numpy as np
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core.imagej_luts import ramp_lut


def _file(tmp_path):
    path = tmp_path / "two colours.tif"
    tifffile.imwrite(path, np.zeros((2, 16, 16), np.uint16), imagej=True,
                     metadata={"axes": "CYX", "mode": "composite",
                               "LUTs": [ramp_lut((1, 0, 0)), ramp_lut((1, 0.5, 0))]})
    return path


def test_info_names_the_channel_colours(tmp_path, capsys):
    path = _file(tmp_path)
    assert main(["info", str(path)]) == 0
    assert "channel colours (ImageJ LUTs): red, ImageJ #ff8000" in capsys.readouterr().out
    assert main(["info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["luts"] == ["red", "ImageJ #ff8000"]
