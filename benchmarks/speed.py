"""Speed of the default networks on this CPU, and what bounds it.

For every bundled model (default: the v2 blind defaults and the v1 GRANs):

* file to file: ``microdeblur deblur IN.tif -o OUT.tif --method MODEL --device cpu`` at the
  default tile, batch and precision on a --size x --size mosaic of the bundled HT29 sample
  (uint8; RGB for the brightfield/histology models: a grayscale one runs each colour channel,
  three passes per pixel), in its own process: wall time, megapixels per second,
  peak resident memory (``os.wait4``);
* precision: the default (``auto``: bfloat16 on CPUs with bf16 units) against float32 on a
  1024 x 1024 crop, as PSNR of one output against the other;
* share of peak: the model's multiply-adds per megapixel (torch's FLOP counter) times its
  file-to-file rate, over the machine's bf16 (and float32) convolution peak measured in the
  same run (one 64-channel 3x3 convolution, batch 4 at 256 x 256, channels-last);
* profile: self CPU time per operator over a few batches of default tiles (torch.profiler);
* with --variants: MP/s through the Python API on a 2048 x 2048 crop at the default settings,
  tile 512, tile 1024 and batch 4.

Timings on a shared machine are noisy: the load average is recorded with every figure.

  python benchmarks/speed.py [--size 4096] [--models gran.em_v1] [--variants]
                             [--auto em,fluorescence,brightfield]
                             [--json benchmarks/results/speed.json]

Without --json the JSON goes to bench_out/speed.json (not committed).
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
import torch

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "src" / "napari_microdeblur" / "samples" / "ht29_nuclei_hoechst.tif"
MODELS = ("c2f_unet.em_v2", "c2f_unet.fluorescence_v2", "c2f_unet.brightfield_v2",
          "gran.em_v1", "gran.fluo_v1", "gran.hist_v1")


def mosaic(size: int, rgb: bool) -> np.ndarray:
    tile = tifffile.imread(SAMPLE)
    image = np.tile(tile, (size // tile.shape[0] + 1,) * 2)[:size, :size]
    return np.stack([image, image[::-1], image[:, ::-1]], axis=-1) if rgb else image


def load() -> float:
    return round(os.getloadavg()[0], 2)


def timed(fn, repeats: int = 1) -> float:
    fn()  # warm-up: allocations, kernel selection
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def conv_peak(precision: str) -> float:
    """GMAC/s of one 64-channel 3x3 convolution (batch 4, 256 x 256), channels-last."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(memory_format=torch.channels_last).eval()
    x = torch.rand(4, 64, 256, 256).contiguous(memory_format=torch.channels_last)
    macs = 4 * 64 * 64 * 9 * 256 * 256

    def run():
        with torch.inference_mode():
            if precision == "float32":
                conv(x)
            else:
                with torch.autocast("cpu", dtype=getattr(torch, precision)):
                    conv(x)

    return macs / timed(run, 3) / 1e9


def model_gmacs_per_mp(model, channels: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, channels, 256, 256)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(x)
    return counter.get_total_flops() / 2 / 1e9 / (256 * 256 / 1e6)


def file_to_file(name: str, size: int, rgb: bool, work: Path, extra: tuple = ()) -> dict:
    src = work / f"in_{size}_{'rgb' if rgb else 'gray'}.tif"
    if not src.exists():
        tifffile.imwrite(src, mosaic(size, rgb), metadata={"axes": "YXS" if rgb else "YX"})
    dst = work / f"out_{name}{''.join(extra)}.tif"
    cmd = [sys.executable, "-m", "napari_microdeblur.cli", "deblur", str(src), "-o", str(dst),
           "--method", name, *extra, "--device", "cpu", "-q", "--overwrite"]
    before = load()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err[-1500:]}")
    return {"command": " ".join(cmd[1:]).replace(str(work), "WORK"),
            "seconds": round(seconds, 2), "megapixels_per_s": round(size**2 / 1e6 / seconds, 3),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "load_average_1min": before}


def precision_check(model, rgb: bool) -> dict:
    from napari_microdeblur.core.inference import deblur

    image = mosaic(1024, rgb)
    axes = "YXS" if rgb else "YX"
    fast = deblur(image, method=model, axes=axes, device="cpu")  # precision 'auto'
    exact = deblur(image, method=model, axes=axes, device="cpu", precision="float32")
    span = float(exact.max() - exact.min())
    mse = float(np.mean((fast.astype(np.float64) - exact) ** 2))
    return {"psnr_auto_vs_float32_db": round(10 * np.log10(span**2 / mse), 2) if mse else None}


