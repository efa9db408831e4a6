"""CLI audit of 2026-12-05: training images of different axes, a PSF file read once per
command, `evaluate` on RGB images saved in two layouts or against gray, the PSF commands'
options and outputs, and --device said before any image is read."""

import json
import os

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core.psf import gaussian_psf


def _noise(shape, seed=0):
    return (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8)


def _one_error_line(capsys, *words):
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("microdeblur: error:"), err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(registry.get_arch("gran").tiny_config))
    return path


def _train(sharp, out, config, *extra):
    # --degradation is for --sharp alone: refused beside --blurry pairs
    degradation = [] if "--blurry" in extra else ["--degradation", "A"]
    return main(["train", "--arch", "gran", "--config", str(config), "--sharp", str(sharp),
                 *degradation, "--out", str(out), "--steps", "2", "--patch", "32",
                 "--batch", "2", "--device", "cpu", "-q", *extra])


# ----------------------------------------------------------------------------- train


def test_train_with_the_same_seed_writes_the_same_weights(tmp_path, tiny_config):
    # before: the network's starting weights came from torch's global random numbers, so two
    # runs with --seed 0 (here in one process, as in napari) wrote different weights
    from safetensors.torch import load_file

    sharp = tmp_path / "sharp"
    sharp.mkdir()
    tifffile.imwrite(sharp / "a.tif", _noise((48, 48)))
    for name in ("one", "two", "other"):
        seed = "1" if name == "other" else "0"
        assert _train(sharp, tmp_path / f"{name}.safetensors", tiny_config, "--seed", seed) == 0
    one, two, other = (load_file(tmp_path / f"{n}.safetensors") for n in ("one", "two", "other"))
    assert all(torch.equal(one[k], two[k]) for k in one)
    assert not all(torch.equal(one[k], other[k]) for k in one)


@pytest.mark.parametrize("names", [("a.png", "b.tif"), ("b.png", "a.tif")])
def test_train_takes_a_png_and_a_z_stack_together(tmp_path, tiny_config, names):
    # before: the first file's axes were used for all ("--axes 'YX' has 2 letters but the
    # image has 3 dimensions", though no --axes was given)
    sharp = tmp_path / "sharp"
    sharp.mkdir()
    Image.fromarray(_noise((48, 48))).save(sharp / names[0])
    tifffile.imwrite(sharp / names[1], _noise((2, 48, 48), 1), metadata={"axes": "ZYX"})
    out = tmp_path / "w.safetensors"
    assert _train(sharp, out, tiny_config) == 0
    assert out.is_file()
    assert sorted(p.name for p in sharp.iterdir()) == sorted(names)


def test_train_refuses_a_two_channel_image_next_to_a_gray_one(tmp_path, tiny_config, capsys):
    sharp = tmp_path / "sharp"
    sharp.mkdir()
    tifffile.imwrite(sharp / "a.tif", _noise((48, 48)))
    tifffile.imwrite(sharp / "b.tif", _noise((2, 48, 48), 1), metadata={"axes": "CYX"})
    assert _train(sharp, tmp_path / "w.safetensors", tiny_config) == 2
    _one_error_line(capsys, "a.tif", "b.tif", "CYX", "YX")
    assert not (tmp_path / "w.safetensors").exists()


def test_train_pairs_of_different_axes_name_the_two_files(tmp_path, tiny_config, capsys):
    blurry, sharp = tmp_path / "blurry", tmp_path / "sharp"
    blurry.mkdir()
    sharp.mkdir()
    for name in ("a.tif", "b.tif"):
        tifffile.imwrite(blurry / name, _noise((48, 48)))
    tifffile.imwrite(sharp / "a.tif", _noise((48, 48), 2))
    tifffile.imwrite(sharp / "b.tif", _noise((2, 48, 48), 3), metadata={"axes": "ZYX"})
    # before: "blurry has shape (48, 48) but sharp has (2, 48, 48)", naming no file
    assert _train(sharp, tmp_path / "w.safetensors", tiny_config, "--blurry", str(blurry)) == 2
    _one_error_line(capsys, "--blurry b.tif", "--sharp b.tif", "ZYX")


# ----------------------------------------------------------------------------- reads


def _count_reads(monkeypatch, module, name, wanted):
    """Count the calls of ``module.name`` on a path whose name is ``wanted``."""
    calls = []
    original = getattr(module, name)

    def counted(path, *args, **kwargs):
        if os.path.basename(str(path)) == wanted:
            calls.append(path)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_deblur_reads_a_psf_file_once_per_command(tmp_path, monkeypatch):
    from napari_microdeblur.core import psf

    tifffile.imwrite(tmp_path / "psf.tif", gaussian_psf(1.2, ndim=2).astype(np.float32))
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    outputs.mkdir()
    for i in range(2):
        tifffile.imwrite(inputs / f"{i}.tif", _noise((40, 40), i))
    reads = _count_reads(monkeypatch, psf, "read_psf", "psf.tif")
    argv = ["--method", "wiener", "--psf", str(tmp_path / "psf.tif"), "--balance", "0.1", "-q"]
    assert main(["deblur", str(inputs), "-o", str(outputs), *argv]) == 0
    assert len(reads) == 1  # before: 7 (checked, then twice per file)
    # the same result as the PSF given as a model: the values read are the ones used
    assert main(["deblur", str(inputs / "0.tif"), "-o", str(tmp_path / "m.tif"), *argv[:2], "--psf",
                 "gaussian:1.2", *argv[4:]]) == 0
    np.testing.assert_allclose(tifffile.imread(outputs / "0_deblurred.tif"),
                               tifffile.imread(tmp_path / "m.tif"), rtol=1e-5, atol=1e-4)


