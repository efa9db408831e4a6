#!/usr/bin/env python
"""What removing killed runs' temporaries costs per output as the output folder fills.

    python benchmarks/output_folder_scan.py [--sizes 100 2000 20000] [--writes 20] [--json PATH]

Before each output is written, the temporaries a killed run left for it are removed
(``core.partials``); that lists the output folder. For a folder already holding N outputs this
times ``--writes`` calls of ``fresh_temporary_name`` the way a file written on its own makes
them (one listing each), and inside ``swept_once`` over a batch of N more outputs, the way
``microdeblur deblur DIR -o OUT`` makes them now (one listing for the batch, counted here
spread over its N outputs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from provenance import write_json  # noqa: E402

from napari_microdeblur.core import partials  # noqa: E402


def per_output_ms(folder: Path, n: int, writes: int) -> dict:
    names = [folder / f"tile_{n + i:07d}_deblurred.tif" for i in range(writes)]
    t0 = time.perf_counter()
    for name in names:
        partials.fresh_temporary_name(name)
    alone = (time.perf_counter() - t0) / writes
    batch = [folder / f"tile_{n + i:07d}_deblurred.tif" for i in range(n)]
    t0 = time.perf_counter()
    with partials.swept_once(batch):
        sweep = time.perf_counter() - t0
        t0 = time.perf_counter()
        for name in names:
            partials.fresh_temporary_name(name)
        in_batch = (time.perf_counter() - t0) / writes
    return {"outputs_in_folder": n, "ms_per_output_alone": round(alone * 1e3, 3),
            "ms_per_output_in_batch": round((in_batch + sweep / n) * 1e3, 3),
            "ms_batch_sweep": round(sweep * 1e3, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 2000, 20000])
    parser.add_argument("--writes", type=int, default=20)
    parser.add_argument("--json", type=Path,
                        default=Path(__file__).parent / "results" / "output_folder_scan.json")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for i in range(n):
                (folder / f"tile_{i:07d}_deblurred.tif").touch()
            rows.append(per_output_ms(folder, n, args.writes))
        print(rows[-1], flush=True)
    write_json(args.json, rows)


if __name__ == "__main__":
    main()
