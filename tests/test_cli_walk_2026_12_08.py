"""What a new user met on the command line (walkthrough of 2026-12-08): Ctrl-C and the end
of a fine-tune that kept its starting weights, --resume's first line, Python names in
errors, a closed pipe, several files to focus, a missing output folder, an optics PSF
without pixel=, watch --camera-offset."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.cli_watch import judged_score
from napari_microdeblur.cli_words import in_cli_words
from napari_microdeblur.core import io, registry
from napari_microdeblur.core.checkpoint import read_card, save_weights
from napari_microdeblur.core.training.loop import Trainer


def _texture(seed: int, n: int = 64) -> np.ndarray:
    image = ndimage.gaussian_filter(np.random.default_rng(seed).random((n, n)), 2)
    return ((image - image.min()) / np.ptp(image)).astype(np.float32)


@pytest.fixture
def pair(tmp_path):
    """A blurry/sharp pair and tiny gran weights to fine-tune."""
    sharp = _texture(0)
    tifffile.imwrite(tmp_path / "s.tif", sharp)
    tifffile.imwrite(tmp_path / "b.tif", ndimage.gaussian_filter(sharp, 1.5))
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    save_weights(model, tmp_path / "base.safetensors", {"license": "CC0-1.0"})
    return tmp_path


def _finetune(t, *extra, out="ft.safetensors"):
    return main(["finetune", "--weights", str(t / "base.safetensors"), "--blurry",
                 str(t / "b.tif"), "--sharp", str(t / "s.tif"), "--out", str(t / out),
                 "--patch", "32", "--batch", "2", "--device", "cpu", "-q", *extra])


def _interrupt_at(monkeypatch, step: int):
    real = Trainer.train_step

    def step_or_stop(self):
        if self.step + 1 >= step:
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(Trainer, "train_step", step_or_stop)


# ----------------------------------------------------------------------------- 1: Ctrl-C


def test_ctrl_c_before_any_better_validation_says_the_start_was_kept(pair, capsys,
                                                                     monkeypatch):
    """It said 'wrote the best weights so far' of a file holding the starting weights."""
    _interrupt_at(monkeypatch, 6)
    code = _finetune(pair, "--steps", "20", "--min-gain", "50", "--patience", "100",
                     "--checkpoint-dir", str(pair / "ck"))
    err = capsys.readouterr().err.strip()
    assert code == 130, err
    # nothing written: the start is the --weights file itself (it had been copied over --out)
    assert not (pair / "ft.safetensors").exists()
    assert "before any validation beat the starting weights" in err, err
    assert f"nothing written to {pair / 'ft.safetensors'}" in err, err
    assert err.endswith(f"--resume --overwrite continues it from '{pair / 'ck' / 'last.pt'}'") or (
        f"'{pair / 'ck' / 'last.pt'}'" in err), err
    assert "best weights so far" not in err


def test_a_run_that_kept_its_start_does_not_say_fine_tuned(pair, capsys):
    assert _finetune(pair, "--steps", "4", "--min-gain", "50") == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"{pair / 'ft.safetensors'}: holds the starting weights of "
                          f"{pair / 'base.safetensors'}, unchanged; "), out
    assert "fine-tuned" not in out


# ----------------------------------------------------------------------------- 2: --resume


def test_resume_says_where_it_continues(pair, capsys):
    ck = pair / "ck"
    assert _finetune(pair, "--steps", "4", "--min-gain", "0", "--checkpoint-dir", str(ck)) == 0
    best = read_card(ck / "best.safetensors").metrics
    capsys.readouterr()
    assert _finetune(pair, "--steps", "6", "--checkpoint-dir", str(ck), "--resume",
                     "--patience", "100", out="ft2.safetensors") == 0
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "resuming" in x)
    assert line.startswith(f"microdeblur: resuming from step 4 of '{ck / 'last.pt'}' ("), line
    assert f"{best['val_psnr']:.2f} dB on validation" in line


# ----------------------------------------------------------------------------- 3: Python names


@pytest.fixture
def em(tmp_path):
    path = tmp_path / "em.tif"
    tifffile.imwrite(path, (_texture(3) * 200).astype(np.uint8))
    return path


@pytest.mark.parametrize("method", ["wiener", "richardson_lucy", "wiener_unet.psf_v4"])
def test_a_method_without_its_psf_names_the_option(em, capsys, method):
    assert main(["deblur", str(em), "-o", str(em.with_name("y.tif")), "--method", method]) == 2
    err = capsys.readouterr().err
    assert "give --psf a TIFF path" in err and "give psf" not in err, err


def test_a_tile_the_psf_does_not_fit_names_the_option(em, capsys):
    assert main(["deblur", str(em), "-o", str(em.with_name("y.tif")), "--method", "wiener",
                 "--psf", "gaussian:3", "--tile", "16"]) == 2
    assert "error: --tile 16 is not larger than the PSF" in capsys.readouterr().err


def test_bare_subjects_and_give_are_translated_but_english_is_not():
    options = {"psf": "--psf", "tile": "--tile", "axes": "--axes", "output": "--output",
               "out": "--out"}
    assert in_cli_words("a.tif: psf has shape (3, 3)", options) == "a.tif: --psf has shape (3, 3)"
    assert in_cli_words("give axes explicitly", options) == "give --axes explicitly"
    assert in_cli_words("tile 20 is small; psf of shape (9,)", options) == (
        "--tile 20 is small; --psf of shape (9,)")
    for kept in ("the tile is small", "output folder 'x' is a file", "give out of dtype",
                 "'psf has' as typed", "tiles 3 is"):
        assert in_cli_words(kept, options) == kept


# ----------------------------------------------------------------------------- 4: | head


# `methods` without --json left out: its 4.8 kB, like --json's 7.9 kB, fits the pipe's 8 kB
# buffer, so both meet the closed pipe at the same place (main's flush); each is a process
# that imports torch. --json's output, the larger, is the first to outgrow the buffer
@pytest.mark.parametrize("argv", [["methods", "--json"], ["--help"]])
def test_a_reader_that_stops_early_ends_the_command_quietly(argv):
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.environ.get("PYTHONPATH", src)}
    proc = subprocess.Popen([sys.executable, "-m", "napari_microdeblur", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # the reader is gone before the command prints (`| head -c 0`)
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert err == "" and code in (0, 141), (code, err)


# ----------------------------------------------------------------------------- 5: focus


def test_focus_scores_several_files_one_line_or_object_each(tmp_path, capsys):
    for i in range(2):
        tifffile.imwrite(tmp_path / f"f{i}.tif", _texture(i))
    stack = tmp_path / "z.tif"
    tifffile.imwrite(stack, np.stack([_texture(5), _texture(6)]), metadata={"axes": "ZYX"})
    files = [str(tmp_path / "f0.tif"), str(tmp_path / "f1.tif"), str(stack)]
    assert main(["focus", *files]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(": focus score")[0] for line in lines] == files
    assert lines[2].endswith("(ZYX)") and "focus scores [" in lines[2]
    assert main(["focus", str(tmp_path / "f*.tif"), "--json"]) == 0
    objects = json.loads(capsys.readouterr().out)
    assert [o["file"] for o in objects] == files[:2]
    assert main(["focus", files[0], "--json"]) == 0  # one file: its object as before
    alone = json.loads(capsys.readouterr().out)
    assert "file" not in alone and alone["score"] == objects[0]["score"]


def test_focus_of_several_files_says_each_unreadable_one_and_scores_the_rest(tmp_path,
                                                                             capsys):
    tifffile.imwrite(tmp_path / "a.tif", _texture(1))
    assert main(["focus", str(tmp_path / "a.tif"), str(tmp_path / "missing.tif")]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{tmp_path / 'a.tif'}: focus score")
    assert len(captured.err.strip().splitlines()) == 1 and "missing.tif" in captured.err


# ----------------------------------------------------------------------------- 6: output folder


def test_several_inputs_into_a_missing_folder_say_create_it(em, capsys):
    tifffile.imwrite(em.with_name("b.tif"), _texture(2))
    out = em.parent / "mixout"
    assert main(["deblur", str(em.parent), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "does not exist; create it first" in err and "is not one" not in err, err
    assert not out.exists()


# ----------------------------------------------------------------------------- 8: pixel=


def test_an_optics_psf_without_pixel_on_a_file_without_a_pixel_size_says_so(em, capsys):
    assert main(["deblur", str(em), "-o", str(em.with_name("y.tif")), "--psf",
                 "widefield:na=1.4,wavelength=0.52"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert ("--psf 'widefield:na=1.4,wavelength=0.52' lacks pixel= and the image file states "
            "no pixel size; add it in um, e.g. 'widefield:na=1.4,wavelength=0.52,pixel=0.065'"
            ) in err


# ----------------------------------------------------------------------------- 9: watch offset


def test_watch_camera_offset_judges_an_offset_image_as_the_image(tmp_path, capsys):
    image = _texture(4) * 1000
    lifted = image + 100
    assert judged_score(lifted, "YX", camera_offset=100) == pytest.approx(
        judged_score(image, "YX"), rel=1e-5)
    plain, offset_free = judged_score(lifted, "YX")[1], judged_score(image, "YX")[1]
    assert plain < offset_free  # the offset lowers the score: the threshold goes between
    threshold = (plain + offset_free) / 2
    watched, out = tmp_path / "in", tmp_path / "out"
    watched.mkdir()
    out.mkdir()
    tifffile.imwrite(watched / "a.tif", lifted.astype(np.float32))
    assert main(["watch", str(watched), str(out), "--threshold", str(threshold), "--once",
                 "--settle", "0", "--camera-offset", "100", "-q"]) == 0
    log = (out / "microdeblur_watch.csv").read_text()
    assert ",copied," in log and (out / "a.tif").is_file(), log
    assert not (out / "a_deblurred.tif").exists()


def test_watch_camera_offset_is_recorded_and_used_in_the_calibration(tmp_path, capsys):
    good, watched, out = tmp_path / "good", tmp_path / "in", tmp_path / "out"
    for d in (good, watched, out):
        d.mkdir()
    tifffile.imwrite(good / "g.tif", (_texture(7) * 1000 + 100).astype(np.float32))
    soft = ndimage.gaussian_filter(_texture(8) * 1000, 2) + 100
    tifffile.imwrite(watched / "s.tif", soft.astype(np.float32))
    assert main(["watch", str(watched), str(out), "--calibrate", str(good), "--once",
                 "--settle", "0", "--camera-offset", "100", "--method", "wiener", "--psf",
                 "gaussian:1"]) == 0
    said = capsys.readouterr().out
    assert "camera offset 100 subtracted" in said, said
    expected = judged_score(_texture(7) * 1000, "YX")[1]
    focus = io.read_image(out / "s_deblurred.tif").metadata["microdeblur"]["focus"]
    assert focus["camera_offset"] == 100
    assert focus["threshold"] == pytest.approx(expected, rel=1e-5)
