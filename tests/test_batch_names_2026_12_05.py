"""Walkthrough 2026-12-05 ("tiles"): a connectomics batch over thousands of single-tile files
whose names repeat across folders (stackA/sec002/tile_0_0.tif, stackB/sec003/tile_0_0.tif).
Every warning and bar named the bare name; with -q the repeated warning was said for 18 files
and counted as 'also for 1 more file' (the key was the name); no bar counted the files (each
512 px tile had its own bar stuck at '0/1 tile'); a truncated tile let tifffile's own line
past -q, without 'microdeblur:' or its folder."""

import logging
import os
import subprocess
import sys

import numpy as np
import tifffile
from scipy.ndimage import gaussian_filter

from napari_microdeblur import cli
from napari_microdeblur.cli import main

ESTIMATE = ["--method", "wiener", "--psf", "estimate", "--balance", "0.01", "--device", "cpu"]
WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu"]
SAID = "PSF estimated from the image"
FOLDERS = ("stackA/sec000", "stackA/sec002", "stackB/sec001", "stackB/sec003")


def _tiles(tmp_path, name="tile_0_0.tif", size=96):
    """in/<stack>/<section>/``name`` (blurred structure, each its own estimate); out/."""
    src, out = tmp_path / "in", tmp_path / "out"
    out.mkdir()
    for i, folder in enumerate(FOLDERS):
        (src / folder).mkdir(parents=True)
        noise = np.random.default_rng(i).random((size, size)) * 255
        tifffile.imwrite(src / folder / name,
                         gaussian_filter(noise, 1.0 + 0.2 * i).astype(np.float32))
    return src, out


