"""`microdeblur watch` over a log an older version wrote, from an upgrade walkthrough: a file
changed while no watch ran was stamped as changed when the log was rewritten with the size and
mtime_ns columns, so it was never tried again (an unreadable file replaced by a good one: '0 new
or changed', exit 0; a deblurred file replaced: its output stale); rows with no threshold logged
were left out of the warning of a restart with another --threshold. The old logs are written
here literally, as those versions wrote them (csv's \\r\\n row ends)."""

import csv
import os
import shutil
import time

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur import cli_watch_log
from napari_microdeblur.cli import main
from napari_microdeblur.cli_watch_log import WATCH_LOG, read_log, upgrade_log
from napari_microdeblur.core.focus import focus_score

WIENER = ["--method", "wiener", "--psf", "gaussian:1", "--device", "cpu"]
#: the header of 088d43f's log (and eb3c7ed's, cli.py): no size, mtime_ns, logged_utc, threshold
HEADER_088D43F = "name,score,decision,method,seconds\r\n"
#: the header of 4040397's (and 376e5d4's) log: no threshold
HEADER_4040397 = "name,score,decision,method,seconds,size,mtime_ns,logged_utc\r\n"


def _field(seed: int, blur: float = 0.0, n: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.zeros((n, n))
    spots = rng.integers(0, n, (40, 2))
    image[spots[:, 0], spots[:, 1]] = rng.uniform(0.5, 1, 40)
    image = ndimage.gaussian_filter(image, 1.2 + blur)
    image = image / image.max() * 3000 + 100 + rng.normal(0, 3, (n, n))
    return image.clip(0).astype(np.uint16)


SHARP, SOFT = _field(1), _field(2, blur=3)
THRESHOLD = str(np.sqrt(focus_score(SHARP) * focus_score(SOFT)))  # SHARP copied, SOFT deblurred


@pytest.fixture
def dirs(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    return src, out


def _at(path, seconds_ago: float) -> None:
    then = time.time_ns() - int(seconds_ago * 1e9)
    os.utime(path, ns=(then, then))


def _old_log(out, header: str, rows: list[str], seconds_ago: float) -> None:
    """The log as an older watch left it, last written ``seconds_ago``."""
    (out / WATCH_LOG).write_bytes((header + "".join(r + "\r\n" for r in rows)).encode())
    _at(out / WATCH_LOG, seconds_ago)


def _rows(out) -> list[dict]:
    with open(out / WATCH_LOG, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _watch(src, out, threshold=THRESHOLD):
    return main(["watch", str(src), str(out), "--threshold", str(threshold), "--once",
                 "--settle", "0", *WIENER])


# ------------------------------------ 1: a file changed while the watch was down is processed


def test_an_unreadable_file_fixed_while_no_watch_ran_is_tried_again_over_an_old_log(dirs,
                                                                                     capsys):
    src, out = dirs
    tifffile.imwrite(src / "a.tif", SHARP)
    (src / "bad.tif").write_bytes(b"junk\n")
    for name in ("a.tif", "bad.tif"):
        _at(src / name, 100)
    shutil.copy2(src / "a.tif", out / "a.tif")  # as 088d43f copied it (times kept)
    _old_log(out, HEADER_088D43F, ["a.tif,0.131375,copied,,0.22", "bad.tif,,unreadable,,"],
             90)
    tifffile.imwrite(src / "bad.tif", SOFT)  # fixed after the old watch stopped
    assert _watch(src, out) == 0
    err = capsys.readouterr().err
    assert "1 file already logged (skipped), 1 new or changed" in err, err
    rows = _rows(out)
    assert [(r["name"], r["decision"]) for r in rows] == [
        ("a.tif", "copied"), ("bad.tif", "unreadable"), ("bad.tif", "deblurred")]
    assert (out / "bad_deblurred.tif").exists()
    # the unchanged copy keeps its file's stamp: not copied again at the next start
    info = (src / "a.tif").stat()
    assert (rows[0]["size"], rows[0]["mtime_ns"]) == (str(info.st_size), str(info.st_mtime_ns))
    assert _watch(src, out) == 0
    assert len(_rows(out)) == 3


def test_a_processed_file_replaced_while_no_watch_ran_is_processed_again_over_an_old_log(dirs):
    src, out = dirs
    tifffile.imwrite(src / "c.tif", SOFT)
    tifffile.imwrite(src / "d.tif", SOFT)
    tifffile.imwrite(src / "e.tif", SHARP)
    tifffile.imwrite(src / "gone.tif", SOFT)  # failed, not touched since: not retried
    for name in ("c.tif", "d.tif", "e.tif", "gone.tif"):
        _at(src / name, 100)
    for name in ("c_deblurred.tif", "d_deblurred.tif"):
        tifffile.imwrite(out / name, np.zeros((4, 4), np.uint16))  # stand-ins, 95 s old
        _at(out / name, 95)
    shutil.copy2(src / "e.tif", out / "e.tif")
    _old_log(out, HEADER_088D43F, ["c.tif,0.0960963,deblurred,auto,2.30",
                                   "d.tif,0.0960963,deblurred,auto,2.30",
                                   "e.tif,0.131375,copied,,0.22", "gone.tif,,failed,,"], 90)
    tifffile.imwrite(src / "c.tif", _field(3, blur=3))  # replaced after the watch stopped
    # replaced by an older file (cp -p, mv): of another size than its copy
    tifffile.imwrite(src / "e.tif", _field(4, n=80))
    _at(src / "e.tif", 200)
    assert _watch(src, out) == 0
    rows = _rows(out)
    assert [(r["name"], r["decision"]) for r in rows[4:]] == [("c.tif", "deblurred"),
                                                              ("e.tif", "copied")]
    assert tifffile.imread(out / "c_deblurred.tif").shape == (64, 64)  # the stale one replaced
    assert tifffile.imread(out / "d_deblurred.tif").shape == (4, 4)  # unchanged: not redone
    assert tifffile.imread(out / "e.tif").shape == (80, 80)


def test_a_row_with_a_logged_time_but_no_stamp_is_redone_when_its_file_is_newer(dirs):
    src, out = dirs
    tifffile.imwrite(src / "f.tif", SOFT)
    tifffile.imwrite(src / "g.tif", SOFT)
    _at(src / "f.tif", 30)  # after f.tif's row was logged, before the log's last row
    _at(src / "g.tif", 100)
    _old_log(out, HEADER_4040397, [
        "f.tif,,failed,,,,,2026-12-07T15:25:10.836+00:00",  # logged long ago: f.tif changed
        f"g.tif,,failed,,,,,{_utc(60)}"], 10)
    assert upgrade_log(out / WATCH_LOG, src)
    state = read_log(out / WATCH_LOG, out, src)
    assert state.failed["f.tif"] is None  # no stamp: tried again
    info = (src / "g.tif").stat()
    assert state.failed["g.tif"] == (info.st_size, info.st_mtime_ns)


def _utc(seconds_ago: float) -> str:
    from datetime import datetime, timedelta, timezone

    when = datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)
    return when.isoformat(timespec="milliseconds")


def test_a_logged_time_is_read_to_the_nanosecond():
    assert cli_watch_log._utc_ns("1970-01-01T00:00:01.250+00:00") == 1_250_000_000
    assert cli_watch_log._utc_ns("") is None and cli_watch_log._utc_ns("soon") is None


# ------------------------------- 2: old rows' threshold is unknown: said where it matters


def _eb3c7ed_log(src, out) -> None:
    """w2_eb3c7ed's log: two files deblurred at --threshold 0.1 (not logged then)."""
    for name in ("a.tif", "b.tif"):
        tifffile.imwrite(src / name, SHARP)
        _at(src / name, 100)
    _old_log(out, HEADER_088D43F, ["a.tif,0.0430967,deblurred,auto,0.53",
                                   "b.tif,0.0564233,deblurred,auto,0.18"], 90)


def test_a_restart_with_another_threshold_over_an_old_log_says_its_decisions_stand(dirs,
                                                                                   capsys):
    src, out = dirs
    _eb3c7ed_log(src, out)
    assert _watch(src, out, 0.02) == 0
    err = capsys.readouterr().err
    assert "2 files already logged (skipped), 0 new or changed" in err, err
    assert ("2 logged files were deblurred or copied by threshold unknown (2 rows of an older "
            "version, which logged no threshold, whose score this run's threshold decides "
            "otherwise), not this run's 0.02") in err, err
    assert "watch into a new, empty output folder" in err


def test_a_restart_whose_threshold_decides_the_old_rows_alike_says_nothing(dirs, capsys):
    src, out = dirs
    _eb3c7ed_log(src, out)
    assert _watch(src, out, 0.1) == 0
    assert "deblurred or copied by threshold" not in capsys.readouterr().err


def test_a_mixed_log_counts_its_old_rows_with_its_new_ones(dirs, capsys):
    src, out = dirs
    stamps = {}
    for name in ("blur0.tif", "blur1.tif", "sharp0.tif", "blur2.tif"):
        tifffile.imwrite(src / name, SHARP)
        _at(src / name, 100)
        info = (src / name).stat()
        stamps[name] = f"{info.st_size},{info.st_mtime_ns}"
    # w_eb3c7ed's log after the new version ran on: three old rows, one with its threshold
    _old_log(out, ",".join(cli_watch_log.WATCH_COLUMNS) + "\r\n", [
        f"blur0.tif,0.0845917,deblurred,auto,1.94,{stamps['blur0.tif']},,",
        f"blur1.tif,0.0296251,deblurred,auto,0.82,{stamps['blur1.tif']},,",
        f"sharp0.tif,0.115367,copied,,0.00,{stamps['sharp0.tif']},,",
        f"blur2.tif,0.0381198,deblurred,c2f_unet.fluorescence_v2,2.45,{stamps['blur2.tif']},"
        "2026-12-07T15:26:01.557+00:00,0.1"], 90)
    assert _watch(src, out, 0.02) == 0
    err = capsys.readouterr().err
    # sharp0.tif (0.115, copied) is copied by 0.02 too: not counted
    assert ("3 logged files were deblurred or copied by threshold 0.1 or unknown (2 rows of an "
            "older version") in err, err
