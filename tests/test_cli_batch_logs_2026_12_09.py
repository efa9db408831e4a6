"""What a batch tells a script, from a connectomics lab's walkthrough over folders of EM tiles.
`watch --once` over a junk TIFF and a truncated stack logged them 'unreadable' and
'incomplete' but exited 0 (deblur on the same folder exits 2); a local folder batch had no
closing count, no failures list (the cluster path writes <OUT>.failures.tsv) and no
machine-readable line per file; under -q the EM default said 'PSF estimated from the image'
once per tile (100k lines for a real run)."""

import csv
import json

import numpy as np
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.cli_watch import WATCH_LOG
from napari_microdeblur.core.cluster import failures_path
from napari_microdeblur.core.shown import shown_path

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu"]
# a threshold below every score: each complete file is copied (the cheapest decision)
COPY = ["--threshold", "1e-12", "--settle", "0", "--incomplete-after", "0", "--device", "cpu",
        "-q"]


def _tile(path, seed=0, size=48):
    rng = np.random.default_rng(seed)
    tifffile.imwrite(path, rng.integers(0, 255, (size, size), dtype=np.uint8))


def _folder(tmp_path, good=2, junk=True):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i in range(good):
        _tile(src / f"t{i:03d}.tif", seed=i)
    if junk:
        (src / "junk.tif").write_bytes(b"junk" * 10)
    return src, out


def _truncated_stack(path):
    """A stack that declares 10 planes and holds 4: a writer that stopped (a full disk)."""
    planes = np.random.default_rng(0).integers(1, 255, (4, 24, 24), dtype=np.uint8)
    with tifffile.TiffWriter(path) as tw:
        for i, plane in enumerate(planes):
            tw.write(plane, description="ImageJ=1.11a\nimages=10\nslices=10\nloop=false\n"
                     if i == 0 else None, metadata=None, contiguous=False,
                     photometric="minisblack")


def test_watch_once_exits_2_when_a_file_is_unreadable_or_incomplete(tmp_path, capsys):
    src, out = _folder(tmp_path, good=1)
    _truncated_stack(src / "stack.tif")
    assert main(["watch", str(src), str(out), "--once", *COPY]) == 2
    err = capsys.readouterr().err
    assert "2 files not deblurred or copied (1 unreadable, 1 incomplete)" in err
    with open(out / WATCH_LOG, newline="", encoding="utf-8") as f:
        decisions = {r["name"]: r["decision"] for r in csv.DictReader(f)}
    assert decisions == {"junk.tif": "unreadable", "stack.tif": "incomplete",
                         "t000.tif": "copied"}
    # a rerun tries nothing (the two are unchanged): this run left nothing undone
    assert main(["watch", str(src), str(out), "--once", *COPY]) == 0


def test_watch_once_exits_0_when_every_file_was_done(tmp_path):
    src, out = _folder(tmp_path, good=2, junk=False)
    assert main(["watch", str(src), str(out), "--once", *COPY]) == 0


