"""Portability review (Windows, macOS, clocks, older torch): outputs not saved on FAT32, exFAT
and SMB drives (os.link failing with EINVAL); Windows write errors with misleading advice
(a file open in another program, a path past MAX_PATH); `watch` waiting forever for files
whose clock is ahead; outputs differing only in case not caught as a clash; fp16 training on
torch < 2.3; a training config or a helper process's answer read in the locale's encoding."""

from __future__ import annotations

import csv
import dataclasses
import errno
import io as stdio
import json
import os
import time

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image
from scipy import ndimage

from napari_microdeblur import cli_watch, cli_watch_wait
from napari_microdeblur.cli import main
from napari_microdeblur.core import atomic_write as aw
from napari_microdeblur.core.files import batch_pairs

WIENER = ["--method", "wiener", "--psf", "gaussian:1", "--device", "cpu", "-q"]


def _einval_link(src, dst):
    # Windows' CreateHardLinkW on FAT32/exFAT/SMB: ERROR_INVALID_FUNCTION -> EINVAL
    raise OSError(errno.EINVAL, "Incorrect function")


class _WindowsOs:
    """``os`` as core.atomic_write sees it on Windows, on a drive without hard links: its name
    'nt', a link failing with EINVAL, a rename refusing an existing target (MoveFileExW
    without MOVEFILE_REPLACE_EXISTING). Only that module gets it."""

    name = "nt"
    link = staticmethod(_einval_link)

    def __getattr__(self, attr):
        return getattr(os, attr)

    @staticmethod
    def rename(src, dst):
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "Cannot create a file when that file already "
                                  "exists", str(src), None, str(dst))
        os.rename(src, dst)


def _left(folder):
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------ 1: no hard links (EINVAL)


def test_a_new_output_is_saved_where_a_hard_link_fails_with_einval(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "link", _einval_link)
    out = tmp_path / "x.tif"
    aw.write_atomically(out, lambda p: p.write_bytes(b"data"), overwrite=False)
    assert out.read_bytes() == b"data" and _left(tmp_path) == ["x.tif"]


def test_the_deblur_cli_saves_where_a_hard_link_fails_with_einval(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "link", _einval_link)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8))
    assert main(["deblur", str(src), "-o", str(tmp_path / "res.tif"), "--method", "wiener",
                 "--psf", "gaussian:1.6", "-q"]) == 0
    assert tifffile.imread(tmp_path / "res.tif").shape == (32, 32)


def test_on_windows_a_new_output_is_renamed_into_place_without_a_link(tmp_path, monkeypatch):
    monkeypatch.setattr(aw, "os", _WindowsOs())
    out = tmp_path / "x.tif"
    aw.write_atomically(out, lambda p: p.write_bytes(b"data"), overwrite=False)
    assert out.read_bytes() == b"data" and _left(tmp_path) == ["x.tif"]

    # one written by another run meanwhile is kept, and this run's result not kept
    def other_run_writes_it_too(p):
        p.write_bytes(b"mine")
        (tmp_path / "y.tif").write_bytes(b"theirs")

    with pytest.raises(aw.OutputExistsError, match="appeared while this run wrote it"):
        aw.write_atomically(tmp_path / "y.tif", other_run_writes_it_too, overwrite=False)
    assert (tmp_path / "y.tif").read_bytes() == b"theirs"
    assert _left(tmp_path) == ["x.tif", "y.tif"]  # no temporary left


# ------------------------------------------------------- 3: Windows errors, worded right


