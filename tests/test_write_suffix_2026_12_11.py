"""``io_write.write_image`` writes TIFF only: a .zarr or .png name is refused in one line, where
a TIFF was written under it (`microdeblur degrade x.tif -o y.zarr` made a file named .zarr that
no Zarr reader opens)."""

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io_write


@pytest.mark.parametrize("name", ["y.zarr", "y.png", "y.npy"])
def test_write_image_refuses_a_name_that_is_not_tiff(tmp_path, name):
    with pytest.raises(ValueError, match="this writes a TIFF; name it .tif or .tiff"):
        io_write.write_image(tmp_path / name, np.zeros((8, 8), np.float32), axes="YX")
    assert list(tmp_path.iterdir()) == []


def test_write_image_still_writes_tiff_and_ome_tiff(tmp_path):
    for name in ("a.tif", "b.TIFF", "c.ome.tif"):
        io_write.write_image(tmp_path / name, np.ones((8, 8), np.float32), axes="YX")
        assert tifffile.imread(tmp_path / name).shape == (8, 8)


@pytest.mark.parametrize("name", ["d.zarr", "d.png"])
@pytest.mark.parametrize("command", ["degrade", "psf-from-beads"])
def test_tiff_only_commands_name_tiff_alone(tmp_path, capsys, name, command):
    """degrade and psf-from-beads write TIFF only: both refuse other names before any work,
    in one line naming .tif/.tiff (a .png had been told '.tif, .tiff or .zarr', then a .zarr
    that it writes a TIFF)."""
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8))
    extra = ["--protocol", "A"] if command == "degrade" else []
    assert main([command, str(src), "-o", str(tmp_path / name), *extra]) == 2
    assert capsys.readouterr().err.strip().endswith(f"{name}' must end in .tif or .tiff")
    assert not (tmp_path / name).exists()
