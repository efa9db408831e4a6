"""io_write.write_image writes as napari's writer (``_writer``) did, through
``atomic_write``: a read-only file is kept, a full disk is one line naming the output, an
interrupted write leaves the file that was there and no temporary. ``microdeblur info`` opens
a contiguous TIFF once (a large OME-XML was parsed twice)."""

from __future__ import annotations

import errno

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli_info
from napari_microdeblur.core import io, io_write


def leftovers(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def _partial_then(error: BaseException):
    def imwrite(path, *args, **kwargs):  # half a file under the temporary name, then fails
        with open(path, "wb") as handle:
            handle.write(b"II*\0half a file")
        raise error
    return imwrite


def _existing(tmp_path):
    path = tmp_path / "out.tif"
    io_write.write_image(path, np.ones((8, 8), np.uint8), axes="YX")
    return path, path.read_bytes()


def test_write_image_keeps_a_read_only_file(tmp_path):
    path, before = _existing(tmp_path)
    path.chmod(0o444)
    with pytest.raises(PermissionError) as caught:  # rename replaced it, read-only or not
        io_write.write_image(path, np.zeros((8, 8), np.uint8), axes="YX", overwrite=True)
    message = str(caught.value)
    assert "read-only" in message and "out.tif" in message and "\n" not in message
    assert path.read_bytes() == before and not leftovers(tmp_path)


def test_write_image_on_a_full_disk_is_one_line_naming_the_output(tmp_path, monkeypatch):
    path, before = _existing(tmp_path)
    full = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(tifffile, "imwrite", _partial_then(full))
    with pytest.raises(OSError) as caught:
        io_write.write_image(path, np.zeros((8, 8), np.uint8), axes="YX", overwrite=True)
    message = str(caught.value)
    assert caught.value.errno == errno.ENOSPC
    # the output's name, not the temporary's, and what to do
    assert "out.tif" in message and ".partial" not in message and "free some space" in message
    assert path.read_bytes() == before and not leftovers(tmp_path)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("cancelled")])
def test_write_image_interrupted_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch,
                                                                      error):
    path, before = _existing(tmp_path)
    monkeypatch.setattr(tifffile, "imwrite", _partial_then(error))
    with pytest.raises(type(error)):
        io_write.write_image(path, np.zeros((8, 8), np.uint8), axes="YX", overwrite=True)
    assert path.read_bytes() == before and not leftovers(tmp_path)


def _count_opens(monkeypatch) -> list:
    opened = []
    real_init = tifffile.TiffFile.__init__

    def counting(self, *args, **kwargs):
        opened.append(args[0] if args else kwargs.get("file"))
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(tifffile.TiffFile, "__init__", counting)
    return opened


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_info_opens_a_tiff_once(tmp_path, monkeypatch, compression):
    path = tmp_path / "stack.ome.tif"
    stack = np.arange(3 * 2 * 16 * 16, dtype=np.uint16).reshape(3, 2, 16, 16)
    tifffile.imwrite(path, stack, ome=True, compression=compression,
                     metadata={"axes": "ZCYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2,
                               "PhysicalSizeZ": 0.5, "Channel": {"Name": ["dapi", "gfp"]}})
    opened = _count_opens(monkeypatch)
    info = cli_info.describe(str(path))
    assert len(opened) == 1  # a contiguous file was opened for its header, then read again
    assert info["shape"] == [3, 2, 16, 16] and info["axes"] == "ZCYX" and info["axes_stated"]
    assert info["pixel_size_um"] == {"X": 0.2, "Y": 0.2, "Z": 0.5}
    assert info["channel_names"] == ["dapi", "gfp"]


def test_read_tiff_from_an_open_file_reads_as_from_its_path(tmp_path):
    path = tmp_path / "rgb.tif"
    rgb = np.random.default_rng(0).integers(0, 255, (12, 10, 3), dtype=np.uint8)
    io_write.write_image(path, rgb, axes="YXS", pixel_size={"X": 0.5, "Y": 0.5})
    with tifffile.TiffFile(path) as tif:
        given = io.read_tiff(path, keep_alpha=True, opened=tif)
        assert not tif.filehandle.closed  # the caller's to close
    own = io.read_tiff(path, keep_alpha=True)
    assert (given.axes, given.pixel_size, given.note) == (own.axes, own.pixel_size, own.note)
    np.testing.assert_array_equal(np.asarray(given.array), np.asarray(own.array))


def test_streamed_outputs_keep_a_read_only_file_too(tmp_path):
    """``open_output`` (what ``microdeblur deblur --overwrite`` writes through) refuses a
    read-only output before any work, as ``write_image`` does: a user's mark is kept."""
    path, before = _existing(tmp_path)
    path.chmod(0o444)
    with pytest.raises(PermissionError, match="read-only"):
        io_write.check_output_path(path, overwrite=True)
    with pytest.raises(PermissionError, match="read-only"):
        with io_write.open_output(path, (8, 8), np.uint8, axes="YX", overwrite=True) as out:
            out[:] = 0
    assert path.read_bytes() == before
