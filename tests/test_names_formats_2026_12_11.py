"""Output names, unread formats and outputs written meanwhile (walkthrough 2026-12-11).

An OME-Zarr input's batch output was named img.ome_deblurred.tif (an OME-TIFF input's is
img_deblurred.ome.tif). `info x.mrc` (.h5, an .n5 folder) said to install 'the bioio plugin
for .mrc', though no bioio plugin is named for MRC, HDF5 or N5; an .n5 folder was 'a directory;
give an image file'. A --focus-below PNG output, save_weights, export_bioimageio and
copy_atomically (train --out) replaced a file another run wrote meanwhile, whatever the
caller's overwrite choice. The race is simulated by writing the other run's output between
this run's temporary write and its rename."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from napari_microdeblur import cli
from napari_microdeblur.core import atomic_write, io, io_bioio
from napari_microdeblur.core.atomic_write import OutputExistsError
from napari_microdeblur.core.files import batch_pairs, copy_atomically, output_name
from napari_microdeblur.core.registry import build_model
from napari_microdeblur.core.shown import shown_path

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu"]
THEIRS = b"the other run's output"


# ----------------------------------------------------------------------------- names


@pytest.mark.parametrize(("given", "named"), [
    ("img.ome.zarr", "img_deblurred.tif"), ("IMG.OME.ZARR", "IMG_deblurred.tif"),
    ("img.zarr", "img_deblurred.tif"), ("img.ome.tif", "img_deblurred.ome.tif"),
    ("img.ome.tiff", "img_deblurred.ome.tiff"), ("a.b.czi", "a.b_deblurred.tif"),
])
def test_an_ome_suffix_goes_with_its_format_in_the_output_name(tmp_path, given, named):
    assert output_name(Path(given), tmp_path) == tmp_path / named


def test_an_ome_zarr_and_a_tif_of_one_name_are_refused_as_one_output(tmp_path):
    with pytest.raises(ValueError, match="would both be written to .*img_deblurred.tif"):
        batch_pairs([tmp_path / "img.ome.zarr", tmp_path / "img.tif"], tmp_path / "out")


def test_an_ome_zarr_input_gives_a_plain_tiff_named_as_other_formats(tmp_path):
    """Its output stays the ImageJ TIFF it was (not an OME-TIFF), only its name changes."""
    src = tmp_path / "img.tif"
    tifffile.imwrite(src, np.random.default_rng(0).integers(0, 255, (32, 32), np.uint8))
    store, out = tmp_path / "img.ome.zarr", tmp_path / "out"
    assert cli.main(["deblur", str(src), "-o", str(store), *WIENER, "-q"]) == 0
    out.mkdir()
    assert cli.main(["deblur", str(store), "-o", str(out), *WIENER, "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["img_deblurred.tif"]
    with tifffile.TiffFile(out / "img_deblurred.tif") as tif:
        assert tif.is_imagej and not tif.is_ome


# ----------------------------------------------------------------------------- formats


class UnsupportedFileFormatError(Exception):
    """bioio's 'no reader for this file' (matched by name, as io_bioio does)."""


class NoReader:
    def __init__(self, path):
        raise UnsupportedFileFormatError(f"bioio does not support the image: {path}")


@pytest.fixture(params=["no bioio", "bioio without a reader"])
def bioio_state(request, monkeypatch):
    found = [] if request.param == "no bioio" else [("bioio", NoReader)]
    monkeypatch.setattr(io_bioio, "_reader_classes", lambda: (found, None))
    return request.param


@pytest.mark.parametrize(("name", "kind", "how"), [
    ("x.mrc", "MRC files", "mrcfile.read('x.mrc')"),
    ("x.h5", "HDF5 files", "h5py.File('x.h5')"),
    ("x.hdf5", "HDF5 files", "h5py.File('x.hdf5')"),
])
def test_a_format_no_plugin_reads_says_convert_not_install(tmp_path, bioio_state, name, kind,
                                                           how):
    path = tmp_path / name
    path.write_bytes(b"not read")
    with pytest.raises(ValueError) as caught:
        io.read_image(path)
    message = str(caught.value)
    assert message.startswith(f"cannot read {shown_path(path)}: {kind} are not read")
    assert "convert the image to TIFF or OME-Zarr" in message and how in message
    assert "plugin for" not in message and "pip install" not in message and "\n" not in message


