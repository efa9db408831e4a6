"""Deblurring on a dask.distributed cluster: one task per file, or per chunk of a Zarr volume.

A task that dies with its worker is rerun elsewhere (``retries``); outputs are written under a
temporary name and renamed, so a rerun never finds half a file. Networks are loaded once per
worker process and reused by every task it runs (a ``ModelCache`` per worker for files; for the
chunks of one volume the resolved Method itself, keyed by its hashable MethodSpec).
"""

from __future__ import annotations

import os
import re
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from .checkpoint import ModelCache
from .method import Method, MethodSpec, TilingSpec

#: The networks a worker process has loaded, shared by its file tasks.
_WORKER_MODELS = ModelCache()


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
def _worker_method(spec: MethodSpec, rgb: bool) -> Method:
    """Resolve a method once per worker process (its network shared with the file tasks)."""
    return spec.resolve(rgb=rgb, models=_WORKER_MODELS)


def _specs(method, tiling, options: dict) -> tuple[MethodSpec, TilingSpec]:
    """(MethodSpec, TilingSpec) from either form, checked before any task is sent."""
    from .inference import split_options

    if tiling is None:
        method, tiling = split_options(method, **options)
    elif options:
        raise TypeError(f"unexpected options {sorted(options)} next to tiling=TilingSpec(...)")
    if not isinstance(method, MethodSpec):
        raise TypeError(f"method is a {type(method).__name__}; on a cluster give a method name "
                        "or a MethodSpec (workers resolve it; a loaded network is not sent)")
    return method.check(), tiling.check()


def _deblur_file_task(source: str, output: str, spec: MethodSpec, tiling: TilingSpec,
                      axes: str | None, overwrite: bool) -> dict:
    """Runs on a worker: deblur one file (removing what a killed earlier attempt left). The
    spec is settled for each file there (an estimated PSF, 'auto' iterations), as on one
    machine; resolving it once per worker had refused the EM and brightfield defaults."""
    import time

    from . import io
    from .files import deblur_file

    target = Path(output)
    for stale in target.parent.glob(f".{target.name}.*.partial"):
        io.remove_path(stale)
    t0 = time.perf_counter()
    # what one machine would warn about this file (axes in doubt, alpha passed through) would
    # otherwise stay in the worker's log: it travels back in the record as "notes"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = deblur_file(source, output, axes=axes, overwrite=overwrite, method=spec,
                             tiling=tiling, models=_WORKER_MODELS)
    notes = list(dict.fromkeys(str(w.message) for w in caught
                               if issubclass(w.category, UserWarning)))
    return {"input": source, "output": output, "shape": list(result.image.shape),
            "seconds": round(time.perf_counter() - t0, 2), "worker_pid": os.getpid(),
            "notes": notes}


def deblur_files_on_cluster(pairs, *, scheduler, retries: int = 3, axes: str | None = None,
                            overwrite: bool = False, method: MethodSpec | str = "auto",
                            tiling: TilingSpec | None = None, **options) -> list[dict]:
    """Deblur (input, output) file pairs, one task per file; returns a record per file
    (input, output, shape, seconds, worker_pid, and "notes": the file's warnings, such as axes
    in doubt, which one machine would have shown).

    ``method``/``tiling`` as in ``files.iter_deblur_file`` (a MethodSpec and TilingSpec, or a
    name and the keyword options of ``inference.iter_deblur``)."""
    spec, tiling = _specs(method, tiling, options)
    client, own = _client(scheduler)
    try:
        futures = [
            client.submit(_deblur_file_task, str(src), str(dst), spec, tiling, axes, overwrite,
                          pure=False, retries=retries, key=f"microdeblur-{Path(dst).name}-{i}")
            for i, (src, dst) in enumerate(pairs)
        ]
        return client.gather(futures)
    finally:
        if own:
            client.close()


def _deblur_block(block: np.ndarray, *, axes: str, normalization, spec: MethodSpec, rgb: bool,
                  tiling: TilingSpec) -> np.ndarray:
    from .inference import ALPHA_NOTE, GRAY_ALPHA_NOTE, prepare_deblur

    with warnings.catch_warnings():
        # a volume's alpha note is said once, by the client, not once per chunk
        for note in (ALPHA_NOTE, GRAY_ALPHA_NOTE):
            warnings.filterwarnings("ignore", message=re.escape(note))
        prepared = prepare_deblur(block, axes, _worker_method(spec, rgb), tiling,
                                  normalization=normalization)
    return prepared.run().image


def deblur_zarr_on_cluster(
    source, output, *, scheduler, axes: str | None = None, overwrite: bool = False,
    retries: int = 3, method: MethodSpec | str = "auto", tiling: TilingSpec | None = None,
    **options,
) -> None:
    """Deblur a Zarr volume chunk by chunk on a cluster (dask map_overlap with the method's
    halo); one intensity normalisation for the whole volume, so chunks agree at their seams."""
    import dask.array as da

    from . import io
    from .axes import is_rgb, is_rgba
    from .files import image_axes
    from .inference import prepare_deblur, spec_for_image

    spec, tiling = _specs(method, tiling, options)
    data = io.read_image(source)
    axes = image_axes(data, axes)  # a guess in doubt says so, as on one machine
    # what only the whole volume can settle (an estimated PSF, 'auto' in 3D, iterations or
    # balance 'auto') is settled once here and sent to every worker
    spec = spec_for_image(spec, data.array, axes)
    # checks everything and computes the one normalisation (no tile work)
    whole = prepare_deblur(data.array, axes, spec, tiling)
    axes, shape, layout = whole.axes, whole.shape, whole.layout
    overlap = tiling.overlap or whole.method.default_overlap
    # chunks: whole along channels and the model's other inputs, big along space
    chunks = tuple(n if a == layout.channel_axis else (1 if a in layout.loop_axes else min(n, 2048))
                   for a, n in zip(axes, shape))
    # no overlap along an axis one chunk spans (the Z of a 3D method's stack, say: dask refuses
    # a depth beyond the array, and the method extends its own borders)
    depth = {i: (overlap if a in layout.spatial_axes and c < n else 0)
             for i, (a, n, c) in enumerate(zip(axes, shape, chunks))}
    array = da.from_zarr(data.array).rechunk(chunks)
    # RGBA: the colours pick the network as RGB does, as on one machine (inference.ALPHA_NOTE)
    rgb = is_rgb(axes, shape) or is_rgba(axes, shape)
    result = array.map_overlap(
        _deblur_block, depth=depth, boundary="reflect", dtype=whole.output_dtype, axes=axes,
        normalization=whole.normalization, spec=spec, rgb=rgb, tiling=tiling,
    )
    client, own = _client(scheduler)
    try:
        with io.open_zarr_output(output, shape, whole.output_dtype, axes=axes,
                                 pixel_size=data.pixel_size, chunks=chunks,
                                 overwrite=overwrite) as target:
            stored = result.store(target, lock=False, compute=False)
            client.compute(stored, retries=retries).result()
    finally:
        if own:
            client.close()
