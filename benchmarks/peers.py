#!/usr/bin/env python
"""Ours against the napari peers, side by side on the same data, each run in its own process.

* ``rl3d``: Richardson-Lucy, 20 iterations, on a 64 x 512 x 512 uint16 stack blurred with a
  17 x 25 x 25 widefield PSF (psfmodels, vectorial, NA 1.2, 0.1 x 0.2 um voxels) plus Poisson
  noise, file to file: ``microdeblur deblur --method richardson_lucy`` (default tiling: the
  whole stack in one padded FFT when it fits the memory budget) against RedLionfish's CPU
  path (``RedLionfishDeconv.doRLDeconvolutionFromNpArrays(method='cpu')``, scipy FFTs).
* ``rl2d``: the same on an 8192 x 8192 image with a 25 x 25 PSF (a defocused plane of that
  PSF). RedLionfish's entry point refuses 2D data (it returns None for ``ndim != 3``), so it
  gets the image as a one-plane stack, (1, Y, X) with a (1, 25, 25) PSF: the same FFTs.
* ``monai``: a default network (gran.em_v1, bfloat16) tiled by our tiler against MONAI's
  ``sliding_window_inference`` with the same runner, tile, overlap and batch
  (``tiling_overhead.py --runs ours,monai``).

The ground truth is a mosaic of the bundled HT29 nuclei sample; in the stack every 64-pixel
block of it lies at its own depth (a Gaussian z profile), so the volume has 3D structure. The
blur uses the mirror ('reflect') boundary. Wall time and peak resident memory are each
process's own (``os.wait4``; every child starts from a small parent, since a child inherits
its parent's peak RSS at exec). PSNR of each output against the ground truth after the
least-squares gain and offset (the peer's and our intensity scales may differ), on the whole
image and with a PSF-sized border excluded. Runs alternate ours / peer, ``--repeats`` times;
medians are reported with the load average. Writes JSON (default benchmarks/results/peers.json).

    python benchmarks/peers.py [--cases rl3d,rl2d,monai] [--repeats 3] [--size2d 8192]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "src" / "napari_microdeblur" / "samples" / "ht29_nuclei_hoechst.tif"
ITERATIONS = 20
PEAK_PHOTONS, BACKGROUND = 2000.0, 100.0


# ----------------------------------------------------------------------------- data (in a child)


def _psf3d():
    import numpy as np
    import psfmodels

    psf = psfmodels.make_psf(np.arange(-8, 9) * 0.2, nx=25, dxy=0.1, NA=1.2, wvl=0.52,
                             ni=1.33, ni0=1.33, ns=1.33, model="vectorial")
    return (psf / psf.sum()).astype(np.float32)


def _mosaic(size: int):
    import numpy as np
    import tifffile

    tile = tifffile.imread(SAMPLE).astype(np.float32)
    tile /= tile.max()
    reps = size // min(tile.shape) + 1
    grid = np.tile(tile, (reps, reps))
    # mirror every other tile so the mosaic is not one tile repeated
    grid[tile.shape[0]::2 * tile.shape[0]] = grid[tile.shape[0]::2 * tile.shape[0]][:, ::-1]
    return np.ascontiguousarray(grid[:size, :size])


def _blur(truth, psf):
    """Convolution with the mirror boundary, by FFT on the padded image."""
    import numpy as np
    from scipy.signal import fftconvolve

    pad = [(k // 2, k // 2) for k in psf.shape]
    return fftconvolve(np.pad(truth, pad, mode="symmetric"), psf, mode="valid")


def make_data(work: Path, case: str, size2d: int) -> None:
    import numpy as np
    import tifffile
    from scipy import ndimage

    rng = np.random.default_rng(0)
    psf3 = _psf3d()
    if case == "rl3d":
        depth, size = 64, 512
        base = _mosaic(size)
        # each 64-px block at its own depth (smoothed), a Gaussian profile of 8 planes in z
        blocks = rng.uniform(0.2 * depth, 0.8 * depth, size=(size // 64 + 1,) * 2)
        centre = ndimage.gaussian_filter(np.kron(blocks, np.ones((64, 64)))[:size, :size], 16)
        z = np.arange(depth, dtype=np.float32)[:, None, None]
        truth = base[None] * np.exp(-0.5 * ((z - centre[None]) / 8.0) ** 2)
        psf = psf3
    else:
        truth = _mosaic(size2d)
        psf = psf3[11] / psf3[11].sum()  # 0.6 um out of focus
    truth = (truth * PEAK_PHOTONS + BACKGROUND).astype(np.float32)
    blurred = _blur(truth, psf)
    noisy = rng.poisson(np.clip(blurred, 0, None)).astype(np.uint16)
    axes = "ZYX" if truth.ndim == 3 else "YX"
    tifffile.imwrite(work / f"{case}_truth.tif", truth, metadata={"axes": axes})
    tifffile.imwrite(work / f"{case}_blurred.tif", noisy, metadata={"axes": axes})
    tifffile.imwrite(work / f"{case}_psf.tif", psf.astype(np.float32))


def psnr_of(truth_path: Path, output_path: Path, psf_path: Path) -> dict:
    import numpy as np
    import tifffile

    truth = tifffile.imread(truth_path).astype(np.float64)
    out = np.squeeze(tifffile.imread(output_path)).astype(np.float64)
    k = tifffile.imread(psf_path).shape
    # least-squares gain and offset: the comparison is of structure, not of intensity units
    a, b = np.polyfit(out.ravel()[::7], truth.ravel()[::7], 1)
    fitted = a * out + b
    data_range = truth.max() - truth.min()

    def psnr(x, y):
        return float(10 * np.log10(data_range**2 / np.mean((x - y) ** 2)))

    inner = tuple(slice(s // 2 + 1, -(s // 2 + 1)) if s > 1 else slice(None) for s in k)
    return {"psnr_whole": round(psnr(fitted, truth), 3),
            "psnr_inner": round(psnr(fitted[inner], truth[inner]), 3)}


RLF_CHILD = """
import sys, numpy as np, tifffile, RedLionfishDeconv as rlf
src, psf_path, dst, niter = sys.argv[1:5]
data = tifffile.imread(src)
psf = tifffile.imread(psf_path)
if data.ndim == 2:  # its entry point takes 3D only: a one-plane stack
    data, psf = data[None], psf[None]