def test_windows_access_denied_on_an_existing_output_says_it_may_be_open(tmp_path, monkeypatch):
    out = tmp_path / "y.tif"
    out.write_bytes(b"old")
    busy = PermissionError(errno.EACCES, "The process cannot access the file because it is "
                           "being used by another process")
    said = str(aw.write_error(busy, out, platform="nt"))
    assert "open in another program" in said and str(out.name) in said
    assert "open in another program" not in str(aw.write_error(busy, out, platform="posix"))
    # not there: no program has it open
    assert "open in another program" not in str(
        aw.write_error(busy, tmp_path / "new.tif", platform="nt"))

    # the whole write, as Windows fails it (os.replace: ERROR_SHARING_VIOLATION -> EACCES)
    def replace(src, dst):
        raise busy

    windows = _WindowsOs()
    windows.replace = replace
    monkeypatch.setattr(aw, "os", windows)
    with pytest.raises(PermissionError, match="open in another program"):
        aw.write_atomically(out, lambda p: p.write_bytes(b"new"), overwrite=True)
    assert out.read_bytes() == b"old" and _left(tmp_path) == ["y.tif"]


def test_windows_path_not_found_past_max_path_says_the_path_is_too_long(tmp_path):
    deep = tmp_path / ("d" * 120) / ("e" * 120) / "image_deblurred.tif"
    missing = FileNotFoundError(errno.ENOENT, "The system cannot find the path specified")
    said = str(aw.write_error(missing, deep, platform="nt"))
    assert "path is too long for Windows" in said and "at most 259" in said
    assert "too long" not in str(aw.write_error(missing, deep, platform="posix"))
    short = str(aw.write_error(missing, tmp_path / "a.tif", platform="nt"))
    assert "too long" not in short and "its folder was moved" in short


# ------------------------------------------------------------- 2: watch and clocks


def _rows(out) -> list[tuple[str, str]]:
    with open(out / cli_watch.WATCH_LOG, newline="", encoding="utf-8") as f:
        return [(r["name"], r["decision"]) for r in csv.DictReader(f)]


def _dated(path, seconds):
    """``path``'s modification time ``seconds`` from now (ahead where positive)."""
    when = time.time_ns() + int(seconds * 1e9)
    os.utime(path, ns=(when, when))


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """Watched and output folders; a watch that would wait forever is stopped after 10 s (as
    Ctrl-C: exit 130); what this process saw of files is forgotten."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    if hasattr(cli_watch_wait, "StampAges"):
        monkeypatch.setattr(cli_watch_wait, "STAMP_AGES", cli_watch_wait.StampAges())
    real_sleep, start = time.sleep, time.monotonic()

    def bounded(seconds):
        if time.monotonic() - start > 10:
            raise KeyboardInterrupt
        real_sleep(seconds)

    monkeypatch.setattr(cli_watch.time, "sleep", bounded)
    return src, out


def _watch(src, out, *options):
    return main(["watch", str(src), str(out), "--threshold", "1e-12", "--poll", "0.05",
                 "--once", *options, *WIENER])


def test_a_file_dated_ahead_of_this_clock_is_done_once_unchanged_for_settle(dirs, capsys):
    """A microscope's clock 10 minutes ahead: --once processed nothing, silently, forever."""
    src, out = dirs
    tifffile.imwrite(src / "a.tif", np.arange(64 * 64, dtype=np.uint16).reshape(64, 64))
    _dated(src / "a.tif", 600)
    start = time.monotonic()
    assert _watch(src, out, "--settle", "0.5") == 0
    assert time.monotonic() - start >= 0.5  # it still waited for --settle
    assert _rows(out) == [("a.tif", "copied")]
    err = capsys.readouterr().err
    assert "a.tif: modified 600 s ahead of this computer's clock" in err
    assert err.count("ahead of this computer's clock") == 1


def test_an_incomplete_stack_dated_ahead_is_logged_once_unchanged_for_its_time(dirs, capsys):
    src, out = dirs
    with tifffile.TiffWriter(src / "s.tif") as tw:
        for i in range(4):  # 4 of the 10 planes its ImageJ description declares
            tw.write(np.full((16, 16), i + 1, np.uint8), metadata=None, contiguous=False,
                     description="ImageJ=1.11a\nimages=10\nslices=10\n" if i == 0 else None)
    _dated(src / "s.tif", 600)
    assert _watch(src, out, "--settle", "0.1", "--incomplete-after", "0.5") == 2
    assert _rows(out) == [("s.tif", "incomplete")]


