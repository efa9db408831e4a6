#!/usr/bin/env python
"""What a batch of many small files costs per file: ``microdeblur deblur DIR -o OUT``.

    python benchmarks/batch_overhead.py [--files 20] [--sizes 256 1024] [--json PATH]

Connectomics and screening users deblur thousands of tiles in one command; whatever the CLI
does once per file on top of the network's own forward pass (loading and checking the
weights, folding BatchNorm, building the PSF-aware method) is paid thousands of times. For each
method and tile size this writes ``--files`` uint8 tiles cut from the ssTEM *test* volume of
../shared/data/em_isbi2012_drosophila_vnc_sstem (evaluation data: nothing is trained or tuned
here, only timed), runs the command on one of them and on all of them, each in a fresh process,
and reports

* ``seconds_per_file``: (wall time for all - wall time for one) / (files - 1): the cost of
  each further file, without the process start and imports;
* ``startup_and_one_file``: the wall time for one file.

Methods: the fluorescence blind default (``--modality fluorescence``), the PSF-aware default
given a PSF (``--psf gaussian:1.6``), what ``--modality em`` runs (a PSF estimated from each
image, then the PSF-aware network) and Wiener. Then ``estimate_psf`` alone in a plain Python
process (no allocator tuning, as in napari). ``--baseline-src DIR`` also times another
checkout's ``src`` (e.g. the commit before a change), alternately with this one.
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

sys.path.insert(0, str(Path(__file__).parent))
from provenance import record  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ISBI_TEST = SHARED / "em_isbi2012_drosophila_vnc_sstem" / "test"
METHODS = {
    "fluorescence blind default": ["--modality", "fluorescence"],
    "PSF-aware, --psf gaussian:1.6": ["--psf", "gaussian:1.6"],
    "--modality em (PSF estimated per image)": ["--modality", "em"],
    "wiener, --psf gaussian:1.6": ["--method", "wiener", "--psf", "gaussian:1.6"],
}


def write_tiles(folder: Path, n: int, size: int) -> None:
    import imageio.v3 as iio
    import tifffile

    sources = sorted(ISBI_TEST.glob("*.png"))
    if not sources:
        raise SystemExit(f"no PNG under {ISBI_TEST}")
    rng = np.random.default_rng(0)
    for i in range(n):
        image = np.asarray(iio.imread(sources[i % len(sources)]))
        reps = -(-size // min(image.shape[-2:]))
        image = np.tile(image, (reps, reps))
        y, x = (int(rng.integers(0, n - size + 1)) for n in image.shape)
        tifffile.imwrite(folder / f"tile_{i:04d}.tif", image[y:y + size, x:x + size])


def timed_run(inputs: str, output: Path, options: list[str], src: str | None) -> float:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, "-m", "napari_microdeblur.cli", "deblur", inputs, "-o",
               str(output), "-q", *options]
    t0 = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds


def _measure(tiles: Path, out: Path, options: list[str], src: str | None, files: int) -> dict:
    out.mkdir()
    one = sorted(tiles.iterdir())[0]
    single = timed_run(str(one), out / "one.tif", options, src)
    (out / "one.tif").unlink()
    every = timed_run(str(tiles), out, options, src)
    return {"startup_and_one_file": round(single, 2), "all_files": round(every, 2),
            "seconds_per_file": round((every - single) / (files - 1), 3)}


ESTIMATE_TIMING = """
import glob, sys, time
import imageio.v3 as iio
import numpy as np
from napari_microdeblur.core.psf_estimate import estimate_psf
planes = [iio.imread(f).astype(np.float64)[:256, :256] for f in sorted(glob.glob(sys.argv[1]))[:8]]
estimate_psf(planes[0])
t0 = time.perf_counter()
for plane in planes:
    estimate_psf(plane)
print((time.perf_counter() - t0) / len(planes))
"""


def estimate_seconds(src: str | None) -> float:
    """Seconds per ``estimate_psf`` on 256-px ssTEM test crops in a plain Python process, as
    napari and the Python API run it (the CLI tunes glibc's allocator; this process does not)."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", ESTIMATE_TIMING, str(ISBI_TEST / "*.png")],
                          env=env, capture_output=True, text=True, check=True)
    return round(float(done.stdout.strip().splitlines()[-1]), 3)


def _commit_of(src: str) -> str | None:
    done = subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], capture_output=True,
                          text=True)
    return done.stdout.strip() or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--baseline-src", help="also time this src folder (another checkout, "
                        "e.g. the commit before a change), alternately with this one")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.files < 2:
        parser.error("--files must be at least 2")
    trees = {"this checkout": None}
    if args.baseline_src:
        trees = {"baseline": args.baseline_src, **trees}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            tiles = Path(tmp) / f"tiles_{size}"
            tiles.mkdir()
            write_tiles(tiles, args.files, size)
            for label in args.methods:
                row = {"method": label, "size": size, "files": args.files}
                for tree, src in trees.items():  # alternately, so drift hits both alike
                    out = Path(tmp) / f"out_{size}_{len(rows)}_{len(row)}"
                    row[tree] = _measure(tiles, out, METHODS[label], src, args.files)
                rows.append(row)
                print(f"{size:5d} px  {label:42s} per further file: " + ", ".join(
                    f"{tree} {row[tree]['seconds_per_file']:.3f} s" for tree in trees),
                    flush=True)
    estimates = {tree: estimate_seconds(src) for tree, src in trees.items()}
    print("estimate_psf in a plain Python process, seconds per 256-px image: " + ", ".join(
        f"{tree} {seconds:.3f}" for tree, seconds in estimates.items()), flush=True)
    if args.json:
        payload = {"provenance": record(), "baseline_src": args.baseline_src,
                   "estimate_psf_seconds_in_python": estimates,
                   "baseline_commit": _commit_of(args.baseline_src) if args.baseline_src
                   else None, "results": rows}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
