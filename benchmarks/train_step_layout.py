"""Training-step time with the model's weights in the default (contiguous) layout against
channels-last (core.memory.fast_layout, which the training loop and `finetune --self` use).

One step = forward, L1 loss, backward and an Adam step on a batch of random patches (float32,
as CPU training runs), for each bundled 2D architecture; the two layouts alternate, repeats
each, and the median is kept.

    python benchmarks/train_step_layout.py [--threads 1] [--batch 8] [--patch 64]
        [--repeats 5] [--json benchmarks/results/train_step_layout.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from napari_microdeblur.core.checkpoint import load_model
from napari_microdeblur.core.psf import gaussian_psf

NETWORKS = ("c2f_unet.em_v2", "gran.em_v1", "wiener_unet.psf_v4", "sgpn.em_supervised_v1")


def step_seconds(model, x, kernel, optimizer, steps: int) -> float:
    """Mean seconds per training step over ``steps`` steps (after one untimed step)."""
    def step():
        out = model(x, kernel) if getattr(model, "needs_psf", False) else model(x)
        loss = F.l1_loss(out, x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--steps", type=int, default=4, help="timed steps per measurement")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    kernel = torch.from_numpy(gaussian_psf(1.6, size=13))
    rows = []
    for name in NETWORKS:
        model, _ = load_model(name)
        model.train()
        x = torch.rand(args.batch, int(getattr(model, "in_channels", 1)), args.patch, args.patch,
                       generator=torch.Generator().manual_seed(0))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-6)
        times = {"contiguous": [], "channels_last": []}
        for _ in range(args.repeats):
            for layout, fmt in (("contiguous", torch.contiguous_format),
                                ("channels_last", torch.channels_last)):
                model.to(memory_format=fmt)
                times[layout].append(step_seconds(model, x, kernel, optimizer, args.steps))
        med = {k: statistics.median(v) for k, v in times.items()}
        row = {"network": name, "seconds_per_step": med, "all": times,
               "speedup": med["contiguous"] / med["channels_last"]}
        print(f"{name}: contiguous {med['contiguous']:.3f} s, channels-last "
              f"{med['channels_last']:.3f} s per step ({row['speedup']:.2f}x)", flush=True)
        rows.append(row)
    if args.json:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=Path(__file__).parent).stdout.strip()
        args.json.write_text(json.dumps({
            "command": "python benchmarks/train_step_layout.py " + " ".join(sys.argv[1:]),
            "git_commit": commit, "machine": f"{platform.machine()}, torch {torch.__version__}, "
            f"{args.threads} thread(s)", "batch": args.batch, "patch": args.patch,
            "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
