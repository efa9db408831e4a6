"""Walkthrough 2026-12-09: a 3D optics PSF without dz= on an image without Z was told to add
dz=, and then, with it, refused as 3D on an image without Z. It is now told to drop nz=."""

from __future__ import annotations

import numpy as np
import tifffile

from napari_microdeblur.cli import main

PSF = "widefield:na=1.2,wavelength=0.5,pixel=0.1,nz=9"


def test_a_3d_model_lacking_dz_on_a_time_series_is_told_to_drop_nz(tmp_path, capsys):
    source = tmp_path / "tyx.tif"
    tifffile.imwrite(source, np.full((3, 48, 48), 50, np.uint8), imagej=True,
                     metadata={"axes": "TYX"})
    assert main(["deblur", str(source), "-o", str(tmp_path / "out.tif"), "--method",
                 "richardson_lucy", "--psf", PSF]) == 2
    err = capsys.readouterr().err
    assert "is a 3D model (nz=) but the image has no Z axis (axes TYX): leave out nz=" in err
    assert "lacks dz=" not in err and not (tmp_path / "out.tif").exists()


def test_a_3d_model_lacking_dz_on_a_stack_is_still_told_to_add_it(tmp_path, capsys):
    source = tmp_path / "zyx.tif"
    tifffile.imwrite(source, np.full((3, 48, 48), 50, np.uint8), imagej=True,
                     metadata={"axes": "ZYX"})
    assert main(["deblur", str(source), "-o", str(tmp_path / "out.tif"), "--method",
                 "richardson_lucy", "--psf", PSF]) == 2
    assert "lacks dz= and the image file states no Z step" in capsys.readouterr().err
