"""Messages a user met, read right: a bundled network's image type with its article ('an EM
network', not 'a em network'); the image type given beside weights refused with a command
that works (not --method auto, refused too); --psf estimate's refusal of --iterations naming
no 3D; `info --command` of a PSF written by psf-from-beads or psf-from-weights giving the
command that remakes it; `info` of a one-plane --focus-below output naming the image, not
'1 of 1 slices ... ()'."""

import json
import shlex

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core.inference_settings import unused_message
from napari_microdeblur.core.io_write import write_image
from napari_microdeblur.core.method import MethodSpec


def _error(capsys, *argv) -> str:
    assert main(list(argv)) != 0
    return capsys.readouterr().err


@pytest.mark.parametrize("name, given, words", [
    ("gran.em_v1", "fluorescence", "(an EM network)"),
    ("c2f_unet.em_v2", "brightfield", "(an EM network)"),
    ("gran.fluo_v1", "em", "(a fluorescence network)"),
    ("c2f_unet.brightfield_v2", "em", "(a brightfield network)"),
])
def test_a_bundled_networks_image_type_is_named_with_its_article(name, given, words):
    text = unused_message(MethodSpec(name=name, modality=given))
    assert words in text
    assert "a em " not in text


def test_modality_beside_weights_is_refused_with_commands_that_work(
        tmp_path, fluo_u16, tiny_gran_weights, capsys):
    source = tmp_path / "cells.tif"
    tifffile.imwrite(source, fluo_u16[:64, :64])
    run = ["deblur", str(source), "-o", str(tmp_path / "out.tif"), "--device", "cpu", "-q"]
    for method in ("gran", "auto"):
        err = _error(capsys, *run, "--method", method, "--weights", str(tiny_gran_weights),
                     "--modality", "em")
        assert "drop --modality (the weights fix the network)" in err
        # 'auto' with --weights is refused the image type too: never suggested with them
        assert "or choose --method 'auto'" not in err
        assert "drop --weights" in err
    # what it suggests runs: the network without --modality, or 'auto' without --weights
    assert main([*run, "--method", "gran", "--weights", str(tiny_gran_weights)]) == 0
    assert unused_message(MethodSpec(name="auto", modality="em")) is None


@pytest.mark.parametrize("shape", [(64, 64), (4, 64, 64)])
def test_an_estimated_psfs_refusal_of_iterations_names_no_3d(tmp_path, capsys, shape):
    source = tmp_path / "img.tif"
    tifffile.imwrite(source, np.random.default_rng(0).random(shape).astype(np.float32),
                     photometric="minisblack", metadata={"axes": "ZYX"[-len(shape):]})
    err = _error(capsys, "deblur", str(source), "-o", str(tmp_path / "o.tif"), "--psf",
                 "estimate", "--iterations", "5")
    assert "--iterations 5 applies to richardson_lucy" in err
    assert "an estimated PSF is one plane" in err
    assert "3D" not in err and "z-stack" not in err
    # per channel, every part estimated or a plane model: one plane too
    text = unused_message(MethodSpec(name="auto", psf="estimate;gaussian:1.5", iterations=5))
    assert "one-plane PSF" in text and "3D" not in text


