#!/usr/bin/env python
"""How many 2048 x 2048 8-bit tiles per minute ``microdeblur watch`` sustains (issue 7).

    python benchmarks/watch_rate.py [--files 40] [--soft 0.1] [--method gran.em_v1]

Builds 2048 x 2048 uint8 EM tiles of 4 x 4 ssTEM sections (512 x 512, in random order and
orientation) of ../shared/data/em_isbi2012_drosophila_vnc_sstem. The threshold is calibrated
on six sharp tiles of the *training* volume (0.8 x the 5th percentile of their scores,
``calibrate_threshold``; sharp tiles scatter, so the percentile alone would flag some of them);
the watched tiles come from the *test* volume, a separate stack: other fields than the
calibration saw. A fraction ``--soft`` of them is degraded with protocol A (Gaussian blur,
noise), the rest stay sharp. Then ``microdeblur watch IN OUT --once`` runs in its own process on
the whole folder, as a backlog, and the rate is files / wall time. Paced runs write one file
every 60 / ``--pace`` seconds while watch runs and report each file's latency (written ->
output appears): at the CLI's defaults (``--settle 2.0 --poll 1.0``) and at a faster setting
(``--settle 0.5 --poll 0.2``). Prints a summary and writes JSON with the command, commit and
machine (benchmarks/results/watch_rate.json).
"""

from __future__ import annotations

import argparse
import csv
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
ISBI = SHARED / "em_isbi2012_drosophila_vnc_sstem"
SETTINGS = {"cli defaults": ("2.0", "1.0"), "faster": ("0.5", "0.2")}  # settle, poll (s)


def tiles(n: int, seed: int, volume: str) -> list[np.ndarray]:
    """n tiles of 4 x 4 sections of the ISBI 2012 ``volume`` ('train' or 'test')."""
    import imageio.v3 as iio

    planes = [np.asarray(iio.imread(p)) for p in sorted((ISBI / volume).glob("*.png"))]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        picked = [np.rot90(planes[i], int(rng.integers(4)))
                  for i in rng.permutation(len(planes))[:16]]
        rows = [np.hstack(picked[r * 4:(r + 1) * 4]) for r in range(4)]
        out.append(np.vstack(rows).astype(np.uint8))
    return out


def write_set(folder: Path, images, soft: set[int]) -> None:
    import tifffile

    from napari_microdeblur.core.degrade import degrade

    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        if i in soft:
            image = degrade(image, "A", seed=i)
        tifffile.imwrite(folder / f"tile_{i:04d}.tif", image)


def watch_cmd(src: Path, dst: Path, threshold: float, method: str, settle: str, poll: str,
              *extra) -> list[str]:
    return [sys.executable, "-m", "napari_microdeblur.cli", "watch", str(src), str(dst),
            "--threshold", f"{threshold:.6g}", "--method", method, "--poll", poll,
            "--settle", settle, "-q", *extra]


def read_log(dst: Path) -> list[dict]:
    with open(dst / "microdeblur_watch.csv", newline="") as f:
        return list(csv.DictReader(f))


def paced_run(tmp: Path, threshold: float, args, settle: str, poll: str) -> dict:
    """Files appear at --pace per minute while watch runs: latency from written to output."""
    import tifffile

    from napari_microdeblur.core.degrade import degrade

    src, dst = tmp / "in", tmp / "out"
    src.mkdir(parents=True)
    dst.mkdir()
    images = tiles(args.paced_files, seed=3, volume="test")
    soft = set(range(0, args.paced_files, max(1, round(1 / args.soft))))
    proc = subprocess.Popen(watch_cmd(src, dst, threshold, args.method, settle, poll))
    written, seen = {}, {}

    def wait_and_watch(seconds: float) -> None:
        """Sleep, noting when each output first appears (copies keep the source's mtime, so
        the output's own time stamp cannot tell)."""
        end = time.time() + seconds
        while True:
            for q in dst.iterdir():
                seen.setdefault(q.name.split("_deblurred")[0].split(".")[0], time.time())
            if time.time() >= end:
                return
            time.sleep(0.05)

    try:
        time.sleep(8)  # let watch start (imports)
        for i, image in enumerate(images):
            t = time.time()
            tifffile.imwrite(src / f"tile_{i:04d}.tif",
                             degrade(image, "A", seed=i) if i in soft else image)
            written[f"tile_{i:04d}"] = time.time()
            wait_and_watch(max(0.0, 60 / args.pace - (time.time() - t)))
        deadline = time.time() + 120
        while time.time() < deadline and not all(k in seen for k in written):
            wait_and_watch(0.2)
    finally:
        proc.terminate()
        proc.wait(30)
    latencies = [seen[k] - t for k, t in written.items() if k in seen]
    return {
        "settle_s": float(settle), "poll_s": float(poll),
        "processed": f"{len(latencies)}/{args.paced_files}",
        "latency_s_median": round(float(np.median(latencies)), 1) if latencies else None,
        "latency_s_max": round(max(latencies), 1) if latencies else None,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=40)
    p.add_argument("--soft", type=float, default=0.1, help="fraction of out-of-focus tiles")
    p.add_argument("--method", default="gran.em_v1")
    p.add_argument("--pace", type=float, default=20.0, help="files per minute in the paced run")
    p.add_argument("--paced-files", type=int, default=20)
    p.add_argument("--json", type=Path,
                   default=Path(__file__).parent / "results" / "watch_rate.json")
    args = p.parse_args(argv)

    rng = np.random.default_rng(0)
    n_soft = max(1, round(args.soft * args.files))
    soft = set(int(i) for i in rng.choice(args.files, n_soft, replace=False))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src, dst = tmp / "in", tmp / "out"
        from napari_microdeblur.core.focus import calibrate_threshold, focus_score

        good = [focus_score(t) for t in tiles(6, seed=1, volume="train")]
        threshold = 0.8 * calibrate_threshold(good, percentile=5)
        write_set(src, tiles(args.files, seed=2, volume="test"), soft)
        dst.mkdir()
        old = time.time() - 10  # written long ago: no settle wait in the backlog run
        for f in src.iterdir():
            os.utime(f, (old, old))

        t0 = time.perf_counter()
        subprocess.run(watch_cmd(src, dst, threshold, args.method, *SETTINGS["faster"],
                                 "--once"), check=True)
        backlog_s = time.perf_counter() - t0
        rows = read_log(dst)
        decided = {r["name"]: r["decision"] for r in rows}
        expected = {f"tile_{i:04d}.tif": ("deblurred" if i in soft else "copied")
                    for i in range(args.files)}
        correct = sum(decided.get(k) == v for k, v in expected.items())
        deblur_s = [float(r["seconds"]) for r in rows if r["decision"] == "deblurred"]
        copy_s = [float(r["seconds"]) for r in rows if r["decision"] == "copied"]

        paced = {label: paced_run(tmp / label.replace(" ", "_"), threshold, args, settle, poll)
                 for label, (settle, poll) in SETTINGS.items()}

    result = {
        "files": args.files,
        "soft_files": n_soft,
        "method": args.method,
        "threshold": round(threshold, 6),
        "backlog_seconds": round(backlog_s, 1),
        "files_per_minute": round(args.files / backlog_s * 60, 1),
        "decisions_correct": f"{correct}/{args.files}",
        "seconds_per_deblurred_file": round(float(np.mean(deblur_s)), 2) if deblur_s else None,
        "seconds_per_copied_file": round(float(np.mean(copy_s)), 3) if copy_s else None,
        "paced_files_per_minute": args.pace,
        "paced": paced,
    }
    print(json.dumps(result, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"provenance": record(), "results": result}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
