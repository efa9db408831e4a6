#!/usr/bin/env python
"""What removing killed runs' temporaries costs per output as the output folder fills.

    python benchmarks/output_folder_scan.py [--sizes 100 2000 20000] [--writes 20] [--json PATH]

Before each output is written, the temporaries a killed run left for it are removed
(``core.partials``); that lists the output folder. For a folder already holding N outputs this
times ``--writes`` calls of ``fresh_temporary_name`` the way a file written on its own makes
them (one listing each), and inside ``swept_once`` over a batch of N more outputs, the way
``microdeblur deblur DIR -o OUT`` makes them now (one listing for the batch, counted here
spread over its N outputs).

    python benchmarks/output_folder_scan.py --cluster [--sizes ...] [--writes 500] [--json PATH]

On a cluster (``core.cluster.deblur_files_on_cluster``, an in-process LocalCluster of one
worker thread): the wall time per output of a run of ``--writes`` files into a folder already
holding N outputs, each task's deblurring replaced by an atomic copy of a small TIFF
(``files.copy_atomically``, which looks for killed runs' temporaries as every output write
does), so what is left is the task overhead and the listings. Each task listed the folder
(twice); a run now lists it before and after its files (spread over its ``--writes``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from provenance import write_json  # noqa: E402

from napari_microdeblur.core import partials  # noqa: E402


def per_output_ms(folder: Path, n: int, writes: int) -> dict:
    names = [folder / f"tile_{n + i:07d}_deblurred.tif" for i in range(writes)]
    t0 = time.perf_counter()
    for name in names:
        partials.fresh_temporary_name(name)
    alone = (time.perf_counter() - t0) / writes
    batch = [folder / f"tile_{n + i:07d}_deblurred.tif" for i in range(n)]
    t0 = time.perf_counter()
    with partials.swept_once(batch):
        sweep = time.perf_counter() - t0
        t0 = time.perf_counter()
        for name in names:
            partials.fresh_temporary_name(name)
        in_batch = (time.perf_counter() - t0) / writes
    return {"outputs_in_folder": n, "ms_per_output_alone": round(alone * 1e3, 3),
            "ms_per_output_in_batch": round((in_batch + sweep / n) * 1e3, 3),
            "ms_batch_sweep": round(sweep * 1e3, 2)}


def cluster_ms_per_output(client, folder: Path, n: int, writes: int) -> dict:
    """A cluster run of ``writes`` files into ``folder`` (holding ``n`` outputs), timed."""
    import numpy as np
    import tifffile

    from napari_microdeblur.core.cluster import deblur_files_on_cluster

    source = folder.parent / "source.tif"
    tifffile.imwrite(source, np.zeros((8, 8), np.uint8))
    pairs = [(source, folder / f"tile_{n + i:07d}_deblurred.tif") for i in range(writes)]
    t0 = time.perf_counter()
    records = deblur_files_on_cluster(pairs, scheduler=client, method="wiener",
                                      psf="gaussian:1", balance=0.05)
    seconds = time.perf_counter() - t0
    failed = [r["error"] for r in records if "error" in r]
    if failed:
        raise SystemExit(f"the benchmark's run failed: {failed[0]}")
    return {"outputs_in_folder": n, "writes": writes,
            "ms_per_output_on_cluster": round(seconds / writes * 1e3, 3)}


def copy_instead_of_deblurring(source, output, **options):
    """A task's deblurring, replaced: its output written atomically, as a deblurred one is."""
    from types import SimpleNamespace

    import numpy as np

    from napari_microdeblur.core.files import copy_atomically

    copy_atomically(source, output)
    return SimpleNamespace(image=np.zeros((8, 8), np.uint8))


def run_cluster(sizes: list[int], writes: int) -> list[dict]:
    import distributed

    from napari_microdeblur.core import files

    files.deblur_file = copy_instead_of_deblurring  # the worker is this process (no pickling)
    rows = []
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local, \
            distributed.Client(local) as client:
        with tempfile.TemporaryDirectory() as tmp:  # first run's imports and start-up untimed
            (Path(tmp) / "out").mkdir()
            cluster_ms_per_output(client, Path(tmp) / "out", 0, 20)
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp) / "out"
                folder.mkdir()
                for i in range(n):
                    (folder / f"tile_{i:07d}_deblurred.tif").touch()
                rows.append(cluster_ms_per_output(client, folder, n, writes))
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 2000, 20000])
    parser.add_argument("--writes", type=int, default=None,
                        help="outputs written per size (20; on a cluster 500)")
    parser.add_argument("--cluster", action="store_true",
                        help="time cluster runs (deblur_files_on_cluster) instead")
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write the results (output_folder_scan.json; "
                             "output_folder_scan_cluster.json with --cluster)")
    args = parser.parse_args()
    results = Path(__file__).parent / "results"
    if args.cluster:
        rows = run_cluster(args.sizes, args.writes or 500)
        write_json(args.json or results / "output_folder_scan_cluster.json", rows)
        return
    args.writes = args.writes or 20
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for i in range(n):
                (folder / f"tile_{i:07d}_deblurred.tif").touch()
            rows.append(per_output_ms(folder, n, args.writes))
        print(rows[-1], flush=True)
    write_json(args.json or results / "output_folder_scan.json", rows)


if __name__ == "__main__":
    main()
