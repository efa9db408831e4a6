"""Audit 2026-12-06 of the cluster path: a rerun after an interruption redoes only what is
missing and says how many it skipped, failed files are listed on disk, and a worker removes
only the temporary outputs it can prove stale (this host, process gone)."""

from __future__ import annotations

import os
import re
import socket

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli
from napari_microdeblur.core import files as core_files
from napari_microdeblur.core import io, io_write, partials

distributed = pytest.importorskip("distributed")

from napari_microdeblur.core.cluster import deblur_files_on_cluster  # noqa: E402

OPTIONS = dict(method="richardson_lucy", psf="gaussian:1.4", iterations=2, device="cpu",
               tile=64)
CLI_OPTIONS = ["--method", "richardson_lucy", "--psf", "gaussian:1.4", "--iterations", "2",
               "--device", "cpu", "--tile", "64"]


@pytest.fixture
def folder(tmp_path):
    """in/ with a.tif, b.tif, c.tif; out/ empty."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    rng = np.random.default_rng(0)
    for name in "abc":
        tifffile.imwrite(src / f"{name}.tif", (rng.random((32, 32)) * 200).astype(np.uint8))
    return src, out


def _counting(monkeypatch):
    """deblur_file counting its calls per input (the workers run in this process)."""
    calls: dict[str, int] = {}
    real = core_files.deblur_file

    def deblur_file(source, output, **kwargs):
        calls[source] = calls.get(source, 0) + 1
        return real(source, output, **kwargs)

    monkeypatch.setattr(core_files, "deblur_file", deblur_file)
    return calls


def _run(client, src, out, *extra):
    return cli.main(["deblur", str(src), "-o", str(out), *CLI_OPTIONS, *extra,
                     "--scheduler", client.scheduler.address])


def test_a_rerun_redoes_only_missing_outputs_and_says_how_many_it_skipped(
        client, folder, monkeypatch, capsys):
    """An interrupted run leaves some outputs complete: the rerun skipped them without a
    word (a lab could not tell a resumed run from a fresh one); now one line says so."""
    src, out = folder
    assert _run(client, src, out) == 0
    kept = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (out / "b_deblurred.tif").unlink()  # as if the run had been interrupted before b
    capsys.readouterr()
    calls = _counting(monkeypatch)
    assert _run(client, src, out) == 0
    stdout = capsys.readouterr().out
    assert f"{out}: 2 of 3 outputs exist, skipped (--overwrite redoes them)" in stdout
    assert calls == {str(src / "b.tif"): 1}
    assert (out / "b_deblurred.tif").is_file()
    for name in ("a_deblurred.tif", "c_deblurred.tif"):
        assert (out / name).stat().st_mtime_ns == kept[name]
    # --overwrite redoes them all
    assert _run(client, src, out, "--overwrite") == 0
    assert len(calls) == 3 and "skipped" not in capsys.readouterr().out


def test_skip_existing_sends_no_task_for_a_complete_output(client, folder, monkeypatch):
    """The Python API had no way to resume: every complete output came back as a failure
    ('exists; choose another name'), and a script resuming a batch saw only errors."""
    src, out = folder
    (out / "a.tif").write_bytes(b"a finished output")
    # a temporary output is no finished one: its file is redone
    (out / ".c.tif.node-8.1.partial").write_bytes(b"half")
    calls = _counting(monkeypatch)
    pairs = [(src / f"{n}.tif", out / f"{n}.tif") for n in "abc"]
    records = deblur_files_on_cluster(pairs, scheduler=client, skip_existing=True, **OPTIONS)
    assert records[0] == {"input": str(src / "a.tif"), "output": str(out / "a.tif"),
                          "skipped": True}
    assert [r["shape"] for r in records[1:]] == [[32, 32], [32, 32]]
    assert set(calls) == {str(src / "b.tif"), str(src / "c.tif")}
    assert (out / "a.tif").read_bytes() == b"a finished output"


def test_failed_files_are_listed_beside_the_output_folder(client, folder, capsys):
    """The failures were printed and nothing written: after a long run the user could not
    list what failed. Now <folder>.failures.tsv lists them; a rerun with none removes it."""
    src, out = folder
    (src / "b.tif").write_bytes(b"II*\x00 this is no TIFF")
    assert _run(client, src, out) == 2
    listed = out.parent / "out.failures.tsv"
    rows = listed.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "input\toutput\terror"
    assert [row.split("\t")[:2] for row in rows[1:]] == [[str(src / "b.tif"),
                                                         str(out / "b_deblurred.tif")]]
    assert rows[1].split("\t")[2]  # the reason
    assert f"1 of 3 files failed; listed in '{listed}'" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["a_deblurred.tif", "c_deblurred.tif"]
    tifffile.imwrite(src / "b.tif", np.ones((32, 32), np.uint8))  # the user mends b
    assert _run(client, src, out) == 0
    assert not listed.exists()


def test_a_worker_removes_only_partials_it_can_prove_stale(client, folder, pids):
    """A worker removed every '.NAME.*.partial' of its output: the temporary output of a run
    still writing it (here or on another machine, where pids mean something else) too."""
    src, out = folder
    dead, live = pids
    host = re.sub(r"[^A-Za-z0-9-]", "_", socket.gethostname())
    made = {"stale": out / f".a.tif.{host}.{dead}.partial",
            "stale_old_name": out / f".a.tif.{dead}.partial",
            "live": out / f".a.tif.{host}.{live}.partial",
            "live_old_name": out / f".a.tif.{live}.partial",
            "other_host": out / f".a.tif.{host}x.{dead}.partial"}
    for path in made.values():
        path.write_bytes(b"half a tiff")
    [record] = deblur_files_on_cluster([(src / "a.tif", out / "a.tif")], scheduler=client,
                                       **OPTIONS)
    assert record["shape"] == [32, 32]
    assert not made["stale"].exists() and not made["stale_old_name"].exists()
    assert all(made[k].exists() for k in ("live", "live_old_name", "other_host"))


def test_a_temporary_name_carries_host_and_pid_and_is_removed_when_stale(tmp_path,
                                                                         monkeypatch):
    """This process's temporary name names its host, so that another host leaves it alone."""
    monkeypatch.setattr(socket, "gethostname", lambda: "node-7.cluster.lab")
    name = partials.temporary_name(tmp_path / "a.tif").name
    assert name == f".a.tif.node-7_cluster_lab.{os.getpid()}.partial"
    (tmp_path / name).write_bytes(b"half")  # this process runs: kept
    assert partials.remove_stale_partials(tmp_path / "a.tif") == []
    monkeypatch.setattr(socket, "gethostname", lambda: "node-8")
    monkeypatch.setattr(partials, "process_is_gone", lambda pid: True)
    assert partials.remove_stale_partials(tmp_path / "a.tif") == []  # another host's


