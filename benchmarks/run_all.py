#!/usr/bin/env python
"""Every speed and scale benchmark of issue 6 in one command: one table, one JSON.

    python benchmarks/run_all.py [--quick] [--out bench_out/all.json]

Runs, one after the other and each in its own processes: ``speed.py`` (each bundled model
file to file on 4096 x 4096, its share of the machine's bf16 convolution peak, its operator
profile), ``tiling_overhead.py`` (ours against the bare forward on our tiles, the untiled
forward and MONAI's sliding window, for the stand-in network at 8192^2 in bfloat16 and each
bundled model at 2048^2 in bfloat16, with torch.compile for one model), ``malloc_env.py``
and ``peers.py``. The full run takes about 30 minutes on the 2-core CPU; ``--quick`` shrinks
every image and skips the peers (a smoke run of a minute or two, not for reporting).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = ("gran.em_v1", "gran.fluo_v1", "gran.hist_v1")


def run(script: str, *args: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(HERE / script), *args, "--json", str(out)]
        print("$", " ".join(cmd[1:]), flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not out.exists():
            return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
        return json.loads(out.read_text())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=Path("bench_out/all.json"))
    args = p.parse_args(argv)
    big, mid, speed_size = ("1024", "512", "512") if args.quick else ("8192", "2048", "4096")
    results = {"speed": run("speed.py", "--size", speed_size)}
    tiling = {"standin": run("tiling_overhead.py", "--size", big, "--net", "standin",
                             "--precision", "bfloat16")}
    for i, model in enumerate(MODELS):
        extra = ["--compile"] if i == 0 and not args.quick else []
        tiling[model] = run("tiling_overhead.py", "--size", mid, "--net", model,
                            "--precision", "bfloat16", "--naive-size", "512", *extra)
    results["tiling"] = tiling
    results["malloc"] = run("malloc_env.py", "--size", mid, "--repeats", "1")
    if not args.quick:  # Richardson-Lucy against RedLionfish, gran.em_v1 against MONAI
        results["peers"] = run("peers.py", "--repeats", "1")

    print("\nnetwork           MP/s (file to file)  share of bf16 conv peak  auto vs fp32 dB")
    for name, r in results["speed"].get("models", {}).items():
        print(f"{name:<17} {r['file_to_file']['megapixels_per_s']:<20} "
              f"{r['share_of_bf16_conv_peak']:<24.1%} {r['psnr_auto_vs_float32_db']}")
    print("\nnetwork           image  ours s  MONAI s  time ratio  memory ratio  "
          "ours/bare tiles  compiled/eager")
    for name, t in tiling.items():
        runs = t.get("runs", {})
        print(f"{name:<17} {t.get('image', ['?'])[0]!s:<6} "
              f"{runs.get('ours', {}).get('seconds', '-')!s:<7} "
              f"{runs.get('monai', {}).get('seconds', '-')!s:<8} "
              f"{t.get('time_ratio_ours_over_monai', '-')!s:<11} "
              f"{t.get('peak_memory_ratio_ours_over_monai', '-')!s:<13} "
              f"{t.get('ours_over_tiles_only', '-')!s:<16} "
              f"{t.get('time_ratio_compiled_over_eager', '-')}")
    m = results["malloc"]
    ratio = m.get("time_ratio_cli_over_default")
    print(f"\nallocator tuning (CLI, {m.get('method')}): time x{ratio}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