def test_watch_reads_a_soft_file_once(tmp_path, monkeypatch):
    from napari_microdeblur.core import io

    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    outputs.mkdir()
    tifffile.imwrite(inputs / "soft.tif", _noise((40, 40)) // 4
                     + np.kron(_noise((5, 5)), np.ones((8, 8), np.uint8)) // 2)  # structure
    reads = _count_reads(monkeypatch, io, "read_image", "soft.tif")
    assert main(["watch", str(inputs), str(outputs), "--threshold", "1e9", "--once",
                 "--settle", "0", "--method", "wiener", "--psf", "gaussian:1.2", "--balance",
                 "0.1", "-q"]) == 0
    assert (outputs / "soft_deblurred.tif").exists()
    assert len(reads) == 1  # before: 2 (scored, then read again to deblur)


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_planar_rgb_tiff_against_an_rgb_png(tmp_path, capsys):
    reference = _noise((64, 64, 3))
    noisy = np.clip(reference.astype(int) + _noise((64, 64, 3), 1) // 16, 0, 255).astype(np.uint8)
    Image.fromarray(reference).save(tmp_path / "ref.png")
    tifffile.imwrite(tmp_path / "interleaved.tif", noisy)
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(noisy, -1, 0), photometric="rgb",
                     planarconfig="separate")
    assert main(["evaluate", str(tmp_path / "interleaved.tif"), "--reference",
                 str(tmp_path / "ref.png"), "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    # before: "prediction has shape (3, 64, 64) but reference has (64, 64, 3)"
    assert main(["evaluate", str(tmp_path / "planar.tif"), "--reference",
                 str(tmp_path / "ref.png"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == expected


def test_evaluate_rgb_against_gray_says_what_to_change(tmp_path, capsys):
    Image.fromarray(_noise((64, 64, 3))).save(tmp_path / "pred.png")
    tifffile.imwrite(tmp_path / "ref.tif", _noise((64, 64), 1))
    assert main(["evaluate", str(tmp_path / "pred.png"), "--reference",
                 str(tmp_path / "ref.tif")]) == 2
    _one_error_line(capsys, "pred.png", "ref.tif", "RGB", "single-channel")


# ----------------------------------------------------------------------------- psf commands


@pytest.fixture
def beads(tmp_path):
    from scipy.ndimage import gaussian_filter

    image = np.zeros((128, 128), np.float32)
    for y, x in [(20, 20), (20, 100), (64, 64), (100, 30), (100, 100)]:
        image[y, x] = 1000
    image = gaussian_filter(image, 1.5) + np.random.default_rng(1).normal(10, 0.5, image.shape)
    path = tmp_path / "beads.tif"
    tifffile.imwrite(path, image.astype(np.float32))
    return path


@pytest.mark.parametrize("option, words", [
    (["--radius", "0"], ["--radius 0", "1 to 256"]),
    (["--radius", "3,3,3"], ["--radius 3,3,3", "3 values", "YX"]),
    (["--threshold", "-5"], ["--threshold -5", "> 0"]),
])
def test_psf_from_beads_options_are_said_as_options(tmp_path, beads, capsys, option, words):
    # before: "radius is 0; accepted: None (from the beads' width) ..." (Python's words)
    out = tmp_path / "psf.tif"
    assert main(["psf-from-beads", str(beads), "-o", str(out), *option]) == 2
    line = _one_error_line(capsys, *words)
    assert "None" not in line and not out.exists()


@pytest.mark.parametrize("command", ["psf-from-beads", "psf-estimate"])
def test_a_psf_is_not_written_where_psf_cannot_read_it(tmp_path, beads, capsys, command):
    # before: psf.zarr was written, and `deblur --psf psf.zarr` then refused it
    out = tmp_path / "psf.zarr"
    assert main([command, str(beads), "-o", str(out)]) == 2
    _one_error_line(capsys, "psf.zarr", ".tif")
    assert not out.exists()
    assert main([command, str(beads), "-o", str(tmp_path / "psf.tif"), "-q"]) == 0
    assert main(["deblur", str(beads), "-o", str(tmp_path / "d.tif"), "--method", "wiener",
                 "--psf", str(tmp_path / "psf.tif"), "--balance", "0.1", "-q"]) == 0


# ----------------------------------------------------------------------------- --device


def test_train_says_a_bad_device_before_reading_the_images(tmp_path, tiny_config, capsys):
    tifffile.imwrite(tmp_path / "a.tif", _noise((48, 48)))
    # before: "note: one image only: validated on the training image" came first: the images
    # were read and split before the device was looked at
    assert _train(tmp_path / "a.tif", tmp_path / "w.safetensors", tiny_config,
                  "--device", "tpu") == 2
    _one_error_line(capsys, "--device 'tpu'", "cpu")


def test_train_and_finetune_help_list_the_devices(capsys):
    for command in ("train", "finetune", "demo"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "cuda:N" in capsys.readouterr().out, command
