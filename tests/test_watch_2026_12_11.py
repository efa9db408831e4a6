"""`microdeblur watch`, from a walkthrough of the README's watch folder section: a file that
changed after it was processed (a name written twice; a plain multi-page TIFF appended to a page
at a time) was never looked at again; SIGTERM and a second Ctrl-C exited 0 (the README promises
143 and 130); files in sub-folders were passed over without a word (now a line, or -r); a
file name with a comma shifted the printed columns."""

import csv
import io as stdio
import os
import signal
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur import cli_watch
from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.focus import focus_score

WIENER = ["--method", "wiener", "--psf", "gaussian:1", "--device", "cpu", "-q"]


def _field(seed: int, blur: float = 0.0, n: int = 64) -> np.ndarray:
    """A uint16 fluorescence-like field: spots on a dark background, ``blur`` px more blur."""
    rng = np.random.default_rng(seed)
    image = np.zeros((n, n))
    spots = rng.integers(0, n, (40, 2))
    image[spots[:, 0], spots[:, 1]] = rng.uniform(0.5, 1, 40)
    image = ndimage.gaussian_filter(image, 1.2 + blur)
    image = image / image.max() * 3000 + 100 + rng.normal(0, 3, (n, n))
    return image.clip(0).astype(np.uint16)


SHARP, SOFT = _field(1), _field(2, blur=3)
#: between the two: SHARP is copied, SOFT deblurred
THRESHOLD = str(np.sqrt(focus_score(SHARP) * focus_score(SOFT)))


def _rows(out) -> list[dict]:
    with open(out / cli_watch.WATCH_LOG, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _decisions(out) -> list[tuple[str, str]]:
    return [(r["name"], r["decision"]) for r in _rows(out)]


def _age(path, seconds):
    then = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(then, then))


def _watch(src, out, *options):
    return main(["watch", str(src), str(out), "--threshold", THRESHOLD, "--settle", "0",
                 "--poll", "0.01", *options, *WIENER])


