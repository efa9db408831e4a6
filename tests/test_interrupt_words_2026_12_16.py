"""A paired fine-tune stopped by Ctrl-C or SIGTERM names the weights it wrote (step and
validation PSNR), as `finetune --self`'s line does; it said only "the best weights so far"."""

from __future__ import annotations

import torch

from napari_microdeblur.cli_runs import interrupted_words
from napari_microdeblur.core.checkpoint import save_weights
from napari_microdeblur.core.registry import build_model, get_arch


def written(tmp_path, metrics):
    torch.manual_seed(0)
    model = build_model("gran", get_arch("gran").tiny_config)
    path = tmp_path / "ft.safetensors"
    save_weights(model, path, {"metrics": metrics, "license": "NOASSERTION"})
    return path


def test_the_line_names_the_step_and_psnr_of_the_weights_written(tmp_path):
    out = written(tmp_path, {"step": 40, "val_psnr": 30.123})
    assert interrupted_words(out) == (f"interrupted; wrote the best weights so far (step 40, "
                                      f"validation PSNR 30.12 dB) to {out}")


def test_the_start_kept_is_still_said_as_such(tmp_path):
    out = written(tmp_path, {"step": 0, "val_psnr": 28.0})
    assert "holds them unchanged" in interrupted_words(out, "stopped by SIGTERM")
