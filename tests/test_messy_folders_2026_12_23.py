"""Messy folders (2026-12-23): `evaluate` on folders ended at one truncated prediction with
nothing scored (exit 2); a subfolder that could not be read was left out of `deblur -r` and
`focus -r` unsaid; a folder that could not be listed said 'zarr.json: permission denied';
`evaluate` left a folder's subfolder images out unsaid; a `**` glob through a linked loop
listed each file ~40 times. Unreadable folders are simulated (os.scandir / os.stat raising
PermissionError for them): a test run as root reads any folder."""

from __future__ import annotations

import errno
import json
import os
import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.input_files import find_inputs
from napari_microdeblur.core.notes import DeblurWarning


def _image(seed: int, shape=(48, 48)) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def _run(capsys, *argv):
    code = main([*map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _locked(monkeypatch, name: str = "locked") -> None:
    """Folders named ``name`` cannot be listed, nor their entries looked at (as chmod 0 does
    for a user who does not own them)."""
    scandir, stat = os.scandir, os.stat

    def denied(path):
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))

    def fake_scandir(path="."):
        if os.path.basename(os.fspath(path)) == name:
            raise denied(path)
        return scandir(path)

    def fake_stat(path, *args, **kwargs):
        if not isinstance(path, int) and os.path.basename(
                os.path.dirname(os.fspath(path))) == name:
            raise denied(path)
        return stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", fake_scandir)
    monkeypatch.setattr(os, "stat", fake_stat)


@pytest.fixture
def tree(tmp_path):
    """root/a.tif, root/open/b.tif, root/locked/c.tif."""
    root = tmp_path / "root"
    for sub in ("open", "locked"):
        (root / sub).mkdir(parents=True)
    tifffile.imwrite(root / "a.tif", _image(0))
    tifffile.imwrite(root / "open" / "b.tif", _image(1))
    tifffile.imwrite(root / "locked" / "c.tif", _image(2))
    return root


@pytest.mark.parametrize("broken", ["prediction", "reference"])
def test_evaluate_folders_scores_the_rest_when_one_file_cannot_be_read(tmp_path, capsys,
                                                                         broken):
    ref, out = tmp_path / "ref", tmp_path / "out"
    ref.mkdir()
    out.mkdir()
    for seed, stem in enumerate("abc"):
        tifffile.imwrite(ref / f"{stem}.tif", _image(seed, (4, 48, 48)), photometric="minisblack")
        tifffile.imwrite(out / f"{stem}_deblurred.tif", _image(seed, (4, 48, 48)) * 0.9,
                         photometric="minisblack")
    bad = out / "b_deblurred.tif" if broken == "prediction" else ref / "b.tif"
    bad.write_bytes(bad.read_bytes()[:3000])  # cut short, as a copy stopped early
    code, text, err = _run(capsys, "evaluate", out, "--reference", ref)
    assert code == 1, err  # some scored, some not (evaluate --help)
    rows = {line.split()[0]: line for line in text.splitlines() if line[:1] in "abc"}
    assert "not scored" in rows["b.tif"]
    assert "not scored" not in rows["a.tif"] and "not scored" not in rows["c.tif"]
    said = [line for line in err.splitlines() if "b_deblurred.tif" in line]
    assert len(said) == 1 and "not scored" in said[0] and "cannot read" in said[0]
    assert "1 of 3 pairs not scored" in err
    code, text, _ = _run(capsys, "evaluate", out, "--reference", ref, "--json")
    results = {r["reference"][-5:]: r["results"][0] for r in json.loads(text)["files"]}
    assert code == 1 and "error" in results["b.tif"] and "scores" in str(results["a.tif"])


def test_a_subfolder_that_cannot_be_read_is_said_not_left_out_unsaid(tree, monkeypatch):
    _locked(monkeypatch)
    with pytest.warns(DeblurWarning) as said:
        found = find_inputs(tree, recursive=True)
    assert found == [tree / "a.tif", tree / "open" / "b.tif"]
    lines = [str(w.message) for w in said if "cannot be read" in str(w.message)]
    assert len(lines) == 1
    assert str(tree / "locked") in lines[0] and "permission denied" in lines[0]
    assert "\n" not in lines[0]


