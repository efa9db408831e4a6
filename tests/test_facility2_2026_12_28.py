"""Shared folders, continued (walkthrough 2026-12-28, two real uids under setpriv): three lines
still advised --overwrite of files it keeps. (1) A rerun's warning 'N skipped outputs hold no
record of their settings ...: pass --overwrite to redo them' (and its 'made with other
settings' sibling) counted another user's outputs this user may not replace. (2)
``save_weights(..., overwrite=False)`` onto another user's file said 'choose another name or
overwrite=True', where overwrite=True is refused too. (3) This user's own read-only outputs
(chmod a-w) were counted under '--overwrite redoes them': a rerun with --overwrite failed each
('the file is read-only'), leaving them as they were.

The users are imitated as in ``test_facility_2026_12_28``: files handed to their uids with
``os.chown``, this process answering as the kernel would for user ``ME``."""

from __future__ import annotations

import os

import pytest
from test_facility_2026_12_28 import ALICE, ME, WIENER, _as_me, _give, _image, _shared_rerun

from napari_microdeblur import cli
from napari_microdeblur.core.claims import user_name

pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="hands files to other uids: needs root")


def _warning(err: str, words: str) -> str:
    (line,) = [x for x in err.splitlines() if words in x]
    return line


# (1) the 'hold no record' and 'other settings' warnings ----------------------------------------

def test_the_no_record_warning_tells_another_users_outputs_apart(tmp_path, monkeypatch, capsys):
    src, out = _shared_rerun(tmp_path)  # tifffile's outputs: no record of their settings
    _as_me(monkeypatch, tmp_path)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    line = _warning(capsys.readouterr().err, "hold no record")
    assert "pass --overwrite to redo them" not in line
    assert line.endswith("not compared with this run's (--overwrite redoes them); 2 of them are "
                         f"another user's ({user_name(ALICE)}), which --overwrite cannot replace")


def test_the_no_record_warning_of_another_users_outputs_only_advises_no_overwrite(
        tmp_path, monkeypatch, capsys):
    src, out = _shared_rerun(tmp_path)
    for name in "abe":
        (src / f"{name}.tif").unlink()
    _as_me(monkeypatch, tmp_path)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    line = _warning(capsys.readouterr().err, "hold no record")
    assert line.endswith(f"this run's; they are another user's ({user_name(ALICE)}), which "
                         "--overwrite cannot replace")
    assert "--overwrite redoes" not in line and "pass --overwrite" not in line


