#!/usr/bin/env python
"""Whether a long batch stays stable: resident memory, open files and time per file over
thousands of files, for ``microdeblur deblur DIR -o OUT`` and a Python ``deblur_file`` loop.

    python benchmarks/batch_stability.py [--files 2000] [--api-files 500]
        [--methods em wiener] [--interval 0.25] [--json PATH]

Connectomics labs run the same core headless on millions of tiles; a cache keyed on paths or
PSFs, a logging handler or a file handle added per file grows slowly and only shows after
thousands of files. This writes ``--files`` distinct 256 x 256 uint8 EM-like tiles (the bundled
C. elegans EM sample, each rolled, flipped and given its own noise, so every tile gets its own
estimated PSF), then for each method

* runs one ``microdeblur deblur DIR -o OUT -q`` process over all of them, sampling its RSS and
  open file descriptors (/proc/PID/status, /proc/PID/fd) and the number of outputs every
  ``--interval`` seconds;
* runs ``core.files.deblur_file(src, dst, ...)`` in a loop over ``--api-files`` of them in one
  fresh Python process (as a user's script does: no ModelCache), which records its own RSS and
  fds after every file.

Reported: RSS after the first 100 files and at the end, the peak, seconds per file over the
first and the last 10 % of files, and open fds. Methods: ``em`` (``--modality em``: a PSF
estimated per image, then the PSF-aware network) and ``wiener`` (``--psf gaussian:1.6``).
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

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src" / "napari_microdeblur" / "samples" / "em_celegans_empiar10982_z0017.tif"
METHODS = {
    "em": {"cli": ["--modality", "em"], "api": {"modality": "em"}},
    "wiener": {"cli": ["--method", "wiener", "--psf", "gaussian:1.6"],
               "api": {"method": "wiener", "psf": "gaussian:1.6"}},
}
SUFFIX = "_deblurred.tif"


def write_tiles(folder: Path, n: int, size: int = 256, seed: int = 0) -> list[Path]:
    """``n`` distinct uint8 tiles made from the bundled EM sample (rolled, flipped, rotated,
    their own Gaussian noise), so no two files share pixels or an estimated PSF."""
    import tifffile

    base = tifffile.imread(SAMPLE).astype(np.float32)
    reps = -(-size // min(base.shape))
    base = np.tile(base, (reps, reps))
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        tile = np.roll(base, (int(rng.integers(base.shape[0])), int(rng.integers(base.shape[1]))),
                       axis=(0, 1))[:size, :size]
        tile = np.rot90(tile, int(rng.integers(4)))
        tile = tile[:, ::-1] if rng.integers(2) else tile
        tile = tile + rng.normal(0.0, 2.0 + 2.0 * rng.random(), tile.shape)
        path = folder / f"tile_{i:05d}.tif"
        tifffile.imwrite(path, np.clip(np.rint(tile), 0, 255).astype(np.uint8))
        paths.append(path)
    return paths


def proc_sample(pid: int | str) -> dict | None:
    """RSS and peak RSS (MB) and open fds of a process, or None once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    kb = {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}
    return {"rss_mb": kb["VmRSS"] / 1024, "hwm_mb": kb["VmHWM"] / 1024, "fds": fds}


def count_outputs(out: Path) -> int:
    return sum(1 for e in os.scandir(out) if e.name.endswith(SUFFIX) and not e.name.startswith("."))


def sample_cli(tiles: Path, out: Path, options: list[str], interval: float) -> list[dict]:
    """Runs the batch, sampling it every ``interval`` s: rows of t, done, rss_mb, hwm_mb, fds."""
    out.mkdir()
    command = [sys.executable, "-m", "napari_microdeblur.cli", "deblur", str(tiles), "-o",
               str(out), "-q", *options]
    samples = []
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        while process.poll() is None:
            row = proc_sample(process.pid)
            if row is not None:
                samples.append({"t": time.perf_counter() - t0, "done": count_outputs(out), **row})
            time.sleep(interval)
        samples.append({"t": time.perf_counter() - t0, "done": count_outputs(out),
                        "exited": True})
        if process.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(command)} failed:\n{err.read().decode()[-2000:]}")
    return samples


