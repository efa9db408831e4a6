#!/usr/bin/env python
"""How much of ``microdeblur deblur DIR -o OUT`` is reading and writing, against computing:
the measurement that decided whether to read the next file while the current one computes.

    python benchmarks/batch_read_ahead.py [--files 20] [--sizes 256 1024 2048]
        [--blind-sizes 256 1024] [--repeats 2] [--json PATH]

Connectomics labs deblur thousands of tiles per command, one after another: read, compute,
write. For each tile size, dtype (uint8, uint16) and TIFF compression (none, zlib) this writes
``--files`` tiles cut from the ssTEM *test* volume of ../shared/data/em_isbi2012_drosophila_vnc_
sstem (only timed: nothing is trained or tuned) and, in one fresh process per row (imports and
the model load left out: one file is run first), measures

* ``read_s``: the batch's reading as iter_deblur_file does it before computing
  (``io.read_image(keep_alpha=True)``, ``image_axes``) plus loading the pixels into memory (an
  uncompressed TIFF is read lazily, tile by tile, inside the compute: loaded here to count it);
* ``write_s``: writing each float32 result (``io_write.write_image``, atomic as deblur's output);
* ``batch_s``: the whole batch through ``cli.main(["deblur", DIR, "-o", OUT, "-q", ...])``,
  ``--repeats`` times; ``read_share`` and ``write_share`` are against the fastest of them (the
  least disturbed by other processes), so ``read_share`` is an upper bound on what reading
  the next file in a background thread could save.

Wiener (``--psf gaussian:1.6``) at every size; the fluorescence blind default at
``--blind-sizes`` (a network's compute grows with the pixels as reading does, and it is slower
than Wiener: its read share is below Wiener's at the same size). The files were just written,
so they are read from the page cache: from a network share or a cold disk reading costs more;
rerun this there (after dropping the cache) to see that case.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from batch_overhead import write_tiles  # noqa: E402
from provenance import record  # noqa: E402

METHODS = {
    "wiener": ["--method", "wiener", "--psf", "gaussian:1.6"],
    "blind": ["--modality", "fluorescence"],
}

#: run in a fresh process: the read and write parts, then the batch ``repeats`` times
ROW = """
import json, sys, time
from pathlib import Path
import numpy as np
from napari_microdeblur import cli
from napari_microdeblur.core import io, io_write
from napari_microdeblur.core.files import image_axes
tiles, tmp, repeats, options = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
files = sorted(tiles.iterdir())
cli.main(["deblur", str(files[0]), "-o", str(tmp / "warm.tif"), "-q", *options])
read = write = 0.0
for i, path in enumerate(files):
    t0 = time.perf_counter()
    data = io.read_image(path, keep_alpha=True)
    axes = image_axes(data, None)
    image = np.asarray(data.array)
    t1 = time.perf_counter()
    io_write.write_image(tmp / f"part_{i}.tif", image.astype(np.float32), axes=axes,
                         pixel_size=data.pixel_size)
    write += time.perf_counter() - t1
    read += t1 - t0
times = []
for r in range(repeats):
    out = tmp / f"batch_{r}"
    out.mkdir()
    t0 = time.perf_counter()
    code = cli.main(["deblur", str(tiles), "-o", str(out), "-q", *options])
    times.append(time.perf_counter() - t0)
    assert code == 0, code
print(json.dumps({"read_s": read, "write_s": write, "batch_s": times}))
"""


def _run(script: str, argv: list[str], src: str | None) -> dict:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", script, *argv], env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_tiles(folder: Path, files: int, size: int, dtype: str, compression: str | None):
    import tifffile

    write_tiles(folder, files, size)  # uint8 ssTEM crops
    for path in sorted(folder.iterdir()):
        image = tifffile.imread(path)
        if dtype == "uint16":  # 16-bit data with the low byte filled, as a camera's
            image = image.astype(np.uint16) * 257
        tifffile.imwrite(path, image, compression=compression)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 2048])
    parser.add_argument("--dtypes", nargs="+", default=["uint8", "uint16"])
    parser.add_argument("--compressions", nargs="+", default=["none", "zlib"])
    parser.add_argument("--blind-sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows, load_at_start = [], os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for size in args.sizes:
            for dtype in args.dtypes:
                for compression in args.compressions:
                    tiles = tmp / f"tiles_{size}_{dtype}_{compression}"
                    tiles.mkdir()
                    make_tiles(tiles, args.files, size, dtype,
                               None if compression == "none" else compression)
                    methods = ["wiener"] + (["blind"] if size in args.blind_sizes else [])
                    for method in methods:
                        rows.append(measure_row(tmp / f"run_{len(rows)}", tiles, args,
                                                size=size, dtype=dtype,
                                                compression=compression, method=method))
    if args.json:
        payload = {"provenance": record(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                   "load_average": {"start": load_at_start, "end": os.getloadavg()},
                   "results": rows}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


def measure_row(run_tmp: Path, tiles: Path, args, **row) -> dict:
    run_tmp.mkdir()
    done = _run(ROW, [str(tiles), str(run_tmp), str(args.repeats), *METHODS[row["method"]]],
                None)
    fastest = min(done["batch_s"])
    row.update(files=args.files, read_s=round(done["read_s"], 3),
               write_s=round(done["write_s"], 3),
               batch_s=[round(t, 3) for t in done["batch_s"]],
               read_share=round(done["read_s"] / fastest, 3),
               write_share=round(done["write_s"] / fastest, 3))
    print(f"{row['size']:5d} {row['dtype']:6s} {row['compression']:4s} {row['method']:6s} "
          f"read {row['read_s']:.3f} s ({row['read_share']:.0%}) write {row['write_s']:.3f} s "
          f"({row['write_share']:.0%}) of the batch's {fastest:.2f} s (runs: "
          + ", ".join(f"{t:.2f}" for t in done["batch_s"]) + ")", flush=True)
    return row


if __name__ == "__main__":
    main()
