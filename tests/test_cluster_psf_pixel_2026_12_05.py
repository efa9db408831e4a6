"""A cluster run, like one machine, completes an optics PSF's pixel= from each file's
calibration (its spec check had refused 'lacks pixel' before any task was sent)."""

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("psfmodels")

from napari_microdeblur.core import io  # noqa: E402
from napari_microdeblur.core.cluster import deblur_files_on_cluster  # noqa: E402
from napari_microdeblur.core.io_write import write_image  # noqa: E402
from napari_microdeblur.core.method import MethodSpec  # noqa: E402
from napari_microdeblur.core.tiling_spec import TilingSpec  # noqa: E402


def test_a_cluster_run_takes_an_optics_pixel_from_each_file(tmp_path):
    pairs = []
    for i, pixel in enumerate((0.1132, 0.08)):
        source = tmp_path / f"in{i}.tif"
        write_image(source, np.random.default_rng(i).random((48, 48)).astype(np.float32),
                    axes="YX", pixel_size={"Y": pixel, "X": pixel})
        pairs.append((str(source), str(tmp_path / f"out{i}.tif")))
    spec = MethodSpec("wiener", psf="widefield:na=1.4,wavelength=0.52", balance=0.01)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local, \
            distributed.Client(local) as client:
        records = deblur_files_on_cluster(pairs, scheduler=client, method=spec,
                                          tiling=TilingSpec())
    assert [r.get("error") for r in records] == [None, None]
    psfs = [io.read_image(out).metadata["microdeblur"]["psf"] for _, out in pairs]
    assert psfs == ["widefield:na=1.4,wavelength=0.52,pixel=0.1132",
                    "widefield:na=1.4,wavelength=0.52,pixel=0.08"]
