"""Shared folders, review of 3503368 and ac4c683: (1) the 'input changed' lines advised
--overwrite for outputs it keeps (another user's, read-only ones, a link to a read-only file);
(2) ``kept_reason`` looked at a link itself where --overwrite follows it, and counted a folder
as redone; (3) without owners (Windows) it missed read-only files; (4) an unreadable claim of
one's own was 'you remove', and without owners 'another user's run (uid 0)'; (5) ``kept_owner``
was dead code; (6) `info` advised g+rX for a folder whose group the reader is not in.

As in ``test_facility_2026_12_28``: root hands files to their users and answers as the kernel
would for user ``ME`` (groups ``ME`` and ``SHARED``)."""

from __future__ import annotations

import os

import pytest
from test_facility_2026_12_28 import (
    ALICE,
    ME,
    SHARED,
    WIENER,
    _as_me,
    _give,
    _image,
    _private_run,
)

from napari_microdeblur import cli
from napari_microdeblur.core import atomic_write, run_paths
from napari_microdeblur.core.atomic_write import READ_ONLY, check_target, kept_reason
from napari_microdeblur.core.claims import user_name
from napari_microdeblur.core.io_write import check_output_path

pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="hands files to other uids: needs root")

HOUR = 3600
OUT = "_deblurred.tif"


