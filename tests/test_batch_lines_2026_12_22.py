"""A folder batch's repeated lines, folded (walkthrough 2026-12-22, thousands of EM tiles).

- a rerun printed one stdout line per output that exists ('OUT/x_deblurred.tif: exists,
  skipped'): 10,000 lines before any new work; now the first, and one count at the closing;
- without -q each EM tile printed its ~230-character 'PSF estimated from the image ...'
  warning (303 lines for 300 files); now the first file's in full and each later file's in
  one short line, its first clause with its own numbers ('(as for e0.tif above)'); with -q
  the first and one count at the closing, naming the first few files it covers;
- review 2026-12-22: counting them without -q (001967e) had hidden which files a data
  warning applied to (files of 2 images: c.tif and d.tif never named; a.tif with 2 of 3
  planes empty and b.tif with 3 of 3: b.tif never named, the count quoting a.tif's figures);
  each file's warnings are now in its --json object ('warnings') too;
- the clipping warning of --output-dtype input said 'set the output dtype to float32' (the
  dock's words); the command line names its option.
"""

import json
from pathlib import Path

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
                        "method": None, "status": "skipped", "error": None,
                        "warnings": []}
                       for i in range(5)]


def _em_tiles(tmp_path, count=3):
    from scipy.ndimage import gaussian_filter

    src, out = tmp_path / "em", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i in range(count):  # blurred structure: each file's estimate is its own
        noise = np.random.default_rng(i).random((64, 64))
        tifffile.imwrite(src / f"e{i}.tif",
                         (gaussian_filter(noise, 1.0 + 0.3 * i) * 255).astype(np.uint8))
    return src, out


