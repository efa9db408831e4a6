"""`microdeblur psf-estimate` writes a record into its PSF TIFF, as psf-from-beads and
psf-from-weights do: the source image's name (no folder), the plane read, the model and what
GCV found, the --axes given and the version; `info` prints it and `info --command` gives the
psf-estimate command whose rerun writes the same PSF bit for bit."""

import json
import shlex

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur import __version__
from napari_microdeblur.cli import main
from napari_microdeblur.cli_info import describe, text_block


def _blurred(path, shape, sigma=1.6):
    """A noisy random texture blurred in Y and X (each plane of a stack)."""
    rng = np.random.default_rng(3)
    image = ndimage.gaussian_filter(rng.random(shape) * 1000, (0, sigma, sigma)[-len(shape):])
    image += rng.normal(0, 1, shape)
    tifffile.imwrite(path, image.astype(np.float32), photometric="minisblack",
                     metadata={"axes": "ZYX"[-len(shape):]})


@pytest.mark.parametrize("shape", [(96, 80), (3, 64, 72)])
def test_psf_estimate_output_records_its_image_plane_and_model(tmp_path, capsys, shape):
    folder = tmp_path / "private_folder"
    folder.mkdir()
    _blurred(folder / "blurred.tif", shape)
    out = tmp_path / "psf.tif"
    assert main(["psf-estimate", str(folder / "blurred.tif"), "-o", str(out)]) == 0
    printed = capsys.readouterr().out.strip().split(": ", 1)[1]
    record = describe(str(out))["microdeblur"]
    assert isinstance(record, dict)  # the old code wrote none
    assert record["psf_estimate"] == record["source_file"] == "blurred.tif"
    assert "private_folder" not in json.dumps(record)  # records travel with shared files
    assert record["report"] == printed  # what the command said of the estimate
    assert record["model"] in printed and record["model"].startswith(("gaussian:", "astig:"))
    found = record["estimate"]
    assert found["sigma_major"] >= found["sigma_minor"] > 0 and found["balance"] > 0
    assert record["axes"] == "YX" and record["input_axes"] is None
    assert record["software_version"] == __version__
    plane = record["plane"]
    assert plane["image_axes"] == "ZYX"[-len(shape):] and plane["shape"] == list(shape)
    assert plane["at"] == ({"Z": 1} if len(shape) == 3 else {})
    assert plane["crop"] == {"Y": [0, shape[-2]], "X": [0, shape[-1]]}
    # info prints it as it prints the other PSF writers' records
    lines = text_block(describe(str(out)))
    assert "deblur record: none" not in lines
    assert (f"  PSF estimated from blurred.tif (GCV blur identification, on the centre "
            f"{shape[-2]} x {shape[-1]} px") in lines
    assert f"{record['model']} (sigma in px" in lines
    assert "  made from blurred.tif, " in lines and f"microdeblur {__version__}" in lines


def test_info_command_of_a_psf_estimate_remakes_it_bit_for_bit(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the command names the image as its record does
    _blurred(tmp_path / "blurred.tif", (3, 64, 72))
    assert main(["psf-estimate", "blurred.tif", "-o", "psf.tif", "--axes", "ZYX", "-q"]) == 0
    capsys.readouterr()
    assert main(["info", "--command", "psf.tif"]) == 0
    out, err = capsys.readouterr()
    command = shlex.split(out.strip())
    assert command == ["microdeblur", "psf-estimate", "blurred.tif", "-o", "psf_rerun.tif",
                       "--axes", "ZYX"]
    assert "error" not in err
    assert main([*command[1:], "-q"]) == 0
    first, again = tifffile.imread("psf.tif"), tifffile.imread("psf_rerun.tif")
    assert first.dtype == again.dtype and np.array_equal(first, again)
    assert (describe("psf_rerun.tif")["microdeblur"]["model"]
            == describe("psf.tif")["microdeblur"]["model"])
    assert main(["info", "--command", "--json", "psf.tif"]) == 0
    assert json.loads(capsys.readouterr().out)["command"] == out.strip()


def test_info_command_of_a_psf_with_no_record_names_psf_estimate(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "bare.tif", np.ones((9, 9), np.float32),
                     metadata={"axes": "YX"})
    assert main(["info", "--command", str(tmp_path / "bare.tif")]) != 0
    assert "psf-from-weights or psf-estimate)" in capsys.readouterr().err
