"""The command line's messages, from a README walkthrough (2026-12-10): a glob's files of one
name in two folders were refused without the README's way out (-r); `watch` said a missing
output folder 'does not exist' without deblur's 'create it first'; channels were numbered
from 0 by evaluate ('DAPI (C0)') and --focus-below ('C 0: ...') but from 1 by info; a failed
batch quoted its failures list by its absolute path, not as the output folder was typed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy.ndimage import gaussian_filter

from napari_microdeblur.cli import main
from napari_microdeblur.core import io_write
from napari_microdeblur.core.cluster import failures_path
from napari_microdeblur.core.shown import shown_path

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu"]


def _tile(path, seed=0, size=48):
    rng = np.random.default_rng(seed)
    tifffile.imwrite(path, rng.integers(0, 255, (size, size), dtype=np.uint8))


@pytest.mark.parametrize("cluster", [False, True])
def test_a_globs_one_name_in_two_folders_is_refused_naming_r(tmp_path, capsys, cluster):
    g, out = tmp_path / "g", tmp_path / "out"
    for sub in ("a", "b"):
        (g / sub).mkdir(parents=True)
        _tile(g / sub / "x.tif")
    out.mkdir()
    # refused before a scheduler is reached: this address has none
    where = ["--scheduler", "tcp://127.0.0.1:9"] if cluster else []
    assert main(["deblur", str(g / "**" / "*.tif"), "-o", str(out), *WIENER, *where]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert (f"give their folder with -r instead ({shown_path(g)} -r: each output in the same "
            f"subfolder of {shown_path(out)}), or rename one") in err
    assert list(out.iterdir()) == []


def test_the_way_out_it_names_keeps_the_subfolders(tmp_path, capsys):
    g, out = tmp_path / "g", tmp_path / "out"
    for sub in ("a", "b"):
        (g / sub).mkdir(parents=True)
        _tile(g / sub / "x.tif", seed=len(sub))
    out.mkdir()
    assert main(["deblur", str(g), "-r", "-o", str(out), *WIENER, "-q"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.tif")) == [
        "a/x_deblurred.tif", "b/x_deblurred.tif"]


def test_a_glob_of_relative_folders_names_dot(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for sub in ("a", "b"):
        Path(sub).mkdir()
        _tile(Path(sub) / "x.tif")
    Path("out").mkdir()
    assert main(["deblur", "*/x.tif", "-o", "out", *WIENER]) == 2
    assert "with -r instead ('.' -r: each output in the same subfolder of 'out')" in (
        capsys.readouterr().err)


def test_watch_says_a_missing_output_folder_in_deblurs_words(tmp_path, capsys):
    src, missing = tmp_path / "in", tmp_path / "nope"
    src.mkdir()
    _tile(src / "a.tif")
    assert main(["deblur", str(src / "a.tif"), "-o", str(missing / "a.tif"), *WIENER]) == 2
    deblurs = capsys.readouterr().err.strip()
    assert main(["watch", str(src), str(missing), "--threshold", "0.005", "--once"]) == 2
    watchs = capsys.readouterr().err.strip()
    assert watchs == deblurs == (f"microdeblur: error: output directory {shown_path(missing)} "
                                 "does not exist; create it first")
    assert not missing.exists()


def _pair():
    rng = np.random.default_rng(0)
    ref = np.round(rng.random((2, 2, 48, 48)) * 1000).astype(np.uint16)
    pred = (ref + rng.normal(0, 20, ref.shape)).astype(np.float32)
    return pred, ref


@pytest.mark.parametrize("names", [("DAPI", "GFP"), None])
def test_evaluate_numbers_channels_from_1_in_text_and_keeps_json(tmp_path, capsys, names):
    pred, ref = _pair()
    meta = {} if names is None else {"channel_names": list(names)}
    for name, image in (("ref", ref), ("pred", pred)):
        io_write.write_image(tmp_path / f"{name}.ome.tif", image, axes="CZYX", metadata=meta)
    args = ["evaluate", str(tmp_path / "pred.ome.tif"), "--reference",
            str(tmp_path / "ref.ome.tif")]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    first, second = ("DAPI (channel 1): ", "GFP (channel 2): ") if names else (
        "channel 1: ", "channel 2: ")
    assert lines[2].startswith(f"  {first}PSNR") and lines[3].startswith(f"  {second}PSNR")
    table = lines[5:]
    assert table[0].split()[:2] == ["C", "Z"]
    assert table[1].split()[:-2] == (["DAPI", "0"] if names else ["channel", "1", "0"])
    assert "(C0)" not in "\n".join(lines) and "C1" not in "\n".join(lines)
    # --json as it was: indices from 0, an unnamed channel's name C0
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [ch["index"] for ch in out["channels"]] == [0, 1]
    assert [ch["name"] for ch in out["channels"]] == list(names or ("C0", "C1"))
    assert sorted({r["C"] for r in out["per_slice"]}) == [0, 1]


def test_focus_below_per_channel_counts_number_channels_from_1(tmp_path, capsys):
    rng = np.random.default_rng(3)
    sigmas = {0: (2.0, 4.0, 2.0, 2.0), 1: (0.7, 0.7, 2.5, 0.7)}
    image = np.stack([np.stack([gaussian_filter(rng.random((64, 64)) * 800, s) + 100
                                for s in sigmas[c]]) for c in (0, 1)]).astype(np.uint16)
    path, out = tmp_path / "c.ome.tif", tmp_path / "out.ome.tif"
    tifffile.imwrite(path, image, ome=True, metadata={"axes": "CZYX"})
    assert main(["deblur", str(path), "-o", str(out), "--focus-below", "auto", *WIENER]) == 0
    line = capsys.readouterr().out
    assert "auto per channel" in line and "channel 1: 1 of 4 below " in line
    assert ", channel 2: 1 of 4 below " in line and "C 0" not in line
    # --json: the thresholds in channel order, as before
    again = tmp_path / "again.ome.tif"
    assert main(["deblur", str(path), "-o", str(again), "--focus-below", "auto", *WIENER,
                 "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert isinstance(record["threshold"], list) and len(record["threshold"]) == 2


@pytest.mark.parametrize(("typed", "cwd", "listed"), [
    ("out", ".", "out.failures.tsv"), ("out/", ".", "out.failures.tsv"),
    ("sub/out", ".", "sub/out.failures.tsv"), (".", "sub/out", "../out.failures.tsv")])
def test_the_failures_list_is_quoted_as_the_output_was_typed(tmp_path, capsys, monkeypatch,
                                                              typed, cwd, listed):
    src, out = tmp_path / "in", tmp_path / "sub" / "out"
    src.mkdir()
    out.mkdir(parents=True)
    _tile(src / "a.tif")
    (src / "junk.tif").write_bytes(b"junk" * 10)
    if typed.startswith("out"):
        out = tmp_path / "out"
        out.mkdir()
    monkeypatch.chdir(tmp_path / cwd)
    assert main(["deblur", str(src), "-o", typed, *WIENER, "-q"]) == 2
    err = capsys.readouterr().err
    assert f"1 of 2 files failed; listed in '{listed}'" in err
    assert (tmp_path / cwd / listed).is_file()
    assert (tmp_path / cwd / listed).resolve() == failures_path(out.resolve())


def test_an_absolute_output_folder_keeps_its_absolute_failures_list(tmp_path):
    assert failures_path(tmp_path / "out") == tmp_path / "out.failures.tsv"
    assert failures_path(Path("out/")) == Path("out.failures.tsv")
