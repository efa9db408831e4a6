"""Where the peak memory of a tiled network run goes: the share that is torch, the network's own
forward pass on one tile, and the tiler.

For each bundled network, in a fresh process each (peak resident memory, ``ru_maxrss``, is per
process and never falls):

* ``import``: after importing torch and this package;
* ``image``: after building the --size x --size test image (float32, in memory);
* ``one_forward``: after the network's runner (BatchNorm folded, channels-last, default
  precision) has run once on one tile of the card's size (``tiling.tile``);
* ``deblur``: a separate process running ``deblur`` on the whole image at the defaults (the
  in-memory Python API, as ``tiling_overhead.py``'s ``ours``).

The forward's share is ``one_forward - image``; what the tiler adds on top is ``deblur -
one_forward``. MONAI's sliding window pays the same import and the same forward, so these
say how far the memory ratio against it can fall. Usage:

    python benchmarks/forward_memory.py [--models c2f_unet.em_v2,...] [--size 4096]
        [--json benchmarks/results/forward_memory.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

DEFAULT_MODELS = "c2f_unet.em_v2,c2f_unet.fluorescence_v2,c2f_unet.brightfield_v2"
# the CLI's allocator settings (benchmarks/malloc_env.py), so freed tile buffers are reused
# rather than returned and faulted in again; the peak is then the allocator's high-water mark
ALLOCATOR = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "17179869184"}


def _child(model: str, size: int, stage: str) -> dict:
    """Runs in its own process: peak RSS (MB) after each step up to ``stage``."""
    import resource

    import numpy as np
    import torch

    from napari_microdeblur.core import bundled
    from napari_microdeblur.core.inference import deblur
    from napari_microdeblur.core.method import network_method

    def peak() -> float:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    out = {"import": peak()}
    net, card = bundled.load_bundled(model)
    # the brightfield network is grayscale but meets RGB images, one colour at a time
    rgb = "brightfield" in model or int(net.config.in_channels) == 3
    rng = np.random.default_rng(0)
    shape = (size, size, 3) if rgb else (size, size)
    image = rng.random(shape, dtype=np.float32)
    out["image"] = peak()
    tile = int((card.tiling or {}).get("tile") or 256)
    out["tile"] = tile
    if stage == "one_forward":
        method = network_method(net, model, card)
        c = int(net.config.in_channels)
        x = torch.from_numpy(np.ascontiguousarray(image[:tile, :tile].reshape(tile, tile, -1)
                                                  [..., :c].transpose(2, 0, 1))[None])
        method.forward(x)
        out["one_forward"] = peak()
    else:
        deblur(image, method=model)
        out["deblur"] = peak()
    out["threads"] = torch.get_num_threads()
    return out


def measure(model: str, size: int) -> dict:
    row = {}
    for stage in ("one_forward", "deblur"):
        env = {**os.environ, **ALLOCATOR}
        cmd = [sys.executable, __file__, "--child", model, "--size", str(size), "--stage", stage]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        row.update(json.loads(done.stdout.strip().splitlines()[-1]))
    row["forward_mb"] = round(row["one_forward"] - row["image"], 1)
    row["tiler_mb"] = round(row["deblur"] - row["one_forward"], 1)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=DEFAULT_MODELS)
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--stage", default="deblur", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.size, args.stage)))
        return 0
    rows = {m: measure(m, args.size) for m in args.models.split(",")}
    print("| network | import | + image | one forward (tile) | whole deblur | forward's share | "
          "tiler's share |")
    print("|---|---|---|---|---|---|---|")
    for m, r in rows.items():
        print(f"| {m} | {r['import']} | {r['image']} | {r['one_forward']} ({r['tile']} px) | "
              f"{r['deblur']} | {r['forward_mb']} | {r['tiler_mb']} |")
    if args.json:
        command = "python benchmarks/forward_memory.py " + " ".join(argv or sys.argv[1:])
        result = {"command": command,
                  "size": args.size, "allocator": ALLOCATOR, "unit": "MB (peak RSS)",
                  "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
                  "models": rows}
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
