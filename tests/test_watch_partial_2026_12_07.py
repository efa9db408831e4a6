"""`microdeblur watch` and stacks still being written. Acquisition software writes a z-stack
page by page into one TIFF, with pauses longer than --settle: watch took a file unchanged for
--settle seconds as complete, copied (or deblurred) the 4 planes written so far of a stack
that declares 10, logged it, and never looked at it again. An OME-TIFF's missing planes were
read as zeros."""

import csv
import os
import time

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli_watch
from napari_microdeblur.cli import main
from napari_microdeblur.core.tiff_complete import incomplete_reason

IMAGEJ_10 = "ImageJ=1.11a\nimages=10\nslices=10\nloop=false\n"
# a threshold below every score: each complete file is copied (the cheapest decision)
COPY = ["--threshold", "1e-12", "--settle", "0", "--device", "cpu", "-q"]


def _planes(n=10, seed=0):
    return np.random.default_rng(seed).integers(1, 255, (n, 24, 24), dtype=np.uint8)


def _writer(path, planes, description):
    """A writer appending pages to one open file, as acquisition software does; the pages
    written so far are flushed to disk."""
    tw = tifffile.TiffWriter(path)
    for i, plane in enumerate(planes):
        tw.write(plane, description=description if i == 0 else None, metadata=None,
                 contiguous=False, photometric="minisblack")
    tw._fh.flush()
    return tw


def _append(tw, planes):
    for plane in planes:
        tw.write(plane, metadata=None, contiguous=False, photometric="minisblack")
    tw.close()


def _rows(out):
    with open(out / cli_watch.WATCH_LOG, newline="", encoding="utf-8") as f:
        return [(r["name"], r["decision"]) for r in csv.DictReader(f)]


def _ome(n_planes=10, tiffdata=""):
    ome = tifffile.OmeXml()
    ome.addimage(np.uint8, (n_planes, 24, 24), (n_planes, 1, 1, 24, 24, 1), axes="ZYX")
    xml = ome.tostring()
    if tiffdata:  # this file's share of a multi-file dataset
        xml = xml.replace(f'<TiffData IFD="0" PlaneCount="{n_planes}"/>', tiffdata)
    return xml


@pytest.fixture
def folders(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    return src, out


def test_watch_waits_for_a_stack_still_being_written(folders, monkeypatch, capsys):
    """4 of 10 planes written, unchanged for --settle: waited for, copied once complete."""
    src, out = folders
    planes = _planes()
    tw = _writer(src / "stack.tif", planes[:4], IMAGEJ_10)
    scans = []

    def between_scans(seconds):
        scans.append(seconds)
        if len(scans) == 2:  # the stage moved; the writer goes on
            _append(tw, planes[4:])
        if len(scans) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_watch.time, "sleep", between_scans)
    try:
        assert main(["watch", str(src), str(out), *COPY]) == 130  # stopped by Ctrl-C
    finally:
        tw.close()
    assert _rows(out) == [("stack.tif", "copied")]  # was logged after the first scan
    np.testing.assert_array_equal(tifffile.imread(out / "stack.tif"), planes)  # held 4 planes
    err = capsys.readouterr().err
    assert err.count("waiting for the rest") == 1  # said once, not at every scan
    assert "stack.tif: incomplete, it holds 4 of the 10 planes its ImageJ metadata declares" in err


def test_an_ome_stack_unchanged_too_long_is_logged_incomplete_and_retried_once_done(
        folders, capsys):
    """Missing OME planes were read as zeros and the file copied as if done."""
    src, out = folders
    planes = _planes()
    _writer(src / "s.ome.tif", planes[:4], _ome()).close()
    old = time.time_ns() - 700 * 10**9  # past the default --incomplete-after of 600 s
    os.utime(src / "s.ome.tif", ns=(old, old))
    assert main(["watch", str(src), str(out), "--once", "--incomplete-after", "0", *COPY]) == 2
    assert _rows(out) == [("s.ome.tif", "incomplete")]
    assert sorted(p.name for p in out.iterdir()) == [cli_watch.WATCH_LOG]  # nothing copied
    err = capsys.readouterr().err
    assert "it holds 4 of the 10 planes its OME-XML declares" in err and "not deblurred" in err
    assert len(err.strip().splitlines()) == 2
    # unchanged: a restart leaves it alone
    assert main(["watch", str(src), str(out), "--once", *COPY]) == 0
    assert len(_rows(out)) == 1
    # the writer finished after all: looked at again, and done
    _writer(src / "s.ome.tif", planes, _ome()).close()
    assert main(["watch", str(src), str(out), "--once", *COPY]) == 0
    assert _rows(out) == [("s.ome.tif", "incomplete"), ("s.ome.tif", "copied")]
    assert "s.ome.tif: changed since it was logged incomplete; retried" in capsys.readouterr().err
    assert tifffile.imread(out / "s.ome.tif").shape == (10, 24, 24)