def test_quiet_zarr_run_prints_nothing(client, tmp_path, capsys):
    """-q: 'no line per file'; a Zarr volume on a cluster still printed its done line."""
    stack = (np.random.default_rng(1).random((2, 32, 32)) * 200).astype(np.uint8)
    src = tmp_path / "vol.zarr"
    with io_write.open_zarr_output(src, stack.shape, stack.dtype, axes="ZYX",
                                   chunks=(1, 32, 32)) as target:
        target[...] = stack
    assert _run(client, src, tmp_path / "out.zarr", "--axes", "ZYX", "-q") == 0
    assert capsys.readouterr().out == ""
    assert (tmp_path / "out.zarr").is_dir()


def _zarr(path, stack):
    with io_write.open_zarr_output(path, stack.shape, stack.dtype, axes="ZYX",
                                   chunks=(1, 32, 32)) as target:
        target[...] = stack
    return path


def test_a_zarr_volume_given_as_its_own_output_is_refused_and_kept(client, tmp_path):
    """deblur_zarr_on_cluster(vol, vol, overwrite=True) replaced the user's volume by its
    deblurred copy (one machine refuses the input as output)."""
    from napari_microdeblur.core.cluster import deblur_zarr_on_cluster

    stack = (np.random.default_rng(1).random((2, 32, 32)) * 200).astype(np.uint8)
    src = _zarr(tmp_path / "vol.zarr", stack)
    with pytest.raises(ValueError, match="is the input; give another name"):
        deblur_zarr_on_cluster(src, src, scheduler=client, axes="ZYX", overwrite=True,
                               **OPTIONS)
    np.testing.assert_array_equal(np.asarray(io.read_image(src).array[...]), stack)


def test_an_existing_zarr_output_is_refused_before_any_work(client, tmp_path, monkeypatch,
                                                            capsys):
    """An existing out.zarr was taken for an output folder: the command wrote
    out.zarr/vol_deblurred.tif into the user's store; in Python it was refused only after the
    whole volume's normalisation had been computed."""
    from napari_microdeblur.core import inference
    from napari_microdeblur.core.cluster import deblur_zarr_on_cluster

    stack = (np.random.default_rng(1).random((2, 32, 32)) * 200).astype(np.uint8)
    src = _zarr(tmp_path / "vol.zarr", stack)
    out = _zarr(tmp_path / "out.zarr", stack[::-1].copy())
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    assert _run(client, src, out, "--axes", "ZYX") == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "exists" in err and "--overwrite" in err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    calls = []
    real = inference.prepare_deblur
    monkeypatch.setattr(inference, "prepare_deblur",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    with pytest.raises(FileExistsError, match="exists"):
        deblur_zarr_on_cluster(src, out, scheduler=client, axes="ZYX", **OPTIONS)
    assert calls == []
