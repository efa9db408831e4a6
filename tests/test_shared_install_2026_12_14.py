"""A shared install, from a walkthrough with a read-only /tmp and home: two sessions keeping
fine-tuned weights under the same name in the same second lost one set without a word; no
usable temporary folder, or a full one, failed fine-tuning with errors that did not say to set
TMPDIR (or give --checkpoint-dir); two `watch --once` on the same folders logged the files the
other wrote first as failed (exit 2) where `deblur` skips them; the kept-weights folder
ignored XDG_CACHE_HOME and its failure did not name MICRODEBLUR_FINETUNED_DIR."""

import csv
import errno
import shutil
import tempfile
import types

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur import cli_watch
from napari_microdeblur.cli import main
from napari_microdeblur.core.atomic_write import write_error
from napari_microdeblur.core.focus import focus_score
from napari_microdeblur.core.training import checkpoints

files_mod = pytest.importorskip("napari_microdeblur._widgets._finetune_files")

# ---------------------------------------------------------------- 1: kept weights, one name


def test_keeping_weights_never_replaces_a_file_another_session_kept_meanwhile(
        tmp_path, monkeypatch):
    """Another session writes the same name between this one's check and its copy: both
    files stay, and the path returned is the one this session wrote."""
    kept = tmp_path / "kept"
    monkeypatch.setenv("MICRODEBLUR_FINETUNED_DIR", str(kept))
    monkeypatch.setattr(files_mod.time, "strftime", lambda fmt: "20261214-120000")
    ours = tmp_path / "ours.safetensors"
    ours.write_bytes(b"our weights")
    theirs = kept / "20261214-120000_c2f_fine-tuned.safetensors"
    real_copy = shutil.copy2

    def copy_after_the_other_session(src, dst, *args, **kwargs):
        if not theirs.exists():  # the other session finishes first, in the same second
            theirs.write_bytes(b"their weights")
        return real_copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copy2", copy_after_the_other_session)
    written = files_mod.keep_weights(ours, "c2f fine-tuned")
    assert theirs.read_bytes() == b"their weights"
    assert written != theirs and written.read_bytes() == b"our weights"
    assert written.name == "20261214-120000_c2f_fine-tuned_2.safetensors"
    assert not [p for p in kept.iterdir() if p.name.startswith(".")]  # no temporary left


# ---------------------------------------------------------------- 4: kept-weights folder


def test_kept_weights_folder_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.delenv("MICRODEBLUR_FINETUNED_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert files_mod.kept_weights_dir() == tmp_path / "cache" / "napari-microdeblur" / "finetuned"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, as the XDG spec says
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    assert files_mod.kept_weights_dir() == home / ".cache" / "napari-microdeblur" / "finetuned"
    monkeypatch.setenv("MICRODEBLUR_FINETUNED_DIR", str(tmp_path / "mine"))  # first
    assert files_mod.kept_weights_dir() == tmp_path / "mine"


def test_weights_not_kept_names_the_variable_that_moves_the_folder(tmp_path, monkeypatch):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv("MICRODEBLUR_FINETUNED_DIR", str(blocker / "finetuned"))
    warned = []
    from napari_microdeblur._widgets import _feedback

    monkeypatch.setattr(_feedback, "notify_warning", warned.append)
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"w")
    outcome = types.SimpleNamespace(file=weights, card=None)
    line = files_mod.keep_run_weights(outcome, "run")
    assert line.startswith("Weights NOT kept")
    assert "MICRODEBLUR_FINETUNED_DIR" in line and "MICRODEBLUR_FINETUNED_DIR" in warned[0]
    assert outcome.file == weights  # the dock's Save... still has the weights


# ---------------------------------------------------------------- 2: temporary folder


def _no_temporary_folder(monkeypatch):
    def gettempdir():
        raise FileNotFoundError(errno.ENOENT, "No usable temporary directory found in "
                                "['/tmp', '/var/tmp', '/usr/tmp']")

    monkeypatch.setattr(tempfile, "gettempdir", gettempdir)


def _pairs(tmp_path):
    from napari_microdeblur.core import registry
    from napari_microdeblur.core.checkpoint import save_weights

    model = registry.build_model("gran", registry.get_arch("gran").tiny_config, seed=0)
    base = tmp_path / "base.safetensors"
    save_weights(model, base, {"arch": model.arch_name, "config": model.config.model_dump(),
                               "in_channels": 1, "out_channels": 1})
    for kind in "bs":
        (tmp_path / kind).mkdir()
    for i in range(2):
        sharp = ndimage.gaussian_filter(np.random.default_rng(i).random((64, 64)), 2.0)
        tifffile.imwrite(tmp_path / "b" / f"f{i}.tif",
                         ndimage.gaussian_filter(sharp, 1.5).astype(np.float32))
        tifffile.imwrite(tmp_path / "s" / f"f{i}.tif", sharp.astype(np.float32))
    return ["finetune", "--weights", str(base), "--out", str(tmp_path / "o.safetensors"),
            "--patch", "32", "--batch", "2", "--device", "cpu", "-q", "--steps", "2",
            "--val-fraction", "0.5", "--blurry", str(tmp_path / "b" / "*.tif"),
            "--sharp", str(tmp_path / "s" / "*.tif")]


@pytest.mark.parametrize("given_folder", [False, True])
def test_no_temporary_folder_says_to_set_tmpdir(tmp_path, monkeypatch, capsys, given_folder):
    """torch needs a temporary folder when the optimiser is made, --checkpoint-dir or not."""
    argv = _pairs(tmp_path) + (["--checkpoint-dir", str(tmp_path / "ck")] if given_folder
                               else [])
    _no_temporary_folder(monkeypatch)
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "TMPDIR=<a writable folder>" in err and "[Errno" not in err
    assert not (tmp_path / "o.safetensors").exists()


