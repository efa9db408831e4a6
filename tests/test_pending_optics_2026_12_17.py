"""An optics PSF whose pixel= and dz= come from the file's calibration is checked before any
file with those values standing in; a 2D stand-in ('gaussian:1') had refused `auto
--iterations`, which a 3D optics PSF reads on a z-stack (Richardson-Lucy in 3D)."""

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.psf_fit import check_spec_before_image

PENDING_3D = "widefield:na=1.4,wavelength=0.46,nz=21"


@pytest.mark.parametrize("psf", [PENDING_3D, f"{PENDING_3D};{PENDING_3D.replace('0.46', '0.52')}"])
def test_auto_with_iterations_and_a_pending_3d_optics_psf_is_checked_as_3d(psf):
    spec = MethodSpec("auto", psf=psf, iterations=3)
    assert check_spec_before_image(spec) is spec


def test_the_cli_runs_richardson_lucy_in_3d_with_the_files_calibration(tmp_path, capsys):
    stack = np.random.default_rng(0).random((12, 48, 48)).astype(np.float32) * 100
    source = tmp_path / "z.tif"
    tifffile.imwrite(source, stack, imagej=True, resolution=(10, 10),
                     metadata={"axes": "ZYX", "spacing": 0.3, "unit": "um"})
    out = tmp_path / "out.tif"
    assert main(["deblur", str(source), "-o", str(out), "--psf", PENDING_3D,
                 "--iterations", "2"]) == 0
    assert "richardson_lucy on ZYX" in capsys.readouterr().out
    assert tifffile.imread(out).shape == stack.shape
