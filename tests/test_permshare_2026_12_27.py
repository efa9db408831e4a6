"""Two users of one group sharing a setgid, group-writable output folder (walkthrough
2026-12-27). (a) Claim files were made 0o644 less the umask: one user's under 077 were
unreadable to the other, whose run took them for released, and after five tries computed every
file unclaimed, then discarded it. (b) A watch into a folder whose log another user made (umask
022) ended in '[Errno 13] Permission denied' and no advice. (c) A rerun over another user's
unreadable outputs said they held no record and advised --overwrite. (d) --overwrite replaced
another user's output this user may not write (the rename needs the folder's permission only),
and in a sticky folder failed at the final rename, after the work.

The tests run as root here, who may read and write anything: another user's file is imitated by
handing it to another uid where root can (else by faking this process's uid), and what this
user may not read or write by ``os.access`` (or the read) answering as it would for them."""

import os
import pathlib
import stat
import time

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli
from napari_microdeblur.core import claims
from napari_microdeblur.core.atomic_write import not_yours, write_atomically
from napari_microdeblur.core.output_claims import OutputClaimed, claim_name, claim_output

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu"]
OTHER_UID = 2001  # 'alice'


def _image(path, seed=0):
    tifffile.imwrite(path, np.random.default_rng(seed).integers(0, 255, (32, 32), np.uint8))


def _others(monkeypatch, *paths):
    """Make ``paths`` another user's: given to ``OTHER_UID`` where this is root; else this
    process is made to seem another user (its euid faked)."""
    if os.geteuid() == 0:
        for path in paths:
            os.chown(path, OTHER_UID, -1)
    else:
        uid = os.geteuid() + 1
        monkeypatch.setattr(os, "geteuid", lambda: uid)


def _denied(monkeypatch, *paths):
    """``os.access`` answers for ``paths`` as for a user who may neither read nor write them
    (root is allowed everything); other paths as before."""
    real, denied = os.access, {os.path.abspath(p) for p in paths}

    def access(path, mode, *args, **kwargs):
        if os.path.abspath(path) in denied and mode & (os.R_OK | os.W_OK):
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


def _unreadable_claim(monkeypatch, target, age_s=0.0):
    """Another user's claim on ``target`` made under umask 077: there, not readable (as long
    as it is that file: a claim made there since reads)."""
    path = claim_name(target)
    path.write_bytes(b"othervm 12345 2026-12-27T10:00:00Z\n")
    os.chmod(path, 0o600)
    if age_s:
        os.utime(path, (time.time() - age_s, time.time() - age_s))
    real = pathlib.Path.read_bytes
    theirs = (path.stat().st_ino, path.stat().st_mtime_ns)  # an inode may be used again

    def read_bytes(self):
        if (os.path.abspath(self) == os.path.abspath(path)
                and (self.stat().st_ino, self.stat().st_mtime_ns) == theirs):
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)
    return path


# (a) claims ------------------------------------------------------------------------------------

def test_a_claim_is_readable_by_the_other_runs_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        claim = claim_output(tmp_path / "x_deblurred.tif")
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE(claim.path.stat().st_mode) == 0o644  # was 0o600
    finally:
        claim.release()


def test_an_unreadable_claim_is_another_users_live_run_and_its_output_skipped(
        tmp_path, monkeypatch):
    target = tmp_path / "x_deblurred.tif"
    held = _unreadable_claim(monkeypatch, target)
    with pytest.raises(OutputClaimed) as caught:
        claim_output(target)  # had returned a claim of none: computed unclaimed, twice
    words = caught.value.skip_words
    assert words.startswith("being written by another user's run (its claim is unreadable")
    assert held.name in words and words.endswith("skipped")
    assert held.exists()  # a live run's claim is left alone


def test_an_unreadable_claim_a_day_old_is_taken_over(tmp_path, monkeypatch):
    target = tmp_path / "x_deblurred.tif"
    held = _unreadable_claim(monkeypatch, target, age_s=2 * 24 * 3600)
    claim = claim_output(target)
    try:
        assert claim.text is not None  # this run's claim now: others skip the file
        assert claims.same_claim(held.read_bytes(), claim.text)
    finally:
        claim.release()
    assert not held.exists()


# (c) a rerun over another user's unreadable outputs --------------------------------------------

