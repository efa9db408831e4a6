"""Batch safety (walkthrough 2026-12-17). A batch into its own folder took an input named
a_deblurred.tif (a raw tile, no microdeblur record) for a.png's earlier output: it was left
out, and --overwrite replaced it with a.png's result. A full disk failed every remaining file
in turn, each computed first. An unquoted glob was refused as 'unrecognized arguments'. A
cluster run stopped with Ctrl-C said only 'interrupted', without the batch's closing line."""

import argparse
import errno

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli
from napari_microdeblur.core import cluster as core_cluster
from napari_microdeblur.core import io_write
from napari_microdeblur.core.files import batch_pairs

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu",
          "-q"]


def _tif(path, seed=0):
    tifffile.imwrite(path, np.random.default_rng(seed).integers(0, 255, (32, 32), np.uint8))


def _closing(err: str) -> list[str]:
    return [line for line in err.splitlines() if " done, " in line]


@pytest.fixture
def own_folder(tmp_path):
    """a.png and a raw tile that happens to be named a_deblurred.tif, side by side."""
    iio.imwrite(tmp_path / "a.png", np.random.default_rng(1).integers(0, 255, (32, 32),
                                                                      np.uint8))
    _tif(tmp_path / "a_deblurred.tif", seed=2)
    return tmp_path


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_raw_input_named_as_an_output_is_refused_not_replaced(own_folder, capsys,
                                                                 overwrite):
    raw = (own_folder / "a_deblurred.tif").read_bytes()
    code = cli.main(["deblur", str(own_folder), "-o", str(own_folder), *WIENER, *overwrite])
    err = capsys.readouterr().err
    assert code == cli.EXIT_ERROR
    assert (own_folder / "a_deblurred.tif").read_bytes() == raw  # was: a.png's result
    assert err.count("\n") == 1 and "a_deblurred.tif" in err and "a.png" in err
    assert "rename or move one of them" in err
    assert sorted(p.name for p in own_folder.iterdir()) == ["a.png", "a_deblurred.tif"]


