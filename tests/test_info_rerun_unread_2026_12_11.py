"""`microdeblur info --command` on an output of an older version that recorded a setting its
method did not read (the image type beside a named network, iterations beside Wiener) gives a
command this version runs: those settings are left out (they were refused on the rerun)."""

import numpy as np
import pytest

from napari_microdeblur.cli import main
from napari_microdeblur.core import io_write


def _old_output(path, method_spec, method, parameters=None):
    record = {"source_file": "a.tif", "method": method, "method_spec": method_spec,
              "parameters": parameters or {}, "axes": "YX", "output_dtype": "float32"}
    io_write.write_image(path, np.zeros((16, 16), np.float32), axes="YX", record=record)


@pytest.mark.parametrize("spec, method, parameters, dropped, kept", [
    ({"name": "gran.fluo_v1", "modality": "em"}, "gran.fluo_v1", {}, "--modality",
     "--method gran.fluo_v1"),
    ({"name": "wiener", "psf": "gaussian:1.5"}, "wiener", {"iterations": 30, "balance": 0.01},
     "--iterations", "--balance 0.01"),
    ({"name": "richardson_lucy", "psf": "gaussian:1.5"}, "richardson_lucy",
     {"iterations": 12, "balance": 0.01}, "--balance", "--iterations 12"),
])
def test_the_rerun_leaves_out_what_the_method_does_not_read(tmp_path, capsys, spec, method,
                                                          parameters, dropped, kept):
    out = tmp_path / "old.tif"
    _old_output(out, spec, method, parameters)
    assert main(["info", "--command", str(out)]) == 0
    command = capsys.readouterr().out.strip()
    assert dropped not in command and kept in command, command


def test_what_the_method_reads_stays(tmp_path, capsys):
    out = tmp_path / "auto.tif"
    _old_output(out, {"name": "auto", "modality": "em"}, "auto")
    assert main(["info", "--command", str(out)]) == 0
    assert "--modality em" in capsys.readouterr().out
