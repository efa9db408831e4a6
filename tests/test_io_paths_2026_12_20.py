"""Walkthroughs 2026-12-20 (clierrors, acquisition): an output inside or holding its Zarr input
replaced it; a store whose level '0' is a group gave an AttributeError traceback; a partly
written ImageJ stack read as one plane; misleading lines for a .zarr output that is a file,
'/dev/full', a missing output folder and a folder given as --weights or --psf."""

import hashlib
import os
import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io, io_write

WIENER = ["--method", "wiener", "--psf", "gaussian:1.6", "--balance", "0.1"]


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, np.random.default_rng(0).random((32, 32)).astype(np.float32))
    return path


@pytest.fixture
def store(tmp_path):
    """A small OME-Zarr (level '0' its array) as the command line writes it."""
    path = tmp_path / "zin.ome.zarr"
    with io_write.open_output(path, (32, 32), np.float32, axes="YX") as out:
        out[:] = np.random.default_rng(1).random((32, 32)).astype(np.float32)
    return path


def _digests(folder) -> dict:
    return {os.path.relpath(os.path.join(root, name), folder):
            hashlib.sha256(open(os.path.join(root, name), "rb").read()).hexdigest()
            for root, _, names in os.walk(folder) for name in names}


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("microdeblur: error:")
    return err


@pytest.mark.parametrize(("source", "target"), [("zin.ome.zarr/0", "zin.ome.zarr"),
                                                ("zin.ome.zarr", "zin.ome.zarr/0"),
                                                ("zin.ome.zarr", "zin.ome.zarr/x.tif")])
def test_an_output_holding_or_inside_its_zarr_input_is_refused(store, capsys, source, target):
    before = _digests(store)
    root = store.parent
    assert main(["deblur", str(root / source), "-o", str(root / target), *WIENER,
                 "--overwrite"]) == 2
    assert "the input is never replaced" in _one_error_line(capsys)
    assert _digests(store) == before
    assert io.read_image(store).array.shape == (32, 32)


def test_an_output_holding_the_psf_file_is_refused(tmp_path, image_file):
    folder = tmp_path / "out.zarr"
    folder.mkdir()
    psf = folder / "psf.tif"
    tifffile.imwrite(psf, np.ones((5, 5), np.float32))
    with pytest.raises(ValueError, match="a file this run reads"):
        io_write.check_output_path(folder, overwrite=True, inputs=(image_file, psf))


def test_a_store_whose_first_level_is_a_group_is_refused_in_one_line(store, capsys):
    """The nested store the first walkthrough made: its level '0' an OME-Zarr group itself."""
    import shutil

    nested = store.parent / "nested.ome.zarr"
    shutil.copytree(store, nested)
    shutil.rmtree(nested / "0")
    shutil.copytree(store, nested / "0")
    with pytest.raises(ValueError, match="is a Zarr group, not an array"):
        io.read_image(nested)
    for command in (["info"], ["focus"]):
        assert main([*command, str(nested)]) == 2
        assert "'0' (multiscales datasets[0].path) is a Zarr group" in _one_error_line(capsys)


def _partial_imagej(tmp_path):
    whole = tmp_path / "s.tif"
    tifffile.imwrite(whole, np.random.default_rng(2).random((5, 64, 64)).astype("f4") + 1,
                     imagej=True)
    data = whole.read_bytes()
    part = tmp_path / "p.tif"
    part.write_bytes(data[: len(data) * 3 // 5])
    return whole, part


def test_a_partly_written_imagej_stack_is_refused_everywhere(tmp_path, capsys):
    whole, part = _partial_imagej(tmp_path)
    assert io.read_image(whole).array.shape == (5, 64, 64)  # the complete file still reads
    with pytest.raises(ValueError, match=r"partly written .*3 of the 5 planes.*: if it is still "
                                         r"being written, wait until"):
        io.read_image(part)
    out = tmp_path / "out.tif"
    assert main(["deblur", str(part), "-o", str(out), *WIENER]) == 2
    assert "p.tif" in (line := _one_error_line(capsys)) and "partly written" in line
    assert not out.exists()
    assert main(["focus", str(part)]) == 2
    assert "partly written" in _one_error_line(capsys)


def test_the_napari_reader_says_a_stack_is_partly_written(tmp_path):
    from napari_microdeblur._reader import get_reader

    _, part = _partial_imagej(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert get_reader(str(part)) is None
    assert any("partly written" in str(w.message) for w in caught)


def test_a_zarr_output_that_is_a_file_is_refused_before_any_work(tmp_path, image_file, capsys):
    out = tmp_path / "out.zarr"
    out.write_bytes(b"mine")
    assert main(["deblur", str(image_file), "-o", str(out), *WIENER, "--overwrite"]) == 2
    line = _one_error_line(capsys)
    assert "is a file, not a Zarr folder" in line and "while it was written" not in line
    assert out.read_bytes() == b"mine"


def test_a_folder_renamed_onto_a_file_says_it_was_a_file(tmp_path):
    from napari_microdeblur.core.atomic_write import move_into_place

    made, target = tmp_path / ".made", tmp_path / "out.zarr"
    made.mkdir()
    target.write_bytes(b"mine")
    with pytest.raises(NotADirectoryError, match="it is a file") as caught:
        move_into_place(made, target)
    assert "while it was written" not in str(caught.value)
    assert target.read_bytes() == b"mine"


def test_an_existing_output_of_another_type_is_told_its_name_first(tmp_path, image_file,
                                                                     capsys):
    """'-o /dev/full' was told to add --overwrite, then, with it, to end in .tif."""
    out = tmp_path / "full"
    out.write_bytes(b"")
    assert main(["deblur", str(image_file), "-o", str(out), *WIENER]) == 2
    assert "must end in .tif" in _one_error_line(capsys)


def test_a_missing_output_folder_is_said_missing(tmp_path, image_file, capsys):
    out = str(tmp_path / "newdir") + os.sep
    assert main(["deblur", str(image_file), "-o", out, *WIENER]) == 2
    assert "create the folder first" in _one_error_line(capsys)
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        io_write.check_output_path(out, png=True)


@pytest.mark.parametrize(("option", "words"), [
    (["--weights"], "is a folder, not a weights file"),
    (["--method", "wiener", "--psf"], "is a folder, not a PSF image")])
def test_a_folder_given_as_weights_or_psf_is_said_a_folder(tmp_path, image_file, capsys,
                                                           option, words):
    folder = tmp_path / "adir"
    folder.mkdir()
    out = tmp_path / "out.tif"
    assert main(["deblur", str(image_file), "-o", str(out), *option, str(folder)]) == 2
    line = _one_error_line(capsys)
    assert words in line and "no such file" not in line