def test_an_em_batch_says_the_psf_estimate_once_then_one_short_line_a_file(tmp_path, capsys):
    src, out = _em_tiles(tmp_path)
    assert main(["deblur", str(src), "-o", str(out), "--modality", "em", "--device",
                 "cpu", "--json"]) == 0
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert len(err) == 4 and "3 done, 0 skipped" in err[3], captured.err
    assert err[0].startswith(f"microdeblur: warning: e0.tif: {SAID} (GCV")
    assert "reuse it as the PSF" in err[0]  # the first in full
    objects = [json.loads(line) for line in captured.out.splitlines()]
    for i, (line, record) in enumerate(zip(err[1:], objects[1:]), start=1):
        # its own PSF, said short: 'e1.tif: PSF ...: astig:0.68,0.59,90 (sigma in px) (as ...'
        own = record["warnings"][0].split("): ", 1)[1].split(" ", 1)[0]
        assert own.startswith(("gaussian:", "astig:"))
        assert line == (f"microdeblur: warning: e{i}.tif: {SAID} (GCV blur identification): "
                        f"{own} (sigma in px) (as for e0.tif above)")
        assert len(line) < 150 and len(line) + 40 < len(err[0])
    # with -q: the first in full, then one line naming the others
    out2 = tmp_path / "out2"
    out2.mkdir()
    assert main(["deblur", str(src), "-o", str(out2), "--modality", "em", "--device",
                 "cpu", "-q"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and err[0].startswith(f"microdeblur: warning: e0.tif: {SAID}")
    assert err[1] == (f"microdeblur: warning: {SAID} (GCV blur identification): also for 2 "
                      "more files (e1.tif and e2.tif), each with its own details (said above "
                      "for e0.tif; without -q each is said)")


def test_three_hundred_tiles_say_three_hundred_short_lines(tmp_path):
    """The walkthrough's volume: 300 EM tiles had printed 300 warnings of ~230 characters."""
    from napari_microdeblur.cli_batch import BatchLog

    log = BatchLog(output=tmp_path / "out", quiet=False, json=False)
    lines = []
    for i in range(300):
        sigma = f"gaussian:{0.8 + i / 1000:.3f}"
        message = (f"{SAID} (GCV blur identification): {sigma} (sigma in px); reuse it as the "
                   f"PSF '{sigma}' (no estimate again), or give a measured PSF")
        lines.append(log.warning(message, f"t{i:03d}.tif", f"t{i:03d}.tif: {message}"))
        assert sigma in lines[-1]  # each with its own numbers
    assert lines[0].startswith("t000.tif: PSF estimated") and lines[0].endswith("measured PSF")
    assert all(line.endswith("(as for t000.tif above)") for line in lines[1:])
    assert max(len(line) for line in lines[1:]) < 120 and len(lines[0]) > 170
    # -q: none said after the first; the count names three and counts the rest
    quiet = BatchLog(output=tmp_path / "out", quiet=True, json=False)
    said = [quiet.warning(f"{SAID}: gaussian:{i}", f"t{i}.tif", "x") for i in range(300)]
    assert said[0] == "x" and said[1:] == [None] * 299
    assert list(quiet.folded.named.values()) == [["t1.tif", "t2.tif", "t3.tif"]]
    assert quiet.repeats[next(iter(quiet.repeats))][2] == 299


def test_a_short_line_keeps_the_first_clause_and_its_numbers():
    from napari_microdeblur.cli_batch_lines import files_named, warning_clause

    # the head alone names no number: its next clause too, the long bracket cut
    auto = ("wiener: balance 0.01 (balance 'auto': GCV found no noise to regularise (its "
            "balance would widen the image's range over 4-fold, or was the smallest balance "
            "searched, 1e-06): the PSF looks wider than the image's blur; took the fixed "
            "balance 0.01 instead. Give a narrower PSF, or a balance number (e.g. 0.1))")
    assert warning_clause(auto) == "wiener: balance 0.01"
    assert warning_clause("colour R: 30 iterations (auto)") == "colour R: 30 iterations (auto)"
    assert warning_clause("3 of 3 planes hold a single value everywhere (empty planes?): "
                          "there is no blur") == ("3 of 3 planes hold a single value "
                                                  "everywhere (empty planes?)")
    assert warning_clause("an alpha channel was dropped") == "an alpha channel was dropped"
    long = "word " * 40
    assert warning_clause(long).endswith(" ...") and len(warning_clause(long)) <= 104
    assert files_named(["b.tif"], 1) == "b.tif"
    assert files_named(["b.tif", "c.tif"], 2) == "b.tif and c.tif"
    assert files_named(["b.tif", "c.tif", "d.tif"], 9) == "b.tif, c.tif, d.tif and 6 more"


def _two_images(path, count, first):
    rng = np.random.default_rng(count + first)
    with tifffile.TiffWriter(path) as tif:
        tif.write(rng.integers(0, 255, (first, first), dtype=np.uint8))
        for _ in range(count - 1):
            tif.write(rng.integers(0, 255, (16, 16), dtype=np.uint8))


def test_review_each_file_of_many_images_is_named_with_its_own_numbers(tmp_path, capsys):
    """Review: files b, c, d each held more than one image; only b.tif was named."""
    src, out = _folder(tmp_path, count=1)  # t0.tif: one image
    _two_images(src / "b.tif", 2, 32)
    _two_images(src / "c.tif", 3, 32)
    _two_images(src / "d.tif", 2, 24)
    assert main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4, err
    assert err[0].startswith(f"microdeblur: warning: {src / 'b.tif'}: the file holds 2 "
                             "images; only the first (32 x 32) is read: save each image")
    assert err[1:3] == [
        "microdeblur: warning: c.tif: the file holds 3 images; only the first (32 x 32) is "
        "read (as for b.tif above)",
        "microdeblur: warning: d.tif: the file holds 2 images; only the first (24 x 24) is "
        "read (as for b.tif above)"]
    # -q: the first in full, the count naming c.tif and d.tif
    out2 = tmp_path / "out2"
    out2.mkdir()
    assert main(["deblur", str(src), "-o", str(out2), *WIENER, "-q"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and "b.tif: the file holds 2 images" in err[0]
    assert err[1] == ("microdeblur: warning: the file holds 2 images; only the first (32 x 32) "
                      "is read: also for 2 more files (c.tif and d.tif), each with its own "
                      "details (said above for b.tif; without -q each is said)")


def test_review_a_file_all_planes_empty_is_named_and_its_json_says_its_own(tmp_path, capsys):
    """Review: a.tif had 2 of 3 planes empty, b.tif 3 of 3 (its output its input): b.tif was
    never named and the count quoted a.tif's figures."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    a = np.full((3, 32, 32), 5, np.uint16)
    a[1] = np.random.default_rng(0).integers(0, 4000, (32, 32))
    tifffile.imwrite(src / "a.tif", a, photometric="minisblack", metadata={"axes": "ZYX"})
    b = np.zeros((3, 32, 32), np.uint16)
    b[1], b[2] = 7, 100
    tifffile.imwrite(src / "b.tif", b, photometric="minisblack", metadata={"axes": "ZYX"})
    assert main(["deblur", str(src), "-o", str(out), *WIENER, "--json"]) == 0
    captured = capsys.readouterr()
    empty = "planes hold a single value everywhere (empty planes?)"
    assert f"microdeblur: warning: a.tif: 2 of 3 {empty}: there is no blur" in captured.err
    assert f"microdeblur: warning: b.tif: 3 of 3 {empty} (as for a.tif above)" in captured.err
    objects = {Path(o["input"]).name: o for o in map(json.loads, captured.out.splitlines())}
    assert [w for w in objects["a.tif"]["warnings"] if empty in w] == [
        f"2 of 3 {empty}: there is no blur to undo in them, so they were passed through "
        "unchanged, not deblurred"]
    assert [w for w in objects["b.tif"]["warnings"] if empty in w] == [
        f"3 of 3 {empty}: there is no blur to undo in them, so they were passed through "
        "unchanged, not deblurred"]
    # the keys every object had are kept
    assert all(list(o)[:6] == ["input", "output", "seconds", "method", "status", "error"]
               for o in objects.values())
    # -q: b.tif named in the count
    out2 = tmp_path / "out2"
    out2.mkdir()
    assert main(["deblur", str(src), "-o", str(out2), *WIENER, "-q"]) == 0
    err = capsys.readouterr().err
    assert (f"microdeblur: warning: 2 of 3 {empty}: also for 1 more file (b.tif), each with "
            "its own details (said above for a.tif; without -q each is said)") in err


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
    # said short with its own numbers, its output's name left out (the line names the file)
    log.target = tmp_path / "out" / "e_deblurred.tif"
    clipped = "'out/e_deblurred.tif': 7 of 9 values (78 %) clipped"
    assert log.warning(clipped, "e.tif", "unused") == (
        "e.tif: 7 of 9 values (78 %) clipped (as for c.tif above)")
    # each file's warnings, as raised, go to its --json object, then start anew
    assert log.warned[-1] == clipped
    log.add("in/e.tif", "out/e_deblurred.tif", "ok")
    assert log.warned == []


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
