"""From a walkthrough of malformed files: a FIFO named pipe.tif in an input folder made deblur
and focus wait forever; a Zarr store declaring chunks of 0 px ended in a ZeroDivisionError
traceback; a 230-byte TIFF declaring (2^32-1)^2 px passed the truncation check (np.prod
wrapped around int64), as did a (2^32, 2^32) .npy; a .npy of header version 3.0 skipped the
check and was loaded whole (18.6 GiB); a 440 KB PSF file of 10000 x 10000 px ran a deblur out
of memory; a 33 KB OME-TIFF declaring 100000 x 100000 x 1000 px took 9.4 GB in tifffile's
series. Each is now refused (or left out) in one line naming the file, before any large
allocation. The hostile files are built here as the walkthrough's generators built them."""

from __future__ import annotations

import contextlib
import os
import struct
import threading
import time
import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.input_files import find_inputs
from napari_microdeblur.core.notes import DeblurWarning
from napari_microdeblur.core.psf import read_psf
from napari_microdeblur.core.tiff_header import read_tiff_header

GRAY = (np.arange(64 * 64).reshape(64, 64) % 251).astype(np.uint16)
QUICK_S = 20  # a refusal from the header comes at once; decoding what is declared would not


def _quick(call):
    """``call()``'s ValueError, which must come within ``QUICK_S`` seconds."""
    start = time.monotonic()
    with pytest.raises(ValueError) as caught:
        call()
    assert time.monotonic() - start < QUICK_S
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# ------------------------------------------------------------------- FIFOs in input folders

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")


@contextlib.contextmanager
def _unblocking(fifo, after: float = 15.0):
    """Within: a reader blocked on opening ``fifo`` for over ``after`` s is let go (a writer
    opens and closes it: the reader sees an empty file); yields the list of times it had to."""
    unblocked, stop = [], threading.Event()

    def watch():
        if stop.wait(after):
            return
        while not stop.is_set():
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                unblocked.append(time.monotonic())
            except OSError:  # no reader waiting now
                pass
            stop.wait(0.2)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield unblocked
    finally:
        stop.set()
        thread.join()


def _folder_with_fifo(tmp_path):
    folder = tmp_path / "win4"
    folder.mkdir()
    tifffile.imwrite(folder / "a.tif", GRAY)
    os.mkfifo(folder / "pipe.tif")
    return folder


@needs_fifo
def test_a_fifo_in_an_input_folder_is_left_out_in_one_warning(tmp_path):
    folder = _folder_with_fifo(tmp_path)
    try:
        (folder / "link.tif").symlink_to(folder / "a.tif")  # a link to a file is an input
        linked = [folder / "link.tif"]
    except (OSError, NotImplementedError):
        linked = []
    with _unblocking(folder / "pipe.tif") as unblocked, \
            pytest.warns(DeblurWarning) as said:
        found = find_inputs(folder)
    assert not unblocked, "listing the folder opened the FIFO"
    assert found == sorted([folder / "a.tif", *linked])
    lines = [str(w.message) for w in said if "pipe.tif" in str(w.message)]
    assert len(lines) == 1 and "not a regular file" in lines[0]


@needs_fifo
def test_a_glob_leaves_a_fifo_out_and_a_fifo_alone_is_refused(tmp_path):
    folder = _folder_with_fifo(tmp_path)
    with _unblocking(folder / "pipe.tif") as unblocked, \
            pytest.warns(DeblurWarning, match="pipe.tif"):
        found = find_inputs(str(folder / "*.tif"))
    assert not unblocked and found == [folder / "a.tif"]
    (folder / "a.tif").unlink()
    with pytest.raises(FileNotFoundError, match=r"holds no image file.*not a regular file.*pipe"):
        find_inputs(folder)
    with pytest.raises(ValueError, match=r"pipe.tif' is not a regular file"):
        find_inputs(folder / "pipe.tif")


@needs_fifo
def test_focus_on_a_folder_with_a_fifo_scores_the_rest_without_waiting(tmp_path, capsys):
    folder = _folder_with_fifo(tmp_path)
    with _unblocking(folder / "pipe.tif") as unblocked:
        code = main(["focus", str(folder)])
    assert not unblocked, "focus waited on the FIFO"
    err = capsys.readouterr().err
    assert code == 0 and "pipe.tif" in err and "not a regular file" in err


