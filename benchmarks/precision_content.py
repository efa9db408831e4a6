"""How far bf16 autocast (``precision="auto"`` on a CPU with bf16 units) moves a network's
output from float32 on real content, not only on the bundled HT29 mosaic that
``speed.py``'s precision column uses: PSNR of the auto output against the float32 output
(peak: the float32 output's range), per image, on 512 x 512 crops (top left) of the first
``--images`` test-split images of each set named.

  python benchmarks/precision_content.py [--models c2f_unet.em_v2] [--images 2]
      [--json benchmarks/results/precision_content.json]

Without --json the JSON goes to bench_out/precision_content.json (not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import splits  # noqa: E402

#: (modality in splits.SETS, set name) of the grayscale content compared
SETS = [("em", "em_isbi2012_drosophila_vnc_sstem"), ("em", "em_epfl_hippocampus_fibsem"),
        ("fluo", "fluorescence_2d")]
CROP = 512


def apart_db(image: np.ndarray, model: str) -> float:
    from napari_microdeblur.core.inference import deblur

    fast = deblur(image, method=model, axes="YX", device="cpu")  # precision 'auto'
    exact = deblur(image, method=model, axes="YX", device="cpu", precision="float32")
    span = float(exact.max() - exact.min())
    mse = float(np.mean((fast.astype(np.float64) - exact) ** 2))
    return round(10 * np.log10(span**2 / mse), 2) if mse else float("inf")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="c2f_unet.em_v2,c2f_unet.fluorescence_v2")
    parser.add_argument("--images", type=int, default=2, help="test images per set")
    parser.add_argument("--json", type=Path, default=Path("bench_out/precision_content.json"))
    args = parser.parse_args(argv)
    import torch

    rows = []
    for modality, set_name in SETS:
        for path in splits.files(modality, set_name, "test")[:args.images]:
            image = splits.load(path, rgb=False)[:CROP, :CROP]
            for model in args.models.split(","):
                rows.append({"set": set_name, "image": path.name, "model": model,
                             "crop": list(image.shape), "psnr_auto_vs_float32_db":
                             apart_db(image, model)})
                print(json.dumps(rows[-1]), flush=True)
    result = {"command": " ".join(["python", "benchmarks/precision_content.py",
                                   *(argv if argv is not None else sys.argv[1:])]),
              "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
              "cpu_capability": torch.backends.cpu.get_cpu_capability(),
              "threads": torch.get_num_threads(), "load_average_1min": os.getloadavg()[0],
              "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
