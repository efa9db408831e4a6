"""`focus` and `info` say a missing file, a bad focus option or a near-miss bundled name before
torch's import (it took 3+ s to say it), in the words they said it in before; as
tests/test_cli_fast_errors_2026_12_20.py does for deblur."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

NO_RECORD = ("in.tif holds no record of a deblur naming its input and method: no command "
             "remakes it (give an output of microdeblur deblur, psf-from-beads, "
             "psf-from-weights or psf-estimate)")

EMPTY = "input directory 'empty' holds no image file"
NESTED = ("input directory 'nested' holds no image file itself, but its subfolders do (1 image "
          "file directly in them, deeper ones not counted): -r/--recursive scores them")
MRC = ("input directory 'mrc' holds no image file; its 1 .mrc file: MRC files are not read: "
       "convert the image to TIFF or OME-Zarr, e.g. with mrcfile: "
       "tifffile.imwrite('a.tif', mrcfile.read('a.mrc'))")

#: (argv, its stderr lines, its stdout as JSON or None), as said before torch left the path
EARLY = [
    (["focus", "nope.tif"], ["input file 'nope.tif' does not exist"], None),
    (["focus", "-r", "nope"], ["input file 'nope' does not exist"], None),
    (["focus", "--json", "nope.tif", "sub/nope2.tif"],
     ["input file 'nope.tif' does not exist", "input file 'sub/nope2.tif' does not exist"],
     [{"file": "nope.tif", "error": "input file 'nope.tif' does not exist"},
      {"file": "sub/nope2.tif", "error": "input file 'sub/nope2.tif' does not exist"}]),
    (["info", "./nope.tif"], ["'./nope.tif': input file 'nope.tif' does not exist"], None),
    (["info", "--command", "./nope.tif"],
     ["'./nope.tif': input file 'nope.tif' does not exist"], None),
    (["info", "--json", "./nope.tif", "sub/nope2.tif"],
     ["'./nope.tif': input file 'nope.tif' does not exist",
      "input file 'sub/nope2.tif' does not exist"],
     [{"file": "./nope.tif", "error": "'./nope.tif': input file 'nope.tif' does not exist"},
      {"file": "sub/nope2.tif", "error": "input file 'sub/nope2.tif' does not exist"}]),
    # the header alone tells it: core.method (torch) was imported for every info
    (["info", "--command", "./in.tif"], [NO_RECORD], None),
    # the option checks come from core.focus_defaults (core.focus imports torch)
    (["focus", "--tile", "-1", "nope.tif"],
     ["--tile -1 must be at least 8 px (focus scores need it)"], None),
    (["focus", "--camera-offset", "nan", "nope.tif"],
     ["--camera-offset nan must be a finite number >= 0 (the camera's dark level, e.g. 100 "
      "for many sCMOS cameras)"], None),
    # a bare name is looked up in core.bundled_table (core.bundled and core.method: torch)
    (["info", "gran.em_v"], ["input file 'gran.em_v' does not exist (did you mean the bundled "
                             "'gran.em_v1'? `microdeblur methods` lists them)"], None),
    (["info", "nope.tif"], ["input file 'nope.tif' does not exist"], None),
    (["info", "--command", "in.tif"], [NO_RECORD], None),
    # a folder or glob listing no image: core.input_files (core.files imports torch)
    (["focus", "empty"], [EMPTY], None),
    (["info", "empty"], [EMPTY], None),
    (["focus", "nomatch*.tif"], ["input pattern 'nomatch*.tif' matches no file"], None),
    (["info", "nomatch*.tif"], ["input pattern 'nomatch*.tif' matches no file"], None),
    (["focus", "nested"], [NESTED], None),
    (["info", "nested"], ["input directory 'nested' holds no image file itself, but its "
                          "subfolder 'sub' does (1 image file): give that folder"], None),
    (["focus", "nest*"], ["input pattern 'nest*' matches folders only: give a folder (with "
                          "-r/--recursive for its subfolders) or a pattern of image files"], None),
    (["focus", "mrc"], [MRC], None),
    (["focus", "--json", "empty", "nested"], [EMPTY, NESTED],
     [{"file": "empty", "error": EMPTY}, {"file": "nested", "error": NESTED}]),
]


def test_focus_and_info_say_a_missing_file_before_torch_is_imported(tmp_path):
    """One process runs each command in turn: each exits 2 with its lines, torch not
    imported; before, expanding the inputs imported core.files (and torch) first."""
    tifffile.imwrite(tmp_path / "in.tif", np.zeros((16, 16), np.uint8))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    (tmp_path / "nested" / "sub").mkdir(parents=True)
    tifffile.imwrite(tmp_path / "nested" / "sub" / "a.tif", np.zeros((16, 16), np.uint8))
    (tmp_path / "mrc").mkdir()
    (tmp_path / "mrc" / "a.mrc").write_bytes(b"")
    code = (
        "import contextlib, io, json, sys\n"
        "from napari_microdeblur.cli import main\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    out, err = io.StringIO(), io.StringIO()\n"
        "    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):\n"
        "        rc = main(argv)\n"
        "    print(json.dumps([rc, 'torch' in sys.modules, out.getvalue(), err.getvalue()]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, json.dumps([a for a, _, _ in EARLY])],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(EARLY)
    for (argv, lines, listed), (rc, torch_loaded, out, err) in zip(EARLY, results, strict=True):
        assert rc == 2, argv
        assert err == "".join(f"microdeblur: error: {line}\n" for line in lines), argv
        assert (json.loads(out) if listed else out) == (listed or ""), argv
        assert not torch_loaded, argv


def test_scores_and_info_of_a_file_are_as_before(tmp_path, capsys, monkeypatch):
    """The readable file beside a missing one is still scored and described (exit 2)."""
    from napari_microdeblur.cli import main

    tifffile.imwrite(tmp_path / "in.tif", np.zeros((16, 16), np.uint8))
    monkeypatch.chdir(tmp_path)
    assert main(["focus", "nope.tif", "in.tif"]) == 2
    said = capsys.readouterr()
    assert said.err == "microdeblur: error: input file 'nope.tif' does not exist\n"
    assert said.out == "in.tif: focus score 0 blank (no structure)\n"
    assert main(["info", "./in.tif", "./nope.tif"]) == 2
    said = capsys.readouterr()
    assert said.out.startswith("./in.tif:\n  shape (16, 16) uint8, axes YX (guessed)\n")
    assert said.err == ("microdeblur: error: './nope.tif': input file 'nope.tif' does not "
                        "exist\n")


def test_info_of_a_bare_image_name_leaves_torch_out(tmp_path):
    """`info in.tif` (no folder: first looked up among the bundled names) describes the image
    without importing torch; core.bundled was imported for the look-up."""
    tifffile.imwrite(tmp_path / "in.tif", np.zeros((16, 16), np.uint8))
    code = ("import sys\n"
            "from napari_microdeblur.cli import main\n"
            "rc = main(['info', 'in.tif'])\n"
            "print(rc, 'torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("in.tif:\n  shape (16, 16) uint8, axes YX (guessed)\n")
    assert done.stdout.endswith("\n0 False\n")


def test_a_replaced_bundled_table_is_still_the_one_names_are_read_from(monkeypatch):
    """Tests replace core.bundled.BUNDLED_WEIGHTS (core.weights forwards it): the hint, the
    method names and info's look-up follow it, as when they read it there (also passes on the
    old code: it guards the move to core.bundled_table)."""
    from napari_microdeblur.cli_info_weights import weights_kind
    from napari_microdeblur.core import bundled
    from napari_microdeblur.core.method import MethodSpec, bundled_name_hint

    entry = bundled.BUNDLED_WEIGHTS["gran.em_v1"]
    monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS", {"gran.test_v1": entry})
    assert weights_kind("gran.test_v1") == "bundled"
    assert weights_kind("gran.em_v1") is None
    assert bundled_name_hint("gran.test_v", as_method=False) == (
        " (did you mean the bundled 'gran.test_v1'? `microdeblur methods` lists them)")
    MethodSpec(name="gran.test_v1").check()  # a bundled name: known
    with pytest.raises(ValueError, match="bundled name \\(gran.test_v1\\)"):
        MethodSpec(name="gran").check()  # an architecture without weights
