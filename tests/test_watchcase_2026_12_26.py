"""`microdeblur watch` on case-insensitive disks and Windows (2026-12-26).

1. On macOS resolve() keeps the case typed: `watch Drop drop` (one folder, two names) passed the
   'output folder is the watched folder' refusal, and the watch deblurred its own outputs
   generation after generation; with --recursive an output folder inside the watched one under
   another case of its name was listed as new files. Folders are now compared by identity
   (device, inode) too. Imitated on Linux by two names for one folder (a symbolic link, with
   realpath made to keep the name typed as macOS's keeps its case; and, where an unprivileged
   user namespace allows it, a real bind mount).
2. cell.tif processed, renamed Cell.tif: 'Cell.tif and cell.tif would both be written to
   Cell_deblurred.tif', although cell.tif was gone. A name logged but no longer in the folder
   that differs only in case is taken as renamed: the file is processed under its new name.
3. A file locked by the acquisition software (Windows: PermissionError, 'being used by another
   process') longer than 5 x --settle was logged 'unreadable' and never retried once let go.
   It is now waited for up to --incomplete-after (read as soon as it is let go), said once,
   and logged saying to touch it; a file this user may not read is logged at once, as before.
"""

from __future__ import annotations

import builtins
import csv
import errno
import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli_watch
from napari_microdeblur.cli import main

LOG = "microdeblur_watch.csv"
# a threshold below every score: each file is copied (the cheapest decision)
COPY = ["--threshold", "1e-12", "--settle", "0", "--poll", "0.02", "--device", "cpu",
        "--method", "wiener", "--psf", "gaussian:1.5"]
HOUR_AGO = time.time() - 3600
POSIX_LINKS = pytest.mark.skipif(os.name == "nt" or not hasattr(os, "symlink"),
                                 reason="symbolic links, POSIX realpath")


def _image(path: Path, seed: int = 0) -> None:
    """Smooth structure (copied by COPY, not 'blank'), written an hour ago (not 'still being
    written' by its age)."""
    from scipy import ndimage

    path.parent.mkdir(parents=True, exist_ok=True)
    x = ndimage.gaussian_filter(np.random.default_rng(seed).random((32, 32)), 2)
    tifffile.imwrite(path, ((x - x.min()) / np.ptp(x) * 3000 + 100).astype(np.uint16))
    os.utime(path, (HOUR_AGO, HOUR_AGO))


def _rows(out: Path) -> list[tuple[str, str]]:
    if not (out / LOG).exists():
        return []
    with open(out / LOG, newline="", encoding="utf-8") as f:
        return [(r["name"], r["decision"]) for r in csv.DictReader(f)]


def _watch(src: Path, out: Path, monkeypatch, *options, on_poll=lambda n: None,
           polls_at_most: int = 400) -> tuple[int, list, int]:
    """`watch --once` of ``src`` into ``out`` (``on_poll(n)`` at the n-th wait between scans):
    (its exit code, its log's (name, decision) rows, how many waits)."""
    polls, pause = [], time.sleep

    def poll(seconds):
        polls.append(seconds)
        if len(polls) > polls_at_most:
            raise AssertionError("the watch never ended")
        on_poll(len(polls))
        pause(0.02)

    with monkeypatch.context() as patch:
        patch.setattr(cli_watch.time, "sleep", poll)
        code = main(["watch", str(src), str(out), "--once", *COPY, *options])
    return code, _rows(out), len(polls)


def _realpath_keeps_names(monkeypatch) -> None:
    """realpath (and resolve()) keep the name typed, as macOS's keep the case typed: two names
    of one folder stay two paths."""
    def keep(path, *, strict=False):
        return os.path.abspath(path)

    monkeypatch.setattr(os.path, "realpath", keep)


# --- 1. one folder under two names ----------------------------------------------------------------

@POSIX_LINKS
def test_the_watched_folder_given_as_output_under_another_name_is_refused(
        tmp_path, monkeypatch, capsys):
    drop = tmp_path / "Drop"
    _image(drop / "a.tif")
    os.symlink("Drop", tmp_path / "drop")
    _realpath_keeps_names(monkeypatch)
    code, rows, _ = _watch(drop, tmp_path / "drop", monkeypatch, "--overwrite")
    err = capsys.readouterr().err
    assert code != 0
    assert "is the watched folder; give another folder for the outputs" in err
    assert sorted(os.listdir(drop)) == ["a.tif"]  # no log, no output among the inputs
    assert rows == []


