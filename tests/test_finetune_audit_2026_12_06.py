"""Fine-tuning as a biologist runs it (core.finetune, core.training, `microdeblur finetune`):
the network handed back deblurs as its saved weights do (eval mode), RGB pairs, time limits
in fractions of a minute, and Ctrl-C keeping the best checkpoint with its model card. Tiny
networks and a few steps: each test takes seconds."""

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage
from test_finetune_safety import finetune, noisy_pair, save_base, texture

from napari_microdeblur.core import registry, training
from napari_microdeblur.core.checkpoint import load_model
from napari_microdeblur.core.finetune import FinetuneRequest, iter_finetune
from napari_microdeblur.core.training.loop import Trainer


def batchnorm_net():
    """A tiny C2F U-Net: BatchNorm behaves differently in train and eval mode."""
    return registry.build_model("c2f_unet", registry.get_arch("c2f_unet").tiny_config, seed=0)


def blurry_sharp(seed=0, shape=(96, 96)):
    sharp = texture(seed, shape)
    return ndimage.gaussian_filter(sharp, 1.5), sharp


def same_output(model, file) -> bool:
    """``model`` and the weights reloaded from ``file`` deblur an image alike."""
    x = torch.from_numpy(blurry_sharp(5, (64, 64))[0])[None, None]
    reloaded, _ = load_model(file)
    with torch.no_grad():
        return torch.allclose(model(x), reloaded(x), atol=1e-6)


@pytest.mark.parametrize("stop_after", [None, 2])
def test_the_network_trained_in_place_deblurs_as_the_kept_weights(tmp_path, stop_after):
    """Finished or stopped by the user: the request's network (the one the dock and scripts
    hold) is in eval mode with the kept weights, not in train mode with the last step's
    (a margin no step reaches keeps the starting weights)."""
    b, s = blurry_sharp()
    given = (b.copy(), s.copy())
    model = batchnorm_net()
    req = FinetuneRequest(mode="pair", layer_name="pair", axes="YX", model=model,
                          base_label="tiny", base_card=None, blurry=b, sharp=s, steps=4,
                          patch=32, batch_size=2, lr=1e-2, device="cpu",
                          checkpoint_dir=str(tmp_path / "ck"), min_gain_db=100)
    job = iter_finetune(req)
    outcome = None
    try:
        while True:
            record = next(job)
            if stop_after is not None and getattr(record, "step", 0) >= stop_after:
                req.stop.set()
    except StopIteration as done:
        outcome = done.value
    assert outcome.model is not None and not outcome.model.training
    assert outcome.improved is False and outcome.stopped == (stop_after is not None)
    assert not model.training
    assert same_output(model, outcome.file)
    assert same_output(outcome.model, outcome.file)
    assert np.array_equal(b, given[0]) and np.array_equal(s, given[1])  # the user's images


def test_fit_hands_back_the_network_in_eval_mode(tmp_path):
    """core.training.fit trains in place: afterwards the network deblurs as best.safetensors."""
    b, s = blurry_sharp()
    model = batchnorm_net()
    result = training.fit(model, dict(steps=3, patch=32, batch_size=2, lr=1e-2, device="cpu",
                                      checkpoint_dir=str(tmp_path / "ck"), val_every=1),
                          (b[None], s[None]), None)
    assert result.steps_done == 3 and not model.training
    assert same_output(model, tmp_path / "ck" / "best.safetensors")


def test_fit_closed_from_outside_leaves_eval_mode(tmp_path):
    b, s = blurry_sharp()
    model = batchnorm_net()
    run = training.iter_fit(model, dict(steps=20, patch=32, batch_size=2, lr=1e-3,
                                        device="cpu"), (b[None], s[None]))
    next(run)
    run.close()
    assert not model.training


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture
def base(tmp_path):
    return save_base(tmp_path / "base.safetensors")


def test_rgb_pairs_fine_tune_a_grayscale_network_channel_by_channel(tmp_path, base, capsys):
    sharp = np.stack([texture(i) for i in range(3)], -1)
    blurry = ndimage.gaussian_filter(sharp, (1.5, 1.5, 0))
    tifffile.imwrite(tmp_path / "b.tif", (blurry * 255).astype(np.uint8), photometric="rgb")
    tifffile.imwrite(tmp_path / "s.tif", (sharp * 255).astype(np.uint8), photometric="rgb")
    assert finetune(tmp_path, base, "--blurry", str(tmp_path / "b.tif"), "--sharp",
                    str(tmp_path / "s.tif"), "--steps", "3") == 0
    _, card = load_model(tmp_path / "o.safetensors")
    assert "each channel a grayscale plane" in card.training_data


def test_a_fraction_of_a_minute_with_few_steps_runs_the_steps(tmp_path, base, capsys):
    x, y = noisy_pair(3)
    tifffile.imwrite(tmp_path / "b.tif", x)
    tifffile.imwrite(tmp_path / "s.tif", y)
    assert finetune(tmp_path, base, "--blurry", str(tmp_path / "b.tif"), "--sharp",
                    str(tmp_path / "s.tif"), "--steps", "3", "--minutes", "0.5",
                    "--checkpoint-dir", str(tmp_path / "ck")) == 0
    _, last = load_model(tmp_path / "ck" / "last.safetensors")
    assert last.metrics["step"] == 3


def _state(path):
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    return [tensors[k] for k in sorted(tensors)]


def test_ctrl_c_keeps_the_best_with_its_model_card(tmp_path, base, capsys, monkeypatch):
    b, s = blurry_sharp(1)
    tifffile.imwrite(tmp_path / "b.tif", b)
    tifffile.imwrite(tmp_path / "s.tif", s)
    calls, step = [], Trainer.train_step

    def interrupted(self):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(Trainer, "train_step", interrupted)
    ck = tmp_path / "ck"
    code = finetune(tmp_path, base, "--blurry", str(tmp_path / "b.tif"), "--sharp",
                    str(tmp_path / "s.tif"), "--steps", "50", "--min-gain", "0",
                    "--checkpoint-dir", str(ck))
    assert code == 130
    _, card = load_model(tmp_path / "o.safetensors")
    _, best = load_model(ck / "best.safetensors")
    # the copy the user gets is the best checkpoint's weights, its card saying what it was
    # trained on and where it stopped
    assert all(torch.equal(a, b) for a, b in zip(_state(tmp_path / "o.safetensors"),
                                                  _state(ck / "best.safetensors")))
    assert card.metrics.get("stopped") or "interrupted" in " ".join(card.notes or [])
    assert "val_psnr" in card.metrics and "fine-tuned on files" in card.training_data
