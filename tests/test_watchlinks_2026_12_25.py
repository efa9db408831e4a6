"""`microdeblur watch IN OUT` followed every symbolic link dropped into its folder (often a shared
drop folder): a link to another user's images, or to a folder of them with -r, was read and
written, copied or deblurred, to OUT; a link to a file inside IN processed it twice; a link
loop in IN silenced the sub-folders' line, and with -r left the sub-folders' times untaken (a
file written into one waited RELIST_S). A link is now followed only where it leads inside IN
(not into OUT), said once where not; --follow-links follows them all."""

import csv
import os
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli_watch
from napari_microdeblur.cli import build_parser, main
from napari_microdeblur.core import files as core_files

WIENER = ["--method", "wiener", "--psf", "gaussian:1", "--device", "cpu", "-q"]
IMAGE = (np.random.default_rng(0).random((32, 32)) * 1000).astype(np.uint16)
HOUR_AGO = time.time_ns() - 3600 * 10**9

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt",
                                reason="symbolic links (Windows needs a privilege for them)")


@pytest.fixture
def dirs(tmp_path):
    src, out, other = tmp_path / "in", tmp_path / "out", tmp_path / "someone_else"
    for d in (src, out, other):
        d.mkdir()
    tifffile.imwrite(src / "own.tif", IMAGE)
    tifffile.imwrite(other / "private.tif", IMAGE)
    return src, out, other


def _watch(src, out, *options):
    # every file is copied (a threshold below any score)
    return main(["watch", str(src), str(out), "--threshold", "1e-12", "--settle", "0",
                 "--poll", "0.01", *options, *WIENER])


def _rows(out) -> dict[str, list[str]]:
    with open(out / cli_watch.WATCH_LOG, newline="", encoding="utf-8") as f:
        found: dict[str, list[str]] = {}
        for row in csv.DictReader(f):
            found.setdefault(row["name"], []).append(row["decision"])
        return found


def _polls(monkeypatch, *steps):
    """time.sleep between scans runs ``steps[i]()`` after scan i + 1, then stops the watch."""
    done = []

    def between_scans(seconds):
        done.append(seconds)
        if len(done) > len(steps):
            raise KeyboardInterrupt
        steps[len(done) - 1]()

    monkeypatch.setattr(cli_watch.time, "sleep", between_scans)


def _lines(err: str, word: str) -> list[str]:
    return [line for line in err.splitlines() if word in line]


# ------------------------------------------------------------------ links leading out


def test_a_link_to_a_file_outside_is_not_read_and_is_said_once(dirs, monkeypatch, capsys):
    src, out, other = dirs
    os.symlink(other / "private.tif", src / "theirs.tif")
    count = iter(range(100))

    def new_file():  # the folder changes: listed again at every poll
        tifffile.imwrite(src / f"new{next(count)}.tif", IMAGE)

    _polls(monkeypatch, *[new_file] * 4)
    assert _watch(src, out) == 130
    rows = _rows(out)
    assert "theirs.tif" not in rows and rows["own.tif"] == ["copied"]
    assert len(rows) == 1 + 4  # own.tif and the new files
    assert not (out / "theirs.tif").exists()  # the copy of someone else's image, in OUT
    said = _lines(capsys.readouterr().err, "theirs.tif")
    assert len(said) == 1  # once, not at each listing
    assert "outside the watched folder" in said[0] and "--follow-links" in said[0]


def test_a_link_to_a_folder_outside_is_not_entered(dirs, monkeypatch, capsys):
    src, out, other = dirs
    os.symlink(other, src / "linked")
    _polls(monkeypatch, lambda: None)
    assert _watch(src, out, "-r") == 130
    assert set(_rows(out)) == {"own.tif"}
    assert not (out / "linked").exists()
    said = _lines(capsys.readouterr().err, f"linked{os.sep}")
    assert len(said) == 1 and "outside the watched folder: its files are not watched" in said[0]


def test_follow_links_follows_them_all_each_file_once(dirs):
    src, out, other = dirs
    (other / "deeper").mkdir()
    tifffile.imwrite(other / "deeper" / "deep.tif", IMAGE)
    os.symlink(other / "private.tif", src / "theirs.tif")
    os.symlink(other / "deeper", src / "linked")
    os.symlink("own.tif", src / "again.tif")  # the watched own.tif under another name
    assert _watch(src, out, "-r", "--once", "--follow-links") == 0
    assert set(_rows(out)) == {"own.tif", "theirs.tif", "linked/deep.tif"}
    help_text = build_parser()._subparsers._group_actions[0].choices["watch"].format_help()
    assert "--follow-links" in help_text


def test_a_link_into_the_output_folder_inside_is_left_out(tmp_path, capsys):
    src = tmp_path / "in"
    out = src / "results"  # allowed: left out of -r
    out.mkdir(parents=True)
    tifffile.imwrite(out / "an_output.tif", IMAGE)
    tifffile.imwrite(src / "own.tif", IMAGE)
    os.symlink(out / "an_output.tif", src / "output_again.tif")
    assert _watch(src, out, "--once") == 0
    assert set(_rows(out)) == {"own.tif"}
    said = _lines(capsys.readouterr().err, "output_again.tif")
    assert len(said) == 1 and "into the output folder" in said[0]