def test_with_q_a_warning_of_tiles_of_one_name_is_said_once_and_each_counted(tmp_path, capsys):
    src, out = _tiles(tmp_path)
    assert main(["deblur", str(src), "-o", str(out), "-r", *ESTIMATE, "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count(SAID) == 2, err  # the first file's, then the count of the 3 others
    first = "stackA/sec000/tile_0_0.tif"
    assert f"microdeblur: warning: {first}: {SAID}" in err
    others = ", ".join(f"{folder}/tile_0_0.tif" for folder in FOLDERS[1:3])
    assert (f"{SAID} (GCV blur identification): also for 3 more files ({others} and "
            f"{FOLDERS[3]}/tile_0_0.tif), each with its own details (said above for "
            f"{first}; without -q each is said)") in err


def test_without_q_each_warning_names_the_tile_by_its_folders(tmp_path, capsys):
    """Each tile is named (the later ones in a short line since 2026-12-22)."""
    src, out = _tiles(tmp_path)
    assert main(["deblur", str(src), "-o", str(out), "-r", *ESTIMATE]) == 0
    err = capsys.readouterr().err
    first = f"{FOLDERS[0]}/tile_0_0.tif"
    assert f"microdeblur: warning: {first}: {SAID}" in err
    for folder in FOLDERS[1:]:
        said = [line for line in err.splitlines()
                if line.startswith(f"microdeblur: warning: {folder}/tile_0_0.tif: {SAID}")]
        assert len(said) == 1 and said[0].endswith(f"(as for {first} above)"), err


def test_with_q_a_name_holding_spaces_is_left_out_of_the_warning_compared(tmp_path):
    """'tile 0_0.tif' (the walkthrough's tiles had such names) was split into words, none of
    which held the name: the warning naming it was never counted as a repeat."""
    from napari_microdeblur.cli_batch import BatchLog

    log = BatchLog(output=tmp_path / "out", quiet=True, json=False)
    assert not log.repeated("in/a/tile 0_0.tif: full resolution read (level 0 of 2)",
                            "a/tile 0_0.tif")
    assert log.repeated("in/b/tile 0_0.tif: full resolution read (level 0 of 3)",
                        "b/tile 0_0.tif")
    assert [more for _, _, more, _ in log.repeats.values()] == [1]


def test_a_folder_batch_names_its_files_by_their_name(tmp_path, capsys):
    """One folder: the names are unique, and said as before (no folder in front)."""
    src, out = _tiles(tmp_path)
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, folder in enumerate(FOLDERS[:2]):
        (src / folder / "tile_0_0.tif").rename(flat / f"t{i}.tif")
    assert main(["deblur", str(flat), "-o", str(out), *ESTIMATE]) == 0
    err = capsys.readouterr().err
    assert f"microdeblur: warning: t0.tif: {SAID}" in err
    assert f"microdeblur: warning: t1.tif: {SAID}" in err


def test_a_batch_counts_its_files_and_a_one_tile_file_has_no_bar(tmp_path, capsys,
                                                                  monkeypatch):
    """On a terminal (a log file keeps its lines, as before: no files bar)."""
    src, out = _tiles(tmp_path, size=48)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    (out / "stackA" / "sec000").mkdir(parents=True)
    (out / "stackA" / "sec000" / "tile_0_0_deblurred.tif").write_bytes(b"")  # skipped
    assert main(["deblur", str(src), "-o", str(out), "-r", *WIENER, "--tile", "64"]) == 0
    err = capsys.readouterr().err
    # the files left to deblur, the existing output taken off the total
    assert "files: 100%" in err and "3/3" in err, err
    assert "0/1 tile" not in err and "1/1 tile" not in err
    assert main(["deblur", str(src), "-o", str(tmp_path / "out"), "-r", *WIENER, "-q",
                 "--overwrite"]) == 0
    assert "files:" not in capsys.readouterr().err  # -q: no bar
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert main(["deblur", str(src), "-o", str(tmp_path / "out"), "-r", *WIENER,
                 "--overwrite"]) == 0
    assert "files:" not in capsys.readouterr().err


def test_a_file_of_several_tiles_has_its_bar_named_by_its_folders(tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # bars are drawn on terminals
    src, out = _tiles(tmp_path, size=96)
    assert main(["deblur", str(src), "-o", str(out), "-r", *WIENER, "--tile", "48",
                 "--overlap", "8"]) == 0
    err = capsys.readouterr().err
    assert "stackB/sec003/tile_0_0.tif:" in err and "tile/s" in err, err


def _truncated_imagej(path):
    """An ImageJ tile cut short, as a copy that stopped: tifffile logs 'ImageJ series
    metadata invalid or corrupted file' before the read fails."""
    tifffile.imwrite(path, np.zeros((512, 512), np.uint8), imagej=True)
    path.write_bytes(path.read_bytes()[:3000])


def test_with_q_a_truncated_tile_prints_microdeblur_lines_only(tmp_path):
    """In a shell (pytest's log capture would hide the raw line): the command's own process."""
    src, out = _tiles(tmp_path, size=48)
    _truncated_imagej(src / "stackB" / "sec001" / "tile_0_0.tif")
    run = subprocess.run([sys.executable, "-m", "napari_microdeblur.cli", "deblur", str(src),
                          "-o", str(out), "-r", *WIENER, "-q"], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.splitlines()
    assert lines and all(line.startswith("microdeblur:") for line in lines), lines
    assert any("stackB/sec001/tile_0_0.tif" in line and "truncated" in line
               for line in lines), lines


def test_a_tifffile_line_of_a_file_that_is_done_is_said_as_its_warning(tmp_path, capsys,
                                                                       monkeypatch):
    src, out = _tiles(tmp_path, size=48)
    real = cli.deblur_one

    def logging_tifffile(source, target, args, models=None):
        if "sec002" in str(source):
            logging.getLogger("tifffile").error("<tifffile.TiffFile 'tile_0_0.tif'> odd tag")
        return real(source, target, args, models)

    monkeypatch.setattr(cli, "deblur_one", logging_tifffile)
    assert main(["deblur", str(src), "-o", str(out), "-r", *WIENER, "-q"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "microdeblur: warning: stackA/sec002/tile_0_0.tif: tifffile: odd tag", err


def test_with_q_a_cluster_batch_counts_each_tile_of_one_name(tmp_path, capsys, client):
    src, out = _tiles(tmp_path)
    assert main(["deblur", str(src), "-o", str(out), "-r", *ESTIMATE, "-q",
                 "--scheduler", client.scheduler.address]) == 0
    err = capsys.readouterr().err
    assert err.count(SAID) == 2, err
    assert "also for 3 more files" in err