def test_a_folder_batch_closes_with_a_count_and_lists_its_failures_even_with_q(tmp_path,
                                                                              capsys):
    src, out = _folder(tmp_path, good=2)
    assert main(["deblur", str(src), "-o", str(out), *WIENER, "-q"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # -q: no line per file
    assert captured.err.strip().splitlines()[-1] == (
        f"microdeblur: {shown_path(out)}: 2 done, 0 skipped (output exists), 1 failed")
    listed = failures_path(out)
    assert listed.parent == tmp_path  # beside the output folder, as the cluster path's
    rows = listed.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "input\toutput\terror" and len(rows) == 2
    assert rows[1].startswith(f"{src / 'junk.tif'}\t{out / 'junk_deblurred.tif'}\tcannot read")
    # the junk file removed, the rerun skips the two done and the stale list goes
    (src / "junk.tif").unlink()
    assert main(["deblur", str(src), "-o", str(out), *WIENER, "-q"]) == 0
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"microdeblur: {shown_path(out)}: 0 done, 2 skipped (output exists), 0 failed")
    assert not listed.exists()


def test_json_prints_one_object_a_line_per_file_and_nothing_else(tmp_path, capsys):
    src, out = _folder(tmp_path, good=2)
    (out / "t001_deblurred.tif").write_bytes(b"")  # an output that exists: skipped
    assert main(["deblur", str(src), "-o", str(out), *WIENER, "--json"]) == 2
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_name = {o["input"].rsplit("/", 1)[-1]: o for o in objects}
    assert sorted(by_name) == ["junk.tif", "t000.tif", "t001.tif"]
    assert all(set(o) == {"input", "output", "seconds", "method", "status", "error",
                          "warnings"} for o in objects)  # each file's warnings (2026-12-22)
    assert all(isinstance(o["warnings"], list) for o in objects)
    ok, skipped, failed = by_name["t000.tif"], by_name["t001.tif"], by_name["junk.tif"]
    assert (ok["status"], ok["method"], ok["error"]) == ("ok", "wiener", None)
    assert ok["output"] == str(out / "t000_deblurred.tif") and ok["seconds"] >= 0
    assert (skipped["status"], skipped["method"], skipped["seconds"]) == ("skipped", None, None)
    assert failed["status"] == "failed" and failed["error"].startswith("cannot read")
    # one file: the same object, one line
    assert main(["deblur", str(src / "t000.tif"), "-o", str(tmp_path / "one.tif"), *WIENER,
                 "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert (one["status"], one["method"], one["output"]) == ("ok", "wiener",
                                                             str(tmp_path / "one.tif"))


ESTIMATE = ["--method", "wiener", "--psf", "estimate", "--balance", "0.01", "--device", "cpu"]
SAID = "PSF estimated from the image"


def test_with_q_a_warning_repeated_per_file_is_said_once_and_counted(tmp_path, capsys):
    from scipy.ndimage import gaussian_filter

    src, out = _folder(tmp_path, good=0, junk=False)
    for i in range(4):  # blurred structure, so that each estimate is a few px (its own)
        noise = np.random.default_rng(i).random((96, 96)) * 255
        tifffile.imwrite(src / f"t{i:03d}.tif", gaussian_filter(noise, 1.0 + 0.2 * i)
                         .astype(np.float32))
    assert main(["deblur", str(src), "-o", str(out), *ESTIMATE, "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count(SAID) == 2, err  # the first file's, then the count
    assert f"microdeblur: warning: t000.tif: {SAID}" in err
    assert (f"{SAID} (GCV blur identification): also for 3 more files (t001.tif, t002.tif "
            "and t003.tif), each with its own details (said above for t000.tif; without -q "
            "each is said)") in err
    # without -q each file's is said, the later ones in one short line (2026-12-22)
    out2 = tmp_path / "out2"
    out2.mkdir()
    assert main(["deblur", str(src), "-o", str(out2), *ESTIMATE]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if SAID in line]
    assert len(lines) == 4 and all(f"t00{i}.tif" in line for i, line in enumerate(lines))
    assert all(line.endswith("(as for t000.tif above)") for line in lines[1:])
    assert main(["deblur", str(src / "t000.tif"), "-o", str(tmp_path / "one.tif"), *ESTIMATE,
                 "-q"]) == 0
    assert capsys.readouterr().err.startswith(f"microdeblur: warning: {SAID} (GCV")


def test_a_cluster_batch_closes_and_prints_json_as_one_machine_does(tmp_path, capsys, client):
    """--scheduler into a folder: the same --json objects and closing line as one machine."""
    src, out = _folder(tmp_path, good=2)
    (out / "t001_deblurred.tif").write_bytes(b"")  # an output that exists: skipped
    assert main(["deblur", str(src), "-o", str(out), *WIENER, "--json", "-q",
                 "--scheduler", client.scheduler.address]) == 2
    captured = capsys.readouterr()
    objects = [json.loads(line) for line in captured.out.splitlines()]
    assert sorted((o["input"].rsplit("/", 1)[-1], o["status"], o["method"]) for o in objects) \
        == [("junk.tif", "failed", None), ("t000.tif", "ok", "wiener"),
            ("t001.tif", "skipped", None)]
    assert captured.err.strip().splitlines()[-1] == (
        f"microdeblur: {shown_path(out)}: 1 done, 1 skipped (output exists), 1 failed")
    assert failures_path(out).is_file()


def test_with_q_warnings_that_name_their_file_by_path_are_told_apart(tmp_path):
    """Review 2026-12-09: the key kept the folder ('in/: ...'), so a different warning of
    another file of the folder was counted as the first one and never said."""
    from napari_microdeblur.cli_batch import BatchLog

    log = BatchLog(output=tmp_path / "out", quiet=True, json=False)
    assert not log.repeated("in/a.tif: holds 2 series; the first is read", "a.tif")
    assert not log.repeated("in/b.tif: full resolution read (level 0 of 2)", "b.tif")
    assert not log.repeated("'in/c.tif': an axis of 3 read as Z", "c.tif")
    # the same warning for another file, numbers aside, is counted
    assert log.repeated("in/d.tif: full resolution read (level 0 of 3)", "d.tif")


def test_ctrl_c_in_a_folder_batch_closes_with_what_was_done(tmp_path, capsys, monkeypatch):
    """Review 2026-12-09: Ctrl-C mid-batch gave no closing line and left an earlier run's
    failures list in place."""
    from napari_microdeblur import cli

    src, out = _folder(tmp_path, good=2)
    assert main(["deblur", str(src), "-o", str(out), *WIENER, "-q"]) == 2  # junk.tif listed
    listed = failures_path(out)
    assert listed.exists()
    (src / "junk.tif").unlink()
    for p in out.iterdir():
        p.unlink()
    real, calls = cli.deblur_one, []

    def interrupted_on_the_second(source, target, args, models=None):
        calls.append(source)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(source, target, args, models)

    monkeypatch.setattr(cli, "deblur_one", interrupted_on_the_second)
    capsys.readouterr()
    assert main(["deblur", str(src), "-o", str(out), *WIENER, "-q"]) == cli.EXIT_INTERRUPTED
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2] == (f"microdeblur: {shown_path(out)}: 1 done, 0 skipped (output exists), "
                       "0 failed; interrupted: the same command again finishes the rest")
    assert "interrupted" in err[-1] and not listed.exists()


def test_with_q_two_warnings_of_one_opening_are_both_said_and_files_counted_once(tmp_path):
    """Review 2026-12-09: 'colour R: 30 iterations' hid 'colour R: balance ...' (one key per
    opening clause), and a file with two such warnings was counted twice."""
    from napari_microdeblur.cli_batch import BatchLog

    log = BatchLog(output=tmp_path / "out", quiet=True, json=False)
    assert not log.repeated("colour R: 30 iterations (auto)", "a.tif")
    assert not log.repeated("colour R: balance 0.01 (auto)", "a.tif")
    assert log.repeated("colour R: 25 iterations (auto)", "b.tif")
    assert log.repeated("colour R: balance 0.02 (auto)", "b.tif")
    assert log.repeated("colour R: 20 iterations (auto)", "c.tif")
    assert sorted(more for _, _, more, _ in log.repeats.values()) == [1, 2]