def test_focus_recursive_says_the_subfolder_it_cannot_read(tree, monkeypatch, capsys):
    _locked(monkeypatch)
    code, text, err = _run(capsys, "focus", tree, "-r")
    assert code == 0 and "b.tif" in text and "c.tif" not in text
    assert "microdeblur: warning: images in subfolders of" in err
    assert "locked" in err and "permission denied" in err


def test_a_folder_that_cannot_be_listed_is_said_in_one_line(tree, monkeypatch, capsys):
    _locked(monkeypatch)
    locked = tree / "locked"
    assert io.is_zarr(locked) is False  # raised EACCES for locked/zarr.json
    with pytest.raises(PermissionError, match="cannot read folder .*locked.*permission denied"):
        find_inputs(locked)
    code, _, err = _run(capsys, "focus", locked)
    assert code != 0 and "zarr.json" not in err
    assert err.strip().splitlines() == [
        f"microdeblur: error: cannot read folder '{locked}': permission denied; give this "
        "user read access to it (e.g. chmod u+rx), or another folder"]
    code, _, err = _run(capsys, "evaluate", tree / "open", "--reference", locked)
    assert code != 0 and "--reference: cannot read folder" in err


def test_a_chmod_0_subfolder_is_said(tree, capsys):
    """The same with a real permission, where it holds (not as root)."""
    locked = tree / "locked"
    locked.chmod(0)
    try:
        try:
            os.listdir(locked)
        except PermissionError:
            pass
        else:
            pytest.skip("permissions are not enforced for this user (root)")
        with pytest.warns(DeblurWarning, match="permission denied"):
            assert find_inputs(tree, recursive=True) == [tree / "a.tif", tree / "open" / "b.tif"]
        with pytest.raises(PermissionError, match="cannot read folder"):
            find_inputs(locked)
    finally:
        locked.chmod(0o755)


def test_evaluate_says_the_images_in_subfolders_it_leaves_out(tmp_path, capsys):
    ref, out = tmp_path / "ref", tmp_path / "out"
    for folder in (ref / "s1", out / "s1"):
        folder.mkdir(parents=True)
    tifffile.imwrite(ref / "b.tif", _image(0))
    tifffile.imwrite(ref / "s1" / "a.tif", _image(1))
    tifffile.imwrite(out / "b_deblurred.tif", _image(0))
    tifffile.imwrite(out / "s1" / "a_deblurred.tif", _image(1))
    code, _, err = _run(capsys, "evaluate", out, "--reference", ref)
    assert code == 0, err
    said = [line for line in err.splitlines() if "images in subfolders of" in line]
    assert len(said) == 2
    assert said[0].startswith(f"microdeblur: warning: --reference: images in subfolders of "
                              f"'{ref}' are left out (1 image file directly in them")
    assert f"'{out}'" in said[1] and "quoted glob" in said[1]


def test_a_glob_through_a_linked_loop_lists_each_file_once(tmp_path):
    root = tmp_path / "messy"
    (root / "sub").mkdir(parents=True)
    tifffile.imwrite(root / "a.tif", _image(0))
    tifffile.imwrite(root / "sub" / "b.tif", _image(1))
    try:
        (root / "loop").symlink_to(root, target_is_directory=True)
        (root / "link.tif").symlink_to(root / "a.tif")
    except (OSError, NotImplementedError):
        pytest.skip("no symbolic links here")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = find_inputs(str(root / "**" / "*.tif"))
    # a linked file of another name is kept, as a folder's listing keeps it
    assert found == [root / "a.tif", root / "link.tif", root / "sub" / "b.tif"]
    assert find_inputs(str(root / "loop" / "*.tif")) == [root / "loop" / "a.tif",
                                                         root / "loop" / "link.tif"]
