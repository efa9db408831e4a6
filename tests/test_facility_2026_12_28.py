"""Two real users sharing folders at a research facility (walkthrough 2026-12-28): four lines
that misled. (1) A rerun over outputs partly another user's said '--overwrite redoes them' of
files --overwrite refuses. (2) One output, another user's and not replaceable, was 'exists;
choose another name or --overwrite'. (3) `info` of another user's 0700 run folder ended every
file given with '[Errno 13] Permission denied: 'run/last.pt''. (4) A checkpoint folder another
user's run claimed (its owner file 0600) was 'other runs are taking it now'.

Each was seen first as two real uids (setpriv). The tests run as root, who may read and write
anything: the files are handed to their users with ``os.chown``, and this process answers as
the kernel would for user ``ME`` (groups ``ME`` and ``SHARED``): ``os.geteuid``, and ``os.stat``,
``os.lstat``, ``os.access`` and ``Path.read_bytes`` under the test's folder by the real modes
and owners (search permission of each folder on the way, then the file's own bits)."""

from __future__ import annotations

import errno
import os
import pathlib

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli
from napari_microdeblur.core import run_paths
from napari_microdeblur.core.claims import user_name

pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="hands files to other uids: needs root")

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu"]
ME, ALICE, SHARED = 1000, 2001, 3000


def _as_me(monkeypatch, base: pathlib.Path) -> None:
    """This process answers under ``base`` as user ``ME`` would be answered by the kernel."""
    real_stat, real_lstat, real_read = os.stat, os.lstat, pathlib.Path.read_bytes
    base = os.path.abspath(base)

    def allowed(found, want: int) -> bool:
        shift = 6 if found.st_uid == ME else 3 if found.st_gid in (ME, SHARED) else 0
        return (found.st_mode >> shift) & want == want

    def reached(path) -> bool:  # each folder on the way, below ``base``, may be searched
        path = os.path.abspath(path)
        if not path.startswith(base + os.sep):
            return True
        parent = os.path.dirname(path)
        while parent.startswith(base + os.sep):
            if not allowed(real_stat(parent), 1):
                return False
            parent = os.path.dirname(parent)
        return True

    def denied(path):
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    def fake_stat(path, *args, **kwargs):
        if isinstance(path, (str, os.PathLike)) and not reached(path):
            raise denied(path)
        return real_stat(path, *args, **kwargs)

    def fake_lstat(path, *args, **kwargs):
        if isinstance(path, (str, os.PathLike)) and not reached(path):
            raise denied(path)
        return real_lstat(path, *args, **kwargs)

    def fake_access(path, mode, *args, **kwargs):
        if not os.path.abspath(path).startswith(base + os.sep):
            return True
        try:
            found = fake_stat(path)
        except OSError:
            return False
        want = (4 if mode & os.R_OK else 0) | (2 if mode & os.W_OK else 0) | (
            1 if mode & os.X_OK else 0)
        return allowed(found, want)

    def fake_read(self):
        if os.path.abspath(self).startswith(base + os.sep) and not fake_access(self, os.R_OK):
            raise denied(self)
        return real_read(self)

    monkeypatch.setattr(os, "geteuid", lambda: ME)
    monkeypatch.setattr(os, "getegid", lambda: ME)
    monkeypatch.setattr(os, "getgroups", lambda: [ME, SHARED])
    monkeypatch.setattr(os, "stat", fake_stat)
    monkeypatch.setattr(os, "lstat", fake_lstat)
    monkeypatch.setattr(os, "access", fake_access)
    monkeypatch.setattr(pathlib.Path, "read_bytes", fake_read)


def _give(path, uid: int, mode: int) -> None:
    os.chown(path, uid, SHARED)
    os.chmod(path, mode)


def _image(path, seed=0):
    tifffile.imwrite(path, np.random.default_rng(seed).integers(0, 255, (32, 32), np.uint8))


