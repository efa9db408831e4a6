"""A reviewer remakes each deblurred file from its record: a ``--focus-below`` output records
the precision and blend window that ran as a deblur's record does; records hold the input's
sha256, torch's version and the device's name; `microdeblur info --command` prints the
deblur command that gives the same output again, and the text view says where and how it ran."""

import hashlib
import json
import shlex

import numpy as np
import pytest
import tifffile
import torch

from napari_microdeblur.cli import main
from napari_microdeblur.cli_info import text_block
from napari_microdeblur.core import io, provenance
from napari_microdeblur.core.degrade import degrade

RUN_KEYS = ("method", "parameters", "precision", "tile", "overlap", "window", "device",
            "device_name", "normalization", "input_sha256", "torch_version")


def _record(path) -> dict:
    record = io.read_image(path).metadata.get("microdeblur")
    assert isinstance(record, dict), f"{path.name} carries no record"
    json.dumps(record)
    return record


def _pixels(path) -> np.ndarray:
    return np.asarray(io.read_image(path).array)


@pytest.fixture
def stack(tmp_path, fluo_u8):
    """3 planes of 64 x 64: one sharp, two softened."""
    crop = fluo_u8[:64, :64]
    planes = [crop, degrade(crop, "A", seed=1), degrade(crop, "A", seed=2)]
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.stack(planes).astype(np.float32), metadata={"axes": "ZYX"},
                     photometric="minisblack")
    return path


def test_a_selective_record_has_the_precision_and_window_that_ran(tmp_path, stack):
    whole, soft = tmp_path / "whole.tif", tmp_path / "soft.tif"
    common = ["--device", "cpu", "-q", "--window", "gaussian"]
    assert main(["deblur", str(stack), "-o", str(whole), *common]) == 0
    # 1.0 is far above any plane's score: every plane with structure is deblurred
    assert main(["deblur", str(stack), "-o", str(soft), "--focus-below", "1", *common]) == 0
    plain, selective = _record(whole), _record(soft)
    assert selective["focus"]["deblurred"] == 3
    for key in RUN_KEYS:
        assert key in selective, f"the --focus-below record lacks {key}"
    # the same network on the same device: the same precision, resolved (not 'auto')
    assert selective["precision"] == plain["precision"] != "auto"
    assert selective["precision"] in ("float32", "bfloat16", "float16")
    assert selective["window"] == plain["window"] == "gaussian"


def test_records_name_the_input_by_sha256_with_torch_and_the_device(tmp_path, fluo_u8):
    source, out = tmp_path / "a.tif", tmp_path / "o.tif"
    tifffile.imwrite(source, fluo_u8)
    assert main(["deblur", str(source), "-o", str(out), "--method", "wiener", "--psf",
                 "gaussian:1.6", "--device", "cpu", "-q"]) == 0
    record = _record(out)
    assert record["input_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert record["torch_version"] == torch.__version__
    assert isinstance(record["device_name"], str) and record["device_name"].strip()
    # a Zarr store (a folder) is many files: no input_sha256, said in its docstring
    assert provenance.input_sha256(tmp_path) is None
    assert provenance.input_sha256(tmp_path / "gone.tif") is None


@pytest.mark.parametrize("options, found", [
    (["--method", "wiener", "--psf", "gaussian:1.6", "--balance", "auto"], "balance"),
    (["--method", "richardson_lucy", "--psf", "estimate", "--iterations", "auto"],
     "iterations"),
])
def test_info_command_remakes_the_output_bit_identically(tmp_path, fluo_u8, monkeypatch,
                                                          capsys, options, found):
    monkeypatch.chdir(tmp_path)
    tifffile.imwrite("in.tif", degrade(fluo_u8[:80, :80], "A", seed=0))
    assert main(["deblur", "in.tif", "-o", "out.tif", "--device", "cpu", "-q", *options]) == 0
    capsys.readouterr()
    assert main(["info", "out.tif", "--command"]) == 0
    command = capsys.readouterr().out.strip()
    words = shlex.split(command)
    assert words[:5] == ["microdeblur", "deblur", "in.tif", "-o", "out_rerun.tif"]
    value = _record(tmp_path / "out.tif")["parameters"][found]
    # the value that ran, in full (info's text view rounds it to 4 digits)
    assert words[words.index(f"--{found}") + 1] == repr(value)
    assert "auto" not in words[words.index("--psf") + 1]
    assert main([*words[1:], "-q"]) == 0
    np.testing.assert_array_equal(_pixels(tmp_path / "out_rerun.tif"),
                                  _pixels(tmp_path / "out.tif"))


def test_info_command_of_a_selective_network_run_reruns_it(tmp_path, stack, monkeypatch,
                                                           capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["deblur", stack.name, "-o", "soft.tif", "--focus-below", "auto",
                 "--focus-unit", "tile", "--focus-tile", "32", "--device", "cpu", "-q"]) == 0
    assert _record(tmp_path / "soft.tif")["focus"]["deblurred"] > 0
    capsys.readouterr()
    assert main(["info", "soft.tif", "--command", "--json"]) == 0
    words = shlex.split(json.loads(capsys.readouterr().out)["command"])
    assert words[words.index("--precision") + 1] in ("float32", "bfloat16", "float16")
    assert words[words.index("--focus-tile") + 1] == "32"
    assert main([*words[1:], "-q"]) == 0
    np.testing.assert_array_equal(_pixels(tmp_path / "soft_rerun.tif"),
                                  _pixels(tmp_path / "soft.tif"))


def test_info_command_of_a_file_without_a_record_is_one_error(tmp_path, fluo_u8, capsys):
    tifffile.imwrite(tmp_path / "raw.tif", fluo_u8)
    assert main(["info", str(tmp_path / "raw.tif"), "--command"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "raw.tif holds no record of a deblur" in err[0]


def test_info_text_says_the_precision_device_and_tiling():
    record = {"method": "c2f_unet.fluorescence_v2", "device": "cpu", "device_name": "CPU X",
              "precision": "bfloat16", "tile": [96, 96], "overlap": [16, 16],
              "window": "cosine", "source_file": "a.tif"}
    info = {"file": "o.tif", "shape": [96, 96], "dtype": "float32", "axes": "YX",
            "axes_stated": True, "axes_note": "", "pixel_size_um": {}, "microdeblur": record}
    assert ("  ran on cpu (CPU X), bfloat16, tile (96, 96), overlap (16, 16), window cosine"
            in text_block(info).splitlines())
