"""A walkthrough of `focus`/`deblur --focus-below` on a folder of EM tiles with subfolders:
`focus FOLDER` left the subfolders out without a word and had no -r; a glob's folders were
each an error; a folder of .mrc files only said 'is a directory' (focus and info); deblur
--focus-below auto of single-plane files failed each file alone; the --json line said
'plane', which --focus-unit does not take; info left out the camera offset of a selective
deblur."""

import json

import numpy as np
import tifffile
from scipy.ndimage import gaussian_filter

from napari_microdeblur.cli import EXIT_ERROR, main

WIENER = ["--method", "wiener", "--psf", "gaussian:1", "--balance", "0.05", "--device", "cpu"]


def _plane(path, seed=0, blur=0.0):
    rng = np.random.default_rng(seed)
    plane = gaussian_filter(rng.random((48, 48)) * 200, 1.0 + blur)
    tifffile.imwrite(path, plane.astype(np.uint8))
    return path


def _stack(path, soft=(1,)):
    planes = [gaussian_filter(np.random.default_rng(z).random((48, 48)) * 200, 1.0)
              for z in range(4)]
    for z in soft:
        planes[z] = gaussian_filter(planes[z], 3.0)
    tifffile.imwrite(path, np.stack(planes).astype(np.uint8), imagej=True,
                     metadata={"axes": "ZYX"})
    return path


def _tree(tmp_path):
    """tiles/a.tif, tiles/secA/b.tif, tiles/secB/deep/c.tif."""
    root = tmp_path / "tiles"
    (root / "secA").mkdir(parents=True)
    (root / "secB" / "deep").mkdir(parents=True)
    _plane(root / "a.tif", 0)
    _plane(root / "secA" / "b.tif", 1)
    _plane(root / "secB" / "deep" / "c.tif", 2)
    return root


def _files(out: str) -> list[str]:
    return sorted(o["file"].rsplit("/", 1)[-1] for o in json.loads(out))


def test_focus_of_a_folder_says_its_subfolders_and_r_scores_them(tmp_path, capsys):
    root = _tree(tmp_path)
    _plane(root / "a2.tif", 3)
    assert main(["focus", str(root), "--json"]) == 0
    captured = capsys.readouterr()
    assert _files(captured.out) == ["a.tif", "a2.tif"]
    assert "images in subfolders of" in captured.err and "are left out (1 image file " \
        "directly in them, deeper ones not counted): -r/--recursive" in captured.err
    assert main(["focus", str(root), "-r", "--json"]) == 0
    captured = capsys.readouterr()
    assert _files(captured.out) == ["a.tif", "a2.tif", "b.tif", "c.tif"]
    assert "left out" not in captured.err


def test_focus_of_a_folder_of_subfolders_only_says_r(tmp_path, capsys):
    root = _tree(tmp_path)
    (root / "a.tif").unlink()
    assert main(["focus", str(root)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "holds no image file itself, but its subfolders do" in err and "-r/--recursive" in err
    assert "is a directory" not in err


def test_a_globs_folders_are_skipped_not_errors(tmp_path, capsys):
    root = _tree(tmp_path)
    assert main(["focus", str(root / "**" / "*"), "--json"]) == 0
    captured = capsys.readouterr()
    assert _files(captured.out) == ["a.tif", "b.tif", "c.tif"]
    assert "is a directory" not in captured.err


def test_focus_and_info_of_a_folder_of_mrc_name_them(tmp_path, capsys):
    em = tmp_path / "em"
    em.mkdir()
    (em / "t0.mrc").write_bytes(b"not read")
    (em / "t1.h5").write_bytes(b"not read")
    good = _plane(tmp_path / "good.tif")
    for command in (["focus", str(em)], ["focus", str(em), str(good)], ["info", str(em)]):
        assert main(command) == EXIT_ERROR
        err = capsys.readouterr().err
        assert "is a directory" not in err, command
        assert "holds no image file" in err and ".mrc file" in err and ".h5 file" in err, command


def test_auto_of_single_planes_is_refused_before_any_work(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i in range(3):
        _plane(src / f"t{i}.tif", i, blur=i)
    assert main(["deblur", str(src), "-o", str(out), "--focus-below", "auto", *WIENER]) \
        == EXIT_ERROR
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "all 3 images of" in lines[0] and "single planes" in lines[0]
    assert "--focus-unit tile" in lines[0] and "microdeblur focus" in lines[0]
    assert list(out.iterdir()) == []


def test_auto_of_a_folder_with_a_stack_is_not_refused(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    _plane(src / "a.tif")
    _stack(src / "b.tif")
    assert main(["deblur", str(src), "-o", str(out), "--focus-below", "auto", "-q",
                 *WIENER]) == EXIT_ERROR  # a.tif fails alone; b.tif is deblurred
    err = capsys.readouterr().err
    assert "a.tif is a single plane" in err and "images of" not in err
    assert (out / "b_deblurred.tif").exists()


def test_json_focus_unit_of_a_single_plane_is_the_options_word(tmp_path, capsys):
    src = _plane(tmp_path / "a.tif")
    assert main(["deblur", str(src), "-o", str(tmp_path / "o.tif"), "--focus-below", "1",
                 "--json", "-q", *WIENER]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["focus_unit"] == "slice" and line["units"] == 1


def test_info_says_the_camera_offset_of_a_selective_deblur(tmp_path, capsys):
    plane, stack = _plane(tmp_path / "a.tif"), _stack(tmp_path / "s.tif")
    for src, name in ((plane, "oa.tif"), (stack, "os.tif")):
        assert main(["deblur", str(src), "-o", str(tmp_path / name), "--focus-below", "1",
                     "--camera-offset", "5", "-q", *WIENER]) == 0
        capsys.readouterr()
        assert main(["info", str(tmp_path / name)]) == 0
        focus = [s for s in capsys.readouterr().out.splitlines() if "focus:" in s]
        assert len(focus) == 1 and "(from --focus-below, camera offset 5)" in focus[0], focus
    assert main(["deblur", str(stack), "-o", str(tmp_path / "o0.tif"), "--focus-below", "1",
                 "-q", *WIENER]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "o0.tif")]) == 0
    assert "camera offset" not in capsys.readouterr().out