def test_self_adaptation_without_a_temporary_folder_says_to_set_tmpdir(tmp_path, monkeypatch,
                                                                      capsys):
    """`finetune --self` makes its optimiser outside the paired job's run folder: Python's
    'No usable temporary directory found' came out bare there."""
    argv = _pairs(tmp_path)
    image = tmp_path / "large.tif"  # large enough for its held-out band: the run gets going
    tifffile.imwrite(image, ndimage.gaussian_filter(
        np.random.default_rng(5).random((192, 192)), 2.0).astype(np.float32))
    argv = argv[:argv.index("--blurry")] + ["--self", str(image), "--psf", "gaussian:1.5"]
    _no_temporary_folder(monkeypatch)
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "TMPDIR=<a writable folder>" in err and "[Errno" not in err, err
    assert not (tmp_path / "o.safetensors").exists()


def test_the_docks_checkpoint_folder_without_a_temporary_folder_says_tmpdir(monkeypatch):
    _no_temporary_folder(monkeypatch)
    with pytest.raises(OSError, match=r"set TMPDIR=<a writable folder>"):
        files_mod.checkpoint_dir()


def _disk_full(monkeypatch):
    def save_weights(model, path, card):
        raise write_error(OSError(errno.ENOSPC, "No space left on device"), path)

    monkeypatch.setattr(checkpoints, "save_weights", save_weights)


def test_full_temporary_folder_says_tmpdir_or_checkpoint_dir(tmp_path, monkeypatch, capsys):
    argv = _pairs(tmp_path)
    _disk_full(monkeypatch)
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "No space left on device" in err
    assert "TMPDIR=" in err and "--checkpoint-dir DIR" in err
    assert "choose another disk" not in err  # the user chose none


def test_full_folder_the_user_gave_keeps_its_advice(tmp_path, monkeypatch, capsys):
    argv = _pairs(tmp_path) + ["--checkpoint-dir", str(tmp_path / "ck")]
    _disk_full(monkeypatch)
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "choose another disk" in err and "TMPDIR" not in err


def test_full_temporary_folder_in_the_dock_says_tmpdir_only(tmp_path, monkeypatch):
    from napari_microdeblur.core import registry
    from napari_microdeblur.core.finetune import FinetuneRequest, iter_finetune
    from napari_microdeblur.core.progress import drive

    _disk_full(monkeypatch)
    rng = np.random.default_rng(0)
    sharp = ndimage.gaussian_filter(rng.random((64, 96)), 2.0).astype(np.float32)
    blurry = ndimage.gaussian_filter(sharp, 1.5).astype(np.float32)
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config, seed=0)
    req = FinetuneRequest(mode="pair", layer_name="pair", axes="YX", model=model,
                          base_label="tiny", base_card=None, blurry=blurry, sharp=sharp,
                          steps=2, patch=32, batch_size=2, lr=1e-4, device="cpu",
                          checkpoint_dir=files_mod.checkpoint_dir())
    with pytest.raises(OSError) as caught:
        drive(iter_finetune(req), lambda record: None)
    assert "TMPDIR=" in str(caught.value) and "--checkpoint-dir" not in str(caught.value)


# ---------------------------------------------------------------- 3: two watches


def _field(seed: int, blur: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.zeros((64, 64))
    spots = rng.integers(0, 64, (40, 2))
    image[spots[:, 0], spots[:, 1]] = rng.uniform(0.5, 1, 40)
    image = ndimage.gaussian_filter(image, 1.2 + blur)
    return (image / image.max() * 3000 + 100).astype(np.uint16)


def test_watch_skips_an_output_another_watch_wrote_meanwhile(tmp_path, monkeypatch, capsys):
    """As `deblur` does: kept, skipped, not 'failed', and --once exits 0."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    sharp, soft = _field(1, 0.0), _field(2, 3.0)
    tifffile.imwrite(src / "a.tif", soft)
    real = cli_watch.deblur_one

    def other_watch_first(path, target, *args, **kwargs):
        target.write_bytes(b"the other watch's output")
        return real(path, target, *args, **kwargs)

    monkeypatch.setattr(cli_watch, "deblur_one", other_watch_first)
    threshold = str(np.sqrt(focus_score(sharp) * focus_score(soft)))
    code = main(["watch", str(src), str(out), "--once", "--threshold", threshold, "--settle",
                 "0", "--poll", "0.01", "--method", "wiener", "--psf", "gaussian:1",
                 "--device", "cpu", "-q"])
    err = capsys.readouterr().err
    assert code == 0
    assert "written by another run while this one ran; kept, skipped" in err
    assert (out / "a_deblurred.tif").read_bytes() == b"the other watch's output"
    with open(out / cli_watch.WATCH_LOG, newline="", encoding="utf-8") as f:
        decisions = [r["decision"] for r in csv.DictReader(f)]
    assert decisions == ["exists"]


def test_a_restarted_watch_still_counts_a_file_the_other_watch_processed(tmp_path):
    """The shared log holds the first watch's 'deblurred' row, then the second's 'exists' for
    the same version of the file: it stays processed, so a change to it is processed again."""
    from napari_microdeblur.cli_watch_log import WATCH_COLUMNS, read_log

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    rows = [{"name": "a.tif", "score": "0.01", "decision": decision, "method": method,
             "seconds": "", "size": "100", "mtime_ns": "5", "logged_utc": ""}
            for decision, method in (("deblurred", "wiener"), ("exists", ""))]
    with open(out / cli_watch.WATCH_LOG, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=WATCH_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    state = read_log(out / cli_watch.WATCH_LOG, out, src)
    assert state.processed == {"a.tif": (100, 5)}
    assert state.wrote == {"a.tif": "a_deblurred.tif"}
