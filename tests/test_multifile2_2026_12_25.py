"""Multi-file OME-TIFFs, part 2 (2026-12-25): a dataset whose OME-XML names its files by
UUID only (no FileName, as the OME schema allows) ended in tifffile's KeyError 'FileName', a
traceback, in `deblur` and `info` (the napari reader said "KeyError: 'FileName'"); a watch
logged a dataset's main file 'unreadable' for good when it arrived before its second file,
and waiting on a short second file never saw it grow. A second image whose file is missing is
checked too: the first image is read whole, no zeros."""

from __future__ import annotations

import os
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01"]
FIRST, SECOND = "mm_MMStack_Pos0.ome.tif", "mm_MMStack_Pos0_1.ome.tif"
NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
LOG = "microdeblur_watch.csv"


def _stack(planes: int = 6, size: int = 32) -> np.ndarray:
    """Smooth structure (not noise: a watch copies it, not 'blank')."""
    from scipy import ndimage

    x = ndimage.gaussian_filter(np.random.default_rng(1).random((planes, size, size)), 2)
    return ((x - x.min()) / np.ptp(x) * 3000 + 100).astype(np.uint16)


def _uuid_element(name: str, value: str, named: bool) -> str:
    return f'<UUID FileName="{name}">{value}</UUID>' if named else f"<UUID>{value}</UUID>"


def _pixels(i: int, planes: int, datas: str) -> str:
    return (f'<Image ID="Image:{i}" Name="Pos{i}"><Pixels ID="Pixels:{i}" '
            f'DimensionOrder="XYZCT" Type="uint16" SizeX="32" SizeY="32" SizeZ="{planes}" '
            'SizeC="1" SizeT="1" PhysicalSizeX="0.108" PhysicalSizeY="0.108" '
            f'PhysicalSizeZ="0.5"><Channel ID="Channel:{i}:0" SamplesPerPixel="1"/>{datas}'
            "</Pixels></Image>")


def _write(folder: Path, xml: str, uuids: tuple[str, str], halves, binary_second: bool):
    """FIRST and SECOND, each with ``xml`` (its own UUID as the root's), or SECOND BinaryOnly
    naming FIRST (Micro-Manager)."""
    folder.mkdir(parents=True, exist_ok=True)
    binary = (f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="{uuids[1]}">'
              f'<BinaryOnly MetadataFile="{FIRST}" UUID="{uuids[0]}"/></OME>')
    for name, own, planes in ((FIRST, uuids[0], halves[0]), (SECOND, uuids[1], halves[1])):
        description = binary if name == SECOND and binary_second else xml.format(own)
        with tifffile.TiffWriter(folder / name) as tif:
            for i, plane in enumerate(planes):
                tif.write(plane, description=description.encode() if i == 0 else None,
                          metadata=None, contiguous=False)


def _dataset(folder: Path, named=(True, True), binary_second=False) -> np.ndarray:
    """One z-stack of 6 planes, 3 in FIRST and 3 in SECOND; ``named``: whether the UUID
    elements of FIRST's planes and SECOND's carry a FileName."""
    stack = _stack()
    ids = (f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}")
    datas = "".join(
        f'<TiffData FirstZ="{z}" IFD="{z % 3}" PlaneCount="1">'
        f"{_uuid_element((FIRST, SECOND)[z >= 3], ids[z >= 3], named[z >= 3])}</TiffData>"
        for z in range(6))
    xml = (f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="{{}}">'
           f"{_pixels(0, 6, datas)}</OME>")
    _write(folder, xml, ids, (stack[:3], stack[3:]), binary_second)
    return stack


def _two_images(folder: Path, second_named: bool = True) -> np.ndarray:
    """Two images (positions) of 3 planes: Image 0 in FIRST, Image 1 in SECOND, the full
    OME-XML in both files."""
    stack = _stack()
    ids = (f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}")
    images = "".join(_pixels(i, 3, "".join(
        f'<TiffData FirstZ="{z}" IFD="{z}" PlaneCount="1">'
        f"{_uuid_element((FIRST, SECOND)[i], ids[i], i == 0 or second_named)}</TiffData>"
        for z in range(3))) for i in (0, 1))
    xml = f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="{{}}">{images}</OME>'
    _write(folder, xml, ids, (stack[:3], stack[3:]), binary_second=False)
    return stack


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("microdeblur: error:")
    return err


# --- UUID only, no FileName ------------------------------------------------------------------

@pytest.mark.parametrize("binary_second", [False, True])
def test_a_dataset_named_by_uuid_only_is_refused_in_one_line(tmp_path, capsys, binary_second):
    _dataset(tmp_path / "mf", named=(False, False), binary_second=binary_second)
    path = tmp_path / "mf" / FIRST
    with pytest.raises(ValueError, match=r"by UUID only \(urn:uuid:.*\), with no FileName"):
        io.read_image(path)  # had raised tifffile's KeyError 'FileName'
    assert main(["info", str(path)]) == 2
    assert "open the dataset in Fiji (Bio-Formats)" in _error_line(capsys)
    out = tmp_path / "out.tif"
    assert main(["deblur", str(path), "-o", str(out), *WIENER]) == 2
    assert "by UUID only" in _error_line(capsys)
    assert not out.exists()


