"""Deblurring on a dask.distributed cluster: one task per file, or per chunk of a Zarr volume.

A task that dies with its worker is rerun elsewhere (``retries``); outputs are written under a
temporary name and renamed, so a rerun never finds half a file. Networks are loaded once per
worker process and reused by every task it runs.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np


def _client(scheduler):
    try:
        from distributed import Client
    except ImportError:
        raise ValueError(
            "cluster runs need dask.distributed: pip install 'napari-microdeblur[distributed]'"
        ) from None
    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        return Client(scheduler, timeout="8s"), True
    except (OSError, TimeoutError) as error:
        raise ValueError(f"cannot reach the dask scheduler at {scheduler!r}: {error}") from error


@lru_cache(maxsize=4)
def _worker_method(method: str, weights: str | None, precision: str, psf, iterations: int,
                   balance: float, tv_weight: float):
    """Resolve a method once per worker process (loading a network's weights once)."""
    from .inference import resolve_method

    return resolve_method(method, psf=psf, iterations=iterations, balance=balance,
                          tv_weight=tv_weight, weights=weights, precision=precision)


def _method_key(options: dict) -> tuple:
    psf = options.get("psf")
    if psf is not None and not isinstance(psf, (str, os.PathLike)):
        raise ValueError("on a cluster give psf as a model string ('gaussian:1.6') or a TIFF "
                         "path that every worker can read, not an array")
    return (options.get("method", "richardson_lucy"), options.get("weights"),
            options.get("precision", "auto"), options.get("psf"),
            int(options.get("iterations", 30)), float(options.get("balance", 0.01)),
            float(options.get("tv_weight", 0.0)))


_METHOD_OPTIONS = ("method", "weights", "precision", "psf", "iterations", "balance", "tv_weight")


def _deblur_file_task(source: str, output: str, options: dict) -> dict:
    """Runs on a worker: deblur one file (removing what a killed earlier attempt left)."""
    import time

    from .files import deblur_file

    target = Path(output)
    from .io import _remove

    for stale in target.parent.glob(f".{target.name}.*.partial"):
        _remove(stale)
    t0 = time.perf_counter()
    method = _worker_method(*_method_key(options))
    rest = {k: v for k, v in options.items() if k not in _METHOD_OPTIONS}
    result = deblur_file(source, output, method=method, **rest)
    return {"input": source, "output": output, "shape": list(result.image.shape),
            "seconds": round(time.perf_counter() - t0, 2), "worker_pid": os.getpid()}


def deblur_files_on_cluster(pairs, *, scheduler, retries: int = 3, **options) -> list[dict]:
    """Deblur (input, output) file pairs, one task per file; returns a record per file."""
    client, own = _client(scheduler)
    try:
        futures = [
            client.submit(_deblur_file_task, str(src), str(dst), options, pure=False,
                          retries=retries, key=f"microdeblur-{Path(dst).name}-{i}")
            for i, (src, dst) in enumerate(pairs)
        ]
        return client.gather(futures)
    finally:
        if own:
            client.close()


def _deblur_block(block: np.ndarray, *, axes: str, normalization, options: dict) -> np.ndarray:
    from .inference import deblur

    method = _worker_method(*_method_key(options))
    rest = {k: v for k, v in options.items() if k not in _METHOD_OPTIONS}
    return deblur(block, method=method, axes=axes, normalization=normalization, **rest)


def deblur_zarr_on_cluster(
    source, output, *, scheduler, axes: str | None = None, overwrite: bool = False,
    retries: int = 3, **options,
) -> None:
    """Deblur a Zarr volume chunk by chunk on a cluster (dask map_overlap with the method's
    halo); one intensity normalisation for the whole volume, so chunks agree at their seams."""
    import dask.array as da

    from . import io
    from .inference import _layout, check_axes, compute_normalization, resolve_method

    data = io.read_image(source)
    shape = tuple(int(s) for s in data.array.shape)
    axes = check_axes(axes or data.axes or None, shape)
    method = resolve_method(**{k: options[k] for k in _METHOD_OPTIONS if k in options})
    loop_axes, channel_axis, spatial_axes = _layout(axes, shape, method)
    normalization = compute_normalization(data.array, axes, method.normalization,
                                          *method.percentiles)
    overlap = options.get("overlap") or method.default_overlap
    depth = {i: (overlap if a in spatial_axes else 0) for i, a in enumerate(axes)}
    # chunks: whole along channels and the model's other inputs, big along space
    chunks = tuple(n if a in (channel_axis or "") else (1 if a in loop_axes else min(n, 2048))
                   for a, n in zip(axes, shape))
    array = da.from_zarr(data.array).rechunk(chunks)
    out_dtype = np.float32 if options.get("output_dtype", "float32") == "float32" else array.dtype
    result = array.map_overlap(
        _deblur_block, depth=depth, boundary="reflect", dtype=out_dtype, axes=axes,
        normalization=normalization, options=options,
    )
    client, own = _client(scheduler)
    try:
        with io.open_zarr_output(output, shape, out_dtype, axes=axes,
                                 pixel_size=data.pixel_size, chunks=chunks,
                                 overwrite=overwrite) as target:
            stored = result.store(target, lock=False, compute=False)
            client.compute(stored, retries=retries).result()
    finally:
        if own:
            client.close()