def test_a_stack_whose_last_page_is_cut_short_is_incomplete(folders, capsys):
    """The writer wrote the last page's tags, not yet all of its pixels."""
    src, out = folders
    _writer(src / "cut.tif", _planes(4), None).close()
    whole = (src / "cut.tif").read_bytes()
    (src / "cut.tif").write_bytes(whole[:-100])
    assert "its last page (plane 4) is cut short" in incomplete_reason(src / "cut.tif")
    old = time.time_ns() - 700 * 10**9  # past the default --incomplete-after of 600 s
    os.utime(src / "cut.tif", ns=(old, old))
    assert main(["watch", str(src), str(out), "--once", "--incomplete-after", "0", *COPY]) == 2
    assert _rows(out) == [("cut.tif", "incomplete")]  # was 'unreadable'
    assert "cut.tif: incomplete, its last page (plane 4) is cut short" in capsys.readouterr().err


def test_one_file_of_a_multi_file_ome_dataset_is_judged_by_its_own_planes(tmp_path):
    """Planes 0-4 in a.ome.tif, 5-9 in b.ome.tif: a holding its 5 is complete, not 5 of 10."""
    a_data = ('<TiffData IFD="0" PlaneCount="5"><UUID FileName="a.ome.tif">urn:uuid:a</UUID>'
              '</TiffData><TiffData IFD="0" FirstZ="5" PlaneCount="5">'
              '<UUID FileName="b.ome.tif">urn:uuid:b</UUID></TiffData>')
    _writer(tmp_path / "a.ome.tif", _planes(5), _ome(tiffdata=a_data)).close()
    assert incomplete_reason(tmp_path / "a.ome.tif") is None
    _writer(tmp_path / "a.ome.tif", _planes(3), _ome(tiffdata=a_data)).close()
    assert incomplete_reason(tmp_path / "a.ome.tif") == (
        "it holds 3 of the 5 planes its OME-XML declares for this file")


def test_complete_files_are_complete(tmp_path):
    """No false alarm on the layouts tifffile and ImageJ write (one IFD for a large ImageJ
    file, RGB, channels, OME time series), nor on a file that is no TIFF at all."""
    rng = np.random.default_rng(1)
    u16 = rng.integers(0, 9, (2, 3, 4, 16, 16), dtype=np.uint16)
    files = {
        "ij.tif": dict(data=_planes(), imagej=True),
        "one_ifd.tif": dict(data=_planes(), imagej=True, truncate=True),
        "rgb.tif": dict(data=rng.integers(0, 9, (5, 16, 16, 3), dtype=np.uint8), imagej=True),
        "zc.tif": dict(data=u16[0], imagej=True, metadata={"axes": "ZCYX"}),
        "tczyx.ome.tif": dict(data=u16, metadata={"axes": "TCZYX"}),
        "plain.tif": dict(data=_planes()),
    }
    for name, kwargs in files.items():
        tifffile.imwrite(tmp_path / name, kwargs.pop("data"), **kwargs)
        assert incomplete_reason(tmp_path / name) is None, name
    (tmp_path / "broken.tif").write_bytes(b"II*\x00not a tiff")  # left to the reader
    assert incomplete_reason(tmp_path / "broken.tif") is None
    # the one-IFD ImageJ layout cut after 5 planes: counted by its bytes
    whole = (tmp_path / "one_ifd.tif").read_bytes()
    (tmp_path / "one_ifd.tif").write_bytes(whole[:len(whole) - 5 * 24 * 24])
    assert incomplete_reason(tmp_path / "one_ifd.tif") == (
        "it holds 5 of the 10 planes its ImageJ metadata declares")


@pytest.mark.parametrize("value", ["nan", "-1", "inf"])
def test_incomplete_after_is_checked_before_anything_is_written(folders, value, capsys):
    src, out = folders
    assert main(["watch", str(src), str(out), "--threshold", "1", "--incomplete-after",
                 value]) == 2
    assert "--incomplete-after" in capsys.readouterr().err
    assert not any(out.iterdir())
