"""The claim files mended (review 2026-12-23): a claim whose process id a later process holds is
taken over without psutil too (Linux's /proc), and so is the checkpoint folder's; a live run's
claim on a share whose clock is behind stays its own (the claim's own time is compared, not the
file's); where a process cannot be judged a claim counts for a day and its line names the file
to remove; a take-over that meets another run's fresh claim puts it back without hard links;
a failures list drops the rows of outputs written since, and reads CRLF; a watch's log is
read a row at a time; a batch's closing line tells claimed skips from outputs that exist."""

import csv
import errno
import os
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli
from napari_microdeblur.core import run_paths
from napari_microdeblur.core.cluster import failures_path, write_failures
from napari_microdeblur.core.output_claims import OutputClaimed, claim_name, claim_output
from napari_microdeblur.core.partials import host_tag
from napari_microdeblur.core.shown import shown_path

HEADER = "input\toutput\terror"
WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu"]
LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture
def live():
    """A process of this host that runs, started just now (a pid another process may reuse)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child.pid
    child.kill()
    child.wait()


def _stamp(seconds_ago: float = 0.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds_ago))


def _write_claim(path, pid, since: str, mtime_ago: float = 0.0, host=None):
    path.write_text(f"{host or host_tag()} {pid} {since}\n")
    when = time.time() - mtime_ago
    os.utime(path, (when, when))
    return path


def _no_psutil(monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil: ImportError


@LINUX
@pytest.mark.parametrize("psutil", ["psutil", "no psutil"])
def test_a_claim_whose_pid_a_later_process_holds_is_taken_over(tmp_path, monkeypatch, live,
                                                               psutil):
    """A run killed an hour ago (a power loss): its pid now a live process started since.
    Without psutil (a plain install) the claim had counted as live forever."""
    if psutil == "no psutil":
        _no_psutil(monkeypatch)
    target = tmp_path / "a_deblurred.tif"
    _write_claim(claim_name(target), live, _stamp(3600), mtime_ago=3600)
    claim = claim_output(target)
    assert claim.text is not None and claim.path.read_text().split()[1] == str(os.getpid())
    claim.release()
    _write_claim(claim_name(target), live, _stamp())  # that process's own claim: live
    with pytest.raises(OutputClaimed, match=f"pid {live}"):
        claim_output(target)


@LINUX
def test_proc_tells_when_a_process_started_as_psutil_does(live):
    psutil = pytest.importorskip("psutil")
    from napari_microdeblur.core import claims

    assert claims.proc_started(live) == pytest.approx(psutil.Process(live).create_time(),
                                                      abs=1.5)


@LINUX
@pytest.mark.parametrize("psutil", ["psutil", "no psutil"])
def test_a_checkpoint_folder_whose_owner_pid_was_reused_is_taken_over(tmp_path, monkeypatch,
                                                                      live, psutil):
    """The checkpoint folder's owner file had no such check: refused, 'in use', for good."""
    if psutil == "no psutil":
        _no_psutil(monkeypatch)
    ck = tmp_path / "ck"
    ck.mkdir()
    owner = _write_claim(ck / run_paths.OWNER_FILE, live, _stamp(3600), mtime_ago=3600)
    try:
        run_paths.check_checkpoint_dir(ck, resume=False, claim=True)
        assert owner.read_text().split()[1] == str(os.getpid())
    finally:
        run_paths.release_checkpoint_dirs()
    _write_claim(owner, live, _stamp())
    with pytest.raises(ValueError, match=f"in use by another run now \\(process {live}"):
        run_paths.check_checkpoint_dir(ck, resume=False, claim=True)


def test_a_live_runs_claim_on_a_share_whose_clock_is_behind_is_kept(tmp_path, live):
    """The file server's clock 10 s behind this host's: the claim's file dated before its
    process started. The claim's own time (this host's clock) is compared: not taken over."""
    target = tmp_path / "a_deblurred.tif"
    _write_claim(claim_name(target), live, _stamp(), mtime_ago=10)
    with pytest.raises(OutputClaimed, match=f"pid {live}"):
        claim_output(target)  # was: taken over, the file computed by both runs


def test_a_claim_whose_process_cannot_be_judged_counts_for_a_day_and_is_named(
        tmp_path, monkeypatch, live, capsys):
    """Windows without psutil, or no /proc: whether the process runs cannot be told. The
    claim had counted as live forever, its line naming no file to remove."""
    from napari_microdeblur.core import claims

    _no_psutil(monkeypatch)
    monkeypatch.setattr(claims, "process_state", lambda pid: (None, None))
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i, name in enumerate("ab"):
        tifffile.imwrite(src / f"{name}.tif",
                         np.random.default_rng(i).integers(0, 255, (32, 32), np.uint8))
    recent = _write_claim(claim_name(out / "a_deblurred.tif"), live, _stamp(60), mtime_ago=60)
    _write_claim(claim_name(out / "b_deblurred.tif"), live, _stamp(25 * 3600),
                 mtime_ago=25 * 3600)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    said = capsys.readouterr()
    assert (f"a_deblurred.tif: being written by another run (pid {live}); skipped (if that "
            f"run is over, remove {shown_path(recent)})") in said.out
    assert (out / "b_deblurred.tif").is_file() and not (out / "a_deblurred.tif").exists()
    # a claimed file is no output that exists
    assert (f"{shown_path(out)}: 1 done, 0 skipped (output exists), 1 skipped (being written "
            "by another run), 0 failed") in said.err


