"""`microdeblur degrade` keeps what its input states (channel names, time interval, LUTs) and
records how the file was made (it kept pixel sizes and axes only, and recorded nothing); a NaN
input is refused naming the file; `evaluate FILE --reference FOLDER` says what folder mode needs
(it said 'leave the file out of FILE')."""

import hashlib

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.imagej_luts import ramp_lut


def _named(path):
    rng = np.random.default_rng(1)
    data = (rng.random((2, 2, 32, 32)) * 3000 + 100).astype(np.uint16)
    tifffile.imwrite(path, data, metadata={
        "axes": "ZCYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1, "PhysicalSizeZ": 0.5,
        "Channel": {"Name": ["DAPI", "GFP"]}})
    return path


def _degrade(source, out, *extra):
    assert main(["degrade", str(source), "-o", str(out), "--protocol", "A", "-q", *extra]) == 0
    return io.read_image(out)


def test_degrade_keeps_channel_names_and_records_how_it_was_made(tmp_path, capsys):
    source = _named(tmp_path / "named.ome.tif")
    out = _degrade(source, tmp_path / "named_deg.ome.tif", "--seed", "3")
    assert out.axes == "ZCYX" and out.pixel_size == pytest.approx({"X": 0.1, "Y": 0.1, "Z": 0.5})
    assert out.metadata["channel_names"] == ["DAPI", "GFP"]
    made = out.metadata["microdeblur"]["degradation"]
    assert made["protocol"] == "A" and made["seed"] == 3 and made["psf"] == "gaussian:1.6"
    assert made["psf_shape"] == [25, 25] and made["noise"] == {"gaussian_sigma": 2 / 255}
    assert made["source_file"] == "named.ome.tif"  # its name, no folder
    assert made["input_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    # no top-level source_file: a folder batch would leave the degraded file out as made
    # from its sharp one; no method: it is no deblur
    assert {"source_file", "method", "previous"}.isdisjoint(out.metadata["microdeblur"])
    assert main(["info", str(tmp_path / "named_deg.ome.tif")]) == 0
    text = capsys.readouterr().out
    assert "channels: DAPI, GFP" in text and "deblur record: none" not in text


def test_degrade_keeps_an_imagej_time_interval_and_lut(tmp_path):
    source = tmp_path / "ij.tif"
    data = (np.random.default_rng(2).random((2, 2, 32, 32)) * 900 + 50).astype(np.uint16)
    tifffile.imwrite(source, data, imagej=True, metadata={
        "axes": "TCYX", "finterval": 2.0, "mode": "composite",
        "LUTs": [ramp_lut((0, 1, 0)), ramp_lut((1, 0, 1))]})
    out = _degrade(source, tmp_path / "ij_deg.tif")
    assert out.metadata["time_interval"] == pytest.approx(2.0)
    assert [lut.tolist() for lut in out.metadata["luts"]] == [
        ramp_lut((0, 1, 0)).tolist(), ramp_lut((1, 0, 1)).tolist()]


def test_a_degraded_file_deblurs_with_its_record_as_previous(tmp_path):
    degraded = tmp_path / "named_deg.ome.tif"
    _degrade(_named(tmp_path / "named.ome.tif"), degraded)
    assert main(["deblur", str(degraded), "-o", str(tmp_path / "deb.ome.tif"), "-q",
                 "--method", "wiener", "--psf", "gaussian:1.6", "--balance", "0.1"]) == 0
    record = io.read_image(tmp_path / "deb.ome.tif").metadata["microdeblur"]
    assert record["source_file"] == "named_deg.ome.tif" and record["method"] == "wiener"
    assert record["previous"]["degradation"]["protocol"] == "A"
    # degrading a deblurred file: its deblur record does not become the degraded one's
    out = _degrade(tmp_path / "deb.ome.tif", tmp_path / "again.ome.tif")
    assert out.metadata["microdeblur"]["degradation"]["source_file"] == "deb.ome.tif"
    assert {"method", "previous"}.isdisjoint(out.metadata["microdeblur"])


def test_the_info_lines_of_a_degrade_record(tmp_path):
    from napari_microdeblur.cli_degrade import degradation_lines, is_degradation_record

    out = _degrade(_named(tmp_path / "named.ome.tif"), tmp_path / "d.ome.tif")
    record = out.metadata["microdeblur"]
    assert is_degradation_record(record) and not is_degradation_record({"method": "wiener"})
    first, made = degradation_lines(record)
    assert first.startswith("  degraded: protocol A, PSF gaussian:1.6 (25 x 25 px), Gaussian "
                            "noise sigma 0.007843 of the intensity range 0 to ")
    assert first.endswith(", seed 0") and made.startswith("  made from named.ome.tif (sha256 ")
    assert degradation_lines({"degradation": {}})[0] == (
        "  degraded: protocol ?, PSF not recorded, noise not recorded, seed ?")


def test_degrade_names_an_input_with_nan_pixels(tmp_path, capsys):
    source = tmp_path / "fnan.tif"
    image = np.ones((32, 32), np.float32)
    image[3, 4] = np.nan
    tifffile.imwrite(source, image)
    assert main(["degrade", str(source), "-o", str(tmp_path / "o.tif"), "--protocol", "A"]) == 2
    err = capsys.readouterr().err
    assert f"input '{source}' holds 1 NaN or Inf pixel (of 1024)" in err
    assert not (tmp_path / "o.tif").exists()


def test_degrade_names_an_input_smaller_than_the_psf(tmp_path, capsys):
    source = tmp_path / "small.tif"
    tifffile.imwrite(source, np.ones((10, 10), np.uint16))
    assert main(["degrade", str(source), "-o", str(tmp_path / "o.tif"), "--protocol", "A"]) == 2
    assert f"error: '{source}': the image has shape (10, 10)" in capsys.readouterr().err


def test_evaluate_one_file_against_a_folder_says_what_folder_mode_needs(tmp_path, capsys):
    refs = tmp_path / "test_sharp"
    refs.mkdir()
    tifffile.imwrite(refs / "a.tif", np.ones((32, 32), np.uint16))
    blurred = tmp_path / "blurred.tif"
    tifffile.imwrite(blurred, np.ones((32, 32), np.uint16))
    assert main(["evaluate", str(blurred), "--reference", str(refs)]) == 2
    err = capsys.readouterr().err
    assert "leave the file out of" not in err
    assert (f"'{blurred}' is one file but --reference '{refs}' is a folder or glob, with no file "
            "named blurred.*: give --reference the reference file of this prediction, or give "
            "a folder (or quoted glob) of predictions") in err


def test_info_says_a_degraded_file_and_a_deblur_of_it_as_such(tmp_path, capsys):
    """`info` of degrade's output said 'deblurred: method not recorded / made from an
    unrecorded source'; it says how the test input was made, and a deblur of it says so as
    its previous run."""
    from napari_microdeblur.cli import main

    tifffile.imwrite(tmp_path / "s.tif", np.random.default_rng(0).random((64, 64)).astype(
        np.float32))
    assert main(["degrade", str(tmp_path / "s.tif"), "-o", str(tmp_path / "d.tif"),
                 "--protocol", "A", "--seed", "3", "-q"]) == 0
    assert main(["deblur", str(tmp_path / "d.tif"), "-o", str(tmp_path / "dd.tif"), "-q",
                 "--method", "wiener", "--psf", "gaussian:1.6", "--balance", "0.1"]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "d.tif")]) == 0
    said = capsys.readouterr().out
    assert "  degraded: protocol A, PSF gaussian:1.6" in said and "seed 3" in said
    assert "made from s.tif" in said and "deblurred:" not in said
    assert main(["info", str(tmp_path / "dd.tif")]) == 0
    assert "  previous: degraded: protocol A" in capsys.readouterr().out
