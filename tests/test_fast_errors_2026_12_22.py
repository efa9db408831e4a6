"""`train`, `finetune` (pairs and --self) and `evaluate` say a missing input, an output or
checkpoint folder that is a file, --minutes 0, a bad --self PSF, a missing --weights file or
--self without --psf before torch's import (3-8 s of every such error on this CPU), in the
words they said them in before; as tests/test_cli_fast_errors_2026_12_20.py does for deblur.
train's missing --sharp/--blurry is still said after its regime options, --config and
--weights (which import torch): tests/test_train_cards_2026_12_09.py and others pin that."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

OUT = ["--out", "o.safetensors"]
TRAIN = ["train", "--arch", "gran", *OUT]
TUNE = ["finetune", "--weights", "gran.fluo_v1", *OUT]
PAIRS = [*TUNE, "--blurry", "in.tif", "--sharp", "in2.tif"]
SELF = [*TUNE, "--self", "in.tif", "--psf", "gaussian:1.5"]
MISSING = "input file 'nope.tif' does not exist"
NO_WEIGHTS = ("no weights file 'nope.safetensors': no such file; check the name and the folder "
              "(relative to {cwd})")
IN_A_FILE = "--out 'afile/o.safetensors': 'afile' is a file, not a folder"
CKDIR = "--checkpoint-dir 'afile' is a file; give a folder"
NO_PSF = ("--self needs --psf (a TIFF, gaussian:SIGMA, widefield:..., confocal:... or estimate): "
          "the adaptation re-blurs its output with that PSF")
BAD_PSF = ("--psf spec 'gaussian:x' is not understood; accepted: 'gaussian:SIGMA' (e.g. "
           "'gaussian:1.6'), 'gaussian:SIGMA_Y,SIGMA_X' (e.g. 'gaussian:2.0,1.0'), 'disk:RADIUS' "
           "(e.g. 'disk:3'), 'astig:SIGMA_MAJOR,SIGMA_MINOR,ANGLE_DEG' (e.g. 'astig:2.5,0.8,30'), "
           "'widefield:na=1.4,wavelength=0.52,pixel=0.065' or 'confocal:na=1.4,wavelength=0.52,"
           "pixel=0.065' (optional keys: ni, ns, depth, defocus, size, nz, dz; confocal also "
           "excitation_wavelength, pinhole), or a path to a .tif/.tiff")

#: (argv, the error line as the command said it after importing torch)
EARLY = [
    (["train", "--arch", "gran", "--out", "afile/o.safetensors", "--sharp", "in.tif"], IN_A_FILE),
    ([*TRAIN, "--sharp", "in.tif", "--checkpoint-dir", "afile"], CKDIR),
    ([*TRAIN, "--sharp", "in.tif", "--resume", "--checkpoint-dir", "empty"],
     "--checkpoint-dir 'empty': no last.pt to resume from; give the folder of an earlier run"),
    ([*TRAIN, "--sharp", "in.tif", "--minutes", "0"],
     "--minutes 0.0: give a time limit > 0 minutes"),
    ([*TRAIN, "--sharp", "in.tif", "--minutes", "-1"],
     "--minutes -1.0: give a time limit > 0 minutes"),
    ([*TRAIN, "--sharp", "in.tif", "--weights", "nope.safetensors"],
     f"--weights 'nope.safetensors': {NO_WEIGHTS}"),
    ([*TRAIN, "--sharp", "in.tif", "--device", "gpu"],
     "--device 'gpu' is not one of 'auto', 'cpu', 'cuda', 'cuda:N' (N from 0), 'mps'"),
    ([*TUNE, "--blurry", "nope.tif", "--sharp", "in2.tif"], MISSING),
    ([*TUNE, "--blurry", "in.tif", "--sharp", "nope.tif"], MISSING),
    ([*TUNE, "--stack", "nope.tif"], MISSING),
    (["finetune", "--weights", "gran.fluo_v1", "--out", "afile/o.safetensors", "--blurry",
      "in.tif", "--sharp", "in2.tif"], IN_A_FILE),
    ([*PAIRS, "--checkpoint-dir", "afile"], CKDIR),
    ([*PAIRS, "--minutes", "0"], "--minutes 0.0: give a time limit > 0 minutes"),
    ([*PAIRS, "--minutes", "-2"], "--minutes -2.0: give a time limit > 0 minutes"),
    (["finetune", "--weights", "nope.safetensors", *OUT, "--blurry", "in.tif", "--sharp",
      "in2.tif"], NO_WEIGHTS),
    (["finetune", "--weights", "sub", *OUT, "--stack", "in.tif"],
     "sub: is a folder, not a weights file; give the .safetensors, .pt/.pth or .zip file "
     "inside it"),
    ([*TUNE, "--self", "nope.tif", "--psf", "gaussian:1.5"], MISSING),
    ([*TUNE, "--self", "zz*.tif", "--psf", "gaussian:1.5"],
     "input pattern 'zz*.tif' matches no file"),
    ([*TUNE, "--self", "in.tif"], NO_PSF),
    ([*TUNE, "--self", "in.tif", "--psf", "gaussian:x"], BAD_PSF),
    ([*SELF, "--minutes", "0"], "--minutes 0.0: give a time limit > 0 minutes"),
    ([*SELF, "--checkpoint-dir", "afile"], CKDIR),
    (["finetune", "--weights", "gran.fluo_v1", "--out", "afile/o.safetensors", "--self",
      "in.tif", "--psf", "gaussian:1.5"], IN_A_FILE),
    (["finetune", "--weights", "nope.safetensors", *OUT, "--self", "in.tif", "--psf",
      "gaussian:1.5"], NO_WEIGHTS),
    (["evaluate", "nope.tif", "--reference", "in.tif"], MISSING),
    (["evaluate", "nofolder", "--reference", "refs"], "input file 'nofolder' does not exist"),
    (["evaluate", "empty", "--reference", "refs"],
     "input directory 'empty' holds no image file"),
    (["evaluate", "in.tif", "--reference", "empty"],
     "--reference: input directory 'empty' holds no image file"),
]


def test_training_and_evaluate_errors_come_before_torch_is_imported(tmp_path):
    """One process runs each command in turn: each exits 2 with its line, torch not imported;
    before, each imported torch (and the training code) first."""
    rng = np.random.default_rng(0)
    for name in ("in.tif", "in2.tif", "refs/in.tif"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        tifffile.imwrite(tmp_path / name, rng.integers(0, 255, (32, 32), dtype=np.uint8))
    (tmp_path / "afile").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "empty").mkdir()
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
        line = words.format(cwd=tmp_path)
        assert (rc, err) == (2, f"microdeblur: error: {line}\n"), argv
        assert not torch_loaded, argv
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "empty", "in.tif", "in2.tif",
                                                          "refs", "sub"]


def test_a_near_bundled_name_is_said_with_the_bundled_list_before_torch(tmp_path):
    """--weights gran.fluo_v (no file, no bundled name): the bundled names listed, as
    checkpoint.load_model lists them, without its import."""
    code = ("import sys\n"
            "from napari_microdeblur.cli import main\n"
            "rc = main(['finetune', '--weights', 'gran.fluo_v', '--out', 'o.safetensors', "
            "'--stack', 'nope.tif'])\n"
            "print(rc, 'torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    from napari_microdeblur.core.bundled_table import BUNDLED_WEIGHTS

    assert done.stdout == "2 False\n"
    assert done.stderr == ("microdeblur: error: no weights file 'gran.fluo_v' and no bundled "
                           f"weights of that name (bundled: {sorted(BUNDLED_WEIGHTS)})\n")


def _said(checks, *args, **kwargs) -> list[str]:
    said = []
    for check in checks:
        with pytest.raises((ValueError, OSError)) as caught:
            check(*args, **kwargs)
        said.append(str(caught.value))
    return said


def test_the_moved_checks_say_what_the_training_code_says(tmp_path):
    """core.run_paths holds the checks torch-free; the training code (core.training
    .checkpoints, core.files, core.checkpoint) takes them from there (one rule, no copy) and
    says the same."""
    from napari_microdeblur.core import checkpoint, files, run_paths
    from napari_microdeblur.core.training import checkpoints

    assert checkpoints.check_checkpoint_dir is run_paths.check_checkpoint_dir
    assert checkpoints.checked_temporary_folder is run_paths.checked_temporary_folder
    assert files.check_weights_output is run_paths.check_weights_output

    (tmp_path / "file").write_text("x")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(b"")
    checks = (run_paths.check_checkpoint_dir, checkpoints.check_checkpoint_dir)
    for folder, resume in (("file", False), ("file/ck", False), ("missing/ck", False),
                           ("run", False), ("new", True)):
        first, second = _said(checks, tmp_path / folder, resume=resume)
        assert first == second, folder
    assert not (tmp_path / "new").exists()
    checks = (run_paths.missing_weights, checkpoint._weights_path)
    for name in ("nope.safetensors", "gran.nope", "file/", str(tmp_path)):
        first, second = _said(checks, name, ["gran.em_v1"])
        assert first == second, name
    checks = (run_paths.check_weights_output, files.check_weights_output)
    for out, starting in (("file/o.safetensors", None), ("o.tif", None), ("file", "file")):
        first, second = _said(checks, tmp_path / out, overwrite=False,
                              starting=starting and tmp_path / starting)
        assert first == second, out
