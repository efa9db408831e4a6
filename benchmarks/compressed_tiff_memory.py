#!/usr/bin/env python
"""Peak memory and time of ``microdeblur deblur`` on a zlib-compressed uint16 stack, and the
cost of reading small compressed TIFFs lazily: the measurements behind core/tiff_lazy.py.

    python benchmarks/compressed_tiff_memory.py [--depth 40] [--size 2048]
        [--before OLD/src] [--small-mb 4 16 64] [--json PATH]

A compressed TIFF was decoded whole before its first tile; it is now read plane by plane
through tifffile's Zarr store (zarr installed, at least ``LAZY_MIN_BYTES`` decoded). The stack
is a mosaic of the bundled HT29 sample (as benchmarks/cli_memory.py's, so it compresses as a
real image does), written with zlib in /tmp and deleted after. The CLI runs in a fresh
process per source tree (``--before``: a checkout's src of the code before, e.g. from
``git archive``; the current checkout always), Wiener with a Gaussian PSF into a float32
TIFF; its peak RSS comes from wait4 (the child's own, not the builder's); the same stack
uncompressed (read region by region) is the floor. ``--small-mb``: for
files of about that many decoded MB, the time to read every plane lazily against one whole
decode, which sets the threshold below which a compressed TIFF is still read whole.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).parent))
from cli_memory import SAMPLE  # noqa: E402
from provenance import record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device",
           "cpu", "-q"]

#: a fresh process: read a compressed file whole and lazily (plane by plane), timed
READS = """
import json, sys, time
import numpy as np
from napari_microdeblur.core import io, tiff_lazy
path = sys.argv[1]
t0 = time.perf_counter()
whole = io.read_image(path, lazy=False).array
t1 = time.perf_counter()
tiff_lazy.LAZY_MIN_BYTES = 1
lazy = io.read_image(path).array
planes = [np.asarray(lazy[z]) for z in range(lazy.shape[0])]
t2 = time.perf_counter()
assert all((p == w).all() for p, w in zip(planes, whole))
print(json.dumps({"whole_s": t1 - t0, "lazy_s": t2 - t1, "lazy_type": type(lazy).__name__}))
"""


def planes(depth: int, size: int):
    """The stack's planes, one at a time (the builder holds no whole stack either)."""
    tile = tifffile.imread(SAMPLE).astype(np.uint16) * 257  # 8-bit -> full 16-bit range
    reps = size // tile.shape[1] + 1
    for z in range(depth):
        band = np.roll(np.tile(tile, (1, reps)), 7 * z, axis=1)[:, :size]
        rows = [band[::-1] if i % 2 else band for i in range(size // tile.shape[0] + 1)]
        yield np.concatenate(rows)[:size]


def write_stack(path: Path, depth: int, size: int, compression: str | None = "zlib") -> None:
    tifffile.imwrite(path, planes(depth, size), shape=(depth, size, size), dtype=np.uint16,
                     compression=compression, bigtiff=True, photometric="minisblack",
                     metadata={"axes": "ZYX"})


def run_cli(src: str, source: Path, output: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=src, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS",
                                                                             "1"))
    cmd = [sys.executable, "-m", "napari_microdeblur.cli", "deblur", str(source), "-o",
           str(output), *OPTIONS]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{src}: the CLI failed")
    return {"src": src, "seconds": round(seconds, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def small_reads(tmp: Path, sizes_mb: list[float]) -> list[dict]:
    rows = []
    for mb in sizes_mb:
        depth = max(1, round(mb * 2**20 / (2 * 1024 * 1024)))
        path = tmp / f"small_{mb}.tif"
        write_stack(path, depth, 1024)
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        done = subprocess.run([sys.executable, "-c", READS, str(path)], env=env,
                              capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append({"decoded_mb": depth * 2, "shape": [depth, 1024, 1024],
                     "file_mb": round(path.stat().st_size / 2**20, 1),
                     **{k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}})
        print(rows[-1], flush=True)
        path.unlink()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=40)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--before", help="src folder of the code before, to compare")
    parser.add_argument("--small-mb", type=float, nargs="*", default=[4, 16, 64])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory(dir="/tmp") as name:
        tmp = Path(name)
        source = tmp / "stack_zlib.tif"
        write_stack(source, args.depth, args.size)
        stack = {"shape": [args.depth, args.size, args.size], "dtype": "uint16",
                 "compression": "zlib", "decoded_mb": round(args.depth * args.size**2 * 2
                                                            / 2**20, 1),
                 "file_mb": round(source.stat().st_size / 2**20, 1)}
        runs = {}
        for label, src in (("before", args.before), ("after", str(ROOT / "src"))):
            if src:
                runs[label] = run_cli(src, source, tmp / f"out_{label}.tif")
                print(label, runs[label], flush=True)
        # the floor: the same stack uncompressed, read region by region (io.TiffArray)
        plain = tmp / "stack_plain.tif"
        write_stack(plain, args.depth, args.size, None)
        runs["uncompressed_input"] = run_cli(str(ROOT / "src"), plain, tmp / "out_plain.tif")
        print("uncompressed input", runs["uncompressed_input"], flush=True)
        plain.unlink()
        if "before" in runs:  # the same output either way
            same = np.array_equal(tifffile.imread(tmp / "out_before.tif"),
                                  tifffile.imread(tmp / "out_after.tif"))
            runs["outputs_equal"] = bool(same)
        small = small_reads(tmp, args.small_mb)
    if args.json:
        payload = {"provenance": record(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                   "load_average": {"start": load_at_start, "end": os.getloadavg()},
                   "results": {"deblur": {"options": OPTIONS, "stack": stack, **runs},
                               "small_reads": small}}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
