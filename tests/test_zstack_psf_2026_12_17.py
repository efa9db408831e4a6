"""3D PSFs on z-stacks (walkthrough of 2026-12-17): a PSF file's Z step taken as an image's that
states none was not said; one PSF file per channel was never resampled to the image's voxels;
`info --command` named the 3D model asked for, not the one 'auto' ran (refused on the stack),
and named the whole file for a napari result made from one of its channel layers."""

from __future__ import annotations

import shlex
import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io, io_write
from napari_microdeblur.core.files import deblur_file
from napari_microdeblur.core.method import MethodSpec, PsfArray
from napari_microdeblur.core.notes import DeblurWarning
from napari_microdeblur.core.psf import gaussian_psf

Z_LINE = "its Z step of 0.1 um is taken as the image's, which states none"


def _stack(planes=9, size=32, channels=None):
    rng = np.random.default_rng(0)
    shape = (planes, size, size) if channels is None else (planes, channels, size, size)
    return (rng.poisson(50, shape) + 100).astype(np.float32)


def _psf_file(path, dz=0.1, sigmas=(2.0, 1.2, 1.2), size=(15, 9, 9), spacing=True):
    psf = gaussian_psf(sigmas, size=size, ndim=3).astype(np.float32)
    metadata = {"unit": "um", "axes": "ZYX", **({"spacing": dz} if spacing else {})}
    tifffile.imwrite(path, psf, imagej=True, resolution=(10, 10), metadata=metadata)
    return str(path)


def _run(source, out, psf, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur_file(str(source), str(out), method="richardson_lucy", psf=psf, iterations=2,
                    **options)
    return [str(w.message) for w in caught if issubclass(w.category, DeblurWarning)]


# ------------------------------------------------------------ a Z step stated on one side only

def test_a_psf_z_step_taken_as_an_image_that_states_none_is_said_once(tmp_path):
    # was: only "the PSF was cut"; the 0.1 um planes ran as the stack's (really 0.3 um)
    image = tmp_path / "noz.tif"
    tifffile.imwrite(image, _stack(), imagej=True, resolution=(10, 10),
                     metadata={"unit": "um", "axes": "ZYX"})
    said = _run(image, tmp_path / "o.tif", _psf_file(tmp_path / "psf_dz01.tif"))
    lines = [s for s in said if Z_LINE in s]
    assert len(lines) == 1, said
    assert "psf_dz01.tif" in lines[0] and "PhysicalSizeZ" in lines[0] and "voxel depth" in lines[0]


def test_a_psf_without_a_z_step_on_a_stack_that_states_one_is_said(tmp_path):
    image = tmp_path / "z03.tif"
    tifffile.imwrite(image, _stack(), imagej=True, resolution=(10, 10),
                     metadata={"unit": "um", "axes": "ZYX", "spacing": 0.3})
    said = _run(image, tmp_path / "o.tif", _psf_file(tmp_path / "nz.tif", spacing=False))
    assert any("it states no Z step: taken to have the image's (0.3 um)" in s for s in said), said


def test_the_z_step_line_only_where_z_is_deconvolved_and_one_side_says_it(tmp_path):
    from napari_microdeblur.core.psf_scale import psf_scale_note

    psf = _psf_file(tmp_path / "psf_dz01.tif")
    assert Z_LINE in psf_scale_note(psf, {"Y": 0.1, "X": 0.1}, "ZYX")
    assert psf_scale_note(psf, {"Y": 0.1, "X": 0.1}, "YX") is None  # plane by plane
    assert psf_scale_note(psf, {"Z": 0.1, "Y": 0.1, "X": 0.1}, "ZYX") is None  # both agree


# ------------------------------------------------------------------ one PSF file per channel

def _channel_files(tmp_path):
    a = _psf_file(tmp_path / "a_dz01.tif", sigmas=(3.0, 1.2, 1.2), size=(21, 9, 9))
    b = _psf_file(tmp_path / "b_dz01.tif", sigmas=(4.5, 1.8, 1.8), size=(27, 11, 11))
    return a, b


def test_each_channels_psf_file_is_resampled_as_its_file_alone_is(tmp_path):
    from napari_microdeblur.core.psf_scale import channel_resampling, psf_for_image

    a, b = _channel_files(tmp_path)
    sizes = {"Z": 0.3, "Y": 0.1, "X": 0.1}
    spec = MethodSpec("richardson_lucy", psf=f"{a};{b}", iterations=2)
    psfs, line, records = channel_resampling(spec, sizes, "ZCYX", (9, 2, 32, 32))
    for i, path in enumerate((a, b)):
        alone, _ = psf_for_image(spec.replace(psf=path), sizes, "ZYX")
        assert isinstance(psfs[i], PsfArray) and psfs[i].origin == path
        np.testing.assert_array_equal(psfs[i].array, alone.psf.array)
        assert records[i]["psf_um"] == {"Z": 0.1} and records[i]["image_um"] == {"Z": 0.3}
    assert line.startswith("channel 1: the PSF") and "; channel 2: the PSF" in line
    assert line.count("resampled to the image's voxels") == 2
    # at the image's voxels: nothing to resample, the run goes as it did
    assert channel_resampling(spec, {"Z": 0.1, "Y": 0.1, "X": 0.1}, "ZCYX",
                              (9, 2, 32, 32)) == (None, None, None)


def test_per_channel_psf_files_deblur_each_channel_as_it_alone(tmp_path):
    a, b = _channel_files(tmp_path)
    stack = _stack(channels=2)
    calibration = {"resolution": (10, 10), "imagej": True}
    tifffile.imwrite(tmp_path / "zcyx.tif", stack, **calibration,
                     metadata={"unit": "um", "axes": "ZCYX", "spacing": 0.3})
    said = _run(tmp_path / "zcyx.tif", tmp_path / "both.tif", f"{a};{b}")
    assert sum("resampled to the image's voxels" in s for s in said) == 1, said
    both = tifffile.imread(tmp_path / "both.tif")
    for i, psf in enumerate((a, b)):
        tifffile.imwrite(tmp_path / f"c{i}.tif", stack[:, i], **calibration,
                         metadata={"unit": "um", "axes": "ZYX", "spacing": 0.3})
        _run(tmp_path / f"c{i}.tif", tmp_path / f"o{i}.tif", psf)
        np.testing.assert_allclose(both[:, i], tifffile.imread(tmp_path / f"o{i}.tif"),
                                   rtol=1e-6)


# ------------------------------------------------------------ info: the PSF that ran, rerun

ASKED = "widefield:na=1.4,wavelength=0.5,nz=11,pixel=0.2,dz=0.4"
RAN = ASKED.replace("nz=11", "nz=7")


def _output(path, record, shape=(7, 48, 48), axes="ZYX"):
    io_write.write_image(path, np.zeros(shape, np.float32), axes=axes, record=record)
    return str(path)


def _record(**fields):
    return {"source_file": "s7.tif", "method": "richardson_lucy", "psf": ASKED,
            "method_spec": {"name": "auto", "psf": ASKED}, "axes": "ZYX",
            "parameters": {"psf": RAN, "iterations": 1, "tv_weight": 0.0},
            "output_dtype": "float32", **fields}


def test_info_command_gives_the_3d_model_auto_ran_and_it_runs(tmp_path, capsys, monkeypatch):
    # was: --psf ...nz=11..., refused on the 7-plane stack it had run on with nz=7
    tifffile.imwrite(tmp_path / "s7.tif", _stack(planes=7, size=48), imagej=True,
                     resolution=(5, 5), metadata={"unit": "um", "axes": "ZYX", "spacing": 0.4})
    out = _output(tmp_path / "s7o.tif", _record())
    assert main(["info", "--command", out]) == 0
    command = capsys.readouterr().out.strip()
    assert f"--psf {RAN}" in command, command
    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(command)[1:]) == 0
    assert main(["info", out]) == 0
    shown = capsys.readouterr().out
    assert f"PSF {RAN} (given as {ASKED})" in shown, shown


