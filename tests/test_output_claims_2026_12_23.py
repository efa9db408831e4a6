"""Concurrent runs into one folder (walkthrough 2026-12-23). Two `microdeblur deblur DIR -o OUT`
started together each computed every file, the loser of each race then discarding its result:
the hidden temporary output appeared only once writing began. Now each output is claimed
before any work (``core.output_claims``): a live run's claim is skipped unread, a dead run's
taken over, and the claim is removed when the file ends. A batch of other inputs into a folder
that held an earlier batch's failures list deleted it; now the rows of inputs it did not touch
are kept. The other run is simulated by the claim file it would hold."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli, cli_batch
from napari_microdeblur.core.cluster import failures_path, write_failures
from napari_microdeblur.core.partials import host_tag
from napari_microdeblur.core.shown import shown_path

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu"]
HEADER = "input\toutput\terror"


def _image(path, seed=0):
    tifffile.imwrite(path, np.random.default_rng(seed).integers(0, 255, (32, 32), np.uint8))


def _batch(tmp_path, names="ab"):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i, name in enumerate(names):
        _image(src / f"{name}.tif", seed=i)
    return src, out


def _claim(out, name, host=None, pid=None):
    """The claim another run holds on ``out/name``: this host and a live process by default."""
    path = out / f".{name}.claim"
    path.write_text(f"{host or host_tag()} {pid or os.getpid()} 2026-12-23T10:00:00+0000\n")
    return path


def _counted(monkeypatch):
    """The inputs the batch computes (each through the real deblur)."""
    real, computed = cli_batch.deblur_file_as_asked, []

    def counting(source, target, args, models=None):
        computed.append(source.name)
        return real(source, target, args, models)

    monkeypatch.setattr(cli_batch, "deblur_file_as_asked", counting)
    return computed


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _claims(out) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.endswith(".claim"))


def test_an_output_another_live_run_claimed_is_skipped_without_computing(tmp_path, capsys,
                                                                         monkeypatch):
    src, out = _batch(tmp_path)
    theirs = _claim(out, "a_deblurred.tif")
    computed = _counted(monkeypatch)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    said = capsys.readouterr()
    err = said.err
    assert computed == ["b.tif"]  # was: a.tif computed too, then discarded
    assert (f"{out / 'a_deblurred.tif'}: being written by another run (pid {os.getpid()}); "
            "skipped") in said.out  # where the run's other file lines go
    assert (f"{shown_path(out)}: 1 done, 0 skipped (output exists), 1 skipped (being written "
            "by another run), 0 failed") in err
    assert theirs.exists()  # the other run's, left to it
    assert not (out / "a_deblurred.tif").exists()


def test_a_claim_from_another_host_is_skipped_until_a_day_old(tmp_path, capsys, monkeypatch):
    src, out = _batch(tmp_path)
    recent = _claim(out, "a_deblurred.tif", host="nodeX", pid=4242)
    old = _claim(out, "b_deblurred.tif", host="nodeX", pid=4243)
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    computed = _counted(monkeypatch)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    said = capsys.readouterr().out
    assert computed == ["b.tif"]
    assert (f"a_deblurred.tif: being written by a run on nodeX (pid 4242, since "
            f"2026-12-23T10:00:00+0000; if it is over, remove {shown_path(recent)}); "
            "skipped") in said
    assert _claims(out) == [recent.name]  # the day-old one taken over, then released


def test_a_dead_runs_claim_is_taken_over(tmp_path, capsys, monkeypatch):
    src, out = _batch(tmp_path)
    _claim(out, "a_deblurred.tif", pid=_dead_pid())  # a run killed outright left it
    computed = _counted(monkeypatch)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER, "-q"]) == 0
    assert sorted(computed) == ["a.tif", "b.tif"]
    assert (out / "a_deblurred.tif").is_file() and (out / "b_deblurred.tif").is_file()
    assert _claims(out) == []


@pytest.mark.parametrize("ending", ["ok", "failed", "interrupted"])
def test_the_claim_is_held_while_the_file_runs_and_gone_after_it(tmp_path, capsys,
                                                                 monkeypatch, ending):
    src, out = _batch(tmp_path, names="a")
    real, seen = cli_batch.deblur_file_as_asked, []

    def claimed_meanwhile(source, target, args, models=None):
        claim = out / f".{target.name}.claim"
        seen.append(claim.read_text().split()[:2] if claim.exists() else None)
        if ending == "failed":
            raise ValueError("no good")
        if ending == "interrupted":
            raise KeyboardInterrupt
        return real(source, target, args, models)

    monkeypatch.setattr(cli_batch, "deblur_file_as_asked", claimed_meanwhile)
    code = cli.main(["deblur", str(src), "-o", str(out), *WIENER, "-q"])
    assert code == {"ok": 0, "failed": cli.EXIT_ERROR, "interrupted": cli.EXIT_INTERRUPTED}[ending]
    assert seen == [[host_tag(), str(os.getpid())]]  # was: no claim while it computed
    assert _claims(out) == []


def test_with_overwrite_no_claim_is_made_nor_heeded(tmp_path, capsys, monkeypatch):
    """--overwrite redoes every file, as asked (a claim would skip one)."""
    src, out = _batch(tmp_path)
    _claim(out, "a_deblurred.tif")
    computed = _counted(monkeypatch)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER, "-q", "--overwrite"]) == 0
    assert sorted(computed) == ["a.tif", "b.tif"]


def test_an_output_written_just_before_the_claim_is_skipped_unread(tmp_path):
    from napari_microdeblur.core.output_claims import OutputClaimed, claim_output

    target = tmp_path / "a_deblurred.tif"
    target.write_bytes(b"the other run's, just finished")
    with pytest.raises(OutputClaimed, match="written by another run"):
        claim_output(target)
    assert _claims(tmp_path) == []  # the claim made to look was given back
    claim = claim_output(target, replacing=True)  # a watch redoing a changed file's output
    assert _claims(tmp_path) == [claim.path.name]
    claim.release()


def test_a_long_output_name_gets_a_shortened_claim(tmp_path):
    from napari_microdeblur.core.output_claims import claim_output

    target = tmp_path / ("x" * 250 + ".tif")
    claim = claim_output(target)
    assert claim.text is not None and claim.path.name.startswith(".x")
    assert len(os.fsencode(claim.path.name)) <= 255 and claim.path.exists()
    claim.release()
    assert not claim.path.exists()


def _rows(path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_a_batch_of_other_inputs_keeps_an_earlier_failures_list(tmp_path, capsys):
    """The earlier batch's failure (x.tif, still there) is kept, said; this run's rows added."""
    src, out = _batch(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.tif").write_bytes(b"II*\x00 no TIFF")
    listed = failures_path(out)
    earlier = f"{other / 'x.tif'}\t{out / 'x_deblurred.tif'}\tnot a TIFF"
    listed.write_text(f"{HEADER}\n{earlier}\n", encoding="utf-8")
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    assert _rows(listed) == [HEADER, earlier]  # was: deleted
    assert (f"0 of 2 files failed; listed in {shown_path(listed)}, with 1 earlier failed file "
            "this run did not redo") in capsys.readouterr().err
    (src / "b.tif").write_bytes(b"II*\x00 no TIFF either")
    (out / "b_deblurred.tif").unlink()
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER, "-q"]) == cli.EXIT_ERROR
    rows = _rows(listed)
    assert rows[:2] == [HEADER, earlier] and len(rows) == 3
    assert rows[2].startswith(f"{src / 'b.tif'}\t{out / 'b_deblurred.tif'}\t")


def test_the_rows_of_inputs_this_run_touched_are_replaced(tmp_path):
    """Done, failed again, or skipped as written: replaced; gone: dropped; skipped while
    another run writes it (no output there): that run's row, kept."""
    for name in "abcdeg":  # f.tif is gone since its row was written
        (tmp_path / f"{name}.tif").write_bytes(b"input")
    (tmp_path / "d_out.tif").write_bytes(b"written")
    listed = failures_path(tmp_path / "out")
    rows = {n: f"{tmp_path / (n + '.tif')}\t{tmp_path / (n + '_out.tif')}\told" for n in "abcdefg"}
    listed.write_text(HEADER + "\n" + "\n".join(rows.values()) + "\n", encoding="utf-8")

    def record(name, status, **more):
        return {"input": str(tmp_path / f"{name}.tif"),
                "output": str(tmp_path / f"{name}_out.tif"), "status": status, **more}

    records = [record("a", "ok"), record("b", "failed", error="new\treason"),
               record("d", "skipped"), record("e", "skipped")]
    path, kept = write_failures(tmp_path / "out", records)
    assert path == listed and kept == 3
    assert _rows(listed) == [HEADER, rows["c"], rows["e"], rows["g"],
                             f"{tmp_path / 'b.tif'}\t{tmp_path / 'b_out.tif'}\tnew reason"]
    # nothing left to list: removed
    for name in "ceg":
        (tmp_path / f"{name}.tif").unlink()
    assert write_failures(tmp_path / "out", [record("b", "ok")]) == (None, 0)
    assert not listed.exists()