# ------------------------------------------------------------------ links inside IN


def test_a_link_to_a_watched_file_is_not_processed_twice(dirs, capsys):
    src, out, _ = dirs
    os.symlink("own.tif", src / "again.tif")
    assert _watch(src, out, "--once") == 0
    assert set(_rows(out)) == {"own.tif"} and not (out / "again.tif").exists()
    said = _lines(capsys.readouterr().err, "again.tif")
    assert said == ["microdeblur: again.tif is a link to own.tif, watched under that name: "
                    "not processed twice"]


def test_a_link_to_a_file_inside_not_watched_otherwise_is_followed(dirs):
    src, out, _ = dirs
    (src / "sub").mkdir()
    tifffile.imwrite(src / "sub" / "x.tif", IMAGE)
    os.symlink(Path("sub") / "x.tif", src / "x_link.tif")  # sub/ is not watched without -r
    assert _watch(src, out, "--once") == 0
    assert set(_rows(out)) == {"own.tif", "x_link.tif"}


@pytest.mark.parametrize("link", ["a_first", "z_last"])
def test_a_linked_sub_folder_is_watched_under_its_own_name(dirs, link, capsys):
    """The sub-folder or the link to it, whichever the listing met first, was entered (the
    other never): its files were named through the link, or the folder left out."""
    src, out, _ = dirs
    (src / "sub").mkdir()
    tifffile.imwrite(src / "sub" / "x.tif", IMAGE)
    os.symlink("sub", src / link)
    os.symlink("..", src / "sub" / "up")  # a loop
    assert _watch(src, out, "-r", "--once") == 0
    assert set(_rows(out)) == {"own.tif", "sub/x.tif"}
    err = capsys.readouterr().err
    assert _lines(err, f"{link}{os.sep} is a link to sub{os.sep}, watched under that name")
    assert _lines(err, f"up{os.sep} is a link to the watched folder itself: not listed twice")


def test_broken_links_and_loops_leave_the_rest_watched(dirs, monkeypatch, capsys):
    """A link loop raised in the sub-folders' listing: with -r, a file written into a
    sub-folder afterwards waited RELIST_S (30 s); without, the sub-folders' line was lost."""
    src, out, _ = dirs
    (src / "sub").mkdir()
    os.symlink(src / "b.tif", src / "a.tif")
    os.symlink(src / "a.tif", src / "b.tif")
    os.symlink(src / "nowhere.tif", src / "dangling.tif")
    os.utime(src, ns=(HOUR_AGO, HOUR_AGO))
    os.utime(src / "sub", ns=(HOUR_AGO, HOUR_AGO))

    def write_into_sub():
        tifffile.imwrite(src / "sub" / "late.tif", IMAGE)

    _polls(monkeypatch, write_into_sub, lambda: None)
    assert _watch(src, out, "-r") == 130
    assert set(_rows(out)) == {"own.tif", "sub/late.tif"}

    capsys.readouterr()
    out2 = out.parent / "out2"  # without -r: sub/ and its files said in one line
    out2.mkdir()
    assert _watch(src, out2, "--once") == 0
    said = _lines(capsys.readouterr().err, "holds image files, which are not watched")
    assert len(said) == 1 and said[0].startswith(f"microdeblur: sub{os.sep} holds")


# ------------------------------------------------------------------ idle cost


def test_an_idle_poll_resolves_no_link_and_lists_nothing(dirs, monkeypatch):
    src, out, other = dirs
    for i in range(20):
        tifffile.imwrite(src / f"t{i:02d}.tif", IMAGE)
    os.symlink(other / "private.tif", src / "theirs.tif")
    os.symlink("t00.tif", src / "again.tif")
    for path in [*src.iterdir(), src]:
        os.utime(path, ns=(HOUR_AGO, HOUR_AGO), follow_symlinks=False)
    assert _watch(src, out, "--once") == 0
    os.utime(src, ns=(HOUR_AGO, HOUR_AGO))
    calls = {"realpath": 0, "listings": 0, "counting": False}
    realpath, listing = os.path.realpath, core_files.folder_images

    def spied_realpath(*args, **kwargs):
        calls["realpath"] += calls["counting"]
        return realpath(*args, **kwargs)

    def spied_listing(*args, **kwargs):
        calls["listings"] += calls["counting"]
        return listing(*args, **kwargs)

    monkeypatch.setattr(os.path, "realpath", spied_realpath)
    monkeypatch.setattr(core_files, "folder_images", spied_listing)
    _polls(monkeypatch, lambda: calls.update(counting=True), *[lambda: None] * 5)
    assert _watch(src, out) == 130
    assert calls == {"realpath": 0, "listings": 0, "counting": True}
    assert "theirs.tif" not in _rows(out) and "again.tif" not in _rows(out)
