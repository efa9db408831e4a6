"""A cluster run that cannot go on stops with one line instead of waiting forever: a server at
the --scheduler address that is no dask scheduler (the dashboard's port 8787 for 8786), a
scheduler with no worker left (a worker whose import of the package fails dies at its first
task), a scheduler lost during the run, and a Zarr chunk whose workers all died.

Each case runs in a thread waited for a few seconds: before these fixes they hung, and the
test fails instead of hanging. The waits are shortened through cluster_watchdog's constants."""

import contextlib
import socket
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
import tifffile

distributed = pytest.importorskip("distributed")

from napari_microdeblur.core import cluster  # noqa: E402
from napari_microdeblur.core.cluster import deblur_files_on_cluster  # noqa: E402

OPTIONS = dict(method="wiener", psf="gaussian:1.5", device="cpu")
CLI_OPTIONS = ["--method", "wiener", "--psf", "gaussian:1.5", "--device", "cpu"]
#: the file tasks hold every file but 'a.tif' until a test releases them
RELEASE = threading.Event()
#: set by a held Zarr chunk as it starts (the workers run in this process)
STARTED = threading.Event()
REAL_FILE_TASK = cluster._deblur_file_task


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    """The watchdog's waits in seconds, not minutes (the module is new with the fixes: before
    them there is nothing to shorten, and the runs hang)."""
    try:
        from napari_microdeblur.core import cluster_watchdog as watchdog
    except ImportError:
        watchdog = None
    if watchdog is not None:
        monkeypatch.setattr(watchdog, "HANDSHAKE_S", 1.0)
        monkeypatch.setattr(watchdog, "POLL_S", 0.2)
        monkeypatch.setattr(watchdog, "NO_WORKERS_GRACE_S", 1.0)
        monkeypatch.setattr(watchdog, "SETTLE_S", 5.0)
    RELEASE.clear()
    STARTED.clear()
    yield
    RELEASE.set()