@pytest.mark.parametrize("inside", ["", "raw/s0"])
def test_an_n5_folder_says_it_is_not_read_not_give_an_image_file(tmp_path, inside):
    container = tmp_path / "vol.n5"
    (container / inside).mkdir(parents=True)
    (container / "attributes.json").write_text('{"n5": "2.0.0"}')
    with pytest.raises(ValueError) as caught:
        io.read_image(container / inside)
    message = str(caught.value)
    assert "N5 folders are not read" in message and "give an image file" not in message
    assert "zarr.N5Store('vol.n5')" in message and "plugin for" not in message
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ValueError, match="is a directory; give an image file"):
        io.read_image(plain)


def test_deblur_of_an_n5_folder_says_it_is_not_read(tmp_path, capsys):
    container, out = tmp_path / "vol.n5", tmp_path / "out"
    (container / "raw").mkdir(parents=True)
    out.mkdir()
    assert cli.main(["deblur", str(container), "-o", str(out), *WIENER]) == cli.EXIT_ERROR
    line = capsys.readouterr().err.strip()
    assert "N5 folders are not read" in line and "holds no image file" not in line


def test_a_suffix_with_a_known_plugin_keeps_its_exact_install(tmp_path, bioio_state):
    path = tmp_path / "slide.nd2"
    path.write_bytes(b"?")
    fix = ("pip install 'napari-microdeblur[formats]' bioio-nd2" if bioio_state == "no bioio"
           else "no installed bioio reader reads this format; pip install bioio-nd2")
    with pytest.raises(ValueError, match=fix.replace("[", r"\[").replace("]", r"\]") + "$"):
        io.read_image(path)


def test_an_unknown_suffix_claims_no_plugin(tmp_path, bioio_state):
    path = tmp_path / "x.xyz"
    path.write_bytes(b"?")
    with pytest.raises(ValueError) as caught:
        io.read_image(path)
    message = str(caught.value)
    assert ".xyz files are not read" in message
    assert "convert the image to TIFF or OME-Zarr" in message
    assert "the bioio plugin for .xyz if there is one (list: " in message


def test_info_of_mrc_and_a_folder_of_them_say_convert(tmp_path, capsys):
    em = tmp_path / "em"
    em.mkdir()
    for i in range(3):
        (em / f"t{i}.mrc").write_bytes(b"not read")
    assert cli.main(["info", str(em / "t0.mrc")]) == cli.EXIT_ERROR
    line = capsys.readouterr().err.strip()
    assert "MRC files are not read" in line and "plugin for" not in line
    out = tmp_path / "out"
    out.mkdir()
    assert cli.main(["deblur", str(em), "-o", str(out), *WIENER, "-q"]) == cli.EXIT_ERROR
    line = capsys.readouterr().err.strip()
    assert f"input directory {shown_path(em)} holds no image file; its 3 .mrc files: MRC " \
           "files are not read: convert the image to TIFF or OME-Zarr" in line


# ----------------------------------------------------------------------------- written meanwhile


@pytest.fixture
def other_run_before_rename(monkeypatch):
    """The other run writes ``path`` after this run's temporary is complete, before its
    rename; returns the paths it wrote."""
    real, wrote = atomic_write.move_into_place, []

    def then_rename(tmp, path, overwrite=True):
        Path(path).write_bytes(THEIRS)
        wrote.append(Path(path))
        return real(tmp, path, overwrite)

    monkeypatch.setattr(atomic_write, "move_into_place", then_rename)
    return wrote


def _left(folder) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir())


