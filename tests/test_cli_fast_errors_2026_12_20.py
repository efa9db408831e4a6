"""CLI errors said before torch's import (they took 2-5 s), and clearer words for five more:
evaluate's missing --reference, finetune --self with pairs, --overlap against the default
tile, and --iterations past the cap."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main

#: (argv, the error line's words, as they were before the checks moved ahead of torch)
EARLY = [
    (["deblur", "nope.tif", "-o", "o.tif"], "input file 'nope.tif' does not exist"),
    (["deblur", "in.tif", "-o", "o.tif", "--tile", "-64"], "--tile -64 must be >= 1"),
    (["deblur", "in.tif", "-o", "o.tif", "--device", "gpu"],
     "--device 'gpu' is not one of 'auto', 'cpu', 'cuda', 'cuda:N' (N from 0), 'mps'"),
    (["deblur", "in.tif", "-o", "o.tif", "--overlap", "128", "--tile", "64"],
     "--overlap 128 must be smaller than --tile 64"),
    (["deblur", "in.tif", "-o", "there.tif"],
     "output 'there.tif' exists; choose another name or --overwrite"),
    (["degrade", "nope.tif", "-o", "o.tif", "--protocol", "A"],
     "input file 'nope.tif' does not exist"),
    (["deblur", "in.tif", "-o", "o.tif", "--method", "richardson_lucy", "--psf", "gaussian:1",
      "--iterations", "1001"], None),  # refused only now (test_iterations_past_the_cap...)
]


def test_path_and_option_errors_come_before_torch_is_imported(tmp_path):
    """One process runs each command in turn: each exits 2 with its line, torch not imported
    (1.6-2 s of every error); the earlier order imported it before any check."""
    tifffile.imwrite(tmp_path / "in.tif", np.zeros((16, 16), np.uint8))
    tifffile.imwrite(tmp_path / "there.tif", np.zeros((16, 16), np.uint8))
    code = (
        "import contextlib, io, json, sys\n"
        "from napari_microdeblur.cli import main\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    err = io.StringIO()\n"
        "    with contextlib.redirect_stderr(err):\n"
        "        rc = main(argv)\n"
        "    print(json.dumps([rc, 'torch' in sys.modules, err.getvalue()]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, json.dumps([a for a, _ in EARLY])],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(EARLY)
    for (argv, words), (rc, torch_loaded, err) in zip(EARLY, results, strict=True):
        assert rc == 2 and err.startswith("microdeblur: error: ") and err.count("\n") == 1
        assert words is None or err == f"microdeblur: error: {words}\n", argv
        assert not torch_loaded, argv
    assert not (tmp_path / "o.tif").exists()


def test_the_early_device_check_has_the_words_and_forms_of_the_full_one():
    from napari_microdeblur.core import devices, tiling_spec

    for name in ("gpu", "cuda:x", "CPU ", "cuda:1", "mps:0", "auto"):
        try:
            devices.resolve_device(name)
            full = None
        except ValueError as error:
            full = str(error)
        try:
            tiling_spec.TilingSpec(device=name).check(form_only=True)
            early = None
        except ValueError as error:
            early = str(error)
        # the early check refuses only what the full one refuses, in its words
        assert early is None or early == full, name
    for name in ("CUDA:0", "cpu:0", " CPU ", "mps", "cuda:3"):  # their forms: said later
        tiling_spec.TilingSpec(device=name).check(form_only=True)
    for name in ("gpu", "cuda:x", "cuda0", "tpu"):
        with pytest.raises(ValueError, match=r"is not one of 'auto', 'cpu', 'cuda', 'cuda:N'"):
            tiling_spec.TilingSpec(device=name).check(form_only=True)


def test_evaluate_names_the_missing_reference(tmp_path, capsys, monkeypatch):
    pred = tmp_path / "pred.tif"
    tifffile.imwrite(pred, np.zeros((16, 16), np.float32))
    missing = tmp_path / "nope.tif"
    assert main(["evaluate", str(pred), "--reference", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("microdeblur: error: --reference: input file ")
    assert "nope.tif' does not exist" in err
    monkeypatch.chdir(tmp_path)  # './nope.tif' as typed, said 'nope.tif' by the reader
    assert main(["evaluate", "pred.tif", "--reference", "./nope.tif"]) == 2
    assert capsys.readouterr().err.startswith("microdeblur: error: --reference: input file ")


def test_finetune_self_with_pairs_says_the_conflict_before_asking_for_a_psf(tmp_path, capsys):
    out = str(tmp_path / "o.safetensors")
    for psf in ([], ["--psf", "gaussian:2"]):  # the same line with and without --psf
        code = main(["finetune", "--weights", "gran.fluo_v1", "--blurry", "a.tif", "--sharp",
                     "b.tif", "--self", "c.tif", "--out", out, *psf])
        assert code == 2
        assert capsys.readouterr().err == (
            "microdeblur: error: --self adapts without a reference: leave out --stack, "
            "--blurry and --sharp\n")


def test_overlap_against_the_default_tile_says_no_tile_was_given(tmp_path, capsys):
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, np.random.default_rng(0).random((40, 40), dtype=np.float32))
    out = tmp_path / "out.tif"
    assert main(["deblur", str(src), "-o", str(out), "--method", "richardson_lucy", "--psf",
                 "gaussian:1", "--iterations", "5", "--overlap", "5000"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "microdeblur: error: --overlap 5000 must be smaller than the tile, 40 x 40 px (the "
        "default for 'richardson_lucy': no --tile given); give --overlap below 40, or --tile "
        "larger than the overlap\n")
    assert not out.exists()
    assert main(["deblur", str(src), "-o", str(out), "--method", "richardson_lucy", "--psf",
                 "gaussian:1", "--iterations", "5", "--overlap", "50", "--tile", "32"]) == 2
    assert "--overlap 50 must be smaller than --tile 32\n" in capsys.readouterr().err


def test_iterations_past_the_cap_are_refused_and_the_cap_runs(tmp_path, capsys):
    """100000 were taken without a word (hours on a 2048 x 2048 image); 1000, the Deblur
    dock's largest value, runs."""
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, np.random.default_rng(0).random((24, 24), dtype=np.float32))
    out = tmp_path / "out.tif"
    argv = ["deblur", str(src), "-o", str(out), "--method", "richardson_lucy", "--psf",
            "gaussian:1", "-q", "--iterations"]
    assert main([*argv, "1001"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("microdeblur: error: --iterations 1001 is more than 1000, the most "
                          "taken (as in the Deblur dock)")
    assert "give 1000 or fewer, or 'auto'" in err and not out.exists()
    assert main([*argv, "1000"]) == 0
    assert tifffile.imread(out).shape == (24, 24)
