"""Audit 2026-12-05 (b): failures on the cluster path (every file tried, no retry of a file's
own fault, stale partial outputs, what ``scheduler`` takes) and out-of-memory on the command
line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli
from napari_microdeblur.core import files as core_files
from napari_microdeblur.core import io_write

distributed = pytest.importorskip("distributed")

from napari_microdeblur.core.cluster import (  # noqa: E402
    deblur_files_on_cluster,
    deblur_zarr_on_cluster,
)

OPTIONS = dict(method="richardson_lucy", psf="gaussian:1.4", iterations=2, device="cpu",
               tile=64)
CLI_OPTIONS = ["--method", "richardson_lucy", "--psf", "gaussian:1.4", "--iterations", "2",
               "--device", "cpu", "--tile", "64"]
CUDA_OOM = ("CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has 1.5 GiB free.\n"
            "If reserved but unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF")


@pytest.fixture
def folder(tmp_path):
    """in/ with a.tif, b.tif (a corrupt TIFF) and c.tif; out/ empty."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "c"):
        tifffile.imwrite(src / f"{name}.tif", (rng.random((32, 32)) * 200).astype(np.uint8))
    (src / "b.tif").write_bytes(b"II*\x00 this is no TIFF")
    return src, out


def _counting(monkeypatch, fail_on=None, error=None):
    """deblur_file counting its calls per input (workers run in this process), raising
    ``error`` for inputs named ``fail_on``."""
    calls: dict[str, int] = {}
    real = core_files.deblur_file

    def deblur_file(source, output, **kwargs):
        calls[source] = calls.get(source, 0) + 1
        if fail_on and source.endswith(fail_on):
            raise error
        return real(source, output, **kwargs)

    monkeypatch.setattr(core_files, "deblur_file", deblur_file)
    return calls


def test_every_file_is_tried_and_a_corrupt_one_is_not_retried(client, folder, monkeypatch):
    """A corrupt TIFF stopped the batch at the first failure (and was read retries + 1 = 4
    times); now each file is tried once, the failure comes back as its record."""
    src, out = folder
    calls = _counting(monkeypatch)
    pairs = [(src / f"{n}.tif", out / f"{n}.tif") for n in "abc"]
    records = deblur_files_on_cluster(pairs, scheduler=client, retries=3, **OPTIONS)
    assert [r["input"] for r in records] == [str(p) for p, _ in pairs]
    good, bad = [records[0], records[2]], records[1]
    assert all(r["shape"] == [32, 32] and "error" not in r for r in good)
    assert bad["error"] and "\n" not in bad["error"] and "shape" not in bad
    assert calls[str(src / "b.tif")] == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.tif", "c.tif"]


def test_a_runtime_error_is_retried_then_reported_in_one_line(client, folder, monkeypatch):
    """What a file's content does not explain (a worker out of memory) is still retried; when
    the retries are spent it is that file's record, and the other files are done."""
    src, out = folder
    calls = _counting(monkeypatch, fail_on="a.tif", error=RuntimeError(CUDA_OOM))
    pairs = [(src / f"{n}.tif", out / f"{n}.tif") for n in "ac"]
    first, second = deblur_files_on_cluster(pairs, scheduler=client, retries=1, **OPTIONS)
    assert calls[str(src / "a.tif")] == 2
    assert first["error"] == CUDA_OOM.splitlines()[0]
    assert second["shape"] == [32, 32] and (out / "c.tif").exists()


def test_two_runs_with_the_same_output_names_each_write_their_own(client, folder,
                                                                  monkeypatch, tmp_path):
    """Task keys were made of the output's name and index only: a second run on the same
    scheduler (another folder, another user) was handed the first run's task, and its own
    output was never written."""
    import threading
    import time

    src, out = folder
    real = core_files.deblur_file

    def slow(source, output, **kwargs):
        time.sleep(0.5)  # both runs' tasks are on the scheduler at once
        return real(source, output, **kwargs)

    monkeypatch.setattr(core_files, "deblur_file", slow)
    other = tmp_path / "other"
    other.mkdir()
    results = {}
    runs = [threading.Thread(target=lambda d=d: results.setdefault(d, deblur_files_on_cluster(
        [(src / "a.tif", d / "a.tif")], scheduler=client, **OPTIONS))) for d in (out, other)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=30)
    assert (out / "a.tif").exists() and (other / "a.tif").exists()
    assert results[other][0]["output"] == str(other / "a.tif")