def profile(model, channels: int, tile: int, batch: int, batches: int = 3) -> list[dict]:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from napari_microdeblur.core.inference import NetworkRunner

    runner = NetworkRunner(model, "auto")
    x = torch.rand(batch, channels, tile, tile)
    runner(x)  # warm-up
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(batches):
            runner(x)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: -e.self_cpu_time_total)
    return [{"op": e.key, "self_ms_per_batch": round(e.self_cpu_time_total / 1e3 / batches, 1),
             "share": round(e.self_cpu_time_total / total, 3)} for e in events[:10]]


def variants(model, rgb: bool) -> list[dict]:
    from napari_microdeblur.core.inference import deblur

    image = mosaic(2048, rgb)
    axes = "YXS" if rgb else "YX"
    rows = []
    for label, options in (("default", {}), ("tile 512", {"tile": 512}),
                           ("tile 1024", {"tile": 1024}), ("batch 4", {"batch_size": 4})):
        seconds = timed(lambda o=options: deblur(image, method=model, axes=axes, device="cpu",
                                                 **o))
        rows.append({"variant": label, "megapixels_per_s": round(2048**2 / 1e6 / seconds, 3),
                     "load_average_1min": load()})
    return rows


def auto_rows(args) -> dict:
    """{'auto': {modality: file-to-file row}} of ``--method auto --modality M``."""
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for modality in [m for m in args.auto.split(",") if m]:
            rows[modality] = row = file_to_file("auto", args.size, modality == "brightfield",
                                                Path(tmp), ("--modality", modality))
            print(f"auto --modality {modality}: {row['megapixels_per_s']} MP/s file to file "
                  f"({row['seconds']} s, {row['peak_rss_mb']} MB, load "
                  f"{row['load_average_1min']})", flush=True)
    return {"auto": rows}


def main() -> None:
    from napari_microdeblur.core import weights
    from napari_microdeblur.core.bundled import DEFAULTS_BY_MODALITY
    from napari_microdeblur.core.inference import network_method
    from napari_microdeblur.core.tile_options import default_network_tile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--variants", action="store_true")
    # what --method auto runs per --modality without a PSF (EM and brightfield: the PSF-aware
    # network with a PSF estimated from the image), file to file, instead of --models
    parser.add_argument("--auto", help="comma-separated modalities, e.g. em,fluorescence,"
                        "brightfield (brightfield on an RGB mosaic)")
    # the committed table input is written only when asked for (--json benchmarks/results/...),
    # so a one-model check cannot overwrite it
    parser.add_argument("--json", type=Path, default=HERE.parent / "bench_out" / "speed.json")
    args = parser.parse_args()
    peaks = {p: round(conv_peak(p), 1) for p in ("float32", "bfloat16")}
    result = {"command": "python benchmarks/speed.py " + " ".join(sys.argv[1:]),
              "size": args.size, "conv_peak_gmac_s": peaks,
              "torch_threads": torch.get_num_threads(), "cores": os.cpu_count(), "models": {}}
    if args.auto:
        result.update(auto_rows(args))
        args.models = ""
    with tempfile.TemporaryDirectory() as tmp:
        for name in [m for m in args.models.split(",") if m]:
            model, card = weights.load_model(name)
            rgb = card.in_channels == 3 or name in DEFAULTS_BY_MODALITY["brightfield"]
            method = network_method(model, name=name, card=card)
            tile = method.default_tile or default_network_tile(method, 2)
            passes = 3 if rgb and card.in_channels == 1 else 1  # colour channel by channel
            gmacs = passes * model_gmacs_per_mp(model, card.in_channels)
            row = {"default_tile": tile, "default_batch": 1, "halo": method.halo,
                   "gmac_per_megapixel": round(gmacs, 2)}
            row["file_to_file"] = f2f = file_to_file(name, args.size, rgb, Path(tmp))
            row["share_of_bf16_conv_peak"] = round(f2f["megapixels_per_s"] * gmacs
                                                   / peaks["bfloat16"], 3)
            row.update(precision_check(model, rgb))
            row["profile_default_tile"] = profile(model, card.in_channels, tile, 1)
            if args.variants:
                row["variants_2048"] = variants(model, rgb)
            result["models"][name] = row
            print(f"{name}: {f2f['megapixels_per_s']} MP/s file to file ({f2f['seconds']} s, "
                  f"{f2f['peak_rss_mb']} MB, load {f2f['load_average_1min']}), "
                  f"{100 * row['share_of_bf16_conv_peak']:.1f} % of the bf16 conv peak, "
                  f"auto vs float32 {row['psnr_auto_vs_float32_db']} dB", flush=True)
            for op in row["profile_default_tile"][:5]:
                print(f"    {op['op']:<40} {op['self_ms_per_batch']:>8} ms  {op['share']:.0%}")
            for v in row.get("variants_2048", []):
                print(f"    {v['variant']:<10} {v['megapixels_per_s']} MP/s")
    print(f"conv peak GMAC/s: {peaks}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
