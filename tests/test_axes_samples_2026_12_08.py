"""An S (colour samples) axis longer than RGBA is refused: a mistyped --axes YXS on a z-stack
read its planes as rows and its columns as 192 colours, and wrote that image without error."""

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core.axes import MAX_SAMPLES, check_axes


@pytest.mark.parametrize("samples", [1, 2, 3, 4])
def test_rgb_rgba_and_short_sample_axes_are_accepted(samples):
    assert check_axes("YXS", (32, 32, samples)) == "YXS"


def test_a_sample_axis_longer_than_rgba_is_refused_saying_what_to_use():
    with pytest.raises(ValueError, match=r"S .* 192 long .* use C for channels, Z or T"):
        check_axes("YXS", (14, 192, 192))
    assert MAX_SAMPLES == 4


@pytest.mark.parametrize("command", [["deblur", "-o", "out.tif"], ["focus"]])
def test_the_cli_refuses_it_and_writes_nothing(tmp_path, capsys, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    tifffile.imwrite("stack.tif", np.random.default_rng(0).random((14, 96, 96), np.float32),
                     imagej=True, metadata={"axes": "ZYX"})
    assert main([command[0], "stack.tif", *command[1:], "--axes", "YXS"]) == 2
    assert "at most 4 long" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.tif"]
