"""Where a benchmark figure came from: the command, the commit and the machine.

Every JSON file under benchmarks/results/ is ``{"provenance": record(), "results": ...}``, so a
table in the README can be traced to the run that produced it (benchmarks/readme_tables.py).
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def record() -> dict:
    """The command line, the commit (and whether the tree differed from it) and the machine."""
    import torch

    argv = [Path(sys.argv[0]).as_posix()] + sys.argv[1:]
    try:
        argv[0] = Path(sys.argv[0]).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        pass
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", "src", "benchmarks")
    return {
        "command": "python " + " ".join(argv),
        "commit": _git("rev-parse", "HEAD"),
        "tree_differs_from_commit": bool(dirty),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "machine": {
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "platform": platform.platform(),
        },
    }


def write_json(path, results) -> None:
    """``results`` under their provenance (``record``), as the benchmarks' JSON files hold them."""
    import json

    Path(path).write_text(json.dumps({"provenance": record(), "results": results}, indent=1)
                          + "\n")