def _beads(path, shape):
    rng = np.random.default_rng(1)
    image = np.zeros(shape)
    middle = (shape[0] // 2,) if len(shape) == 3 else ()  # the beads' focus in a stack
    for y, x in [(20, 20), (20, 100), (64, 64), (100, 30), (100, 100)]:
        image[(*middle, y, x)] = 5e4
    sigma = (2.0, 1.5, 1.5)[-len(shape):]
    image = ndimage.gaussian_filter(image, sigma) + 100 + rng.normal(0, 2, shape)
    tifffile.imwrite(path, image.astype(np.float32),
                     metadata={"axes": "ZYX"[-len(shape):]})


@pytest.mark.parametrize("shape", [(128, 128), (16, 128, 128)])
def test_info_command_of_a_psf_from_beads_remakes_it(tmp_path, capsys, monkeypatch, shape):
    monkeypatch.chdir(tmp_path)  # the command names the bead file as its record does
    _beads(tmp_path / "beads.tif", shape)
    assert main(["psf-from-beads", "beads.tif", "-o", "psf.tif", "-q"]) == 0
    capsys.readouterr()
    assert main(["info", "--command", "psf.tif"]) == 0
    out, err = capsys.readouterr()
    command = shlex.split(out.strip())
    assert command[:6] == ["microdeblur", "psf-from-beads", "beads.tif", "-o",
                           "psf_rerun.tif", "--radius"]
    # the record keeps the --threshold and --axes given (none here): nothing to add
    assert "keeps no --threshold" not in err and "--threshold" not in command
    assert main([*command[1:], "-q"]) == 0
    assert np.array_equal(tifffile.imread("psf.tif"), tifffile.imread("psf_rerun.tif"))
    assert main(["info", "--command", "--json", "psf.tif"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["command"] == out.strip() and not found.get("command_note")


def test_info_command_of_a_psf_from_beads_repeats_its_threshold_and_axes(tmp_path, capsys,
                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    _beads(tmp_path / "beads.tif", (128, 128))
    assert main(["psf-from-beads", "beads.tif", "-o", "psf.tif", "--threshold", "5",
                 "--axes", "YX", "-q"]) == 0
    capsys.readouterr()
    assert main(["info", "--command", "psf.tif"]) == 0
    out, err = capsys.readouterr()
    command = shlex.split(out.strip())
    assert command[-4:] == ["--threshold", "5.0", "--axes", "YX"] and "keeps no" not in err
    assert main([*command[1:], "-q"]) == 0
    assert np.array_equal(tifffile.imread("psf.tif"), tifffile.imread("psf_rerun.tif"))


def test_info_command_of_psf_records_that_keep_or_lack_what_is_needed(tmp_path):
    psf = np.zeros((9, 9), np.float32)
    psf[4, 4] = 1
    kept = {"psf_from_beads": "b.tif", "bead_file": "b.tif", "source_file": "b.tif",
            "report": "r", "axes": "YX", "threshold": 40.0, "input_axes": "YX"}
    dock = {"psf_from_beads": "beads layer", "bead_file": None, "report": "r"}
    for name, record in (("kept.tif", kept), ("dock.tif", dock)):
        write_image(tmp_path / name, psf, axes="YX", record=record)
    from napari_microdeblur.cli_info import describe, psf_command  # new: failed on old code

    command, note = psf_command(describe(str(tmp_path / "kept.tif")))
    assert command.endswith(f"-o {tmp_path / 'kept_rerun.tif'} --radius 4 --threshold 40.0 "
                            "--axes YX")
    assert note is None
    with pytest.raises(ValueError, match="opened from no file: no command remakes it"):
        psf_command(describe(str(tmp_path / "dock.tif")))


def test_info_command_of_a_psf_from_weights_remakes_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["psf-from-weights", "psf_cyclegan.fluo_v1", "-o", "learned.tif", "-q"]) == 0
    capsys.readouterr()
    assert main(["info", "--command", "learned.tif"]) == 0
    command = shlex.split(capsys.readouterr().out.strip())
    assert command == ["microdeblur", "psf-from-weights", "psf_cyclegan.fluo_v1", "-o",
                       "learned_rerun.tif"]
    assert main([*command[1:], "-q"]) == 0
    assert np.array_equal(tifffile.imread("learned.tif"), tifffile.imread("learned_rerun.tif"))


def _focus_info(capsys, tmp_path, image, threshold, name) -> str:
    source = tmp_path / f"{name}_in.tif"
    tifffile.imwrite(source, image, metadata={"axes": "ZYX"[-image.ndim:]})
    out = tmp_path / f"{name}.tif"
    assert main(["deblur", str(source), "-o", str(out), "--focus-below", threshold,
                 "--method", "wiener", "--psf", "gaussian:1.5", "--device", "cpu", "-q"]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    return capsys.readouterr().out


def test_info_of_a_one_plane_focus_below_output_names_the_image(tmp_path, capsys, fluo_u16):
    image = fluo_u16.astype(np.float32)
    deblurred = _focus_info(capsys, tmp_path, image, "1e9", "soft")
    assert "focus: threshold 1e+09 (from --focus-below); the image scored " in deblurred
    assert ", below it: deblurred" in deblurred
    assert "()" not in deblurred and "slices" not in deblurred
    assert "settings found on the image: balance" in deblurred
    unchanged = _focus_info(capsys, tmp_path, image, "1e-9", "sharp")
    assert ", not below it: written unchanged" in unchanged
    assert "slices" not in unchanged
    # a z-stack keeps its slices' wording
    stack = _focus_info(capsys, tmp_path, np.stack([image, image]), "1e9", "stack")
    assert "2 of 2 slices (Z) below it deblurred: 0, 1" in stack
