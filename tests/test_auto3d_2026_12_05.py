"""'auto' on a short z-stack (benchmarks/psf3d_auto.py --short): a widefield PSF cut to a few
planes holds about 1/planes of its light in focus, over 0.2, yet 3D Richardson-Lucy won there;
a confocal one holds more and stays with the network plane by plane."""

import numpy as np
import pytest

from napari_microdeblur.core import optics
from napari_microdeblur.core.bundled import auto_runs_in_3d
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.psf import in_focus_share


def _normalised(psf):
    psf = np.asarray(psf, dtype=np.float64)
    return psf / psf.sum()


def test_a_widefield_psf_cut_to_a_six_plane_stack_runs_in_3d():
    # one plane deeper than the stack: cut to 5 planes, 0.22 of the light in focus
    psf = _normalised(optics.widefield_psf(1.4, 0.6, 0.1, nz=7, dz=0.3, size=33))
    spec = MethodSpec("auto", psf=psf)
    cut = spec.psf_for_image("ZYX", (6, 96, 96))
    assert cut.shape[0] == 5 and 0.2 < in_focus_share(cut) < 0.25
    assert auto_runs_in_3d(spec, "ZYX", (6, 96, 96))


def test_the_walkthrough_model_on_six_planes_runs_in_3d():
    # the time lapse's DAPI PSF as a model: 5 planes, as it is, 0.205 of the light in focus
    spec = MethodSpec("auto", psf="widefield:na=1.4,wavelength=0.46,pixel=0.1,nz=5,dz=0.3")
    assert auto_runs_in_3d(spec.check(), "ZYX", (6, 128, 128))
    assert auto_runs_in_3d(spec.check(), "CZYX", (2, 6, 128, 128))


@pytest.mark.parametrize("nz", [5, 7, 21])
def test_a_confocal_psf_on_a_six_plane_stack_stays_plane_by_plane(nz):
    psf = _normalised(optics.confocal_psf(1.35, 0.62, 0.1, excitation_wavelength=0.56, nz=nz,
                                          dz=0.3, size=33))
    spec = MethodSpec("auto", psf=psf)
    assert in_focus_share(spec.psf_for_image("ZYX", (6, 96, 96))) > 0.4
    assert not auto_runs_in_3d(spec, "ZYX", (6, 96, 96))