out = rlf.doRLDeconvolutionFromNpArrays(data, psf, niter=int(niter), method="cpu")
tifffile.imwrite(dst, np.asarray(out, dtype=np.float32))
"""


# ----------------------------------------------------------------------------- runs


def timed_child(cmd: list[str]) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace").strip()
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd[:6])}... failed ({code}): {err[-2000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def _helper(*args: str) -> str:
    """Run this file's helper mode in a child (data, PSNR); returns its last stdout line."""
    done = subprocess.run([sys.executable, __file__, "--helper", *args], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def run_rl_case(case: str, work: Path, args) -> dict:
    src, psf = work / f"{case}_blurred.tif", work / f"{case}_psf.tif"
    if not src.exists():
        _helper("data", str(work), case, str(args.size2d))
    ours_out, peer_out = work / f"{case}_ours.tif", work / f"{case}_rlf.tif"
    ours_cmd = [sys.executable, "-m", "napari_microdeblur.cli", "deblur", str(src),
                "-o", str(ours_out), "--method", "richardson_lucy", "--psf", str(psf),
                "--iterations", str(ITERATIONS), "--device", "cpu", "-q", "--overwrite"]
    peer_cmd = [sys.executable, "-c", RLF_CHILD, str(src), str(psf), str(peer_out),
                str(ITERATIONS)]
    runs = {"ours": [], "redlionfish": []}
    loads = []
    for _ in range(args.repeats):
        for name, cmd in (("ours", ours_cmd), ("redlionfish", peer_cmd)):
            loads.append(os.getloadavg()[0])
            runs[name].append(timed_child(cmd))
            print(f"  {case} {name}: {runs[name][-1]}", flush=True)
    result = {"command_ours": " ".join(ours_cmd[1:]), "iterations": ITERATIONS,
              "load_average_1min": [round(v, 2) for v in loads]}
    for name, out in (("ours", ours_out), ("redlionfish", peer_out)):
        result[name] = {
            "seconds_median": statistics.median(r["seconds"] for r in runs[name]),
            "peak_rss_mb_median": statistics.median(r["peak_rss_mb"] for r in runs[name]),
            "runs": runs[name],
            **json.loads(_helper("psnr", str(work / f"{case}_truth.tif"), str(out), str(psf))),
        }
    o, p = result["ours"], result["redlionfish"]
    result["time_ratio_ours_over_peer"] = round(o["seconds_median"] / p["seconds_median"], 3)
    result["memory_ratio_ours_over_peer"] = round(
        o["peak_rss_mb_median"] / p["peak_rss_mb_median"], 3)
    result["psnr_whole_ours_minus_peer"] = round(o["psnr_whole"] - p["psnr_whole"], 3)
    result["psnr_inner_ours_minus_peer"] = round(o["psnr_inner"] - p["psnr_inner"], 3)
    return result


def run_monai_case(args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "monai.json"
        cmd = [sys.executable, str(HERE / "tiling_overhead.py"), "--net", args.monai_net,
               "--size", str(args.monai_size), "--precision", "bfloat16", "--runs", "ours,monai",
               "--json", str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not out.exists():
            return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
        result = json.loads(out.read_text())
    result["command"] = " ".join(cmd[1:-2])
    return result


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), platform.processor())
    commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(HERE), "status", "--porcelain", "--", "../src"],
                           capture_output=True, text=True).stdout.strip()
    import torch

    return {"cpu": model, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
            "git_commit": commit + ("+uncommitted changes in src" if dirty else ""),
            "python": platform.python_version(), "torch": torch.__version__}


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--helper":
        mode, *rest = sys.argv[2:]
        if mode == "data":
            make_data(Path(rest[0]), rest[1], int(rest[2]))
        elif mode == "psnr":
            print(json.dumps(psnr_of(*map(Path, rest))))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="rl3d,rl2d,monai")
    p.add_argument("--repeats", type=int, default=3, help="alternating runs of each (median)")
    p.add_argument("--size2d", type=int, default=8192)
    p.add_argument("--monai-net", default="gran.em_v1")
    p.add_argument("--monai-size", type=int, default=2048)
    p.add_argument("--workdir", type=Path,
                   default=Path(tempfile.gettempdir()) / "microdeblur_peers")
    p.add_argument("--json", type=Path, default=HERE / "results" / "peers.json")
    args = p.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results = {"command": "python benchmarks/peers.py " + " ".join(sys.argv[1:]),
               "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(),
               "load_average_at_start": [round(v, 2) for v in os.getloadavg()]}
    for case in args.cases.split(","):
        print(f"{case} ...", flush=True)
        if case in ("rl3d", "rl2d"):
            if case == "rl2d" and args.size2d != 8192:
                results.setdefault("notes", []).append(f"rl2d at {args.size2d}^2, not 8192^2")
            results[case] = run_rl_case(case, args.workdir, args)
        elif case == "monai":
            results[case] = run_monai_case(args)
        else:
            raise SystemExit(f"--cases: {case!r} is not one of rl3d, rl2d, monai")
    results["total_seconds"] = round(time.perf_counter() - t0, 1)
    print(f"\n{'case':<6} {'ours s':>8} {'peer s':>8} {'time x':>7} {'ours MB':>8} "
          f"{'peer MB':>8} {'mem x':>6} {'dPSNR whole/inner dB':>21}")
    for case in ("rl3d", "rl2d"):
        r = results.get(case)
        if r:
            o, q = r["ours"], r["redlionfish"]
            print(f"{case:<6} {o['seconds_median']:>8} {q['seconds_median']:>8} "
                  f"{r['time_ratio_ours_over_peer']:>7} {o['peak_rss_mb_median']:>8} "
                  f"{q['peak_rss_mb_median']:>8} {r['memory_ratio_ours_over_peer']:>6} "
                  f"{r['psnr_whole_ours_minus_peer']:>+10} / {r['psnr_inner_ours_minus_peer']:+}")
    m = results.get("monai")
    if m:
        print(f"monai  ours/MONAI time x{m.get('time_ratio_ours_over_monai')}, "
              f"memory x{m.get('peak_memory_ratio_ours_over_monai')} {m.get('error', '')}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
