"""What keeps a cluster run (``core.cluster``) from waiting forever, and says why it stopped.

distributed waits without end in three places a user meets: the handshake with a server that
accepted the connection but speaks another protocol (the dashboard's port 8787 given for the
scheduler's 8786; ``Client(timeout=)`` does not cover it), tasks that no worker is left to run
(a worker whose import of this package fails dies at its first task), and a result asked of a
client whose scheduler is gone. Here: a bounded handshake before the Client is made
(``check_it_answers``), and waits that look at the scheduler every few seconds (``Watch``).
The constants are module attributes so that tests (and a site whose workers take longer to
start) can change them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable

from .shown import first_line, shown_path

#: seconds a server that accepted the connection has to answer dask's handshake
HANDSHAKE_S = 10.0
#: seconds a connection may take to open (what the run's Client is given too)
CONNECT_S = 8.0
#: seconds between looks at the scheduler's workers while a run waits for its tasks
POLL_S = 5.0
#: seconds a scheduler may have no worker before the run stops (workers that a batch system
#: starts later than this need it raised)
NO_WORKERS_GRACE_S = 60.0
#: how often a wait looks whether a task ended (what distributed's as_completed does too)
TICK_S = 0.1
#: how long, after a failure, the chunks still running may take to end before it is raised
SETTLE_S = 120.0

DASHBOARD_HINT = "is it the dashboard port 8787? the scheduler's is usually 8786"
SAME_VERSION = "a worker needs napari-microdeblur of the same version installed"


class ClusterError(ValueError):
    """A cluster run that cannot go on, said in one line (the command line's error)."""


class NotASchedulerError(ClusterError):
    """The address answers, but not as a dask scheduler."""


class SchedulerLostError(ClusterError):
    """The scheduler went away during the run; ``not_done``: how many files were not done."""

    def __init__(self, message: str, not_done: int = 0):
        super().__init__(message)
        self.not_done = not_done


class NoWorkersError(ClusterError):
    """The scheduler has had no worker for ``NO_WORKERS_GRACE_S``."""


class WorkersDiedError(ClusterError):
    """A task's workers died each time they ran it (out of memory, most often)."""


# ---------------------------------------------------------------------------- handshake


def check_it_answers(address: str) -> None:
    """Raise ``NotASchedulerError`` where a server at ``address`` accepts the connection but
    does not answer dask's handshake within ``HANDSHAKE_S`` (or answers in another protocol:
    an HTTP reply read as a frame length had asked for 3 EiB, a MemoryError). A connection
    refused, or an address dask refuses, is left to the Client, whose error says it as before;
    one that does not open in ``CONNECT_S`` is said here (the Client would wait as long again).

    In a thread of its own, on an event loop of its own: the caller's thread may run one (a
    notebook), and the thread is waited for no longer than the handshake may take."""
    outcome: list = []

    def probe() -> None:
        outcome.append(asyncio.run(_handshake(address)))

    thread = threading.Thread(target=probe, name="microdeblur-scheduler-handshake",
                              daemon=True)
    thread.start()
    thread.join(CONNECT_S + HANDSHAKE_S + 2)
    verdict = outcome[0] if outcome else "silent"
    if verdict is None:
        return
    if verdict == "unreachable":  # no answer to the connection itself (a firewall)
        raise ClusterError(f"cannot reach the dask scheduler at {address!r}: no connection "
                           f"within {CONNECT_S:g} s")
    if verdict == "silent":
        raise NotASchedulerError(f"no dask scheduler answered at {address} within "
                                 f"{HANDSHAKE_S:g} s ({DASHBOARD_HINT})")
    from distributed.comm.core import CommClosedError

    how = ("it closed the connection unanswered" if isinstance(verdict, CommClosedError)
           else "it answered in another protocol")
    raise NotASchedulerError(f"the server at {address} is not a dask scheduler: {how} "
                             f"({DASHBOARD_HINT})")


async def _handshake(address: str):
    """None: a dask scheduler answered, or the connection was refused (the Client says so);
    "unreachable": no connection in ``CONNECT_S``; "silent": connected, no answer; else what
    reading the answer raised."""
    from distributed.comm.addressing import parse_address
    from distributed.comm.registry import get_backend
    from distributed.security import Security

    try:
        scheme, location = parse_address(address)
        connector = get_backend(scheme).get_connector()
        # the connection arguments (TLS) the Client would use, from dask's config
        comm = await asyncio.wait_for(
            connector.connect(location, deserialize=True,
                              **Security().get_connection_args("client")), CONNECT_S)
    except asyncio.TimeoutError:
        return "unreachable"
    except Exception:  # refused, unresolved, a scheme dask lacks: the Client's to say
        return None

    async def exchange():
        await comm.write(comm.handshake_info())
        return await comm.read()

    try:
        answer = await asyncio.wait_for(exchange(), HANDSHAKE_S)
        return None if isinstance(answer, dict) else ValueError(f"answered {answer!r:.60}")
    except asyncio.TimeoutError:
        return "silent"
    except (Exception, MemoryError) as error:  # only here: another protocol's bytes
        return error
    finally:
        with contextlib.suppress(Exception):
            comm.abort()


# ---------------------------------------------------------------------------- watching


def lost(client, error: BaseException | None = None) -> bool:
    """Whether ``client`` lost its scheduler: closed, or reconnecting (distributed cancels
    every future then), or ``error`` is a cancellation for a lost connection."""
    if getattr(error, "reason", None) == "scheduler-connection-lost":
        return True
    return getattr(client, "status", "running") not in ("running", "newly-created")


def close_client(client) -> None:
    """Close a run's own ``client``; one whose scheduler was lost within 2 s, and without
    distributed's log of the reconnection that closing it stops (a CancelledError's traceback
    after the run's one line)."""
    if not lost(client):
        client.close()
        return
    loggers = [logging.getLogger(f"distributed.{name}") for name in ("client", "utils", "core")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.CRITICAL + 1)
        with contextlib.suppress(Exception):
            client.close(timeout=2)
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class Watch:
    """Looks, while a run waits, whether its tasks can still end: its scheduler is there (else
    ``SchedulerLostError``), and it has had a worker within ``NO_WORKERS_GRACE_S`` (else
    ``NoWorkersError``); a scheduler slow to answer is looked at again next time.

    ``left``: the work not done, for the lost scheduler's line: how many files, or words
    ('out.zarr not written'); ``then``: how a rerun finishes it."""

    def __init__(self, client, left: Callable[[], int | str], then: str = "finish them"):
        self.client, self.left, self.then = client, left, then
        self.address = getattr(getattr(client, "scheduler", None), "address", None) or "?"
        self.seen: set[str] = set()  # every worker found during the run
        self.none_since: float | None = None
        self.next_look = 0.0
        self.check()  # a client closed before the run (its scheduler gone): said at once

    def lost_error(self) -> SchedulerLostError:
        left = self.left()
        words = f"{_plural(left, 'file')} not done" if isinstance(left, int) else left
        return SchedulerLostError(f"the dask scheduler at {self.address} was lost: {words}; "
                                  f"run the same command again to {self.then}",
                                  left if isinstance(left, int) else 0)

    def check(self) -> None:
        if lost(self.client):
            raise self.lost_error()
        now = time.monotonic()
        if now < self.next_look:
            return
        self.next_look = now + POLL_S
        try:
            workers = self.client.nthreads(callback_timeout=POLL_S)
        except Exception:  # busy, or gone (said above once the client knows)
            return
        self.seen.update(workers)
        if workers:
            self.none_since = None
            return
        if self.none_since is None:
            self.none_since = now
        if now - self.none_since >= NO_WORKERS_GRACE_S:
            raise self.no_workers_error()

    def no_workers_error(self) -> NoWorkersError:
        if self.seen:
            return NoWorkersError(
                f"the cluster has no workers left ({len(self.seen)} died): check the "
                f"workers' logs; {SAME_VERSION}")
        return NoWorkersError(
            f"the dask scheduler at {self.address} has had no worker for "
            f"{NO_WORKERS_GRACE_S:g} s: start workers (dask worker {self.address}); "
            f"{SAME_VERSION}")

    def result(self, future):
        """``future.result()``, looking at the cluster while it waits."""
        while True:
            try:
                return future.result(timeout=POLL_S)
            except TimeoutError:
                if future.done():  # the task's own TimeoutError
                    raise
                self.check()

    def as_they_end(self, futures: list):
        """``futures`` as each ends (as distributed's as_completed, on the client's loop: it
        looks for the process's default client, which a run's is not), looking at the
        cluster while none has."""
        from distributed import as_completed

        ending = as_completed(futures, loop=self.client.loop)
        while not ending.is_empty():
            if ending.has_ready():
                yield next(ending)
            else:
                self.check()
                time.sleep(TICK_S)


def failure_record(source: str, output: str, error: BaseException) -> dict:
    failure = {"input": source, "output": output, "error": first_line(error),
               "error_type": type(error).__name__}
    if isinstance(getattr(error, "errno", None), int):  # a full disk stops the run
        failure["errno"] = error.errno
    return failure


def records_as_done(watch: Watch, pairs: list[tuple[str, str]], futures: list,
                    on_record) -> list[dict]:
    """The record of each pair (None future: skipped), in the order of ``pairs``; each passed
    to ``on_record`` as its task ends (waiting for all first had held every file's line back
    until the last file was done). A full disk raises ``files.DiskFullError`` at its first
    record: every file after it would be computed, then fail the same way. A lost scheduler
    raises ``SchedulerLostError`` once, its cancelled files not made failures (a rerun does
    them); no worker left, ``NoWorkersError``."""
    from distributed.scheduler import KilledWorker

    from .files import full_disk_stop

    records: list[dict | None] = [None] * len(pairs)
    index = {}
    for i, ((src, dst), future) in enumerate(zip(pairs, futures)):
        if future is None:
            records[i] = {"input": src, "output": dst, "skipped": True}
            if on_record is not None:
                on_record(records[i])
        else:
            index[future.key] = i
    watch.left = files_left(records)
    for future in watch.as_they_end([f for f in futures if f is not None]):
        i = index[future.key]
        try:  # watched too: a result whose worker died before it was fetched is recomputed
            records[i] = watch.result(future)
        except Exception as error:  # retries spent (a worker died each time, say)
            if lost(watch.client, error):
                raise watch.lost_error() from None
            records[i] = failure_record(*pairs[i], error)
            if isinstance(error, KilledWorker):  # its words name the task's key
                records[i]["error"] = died_words(error)
        stop = full_disk_stop(pairs[i][0], records[i].get("errno"), records[i].get("error"))
        if stop is not None:  # the caller cancels the rest
            raise stop
        if on_record is not None:
            on_record(records[i])
    return records


def files_left(records: list) -> Callable[[], int]:
    """How many files are not done: the Nones of ``records``, which fill as tasks end."""
    return lambda: sum(r is None for r in records)


# ---------------------------------------------------------------------------- a volume


def _running_keys(dask_worker) -> list:
    """Runs on a worker: the keys of the tasks its threads are running (cancelled or not)."""
    return [ts.key for ts in dask_worker.state.tasks.values()
            if ts.state in ("executing", "cancelled", "resumed", "long-running")]


def compute_watched(client, stored, retries: int, chunk_of: Callable[[object], str],
                    output) -> None:
    """Compute ``stored``; on a failure (or Ctrl-C) cancel its other tasks and wait for the
    running ones to end before raising. The temporary output is removed then: chunks still
    being written after the error had recreated it (and a rerun from the same process, which
    gets the same temporary name, could have taken in chunks of the failed run). A lost
    scheduler, no worker left, or a chunk whose workers all died (``chunk_of`` its task key:
    'chunk Y 0:2048, X 0:2048') is said in one line (a rerun writes ``output`` whole)."""
    from distributed.scheduler import KilledWorker

    watch = Watch(client, lambda: f"{shown_path(output)} not written", then="write it")
    future = client.compute(stored, retries=retries)
    try:
        watch.result(future)
    except BaseException as error:
        if lost(client, error):  # nothing to cancel or ask the workers: said at once
            raise watch.lost_error() from None
        _settle(client, future, stored)
        if isinstance(error, KilledWorker):
            raise WorkersDiedError(f"{chunk_of(error.task)}: {died_words(error)}") from None
        raise


def died_words(error) -> str:
    """What a KilledWorker means to the user (not 'out of memory': the command line reads
    that as this machine's, and names its --device)."""
    return (f"the workers running it died {error.allowed_failures + 1} times (most often for "
            "lack of memory): give a smaller tile=, or the workers more memory (dask worker "
            "--memory-limit); their logs say why")


def _settle(client, future, stored) -> None:
    """Cancel ``stored``'s tasks and wait, up to ``SETTLE_S``, for those running to end.
    Best effort: a scheduler that is gone must not hide the error that is raised."""
    with contextlib.suppress(Exception):
        names = set(getattr(stored.__dask_graph__(), "layers", ()))
        client.cancel(future, force=True)
        deadline = time.monotonic() + SETTLE_S
        # asked of the workers: the scheduler forgets a cancelled task while it still runs
        while time.monotonic() < deadline and any(
                (k[0] if isinstance(k, tuple) else k) in names
                for keys in client.run(_running_keys, callback_timeout=SETTLE_S).values()
                for k in keys):
            time.sleep(0.1)


def chunk_namer(chunks: tuple, axes: str) -> Callable[[object], str]:
    """The chunk a task key ``(name, i, j, ...)`` of an array with ``chunks`` computes, in
    words ('chunk Y 0:2048, X 2048:4096'); 'a chunk' for a key of another form."""
    import numpy as np

    starts = [np.concatenate([[0], np.cumsum(c)]) for c in chunks]

    def name(key) -> str:
        index = key[1:] if isinstance(key, tuple) else ()
        if len(index) != len(chunks) or not all(
                isinstance(k, int) and 0 <= k < len(c) for k, c in zip(index, chunks)):
            return "a chunk"
        return "chunk " + ", ".join(f"{a} {s[k]}:{s[k + 1]}"
                                    for a, s, k in zip(axes, starts, index))

    return name