@pytest.mark.parametrize("links", ["hard links", "no hard links"])
def test_a_take_over_that_meets_another_runs_fresh_claim_puts_it_back(tmp_path, monkeypatch,
                                                                      live, links):
    """Between reading a dead run's claim and moving it aside, another run took it over and
    made its own: moved aside by this run, it is put back (on a file system without hard
    links too: it had been deleted, and both runs computed the file)."""
    target = tmp_path / "a_deblurred.tif"
    path = claim_name(target)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _write_claim(path, dead.pid, _stamp(60), mtime_ago=60)
    theirs = f"{host_tag()} {live} {_stamp()}\n"
    real_replace, real_link, raced = os.replace, os.link, []

    def the_other_run_first(src, dst, *args, **kwargs):
        if os.fspath(src) == os.fspath(path) and not raced:
            raced.append(True)
            os.unlink(path)  # the other run removed the dead claim and made its own
            path.write_text(theirs)
        return real_replace(src, dst, *args, **kwargs)

    def no_link(src, dst, *args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "replace", the_other_run_first)
    if links == "no hard links":
        monkeypatch.setattr(os, "link", no_link)
    with pytest.raises(OutputClaimed, match=f"pid {live}"):
        claim_output(target)
    monkeypatch.setattr(os, "link", real_link)
    assert raced and path.read_text() == theirs
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # nothing left aside


def _record(tmp_path, name, status):
    return {"input": str(tmp_path / f"{name}.tif"), "output": str(tmp_path / f"{name}_out.tif"),
            "status": status}


def test_a_failures_row_whose_output_was_written_since_is_dropped(tmp_path):
    """x failed; the user redid it by hand since: a batch of other inputs had kept its row.
    y's older output (an --overwrite run's failed file keeps it) is still listed."""
    for name in "xyz":
        (tmp_path / f"{name}.tif").write_bytes(b"input")
    (tmp_path / "y_out.tif").write_bytes(b"older")
    hour_ago = time.time() - 3600
    os.utime(tmp_path / "y_out.tif", (hour_ago - 60, hour_ago - 60))
    listed = failures_path(tmp_path / "out")
    rows = {n: f"{tmp_path / (n + '.tif')}\t{tmp_path / (n + '_out.tif')}\told" for n in "xy"}
    listed.write_text(f"{HEADER}\n{rows['x']}\n{rows['y']}\n", encoding="utf-8")
    os.utime(listed, (hour_ago, hour_ago))
    (tmp_path / "x_out.tif").write_bytes(b"redone by hand")
    path, kept = write_failures(tmp_path / "out", [_record(tmp_path, "z", "ok")])
    assert kept == 1 and listed.read_text(encoding="utf-8").splitlines() == [HEADER, rows["y"]]


def test_a_failures_list_with_crlf_line_ends_keeps_its_rows(tmp_path):
    """Saved by a Windows editor: its header was not read, and every row lost."""
    (tmp_path / "x.tif").write_bytes(b"input")
    listed = failures_path(tmp_path / "out")
    row = f"{tmp_path / 'x.tif'}\t{tmp_path / 'x_out.tif'}\tnot a TIFF"
    listed.write_bytes(f"{HEADER}\r\n{row}\r\n".encode())
    path, kept = write_failures(tmp_path / "out", [_record(tmp_path, "z", "ok")])
    assert kept == 1 and listed.read_text(encoding="utf-8").splitlines() == [HEADER, row]


def _log(path, rows: int, cut: bool):
    from napari_microdeblur.cli_watch_log import WATCH_COLUMNS

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=WATCH_COLUMNS)
        writer.writeheader()
        writer.writerows({"name": "a.tif", "score": "0.01", "decision": "failed",
                          "size": "100", "mtime_ns": str(i), "logged_utc": "x" * 40}
                         for i in range(rows))
        if cut:
            f.write("b.tif,0.02,deblurred")


@pytest.mark.parametrize("cut", [False, True])
def test_a_watch_log_is_read_a_row_at_a_time(tmp_path, cut):
    """A long log (the same file failing over and over) is not held whole: 1 MB read with
    less than 0.5 MB traced (was its text and every row: over 10 MB); a cut last row is
    still found (its line end looked for at the file's end)."""
    from napari_microdeblur.cli_watch_log import read_log

    log, small = tmp_path / "log.csv", tmp_path / "small.csv"
    _log(small, 2, cut)
    read_log(small, tmp_path, tmp_path)  # the modules it imports the first time, not traced
    _log(log, 15_000, cut)
    assert log.stat().st_size > 1_000_000
    tracemalloc.start()
    try:
        state = read_log(log, tmp_path, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 500_000, peak
    assert state.failed == {"a.tif": (100, 14_999)}
    assert state.damaged == ({"b.tif": 15_002} if cut else {})
