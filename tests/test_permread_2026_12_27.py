"""From a walkthrough of a shared facility (2026-12-27): users share MICRODEBLUR_FINETUNED_DIR
and --checkpoint-dir folders; alice's umask 077 keeps her files -rw-------, which bob may not
read (as another uid under setpriv, in a private mount namespace).

1. bob's docks called alice's kept fine-tune 'not a readable safetensors file (No such file or
   directory: ...<path cut>)' (safetensors says so for EACCES) and told him to delete it: said
   as permission denied, with its full path and owner, and no advice to delete it;
2. `microdeblur info RUNDIR` whose last.pt another user keeps, or is truncated, said
   "argument of type 'NoneType' is not iterable" (--json: null): one line naming the file and
   why (permission, or truncated or corrupt);
3. `finetune --resume` called that last.pt 'no PyTorch file' and `info RUNDIR/last.pt`
   'truncated or corrupt?': said as permission denied.

Tests run as root here, whom no file permission stops: another user's unreadable file is
imitated by making its reads raise what they raise for that user (PermissionError from
torch.load and open; FileNotFoundError from safetensors' safe_open).
"""

from __future__ import annotations

import builtins
import json
import os
from pathlib import Path

import pytest
import torch

from napari_microdeblur.cli import main
from napari_microdeblur.core.checkpoint import save_weights
from napari_microdeblur.core.registry import build_model, get_arch
from napari_microdeblur.core.training.checkpoints import CHECKPOINT_FORMAT

STAMP = "20261207-211330"
CARD = {"training_data": "tiny_gran (random) fine-tuned on layer 'copy': stack, in focus",
        "description": "tiny_gran fine-tuned for at most 4 steps", "degradation": "none",
        "metrics": {"psnr": 1.0}, "license": "BSD-3-Clause"}


def denied(path: Path) -> PermissionError:
    return PermissionError(13, "Permission denied", str(path))


def _same(given, path: Path) -> bool:
    try:
        return Path(os.fspath(given)).absolute() == path.absolute()
    except TypeError:  # a file object, an fd
        return False


