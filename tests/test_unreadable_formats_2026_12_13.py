"""Files of a format no reader reads (MRC, HDF5, N5) in a folder (walkthrough 2026-12-13).

`watch` on a folder of .mrc files said nothing at all: the user waited for outputs that never
came. `deblur FOLDER` on a folder of .mrc and .h5 named the .mrc files only, and beside readable
TIFFs said nothing of them (`focus FOLDER` neither). Now each kind is named with its count and
its conversion: watch in one line at start and one when new ones appear (no log row: they are
not watched), deblur and focus in the error or in one warning naming the folder."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli, cli_watch
from napari_microdeblur.core.shown import shown_path

WIENER = ["--method", "wiener", "--psf", "gaussian:1", "--balance", "0.1", "--device", "cpu"]
H5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _image(seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((32, 32)) * 1000 + 100).astype(np.uint16)


def _unread(folder, mrc: int = 0, h5: int = 0) -> dict[str, bytes]:
    """``mrc`` .mrc and ``h5`` .h5 files in ``folder`` (their bytes, to check none changed)."""
    made = {}
    for i in range(mrc):
        made[f"g{i}.mrc"] = b"MRC" + bytes([i]) * 64
    for i in range(h5):
        made[f"h{i}.h5"] = H5_MAGIC + bytes([i]) * 8
    for name, data in made.items():
        (folder / name).write_bytes(data)
    return made


@pytest.fixture
def dirs(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    return src, out


def _watch(src, out, *options):
    return cli.main(["watch", str(src), str(out), "--threshold", "1e-12", "--settle", "0",
                     "--poll", "0.01", *options, *WIENER, "-q"])


def _rows(out) -> list[dict]:
    with open(out / cli_watch.WATCH_LOG, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _lines(err: str, words: str) -> list[str]:
    return [line for line in err.splitlines() if words in line]


def test_watch_says_unread_files_at_start_and_when_new_ones_appear(dirs, monkeypatch, capsys):
    src, out = dirs
    made = _unread(src, mrc=2, h5=1)
    scans = []

    def between_scans(seconds):
        scans.append(seconds)
        if len(scans) == 2:  # the microscope writes another one later
            (src / "late.mrc").write_bytes(b"MRC late")
        if len(scans) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_watch.time, "sleep", between_scans)
    _watch(src, out)
    lines = _lines(capsys.readouterr().err, "not watched")
    assert len(lines) == 2, lines  # once at start, once for the new file: not at every scan
    first, second = lines
    assert first.startswith(f"microdeblur: {shown_path(src)} holds files that are not watched: "
                            "2 .mrc files: MRC files are not read")
    assert "; 1 .h5 file: HDF5 files are not read" in first
    assert "mrcfile.read('g0.mrc')" in first and "h5py.File('h0.h5')" in first
    assert "write them converted to TIFF into the folder" in first
    assert "1 .mrc file: MRC files are not read" in second and "mrcfile.read('late.mrc')" in second
    assert ".h5" not in second
    assert _rows(out) == []  # not logged: they were not processed, nor failed
    assert sorted(p.name for p in out.iterdir()) == [cli_watch.WATCH_LOG]
    assert all((src / name).read_bytes() == data for name, data in made.items())


def test_watch_once_processes_the_tiffs_and_names_the_rest(dirs, capsys):
    src, out = dirs
    tifffile.imwrite(src / "a.tif", _image())
    _unread(src, mrc=1)
    (src / "Pos0").mkdir()
    _unread(src / "Pos0", h5=2)
    # the unread files do not make --once fail: they are not watched files
    assert _watch(src, out, "-r", "--once") == 0
    assert [(r["name"], r["decision"]) for r in _rows(out)] == [("a.tif", "copied")]
    lines = _lines(capsys.readouterr().err, "not watched")
    assert len(lines) == 1, lines
    assert "2 .h5 files: HDF5 files are not read" in lines[0]
    assert "1 .mrc file: MRC files are not read" in lines[0]


def test_deblur_of_a_mixed_folder_deblurs_the_tiffs_and_names_each_unread_kind(dirs, capsys):
    src, out = dirs
    tifffile.imwrite(src / "ok.tif", _image())
    _unread(src, mrc=2, h5=3)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER, "-q"]) == 0
    assert (out / "ok_deblurred.tif").exists()
    lines = _lines(capsys.readouterr().err, "not read")
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(f"microdeblur: warning: input directory {shown_path(src)} holds "
                           "files that are left out: its 3 .h5 files: HDF5 files are not read")
    assert "; its 2 .mrc files: MRC files are not read: convert the image to TIFF" in line
    assert "mrcfile.read('g0.mrc')" in line and "h5py.File('h0.h5')" in line


def test_deblur_of_a_folder_of_mrc_and_h5_only_names_both_kinds(dirs, capsys):
    src, out = dirs
    _unread(src, mrc=1, h5=2)
    (src / "vol.n5").mkdir()
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER, "-q"]) == cli.EXIT_ERROR
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"microdeblur: error: input directory {shown_path(src)} holds no "
                           "image file; its 2 .h5 files: HDF5 files are not read")
    assert "; its 1 .mrc file: MRC files are not read" in line
    assert "; its 1 .n5 folder: N5 folders are not read" in line and "\n" not in line


def test_deblur_recursive_counts_the_unread_files_of_subfolders(dirs, capsys):
    src, out = dirs
    (src / "Pos0").mkdir()
    tifffile.imwrite(src / "Pos0" / "ok.tif", _image())
    _unread(src / "Pos0", mrc=2)
    assert cli.main(["deblur", str(src), "-o", str(out), "-r", *WIENER, "-q"]) == 0
    assert (out / "Pos0" / "ok_deblurred.tif").exists()
    lines = _lines(capsys.readouterr().err, "not read")
    assert len(lines) == 1 and "its 2 .mrc files: MRC files are not read" in lines[0], lines


def test_focus_of_a_mixed_folder_names_the_unread_files(dirs, capsys):
    src, _ = dirs
    tifffile.imwrite(src / "ok.tif", _image())
    tifffile.imwrite(src / "ok2.tif", _image(1))
    _unread(src, h5=1)
    assert cli.main(["focus", str(src)]) == 0
    captured = capsys.readouterr()
    assert "ok.tif" in captured.out and "ok2.tif" in captured.out
    lines = _lines(captured.err, "not read")
    assert len(lines) == 1 and "its 1 .h5 file: HDF5 files are not read" in lines[0], lines
