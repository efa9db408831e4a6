"""Odd paths, from a walkthrough: an input whose output name is longer than the file system
takes stopped a watch for good (every restart stopped reading its log) and a `deblur` folder
batch before any file; a file name that is not valid UTF-8 stopped a watch for good (its CSV
log could not hold it) and lost a batch's failures list; a reference copied from macOS (NFD)
did not pair with its result; `info --command` wrote a PSF file named '-psf.tif' as an option;
a quoted '~' was said to be a missing folder to create."""

import csv
import os
import shlex
import sys
import time
import unicodedata

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur import cli_watch
from napari_microdeblur.cli import build_parser, main
from napari_microdeblur.core.cluster import failures_path

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.1", "--device", "cpu"]
LONG = "a" * 246 + ".tif"  # its output, LONG's stem + '_deblurred.tif', is 260 bytes
NAME_WORDS = "bytes long; the file system takes names of up to"
#: b'caf\xe9.tif' (Latin-1, as another system's disk may hold it) as Python names it
UNDECODABLE = os.fsdecode(b"caf\xe9.tif")


def _soft(n: int = 40) -> np.ndarray:
    """A small soft image with structure (deblurred by the watch's threshold 10)."""
    rng = np.random.default_rng(0)
    image = np.zeros((n, n))
    image[8:18, 8:28], image[24:34, 18:30] = 1000, 600
    return (ndimage.gaussian_filter(image, 2) + rng.normal(100, 3, image.shape)).astype(np.uint16)


def _write(path, image=None) -> None:
    try:
        tifffile.imwrite(path, _soft() if image is None else image)
    except OSError as error:  # a file system that refuses the name itself
        pytest.skip(f"cannot create {path!r} here: {error}")
    then = time.time_ns() - 60 * 10**9  # settled: not waited for
    os.utime(path, ns=(then, then))


def _watch(src, out):
    return main(["watch", str(src), str(out), "--threshold", "10", "--once", "--settle", "0",
                 "--poll", "0.01", "-q", *WIENER])