def test_files_already_old_are_done_at_once_without_waiting_for_settle(dirs):
    src, out = dirs
    for name in ("a.tif", "b.tif"):
        tifffile.imwrite(src / name, np.full((32, 32), 7, np.uint16))
        _dated(src / name, -120)
    start = time.monotonic()
    assert _watch(src, out, "--settle", "60") == 0
    assert time.monotonic() - start < 8  # not 60 s per file
    assert [d for _, d in _rows(out)] == ["blank", "blank"]


def test_a_change_restarts_the_count_of_a_file_dated_ahead(tmp_path):
    ages = cli_watch_wait.StampAges()
    path = tmp_path / "a.tif"
    path.write_bytes(b"1")
    _dated(path, 600)
    first = cli_watch_wait.stamp(path)
    assert ages.age(path, first) < 0.1
    time.sleep(0.2)
    assert ages.age(path, first) >= 0.2  # unchanged as this computer counts
    path.write_bytes(b"12")
    _dated(path, 601)
    assert ages.age(path, cli_watch_wait.stamp(path)) < 0.1  # changed: counted afresh


# ------------------------------------------------- 4: outputs differing only in case


def test_batch_refuses_outputs_that_differ_only_in_case(tmp_path):
    with pytest.raises(ValueError, match="ignores case") as refused:
        batch_pairs([tmp_path / "Cell.png", tmp_path / "cell.tif"], tmp_path / "out")
    assert "Cell_deblurred.tif" in str(refused.value)
    assert "cell_deblurred.tif" in str(refused.value)
    pairs = batch_pairs([tmp_path / "Cell.png", tmp_path / "cells.tif"], tmp_path / "out")
    assert [t.name for _, t in pairs] == ["Cell_deblurred.tif", "cells_deblurred.tif"]


def test_the_watch_logs_a_name_clash_for_outputs_that_differ_only_in_case(dirs, capsys):
    src, out = dirs
    image = np.zeros((48, 48))
    image[::8, ::8] = 1  # spots: structure, not background noise
    image = (ndimage.gaussian_filter(image, 2) / 0.04 * 200).clip(0, 250).astype(np.uint8)
    Image.fromarray(image).save(src / "Cell.png")
    tifffile.imwrite(src / "cell.tif", image)
    assert main(["watch", str(src), str(out), "--threshold", "1e9", "--settle", "0",
                 "--once", *WIENER]) == 0
    assert _rows(out) == [("Cell.png", "deblurred"), ("cell.tif", "name clash")]
    assert _left(out) == ["Cell_deblurred.tif", cli_watch.WATCH_LOG]
    assert "cell.tif and Cell.png would both be written" in capsys.readouterr().err


def test_the_owners_of_outputs_are_looked_up_whatever_their_case():
    from napari_microdeblur.cli_watch_log import CaseFoldedOwners

    owners = CaseFoldedOwners()
    owners["Pos0/Cell_deblurred.tif"] = "Pos0/Cell.png"
    assert owners.get("pos0/cell_DEBLURRED.tif") == "Pos0/Cell.png"
    assert "POS0/CELL_deblurred.tif" in owners
    owners.update({"pos0/cell_deblurred.tif": "Pos0/cell.tif"})  # the same output
    assert len(owners) == 1 and owners == {"pos0/cell_deblurred.tif": "Pos0/cell.tif"}


# ------------------------------------------------------------ 5: GradScaler, torch < 2.3