def test_cli_on_a_cluster_reports_each_failure_and_exits_2(client, folder, capsys):
    src, out = folder
    address = client.scheduler.address
    code = cli.main(["deblur", str(src), "-o", str(out), *CLI_OPTIONS, "--scheduler", address])
    stdout, err = capsys.readouterr()
    assert code == 2
    # the files done are reported too (the first failure had ended the command)
    assert {line.split(":")[0] for line in stdout.splitlines()} == {
        str(out / "a_deblurred.tif"), str(out / "c_deblurred.tif")}
    errors = [line for line in err.splitlines() if line.startswith("microdeblur: error:")]
    assert len(errors) == 1 and "b.tif" in errors[0]
    assert sorted(p.name for p in out.iterdir()) == ["a_deblurred.tif", "c_deblurred.tif"]


def test_stale_partial_of_a_killed_run_is_removed_a_live_ones_kept(client, tmp_path):
    stack = (np.random.default_rng(1).random((2, 32, 32)) * 200).astype(np.uint8)
    src = tmp_path / "vol.zarr"
    with io_write.open_zarr_output(src, stack.shape, stack.dtype, axes="ZYX",
                                   chunks=(1, 32, 32)) as target:
        target[...] = stack
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = tmp_path / f".out.zarr.{dead.pid}.partial"
        running = tmp_path / f".out.zarr.{live.pid}.partial"
        other = tmp_path / f".other.zarr.{dead.pid}.partial"
        for path in (stale, running, other):
            (path / "0").mkdir(parents=True)
        deblur_zarr_on_cluster(src, tmp_path / "out.zarr", scheduler=client, axes="ZYX",
                               **OPTIONS)
        assert not stale.exists()
        assert running.exists() and other.exists()
        assert (tmp_path / "out.zarr").is_dir()
    finally:
        live.kill()
        live.wait()


@pytest.mark.parametrize("scheduler", ["synchronous", "threads", None, 8786])
def test_what_is_no_scheduler_is_refused_in_one_line(folder, scheduler):
    """'synchronous' said "missing port number"; None started a process LocalCluster."""
    src, out = folder
    with pytest.raises(ValueError, match=r"give the address .*tcp://host:8786.*Client"):
        deblur_files_on_cluster([(src / "a.tif", out / "a.tif")], scheduler=scheduler,
                                **OPTIONS)
    with pytest.raises(ValueError, match="give the address"):
        deblur_zarr_on_cluster(src / "a.tif", out / "a.zarr", scheduler=scheduler, **OPTIONS)
    assert not list(out.iterdir())


def test_cli_scheduler_that_is_no_address(folder, capsys):
    src, out = folder
    code = cli.main(["deblur", str(src / "a.tif"), "-o", str(out / "a.tif"), *CLI_OPTIONS,
                     "--scheduler", "threads"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and "tcp://host:8786" in err


def _raise(error):
    def deblur_one(*args, **kwargs):
        raise error
    return deblur_one


@pytest.mark.parametrize("error", [
    __import__("torch").cuda.OutOfMemoryError(CUDA_OOM),
    RuntimeError(CUDA_OOM),
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't "
                 "allocate memory: you tried to allocate 80000000000 bytes."),
])
def test_out_of_memory_is_one_line_naming_the_options(folder, monkeypatch, capsys, error):
    """A run out of memory reached the user as a traceback."""
    src, out = folder
    monkeypatch.setattr(cli, "deblur_one", _raise(error))
    code = cli.main(["deblur", str(src / "a.tif"), "-o", str(out / "a.tif"), *CLI_OPTIONS])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1
    assert "out of memory" in err and "--tile" in err and "--batch-size" in err
    # the host's own memory: the CPU is no remedy (named only where a GPU's memory ran out)
    assert ("--device cpu" in err) == ("DefaultCPUAllocator" not in str(error))


def test_out_of_memory_in_a_batch_is_one_line_per_file(folder, monkeypatch, capsys):
    src, out = folder
    monkeypatch.setattr(cli, "deblur_one", _raise(RuntimeError(CUDA_OOM)))
    code = cli.main(["deblur", str(src), "-o", str(out), *CLI_OPTIONS])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2 and len(lines) == 5
    assert all("out of memory" in line and "--tile" in line for line in lines[:3])


def test_other_runtime_errors_keep_their_traceback(folder, monkeypatch):
    src, out = folder
    monkeypatch.setattr(cli, "deblur_one", _raise(RuntimeError("mat1 and mat2 shapes")))
    with pytest.raises(RuntimeError, match="mat1 and mat2"):
        cli.main(["deblur", str(src / "a.tif"), "-o", str(out / "a.tif"), *CLI_OPTIONS])
