"""Defects of the command line found by the third 2026-12-04 audit: the axes-in-doubt note
said by deblur only, watch calling a failed deblur 'unreadable', the core's bare Python names
in error lines, weights of an architecture this version lacks, and an RGBA Zarr on a
cluster."""

import csv
import json

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.cli_words import in_cli_words
from napari_microdeblur.core import io, io_write, registry
from napari_microdeblur.core.checkpoint import CARD_KEY, load_model, save_weights

NOTE = "axes ZYX assumed for shape (2, 48, 48)"


def _texture(seed=0, shape=(64, 64), scale=200.0) -> np.ndarray:
    image = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), 2.0)
    return ((image - image.min()) / np.ptp(image) * scale).astype(np.float32)


@pytest.fixture
def two(tmp_path):
    """A (2, 48, 48) TIFF without axes: two Z planes or two channels?"""
    path = tmp_path / "two.tif"
    stack = np.stack([_texture(i, (48, 48)) for i in range(2)])
    tifffile.imwrite(path, stack, metadata=None)
    return path


# ----------------------------------------------------------------------------- 1: the note


def _commands(two, tmp_path):
    return {
        "degrade": ["degrade", str(two), "-o", str(tmp_path / "d.tif"), "--protocol", "A", "-q"],
        "focus": ["focus", str(two)],
        "evaluate": ["evaluate", str(two), "--reference", str(two)],
        "psf-estimate": ["psf-estimate", str(two), "-o", str(tmp_path / "p.tif"), "-q"],
        "train": ["train", "--arch", "gran", "--config", json.dumps(
            registry.get_arch("gran").tiny_config), "--sharp", str(two), "--out",
            str(tmp_path / "t.safetensors"), "--steps", "1", "--patch", "32", "--device", "cpu"],
    }


@pytest.mark.parametrize("command", ["degrade", "focus", "evaluate", "psf-estimate", "train"])
def test_every_command_notes_guessed_axes_once_and_not_with_axes(two, tmp_path, capsys,
                                                                 command):
    """Only deblur said that (2, Y, X) was read as two Z planes; the others guessed silently."""
    argv = _commands(two, tmp_path)[command]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.count(NOTE) == 1 and "--axes CYX" in err, err
    assert main([*argv, "--axes", "ZYX", *(["--overwrite"] if "-o" in argv or "--out" in argv
                                          else [])]) == 0
    assert "assumed" not in capsys.readouterr().err


def test_watch_notes_guessed_axes_once_per_file(two, tmp_path, capsys):
    """The watch scores and then deblurs the file: one note, not one per step."""
    out = tmp_path / "out"
    out.mkdir()
    assert main(["watch", str(two.parent), str(out), "--threshold", "1e9", "--once", "--settle",
                 "0", "--method", "wiener", "--psf", "gaussian:1", "--device", "cpu", "-q"]) == 0
    assert capsys.readouterr().err.count(NOTE) == 1
    assert (out / "two_deblurred.tif").exists()


# ----------------------------------------------------------------------------- 2: watch


