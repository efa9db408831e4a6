"""`microdeblur watch` fixes (2026-12-25).

A file waited for is timed by the watch, not by its modification time: a copy keeps the
original times (cp -p, rsync -a, Explorer), and a multi-file OME dataset's main file made an
hour ago was logged 'incomplete' at the first scan ("unchanged for 600 s" after 0.1 s watched)
before its second file could arrive; a stack with an old time was logged 'incomplete' while
still being written. A dataset's part said "processed with that file" of a main file logged
'incomplete' (never processed): it now waits with it, or says what became of it. A folder
watched into its parent (`watch exp/raw exp`) had every link inside it left out as leading
"into the output folder". The docstring of core.ome_datasets named a function that does not
exist."""

from __future__ import annotations

import csv
import os
import re
import shutil
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli_watch
from napari_microdeblur.cli import main

FIRST, SECOND = "mm_MMStack_Pos0.ome.tif", "mm_MMStack_Pos0_1.ome.tif"
NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
LOG = "microdeblur_watch.csv"
# a threshold below every score: each complete file is copied (the cheapest decision)
COPY = ["--threshold", "1e-12", "--settle", "0", "--poll", "0.02", "--device", "cpu",
        "--method", "wiener", "--psf", "gaussian:1.5"]
IMAGEJ_10 = "ImageJ=1.11a\nimages=10\nslices=10\nloop=false\n"
HOUR_AGO = time.time() - 3600  # copied with its original times


def _stack(planes: int = 6, size: int = 32) -> np.ndarray:
    """Smooth structure (not noise: a watch copies it, not 'blank')."""
    from scipy import ndimage

    x = ndimage.gaussian_filter(np.random.default_rng(1).random((planes, size, size)), 2)
    return ((x - x.min()) / np.ptp(x) * 3000 + 100).astype(np.uint16)


def _dataset(folder: Path, binary_second: bool = False) -> np.ndarray:
    """One z-stack of 6 planes, 3 in FIRST and 3 in SECOND (full OME-XML in both, or SECOND
    BinaryOnly naming FIRST, as Micro-Manager writes it)."""
    folder.mkdir(parents=True, exist_ok=True)
    stack = _stack()
    ids = (f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}")
    datas = "".join(f'<TiffData FirstZ="{z}" IFD="{z % 3}" PlaneCount="1"><UUID FileName='
                    f'"{(FIRST, SECOND)[z >= 3]}">{ids[z >= 3]}</UUID></TiffData>'
                    for z in range(6))
    xml = (f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="{{}}"><Image '
           'ID="Image:0" Name="Pos0"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" '
           'Type="uint16" SizeX="32" SizeY="32" SizeZ="6" SizeC="1" SizeT="1" '
           'PhysicalSizeX="0.108" PhysicalSizeY="0.108" PhysicalSizeZ="0.5"><Channel '
           f'ID="Channel:0:0" SamplesPerPixel="1"/>{datas}</Pixels></Image></OME>')
    binary = (f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="{ids[1]}">'
              f'<BinaryOnly MetadataFile="{FIRST}" UUID="{ids[0]}"/></OME>')
    for name, own, planes in ((FIRST, ids[0], stack[:3]), (SECOND, ids[1], stack[3:])):
        description = binary if name == SECOND and binary_second else xml.format(own)
        with tifffile.TiffWriter(folder / name) as tif:
            for i, plane in enumerate(planes):
                tif.write(plane, description=description.encode() if i == 0 else None,
                          metadata=None, contiguous=False)
    return stack


def _arrive(source: Path, target: Path) -> None:
    """A copy keeping the file's original modification time (cp -p, rsync -a)."""
    shutil.copy2(source, target)
    os.utime(target, (HOUR_AGO, HOUR_AGO))


def _watch(src: Path, out: Path, monkeypatch, on_poll=lambda n: None, *options,
           polls_at_most: int = 200) -> tuple[int, dict, list]:
    """`watch --once` of ``src`` into ``out``, ``on_poll(n)`` called at the n-th wait between
    scans; (its exit code, name -> the decision of its last row, the waits between scans)."""
    polls, pause = [], time.sleep

    def poll(seconds):
        polls.append(seconds)
        if len(polls) > polls_at_most:
            raise AssertionError("the watch never ended")
        on_poll(len(polls))
        pause(0.02)

    monkeypatch.setattr(cli_watch.time, "sleep", poll)
    out.mkdir(exist_ok=True)
    code = main(["watch", str(src), str(out), "--once", *COPY, *options])
    monkeypatch.undo()
    rows = {}
    if (out / LOG).exists():
        with open(out / LOG, newline="", encoding="utf-8") as f:
            rows = {r["name"]: r["decision"] for r in csv.DictReader(f)}
    return code, rows, polls


# --- 1. the wait is the watch's own, not the files' times ---------------------------------------

