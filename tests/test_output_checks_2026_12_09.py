"""Outputs checked before the work (walkthrough 2026-12-09): train/finetune --out and
--export-psf in a folder that cannot be written, under a file or read-only; a deblur's output
that is its own PSF file; psf_from_beads on a colour image and on one clipped bead."""

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry, training
from napari_microdeblur.core.beads import psf_from_beads
from napari_microdeblur.core.checkpoint import save_weights
from napari_microdeblur.core.files import deblur_file
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.training.loop import Trainer

# /proc cannot be written in even by root (who passes every permission check): Linux only
NO_PROC = pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")


def _texture(seed: int, n: int = 64) -> np.ndarray:
    from scipy import ndimage

    image = ndimage.gaussian_filter(np.random.default_rng(seed).random((n, n)), 2)
    return ((image - image.min()) / np.ptp(image)).astype(np.float32)


@pytest.fixture
def files(tmp_path):
    """A sharp image and its blurred twin, a tiny gran config and weights, a plain file."""
    from scipy import ndimage

    sharp = _texture(0)
    tifffile.imwrite(tmp_path / "sharp.tif", sharp)
    tifffile.imwrite(tmp_path / "blurry.tif", ndimage.gaussian_filter(sharp, 1.5))
    (tmp_path / "tiny.json").write_text(json.dumps(registry.get_arch("gran").tiny_config))
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    save_weights(model, tmp_path / "base.safetensors", {"license": "CC0-1.0"})
    (tmp_path / "afile").write_text("mine")
    return tmp_path


def _no_training(monkeypatch):
    monkeypatch.setattr(Trainer, "train_step", lambda self: pytest.fail("trained"))
    monkeypatch.setattr(training, "iter_fit", lambda *a, **k: pytest.fail("trained"))


def _train(t, out, *extra):
    return main(["train", "--arch", "gran", "--config", str(t / "tiny.json"), "--sharp",
                 str(t / "sharp.tif"), "--out", str(out), "--steps", "4", "--patch", "32",
                 "--batch", "2", "--device", "cpu", "-q", *extra])


def _finetune(t, out, *extra):
    return main(["finetune", "--weights", str(t / "base.safetensors"), "--blurry",
                 str(t / "blurry.tif"), "--sharp", str(t / "sharp.tif"), "--out", str(out),
                 "--steps", "4", "--patch", "32", "--batch", "2", "--device", "cpu", "-q",
                 *extra])


def _one_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("microdeblur: error:"), err
    assert "Errno" not in err, err
    return err


def _listing(t) -> list[str]:
    return sorted(str(p.relative_to(t)) for p in t.rglob("*"))


@pytest.mark.parametrize("case", [pytest.param("unwritable", marks=NO_PROC), "under a file"])
@pytest.mark.parametrize("run", [_train, _finetune])
def test_weights_out_is_checked_before_training(files, capsys, monkeypatch, run, case):
    """A folder that cannot be written was found only when the trained weights were saved
    (64 s of training lost); 'afile/x.safetensors' was said to be in a missing folder."""
    _no_training(monkeypatch)
    out = {"unwritable": Path("/proc/microdeblur-x.safetensors"),
           "under a file": files / "afile" / "x.safetensors"}[case]
    before = _listing(files)
    assert run(files, out) == 2
    err = _one_error(capsys)
    assert "--out" in err
    assert ("cannot write in the output folder" if case == "unwritable"
            else "'afile' is a file") in err.replace(str(files) + os.sep, "")
    assert _listing(files) == before


def test_a_read_only_out_is_kept_even_with_overwrite(files, capsys, monkeypatch):
    _no_training(monkeypatch)
    out = files / "ro.safetensors"
    out.write_bytes(b"the user's weights")
    out.chmod(0o444)
    assert _finetune(files, out, "--overwrite") == 2
    assert "is read-only" in _one_error(capsys)
    assert out.read_bytes() == b"the user's weights"
    assert stat.S_IMODE(out.stat().st_mode) == 0o444


@pytest.mark.parametrize("case", [pytest.param("unwritable", marks=NO_PROC), "under a file"])
def test_export_psf_is_checked_before_training(files, capsys, monkeypatch, case):
    _no_training(monkeypatch)
    config = files / "cyc.json"
    config.write_text(json.dumps(registry.get_arch("psf_cyclegan").tiny_config))
    psf = {"unwritable": "/proc/microdeblur-p.tif", "under a file": str(files / "afile" / "p.tif")}
    assert main(["train", "--regime", "psf_cyclegan", "--arch", "psf_cyclegan", "--config",
                 str(config), "--unpaired-blurry", str(files / "blurry.tif"), "--unpaired-sharp",
                 str(files / "sharp.tif"), "--out", str(files / "w.safetensors"), "--export-psf",
                 psf[case], "--steps", "2", "--patch", "32", "--batch", "2", "--device", "cpu",
                 "-q"]) == 2
    err = _one_error(capsys)
    assert "--export-psf" in err
    assert ("cannot write in the output folder" if case == "unwritable"
            else "'afile' is a file") in err.replace(str(files) + os.sep, "")
    assert not (files / "w.safetensors").exists()


def test_check_weights_output_for_the_python_api(files):
    """What finetune(out=...) checks before its run: the folder, a read-only file, the
    starting weights; an existing writable file may be replaced (finetune replaces it)."""
    from napari_microdeblur.core.files import check_weights_output

    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        check_weights_output(files / "nonexist" / "x.safetensors")
    with pytest.raises(ValueError, match="afile' is a file, not a folder"):
        check_weights_output(files / "afile" / "x.safetensors")
    with pytest.raises(ValueError, match="must end in .safetensors"):
        check_weights_output(files / "x.pt")
    with pytest.raises(ValueError, match="is the weights= file"):
        check_weights_output(files / "base.safetensors", starting=str(files / "base.safetensors"))
    ro = files / "ro.safetensors"
    ro.write_bytes(b"kept")
    ro.chmod(0o444)
    with pytest.raises(PermissionError, match="is read-only"):
        check_weights_output(ro)
    assert check_weights_output(files / "base.safetensors") == files / "base.safetensors"
    if Path("/proc/self").is_dir():
        with pytest.raises(PermissionError, match="cannot write in the output folder"):
            check_weights_output("/proc/microdeblur-x.safetensors")