def _log_rows(out) -> list[dict]:
    with open(out / cli_watch.WATCH_LOG, newline="", encoding="utf-8",
              errors="surrogateescape") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def dirs(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    return src, out


# --------------------------------------------------------------- 1: watch, a long output name


def test_watch_logs_an_input_whose_output_name_is_too_long_as_failed_and_goes_on(dirs, capsys):
    src, out = dirs
    _write(src / "ok.tif")
    _write(src / LONG)
    assert _watch(src, out) == 2  # a file failed
    err = capsys.readouterr().err
    assert NAME_WORDS in err and "Errno" not in err
    assert (out / "ok_deblurred.tif").is_file()
    assert {r["name"]: r["decision"] for r in _log_rows(out)} == {LONG: "failed",
                                                                 "ok.tif": "deblurred"}
    # a restart reads the log (it had stopped there, before any file, on every restart)
    assert _watch(src, out) == 0
    assert "Errno" not in capsys.readouterr().err
    assert len(_log_rows(out)) == 2  # nothing redone


# ------------------------------------------------------ 2: a name that is not valid UTF-8


@pytest.mark.skipif(sys.platform == "win32", reason="names are UTF-16 there")
def test_watch_logs_a_name_that_is_not_utf8_and_a_restart_knows_it_done(dirs, capsys):
    src, out = dirs
    _write(os.path.join(src, UNDECODABLE))
    _write(src / "ok.tif")
    assert _watch(src, out) == 0
    assert "surrogates" not in capsys.readouterr().err
    rows = _log_rows(out)
    assert {r["name"]: r["decision"] for r in rows} == {UNDECODABLE: "deblurred",
                                                        "ok.tif": "deblurred"}
    raw = (out / cli_watch.WATCH_LOG).read_bytes()
    assert b"caf\xe9.tif" in raw  # the name's own bytes
    assert _watch(src, out) == 0
    assert len(_log_rows(out)) == 2  # recognised as done, not processed again


@pytest.mark.skipif(sys.platform == "win32", reason="names are UTF-16 there")
def test_a_batch_lists_a_failed_file_whose_name_is_not_utf8(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    _write(src / "ok.tif")
    bad = os.path.join(src, UNDECODABLE)
    try:
        with open(bad, "wb") as f:
            f.write(b"not an image")
    except OSError as error:
        pytest.skip(f"cannot create {bad!r} here: {error}")
    assert main(["deblur", str(src), "-o", str(out), "-q", *WIENER]) == 2
    err = capsys.readouterr().err
    assert "surrogates" not in err and "1 done, 0 skipped (output exists), 1 failed" in err
    listed = failures_path(out).read_bytes().splitlines()
    assert len(listed) == 2 and listed[1].startswith(os.fsencode(bad) + b"\t")


# ------------------------------------------------------ 3: deblur, a long output name


def test_a_batch_fails_only_the_file_whose_output_name_is_too_long(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    _write(src / "ok.tif")
    _write(src / LONG)
    assert main(["deblur", str(src), "-o", str(out), "-q", *WIENER]) == 2
    err = capsys.readouterr().err
    assert NAME_WORDS in err and "Errno" not in err
    assert "1 done, 0 skipped (output exists), 1 failed" in err
    assert (out / "ok_deblurred.tif").is_file()
    rows = failures_path(out).read_text(encoding="utf-8").splitlines()
    assert len(rows) == 2 and rows[1].startswith(str(src / LONG)) and NAME_WORDS in rows[1]


def test_one_file_into_a_folder_says_its_output_name_is_too_long(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    _write(tmp_path / LONG)
    assert main(["deblur", str(tmp_path / LONG), "-o", str(out), "-q", *WIENER]) == 2
    err = capsys.readouterr().err
    assert NAME_WORDS in err and "Errno" not in err


# -------------------------------------------------------- 4: evaluate, NFD and NFC names


def test_evaluate_pairs_a_reference_in_nfd_form_with_its_result_in_nfc(tmp_path, capsys):
    refs, results = tmp_path / "ref", tmp_path / "res"
    refs.mkdir()
    results.mkdir()
    _write(refs / (unicodedata.normalize("NFD", "café") + ".tif"))
    _write(results / (unicodedata.normalize("NFC", "café") + "_deblurred.tif"))
    if len(os.listdir(refs)[0]) == len(os.listdir(results)[0]) - len("_deblurred"):
        pytest.skip("this file system normalises names itself")
    assert main(["evaluate", str(results), "--reference", str(refs), "--border", "4"]) == 0
    assert "mean of 1" in capsys.readouterr().out


# --------------------------------------------------- 5: info --command, a name with a dash


def test_info_command_writes_a_psf_file_starting_with_a_dash_as_a_path(tmp_path, capsys,
                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "in.tif")
    y, x = np.mgrid[-7:8, -7:8]
    psf = np.exp(-(x**2 + y**2) / 4.5).astype(np.float32)
    tifffile.imwrite(tmp_path / "-psf.tif", psf / psf.sum())
    assert main(["deblur", "in.tif", "-o", "out.tif", "-q", "--method", "wiener",
                 "--psf=-psf.tif", "--balance", "0.1", "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["info", "--command", "out.tif"]) == 0
    command = capsys.readouterr().out.strip()
    assert f"--psf .{os.sep}-psf.tif" in command
    build_parser().parse_args(shlex.split(command)[1:])  # it runs as printed
    from napari_microdeblur.cli_info_rerun import command_path

    assert command_path("-x.tif") == f".{os.sep}-x.tif" and command_path("x.tif") == "x.tif"


def test_info_command_writes_an_input_and_output_starting_with_a_dash_as_paths(
        tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "-x.tif")
    assert main(["deblur", "./-x.tif", "-o", "./-x_deblurred.tif", "-q", *WIENER]) == 0
    capsys.readouterr()
    assert main(["info", "--command", "./-x_deblurred.tif"]) == 0
    command = capsys.readouterr().out.strip()
    words = shlex.split(command)
    assert words[2] == f".{os.sep}-x.tif" and words[4] == f".{os.sep}-x_deblurred_rerun.tif"
    args = build_parser().parse_args(words[1:])  # it runs as printed: it was refused
    assert args.output == words[4]


# ------------------------------------------------------------- 6: a '~' left unexpanded


def test_an_unexpanded_tilde_is_said_so_not_a_folder_to_create(tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "in.tif")
    assert main(["deblur", "in.tif", "-o", "~/x.tif", "-q", *WIENER]) == 2
    err = capsys.readouterr().err
    assert "--output '~/x.tif': '~' was not expanded" in err
    assert f"give {home}/x.tif instead" in err and "create it first" not in err
    assert main(["deblur", "in.tif", "-o", "x.tif", "-q", "--method", "wiener",
                 "--psf=~/psf.tif", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "--psf '~/psf.tif': '~' was not expanded" in err and "names no file" not in err
    assert len(err.strip().splitlines()) == 1
    # a folder really named '~' here is taken as it is
    (tmp_path / "~").mkdir()
    assert main(["deblur", "in.tif", "-o", "~/x.tif", "-q", *WIENER]) == 0
    assert (tmp_path / "~" / "x.tif").is_file()