@pytest.mark.parametrize("binary_second", [False, True])
def test_a_dataset_copied_with_its_old_times_waits_for_its_second_file(
        tmp_path, monkeypatch, capsys, binary_second):
    """The main file made an hour ago, its second file three polls later: had been logged
    'incomplete' at the first scan, the second file then 'processed with that file' (never)."""
    stack = _dataset(tmp_path / "src", binary_second)
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    _arrive(tmp_path / "src" / FIRST, src / FIRST)

    def second(n):
        if n == 3:
            _arrive(tmp_path / "src" / SECOND, src / SECOND)

    code, rows, _ = _watch(src, out, monkeypatch, second)
    err = capsys.readouterr().err
    assert code == 0, err
    assert rows == {FIRST: "copied", SECOND: "dataset part"}
    assert f"{FIRST}: incomplete, its dataset's file {SECOND} is not in its folder yet; " \
           "waiting for the rest" in err
    assert "unchanged for 600 s: not deblurred" not in err
    copied = tifffile.imread(out / FIRST)  # the whole dataset, both files copied
    np.testing.assert_array_equal(copied.reshape(stack.shape), stack)


def test_a_stack_with_an_old_time_is_waited_for_while_written(tmp_path, monkeypatch, capsys):
    """4 of its 10 planes there, its time an hour old (a copy keeping it): had been logged
    'incomplete' at once ("unchanged for 600 s"), then retried: a wrong row first."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    planes = np.random.default_rng(0).integers(1, 255, (10, 24, 24), dtype=np.uint8)

    def write(path, count):
        with tifffile.TiffWriter(path) as tw:
            for i, plane in enumerate(planes[:count]):
                tw.write(plane, description=IMAGEJ_10 if i == 0 else None, metadata=None,
                         contiguous=False, photometric="minisblack")
        os.utime(path, (HOUR_AGO, HOUR_AGO))

    write(src / "stack.tif", 4)

    def rest(n):
        if n == 3:
            write(src / "stack.tif", 10)

    code, rows, _ = _watch(src, out, monkeypatch, rest)
    err = capsys.readouterr().err
    assert code == 0, err
    assert rows == {"stack.tif": "copied"}
    assert ",incomplete," not in (out / LOG).read_text()
    assert err.count("stack.tif: incomplete, it holds 4 of the 10 planes") == 1
    assert tifffile.imread(out / "stack.tif").shape == (10, 24, 24)


def test_the_wait_is_timed_from_when_the_watch_first_saw_the_file(tmp_path, monkeypatch,
                                                                  capsys):
    """The second file never comes: logged 'incomplete' once unchanged for --incomplete-after
    as the watch counts, its line true ('unchanged for 0.3 s' had been said at once)."""
    _dataset(tmp_path / "src")
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    _arrive(tmp_path / "src" / FIRST, src / FIRST)
    start = time.monotonic()
    code, rows, polls = _watch(src, out, monkeypatch, lambda n: None,
                               "--incomplete-after", "0.3")
    took = time.monotonic() - start
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and rows == {FIRST: "incomplete"}
    assert polls and took >= 0.3  # had ended at the first scan, no wait
    waiting = [i for i, line in enumerate(err) if "waiting for the rest" in line]
    given_up = [i for i, line in enumerate(err) if "unchanged for 0.3 s: not deblurred" in line]
    assert len(waiting) == 1 and len(given_up) == 1 and waiting[0] < given_up[0]


# --- 2. a dataset's part follows its main file ---------------------------------------------------

def _short_second(folder: Path, stack: np.ndarray) -> None:
    """SECOND holding 2 of its 3 planes (still being written)."""
    with tifffile.TiffFile(folder / SECOND) as tif:
        description = tif.pages[0].description
    with tifffile.TiffWriter(folder / SECOND) as tif:
        for i, plane in enumerate(stack[3:5]):
            tif.write(plane, description=description.encode() if i == 0 else None,
                      metadata=None, contiguous=False)


def test_a_part_waits_with_its_main_file_and_is_logged_with_it(tmp_path, monkeypatch, capsys):
    """Both there, the second short for good: the main file waits for it and is logged
    'incomplete'; the part waits with it and is logged 'dataset part' saying so (it had been
    logged 'incomplete' on its own, to be touched, which processed nothing)."""
    src, out = tmp_path / "in", tmp_path / "out"
    stack = _dataset(src, binary_second=True)
    _short_second(src, stack)
    code, rows, _ = _watch(src, out, monkeypatch, lambda n: None, "--incomplete-after", "0.3")
    err = capsys.readouterr().err
    assert code == 2, err
    assert rows == {FIRST: "incomplete", SECOND: "dataset part"}
    assert err.count(f"{SECOND}: part of the multi-file OME-TIFF dataset read from {FIRST}, "
                     "which is waited for: waits with it") == 1
    assert f"{SECOND}: part of the multi-file OME-TIFF dataset read from {FIRST}, which was " \
           f"logged incomplete: not processed on its own, nor with {FIRST} until" in err
    assert "processed with that file" not in err


def test_a_part_arriving_after_its_main_file_was_logged_incomplete_says_so(
        tmp_path, monkeypatch, capsys):
    """The main file logged 'incomplete' (its second file had not come), the second file
    there later: it had said 'processed with that file, not on its own' of a file that is not
    processed until touched. Touched, the main file is copied with it."""
    stack = _dataset(tmp_path / "src")
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    _arrive(tmp_path / "src" / FIRST, src / FIRST)
    code, rows, _ = _watch(src, out, monkeypatch, lambda n: None, "--incomplete-after", "0")
    assert code == 2 and rows == {FIRST: "incomplete"}
    capsys.readouterr()
    _arrive(tmp_path / "src" / SECOND, src / SECOND)
    code, rows, _ = _watch(src, out, monkeypatch)
    err = capsys.readouterr().err
    assert rows == {FIRST: "incomplete", SECOND: "dataset part"}, err
    assert "processed with that file" not in err
    assert f"which was logged incomplete: not processed on its own, nor with {FIRST} until " \
           "that file changes (touch it or copy it again" in err
    os.utime(src / FIRST)  # as the line says
    code, rows, _ = _watch(src, out, monkeypatch)
    assert code == 0 and rows[FIRST] == "copied"
    np.testing.assert_array_equal(tifffile.imread(out / FIRST).reshape(stack.shape), stack)


# --- 3. links of a folder watched into its parent ------------------------------------------------

def _image(path: Path, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.random.default_rng(seed).integers(100, 4000, (32, 32),
                                                                dtype=np.uint16))


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="symbolic links")
def test_links_inside_a_folder_watched_into_its_parent_are_followed(tmp_path, monkeypatch,
                                                                   capsys):
    """`watch exp/raw exp`: a link to a file of raw/ had been left out as leading 'into the
    output folder'; one to a file of exp/ outside raw/ still is."""
    exp = tmp_path / "exp"
    raw = exp / "raw"
    _image(raw / "own.tif")
    _image(raw / "sub" / "a.tif", 1)
    _image(exp / "top.tif", 2)
    os.symlink("sub/a.tif", raw / "rel_link.tif")
    os.symlink("../top.tif", raw / "up.tif")
    code, rows, _ = _watch(raw, exp, monkeypatch)
    err = capsys.readouterr().err
    assert code == 0, err
    assert rows == {"own.tif": "copied", "rel_link.tif": "copied"}
    assert "rel_link.tif is a link" not in err
    assert "up.tif is a link into the output folder" in err
    # -r: a link in a sub-folder to a file -r does not list under its own name (hidden)
    _image(raw / ".hidden" / "x.tif", 3)
    os.symlink("../.hidden/x.tif", raw / "sub" / "hid.tif")
    code, rows, _ = _watch(raw, exp / "r", monkeypatch, lambda n: None, "-r")
    err = capsys.readouterr().err
    assert rows == {"own.tif": "copied", "sub/a.tif": "copied", "sub/hid.tif": "copied"}, err
    assert "rel_link.tif is a link to sub/a.tif, watched under that name" in err


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="symbolic links")
def test_the_subfolder_line_counts_links_inside_a_folder_watched_into_its_parent(
        tmp_path, monkeypatch, capsys):
    """Without -r, sub/ holding only a link to a file inside raw/: the line that sub-folders
    are not watched had left it out (the link taken as leading into the output folder)."""
    exp = tmp_path / "exp"
    raw = exp / "raw"
    _image(raw / "own.tif")
    _image(raw / ".hidden" / "x.tif", 3)
    (raw / "sub").mkdir()
    os.symlink("../.hidden/x.tif", raw / "sub" / "hid.tif")
    code, rows, _ = _watch(raw, exp, monkeypatch)
    err = capsys.readouterr().err
    assert code == 0 and rows == {"own.tif": "copied"}
    assert f"sub{os.sep} holds image files, which are not watched" in err


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="symbolic links")
def test_a_link_into_an_output_folder_inside_the_watched_one_is_still_left_out(
        tmp_path, monkeypatch, capsys):
    src = tmp_path / "in"
    _image(src / "own.tif")
    _image(src / "out" / "made.tif", 1)
    os.symlink("out/made.tif", src / "to_out.tif")
    code, rows, _ = _watch(src, src / "out", monkeypatch, lambda n: None, "-r")
    err = capsys.readouterr().err
    assert rows == {"own.tif": "copied"}, err
    assert "to_out.tif is a link into the output folder" in err


# --- 4. core.ome_datasets' docstring --------------------------------------------------------------

def test_the_ome_datasets_docstring_names_only_what_exists():
    """It named ``missing_files``, which does not exist (``dataset_others``)."""
    from napari_microdeblur.core import ome_datasets

    named = set(re.findall(r"``([A-Za-z_][\w.]*)``", ome_datasets.__doc__))
    assert "dataset_others" in named
    for name in named:
        module, _, attribute = name.rpartition(".")
        owner = ome_datasets
        if module:  # a sibling module's name (``io.warn_other_series``)
            import importlib

            owner = importlib.import_module(f"napari_microdeblur.core.{module}")
        assert hasattr(owner, attribute), name
