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


def test_degrade_to_a_zarr_name_is_refused(tmp_path, capsys):
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8))
    assert main(["degrade", str(src), "-o", str(tmp_path / "d.zarr"), "--protocol", "A"]) == 2
    assert "this writes a TIFF; name it .tif" in capsys.readouterr().err
    assert not (tmp_path / "d.zarr").exists()