def test_a_rerun_says_unreadable_outputs_are_not_readable_not_that_they_hold_no_record(
        tmp_path, monkeypatch, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    outputs = []
    for i, name in enumerate("ab"):
        _image(src / f"{name}.tif", seed=i)
        outputs.append(out / f"{name}_deblurred.tif")
        _image(outputs[-1], seed=9)  # its record cannot be read: none is read
        os.chmod(outputs[-1], 0o600)
    _others(monkeypatch, *outputs)
    _denied(monkeypatch, *outputs)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    err = capsys.readouterr().err
    assert "2 skipped outputs are not readable by you (a_deblurred.tif and others" in err
    assert "no record" not in err and "pass --overwrite" not in err


# (d) --overwrite over another user's output -------------------------------------------------

def test_overwrite_keeps_another_users_output_it_may_not_write_in_a_batch(
        tmp_path, monkeypatch, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    _image(src / "a.tif")
    theirs = out / "a_deblurred.tif"
    _image(theirs, seed=5)
    os.chmod(theirs, 0o600)
    kept = theirs.read_bytes()
    _others(monkeypatch, theirs)
    _denied(monkeypatch, theirs)
    computed = []
    from napari_microdeblur import cli_batch

    real = cli_batch.deblur_file_as_asked
    monkeypatch.setattr(cli_batch, "deblur_file_as_asked",
                        lambda *a, **k: computed.append(a[0]) or real(*a, **k))
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert theirs.read_bytes() == kept  # had been replaced
    assert computed == []  # refused before any work
    line = next(x for x in err.splitlines() if "a_deblurred.tif" in x)
    assert "belongs to another user" in line and "not writable by you" in line
    assert "it is kept" in line


def test_overwrite_keeps_another_users_single_output_it_may_not_write(
        tmp_path, monkeypatch, capsys):
    _image(tmp_path / "a.tif")
    theirs = tmp_path / "x.tif"
    _image(theirs, seed=5)
    os.chmod(theirs, 0o600)
    kept = theirs.read_bytes()
    _others(monkeypatch, theirs)
    _denied(monkeypatch, theirs)
    ran, real = [], cli.deblur_one
    monkeypatch.setattr(cli, "deblur_one", lambda *a, **k: ran.append(1) or real(*a, **k))
    code = cli.main(["deblur", str(tmp_path / "a.tif"), "-o", str(theirs), *WIENER,
                     "--overwrite"])
    err = capsys.readouterr().err
    assert code == 2 and theirs.read_bytes() == kept
    assert not ran  # refused before the work (it had been computed, then refused)
    assert "belongs to another user" in err and "not writable by you" in err


def test_another_users_file_in_a_sticky_folder_is_refused_before_the_work(tmp_path,
                                                                         monkeypatch):
    folder = tmp_path / "sticky"
    folder.mkdir()
    os.chmod(folder, 0o1777)
    theirs = folder / "x.tif"
    theirs.write_bytes(b"theirs")
    os.chmod(theirs, 0o666)  # writable by all: only the sticky bit keeps it theirs
    if os.geteuid() == 0:
        os.chown(theirs, OTHER_UID, -1)
    uid = (os.geteuid() or 4242) + 1  # not root (who may replace it), not its owner
    monkeypatch.setattr(os, "geteuid", lambda: uid if uid != OTHER_UID else uid + 1)
    written = []
    with pytest.raises(PermissionError, match="sticky") as caught:
        write_atomically(theirs, lambda tmp: written.append(tmp) or pathlib.Path(tmp)
                         .write_bytes(b"mine"))
    assert written == [] and theirs.read_bytes() == b"theirs"
    assert "belongs to another user" in str(caught.value)


# (b) a watch into a folder whose log is another user's ----------------------------------------

def test_a_watch_whose_log_is_another_users_says_so_before_any_work(tmp_path, monkeypatch,
                                                                    capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    log = out / "microdeblur_watch.csv"
    log.write_text("")
    os.chmod(log, 0o644)
    _others(monkeypatch, log)
    _denied(monkeypatch, log)
    code = cli.main(["watch", str(src), str(out), "--threshold", "0.5", "--once"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "Errno" not in err[0]
    assert "watch log" in err[0] and "microdeblur_watch.csv" in err[0]
    assert "belongs to another user" in err[0] and "not writable by you" in err[0]
    assert "umask 002" in err[0] and "another output folder" in err[0]


def test_in_a_sticky_folder_the_sticky_bit_is_named_first(tmp_path, monkeypatch):
    """Review of 8fb56d8: advised 'chmod g+w', after which the sticky bit still refused it."""
    folder = tmp_path / "sticky"
    folder.mkdir()
    os.chmod(folder, 0o1777)
    theirs = folder / "x.tif"
    theirs.write_bytes(b"theirs")
    os.chmod(theirs, 0o600)
    _others(monkeypatch, theirs)
    _denied(monkeypatch, theirs)
    if os.geteuid() == 0:  # root may replace anything: seem another user, neither owner
        monkeypatch.setattr(os, "geteuid", lambda: OTHER_UID + 1)
    why = not_yours(theirs)
    assert "sticky" in why and "chmod g+w" not in why


def test_an_own_link_to_another_users_file_is_replaced_as_before(tmp_path, monkeypatch):
    """Review of 8fb56d8: a link is replaced, not the file it points to (it had been refused)."""
    theirs = tmp_path / "theirs.tif"
    theirs.write_bytes(b"theirs")
    os.chmod(theirs, 0o600)
    link = tmp_path / "link.tif"
    link.symlink_to(theirs)
    _others(monkeypatch, theirs)
    _denied(monkeypatch, theirs, link)  # os.access follows the link
    if os.geteuid() == 0:
        monkeypatch.setattr(os, "geteuid", lambda: 0)  # the link is root's own
    assert not_yours(link) is None


def test_without_owners_to_tell_a_watch_log_is_not_blamed_on_another_user(tmp_path, monkeypatch):
    """Review of 8fb56d8: on Windows (no geteuid, st_uid 0) a read-only log was 'root's'."""
    from napari_microdeblur.cli_watch import log_not_writable

    log = tmp_path / "microdeblur_watch.csv"
    log.write_text("x")
    monkeypatch.delattr(os, "geteuid")
    line = str(log_not_writable(log))
    assert "another user" not in line and "chmod u+rw" in line
