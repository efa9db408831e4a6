"""CLI audit of 2026-12-06: an existing Zarr store given as the output of `deblur` on one
machine is an output to refuse (or replace with --overwrite), not a folder to write into; the
Compare dock's whole-stack summary of a stack with an undefined slice; `python -m`."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import napari_microdeblur
from napari_microdeblur.cli import main

SRC = str(Path(napari_microdeblur.__file__).resolve().parents[1])

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "-q"]


def _store(path):
    zarr.open_group(str(path), mode="w").create_array("0", shape=(8, 8), dtype="uint8")
    return sorted(p.name for p in path.iterdir())


def _inputs(tmp_path, n):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        tifffile.imwrite(folder / f"{i}.tif", (rng.random((48, 48)) * 200).astype(np.uint8))
    return folder


def test_one_image_onto_an_existing_zarr_store_is_refused_and_the_store_kept(tmp_path, capsys):
    store = tmp_path / "out.zarr"
    before = _store(store)
    assert main(["deblur", str(_inputs(tmp_path, 1) / "0.tif"), "-o", str(store), *WIENER]) != 0
    assert sorted(p.name for p in store.iterdir()) == before  # no TIFF written into it
    err = capsys.readouterr().err
    assert "exists" in err and "--overwrite" in err


def test_a_folder_of_images_onto_an_existing_zarr_store_is_refused(tmp_path, capsys):
    store = tmp_path / "out.zarr"
    before = _store(store)
    assert main(["deblur", str(_inputs(tmp_path, 2)), "-o", str(store), *WIENER]) != 0
    assert sorted(p.name for p in store.iterdir()) == before
    assert "output directory" in capsys.readouterr().err


def test_whole_stack_summary_says_undefined_for_a_slice_with_nan_pixels():
    from napari_microdeblur._widgets._compare_parts import stack_summary

    results = [{"psnr_blurry": 20.0, "ssim_blurry": 0.5, "psnr_deblurred": 25.0,
                "ssim_deblurred": 0.7},
               {"psnr_blurry": 21.0, "ssim_blurry": 0.6, "psnr_deblurred": float("nan"),
                "ssim_deblurred": float("nan")}]
    line = stack_summary(results)
    assert "blurry: PSNR 20.50 dB (pooled over all: 20.47 dB), SSIM 0.5500" in line
    assert "deblurred: PSNR and SSIM undefined" in line and "nan" not in line


def _finetune_batch_0(tmp_path) -> list[str]:
    folder = _inputs(tmp_path, 2)  # an error raised in cli_training, another module
    return ["finetune", "--weights", "gran.em_v1", "--out", str(tmp_path / "o.safetensors"),
            "--blurry", str(folder / "0.tif"), "--sharp", str(folder / "1.tif"), "--batch", "0"]


ONE_LINE = ["microdeblur: error: --batch 0; accepted: an integer >= 1"]


def test_python_dash_m_gives_the_one_line_error_the_command_gives(tmp_path):
    """`python -m napari_microdeblur.cli` ran the module as __main__, whose own UserError the
    commands did not catch: a traceback; `python -m napari_microdeblur` did not exist."""
    done = subprocess.run([sys.executable, "-m", "napari_microdeblur.cli",
                           *_finetune_batch_0(tmp_path)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": SRC})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == ONE_LINE


def test_python_dash_m_of_the_package_gives_the_one_line_error(tmp_path, monkeypatch, capsys):
    """`python -m napari_microdeblur`, run here as `-m` runs it (runpy, the package's __main__
    as __main__): its own process, as the one above, paid Python's and torch's start again."""
    import runpy

    monkeypatch.setattr(sys, "argv", ["napari_microdeblur", *_finetune_batch_0(tmp_path)])
    with pytest.raises(SystemExit) as done:
        runpy.run_module("napari_microdeblur", run_name="__main__", alter_sys=True)
    assert done.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == ONE_LINE


def test_train_with_stack_pairs_holds_out_whole_files():
    """`train --blurry/--sharp` with z-stacks held out single planes: a neighbouring plane of the
    same stack stayed in training, so validation could not see the stack memorised."""
    import argparse

    from scipy import ndimage

    from napari_microdeblur.cli_training_data import training_pairs as _training_pairs

    rng = np.random.default_rng(0)
    sharp, blurry = [], []
    for f in range(5):
        stack = rng.random((4, 48, 48)).astype(np.float32)
        sharp.append((f"s{f}.tif", stack, "ZYX"))
        blurry.append((f"b{f}.tif", ndimage.gaussian_filter(stack, (0, 1.5, 1.5)), "ZYX"))
    args = argparse.Namespace(val_fraction=0.2, sharp=["s"], unpaired_sharp=None, blurry=["b"])
    _, val, _ = _training_pairs(args, sharp, blurry)
    held = {p.group.split(":")[0] for p in val}
    assert len(held) == 1 and len(val) == 4, [p.group for p in val]  # one whole file


def test_paired_finetune_seed_repeats_and_changes_the_run(tmp_path):
    """`finetune --seed` reached only --self runs: a paired run ignored it."""
    import torch
    from scipy import ndimage

    from napari_microdeblur.core import registry
    from napari_microdeblur.core.checkpoint import load_model, save_weights

    torch.manual_seed(0)
    base = tmp_path / "base.safetensors"
    save_weights(registry.build_model("c2f_unet", registry.get_arch("c2f_unet").tiny_config),
                 base, {"license": "CC0-1.0"})
    rng = np.random.default_rng(0)
    sharp = (ndimage.gaussian_filter(rng.random((128, 160)), 2.5) > 0.5) * 0.8 + 0.1
    tifffile.imwrite(tmp_path / "s.tif", sharp.astype(np.float32))
    tifffile.imwrite(tmp_path / "b.tif", ndimage.gaussian_filter(sharp, 1.6).astype(np.float32))
    weights = []
    for i, seed in enumerate(("5", "5", "6")):
        out, ck = tmp_path / f"f{i}.safetensors", tmp_path / f"ck{i}"
        assert main(["finetune", "--weights", str(base), "--blurry", str(tmp_path / "b.tif"),
                     "--sharp", str(tmp_path / "s.tif"), "--out", str(out), "--steps", "2",
                     "--patch", "32", "--batch", "2", "--device", "cpu", "-q",
                     "--checkpoint-dir", str(ck), "--seed", seed]) == 0
        # the last step's weights: the kept ones may be the start (2 steps need not gain)
        weights.append(load_model(ck / "last.safetensors")[0].state_dict())
    assert all(torch.equal(v, weights[1][k]) for k, v in weights[0].items())
    assert not all(torch.equal(v, weights[2][k]) for k, v in weights[0].items())


def test_watch_logs_the_method_that_ran_not_auto(tmp_path):
    """The watch log's method column said 'auto' for every deblurred file."""
    import csv

    from scipy import ndimage

    watched, out = tmp_path / "in", tmp_path / "out"
    watched.mkdir()
    out.mkdir()
    rng = np.random.default_rng(0)
    soft = ndimage.gaussian_filter(rng.random((96, 96)), 3) * 200 + 20
    tifffile.imwrite(watched / "soft.tif", soft.astype(np.uint8))
    assert main(["watch", str(watched), str(out), "--threshold", "1e9", "--once",
                 "--settle", "0", "-q"]) == 0
    with open(out / "microdeblur_watch.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["decision"] for r in rows] == ["deblurred"]
    assert rows[0]["method"] not in ("", "auto"), rows[0]
