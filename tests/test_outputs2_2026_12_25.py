"""`microdeblur deblur`'s outputs (review of 2026-12-25). A disk too small for the output was
found only at a write deep in the run (a 3000 x 3000 px Richardson-Lucy into a 20 MB tmpfs:
22 s of its 32 computed, then 'No space left on device'): now refused before any work, a
compressed output (.zarr) warned of. An OME-Zarr's translation deblurred to .tif was dropped
without a word (a .zarr output keeps it), an affine transformation by either."""

from __future__ import annotations

import json
import os
import shutil
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli
from napari_microdeblur.core import free_space, io, io_write

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu",
          "-q"]
Usage = namedtuple("Usage", "total used free")


def _tif(path, size=64, seed=0):
    rng = np.random.default_rng(seed)
    tifffile.imwrite(path, rng.integers(0, 4000, (size, size), dtype=np.uint16))
    return path


def _small_disk(monkeypatch, folder: Path, free: int) -> None:
    """``shutil.disk_usage`` says ``free`` bytes for ``folder`` and what is inside it."""
    real, folder = shutil.disk_usage, Path(folder).resolve()

    def usage(path):
        found = real(path)
        inside = Path(path).resolve() == folder or folder in Path(path).resolve().parents
        return Usage(found.total, found.used, free) if inside else found

    monkeypatch.setattr(shutil, "disk_usage", usage)
    # as on a mount whose reserved blocks this process may not write (else they are added)
    monkeypatch.setattr(free_space, "may_write_reserve", lambda device: False)


def _no_compute(monkeypatch) -> list:
    """The files a deblur started computing (``files.iter_deblur_file``: every route's)."""
    from napari_microdeblur.core import files

    started, real = [], files.iter_deblur_file

    def counted(source, *args, **kwargs):
        started.append(Path(source).name)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(files, "iter_deblur_file", counted)
    return started


def _moved_zarr(path, transforms=None, size=48):
    """An OME-Zarr at Y 10, X 20 um (0.5 um pixels); ``transforms``: its level's, instead."""
    image = np.random.default_rng(1).integers(0, 4000, (size, size), dtype=np.uint16)
    with io_write.open_zarr_output(path, image.shape, image.dtype, axes="YX",
                                   pixel_size={"Y": 0.5, "X": 0.5},
                                   metadata={"position": {"Y": 10.0, "X": 20.0}}) as target:
        target[...] = image
    if transforms is not None:
        attrs = Path(path) / ".zattrs"
        found = json.loads(attrs.read_text())
        found["multiscales"][0]["datasets"][0]["coordinateTransformations"] = transforms
        attrs.write_text(json.dumps(found))
    return path


# ---------------------------------------------------------------- free space, before any work

