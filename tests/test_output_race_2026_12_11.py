"""Interrupted and concurrent runs (walkthrough 2026-12-11). Two runs writing the same output
without --overwrite: the one that finished last renamed its result over the other's, both
exiting 0. A rename that failed (the output folder made read-only mid-batch) named the hidden
temporary file and left it; a --recursive subfolder's folder replaced by a file said
'[Errno 17] File exists'; an interrupted --overwrite batch said 'the same command again
finishes the rest', which redoes every file. The race is simulated by writing the other
run's output between this run's temporary write and its rename."""

import errno
import os
import sys

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli
from napari_microdeblur.core import io_write
from napari_microdeblur.core.shown import shown_path

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu"]
THEIRS = b"the other run's output"


def _image(path, seed=0, size=32):
    tifffile.imwrite(path, np.random.default_rng(seed).integers(0, 255, (size, size), np.uint8))


def _other_run_writes(path):
    """What the other run leaves at ``path``: a file, or a Zarr store (a folder)."""
    if str(path).endswith(".zarr"):
        path.mkdir()
        (path / "theirs").write_bytes(THEIRS)
    else:
        path.write_bytes(THEIRS)


def _theirs_kept(path) -> bool:
    held = path / "theirs" if path.is_dir() else path
    return held.read_bytes() == THEIRS


def _left(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _before_rename(monkeypatch, hook):
    """``hook(final_path)`` once for each region-by-region TIFF output, after its temporary is
    complete and before the rename (the other run finishing in between)."""
    real = io_write.TiffWriteArray.close

    def close(self):
        if self._fd is not None:
            name = os.path.basename(self.path)[1:].split(".partial")[0].rsplit(".", 2)[0]
            hook(os.path.join(os.path.dirname(self.path), name))
        real(self)

    monkeypatch.setattr(io_write.TiffWriteArray, "close", close)


@pytest.mark.parametrize("name", ["r.tif", "r.ome.tif", "r.zarr"])
def test_an_output_written_meanwhile_is_kept_and_this_run_refused(tmp_path, name):
    out = tmp_path / name
    with pytest.raises(FileExistsError, match="appeared while this run wrote it") as caught:
        with io_write.open_output(out, (16, 16), np.float32, axes="YX") as target:
            target[:, :] = np.ones((16, 16), np.float32)
            _other_run_writes(out)
    assert shown_path(out) in str(caught.value) and "overwrite=True" in str(caught.value)
    assert _theirs_kept(out)
    assert _left(tmp_path) == [name]  # this run's temporary removed


@pytest.mark.parametrize("name", ["r.tif", "r.zarr"])
def test_with_overwrite_what_appeared_is_replaced(tmp_path, name):
    out = tmp_path / name
    with io_write.open_output(out, (16, 16), np.float32, axes="YX", overwrite=True) as target:
        target[:, :] = np.full((16, 16), 3, np.float32)
        _other_run_writes(out)
    assert not (out / "theirs").exists() if name.endswith(".zarr") else out.read_bytes() != THEIRS
    assert _left(tmp_path) == [name]


def test_write_image_and_png_refuse_an_output_written_meanwhile(tmp_path, monkeypatch):
    real = tifffile.imwrite
    tif, png = tmp_path / "w.tif", tmp_path / "p.png"

    def then_the_other_run(file, *args, **kwargs):
        real(file, *args, **kwargs)
        tif.write_bytes(THEIRS)

    monkeypatch.setattr(tifffile, "imwrite", then_the_other_run)
    with pytest.raises(FileExistsError, match="appeared while this run wrote it"):
        io_write.write_image(tif, np.zeros((8, 8), np.float32), axes="YX")
    monkeypatch.undo()
    with pytest.raises(FileExistsError, match="appeared while this run wrote it"):
        with io_write.open_png_output(png, (8, 8), np.float32, axes="YX",
                                      stored=np.uint8) as plane:
            plane[:] = 1
            png.write_bytes(THEIRS)
    assert tif.read_bytes() == png.read_bytes() == THEIRS
    assert _left(tmp_path) == ["p.png", "w.tif"]


@pytest.mark.parametrize("renameat2", [True, False])
def test_without_hard_links_the_output_written_meanwhile_is_still_kept(tmp_path, monkeypatch,
                                                                       renameat2):
    """A file system without hard links (FAT, exFAT, some shares): os.link fails with EPERM;
    Linux's renameat2(RENAME_NOREPLACE), else a check just before the rename, keeps it."""
    def no_link(src, dst, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted", str(src))

    monkeypatch.setattr(os, "link", no_link, raising=False)
    if not renameat2:
        monkeypatch.setattr(sys, "platform", "elsewhere")
    out = tmp_path / "r.tif"
    with pytest.raises(FileExistsError, match="appeared while this run wrote it"):
        with io_write.open_output(out, (8, 8), np.float32, axes="YX") as target:
            target[:, :] = np.ones((8, 8), np.float32)
            _other_run_writes(out)
    assert _theirs_kept(out) and _left(tmp_path) == ["r.tif"]
    other = tmp_path / "alone.tif"  # nothing in the way: written
    with io_write.open_output(other, (8, 8), np.float32, axes="YX") as target:
        target[:, :] = np.full((8, 8), 2, np.float32)
    assert tifffile.imread(other).max() == 2


def test_two_runs_of_one_file_the_later_fails_in_one_line(tmp_path, monkeypatch, capsys):
    src, out = tmp_path / "big.tif", tmp_path / "r.tif"
    _image(src)
    _before_rename(monkeypatch, lambda final: open(final, "wb").write(THEIRS))
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER, "-q"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "appeared while this run wrote it" in err[0]
    assert shown_path(out) in err[0] and "--overwrite" in err[0]
    assert out.read_bytes() == THEIRS and _left(tmp_path) == ["big.tif", "r.tif"]


def _batch(tmp_path, count=3):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i in range(count):
        _image(src / f"c{i}.tif", seed=i)
    return src, out


def test_a_batch_skips_outputs_another_run_wrote_meanwhile(tmp_path, monkeypatch, capsys):
    """The same folder command started twice: an output the other run wrote, before this run
    began the file or while it wrote it, is skipped, not a failure listed with exit 2."""
    from napari_microdeblur import cli_batch

    src, out = _batch(tmp_path)
    ahead = out / "c0_deblurred.tif"  # the other run wrote it after this one's listing
    real = cli_batch.deblur_file_as_asked

    def other_run_first(source, target, args, models=None):
        if target == ahead:
            ahead.write_bytes(THEIRS)
        return real(source, target, args, models)

    monkeypatch.setattr(cli_batch, "deblur_file_as_asked", other_run_first)
    _before_rename(monkeypatch, lambda final: final.endswith("c1_deblurred.tif")
                   and open(final, "wb").write(THEIRS))
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER, "-q"]) == 0
    err = capsys.readouterr().err
    assert f"{shown_path(out)}: 1 done, 2 skipped (output exists), 0 failed" in err
    assert "error" not in err
    assert ahead.read_bytes() == (out / "c1_deblurred.tif").read_bytes() == THEIRS
    assert _left(out) == ["c0_deblurred.tif", "c1_deblurred.tif", "c2_deblurred.tif"]
    assert not (tmp_path / "out.failures.tsv").exists()