def _fp16_setup(monkeypatch):
    from napari_microdeblur.core import registry, training
    from napari_microdeblur.core.training.setup import prepare

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    sharp = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    config = training.TrainingConfig(regime="supervised", steps=1, patch=32, device="cuda",
                                     amp="fp16", perceptual_features="none")
    model = registry.build_model("c2f_unet", registry.get_arch("c2f_unet").tiny_config)
    setup = prepare(model, config, (sharp * 0.9, sharp), None, {}, None)
    return dataclasses.replace(setup, device=torch.device("cpu"))  # built here, on the CPU


class _Scaler:
    def __init__(self, *args, **kwargs):
        self.args = args


def test_fp16_training_takes_the_older_grad_scaler_where_torch_amp_lacks_it(monkeypatch):
    from napari_microdeblur.core.training.loop import Trainer

    setup = _fp16_setup(monkeypatch)
    monkeypatch.delattr(torch.amp, "GradScaler")  # torch 2.1 and 2.2
    monkeypatch.setattr(torch.cuda.amp, "GradScaler", _Scaler)
    trainer = Trainer(setup)
    assert isinstance(trainer.scaler, _Scaler) and trainer.dtype == torch.float16


def test_fp16_training_takes_torch_amp_grad_scaler_where_torch_has_it(monkeypatch):
    from napari_microdeblur.core.training.loop import Trainer

    setup = _fp16_setup(monkeypatch)
    monkeypatch.setattr(torch.amp, "GradScaler", _Scaler)
    assert Trainer(setup).scaler.args == ("cuda",)


# ------------------------------------------------------------ 7, 8: encodings


@pytest.mark.parametrize("bom", [False, True])
def test_a_training_config_is_read_as_utf8_whatever_the_locale(tmp_path, monkeypatch, capsys,
                                                               bom):
    """Windows read it in cp1252 (a non-ASCII name misread); a BOM (Notepad, PowerShell)
    was 'not valid JSON'. Its unknown field, named in the error, shows how it was read."""
    config = tmp_path / "c.json"
    text = json.dumps({"n_resblocks": 2, "Größe": 1}, ensure_ascii=False)
    config.write_bytes(("\ufeff" if bom else "").encode("utf-8") + text.encode("utf-8"))
    sharp = tmp_path / "sharp"
    sharp.mkdir()
    tifffile.imwrite(sharp / "a.tif", np.full((64, 64), 9, np.uint8))
    # the locale's encoding where none is given, as on Windows
    monkeypatch.setattr(stdio, "text_encoding", lambda encoding, *_: encoding or "cp1252")
    assert main(["train", "--arch", "gran", "--config", str(config), "--sharp", str(sharp),
                 "--out", str(tmp_path / "o.safetensors"), "--steps", "1", "--patch", "32",
                 "--device", "cpu", "-q"]) == 2
    assert "unknown field 'Größe'" in capsys.readouterr().err


def test_a_training_config_not_in_utf8_is_refused_in_one_line(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_bytes('{"n_resblocks": 2, "Größe": 1}'.encode("cp1252"))
    assert main(["train", "--arch", "gran", "--config", str(config), "--sharp", str(tmp_path),
                 "--out", str(tmp_path / "o.safetensors"), "--device", "cpu", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is not UTF-8 text: save it as UTF-8" in err and len(err.splitlines()) == 1


def test_the_header_helper_process_answers_in_utf8_whatever_the_console(tmp_path, monkeypatch):
    """A console code page that lacks a character the helper prints (a sitecustomize's line,
    a path) made the helper fail: the header was then read on the GUI's time."""
    from napari_microdeblur._widgets import _header_reads, _layer_file

    path = tmp_path / "big.tif"
    tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint8), metadata=None,
                     photometric="minisblack", description="x" * 1_000_001)
    monkeypatch.setattr(_header_reads, "_CHILD", "print('Größe µm 細胞')\n" + _header_reads._CHILD)
    monkeypatch.setenv("PYTHONIOENCODING", "ascii")  # a code page without those characters
    header = _header_reads.in_helper_process(_layer_file._file_key(path))
    assert header is not None and header[1] == (3, 8, 8)