@POSIX_LINKS
def test_an_output_folder_inside_under_another_name_is_not_watched(tmp_path, monkeypatch,
                                                                   capsys):
    """`watch Drop drop/out -r`: Drop/out, the output folder, had its files listed as inputs;
    without -r, the line on sub-folders holding images named it."""
    drop = tmp_path / "Drop"
    _image(drop / "a.tif")
    _image(drop / "out" / "earlier.tif", 1)  # an output of an earlier run
    os.symlink("Drop", tmp_path / "drop")
    _realpath_keeps_names(monkeypatch)
    code, rows, _ = _watch(drop, tmp_path / "drop" / "out", monkeypatch, "-r")
    err = capsys.readouterr().err
    assert code == 0, err
    assert rows == [("a.tif", "copied")]
    assert not (drop / "out" / "out").exists()
    # without -r: the output folder is not named among the sub-folders holding images
    _image(drop / "out3" / "x.tif", 2)
    code, rows, _ = _watch(drop, tmp_path / "drop" / "out3", monkeypatch)
    err = capsys.readouterr().err
    assert code == 0 and rows == [("a.tif", "copied")], err
    assert f"out{os.sep} holds image files, which are not watched" in err  # no output: said
    assert f"out3{os.sep}" not in err


def _bind_mounts() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True,
                              timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not _bind_mounts(), reason="needs unshare -rm (an unprivileged mount "
                    "namespace) for a bind mount")
def test_a_bind_mount_of_the_watched_folder_as_output_is_refused(tmp_path):
    """A real second name of the folder (a bind mount in a user namespace, no privileges):
    refused; and as the parent of the output folder with -r, its outputs not listed."""
    drop, other = tmp_path / "Drop", tmp_path / "drop"
    _image(drop / "a.tif")
    _image(drop / "out" / "earlier.tif", 1)
    other.mkdir()
    cli = [sys.executable, "-m", "napari_microdeblur.cli", "watch", "--once", *COPY]
    script = (f"mount --bind {drop} {other} && {{ {' '.join(cli)} {drop} {other}; echo rc=$?; "
              f"{' '.join(cli)} -r {drop} {other}/out; echo rc=$?; }}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True,
                          text=True, timeout=300, env=env)
    assert "is the watched folder; give another folder for the outputs" in done.stderr, \
        done.stderr
    assert done.stdout.count("rc=0") == 1, done.stdout + done.stderr
    assert _rows(drop / "out") == [("a.tif", "copied")], done.stderr


# --- 2. a case-only rename ----------------------------------------------------------------------

