"""Audit 2026-12-05 (b) of io: the hidden temporary output a killed one-machine run left is
removed by the next run writing the same output (never a live run's, nor another output's),
and `train` names the two files of an unpaired image set whose axes differ."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io, io_write, partials, registry


def _partials(folder, name, pids):
    """A killed run's partial of ``name``, a live run's, and a killed run's of another name."""
    dead, live = pids
    made = {"stale": folder / f".{name}.{dead}.partial",
            "live": folder / f".{name}.{live}.partial",
            "other": folder / f".other_{name}.{dead}.partial"}
    for path in made.values():
        if name.endswith(".zarr"):
            (path / "0").mkdir(parents=True)
        else:
            path.write_bytes(b"half a tiff")
    return made


def _write_tiff(path):
    io_write.write_image(path, np.ones((8, 8), np.uint8), axes="YX")


def _open_tiff(path):
    with io_write.open_tiff_output(path, (8, 8), np.uint8, axes="YX") as target:
        target[...] = np.ones((8, 8), np.uint8)


def _open_zarr(path):
    with io_write.open_zarr_output(path, (8, 8), np.uint8, axes="YX") as target:
        target[...] = np.ones((8, 8), np.uint8)


@pytest.mark.parametrize(("name", "write"), [("out.tif", _write_tiff), ("out.tif", _open_tiff),
                                             ("out.zarr", _open_zarr)])
def test_a_killed_runs_partial_is_removed_a_live_ones_kept(tmp_path, pids, name, write):
    made = _partials(tmp_path, name, pids)
    write(tmp_path / name)
    assert not made["stale"].exists()
    assert made["live"].exists() and made["other"].exists()
    assert np.asarray(io.read_image(tmp_path / name).array).sum() == 64


def test_the_command_line_removes_a_killed_runs_partial(tmp_path, pids, capsys):
    src = tmp_path / "img.tif"
    tifffile.imwrite(src, (np.random.default_rng(0).random((32, 32)) * 200).astype(np.uint8))
    made = _partials(tmp_path, "out.tif", pids)
    assert main(["deblur", str(src), "-o", str(tmp_path / "out.tif"), "--method",
                 "richardson_lucy", "--psf", "gaussian:1.4", "--iterations", "1",
                 "--device", "cpu", "-q"]) == 0, capsys.readouterr().err
    assert not made["stale"].exists()
    assert made["live"].exists() and made["other"].exists()
    assert (tmp_path / "out.tif").is_file()


def test_only_names_of_the_pattern_and_no_link_are_removed(tmp_path, pids):
    dead, _ = pids
    kept = [tmp_path / ".out.tif.partial", tmp_path / f".out.tif.{dead}x.partial",
            tmp_path / f"out.tif.{dead}.partial", tmp_path / f".out.tif.{dead}.partial.bak"]
    for path in kept:
        path.write_bytes(b"user data")
    data = tmp_path / "data.tif"
    data.write_bytes(b"user data")
    link = tmp_path / f".out.tif.{dead}.partial"
    link.symlink_to(data)
    assert partials.remove_stale_partials(tmp_path / "out.tif") == []
    assert all(p.exists() for p in kept) and link.is_symlink() and data.exists()
    # a folder that does not exist has none, and is no error
    assert partials.remove_stale_partials(tmp_path / "none" / "out.tif") == []


def test_without_psutil_a_process_is_gone_only_when_the_system_says_so(monkeypatch, pids):
    dead, live = pids
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil raises ImportError
    assert partials.process_is_gone(dead)
    assert not partials.process_is_gone(live)
    assert not partials.process_is_gone(10**30)  # no such pid can be told: kept


# ---------------------------------------------------------------- train's unpaired sets

@pytest.mark.parametrize(("regime", "option"), [("psf_cyclegan", "--unpaired-blurry"),
                                                ("psf_cyclegan", "--unpaired-sharp"),
                                                ("sgpn", "--unlabelled")])
def test_an_unpaired_set_of_mixed_axes_names_two_files(tmp_path, fluo_u8, capsys, regime,
                                                        option):
    """It said "mixes images of axes ['YX', 'ZYX']", not which files."""
    plain, mixed = tmp_path / "plain", tmp_path / "mixed"
    plain.mkdir()
    mixed.mkdir()
    tifffile.imwrite(plain / "a.tif", fluo_u8, metadata={"axes": "YX"})
    tifffile.imwrite(mixed / "a.tif", fluo_u8, metadata={"axes": "YX"})
    tifffile.imwrite(mixed / "b.tif", fluo_u8, metadata={"axes": "YX"})
    tifffile.imwrite(mixed / "c.tif", np.stack([fluo_u8] * 4), metadata={"axes": "ZYX"})
    config = tmp_path / "arch.json"
    config.write_text(json.dumps(registry.get_arch(regime).tiny_config))
    sets = {"sgpn": ["--sharp", plain, "--unlabelled", plain],
            "psf_cyclegan": ["--unpaired-blurry", plain, "--unpaired-sharp", plain]}[regime]
    sets[sets.index(option) + 1] = mixed
    argv = ["train", "--regime", regime, "--arch", regime, "--config", str(config),
            "--out", str(tmp_path / "w.safetensors"), "--steps", "1", "--device", "cpu", "-q",
            *map(str, sets)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert f"{option} a.tif has axes YX but c.tif has ZYX" in err[0], err
    assert not (tmp_path / "w.safetensors").exists()