def test_a_failed_rename_names_the_output_not_the_temporary(tmp_path, monkeypatch, capsys):
    """The output folder made unwritable mid-batch (EPERM on the rename, as root cannot
    be refused by permissions here)."""
    src, out = _batch(tmp_path, count=1)

    def refused(src_path, dst, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted", str(src_path))

    for name in ("link", "rename", "replace"):
        monkeypatch.setattr(os, name, refused)
    monkeypatch.setattr(sys, "platform", "elsewhere")  # no renameat2 either
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER, "-q"]) == cli.EXIT_ERROR
    line = next(x for x in capsys.readouterr().err.splitlines() if "error" in x)
    assert shown_path(out / "c0_deblurred.tif") in line and ".partial" not in line
    assert "Operation not permitted" in line and "choose a folder you can write to" in line
    assert _left(out) == []


def test_a_file_in_place_of_an_output_subfolder_is_said_so(tmp_path, capsys):
    src, out = _batch(tmp_path, count=1)
    (src / "sub").mkdir()
    _image(src / "sub" / "d.tif")
    (out / "sub").write_bytes(b"not a folder")
    assert cli.main(["deblur", str(src), "-o", str(out), "--recursive", *WIENER,
                     "-q"]) == cli.EXIT_ERROR
    line = next(x for x in capsys.readouterr().err.splitlines() if "sub/d.tif:" in x)
    assert "File exists" not in line
    assert (f"cannot write {shown_path(out / 'sub' / 'd_deblurred.tif')}: "
            f"{shown_path(out / 'sub')} is a file, not a folder") in line
    assert (out / "sub").read_bytes() == b"not a folder"


def test_an_interrupted_overwrite_batch_says_what_a_rerun_does(tmp_path, monkeypatch, capsys):
    from napari_microdeblur import cli_batch

    src, out = _batch(tmp_path)
    for i in range(3):
        (out / f"c{i}_deblurred.tif").write_bytes(b"old")
    real, calls = cli_batch.deblur_file_as_asked, []

    def interrupted_on_the_second(source, target, args, models=None):
        calls.append(source)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(source, target, args, models)

    monkeypatch.setattr(cli_batch, "deblur_file_as_asked", interrupted_on_the_second)
    assert cli.main(["deblur", str(src), "-o", str(out), "--overwrite", *WIENER,
                     "-q"]) == cli.EXIT_INTERRUPTED
    closing = capsys.readouterr().err.strip().splitlines()[-2]
    assert "finishes the rest" not in closing
    assert closing.endswith("1 done, 0 skipped (output exists), 0 failed; interrupted: this "
                            "run redid 1 of 3 outputs (the last for c0.tif); the same command "
                            "again redoes all 3, and without --overwrite it would skip every "
                            "output that exists, the old ones not redone too")
    assert (out / "c1_deblurred.tif").read_bytes() == b"old"
