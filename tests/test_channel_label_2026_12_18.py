"""A PSF per channel whose channels run different methods: the CLI's line and its --json
'method' name each channel's (``channel_psfs.methods_label``, the Deblur dock's label), not
channel 1's alone; a run where every channel ran one method still names that one."""

import json

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main

# 'auto' on a 17-plane stack: the confocal PSF (in-focus share ~0.37) keeps the PSF-aware
# network plane by plane, the widefield one runs Richardson-Lucy in 3D
TWO_METHODS = ("confocal:na=1.4,wavelength=0.52,pixel=0.2,nz=21,dz=0.2;"
               "widefield:na=1.4,wavelength=0.52,pixel=0.2,nz=21,dz=0.2")
LABEL = "c1 wiener_unet.psf_v4, c2 richardson_lucy"


def _stack(path, shape):
    rng = np.random.default_rng(0)
    tifffile.imwrite(path, (rng.random(shape) * 1000 + 100).astype(np.uint16))
    return path


@pytest.fixture
def pair(tmp_path):
    from napari_microdeblur.core.bundled import BUNDLED_WEIGHTS

    if "wiener_unet.psf_v4" not in BUNDLED_WEIGHTS:
        pytest.skip("the bundled PSF-aware network is not installed")
    return _stack(tmp_path / "pair.tif", (2, 17, 32, 32))


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_single_file_json_and_line_name_each_channels_method(tmp_path, pair, capsys):
    out = tmp_path / "out.tif"
    args = ["deblur", str(pair), "-o", str(out), "--axes", "CZYX", "--psf", TWO_METHODS,
            "--device", "cpu"]
    assert main([*args, "--json"]) == 0
    (line,) = _json_lines(capsys.readouterr().out)
    assert line["status"] == "ok"
    assert isinstance(line["method"], str) and line["method"] == LABEL
    # the output's record agrees: no one method, each channel's under 'channels'
    from napari_microdeblur.core import io

    record = io.read_image(out).metadata["microdeblur"]
    assert record.get("method") is None
    assert [c["method"] for c in record["channels"]] == ["wiener_unet.psf_v4",
                                                       "richardson_lucy"]
    assert main([*args, "--overwrite"]) == 0
    said = capsys.readouterr().out
    assert f"{out}: {LABEL} on CZYX" in said


def test_batch_json_names_each_channels_method(tmp_path, pair, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    pair.rename(folder / "pair.tif")
    out = tmp_path / "out"
    out.mkdir()  # one file into a folder: a batch
    assert main(["deblur", str(folder), "-o", str(out), "--axes", "CZYX", "--psf",
                 TWO_METHODS, "--device", "cpu", "--json"]) == 0
    lines = [x for x in _json_lines(capsys.readouterr().out) if "status" in x]
    assert [x["method"] for x in lines] == [LABEL]


def test_one_method_on_every_channel_is_named_once(tmp_path, capsys):
    image = _stack(tmp_path / "two.tif", (2, 64, 64))
    out = tmp_path / "out.tif"
    assert main(["deblur", str(image), "-o", str(out), "--axes", "CYX", "--method",
                 "richardson_lucy", "--iterations", "3", "--psf", "gaussian:1.6;gaussian:2.0",
                 "--json"]) == 0
    (line,) = _json_lines(capsys.readouterr().out)
    assert line["method"] == "richardson_lucy"