def test_the_refusal_comes_before_a_cluster_is_asked(own_folder, capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the cluster was sent the batch")

    monkeypatch.setattr(core_cluster, "deblur_files_on_cluster", never)
    code = cli.main(["deblur", str(own_folder), "-o", str(own_folder), *WIENER, "--overwrite",
                     "--scheduler", "tcp://127.0.0.1:1"])
    assert code == cli.EXIT_ERROR
    assert "is also the output name of input" in capsys.readouterr().err


def test_an_earlier_runs_output_is_still_left_out_of_a_rerun(tmp_path, capsys):
    _tif(tmp_path / "a.tif")
    for again in ([], ["--overwrite"]):
        assert cli.main(["deblur", str(tmp_path), "-o", str(tmp_path), *WIENER, *again]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "a_deblurred.tif"]
    pairs = batch_pairs(sorted(tmp_path.iterdir()), tmp_path)
    assert [(s.name, t.name) for s, t in pairs] == [("a.tif", "a_deblurred.tif")]


def _full_disk(monkeypatch, code, from_call):
    """io_write.open_output raising a full disk's OSError from call ``from_call`` on; the
    calls counted."""
    calls, real = [], io_write.open_output

    def open_output(path, *args, **kwargs):
        calls.append(path)
        if len(calls) >= from_call:
            raise OSError(code, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(io_write, "open_output", open_output)
    return calls


@pytest.mark.parametrize(("code", "words"), [(errno.ENOSPC, "the disk is full"),
                                             (getattr(errno, "EDQUOT", errno.ENOSPC),
                                              "the disk quota is used up")])
@pytest.mark.parametrize("from_call", [1, 2])
def test_a_full_disk_stops_the_batch_at_its_first_file(tmp_path, capsys, monkeypatch, code,
                                                       words, from_call):
    if code == errno.ENOSPC and "quota" in words:
        pytest.skip("no EDQUOT here")
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i, name in enumerate("abc"):
        _tif(src / f"{name}.tif", seed=i)
    calls = _full_disk(monkeypatch, code, from_call)
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert len(calls) == from_call  # was: c.tif computed and failed too
    done = from_call - 1
    assert _closing(err) == [f"microdeblur: {str(out)!r}: {done} done, 0 skipped (output "
                             "exists), 0 failed; stopped by the error below: the same command "
                             "again finishes the rest"]
    last = err.splitlines()[-1]
    assert last.startswith("microdeblur: error: ") and words in last
    assert f"{'ab'[done]}.tif" in last and "the batch stopped at this file" in last
    assert err.count("microdeblur: error:") == 1
    assert not (tmp_path / "out.failures.tsv").exists()


def test_a_full_disk_stops_a_cluster_batch(tmp_path, capsys, monkeypatch, client):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i in range(4):
        _tif(src / f"t{i}.tif", seed=i)
    _full_disk(monkeypatch, errno.ENOSPC, 1)
    code = cli.main(["deblur", str(src), "-o", str(out), *WIENER, "--scheduler",
                     client.scheduler.address])
    err = capsys.readouterr().err
    assert code == cli.EXIT_ERROR
    assert err.count("microdeblur: error:") == 1 and "the disk is full" in err  # was: 4
    assert "stopped by the error below" in _closing(err)[0]


def test_ctrl_c_on_a_cluster_says_the_closing_line(tmp_path, capsys, monkeypatch, client):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i in range(3):
        _tif(src / f"t{i}.tif", seed=i)
    real, said = cli._say_cluster_record, []

    def say_then_stop(record, *args):
        if said:
            raise KeyboardInterrupt
        said.append(record)
        real(record, *args)

    monkeypatch.setattr(cli, "_say_cluster_record", say_then_stop)
    code = cli.main(["deblur", str(src), "-o", str(out), *WIENER, "--scheduler",
                     client.scheduler.address])
    err = capsys.readouterr().err
    assert code == cli.EXIT_INTERRUPTED
    closing = _closing(err)
    assert len(closing) == 1 and ": 1 done, 0 skipped (output exists), 0 failed; interrupted" \
        in closing[0] and "the same command again finishes the rest" in closing[0]
    assert "still finish" in closing[0]  # the running tasks' outputs appear after it
    assert err.splitlines()[-1] == "microdeblur: interrupted; no partial output was left"


def test_ctrl_c_on_one_machine_says_one_closing_line(tmp_path, capsys, monkeypatch):
    from napari_microdeblur import cli_batch

    for i in range(3):
        _tif(tmp_path / f"t{i}.tif", seed=i)
    out = tmp_path / "out"
    out.mkdir()
    real, ran = cli_batch.deblur_in_batch, []

    def one_then_stop(*args):
        if ran:
            raise KeyboardInterrupt
        ran.append(real(*args))

    monkeypatch.setattr(cli_batch, "deblur_in_batch", one_then_stop)
    code = cli.main(["deblur", str(tmp_path), "-o", str(out), *WIENER])
    closing = _closing(capsys.readouterr().err)
    assert code == cli.EXIT_INTERRUPTED
    assert len(closing) == 1 and "1 done" in closing[0] and "still finish" not in closing[0]


def test_an_unquoted_glob_is_said_as_one(tmp_path, monkeypatch):
    from napari_microdeblur.cli_options import unrecognized_words

    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    for name in ("t00.png", "t01.png", "t03.png"):
        (tmp_path / "in" / name).write_bytes(b"")
    parsed = argparse.Namespace(command="deblur", input="in/t00.png")
    line = unrecognized_words(parsed, ["in/t01.png", "in/t03.png"])
    assert line == ("3 inputs given ('in/t00.png', 'in/t01.png' and 1 more), and deblur "
                    "takes one: the shell expands an unquoted pattern into its files; quote "
                    "the pattern ('in/t0*.png') or give their folder ('in')")
    # anything else is argparse's line, as it was
    assert unrecognized_words(parsed, ["in/t01.png", "--bogus"]) == (
        "unrecognized arguments: in/t01.png --bogus")
    other = argparse.Namespace(command="degrade", input="in/t00.png")
    assert unrecognized_words(other, ["in/t01.png"]).startswith("unrecognized arguments")