def _shared_rerun(tmp_path):
    """in/a..e.tif; out/ (group-writable, setgid) holding their outputs: a and b ME's, c and d
    ALICE's under umask 022 (0644: not writable by ME), e ALICE's under 002 (0664: ME may
    replace it)."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    _give(out, 0, 0o2775)
    owners = {"a": (ME, 0o644), "b": (ME, 0o644), "c": (ALICE, 0o644), "d": (ALICE, 0o644),
              "e": (ALICE, 0o664)}
    for name, (uid, mode) in owners.items():
        _image(src / f"{name}.tif")
        _image(out / f"{name}_deblurred.tif", seed=1)
        _give(out / f"{name}_deblurred.tif", uid, mode)
    return src, out


# (1) a rerun over another user's outputs ------------------------------------------------------

def test_a_rerun_says_how_many_skipped_outputs_overwrite_cannot_replace(tmp_path, monkeypatch,
                                                                        capsys):
    src, out = _shared_rerun(tmp_path)
    _as_me(monkeypatch, tmp_path)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{out / 'a_deblurred.tif'}: exists, skipped"  # ME's: as before
    alice = user_name(ALICE)
    # b ME's, e ALICE's but group-writable: --overwrite redoes those; c and d it refuses
    assert lines[1] == (f"{out}: 4 more outputs exist, skipped (--overwrite redoes them); 2 of "
                        f"them are another user's ({alice}), which --overwrite cannot replace")


def test_a_rerun_over_another_users_outputs_only_does_not_advise_overwrite(
        tmp_path, monkeypatch, capsys):
    src, out = _shared_rerun(tmp_path)
    for name in "abe":
        (src / f"{name}.tif").unlink()
    _as_me(monkeypatch, tmp_path)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    lines = capsys.readouterr().out.splitlines()
    alice = user_name(ALICE)
    assert lines[0] == (f"{out / 'c_deblurred.tif'}: exists, skipped; it is another user's "
                        f"({alice}), which --overwrite cannot replace")
    assert lines[1] == (f"{out}: 1 more output exists, skipped; it is another user's "
                        f"({alice}), which --overwrite cannot replace")
    assert "--overwrite redoes" not in "\n".join(lines)


def test_a_cluster_rerun_says_how_many_overwrite_cannot_replace(tmp_path, monkeypatch, capsys):
    """--scheduler's line ('N of M outputs exist'), its workers' records imitated."""
    from napari_microdeblur.core import cluster

    src, out = _shared_rerun(tmp_path)

    def on_cluster(pairs, *, on_record, **_):
        records = [{"input": str(s), "output": str(t), "skipped": True, "notes": []}
                   for s, t in pairs]
        for record in records:
            on_record(record)
        return records

    monkeypatch.setattr(cluster, "deblur_files_on_cluster", on_cluster)
    _as_me(monkeypatch, tmp_path)
    cli.main(["deblur", str(src), "-o", str(out), *WIENER, "--scheduler", "tcp://127.0.0.1:1"])
    said = capsys.readouterr().out
    assert (f"{out}: 5 of 5 outputs exist, skipped (--overwrite redoes them); 2 of them are "
            f"another user's ({user_name(ALICE)}), which --overwrite cannot replace") in said


def test_an_own_output_is_told_by_one_lstat(tmp_path, monkeypatch):
    """A rerun of 10,000 outputs: each of this user's costs one lstat more, no more."""
    from napari_microdeblur.core.atomic_write import kept_reason

    _, out = _shared_rerun(tmp_path)
    _as_me(monkeypatch, tmp_path)
    calls = []
    real = os.lstat
    monkeypatch.setattr(os, "lstat", lambda p, *a, **k: calls.append(p) or real(p, *a, **k))
    monkeypatch.setattr(os, "stat", lambda *a, **k: pytest.fail("stat of an own output"))
    assert kept_reason(out / "a_deblurred.tif") is None
    assert len(calls) == 1


# (2) one output, another user's ---------------------------------------------------------------