# ------------------------------------------------------------------------ Zarr chunks of 0

def test_a_zarr_with_chunks_of_0_px_is_refused_in_one_line(tmp_path):
    pytest.importorskip("zarr")
    store = tmp_path / "zchunk0.zarr"
    store.mkdir()
    (store / ".zarray").write_text(
        '{"zarr_format": 2, "shape": [100, 100], "chunks": [0, 0], "dtype": "<u2", '
        '"compressor": null, "fill_value": 0, "order": "C", "filters": null}')
    message = _quick(lambda: io.read_image(store))
    assert "zchunk0.zarr" in message and "chunks of 0 px" in message


# --------------------------------------------------- declared sizes past int64 (TIFF, .npy)

def _tiff_declaring(path, width, height, strip: bytes, bits: int = 8):
    """A little-endian TIFF of one uncompressed strip declaring ``width`` x ``height`` px
    (tifffile cannot write such a header): the walkthrough's mk.py."""
    out = bytearray(b"II*\x00\x00\x00\x00\x00") + strip
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, bits), (259, 3, 1, 1),
            (262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height),
            (279, 4, 1, len(strip))]
    if len(out) % 2:
        out += b"\x00"
    struct.pack_into("<I", out, 4, len(out))
    out += struct.pack("<H", len(tags))
    for tag, kind, count, value in tags:
        out += (struct.pack("<HHIHH", tag, kind, count, value, 0) if kind == 3
                else struct.pack("<HHII", tag, kind, count, value))
    out += b"\x00\x00\x00\x00"
    path.write_bytes(bytes(out))
    return path


def test_a_tiff_declaring_more_bytes_than_int64_holds_is_refused(tmp_path):
    path = _tiff_declaring(tmp_path / "overflow.tif", 0xFFFFFFFF, 0xFFFFFFFF, b"\x07" * 100)
    held = path.stat().st_size
    message = _quick(lambda: io.read_image(path))
    assert "overflow.tif" in message
    assert f"declares {0xFFFFFFFF ** 2 + 8} bytes, the file holds {held}" in message


def _npy(path, shape, version=(1, 0), dtype="<u2", fortran=False, data=b"\x00" * 64):
    """A .npy file whose header declares ``shape`` (version 1.0, 2.0 or 3.0), followed by
    ``data``: the walkthrough's mk.py."""
    header = repr({"descr": dtype, "fortran_order": fortran, "shape": shape}).encode()
    size = 4 if version != (1, 0) else 2
    pad = 64 - (8 + size + len(header) + 1) % 64
    path.write_bytes(b"\x93NUMPY" + bytes(version)
                     + struct.pack("<I" if size == 4 else "<H", len(header) + pad + 1)
                     + header + b" " * pad + b"\n" + data)
    return path


@pytest.mark.parametrize("fortran", [False, True])
def test_a_npy_declaring_more_bytes_than_int64_holds_is_refused(tmp_path, fortran):
    path = _npy(tmp_path / "npy_overflow.npy", (2**32, 2**32), fortran=fortran)
    message = _quick(lambda: io.read_image(path))
    held = path.stat().st_size
    assert "npy_overflow.npy" in message  # its header, then 64 bytes of data
    assert f"declares {2**65 + held - 64} bytes, the file holds {held}" in message


def test_a_npy_of_header_version_3_is_checked_like_the_others(tmp_path):
    # 8000 x 8000 uint8: 64 MB, what the old reader loaded whole before it saw the file short
    path = _npy(tmp_path / "npy_v3.npy", (8000, 8000), version=(3, 0), dtype="|u1")
    message = _quick(lambda: io.read_image(path))
    assert "npy_v3.npy" in message
    assert f"declares {64_000_000 + path.stat().st_size - 64} bytes" in message
    # a whole one is read, region by region as a version 1.0 file is
    whole = _npy(tmp_path / "whole_v3.npy", (64, 64), version=(3, 0), data=GRAY.tobytes())
    data = io.read_image(whole)
    assert isinstance(data.array, io.TiffArray)
    np.testing.assert_array_equal(np.asarray(data.array), GRAY)


def test_a_npy_of_a_negative_size_or_unknown_version_is_refused_in_one_line(tmp_path):
    negative = _npy(tmp_path / "npy_neg.npy", (-8, 8))
    assert "(-8, 8)" in _quick(lambda: io.read_image(negative))
    newer = _npy(tmp_path / "npy_v9.npy", (8, 8), version=(9, 0))
    assert "version (9, 0)" in _quick(lambda: io.read_image(newer))


