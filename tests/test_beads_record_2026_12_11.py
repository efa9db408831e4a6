"""`microdeblur psf-from-beads` writes the PSF with a record of how it was measured (the fields
the Deblur dock's "PSF from beads" layer records): `microdeblur info` on the PSF says from
which beads, how many were averaged and the warning of few or dim beads, so a PSF measured
from weak beads still says so when someone picks the file up later."""

import json

import numpy as np
import tifffile
from scipy import ndimage
from test_beads_dim_2026_12_10 import spaced_beads

from napari_microdeblur.cli import main
from napari_microdeblur.core import io


def _bright_beads(n=12, size=256, seed=3):
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size))
    for y, x in rng.uniform(20, size - 20, (n, 2)):
        image[int(y), int(x)] = 5000.0
    return rng.poisson(ndimage.gaussian_filter(image, 1.5) + 100).astype(np.uint16)


def test_dim_beads_psf_records_the_warning_and_info_prints_it(tmp_path, capsys):
    beads, out = tmp_path / "dimbeads.tif", tmp_path / "psf.tif"
    tifffile.imwrite(beads, spaced_beads(1))
    assert main(["psf-from-beads", str(beads), "-o", str(out), "-q"]) == 0
    warned = capsys.readouterr().err.strip().removeprefix("microdeblur: warning: ")
    record = io.read_image(out).metadata["microdeblur"]
    assert record["psf_from_beads"] == "dimbeads.tif" and record["axes"] == "YX"
    assert record["report"].startswith("12 of ") and record["report"].endswith(
        f"; warning: {warned}")
    assert main(["info", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"  PSF from beads dimbeads.tif: {record['report']}" in lines
    assert any(t.startswith("  made from dimbeads.tif, ") for t in lines)
    assert "  deblur record: none" not in lines
    assert main(["info", "--json", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["microdeblur"]["report"] == record["report"]


def test_bright_beads_record_has_no_warning(tmp_path, capsys):
    beads, out = tmp_path / "beads.tif", tmp_path / "psf.tif"
    tifffile.imwrite(beads, _bright_beads())
    assert main(["psf-from-beads", str(beads), "-o", str(out), "-q"]) == 0
    assert capsys.readouterr().err == ""
    record = io.read_image(out).metadata["microdeblur"]
    assert "warning" not in record["report"] and "beads averaged" in record["report"]
