#!/usr/bin/env python
"""Noise-aware stack targets (issue 14): does averaging the planes next to focus into the
target help a stack fine-tune? Measured on the light-sheet *microtubules* stack, which the
project's own real-defocus figure (benchmarks/finetune.py part c, mitochondria) does not use.

The stack's left half is the training field (core.finetune at the CLI's defaults, start: the
fluorescence default); the right half's defocused planes (3 or more stack steps from focus) are
scored against the right half of the in-focus plane, and against the mean of the three planes
at focus (a less noisy reference). One run per ``--target-neighbours`` value::

    python benchmarks/stack_targets.py --neighbours 0,1 --json bench_out/stack_targets.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import finetune as bench  # noqa: E402  (paired_finetune at the CLI's defaults)
import finetune_real  # noqa: E402

from napari_microdeblur.core import bundled  # noqa: E402
from napari_microdeblur.core.finetune import PAIRED_MINUTES, StackField  # noqa: E402

STACK = finetune_real.ROOT / "microtubules_cell11_stack"
FOCUS_Z = 51  # Abs0051 is in focus (PROVENANCE.md)


def load_stack() -> tuple[list[int], np.ndarray]:
    import tifffile

    files = sorted(STACK.glob("*.tif"))
    z = [int(re.search(r"Abs00(\d\d)", f.name).group(1)) for f in files]
    return z, np.stack([tifffile.imread(f).astype(np.float32) for f in files])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--neighbours", default="0,1", help="comma-separated K values")
    p.add_argument("--minutes", type=float, default=PAIRED_MINUTES)
    p.add_argument("--json", type=Path, default=Path("bench_out/stack_targets.json"))
    args = p.parse_args(argv)
    z, stack = load_stack()
    focus = z.index(FOCUS_Z)
    half = stack.shape[-1] // 2
    tests = [stack[i, :, half:] for i, k in enumerate(z) if abs(k - FOCUS_Z) >= 3]
    references = {"in-focus plane": stack[focus, :, half:],
                  "mean of the 3 planes at focus": stack[focus - 1 : focus + 2, :, half:].mean(0)}
    start = bundled.default_for_modality("fluorescence", rgb=False)
    rows = {"input": {r: finetune_real.mean_scores(tests, ref) for r, ref in references.items()},
            f"{start} (default)": {r: finetune_real.deblurred_scores(start, tests, ref)
                                   for r, ref in references.items()}}
    runs = {}
    for k in (int(v) for v in args.neighbours.split(",")):
        field = StackField("microtubules, left half", stack[:, :, :half], "ZYX", focus, k)
        model, _, info = bench.paired_finetune(start, [field], args.minutes, field.name)
        label = f"fine-tuned, target_neighbours={k}"
        rows[label] = {r: finetune_real.deblurred_scores(model, tests, ref)
                       for r, ref in references.items()}
        runs[label] = info
        print(f"{label}: " + ", ".join(f"{r} {s['psnr']:.2f}" for r, s in rows[label].items()),
              flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    result = {"command": "python benchmarks/stack_targets.py " + " ".join(sys.argv[1:]),
              "git_commit": commit, "date": time.strftime("%Y-%m-%d"), "start": start,
              "stack": f"{STACK.name}, planes {z}, focus Abs00{FOCUS_Z}; train: left half "
                       f"(x < {half}); test: right half, planes >= 3 steps from focus",
              "test_planes": len(tests), "minutes": args.minutes, "rows": rows, "runs": runs}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
