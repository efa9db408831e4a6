"""`train --resume` (walkthrough of 2026-12-13): a resume with other --weights or --license
than its run was accepted and rewrote the card (licence 'unknown', the starting weights'
training data gone, or "starting from" weights it never started from); and a Ctrl-C just
after a validation wrote best.* but not last.pt, so the resume took last.pt's older, worse
best and its next write of best.* replaced the better weights with it."""

import json

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage

from napari_microdeblur import cli
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import read_card, save_weights
from napari_microdeblur.core.training import read_checkpoint_info
from napari_microdeblur.core.training.loop import Trainer


def _texture(seed: int, n: int = 64) -> np.ndarray:
    image = ndimage.gaussian_filter(np.random.default_rng(seed).random((n, n)), 2)
    return ((image - image.min()) / np.ptp(image)).astype(np.float32)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "sharp").mkdir()
    for i in range(2):
        tifffile.imwrite(tmp_path / "sharp" / f"{i}.tif", _texture(i))
    tiny = registry.get_arch("gran").tiny_config
    (tmp_path / "gran.json").write_text(json.dumps(tiny))
    for name in ("W", "A"):
        save_weights(registry.build_model("gran", tiny), tmp_path / f"{name}.safetensors",
                     {"license": "CC0-1.0", "training_data": f"set {name}"})
    return tmp_path


def _train(t, *extra, out="o.safetensors"):
    return cli.main(["train", "--arch", "gran", "--out", str(t / out), "--sharp",
                     str(t / "sharp"), "--patch", "32", "--batch", "2", "--device", "cpu",
                     "--checkpoint-dir", str(t / "ck"), "-q", *extra])


# ---------------------------------------------------------------- 1: --weights and --license


@pytest.mark.parametrize("first, resumed, said", [
    # started from W under MIT, resumed from random weights, no licence: licence 'unknown'
    (["--weights", "W", "--license", "MIT"], ["--config", "gran.json"],
     "was started from --weights"),
    # from random weights, resumed "starting from A.safetensors"
    (["--config", "gran.json"], ["--weights", "A"], "was started from random weights"),
    # the same weights, another licence
    (["--weights", "W", "--license", "MIT"], ["--weights", "W", "--license", "BSD-3-Clause"],
     "not from --weights"),
])
def test_resume_with_other_weights_or_license_is_refused(files, capsys, monkeypatch, first,
                                                         resumed, said):
    def paths(options):
        return [str(files / "gran.json") if o == "gran.json" else
                str(files / f"{o}.safetensors") if o in ("W", "A") else o for o in options]

    assert _train(files, "--steps", "2", *paths(first)) == 0
    card = read_card(files / "o.safetensors")
    capsys.readouterr()
    monkeypatch.setattr(Trainer, "train_step", lambda self: pytest.fail("trained"))
    code = _train(files, "--steps", "4", "--resume", "--overwrite", *paths(resumed))
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and said in err, err
    assert "resume with the same --weights and --license" in err
    if "BSD-3-Clause" in resumed:  # the recorded and the given licence, both said
        assert "licence 'CC0-1.0 AND MIT'" in err and "'CC0-1.0 AND BSD-3-Clause'" in err
    assert read_card(files / "o.safetensors") == card  # nothing the user had changed


def test_resume_with_the_same_weights_and_license_keeps_the_card(files):
    w = str(files / "W.safetensors")
    assert _train(files, "--steps", "2", "--weights", w, "--license", "MIT") == 0
    first = read_card(files / "o.safetensors")
    assert _train(files, "--steps", "4", "--weights", w, "--license", "MIT", "--resume",
                  "--overwrite") == 0
    card = read_card(files / "o.safetensors")
    assert card.license == first.license and "MIT" in card.license
    assert "set W" in card.training_data and card.description == first.description


# ------------------------------------------------------ 2: Ctrl-C between best.* and last.pt


def _validations(monkeypatch, sign: float):
    """Validation PSNR ``20 + sign * step`` (baseline 0 dB): rising, or (-1) falling."""
    def validate(self, identity=False):
        psnr = 0.0 if identity else 20.0 + sign * self.step
        return {"step": self.step, "val_psnr": psnr, "val_ssim": None, "val_loss": 1.0}
    monkeypatch.setattr(Trainer, "validate", validate)


def test_resume_after_a_stop_between_best_and_last_keeps_the_better_best(files, capsys,
                                                                         monkeypatch):
    config = ["--config", str(files / "gran.json"), "--steps", "20"]  # validated every 2
    _validations(monkeypatch, 1)
    real, calls = Trainer.write_last, []

    def write_last(self):
        calls.append(self.step)
        if len(calls) == 3:  # Ctrl-C after step 6's best.*, before its last.pt
            raise KeyboardInterrupt
        real(self)
    monkeypatch.setattr(Trainer, "write_last", write_last)
    assert _train(files, *config) == 130
    ck = files / "ck"
    assert torch.load(ck / "last.pt", weights_only=True)["step"] == 4
    assert torch.load(ck / "best.pt", weights_only=True)["metrics"]["val_psnr"] == 26.0
    # what the resume line says: the best so far is step 6's, not last.pt's step 4
    assert read_checkpoint_info(ck)["best_metrics"]["step"] == 6
    capsys.readouterr()

    monkeypatch.setattr(Trainer, "write_last", real)
    _validations(monkeypatch, -1)  # every later validation is below 26 dB
    assert _train(files, *config, "--resume", "--overwrite") == 0
    best = torch.load(ck / "best.pt", weights_only=True)["metrics"]
    assert (best["step"], best["val_psnr"]) == (6, 26.0)
    assert read_card(files / "o.safetensors").metrics["val_psnr"] == 26.0
    assert read_card(ck / "best.safetensors").metrics["val_psnr"] == 26.0