def _layout(tmp_path):
    """out/ (group-writable, setgid) holding, as NAME_deblurred.tif (the output of in/NAME.tif),
    what --overwrite meets."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    _give(out, 0, 0o2775)
    _give(elsewhere, ME, 0o755)
    for name, uid, mode in [("mine", ME, 0o644), ("mine_ro", ME, 0o444), ("mine_gw", ME, 0o464),
                            ("alice", ALICE, 0o644), ("alice_gw", ALICE, 0o664),
                            ("alice_ro", ALICE, 0o444)]:
        _image(out / f"{name}{OUT}")
        _give(out / f"{name}{OUT}", uid, mode)
    for name, uid, mode in [("ro_target", ME, 0o444), ("alice_target", ALICE, 0o644)]:
        _image(elsewhere / f"{name}.tif")
        _give(elsewhere / f"{name}.tif", uid, mode)
    links = {"link_ro": "ro_target", "link_alice": "alice_target"}
    for link, target in links.items():
        (out / f"{link}{OUT}").symlink_to(elsewhere / f"{target}.tif")
        os.lchown(out / f"{link}{OUT}", ME, SHARED)
    (out / f"alices_link{OUT}").symlink_to(elsewhere / "ro_target.tif")
    os.lchown(out / f"alices_link{OUT}", ALICE, SHARED)
    (out / f"folder{OUT}").mkdir()
    (out / f"dir_link{OUT}").symlink_to(elsewhere)
    (out / f"dangling{OUT}").symlink_to(elsewhere / "gone.tif")
    return out


def _overwrite_keeps(path) -> bool:
    """Whether --overwrite refuses ``path``, before any work (what a deblur checks)."""
    try:
        check_output_path(path, overwrite=True)
        check_target(path)
    except (OSError, ValueError):
        return True
    return False


def test_kept_reason_agrees_with_what_overwrite_does(tmp_path, monkeypatch):
    out = _layout(tmp_path)
    _as_me(monkeypatch, tmp_path)
    alice = user_name(ALICE)
    expected = {"mine": None, "mine_ro": READ_ONLY, "mine_gw": READ_ONLY, "alice": alice,
                "alice_gw": None, "alice_ro": alice, "link_ro": READ_ONLY, "link_alice": None,
                "alices_link": READ_ONLY, "folder": atomic_write.FOLDER,
                "dir_link": atomic_write.FOLDER, "dangling": None}
    for name, reason in expected.items():
        path = out / f"{name}{OUT}"
        assert kept_reason(path) == reason, name
        assert _overwrite_keeps(path) == (reason is not None), name


def test_a_link_costs_one_stat_more_and_an_own_file_one_lstat(tmp_path, monkeypatch):
    out = _layout(tmp_path)
    _as_me(monkeypatch, tmp_path)
    calls = []
    real_lstat, real_stat = os.lstat, os.stat
    monkeypatch.setattr(os, "lstat", lambda p, *a, **k: calls.append("l") or real_lstat(p))
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: calls.append("s") or real_stat(p))
    assert kept_reason(out / f"mine{OUT}") is None
    assert calls == ["l"]
    calls.clear()
    assert kept_reason(out / f"link_ro{OUT}") is READ_ONLY
    assert calls == ["l", "s"]


def test_a_zarr_store_at_an_output_is_replaced_not_kept(tmp_path):
    store = tmp_path / "out.zarr"
    store.mkdir()
    assert kept_reason(store) is None
    assert kept_reason(tmp_path) is atomic_write.FOLDER


def test_a_rerun_counts_a_link_to_a_read_only_file_and_a_folder_as_kept(tmp_path, monkeypatch,
                                                                        capsys):
    src, out = tmp_path / "in", _layout(tmp_path)
    src.mkdir()
    for name in ("mine", "link_ro", "folder", "mine_ro"):
        _image(src / f"{name}.tif")
    _as_me(monkeypatch, tmp_path)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (f"{out / ('folder' + OUT)}: exists, skipped; it is a folder, which "
                        "--overwrite does not replace (move it away to redo it)")
    assert lines[1] == (f"{out}: 3 more outputs exist, skipped (--overwrite redoes them); 2 of "
                        "them are read-only, which --overwrite keeps (chmod u+w to redo them)")


def test_one_link_to_a_read_only_file_says_overwrite_keeps_it(tmp_path, monkeypatch, capsys):
    out = _layout(tmp_path)
    _image(tmp_path / "a.tif")
    _as_me(monkeypatch, tmp_path)
    assert cli.main(["deblur", str(tmp_path / "a.tif"), "-o", str(out / f"link_ro{OUT}"),
                     *WIENER]) == 2
    err = capsys.readouterr().err
    assert "choose another name or --overwrite" not in err
    assert "exists; it is read-only, so even --overwrite keeps it; save under another" in err


def test_without_owners_a_read_only_file_is_still_kept(tmp_path, monkeypatch):
    """Windows: no os.geteuid, but check_target refuses a read-only file all the same."""
    (tmp_path / "ro.tif").write_bytes(b"x")
    os.chmod(tmp_path / "ro.tif", 0o444)
    (tmp_path / "rw.tif").write_bytes(b"x")
    monkeypatch.delattr(os, "geteuid")
    assert kept_reason(tmp_path / "ro.tif") is READ_ONLY
    assert kept_reason(tmp_path / "rw.tif") is None
    assert _overwrite_keeps(tmp_path / "ro.tif")


# (1) the 'input changed' lines ------------------------------------------------------------------

def test_the_input_changed_lines_tell_apart_outputs_overwrite_keeps(tmp_path, monkeypatch,
                                                                    capsys):
    src, out = tmp_path / "in", _layout(tmp_path)
    src.mkdir()
    for name in ("alice", "link_ro", "mine", "mine_ro"):
        _image(src / f"{name}.tif", seed=3)
        later = os.stat(out / f"{name}{OUT}").st_mtime + HOUR  # modified after its output
        os.utime(src / f"{name}.tif", (later, later))
    _as_me(monkeypatch, tmp_path)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    err = capsys.readouterr().err
    alice = user_name(ALICE)
    assert (f"alice.tif: input changed since '{out / ('alice' + OUT)}' was written (modified "
            f"after it); it is another user's ({alice}), which --overwrite cannot replace") in err
    assert (f"mine.tif: input changed since '{out / ('mine' + OUT)}' was written (modified after "
            "it): give --overwrite to redo it") in err
    assert (f"mine_ro.tif: input changed since '{out / ('mine_ro' + OUT)}' was written (modified "
            "after it); it is read-only, which --overwrite keeps (chmod u+w to redo it)") in err
    assert err.strip().splitlines()[-1].endswith(
        "the input of 4 skipped outputs (alice.tif and others) changed since they were written "
        f"(--overwrite redoes them); 1 of them is another user's ({alice}), which --overwrite "
        "cannot replace; 2 of them are read-only, which --overwrite keeps (chmod u+w to redo "
        "them)")


# (4) an unreadable claim's words ----------------------------------------------------------------

def _unreadable_claim(tmp_path, uid):
    folder = tmp_path / "ck"
    folder.mkdir()
    _give(folder, uid, 0o2775)
    owner = folder / run_paths.OWNER_FILE
    owner.write_bytes(b"othervm 4242 2026-12-28T10:00:00Z\n")
    _give(owner, uid, 0o200)  # not readable by its own user either
    return folder, owner


def test_an_own_unreadable_claim_says_remove_it(tmp_path, monkeypatch):
    folder, owner = _unreadable_claim(tmp_path, ME)
    _as_me(monkeypatch, tmp_path)
    with pytest.raises(ValueError) as caught:
        run_paths.claim_checkpoint_dir(folder)
    said = str(caught.value)
    assert "claimed by a run of yours (since" in said
    assert said.endswith(f"if that run is over, remove '{owner}'")


def test_without_owners_an_unreadable_claim_names_no_user(tmp_path, monkeypatch):
    folder, owner = _unreadable_claim(tmp_path, ALICE)
    _as_me(monkeypatch, tmp_path)
    monkeypatch.delattr(os, "geteuid")
    with pytest.raises(ValueError) as caught:
        run_paths.claim_checkpoint_dir(folder)
    said = str(caught.value)
    assert "another user" not in said and user_name(ALICE) not in said
    assert "claimed by a run (since" in said
    assert said.endswith(f"if that run is over, remove '{owner}'")


# (5) kept_owner --------------------------------------------------------------------------------

def test_kept_owner_is_gone():
    """Used by tests alone once kept_reason answered the owner's name itself."""
    assert not hasattr(atomic_write, "kept_owner")


# (6) info of a private folder whose group the reader is not in ----------------------------------

def test_info_does_not_advise_g_rx_for_a_group_the_reader_is_not_in(tmp_path, monkeypatch,
                                                                   capsys):
    run = _private_run(tmp_path)
    os.chown(run, ALICE, 4000)  # ALICE's own group, say: not ME's
    os.chmod(run, 0o2700)
    monkeypatch.chdir(tmp_path)
    _as_me(monkeypatch, tmp_path)
    assert cli.main(["info", "run"]) == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if "error" in x]
    assert "share it with your group" not in line
    assert "is not one of yours" in line
    assert f"ask {user_name(ALICE)} to copy it where you can read it" in line
    assert "chgrp -R GROUP 'run'; chmod -R g+rX 'run'" in line
