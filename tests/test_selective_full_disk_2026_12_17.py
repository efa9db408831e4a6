"""A full disk met while `deblur --focus-below` writes a file unchanged (its own writer) is
said with its advice; it was the bare '[Errno 28] No space left on device'."""

import contextlib
import errno
from types import SimpleNamespace

import numpy as np
import pytest

from napari_microdeblur import cli_selective
from napari_microdeblur.core import io_write


def test_a_full_disk_in_the_unchanged_write_names_the_output_and_the_advice(tmp_path,
                                                                             monkeypatch):
    class Full:
        def __setitem__(self, key, value):
            raise OSError(errno.ENOSPC, "No space left on device")

    @contextlib.contextmanager
    def full_output(*args, **kwargs):
        yield Full()

    monkeypatch.setattr(io_write, "open_output", full_output)
    data = SimpleNamespace(pixel_size=None, metadata={})
    output = tmp_path / "out.tif"
    with pytest.raises(OSError, match="out.tif.*free some space or choose another disk") as got:
        cli_selective._write(output, np.zeros((8, 8), np.float32), "YX", data, {}, None,
                             overwrite=False)
    assert got.value.errno == errno.ENOSPC
