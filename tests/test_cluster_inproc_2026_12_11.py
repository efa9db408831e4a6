"""An inproc:// scheduler address reaches only a scheduler in the same Python process: given one
that is not there (on the command line it never is), the run stops with a line saying what to
give instead, not dask's 'not enough values to unpack', and writes nothing."""

import subprocess
import sys

import numpy as np
import pytest
import tifffile

pytest.importorskip("distributed")


def _folders(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "a.tif", np.zeros((32, 32), np.uint8))
    return src, tmp_path / "out"


def _args(src, out, address) -> list[str]:
    return ["deblur", str(src), "-o", str(out), "--method", "wiener", "--psf", "gaussian:1.5",
            "--scheduler", address]


def _expected(address) -> str:
    return (f"microdeblur: error: no dask scheduler at {address!r} in this Python "
            "process: an inproc:// address reaches only a scheduler started in the same "
            "process (LocalCluster(processes=False)); from the command line or another "
            "process, start one with `dask scheduler` and give its tcp:// address")


def test_cli_names_what_to_give_for_a_foreign_inproc_address(tmp_path):
    src, out = _folders(tmp_path)
    # in its own process, as a user runs it (the in-process case, and that a failed connection
    # leaves dask's settings as they were, is tests/test_cluster_client_2026_12_13.py)
    done = subprocess.run([sys.executable, "-m", "napari_microdeblur", *_args(src, out,
                                                                              "inproc://x")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == _expected("inproc://x")
    assert not out.exists()


@pytest.mark.parametrize("address", ["inproc://x", "inproc://127.0.0.1/999/1"])
def test_the_cli_entry_names_what_to_give_for_every_form_of_inproc_address(tmp_path, capsys,
                                                                          address):
    """The same line from the CLI's entry for both forms of address: a malformed one and one
    of another process's scheduler (pid 999). In this process, not one per address: both take
    the entry's one path, and each fresh interpreter imports torch (seconds)."""
    from napari_microdeblur.cli import main

    src, out = _folders(tmp_path)
    assert main(_args(src, out, address)) == 2
    assert capsys.readouterr().err.strip() == _expected(address)
    assert not out.exists()
