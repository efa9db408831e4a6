"""Peak resident memory of `microdeblur deblur` file to file on a large uint16 TIFF.

The input is a mosaic of a real image (the bundled HT29 sample, scaled to 16 bits), written
uncompressed, 2D (--size) or a stack of --depth planes; the CLI deblurs it (Richardson-Lucy or
Wiener, Gaussian PSF) into a float32 TIFF. Prints one JSON object; with --json it is also
written there under its provenance (provenance.py): the README's memory table reads
benchmarks/results/cli_memory_*.json (readme_tables.py).

  python benchmarks/cli_memory.py --size 16384                      # 0.5 GB 2D
  python benchmarks/cli_memory.py --depth 64 --size 4096 --method wiener   # 2 GB ZYX stack
  python benchmarks/cli_memory.py --size 16384 --json benchmarks/results/cli_memory_rl.json
"""

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

SAMPLE = (
    Path(__file__).parents[1] / "src" / "napari_microdeblur" / "samples" / "ht29_nuclei_hoechst.tif"
)


def make_input(path: Path, size: int, depth: int) -> None:
    tile = tifffile.imread(SAMPLE).astype(np.uint16) * 257  # 8-bit -> full 16-bit range
    # written band by band: the benchmark itself must not hold the image either
    shape = (depth, size, size) if depth else (size, size)
    out = tifffile.memmap(path, shape=shape, dtype=np.uint16, bigtiff=True,
                          metadata={"axes": "ZYX" if depth else "YX"})
    planes = out if depth else out[None]
    reps = size // tile.shape[1] + 1
    for z, plane in enumerate(planes):
        for y in range(0, size, tile.shape[0]):
            band = np.roll(np.tile(tile, (1, reps)), 7 * z, axis=1)[:, :size]
            # mirror every other band so the mosaic is not one tile repeated
            band = band[::-1] if (y // tile.shape[0]) % 2 else band
            plane[y : y + tile.shape[0]] = band[: size - y]
        out.flush()
    del planes, out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--depth", type=int, default=0, help="planes of a ZYX stack (0: 2D)")
    parser.add_argument("--method", default="richardson_lucy")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--tile", type=int, default=None,
                        help="default: 512 for the classical methods, the model's own for networks")
    parser.add_argument("--json", default=None, help="also write the result here, with its "
                        "provenance (e.g. benchmarks/results/cli_memory_rl.json)")
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="microdeblur_mem_"))
    work.mkdir(parents=True, exist_ok=True)
    tag = f"{args.depth}x{args.size}" if args.depth else f"{args.size}"
    src, dst = work / f"input_{tag}.tif", work / f"output_{tag}.tif"
    if not src.exists():
        # in its own process: a child forked from a parent that touched the input's pages
        # would inherit that parent's peak RSS, and the figure would be the parent's
        code = (
            f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import cli_memory; "
            f"cli_memory.make_input(cli_memory.Path({str(src)!r}), {args.size}, {args.depth})"
        )
        subprocess.run([sys.executable, "-c", code], check=True)
    if dst.exists():
        dst.unlink()
    classical = args.method in ("richardson_lucy", "wiener")
    if args.tile is None and classical:
        args.tile = 512
    cmd = [sys.executable, "-m", "napari_microdeblur.cli", "deblur", str(src), "-o", str(dst),
           "--method", args.method, "--device", "cpu", "-q"]
    if classical:
        cmd += ["--psf", "gaussian:1.6"]
    if args.method == "richardson_lucy":  # the CLI refuses --iterations for any other method
        cmd += ["--iterations", str(args.iterations)]
    if args.tile:
        cmd += ["--tile", str(args.tile)]
    t0 = time.perf_counter()
    # wait4 gives this child's own peak: RUSAGE_CHILDREN would report the largest of all
    # children, the one that built the input included (2 GB for the 64-plane stack)
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"the CLI failed with exit code {proc.returncode}")
    elapsed = time.perf_counter() - t0
    peak_kb = usage.ru_maxrss
    out = tifffile.TiffFile(dst)
    result = {
        "image": list(out.series[0].shape), "input_dtype": "uint16", "output_dtype": "float32",
        "input_bytes": os.path.getsize(src), "output_bytes": os.path.getsize(dst),
        "method": args.method,
        "psf": "gaussian:1.6" if classical else None,
        "iterations": args.iterations if args.method == "richardson_lucy" else None,
        "tile": args.tile,
        "seconds": round(elapsed, 1), "peak_rss_mb": round(peak_kb / 1024, 1),
        "limit_mb": 1536,
    }
    out.close()
    print(json.dumps(result))
    if args.json:
        sys.path.insert(0, str(Path(__file__).parent))
        from provenance import write_json

        write_json(args.json, result)


if __name__ == "__main__":
    main()
