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
* ``rl3d_sparse``: the same two programs, file to file, on sparse stacks (48 x 128 x 128):
  point-like beads (0.46 um) and thin 3D filaments (0.61 um), each blurred with its own
  widefield PSF (psfmodels, vectorial, oil NA 1.4, 23 x 65 x 65 at 0.3 x 0.1 um), a peak of
  300 photons over a background of 100, Poisson noise; at each of ``--sparse-iterations``
  (20 and 100). A ladder in a child (``sparse_ladder``) re-runs RedLionfish's CPU iteration
  in numpy and changes one thing at a time (the start, the PSF placement), to say why it
  leads there. Written to its own JSON (``--json``), with PSNR also without the fitted gain.
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
    python benchmarks/peers.py --cases rl3d_sparse --sparse-iterations 20,100 --repeats 2 \
        --json benchmarks/results/peers_rl3d_sparse.json
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
SPARSE_SHAPE, SPARSE_PEAK = (48, 128, 128), 300.0
SPARSE_KINDS = {"beads": 0.46, "filaments": 0.61}  # emission wavelength (um) of each stack


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


def _psf_oil(wvl: float):
    """A widefield PSF of an oil objective, NA 1.4, 23 x 65 x 65 at 0.3 x 0.1 x 0.1 um."""
    import numpy as np
    import psfmodels

    psf = psfmodels.vectorial_psf_centered(nz=23, dz=0.3, nx=65, dxy=0.1, pz=0, wvl=wvl,
                                           params=dict(NA=1.4, ni=1.515, ni0=1.515, ns=1.515))
    return (psf / psf.sum()).astype(np.float32)


def sparse_object(kind: str, rng):
    """Beads (points smoothed to ~1.5 px) or thin lines, mostly lateral; peak 1."""
    import numpy as np
    from scipy import ndimage

    depth, height, width = SPARSE_SHAPE
    obj = np.zeros(SPARSE_SHAPE, np.float32)
    if kind == "beads":
        for _ in range(120):
            z, y, x = (rng.integers(4, depth - 4), rng.integers(8, height - 8),
                       rng.integers(8, width - 8))
            obj[z, y, x] += rng.uniform(0.5, 1.0)
        obj = ndimage.gaussian_filter(obj, (0.5, 1.0, 1.0))
    else:
        for _ in range(24):
            start = np.array([rng.uniform(3, depth - 3), rng.uniform(0, height),
                              rng.uniform(0, width)])
            step = rng.normal(size=3)
            step[0] *= 0.08  # shallow in z
            step /= np.linalg.norm(step)
            points = np.round(start + np.linspace(-150, 150, 3000)[:, None] * step).astype(int)
            inside = np.all((points >= 0) & (points < np.array(SPARSE_SHAPE)), axis=1)
            obj[tuple(points[inside].T)] = 1.0
        obj = ndimage.gaussian_filter(obj, (0.3, 0.6, 0.6))
    return obj / obj.max()


def make_data(work: Path, case: str, size2d: int) -> None:
    import numpy as np
    import tifffile
    from scipy import ndimage

    rng = np.random.default_rng(0)
    psf3 = _psf3d()
    if case.startswith("rl3d_sparse_"):
        kind = case.rsplit("_", 1)[1]
        psf = _psf_oil(SPARSE_KINDS[kind])
        obj = sparse_object(kind, rng)
        # scaled so that the blurred stack peaks SPARSE_PEAK photons over the background
        truth = obj * (SPARSE_PEAK / _blur(obj, psf).max())
    elif case == "rl3d":
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
    if not case.startswith("rl3d_sparse_"):
        truth = truth * PEAK_PHOTONS
    truth = (truth + BACKGROUND).astype(np.float32)
    blurred = _blur(truth, psf)
    noisy = rng.poisson(np.clip(blurred, 0, None)).astype(np.uint16)
    axes = "ZYX" if truth.ndim == 3 else "YX"
    tifffile.imwrite(work / f"{case}_truth.tif", truth, metadata={"axes": axes})
    tifffile.imwrite(work / f"{case}_blurred.tif", noisy, metadata={"axes": axes})
    tifffile.imwrite(work / f"{case}_psf.tif", psf.astype(np.float32))


