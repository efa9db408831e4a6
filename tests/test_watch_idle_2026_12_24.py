"""An idle `microdeblur watch` listed, sorted and stat-ed every file of its folder at every poll
(36 % of a core for 20,000 handled files): it now lists a folder again only once it changed,
and looks at the files already handled in turns. A SIGTERM or Ctrl-C landing inside a printed
line (tqdm making its lock) ended a batch with a traceback and exit 1. A watch of a folder with
600 section sub-folders printed 600 lines, one per sub-folder."""

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

import napari_microdeblur
from napari_microdeblur import cli_progress, cli_watch, cli_watch_folders
from napari_microdeblur.cli import main
from napari_microdeblur.core import files as core_files
from napari_microdeblur.core.shown import shown_path

SRC = Path(napari_microdeblur.__file__).resolve().parents[1]  # the code under test
WIENER = ["--method", "wiener", "--psf", "gaussian:1", "--device", "cpu", "-q"]
IMAGE = (np.random.default_rng(0).random((32, 32)) * 1000).astype(np.uint16)
HOUR_AGO = time.time_ns() - 3600 * 10**9
REAL_SLEEP = time.sleep  # time.sleep is patched between scans


@pytest.fixture
def dirs(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    return src, out


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


def _old(path: Path) -> None:
    os.utime(path, ns=(HOUR_AGO, HOUR_AGO))


def _handled(src, out, count: int) -> list[str]:
    """``count`` files written an hour ago, logged by a first watch (--once)."""
    names = [f"t{i:03d}.tif" for i in range(count)]
    for name in names:
        tifffile.imwrite(src / name, IMAGE)
        _old(src / name)
    assert _watch(src, out, "--once") == 0
    _old(src)  # the folder's time too: not a change of the last 2 s
    return names


class _Spy:
    """Counts the folder listings and the stats of the handled files, from ``start()`` on."""

    def __init__(self, monkeypatch, names):
        self.names, self.listings, self.stats, self.counting = set(names), 0, 0, False
        listing, stat = core_files.folder_images, os.stat

        def folder_images(*args, **kwargs):
            self.listings += self.counting
            return listing(*args, **kwargs)

        def spied_stat(path, *args, **kwargs):
            self.stats += self.counting and os.path.basename(os.fspath(path)) in self.names
            return stat(path, *args, **kwargs)

        monkeypatch.setattr(core_files, "folder_images", folder_images)
        monkeypatch.setattr(os, "stat", spied_stat)


def _polls(monkeypatch, *steps):
    """time.sleep between scans runs ``steps[i]()`` after scan i + 1, then stops the watch."""
    done = []

    def between_scans(seconds):
        done.append(seconds)
        if len(done) > len(steps):
            raise KeyboardInterrupt
        steps[len(done) - 1]()

    monkeypatch.setattr(cli_watch.time, "sleep", between_scans)
    return done


# ------------------------------------------------------------------ 1: an idle poll


def test_an_idle_poll_lists_and_stats_no_file_already_handled(dirs, monkeypatch):
    src, out = dirs
    names = _handled(src, out, 40)
    spy = _Spy(monkeypatch, names)
    idle = [lambda: setattr(spy, "counting", True)] + [lambda: None] * 4
    _polls(monkeypatch, *idle)
    assert _watch(src, out) == 130
    # 5 idle polls: were 5 listings and 200 stats (each file at each poll)
    assert spy.listings == 0
    assert spy.stats <= 10  # in turns: each file within cli_watch_folders.SWEEP_S
    assert all(d == ["copied"] for d in _rows(out).values()) and len(_rows(out)) == 40


def test_new_replaced_and_rewritten_files_are_picked_up_at_the_next_poll(dirs, monkeypatch):
    src, out = dirs
    _handled(src, out, 5)
    seen = {}

    def new_file():
        tifffile.imwrite(src / "new.tif", IMAGE)

    def replace_one():
        seen["new"] = _rows(out).get("new.tif")
        tifffile.imwrite(src / "tmp.part", IMAGE[::-1])  # renamed over a handled file
        os.replace(src / "tmp.part", src / "t001.tif")

    def rewrite_in_place():
        seen["replaced"] = _rows(out)["t001.tif"]
        with open(src / "new.tif", "r+b") as f:  # no folder time changes
            f.seek(0, os.SEEK_END)
            f.write(b"\0" * 16)

    def removed():
        seen["rewritten"] = _rows(out)["new.tif"]
        (src / "t002.tif").unlink()

    _polls(monkeypatch, new_file, replace_one, rewrite_in_place, removed, lambda: None)
    assert _watch(src, out) == 130
    assert seen["new"] == ["copied"]  # at the poll after it came
    assert seen["replaced"] == ["copied", "copied"]
    assert seen["rewritten"] == ["copied", "copied"]  # processed by this run: watched a while
    assert len(_rows(out)) == 6


def test_a_file_rewritten_in_place_long_after_is_found_in_turns(dirs, monkeypatch):
    src, out = dirs
    _handled(src, out, 3)
    # every file at every poll
    monkeypatch.setattr(cli_watch_folders, "SWEEP_S", 1e-9, raising=False)

    def rewrite_in_place():
        with open(src / "t000.tif", "r+b") as f:
            f.seek(0, os.SEEK_END)
            f.write(b"\0" * 16)
        _old(src / "t000.tif")

    _polls(monkeypatch, lambda: None, rewrite_in_place, lambda: None)
    assert _watch(src, out) == 130
    assert _rows(out)["t000.tif"] == ["copied", "copied"]


def test_recursive_sub_folders_appearing_are_watched(dirs, monkeypatch):
    src, out = dirs
    _handled(src, out, 2)

    def new_folder_with_a_file():
        (src / "s1").mkdir()
        tifffile.imwrite(src / "s1" / "a.tif", IMAGE)

    def empty_folders():
        (src / "s2" / "deep").mkdir(parents=True)

    def file_deep_down():
        tifffile.imwrite(src / "s2" / "deep" / "b.tif", IMAGE)

    _polls(monkeypatch, new_folder_with_a_file, empty_folders, file_deep_down, lambda: None)
    assert _watch(src, out, "-r") == 130
    rows = _rows(out)
    assert rows["s1/a.tif"] == ["copied"] and rows["s2/deep/b.tif"] == ["copied"]


def test_a_folder_whose_time_does_not_change_is_listed_at_every_poll_once_found(
        dirs, monkeypatch, capsys):
    """A file system that keeps no folder time (some network or cloud ones): a file added is
    found by the listing every RELIST_S, said, and the folder listed at every poll after."""
    src, out = dirs
    _handled(src, out, 2)
    monkeypatch.setattr(cli_watch_folders, "RELIST_S", 0.2, raising=False)
    def quietly_added():
        tifffile.imwrite(src / "new.tif", IMAGE)
        _old(src)  # the folder keeps its time

    def until_logged():
        REAL_SLEEP(0.05)
        if "new.tif" in _rows(out):
            raise KeyboardInterrupt

    _polls(monkeypatch, quietly_added, *[until_logged] * 200)
    assert _watch(src, out) == 130
    assert _rows(out)["new.tif"] == ["copied"]
    err = capsys.readouterr().err
    assert "files came or went without a folder's modification time changing" in err


# ------------------------------------------------------------------ 2: a stop while printing

_STOP_INSIDE_THE_WRITE = textwrap.dedent("""
    import signal, sys
    import tqdm.std as tstd

    signum = getattr(signal, sys.argv[1])
    real_write, real_init = tstd.tqdm.write.__func__, tstd.TqdmDefaultWriteLock.__init__
    armed = []

    def init(self, *args, **kwargs):
        if armed:  # the signal lands while tqdm makes its lock, inside its write
            armed.clear()
            signal.raise_signal(signum)
        real_init(self, *args, **kwargs)

    def write(cls, *args, **kwargs):
        if hasattr(cls, "_lock"):
            del cls._lock
        armed.append(1)
        real_write(cls, *args, **kwargs)

    tstd.TqdmDefaultWriteLock.__init__ = init
    tstd.tqdm.write = classmethod(write)
    from napari_microdeblur.cli import main
    sys.exit(main(["deblur", sys.argv[2], "-o", sys.argv[3], "--method", "wiener", "--psf",
                   "gaussian:1.5", "--balance", "0.01", "--device", "cpu"]))
""")


@pytest.mark.parametrize("signame, code, closing", [
    ("SIGTERM", 143, "microdeblur: stopped by SIGTERM; "),
    ("SIGINT", 130, "microdeblur: interrupted; "),
])
def test_a_stop_inside_a_printed_line_ends_with_its_code_and_closing_line(tmp_path, signame,
                                                                         code, closing):
    """Was exit 1: "AttributeError: type object 'tqdm' has no attribute '_lock'"."""
    tifffile.imwrite(tmp_path / "a.tif", IMAGE)
    done = subprocess.run(
        [sys.executable, "-c", _STOP_INSIDE_THE_WRITE, signame, str(tmp_path / "a.tif"),
         str(tmp_path / "a_out.tif")], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        # as from a shell: a pytest-xdist worker ignores SIGINT, and its children inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(closing)
    assert "a_out.tif: wiener on YX" in done.stdout  # the line written whole


@pytest.fixture
def ctrl_c():
    """Python's own Ctrl-C handler, as in a terminal (a pytest-xdist worker ignores SIGINT)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_a_stop_while_the_handlers_are_put_back_is_passed_on(capsys, ctrl_c):
    held = cli_progress.StopsHeld()
    with held:
        pass
    with pytest.raises(KeyboardInterrupt):  # Python's Ctrl-C handler, as before
        held._note(signal.SIGINT, None)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_stop_within_say_comes_after_the_line(capsys, monkeypatch, ctrl_c):
    import tqdm

    real = tqdm.tqdm.write.__func__

    def interrupted_write(cls, text, file=None, **kwargs):
        signal.raise_signal(signal.SIGINT)
        real(cls, text, file=file, **kwargs)

    monkeypatch.setattr(tqdm.tqdm, "write", classmethod(interrupted_write))
    with pytest.raises(KeyboardInterrupt):
        cli_progress.say("a whole line")
    assert capsys.readouterr().out == "a whole line\n"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ------------------------------------------------------------------ 3: the sub-folders' line


def test_sub_folders_with_images_are_said_in_one_counted_line(dirs, monkeypatch, capsys):
    src, out = dirs
    for i in (3, 0, 4, 1, 2):
        (src / f"Pos{i}").mkdir()
        for j in range(i + 1):
            tifffile.imwrite(src / f"Pos{i}" / f"{j}.tif", IMAGE)
    (src / "empty").mkdir()
    tifffile.imwrite(src / "top.tif", IMAGE)
    _polls(monkeypatch, lambda: None)
    assert _watch(src, out) == 130
    lines = [x for x in capsys.readouterr().err.splitlines() if "not watched" in x]
    assert lines == [
        f"microdeblur: 5 sub-folders of {shown_path(src)} hold image files, which are not watched "
        f"(Pos0{os.sep}, Pos1{os.sep}, Pos2{os.sep} and 2 more; 15 image files directly in "
        f"them, deeper ones not counted): only the files directly in it are; give -r "
        "(--recursive) to watch its sub-folders too, or watch those folders themselves"]