def _gaussian_psf(n: int = 15, sigma: float = 1.6) -> np.ndarray:
    y, x = np.mgrid[:n, :n] - n // 2
    kernel = np.exp(-(x**2 + y**2) / (2 * sigma**2))
    return (kernel / kernel.sum()).astype(np.float32)


def test_a_deblur_never_replaces_its_psf_file(files, capsys):
    """`deblur blur.tif -o mypsf.tif --psf mypsf.tif --overwrite` replaced the user's PSF."""
    psf = files / "mypsf.tif"
    tifffile.imwrite(psf, _gaussian_psf())
    kept = psf.read_bytes()
    with pytest.raises(ValueError, match="is a file this run reads"):
        deblur_file(files / "blurry.tif", psf, overwrite=True, method="wiener", psf=str(psf))
    assert main(["deblur", str(files / "blurry.tif"), "-o", str(psf), "--psf", str(psf),
                 "--method", "wiener", "--overwrite", "-q"]) == 2
    assert "is a file this run reads" in _one_error(capsys)
    assert psf.read_bytes() == kept


def test_files_read_names_the_psf_files_and_the_weights():
    from napari_microdeblur.core.files import files_read

    spec = MethodSpec("auto", psf="a.tif;b.tif", weights="w.safetensors")
    assert files_read("img.tif", spec) == ("img.tif", "a.tif", "b.tif", "w.safetensors")
    assert files_read("img.tif", "wiener") == ("img.tif",)


def test_psf_from_beads_refuses_a_colour_image_as_such():
    """(64, 64, 3) was read as a z-stack 3 pixels wide: 'at least 5 pixels per axis'."""
    with pytest.raises(ValueError, match=r"3 samples per pixel \(a colour image\)"):
        psf_from_beads(np.zeros((64, 64, 3)))
    with pytest.raises(TypeError, match="axes is a ndarray"):
        psf_from_beads(np.zeros((64, 64)), axes=np.array(["Y", "X"]))


def test_a_single_bead_clipped_at_the_uint16_maximum_is_left_out():
    """One bead with one pixel at 65535 was averaged in ('rejected: none'), although clipped
    beads are left out: every bead touching the maximum was kept when none else remained."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[:128, :128]
    bead = np.exp(-((y - 64.2) ** 2 + (x - 63.7) ** 2) / (2 * 1.6**2))
    clean = 1000 + 70000 * bead
    image = np.minimum(rng.poisson(clean), 65535).astype(np.uint16)
    assert 1 <= np.count_nonzero(image == 65535) <= 4  # lightly clipped, no plateau
    with pytest.raises(ValueError, match=r"1 saturated.*camera's ceiling is clipped"):
        psf_from_beads(image)


def _lead_pair():
    rng = np.random.default_rng(0)
    sharp = rng.random((64, 64)).astype(np.float32)
    return sharp, sharp * 0.9


@pytest.mark.parametrize("where", ["nonexist/x.safetensors", "afile/x.safetensors",
                                   "ro.safetensors"])
def test_finetune_out_is_checked_before_the_run(tmp_path, monkeypatch, where):
    from napari_microdeblur.core.finetune import finetune

    monkeypatch.setattr(Trainer, "train_step", lambda self: pytest.fail("trained"))
    (tmp_path / "afile").write_text("mine")
    (tmp_path / "ro.safetensors").write_bytes(b"kept")
    (tmp_path / "ro.safetensors").chmod(0o444)
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    sharp, blurry = _lead_pair()
    # a file there (read-only or not) is kept: without overwrite=True finetune refuses it
    # (a read-only file: says so, as overwrite=True would keep it too; since 2026-12-07)
    with pytest.raises((OSError, ValueError), match="does not exist|is a file|ro.safetensors' "
                                                    "exists; it is read-only"):
        finetune((model, None), blurry, sharp, steps=2, out=tmp_path / where)
    assert (tmp_path / "ro.safetensors").read_bytes() == b"kept"


def test_checkpoint_dir_under_a_file_says_so(tmp_path):
    from napari_microdeblur.core.training.checkpoints import check_checkpoint_dir

    (tmp_path / "afile").write_text("mine")
    with pytest.raises(ValueError, match="afile' is a file, not a folder"):
        check_checkpoint_dir(tmp_path / "afile" / "ck", resume=False)


def test_focus_below_never_replaces_its_psf_file(tmp_path, capsys):
    y, x = np.mgrid[:15, :15] - 7
    psf = tmp_path / "mypsf.tif"
    tifffile.imwrite(psf, (np.exp(-(x**2 + y**2) / 5.0) / np.exp(-(x**2 + y**2) / 5.0).sum())
                     .astype(np.float32))
    tifffile.imwrite(tmp_path / "in.tif", np.random.default_rng(1).random((64, 64),
                                                                          dtype=np.float32))
    kept = psf.read_bytes()
    assert main(["deblur", str(tmp_path / "in.tif"), "-o", str(psf), "--psf", str(psf),
                 "--method", "wiener", "--overwrite", "--focus-below", "100", "-q"]) == 2
    assert "is a file this run reads" in capsys.readouterr().err
    assert psf.read_bytes() == kept
