"""An inproc:// scheduler address reaches only a scheduler in the same Python process: given one
that is not there (on the command line it never is), the run stops with a line saying what to
give instead, not dask's 'not enough values to unpack', and writes nothing."""

import subprocess
import sys

import numpy as np
import pytest
import tifffile

pytest.importorskip("distributed")


@pytest.mark.parametrize("address", ["inproc://x", "inproc://127.0.0.1/999/1"])
def test_cli_names_what_to_give_for_a_foreign_inproc_address(tmp_path, address):
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "a.tif", np.zeros((32, 32), np.uint8))
    out = tmp_path / "out"
    # in its own process, as a user runs it (the in-process case, and that a failed connection
    # leaves dask's settings as they were, is tests/test_cluster_client_2026_12_13.py)
    done = subprocess.run([sys.executable, "-m", "napari_microdeblur", "deblur", str(src), "-o",
                           str(out), "--method", "wiener", "--psf", "gaussian:1.5",
                           "--scheduler", address], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    err = done.stderr.strip()
    assert err == (f"microdeblur: error: no dask scheduler at {address!r} in this Python "
                   "process: an inproc:// address reaches only a scheduler started in the same "
                   "process (LocalCluster(processes=False)); from the command line or another "
                   "process, start one with `dask scheduler` and give its tcp:// address")
    assert not out.exists()