# ---------------------------------------------------------------------- a PSF file too large

def test_a_psf_file_over_4096_px_a_side_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    path = tmp_path / "wide_psf.tif"
    tifffile.imwrite(path, np.ones((8, 4097), np.float32), compression="zlib")

    def decoded(*args, **kwargs):
        raise AssertionError("the PSF was decoded")

    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", decoded)
    message = _quick(lambda: read_psf(path))
    assert "wide_psf.tif" in message and "8 x 4097 px" in message
    assert "4096 px a side" in message and "support" in message


def test_a_psf_file_over_the_pixel_limit_is_refused(tmp_path, monkeypatch):
    from napari_microdeblur.core import psf_likeness

    monkeypatch.setattr(psf_likeness, "MAX_PSF_PIXELS", 2000, raising=False)
    path = tmp_path / "psf3d.tif"
    tifffile.imwrite(path, np.ones((9, 15, 15), np.float32))
    assert "9 x 15 x 15 px" in _quick(lambda: read_psf(path))


def test_a_psf_file_within_the_limits_is_read_as_before(tmp_path):
    grid = np.mgrid[-7:8, -7:8]
    spot = np.exp(-0.5 * (grid**2).sum(0) / 2.0).astype(np.float32)
    path = tmp_path / "spot.tif"
    tifffile.imwrite(path, spot)
    psf = read_psf(path)
    assert psf.shape == (15, 15) and np.isclose(psf.sum(), 1.0, atol=1e-5)


# ------------------------------------------ an OME-TIFF declaring far more than it can hold

NS = 'xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"'


def _ome(path, size_x, size_y, size_z, tiff_data='<TiffData/>'):
    """A 128 x 128 px one-page OME-TIFF whose OME-XML declares these sizes: mkome.py."""
    xml = (f'<?xml version="1.0" encoding="UTF-8"?><OME {NS} UUID="urn:uuid:1"><Image '
           f'ID="Image:0" Name="x"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16" '
           f'SizeX="{size_x}" SizeY="{size_y}" SizeZ="{size_z}" SizeC="1" SizeT="1">'
           f'<Channel ID="Channel:0:0" SamplesPerPixel="1"/>{tiff_data}</Pixels></Image></OME>')
    tifffile.imwrite(path, np.zeros((128, 128), np.uint16), description=xml, metadata=None)
    return path


# each kept small enough for the old reader's list of missing planes (tens of MB): the
# walkthrough's 100000 x 100000 x 1000 px took 9.4 GB there
@pytest.mark.parametrize("sizes", [(100000, 100000, 20), (128, 128, 5_000_000)])
def test_an_ome_tiff_declaring_far_more_planes_than_it_holds_is_refused(tmp_path, sizes):
    path = _ome(tmp_path / "bigdims.ome.tif", *sizes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tifffile's own lines, on the old reader
        message = _quick(lambda: io.read_image(path))
        assert message == _quick(lambda: read_tiff_header(path))
    assert "bigdims.ome.tif" in message and "OME-XML declares" in message
    assert f"of {sizes[0]} x {sizes[1]} px" in message


def test_an_ome_tiff_that_holds_what_it_declares_is_read(tmp_path):
    path = _ome(tmp_path / "ok.ome.tif", 128, 128, 1, '<TiffData IFD="0" PlaneCount="1"/>')
    assert io.read_image(path).array.shape == (128, 128)
    assert read_tiff_header(path).shape == (128, 128)


def test_a_tiny_first_image_before_a_large_compressible_one_is_read(tmp_path):
    """Review of 377c533: each Image's planes were counted on the first page's pixels, so a
    16 x 16 thumbnail before a blank 20000 x 20000 zlib slide read as impossible."""
    import tifffile

    from napari_microdeblur.core import io

    path = tmp_path / "thumb_first.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(np.full((16, 16), 7, np.uint8))
        tif.write(np.zeros((20000, 20000), np.uint8), compression="zlib", tile=(4096, 4096))
    assert path.stat().st_size < 2_000_000
    with pytest.warns(Warning):
        image = io.read_image(path)
    assert image.array.shape == (16, 16)