def test_a_file_renamed_in_case_only_is_processed_under_its_new_name(tmp_path, monkeypatch,
                                                                     capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    _image(src / "cell.tif")
    out.mkdir()
    assert _watch(src, out, monkeypatch)[:2] == (0, [("cell.tif", "copied")])
    (src / "cell.tif").rename(src / "Cell.tif")
    capsys.readouterr()
    code, rows, _ = _watch(src, out, monkeypatch)
    err = capsys.readouterr().err
    assert code == 0, err
    assert rows == [("cell.tif", "copied"), ("Cell.tif", "copied")]
    assert "would both be written" not in err
    assert "Cell.tif: taken as cell.tif renamed" in err
    assert (out / "Cell.tif").exists() and (out / "cell.tif").exists()  # nothing lost


def test_a_case_only_rename_replaces_its_output_on_a_disk_that_ignores_case(
        tmp_path, monkeypatch, capsys):
    """Where the output folder ignores case, Cell.tif's output is cell.tif's (there): replaced,
    as a changed file's, not logged 'exists' nor a name clash."""
    src, out = tmp_path / "in", tmp_path / "out"
    _image(src / "cell.tif")
    out.mkdir()
    _watch(src, out, monkeypatch)
    (src / "cell.tif").rename(src / "Cell.tif")
    there = cli_watch.output_exists

    def ignoring_case(path):  # the output folder as macOS's disk sees it
        return there(path) or any(p.name.casefold() == Path(path).name.casefold()
                                  for p in Path(path).parent.iterdir())

    monkeypatch.setattr(cli_watch, "output_exists", ignoring_case)
    code, rows, _ = _watch(src, out, monkeypatch)
    err = capsys.readouterr().err
    assert code == 0, err
    assert rows[-1] == ("Cell.tif", "copied"), err


def test_two_files_differing_in_case_still_clash(tmp_path, monkeypatch, capsys):
    """Both in the folder (a case-sensitive disk): the second is still a name clash."""
    src, out = tmp_path / "in", tmp_path / "out"
    _image(src / "cell.tif")
    out.mkdir()
    _watch(src, out, monkeypatch)
    _image(src / "Cell.tif", 1)
    code, rows, _ = _watch(src, out, monkeypatch)
    err = capsys.readouterr().err
    assert rows[-1] == ("Cell.tif", "name clash"), err
    assert "Cell.tif and cell.tif would both be written to Cell.tif" in err


# --- 3. a file locked by another program ---------------------------------------------------------

class Lock:
    """Opening ``path`` raises what Windows raises while another program holds the file."""

    def __init__(self, path: Path, monkeypatch):
        self.path, self.held, self.tries = os.path.abspath(path), True, 0
        opens = builtins.open, os.open

        def check(file):
            try:
                name = os.fspath(file)
            except TypeError:
                return
            if self.held and isinstance(name, str) and os.path.abspath(name) == self.path:
                self.tries += 1
                raise PermissionError(errno.EACCES, "The process cannot access the file "
                                      "because it is being used by another process", name)

        def held_open(file, *args, **kwargs):
            check(file)
            return opens[0](file, *args, **kwargs)

        def held_os_open(file, *args, **kwargs):
            check(file)
            return opens[1](file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", held_open)
        monkeypatch.setattr(io, "open", held_open)
        monkeypatch.setattr(os, "open", held_os_open)


def test_a_locked_file_is_read_once_let_go(tmp_path, monkeypatch, capsys):
    """Locked for a few polls (an hour-old file, --settle 0): had been logged 'unreadable' at
    once, and never retried after the lock ended (its size and time unchanged)."""
    src, out = tmp_path / "in", tmp_path / "out"
    _image(src / "a.tif")
    out.mkdir()
    lock = Lock(src / "a.tif", monkeypatch)

    def let_go(n):
        if n == 5:
            lock.held = False

    code, rows, polls = _watch(src, out, monkeypatch, on_poll=let_go)
    err = capsys.readouterr().err
    assert code == 0, err
    assert rows == [("a.tif", "copied")], err
    assert err.count("locked by another program") == 1
    assert polls >= 5


def test_a_file_locked_too_long_is_logged_once_saying_to_touch_it(tmp_path, monkeypatch,
                                                                 capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    _image(src / "a.tif")
    out.mkdir()
    lock = Lock(src / "a.tif", monkeypatch)
    started = time.monotonic()
    code, rows, _ = _watch(src, out, monkeypatch, "--incomplete-after", "0.5")
    err = capsys.readouterr().err
    assert time.monotonic() - started >= 0.5  # waited for, as a file being written
    assert code == 2 and rows == [("a.tif", "unreadable")], err
    assert err.count("locked by another program") == 2  # waiting, then logged: no more
    line = next(x for x in err.splitlines() if "unreadable, skipped" in x)
    assert "touch the file" in line and "--incomplete-after" in line
    # let go: as said, an unchanged file is not tried again; touched, it is
    lock.held = False
    assert _watch(src, out, monkeypatch)[:2] == (0, [("a.tif", "unreadable")])
    os.utime(src / "a.tif")
    code, rows, _ = _watch(src, out, monkeypatch)
    assert code == 0 and rows[-1] == ("a.tif", "copied"), capsys.readouterr().err


def test_a_file_this_user_may_not_read_is_logged_at_once(tmp_path, monkeypatch, capsys):
    """No permission to read it (not a lock): logged 'unreadable' at the first scan, as before,
    not waited for."""
    src, out = tmp_path / "in", tmp_path / "out"
    _image(src / "a.tif")
    out.mkdir()
    Lock(src / "a.tif", monkeypatch)
    allowed = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if os.path.abspath(p)
                        == os.path.abspath(src / "a.tif") else allowed(p, mode, *a, **k))
    code, rows, polls = _watch(src, out, monkeypatch, "--incomplete-after", "60")
    err = capsys.readouterr().err
    assert code == 2 and rows == [("a.tif", "unreadable")], err
    assert "locked by another program" not in err
    assert polls == 0


# --- 4. a lock on reading, and Windows' access rules (review of 57c6782) -------------------------

def test_a_file_whose_reading_is_locked_is_logged_once_its_time_is_up(tmp_path, monkeypatch,
                                                                       capsys):
    """Opened fine, its reading refused (Windows' byte-range lock): it was read again and
    waited for again on every poll, never logged; --once never ended."""
    from napari_microdeblur.core import io as core_io

    src, out = tmp_path / "in", tmp_path / "out"
    _image(src / "a.tif")
    out.mkdir()
    read, reads = core_io.read_image, []

    def locked_read(path, *args, **kwargs):
        if Path(path).name == "a.tif":
            reads.append(path)
            raise PermissionError(errno.EACCES, "The process cannot access the file because "
                                  "another process has locked a portion of the file", str(path))
        return read(path, *args, **kwargs)

    monkeypatch.setattr(core_io, "read_image", locked_read)
    started = time.monotonic()
    code, rows, polls = _watch(src, out, monkeypatch, "--incomplete-after", "0.5",
                               polls_at_most=150)
    err = capsys.readouterr().err
    assert time.monotonic() - started >= 0.5  # waited for, as a file being written
    assert code == 2 and rows == [("a.tif", "unreadable")], err
    line = next(x for x in err.splitlines() if "unreadable, skipped" in x)
    assert "touch the file" in line and "--incomplete-after" in line
    assert len(reads) <= polls + 1  # read once per poll at most


def _permission_error(winerror: int | None) -> PermissionError:
    error = PermissionError(errno.EACCES, "Access is denied")
    if winerror is not None:
        error.winerror = winerror
    return error


def test_on_windows_a_lock_is_told_from_access_rules_by_its_windows_error(tmp_path,
                                                                           monkeypatch):
    """Windows' os.access reads only the read-only attribute: a file its access rules deny
    this user had been taken as locked (waited --incomplete-after, then 'touch it')."""
    from napari_microdeblur import cli_watch_wait

    path = tmp_path / "a.tif"
    _image(path)
    monkeypatch.setattr(os, "access", lambda *a, **k: True)  # as Windows answers
    monkeypatch.setattr(sys, "platform", "win32")
    held = [cli_watch_wait._held(path, OSError("cannot read"))]
    wrapped = ValueError("cannot read as TIFF")
    wrapped.__cause__ = _permission_error(32)
    held += [cli_watch_wait._held(path, error) for error in (
        wrapped, _permission_error(33), _permission_error(5), _permission_error(None))]
    monkeypatch.undo()
    # sharing and lock violations are a hold; ERROR_ACCESS_DENIED (5) or none is no lock
    assert held == [False, True, True, False, False]


def test_elsewhere_a_lock_is_still_told_by_os_access(tmp_path, monkeypatch):
    from napari_microdeblur import cli_watch_wait

    path = tmp_path / "a.tif"
    _image(path)
    monkeypatch.setattr(sys, "platform", "linux")
    assert cli_watch_wait._held(path, _permission_error(None))
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    assert not cli_watch_wait._held(path, _permission_error(None))


def test_of_two_case_variants_the_one_with_the_logged_size_and_time_is_the_rename(
        tmp_path, monkeypatch, capsys):
    """cell.tif renamed Cell.tif beside a new CELL.tif: whichever sorted first (CELL.tif) was
    taken as the rename, and the renamed file was a name clash."""
    src, out = tmp_path / "in", tmp_path / "out"
    _image(src / "cell.tif")
    out.mkdir()
    _watch(src, out, monkeypatch)
    (src / "cell.tif").rename(src / "Cell.tif")
    _image(src / "CELL.tif", 1)
    os.utime(src / "CELL.tif", (HOUR_AGO + 60, HOUR_AGO + 60))  # a file of its own
    capsys.readouterr()
    code, rows, _ = _watch(src, out, monkeypatch)
    err = capsys.readouterr().err
    assert sorted(rows[1:]) == [("CELL.tif", "name clash"), ("Cell.tif", "copied")], err
    assert "Cell.tif: taken as cell.tif renamed" in err
    assert "CELL.tif: taken as" not in err


def test_two_case_variants_both_with_the_logged_size_and_time_are_no_rename(
        tmp_path, monkeypatch, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    _image(src / "cell.tif")
    out.mkdir()
    _watch(src, out, monkeypatch)
    (src / "cell.tif").rename(src / "Cell.tif")
    shutil.copy2(src / "Cell.tif", src / "CELL.tif")  # the same size and time
    capsys.readouterr()
    code, rows, _ = _watch(src, out, monkeypatch)
    err = capsys.readouterr().err
    assert "taken as cell.tif renamed" not in err
    assert sorted(rows[1:]) == [("CELL.tif", "name clash"), ("Cell.tif", "name clash")], err