def scores(truth, out, psf_shape) -> dict:
    """PSNR whole and with half a PSF excluded: after a least-squares gain and offset, and
    (``raw``) as written, where both outputs keep the input's intensity scale."""
    import numpy as np

    truth, out = truth.astype(np.float64), np.squeeze(out).astype(np.float64)
    # least-squares gain and offset: the comparison is of structure, not of intensity units
    a, b = np.polyfit(out.ravel()[::7], truth.ravel()[::7], 1)
    fitted = a * out + b
    data_range = truth.max() - truth.min()

    def psnr(x, y):
        return round(float(10 * np.log10(data_range**2 / np.mean((x - y) ** 2))), 3)

    inner = tuple(slice(s // 2 + 1, -(s // 2 + 1)) if s > 1 else slice(None) for s in psf_shape)
    return {"psnr_whole": psnr(fitted, truth), "psnr_inner": psnr(fitted[inner], truth[inner]),
            "psnr_raw_whole": psnr(out, truth), "psnr_raw_inner": psnr(out[inner], truth[inner])}


def psnr_of(truth_path: Path, output_path: Path, psf_path: Path) -> dict:
    import tifffile

    return scores(tifffile.imread(truth_path), tifffile.imread(output_path),
                  tifffile.imread(psf_path).shape)


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


def run_rl_case(case: str, work: Path, args, iterations: int = ITERATIONS) -> dict:
    src, psf = work / f"{case}_blurred.tif", work / f"{case}_psf.tif"
    if not src.exists():
        _helper("data", str(work), case, str(args.size2d))
    ours_out = work / f"{case}_ours_{iterations}.tif"
    peer_out = work / f"{case}_rlf_{iterations}.tif"
    ours_cmd = [sys.executable, "-m", "napari_microdeblur.cli", "deblur", str(src),
                "-o", str(ours_out), "--method", "richardson_lucy", "--psf", str(psf),
                "--iterations", str(iterations), "--device", "cpu", "-q", "--overwrite"]
    peer_cmd = [sys.executable, "-c", RLF_CHILD, str(src), str(psf), str(peer_out),
                str(iterations)]
    runs = {"ours": [], "redlionfish": []}
    loads = []
    for _ in range(args.repeats):
        for name, cmd in (("ours", ours_cmd), ("redlionfish", peer_cmd)):
            loads.append(os.getloadavg()[0])
            runs[name].append(timed_child(cmd))
            print(f"  {case} {name}: {runs[name][-1]}", flush=True)
    result = {"command_ours": " ".join(ours_cmd[1:]), "iterations": iterations,
              "load_average_1min": [round(v, 2) for v in loads]}
    for name, out in (("ours", ours_out), ("redlionfish", peer_out)):
        result[name] = {
            "seconds_median": round(statistics.median(r["seconds"] for r in runs[name]), 2),
            "peak_rss_mb_median": round(
                statistics.median(r["peak_rss_mb"] for r in runs[name]), 1),
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


def rl_iterates(data, kernel, back, start, count: int):
    """RL as RedLionfish's CPU path runs it (periodic float32 FFTs, ``u * B(y / H u)``) with
    the forward kernel ``kernel`` (its centre at voxel 0 is the textbook RL) and the back
    kernel ``back``: yields (iteration, estimate) for 1..count."""
    import numpy as np
    import scipy.fft

    forward, backward = scipy.fft.rfftn(kernel), scipy.fft.rfftn(back)
    u = data.copy() if start == "data" else np.full_like(data, data.mean())
    for i in range(1, count + 1):
        predicted = scipy.fft.irfftn(scipy.fft.rfftn(u) * forward, data.shape)
        ratio = data / np.where(predicted == 0, 1e-14, predicted)
        u = u * scipy.fft.irfftn(scipy.fft.rfftn(ratio) * backward, data.shape)
        yield i, u


def drift(truth, u, psf_shape) -> dict:
    """The uniform sub-voxel shift (the same on z, y, x; steps of 1/4) that, applied to ``u``,
    scores best: how far an estimate has drifted off the object."""
    import numpy as np
    from scipy import ndimage

    spectrum = np.fft.fftn(u)
    tried = [(scores(truth, np.real(np.fft.ifftn(ndimage.fourier_shift(spectrum, (s,) * 3))),
                     psf_shape)["psnr_whole"], float(s)) for s in np.linspace(-1, 1, 9)]
    best, shift = max(tried)
    return {"shift_back_voxels": shift, "psnr_whole_shifted_back": best}


def sparse_ladder(work: Path, case: str, counts: str) -> dict:
    """Why RedLionfish leads on a sparse stack: its iteration re-run here, one change at a time.

    RedLionfish (``RLDeconv3DScipy.doRLDeconvolution_DL2_4``) starts from the data, and its
    ``change3DSizeTo`` + ``circulify3D`` put the PSF's peak at voxel -1 of each axis (an even
    stack, an odd PSF) while its back kernel, ``np.flip`` of that, peaks at voxel 0: not the
    adjoint of the forward kernel. Rows: that as written; with a flat start (ours starts flat);
    with the PSF centred and its adjoint (textbook periodic RL) from the data; and from a flat
    start. Each at the counts asked and at 1.5 x the largest, and the count at which the
    textbook flat start reaches each row's score. The first row also says how far its estimate
    has drifted: with a back kernel one voxel off the adjoint, RL's fixed point is the object
    moved by a voxel, and the longer it runs the closer it gets.
    """
    import numpy as np
    import tifffile
    from RedLionfishDeconv.helperfunctions import change3DSizeTo, circulify3D

    truth = tifffile.imread(work / f"{case}_truth.tif")
    data = tifffile.imread(work / f"{case}_blurred.tif").astype(np.float32)
    psf = tifffile.imread(work / f"{case}_psf.tif").astype(np.float32)
    psf /= psf.sum()
    asked = [int(c) for c in counts.split(",")]
    extra = int(1.5 * max(asked))
    theirs = circulify3D(change3DSizeTo(psf, data.shape))
    centred = np.zeros(data.shape, np.float32)
    centred[tuple(slice(0, n) for n in psf.shape)] = psf
    centred = np.roll(centred, [-(n // 2) for n in psf.shape], axis=(0, 1, 2))
    adjoint = np.roll(np.flip(centred), 1, axis=(0, 1, 2))  # psf[-i mod N]
    rows = {"redlionfish_as_written": (theirs, np.flip(theirs), "data"),
            "redlionfish_flat_start": (theirs, np.flip(theirs), "flat"),
            "centred_psf_data_start": (centred, adjoint, "data")}
    result = {"psf_peak_voxel_forward": [int(i) - n for i, n in zip(
        np.unravel_index(np.argmax(theirs), data.shape), data.shape)],
        "psf_peak_voxel_back": [int(i) for i in np.unravel_index(
            np.argmax(np.flip(theirs)), data.shape)]}
    for name, (kernel, back, start) in rows.items():
        result[name] = {}
        for i, u in rl_iterates(data, kernel, back, start, extra):
            if i in asked or i == extra:
                result[name][str(i)] = scores(truth, u, psf.shape)
                if name == "redlionfish_as_written":
                    result[name][str(i)].update(drift(truth, u, psf.shape))
            if i in asked and name == "redlionfish_as_written":  # checked on its own file
                peer = tifffile.imread(work / f"{case}_rlf_{i}.tif")
                result[name][str(i)]["max_abs_difference_to_its_file"] = round(
                    float(np.abs(u - peer).max()), 4)
    flat, flat_scores = {}, []
    for i, u in rl_iterates(data, centred, adjoint, "flat", 2 * max(asked)):
        flat_scores.append(scores(truth, u, psf.shape)["psnr_whole"])
        if i in asked or i == extra:
            flat[str(i)] = scores(truth, u, psf.shape)
    result["centred_psf_flat_start"] = flat
    # how many textbook flat-start iterations give each data-start score (None: more than
    # the 2 x largest count run)
    result["flat_start_count_matching"] = {
        name: {c: next((i + 1 for i, v in enumerate(flat_scores)
                        if v >= result[name][c]["psnr_whole"]), None)
               for c in result[name]} for name in rows}
    return result


def run_sparse_case(work: Path, args) -> dict:
    counts = [int(c) for c in args.sparse_iterations.split(",")]
    result = {"stack": " x ".join(map(str, SPARSE_SHAPE)) + ", Poisson, "
              f"peak {SPARSE_PEAK:g} photons over a background of {BACKGROUND:g}",
              "psf": "psfmodels.vectorial_psf_centered, NA 1.4 oil, 23 x 65 x 65 at "
              "0.3 x 0.1 x 0.1 um"}
    for kind, wvl in SPARSE_KINDS.items():
        case = f"rl3d_sparse_{kind}"
        result[kind] = {"emission_um": wvl}
        for count in counts:
            print(f" {kind}, {count} iterations", flush=True)
            result[kind][f"iterations_{count}"] = run_rl_case(case, work, args, count)
        t0 = time.perf_counter()
        result[kind]["ladder"] = json.loads(_helper("ladder", str(work), case,
                                                    args.sparse_iterations))
        result[kind]["ladder"]["seconds"] = round(time.perf_counter() - t0, 1)
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
        elif mode == "ladder":
            print(json.dumps(sparse_ladder(Path(rest[0]), rest[1], rest[2])))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="rl3d,rl2d,monai")
    p.add_argument("--repeats", type=int, default=3, help="alternating runs of each (median)")
    p.add_argument("--size2d", type=int, default=8192)
    p.add_argument("--sparse-iterations", default="20,100",
                   help="rl3d_sparse: the iteration counts, each run by both")
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
        elif case == "rl3d_sparse":
            results[case] = run_sparse_case(args.workdir, args)
        elif case == "monai":
            results[case] = run_monai_case(args)
        else:
            raise SystemExit(f"--cases: {case!r} is not one of rl3d, rl2d, rl3d_sparse, monai")
    results["total_seconds"] = round(time.perf_counter() - t0, 1)
    print(f"\n{'case':<6} {'ours s':>8} {'peer s':>8} {'time x':>7} {'ours MB':>8} "
          f"{'peer MB':>8} {'mem x':>6} {'dPSNR whole/inner dB':>21}")
    rows = [(case, results.get(case)) for case in ("rl3d", "rl2d")]
    for kind in SPARSE_KINDS:
        rows += [(f"{kind[:5]} {k.split('_')[1]}", r)
                 for k, r in results.get("rl3d_sparse", {}).get(kind, {}).items()
                 if k.startswith("iterations_")]
    for case, r in rows:
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
