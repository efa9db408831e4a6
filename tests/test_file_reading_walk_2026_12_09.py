"""From a new user's walk through file formats: a gray palette PNG read as RGB, output names of
237-254 characters failing on their hidden temporary name, a .npy refused with a wrong list of
what is built in, and a print resolution (72 dpi) read as a pixel size of 352.8 um."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_microdeblur.cli import main
from napari_microdeblur.core import io, io_bioio, io_write, partials

GRAY = (np.arange(64 * 48).reshape(64, 48) % 251).astype(np.uint8)


@pytest.fixture
def dead_pid():
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


# ----------------------------------------------------------------------------- palette PNG

def test_a_gray_palette_png_reads_as_its_gray_values(tmp_path):
    path = tmp_path / "pal.png"
    Image.fromarray(GRAY).convert("P").save(path)
    assert Image.open(path).mode == "P"
    data = io.read_image(path)
    assert data.axes == "YX" and data.array.dtype == np.uint8
    np.testing.assert_array_equal(data.array, GRAY)


def test_a_coloured_palette_png_stays_rgb(tmp_path):
    path = tmp_path / "colour.png"
    rgb = np.dstack([GRAY, GRAY // 2, 255 - GRAY])
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    data = io.read_image(path)
    assert data.axes == "YXS" and data.array.shape == (64, 48, 3)


def test_cli_deblur_of_a_gray_palette_png_writes_a_gray_image(tmp_path):
    path = tmp_path / "pal.png"
    Image.fromarray(GRAY).convert("P").save(path)
    out = tmp_path / "out.tif"
    assert main(["deblur", str(path), "-o", str(out), "--method", "wiener", "--psf",
                 "gaussian:1", "--balance", "0.05", "-q"]) == 0
    assert tifffile.imread(out).shape == GRAY.shape


# ----------------------------------------------------------------------------- long names

def test_an_output_name_near_the_limit_is_written(tmp_path):
    out = tmp_path / ("g" * 240 + "_out.tif")
    io_write.write_image(out, GRAY, axes="YX")
    np.testing.assert_array_equal(tifffile.imread(out), GRAY)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary left


def test_a_shortened_temporary_name_fits_and_stays_recognised(tmp_path, monkeypatch):
    out = tmp_path / ("g" * 240 + "_out.tif")
    name = partials.temporary_name(out).name
    assert len(os.fsencode(name)) <= 255 and name.endswith(".partial")
    (tmp_path / name).write_bytes(b"half")  # this process runs: kept
    assert partials.remove_stale_partials(out) == [] and (tmp_path / name).exists()
    other = tmp_path / ("g" * 240 + "_other.tif")  # another output's is never read as this one
    assert partials.partials_of([other]) == {}
    assert partials.partials_of([out]) == {tmp_path / name: {out.name}}


def test_a_killed_runs_shortened_temporary_is_removed(tmp_path, monkeypatch, dead_pid):
    out = tmp_path / ("ü" * 120 + "_out.tif")  # 248 bytes: non-ASCII names count in bytes
    real = os.getpid
    monkeypatch.setattr(partials.os, "getpid", lambda: dead_pid)
    stale = partials.temporary_name(out)
    monkeypatch.setattr(partials.os, "getpid", lambda: 7)  # a pid of another length
    other_length = partials.temporary_name(out)
    monkeypatch.setattr(partials.os, "getpid", real)
    stale.write_bytes(b"left by a killed run")
    other_length.write_bytes(b"left by a killed run")
    monkeypatch.setattr(partials, "process_is_gone", lambda pid: pid in (dead_pid, 7))
    assert sorted(partials.remove_stale_partials(out)) == sorted([stale, other_length])
    assert list(tmp_path.iterdir()) == []


def test_an_output_name_over_the_limit_names_itself_and_the_limit(tmp_path):
    out = tmp_path / ("g" * 260 + ".tif")
    with pytest.raises(ValueError, match=r"output name 'g+\.tif' is 264 bytes long; the file "
                       r"system takes names of up to 255: choose a shorter name"):
        io_write.write_image(out, GRAY, axes="YX")


def test_cli_output_name_over_the_limit_names_itself_and_the_limit(tmp_path, capsys):
    """The command line asked whether the output was a folder first: 'File name too long'."""
    source = tmp_path / "in.tif"
    tifffile.imwrite(source, GRAY)
    out = tmp_path / ("g" * 260 + ".tif")
    assert main(["deblur", str(source), "-o", str(out), "--method", "wiener", "--psf",
                 "gaussian:1", "--balance", "0.05", "-q"]) == 2
    assert "is 264 bytes long; the file system takes names of up to 255" in capsys.readouterr().err


def test_a_folder_batch_takes_npy_and_bmp_files(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    np.save(src / "a.npy", GRAY)
    Image.fromarray(GRAY).save(src / "b.bmp")
    assert main(["deblur", str(src), "-o", str(out), "--method", "wiener", "--psf",
                 "gaussian:1", "--balance", "0.05", "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_deblurred.tif", "b_deblurred.tif"]


# ----------------------------------------------------------------------------- .npy

def test_a_npy_array_is_read(tmp_path):
    path = tmp_path / "arr.npy"
    np.save(path, GRAY.astype(">u2"))
    data = io.read_image(path)
    assert data.array.shape == GRAY.shape and data.array.dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(data.array), GRAY)
    np.testing.assert_array_equal(data.array[10:20, 5], GRAY[10:20, 5])
    fortran = tmp_path / "fortran.npy"
    np.save(fortran, np.asfortranarray(np.stack([GRAY, GRAY[::-1]])))
    np.testing.assert_array_equal(np.asarray(io.read_image(fortran).array)[1], GRAY[::-1])


def test_cli_deblurs_a_npy_array(tmp_path):
    path = tmp_path / "arr.npy"
    np.save(path, GRAY)
    out = tmp_path / "out.tif"
    assert main(["deblur", str(path), "-o", str(out), "--method", "wiener", "--psf",
                 "gaussian:1", "--balance", "0.05", "-q"]) == 0
    assert tifffile.imread(out).shape == GRAY.shape


def test_a_npy_of_objects_is_refused_without_loading_it(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([[{"a": 1}, None]], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="holds object values.*save the image as a number "
                       "array or a TIFF"):
        io.read_image(path)


def test_an_unknown_format_says_what_is_built_in_and_what_formats_adds(tmp_path, monkeypatch):
    monkeypatch.setattr(io_bioio, "_reader_classes", lambda: ([], None))  # no bioio here
    for suffix, fix in ((".czi", "pip install 'napari-microdeblur[formats]' bioio-czi"),
                        (".xyz", "the bioio plugin for .xyz")):
        path = tmp_path / f"image{suffix}"
        path.write_bytes(b"not an image")
        with pytest.raises(ValueError) as caught:
            io.read_image(path)
        message = str(caught.value)
        assert "\n" not in message and fix in message
        assert "only TIFF" not in message
        assert all(f in message for f in ("TIFF", "PNG", "JPEG", ".npy", "Zarr"))


# ----------------------------------------------------------------------------- print DPI

def _dpi(path, dpi, unit="INCH"):
    tifffile.imwrite(path, GRAY, resolution=(dpi, dpi), resolutionunit=unit)
    return path


@pytest.mark.parametrize("dpi", [72, 96, 150, 300, 600, 1200])
def test_a_print_resolution_is_no_pixel_size(tmp_path, dpi):
    path = _dpi(tmp_path / f"dpi{dpi}.tif", dpi)
    with pytest.warns(UserWarning, match=f"resolution {dpi} pixels per inch ignored: a print "
                      "resolution"):
        assert io.read_image(path).pixel_size == {}


def test_info_says_what_it_ignored_in_one_line(tmp_path, capsys):
    path = _dpi(tmp_path / "dpi72.tif", 72)
    assert main(["info", str(path)]) == 0
    captured = capsys.readouterr()
    assert "pixel size: not stated" in captured.out and "352" not in captured.out
    said = [line for line in captured.err.splitlines() if "72 pixels per inch" in line]
    assert said == ["microdeblur: warning: dpi72.tif: resolution 72 pixels per inch ignored: "
                    "a print resolution (a pixel of 352.8 um), not a microscope's pixel size"]


def test_an_output_of_a_72_dpi_file_states_no_pixel_size(tmp_path):
    path = _dpi(tmp_path / "dpi72.tif", 72)
    out = tmp_path / "out.tif"
    assert main(["deblur", str(path), "-o", str(out), "--method", "wiener", "--psf",
                 "gaussian:1", "--balance", "0.05", "-q"]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the output says nothing to ignore
        assert io.read_image(out).pixel_size == {}


@pytest.mark.parametrize("write, expected", [
    (lambda p: tifffile.imwrite(p, GRAY, resolution=(1e4 / 0.065, 1e4 / 0.065),
                                resolutionunit="CENTIMETER"), 0.065),
    (lambda p: tifffile.imwrite(p, GRAY, resolution=(25400 / 0.5, 25400 / 0.5),
                                resolutionunit="INCH"), 0.5),
    (lambda p: tifffile.imwrite(p, GRAY, imagej=True, resolution=(1 / 0.2, 1 / 0.2),
                                metadata={"axes": "YX", "unit": "micron"}), 0.2),
    (lambda p: tifffile.imwrite(p, GRAY, imagej=True, resolution=(1 / 25.0, 1 / 25.0),
                                metadata={"axes": "YX", "unit": "micron"}), 25.0),
])
def test_real_calibrations_are_kept(tmp_path, write, expected):
    path = tmp_path / "cal.tif"
    write(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert io.read_image(path).pixel_size == pytest.approx({"X": expected, "Y": expected})


def test_a_truncated_fortran_order_npy_is_said_to_be_truncated(tmp_path):
    """Review 2026-12-09: a Fortran-order file cut short said to save it as a number array."""
    path = tmp_path / "f.npy"
    np.save(path, np.asfortranarray(np.stack([GRAY, GRAY])))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="the file is truncated"):
        io.read_image(path)