@pytest.fixture
def dirs(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    return src, out


# ------------------------------------------------- 1: a file changed after it was processed


def test_a_name_written_again_is_processed_again_across_a_restart(dirs, capsys):
    """Sharp first (copied), then the same name rewritten with soft content of the same size:
    no row, no output, and a restart skipped it too."""
    src, out = dirs
    tifffile.imwrite(src / "G_dup.tif", SHARP)
    tifffile.imwrite(src / "other.tif", SHARP)
    _age(src / "G_dup.tif", 60)
    assert _watch(src, out, "--once") == 0
    assert (out / "G_dup.tif").read_bytes() == (src / "G_dup.tif").read_bytes()
    size = (src / "G_dup.tif").stat().st_size
    tifffile.imwrite(src / "G_dup.tif", SOFT)
    assert (src / "G_dup.tif").stat().st_size == size  # only its mtime tells
    capsys.readouterr()
    assert _watch(src, out, "--once") == 0
    assert _decisions(out) == [("G_dup.tif", "copied"), ("other.tif", "copied"),
                               ("G_dup.tif", "deblurred")]
    err = capsys.readouterr().err
    assert err.count("G_dup.tif: changed since it was processed") == 1
    assert "other.tif" not in err  # unchanged: never redone
    deblurred = io.read_image(out / "G_dup_deblurred.tif")
    assert deblurred.metadata["microdeblur"]["focus"]["decision"] == "deblurred"
    # the copy of the version that is gone is removed, and said
    assert not (out / "G_dup.tif").exists() and "earlier output G_dup.tif was removed" in err
    # unchanged since: a further restart does nothing
    assert _watch(src, out, "--once") == 0
    assert len(_rows(out)) == 3


def test_a_redone_output_of_the_same_name_is_replaced_while_the_watch_runs(dirs, monkeypatch,
                                                                           capsys):
    """Soft twice under one name: the second version's deblurred output replaces the first's
    (not logged 'exists'), without a restart."""
    src, out = dirs
    tifffile.imwrite(src / "a.tif", SOFT)
    _age(src / "a.tif", 60)
    second = _field(3, blur=3)
    scans = []

    def between_scans(seconds):
        scans.append(seconds)
        if len(scans) == 2:
            tifffile.imwrite(src / "a.tif", second)
        if len(scans) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_watch.time, "sleep", between_scans)
    _watch(src, out)
    assert _decisions(out) == [("a.tif", "deblurred"), ("a.tif", "deblurred")]
    rows = _rows(out)
    assert int(rows[1]["mtime_ns"]) == (src / "a.tif").stat().st_mtime_ns
    record = io.read_image(out / "a_deblurred.tif").metadata["microdeblur"]["focus"]
    assert record["score"] == pytest.approx(focus_score(second), rel=1e-4)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_plain_tiff_appended_a_page_at_a_time_is_processed_again_whole(dirs, monkeypatch):
    """No ImageJ or OME metadata to say how many pages are coming: page 1 was processed as the
    whole file (output one plane, input three)."""
    src, out = dirs
    path = src / "pagewise.tif"
    planes = [_field(s, blur=3) for s in (4, 5, 6)]
    tifffile.imwrite(path, planes[0], metadata=None)
    _age(path, 60)
    scans = []

    def between_scans(seconds):
        scans.append(seconds)
        if len(scans) in (2, 4):  # the writer's next page, after a pause
            tifffile.imwrite(path, planes[len(scans) // 2], append=True, metadata=None)
        if len(scans) == 6:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_watch.time, "sleep", between_scans)
    _watch(src, out)
    assert _decisions(out) == [("pagewise.tif", "deblurred")] * 3
    assert int(_rows(out)[-1]["size"]) == path.stat().st_size
    assert tifffile.imread(out / "pagewise_deblurred.tif").shape == (3, 64, 64)


def test_a_log_from_before_the_stamps_lets_a_processed_file_be_redone_once_changed(dirs):
    """A log of the first columns only: its processed rows get the file's stamp on upgrade,
    so a later change is seen; until then nothing is redone."""
    src, out = dirs
    tifffile.imwrite(src / "a.tif", SHARP)
    tifffile.imwrite(out / "a.tif", SHARP)
    (out / cli_watch.WATCH_LOG).write_text(
        "name,score,decision,method,seconds\na.tif,0.5,copied,,0.01\n", encoding="utf-8")
    assert _watch(src, out, "--once") == 0
    assert _decisions(out) == [("a.tif", "copied")]
    assert _rows(out)[0]["logged_utc"] == ""  # an old row: when is not known
    tifffile.imwrite(src / "a.tif", SOFT)
    _age(src / "a.tif", 1)
    assert _watch(src, out, "--once") == 0
    assert _decisions(out) == [("a.tif", "copied"), ("a.tif", "deblurred")]


# ------------------------------------------------------------ 2: SIGTERM and a second Ctrl-C


@pytest.mark.parametrize(("signals", "code", "said"), [
    ([signal.SIGTERM], 143, "watch stopped by SIGTERM after finishing and logging a.tif"),
    ([signal.SIGINT], 130, "watch stopped by Ctrl-C after finishing and logging a.tif"),
    ([signal.SIGINT, signal.SIGINT], 130, "watch stopped by Ctrl-C at once: a.tif was dropped"),
    ([signal.SIGTERM, signal.SIGTERM], 143, "by SIGTERM at once: a.tif was dropped"),
])
def test_a_signal_during_a_file_finishes_it_and_exits_with_its_code(dirs, monkeypatch, capsys,
                                                                    signals, code, said):
    src, out = dirs
    for name in ("a.tif", "b.tif"):
        tifffile.imwrite(src / name, SOFT)
    deblur_one = cli_watch.deblur_one

    def signalled_during(*args, **kwargs):
        for signum in signals:
            os.kill(os.getpid(), signum)
            time.sleep(0.05)  # the handler runs between bytecodes
        return deblur_one(*args, **kwargs)

    monkeypatch.setattr(cli_watch, "deblur_one", signalled_during)
    before = signal.getsignal(signal.SIGTERM)
    assert _watch(src, out) == code
    assert signal.getsignal(signal.SIGTERM) is before
    err = capsys.readouterr().err
    assert said in err, err
    if len(signals) == 1:  # a.tif finished and logged; b.tif not started
        assert _decisions(out) == [("a.tif", "deblurred")]
        assert (out / "a_deblurred.tif").exists()
    else:  # dropped: nothing logged or left, done again at the next start
        assert _rows(out) == [] and not any(p.suffix == ".tif" for p in out.iterdir())


def test_sigterm_between_files_exits_143(dirs, monkeypatch, capsys):
    src, out = dirs
    tifffile.imwrite(src / "a.tif", SHARP)

    def terminated(seconds):
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(cli_watch.time, "sleep", terminated)
    assert _watch(src, out) == 143
    assert _decisions(out) == [("a.tif", "copied")]
    assert "watch stopped by SIGTERM; finished files are logged in" in capsys.readouterr().err


# -------------------------------------------------------------------------- 3: sub-folders


def test_a_sub_folder_with_images_is_said_once_and_the_output_folder_is_not(dirs, monkeypatch,
                                                                           capsys):
    src, _ = dirs
    out = src / "done"  # the output folder inside the watched one: its copies are not news
    out.mkdir()
    for folder in ("Pos0", "Pos1", "notes", ".hidden"):
        (src / folder).mkdir()
    tifffile.imwrite(src / "Pos0" / "img.tif", SHARP)
    tifffile.imwrite(src / ".hidden" / "img.tif", SHARP)
    (src / "notes" / "read me.txt").write_text("no images here")
    tifffile.imwrite(src / "top.tif", SHARP)
    scans = []

    def between_scans(seconds):
        scans.append(seconds)
        if len(scans) == 2:  # a second position appears later
            tifffile.imwrite(src / "Pos1" / "img.tif", SHARP)
        if len(scans) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_watch.time, "sleep", between_scans)
    _watch(src, out)
    lines = [x for x in capsys.readouterr().err.splitlines() if "not watched" in x]
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"microdeblur: Pos0{os.sep} holds image files")
    assert lines[1].startswith(f"microdeblur: Pos1{os.sep} holds image files")
    assert "give -r (--recursive) to watch its sub-folders too" in lines[0]
    assert _decisions(out) == [("top.tif", "copied")]


