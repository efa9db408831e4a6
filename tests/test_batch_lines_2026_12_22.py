"""A folder batch's repeated lines, folded (walkthrough 2026-12-22, thousands of EM tiles).

- a rerun printed one stdout line per output that exists ('OUT/x_deblurred.tif: exists,
  skipped'): 10,000 lines before any new work; now the first, and one count at the closing;
- without -q each EM tile printed its ~230-character 'PSF estimated from the image ...'
  warning (303 lines for 300 files); now the first file's, and one count at the closing,
  each file's result line kept, warnings of another kind each said;
- the clipping warning of --output-dtype input said 'set the output dtype to float32' (the
  dock's words); the command line names its option.
"""

import json

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core.shown import shown_path

WIENER = ["--method", "wiener", "--psf", "gaussian:1", "--balance", "0.1", "--device", "cpu"]
SAID = "PSF estimated from the image"


def _folder(tmp_path, count: int = 5, size: int = 32):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i in range(count):
        image = np.random.default_rng(i).random((size, size)) * 200
        tifffile.imwrite(src / f"t{i}.tif", image.astype(np.uint8))
    return src, out


def test_a_rerun_says_the_first_existing_output_and_counts_the_rest(tmp_path, capsys):
    src, out = _folder(tmp_path)
    assert main(["deblur", str(src), "-o", str(out), *WIENER, "-q"]) == 0
    capsys.readouterr()
    assert main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{out / 't0_deblurred.tif'}: exists, skipped",
        f"{out}: 4 more outputs exist, skipped (--overwrite redoes them)"]
    assert captured.err.splitlines()[-1] == (
        f"microdeblur: {shown_path(out)}: 0 done, 5 skipped (output exists), 0 failed")
    # one output missing: it is deblurred and said between the first skip and the count
    (out / "t2_deblurred.tif").unlink()
    assert main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0] == f"{out / 't0_deblurred.tif'}: exists, skipped"
    assert lines[1].startswith(f"{out / 't2_deblurred.tif'}: wiener on YX")
    assert lines[2] == f"{out}: 3 more outputs exist, skipped (--overwrite redoes them)"
    # -q: none of them, as before
    assert main(["deblur", str(src), "-o", str(out), *WIENER, "-q"]) == 0
    assert capsys.readouterr().out == ""


def test_json_keeps_one_object_per_skipped_output(tmp_path, capsys):
    src, out = _folder(tmp_path)
    assert main(["deblur", str(src), "-o", str(out), *WIENER, "-q"]) == 0
    capsys.readouterr()
    assert main(["deblur", str(src), "-o", str(out), *WIENER, "--json"]) == 0
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert objects == [{"input": str(src / f"t{i}.tif"),
                        "output": str(out / f"t{i}_deblurred.tif"), "seconds": None,
                        "method": None, "status": "skipped", "error": None}
                       for i in range(5)]


def test_an_em_batch_says_the_psf_estimate_once_and_counts_the_rest(tmp_path, capsys):
    from scipy.ndimage import gaussian_filter

    src, out = tmp_path / "em", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i in range(3):  # blurred structure: each file's estimate is its own
        noise = np.random.default_rng(i).random((64, 64))
        tifffile.imwrite(src / f"e{i}.tif",
                         (gaussian_filter(noise, 1.0 + 0.3 * i) * 255).astype(np.uint8))
    assert main(["deblur", str(src), "-o", str(out), "--modality", "em", "--device",
                 "cpu"]) == 0
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert sum(SAID in line for line in err) == 2, captured.err  # the first, then the count
    assert err[0].startswith(f"microdeblur: warning: e0.tif: {SAID} (GCV")
    assert err[1] == (f"microdeblur: warning: {SAID} (GCV blur identification): also for 2 "
                      "more files, each with its own details (said above for e0.tif)")
    assert len(err) == 3 and "3 done, 0 skipped" in err[2]
    # each file's result line is kept
    results = captured.out.splitlines()
    assert [line.split(":")[0] for line in results] == [
        str(out / f"e{i}_deblurred.tif") for i in range(3)]


def test_warnings_of_another_kind_are_each_said_without_q(tmp_path):
    from napari_microdeblur.cli_batch import BatchLog

    log = BatchLog(output=tmp_path / "out", quiet=False, json=False)
    assert not log.repeated("colour R: 30 iterations (auto)", "a.tif")
    assert not log.repeated("colour R: balance 0.01 (auto)", "a.tif")
    assert log.repeated("colour R: 25 iterations (auto)", "b.tif")
    assert not log.repeated("an alpha channel was dropped", "b.tif")  # another kind: said
    assert log.repeated("colour R: balance 0.02 (auto)", "b.tif")
    # a warning naming the file's output (the clipping one) is the same kind file to file
    log.target = tmp_path / "out" / "c_deblurred.tif"
    assert not log.repeated("'out/c_deblurred.tif': 3 of 9 values (33 %) clipped", "c.tif")
    log.target = tmp_path / "out" / "d_deblurred.tif"
    assert log.repeated("'out/d_deblurred.tif': 5 of 9 values (56 %) clipped", "d.tif")


@pytest.mark.parametrize("several", [False, True])
def test_the_clipping_warning_names_the_cli_option(tmp_path, capsys, several):
    src, out = _folder(tmp_path, count=3 if several else 1)
    given = src if several else src / "t0.tif"
    target = out if several else tmp_path / "one.tif"
    assert main(["deblur", str(given), "-o", str(target), *WIENER[:4], "--balance", "0.001",
                 "--output-dtype", "input", "-q"]) == 0
    err = capsys.readouterr().err
    assert "clipped to 0-255 for uint8 output" in err
    assert "give --output-dtype float32 to keep them" in err
    assert "set the output dtype" not in err
    if several:  # the same warning of the other files counted
        assert err.count("clipped to 0-255") == 2 and "also for 2 more files" in err


def test_the_dock_and_python_keep_their_words():
    from napari_microdeblur.cli_words import in_cli_words
    from napari_microdeblur.core.output_cast import KEEP, OutputCast

    tally = OutputCast()
    tally.count(np.array([-3.0, 1.0, 300.0]), np.uint8, 0, 255)
    assert tally.clip_message().endswith(f"{KEEP} to keep them")
    assert KEEP == "set the output dtype to float32"
    assert in_cli_words(f"x; {KEEP} to keep them", {"output_dtype": "--output-dtype"}) == (
        "x; give --output-dtype float32 to keep them")
    assert in_cli_words(f"x; {KEEP}", {"tile": "--tile"}) == f"x; {KEEP}"  # no such option
