"""Tiling against the bare forward pass, the whole-image forward pass and MONAI's sliding window.

One real-content image (a mosaic of the bundled HT29 sample) of --size x --size pixels, tile
256, overlap 32 (1/8 of the tile), 4 tiles per batch, Gaussian window, and one network: a
64-channel convolutional stand-in (3 convolutions, halo 3; ``--net standin``) or a bundled
model (``--net gran.em_v1``). Every run wraps the network in the same ``NetworkRunner``
(channels-last, ``--precision`` float32 or bfloat16 under autocast, inference mode), so MONAI
and ours run at the same precision:

* ``tiles_only``: the network on every tile of our plan, batched, no reading/blending/writing:
  the compute the overlap itself costs;
* ``naive``: the network on the whole image in one call (only at --naive-size, default
  min(--size, 2048), since a 64-channel activation of 8192^2 pixels alone is 17 GB; its time
  is scaled per pixel); the "untiled time" of issue 6's overhead figure;
* ``ours``: ``deblur`` through the in-memory Python API (plan, read, merge, write);
* ``monai``: ``monai.inferers.sliding_window_inference`` with the same runner, tile, overlap,
  batch and a Gaussian window (if MONAI is installed);
* with ``--compile``: ``ours`` again with ``torch.compile`` of the network.

Each runs in its own process so its peak resident memory is its own (it includes ~220 MB of
importing torch). Prints a table and JSON. Usage:
    python benchmarks/tiling_overhead.py [--size 4096] [--net standin] [--precision float32]
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SAMPLE = (
    Path(__file__).parents[1] / "src" / "napari_microdeblur" / "samples" / "ht29_nuclei_hoechst.tif"
)


def make_image(size: int, channels: int = 1) -> np.ndarray:
    import tifffile

    tile = tifffile.imread(SAMPLE).astype(np.float32)
    reps = size // tile.shape[0] + 1
    image = np.ascontiguousarray(np.tile(tile, (reps, reps))[:size, :size])
    if channels == 3:
        image = np.ascontiguousarray(np.stack([image, image[::-1], image[:, ::-1]]))
    return image / image.max()


def make_net(name: str):
    """(network, halo, channels)."""
    import torch

    if name == "standin":
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 64, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(64, 1, 3, padding=1),
        ).eval()
        return net, 3, 1
    from napari_microdeblur.core.checkpoint import load_model

    model, card = load_model(name)
    # a measured halo in the card (the v2 defaults) beats the theoretical receptive field
    halo = int(card.tiling.get("halo", model.receptive_field))
    return model.eval(), halo, card.in_channels


def run_one(args) -> dict:
    import torch

    from napari_microdeblur.core import tiling
    from napari_microdeblur.core.inference import Method, NetworkRunner, deblur

    net, halo, channels = make_net(args.net)
    if args.which == "ours_compiled":
        net = torch.compile(net)
    runner = NetworkRunner(net, args.precision)
    size = args.naive_size if args.which == "naive" else args.size
    image = make_image(size, channels)
    tile, overlap, batch = args.tile, args.overlap, args.batch
    t_warm = time.perf_counter()
    runner(torch.zeros(batch, channels, tile, tile))  # warm-up: allocation, kernels, compile
    warm = time.perf_counter() - t_warm
    t0 = time.perf_counter()
    extra = {}
    if args.which == "tiles_only":
        plan = tiling.plan_tiles(image.shape[-2:], tile, overlap)
        with torch.inference_mode():
            for i in range(0, len(plan.tiles), batch):
                tiles = plan.tiles[i : i + batch]
                x = np.stack([image[(..., *t.slices)].reshape(channels, tile, tile) for t in tiles])
                runner(torch.from_numpy(x))
        extra = {"tiles": len(plan.tiles),
                 "tile_area_over_image": len(plan.tiles) * tile * tile / image[0].size
                 if channels == 3 else len(plan.tiles) * tile * tile / image.size}
    elif args.which == "naive":
        runner(torch.from_numpy(image).reshape(1, channels, size, size))
        extra = {"naive_size": size}
    elif args.which in ("ours", "ours_compiled"):
        method = Method(args.net, forward=runner, halo=halo, normalization="none",
                        in_channels=channels, out_channels=channels)
        out = deblur(image, method=method, axes="CYX" if channels == 3 else "YX", tile=tile,
                     overlap=overlap, window="gaussian", batch_size=batch, device="cpu")
        extra = {"checksum": float(out[..., ::64, ::64].sum())}
    elif args.which == "monai":
        from monai.inferers import sliding_window_inference

        with torch.inference_mode():
            out = sliding_window_inference(
                torch.from_numpy(image).reshape(1, channels, size, size), roi_size=(tile, tile),
                sw_batch_size=batch, predictor=runner, overlap=overlap / tile, mode="gaussian",
            )
        extra = {"checksum": float(out[..., ::64, ::64].sum())}
    else:
        raise SystemExit(f"unknown --which {args.which}")
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"which": args.which, "seconds": round(seconds, 2), "warm_up_s": round(warm, 2),
            "peak_rss_mb": round(peak_mb, 1), **extra}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--naive-size", type=int, default=None)
    parser.add_argument("--net", default="standin", help="standin or a bundled model name")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--runs", default="tiles_only,naive,ours,monai")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--which", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_size is None:
        args.naive_size = min(args.size, 2048)
    if args.which:
        print(json.dumps(run_one(args)))
        return
    runs = {}
    todo = args.runs.split(",") + (["ours_compiled"] if args.compile else [])
    for which in todo:
        cmd = [sys.executable, __file__, "--which", which] + [
            a for k, v in vars(args).items() if k not in ("which", "compile", "json", "runs")
            for a in (f"--{k.replace('_', '-')}", str(v))]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            runs[which] = {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
            continue
        runs[which] = json.loads(done.stdout.strip().splitlines()[-1])
    summary = {
        "image": [args.size, args.size], "net": args.net, "precision": args.precision,
        "tile": args.tile, "overlap": args.overlap, "batch": args.batch, "window": "gaussian",
        "runs": runs,
    }
    ours = runs.get("ours", {})
    if "seconds" in ours and "seconds" in runs.get("tiles_only", {}):
        summary["ours_over_tiles_only"] = round(ours["seconds"] / runs["tiles_only"]["seconds"], 3)
        summary["megapixels_per_s"] = round(args.size**2 / ours["seconds"] / 1e6, 3)
    if "seconds" in ours and "seconds" in runs.get("naive", {}) and "tiles" in runs["tiles_only"]:
        untiled = runs["naive"]["seconds"] * (args.size / args.naive_size) ** 2
        summary["untiled_seconds_scaled"] = round(untiled, 2)
        summary["overhead_vs_untiled_x_tile_area"] = round(
            ours["seconds"] / (untiled * runs["tiles_only"]["tile_area_over_image"]), 3)
        summary["time_ratio_ours_over_naive"] = round(ours["seconds"] / untiled, 3)
        if args.naive_size == args.size:
            summary["peak_memory_ratio_ours_over_naive"] = round(
                ours["peak_rss_mb"] / runs["naive"]["peak_rss_mb"], 3)
    if "seconds" in ours and "seconds" in runs.get("monai", {}):
        summary["time_ratio_ours_over_monai"] = round(ours["seconds"] / runs["monai"]["seconds"], 3)
        summary["peak_memory_ratio_ours_over_monai"] = round(
            ours["peak_rss_mb"] / runs["monai"]["peak_rss_mb"], 3)
    if "seconds" in ours and "seconds" in runs.get("ours_compiled", {}):
        summary["time_ratio_compiled_over_eager"] = round(
            runs["ours_compiled"]["seconds"] / ours["seconds"], 3)
    print(f"{args.net}, {args.precision}, {args.size} x {args.size}, tile {args.tile}, "
          f"overlap {args.overlap}, batch {args.batch}")
    print(f"{'run':<14} {'seconds':>8} {'peak RSS MB':>12}")
    for which, r in runs.items():
        print(f"{which:<14} {r.get('seconds', float('nan')):>8} "
              f"{r.get('peak_rss_mb', float('nan')):>12}  {r.get('error', '')}")
    print(json.dumps(summary))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