def _bounded(call, seconds: float) -> dict:
    """``call()`` in a daemon thread, waited for ``seconds``: {"returned"} or {"raised"}, or
    {} where it still runs (it hung)."""
    outcome: dict = {}

    def run():
        try:
            outcome["returned"] = call()
        except BaseException as error:  # noqa: BLE001 - what the run raised is the result
            outcome["raised"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return outcome


@contextlib.contextmanager
def _server(reply: bytes | None):
    """A loopback server that accepts connections and answers ``reply`` (then closes), or
    never answers (None); its address."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    held, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)
            if reply is not None:
                with contextlib.suppress(OSError):
                    conn.recv(4096)
                    conn.sendall(reply)
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:  # a connection closed: a run still waiting on it (before the fixes) ends
        stop.set()
        thread.join(2)
        listener.close()
        for conn in held:
            conn.close()


def _tif(tmp_path, name="a.tif") -> Path:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    tifffile.imwrite(folder / name, rng.integers(0, 255, (48, 48), dtype=np.uint8))
    return folder / name


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("microdeblur: error")]


# ------------------------------------------------------------------------- not a scheduler


def test_a_server_that_never_answers_the_handshake_is_said_in_one_line(tmp_path, capsys):
    from napari_microdeblur.cli import main

    source = _tif(tmp_path)
    with _server(None) as address:
        t0 = time.perf_counter()
        outcome = _bounded(lambda: main(["deblur", str(source), "-o", str(tmp_path / "o.tif"),
                                         *CLI_OPTIONS, "--scheduler", address]), 20)
        seconds = time.perf_counter() - t0
    assert outcome.get("returned") == 2, outcome  # before: waited without end
    assert seconds < 15
    err = capsys.readouterr().err
    assert _error_lines(err) == [
        f"microdeblur: error: no dask scheduler answered at {address} within 1 s (is it the "
        "dashboard port 8787? the scheduler's is usually 8786)"], err
    assert "Traceback" not in err
    assert not (tmp_path / "o.tif").exists()


def test_a_server_answering_in_another_protocol_is_not_a_scheduler(tmp_path):
    """An HTTP 400 reply read as a frame length had asked for 3 EiB: 'out of memory'."""
    reply = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    with _server(reply) as address:
        outcome = _bounded(lambda: deblur_files_on_cluster(
            [(_tif(tmp_path), tmp_path / "o.tif")], scheduler=address, **OPTIONS), 20)
    error = outcome.get("raised")
    assert isinstance(error, ValueError), outcome
    assert str(error) == (f"the server at {address} is not a dask scheduler: it answered in "
                          "another protocol (is it the dashboard port 8787? the scheduler's "
                          "is usually 8786)")


# ------------------------------------------------------------------------- no worker left


@pytest.fixture
def local():
    """An in-process cluster of one worker of four threads, for one test (some close its
    worker or scheduler: closing the cluster then waits for it a minute, so not waited for)."""
    cluster_ = distributed.LocalCluster(n_workers=1, threads_per_worker=4, processes=False,
                                        dashboard_address=":0")
    yield cluster_
    RELEASE.set()
    _bounded(lambda: cluster_.close(timeout=3), 5)


def _held_file_task(source, output, *args):
    """Runs on a worker: 'a.tif' deblurred at once, every other file held until RELEASE."""
    if Path(source).name == "a.tif":
        return REAL_FILE_TASK(source, output, *args)
    RELEASE.wait(60)
    return {"input": source, "output": output, "error": "released", "error_type": "Held"}


def _three_files(tmp_path) -> list[tuple[Path, Path]]:
    out = tmp_path / "out"
    out.mkdir()
    return [(_tif(tmp_path, name), out / name) for name in ("a.tif", "b.tif", "c.tif")]


def _when(condition, then, seconds=30.0) -> threading.Thread:
    """``then()`` in a thread as soon as ``condition()`` holds."""
    def run():
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.05)
        then()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _close_worker(local) -> None:
    worker = next(iter(local.workers.values()))
    # its held task threads are not waited for: a worker that died leaves them nothing
    local.sync(worker.close, executor_wait=False)


def test_a_run_whose_workers_all_died_stops_in_one_line(local, tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "_deblur_file_task", _held_file_task)
    pairs = _three_files(tmp_path)
    said = []
    _when(lambda: pairs[0][1].exists(), lambda: _close_worker(local))
    outcome = _bounded(lambda: deblur_files_on_cluster(
        pairs, scheduler=local.scheduler_address, on_record=said.append, **OPTIONS), 30)
    error = outcome.get("raised")
    assert isinstance(error, ValueError), outcome  # before: waited without end
    assert str(error) == ("the cluster has no workers left (1 died): check the workers' logs; "
                          "a worker needs napari-microdeblur of the same version installed")
    assert [Path(r["input"]).name for r in said] == ["a.tif"]  # the file done was said


def test_a_scheduler_without_any_worker_stops_after_the_grace(tmp_path):
    with distributed.LocalCluster(n_workers=0, processes=False,
                                  dashboard_address=":0") as empty:
        outcome = _bounded(lambda: deblur_files_on_cluster(
            [(_tif(tmp_path), tmp_path / "o.tif")], scheduler=empty.scheduler_address,
            **OPTIONS), 20)
        address = empty.scheduler_address
    error = outcome.get("raised")
    assert isinstance(error, ValueError), outcome
    assert str(error) == (f"the dask scheduler at {address} has had no worker for 1 s: start "
                          f"workers (dask worker {address}); a worker needs napari-microdeblur "
                          "of the same version installed")


# ------------------------------------------------------------------------- scheduler lost


def _close_scheduler(local) -> None:
    local.sync(local.scheduler.close)


def test_a_batch_whose_scheduler_is_lost_says_so_once(local, tmp_path, monkeypatch, capsys):
    """One line for the lost scheduler after the batch's closing line; the files not done are
    no failures (no failures.tsv lists them): the same command again does them."""
    from napari_microdeblur.cli import main
    from napari_microdeblur.core.cluster import failures_path

    monkeypatch.setattr(cluster, "_deblur_file_task", _held_file_task)
    pairs = _three_files(tmp_path)
    out = pairs[0][1].parent
    # a second for its record to reach the client: the output is renamed into place first
    _when(lambda: (out / "a_deblurred.tif").exists(),
          lambda: (time.sleep(1), _close_scheduler(local)))
    outcome = _bounded(lambda: main(["deblur", str(pairs[0][0].parent), "-o", str(out),
                                     *CLI_OPTIONS, "--scheduler", local.scheduler_address]), 30)
    assert outcome.get("returned") == 2, outcome
    err = capsys.readouterr().err
    assert "cancelled" not in err and "Traceback" not in err, err
    assert _error_lines(err) == [
        f"microdeblur: error: the dask scheduler at {local.scheduler_address} was lost: 2 "
        "files not done; run the same command again to finish them"], err
    assert "1 done, 0 skipped (output exists), 0 failed; stopped by the error below" in err
    assert not failures_path(out).exists()


def test_a_client_whose_scheduler_is_gone_is_refused_at_once(local, tmp_path):
    """The Python API given a Client whose scheduler went away had waited over 85 s."""
    client = distributed.Client(local.scheduler_address, timeout="2s", set_as_default=False)
    try:
        _close_scheduler(local)
        deadline = time.monotonic() + 10
        while client.status == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        outcome = _bounded(lambda: deblur_files_on_cluster(
            [(_tif(tmp_path), tmp_path / "o.tif")], scheduler=client, **OPTIONS), 10)
    finally:
        _bounded(lambda: client.close(timeout=2), 3)
    error = outcome.get("raised")
    assert isinstance(error, ValueError), outcome
    assert str(error).endswith("was lost: 1 file not done; run the same command again to "
                               "finish them")
    assert error.not_done == 1
    assert not (tmp_path / "o.tif").exists()


# ------------------------------------------------------------------------- a Zarr volume


def _stack(tmp_path) -> Path:
    from napari_microdeblur.core import io_write

    source = tmp_path / "vol.zarr"
    rng = np.random.default_rng(1)
    stack = rng.integers(0, 255, (3, 64, 64), dtype=np.uint8)
    with io_write.open_zarr_output(source, stack.shape, stack.dtype, axes="ZYX",
                                   chunks=(1, 64, 64)) as target:
        target[...] = stack
    return source


def _held_block(block, *, block_info=None, **kwargs):
    """Runs on a worker: a chunk held until RELEASE."""
    if not block.size:  # dask's look at the output's type, on the client
        return block
    STARTED.set()
    RELEASE.wait(60)
    return block


def test_a_zarr_run_whose_scheduler_is_lost_says_so_in_one_line(local, tmp_path, monkeypatch,
                                                                capsys):
    from napari_microdeblur.cli import main

    monkeypatch.setattr(cluster, "_deblur_block", _held_block)
    source, out = _stack(tmp_path), tmp_path / "out.zarr"
    _when(STARTED.is_set, lambda: _close_scheduler(local))
    outcome = _bounded(lambda: main(["deblur", str(source), "-o", str(out), *CLI_OPTIONS,
                                     "--scheduler", local.scheduler_address]), 30)
    assert outcome.get("returned") == 2, outcome  # before: FutureCancelledError's traceback
    err = capsys.readouterr().err
    assert _error_lines(err) == [
        f"microdeblur: error: the dask scheduler at {local.scheduler_address} was lost: "
        f"{str(out)!r} not written; run the same command again to write it"], err
    assert not out.exists()


def _dying_block(block, *, block_info=None, **kwargs):
    """Runs on a worker: the middle plane's chunk fails as a chunk whose workers all died."""
    from distributed.scheduler import KilledWorker

    if not block.size:  # dask's look at the output's type, on the client
        return block
    location = block_info[0]["chunk-location"]
    if location[0] == 1:
        raise KilledWorker(("deblur-block", *location), types.SimpleNamespace(address="w"), 3)
    return block


def test_a_zarr_chunk_whose_workers_died_is_named_in_one_line(local, tmp_path, monkeypatch,
                                                              capsys):
    """KilledWorker (workers past their memory limit) had ended the command in a traceback."""
    from napari_microdeblur.cli import main

    monkeypatch.setattr(cluster, "_deblur_block", _dying_block)
    source, out = _stack(tmp_path), tmp_path / "out.zarr"
    outcome = _bounded(lambda: main(["deblur", str(source), "-o", str(out), *CLI_OPTIONS,
                                     "--scheduler", local.scheduler_address]), 30)
    assert outcome.get("returned") == 2, outcome
    assert _error_lines(capsys.readouterr().err) == [
        "microdeblur: error: chunk Z 1:2, Y 0:64, X 0:64: the workers running it died 4 times "
        "(most often for lack of memory): give a smaller --tile, or the workers more memory "
        "(dask worker --memory-limit); their logs say why"]
    assert not out.exists()


def test_a_file_whose_workers_died_is_a_failure_in_words(local, tmp_path, monkeypatch):
    """A file's KilledWorker is its failure record (the run goes on), in words, not dask's
    'Attempted to run task ... on 4 different workers'."""
    def dying_task(source, output, *args):
        from distributed.scheduler import KilledWorker

        raise KilledWorker("key", types.SimpleNamespace(address="w"), 3)

    monkeypatch.setattr(cluster, "_deblur_file_task", dying_task)
    outcome = _bounded(lambda: deblur_files_on_cluster(
        [(_tif(tmp_path), tmp_path / "o.tif")], scheduler=local.scheduler_address,
        retries=0, **OPTIONS), 20)
    [record] = outcome["returned"]
    assert record["error"].startswith("the workers running it died 4 times (most often for "
                                      "lack of memory): give a smaller tile=")