def test_info_command_gives_each_channels_model_as_it_ran(tmp_path, capsys):
    other = ASKED.replace("0.5", "0.6")
    runs = [{"method": "richardson_lucy", "parameters": {"psf": p.replace("nz=11", "nz=7")}}
            for p in (ASKED, other)]
    record = _record(psf=f"{ASKED};psf.tif", channels=[runs[0], {
        "method": "richardson_lucy", "parameters": {"psf": "array"}}], axes="ZCYX")
    del record["parameters"]
    out = _output(tmp_path / "c.tif", record, shape=(7, 2, 16, 16), axes="ZCYX")
    assert main(["info", "--command", out]) == 0
    assert f"--psf '{RAN};psf.tif'" in capsys.readouterr().out  # a file stays its name


# ------------------------------------------------- info --command of one channel of a file

def _channel_layers(path):
    from napari_microdeblur._reader import layer_data

    return layer_data(io.read_image(path), str(path))[0][1]["name"]


def _dock_record(layer, source, axes="ZYX", **fields):
    return {"source_layer": layer, "source_file": source, "method": "richardson_lucy",
            "method_spec": {"name": "richardson_lucy", "psf": "gaussian:1.5"},
            "psf": "gaussian:1.5", "parameters": {"psf": "gaussian:1.5", "iterations": 5},
            "axes": axes, "output_dtype": "float32", **fields}


def test_info_command_refuses_a_result_of_one_channel_layer_in_one_line(tmp_path, capsys):
    # was: the whole file named with --axes ZYX, which deblur refused
    source = tmp_path / "cells.ome.tif"
    tifffile.imwrite(source, _stack(planes=3, size=16, channels=2).transpose(1, 0, 2, 3),
                     ome=True, metadata={"axes": "CZYX", "Channel": {"Name": ["DAPI", "GFP"]}})
    layer = _channel_layers(source)[1]
    out = _output(tmp_path / "res.tif", _dock_record(layer, "cells.ome.tif",
                                                     channel_names=["GFP"]), shape=(3, 16, 16))
    assert main(["info", "--command", out]) != 0
    said = capsys.readouterr()
    assert said.out == "" and len(said.err.strip().splitlines()) == 1, said
    assert "from channel 2 ('GFP') of cells.ome.tif" in said.err
    assert "no deblur option selects one channel" in said.err


def test_an_unnamed_channel_is_known_by_its_layer_name_without_the_file(tmp_path, capsys):
    source = tmp_path / "hyper.tif"
    tifffile.imwrite(source, _stack(planes=3, size=16, channels=2), imagej=True,
                     metadata={"axes": "ZCYX"})
    layer = _channel_layers(source)[1]
    source.unlink()  # moved since: the layer's name still says it
    out = _output(tmp_path / "res.tif", _dock_record(layer, "hyper.tif"), shape=(3, 16, 16))
    assert main(["info", "--command", out]) != 0
    assert "from channel 2 of hyper.tif" in capsys.readouterr().err


@pytest.mark.parametrize("layer, axes", [("cells", "ZYX"), ("cells", "ZCYX")])
def test_a_result_of_a_whole_file_still_gets_its_command(tmp_path, capsys, layer, axes):
    shape = (3, 2, 16, 16) if "C" in axes else (3, 16, 16)
    out = _output(tmp_path / "res.tif", _dock_record(layer, "cells.tif", axes), shape, axes)
    assert main(["info", "--command", out]) == 0
    assert f"--axes {axes}" in capsys.readouterr().out
