#!/usr/bin/env python
"""How many 2048 x 2048 8-bit tiles per minute ``microdeblur watch`` sustains (issue 7).

    python benchmarks/watch_rate.py [--files 40] [--soft 0.1] [--method gran.em_v1]

Builds ``--files`` 2048 x 2048 uint8 EM tiles from the six 1024 x 1024 ssTEM images of
../shared/data/em_drosophila_vnc_sstem_gerhard2013 (four per tile, in different arrangements
and orientations); a fraction ``--soft`` of them is degraded with protocol A (Gaussian blur,
noise), the rest stay sharp. The threshold is 0.8 x the 5th percentile of the scores of six
further sharp tiles (``calibrate_threshold``; sharp tiles of this set scatter by +-6 %, so the
percentile alone would flag some of them). Then ``microdeblur watch IN OUT --once`` runs in its own
process on the whole folder, as a backlog, and the rate is files / wall time. A second, paced
run writes one file every 60 / ``--pace`` seconds while watch runs and reports each file's
latency (written -> logged), to show it keeps up. Prints a summary and writes JSON.
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

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def tiles(n: int, seed: int) -> list[np.ndarray]:
    import tifffile

    root = SHARED / "em_drosophila_vnc_sstem_gerhard2013"
    planes = [tifffile.imread(p) for p in sorted(root.glob("*/*.tif"))]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        four = [np.rot90(planes[i], int(rng.integers(4))) for i in rng.permutation(6)[:4]]
        out.append(np.block([[four[0], four[1]], [four[2], four[3]]]).astype(np.uint8))
    return out


def write_set(folder: Path, images, soft: set[int]) -> None:
    import tifffile

    from napari_microdeblur.core.degrade import degrade

    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        if i in soft:
            image = degrade(image, "A", seed=i)
        tifffile.imwrite(folder / f"tile_{i:04d}.tif", image)


def watch_cmd(src: Path, dst: Path, threshold: float, method: str, *extra) -> list[str]:
    return [sys.executable, "-m", "napari_microdeblur.cli", "watch", str(src), str(dst),
            "--threshold", f"{threshold:.6g}", "--method", method, "--poll", "0.2",
            "--settle", "0.5", "-q", *extra]


def read_log(dst: Path) -> list[dict]:
    with open(dst / "microdeblur_watch.csv", newline="") as f:
        return list(csv.DictReader(f))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=40)
    p.add_argument("--soft", type=float, default=0.1, help="fraction of out-of-focus tiles")
    p.add_argument("--method", default="gran.em_v1")
    p.add_argument("--pace", type=float, default=20.0, help="files per minute in the paced run")
    p.add_argument("--paced-files", type=int, default=20)
    p.add_argument("--json", type=Path, default=Path("bench_out/watch_rate.json"))
    args = p.parse_args(argv)

    rng = np.random.default_rng(0)
    n_soft = max(1, round(args.soft * args.files))
    soft = set(int(i) for i in rng.choice(args.files, n_soft, replace=False))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src, dst = tmp / "in", tmp / "out"
        from napari_microdeblur.core.focus import calibrate_threshold, focus_score

        good = [focus_score(t) for t in tiles(6, seed=1)]
        threshold = 0.8 * calibrate_threshold(good, percentile=5)
        write_set(src, tiles(args.files, seed=2), soft)
        dst.mkdir()
        old = time.time() - 10  # written long ago: no settle wait in the backlog run
        for f in src.iterdir():
            os.utime(f, (old, old))

        t0 = time.perf_counter()
        subprocess.run(watch_cmd(src, dst, threshold, args.method, "--once"), check=True)
        backlog_s = time.perf_counter() - t0
        rows = read_log(dst)
        decided = {r["name"]: r["decision"] for r in rows}
        expected = {f"tile_{i:04d}.tif": ("deblurred" if i in soft else "copied")
                    for i in range(args.files)}
        correct = sum(decided.get(k) == v for k, v in expected.items())
        deblur_s = [float(r["seconds"]) for r in rows if r["decision"] == "deblurred"]
        copy_s = [float(r["seconds"]) for r in rows if r["decision"] == "copied"]

        # paced: files appear at --pace per minute while watch runs
        src2, dst2 = tmp / "in2", tmp / "out2"
        src2.mkdir()
        dst2.mkdir()
        images = tiles(args.paced_files, seed=3)
        soft2 = set(range(0, args.paced_files, max(1, round(1 / args.soft))))
        proc = subprocess.Popen(watch_cmd(src2, dst2, threshold, args.method))
        import tifffile

        from napari_microdeblur.core.degrade import degrade

        written, seen = {}, {}

        def wait_and_watch(seconds: float) -> None:
            """Sleep, noting when each output first appears (copies keep the source's
            mtime, so the output's own time stamp cannot tell)."""
            end = time.time() + seconds
            while True:
                for q in dst2.iterdir():
                    seen.setdefault(q.name.split("_deblurred")[0].split(".")[0], time.time())
                if time.time() >= end:
                    return
                time.sleep(0.05)

        try:
            time.sleep(8)  # let watch start (imports)
            for i, image in enumerate(images):
                t = time.time()
                tifffile.imwrite(src2 / f"tile_{i:04d}.tif",
                                 degrade(image, "A", seed=i) if i in soft2 else image)
                written[f"tile_{i:04d}"] = time.time()
                wait_and_watch(max(0.0, 60 / args.pace - (time.time() - t)))
            deadline = time.time() + 120
            while time.time() < deadline and not all(k in seen for k in written):
                wait_and_watch(0.2)
        finally:
            proc.terminate()
            proc.wait(30)
        latencies = [seen[k] - t for k, t in written.items() if k in seen]

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
        "paced_processed": f"{len(latencies)}/{args.paced_files}",
        "paced_latency_s_max": round(max(latencies), 1) if latencies else None,
        "paced_latency_s_median": round(float(np.median(latencies)), 1) if latencies else None,
    }
    print(json.dumps(result, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