def test_one_existing_output_of_another_user_says_why_not_overwrite(tmp_path, monkeypatch,
                                                                    capsys):
    src, out = _shared_rerun(tmp_path)
    _as_me(monkeypatch, tmp_path)
    theirs = out / "c_deblurred.tif"
    assert cli.main(["deblur", str(src / "c.tif"), "-o", str(theirs), *WIENER]) == 2
    err = capsys.readouterr().err
    assert "choose another name or --overwrite" not in err
    assert f"output '{theirs}' exists; it belongs to another user ({user_name(ALICE)})" in err
    assert "not writable by you, so it is kept; save under another name" in err
    # ME's own output, and ALICE's group-writable one, as before
    for mine in ("a", "e"):
        assert cli.main(["deblur", str(src / f"{mine}.tif"), "-o",
                         str(out / f"{mine}_deblurred.tif"), *WIENER]) == 2
        assert "exists; choose another name or --overwrite" in capsys.readouterr().err


def test_export_refuses_another_users_zip_saying_why(tmp_path, monkeypatch):
    from napari_microdeblur.core.atomic_write import OutputExistsError
    from napari_microdeblur.core.export import _checked_target

    folder = tmp_path / "shared"
    folder.mkdir()
    _give(folder, 0, 0o2775)
    theirs = folder / "model.zip"
    theirs.write_bytes(b"PK")
    _give(theirs, ALICE, 0o644)
    _as_me(monkeypatch, tmp_path)
    with pytest.raises(OutputExistsError, match="belongs to another user") as caught:
        _checked_target(theirs, overwrite=False)
    assert "overwrite=True" not in str(caught.value)


# (3) info of another user's 0700 run folder ---------------------------------------------------

def _private_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("last.pt", "last.safetensors", ".microdeblur-run.owner"):
        (run / name).write_bytes(b"x")
        _give(run / name, ALICE, 0o600)
    _give(run, ALICE, 0o2700)
    return run


@pytest.mark.parametrize("given", ["run", "run/last.pt", "run/last.safetensors"])
def test_info_of_another_users_private_run_folder_names_its_owner(tmp_path, monkeypatch, capsys,
                                                                  given):
    _private_run(tmp_path)
    _image(tmp_path / "a.tif")
    monkeypatch.chdir(tmp_path)
    _as_me(monkeypatch, tmp_path)
    assert cli.main(["info", "a.tif", given]) == 2
    said = capsys.readouterr()
    assert "shape (32, 32)" in said.out  # the other file still described
    (line,) = [x for x in said.err.splitlines() if "error" in x]
    alice = user_name(ALICE)
    assert "Errno" not in line
    assert f"a folder of another user ({alice}, drwx--S---) that cannot be read by you" in line
    assert line.startswith(f"microdeblur: error: '{given}': ")
    assert f"ask {alice} to share it" in line


# (4) a checkpoint folder another user's run claimed ---------------------------------------------

def test_a_checkpoint_folder_claimed_by_another_users_run_names_them(tmp_path, monkeypatch):
    folder = tmp_path / "ck"
    folder.mkdir()
    _give(folder, ALICE, 0o2775)
    owner = folder / run_paths.OWNER_FILE
    owner.write_bytes(b"othervm 4242 2026-12-28T10:00:00Z\n")  # an earlier release's, 077
    _give(owner, ALICE, 0o600)
    _as_me(monkeypatch, tmp_path)
    alice = user_name(ALICE)
    for claim in (lambda: run_paths.claim_checkpoint_dir(folder),
                  lambda: run_paths.check_checkpoint_dir(folder, resume=False, claim=True)):
        with pytest.raises(ValueError) as caught:
            claim()
        said = str(caught.value)
        assert "other runs are taking it" not in said
        assert f"claimed by another user's run ({alice}, since" in said
        assert f"ask {alice} to remove '{owner}'" in said
    monkeypatch.undo()
    assert owner.read_bytes() == b"othervm 4242 2026-12-28T10:00:00Z\n"  # theirs, kept
    assert [p.name for p in folder.iterdir()] == [run_paths.OWNER_FILE]
