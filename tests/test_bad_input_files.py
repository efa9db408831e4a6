"""Bad files and paths on the command line: each refused in one line before any work, nothing
written, the user's files unchanged (PSF models too wide to compute, colour PSF files,
truncated TIFFs, an output that is the input or sits in a file or an unwritable folder,
foreign bytes as weights)."""

import errno
import hashlib

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "blurry.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(path, rng.random((64, 64)).astype(np.float32))
    return path


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("microdeblur: error:")
    return err


@pytest.mark.parametrize("psf", ["gaussian:1e4", "disk:1e6", "astig:1e6,1,0"])
def test_psf_models_too_wide_to_compute_are_refused(tmp_path, image_file, capsys, psf):
    out = tmp_path / "out.tif"
    assert main(["deblur", str(image_file), "-o", str(out), "--method", "wiener",
                 "--psf", psf]) == 2
    err = _one_error_line(capsys)
    assert "at most 513 px" in err and "px wide" in err
    assert not out.exists()


def test_a_colour_psf_file_is_refused_not_read_as_three_planes(tmp_path, image_file, capsys):
    psf = tmp_path / "psf_rgb.tif"
    tifffile.imwrite(psf, np.ones((15, 15, 3), np.uint8), photometric="rgb")
    out = tmp_path / "out.tif"
    assert main(["deblur", str(image_file), "-o", str(out), "--psf", str(psf)]) == 2
    assert "colour (RGB) image" in _one_error_line(capsys)
    assert not out.exists()


def test_a_truncated_tiff_is_named_and_said_truncated(tmp_path, image_file, capsys):
    cut = tmp_path / "cut.tif"
    cut.write_bytes(image_file.read_bytes()[: image_file.stat().st_size // 2])
    out = tmp_path / "out.tif"
    assert main(["deblur", str(cut), "-o", str(out), "--method", "wiener",
                 "--psf", "gaussian:1"]) == 2
    err = _one_error_line(capsys)
    assert "cut.tif" in err and "truncated" in err
    assert not out.exists()
    assert main(["psf-from-beads", str(cut), "-o", str(out)]) == 2  # read whole, not lazily
    assert "truncated" in _one_error_line(capsys)


@pytest.mark.parametrize("command", [["deblur", "--method", "wiener", "--psf", "gaussian:1"],
                                     ["psf-estimate"]])
def test_the_input_is_never_the_output_even_with_overwrite(image_file, capsys, command):
    before = _digest(image_file)
    assert main([command[0], str(image_file), "-o", str(image_file), "--overwrite",
                 *command[1:]]) == 2
    assert "is the input" in _one_error_line(capsys)
    assert _digest(image_file) == before


def test_an_output_in_a_file_or_an_unwritable_folder_is_refused_first(tmp_path, image_file,
                                                                     capsys, monkeypatch):
    args = ["--method", "wiener", "--psf", "gaussian:1"]
    assert main(["deblur", str(image_file), "-o", str(image_file / "out.tif"), *args]) == 2
    assert "is a file, not a folder" in _one_error_line(capsys)

    import tempfile

    def refuse(*_, **__):  # as root, permission bits do not stop a write: the probe is faked
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    out = tmp_path / "out.tif"
    assert main(["deblur", str(image_file), "-o", str(out), *args]) == 2
    assert "cannot write in the output folder" in _one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blurry.tif"]


def test_foreign_bytes_as_weights_are_not_called_pickled_objects(tmp_path, image_file, capsys):
    fake = tmp_path / "fake.pt"
    fake.write_bytes(np.random.default_rng(1).bytes(64))
    out = tmp_path / "out.tif"
    assert main(["deblur", str(image_file), "-o", str(out), "--method", "gran",
                 "--weights", str(fake)]) == 2
    err = _one_error_line(capsys)
    assert "not a readable PyTorch weights file" in err
    assert "weights_only" not in err and not out.exists()


def test_degrade_never_replaces_its_input(image_file, capsys):
    before = _digest(image_file)
    assert main(["degrade", str(image_file), "-o", str(image_file), "--protocol", "A",
                 "--overwrite"]) == 2
    assert "is the input" in _one_error_line(capsys)
    assert _digest(image_file) == before


def test_a_bad_psf_file_is_one_line_for_a_folder_of_inputs(tmp_path, image_file, capsys):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    for name in ("a.tif", "b.tif"):
        (folder / name).write_bytes(image_file.read_bytes())
    psf = tmp_path / "psf.tif"
    tifffile.imwrite(psf, np.full((5, 5), np.nan, np.float32))
    assert main(["deblur", str(folder), "-o", str(out), "--method", "wiener",
                 "--psf", str(psf)]) == 2
    assert "holds NaN" in _one_error_line(capsys)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("argv", [["deblur", "x.tif", "-o", "y.tif", "--tile", "abc"],
                                  ["deblur", "x.tif", "-o", "y.tif", "--modality", "nonsense"],
                                  ["deblur", "x.tif"], ["nonsense"]])
def test_an_option_argparse_refuses_is_one_line_too(capsys, argv):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert "--help)" in _one_error_line(capsys)  # names where the usage is, not all of it
