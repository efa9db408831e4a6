"""Deblurring on a dask.distributed cluster: one task per file, or per chunk of a Zarr volume.

A task that dies with its worker is rerun elsewhere (``retries``); outputs are written under a
temporary name and renamed, so a rerun never finds half a file. Networks are loaded once per
worker process and reused by every task it runs (a ``ModelCache`` per worker for files; for the
chunks of one volume the resolved Method itself, keyed by its hashable MethodSpec).

What killed runs left (``core.partials``) is removed once per run, not once per file: each task
had listed its output folder, so a run into one folder was quadratic in its size. One task lists
each output folder for the temporaries of the run's outputs, and every worker removes, of those
found, the ones its own host wrote with a process now gone (only there can a pid be judged).
This is done before the files are sent (what earlier runs left) and again once all are done
(what a task killed in this run left: its retry may have run on another process or host, and
no task looks for it any more). The tasks write under their own process's temporary name, so
an output is never taken from another attempt's half-written file either way.

What would wait forever (a server that is no scheduler, no worker left, a lost scheduler) stops
with one line: ``core.cluster_watchdog``.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import uuid
import warnings
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from .allocator import release_memory, tune_dask_worker
from .checkpoint import ModelCache
from .cluster_chunks import (
    block_levels,
    last_chunk_merged,
    levels_array,
    levels_for_chunks,
    run_by_plane,
    with_margin,
    without_mirror,
)
from .cluster_watchdog import (
    CONNECT_S,
    ClusterError,
    SchedulerLostError,
    Watch,
    check_it_answers,
    chunk_namer,
    close_client,
    compute_watched,
    files_left,
    lost,
    records_as_done,
)
from .cluster_watchdog import failure_record as _failure
from .method import Method, MethodSpec
from .notes import DeblurWarning
from .output_cast import OutputCast, open_tally
from .shown import first_line
from .tiling_spec import TilingSpec

#: The networks a worker process has loaded, shared by its file tasks.
_WORKER_MODELS = ModelCache()


#: what ``scheduler`` takes, said when it is given something else
SCHEDULER_HELP = ("give the address of a running dask.distributed scheduler "
                  "(tcp://host:8786) or a distributed.Client")


def _check_scheduler(scheduler) -> None:
    """Refuse, before any work, what is no scheduler: dask's 'synchronous' or 'threads' (read
    as a host without a port), or None (which had started a process LocalCluster unasked)."""
    if isinstance(scheduler, str):
        if "://" in scheduler or re.fullmatch(r"\S+:\d+", scheduler):
            return
    elif hasattr(scheduler, "scheduler_address") or hasattr(scheduler, "submit"):
        return  # a Client, or a cluster object (LocalCluster) that Client connects to
    raise ValueError(f"scheduler={scheduler!r} is not a dask.distributed scheduler: "
                     f"{SCHEDULER_HELP}")


@lru_cache(maxsize=1)
def _closing_client():
    """distributed.Client, closed at once when it fails to connect: distributed leaves open
    one that raised anything but OSError (an inproc:// address of no scheduler here), and, not
    being the default client, its close when Python exited waited 16 s, then printed a
    traceback."""
    from distributed import Client

    class ClosingClient(Client):
        def start(self, **kwargs):
            try:
                return super().start(**kwargs)
            except BaseException:
                with contextlib.suppress(Exception):  # the connection's error is the one raised
                    self.close(timeout=2)
                raise

    return ClosingClient


def _client(scheduler):
    try:
        from distributed import Client
    except ImportError:
        raise ValueError(
            "cluster runs need dask.distributed: pip install 'napari-microdeblur[distributed]'"
        ) from None
    if isinstance(scheduler, Client):
        return scheduler, False
    _check_scheduler(scheduler)
    if isinstance(scheduler, str) and not scheduler.startswith("inproc://"):
        check_it_answers(scheduler)  # the Client's handshake waits without end (8787 for 8786)
    try:
        # not the process's default: one that failed to connect (inproc) stayed dask's
        # scheduler, and later dask work in the process (a lazy image's deblur) hung or found
        # "no Client active"; every call of this module uses the client it is given
        return _closing_client()(scheduler, timeout=f"{CONNECT_S:g}s",
                                 set_as_default=False), True
    except (OSError, TimeoutError) as error:
        raise ValueError(f"cannot reach the dask scheduler at {scheduler!r}: {error}") from error
    except ValueError as error:
        if not str(scheduler).startswith("inproc://"):
            raise
        # dask's own message for a foreign inproc address is an unpacking error
        raise ValueError(
            f"no dask scheduler at {scheduler!r} in this Python process: an inproc:// address "
            "reaches only a scheduler started in the same process (LocalCluster(processes="
            "False)); from the command line or another process, start one with `dask "
            "scheduler` and give its tcp:// address") from error


def _worker_method(spec: MethodSpec, rgb: bool) -> Method:
    """Resolve a method once per worker thread, its network shared by the process's threads
    and file tasks (``_WORKER_MODELS``): a Method holds the state of the plane it runs (a
    PSF-aware network's noise level), and shared by two chunks run side by side in a worker's
    threads, one chunk's plane took the other's level (up to 19 grey levels off, 2 threads)."""
    return _thread_method(spec, rgb, threading.get_ident())


@lru_cache(maxsize=64)
def _thread_method(spec: MethodSpec, rgb: bool, thread: int) -> Method:
    return spec.resolve(rgb=rgb, models=_WORKER_MODELS)


def _specs(method, tiling, options: dict) -> tuple[MethodSpec, TilingSpec]:
    """(MethodSpec, TilingSpec) from either form, checked before any task is sent."""
    from .inference import split_options
    from .psf_fit import check_spec_before_image

    if tiling is None:
        method, tiling = split_options(method, **options)
    elif options:
        raise TypeError(f"unexpected options {sorted(options)} next to tiling=TilingSpec(...)")
    if not isinstance(method, MethodSpec):
        raise TypeError(f"method is a {type(method).__name__}; on a cluster give a method name "
                        "or a MethodSpec (workers resolve it; a loaded network is not sent)")
    # an optics PSF lacking pixel= (or dz=) is completed from each file's calibration there;
    # a GPU device is the workers' (this machine may have none): only its form checked here
    return check_spec_before_image(method), tiling.check(on_workers=True)


def _device_on_worker(tiling: TilingSpec) -> None:
    """Runs on a worker: refuse a device it lacks in one line naming it. A bare 'cuda' stays
    that worker's current GPU (the one its CUDA_VISIBLE_DEVICES shows), not a fixed index."""
    import socket

    from .devices import resolve_device

    try:
        resolve_device(tiling.device)
    except ValueError as error:
        try:
            from distributed import get_worker

            where = f"{socket.gethostname()} ({get_worker().address})"
        except (ImportError, ValueError):  # not in a worker's task
            where = socket.gethostname()
        raise ValueError(f"on worker {where}: {error}") from None


def _tiling_here(tiling: TilingSpec) -> TilingSpec:
    """``tiling`` for what the client prepares itself (it runs no tile): a GPU this machine
    lacks is the workers' (checked on each), the CPU standing in for it here."""
    try:
        return tiling.check()
    except ValueError:  # all but the device was checked by _specs
        return tiling.replace(device="cpu")


def _deblur_file_task(source: str, output: str, spec: MethodSpec, tiling: TilingSpec,
                      axes: str | None, overwrite: bool) -> dict:
    """Runs on a worker: deblur one file (removing what a killed earlier attempt left). The
    spec is settled for each file there (an estimated PSF, 'auto' iterations), as on one
    machine; resolving it once per worker had refused the EM and brightfield defaults."""
    import time

    from .files import deblur_file
    from .partials import already_swept
    from .thread_warnings import caught

    t0 = time.perf_counter()
    tuned = tune_dask_worker()  # dask's MALLOC_TRIM_THRESHOLD_ made the EM default 10x slower
    # what one machine would warn about this file (axes in doubt, alpha passed through) would
    # otherwise stay in the worker's log: it travels back in the record as "notes"; what killed
    # runs left is removed by the run, before and after (module docstring), not listed per file;
    # caught(): this task's alone, as a worker's tasks run in threads of one process
    with caught() as held, already_swept([output]):
        try:
            _device_on_worker(tiling)
            result = deblur_file(source, output, axes=axes, overwrite=overwrite, method=spec,
                                 tiling=tiling, models=_WORKER_MODELS)
        except (ValueError, TypeError, OSError) as error:
            # the file's own fault (unreadable, bad axes, output exists): a rerun on another
            # worker fails the same way, so it comes back as a record, not a retried error
            return _failure(source, output, error)
        finally:
            if tuned:  # what dask's variable was for: the worker's free memory back to the OS
                release_memory()
    notes = list(dict.fromkeys(str(w.message) for w in held
                               if issubclass(w.category, UserWarning)))
    # how it was made, so that the command's line for the file says what one machine's says
    return {"input": source, "output": output, "shape": list(result.image.shape),
            "seconds": round(time.perf_counter() - t0, 2), "worker_pid": os.getpid(),
            "notes": notes, "method": str(result.method), "axes": result.axes,
            "device": str(result.device), "tile": list(result.tile),
            "overlap": list(result.overlap), "allocator_tuned": tuned}


def _partials_task(outputs: list[str]) -> dict[str, list[str]]:
    """Runs on one worker: the temporaries named for ``outputs``, each with the output names it
    reads as (one listing per folder; whether they are stale is judged on their own hosts)."""
    from .partials import partials_of

    return {str(path): sorted(names) for path, names in partials_of(outputs).items()}


async def _remove_stale_here(found: dict[str, list[str]]) -> int:
    """Runs on every worker (Client.run): remove, of ``found``, those its host wrote with a
    process now gone; how many. In a thread: removing a big Zarr temporary must not hold up the
    worker's event loop (its heartbeats)."""
    import asyncio

    from .partials import remove_if_stale

    removed = await asyncio.to_thread(
        remove_if_stale, {Path(path): set(names) for path, names in found.items()})
    return len(removed)


def _sweep(watch: Watch, outputs: list[str], key: str, retries: int, before: bool) -> None:
    """Remove what killed runs left for ``outputs``: one listing of each folder (a task), then
    each worker removes what its host can prove stale. Best effort: what is left stays hidden,
    and the next run to these outputs looks again; a failure here says so and stops nothing,
    but a lost scheduler or no worker left stops a run ``before`` its files (``Watch``)."""
    if not outputs:
        return
    client = watch.client
    try:
        found = watch.result(client.submit(_partials_task, outputs, pure=False,
                                           retries=retries, key=key))
        if found:  # every worker, each judging its own host's (a worker that fails raises)
            client.run(_remove_stale_here, found)
    except Exception as error:  # the run's files matter more than its leftovers
        if before and lost(client, error):  # the run's files are not sent: said once
            raise watch.lost_error() from None
        if before and isinstance(error, ClusterError):
            raise
        why = "the dask scheduler was lost" if lost(client, error) else first_line(error)
        warnings.warn(f"temporaries that killed runs left beside the outputs may remain (hidden "
                      f".partial files; the next run removes them): {why}",
                      DeblurWarning, stacklevel=3)


def deblur_files_on_cluster(pairs, *, scheduler, retries: int = 3, axes: str | None = None,
                            overwrite: bool = False, skip_existing: bool = False,
                            method: MethodSpec | str = "auto", tiling: TilingSpec | None = None,
                            on_record: Callable[[dict], None] | None = None,
                            **options) -> list[dict]:
    """Deblur (input, output) file pairs, one task per file; returns a record per file, in
    the order of ``pairs`` (input, output, shape, seconds, worker_pid, "notes": the file's
    warnings, such as axes in doubt, which one machine would have shown, and method, axes,
    device, tile and overlap as the file was run; allocator_tuned: whether the worker's glibc
    allocator was tuned, ``core.allocator.tune_dask_worker``).

    ``on_record(record)`` is called with each record as soon as it is known: the skipped ones
    first, then each file's as its task ends (in the order they end, not that of ``pairs``),
    so that a caller can report progress; what it raises stops the run at once: the tasks
    not yet started are cancelled (those running finish), and it is raised.

    Every file is tried, as a batch on one machine does: a file that fails gets a record with
    "error" (one line), "error_type" (and "errno" where it has one) instead of shape and
    seconds, and no output; but a full disk stops the run as ``on_record`` raising would, with
    ``files.DiskFullError`` naming the file. A file's
    own fault (ValueError, TypeError, OSError) is not retried; ``retries`` reruns a task whose
    worker died or that raised anything else.

    ``skip_existing`` (without ``overwrite``): a pair whose output exists is not sent; its
    record is (input, output, "skipped": True). Outputs are renamed into place only once
    complete, so rerunning an interrupted batch this way redoes only what is missing.

    ``method``/``tiling`` as in ``files.iter_deblur_file`` (a MethodSpec and TilingSpec, or a
    name and the keyword options of ``inference.iter_deblur``)."""
    spec, tiling = _specs(method, tiling, options)
    client, own = _client(scheduler)
    try:
        pairs = [(str(src), str(dst)) for src, dst in pairs]
        skip = skip_existing and not overwrite
        # a key of this run's own: another run (or client) with the same output names on
        # this scheduler had been handed the tasks, and results, of the first
        run = uuid.uuid4().hex[:8]
        sent = [i for i, (_, dst) in enumerate(pairs) if not (skip and os.path.exists(dst))]
        outputs = [pairs[i][1] for i in sent]
        watch = Watch(client, files_left([None] * len(sent)))
        # once per run, not per file (module docstring): what earlier runs left ...
        _sweep(watch, outputs, f"microdeblur-sweep-before-{run}", retries, before=True)
        futures = [None] * len(pairs)
        for i in sent:
            src, dst = pairs[i]
            futures[i] = client.submit(_deblur_file_task, src, dst, spec, tiling, axes,
                                       overwrite, pure=False, retries=retries,
                                       key=f"microdeblur-{Path(dst).name}-{i}-{run}")
        try:  # one failure stops none
            records = records_as_done(watch, pairs, futures, on_record)
        except BaseException as error:  # on_record raised (Ctrl-C, a closed pipe): send no
            # more work and return now: a sweep would wait behind the tasks still running (15 s
            # in a review); the next run to these outputs sweeps what this one leaves
            if not isinstance(error, SchedulerLostError):  # a lost one takes no message
                client.cancel([f for f in futures if f is not None])
            raise
        _sweep(watch, outputs, f"microdeblur-sweep-after-{run}", retries, before=False)
        return records
    finally:
        if own:
            close_client(client)


def failures_path(folder) -> Path:
    """Where the failed files of a batch into ``folder`` are listed: beside it, as
    ``<folder>.failures.tsv`` (the folder itself holds only outputs), in the form the folder
    was given ('out' -> 'out.failures.tsv'), as messages quote paths as typed."""
    folder = Path(folder)
    if folder.name not in ("", ".", ".."):
        return folder.with_name(f"{folder.name}.failures.tsv")
    real = folder.resolve()  # '.' has no name of its own: its real one, beside it
    listed = real.with_name(f"{real.name or 'output'}.failures.tsv")
    return listed if folder.is_absolute() else Path(os.path.relpath(listed))


def write_failures(folder, records) -> tuple[Path | None, int]:
    """List the failed files of ``records`` in ``failures_path(folder)`` (input, output and
    error, tab-separated, under a header), whole or not at all: (the list, None where no row is
    left and it is removed; the rows of an earlier list kept). An earlier list keeps its rows
    of inputs this run did not touch that are still there (``output_claims.untouched_rows``: a
    batch of other inputs into the folder had deleted them); the others are replaced."""
    from .atomic_write import write_atomically
    from .output_claims import FAILURES_HEADER, failure_row, untouched_rows

    path = failures_path(folder)
    kept = untouched_rows(path, records)
    rows = kept + [failure_row(r["input"], r["output"], r["error"]) for r in records
                   if "error" in r]
    if not rows:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return None, 0

    def write(tmp: Path) -> None:
        # a name not valid UTF-8 written as its own bytes: 'surrogates not allowed' (a
        # ValueError) had lost the list and the batch's closing line
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as f:
            f.write("".join(row + "\n" for row in [FAILURES_HEADER, *rows]))

    write_atomically(path, write)
    return path, len(kept)


def _chunk_name(axes: str, depth: dict, block_info) -> str:
    """'chunk Z 3:4, Y 0:2048, X 2048:4096': where a map_overlap block lies in the volume
    (dask gives its bounds in the overlapped array, where every chunk grew by 2 x depth)."""
    info = (block_info or {}).get(0)
    if not info:
        return "a chunk"
    spans = []
    for i, (a, (lo, hi), k) in enumerate(zip(axes, info["array-location"],
                                             info["chunk-location"])):
        grown = 2 * depth.get(i, 0)
        spans.append(f"{a} {lo - grown * k}:{hi - grown * (k + 1)}")
    return "chunk " + ", ".join(spans)


def _deblur_block(block: np.ndarray, plane_levels=None, *, axes: str, normalization,
                  spec: MethodSpec | tuple, rgb: bool, tiling: TilingSpec, halo: dict,
                  block_info=None) -> np.ndarray:
    """``plane_levels``: the block's planes' noise levels where a chunk holds pieces of planes
    (its block of ``cluster_chunks.levels_array``; a tuple of them per channel with ``spec``'s)."""
    levels = block_levels(plane_levels)
    tuned = tune_dask_worker()  # as for a file task
    try:
        _device_on_worker(tiling)
        # at the volume's ends the plane's own edge, as on one machine, not dask's mirror
        block, margin = without_mirror(block, halo, block_info)
        # the block's casts to the input's type said as its chunk's, once (a line per chunk,
        # in the worker's log: one line per run would need every block's counts sent back to
        # the client, less the overlap each block holds, which dask trims after)
        with open_tally(tally := OutputCast()):
            if isinstance(spec, tuple):  # one spec and normalisation per channel
                image = _block_by_channel(block, axes, normalization, spec, rgb, tiling,
                                          block_info, levels)
            else:
                image = _run_block(block, axes, normalization, spec, rgb, tiling, levels,
                                   block_info)
        tally.say(_chunk_name(axes, halo, block_info))
        return with_margin(image, margin)
    except Exception as error:
        # the worker's reason alone did not say which of a volume's many chunks failed
        message = f"{_chunk_name(axes, halo, block_info)} failed: {error}"
        try:
            named = type(error)(message)
        except Exception:  # an exception type that takes other arguments
            raise error from None
        raise named from error
    finally:
        if tuned:  # the chunk's free memory back to the OS, as dask's variable meant
            release_memory()


def _run_block(block, axes: str, normalization, spec: MethodSpec, rgb: bool, tiling,
               levels=None, block_info=None):
    """The block's deblur; with ``levels``, plane by plane, each given its whole plane's."""
    return run_by_plane(block, axes, levels, block_info, lambda part: _run_part(
        part, axes, normalization, spec, rgb, tiling))


def _run_part(block, axes: str, normalization, spec: MethodSpec, rgb: bool, tiling):
    from .inference import ALPHA_NOTE, GRAY_ALPHA_NOTE, prepare_deblur
    from .thread_warnings import caught

    # chunks run side by side in a worker's threads: caught per thread (thread_warnings)
    with caught() as held:
        prepared = prepare_deblur(block, axes, _worker_method(spec, rgb), tiling,
                                  normalization=normalization)
    for w in held:  # a volume's alpha note is said once, by the client, not once per chunk
        if str(w.message) not in (ALPHA_NOTE, GRAY_ALPHA_NOTE):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return prepared.run().image


def _block_by_channel(block, axes: str, normalizations, specs, rgb: bool, tiling, block_info,
                      levels=None):
    """A block each of whose channels runs its own spec and normalisation (``specs[i]`` for
    channel i of the volume: ``_channel_specs``; ``levels[i]`` its planes' noise levels), as
    one machine runs them."""
    c, info = axes.index("C"), (block_info or {}).get(0)
    first = int(info["array-location"][c][0]) if info else 0  # C is not overlapped
    runs = [_run_block(block[(slice(None),) * c + (slice(j, j + 1),)], axes,
                       normalizations[first + j], specs[first + j], rgb, tiling,
                       None if levels is None else levels[first + j], block_info)
            for j in range(block.shape[c])]
    return np.concatenate(runs, axis=c)


def _channel_specs(whole, spec: MethodSpec, array, axes: str) -> tuple:
    """Each channel's spec as ``whole`` (one PSF, prepared channel by channel: each found its
    own 'auto' iterations or balance) settled it, for every chunk of that channel to run."""
    from .channel_psfs import channel_of
    from .image_settings import spec_for_image
    from .thread_warnings import caught

    c, specs = axes.index("C"), []
    for i, run in enumerate(whole.channel_runs):
        found = {k: run.method.parameters[k] for k in ("iterations", "balance")
                 if k in run.method.parameters}
        with caught():  # given the values found, nothing is searched again; said already
            specs.append(spec_for_image(spec.replace(**found), channel_of(array, c, i),
                                        axes.replace("C", "")))
    return tuple(specs)


def _chunk_depth(tiling: TilingSpec, runs, layout, chunks: tuple) -> dict[int, int]:
    """What each chunk grows by on each side of each axis (dask's depth): the tiles' overlap
    (the largest of a tuple), rounded up to a whole number of the network's size divisor, so
    that every chunk starts on the grid one machine's tiles start on (126 px put a PSF-aware
    network's second chunk 2 px off it: 1 % of the peak apart). None along an axis one chunk
    spans (the Z of a 3D method's stack, say: dask refuses a depth beyond the array, and the
    method extends its own borders)."""
    given = max(tiling.overlap) if isinstance(tiling.overlap, tuple) else tiling.overlap
    overlap = given or max(run.method.default_overlap for run in runs)
    divisor = max(run.method.size_divisor for run in runs)
    overlap = -(-int(overlap) // divisor) * divisor
    return {i: (overlap if a in layout.spatial_axes and c < n else 0)
            for i, (a, n, c) in enumerate(zip(layout.axes, layout.shape, chunks))}


def whole_chunks(tasks: tuple, stored: tuple, shape: tuple) -> tuple[int, ...]:
    """The task chunks ``tasks`` made a whole number of ``stored`` chunks on every axis (all of
    an axis one stored chunk spans; else rounded down to a multiple, one stored chunk at
    least), so that every task's region starts and ends on stored chunk boundaries."""
    aligned = []
    for task, side, n in zip(tasks, stored, shape):
        if task >= n or side >= n:
            aligned.append(int(n))
        else:
            aligned.append(max(side, task // side * side))
    return tuple(aligned)


def deblur_zarr_on_cluster(
    source, output, *, scheduler, axes: str | None = None, overwrite: bool = False,
    retries: int = 3, method: MethodSpec | str = "auto", tiling: TilingSpec | None = None,
    **options,
) -> None:
    """Deblur a Zarr volume chunk by chunk on a cluster (dask map_overlap with the method's
    halo); one intensity normalisation for the whole volume, so chunks agree at their seams.
    The output has the chunks one machine gives it (``io_write.output_chunks``: the input's on
    Y and X where sensible); each task writes a whole number of them (``whole_chunks``).
    One PSF on channels (C) whose 'auto' iterations or balance each channel finds
    (``image_settings.auto_per_channel``): each channel's value and normalisation, settled
    once here as on one machine, run in every chunk of that channel (channel 1's ran in all)."""
    import dask.array as da

    from . import io, io_write
    from .axes import is_rgb, is_rgba
    from .files import files_read, image_axes
    from .image_settings import auto_per_channel, spec_for_image
    from .inference import prepare_deblur
    from .provenance import RECORD_KEY, deblur_record
    from .psf_fit import psf_from_calibration

    spec, tiling = _specs(method, tiling, options)
    _check_scheduler(scheduler)  # before the volume is read and its normalisation computed
    # as on one machine, before the volume's normalisation: an existing output was found only
    # after it, and the input given as output (with overwrite) was replaced by the result
    io_write.check_output_path(output, overwrite=overwrite, inputs=files_read(source, spec))
    data = io.read_image(source, for_output=True)
    axes = image_axes(data, axes)  # a guess in doubt says so, as on one machine
    # what only the whole volume can settle (an estimated PSF, 'auto' in 3D, iterations or
    # balance 'auto') is settled once here and sent to every worker
    # optics pixel= from the file, as a file's
    spec = psf_from_calibration(spec, data.pixel_size, axes)
    # one PSF on channels: each channel settles its 'auto' and normalisation, as on one machine
    apart = auto_per_channel(spec, axes, tuple(data.array.shape))
    given, spec = spec, (spec if apart else spec_for_image(spec, data.array, axes))
    # checks everything and computes the one normalisation (no tile work)
    whole = prepare_deblur(data.array, axes, spec, _tiling_here(tiling))
    runs = whole.channel_runs or (whole,)
    for run in (whole, *whole.channel_runs):  # the client runs no tile: a plane read for
        run.held = None  # the sample is not kept
    axes, shape, layout = whole.axes, whole.shape, whole.layout
    norm = tuple(run.normalization for run in runs) if apart else whole.normalization
    if apart:  # each channel's spec, for every chunk of that channel
        spec = _channel_specs(whole, spec, data.array, axes)
    # the output's chunks as one machine writes them (the input's on Y and X where sensible);
    # tasks: whole along channels and the model's other inputs, big along space, each a whole
    # number of output chunks (two tasks writing one chunk would each rewrite it: a race)
    stored_chunks = io_write.output_chunks(axes, shape, whole.output_dtype, like=data.array)
    chunks = whole_chunks(tuple(
        n if a == layout.channel_axis else (1 if a in layout.loop_axes else min(n, 2048))
        for a, n in zip(axes, shape)), stored_chunks, shape)
    depth = _chunk_depth(tiling, runs, layout, chunks)
    array = da.from_zarr(data.array).rechunk(last_chunk_merged(chunks, shape, depth))
    # RGBA: the colours pick the network as RGB does, as on one machine (inference.ALPHA_NOTE)
    rgb = is_rgb(axes, shape) or is_rgba(axes, shape)
    client, own = _client(scheduler)  # before each plane is read for its levels (said late)
    try:  # open_zarr_output removes what a killed earlier run left (core.partials)
        # each plane's levels, found once here; each task is given only its own planes'
        found = levels_for_chunks(whole, apart, chunks)
        arrays = [array] if found is None else [array, levels_array(found, axes, array.chunks)]
        result = da.map_overlap(
            _deblur_block, *arrays, depth=[depth, {}][:len(arrays)],
            boundary=["reflect", "none"][:len(arrays)], dtype=whole.output_dtype, axes=axes,
            normalization=norm, spec=spec, rgb=rgb, tiling=tiling, halo=depth)
        if result.chunks != array.chunks:  # dask moved a boundary (last_chunk_merged keeps a
            result = result.rechunk(array.chunks)  # last block from being under the depth)
        with io_write.open_zarr_output(output, shape, whole.output_dtype, axes=axes,
                                       pixel_size=data.pixel_size, chunks=stored_chunks,
                                       overwrite=overwrite, metadata=data.metadata,
                                       record=deblur_record(
                                           whole, given, source=source,
                                           pixel_size=data.pixel_size,
                                           previous=data.metadata.get(RECORD_KEY))) as target:
            stored = result.store(target, lock=False, compute=False)
            compute_watched(client, stored, retries, chunk_namer(array.chunks, axes), output)
    finally:
        if own:
            close_client(client)