def test_the_napari_reader_says_the_dataset_names_files_by_uuid_only(tmp_path):
    from napari_microdeblur._reader import get_reader

    _dataset(tmp_path / "mf", named=(False, False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert get_reader(str(tmp_path / "mf" / FIRST)) is None
    said = [str(w.message) for w in caught if FIRST in str(w.message)]
    assert said and "by UUID only" in said[0] and "KeyError" not in said[0]


def test_a_second_image_named_by_uuid_only_leaves_each_file_its_own_image(tmp_path):
    """tifffile reads every image's TiffData (the second's gave KeyError 'FileName'): each
    position's file is now read with its own image alone (``tiff_header.open_own_image``), so
    a position named by UUID only in the other file's XML needs no FileName."""
    stack = _two_images(tmp_path / "mf", second_named=False)
    for name, own in ((FIRST, stack[:3]), (SECOND, stack[3:])):
        image = io.read_image(tmp_path / "mf" / name, lazy=False)
        np.testing.assert_array_equal(np.asarray(image.array), own)


def test_a_file_naming_its_own_planes_by_uuid_only_still_reads(tmp_path):
    """The UUID of the file itself (the OME root's) needs no FileName: read, not refused."""
    stack = _dataset(tmp_path / "mf", named=(False, True))
    image = io.read_image(tmp_path / "mf" / FIRST)
    np.testing.assert_array_equal(np.asarray(image.array), stack)


# --- a second image whose file is missing --------------------------------------------------

def test_a_second_images_missing_file_leaves_the_first_image_read_whole(tmp_path):
    """Checked, not changed: tifffile leaves out an image with no plane there (its series
    list has the first alone), and only the first image is ever read, so no zeros are."""
    stack = _two_images(tmp_path / "mf")
    (tmp_path / "mf" / SECOND).unlink()
    image = io.read_image(tmp_path / "mf" / FIRST, lazy=False)
    np.testing.assert_array_equal(np.asarray(image.array), stack[:3])


# --- a watch: the second file arrives after the first -----------------------------------------

def _watch(tmp_path, monkeypatch, on_poll, *options) -> tuple[int, str]:
    """`watch --once` of tmp_path/in into tmp_path/out, ``on_poll(n)`` called at the n-th
    wait between scans (what arrives meanwhile); (its exit code, its log)."""
    from napari_microdeblur import cli_watch

    polls, pause = [], time.sleep

    def poll(seconds):
        polls.append(seconds)
        if len(polls) > 40:
            raise AssertionError("the watch never processed the dataset")
        on_poll(len(polls))
        pause(0.02)

    monkeypatch.setattr(cli_watch.time, "sleep", poll)
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    code = main(["watch", str(tmp_path / "in"), str(out), "--once", "--threshold", "1e-9",
                 "--poll", "0.05", *options, *WIENER])
    return code, (out / LOG).read_text()


@pytest.mark.parametrize("binary_second", [False, True])
def test_a_watch_waits_for_the_second_file_of_a_dataset(tmp_path, monkeypatch, capsys,
                                                        binary_second):
    """The main file arrives, its second file three polls later: had been logged
    'unreadable' at once (--settle 0; after 5 x --settle otherwise) and never retried."""
    stack = _dataset(tmp_path / "src", binary_second=binary_second)
    (tmp_path / "in").mkdir()
    (tmp_path / "src" / FIRST).rename(tmp_path / "in" / FIRST)

    def arrive(n):
        if n == 3:
            (tmp_path / "src" / SECOND).rename(tmp_path / "in" / SECOND)

    code, log = _watch(tmp_path, monkeypatch, arrive, "--settle", "0")
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"{FIRST}: incomplete, its dataset's file {SECOND} is not in its folder yet" in err
    assert "unreadable" not in log and f"{FIRST},1.6" not in log
    assert f"{FIRST}," in log and ",copied," in log and f"{SECOND},,dataset part," in log
    copied = io.read_image(tmp_path / "out" / FIRST, lazy=False)
    np.testing.assert_array_equal(np.asarray(copied.array), stack)


def test_a_watch_sees_a_short_second_file_grow(tmp_path, monkeypatch, capsys):
    """The second file short, then whole: waiting had looked again only once the main file
    changed, so the dataset was logged 'incomplete' after --incomplete-after."""
    stack = _dataset(tmp_path / "src")
    (tmp_path / "in").mkdir()
    (tmp_path / "src" / FIRST).rename(tmp_path / "in" / FIRST)
    with tifffile.TiffFile(tmp_path / "src" / SECOND) as tif:
        description = tif.pages[0].description
    with tifffile.TiffWriter(tmp_path / "in" / SECOND) as tif:  # 2 of its 3 planes
        for i, plane in enumerate(stack[3:5]):
            tif.write(plane, description=description.encode() if i == 0 else None,
                      metadata=None, contiguous=False)

    def grow(n):
        if n == 3:
            os.replace(tmp_path / "src" / SECOND, tmp_path / "in" / SECOND)

    code, log = _watch(tmp_path, monkeypatch, grow, "--settle", "0")
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"its dataset's file {SECOND} holds 2 of the 3 planes" in err
    assert ",copied," in log and ",incomplete," not in log


def test_a_watch_names_the_second_file_that_never_came(tmp_path, monkeypatch, capsys):
    """Not there once the main file is unchanged for --incomplete-after: logged 'incomplete'
    in one line naming it (had been 'unreadable', as a damaged file)."""
    _dataset(tmp_path / "src")
    (tmp_path / "in").mkdir()
    first = tmp_path / "in" / FIRST
    (tmp_path / "src" / FIRST).rename(first)
    old = time.time() - 3600
    os.utime(first, (old, old))
    code, log = _watch(tmp_path, monkeypatch, lambda n: None, "--settle", "0",
                       "--incomplete-after", "0.3")
    err = capsys.readouterr().err
    assert code == 2
    assert f"{FIRST},,incomplete," in log
    said = [line for line in err.splitlines() if "unchanged for 0.3 s: not" in line]
    assert len(said) == 1 and SECOND in said[0] and "touch it or copy it again" in said[0]