def test_one_output_that_cannot_fit_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    source = _tif(tmp_path / "a.tif", size=256)  # 256 x 256 float32: 262 kB
    out = tmp_path / "out"
    out.mkdir()
    _small_disk(monkeypatch, out, 100_000)
    started = _no_compute(monkeypatch)
    assert cli.main(["deblur", str(source), "-o", str(out / "a.tif"), *WIENER]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err  # one line
    assert "output" in err and "a.tif' needs about 262 kB in" in err
    assert "which has 100 kB free" in err and "write elsewhere (-o)" in err
    assert started == [] and os.listdir(out) == []  # nothing computed, nothing written


def test_a_batch_that_cannot_fit_is_refused_before_its_first_file(tmp_path, monkeypatch, capsys):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir(), out.mkdir()
    for i in range(3):
        _tif(folder / f"t{i}.tif", seed=i)  # 64 x 64 float32: 16.4 kB each
    _small_disk(monkeypatch, out, 40_000)  # two fit, the third not: it had failed last
    started = _no_compute(monkeypatch)
    assert cli.main(["deblur", str(folder), "-o", str(out), *WIENER]) == 2
    err = capsys.readouterr().err
    assert "the 3 outputs this run writes need about 49.2 kB in" in err
    assert "which has 40 kB free" in err
    assert started == [] and os.listdir(out) == []


def test_only_the_outputs_not_yet_written_are_counted(tmp_path, monkeypatch, capsys):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir(), out.mkdir()
    for i in range(3):
        _tif(folder / f"t{i}.tif", seed=i)
    for i in range(2):  # a rerun: these are skipped, the third alone is written
        _tif(out / f"t{i}_deblurred.tif", seed=i)
    _small_disk(monkeypatch, out, 20_000)
    assert cli.main(["deblur", str(folder), "-o", str(out), *WIENER]) == 0
    assert "1 done, 2 skipped" in capsys.readouterr().err
    # with --overwrite each replaced output's old bytes are freed once its new one is in place
    # (``atomic_write``): the fullest moment is the last new one beside the others. The two
    # placeholders (8.3 kB) grow to 16.4 kB: 2 x 8.1 + 16.4 kB more than is free beside them
    _small_disk(monkeypatch, out, 20_000)
    assert cli.main(["deblur", str(folder), "-o", str(out), *WIENER, "--overwrite"]) == 2
    assert "the 3 outputs this run writes need about 32.3 kB" in capsys.readouterr().err
    monkeypatch.undo()
    assert cli.main(["deblur", str(folder), "-o", str(out), *WIENER, "--overwrite"]) == 0
    # each as large as the one it replaces: one output's bytes free are enough
    _small_disk(monkeypatch, out, 17_000)
    assert cli.main(["deblur", str(folder), "-o", str(out), *WIENER, "--overwrite"]) == 0
    assert "3 done" in capsys.readouterr().err


def test_a_compressed_output_that_may_not_fit_is_warned_of_not_refused(tmp_path, monkeypatch,
                                                                        capsys):
    source = _tif(tmp_path / "a.tif", size=128)  # 65.5 kB as float32
    _small_disk(monkeypatch, tmp_path, 50_000)
    assert cli.main(["deblur", str(source), "-o", str(tmp_path / "a.zarr"), *WIENER]) == 0
    err = capsys.readouterr().err
    assert "warning: output" in err and "may need up to about 65.5 kB" in err
    assert io.read_image(tmp_path / "a.zarr").array.shape == (128, 128)


def test_the_estimate_reads_headers_only_and_skips_a_damaged_file(tmp_path, monkeypatch, capsys):
    from napari_microdeblur.core.free_space import output_bytes

    big = tmp_path / "big.tif"  # compressed: the header declares 3000 x 3000 px
    tifffile.imwrite(big, np.zeros((3000, 3000), np.uint16), compression="zlib", tile=(512, 512))
    assert big.stat().st_size < 1_000_000
    assert output_bytes(big, tmp_path / "o.tif", "float32") == 3000 * 3000 * 4
    assert output_bytes(big, tmp_path / "o.tif", "input") == 3000 * 3000 * 2
    # an uncompressed file cut short: its read refuses it in its own words, not this check
    cut = _tif(tmp_path / "cut.tif", size=256)
    with open(cut, "r+b") as handle:
        handle.truncate(40_000)
    assert output_bytes(cut, tmp_path / "o.tif", "float32") is None
    _small_disk(monkeypatch, tmp_path, 10)
    assert cli.main(["deblur", str(cut), "-o", str(tmp_path / "o.tif"), *WIENER]) == 2
    err = capsys.readouterr().err
    assert "truncated" in err and "free" not in err


# -------------------------------------------------------------------- position of a Zarr input

def test_a_zarr_position_dropped_by_a_tif_output_is_said_and_kept_by_zarr(tmp_path, capsys):
    source = _moved_zarr(tmp_path / "moved.zarr")
    assert cli.main(["deblur", str(source), "-o", str(tmp_path / "o.tif"), *WIENER]) == 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert "o.tif' keeps no position" in err and "Y 10, X 20 um" in err
    assert "write a .zarr output" in err
    assert cli.main(["deblur", str(source), "-o", str(tmp_path / "o.zarr"), *WIENER]) == 0
    assert "position" not in capsys.readouterr().err  # kept: nothing to say
    assert io.read_image(tmp_path / "o.zarr").metadata["position"] == {"Y": 10.0, "X": 20.0}


def test_a_batch_of_moved_zarr_inputs_says_so_in_one_line(tmp_path, capsys):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir(), out.mkdir()
    for name in ("m1.zarr", "m2.zarr"):
        _moved_zarr(folder / name)
    assert cli.main(["deblur", str(folder), "-o", str(out), *WIENER]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "position" in line]
    assert len(lines) == 1 and "2 Zarr inputs sit away from 0" in lines[0], lines
    assert "m1.zarr' at Y 10, X 20 um" in lines[0]


@pytest.mark.parametrize("output", ["o.tif", "o.zarr"])
def test_an_affine_transformation_left_out_is_said(tmp_path, capsys, output):
    affine = [{"type": "scale", "scale": [0.5, 0.5]},
              {"type": "affine", "affine": [[1, 0, 10.0], [0, 1, 20.0]]}]
    source = _moved_zarr(tmp_path / "skewed.zarr", transforms=affine)
    assert cli.main(["deblur", str(source), "-o", str(tmp_path / output), *WIENER]) == 0
    err = capsys.readouterr().err
    assert f"{output}': the input's coordinate transformation 'affine' is not read" in err
    assert "placed without it" in err
