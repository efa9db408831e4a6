#!/usr/bin/env python
"""Does dask's MALLOC_TRIM_THRESHOLD_=65536 slow the EM default down on a worker, and what
does the cluster tasks' allocator tuning (core.allocator.tune_dask_worker) cost in memory?

One process worker (LocalCluster, one nanny, one thread) runs the default EM method
(``--modality em``: PSF estimated from each image) on tiles cut from
/work/shared/data/em_isbi2012_drosophila_vnc_sstem/test (raw 8-bit ssTEM): 128 x 128 crops and
the whole 512 x 512 images, through ``deblur_files_on_cluster``. Configurations:

* ``no_variable``: the nanny sets no MALLOC_TRIM_THRESHOLD_ (glibc as it comes);
* ``dask_default``: dask's 65536, tuning off (``MICRODEBLUR_MALLOC_TUNING=0``; the old code);
* ``cli_settings``: dask's 65536, then the command line's settings (no mmap, no trimming);
* ``worker_settings``: dask's 65536, then ``WORKER_SETTINGS`` without the trim after tasks;
* ``fixed``: dask's 65536 and the tasks' own tuning (settings, and malloc_trim after each task).

Prints and writes the median seconds per tile (the record's "seconds") and the worker's RSS
after every ``--step`` tiles and at the end, and its peak (VmHWM).

    python benchmarks/cluster_allocator.py [--small 40] [--large 8] [--step 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).parents[1]
DATA = Path("/work/shared/data/em_isbi2012_drosophila_vnc_sstem/test")
CONFIGS = ("no_variable", "dask_default", "cli_settings", "worker_settings", "fixed")


def make_tiles(folder: Path, small: int, large: int) -> tuple[list[Path], list[Path]]:
    import tifffile
    from PIL import Image

    images = [np.asarray(Image.open(p).convert("L"))
              for p in sorted(DATA.glob("*.png"), key=lambda p: int(p.stem))]
    crops = [im[y:y + 128, x:x + 128] for im in images
             for y in range(0, 512, 128) for x in range(0, 512, 128)]
    out = []
    for name, tiles in (("s", crops[:small]), ("l", images[:large])):
        paths = []
        for i, tile in enumerate(tiles):
            paths.append(folder / f"{name}{i:03d}.tif")
            tifffile.imwrite(paths[-1], tile)
        out.append(paths)
    return out[0], out[1]


def _memory() -> dict:
    """Runs on the worker: its RSS and peak RSS (MB)."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) // 1024
    return fields


def _env() -> dict:
    """Runs on the worker: the variables that decide the tuning."""
    return {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "MICRODEBLUR_MALLOC_TUNING")}


def run_config(config: str, tiles: dict[str, list[Path]], out: Path, step: int) -> dict:
    import dask
    from distributed import Client, LocalCluster

    from napari_microdeblur.core import allocator
    from napari_microdeblur.core.cluster import deblur_files_on_cluster

    # a nanny sets its variables in this process too: the next cluster must not inherit them
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    trim = None if config == "no_variable" else 65536
    env = {} if config == "fixed" else {allocator.OPT_OUT: "0"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": trim}), \
            LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                         dashboard_address=None, env=env) as cluster, Client(cluster) as client:
        settings = {"cli_settings": allocator.CLI_SETTINGS,
                    "worker_settings": allocator.WORKER_SETTINGS}.get(config)
        if settings is not None:
            client.run(allocator.apply_settings, settings)
        result = {"worker_env": next(iter(client.run(_env).values()))}
        for size, paths in tiles.items():
            seconds, rss, tuned = [], [], set()
            for start in range(0, len(paths), step):
                pairs = [(p, out / f"{config}_{p.name}") for p in paths[start:start + step]]
                records = deblur_files_on_cluster(pairs, scheduler=client, modality="em",
                                                  overwrite=True)
                for r in records:
                    if "error" in r:
                        raise RuntimeError(r["error"])
                seconds += [r["seconds"] for r in records]
                tuned |= {r.get("allocator_tuned") for r in records}
                rss.append(next(iter(client.run(_memory).values()))["VmRSS"])
            result[size] = {"tiles": len(paths), "median_s": statistics.median(seconds),
                            "total_s": round(sum(seconds), 2),
                            f"rss_mb_every_{step}": rss, "allocator_tuned": sorted(map(str, tuned))}
        result["peak_rss_mb"] = next(iter(client.run(_memory).values()))["VmHWM"]
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--small", type=int, default=40, help="128 x 128 tiles")
    p.add_argument("--large", type=int, default=8, help="512 x 512 tiles")
    p.add_argument("--step", type=int, default=10, help="RSS read after every STEP tiles")
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/cluster_allocator.json")
    args = p.parse_args(argv)
    summary = {"data": str(DATA), "method": "auto, modality em (PSF estimated per image)",
               "worker": "LocalCluster, 1 process worker, 1 thread",
               "python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        small, large = make_tiles(Path(tmp), args.small, args.large)
        for config in args.configs:
            summary[config] = run_config(config, {"128px": small, "512px": large},
                                         Path(tmp), args.step)
            print(config, json.dumps(summary[config]), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