def refuse_reads(monkeypatch, path: Path) -> None:
    """Reads of ``path`` fail as they do for a user without read permission on it."""
    real_open, real_load = builtins.open, torch.load

    def fake_open(file, *args, **kwargs):
        if _same(file, path):
            raise denied(path)
        return real_open(file, *args, **kwargs)

    def fake_load(f, *args, **kwargs):
        if _same(f, path):
            raise denied(path)
        return real_load(f, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(torch, "load", fake_load)
    import safetensors

    real_safe_open = safetensors.safe_open

    def fake_safe_open(file, *args, **kwargs):  # what safetensors raises for EACCES
        if _same(file, path):
            raise FileNotFoundError(f"No such file or directory: {path}")
        return real_safe_open(file, *args, **kwargs)

    monkeypatch.setattr(safetensors, "safe_open", fake_safe_open)


def run_folder(folder: Path) -> Path:
    """A --checkpoint-dir as a train or finetune run leaves it (its last.pt)."""
    folder.mkdir(parents=True)
    torch.save({"format": CHECKPOINT_FORMAT, "step": 3, "steps": 10, "arch": "gran",
                "regime": "supervised", "state": torch.zeros(4096)}, folder / "last.pt")
    return folder


def info(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["info", *args])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------- 1. another user's kept fine-tune in the docks


def write_kept(folder: Path, stem: str, seed: int) -> Path:
    torch.manual_seed(seed)
    config = {**get_arch("gran").tiny_config, "in_channels": 1, "out_channels": 1}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.safetensors"
    save_weights(build_model("gran", config), path, CARD)
    return path


class Offered:
    def __init__(self) -> None:
        self.files: list[str] = []

    def offer_kept(self, found) -> bool:
        self.files = [model.extra["file"] for model in found]
        return bool(found)


def test_kept_fine_tune_another_user_keeps_private_is_not_called_damaged(
        tmp_path, monkeypatch):
    from napari_microdeblur._widgets import _feedback
    from napari_microdeblur._widgets import _kept_models as kept

    folder = tmp_path / "kept"
    monkeypatch.setenv("MICRODEBLUR_FINETUNED_DIR", str(folder))
    monkeypatch.setattr(kept, "_READ", {})
    monkeypatch.setattr(kept, "_SAID", set())
    warned: list[str] = []
    monkeypatch.setattr(_feedback, "notify_warning", warned.append)
    alices = write_kept(folder, f"{STAMP}_tiny_gran_fine-tuned_on_copy", seed=1)
    bobs = write_kept(folder, "20261207-211412_tiny_gran_fine-tuned_on_copy", seed=2)
    before = alices.read_bytes()
    refuse_reads(monkeypatch, alices)

    models = Offered()
    kept.offer_kept_models(models)
    assert models.files == [str(bobs)]  # his own is offered
    assert len(warned) == 1 and "\n" not in warned[0]
    line = warned[0]
    assert str(alices) in line  # named in full (its path had been cut at 120 characters)
    assert "Permission denied" in line and "ask its owner" in line
    assert "delete" not in line and "No such file" not in line
    assert alices.read_bytes() == before

    monkeypatch.undo()  # alice makes it readable (chmod g+r): offered next time, not cached
    monkeypatch.setenv("MICRODEBLUR_FINETUNED_DIR", str(folder))
    kept.offer_kept_models(models)
    assert sorted(models.files) == sorted([str(alices), str(bobs)])


# ------------------------------------------------- 2. info of a run whose last.pt fails


def test_info_of_a_run_folder_whose_last_pt_another_user_keeps_says_permission(
        tmp_path, monkeypatch, capsys):
    run = run_folder(tmp_path / "run3")
    refuse_reads(monkeypatch, run / "last.pt")
    code, out, err = info(capsys, str(run))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "NoneType" not in err
    assert str(run / "last.pt") in err and "Permission denied" in err
    assert "ask its owner" in err and "corrupt" not in err

    code, out, _ = info(capsys, "--json", str(run))  # was: null
    found = json.loads(out)
    assert code == 2 and "Permission denied" in found["error"]


def test_info_of_a_run_folder_whose_last_pt_is_truncated_says_so(tmp_path, capsys):
    run = run_folder(tmp_path / "trunc_run")
    last = run / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])  # head -c 1000
    code, out, err = info(capsys, str(run))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "NoneType" not in err
    assert str(last) in err and "truncated or corrupt" in err


# ---------------------------- 3. permission denied is said as such, not as corruption


def test_info_of_another_users_last_pt_says_permission_not_corruption(
        tmp_path, monkeypatch, capsys):
    run = run_folder(tmp_path / "run3")
    refuse_reads(monkeypatch, run / "last.pt")
    code, _, err = info(capsys, str(run / "last.pt"))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "Permission denied" in err and "ask its owner" in err
    assert "corrupt" not in err and "download it again" not in err


def test_resume_from_another_users_last_pt_says_permission(tmp_path, monkeypatch):
    from napari_microdeblur.core.training.checkpoints import read_checkpoint_info

    run = run_folder(tmp_path / "run3")
    refuse_reads(monkeypatch, run / "last.pt")
    with pytest.raises(ValueError) as refused:
        read_checkpoint_info(run)  # what finetune/train --resume read first
    said = str(refused.value)
    assert str(run / "last.pt") in said
    assert "cannot read it (Permission denied); check its permissions or ask its owner" in said
    assert "no PyTorch file" not in said and "corrupt" not in said


def test_a_readable_run_folder_is_still_described(tmp_path, capsys):
    run = run_folder(tmp_path / "run2")
    code, out, err = info(capsys, str(run))
    assert code == 0 and err == ""
    assert "training checkpoint folder" in out and "step: 3 of 10" in out