API_LOOP = """
import json, os, sys, time, warnings
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from batch_stability import proc_sample
from napari_microdeblur.core.files import deblur_file
tiles, out = sorted(Path(sys.argv[1]).iterdir()), Path(sys.argv[2])
options = json.loads(sys.argv[3])
warnings.simplefilter("ignore")  # one PSF-estimate note per file; counted by the CLI run
t0 = time.perf_counter()
rows = []
for i, src in enumerate(tiles):
    deblur_file(src, out / (src.stem + "_deblurred.tif"), **options)
    rows.append({"t": time.perf_counter() - t0, "done": i + 1, **proc_sample("self")})
print(json.dumps(rows))
"""


def sample_api(tiles: Path, out: Path, options: dict) -> list[dict]:
    out.mkdir()
    done = subprocess.run([sys.executable, "-c", API_LOOP, str(tiles), str(out),
                           json.dumps(options), str(Path(__file__).parent)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the deblur_file loop failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_at(samples: list[dict], k: int) -> float:
    """The first sampled time at which at least ``k`` outputs existed."""
    return next(s["t"] for s in samples if s["done"] >= k)


def summarise(samples: list[dict], files: int) -> dict:
    live = [s for s in samples if "rss_mb" in s]
    tenth = max(files // 10, 2)
    after_100 = next((s for s in live if s["done"] >= min(100, files)), live[-1])
    end = live[-1]
    first = (time_at(samples, tenth) - time_at(samples, 1)) / (tenth - 1)
    last = (time_at(samples, files) - time_at(samples, files - tenth)) / tenth
    return {
        "files": files, "done": samples[-1]["done"], "wall_s": round(samples[-1]["t"], 1),
        "rss_after_100_files_mb": round(after_100["rss_mb"], 1),
        "rss_end_mb": round(end["rss_mb"], 1), "files_at_end_sample": end["done"],
        "rss_growth_after_100_files_mb": round(end["rss_mb"] - after_100["rss_mb"], 1),
        "peak_rss_mb": round(max(s["hwm_mb"] for s in live), 1),
        "s_per_file_first_10pct": round(first, 4), "s_per_file_last_10pct": round(last, 4),
        "fds_after_100_files": after_100["fds"], "fds_end": end["fds"],
        "fds_max": max(s["fds"] for s in live),
    }


def trace(samples: list[dict], points: int = 40) -> list[list]:
    """A thinned copy of the samples for the JSON: [done, t, rss_mb, fds]."""
    live = [s for s in samples if "rss_mb" in s]
    step = max(len(live) // points, 1)
    return [[s["done"], round(s["t"], 2), round(s["rss_mb"], 1), s["fds"]]
            for s in live[::step] + live[-1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--api-files", type=int, default=500)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if min(args.files, args.api_files) < 20:
        parser.error("--files and --api-files must be at least 20")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tiles = Path(tmp) / "tiles"
        tiles.mkdir()
        write_tiles(tiles, args.files)
        api_tiles = Path(tmp) / "api_tiles"
        api_tiles.mkdir()
        for path in sorted(tiles.iterdir())[:args.api_files]:
            os.symlink(path, api_tiles / path.name)
        for name in args.methods:
            for how in ("cli", "api"):
                out = Path(tmp) / f"out_{name}_{how}"
                if how == "cli":
                    samples = sample_cli(tiles, out, METHODS[name]["cli"], args.interval)
                    n = args.files
                else:
                    samples, n = sample_api(api_tiles, out, METHODS[name]["api"]), args.api_files
                row = {"method": name, "how": how, **summarise(samples, n),
                       "trace_done_t_rss_fds": trace(samples)}
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "trace_done_t_rss_fds"}),
                      flush=True)
                for f in out.iterdir():
                    f.unlink()
    if args.json:
        payload = {"provenance": record(), "sample": SAMPLE.relative_to(ROOT).as_posix(),
                   "results": rows}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