@pytest.mark.parametrize("below", ["1e-12", "1e12"])  # written unchanged / deblurred
def test_a_focus_below_png_written_meanwhile_is_kept(tmp_path, other_run_before_rename, capsys,
                                                      below):
    src, out = tmp_path / "in.tif", tmp_path / "r.png"
    tifffile.imwrite(src, np.random.default_rng(0).integers(0, 255, (32, 32), np.uint8))
    args = ["deblur", str(src), "-o", str(out), *WIENER, "--focus-below", below, "-q"]
    assert cli.main(args) == cli.EXIT_ERROR
    line = capsys.readouterr().err.strip()
    assert "appeared while this run wrote it" in line and "--overwrite" in line
    assert out.read_bytes() == THEIRS and _left(tmp_path) == ["in.tif", "r.png"]
    out.unlink()
    assert cli.main([*args, "--overwrite"]) == 0  # asked to replace: replaced
    assert out.read_bytes().startswith(b"\x89PNG")


def _tiny():
    torch.manual_seed(0)
    return build_model("c2f_unet", {"levels": 2, "depth": 3, "base_channels": 4}).eval()


def test_save_weights_without_overwrite_keeps_what_appeared(tmp_path, other_run_before_rename):
    from napari_microdeblur.core.checkpoint import save_weights

    path = tmp_path / "w.safetensors"
    with pytest.raises(OutputExistsError, match="appeared while this run wrote it"):
        save_weights(_tiny(), path, {"license": "MIT"}, overwrite=False)
    assert path.read_bytes() == THEIRS and _left(tmp_path) == ["w.safetensors"]
    save_weights(_tiny(), path, {"license": "MIT"})  # the default replaces, as before
    assert path.read_bytes() != THEIRS


def test_save_weights_without_overwrite_refuses_a_file_there_before(tmp_path):
    from napari_microdeblur.core.checkpoint import save_weights

    path = tmp_path / "w.safetensors"
    path.write_bytes(b"mine")
    with pytest.raises(OutputExistsError, match="exists; choose another name or overwrite=True"):
        save_weights(_tiny(), path, {"license": "MIT"}, overwrite=False)
    assert path.read_bytes() == b"mine" and _left(tmp_path) == ["w.safetensors"]


def test_export_without_overwrite_keeps_what_appeared(tmp_path, other_run_before_rename):
    from napari_microdeblur.core.export import export_bioimageio

    path, image = tmp_path / "m.zip", np.random.default_rng(0).normal(100, 10, (64, 64))
    with pytest.raises(OutputExistsError, match="appeared while this run wrote it"):
        export_bioimageio(_tiny(), {"license": "MIT"}, path, test_input=image.astype(np.float32),
                          overwrite=False)
    # the package's own weights file (a temporary folder) was not the one refused
    assert other_run_before_rename[-1] == path
    assert path.read_bytes() == THEIRS and _left(tmp_path) == ["m.zip"]
    path.unlink()
    (tmp_path / "m.zip").write_bytes(b"mine")
    with pytest.raises(OutputExistsError, match="exists; choose another name"):
        export_bioimageio(_tiny(), {"license": "MIT"}, path, test_input=image.astype(np.float32),
                          overwrite=False)
    assert path.read_bytes() == b"mine"


def test_copy_atomically_without_overwrite_keeps_what_appeared(tmp_path, monkeypatch):
    """train --out's copy of the run's best checkpoint: the other run's --out is kept."""
    import shutil

    src, dst = tmp_path / "best.safetensors", tmp_path / "out.safetensors"
    src.write_bytes(b"ours")
    real = shutil.copy2

    def then_the_other_run(a, b, **kwargs):
        real(a, b, **kwargs)
        dst.write_bytes(THEIRS)

    monkeypatch.setattr(shutil, "copy2", then_the_other_run)
    with pytest.raises(OutputExistsError, match="appeared while this run wrote it"):
        copy_atomically(src, dst, overwrite=False)
    assert dst.read_bytes() == THEIRS and _left(tmp_path) == ["best.safetensors",
                                                               "out.safetensors"]
    copy_atomically(src, dst)  # the default replaces, as before (a Save dialog asked)
    assert dst.read_bytes() == b"ours" and _left(tmp_path) == ["best.safetensors",
                                                               "out.safetensors"]