def test_recursive_watches_sub_folders_into_the_same_sub_folders(dirs, capsys):
    src, _ = dirs
    out = src / "done"
    out.mkdir()
    (src / "Pos0" / "deep").mkdir(parents=True)
    tifffile.imwrite(src / "Pos0" / "sharp.tif", SHARP)
    tifffile.imwrite(src / "Pos0" / "deep" / "soft.tif", SOFT)
    tifffile.imwrite(src / "top.tif", SHARP)
    assert _watch(src, out, "-r", "--once") == 0
    assert sorted(_decisions(out)) == [("Pos0/deep/soft.tif", "deblurred"),
                                       ("Pos0/sharp.tif", "copied"), ("top.tif", "copied")]
    assert (out / "Pos0" / "sharp.tif").read_bytes() == (src / "Pos0" / "sharp.tif").read_bytes()
    assert (out / "Pos0" / "deep" / "soft_deblurred.tif").exists()
    assert not (out / "done").exists()  # the output folder is not watched
    assert "not watched" not in capsys.readouterr().err
    assert _watch(src, out, "-r", "--once") == 0  # a restart knows them
    assert len(_rows(out)) == 3


# ----------------------------------------------------------- 4: the printed row, the time


def test_the_printed_row_is_quoted_as_the_log_and_the_log_says_when(dirs, capsys):
    src, out = dirs
    tifffile.imwrite(src / "well A1, field 2.tif", SHARP)
    before = datetime.now(timezone.utc)
    assert main(["watch", str(src), str(out), "--threshold", THRESHOLD, "--settle", "0",
                 "--once", "--method", "wiener", "--psf", "gaussian:1", "--device",
                 "cpu"]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if "field 2" in line]
    (fields,) = csv.reader(stdio.StringIO(printed[0]))
    assert fields[:3] == ["well A1, field 2.tif", fields[1], "copied"] and len(fields) == 5
    (row,) = _rows(out)
    assert row["name"] == "well A1, field 2.tif"
    logged = datetime.fromisoformat(row["logged_utc"])
    assert logged.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= logged <= datetime.now(timezone.utc)


# ------------------------------------------------------- 5: a field of background noise alone


def test_a_background_only_field_is_not_called_light_against_dark_calibration(dirs, tmp_path,
                                                                              capsys):
    """An empty crop of a dark fluorescence field (noise around 124 ADU): the median of noise
    lies mid-range, so it was warned as 'background light (calibration: dark)'."""
    src, out = dirs
    good = tmp_path / "good"
    good.mkdir()
    for seed in (7, 8):
        tifffile.imwrite(good / f"g{seed}.tif", _field(seed))
    rng = np.random.default_rng(0)
    tifffile.imwrite(src / "empty.tif", (124 + rng.normal(0, 3, (64, 64))).astype(np.uint16))
    light = (4000 - _field(9, blur=3)).astype(np.uint16)  # still said: a light background
    tifffile.imwrite(src / "light.tif", light)
    assert main(["watch", str(src), str(out), "--calibrate", str(good), "--settle", "0",
                 "--once", *WIENER]) == 0
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if "unlike the calibration" in x]
    assert len(lines) == 1 and "light.tif" in lines[0], lines
    assert "background light (calibration: dark)" in lines[0]
    assert ("empty.tif", "blank") in _decisions(out)
    # said too (the line was unreachable after the race handling of 2026-12-14 for a while)
    assert "empty.tif: blank (every plane is background noise only), copied" in err
