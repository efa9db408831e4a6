"""An inproc:// scheduler address reaches only a scheduler in the same Python process: given one
that is not there (on the command line it never is), the run stops with a line saying what to
give instead, not dask's 'not enough values to unpack', and writes nothing."""

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core.cluster import deblur_files_on_cluster

pytest.importorskip("distributed")


@pytest.mark.parametrize("address", ["inproc://x", "inproc://127.0.0.1/999/1"])
def test_cli_names_what_to_give_for_a_foreign_inproc_address(tmp_path, capsys, address):
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "a.tif", np.zeros((32, 32), np.uint8))
    out = tmp_path / "out"
    assert main(["deblur", str(src), "-o", str(out), "--method", "wiener", "--psf",
                 "gaussian:1.5", "--scheduler", address]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"microdeblur: error: no dask scheduler at {address!r} in this Python "
                   "process: an inproc:// address reaches only a scheduler started in the same "
                   "process (LocalCluster(processes=False)); from the command line or another "
                   "process, start one with `dask scheduler` and give its tcp:// address")
    assert not out.exists()


def test_python_api_says_it_too(tmp_path):
    with pytest.raises(ValueError, match="start one with `dask scheduler`"):
        deblur_files_on_cluster([(str(tmp_path / "a.tif"), str(tmp_path / "b.tif"))],
                                scheduler="inproc://nothing", method="wiener",
                                psf="gaussian:1.5")