def test_watch_tells_a_failed_deblur_from_an_unreadable_file(tmp_path, capsys):
    """A file read fine whose deblur was refused was logged and printed 'unreadable'."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    tifffile.imwrite(src / "small.tif", _texture(1, (16, 16)))  # smaller than the PSF
    (src / "broken.tif").write_bytes(b"II*\x00not a tiff")
    tifffile.imwrite(src / "ok.tif", _texture())
    assert main(["watch", str(src), str(out), "--threshold", "1e9", "--once", "--settle", "0",
                 "--method", "wiener", "--psf", "gaussian:3", "--device", "cpu", "-q"]) == 2
    err = capsys.readouterr().err
    with open(out / "microdeblur_watch.csv", newline="") as f:
        rows = {r["name"]: r["decision"] for r in csv.DictReader(f)}
    assert rows == {"broken.tif": "unreadable", "small.tif": "failed", "ok.tif": "deblurred"}
    assert "broken.tif: unreadable, skipped: " in err
    failed = next(line for line in err.splitlines() if "small.tif" in line)
    assert "small.tif: failed, skipped: the PSF 'gaussian:3' is 25 x 25 px" in failed


# ----------------------------------------------------------------------------- 3: bare names


def test_noise_scale_errors_name_the_option(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "a.tif", _texture())
    base = ["deblur", str(tmp_path / "a.tif"), "-o", str(tmp_path / "o.tif"), "--device",
            "cpu", "-q", "--noise-scale", "2"]
    assert main([*base, "--method", "richardson_lucy", "--psf", "gaussian:1"]) == 2
    err = capsys.readouterr().err
    assert "--noise-scale applies to PSF-aware networks" in err and "--tv-weight" in err
    assert "noise_scale" not in err and "tv_weight" not in err
    assert main([*base, "--method", "gran.fluo_v1"]) == 2
    err = capsys.readouterr().err
    assert "leave --noise-scale at 1" in err and "noise_scale" not in err


def test_bare_names_are_translated_but_not_paths_methods_or_quotes():
    options = {"noise_scale": "--noise-scale", "checkpoint_dir": "--checkpoint-dir",
               "batch": "--batch", "export_psf": "--export-psf"}
    assert in_cli_words("leave noise_scale at 1.", options) == "leave --noise-scale at 1."
    assert in_cli_words("(noise_scale) and batch_size: 2", options) == (
        "(--noise-scale) and --batch: 2")
    for kept in ("'noise_scale' as typed", "model.noise_scale", "export_psf(model)",
                 "runs/noise_scale/a.tif", "noise_scale.tif", "a_noise_scale", "tile_size"):
        assert in_cli_words(kept, options) == kept


def test_weights_of_another_configuration_do_not_say_this_config(tmp_path, capsys):
    """'do not fit ... with this config': the command line has no config to give."""
    tiny = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    torch.save(tiny.state_dict(), tmp_path / "g.pth")
    tifffile.imwrite(tmp_path / "a.tif", _texture())
    assert main(["deblur", str(tmp_path / "a.tif"), "-o", str(tmp_path / "o.tif"), "--weights",
                 str(tmp_path / "g.pth"), "--method", "gran", "--device", "cpu", "-q"]) == 2
    err = capsys.readouterr().err
    assert "do not fit architecture 'gran' in its paper configuration" in err
    assert "this config" not in err
    # config= appears only in the Python lines that convert the file (2026-12-10)
    assert "convert it once, in Python" in err and "--config" not in err
    with pytest.raises(ValueError, match="in the configuration given"):
        load_model(tmp_path / "g.pth", arch="gran", config=registry.preset_config("gran",
                                                                                  "paper"))


# ----------------------------------------------------------------------------- 4: unet9


def _from_elsewhere(tmp_path):
    """Weights whose valid card names an architecture this installation lacks."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    tiny = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    save_weights(tiny, tmp_path / "g.safetensors",
                 {"arch": "gran", "config": registry.get_arch("gran").tiny_config})
    with safe_open(str(tmp_path / "g.safetensors"), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    card = json.loads(meta[CARD_KEY])
    meta[CARD_KEY] = json.dumps({**card, "arch": "unet9"})
    save_file(tensors, str(tmp_path / "u.safetensors"), metadata=meta)
    return tmp_path / "u.safetensors"


def test_weights_of_an_unknown_architecture_say_where_they_may_come_from(tmp_path, capsys):
    weights = _from_elsewhere(tmp_path)
    with pytest.raises(ValueError, match="newer version or another plugin"):
        load_model(weights)
    tifffile.imwrite(tmp_path / "a.tif", _texture())
    assert main(["deblur", str(tmp_path / "a.tif"), "-o", str(tmp_path / "o.tif"), "--weights",
                 str(weights), "--device", "cpu", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'unet9'" in err
    assert "newer version or another plugin" in err and "update napari-microdeblur" in err
    assert not (tmp_path / "o.tif").exists()


# ----------------------------------------------------------------------------- 5: RGBA Zarr


def test_rgba_zarr_on_a_cluster_matches_one_machine(tmp_path):
    """The chunks resolved 'auto' as for grayscale (RGBA is no 'rgb'), so the cluster ran
    another network than one machine does; the alpha passes through unchanged on both."""
    distributed = pytest.importorskip("distributed")
    from napari_microdeblur.core.cluster import deblur_zarr_on_cluster
    from napari_microdeblur.core.files import deblur_file

    rgba = (np.stack([_texture(i, (160, 160), 255) for i in range(4)], -1)).astype(np.uint8)
    rgba[..., 3] = 200
    rgba[:10, :, 3] = 0
    src = tmp_path / "rgba.zarr"
    with io_write.open_zarr_output(src, rgba.shape, rgba.dtype, axes="YXS",
                                   chunks=(160, 160, 4)) as target:
        target[...] = rgba
    options = dict(method="auto", psf="gaussian:1.4", device="cpu")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, \
            pytest.warns(UserWarning, match="alpha channel") as caught:
        deblur_zarr_on_cluster(src, tmp_path / "out.zarr", scheduler=client, **options)
    assert sum("alpha channel" in str(w.message) for w in caught) == 1  # not once per chunk
    deblur_file(src, tmp_path / "single.zarr", **options)
    out = np.asarray(io.read_image(tmp_path / "out.zarr").array[...])
    single = np.asarray(io.read_image(tmp_path / "single.zarr").array[...])
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    assert np.abs(out - single).max() < 1e-3 * single.max()