def test_the_other_settings_warning_tells_another_users_outputs_apart(tmp_path, monkeypatch,
                                                                      capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    _give(out, 0, 0o2775)
    for name in "abc":
        _image(src / f"{name}.tif")
    other = [*WIENER[:3], "gaussian:1.0", *WIENER[4:]]  # the same but the PSF
    assert cli.main(["deblur", str(src), "-o", str(out), *other, "-q"]) == 0
    for name, uid in (("a", ME), ("b", ALICE), ("c", ALICE)):
        _give(out / f"{name}_deblurred.tif", uid, 0o644)
    capsys.readouterr()
    _as_me(monkeypatch, tmp_path)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    line = _warning(capsys.readouterr().err, "made with other settings")
    assert "pass --overwrite" not in line
    assert line.endswith(f"and others) (--overwrite redoes them); 2 of them are another user's "
                         f"({user_name(ALICE)}), which --overwrite cannot replace")


def test_the_warnings_advise_overwrite_as_before_where_it_redoes_them_all(tmp_path, monkeypatch,
                                                                          capsys):
    src, out = _shared_rerun(tmp_path)
    for name in "cd":  # ALICE's not replaceable ones gone: ME's and ALICE's 0664 one
        (src / f"{name}.tif").unlink()
    _as_me(monkeypatch, tmp_path)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    captured = capsys.readouterr()
    assert _warning(captured.err, "hold no record").endswith(
        "not compared with this run's: pass --overwrite to redo them")
    assert captured.out.splitlines()[1] == (f"{out}: 2 more outputs exist, skipped "
                                            "(--overwrite redoes them)")


# (2) save_weights onto another user's file -----------------------------------------------------

def test_save_weights_refuses_another_users_file_saying_why(tmp_path, monkeypatch):
    import torch

    from napari_microdeblur.core import registry
    from napari_microdeblur.core.atomic_write import OutputExistsError
    from napari_microdeblur.core.checkpoint import save_weights

    folder = tmp_path / "shared"
    folder.mkdir()
    _give(folder, 0, 0o2775)
    theirs, mine = folder / "theirs.safetensors", folder / "mine.safetensors"
    for path, uid in ((theirs, ALICE), (mine, ME)):
        path.write_bytes(b"x")
        _give(path, uid, 0o644)
    torch.manual_seed(0)
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    card = {"license": "BSD-3-Clause", "training_data": "none (test)"}
    _as_me(monkeypatch, tmp_path)
    with pytest.raises(OutputExistsError) as caught:  # the type write_kept catches, as before
        save_weights(model, theirs, card, overwrite=False)
    said = str(caught.value)
    assert "overwrite=True" not in said
    assert f"exists; it belongs to another user ({user_name(ALICE)}) and is not writable" in said
    with pytest.raises(OutputExistsError, match="exists; choose another name or overwrite=True"):
        save_weights(model, mine, card, overwrite=False)
    monkeypatch.undo()
    assert theirs.read_bytes() == mine.read_bytes() == b"x"


# (3) this user's own read-only outputs ---------------------------------------------------------

def test_a_rerun_counts_own_read_only_outputs_that_overwrite_keeps(tmp_path, monkeypatch, capsys):
    src, out = _shared_rerun(tmp_path)
    for name in "ab":  # ME's, marked read-only (chmod a-w)
        os.chmod(out / f"{name}_deblurred.tif", 0o444)
    _as_me(monkeypatch, tmp_path)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (f"{out / 'a_deblurred.tif'}: exists, skipped; it is read-only, which "
                        "--overwrite keeps (chmod u+w to redo it)")
    # b read-only, c and d ALICE's; e ALICE's but group-writable: --overwrite redoes it
    assert lines[1] == (f"{out}: 4 more outputs exist, skipped (--overwrite redoes them); 2 of "
                        f"them are another user's ({user_name(ALICE)}), which --overwrite cannot "
                        "replace; 1 of them is read-only, which --overwrite keeps (chmod u+w to "
                        "redo it)")
    # what the line says: --overwrite redoes e alone, and keeps the read-only ones as they were
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER, "--overwrite", "-q"]) == 2
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix == ".tif"}
    assert [n for n in sorted(before) if before[n] != after[n]] == ["e_deblurred.tif"]


def test_a_rerun_over_own_read_only_outputs_only_does_not_advise_overwrite(tmp_path,
                                                                           monkeypatch, capsys):
    src, out = _shared_rerun(tmp_path)
    for name in "cde":
        (src / f"{name}.tif").unlink()
    for name in "ab":
        os.chmod(out / f"{name}_deblurred.tif", 0o464)  # the group's bit does not count for ME
    _as_me(monkeypatch, tmp_path)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (f"{out}: 1 more output exists, skipped; it is read-only, which "
                        "--overwrite keeps (chmod u+w to redo it)")


def test_kept_words_of_read_only_and_another_users_outputs():
    from napari_microdeblur.cli_batch_lines import kept_words
    from napari_microdeblur.core.atomic_write import READ_ONLY

    assert kept_words(3, {READ_ONLY: 3}) == ("; they are read-only, which --overwrite keeps "
                                             "(chmod u+w to redo them)")
    assert kept_words(3, {"alice": 1, READ_ONLY: 2}) == (
        "; 1 of them is another user's (alice), which --overwrite cannot replace; 2 of them are "
        "read-only, which --overwrite keeps (chmod u+w to redo them)")
    assert kept_words(3, {}) == " (--overwrite redoes them)"


def test_an_own_read_only_output_is_told_by_one_lstat(tmp_path, monkeypatch):
    from napari_microdeblur.core.atomic_write import READ_ONLY, kept_reason

    _, out = _shared_rerun(tmp_path)
    os.chmod(out / "a_deblurred.tif", 0o444)
    _as_me(monkeypatch, tmp_path)
    calls = []
    real = os.lstat
    monkeypatch.setattr(os, "lstat", lambda p, *a, **k: calls.append(p) or real(p, *a, **k))
    monkeypatch.setattr(os, "stat", lambda *a, **k: pytest.fail("stat of an own output"))
    assert kept_reason(out / "a_deblurred.tif") is READ_ONLY
    assert kept_reason(out / "b_deblurred.tif") is None
    assert len(calls) == 2
    assert not isinstance(kept_reason(out / "a_deblurred.tif"), str)  # not another user's
