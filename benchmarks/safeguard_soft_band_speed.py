"""Does the PSF safeguard's soft band cost speed? psf_v4 given protocol A's PSF on the
cross-dataset benchmark's 1024 x 1024 speed image, timed alternately with the soft band and
with the all-or-nothing switch it replaced (same process, after a warm-up on 256 x 256).

  python benchmarks/safeguard_soft_band_speed.py --runs 6 \
      --json benchmarks/results/safeguard_soft_band_speed.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402
from speed import mosaic  # noqa: E402

from napari_microdeblur.core import psf_safeguard  # noqa: E402
from napari_microdeblur.core.degrade import degrade, protocol_psf  # noqa: E402
from napari_microdeblur.core.inference import deblur  # noqa: E402
from napari_microdeblur.core.psf_aware import load_psf_aware  # noqa: E402


def megapixels_per_second(img: np.ndarray, band: float) -> float:
    psf_safeguard.SOFT_BAND = band
    method = load_psf_aware(protocol_psf("A"))
    deblur(img[:256, :256], method=method, device="cpu")
    t = time.perf_counter()
    deblur(img, method=method, device="cpu")
    return round(img.size / (time.perf_counter() - t) / 1e6, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6, help="timed runs of each, alternating")
    parser.add_argument("--json")
    args = parser.parse_args()
    shipped = psf_safeguard.SOFT_BAND
    img = degrade(mosaic(1024, rgb=False).astype(np.float32) / 255.0, "A", seed=0)
    result = {"soft band": [], "switch": []}
    for i in range(args.runs):  # alternate which goes first: the machine's speed drifts
        order = [("soft band", shipped), ("switch", 1.0)][:: 1 if i % 2 == 0 else -1]
        for name, band in order:
            result[name].append(megapixels_per_second(img, band))
    psf_safeguard.SOFT_BAND = shipped
    for name, values in result.items():
        print(f"{name}: {values} MP/s, median {np.median(values):.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "command": "python benchmarks/safeguard_soft_band_speed.py " + " ".join(sys.argv[1:]),
            "provenance": provenance.record(), "megapixels_per_second": result}, indent=1))


if __name__ == "__main__":
    main()
